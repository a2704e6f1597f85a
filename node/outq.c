/* A binary min-heap of bundles to send to one peer. Order: priority
 * (immediate first), then smaller bundles, then older ones — the transfer
 * order the sync design asks for, and what keeps an immediate bundle from
 * ever waiting behind a queue of bulk chunks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node_int.h"

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
	*q = (struct outq){ 0 };
}
