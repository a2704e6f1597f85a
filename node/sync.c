/* Set reconciliation state machine; see sync.h and docs/sync.md. */
#include "sync.h"

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "wire.h"

enum msg_type {
	M_HELLO = 1,
	M_EQUAL = 2,
	M_SYMBOLS = 3,
	M_MORE = 4,
	M_RESULT = 5,
	M_KEYS = 6,
	M_LIST = 7,
};

enum phase {
	P_I_HELLO,      /* initiator: send HELLO */
	P_I_WAIT,       /* initiator: EQUAL, SYMBOLS or LIST expected */
	P_I_MORE,       /* initiator: send MORE */
	P_I_RESULT,     /* initiator: send RESULT */
	P_I_WAIT_KEYS,  /* initiator: KEYS or LIST expected */
	P_R_WAIT_HELLO, /* responder: HELLO expected */
	P_R_EQUAL,      /* responder: send EQUAL */
	P_R_SYMBOLS,    /* responder: send SYMBOLS */
	P_R_WAIT,       /* responder: MORE, RESULT or LIST expected */
	P_R_KEYS,       /* responder: send KEYS */
	P_LIST,         /* both: key-list fallback */
	P_DONE,
	P_FAILED,
};

#define HDR_BYTES  8
#define SALT_BYTES 16
#define FP_BYTES   16
#define SYM_BYTES  12
/* Estimator: EST_LEVELS x EST_BUCKETS cells of EST_BITS bits. */
#define EST_LEVELS  16
#define EST_BUCKETS 32
#define EST_BITS    2
#define EST_CELLS   (EST_LEVELS * EST_BUCKETS)
#define EST_BYTES   (EST_CELLS * EST_BITS / 8)
/* First batch = SYM_FACTOR * estimate + SYM_SLACK symbols; a further batch
 * brings the total to SYM_FACTOR * (re-estimate) + SYM_SLACK, at least 1.5
 * times the symbols so far (docs/sync.md "Cost model"). */
#define SYM_FACTOR   1.9
#define SYM_SLACK    10
#define SYM_MIN_MORE 16

struct sym {
	uint64_t sum; /* xor of short ids */
	uint32_t chk; /* xor of sid_chk(short id) */
};

struct sync {
	const struct keyset *ks;
	enum sync_role role;
	struct sync_cb cb;
	void *user;
	enum phase ph;
	int err;
	bool my_turn;

	uint8_t salt[SALT_BYTES];
	uint32_t session;
	uint32_t next_in, next_out; /* message indices (HELLO is 0) */
	uint64_t sid_mask, chk_key;

	/* one pass over the set, keyed by the session salt */
	bool hashed;
	uint64_t *sid; /* per key, in keyset order */
	uint8_t fp[FP_BYTES];
	uint8_t est[EST_BYTES];

	uint64_t peer_count;
	uint8_t peer_fp[FP_BYTES];
	uint8_t peer_est[EST_BYTES];

	/* sketch: responder's sent symbols / initiator's received ones */
	uint32_t sym_have;   /* symbols exchanged so far */
	uint32_t sym_target; /* end of the batch to send or requested */
	struct sym *theirs;  /* initiator: responder's symbols [0, sym_have) */
	struct sym *mine;    /* initiator: own symbols [0, sym_have) */
	uint32_t more;
	uint32_t test_batch; /* testing: forced first batch size */

	/* result of the sketch */
	size_t *mine_idx; /* our keys the peer lacks (indices, ascending) */
	size_t n_mine;
	uint64_t *want;   /* initiator: short ids we lack */
	size_t *want_idx; /* responder: resolved keys for the peer's WANT */
	size_t n_want;

	/* key-list fallback */
	size_t list_pos, merge_pos;
	bool sent_all, recv_all, have_last;
	struct sync_key last;

	struct sync_stats st;
};

/* ---- hashing ---------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void key_wire(uint8_t out[KEYSET_KEY_WIRE], const struct sync_key *k)
{
	put_be64(out, k->created);
	memcpy(out + 8, k->id, KEYSET_ID_BYTES);
}

/* 128-bit keyed hash of a key: h[0] gives the short id, h[1] the
 * estimator cell; both go into the fingerprint. */
static void key_hash(const struct sync *s, const struct sync_key *k, uint64_t h[2])
{
	uint8_t in[KEYSET_KEY_WIRE], out[16];

	key_wire(in, k);
	crypto_shorthash_siphashx24(out, in, sizeof(in), s->salt);
	h[0] = le64(out);
	h[1] = le64(out + 8);
}

static uint64_t short_id(const struct sync *s, const uint64_t h[2])
{
	uint64_t sid = h[0] & s->sid_mask;

	return sid ? sid : 1; /* 0 marks an empty cell */
}

static uint32_t sid_chk(const struct sync *s, uint64_t sid)
{
	return (uint32_t)(mix64(sid ^ s->chk_key) >> 32);
}

