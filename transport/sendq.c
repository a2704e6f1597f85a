/* Per-link send queues shared by the transport drivers (see sendq.h). */
#include "sendq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_BYTES 16384

struct sendq_chunk {
	struct sendq_chunk *next;
	size_t off, len; /* unsent bytes are data[off .. len) */
	uint8_t data[CHUNK_BYTES];
};

void sendq_init(struct sendq *q, size_t cap)
{
	memset(q, 0, sizeof(*q));
	q->cap = cap;
}

int sendq_append(struct sendq *q, const uint8_t *p, size_t n)
{
	struct sendq_chunk *first = NULL, *last = NULL, *c;
	size_t room = q->tail ? CHUNK_BYTES - q->tail->len : 0, need;

	if (n > q->cap - q->len)
		return -ENOBUFS;
	need = n > room ? n - room : 0;
	for (size_t got = 0; got < need; got += CHUNK_BYTES) {
		c = malloc(sizeof(*c));
		if (!c) {
			while (first) {
				c = first;
				first = c->next;
				free(c);
			}
			return -ENOMEM;
		}
		c->next = NULL;
		c->off = c->len = 0;
		if (last)
			last->next = c;
		else
			first = c;
		last = c;
	}
	if (room && n) {
		size_t k = n < room ? n : room;

		memcpy(q->tail->data + q->tail->len, p, k);
		q->tail->len += k;
		p += k;
		n -= k;
		q->len += k;
	}
	for (c = first; c; c = c->next) {
		size_t k = n < CHUNK_BYTES ? n : CHUNK_BYTES;

		memcpy(c->data, p, k);
		c->len = k;
		p += k;
		n -= k;
		q->len += k;
	}
	if (first) {
		if (q->tail)
			q->tail->next = first;
		else
			q->head = first;
		q->tail = last;
	}
	return 0;
}

size_t sendq_peek(const struct sendq *q, uint8_t *out, size_t max)
{
	size_t n = 0;

	for (const struct sendq_chunk *c = q->head; c && n < max; c = c->next) {
		size_t k = c->len - c->off;

		if (k > max - n)
			k = max - n;
		memcpy(out + n, c->data + c->off, k);
		n += k;
	}
	return n;
}

void sendq_consume(struct sendq *q, size_t n)
{
	if (n > q->len)
		n = q->len;
	q->len -= n;
	while (n && q->head) {
		struct sendq_chunk *c = q->head;
		size_t left = c->len - c->off;

		if (n < left) {
			c->off += n;
			return;
		}
		n -= left;
		q->head = c->next;
		free(c);
	}
	if (!q->head)
		q->tail = NULL;
}

void sendq_clear(struct sendq *q)
{
	while (q->head) {
		struct sendq_chunk *c = q->head;

		q->head = c->next;
		free(c);
	}
	q->tail = NULL;
	q->len = 0;
}

size_t sendq_iov(const struct sendq *q, struct iovec *iov, size_t max)
{
	size_t k = 0;

	for (const struct sendq_chunk *c = q->head; c && k < max; c = c->next, k++)
		iov[k] = (struct iovec){ .iov_base = (void *)(c->data + c->off), .iov_len = c->len - c->off };
	return k;
}
