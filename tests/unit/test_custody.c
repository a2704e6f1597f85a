/* Custody (node/custody.c) and what it rests on in the store: tombstones
 * and custody records. Time is injected: puts take meta.received, the
 * sweep and purge take now. The node is a bare struct node holding a store
 * (no loop: custody then arms no timer). */
#include <lmdb.h>
#include <sodium.h>

#include "../../node/node_int.h"
#include "../../node/receipt.h"
#include "../../node/wire.h"
#include "testutil.h"

#define T0    1780315200000ull /* 2026-06-01T12:00:00Z */
#define DAY   86400000ull
#define GRACE 2000ull

struct fx {
	char *dir;
	struct node n;
	struct mu_identity *ca, *para, *archive;
	uint8_t enc[BUNDLE_ENC_MAX];
};

static struct mu_identity *new_id(void)
{
	struct mu_identity *id = NULL;

	CHECK_OK(identity_generate(&id));
	return id;
}

static void put_enc(struct fx *f, struct bundle *b, size_t len, uint64_t received)
{
	struct store_meta meta = { .received = received };
	struct store_txn *t = NULL;

	CHECK_OK(store_write_begin(f->n.store, &t));
	CHECK_OK(store_put_bundle(t, b, f->enc, len, &meta));
	CHECK_OK(store_write_commit(t));
}

/* Issues and stores a credential with role for id, as its bundle would. */
static void enrol(struct fx *f, const struct mu_identity *id, uint8_t role)
{
	struct cred c = { .role = role, .valid_from = T0 - DAY, .valid_until = T0 + 30 * DAY };
	uint8_t enc[CRED_ENC_MAX];
	struct store_txn *t = NULL;

	strcpy(c.subject, role == ROLE_HOSPITAL_ARCHIVE ? "RH-ARCHIVE" : "EAS-1");
	strcpy(c.name, "Test");
	strcpy(c.org, "Test Trust");
	memcpy(c.sign_pk, identity_sign_pk(id), MU_KEY_BYTES);
	memcpy(c.kx_pk, identity_kx_pk(id), MU_KEY_BYTES);
	CHECK_LEN(cred_issue(enc, sizeof(enc), &c, f->ca));
	CHECK_OK(store_write_begin(f->n.store, &t));
	CHECK_OK(store_put_cred(t, &c));
	CHECK_OK(store_write_commit(t));
}

static void fx_init(struct fx *f, const char *tag)
{
	memset(f, 0, sizeof(*f));
	f->dir = test_tmpdir(tag);
	CHECK_OK(store_open(&f->n.store, f->dir, NULL));
	f->n.role = NODE_FIELD;
	f->n.custody.grace_ms = GRACE;
	f->ca = new_id();
	f->para = new_id();
	f->archive = new_id();
	enrol(f, f->para, ROLE_PARAMEDIC);
	enrol(f, f->archive, ROLE_HOSPITAL_ARCHIVE);
}

static void fx_free(struct fx *f)
{
	store_close(f->n.store);
	identity_free(f->ca);
	identity_free(f->para);
	identity_free(f->archive);
	free(f->dir);
}

/* A message from the paramedic, stored at received; its id in id. */
static size_t message(struct fx *f, uint64_t created, uint8_t id[static BUNDLE_ID_BYTES], bool store)
{
	static const uint8_t text[] = "ciphertext stand-in";
	struct bundle b = { .kind = BK_MESSAGE, .prio = PRIO_ROUTINE, .hop_limit = 8, .created = created,
			    .expires = created + DAY, .dest_type = DEST_ALL, .payload = text,
			    .payload_len = sizeof(text) };
	int len = CHECK_LEN(bundle_seal(f->enc, sizeof(f->enc), &b, f->para));

	memcpy(id, b.id, BUNDLE_ID_BYTES);
	if (store)
		put_enc(f, &b, (size_t)len, created);
	return (size_t)len;
}

