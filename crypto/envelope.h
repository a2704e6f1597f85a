/* Content envelope: how a message's content is encrypted end to end for a
 * set of recipients (direct messages, role messages, and until channel keys
 * exist, everything else). A random content key encrypts the content once
 * with XChaCha20-Poly1305; the key is sealed (crypto_box_seal) to each
 * recipient's X25519 key. Relays and the store only ever see this.
 *
 * Layout (docs/protocol.md "Content envelope"): version u8 (=1), count u8
 * (1..ENVELOPE_RECIPIENTS_MAX), count x (recipient key id 32, sealed key
 * 32+48), nonce 24, ciphertext (content + 16). The bundle's own signature
 * covers the envelope; the AEAD's associated data is the sender's key id, so
 * an envelope lifted into a bundle signed by someone else fails to open. */
#ifndef MU_ENVELOPE_H
#define MU_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "identity.h"

#define ENVELOPE_VERSION 1
#define ENVELOPE_RECIPIENTS_MAX 64
#define ENVELOPE_SLOT_BYTES (MU_KEY_BYTES + 32 + MU_SEAL_OVERHEAD)
#define ENVELOPE_OVERHEAD(n) (2 + (size_t)(n) * ENVELOPE_SLOT_BYTES + 24 + 16)

struct envelope_recipient {
	uint8_t key[MU_KEY_BYTES];    /* recipient's signing key id */
	uint8_t kx_pk[MU_KEY_BYTES];  /* recipient's X25519 key (from their credential) */
};

/* Encrypts content for n recipients, binding sender's key id. Returns the
 * envelope length or MU_E_TOOBIG (out too small / too many recipients). */
int envelope_seal(uint8_t *out, size_t cap, const uint8_t *content, size_t len,
		  const struct envelope_recipient *r, unsigned n, const uint8_t sender[static MU_KEY_BYTES]);
/* Opens an envelope for id (whose key id must be among the recipients):
 * writes the content to out (cap >= envelope length) and its length to
 * *len. MU_E_NOTFOUND if id is not a recipient, MU_E_SIG if anything was
 * altered, MU_E_FORMAT if malformed. */
int envelope_open(uint8_t *out, size_t cap, size_t *len, const uint8_t *env, size_t env_len,
		  const struct mu_identity *id, const uint8_t sender[static MU_KEY_BYTES])
	__attribute__((warn_unused_result));
/* 1 if key is a recipient, 0 if not, MU_E_FORMAT if malformed. */
int envelope_has_recipient(const uint8_t *env, size_t env_len, const uint8_t key[static MU_KEY_BYTES]);

#endif
