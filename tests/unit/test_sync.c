/* Sync engine tests: keyset, exact reconciliation in memory, malformed and
 * stale input, and two state machines over a lossy socketpair(). Every
 * reconciliation is checked exactly: each side's have_missing and
 * peer_missing must equal the true set differences, each key once. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "keyset.h"
#include "sync.h"
#include "testutil.h"
#include "wire.h"

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct sync_key rnd_key(uint64_t created)
{
	struct sync_key k = {.created = created};

	for (int i = 0; i < KEYSET_ID_BYTES; i += 8) {
		uint64_t v = rnd();

		memcpy(k.id + i, &v, 8);
	}
	return k;
}

/* A holds common + ua unique keys, B common + ub. recent: unique keys are
 * the newest; otherwise they are scattered among the common ones. */
static void make_sets(uint64_t seed, size_t common, size_t ua, size_t ub, bool recent, struct keyset **a,
		      struct keyset **b)
{
	struct sync_key *ka = malloc((common + ua + 1) * sizeof(*ka));
	struct sync_key *kb = malloc((common + ub + 1) * sizeof(*kb));
	uint64_t span = (common + ua + ub + 1) * 1000;

	rng_state = seed;
	CHECK(ka && kb);
	for (size_t i = 0; i < common; i++)
		ka[i] = kb[i] = rnd_key(1000 + rnd() % span);
	for (size_t i = 0; i < ua; i++)
		ka[common + i] = rnd_key(recent ? 1000 + span + i : 1000 + rnd() % span);
	for (size_t i = 0; i < ub; i++)
		kb[common + i] = rnd_key(recent ? 1000 + span + ua + i : 1000 + rnd() % span);
	CHECK_OK(keyset_new(a));
	CHECK_OK(keyset_new(b));
	CHECK_OK(keyset_load(*a, ka, common + ua));
	CHECK_OK(keyset_load(*b, kb, common + ub));
	CHECK(keyset_count(*a) == common + ua && keyset_count(*b) == common + ub);
	free(ka);
	free(kb);
}

struct klist {
	struct sync_key *k;
	size_t n, cap;
};

struct rec {
	struct klist have, peer; /* have_missing, peer_missing */
};

static void kl_push(struct klist *l, uint64_t created, const uint8_t *id)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->k = realloc(l->k, l->cap * sizeof(*l->k));
		CHECK(l->k);
	}
	l->k[l->n].created = created;
	memcpy(l->k[l->n].id, id, KEYSET_ID_BYTES);
	l->n++;
}

static void rec_reset(struct rec *r)
{
	free(r->have.k);
	free(r->peer.k);
	memset(r, 0, sizeof(*r));
}

static void cb_have(void *user, uint64_t created, const uint8_t id[static KEYSET_ID_BYTES])
{
	kl_push(&((struct rec *)user)->have, created, id);
}

static void cb_peer(void *user, uint64_t created, const uint8_t id[static KEYSET_ID_BYTES])
{
	kl_push(&((struct rec *)user)->peer, created, id);
}

static const struct sync_cb cbs = {cb_have, cb_peer};

static int kcmp(const void *a, const void *b)
{
	return sync_key_cmp(a, b);
}

/* got must equal x \ y exactly (as a multiset: a key reported twice fails). */
static void check_diff(struct klist *got, const struct keyset *x, const struct keyset *y)
{
	size_t j = 0;

	if (got->n)
		qsort(got->k, got->n, sizeof(*got->k), kcmp);
	for (size_t i = 0; i < keyset_count(x); i++) {
		const struct sync_key *k = keyset_at(x, i);

		if (keyset_find(y, k, NULL))
			continue;
		CHECK(j < got->n);
		CHECK(sync_key_cmp(&got->k[j], k) == 0);
		j++;
	}
	CHECK(j == got->n);
}

static void check_exact(struct rec *ri, struct rec *rr, const struct keyset *a, const struct keyset *b)
{
	check_diff(&ri->peer, a, b);
	check_diff(&ri->have, b, a);
	check_diff(&rr->peer, b, a);
	check_diff(&rr->have, a, b);
}

