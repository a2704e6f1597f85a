/* Discovery beacons of the IP driver: one UDP datagram, multicast to ff02::1
 * on each beacon interface, saying "the node with this key listens for TCP on
 * this port of the address this came from". Layout (docs/transport.md):
 *
 *   magic "MUB" | version u8 = 1 | key 32 | tcp_port u16 | ts_ms u64 |
 *   nonce 8 | Ed25519 signature 64 by key over all bytes before it
 *
 * Pure functions: no sockets, no clock. beacon_decode is the fuzzed entry. */
#ifndef MU_BEACON_H
#define MU_BEACON_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/identity.h"

#define BEACON_MAGIC       "MUB"
#define BEACON_MAGIC_BYTES 3
#define BEACON_VERSION     1
#define BEACON_NONCE_BYTES 8
/* Bytes covered by the signature. */
#define BEACON_SIGNED_BYTES (BEACON_MAGIC_BYTES + 1 + MU_KEY_BYTES + 2 + 8 + BEACON_NONCE_BYTES) /* 54 */
#define BEACON_BYTES        (BEACON_SIGNED_BYTES + MU_SIG_BYTES)                                 /* 118 */

struct beacon {
	uint8_t key[MU_KEY_BYTES]; /* sender's node key id */
	uint16_t port;             /* TCP listen port, 1..65535 */
	uint64_t ts_ms;            /* sender's wall clock, Unix ms */
	uint8_t nonce[BEACON_NONCE_BYTES];
};

/* Encodes b and signs it with id, whose public key must be b->key
 * (MU_E_MISMATCH otherwise). b->port 0 is MU_E_FORMAT. Returns 0 or an
 * error; out is zeroed on error. */
int beacon_encode(uint8_t out[static BEACON_BYTES], const struct beacon *b, const struct mu_identity *id)
    __attribute__((warn_unused_result));

/* Decodes exactly one beacon from p/n and verifies its signature.
 * MU_E_FORMAT: wrong length, magic, port 0 or trailing bytes;
 * MU_E_VERSION: a version other than 1; MU_E_SIG: the signature does not
 * verify. *out is zeroed unless 0 is returned. Says nothing about freshness
 * or whose key it is: see beacon_judge. */
int beacon_decode(struct beacon *out, const uint8_t *p, size_t n) __attribute__((warn_unused_result));

enum beacon_verdict {
	BEACON_ACCEPT, /* report the peer */
	BEACON_OWN,    /* our own key (a looped-back or replayed beacon) */
	BEACON_STALE,  /* ts_ms more than max_skew_ms before now */
	BEACON_FUTURE, /* ts_ms more than max_skew_ms after now */
};

/* Policy for a decoded beacon: our own key is ignored, and so is a
 * timestamp more than max_skew_ms away from now_ms in either direction. */
enum beacon_verdict beacon_judge(const struct beacon *b, const uint8_t own_key[static MU_KEY_BYTES],
				 uint64_t now_ms, uint64_t max_skew_ms);

#endif
