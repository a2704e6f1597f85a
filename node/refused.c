/* What one peer refused from us (REFUSED frames, docs/protocol.md "Peer
 * frames"), so that conn_offer stops sending it every sync round: a
 * refused bundle never enters the peer's keyset, and without this every
 * round offers it again. On a 200 kbit/s link those re-sends were most of
 * the bytes (docs/benchmarks.md "sim").
 *
 * A ring of entries in the order they were first refused (the oldest is
 * forgotten at REFUSED_MAX), and beside it an open-addressing index of
 * ring positions (linear probing, deletion by backward shift, keyed hash
 * so a peer cannot aim ids at one run of slots). Both grow by doubling, so
 * a peer that refuses little costs little.
 *
 * The same structure, a second instance per conn, remembers the bundles
 * conn_pump handed to the link (entries with reason 0, capped at
 * INFLIGHT_MAX), so that a sync round which finds them still missing at
 * the peer, because they are queued, in the socket or on the wire, does
 * not send them a second time (refused_sent_note, refused_in_flight). */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "node_int.h"

#define REFUSED_FIRST 64

/* Growth by doubling from REFUSED_FIRST keeps the index a power of two
 * only if each cap is one. */
_Static_assert((REFUSED_MAX & (REFUSED_MAX - 1)) == 0 && REFUSED_MAX >= REFUSED_FIRST, "REFUSED_MAX");
_Static_assert((INFLIGHT_MAX & (INFLIGHT_MAX - 1)) == 0 && INFLIGHT_MAX >= REFUSED_FIRST, "INFLIGHT_MAX");

struct refused_entry {
	uint8_t id[BUNDLE_ID_BYTES];
	uint64_t at; /* when it was last refused (caller's ms) */
	uint8_t reason; /* enum frame_refusal */
};

struct refused_set {
	struct refused_entry *ring;
	size_t cap, head, n; /* oldest at ring[head] once the ring is full */
	size_t max;          /* cap stops growing here: REFUSED_MAX or INFLIGHT_MAX */
	uint32_t *slot;      /* ring index + 1; 0 = free */
	size_t slots;        /* a power of two >= 2 * cap */
	uint8_t hkey[crypto_shorthash_KEYBYTES];
};

int refused_reason(int err)
{
	switch (err) {
	case MU_E_QUOTA:
		return REFUSAL_FULL;
	case MU_E_RATE:
		return REFUSAL_RATE;
	case MU_E_FORMAT:
	case MU_E_TOOBIG:
	case MU_E_VERSION:
	case MU_E_SIG:
	case MU_E_UNTRUSTED:
	case MU_E_EXPIRED:
	case MU_E_NOTYET:
	case MU_E_REVOKED:
	case MU_E_MISMATCH:
	case MU_E_HOPS:
	case MU_E_IDENTIFIER:
		return REFUSAL_INVALID;
	}
	/* Stored, a duplicate, a credential still on its way (MU_E_NOCRED:
	 * the retry path asks again), or our own failure (LMDB, memory): the
	 * peer should offer it again as before. */
	return 0;
}

static size_t home_of(const struct refused_set *rs, const uint8_t *id)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, id, BUNDLE_ID_BYTES, rs->hkey);
	memcpy(&v, h, sizeof(v));
	return (size_t)v & (rs->slots - 1);
}

/* The slot holding id, or the free slot where it would go. */
static size_t slot_find(const struct refused_set *rs, const uint8_t *id)
{
	size_t i = home_of(rs, id);

	while (rs->slot[i] && memcmp(rs->ring[rs->slot[i] - 1].id, id, BUNDLE_ID_BYTES))
		i = (i + 1) & (rs->slots - 1);
	return i;
}

static void slot_del(struct refused_set *rs, size_t i)
{
	size_t mask = rs->slots - 1, j = i;

	/* Backward shift: a later entry of the run moves into the hole unless
	 * its home lies cyclically in (hole, j]. */
	for (;;) {
		rs->slot[i] = 0;
		for (;;) {
			size_t home;

			j = (j + 1) & mask;
			if (!rs->slot[j])
				return;
			home = home_of(rs, rs->ring[rs->slot[j] - 1].id);
			if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
				continue;
			break;
		}
		rs->slot[i] = rs->slot[j];
		i = j;
	}
}

/* Doubles ring and index (only while the ring has never wrapped: it
 * wraps at rs->max and grows no more). */
