/* A binary min-heap of bundles to send to one peer. Order: priority
 * (immediate first), then smaller bundles, then older ones — the transfer
 * order the sync design asks for, and what keeps an immediate bundle from
 * ever waiting behind a queue of bulk chunks.
 *
 * Beside it, a set of the queued ids (linear probing, deletion by backward
 * shift): each sync round offers every bundle the peer still lacks, and a
 * transfer longer than a round would otherwise queue and send the same
 * bundle once per round. The all-zero id (a BLAKE2b output nobody can aim
 * at) marks a free slot; slots are found by a keyed hash. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "node_int.h"

static uint8_t hash_key[crypto_shorthash_KEYBYTES];
static bool hash_key_set;

static const uint8_t zero_id[BUNDLE_ID_BYTES];

static size_t slot_of(const struct outq *q, const uint8_t *id)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	if (!hash_key_set) {
		randombytes_buf(hash_key, sizeof(hash_key));
		hash_key_set = true;
	}
	crypto_shorthash(h, id, BUNDLE_ID_BYTES, hash_key);
	memcpy(&v, h, sizeof(v));
	return (size_t)v & (q->slots - 1);
}

/* The slot holding id, or the free slot where it would go. */
static size_t set_find(const struct outq *q, const uint8_t *id)
{
	size_t i = slot_of(q, id);

	while (memcmp(q->set[i], zero_id, BUNDLE_ID_BYTES) && memcmp(q->set[i], id, BUNDLE_ID_BYTES))
		i = (i + 1) & (q->slots - 1);
	return i;
}

static void set_del(struct outq *q, const uint8_t *id)
{
	size_t mask = q->slots - 1, i = set_find(q, id), j = i;

	if (!memcmp(q->set[i], zero_id, BUNDLE_ID_BYTES))
		return;
	/* Backward shift: move later entries of the run into the hole unless
	 * their home slot lies cyclically in (hole, j]. */
	for (;;) {
		size_t home;

		memset(q->set[i], 0, BUNDLE_ID_BYTES);
		for (;;) {
			j = (j + 1) & mask;
			if (!memcmp(q->set[j], zero_id, BUNDLE_ID_BYTES))
				return;
			home = slot_of(q, q->set[j]);
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		memcpy(q->set[i], q->set[j], BUNDLE_ID_BYTES);
		i = j;
	}
}

static int set_grow(struct outq *q, size_t want)
{
	size_t slots = q->slots ? q->slots : 128;
	uint8_t (*old)[BUNDLE_ID_BYTES] = q->set;
	size_t old_slots = q->slots;

	while (slots < 2 * want)
		slots *= 2;
	if (slots == q->slots)
		return 0;
	q->set = calloc(slots, BUNDLE_ID_BYTES);
	if (!q->set) {
		q->set = old;
		return -ENOMEM;
	}
	q->slots = slots;
	for (size_t i = 0; i < old_slots; i++)
		if (memcmp(old[i], zero_id, BUNDLE_ID_BYTES))
			memcpy(q->set[set_find(q, old[i])], old[i], BUNDLE_ID_BYTES);
	free(old);
	return 0;
}

static int item_less(const struct outq_item *a, const struct outq_item *b)
{
	if (a->prio != b->prio)
		return a->prio < b->prio;
	if (a->len != b->len)
		return a->len < b->len;
	if (a->created != b->created)
		return a->created < b->created;
	return memcmp(a->id, b->id, BUNDLE_ID_BYTES) < 0;
}

static void swap(struct outq_item *a, struct outq_item *b)
{
	struct outq_item t = *a;

	*a = *b;
	*b = t;
}

int outq_push(struct outq *q, const struct outq_item *it)
{
	size_t i;

	if (q->slots && !memcmp(q->set[set_find(q, it->id)], it->id, BUNDLE_ID_BYTES))
		return 0; /* already queued */
	if (q->n >= OUTQ_MAX)
		return -ENOBUFS;
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		struct outq_item *v = realloc(q->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		q->v = v;
		q->cap = cap;
	}
	if (set_grow(q, q->n + 1))
		return -ENOMEM;
	if (memcmp(it->id, zero_id, BUNDLE_ID_BYTES))
		memcpy(q->set[set_find(q, it->id)], it->id, BUNDLE_ID_BYTES);
	i = q->n++;
	q->v[i] = *it;
	while (i && item_less(&q->v[i], &q->v[(i - 1) / 2])) {
		swap(&q->v[i], &q->v[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	return 0;
}

int outq_pop(struct outq *q, struct outq_item *out)
{
	size_t i = 0;

	if (!q->n)
		return -ENOENT;
	*out = q->v[0];
	set_del(q, out->id);
	q->v[0] = q->v[--q->n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < q->n && item_less(&q->v[l], &q->v[m]))
			m = l;
		if (r < q->n && item_less(&q->v[r], &q->v[m]))
			m = r;
		if (m == i)
			break;
		swap(&q->v[i], &q->v[m]);
		i = m;
	}
	return 0;
}

void outq_free(struct outq *q)
{
	free(q->v);
	free(q->set);
	*q = (struct outq){ 0 };
}
