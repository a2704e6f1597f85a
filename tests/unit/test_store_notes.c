/* The store's notes (node/store.h "notes"): put/get/del/clear in a batch,
 * scan by kind in id order across chunks, purge by expiry, the limits, and
 * a store made before the notes database existed. */
#include <errno.h>
#include <lmdb.h>
#include <sodium.h>

#include "../../node/store.h"
#include "testutil.h"

#define FAR  1000000000ull
#define MANY 1000 /* more than one scan chunk */

static struct store *open_store(const char *dir)
{
	struct store *s = NULL;

	CHECK_OK(store_open(&s, dir, NULL));
	CHECK(s);
	return s;
}

static void idn(uint8_t id[static BUNDLE_ID_BYTES], unsigned n)
{
	crypto_generichash(id, BUNDLE_ID_BYTES, (const uint8_t *)&n, sizeof(n), NULL, 0);
}

static void put1(struct store *s, uint8_t kind, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t expires,
		 const void *data, size_t len)
{
	struct store_txn *t = NULL;

	CHECK_OK(store_write_begin(s, &t));
	CHECK_OK(store_note_put(t, kind, id, expires, data, len));
	CHECK_OK(store_write_commit(t));
}

struct seen {
	size_t n;
	uint8_t last[BUNDLE_ID_BYTES];
	uint64_t expires_sum;
	size_t len_sum;
	int stop_at; /* return 7 at this note (1-based); 0: never */
	struct store *s;
	uint8_t kind;
};

static int collect(void *ctx, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t expires, const uint8_t *data,
		   size_t len)
{
	struct seen *w = ctx;
	uint8_t buf[STORE_NOTE_DATA_MAX];
	size_t glen = 0;

	/* id order, no repeats across chunks */
	CHECK(!w->n || memcmp(w->last, id, BUNDLE_ID_BYTES) < 0);
	memcpy(w->last, id, BUNDLE_ID_BYTES);
	w->n++;
	w->expires_sum += expires;
	w->len_sum += len;
	/* fn runs with no transaction open: reads work here */
	if (w->s) {
		CHECK_OK(store_note_get(w->s, w->kind, id, NULL, buf, sizeof(buf), &glen));
		CHECK(glen == len && !memcmp(buf, data, len));
	}
	return w->stop_at && (int)w->n == w->stop_at ? 7 : 0;
}

static void test_round_trip(void)
{
	char *dir = test_tmpdir("notes");
	struct store *s = open_store(dir);
	uint8_t a[BUNDLE_ID_BYTES], b[BUNDLE_ID_BYTES], buf[STORE_NOTE_DATA_MAX];
	uint64_t exp = 0;
	size_t len = 0;
	struct seen w = {0};

	idn(a, 1);
	idn(b, 2);
	put1(s, 3, a, 500, "alpha", 5);
	put1(s, 4, a, 600, "beta!!", 6); /* same id, other kind: another note */
	put1(s, 3, b, FAR, NULL, 0);
	CHECK_OK(store_note_get(s, 3, a, &exp, buf, sizeof(buf), &len));
	CHECK(exp == 500 && len == 5 && !memcmp(buf, "alpha", 5));
	CHECK_OK(store_note_get(s, 4, a, &exp, buf, sizeof(buf), &len));
	CHECK(exp == 600 && len == 6 && !memcmp(buf, "beta!!", 6));
	CHECK_OK(store_note_get(s, 3, b, &exp, buf, sizeof(buf), &len));
	CHECK(exp == FAR && len == 0);
	CHECK_RET(store_note_get(s, 5, a, NULL, buf, sizeof(buf), &len), MU_E_NOTFOUND);
	/* replace */
	put1(s, 3, a, 700, "gamma-gamma", 11);
	CHECK_OK(store_note_get(s, 3, a, &exp, buf, sizeof(buf), &len));
	CHECK(exp == 700 && len == 11 && !memcmp(buf, "gamma-gamma", 11));
	/* a scan sees its kind only */
	CHECK_OK(store_note_scan(s, 3, collect, &w));
	CHECK(w.n == 2 && w.expires_sum == 700 + FAR && w.len_sum == 11);
	memset(&w, 0, sizeof(w));
	CHECK_OK(store_note_scan(s, 4, collect, &w));
	CHECK(w.n == 1 && w.expires_sum == 600);
	memset(&w, 0, sizeof(w));
	CHECK_OK(store_note_scan(s, 2, collect, &w));
	CHECK(w.n == 0);
	/* notes are durable */
	store_close(s);
	s = open_store(dir);
	CHECK_OK(store_note_get(s, 4, a, &exp, buf, sizeof(buf), &len));
	CHECK(exp == 600 && len == 6);
	store_close(s);
	free(dir);
}

