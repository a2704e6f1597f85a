/* Helpers shared by the command-line tools: whole-file I/O with a size cap,
 * secret input, public-key files and a tiny JSON writer. Errors are printed
 * by the caller with mu_strerror(). */
#ifndef MU_CLI_UTIL_H
#define MU_CLI_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "identity.h"
#include "keystore.h"

/* Reads a whole file of at most max bytes into a malloc'd buffer the caller
 * frees. -EFBIG if larger. */
int cli_read_file(const char *path, size_t max, uint8_t **out, size_t *len);
/* Writes data to path with the given mode via a temporary file and rename. */
int cli_write_file(const char *path, const void *data, size_t len, unsigned mode);

/* Options that say how an identity file is unlocked: --keyfile PATH,
 * --passphrase-file PATH, or an interactive prompt on /dev/tty. The
 * passphrase lives in sodium_malloc'd memory; cli_unlock_free wipes it. */
struct cli_unlock {
	const char *keyfile;
	const char *passfile;
	char *pass; /* sodium_malloc */
	struct ks_unlock ks;
};
/* Fills u->ks. confirm asks twice when prompting (for new keys). */
int cli_unlock_prepare(struct cli_unlock *u, int confirm);
void cli_unlock_free(struct cli_unlock *u);

/* Public-key file: "muster-pub 1\nsign <hex>\nkx <hex>\n". */
int cli_write_pub(const char *path, const struct mu_identity *id);
int cli_read_pub(const char *path, uint8_t sign_pk[static 32], uint8_t kx_pk[static 32]);

/* Minimal JSON output: strings are escaped; keys are literals. */
void json_str(FILE *f, const char *s);
void json_hex(FILE *f, const uint8_t *p, size_t n);

/* Prints "Unix-ms (YYYY-MM-DD HH:MM:SS UTC)" into buf. */
const char *cli_fmt_time(char *buf, size_t cap, uint64_t ms);

#endif