static void fp_add(uint8_t fp[FP_BYTES], const uint64_t h[2])
{
	for (int i = 0; i < 8; i++) {
		fp[i] ^= (uint8_t)(h[0] >> (8 * i));
		fp[8 + i] ^= (uint8_t)(h[1] >> (8 * i));
	}
}

static void est_add(uint8_t est[EST_BYTES], const uint64_t h[2])
{
	unsigned level = h[1] ? (unsigned)__builtin_ctzll(h[1]) : EST_LEVELS - 1;
	unsigned cell, v = (unsigned)(h[1] >> 48) & ((1u << EST_BITS) - 1);

	if (level > EST_LEVELS - 1)
		level = EST_LEVELS - 1;
	cell = level * EST_BUCKETS + ((unsigned)(h[1] >> 40) & (EST_BUCKETS - 1));
	est[cell * EST_BITS / 8] ^= (uint8_t)(v << (cell * EST_BITS % 8));
}

static int hash_pass(struct sync *s)
{
	size_t n = keyset_count(s->ks);

	if (s->hashed)
		return 0;
	if (n) {
		s->sid = malloc(n * sizeof(*s->sid));
		if (!s->sid)
			return -ENOMEM;
	}
	memset(s->fp, 0, sizeof(s->fp));
	memset(s->est, 0, sizeof(s->est));
	for (size_t i = 0; i < n; i++) {
		uint64_t h[2];

		key_hash(s, keyset_at(s->ks, i), h);
		s->sid[i] = short_id(s, h);
		fp_add(s->fp, h);
		est_add(s->est, h);
	}
	s->hashed = true;
	return 0;
}

/* Maximum-likelihood size of the difference from two estimators: a cell
 * at level l holds each differing key with probability q = 2^-(l+1)/B, and
 * a non-empty cell still reads 0 with probability 2^-EST_BITS. */
static double est_diff(const uint8_t *a, const uint8_t *b)
{
	unsigned nz[EST_LEVELS] = {0};
	double best_d = 1, best_ll = -INFINITY;

	for (unsigned c = 0; c < EST_CELLS; c++)
		nz[c / EST_BUCKETS] += (((a[c * EST_BITS / 8] ^ b[c * EST_BITS / 8]) >> (c * EST_BITS % 8)) &
					((1u << EST_BITS) - 1)) != 0;
	for (double d = 1; d < 1e8; d = d * 1.03 + 1) {
		double ll = 0;

		for (unsigned l = 0; l < EST_LEVELS; l++) {
			double q = ldexp(1.0, -(int)(l + 1 < EST_LEVELS ? l + 1 : l)) / EST_BUCKETS;
			double e = exp(d * log1p(-q));
			double p0 = e + (1 - e) / (1 << EST_BITS);

			ll += (EST_BUCKETS - nz[l]) * log(p0) + (nz[l] ? nz[l] * log(1 - p0) : 0);
		}
		if (ll > best_ll) {
			best_ll = ll;
			best_d = d;
		}
	}
	return best_d;
}

/* ---- rateless IBLT ---------------------------------------------------- */

/* Index sequence of one short id: every id is in symbol 0, and in symbol i
 * with probability 2/(i+2). Skips are drawn with integer arithmetic only so
 * that every platform computes the same sequence: the next index after i is
 * the least j with (j+1)(j+2) * r > (i+1)(i+2) * 2^32, r uniform in
 * [1, 2^32]. Returns SYNC_SYM_MAX at the end of the index space. */
static uint32_t next_idx(uint64_t *rng, uint32_t i)
{
	uint64_t r, q, j;

	if (i + 2 >= SYNC_SYM_MAX)
		return SYNC_SYM_MAX;
	*rng += 0x9e3779b97f4a7c15ull;
	r = (mix64(*rng) & 0xffffffffull) + 1;
	q = (((uint64_t)(i + 1) * (i + 2)) << 32) / r;
	if (q >= (uint64_t)SYNC_SYM_MAX * (SYNC_SYM_MAX + 1))
		return SYNC_SYM_MAX;
	j = (uint64_t)sqrt((double)q);
	j = j > i + 3 ? j - 2 : i + 1;
	while ((j + 1) * (j + 2) <= q)
		j++;
	return (uint32_t)j;
}

static uint64_t idx_seed(uint64_t sid)
{
	return sid * 0xd6e8feb86659fd93ull;
}

static void sym_apply(const struct sync *s, struct sym *out, uint32_t a, uint32_t b, uint64_t sid)
{
	uint64_t rng = idx_seed(sid);
	uint32_t c = sid_chk(s, sid);

	for (uint32_t i = 0; i < b; i = next_idx(&rng, i)) {
		if (i >= a) {
			out[i - a].sum ^= sid;
			out[i - a].chk ^= c;
		}
	}
}

/* Our symbols [a, b) into out[0, b - a). */
static void sym_encode(const struct sync *s, struct sym *out, uint32_t a, uint32_t b)
{
	size_t n = keyset_count(s->ks);

	memset(out, 0, (size_t)(b - a) * sizeof(*out));
	for (size_t k = 0; k < n; k++)
		sym_apply(s, out, a, b, s->sid[k]);
}

