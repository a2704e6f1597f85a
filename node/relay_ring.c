#include "relay_ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct relay_ring {
	struct relay_entry *e;
	size_t cap;
	uint64_t first, next;
	uint64_t window_ms;
};

int relay_ring_new(struct relay_ring **out, size_t cap, uint64_t window_ms)
{
	struct relay_ring *r;

	*out = NULL;
	if (!cap || !window_ms)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->e = calloc(cap, sizeof(*r->e));
	if (!r->e) {
		free(r);
		return -ENOMEM;
	}
	r->cap = cap;
	r->window_ms = window_ms;
	*out = r;
	return 0;
}

void relay_ring_free(struct relay_ring *r)
{
	if (!r)
		return;
	free(r->e);
	free(r);
}

void relay_ring_trim(struct relay_ring *r, uint64_t now)
{
	while (r->first < r->next && now - r->e[r->first % r->cap].at >= r->window_ms)
		r->first++;
}

void relay_ring_add(struct relay_ring *r, const struct sync_key *k, uint64_t at,
		    const uint8_t from[RELAY_FROM_BYTES])
{
	struct relay_entry *e;

	relay_ring_trim(r, at);
	if (r->next - r->first == r->cap)
		r->first++; /* full: the oldest gives way */
	e = &r->e[r->next % r->cap];
	e->k = *k;
	e->at = at;
	if (from)
		memcpy(e->from, from, RELAY_FROM_BYTES);
	else
		memset(e->from, 0, RELAY_FROM_BYTES);
	r->next++;
}

uint64_t relay_ring_first(const struct relay_ring *r)
{
	return r->first;
}

uint64_t relay_ring_next(const struct relay_ring *r)
{
	return r->next;
}

const struct relay_entry *relay_ring_get(const struct relay_ring *r, uint64_t seq)
{
	if (seq < r->first || seq >= r->next)
		return NULL;
	return &r->e[seq % r->cap];
}
