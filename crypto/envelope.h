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
#define ENVELOPE_SEALED_BYTES (32 + MU_SEAL_OVERHEAD) /* a content key sealed to one recipient */
#define ENVELOPE_SLOT_BYTES (MU_KEY_BYTES + ENVELOPE_SEALED_BYTES)
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
/* 1 if key is a recipient, 0 if not, MU_E_FORMAT if malformed (no room for
 * a nonce and tag included), MU_E_VERSION for another version. */
int envelope_has_recipient(const uint8_t *env, size_t env_len, const uint8_t key[static MU_KEY_BYTES]);

/* One recipient slot. Both pointers point into the envelope buffer given to
 * envelope_slots_init() and live as long as that buffer; nothing is copied. */
struct envelope_slot {
	const uint8_t *key;    /* MU_KEY_BYTES: recipient key id (or a channel slot's marker) */
	const uint8_t *sealed; /* ENVELOPE_SEALED_BYTES: the content key sealed to that recipient */
};

/* Walks an envelope's recipient slots: the one place that reads the slot
 * header. Caller-allocated; rest/rest_len may be read, the other fields are
 * the iterator's own. Like the slots, rest points into the caller's buffer. */
struct envelope_slots {
	const uint8_t *next; /* the next slot to yield */
	unsigned left;       /* slots not yet yielded */
	unsigned count;      /* the envelope's recipient count (1..ENVELOPE_RECIPIENTS_MAX) */
	const uint8_t *rest; /* what follows the slots: nonce || ciphertext, not checked here */
	size_t rest_len;
};

/* Reads the version and count and checks, before anything is yielded, that
 * all count slots are within env[0..len): a truncated envelope yields no
 * slot at all. MU_E_FORMAT if the header or a slot is cut short or count is
 * 0 or over ENVELOPE_RECIPIENTS_MAX, MU_E_VERSION for another version (when
 * both header bytes are there). On error *it yields nothing. Checking that
 * a nonce and tag follow is left to whoever opens the content. */
int envelope_slots_init(struct envelope_slots *it, const uint8_t *env, size_t len)
	__attribute__((warn_unused_result));
/* 1 and the next slot in *slot (in envelope order), 0 once every slot was
 * yielded or if init failed. Cannot fail otherwise: init checked the
 * lengths. */
int envelope_slot_next(struct envelope_slots *it, struct envelope_slot *slot);

#endif
