/* LMDB store: batching, indexes, quota and eviction order, credentials and
 * revocations. Bundles are built by hand (random ids, fake encodings): the
 * store never decodes what it stores. */
#include <errno.h>
#include <lmdb.h>
#include <sodium.h>
#include <sys/stat.h>

#include "../../node/store.h"
#include "../../node/verify.h"
#include "testutil.h"

#define FAR      1000000000ull /* an expiry no test reaches */
#define NOW      1000ull       /* meta.received for puts unless a test says */
#define MAX_ROWS 1024

struct rows {
	size_t n;
	uint64_t t[MAX_ROWS];
	uint8_t id[MAX_ROWS][BUNDLE_ID_BYTES];
};

static int collect(void *ctx, uint64_t t, const uint8_t id[static BUNDLE_ID_BYTES])
{
	struct rows *r = ctx;

	CHECK(r->n < MAX_ROWS);
	r->t[r->n] = t;
	memcpy(r->id[r->n], id, BUNDLE_ID_BYTES);
	r->n++;
	return 0;
}

static struct rows *rows_new(void)
{
	struct rows *r = calloc(1, sizeof(*r));

	CHECK(r);
	return r;
}

static int rows_has(const struct rows *r, const uint8_t id[static BUNDLE_ID_BYTES])
{
	for (size_t i = 0; i < r->n; i++)
		if (!memcmp(r->id[i], id, BUNDLE_ID_BYTES))
			return 1;
	return 0;
}

static struct store *open_lim(const char *dir, uint64_t map, uint64_t qcount, uint64_t qbytes)
{
	struct store_limits lim = {.map_bytes = map, .quota_count = qcount, .quota_bytes = qbytes};
	struct store *s = NULL;

	CHECK_OK(store_open(&s, dir, &lim));
	CHECK(s);
	return s;
}

static struct store *open_quota(const char *dir, uint64_t qcount, uint64_t qbytes)
{
	return open_lim(dir, 64ull << 20, qcount, qbytes);
}

static void mkb(struct bundle *b, uint8_t kind, uint8_t prio, uint64_t created, uint64_t expires)
{
	memset(b, 0, sizeof(*b));
	b->kind = kind;
	b->prio = prio;
	b->hop_limit = 8;
	b->created = created;
	b->expires = expires;
	randombytes_buf(b->id, sizeof(b->id));
}

/* Encoding bytes derived from the id so a mix-up between bundles shows. */
static void fake_enc(uint8_t *enc, size_t len, const struct bundle *b)
{
	for (size_t i = 0; i < len; i++)
		enc[i] = (uint8_t)(b->id[i % BUNDLE_ID_BYTES] + i);
}

static int put_in(struct store_txn *t, const struct bundle *b, size_t len, uint64_t received)
{
	static uint8_t enc[BUNDLE_ENC_MAX + 1];
	struct store_meta m = {.received = received, .hops = 1, .flags = 0};

	CHECK(len <= sizeof(enc));
	fake_enc(enc, len, b);
	return store_put_bundle(t, b, enc, len, &m);
}

/* One put in its own batch; commits only if the put succeeded. */
static int put1(struct store *s, const struct bundle *b, size_t len)
{
	struct store_txn *t = NULL;
	int rc;

	CHECK_OK(store_write_begin(s, &t));
	rc = put_in(t, b, len, NOW);
	if (rc) {
		store_write_abort(t);
		return rc;
	}
	CHECK_OK(store_write_commit(t));
	return 0;
}

static void check_content(struct store *s, const struct bundle *b, size_t want_len)
{
	static uint8_t buf[BUNDLE_ENC_MAX], want[BUNDLE_ENC_MAX];
	size_t len = 0;

	CHECK_OK(store_get(s, b->id, buf, sizeof(buf), &len, NULL));
	CHECK(len == want_len);
	fake_enc(want, want_len, b);
	CHECK(!memcmp(buf, want, len));
}

static struct store_stat stat_of(struct store *s)
{
	struct store_stat st;

	CHECK_OK(store_stat(s, &st));
	return st;
}

static void test_round_trip(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1 << 20);
	struct store_txn *t = NULL;
	struct bundle b;
	struct store_meta m = {.received = 123456789012ull, .hops = 3, .flags = STORE_F_LOCAL}, got;
	uint8_t enc[700], buf[BUNDLE_ENC_MAX], other[BUNDLE_ID_BYTES];
	size_t len = 0;

	mkb(&b, BK_MESSAGE, PRIO_URGENT, 5000, FAR);
	fake_enc(enc, sizeof(enc), &b);
	CHECK_OK(store_write_begin(s, &t));
	CHECK_OK(store_put_bundle(t, &b, enc, sizeof(enc), &m));
	CHECK_OK(store_write_commit(t));

	memset(&got, 0xff, sizeof(got));
	CHECK_OK(store_get(s, b.id, buf, sizeof(buf), &len, &got));
	CHECK(len == sizeof(enc));
	CHECK(!memcmp(buf, enc, len));
	CHECK(got.received == m.received);
	CHECK(got.hops == 3);
	CHECK(got.flags == STORE_F_LOCAL);
	/* meta is optional */
	CHECK_OK(store_get(s, b.id, buf, sizeof(buf), &len, NULL));
	CHECK(len == sizeof(enc));
	/* too small a buffer says how much is needed */
	CHECK_RET(store_get(s, b.id, buf, sizeof(enc) - 1, &len, NULL), MU_E_TOOBIG);
	CHECK(len == sizeof(enc));
	randombytes_buf(other, sizeof(other));
	CHECK_RET(store_get(s, other, buf, sizeof(buf), &len, NULL), MU_E_NOTFOUND);
	CHECK(stat_of(s).count == 1);
	CHECK(stat_of(s).bytes == sizeof(enc));
	store_close(s);
	free(dir);
}

static void test_bad_args(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1 << 20);
	struct store_txn *t = NULL;
	struct bundle b;

	CHECK_OK(store_write_begin(s, &t));
	mkb(&b, BK_MESSAGE, PRIO_BULK + 1, 1, FAR);
	CHECK_RET(put_in(t, &b, 10, NOW), MU_E_FORMAT);
	mkb(&b, BK_MESSAGE, PRIO_BULK, 1, FAR);
	CHECK_RET(put_in(t, &b, BUNDLE_ENC_MAX + 1, NOW), MU_E_TOOBIG);
	CHECK_RET(put_in(t, &b, 0, NOW), -EINVAL);
	CHECK_OK(put_in(t, &b, BUNDLE_ENC_MAX, NOW));
	CHECK_OK(store_write_commit(t));
	check_content(s, &b, BUNDLE_ENC_MAX);
	CHECK(stat_of(s).count == 1);
	store_close(s);
	free(dir);
}