struct run {
	uint64_t msgs, bytes, max_msg;
	struct sync_stats si, sr;
};

/* Reconciles a (initiator) with b (responder) in memory. */
static void run_mem(const struct keyset *a, const struct keyset *b, unsigned sid_bits, uint32_t batch,
		    struct rec *ri, struct rec *rr, struct run *run)
{
	struct sync *si = NULL, *sr = NULL;
	uint8_t *buf = malloc(SYNC_MSG_MAX);

	CHECK(buf);
	memset(run, 0, sizeof(*run));
	CHECK_OK(sync_new(&si, a, SYNC_INITIATOR, &cbs, ri));
	CHECK_OK(sync_new(&sr, b, SYNC_RESPONDER, &cbs, rr));
	{
		uint8_t salt[16];

		for (int i = 0; i < 16; i++)
			salt[i] = (uint8_t)rnd(); /* reproducible: follows the set's seed */
		sync_test_set_salt(si, salt);
	}
	if (sid_bits) {
		sync_test_set_sid_bits(si, sid_bits);
		sync_test_set_sid_bits(sr, sid_bits);
	}
	if (batch)
		sync_test_set_batch(sr, batch);
	while (!sync_done(si) || !sync_done(sr)) {
		struct sync *from = sync_want_send(si) ? si : sr, *to = from == si ? sr : si;
		struct wr w = wr_make(buf, SYNC_MSG_MAX);

		CHECK(sync_want_send(from));
		CHECK_OK(sync_build_message(from, &w));
		CHECK(w.len <= SYNC_MSG_MAX);
		CHECK_OK(sync_recv_message(to, buf, w.len));
		run->msgs++;
		run->bytes += w.len;
		if (w.len > run->max_msg)
			run->max_msg = w.len;
		CHECK(run->msgs < 10000);
	}
	CHECK(!sync_want_send(si) && !sync_want_send(sr));
	sync_get_stats(si, &run->si);
	sync_get_stats(sr, &run->sr);
	sync_free(si);
	sync_free(sr);
	free(buf);
}

static uint64_t rounds(const struct run *r)
{
	return (r->msgs + 1) / 2;
}

/* Builds sets, reconciles both ways round, checks exactly. */
static void reconcile(uint64_t seed, size_t common, size_t ua, size_t ub, bool recent, unsigned sid_bits,
		      uint32_t batch, struct run *out)
{
	struct keyset *a, *b;
	struct rec ri = {0}, rr = {0};

	make_sets(seed, common, ua, ub, recent, &a, &b);
	run_mem(a, b, sid_bits, batch, &ri, &rr, out);
	check_exact(&ri, &rr, a, b);
	rec_reset(&ri);
	rec_reset(&rr);
	keyset_free(a);
	keyset_free(b);
}

/* ---- keyset ----------------------------------------------------------- */

static void t_keyset(void)
{
	struct keyset *ks;
	struct sync_key k[300];
	size_t pos;

	rng_state = 1;
	CHECK_OK(keyset_new(&ks));
	for (int i = 0; i < 300; i++) {
		k[i] = rnd_key(rnd() % 50); /* many equal times: id breaks ties */
		CHECK_OK(keyset_add(ks, k[i].created, k[i].id));
	}
	CHECK_RET(keyset_add(ks, k[7].created, k[7].id), MU_E_EXISTS);
	CHECK(keyset_count(ks) == 300);
	for (size_t i = 1; i < 300; i++)
		CHECK(sync_key_cmp(keyset_at(ks, i - 1), keyset_at(ks, i)) < 0);
	for (int i = 0; i < 300; i += 2)
		CHECK_OK(keyset_del(ks, k[i].created, k[i].id));
	CHECK_RET(keyset_del(ks, k[0].created, k[0].id), MU_E_NOTFOUND);
	CHECK(keyset_count(ks) == 150);
	for (int i = 0; i < 300; i++)
		CHECK(keyset_find(ks, &k[i], &pos) == (i % 2));
	CHECK_OK(keyset_load(ks, k, 300)); /* half are duplicates */
	CHECK(keyset_count(ks) == 300);
	for (size_t i = 1; i < 300; i++)
		CHECK(sync_key_cmp(keyset_at(ks, i - 1), keyset_at(ks, i)) < 0);
	keyset_free(ks);
	keyset_free(NULL);
	sync_free(NULL);
}

