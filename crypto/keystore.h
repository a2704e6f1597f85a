/* Secret keys at rest. An identity file holds the secret keys wrapped
 * (XChaCha20-Poly1305) under a key-encryption key that is either derived from
 * a passphrase with Argon2id or read from a separate 32-byte key file. The
 * public signing key and the header are stored in clear and bound into the
 * AEAD as associated data, so any tampering fails the unwrap. The layout and
 * the permission rules are in docs/keystore.md.
 *
 * Files holding secrets (identity files and key files) must be regular files
 * owned by the effective user (or root) with no group/other permission bits
 * (0600 or stricter); otherwise load refuses with MU_E_PERM. Files are written 0600 via
 * a temporary file in the same directory, fsync and rename, so a crash never
 * leaves a half-written key. */
#ifndef MU_KEYSTORE_H
#define MU_KEYSTORE_H

#include <stdint.h>

#include "identity.h"

enum ks_wrap {
	KS_WRAP_PASSPHRASE = 1, /* Argon2id(passphrase) */
	KS_WRAP_KEYFILE = 2,    /* 32 random bytes in a 0600 file */
};

#define KS_KEYFILE_BYTES 32
/* Argon2id cost bounds accepted in a file (and by keystore_save): a crafted
 * file cannot make a node spend more than this to try a passphrase. */
#define KS_OPSLIMIT_MIN 1ull
#define KS_OPSLIMIT_MAX 32ull
#define KS_MEMLIMIT_MIN 8192ull      /* bytes, libsodium's minimum */
#define KS_MEMLIMIT_MAX (1ull << 30) /* 1 GiB */

struct ks_unlock {
	enum ks_wrap wrap;
	const char *secret; /* the passphrase (NUL-terminated), or the key file's path */
	/* Argon2id cost for keystore_save with KS_WRAP_PASSPHRASE; 0 means
	 * libsodium's INTERACTIVE value. Ignored by keystore_load, which uses
	 * the cost stored in the file. */
	uint64_t opslimit;
	uint64_t memlimit;
};

/* Creates a new key file of 32 random bytes, mode 0600, never following or
 * replacing an existing path: -EEXIST if present. */
int keystore_keyfile_create(const char *path) __attribute__((warn_unused_result));

/* Writes id's secret keys to path (replacing any file there), wrapped as u
 * says, with a fresh salt and nonce. MU_E_CONFIG for an empty passphrase or
 * a cost outside the bounds above; the key file is checked as on load
 * (MU_E_PERM, MU_E_FORMAT if it is not exactly 32 bytes). */
int keystore_save(const char *path, const struct mu_identity *id, const struct ks_unlock *u)
    __attribute__((warn_unused_result));

/* Reads and unwraps. *out is set only on success and is owned by the caller
 * (identity_free). Errors:
 *   MU_E_PASS      wrong passphrase or key file (or altered ciphertext,
 *                  public key or header: these are indistinguishable)
 *   MU_E_PERM      identity file or key file is not a regular file, is owned
 *                  by another user than us or root, or has group/other
 *                  permission bits
 *   MU_E_FORMAT    damaged or truncated file, KDF cost out of bounds, key file
 *                  not 32 bytes, or the unwrapped keys do not match the
 *                  stored public key
 *   MU_E_VERSION   unknown file version
 *   MU_E_MISMATCH  the file is wrapped the other way (passphrase vs key file)
 *   MU_E_CRYPTO    libsodium failed (e.g. Argon2 could not allocate)
 *   -errno         the files could not be read */
int keystore_load(struct mu_identity **out, const char *path, const struct ks_unlock *u)
    __attribute__((warn_unused_result));

/* Reads only the public signing key of an identity file (no secret needed,
 * so no permission check beyond being a regular file). pk is zeroed on
 * failure. MU_E_FORMAT / MU_E_VERSION as for keystore_load. */
int keystore_peek_pk(const char *path, uint8_t pk[static MU_KEY_BYTES]) __attribute__((warn_unused_result));

#endif
