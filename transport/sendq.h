/* A link's send queue: bytes the socket has not taken yet, in chunks, with
 * a hard cap. Bytes go in with sendq_append (all or nothing); a driver
 * writes them out either as packets (sendq_peek copies the next one, at
 * most max bytes — Bluetooth's MTU) or as a stream (sendq_iov describes the
 * queued chunks for one sendmsg), then sendq_consume drops the bytes the
 * socket took. The queue owns its memory; sendq_clear frees it. */
#ifndef MU_SENDQ_H
#define MU_SENDQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct sendq_chunk;
struct sendq {
	struct sendq_chunk *head, *tail;
	size_t len; /* bytes queued */
	size_t cap;
};

void sendq_init(struct sendq *q, size_t cap);
/* 0, -ENOBUFS (over cap, nothing queued) or -ENOMEM (nothing queued). */
int sendq_append(struct sendq *q, const uint8_t *p, size_t n);
/* Copies up to max queued bytes into out; returns how many (0 when empty). */
size_t sendq_peek(const struct sendq *q, uint8_t *out, size_t max);
/* Fills up to max iovecs pointing at the queued bytes, in order; returns
 * how many. They stay valid until the queue is next changed. */
size_t sendq_iov(const struct sendq *q, struct iovec *iov, size_t max);
void sendq_consume(struct sendq *q, size_t n);
void sendq_clear(struct sendq *q);

#endif