static bool sym_pure(const struct sync *s, const struct sym *y)
{
	return y->sum && sid_chk(s, y->sum) == y->chk;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Size of the difference from which cells of theirs ^ mine are empty: a
 * differing key misses cell i > 0 with probability i/(i+2). Log-likelihood
 * is unimodal in d, so a ternary search on log d finds the maximum. */
static double sym_estimate(const struct sync *s)
{
	double lo = 0, hi = log(1e7);
	uint32_t step = s->sym_have / 4096 + 1; /* a sample of cells is plenty */

	for (int it = 0; it < 40; it++) {
		double m1 = lo + (hi - lo) / 3, m2 = hi - (hi - lo) / 3, ll1 = 0, ll2 = 0;
		double d1 = exp(m1), d2 = exp(m2);

		for (uint32_t i = 1; i < s->sym_have; i += step) {
			bool empty =
			    !(s->theirs[i].sum ^ s->mine[i].sum) && !(s->theirs[i].chk ^ s->mine[i].chk);
			double lp = log((double)i / (i + 2));

			ll1 += empty ? d1 * lp : log1p(-exp(d1 * lp));
			ll2 += empty ? d2 * lp : log1p(-exp(d2 * lp));
		}
		if (ll1 < ll2)
			lo = m1;
		else
			hi = m2;
	}
	return exp((lo + hi) / 2);
}

/* Peels theirs ^ mine over [0, sym_have). 1 and the short ids of the
 * difference in *out / *n if it decodes, 0 if not, <0 on error. */
static int sym_peel(struct sync *s, uint64_t **out, size_t *n)
{
	uint32_t m = s->sym_have;
	struct sym *d = malloc((size_t)m * sizeof(*d));
	uint64_t *ids = NULL;
	size_t nids = 0;
	bool progress = true;
	int ret = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return -ENOMEM;
	ids = malloc(SYNC_DIFF_MAX * sizeof(*ids));
	if (!ids) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < m; i++) {
		d[i].sum = s->theirs[i].sum ^ s->mine[i].sum;
		d[i].chk = s->theirs[i].chk ^ s->mine[i].chk;
	}
	while (progress) {
		progress = false;
		for (uint32_t i = 0; i < m; i++) {
			if (!sym_pure(s, &d[i]))
				continue;
			if (nids == SYNC_DIFF_MAX)
				goto out; /* too many for the sketch path */
			ids[nids++] = d[i].sum;
			sym_apply(s, d, 0, m, d[i].sum);
			progress = true;
		}
	}
	for (uint32_t i = 0; i < m; i++)
		if (d[i].sum || d[i].chk)
			goto out;
	/* An id peeled twice means a false "pure" cell or a collision. */
	qsort(ids, nids, sizeof(*ids), cmp_u64);
	for (size_t i = 1; i < nids; i++)
		if (ids[i] == ids[i - 1])
			goto out;
	*out = ids;
	*n = nids;
	ids = NULL;
	ret = 1;
out:
	free(ids);
	free(d);
	return ret;
}

/* ---- small short-id table: which of our keys carry these ids ---------- */

struct sid_tab {
	uint64_t *id;
	size_t *owner; /* SIZE_MAX: none of our keys */
	unsigned *dup; /* more than one of our keys */
	size_t mask;
};

static void tab_free(struct sid_tab *t)
{
	free(t->id);
	free(t->owner);
	free(t->dup);
}

/* Builds the table for ids[0, n) (non-zero) and matches every key of our
 * set against it. 0, MU_E_FORMAT if ids repeat, -ENOMEM. */
static int tab_build(const struct sync *s, struct sid_tab *t, const uint64_t *ids, size_t n)
{
	size_t cap = 16, nk = keyset_count(s->ks);

	while (cap < 2 * n)
		cap *= 2;
	t->mask = cap - 1;
	t->id = calloc(cap, sizeof(*t->id));
	t->owner = malloc(cap * sizeof(*t->owner));
	t->dup = calloc(cap, sizeof(*t->dup));
	if (!t->id || !t->owner || !t->dup)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		t->owner[i] = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		size_t h = mix64(ids[i]) & t->mask;

		if (!ids[i])
			return MU_E_FORMAT;
		while (t->id[h] && t->id[h] != ids[i])
			h = (h + 1) & t->mask;
		if (t->id[h])
			return MU_E_FORMAT;
		t->id[h] = ids[i];
	}
	for (size_t k = 0; k < nk; k++) {
		size_t h = mix64(s->sid[k]) & t->mask;

		while (t->id[h] && t->id[h] != s->sid[k])
			h = (h + 1) & t->mask;
		if (!t->id[h])
			continue;
		if (t->owner[h] != SIZE_MAX)
			t->dup[h] = 1;
		else
			t->owner[h] = k;
	}
	return 0;
}