/* A receipt of type listing ids, signed by signer, stored; its id in id. */
static void receipt(struct fx *f, const struct mu_identity *signer, uint8_t type, uint8_t (*ids)[BUNDLE_ID_BYTES],
		    size_t n, uint64_t created, uint8_t id[static BUNDLE_ID_BYTES])
{
	static uint8_t payload[RECEIPT_ENC_MAX];
	int plen = CHECK_LEN(receipt_encode(payload, sizeof(payload), type, (const uint8_t(*)[BUNDLE_ID_BYTES])ids, n));
	struct bundle b = { .kind = BK_RECEIPT, .prio = PRIO_ROUTINE, .hop_limit = 8, .created = created,
			    .expires = created + 7 * DAY, .dest_type = DEST_ALL, .payload = payload,
			    .payload_len = (size_t)plen };
	int len = CHECK_LEN(bundle_seal(f->enc, sizeof(f->enc), &b, signer));

	memcpy(id, b.id, BUNDLE_ID_BYTES);
	put_enc(f, &b, (size_t)len, created);
}

static int held(struct fx *f, const uint8_t id[static BUNDLE_ID_BYTES])
{
	struct store_info info;

	return store_peek(f->n.store, id, &info) == 0;
}

static int scanned_id;
static const uint8_t *scan_want;

static int scan_find(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES])
{
	(void)ctx;
	(void)created;
	scanned_id |= !memcmp(id, scan_want, BUNDLE_ID_BYTES);
	return 0;
}

static int in_time_index(struct store *s, const uint8_t id[static BUNDLE_ID_BYTES])
{
	scanned_id = 0;
	scan_want = id;
	CHECK_OK(store_scan_time(s, 0, NULL, scan_find, NULL));
	return scanned_id;
}

static int in_evict_index(struct store *s, const uint8_t id[static BUNDLE_ID_BYTES])
{
	scanned_id = 0;
	scan_want = id;
	CHECK_OK(store_scan_evict(s, scan_find, NULL));
	return scanned_id;
}

/* ---- store: tombstones ---- */

static void test_tombstone(void)
{
	struct fx f;
	uint8_t id[BUNDLE_ID_BYTES], other[BUNDLE_ID_BYTES], buf[BUNDLE_ENC_MAX];
	struct store_stat st;
	struct store_txn *t = NULL;
	struct bundle b;
	size_t len, mlen;
	uint64_t removed;

	fx_init(&f, "tomb");
	mlen = message(&f, T0, id, true);
	message(&f, T0 + 1, other, true);
	CHECK_OK(store_stat(f.n.store, &st));
	CHECK(st.messages == 2 && st.message_bytes == 2 * mlen && st.tombstones == 0);
	CHECK(in_evict_index(f.n.store, id));

	CHECK_OK(store_write_begin(f.n.store, &t));
	CHECK_OK(store_tombstone(t, id));
	CHECK_OK(store_tombstone(t, id)); /* already one: nothing more */
	uint8_t absent[BUNDLE_ID_BYTES] = { 9 };
	CHECK_RET(store_tombstone(t, absent), MU_E_NOTFOUND);
	CHECK_OK(store_write_commit(t));

	/* the content is gone ... */
	CHECK_RET(store_get(f.n.store, id, buf, sizeof(buf), &len, NULL), MU_E_NOTFOUND);
	CHECK(!held(&f, id));
	CHECK(!in_evict_index(f.n.store, id));
	/* ... the id is still known: sync keeps listing it, a copy is a duplicate */
	CHECK(store_has(f.n.store, id) == 1);
	CHECK(in_time_index(f.n.store, id));
	message(&f, T0, id, false);
	CHECK_OK(bundle_decode(&b, f.enc, mlen));
	CHECK_OK(store_write_begin(f.n.store, &t));
	CHECK_RET(store_put_bundle(t, &b, f.enc, mlen, &(struct store_meta){ .received = T0 + 5 }), MU_E_EXISTS);
	store_write_abort(t);
	CHECK_OK(store_stat(f.n.store, &st));
	CHECK(st.count == 1 && st.messages == 1 && st.message_bytes == mlen && st.tombstones == 1);
	CHECK(held(&f, other));

	/* it survives a restart */
	store_close(f.n.store);
	CHECK_OK(store_open(&f.n.store, f.dir, NULL));
	CHECK(store_has(f.n.store, id) == 1 && !held(&f, id));

	/* and leaves at the bundle's expiry, after which a copy is new again */
	CHECK_OK(store_purge_expired(f.n.store, T0 + DAY - 1, &removed));
	CHECK(removed == 0 && store_has(f.n.store, id) == 1);
	CHECK_OK(store_purge_expired(f.n.store, T0 + DAY, &removed));
	CHECK(removed == 1 && store_has(f.n.store, id) == 0 && !in_time_index(f.n.store, id));
	CHECK_OK(store_stat(f.n.store, &st));
	CHECK(st.tombstones == 0 && st.messages == 1);
	put_enc(&f, &b, mlen, T0 + DAY);
	CHECK(held(&f, id));
	fx_free(&f);
}