/* ---- reconciliation --------------------------------------------------- */

static void t_identical(void)
{
	struct run r;

	reconcile(11, 1000, 0, 0, false, 0, 0, &r);
	CHECK(rounds(&r) == 1 && r.msgs == 2);
	CHECK(r.bytes <= 200);
	CHECK(!r.si.fallback && !r.sr.fallback);
}

static void t_both_empty(void)
{
	struct run r;

	reconcile(12, 0, 0, 0, false, 0, 0, &r);
	CHECK(rounds(&r) == 1 && r.bytes <= 200);
}

static void t_small(void)
{
	int slow = 0;

	for (uint64_t seed = 1; seed <= 40; seed++) {
		struct run r;
		size_t ua, ub;

		rng_state = seed * 977;
		ua = rnd() % 40;
		ub = rnd() % 40;
		if (!ua && !ub)
			ua = 1;
		reconcile(seed, 2000, ua, ub, seed & 1, 0, 0, &r);
		if (r.bytes > 400 + 100 * (ua + ub) || rounds(&r) > 3)
			fprintf(stderr, "d=%zu+%zu bytes=%llu msgs=%llu est=%u sym=%u more=%u\n", ua, ub,
				(unsigned long long)r.bytes, (unsigned long long)r.msgs, r.sr.estimate,
				r.sr.symbols, r.sr.more);
		CHECK(!r.si.fallback);
		/* 2 round trips, plus one per request for more symbols */
		CHECK(rounds(&r) == 2 + r.si.more && r.si.more <= SYNC_MORE_MAX);
		slow += r.si.more > 1;
		/* bytes grow with d (HELLO + symbols + keys), not with N */
		CHECK(r.bytes <= 300 + 150 * (ua + ub));
	}
	CHECK(slow <= 2);
}

static void t_one_direction(void)
{
	struct run r;

	reconcile(21, 3000, 25, 0, false, 0, 0, &r);
	CHECK(rounds(&r) <= 3 && !r.si.fallback);
	reconcile(22, 3000, 0, 25, true, 0, 0, &r);
	CHECK(rounds(&r) <= 3 && !r.si.fallback);
	reconcile(23, 3000, 1, 0, false, 0, 0, &r);
	CHECK(rounds(&r) == 2);
}

static void t_d10000(void)
{
	struct run r;

	reconcile(31, 15000, 5000, 5000, false, 0, 0, &r);
	CHECK(!r.si.fallback);
	CHECK(rounds(&r) <= 3);
}

static void t_more_symbols(void)
{
	struct run r;

	/* A first batch of 4 symbols cannot decode 300 differences: the
	 * initiator re-estimates and asks for more. */
	reconcile(41, 2000, 150, 150, false, 0, 4, &r);
	CHECK(r.si.more >= 1 && !r.si.fallback);
	CHECK(rounds(&r) >= 3);
}

static void t_disjoint(void)
{
	struct run r;

	reconcile(51, 0, 1000, 1000, false, 0, 0, &r);
	CHECK(r.si.fallback && r.sr.fallback);
	/* several list chunks each way, unequal lengths */
	reconcile(52, 0, 60000, 27000, false, 0, 0, &r);
	CHECK(r.si.fallback);
	CHECK(r.msgs >= 3);
}

static void t_one_empty(void)
{
	struct run r;

	reconcile(61, 0, 500, 0, false, 0, 0, &r);
	reconcile(62, 0, 0, 500, false, 0, 0, &r);
	reconcile(63, 0, 0, 30000, true, 0, 0, &r);
	reconcile(64, 0, 1, 0, false, 0, 0, &r);
	CHECK(r.bytes <= 200 + 2 * 13 + KEYSET_KEY_WIRE && r.msgs == 3);
}