static void test_duplicate(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1 << 20);
	struct store_txn *t = NULL;
	struct bundle b;

	mkb(&b, BK_MESSAGE, PRIO_ROUTINE, 10, FAR);
	CHECK_OK(store_write_begin(s, &t));
	CHECK_OK(put_in(t, &b, 100, NOW));
	CHECK_RET(put_in(t, &b, 200, NOW), MU_E_EXISTS); /* same batch */
	CHECK_OK(store_write_commit(t));
	CHECK_RET(put1(s, &b, 300), MU_E_EXISTS); /* later batch */
	check_content(s, &b, 100);
	CHECK(stat_of(s).count == 1);
	CHECK(stat_of(s).bytes == 100);
	store_close(s);
	free(dir);
}

static void test_batch_abort(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1 << 20);
	struct store_txn *t = NULL;
	struct bundle b[10];
	struct rows *r = rows_new();
	uint8_t key[MU_KEY_BYTES];

	randombytes_buf(key, sizeof(key));
	CHECK_OK(store_write_begin(s, &t));
	for (int i = 0; i < 10; i++) {
		mkb(&b[i], BK_MESSAGE, PRIO_ROUTINE, 100 + (uint64_t)i, FAR);
		CHECK_OK(put_in(t, &b[i], 50, NOW));
	}
	CHECK_OK(store_put_revocation(t, key, 5, REVOKE_LOST));
	/* reads during the batch go through it */
	CHECK(store_has(s, b[3].id) == 1);
	CHECK(store_is_revoked(s, key) == 1);
	CHECK(stat_of(s).count == 10);
	store_write_abort(t);

	for (int i = 0; i < 10; i++)
		CHECK(store_has(s, b[i].id) == 0);
	CHECK(store_is_revoked(s, key) == 0);
	CHECK(stat_of(s).count == 0);
	CHECK(stat_of(s).bytes == 0);
	CHECK(stat_of(s).revoked == 0);
	CHECK_OK(store_scan_time(s, 0, NULL, collect, r));
	CHECK_OK(store_scan_expiry(s, collect, r));
	CHECK_OK(store_scan_evict(s, collect, r));
	CHECK(r->n == 0);
	store_write_abort(NULL);
	free(r);
	store_close(s);
	free(dir);
}

static int has_each(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES])
{
	(void)created;
	/* fn runs outside any store transaction, so reads are allowed */
	CHECK(store_has(ctx, id) == 1);
	return 0;
}

static void test_commit_many(void)
{
	enum { N = 500 };
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 1000, 1 << 24);
	struct store_txn *t = NULL;
	struct bundle *b = calloc(N, sizeof(*b));
	struct rows *r = rows_new();
	uint64_t bytes = 0;

	CHECK(b);
	CHECK_OK(store_write_begin(s, &t));
	for (int i = 0; i < N; i++) {
		mkb(&b[i], BK_MESSAGE, (uint8_t)(i % 4), 1000 + (uint64_t)i, FAR);
		CHECK_OK(put_in(t, &b[i], 10 + (size_t)i, NOW));
		bytes += 10 + (size_t)i;
	}
	CHECK_OK(store_write_commit(t));
	for (int i = 0; i < N; i++)
		CHECK(store_has(s, b[i].id) == 1);
	check_content(s, &b[N - 1], 10 + N - 1);
	CHECK(stat_of(s).count == N);
	CHECK(stat_of(s).bytes == bytes);
	/* more rows than one scan chunk, in created order */
	CHECK_OK(store_scan_time(s, 0, NULL, collect, r));
	CHECK(r->n == N);
	for (int i = 0; i < N; i++) {
		CHECK(r->t[i] == 1000 + (uint64_t)i);
		CHECK(!memcmp(r->id[i], b[i].id, BUNDLE_ID_BYTES));
	}
	CHECK_OK(store_scan_time(s, 0, NULL, has_each, s));
	free(r);
	free(b);
	store_close(s);
	free(dir);
}

static void test_persist(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 3, 1 << 20);
	struct bundle b[4];
	uint8_t key[MU_KEY_BYTES];
	struct store_txn *t = NULL;
	struct store_stat st;

	for (int i = 0; i < 4; i++) {
		mkb(&b[i], BK_MESSAGE, PRIO_BULK, 10 + (uint64_t)i, FAR);
		CHECK_OK(put1(s, &b[i], 100 + (size_t)i));
	}
	CHECK(stat_of(s).evicted == 1);
	randombytes_buf(key, sizeof(key));
	CHECK_OK(store_write_begin(s, &t));
	CHECK_OK(store_put_revocation(t, key, 77, REVOKE_COMPROMISED));
	CHECK_OK(store_write_commit(t));
	store_close(s);

	s = open_quota(dir, 3, 1 << 20);
	st = stat_of(s);
	CHECK(st.count == 3);
	CHECK(st.bytes == 101 + 102 + 103);
	CHECK(st.revoked == 1);
	CHECK(st.evicted == 0); /* counted since open */
	CHECK(store_has(s, b[0].id) == 0);
	for (int i = 1; i < 4; i++)
		check_content(s, &b[i], 100 + (size_t)i);
	CHECK(store_is_revoked(s, key) == 1);
	/* the totals read back drive the quota: the next put evicts b[1] */
	mkb(&b[0], BK_MESSAGE, PRIO_BULK, 20, FAR);
	CHECK_OK(put1(s, &b[0], 50));
	CHECK(store_has(s, b[1].id) == 0);
	CHECK(stat_of(s).count == 3);
	store_close(s);
	free(dir);
}

static void test_has(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1 << 20);
	struct bundle b, c;

	mkb(&b, BK_MESSAGE, PRIO_ROUTINE, 1, FAR);
	mkb(&c, BK_MESSAGE, PRIO_ROUTINE, 1, FAR);
	CHECK(store_has(s, b.id) == 0);
	CHECK_OK(put1(s, &b, 10));
	CHECK(store_has(s, b.id) == 1);
	CHECK(store_has(s, c.id) == 0);
	store_close(s);
	free(dir);
}

static void test_peek(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1 << 20);
	struct store_info info;
	struct bundle b, c;

	mkb(&b, BK_RECEIPT, PRIO_URGENT, 1234, FAR);
	mkb(&c, BK_MESSAGE, PRIO_ROUTINE, 1, FAR);
	CHECK_OK(put1(s, &b, 77));
	CHECK_OK(store_peek(s, b.id, &info));
	CHECK(info.kind == BK_RECEIPT && info.prio == PRIO_URGENT);
	CHECK(info.created == 1234 && info.expires == FAR && info.len == 77);
	CHECK(info.meta.received == NOW);
	CHECK_RET(store_peek(s, c.id, &info), MU_E_NOTFOUND);
	store_close(s);
	free(dir);
}

