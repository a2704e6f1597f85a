/* Receipts: small signed bundles (kind BK_RECEIPT) that say something
 * happened to other bundles. The payload is not encrypted: it holds bundle
 * ids only, which relays already see.
 *
 * Payload (docs/protocol.md "Receipt"): 'M' 'R' version type count(u16)
 * then count bundle ids of 32 bytes. The decoder rejects count 0, count
 * above RECEIPT_IDS_MAX, unknown types and trailing bytes.
 *
 * RECEIPT_CUSTODY is issued by a hospital archive (sender credential role
 * "archive", dest all): the listed bundles are in the clinical record, so
 * field nodes may delete their copies after a grace period. The others are
 * sent by a recipient to a message's sender (dest person). */
#ifndef MU_RECEIPT_H
#define MU_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "bundle.h"

#define RECEIPT_VERSION 1
#define RECEIPT_IDS_MAX 1024
#define RECEIPT_HDR_BYTES 6 /* magic 2, version, type, count 2 */
#define RECEIPT_ENC_MAX (RECEIPT_HDR_BYTES + RECEIPT_IDS_MAX * BUNDLE_ID_BYTES)

enum receipt_type {
	RECEIPT_DELIVERED = 1, /* stored on the recipient's node */
	RECEIPT_READ = 2,      /* shown to the recipient */
	RECEIPT_ACK = 3,       /* an alert acknowledged by the recipient */
	RECEIPT_CUSTODY = 4,   /* archived by the hospital */
};

/* "delivered", "read", "ack", "custody"; NULL otherwise. */
const char *receipt_type_name(uint8_t type);

/* Writes the payload for n ids (1..RECEIPT_IDS_MAX) into out. Returns the
 * length, MU_E_FORMAT for a bad type or count, MU_E_TOOBIG if cap is short. */
int receipt_encode(uint8_t *out, size_t cap, uint8_t type, const uint8_t (*ids)[BUNDLE_ID_BYTES], size_t n);
/* Parses a payload; *ids points into in (valid as long as in is).
 * MU_E_FORMAT / MU_E_VERSION on bad input. */
int receipt_decode(const uint8_t *in, size_t len, uint8_t *type, const uint8_t (**ids)[BUNDLE_ID_BYTES],
		   size_t *n);

#endif
