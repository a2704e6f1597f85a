/* Per-sender token buckets in a fixed table: a hash index (SipHash with a
 * random key, so nobody can aim keys at one chain) and an LRU list, both by
 * 16-bit entry index. Tokens are kept in thousandths so that a rate given
 * per second refills exactly per millisecond. */
#include "ratelimit.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define NIL 0xffffu
#define MILLI 1000u

enum { TOK_BYTES, TOK_BUNDLES, TOK_KINDS };

struct rl_entry {
	uint8_t key[RL_KEY_BYTES];
	uint64_t last_ms;
	uint64_t log_ms;
	uint64_t refused; /* since the last log line */
	uint64_t tok[RL_CLASSES][TOK_KINDS]; /* thousandths */
	uint16_t prev, next; /* LRU: head is the most recently used */
	uint16_t hnext;
	bool logged;
};

struct ratelimit {
	struct rl_conf conf;
	uint8_t hkey[crypto_shorthash_KEYBYTES];
	struct rl_entry *e;
	uint16_t *heads;
	size_t nheads; /* a power of two */
	size_t n;      /* entries in use: indices 0 .. n-1 */
	uint16_t lru_head, lru_tail;
};

int ratelimit_new(struct ratelimit **out, const struct rl_conf *conf)
{
	struct ratelimit *rl;

	*out = NULL;
	if (conf->max_senders < 1 || conf->max_senders >= NIL)
		return -EINVAL;
	if (sodium_init() < 0)
		return MU_E_CRYPTO;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return -ENOMEM;
	rl->conf = *conf;
	for (rl->nheads = 1; rl->nheads < conf->max_senders; rl->nheads <<= 1)
		;
	rl->e = calloc(conf->max_senders, sizeof(*rl->e));
	rl->heads = malloc(rl->nheads * sizeof(*rl->heads));
	if (!rl->e || !rl->heads) {
		ratelimit_free(rl);
		return -ENOMEM;
	}
	for (size_t i = 0; i < rl->nheads; i++)
		rl->heads[i] = NIL;
	rl->lru_head = rl->lru_tail = NIL;
	randombytes_buf(rl->hkey, sizeof(rl->hkey));
	*out = rl;
	return 0;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	free(rl->e);
	free(rl->heads);
	free(rl);
}

size_t ratelimit_senders(const struct ratelimit *rl)
{
	return rl->n;
}

enum rl_class ratelimit_class(uint8_t prio)
{
	return prio <= 1 ? RL_URGENT : RL_BULK;
}

static size_t slot_of(const struct ratelimit *rl, const uint8_t *key)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v = 0;

	crypto_shorthash(h, key, RL_KEY_BYTES, rl->hkey);
	for (size_t i = 0; i < sizeof(h); i++)
		v = v << 8 | h[i];
	return (size_t)(v & (rl->nheads - 1));
}

static void lru_unlink(struct ratelimit *rl, uint16_t i)
{
	struct rl_entry *e = &rl->e[i];

	if (e->prev != NIL)
		rl->e[e->prev].next = e->next;
	else
		rl->lru_head = e->next;
	if (e->next != NIL)
		rl->e[e->next].prev = e->prev;
	else
		rl->lru_tail = e->prev;
}

static void lru_push_front(struct ratelimit *rl, uint16_t i)
{
	struct rl_entry *e = &rl->e[i];

	e->prev = NIL;
	e->next = rl->lru_head;
	if (rl->lru_head != NIL)
		rl->e[rl->lru_head].prev = i;
	rl->lru_head = i;
	if (rl->lru_tail == NIL)
		rl->lru_tail = i;
}

static void hash_unlink(struct ratelimit *rl, uint16_t i)
{
	uint16_t *p = &rl->heads[slot_of(rl, rl->e[i].key)];

	while (*p != i)
		p = &rl->e[*p].hnext;
	*p = rl->e[i].hnext;
}

static void fill(const struct ratelimit *rl, struct rl_entry *e)
{
	for (int c = 0; c < RL_CLASSES; c++) {
		e->tok[c][TOK_BYTES] = rl->conf.cls[c].burst_bytes * MILLI;
		e->tok[c][TOK_BUNDLES] = rl->conf.cls[c].burst_bundles * MILLI;
	}
}

static uint16_t find(const struct ratelimit *rl, const uint8_t *key, size_t s)
{
	uint16_t i;

	for (i = rl->heads[s]; i != NIL; i = rl->e[i].hnext)
		if (!memcmp(rl->e[i].key, key, RL_KEY_BYTES))
			break;
	return i;
}