static void test_delete(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1 << 20);
	struct store_txn *t = NULL;
	struct bundle b[3];
	struct rows *r = rows_new();

	for (int i = 0; i < 3; i++) {
		mkb(&b[i], BK_MESSAGE, PRIO_ROUTINE, 10 * (uint64_t)i, 5000 + (uint64_t)i);
		CHECK_OK(put1(s, &b[i], 100 + (size_t)i));
	}
	/* an aborted delete changes nothing */
	CHECK_OK(store_write_begin(s, &t));
	CHECK_OK(store_del_bundle(t, b[1].id));
	CHECK(store_has(s, b[1].id) == 0);
	store_write_abort(t);
	CHECK(store_has(s, b[1].id) == 1);

	CHECK_OK(store_write_begin(s, &t));
	CHECK_OK(store_del_bundle(t, b[1].id));
	CHECK_RET(store_del_bundle(t, b[1].id), MU_E_NOTFOUND);
	CHECK_OK(store_write_commit(t));
	CHECK(store_has(s, b[1].id) == 0);
	CHECK(store_has(s, b[0].id) == 1);
	CHECK(stat_of(s).count == 2);
	CHECK(stat_of(s).bytes == 100 + 102);
	CHECK(stat_of(s).evicted == 0);
	/* every index lost its row */
	CHECK_OK(store_scan_time(s, 0, NULL, collect, r));
	CHECK(r->n == 2 && !rows_has(r, b[1].id));
	r->n = 0;
	CHECK_OK(store_scan_expiry(s, collect, r));
	CHECK(r->n == 2 && !rows_has(r, b[1].id));
	r->n = 0;
	CHECK_OK(store_scan_evict(s, collect, r));
	CHECK(r->n == 2 && !rows_has(r, b[1].id));
	free(r);
	store_close(s);
	free(dir);
}

static void test_purge(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1 << 20);
	struct store_txn *t = NULL;
	struct bundle b[10], cred_b;
	struct rows *r = rows_new();
	uint64_t removed = 99, bytes = 0;

	CHECK_OK(store_write_begin(s, &t));
	for (int i = 0; i < 10; i++) {
		/* expires 100..1000; created in reverse so the indexes disagree */
		mkb(&b[i], BK_MESSAGE, (uint8_t)(i % 4), 1000 - (uint64_t)i, 100 * (uint64_t)(i + 1));
		CHECK_OK(put_in(t, &b[i], 10 + (size_t)i, 0));
		if (i >= 5)
			bytes += 10 + (size_t)i;
	}
	mkb(&cred_b, BK_CREDENTIAL, PRIO_IMMEDIATE, 1, 300);
	CHECK_OK(put_in(t, &cred_b, 40, 0));
	CHECK_OK(store_write_commit(t));

	CHECK_OK(store_purge_expired(s, 500, &removed)); /* expires <= 500 */
	CHECK(removed == 6);
	for (int i = 0; i < 10; i++)
		CHECK(store_has(s, b[i].id) == (i >= 5));
	CHECK(store_has(s, cred_b.id) == 0);
	CHECK(stat_of(s).count == 5);
	CHECK(stat_of(s).bytes == bytes);
	CHECK(stat_of(s).evicted == 0);

	CHECK_OK(store_scan_time(s, 0, NULL, collect, r));
	CHECK(r->n == 5);
	for (int i = 5; i < 10; i++)
		CHECK(rows_has(r, b[i].id));
	r->n = 0;
	CHECK_OK(store_scan_expiry(s, collect, r));
	CHECK(r->n == 5);
	for (size_t i = 0; i < r->n; i++)
		CHECK(r->t[i] == 600 + 100 * i);
	r->n = 0;
	CHECK_OK(store_scan_evict(s, collect, r));
	CHECK(r->n == 5);
	for (int i = 5; i < 10; i++)
		CHECK(rows_has(r, b[i].id));

	CHECK_OK(store_purge_expired(s, 500, &removed));
	CHECK(removed == 0);
	CHECK_OK(store_purge_expired(s, 10000, NULL));
	CHECK(stat_of(s).count == 0);
	CHECK(stat_of(s).bytes == 0);
	free(r);
	store_close(s);
	free(dir);
}

static int cmp_key(uint64_t ta, const uint8_t *ia, uint64_t tb, const uint8_t *ib)
{
	if (ta != tb)
		return ta < tb ? -1 : 1;
	return memcmp(ia, ib, BUNDLE_ID_BYTES);
}

static void put_scan_set(struct store *s, struct bundle *b, int n)
{
	struct store_txn *t = NULL;

	CHECK_OK(store_write_begin(s, &t));
	for (int i = 0; i < n; i++) {
		/* created repeats (i / 3) so ids break ties */
		mkb(&b[i], BK_MESSAGE, PRIO_ROUTINE, 100 + (uint64_t)(i / 3) * 10, FAR);
		CHECK_OK(put_in(t, &b[i], 20, NOW));
	}
	CHECK_OK(store_write_commit(t));
}

static void test_scan_order(void)
{
	enum { N = 60 };
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 1000, 1 << 20);
	struct bundle b[N];
	struct rows *r = rows_new();

	put_scan_set(s, b, N);
	CHECK_OK(store_scan_time(s, 0, NULL, collect, r));
	CHECK(r->n == N);
	for (size_t i = 1; i < r->n; i++)
		CHECK(cmp_key(r->t[i - 1], r->id[i - 1], r->t[i], r->id[i]) < 0);
	for (int i = 0; i < N; i++)
		CHECK(rows_has(r, b[i].id));
	free(r);
	store_close(s);
	free(dir);
}

static void test_scan_start(void)
{
	enum { N = 60 };
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 1000, 1 << 20);
	struct bundle b[N];
	struct rows *all = rows_new(), *r = rows_new();
	uint8_t next_id[BUNDLE_ID_BYTES];
	size_t k = 25;

	put_scan_set(s, b, N);
	CHECK_OK(store_scan_time(s, 0, NULL, collect, all));
	CHECK(all->n == N);

	/* starting at an existing key includes it */
	CHECK_OK(store_scan_time(s, all->t[k], all->id[k], collect, r));
	CHECK(r->n == N - k);
	CHECK(!memcmp(r->id[0], all->id[k], BUNDLE_ID_BYTES));
	CHECK(!memcmp(r->id[r->n - 1], all->id[N - 1], BUNDLE_ID_BYTES));

	/* just past it starts at the next */
	memcpy(next_id, all->id[k], BUNDLE_ID_BYTES);
	for (int i = BUNDLE_ID_BYTES - 1; i >= 0 && ++next_id[i] == 0; i--)
		;
	r->n = 0;
	CHECK_OK(store_scan_time(s, all->t[k], next_id, collect, r));
	CHECK(r->n == N - k - 1);
	CHECK(!memcmp(r->id[0], all->id[k + 1], BUNDLE_ID_BYTES));

	/* NULL id: every key with that created or later */
	r->n = 0;
	CHECK_OK(store_scan_time(s, 150, NULL, collect, r));
	CHECK(r->n == N - 15); /* created 100..140 hold 3 each */
	CHECK(r->t[0] == 150);

	r->n = 0;
	CHECK_OK(store_scan_time(s, UINT64_MAX, NULL, collect, r));
	CHECK(r->n == 0);
	free(all);
	free(r);
	store_close(s);
	free(dir);
}