static void t_collisions(void)
{
	struct run r;

	/* 8-bit short ids: hundreds of collisions inside each set and across
	 * the difference; the sketch must not report a wrong key. */
	for (uint64_t seed = 1; seed <= 6; seed++)
		reconcile(70 + seed, 300, 20, 15, false, 8, 0, &r);
	/* 16-bit ids at N = 3000: a few collisions per set. */
	for (uint64_t seed = 1; seed <= 6; seed++)
		reconcile(80 + seed, 3000, 30, 30, seed & 1, 16, 0, &r);
	/* 2 bits: almost every difference collides with another. */
	reconcile(90, 50, 10, 10, false, 2, 0, &r);
	CHECK(r.si.fallback);
}

/* ---- malformed and stale input ---------------------------------------- */

struct transcript {
	uint8_t *msg[64];
	size_t len[64];
	size_t n;
};

static const uint8_t test_salt[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* A fresh pair with messages [0, upto) of t already delivered; returns the
 * machine that receives message upto. */
static struct sync *replay(const struct keyset *a, const struct keyset *b, const struct transcript *t,
			   size_t upto, struct sync **si, struct sync **sr, struct rec *ri, struct rec *rr)
{
	uint8_t *buf = malloc(SYNC_MSG_MAX);

	CHECK_OK(sync_new(si, a, SYNC_INITIATOR, &cbs, ri));
	CHECK_OK(sync_new(sr, b, SYNC_RESPONDER, &cbs, rr));
	sync_test_set_salt(*si, test_salt);
	for (size_t i = 0; i < upto; i++) {
		struct sync *from = i % 2 ? *sr : *si, *to = i % 2 ? *si : *sr;
		struct wr w = wr_make(buf, SYNC_MSG_MAX);

		CHECK_OK(sync_build_message(from, &w));
		CHECK(w.len == t->len[i] && !memcmp(buf, t->msg[i], w.len)); /* deterministic */
		CHECK_OK(sync_recv_message(to, buf, w.len));
	}
	if (upto < t->n) {
		struct wr w = wr_make(buf, SYNC_MSG_MAX);

		CHECK_OK(sync_build_message(upto % 2 ? *sr : *si, &w));
	}
	free(buf);
	return upto % 2 ? *si : *sr;
}

static void record(const struct keyset *a, const struct keyset *b, unsigned sid_bits, struct transcript *t)
{
	struct sync *si, *sr;
	struct rec ri = {0}, rr = {0};
	uint8_t *buf = malloc(SYNC_MSG_MAX);

	memset(t, 0, sizeof(*t));
	CHECK_OK(sync_new(&si, a, SYNC_INITIATOR, &cbs, &ri));
	CHECK_OK(sync_new(&sr, b, SYNC_RESPONDER, &cbs, &rr));
	sync_test_set_salt(si, test_salt);
	sync_test_set_sid_bits(si, sid_bits);
	sync_test_set_sid_bits(sr, sid_bits);
	while (!sync_done(si) || !sync_done(sr)) {
		struct sync *from = sync_want_send(si) ? si : sr, *to = from == si ? sr : si;
		struct wr w = wr_make(buf, SYNC_MSG_MAX);

		CHECK(t->n < 64);
		CHECK_OK(sync_build_message(from, &w));
		t->msg[t->n] = malloc(w.len);
		memcpy(t->msg[t->n], buf, w.len);
		t->len[t->n++] = w.len;
		CHECK_OK(sync_recv_message(to, buf, w.len));
	}
	check_exact(&ri, &rr, a, b);
	rec_reset(&ri);
	rec_reset(&rr);
	sync_free(si);
	sync_free(sr);
	free(buf);
}

static void t_truncated(void)
{
	/* sketch path and list path transcripts */
	for (int pass = 0; pass < 2; pass++) {
		struct keyset *a, *b;
		struct transcript t;

		make_sets(100 + pass, pass ? 0 : 150, 6, 5, false, &a, &b);
		record(a, b, 0, &t);
		CHECK(t.n >= 3);
		for (size_t m = 0; m < t.n; m++) {
			uint8_t *longer = malloc(t.len[m] + 1);

			for (size_t cut = 0; cut <= t.len[m]; cut++) {
				struct sync *si, *sr, *to;
				struct rec ri = {0}, rr = {0};
				int ret;

				to = replay(a, b, &t, m, &si, &sr, &ri, &rr);
				memcpy(longer, t.msg[m], t.len[m]);
				longer[t.len[m]] = 0;
				/* cut == len: one trailing byte instead */
				ret = sync_recv_message(to, longer, cut == t.len[m] ? cut + 1 : cut);
				CHECK(ret == MU_E_FORMAT || ret == MU_E_TOOBIG);
				CHECK(sync_error(to) == ret);
				CHECK(sync_recv_message(to, t.msg[m], t.len[m]) == ret); /* stays failed */
				CHECK(!sync_done(to));
				rec_reset(&ri);
				rec_reset(&rr);
				sync_free(si);
				sync_free(sr);
			}
			free(longer);
		}
		for (size_t m = 0; m < t.n; m++)
			free(t.msg[m]);
		keyset_free(a);
		keyset_free(b);
	}
}

static void t_stale(void)
{
	struct keyset *a, *b;
	struct transcript t;
	struct sync *si, *sr, *to;
	struct rec ri = {0}, rr = {0};
	uint8_t bad[16];

	make_sets(110, 200, 5, 5, false, &a, &b);
	record(a, b, 0, &t);
	CHECK(t.n == 4);

	/* responder: a stray non-HELLO before any session */
	to = replay(a, b, &t, 0, &si, &sr, &ri, &rr);
	CHECK_RET(sync_recv_message(sr, t.msg[2], t.len[2]), MU_E_MISMATCH);
	/* initiator: not its turn to receive yet? It has sent HELLO, so a
	 * message from another session (tag changed) is dropped. */
	CHECK_OK(sync_recv_message(to, t.msg[0], t.len[0]));
	{
		struct wr w = wr_make(bad, 0);

		CHECK_RET(sync_recv_message(sr, t.msg[0], t.len[0]), -EAGAIN); /* its turn to send */
		CHECK_RET(sync_build_message(sr, &w), MU_E_TOOBIG);            /* no room: session fails */
		CHECK(sync_error(sr) == MU_E_TOOBIG);
	}
	rec_reset(&ri);
	rec_reset(&rr);
	sync_free(si);
	sync_free(sr);

	/* initiator: wrong session tag, wrong sequence, then the real reply */
	to = replay(a, b, &t, 1, &si, &sr, &ri, &rr);
	{
		uint8_t *m = malloc(t.len[1]);

		memcpy(m, t.msg[1], t.len[1]);
		m[2] ^= 0xff; /* session tag */
		CHECK_RET(sync_recv_message(to, m, t.len[1]), MU_E_MISMATCH);
		memcpy(m, t.msg[1], t.len[1]);
		m[7] ^= 2; /* sequence number */
		CHECK_RET(sync_recv_message(to, m, t.len[1]), MU_E_MISMATCH);
		m[7] ^= 2;
		m[0] = 9; /* version */
		CHECK_OK(sync_error(to));
		CHECK_OK(sync_recv_message(to, t.msg[1], t.len[1]));
		/* the same message again is a duplicate: dropped once it is our turn */
		CHECK_RET(sync_recv_message(to, t.msg[1], t.len[1]), -EAGAIN);
		free(m);
	}
	rec_reset(&ri);
	rec_reset(&rr);
	sync_free(si);
	sync_free(sr);

	/* duplicates after the end are stale */
	to = replay(a, b, &t, 3, &si, &sr, &ri, &rr);
	CHECK_OK(sync_recv_message(to, t.msg[3], t.len[3]));
	CHECK(sync_done(si) && sync_done(sr));
	CHECK_RET(sync_recv_message(to, t.msg[3], t.len[3]), MU_E_MISMATCH);
	CHECK_RET(sync_recv_message(sr, t.msg[2], t.len[2]), MU_E_MISMATCH);
	rec_reset(&ri);
	rec_reset(&rr);
	sync_free(si);
	sync_free(sr);

	/* version */
	to = replay(a, b, &t, 0, &si, &sr, &ri, &rr);
	{
		uint8_t *m = malloc(t.len[0]);

		memcpy(m, t.msg[0], t.len[0]);
		m[0] = SYNC_VERSION + 1;
		CHECK_RET(sync_recv_message(to, m, t.len[0]), MU_E_VERSION);
		free(m);
	}
	rec_reset(&ri);
	rec_reset(&rr);
	sync_free(si);
	sync_free(sr);
	for (size_t i = 0; i < t.n; i++)
		free(t.msg[i]);
	keyset_free(a);
	keyset_free(b);
}

/* Hand-written messages that break caps or the protocol. */
static void t_caps(void)
{
	struct keyset *a, *b;
	struct transcript t;
	uint8_t *buf = malloc(SYNC_MSG_MAX + 16);

	make_sets(120, 200, 5, 5, false, &a, &b);
	record(a, b, 0, &t);
	for (int c = 0; c < 6; c++) {
		struct sync *si, *sr, *to;
		struct rec ri = {0}, rr = {0};
		struct wr w = wr_make(buf, SYNC_MSG_MAX + 16);
		int want = MU_E_FORMAT;

		to = replay(a, b, &t, c < 5 ? 1 : 2, &si, &sr, &ri, &rr);
		wr_bytes(&w, t.msg[c < 5 ? 1 : 2], 8); /* a valid header */
		w.p[1] = c < 4 ? 3 : c == 4 ? 7 : 4;
		switch (c) {
		case 0: /* SYMBOLS: more than SYNC_SYM_MAX */
			wr_bytes(&w, test_salt, 16);
			wr_u32(&w, 0);
			wr_u32(&w, SYNC_SYM_MAX + 1);
			break;
		case 1: /* SYMBOLS: zero symbols */
			wr_bytes(&w, test_salt, 16);
			wr_u32(&w, 0);
			wr_u32(&w, 0);
			break;
		case 2: /* SYMBOLS: not starting at 0 */
			wr_bytes(&w, test_salt, 16);
			wr_u32(&w, 5);
			wr_u32(&w, 1);
			wr_u64(&w, 1);
			wr_u32(&w, 1);
			break;
		case 3: /* SYMBOLS: count larger than the message */
			wr_bytes(&w, test_salt, 16);
			wr_u32(&w, 0);
			wr_u32(&w, 1000);
			wr_u64(&w, 1);
			break;
		case 4: /* LIST: more keys than SYNC_KEYS_MAX */
			wr_u8(&w, 1);
			wr_u32(&w, SYNC_KEYS_MAX + 1);
			for (uint32_t i = 0; i <= SYNC_KEYS_MAX; i++) {
				struct sync_key k = rnd_key(i);

				wr_u64(&w, k.created);
				wr_bytes(&w, k.id, 32);
			}
			want = MU_E_TOOBIG;
			break;
		case 5: /* MORE beyond SYNC_SYM_MAX, to the responder */
			wr_u32(&w, SYNC_SYM_MAX + 1);
			break;
		}
		CHECK(!w.err);
		CHECK_RET(sync_recv_message(to, buf, w.len), want);
		CHECK(!ri.have.n && !ri.peer.n && !rr.have.n && !rr.peer.n);
		rec_reset(&ri);
		rec_reset(&rr);
		sync_free(si);
		sync_free(sr);
	}
	/* unsorted LIST */
	{
		struct sync *si, *sr, *to;
		struct rec ri = {0}, rr = {0};
		struct wr w = wr_make(buf, SYNC_MSG_MAX);

		to = replay(a, b, &t, 1, &si, &sr, &ri, &rr);
		wr_bytes(&w, t.msg[1], 8);
		w.p[1] = 7;
		wr_u8(&w, 1);
		wr_u32(&w, 2);
		wr_u64(&w, 5);
		wr_bytes(&w, test_salt, 16);
		wr_bytes(&w, test_salt, 16);
		wr_u64(&w, 4);
		wr_bytes(&w, test_salt, 16);
		wr_bytes(&w, test_salt, 16);
		CHECK_RET(sync_recv_message(to, buf, w.len), MU_E_FORMAT);
		rec_reset(&ri);
		rec_reset(&rr);
		sync_free(si);
		sync_free(sr);
	}
	for (size_t i = 0; i < t.n; i++)
		free(t.msg[i]);
	free(buf);
	keyset_free(a);
	keyset_free(b);
}

/* ---- socketpair with loss, duplication and reordering ------------------ */

struct lossy {
	uint64_t rng;
	unsigned drop_pct, hold_pct, dup_pct;
	uint8_t *held[16];
	size_t held_len[16];
	int held_fd[16];
	size_t nheld;
	unsigned dropped, reordered, duplicated, stale;
};

static uint64_t lrnd(struct lossy *l)
{
	uint64_t z = (l->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		CHECK(w > 0);
		p = (const uint8_t *)p + w;
		n -= (size_t)w;
	}
}

static void frame_send(int fd, const uint8_t *m, size_t n)
{
	uint8_t hdr[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};

	write_all(fd, hdr, 4);
	write_all(fd, m, n);
}

/* The link between the two ends: drops, holds back (delivering later, out
 * of order, possibly into a later session) or duplicates frames. */
static void lossy_send(struct lossy *l, int fd, const uint8_t *m, size_t n)
{
	if (l->nheld && lrnd(l) % 2) {
		for (size_t i = 0; i < l->nheld; i++) {
			frame_send(l->held_fd[i], l->held[i], l->held_len[i]);
			free(l->held[i]);
		}
		l->nheld = 0;
	}
	if (lrnd(l) % 100 < l->drop_pct) {
		l->dropped++;
		return;
	}
	if (lrnd(l) % 100 < l->hold_pct && l->nheld < 16) {
		l->held[l->nheld] = malloc(n);
		memcpy(l->held[l->nheld], m, n);
		l->held_len[l->nheld] = n;
		l->held_fd[l->nheld++] = fd;
		l->reordered++;
		return;
	}
	frame_send(fd, m, n);
	if (lrnd(l) % 100 < l->dup_pct) {
		frame_send(fd, m, n);
		l->duplicated++;
	}
}

static void read_all(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		CHECK(r > 0);
		p = (uint8_t *)p + r;
		n -= (size_t)r;
	}
}