static void test_delete(void)
{
	char *dir = test_tmpdir("notes");
	struct store *s = open_store(dir);
	struct store_txn *t = NULL;
	uint8_t a[BUNDLE_ID_BYTES], b[BUNDLE_ID_BYTES], buf[8];
	uint64_t removed = 9;
	size_t len;
	struct seen w = {0};

	idn(a, 1);
	idn(b, 2);
	put1(s, 1, a, FAR, "x", 1);
	put1(s, 1, b, FAR, "y", 1);
	put1(s, 2, a, FAR, "z", 1);
	CHECK_OK(store_write_begin(s, &t));
	CHECK_OK(store_note_del(t, 1, a));
	CHECK_OK(store_note_del(t, 1, a)); /* absent: still 0 */
	CHECK_OK(store_note_del(t, 9, b));
	/* reads through the batch see the delete */
	CHECK_RET(store_note_get(s, 1, a, NULL, buf, sizeof(buf), &len), MU_E_NOTFOUND);
	CHECK_OK(store_write_commit(t));
	CHECK_RET(store_note_get(s, 1, a, NULL, buf, sizeof(buf), &len), MU_E_NOTFOUND);
	CHECK_OK(store_note_get(s, 2, a, NULL, buf, sizeof(buf), &len));
	/* clear: one kind, all of it */
	for (unsigned i = 10; i < 10 + MANY; i++) {
		uint8_t id[BUNDLE_ID_BYTES];

		idn(id, i);
		put1(s, 1, id, FAR, NULL, 0);
	}
	CHECK_OK(store_write_begin(s, &t));
	CHECK_OK(store_note_clear(t, 1, &removed));
	CHECK(removed == MANY + 1);
	CHECK_OK(store_write_commit(t));
	CHECK_OK(store_note_scan(s, 1, collect, &w));
	CHECK(w.n == 0);
	CHECK_OK(store_note_get(s, 2, a, NULL, buf, sizeof(buf), &len));
	store_close(s);
	free(dir);
}

/* A batch that ends without a commit takes its notes with it; a batch
 * that commits keeps notes and bundles together. */
static void test_batch_abort(void)
{
	char *dir = test_tmpdir("notes");
	struct store *s = open_store(dir);
	struct store_txn *t = NULL;
	struct bundle b = {.kind = BK_MESSAGE, .prio = PRIO_ROUTINE, .created = 10, .expires = FAR};
	struct store_meta m = {.received = 10};
	uint8_t enc[40] = {1}, buf[8];
	size_t len;

	randombytes_buf(b.id, sizeof(b.id));
	CHECK_OK(store_write_begin(s, &t));
	CHECK_OK(store_put_bundle(t, &b, enc, sizeof(enc), &m));
	CHECK_OK(store_note_put(t, 5, b.id, b.expires, "n", 1));
	store_write_abort(t);
	CHECK(store_has(s, b.id) == 0);
	CHECK_RET(store_note_get(s, 5, b.id, NULL, buf, sizeof(buf), &len), MU_E_NOTFOUND);
	CHECK_OK(store_write_begin(s, &t));
	CHECK_OK(store_put_bundle(t, &b, enc, sizeof(enc), &m));
	CHECK_OK(store_note_put(t, 5, b.id, b.expires, "n", 1));
	CHECK_OK(store_write_commit(t));
	store_close(s);
	s = open_store(dir);
	CHECK(store_has(s, b.id) == 1);
	CHECK_OK(store_note_get(s, 5, b.id, NULL, buf, sizeof(buf), &len));
	CHECK(len == 1 && buf[0] == 'n');
	/* notes are no bundles: not in the totals */
	{
		struct store_stat st;

		CHECK_OK(store_stat(s, &st));
		CHECK(st.count == 1);
	}
	store_close(s);
	free(dir);
}