struct stopper {
	int calls;
};

static int stop_at_three(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES])
{
	struct stopper *st = ctx;

	(void)created;
	(void)id;
	return ++st->calls == 3 ? 7 : 0;
}

static void test_scan_stop(void)
{
	enum { N = 20 };
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 1000, 1 << 20);
	struct bundle b[N];
	struct stopper st = {0};

	put_scan_set(s, b, N);
	CHECK_RET(store_scan_time(s, 0, NULL, stop_at_three, &st), 7);
	CHECK(st.calls == 3);
	store_close(s);
	free(dir);
}

/* Checks which of b[0..n) are present: want is a bit per bundle. */
static void check_present(struct store *s, const struct bundle *b, int n, unsigned want)
{
	for (int i = 0; i < n; i++) {
		int has = store_has(s, b[i].id);

		if (has != (int)((want >> i) & 1)) {
			fprintf(stderr, "bundle %d: has %d, wanted %u\n", i, has, (want >> i) & 1);
			CHECK(0);
		}
	}
}

static void test_quota_count(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 3, 1 << 20);
	struct bundle b[5];

	for (int i = 0; i < 3; i++) {
		mkb(&b[i], BK_MESSAGE, PRIO_BULK, 10 + (uint64_t)i, FAR);
		CHECK_OK(put1(s, &b[i], 10));
	}
	CHECK(stat_of(s).evicted == 0);
	mkb(&b[3], BK_MESSAGE, PRIO_BULK, 20, FAR);
	CHECK_OK(put1(s, &b[3], 10));
	check_present(s, b, 4, 0xe); /* oldest bulk went */
	mkb(&b[4], BK_MESSAGE, PRIO_BULK, 30, FAR);
	CHECK_OK(put1(s, &b[4], 10));
	check_present(s, b, 5, 0x1c);
	CHECK(stat_of(s).count == 3);
	CHECK(stat_of(s).evicted == 2);
	store_close(s);
	free(dir);
}

static void test_quota_bytes(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1000);
	struct bundle b[7];

	for (int i = 0; i < 4; i++) {
		mkb(&b[i], BK_MESSAGE, PRIO_BULK, 10 + (uint64_t)i, FAR);
		CHECK_OK(put1(s, &b[i], 250));
	}
	CHECK(stat_of(s).bytes == 1000);
	mkb(&b[4], BK_MESSAGE, PRIO_ROUTINE, 5, FAR);
	CHECK_OK(put1(s, &b[4], 250));
	check_present(s, b, 5, 0x1e);
	/* 500 bytes need two more bulk bundles to go, oldest first */
	mkb(&b[5], BK_MESSAGE, PRIO_ROUTINE, 6, FAR);
	CHECK_OK(put1(s, &b[5], 500));
	check_present(s, b, 6, 0x38);
	CHECK(stat_of(s).bytes == 1000);
	CHECK(stat_of(s).count == 3);
	CHECK(stat_of(s).evicted == 3);
	/* larger than the whole quota: fails without evicting anything */
	mkb(&b[6], BK_MESSAGE, PRIO_IMMEDIATE, 7, FAR);
	CHECK_RET(put1(s, &b[6], 1001), MU_E_QUOTA);
	check_present(s, b, 7, 0x38);
	CHECK(stat_of(s).evicted == 3);
	store_close(s);
	free(dir);
}

static void test_eviction_order(void)
{
	enum { E, B1, B2, R, U, C, V, X1, X2, X3, X4, X5, X6, Y, Z, N };
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 7, 1 << 20);
	struct bundle b[N];
	struct rows *r = rows_new();
	unsigned want;

	mkb(&b[E], BK_MESSAGE, PRIO_IMMEDIATE, 300, NOW); /* expired at NOW */
	mkb(&b[B1], BK_MESSAGE, PRIO_BULK, 100, FAR);
	mkb(&b[B2], BK_MESSAGE, PRIO_BULK, 200, FAR);
	mkb(&b[R], BK_MESSAGE, PRIO_ROUTINE, 50, FAR);
	mkb(&b[U], BK_RECEIPT, PRIO_URGENT, 10, FAR);
	mkb(&b[C], BK_CREDENTIAL, PRIO_BULK, 1, FAR);
	mkb(&b[V], BK_REVOCATION, PRIO_BULK, 2, FAR);
	for (int i = E; i <= V; i++) {
		struct store_txn *t = NULL;

		/* stored before they expired */
		CHECK_OK(store_write_begin(s, &t));
		CHECK_OK(put_in(t, &b[i], 30, 0));
		CHECK_OK(store_write_commit(t));
	}
	CHECK(stat_of(s).count == 7);

	/* the eviction index: bulk, routine, urgent, immediate, oldest first;
	 * no credential or revocation */
	CHECK_OK(store_scan_evict(s, collect, r));
	CHECK(r->n == 5);
	CHECK(!memcmp(r->id[0], b[B1].id, BUNDLE_ID_BYTES) && r->t[0] == 100);
	CHECK(!memcmp(r->id[1], b[B2].id, BUNDLE_ID_BYTES));
	CHECK(!memcmp(r->id[2], b[R].id, BUNDLE_ID_BYTES));
	CHECK(!memcmp(r->id[3], b[U].id, BUNDLE_ID_BYTES));
	CHECK(!memcmp(r->id[4], b[E].id, BUNDLE_ID_BYTES));

	/* each new immediate bundle pushes out exactly the next in order:
	 * the expired one (although immediate), then B1, B2, R, U */
	want = (1u << (V + 1)) - 1;
	const int gone[] = {E, B1, B2, R, U};
	for (int i = 0; i < 5; i++) {
		mkb(&b[X1 + i], BK_MESSAGE, PRIO_IMMEDIATE, 1000 + (uint64_t)i, FAR);
		CHECK_OK(put1(s, &b[X1 + i], 30));
		want = (want | 1u << (X1 + i)) & ~(1u << gone[i]);
		check_present(s, b, N, want);
		CHECK(stat_of(s).evicted == (uint64_t)i + 1);
	}
	/* only C, V and immediates left: a newer immediate evicts the oldest
	 * immediate (same priority, older) but never C or V */
	mkb(&b[X6], BK_MESSAGE, PRIO_IMMEDIATE, 1005, FAR);
	CHECK_OK(put1(s, &b[X6], 30));
	want = (want | 1u << X6) & ~(1u << X1);
	check_present(s, b, N, want);
	/* an immediate older than all stored ones, and a bulk one: no room */
	mkb(&b[Y], BK_MESSAGE, PRIO_IMMEDIATE, 500, FAR);
	CHECK_RET(put1(s, &b[Y], 30), MU_E_QUOTA);
	mkb(&b[Z], BK_MESSAGE, PRIO_BULK, 5000, FAR);
	CHECK_RET(put1(s, &b[Z], 30), MU_E_QUOTA);
	check_present(s, b, N, want);
	CHECK(stat_of(s).count == 7);
	CHECK(stat_of(s).evicted == 6);
	free(r);
	store_close(s);
	free(dir);
}