#define SESSION_TIMEOUT_MS 25

/* One contact: fresh state machines on both ends, until both are done
 * (1) or the link stays silent for the session timeout (0). */
static int session(struct lossy *l, int fd[2], const struct keyset *a, const struct keyset *b,
		   unsigned sid_bits, struct rec *ri, struct rec *rr)
{
	struct sync *s[2] = {NULL, NULL};
	uint8_t *buf = malloc(SYNC_MSG_MAX);
	uint8_t salt[16];
	int ok = 0;

	CHECK_OK(sync_new(&s[0], a, SYNC_INITIATOR, &cbs, ri));
	CHECK_OK(sync_new(&s[1], b, SYNC_RESPONDER, &cbs, rr));
	for (int i = 0; i < 16; i++)
		salt[i] = (uint8_t)lrnd(l);
	sync_test_set_salt(s[0], salt);
	sync_test_set_sid_bits(s[0], sid_bits);
	sync_test_set_sid_bits(s[1], sid_bits);
	for (;;) {
		struct pollfd pfd[2] = {{fd[0], POLLIN, 0}, {fd[1], POLLIN, 0}};
		int n;

		if (sync_done(s[0]) && sync_done(s[1])) {
			ok = 1;
			break;
		}
		for (int e = 0; e < 2; e++) {
			if (sync_want_send(s[e])) {
				struct wr w = wr_make(buf, SYNC_MSG_MAX);

				CHECK_OK(sync_build_message(s[e], &w));
				lossy_send(l, fd[e], buf, w.len);
			}
		}
		n = poll(pfd, 2, SESSION_TIMEOUT_MS);
		CHECK(n >= 0);
		if (n == 0)
			break; /* silence: the session timed out */
		for (int e = 0; e < 2; e++) {
			uint8_t hdr[4];
			size_t len;
			int ret;

			if (!(pfd[e].revents & POLLIN))
				continue;
			read_all(fd[e], hdr, 4);
			len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
			CHECK(len <= SYNC_MSG_MAX);
			read_all(fd[e], buf, len);
			ret = sync_recv_message(s[e], buf, len);
			if (ret == MU_E_MISMATCH || ret == -EAGAIN) {
				l->stale++; /* another session's, or a duplicate: drop */
				continue;
			}
			CHECK_OK(ret);
		}
	}
	sync_free(s[0]);
	sync_free(s[1]);
	free(buf);
	return ok;
}