static size_t tab_slot(const struct sid_tab *t, uint64_t id)
{
	size_t h = mix64(id) & t->mask;

	while (t->id[h] != id)
		h = (h + 1) & t->mask;
	return h;
}

/* ---- session ---------------------------------------------------------- */

static void set_salt(struct sync *s, const uint8_t salt[SALT_BYTES])
{
	memcpy(s->salt, salt, SALT_BYTES);
	s->session = (uint32_t)salt[0] << 24 | (uint32_t)salt[1] << 16 | (uint32_t)salt[2] << 8 | salt[3];
	s->chk_key = mix64(le64(salt + 8) ^ 0x5175a1c0ffee1234ull);
}

int sync_new(struct sync **out, const struct keyset *ks, enum sync_role role, const struct sync_cb *cb,
	     void *user)
{
	struct sync *s;
	uint8_t salt[SALT_BYTES];

	*out = NULL;
	if (sodium_init() < 0)
		return MU_E_CRYPTO;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ks = ks;
	s->role = role;
	s->cb = *cb;
	s->user = user;
	s->sid_mask = UINT64_MAX;
	if (role == SYNC_INITIATOR) {
		randombytes_buf(salt, sizeof(salt));
		set_salt(s, salt);
		s->ph = P_I_HELLO;
		s->my_turn = true;
		s->next_out = 0;
		s->next_in = 1;
	} else {
		s->ph = P_R_WAIT_HELLO;
		s->next_out = 1;
		s->next_in = 0;
	}
	*out = s;
	return 0;
}

void sync_free(struct sync *s)
{
	if (!s)
		return;
	free(s->sid);
	free(s->theirs);
	free(s->mine);
	free(s->mine_idx);
	free(s->want);
	free(s->want_idx);
	free(s);
}

void sync_test_set_salt(struct sync *s, const uint8_t salt[static 16])
{
	set_salt(s, salt);
}

void sync_test_set_batch(struct sync *s, uint32_t symbols)
{
	s->test_batch = symbols;
}

void sync_test_set_sid_bits(struct sync *s, unsigned bits)
{
	s->sid_mask = bits >= 64 || !bits ? UINT64_MAX : (1ull << bits) - 1;
}

bool sync_want_send(const struct sync *s)
{
	return s->my_turn && s->ph != P_DONE && s->ph != P_FAILED;
}

bool sync_done(const struct sync *s)
{
	return s->ph == P_DONE;
}

int sync_error(const struct sync *s)
{
	return s->ph == P_FAILED ? s->err : 0;
}

void sync_get_stats(const struct sync *s, struct sync_stats *st)
{
	*st = s->st;
}

static int fail(struct sync *s, int err)
{
	s->ph = P_FAILED;
	s->err = err;
	log_debug(SUB_SYNC, "session %08x failed: %s", s->session, mu_strerror(err));
	return err;
}

static void enter_list(struct sync *s)
{
	s->ph = P_LIST;
	s->st.fallback = true;
	s->list_pos = s->merge_pos = 0;
	s->sent_all = s->recv_all = s->have_last = false;
}

/* ---- building --------------------------------------------------------- */

static void wr_key(struct wr *w, const struct sync_key *k)
{
	uint8_t b[KEYSET_KEY_WIRE];

	key_wire(b, k);
	wr_bytes(w, b, sizeof(b));
}

static int build_symbols(struct sync *s, struct wr *w)
{
	uint32_t a = s->sym_have, b = s->sym_target;
	struct sym *y = malloc((size_t)(b - a) * sizeof(*y));

	if (!y)
		return -ENOMEM;
	sym_encode(s, y, a, b);
	wr_bytes(w, s->fp, FP_BYTES);
	wr_u32(w, a);
	wr_u32(w, b - a);
	for (uint32_t i = 0; i < b - a; i++) {
		wr_u64(w, y[i].sum);
		wr_u32(w, y[i].chk);
	}
	free(y);
	s->st.symbols += b - a;
	s->sym_have = b;
	return 0;
}

