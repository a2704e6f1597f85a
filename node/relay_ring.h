/* The hospital's relay ring (docs/sync.md "Uplink"): the keys of the
 * bundles that arrived, in arrival order, kept for a time window and up to
 * a count, so each field node connected over an uplink can be told what
 * arrived recently.
 *
 * Entries are numbered from 0 since the ring was made; entry seq i is
 * present while relay_ring_first() <= i < relay_ring_next(). A reader keeps
 * its own position (a seq) and reads forward; entries it has not read may
 * be dropped under it (window passed, or the ring full), which it sees as
 * relay_ring_first() having moved past its position.
 *
 * A ring is owned by its creator (relay_ring_free). Memory only; one
 * thread; no errors after relay_ring_new. */
#ifndef MU_RELAY_RING_H
#define MU_RELAY_RING_H

#include <stddef.h>
#include <stdint.h>

#include "keyset.h"

#define RELAY_FROM_BYTES 8 /* how much of the sending peer's key an entry keeps */

struct relay_entry {
	struct sync_key k;
	uint64_t at;                     /* arrival, Unix ms */
	uint8_t from[RELAY_FROM_BYTES]; /* first bytes of the peer it came from; zeros: made here */
};

struct relay_ring;

/* cap: entries kept at most (>= 1); window_ms: how long an entry is kept
 * after it arrived (>= 1). *out owned by the caller. -EINVAL, -ENOMEM. */
int relay_ring_new(struct relay_ring **out, size_t cap, uint64_t window_ms);
void relay_ring_free(struct relay_ring *r); /* NULL-safe */

/* Appends an entry (from may be NULL: made here); when full, the oldest
 * gives way. Also drops what the window has passed at `at`. */
void relay_ring_add(struct relay_ring *r, const struct sync_key *k, uint64_t at,
		    const uint8_t from[RELAY_FROM_BYTES]);
/* Drops the entries that arrived window_ms or more before now. */
void relay_ring_trim(struct relay_ring *r, uint64_t now);

uint64_t relay_ring_first(const struct relay_ring *r);
uint64_t relay_ring_next(const struct relay_ring *r);
/* Entry seq (first <= seq < next), valid until the next add; NULL otherwise. */
const struct relay_entry *relay_ring_get(const struct relay_ring *r, uint64_t seq);

#endif