static void test_limits(void)
{
	char *dir = test_tmpdir("notes");
	struct store *s = open_store(dir);
	struct store_txn *t = NULL;
	uint8_t a[BUNDLE_ID_BYTES], data[STORE_NOTE_DATA_MAX + 1], buf[STORE_NOTE_DATA_MAX];
	size_t len = 0;

	idn(a, 1);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	CHECK_OK(store_write_begin(s, &t));
	CHECK_RET(store_note_put(t, 1, a, FAR, data, STORE_NOTE_DATA_MAX + 1), MU_E_TOOBIG);
	CHECK_RET(store_note_put(t, 1, a, FAR, NULL, 3), -EINVAL);
	/* a refused put leaves the batch usable */
	CHECK_OK(store_note_put(t, 1, a, FAR, data, STORE_NOTE_DATA_MAX));
	CHECK_OK(store_write_commit(t));
	CHECK_RET(store_note_get(s, 1, a, NULL, buf, 10, &len), MU_E_TOOBIG);
	CHECK(len == STORE_NOTE_DATA_MAX);
	CHECK_OK(store_note_get(s, 1, a, NULL, buf, sizeof(buf), &len));
	CHECK(len == STORE_NOTE_DATA_MAX && !memcmp(buf, data, len));
	CHECK_RET(store_note_put(NULL, 1, a, FAR, NULL, 0), -EINVAL);
	CHECK_RET(store_note_del(NULL, 1, a), -EINVAL);
	store_close(s);
	free(dir);
}

static void test_scan_chunks(void)
{
	char *dir = test_tmpdir("notes");
	struct store *s = open_store(dir);
	struct store_txn *t = NULL;
	struct seen w = {0};

	CHECK_OK(store_write_begin(s, &t));
	for (unsigned i = 0; i < MANY; i++) {
		uint8_t id[BUNDLE_ID_BYTES], d[4];

		idn(id, i);
		memcpy(d, &i, sizeof(d));
		CHECK_OK(store_note_put(t, 6, id, i, d, sizeof(d)));
		CHECK_OK(store_note_put(t, i % 2 ? 5 : 7, id, 1, NULL, 0)); /* neighbours on both sides */
	}
	CHECK_OK(store_write_commit(t));
	w.s = s;
	w.kind = 6;
	CHECK_OK(store_note_scan(s, 6, collect, &w));
	CHECK(w.n == MANY && w.len_sum == 4 * MANY && w.expires_sum == (uint64_t)MANY * (MANY - 1) / 2);
	memset(&w, 0, sizeof(w));
	w.stop_at = 300;
	CHECK_RET(store_note_scan(s, 6, collect, &w), 7);
	CHECK(w.n == 300);
	memset(&w, 0, sizeof(w));
	CHECK_OK(store_note_scan(s, 0xff, collect, &w));
	CHECK(w.n == 0);
	store_close(s);
	free(dir);
}