static void build_list(struct sync *s, struct wr *w)
{
	size_t n = keyset_count(s->ks) - s->list_pos;

	if (s->sent_all)
		n = 0;
	if (n > SYNC_KEYS_MAX)
		n = SYNC_KEYS_MAX;
	s->sent_all = s->list_pos + n == keyset_count(s->ks);
	wr_u8(w, s->sent_all ? 1 : 0);
	wr_u32(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		wr_key(w, keyset_at(s->ks, s->list_pos + i));
	s->list_pos += n;
}

int sync_build_message(struct sync *s, struct wr *w)
{
	size_t start = w->len;
	uint8_t type = 0;
	int ret = 0;

	if (s->ph == P_FAILED)
		return s->err;
	if (!sync_want_send(s))
		return -EAGAIN;
	if (s->next_out > UINT16_MAX)
		return fail(s, MU_E_TOOBIG);
	switch (s->ph) {
	case P_I_HELLO:
		type = M_HELLO;
		break;
	case P_R_EQUAL:
		type = M_EQUAL;
		break;
	case P_R_SYMBOLS:
		type = M_SYMBOLS;
		break;
	case P_I_MORE:
		type = M_MORE;
		break;
	case P_I_RESULT:
		type = M_RESULT;
		break;
	case P_R_KEYS:
		type = M_KEYS;
		break;
	case P_LIST:
		type = M_LIST;
		break;
	case P_I_WAIT:
	case P_I_WAIT_KEYS:
	case P_R_WAIT_HELLO:
	case P_R_WAIT:
	case P_DONE:
	case P_FAILED:
		return fail(s, -EINVAL); /* unreachable: not our turn */
	}
	wr_u8(w, SYNC_VERSION);
	wr_u8(w, type);
	wr_u32(w, s->session);
	wr_u16(w, (uint16_t)s->next_out);
	switch (type) {
	case M_HELLO:
		ret = hash_pass(s);
		if (ret)
			break;
		wr_bytes(w, s->salt, SALT_BYTES);
		wr_u64(w, keyset_count(s->ks));
		wr_bytes(w, s->fp, FP_BYTES);
		wr_bytes(w, s->est, EST_BYTES);
		s->ph = P_I_WAIT;
		break;
	case M_EQUAL:
		s->ph = P_DONE;
		break;
	case M_SYMBOLS:
		ret = build_symbols(s, w);
		s->ph = P_R_WAIT;
		break;
	case M_MORE:
		wr_u32(w, s->sym_target);
		s->more++;
		s->st.more++;
		s->ph = P_I_WAIT;
		break;
	case M_RESULT:
		wr_u32(w, (uint32_t)s->n_mine);
		for (size_t i = 0; i < s->n_mine; i++)
			wr_key(w, keyset_at(s->ks, s->mine_idx[i]));
		wr_u32(w, (uint32_t)s->n_want);
		for (size_t i = 0; i < s->n_want; i++)
			wr_u64(w, s->want[i]);
		s->ph = P_I_WAIT_KEYS;
		break;
	case M_KEYS:
		wr_u32(w, (uint32_t)s->n_want);
		for (size_t i = 0; i < s->n_want; i++)
			wr_key(w, keyset_at(s->ks, s->want_idx[i]));
		s->ph = P_DONE;
		break;
	case M_LIST:
		build_list(s, w);
		if (s->sent_all && s->recv_all)
			s->ph = P_DONE;
		break;
	}
	if (!ret && w->err)
		ret = w->err;
	if (!ret && w->len - start > SYNC_MSG_MAX)
		ret = MU_E_TOOBIG;
	if (ret)
		return fail(s, ret);
	s->my_turn = false;
	s->next_out += 2;
	s->st.msgs_sent++;
	s->st.bytes_sent += w->len - start;
	return 0;
}

/* ---- receiving -------------------------------------------------------- */

static int rd_key(struct rd *r, struct sync_key *k)
{
	const uint8_t *p;
	int ret = rd_slice(r, KEYSET_KEY_WIRE, &p);

	if (ret)
		return ret;
	k->created = get_be64(p);
	memcpy(k->id, p + 8, KEYSET_ID_BYTES);
	return 0;
}

/* Responder: decide between EQUAL, a first batch of symbols, and lists. */
static int on_hello(struct sync *s, struct rd *r, uint32_t session)
{
	const uint8_t *salt, *fp, *est;
	size_t mine = keyset_count(s->ks);
	double d, sketch_cost, list_cost;
	int ret;

	if ((ret = rd_slice(r, SALT_BYTES, &salt)) || (ret = rd_u64(r, &s->peer_count)) ||
	    (ret = rd_slice(r, FP_BYTES, &fp)) || (ret = rd_slice(r, EST_BYTES, &est)) || (ret = rd_end(r)))
		return ret;
	set_salt(s, salt);
	if (s->session != session)
		return MU_E_FORMAT;
	memcpy(s->peer_fp, fp, FP_BYTES);
	memcpy(s->peer_est, est, EST_BYTES);
	ret = hash_pass(s);
	if (ret)
		return ret;
	if (s->peer_count == mine && !memcmp(s->fp, s->peer_fp, FP_BYTES)) {
		s->ph = P_R_EQUAL;
		return 0;
	}
	d = est_diff(s->est, s->peer_est);
	if (d < fabs((double)s->peer_count - (double)mine))
		d = fabs((double)s->peer_count - (double)mine);
	s->st.estimate = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	sketch_cost = d * (SYM_FACTOR * SYM_BYTES + KEYSET_KEY_WIRE + 8);
	list_cost = (double)KEYSET_KEY_WIRE * ((double)s->peer_count + (double)mine);
	if (!mine || !s->peer_count || d > SYNC_DIFF_MAX * 0.75 || sketch_cost > list_cost) {
		enter_list(s);
		return 0;
	}
	s->sym_have = 0;
	s->sym_target = (uint32_t)ceil(SYM_FACTOR * d) + SYM_SLACK;
	if (s->test_batch)
		s->sym_target = s->test_batch;
	if (s->sym_target > SYNC_SYM_MAX)
		s->sym_target = SYNC_SYM_MAX;
	s->ph = P_R_SYMBOLS;
	return 0;
}

/* Initiator: a batch of the responder's symbols. Peel, then ask for more,
 * name the difference, or fall back. */
static int on_symbols(struct sync *s, struct rd *r)
{
	const uint8_t *fp, *p;
	uint32_t start, n, m;
	struct sym *t;
	uint64_t *ids = NULL;
	size_t nids = 0;
	struct sid_tab tab = {0};
	int ret;

	if ((ret = rd_slice(r, FP_BYTES, &fp)) || (ret = rd_u32(r, &start)) || (ret = rd_u32(r, &n)))
		return ret;
	if (start != s->sym_have || !n || n > SYNC_SYM_MAX - start ||
	    (s->sym_have && start + n != s->sym_target))
		return MU_E_FORMAT;
	if ((ret = rd_slice(r, (size_t)n * SYM_BYTES, &p)) || (ret = rd_end(r)))
		return ret;
	if (s->sym_have && memcmp(fp, s->peer_fp, FP_BYTES))
		return MU_E_FORMAT;
	memcpy(s->peer_fp, fp, FP_BYTES);
	m = start + n;
	t = realloc(s->theirs, (size_t)m * sizeof(*t));
	if (!t)
		return -ENOMEM;
	s->theirs = t;
	t = realloc(s->mine, (size_t)m * sizeof(*t));
	if (!t)
		return -ENOMEM;
	s->mine = t;
	for (uint32_t i = 0; i < n; i++) {
		s->theirs[start + i].sum = get_be64(p + (size_t)i * SYM_BYTES);
		struct rd c = rd_make(p + (size_t)i * SYM_BYTES + 8, 4);

		(void)rd_u32(&c, &s->theirs[start + i].chk); /* cannot fail: length checked above */
	}
	sym_encode(s, s->mine + start, start, m);
	s->sym_have = m;
	s->st.symbols += n;

	ret = sym_peel(s, &ids, &nids);
	if (ret < 0)
		return ret;
	if (!ret) {
		if (s->more >= SYNC_MORE_MAX || m >= SYNC_SYM_MAX) {
			enter_list(s);
			return 0;
		}
		double want = ceil(SYM_FACTOR * sym_estimate(s)) + SYM_SLACK;

		/* Small differences have a heavy tail of stopping sets:
		 * grow geometrically whatever the re-estimate says. */
		if (want < 1.5 * m)
			want = ceil(1.5 * m);
		if (want > SYNC_SYM_MAX)
			want = SYNC_SYM_MAX;
		s->sym_target = want > m + SYM_MIN_MORE ? (uint32_t)want : m + SYM_MIN_MORE;
		if (s->sym_target > SYNC_SYM_MAX)
			s->sym_target = SYNC_SYM_MAX;
		s->ph = P_I_MORE;
		return 0;
	}
	/* Decoded: each id is ours (exactly one key) or the peer's (none). */
	ret = tab_build(s, &tab, ids, nids);
	if (ret)
		goto out;
	s->mine_idx = malloc((nids ? nids : 1) * sizeof(*s->mine_idx));
	s->want = malloc((nids ? nids : 1) * sizeof(*s->want));
	if (!s->mine_idx || !s->want) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nids; i++) {
		size_t h = tab_slot(&tab, ids[i]);

		if (tab.dup[h]) {
			enter_list(s); /* short-id collision inside our set */
			goto out;
		}
		if (tab.owner[h] == SIZE_MAX)
			s->want[s->n_want++] = ids[i];
	}
	/* Our keys in set order, so the RESULT list is sorted. */
	for (size_t k = 0, left = nids - s->n_want; left && k < keyset_count(s->ks); k++) {
		size_t h = mix64(s->sid[k]) & tab.mask;

		while (tab.id[h] && tab.id[h] != s->sid[k])
			h = (h + 1) & tab.mask;
		if (tab.id[h] && tab.owner[h] == k) {
			s->mine_idx[s->n_mine++] = k;
			left--;
		}
	}
	s->ph = P_I_RESULT;
out:
	tab_free(&tab);
	free(ids);
	return ret;
}