/* The entry for key, most recently used from now on. With create, a new
 * sender gets an entry with full buckets (replacing the least recently used
 * one when the table is full); without, NULL. Only a stored bundle creates
 * an entry: a key that merely appears on the wire (perhaps forged) never
 * pushes a real sender out, which would refill that sender's buckets. */
static struct rl_entry *lookup(struct ratelimit *rl, const uint8_t *key, uint64_t now_ms, bool create)
{
	size_t s = slot_of(rl, key);
	uint16_t i = find(rl, key, s);
	struct rl_entry *e;

	if (i != NIL) {
		lru_unlink(rl, i);
		lru_push_front(rl, i);
		return &rl->e[i];
	}
	if (!create)
		return NULL;
	if (rl->n < rl->conf.max_senders) {
		i = (uint16_t)rl->n++;
	} else {
		i = rl->lru_tail;
		lru_unlink(rl, i);
		hash_unlink(rl, i);
	}
	e = &rl->e[i];
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, RL_KEY_BYTES);
	e->last_ms = now_ms;
	fill(rl, e);
	e->hnext = rl->heads[s];
	rl->heads[s] = i;
	lru_push_front(rl, i);
	return e;
}

static void refill_one(uint64_t *tok, uint64_t rate, uint64_t burst, uint64_t elapsed)
{
	uint64_t cap = burst * MILLI;

	if (!rate)
		return;
	/* Bound elapsed so elapsed * rate cannot overflow: past this the
	 * bucket is full anyway. */
	if (elapsed > cap / rate + 1)
		elapsed = cap / rate + 1;
	*tok += elapsed * rate;
	if (*tok > cap)
		*tok = cap;
}

static void refill(const struct ratelimit *rl, struct rl_entry *e, uint64_t now_ms)
{
	uint64_t elapsed = now_ms > e->last_ms ? now_ms - e->last_ms : 0;

	if (!elapsed)
		return;
	for (int c = 0; c < RL_CLASSES; c++) {
		const struct rl_rate *r = &rl->conf.cls[c];

		refill_one(&e->tok[c][TOK_BYTES], r->bytes_per_s, r->burst_bytes, elapsed);
		refill_one(&e->tok[c][TOK_BUNDLES], r->bundles_per_s, r->burst_bundles, elapsed);
	}
	e->last_ms = now_ms;
}

static bool fits(const struct rl_rate *r, const uint64_t tok[static TOK_KINDS], size_t len)
{
	if (r->bytes_per_s && tok[TOK_BYTES] < (uint64_t)len * MILLI)
		return false;
	return !r->bundles_per_s || tok[TOK_BUNDLES] >= MILLI;
}

int ratelimit_check(struct ratelimit *rl, const uint8_t key[static RL_KEY_BYTES], uint8_t prio, size_t len,
		    uint64_t now_ms)
{
	enum rl_class c = ratelimit_class(prio);
	const struct rl_rate *r = &rl->conf.cls[c];
	struct rl_entry *e = lookup(rl, key, now_ms, false);
	uint64_t full[TOK_KINDS] = { r->burst_bytes * MILLI, r->burst_bundles * MILLI };

	if (!e) /* a new sender starts with full buckets */
		return fits(r, full, len) ? 0 : MU_E_RATE;
	refill(rl, e, now_ms);
	return fits(r, e->tok[c], len) ? 0 : MU_E_RATE;
}

static void take(uint64_t *tok, uint64_t rate, uint64_t cost)
{
	if (rate)
		*tok = *tok > cost ? *tok - cost : 0;
}

void ratelimit_charge(struct ratelimit *rl, const uint8_t key[static RL_KEY_BYTES], uint8_t prio, size_t len,
		      uint64_t now_ms)
{
	enum rl_class c = ratelimit_class(prio);
	const struct rl_rate *r = &rl->conf.cls[c];
	struct rl_entry *e = lookup(rl, key, now_ms, true);

	refill(rl, e, now_ms);
	take(&e->tok[c][TOK_BYTES], r->bytes_per_s, (uint64_t)len * MILLI);
	take(&e->tok[c][TOK_BUNDLES], r->bundles_per_s, MILLI);
}

bool ratelimit_refused(struct ratelimit *rl, const uint8_t key[static RL_KEY_BYTES], uint64_t now_ms,
		       uint64_t *suppressed)
{
	struct rl_entry *e = lookup(rl, key, now_ms, false);

	if (!e) /* never stored anything: a burst smaller than one bundle */
		return false;
	e->refused++;
	if (e->logged && now_ms - e->log_ms < RL_LOG_INTERVAL_MS)
		return false;
	*suppressed = e->refused - 1;
	e->refused = 0;
	e->log_ms = now_ms;
	e->logged = true;
	return true;
}