static void test_no_higher_for_lower(void)
{
	enum { I, U, R, B, R_OLD, R_SAME, R_NEW, N };
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 3, 1 << 20);
	struct bundle b[N];

	mkb(&b[I], BK_MESSAGE, PRIO_IMMEDIATE, 5, FAR);
	mkb(&b[U], BK_MESSAGE, PRIO_URGENT, 10, FAR);
	mkb(&b[R], BK_MESSAGE, PRIO_ROUTINE, 20, FAR);
	for (int i = I; i <= R; i++)
		CHECK_OK(put1(s, &b[i], 10));
	/* lower priority, however new */
	mkb(&b[B], BK_MESSAGE, PRIO_BULK, 9999, FAR);
	CHECK_RET(put1(s, &b[B], 10), MU_E_QUOTA);
	/* same priority but older, or the same age */
	mkb(&b[R_OLD], BK_MESSAGE, PRIO_ROUTINE, 15, FAR);
	CHECK_RET(put1(s, &b[R_OLD], 10), MU_E_QUOTA);
	mkb(&b[R_SAME], BK_MESSAGE, PRIO_ROUTINE, 20, FAR);
	CHECK_RET(put1(s, &b[R_SAME], 10), MU_E_QUOTA);
	check_present(s, b, N, 1u << I | 1u << U | 1u << R);
	CHECK(stat_of(s).count == 3);
	CHECK(stat_of(s).evicted == 0);
	/* same priority and newer replaces the older one */
	mkb(&b[R_NEW], BK_MESSAGE, PRIO_ROUTINE, 21, FAR);
	CHECK_OK(put1(s, &b[R_NEW], 10));
	check_present(s, b, N, 1u << I | 1u << U | 1u << R_NEW);
	store_close(s);
	free(dir);
}

/* A put that evicts some bundles and then still does not fit undoes those
 * evictions, and the batch it ran in stays usable. */
static void test_quota_rollback(void)
{
	enum { B, I, EARLY, NEW, N };
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 300);
	struct store_txn *t = NULL;
	struct bundle b[N];

	mkb(&b[B], BK_MESSAGE, PRIO_BULK, 1, FAR);
	mkb(&b[I], BK_MESSAGE, PRIO_IMMEDIATE, 2, FAR);
	CHECK_OK(put1(s, &b[B], 100));
	CHECK_OK(put1(s, &b[I], 150));

	CHECK_OK(store_write_begin(s, &t));
	mkb(&b[EARLY], BK_MESSAGE, PRIO_ROUTINE, 3, FAR);
	CHECK_OK(put_in(t, &b[EARLY], 40, NOW)); /* 290 of 300 */
	/* 200 bytes: evicting B (bulk) and EARLY (routine) frees 140, the
	 * immediate one may not go, so it fails and both come back */
	mkb(&b[NEW], BK_MESSAGE, PRIO_URGENT, 4, FAR);
	CHECK_RET(put_in(t, &b[NEW], 200, NOW), MU_E_QUOTA);
	CHECK(store_has(s, b[B].id) == 1);
	CHECK(store_has(s, b[EARLY].id) == 1);
	CHECK(store_has(s, b[NEW].id) == 0);
	CHECK_OK(store_write_commit(t));
	check_present(s, b, N, 1u << B | 1u << I | 1u << EARLY);
	check_content(s, &b[B], 100);
	CHECK(stat_of(s).bytes == 290);
	CHECK(stat_of(s).count == 3);
	CHECK(stat_of(s).evicted == 0);
	store_close(s);
	free(dir);
}

static void fill_cred(struct cred *c, const uint8_t pk[static MU_KEY_BYTES], uint64_t until, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->role = ROLE_PARAMEDIC;
	snprintf(c->subject, sizeof(c->subject), "NWAS-1234");
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->org, sizeof(c->org), "North West Ambulance Service");
	snprintf(c->reg, sizeof(c->reg), "HCPC PA123456");
	memcpy(c->sign_pk, pk, MU_KEY_BYTES);
	randombytes_buf(c->kx_pk, sizeof(c->kx_pk));
	c->valid_from = 1000;
	c->valid_until = until;
	randombytes_buf(c->issuer, sizeof(c->issuer));
	randombytes_buf(c->sig, sizeof(c->sig));
}

/* Credentials and revocations (records and bundles) survive any amount of
 * eviction; only expiry removes CREDENTIAL / REVOCATION bundles. */
static void test_quota_creds_kept(void)
{
	enum { C, V, C_OLD, M1, M2, N };
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 3, 1 << 20);
	struct store_txn *t = NULL;
	struct bundle b[N];
	struct cred c, got;
	uint8_t pk[MU_KEY_BYTES], key[MU_KEY_BYTES];

	randombytes_buf(pk, sizeof(pk));
	randombytes_buf(key, sizeof(key));
	fill_cred(&c, pk, 9000, "A Smith");
	CHECK_OK(store_write_begin(s, &t));
	CHECK_OK(store_put_cred(t, &c));
	CHECK_OK(store_put_revocation(t, key, 10, REVOKE_LOST));
	mkb(&b[C], BK_CREDENTIAL, PRIO_BULK, 1, FAR);
	mkb(&b[V], BK_REVOCATION, PRIO_BULK, 2, FAR);
	mkb(&b[C_OLD], BK_CREDENTIAL, PRIO_BULK, 3, 900); /* expires before NOW */
	CHECK_OK(put_in(t, &b[C], 10, 0));
	CHECK_OK(put_in(t, &b[V], 10, 0));
	CHECK_OK(put_in(t, &b[C_OLD], 10, 0));
	CHECK_OK(store_write_commit(t));

	/* the expired credential bundle is fair game */
	mkb(&b[M1], BK_MESSAGE, PRIO_IMMEDIATE, 100, FAR);
	CHECK_OK(put1(s, &b[M1], 10));
	check_present(s, b, N, 1u << C | 1u << V | 1u << M1);
	/* from here on immediates only push out each other */
	mkb(&b[M2], BK_MESSAGE, PRIO_IMMEDIATE, 101, FAR);
	CHECK_OK(put1(s, &b[M2], 10));
	check_present(s, b, N, 1u << C | 1u << V | 1u << M2);
	for (int i = 0; i < 20; i++) {
		struct bundle x;

		mkb(&x, BK_MESSAGE, PRIO_IMMEDIATE, 200 + (uint64_t)i, FAR);
		CHECK_OK(put1(s, &x, 10));
		CHECK(store_has(s, b[C].id) == 1);
		CHECK(store_has(s, b[V].id) == 1);
	}
	CHECK(stat_of(s).count == 3);
	CHECK(stat_of(s).evicted == 22);
	CHECK(stat_of(s).creds == 1);
	CHECK(stat_of(s).revoked == 1);
	CHECK_OK(store_cred_lookup(s, pk, &got));
	CHECK(got.valid_until == 9000);
	CHECK(store_is_revoked(s, key) == 1);
	store_close(s);
	free(dir);
}