static int on_more(struct sync *s, struct rd *r)
{
	uint32_t target;
	int ret;

	if ((ret = rd_u32(r, &target)) || (ret = rd_end(r)))
		return ret;
	if (target <= s->sym_have || target > SYNC_SYM_MAX || s->more >= SYNC_MORE_MAX)
		return MU_E_FORMAT;
	s->more++;
	s->st.more++;
	s->sym_target = target;
	s->ph = P_R_SYMBOLS;
	return 0;
}

/* Reads n keys, strictly ascending, into a new array. */
static int read_keys(struct rd *r, uint32_t n, struct sync_key **out)
{
	struct sync_key *k;
	int ret = 0;

	*out = NULL;
	if (n > SYNC_KEYS_MAX)
		return MU_E_TOOBIG;
	if (r->len < (size_t)n * KEYSET_KEY_WIRE)
		return MU_E_FORMAT;
	k = malloc((n ? n : 1) * sizeof(*k));
	if (!k)
		return -ENOMEM;
	for (uint32_t i = 0; i < n && !ret; i++) {
		ret = rd_key(r, &k[i]);
		if (!ret && i && sync_key_cmp(&k[i - 1], &k[i]) >= 0)
			ret = MU_E_FORMAT;
	}
	if (ret)
		free(k);
	else
		*out = k;
	return ret;
}

