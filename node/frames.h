/* Frames exchanged between two nodes inside an established link session
 * (docs/protocol.md "Peer frames"). Each session frame carries exactly one
 * peer frame: a type byte and a body.
 *
 *   HELLO   node role u8, protocol version u8, bundles held u64
 *   SYNC    more u8 (1 = further fragments follow), then up to
 *           FRAME_SYNC_CHUNK bytes of a reconciliation message
 *           (node/sync.h); fragments reassemble to at most SYNC_MSG_MAX
 *   WANT    u16 count (1..FRAME_IDS_MAX), count x 32-byte bundle ids
 *   BUNDLE  hops u8 (hops already travelled), then one bundle encoding
 *   GONE    u16 count, ids asked for that are no longer held (expired)
 *   OFFER   seq u32, u16 count (1..FRAME_KEYS_MAX), count x 40-byte sync
 *           keys (created u64, id): bundles a field node holds and has no
 *           custody receipt for, told to a hospital (docs/sync.md "Uplink")
 *   TAKE    seq u32 (the OFFER answered), u16 count (= the OFFER's), then
 *           ceil(count / 8) bytes: bit i (byte i / 8, least significant
 *           bit first) set = the hospital lacks key i; unused bits zero
 *   REFUSED u16 count (1..FRAME_IDS_MAX), count x (bundle id 32, reason
 *           u8, enum frame_refusal): bundles the sender of the frame
 *           received from us and did not store, so that we stop offering
 *           them (docs/protocol.md "Peer frames")
 *
 * Decoders point into the input buffer (no copies); the pointers live as
 * long as that buffer. */
#ifndef MU_FRAMES_H
#define MU_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "bundle.h"
#include "wire.h"

#define FRAME_IDS_MAX 512
#define FRAME_SYNC_CHUNK 16384 /* keeps every frame small for Bluetooth */
#define FRAME_MAX (1 + 1 + BUNDLE_ENC_MAX) /* largest frame: BUNDLE */
#define FRAME_KEYS_MAX 400 /* keys in one OFFER: 16,006 bytes, as small as a SYNC chunk */
#define FRAME_TAKE_BYTES(count) (((size_t)(count) + 7) / 8)
#define FRAME_REFUSAL_BYTES (BUNDLE_ID_BYTES + 1) /* one REFUSED entry: id, reason */

enum frame_type {
	FRAME_HELLO = 1,
	FRAME_SYNC = 2,
	FRAME_WANT = 3,
	FRAME_BUNDLE = 4,
	FRAME_GONE = 5,
	FRAME_OFFER = 6,
	FRAME_TAKE = 7,
	FRAME_REFUSED = 8,
};

/* Why a received bundle was not stored (REFUSED). */
enum frame_refusal {
	REFUSAL_FULL = 1,    /* the store is full (quota or map): may fit later */
	REFUSAL_RATE = 2,    /* its sender is over its rate budget: fits later */
	REFUSAL_INVALID = 3, /* never accepted: hops, expiry, clock skew, credential, signature, revoked */
};

enum node_role { NODE_FIELD = 1, NODE_HOSPITAL = 2 };

struct frame {
	uint8_t type;
	union {
		struct {
			uint8_t role, version;
			uint64_t held;
		} hello;
		struct {
			uint8_t more;
			const uint8_t *p;
			size_t len;
		} sync;
		struct {
			const uint8_t *ids; /* count * 32 bytes */
			uint16_t count;
		} ids; /* WANT and GONE */
		struct {
			uint8_t hops;
			const uint8_t *enc;
			size_t len;
		} bundle;
		struct {
			uint32_t seq;
			uint16_t count;
			const uint8_t *keys; /* OFFER: count * 40 bytes (keyset.h wire form) */
			const uint8_t *bits; /* TAKE: FRAME_TAKE_BYTES(count) bytes */
		} up; /* OFFER and TAKE */
		struct {
			const uint8_t *entries; /* count * FRAME_REFUSAL_BYTES: id, then reason */
			uint16_t count;
		} refused;
	} u;
};

/* Encoders append one whole frame to wr; errors are wr's sticky error. */
void frame_hello(struct wr *wr, uint8_t role, uint64_t held);
void frame_sync(struct wr *wr, uint8_t more, const uint8_t *chunk, size_t len);
void frame_ids(struct wr *wr, uint8_t type, const uint8_t *ids, uint16_t count);
void frame_bundle(struct wr *wr, uint8_t hops, const uint8_t *enc, size_t len);
/* keys: count (1..FRAME_KEYS_MAX) keys in wire form (KEYSET_KEY_WIRE each). */
void frame_offer(struct wr *wr, uint32_t seq, const uint8_t *keys, uint16_t count);
/* bits: FRAME_TAKE_BYTES(count) bytes, unused bits zero. */
void frame_take(struct wr *wr, uint32_t seq, const uint8_t *bits, uint16_t count);
/* entries: count (1..FRAME_IDS_MAX) entries of FRAME_REFUSAL_BYTES, each
 * reason an enum frame_refusal (else MU_E_FORMAT in wr). */
void frame_refused(struct wr *wr, const uint8_t *entries, uint16_t count);

/* MU_E_FORMAT for unknown types, bad counts or trailing bytes; MU_E_TOOBIG
 * for bodies over their cap. The bundle body is not decoded here. */
int frame_decode(struct frame *f, const uint8_t *p, size_t len);

#endif