static void test_purge(void)
{
	char *dir = test_tmpdir("notes");
	struct store *s = open_store(dir);
	struct store_txn *t = NULL;
	uint8_t id[BUNDLE_ID_BYTES], buf[8];
	uint64_t removed = 0;
	size_t len;
	struct seen w = {0};

	for (unsigned i = 0; i < 10; i++) {
		idn(id, i);
		put1(s, (uint8_t)(1 + i % 3), id, 100 + i, NULL, 0); /* 100..109 */
	}
	idn(id, 99);
	put1(s, 1, id, STORE_NOTE_KEEP, "k", 1);
	CHECK_OK(store_write_begin(s, &t));
	CHECK_RET(store_note_purge(s, 200, &removed), -EBUSY);
	store_write_abort(t);
	CHECK_OK(store_note_purge(s, 104, &removed)); /* expires <= now go */
	CHECK(removed == 5);
	CHECK_OK(store_note_purge(s, 104, &removed));
	CHECK(removed == 0);
	CHECK_OK(store_note_purge(s, UINT64_MAX - 1, &removed));
	CHECK(removed == 5);
	CHECK_OK(store_note_get(s, 1, id, NULL, buf, sizeof(buf), &len));
	for (uint8_t k = 1; k <= 3; k++)
		CHECK_OK(store_note_scan(s, k, collect, &w));
	CHECK(w.n == 1);
	store_close(s);
	free(dir);
}

/* A store whose LMDB environment has no "notes" database (made before
 * it existed): reads find nothing, a delete is a no-op, and the first put
 * in a batch creates it. */
static void test_old_store(void)
{
	char *dir = test_tmpdir("notes");
	struct store *s = open_store(dir);
	struct store_txn *t = NULL;
	uint8_t a[BUNDLE_ID_BYTES], buf[8];
	uint64_t removed = 3;
	size_t len;
	struct seen w = {0};
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;

	idn(a, 1);
	store_close(s);
	/* no note call has run: the database must not exist yet */
	CHECK(!mdb_env_create(&env) && !mdb_env_set_maxdbs(env, 16));
	CHECK(!mdb_env_open(env, dir, MDB_RDONLY, 0600));
	CHECK(!mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
	CHECK(mdb_dbi_open(txn, "notes", 0, &dbi) == MDB_NOTFOUND);
	mdb_txn_abort(txn);
	mdb_env_close(env);

	s = open_store(dir);
	CHECK_RET(store_note_get(s, 1, a, NULL, buf, sizeof(buf), &len), MU_E_NOTFOUND);
	CHECK_OK(store_write_begin(s, &t));
	CHECK_OK(store_note_del(t, 1, a));
	CHECK_OK(store_note_clear(t, 1, &removed));
	CHECK(removed == 0);
	CHECK_OK(store_note_scan(s, 1, collect, &w)); /* through the batch: nothing, creates nothing */
	CHECK(w.n == 0);
	CHECK_OK(store_note_put(t, 1, a, FAR, "v", 1)); /* creates it in the batch */
	CHECK_OK(store_note_get(s, 1, a, NULL, buf, sizeof(buf), &len));
	store_write_abort(t); /* and the abort takes it away again */
	CHECK_RET(store_note_get(s, 1, a, NULL, buf, sizeof(buf), &len), MU_E_NOTFOUND);
	put1(s, 1, a, FAR, "v", 1);
	store_close(s);
	s = open_store(dir);
	CHECK_OK(store_note_get(s, 1, a, NULL, buf, sizeof(buf), &len));
	CHECK(len == 1 && buf[0] == 'v');
	store_close(s);
	free(dir);
}

static const struct test tests[] = {
    {"/store/notes/round-trip", test_round_trip},   {"/store/notes/delete-and-clear", test_delete},
    {"/store/notes/batch-abort", test_batch_abort}, {"/store/notes/limits", test_limits},
    {"/store/notes/scan-chunks", test_scan_chunks}, {"/store/notes/purge", test_purge},
    {"/store/notes/old-store", test_old_store},
};

TEST_MAIN(tests)