static int grow(struct refused_set *rs)
{
	size_t cap = rs->cap ? 2 * rs->cap : REFUSED_FIRST, slots = 2 * cap;
	struct refused_entry *ring = realloc(rs->ring, cap * sizeof(*ring));
	uint32_t *slot;

	if (!ring)
		return -ENOMEM;
	rs->ring = ring;
	slot = calloc(slots, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	free(rs->slot);
	rs->slot = slot;
	rs->slots = slots;
	rs->cap = cap;
	for (size_t k = 0; k < rs->n; k++)
		rs->slot[slot_find(rs, rs->ring[k].id)] = (uint32_t)(k + 1);
	return 0;
}

/* Remembers id with reason at now in *rsp (created on first use, at most
 * max entries). */
static int note(struct refused_set **rsp, const uint8_t *id, uint8_t reason, uint64_t now, size_t max)
{
	static const uint8_t zero[BUNDLE_ID_BYTES];
	struct refused_set *rs = *rsp;
	struct refused_entry *e;
	size_t i, k;
	int ret;

	if (!memcmp(id, zero, BUNDLE_ID_BYTES))
		return 0; /* no bundle has it: nothing to remember */
	if (!rs) {
		rs = calloc(1, sizeof(*rs));
		if (!rs)
			return -ENOMEM;
		randombytes_buf(rs->hkey, sizeof(rs->hkey));
		rs->max = max;
		*rsp = rs;
	}
	if (rs->slots) {
		i = slot_find(rs, id);
		if (rs->slot[i]) {
			e = &rs->ring[rs->slot[i] - 1];
			e->at = now;
			e->reason = reason;
			return 0;
		}
	}
	if (rs->n == rs->cap && rs->cap < rs->max && (ret = grow(rs)))
		return ret;
	if (rs->n == rs->cap) { /* full: forget the oldest */
		k = rs->head;
		slot_del(rs, slot_find(rs, rs->ring[k].id));
		rs->head = (rs->head + 1) % rs->cap;
	} else {
		k = rs->n++;
	}
	e = &rs->ring[k];
	memcpy(e->id, id, BUNDLE_ID_BYTES);
	e->at = now;
	e->reason = reason;
	rs->slot[slot_find(rs, id)] = (uint32_t)(k + 1);
	return 0;
}

int refused_note(struct refused_set **rsp, const uint8_t id[static BUNDLE_ID_BYTES], uint8_t reason,
		 uint64_t now)
{
	return note(rsp, id, reason, now, REFUSED_MAX);
}

static const struct refused_entry *entry_of(const struct refused_set *rs, const uint8_t *id)
{
	size_t i;

	if (!rs || !rs->slots)
		return NULL;
	i = slot_find(rs, id);
	return rs->slot[i] ? &rs->ring[rs->slot[i] - 1] : NULL;
}

bool refused_skip(const struct refused_set *rs, const uint8_t id[static BUNDLE_ID_BYTES],
		  const struct refused_retry *rt, uint64_t now)
{
	const struct refused_entry *e = entry_of(rs, id);

	if (!e)
		return false;
	switch ((enum frame_refusal)e->reason) {
	case REFUSAL_INVALID:
		return true;
	case REFUSAL_FULL:
		return now - e->at < rt->full_ms;
	case REFUSAL_RATE:
		return now - e->at < rt->rate_ms;
	}
	return false; /* reason 0: an in-flight entry, never a refusal */
}

int refused_sent_note(struct refused_set **rs, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t now)
{
	return note(rs, id, 0, now, INFLIGHT_MAX);
}

bool refused_in_flight(const struct refused_set *rs, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t now,
		       uint64_t window_ms)
{
	const struct refused_entry *e = entry_of(rs, id);

	return e && now - e->at < window_ms;
}

size_t refused_count(const struct refused_set *rs)
{
	return rs ? rs->n : 0;
}

void refused_free(struct refused_set *rs)
{
	if (!rs)
		return;
	free(rs->ring);
	free(rs->slot);
	free(rs);
}

int refused_config(struct node *n)
{
	if (config_u64(n->cfg, "node", "refused_retry_full_ms", REFUSED_RETRY_FULL_MS_DEFAULT, REFUSED_RETRY_MS_MIN,
		       REFUSED_RETRY_MS_MAX, &n->refused_retry.full_ms) ||
	    config_u64(n->cfg, "node", "refused_retry_rate_ms", REFUSED_RETRY_RATE_MS_DEFAULT, REFUSED_RETRY_MS_MIN,
		       REFUSED_RETRY_MS_MAX, &n->refused_retry.rate_ms))
		return MU_E_CONFIG;
	return 0;
}