static void fp_add_key(const struct sync *s, uint8_t fp[FP_BYTES], const struct sync_key *k)
{
	uint64_t h[2];

	key_hash(s, k, h);
	fp_add(fp, h);
}

/* Responder: the initiator's keys we lack and the short ids it wants. */
static int on_result(struct sync *s, struct rd *r)
{
	struct sync_key *theirs = NULL;
	uint32_t nk, nw;
	uint64_t *want = NULL;
	struct sid_tab tab = {0};
	uint8_t fp[FP_BYTES];
	bool ok = true;
	int ret;

	if ((ret = rd_u32(r, &nk)) || (ret = read_keys(r, nk, &theirs)) || (ret = rd_u32(r, &nw)))
		goto out;
	if (nw > SYNC_KEYS_MAX || (uint64_t)nk + nw > SYNC_DIFF_MAX) {
		ret = MU_E_TOOBIG;
		goto out;
	}
	want = malloc((nw ? nw : 1) * sizeof(*want));
	s->want_idx = malloc((nw ? nw : 1) * sizeof(*s->want_idx));
	if (!want || !s->want_idx) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < nw && !ret; i++)
		ret = rd_u64(r, &want[i]);
	if (ret || (ret = rd_end(r)) || (ret = tab_build(s, &tab, want, nw)))
		goto out;

	memcpy(fp, s->fp, FP_BYTES);
	for (uint32_t i = 0; i < nw && ok; i++) {
		size_t h = tab_slot(&tab, want[i]);

		ok = tab.owner[h] != SIZE_MAX && !tab.dup[h];
		if (ok) {
			s->want_idx[i] = tab.owner[h];
			fp_add_key(s, fp, keyset_at(s->ks, tab.owner[h]));
		}
	}
	for (uint32_t i = 0; i < nk && ok; i++) {
		ok = !keyset_find(s->ks, &theirs[i], NULL);
		fp_add_key(s, fp, &theirs[i]);
	}
	if (!ok || memcmp(fp, s->peer_fp, FP_BYTES)) {
		/* Collision or misdecode: the lists settle it. */
		log_debug(SUB_SYNC, "session %08x: sketch result does not verify", s->session);
		enter_list(s);
		goto out;
	}
	s->n_want = nw;
	for (uint32_t i = 0; i < nk; i++)
		s->cb.have_missing(s->user, theirs[i].created, theirs[i].id);
	for (uint32_t i = 0; i < nw; i++) {
		const struct sync_key *k = keyset_at(s->ks, s->want_idx[i]);

		s->cb.peer_missing(s->user, k->created, k->id);
	}
	s->ph = P_R_KEYS;
out:
	tab_free(&tab);
	free(want);
	free(theirs);
	return ret;
}

/* Initiator: the keys behind the short ids we asked for. */
static int on_keys(struct sync *s, struct rd *r)
{
	struct sync_key *k = NULL;
	uint32_t n;
	uint8_t fp[FP_BYTES];
	int ret;

	if ((ret = rd_u32(r, &n)))
		return ret;
	if (n != s->n_want)
		return MU_E_FORMAT;
	if (r->len != (size_t)n * KEYSET_KEY_WIRE)
		return MU_E_FORMAT;
	k = malloc((n ? n : 1) * sizeof(*k));
	if (!k)
		return -ENOMEM;
	for (uint32_t i = 0; i < n && !ret; i++)
		ret = rd_key(r, &k[i]);
	if (ret || (ret = rd_end(r)))
		goto out;
	memcpy(fp, s->fp, FP_BYTES);
	for (size_t i = 0; i < s->n_mine; i++)
		fp_add_key(s, fp, keyset_at(s->ks, s->mine_idx[i]));
	for (uint32_t i = 0; i < n; i++) {
		uint64_t h[2];

		key_hash(s, &k[i], h);
		fp_add(fp, h);
		if (short_id(s, h) != s->want[i] || keyset_find(s->ks, &k[i], NULL)) {
			ret = MU_E_MISMATCH;
			goto out;
		}
	}
	if (memcmp(fp, s->peer_fp, FP_BYTES)) {
		ret = MU_E_MISMATCH;
		goto out;
	}
	for (size_t i = 0; i < s->n_mine; i++) {
		const struct sync_key *m = keyset_at(s->ks, s->mine_idx[i]);

		s->cb.peer_missing(s->user, m->created, m->id);
	}
	for (uint32_t i = 0; i < n; i++)
		s->cb.have_missing(s->user, k[i].created, k[i].id);
	s->ph = P_DONE;
out:
	free(k);
	return ret;
}