static void socketpair_case(uint64_t seed, size_t common, size_t ua, size_t ub, unsigned sid_bits,
			    unsigned drop, unsigned hold, unsigned dup, struct lossy *total)
{
	struct keyset *a, *b;
	struct lossy l = {.rng = seed, .drop_pct = drop, .hold_pct = hold, .dup_pct = dup};
	int fd[2];
	int sessions = 0;

	make_sets(seed, common, ua, ub, seed & 1, &a, &b);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fd) == 0);
	for (;;) {
		struct rec ri = {0}, rr = {0};
		int ok;

		CHECK(++sessions <= 200);
		ok = session(&l, fd, a, b, sid_bits, &ri, &rr);
		if (ok)
			check_exact(&ri, &rr, a, b);
		rec_reset(&ri);
		rec_reset(&rr);
		if (ok)
			break;
	}
	for (size_t i = 0; i < l.nheld; i++)
		free(l.held[i]);
	total->dropped += l.dropped;
	total->reordered += l.reordered;
	total->duplicated += l.duplicated;
	total->stale += l.stale;
	close(fd[0]);
	close(fd[1]);
	keyset_free(a);
	keyset_free(b);
}

static void t_socketpair_clean(void)
{
	struct lossy tot = {0};

	socketpair_case(201, 1500, 20, 20, 64, 0, 0, 0, &tot);
	socketpair_case(202, 0, 700, 900, 64, 0, 0, 0, &tot); /* lists */
	CHECK(!tot.stale);
}

