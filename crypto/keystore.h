/* Secret keys at rest. An identity file holds the secret keys wrapped
 * (XChaCha20-Poly1305) under a key-encryption key that is either derived from
 * a passphrase with Argon2id or read from a separate 32-byte key file that
 * must be mode 0600 (or stricter) and owned by the caller. The file layout is
 * in docs/protocol.md ("Key file"). Files are written 0600 via a temporary
 * file and rename, so a crash never leaves a half-written key. */
#ifndef MU_KEYSTORE_H
#define MU_KEYSTORE_H

#include "identity.h"

enum ks_wrap {
	KS_WRAP_PASSPHRASE = 1, /* Argon2id(passphrase) */
	KS_WRAP_KEYFILE = 2,    /* 32 random bytes in a 0600 file */
};

struct ks_unlock {
	enum ks_wrap wrap;
	const char *secret; /* the passphrase, or the key file's path */
};

/* Creates a new key file of 32 random bytes, mode 0600. -EEXIST if present. */
int keystore_keyfile_create(const char *path);
/* Writes id's secret keys to path, wrapped as u says. */
int keystore_save(const char *path, const struct mu_identity *id, const struct ks_unlock *u);
/* Reads and unwraps. MU_E_PASS for a wrong passphrase/key file, MU_E_PERM if
 * the identity file or key file is readable by group or others, MU_E_FORMAT
 * for a damaged file. *out is owned by the caller. */
int keystore_load(struct mu_identity **out, const char *path, const struct ks_unlock *u);
/* Reads only the public signing key of an identity file (no secret needed). */
int keystore_peek_pk(const char *path, uint8_t pk[static MU_KEY_BYTES]);

#endif
