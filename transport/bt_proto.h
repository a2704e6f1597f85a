/* The Bluetooth driver's pure pieces, kept apart from sockets and D-Bus so
 * they can be unit-tested and fuzzed: the node tag carried in Muster's LE
 * advertisement, Bluetooth address text, PSM rules, and the send queue that
 * cuts the link's byte stream into L2CAP packets of at most one MTU.
 *
 * The advertisement (docs/bluetooth.md) is legacy LE advertising, 31 bytes:
 * flags (3) + Muster's 128-bit service UUID in a UUID list (18, which is what
 * bluetoothd's and the kernel's discovery filter match on) + manufacturer-
 * specific data (2 + 2-byte company id + BT_TAG_BYTES) = 31. The tag is the
 * first BT_TAG_BYTES of the node's signing key: a hint for deduplication and
 * for deciding which side dials, never an identity (the session proves who
 * is at the other end). */
#ifndef MU_BT_PROTO_H
#define MU_BT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../crypto/identity.h"
#include "sendq.h"

#define BT_SERVICE_UUID "6916762c-d2ef-4b02-9213-5015a23c1ae6"
/* 0xFFFF: the company id the Bluetooth SIG reserves for use before one is
 * assigned; a fielded product replaces it with its own (docs/bluetooth.md). */
#define BT_MFG_ID     0xFFFFu
#define BT_TAG_BYTES  6
#define BT_ADDR_BYTES 6
#define BT_ADDR_TEXT  18 /* "AA:BB:CC:DD:EE:FF" + NUL */

#define BT_LE_MTU_MIN    23 /* the smallest MTU an LE CoC may have */
#define BT_BREDR_MTU_MIN 48 /* L2CAP's minimum for BR/EDR */
#define BT_MTU_MAX       65535

/* The tag for a node key. */
void bt_tag_make(uint8_t tag[static BT_TAG_BYTES], const uint8_t key[static MU_KEY_BYTES]);

/* Reads a tag from the manufacturer data value of BT_MFG_ID: exactly
 * BT_TAG_BYTES, not all zero (an all-zero key means "unknown" to the core).
 * 0 or MU_E_FORMAT (tag zeroed). */
int bt_tag_parse(uint8_t tag[static BT_TAG_BYTES], const uint8_t *p, size_t n);

/* The key the driver reports to the core for a tag: the tag, then zeros. */
void bt_tag_key(uint8_t key[static MU_KEY_BYTES], const uint8_t tag[static BT_TAG_BYTES]);

/* "AA:BB:CC:DD:EE:FF" (either case, exactly 17 characters) to the six
 * bytes in the kernel's order (bdaddr_t: least significant byte first).
 * 0 or MU_E_FORMAT (out zeroed). */
int bt_addr_parse(uint8_t out[static BT_ADDR_BYTES], const char *s);
/* The reverse, upper case. */
void bt_addr_format(char out[static BT_ADDR_TEXT], const uint8_t addr[static BT_ADDR_BYTES]);

/* PSM rules: LE CoC uses 0x0080..0x00FF (dynamic range); BR/EDR a dynamic
 * PSM 0x1001..0xFFFF that is odd with an even upper octet. */
bool bt_psm_valid(uint16_t psm, bool le);
/* "129", "0x81", "0x0081": 0 or MU_E_CONFIG. */
int bt_psm_parse(const char *s, uint16_t *out);


#endif
