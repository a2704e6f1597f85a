/* Bundles: the immutable, signed, content-addressed unit that moves.
 *
 * Encoding (docs/protocol.md "Bundle"): 'M' 'B' version kind priority
 * hop_limit sender created expires dest payload, then a 64-byte Ed25519
 * signature by the sender over every byte before it. The bundle id is
 * BLAKE2b-256 of the whole encoding including the signature. The count of
 * hops already travelled is not part of the bundle (it changes per hop); it
 * travels beside it in transfer frames and in the store's metadata. */
#ifndef MU_BUNDLE_H
#define MU_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/identity.h"

#define BUNDLE_VERSION 1
#define BUNDLE_ID_BYTES 32
#define BUNDLE_PAYLOAD_MAX 65536 /* larger content is chunked (attachments) */
#define BUNDLE_DEST_MAX 32
#define BUNDLE_HOPS_MAX 32 /* largest hop limit a sender may set */
/* Fixed part: magic 2, version, kind, priority, hop_limit, sender 32,
 * created 8, expires 8, dest type 1 + len 1. */
#define BUNDLE_FIXED_BYTES (2 + 4 + MU_KEY_BYTES + 8 + 8 + 2)
#define BUNDLE_ENC_MAX (BUNDLE_FIXED_BYTES + BUNDLE_DEST_MAX + 4 + BUNDLE_PAYLOAD_MAX + MU_SIG_BYTES)

enum bundle_kind {
	BK_MESSAGE = 1,
	BK_CREDENTIAL = 2,
	BK_REVOCATION = 3,
	BK_RECEIPT = 4,
	BK_KEYWRAP = 5,
	/* 6..255: reserved for later kinds; relays carry kinds they do not
	 * understand (after verifying signature and credential). */
};

enum bundle_prio {
	PRIO_IMMEDIATE = 0,
	PRIO_URGENT = 1,
	PRIO_ROUTINE = 2,
	PRIO_BULK = 3,
};

enum dest_type {
	DEST_ALL = 0,     /* everyone at the incident; dest empty */
	DEST_PERSON = 1,  /* dest = recipient's 32-byte key id */
	DEST_ROLE = 2,    /* dest = 1 byte enum mu_role */
	DEST_CHANNEL = 3, /* dest = 16-byte channel id */
};

struct bundle {
	uint8_t kind;
	uint8_t prio;
	uint8_t hop_limit;
	uint8_t sender[MU_KEY_BYTES];
	uint64_t created; /* Unix ms */
	uint64_t expires; /* Unix ms; deleted everywhere after this */
	uint8_t dest_type;
	uint8_t dest_len;
	uint8_t dest[BUNDLE_DEST_MAX];
	const uint8_t *payload; /* not owned; see bundle_decode */
	size_t payload_len;
	uint8_t sig[MU_SIG_BYTES];
	uint8_t id[BUNDLE_ID_BYTES];
};

/* Static names ("message", "urgent", "person", ...); NULL for values without
 * a name (unknown kinds are legal: print their number). */
const char *bundle_kind_name(uint8_t kind);
const char *bundle_prio_name(uint8_t prio);
/* Accepts the names bundle_prio_name returns; MU_E_FORMAT otherwise. */
int bundle_prio_parse(const char *s, uint8_t *prio);
const char *dest_type_name(uint8_t t);

/* Sets b->sender from signer, encodes b, signs, fills b->sig and b->id, and
 * writes the encoding to out. b->payload must stay valid during the call.
 * Returns the encoding length or MU_E_TOOBIG / MU_E_FORMAT for fields the
 * decoder would reject. */
int bundle_seal(uint8_t *out, size_t cap, struct bundle *b, const struct mu_identity *signer);

/* Re-encodes a bundle with its existing signature b->sig (no signing):
 * bundle_decode followed by bundle_encode gives back the same bytes. Returns
 * the length, or MU_E_TOOBIG / MU_E_FORMAT as bundle_seal does. */
int bundle_encode(uint8_t *out, size_t cap, const struct bundle *b);

/* Parses an encoding and computes its id; checks structure only (lengths,
 * caps, field ranges, trailing bytes), not the signature. b->payload points
 * into in and is valid as long as in is. MU_E_FORMAT / MU_E_TOOBIG /
 * MU_E_VERSION on bad input; *b is zeroed on entry and on failure. */
int bundle_decode(struct bundle *b, const uint8_t *in, size_t len);

/* Checks the sender's signature over the encoding b was decoded from (its
 * last 64 bytes must equal b->sig). Returns 0 or MU_E_SIG. */
int bundle_verify_sig(const struct bundle *b, const uint8_t *in, size_t len)
	__attribute__((warn_unused_result));

#endif