/* A full LMDB map is MU_E_QUOTA, never a crash or a damaged store. Within a
 * batch the failed put changes nothing and the batch stays usable; its
 * commit may itself need pages and then fails whole with MU_E_QUOTA. */
static void test_map_full(void)
{
	enum { N = 200 };
	char *dir = test_tmpdir("store");
	struct store *s = open_lim(dir, 256 << 10, 1000000, 1ull << 40);
	struct store_txn *t = NULL;
	struct bundle *b = calloc(N, sizeof(*b));
	int n = 0, rc = 0;

	CHECK(b);
	/* one bundle per batch until the map is full */
	for (n = 0; n < N; n++) {
		mkb(&b[n], BK_MESSAGE, PRIO_ROUTINE, 10 + (uint64_t)n, FAR);
		CHECK_OK(store_write_begin(s, &t));
		rc = put_in(t, &b[n], 3000, NOW);
		if (rc) {
			CHECK_RET(rc, MU_E_QUOTA);
			/* the batch is still usable: it reads and aborts cleanly */
			CHECK(store_has(s, b[0].id) == 1);
			CHECK(store_has(s, b[n].id) == 0);
			store_write_abort(t);
			break;
		}
		rc = store_write_commit(t);
		if (rc) {
			CHECK_RET(rc, MU_E_QUOTA);
			break;
		}
	}
	CHECK(rc == MU_E_QUOTA);
	CHECK(n > 1 && n < N);
	CHECK(stat_of(s).count == (uint64_t)n);
	CHECK(stat_of(s).bytes == 3000ull * (uint64_t)n);
	check_content(s, &b[0], 3000);
	check_content(s, &b[n - 1], 3000);
	CHECK(store_has(s, b[n].id) == 0);

	/* deleting makes room again: LMDB reuses pages freed by a commit only
	 * after the next commit (it keeps the previous snapshot), so two */
	for (int half = 0; half < 2; half++) {
		CHECK_OK(store_write_begin(s, &t));
		for (int i = half * n / 4; i < (half + 1) * n / 4; i++)
			CHECK_OK(store_del_bundle(t, b[i].id));
		CHECK_OK(store_write_commit(t));
	}
	CHECK_OK(put1(s, &b[n], 3000));
	CHECK(stat_of(s).count == (uint64_t)(n - 2 * (n / 4) + 1));

	/* the same inside one batch: the failed put leaves the rest intact */
	CHECK_OK(store_write_begin(s, &t));
	for (n = 0; n < N; n++) {
		mkb(&b[n], BK_MESSAGE, PRIO_ROUTINE, 1000 + (uint64_t)n, FAR);
		rc = put_in(t, &b[n], 3000, NOW);
		if (rc)
			break;
	}
	CHECK_RET(rc, MU_E_QUOTA);
	CHECK(n > 0 && n < N);
	CHECK(store_has(s, b[0].id) == 1);
	CHECK(store_has(s, b[n - 1].id) == 1);
	CHECK(store_has(s, b[n].id) == 0);
	CHECK_OK(store_del_bundle(t, b[0].id));
	store_write_abort(t);
	free(b);
	store_close(s);
	free(dir);
}

static void test_revoked(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1 << 20);
	struct store_txn *t = NULL;
	uint8_t k1[MU_KEY_BYTES], k2[MU_KEY_BYTES];
	revoked_fn fn = store_is_revoked;
	uint64_t at = 0;
	uint8_t reason = 0;

	randombytes_buf(k1, sizeof(k1));
	randombytes_buf(k2, sizeof(k2));
	CHECK(fn(s, k1) == 0);
	CHECK_OK(store_write_begin(s, &t));
	CHECK_OK(store_put_revocation(t, k1, 100, REVOKE_LOST));
	CHECK_OK(store_put_revocation(t, k1, 50, REVOKE_COMPROMISED));
	CHECK_OK(store_put_revocation(t, k1, 200, REVOKE_LEFT));
	CHECK_OK(store_write_commit(t));
	CHECK(fn(s, k1) == 1);
	CHECK(fn(s, k2) == 0);
	/* the earliest revocation stands */
	CHECK_OK(store_get_revocation(s, k1, &at, &reason));
	CHECK(at == 50);
	CHECK(reason == REVOKE_COMPROMISED);
	CHECK_OK(store_get_revocation(s, k1, NULL, NULL));
	CHECK_RET(store_get_revocation(s, k2, &at, &reason), MU_E_NOTFOUND);
	CHECK(at == 0 && reason == 0);
	CHECK(stat_of(s).revoked == 1);
	CHECK(stat_of(s).count == 0);
	store_close(s);
	free(dir);
}