/* Both: one chunk of the peer's sorted key list, merged with ours. */
static int on_list(struct sync *s, struct rd *r)
{
	struct sync_key *k = NULL;
	size_t nk = keyset_count(s->ks);
	uint8_t flags;
	uint32_t n;
	int ret;

	if ((ret = rd_u8(r, &flags)) || (ret = rd_u32(r, &n)) || (ret = read_keys(r, n, &k)) ||
	    (ret = rd_end(r)))
		goto out;
	if ((flags & ~1u) || (s->recv_all && (n || !(flags & 1))) ||
	    (n && s->have_last && sync_key_cmp(&s->last, &k[0]) >= 0)) {
		ret = MU_E_FORMAT;
		goto out;
	}
	if (s->ph != P_LIST)
		enter_list(s);
	for (uint32_t i = 0; i < n; i++) {
		int c = 1;

		while (s->merge_pos < nk && (c = sync_key_cmp(keyset_at(s->ks, s->merge_pos), &k[i])) < 0) {
			const struct sync_key *m = keyset_at(s->ks, s->merge_pos++);

			s->cb.peer_missing(s->user, m->created, m->id);
		}
		if (s->merge_pos < nk && c == 0)
			s->merge_pos++;
		else
			s->cb.have_missing(s->user, k[i].created, k[i].id);
	}
	if (n) {
		s->last = k[n - 1];
		s->have_last = true;
	}
	if ((flags & 1) && !s->recv_all) {
		for (; s->merge_pos < nk; s->merge_pos++) {
			const struct sync_key *m = keyset_at(s->ks, s->merge_pos);

			s->cb.peer_missing(s->user, m->created, m->id);
		}
		s->recv_all = true;
	}
	if (s->sent_all && s->recv_all)
		s->ph = P_DONE;
out:
	free(k);
	return ret;
}

int sync_recv_message(struct sync *s, const uint8_t *msg, size_t len)
{
	struct rd r = rd_make(msg, len);
	uint8_t ver, type;
	uint32_t session;
	uint16_t seq;
	bool ok = false;
	int ret;

	if (s->ph == P_FAILED)
		return s->err;
	if (s->ph == P_DONE)
		return MU_E_MISMATCH; /* late duplicate */
	if (s->my_turn)
		return -EAGAIN;
	if (len > SYNC_MSG_MAX)
		return fail(s, MU_E_TOOBIG);
	if (rd_u8(&r, &ver) || rd_u8(&r, &type) || rd_u32(&r, &session) || rd_u16(&r, &seq))
		return fail(s, MU_E_FORMAT);
	if (ver != SYNC_VERSION)
		return fail(s, MU_E_VERSION);
	if (s->ph == P_R_WAIT_HELLO) {
		if (type != M_HELLO || seq != 0)
			return MU_E_MISMATCH; /* tail of an older session */
	} else if (session != s->session || seq != s->next_in) {
		return MU_E_MISMATCH;
	}
	switch (s->ph) {
	case P_I_WAIT:
		ok = type == M_SYMBOLS || type == M_LIST || (type == M_EQUAL && !s->sym_have);
		break;
	case P_I_WAIT_KEYS:
		ok = type == M_KEYS || type == M_LIST;
		break;
	case P_R_WAIT_HELLO:
		ok = type == M_HELLO;
		break;
	case P_R_WAIT:
		ok = type == M_MORE || type == M_RESULT || type == M_LIST;
		break;
	case P_LIST:
		ok = type == M_LIST;
		break;
	case P_I_HELLO:
	case P_I_MORE:
	case P_I_RESULT:
	case P_R_EQUAL:
	case P_R_SYMBOLS:
	case P_R_KEYS:
	case P_DONE:
	case P_FAILED:
		ok = false;
		break;
	}
	if (!ok)
		return fail(s, MU_E_FORMAT);
	switch ((enum msg_type)type) {
	case M_HELLO:
		ret = on_hello(s, &r, session);
		break;
	case M_EQUAL:
		ret = rd_end(&r);
		if (!ret)
			s->ph = P_DONE;
		break;
	case M_SYMBOLS:
		ret = on_symbols(s, &r);
		break;
	case M_MORE:
		ret = on_more(s, &r);
		break;
	case M_RESULT:
		ret = on_result(s, &r);
		break;
	case M_KEYS:
		ret = on_keys(s, &r);
		break;
	case M_LIST:
		ret = on_list(s, &r);
		break;
	default:
		ret = MU_E_FORMAT;
		break;
	}
	if (ret)
		return fail(s, ret);
	s->next_in += 2;
	s->st.msgs_recv++;
	s->st.bytes_recv += len;
	s->my_turn = s->ph != P_DONE;
	return 0;
}
