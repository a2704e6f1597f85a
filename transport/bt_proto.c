/* Pure helpers of the Bluetooth driver (see bt_proto.h). */
#include "bt_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define CHUNK_BYTES 16384

struct bt_txq_chunk {
	struct bt_txq_chunk *next;
	size_t off, len; /* unsent bytes are data[off .. len) */
	uint8_t data[CHUNK_BYTES];
};

void bt_tag_make(uint8_t tag[static BT_TAG_BYTES], const uint8_t key[static MU_KEY_BYTES])
{
	memcpy(tag, key, BT_TAG_BYTES);
}

int bt_tag_parse(uint8_t tag[static BT_TAG_BYTES], const uint8_t *p, size_t n)
{
	static const uint8_t zero[BT_TAG_BYTES];

	memset(tag, 0, BT_TAG_BYTES);
	if (!p || n != BT_TAG_BYTES || !memcmp(p, zero, BT_TAG_BYTES))
		return MU_E_FORMAT;
	memcpy(tag, p, BT_TAG_BYTES);
	return 0;
}

void bt_tag_key(uint8_t key[static MU_KEY_BYTES], const uint8_t tag[static BT_TAG_BYTES])
{
	memset(key, 0, MU_KEY_BYTES);
	memcpy(key, tag, BT_TAG_BYTES);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int bt_addr_parse(uint8_t out[static BT_ADDR_BYTES], const char *s)
{
	memset(out, 0, BT_ADDR_BYTES);
	if (!s || strlen(s) != BT_ADDR_TEXT - 1)
		return MU_E_FORMAT;
	for (int i = 0; i < BT_ADDR_BYTES; i++) {
		const char *p = s + 3 * i;
		int hi = hexval(p[0]), lo = hexval(p[1]);

		if (hi < 0 || lo < 0 || (i < BT_ADDR_BYTES - 1 && p[2] != ':')) {
			memset(out, 0, BT_ADDR_BYTES);
			return MU_E_FORMAT;
		}
		/* Text is most significant first; bdaddr_t the other way. */
		out[BT_ADDR_BYTES - 1 - i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void bt_addr_format(char out[static BT_ADDR_TEXT], const uint8_t addr[static BT_ADDR_BYTES])
{
	snprintf(out, BT_ADDR_TEXT, "%02X:%02X:%02X:%02X:%02X:%02X", addr[5], addr[4], addr[3], addr[2],
		 addr[1], addr[0]);
}

bool bt_psm_valid(uint16_t psm, bool le)
{
	if (le)
		return psm >= 0x0080 && psm <= 0x00ff;
	return psm >= 0x1001 && (psm & 1) && !(psm & 0x0100);
}

int bt_psm_parse(const char *s, uint16_t *out)
{
	unsigned long v = 0;
	int base = 10;

	if (!s || !*s)
		return MU_E_CONFIG;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return MU_E_CONFIG;
	}
	for (; *s; s++) {
		int d = hexval(*s);

		if (d < 0 || d >= base)
			return MU_E_CONFIG;
		v = v * (unsigned long)base + (unsigned long)d;
		if (v > 0xffff)
			return MU_E_CONFIG;
	}
	*out = (uint16_t)v;
	return 0;
}

void bt_txq_init(struct bt_txq *q, size_t cap)
{
	memset(q, 0, sizeof(*q));
	q->cap = cap;
}

int bt_txq_append(struct bt_txq *q, const uint8_t *p, size_t n)
{
	struct bt_txq_chunk *first = NULL, *last = NULL, *c;
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

size_t bt_txq_peek(const struct bt_txq *q, uint8_t *pkt, size_t mtu)
{
	size_t n = 0;

	for (const struct bt_txq_chunk *c = q->head; c && n < mtu; c = c->next) {
		size_t k = c->len - c->off;

		if (k > mtu - n)
			k = mtu - n;
		memcpy(pkt + n, c->data + c->off, k);
		n += k;
	}
	return n;
}

void bt_txq_consume(struct bt_txq *q, size_t n)
{
	if (n > q->len)
		n = q->len;
	q->len -= n;
	while (n && q->head) {
		struct bt_txq_chunk *c = q->head;
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

void bt_txq_clear(struct bt_txq *q)
{
	while (q->head) {
		struct bt_txq_chunk *c = q->head;

		q->head = c->next;
		free(c);
	}
	q->tail = NULL;
	q->len = 0;
}