static void test_creds_latest(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1 << 20);
	struct store_txn *t = NULL;
	struct cred c, got;
	uint8_t pk[MU_KEY_BYTES], pk2[MU_KEY_BYTES];
	cred_lookup_fn lookup = store_cred_lookup;

	randombytes_buf(pk, sizeof(pk));
	randombytes_buf(pk2, sizeof(pk2));
	CHECK_RET(lookup(s, pk, &got), MU_E_NOCRED);

	CHECK_OK(store_write_begin(s, &t));
	fill_cred(&c, pk, 2000, "First");
	CHECK_OK(store_put_cred(t, &c));
	fill_cred(&c, pk, 3000, "Renewed");
	CHECK_OK(store_put_cred(t, &c));
	fill_cred(&c, pk, 2500, "Stale");
	CHECK_OK(store_put_cred(t, &c));
	fill_cred(&c, pk, 3000, "Same until");
	CHECK_OK(store_put_cred(t, &c));
	/* visible inside the batch, as admission needs */
	CHECK_OK(lookup(s, pk, &got));
	CHECK(!strcmp(got.name, "Renewed"));
	CHECK_OK(store_write_commit(t));

	CHECK_OK(lookup(s, pk, &got));
	CHECK(got.valid_until == 3000);
	CHECK(!strcmp(got.name, "Renewed"));
	CHECK(!memcmp(got.sign_pk, pk, MU_KEY_BYTES));
	CHECK(got.role == ROLE_PARAMEDIC);
	CHECK_RET(lookup(s, pk2, &got), MU_E_NOCRED);
	CHECK(stat_of(s).creds == 1);

	/* survives reopen; an invalid credential is refused */
	store_close(s);
	s = open_quota(dir, 100, 1 << 20);
	CHECK_OK(lookup(s, pk, &got));
	CHECK(got.valid_until == 3000);
	CHECK_OK(store_write_begin(s, &t));
	fill_cred(&c, pk2, 5000, "Bad");
	c.role = 0;
	CHECK(store_put_cred(t, &c) < 0);
	CHECK_OK(store_write_commit(t));
	CHECK_RET(lookup(s, pk2, &got), MU_E_NOCRED);
	store_close(s);
	free(dir);
}

/* Admission's credential and revocation answers are remembered between
 * calls (store.c); they must follow every write, commit and abort. */
static void test_answers_follow_writes(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1 << 20);
	struct store_txn *t = NULL;
	struct cred c, got;
	uint8_t pk[MU_KEY_BYTES];

	randombytes_buf(pk, sizeof(pk));
	CHECK_RET(store_cred_lookup(s, pk, &got), MU_E_NOCRED);
	CHECK(store_is_revoked(s, pk) == 0);
	CHECK_OK(store_write_begin(s, &t));
	fill_cred(&c, pk, 2000, "First");
	CHECK_OK(store_put_cred(t, &c));
	CHECK_OK(store_write_commit(t));
	for (int i = 0; i < 2; i++) { /* the second time from memory */
		CHECK_OK(store_cred_lookup(s, pk, &got));
		CHECK(!strcmp(got.name, "First"));
		CHECK(store_is_revoked(s, pk) == 0);
	}

	/* a renewal and a revocation in a batch: seen at once, gone on abort */
	CHECK_OK(store_write_begin(s, &t));
	fill_cred(&c, pk, 3000, "Renewed");
	CHECK_OK(store_put_cred(t, &c));
	CHECK_OK(store_cred_lookup(s, pk, &got));
	CHECK(!strcmp(got.name, "Renewed"));
	CHECK_OK(store_put_revocation(t, pk, 5, REVOKE_LOST));
	CHECK(store_is_revoked(s, pk) == 1);
	CHECK(store_is_revoked(s, pk) == 1);
	store_write_abort(t);
	CHECK_OK(store_cred_lookup(s, pk, &got));
	CHECK(!strcmp(got.name, "First"));
	CHECK(store_is_revoked(s, pk) == 0);

	/* the same, committed */
	CHECK_OK(store_write_begin(s, &t));
	CHECK_OK(store_put_cred(t, &c));
	CHECK_OK(store_put_revocation(t, pk, 5, REVOKE_LOST));
	CHECK_OK(store_write_commit(t));
	CHECK_OK(store_cred_lookup(s, pk, &got));
	CHECK(!strcmp(got.name, "Renewed"));
	CHECK(store_is_revoked(s, pk) == 1);
	store_close(s);
	free(dir);
}

/* Puts without a child transaction (store.h): a batch that mixes them with
 * child-transaction writes keeps the totals right, store_stat sees the
 * batch, and a put that LMDB fails part-way fails the whole batch. The
 * part-way failure is made by damaging the store: a bundle's record is
 * removed behind the store's back, so putting it again meets its by_time
 * row. */
static void test_direct_puts(void)
{
	enum { N = 3000 };
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100000, 1 << 30);
	struct store_txn *t = NULL;
	struct bundle *b = calloc(N, sizeof(*b));
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k;

	CHECK(b);
	CHECK_OK(store_write_begin(s, &t));
	for (int i = 0; i < N; i++) {
		mkb(&b[i], i % 3 ? BK_MESSAGE : BK_RECEIPT, (uint8_t)(i % 4), 10 + (uint64_t)i, FAR);
		CHECK_OK(put_in(t, &b[i], 100 + (size_t)i % 200, NOW));
		if (i % 500 == 7)
			CHECK_OK(store_tombstone(t, b[i].id));
		if (i % 500 == 9)
			CHECK_OK(store_del_bundle(t, b[i - 1].id));
	}
	CHECK_RET(put_in(t, &b[10], 50, NOW), MU_E_EXISTS);
	CHECK(stat_of(s).count == N - 12);
	CHECK(stat_of(s).tombstones == 6);
	CHECK_OK(store_write_commit(t));
	CHECK(stat_of(s).count == N - 12);
	CHECK(stat_of(s).tombstones == 6);
	check_content(s, &b[N - 1], 100 + (N - 1) % 200);
	CHECK(store_has(s, b[8].id) == 0);
	store_close(s);

	/* damage: b[0]'s record goes, its index rows stay */
	CHECK_OK(mdb_env_create(&env));
	CHECK_OK(mdb_env_set_maxdbs(env, 16));
	CHECK_OK(mdb_env_open(env, dir, 0, 0600));
	CHECK_OK(mdb_txn_begin(env, NULL, 0, &txn));
	CHECK_OK(mdb_dbi_open(txn, "bundles", 0, &dbi));
	k = (MDB_val){.mv_size = BUNDLE_ID_BYTES, .mv_data = b[0].id};
	CHECK_OK(mdb_del(txn, dbi, &k, NULL));
	CHECK_OK(mdb_txn_commit(txn));
	mdb_env_close(env);

	s = open_quota(dir, 100000, 1 << 30);
	CHECK_OK(store_write_begin(s, &t));
	mkb(&b[N - 2], BK_MESSAGE, PRIO_ROUTINE, 5, FAR);
	CHECK_OK(put_in(t, &b[N - 2], 100, NOW)); /* a fresh id, before the failure */
	CHECK_RET(put_in(t, &b[0], 100, NOW), MU_E_STORE);
	CHECK_RET(put_in(t, &b[N - 1], 100, NOW), MU_E_STORE);
	CHECK_RET(store_del_bundle(t, b[1].id), MU_E_STORE);
	CHECK_RET(store_write_commit(t), MU_E_STORE);
	/* nothing of the failed batch is stored; the store works on */
	CHECK(store_has(s, b[N - 2].id) == 0);
	CHECK(store_has(s, b[1].id) == 1);
	CHECK(stat_of(s).count == N - 12);
	mkb(&b[N - 2], BK_MESSAGE, PRIO_ROUTINE, 5, FAR);
	CHECK_OK(put1(s, &b[N - 2], 100));
	CHECK(stat_of(s).count == N - 11);
	store_close(s);
	free(b);
	free(dir);
}