static void t_socketpair_lossy(void)
{
	struct lossy tot = {0};

	for (uint64_t seed = 1; seed <= 12; seed++)
		socketpair_case(300 + seed, 1500, seed * 3, 40 - seed * 3, 64, 15, 10, 10, &tot);
	/* list fallback (tiny short ids) over the same lossy link */
	for (uint64_t seed = 1; seed <= 4; seed++)
		socketpair_case(400 + seed, 300, 15, 10, 8, 15, 10, 10, &tot);
	/* the harness really lost, reordered and duplicated frames */
	CHECK(tot.dropped > 5 && tot.reordered > 3 && tot.duplicated > 3 && tot.stale > 3);
}

static const struct test tests[] = {
    {"/sync/keyset/basic", t_keyset},
    {"/sync/reconcile/identical-1000", t_identical},
    {"/sync/reconcile/both-empty", t_both_empty},
    {"/sync/reconcile/small-random-2000", t_small},
    {"/sync/reconcile/one-direction", t_one_direction},
    {"/sync/reconcile/d10000-25000", t_d10000},
    {"/sync/reconcile/more-symbols", t_more_symbols},
    {"/sync/reconcile/disjoint-1000", t_disjoint},
    {"/sync/reconcile/one-empty", t_one_empty},
    {"/sync/reconcile/short-id-collisions", t_collisions},
    {"/sync/wire/truncated-and-trailing", t_truncated},
    {"/sync/wire/stale-and-duplicate", t_stale},
    {"/sync/wire/caps", t_caps},
    {"/sync/socketpair/clean", t_socketpair_clean},
    {"/sync/socketpair/lossy", t_socketpair_lossy},
};

TEST_MAIN(tests)