/* A store from before the message totals existed counts them on open. */
static void test_totals_upgrade(void)
{
	struct fx f;
	uint8_t id[BUNDLE_ID_BYTES];
	struct store_stat st;
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi meta;
	size_t mlen;

	fx_init(&f, "upgrade");
	mlen = message(&f, T0, id, true);
	store_close(f.n.store);
	f.n.store = NULL;
	CHECK(mdb_env_create(&env) == 0);
	CHECK(mdb_env_set_maxdbs(env, 16) == 0);
	CHECK(mdb_env_open(env, f.dir, 0, 0600) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	CHECK(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
	for (const char *const *k = (const char *const[]){ "msgs", "msg_bytes", "tombs", NULL }; *k; k++)
		CHECK(mdb_del(txn, meta, &(MDB_val){ .mv_size = strlen(*k), .mv_data = (void *)*k }, NULL) == 0);
	CHECK(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
	CHECK_OK(store_open(&f.n.store, f.dir, NULL));
	CHECK_OK(store_stat(f.n.store, &st));
	CHECK(st.messages == 1 && st.message_bytes == mlen && st.count == 1 && st.tombstones == 0);
	fx_free(&f);
}

/* ---- store: custody records ---- */

static void test_records(void)
{
	struct fx f;
	uint8_t id[BUNDLE_ID_BYTES] = { 1 }, id2[BUNDLE_ID_BYTES] = { 2 };
	struct store_txn *t = NULL;
	struct store_stat st;
	uint64_t at, removed;

	fx_init(&f, "records");
	CHECK_RET(store_custody_get(f.n.store, id, &at), MU_E_NOTFOUND);
	CHECK_OK(store_write_begin(f.n.store, &t));
	CHECK_OK(store_custody_put(t, id, T0 + 10, T0 + DAY));
	CHECK_OK(store_custody_put(t, id, T0 + 5, T0 + 2)); /* earlier time kept, later expiry kept */
	CHECK_OK(store_custody_put(t, id, T0 + 20, T0 + 3));
	CHECK_OK(store_custody_put(t, id2, T0, T0 + 100));
	CHECK_OK(store_write_commit(t));
	CHECK_OK(store_custody_get(f.n.store, id, &at));
	CHECK(at == T0 + 5);
	CHECK_OK(store_stat(f.n.store, &st));
	CHECK(st.custody == 2);
	/* records leave with the receipt that made them */
	CHECK_OK(store_purge_expired(f.n.store, T0 + 100, &removed));
	CHECK(removed == 0);
	CHECK_RET(store_custody_get(f.n.store, id2, &at), MU_E_NOTFOUND);
	CHECK_OK(store_custody_get(f.n.store, id, &at));
	CHECK_OK(store_purge_expired(f.n.store, T0 + DAY, &removed));
	CHECK_RET(store_custody_get(f.n.store, id, &at), MU_E_NOTFOUND);
	fx_free(&f);
}

/* The cap is filled with raw LMDB puts (one transaction, no child
 * transactions), which keeps the test fast under ASan. */
static void test_records_cap(void)
{
	struct fx f;
	uint8_t id[BUNDLE_ID_BYTES] = { 0 }, rec[16] = { 0 };
	struct store_txn *t = NULL;
	struct store_stat st;
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;

	fx_init(&f, "cap");
	store_close(f.n.store);
	f.n.store = NULL;
	CHECK(mdb_env_create(&env) == 0);
	CHECK(mdb_env_set_maxdbs(env, 16) == 0);
	CHECK(mdb_env_open(env, f.dir, 0, 0600) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	CHECK(mdb_dbi_open(txn, "custody", 0, &dbi) == 0);
	put_be64(rec, T0);
	put_be64(rec + 8, T0 + DAY);
	for (uint32_t i = 1; i < STORE_CUSTODY_MAX; i++) {
		put_be64(id, i);
		CHECK(mdb_put(txn, dbi, &(MDB_val){ .mv_size = BUNDLE_ID_BYTES, .mv_data = id },
			      &(MDB_val){ .mv_size = sizeof(rec), .mv_data = rec }, MDB_APPEND) == 0);
	}
	CHECK(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
	CHECK_OK(store_open(&f.n.store, f.dir, NULL));

	memset(id, 0, sizeof(id));
	CHECK_OK(store_write_begin(f.n.store, &t));
	CHECK_OK(store_custody_put(t, id, T0, T0 + DAY)); /* the last free record */
	id[31] = 1;
	CHECK_RET(store_custody_put(t, id, T0, T0 + DAY), MU_E_QUOTA);
	put_be64(id, 7);
	memset(id + 8, 0, BUNDLE_ID_BYTES - 8);
	CHECK_OK(store_custody_put(t, id, T0 - 1, T0 + DAY)); /* an existing record still updates */
	CHECK_OK(store_write_commit(t));
	CHECK_OK(store_stat(f.n.store, &st));
	CHECK(st.custody == STORE_CUSTODY_MAX);
	fx_free(&f);
}

/* ---- custody ---- */

static void test_archive_honoured(void)
{
	struct fx f;
	uint8_t m[3][BUNDLE_ID_BYTES], r[BUNDLE_ID_BYTES];
	struct custody_stat cs;
	uint64_t deleted, at;
	size_t mlen;

	fx_init(&f, "honoured");
	mlen = message(&f, T0, m[0], true);
	message(&f, T0 + 1, m[1], true);
	message(&f, T0 + 2, m[2], true); /* not in the receipt */
	CHECK_OK(custody_stat(&f.n, &cs));
	CHECK(cs.unarchived == 3 && cs.unarchived_bytes == 3 * mlen && cs.awaiting == 0 && cs.tombstones == 0);

	receipt(&f, f.archive, RECEIPT_CUSTODY, m, 2, T0 + 100, r);
	CHECK_OK(custody_receipt(&f.n, r, T0 + 1000));
	CHECK_OK(store_custody_get(f.n.store, m[0], &at));
	CHECK(at == T0 + 1000); /* this node's clock, not the receipt's */
	CHECK_OK(custody_stat(&f.n, &cs));
	CHECK(cs.unarchived == 1 && cs.awaiting == 2 && cs.awaiting_bytes == 2 * mlen && cs.records == 2);

	/* grace respected */
	CHECK_OK(custody_sweep(&f.n, T0 + 1000 + GRACE - 1, &deleted));
	CHECK(deleted == 0 && held(&f, m[0]) && held(&f, m[1]));
	CHECK_OK(custody_sweep(&f.n, T0 + 1000 + GRACE, &deleted));
	CHECK(deleted == 2);
	CHECK(!held(&f, m[0]) && !held(&f, m[1]) && held(&f, m[2]));
	CHECK(store_has(f.n.store, m[0]) == 1 && store_has(f.n.store, m[1]) == 1);
	CHECK(held(&f, r)); /* the receipt stays: it carries the proof on */
	CHECK_OK(custody_stat(&f.n, &cs));
	CHECK(cs.unarchived == 1 && cs.awaiting == 0 && cs.tombstones == 2 && cs.deleted == 2);
	CHECK_OK(custody_sweep(&f.n, T0 + 1000 + 2 * GRACE, &deleted));
	CHECK(deleted == 0);
	fx_free(&f);
}

static void test_non_archive_ignored(void)
{
	struct fx f;
	uint8_t m[1][BUNDLE_ID_BYTES], r[BUNDLE_ID_BYTES];
	struct custody_stat cs;
	uint64_t deleted, at;

	fx_init(&f, "ignored");
	message(&f, T0, m[0], true);
	receipt(&f, f.para, RECEIPT_CUSTODY, m, 1, T0 + 100, r);
	CHECK_RET(custody_receipt(&f.n, r, T0 + 1000), MU_E_UNTRUSTED);
	CHECK_RET(store_custody_get(f.n.store, m[0], &at), MU_E_NOTFOUND);
	/* other receipt types, even from the archive, are not custody */
	receipt(&f, f.archive, RECEIPT_READ, m, 1, T0 + 101, r);
	CHECK_OK(custody_receipt(&f.n, r, T0 + 1000));
	CHECK_RET(store_custody_get(f.n.store, m[0], &at), MU_E_NOTFOUND);
	/* nor is a message */
	CHECK_OK(custody_receipt(&f.n, m[0], T0 + 1000));
	CHECK_OK(custody_sweep(&f.n, T0 + DAY - 1, &deleted));
	CHECK(deleted == 0 && held(&f, m[0]));
	CHECK_OK(custody_stat(&f.n, &cs));
	CHECK(cs.unarchived == 1 && cs.records == 0);
	fx_free(&f);
}

/* A copy that arrives after the receipt is deleted after the grace too;
 * ids held as other kinds (a credential, a receipt) are never touched. */
static void test_later_copy(void)
{
	struct fx f;
	uint8_t m[3][BUNDLE_ID_BYTES], r[BUNDLE_ID_BYTES], r2[BUNDLE_ID_BYTES];
	uint64_t deleted, at;

	fx_init(&f, "later");
	message(&f, T0, m[0], false);
	receipt(&f, f.archive, RECEIPT_READ, m, 1, T0 + 50, m[1]); /* a stored non-message */
	receipt(&f, f.archive, RECEIPT_CUSTODY, m, 2, T0 + 100, r);
	CHECK_OK(custody_receipt(&f.n, r, T0 + 1000));
	CHECK_OK(store_custody_get(f.n.store, m[0], &at));
	CHECK_RET(store_custody_get(f.n.store, m[1], &at), MU_E_NOTFOUND);
	message(&f, T0, m[0], true); /* the copy arrives */
	CHECK_OK(custody_sweep(&f.n, T0 + 1000 + GRACE, &deleted));
	CHECK(deleted == 1 && !held(&f, m[0]) && store_has(f.n.store, m[0]) == 1);
	CHECK(held(&f, m[1]));
	/* a receipt naming a tombstone records nothing new */
	memcpy(m[2], m[0], BUNDLE_ID_BYTES);
	receipt(&f, f.archive, RECEIPT_CUSTODY, &m[2], 1, T0 + 200, r2);
	CHECK_OK(custody_receipt(&f.n, r2, T0 + 5000));
	CHECK_OK(store_custody_get(f.n.store, m[0], &at));
	CHECK(at == T0 + 1000);
	fx_free(&f);
}

static void test_hospital_keeps(void)
{
	struct fx f;
	uint8_t m[1][BUNDLE_ID_BYTES], r[BUNDLE_ID_BYTES];
	uint64_t deleted, at;

	fx_init(&f, "hospital");
	f.n.role = NODE_HOSPITAL;
	message(&f, T0, m[0], true);
	receipt(&f, f.archive, RECEIPT_CUSTODY, m, 1, T0 + 100, r);
	CHECK_OK(custody_receipt(&f.n, r, T0 + 1000));
	CHECK_RET(store_custody_get(f.n.store, m[0], &at), MU_E_NOTFOUND);
	CHECK_OK(custody_sweep(&f.n, T0 + DAY - 1, &deleted));
	CHECK(deleted == 0 && held(&f, m[0]));
	fx_free(&f);
}

static void test_grace_zero(void)
{
	struct fx f;
	uint8_t m[1][BUNDLE_ID_BYTES], r[BUNDLE_ID_BYTES];
	uint64_t deleted;

	fx_init(&f, "zero");
	f.n.custody.grace_ms = 0;
	message(&f, T0, m[0], true);
	receipt(&f, f.archive, RECEIPT_CUSTODY, m, 1, T0 + 100, r);
	CHECK_OK(custody_receipt(&f.n, r, T0 + 1000));
	CHECK_OK(custody_sweep(&f.n, T0 + 1000, &deleted));
	CHECK(deleted == 1 && !held(&f, m[0]));
	fx_free(&f);
}

static const struct test tests[] = {
	{ "/store/tombstone", test_tombstone },
	{ "/store/totals-upgrade", test_totals_upgrade },
	{ "/store/custody/records", test_records },
	{ "/store/custody/cap", test_records_cap },
	{ "/custody/archive-honoured", test_archive_honoured },
	{ "/custody/non-archive-ignored", test_non_archive_ignored },
	{ "/custody/later-copy", test_later_copy },
	{ "/custody/hospital-keeps", test_hospital_keeps },
	{ "/custody/grace-zero", test_grace_zero },
};

TEST_MAIN(tests)