static int count_cred(void *ctx, const struct cred *c)
{
	unsigned *seen = ctx;

	seen[c->sign_pk[0] & 1]++;
	return 0;
}

static int stop_at_first(void *ctx, const struct cred *c)
{
	(void)c;
	++*(unsigned *)ctx;
	return 42;
}

static void test_creds_scan(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1 << 20);
	struct store_txn *t = NULL;
	struct cred c;
	uint8_t pk[MU_KEY_BYTES];
	unsigned seen[2] = { 0 }, calls = 0;

	CHECK_OK(store_scan_creds(s, count_cred, seen));
	CHECK(seen[0] + seen[1] == 0);
	CHECK_OK(store_write_begin(s, &t));
	for (int i = 0; i < 100; i++) { /* more than one growth step */
		randombytes_buf(pk, sizeof(pk));
		pk[0] = (uint8_t)(i & 1);
		fill_cred(&c, pk, 2000, "Member");
		CHECK_OK(store_put_cred(t, &c));
	}
	CHECK_OK(store_write_commit(t));
	CHECK_OK(store_scan_creds(s, count_cred, seen));
	CHECK(seen[0] == 50 && seen[1] == 50);
	CHECK_RET(store_scan_creds(s, stop_at_first, &calls), 42);
	CHECK(calls == 1);
	store_close(s);
	free(dir);
}

static void test_stat(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1 << 20);
	struct store_txn *t = NULL;
	struct store_stat st;
	struct bundle b;
	struct cred c;
	uint8_t pk[MU_KEY_BYTES];

	st = stat_of(s);
	CHECK(st.count == 0 && st.bytes == 0 && st.creds == 0 && st.revoked == 0 && st.evicted == 0);
	CHECK_OK(store_write_begin(s, &t));
	for (int i = 0; i < 5; i++) {
		mkb(&b, BK_MESSAGE, PRIO_URGENT, (uint64_t)i, FAR);
		CHECK_OK(put_in(t, &b, 100 * (size_t)(i + 1), NOW));
	}
	for (int i = 0; i < 2; i++) {
		randombytes_buf(pk, sizeof(pk));
		fill_cred(&c, pk, 5000, "Crew");
		CHECK_OK(store_put_cred(t, &c));
	}
	for (int i = 0; i < 3; i++) {
		randombytes_buf(pk, sizeof(pk));
		CHECK_OK(store_put_revocation(t, pk, 1, REVOKE_UNSPECIFIED));
	}
	CHECK_OK(store_write_commit(t));
	st = stat_of(s);
	CHECK(st.count == 5);
	CHECK(st.bytes == 1500);
	CHECK(st.creds == 2);
	CHECK(st.revoked == 3);
	CHECK(st.evicted == 0);
	store_close(s);
	free(dir);
}

static void test_busy(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1 << 20);
	struct store_txn *t = NULL, *t2 = NULL;
	uint64_t removed = 5;

	CHECK_OK(store_write_begin(s, &t));
	CHECK_RET(store_write_begin(s, &t2), -EBUSY);
	CHECK(t2 == NULL);
	CHECK_RET(store_purge_expired(s, 1, &removed), -EBUSY);
	CHECK(removed == 0);
	store_write_abort(t);
	CHECK_OK(store_purge_expired(s, 1, NULL));
	/* closing with a batch open aborts it */
	CHECK_OK(store_write_begin(s, &t));
	store_close(s);
	store_close(NULL);
	free(dir);
}

static void test_open_dir(void)
{
	char *base = test_tmpdir("store"), *dir = NULL;
	struct store *s = NULL;
	struct stat st;

	CHECK(asprintf(&dir, "%s/node", base) > 0);
	CHECK_OK(store_open(&s, dir, NULL));
	CHECK(stat(dir, &st) == 0);
	CHECK((st.st_mode & 0777) == 0700);
	store_close(s);
	/* a path under a file cannot be a store */
	s = (struct store *)1;
	free(dir);
	CHECK(asprintf(&dir, "%s/node/data.mdb/x", base) > 0);
	CHECK(store_open(&s, dir, NULL) < 0);
	CHECK(s == NULL);
	free(dir);
	free(base);
}

/* A store written by another schema is refused, not misread. */
static void test_open_schema(void)
{
	char *dir = test_tmpdir("store");
	struct store *s = open_quota(dir, 100, 1 << 20);
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	uint8_t v[4] = {0, 0, 0, 2};
	MDB_val k = {6, "schema"}, d = {4, v};

	store_close(s);
	s = NULL;
	CHECK(mdb_env_create(&env) == 0);
	CHECK(mdb_env_set_maxdbs(env, 8) == 0);
	CHECK(mdb_env_open(env, dir, 0, 0600) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	CHECK(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
	CHECK(mdb_put(txn, dbi, &k, &d, 0) == 0);
	CHECK(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
	CHECK_RET(store_open(&s, dir, NULL), MU_E_VERSION);
	CHECK(s == NULL);
	free(dir);
}

static const struct test tests[] = {
    {"/store/put-get/round-trip", test_round_trip},
    {"/store/put/bad-args", test_bad_args},
    {"/store/put/duplicate", test_duplicate},
    {"/store/batch/abort", test_batch_abort},
    {"/store/batch/commit-many", test_commit_many},
    {"/store/persist/reopen", test_persist},
    {"/store/has", test_has},
    {"/store/peek", test_peek},
    {"/store/delete", test_delete},
    {"/store/purge/expired", test_purge},
    {"/store/scan/order", test_scan_order},
    {"/store/scan/start-key", test_scan_start},
    {"/store/scan/early-stop", test_scan_stop},
    {"/store/quota/count", test_quota_count},
    {"/store/quota/bytes", test_quota_bytes},
    {"/store/quota/eviction-order", test_eviction_order},
    {"/store/quota/no-higher-for-lower", test_no_higher_for_lower},
    {"/store/quota/rollback", test_quota_rollback},
    {"/store/quota/creds-kept", test_quota_creds_kept},
    {"/store/quota/map-full", test_map_full},
    {"/store/revoked/put-and-check", test_revoked},
    {"/store/creds/latest-valid-until", test_creds_latest},
    {"/store/creds/scan", test_creds_scan},
    {"/store/creds/answers-follow-writes", test_answers_follow_writes},
    {"/store/batch/direct-puts", test_direct_puts},
    {"/store/stat/counts", test_stat},
    {"/store/batch/busy", test_busy},
    {"/store/open/dir-mode", test_open_dir},
    {"/store/open/schema-mismatch", test_open_schema},
};

TEST_MAIN(tests)
