/* A key holder's identity: an Ed25519 signing key pair and an X25519 key
 * agreement key pair. Staff members, nodes and CAs each have one.
 *
 * The public signing key (32 bytes) is the holder's key id everywhere on the
 * wire. Secret keys live in sodium_malloc'd memory that is wiped and freed by
 * identity_free(); they are never logged or written unwrapped. */
#ifndef MU_IDENTITY_H
#define MU_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#define MU_KEY_BYTES 32 /* Ed25519 / X25519 public key, and key id */
#define MU_SIG_BYTES 64
#define MU_SEAL_OVERHEAD 48 /* crypto_box_SEALBYTES */

struct mu_identity;

/* Calls sodium_init(); every entry point that needs libsodium calls this.
 * Returns 0 or MU_E_CRYPTO. */
int mu_crypto_init(void);

/* Fresh random keys. *out is owned by the caller (identity_free). */
int identity_generate(struct mu_identity **out);
/* Deterministic keys from a 32-byte seed (test vectors only): the Ed25519
 * pair from the seed, the X25519 pair from BLAKE2b(seed, "kx"). */
int identity_from_seed(struct mu_identity **out, const uint8_t seed[static 32]);
/* Wipes and frees; NULL is fine. */
void identity_free(struct mu_identity *id);

/* Public keys; point into *id and live as long as it does. */
const uint8_t *identity_sign_pk(const struct mu_identity *id);
const uint8_t *identity_kx_pk(const struct mu_identity *id);

/* Detached Ed25519 signature over msg. */
int identity_sign(const struct mu_identity *id, uint8_t sig[static MU_SIG_BYTES],
		  const uint8_t *msg, size_t len);
/* 0 if sig is a valid signature by pk over msg, MU_E_SIG otherwise. */
int mu_verify(const uint8_t pk[static MU_KEY_BYTES], const uint8_t sig[static MU_SIG_BYTES],
	      const uint8_t *msg, size_t len) __attribute__((warn_unused_result));

/* Sealed box (crypto_box_seal) to an X25519 public key: out must hold
 * len + MU_SEAL_OVERHEAD bytes. */
int mu_seal(uint8_t *out, const uint8_t *msg, size_t len, const uint8_t kx_pk[static MU_KEY_BYTES]);
/* Opens a sealed box addressed to id: out holds len - MU_SEAL_OVERHEAD
 * bytes. MU_E_SIG if it was not for us or was altered. */
int identity_unseal(const struct mu_identity *id, uint8_t *out, const uint8_t *c, size_t len)
	__attribute__((warn_unused_result));

/* Raw secret material for the keystore only: writes sign_sk (64) || kx_sk
 * (32) into out (a sodium_malloc'd buffer of MU_IDENTITY_SECRET_BYTES) and
 * rebuilds an identity from it. */
#define MU_IDENTITY_SECRET_BYTES 96
void identity_export_secret(const struct mu_identity *id, uint8_t out[static MU_IDENTITY_SECRET_BYTES]);
int identity_import_secret(struct mu_identity **out, const uint8_t in[static MU_IDENTITY_SECRET_BYTES]);

#endif
