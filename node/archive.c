/* The hospital archive (contract and layouts in archive.h and
 * docs/archive.md). Every write is one LMDB transaction that changes the
 * item, appends its audit entry and updates the counters together: inside
 * a batch it is a child transaction, so a failed write leaves the batch as
 * it was. The audit head (seq, hash) is cached in memory and restored when
 * a write or a batch does not commit.
 *
 * Item keys live in a second environment, so the two commit separately;
 * the keys environment always commits first. For a put, a crash between
 * leaves a key for no item (harmless). For an erasure, it leaves the key
 * destroyed with the item's record still live: content already unreadable,
 * and the id in the keys environment's "pending" list, from which the next
 * open writes the stub and the 'erased' entry. Never the other way round,
 * which would leave the audit saying erased while backups stay readable. */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../crypto/keystore.h"
#include "archive.h"
#include "archive_int.h"
#include "err.h"
#include "log.h"
#include "wire.h"

#define DATA_KEY_BYTES   32
#define SEALED_KEY_BYTES (DATA_KEY_BYTES + MU_SEAL_OVERHEAD)
#define NONCE_BYTES      24
#define TAG_BYTES        16
#define ITEM_KEY_BYTES   ARCHIVE_ITEM_KEY_BYTES
#define AD_BUNDLE        1 /* associated data: id || role */
#define AD_CONTENT       2
_Static_assert(DATA_KEY_BYTES == ARCHIVE_DATA_KEY_BYTES, "data key size");

static const char record_tag[] = "muster/archive-record/1:";

struct archive {
	MDB_env *env;
	MDB_dbi items, audit, meta;
	MDB_dbi chunks; /* manifest id || index u32 -> chunk item id (derived, see archive_put_chunk) */
	MDB_txn *txn;   /* the open batch, or NULL */
	MDB_txn *rtxn;  /* the read transaction of a scan in progress, or NULL */
	/* the keys environment (archive_keys.c) */
	struct archive_keys *keys;
	bool owe_shred;  /* the batch destroyed a key: compact after commit */
	bool legacy;     /* test: write version 1 records */
	int crash_stage; /* test: archive_test_crash_commit */
	const struct mu_identity *signer;
	uint8_t *data_key; /* sodium_malloc'd */
	uint8_t *item_key; /* sodium_malloc'd scratch, wiped after each use */
	uint8_t *rec;      /* ARCHIVE_REC_MAX scratch for encoding */
	uint8_t *sealed;   /* ARCHIVE_SEALED_MAX scratch */
	uint8_t *bsealed;  /* ARCHIVE_BSEALED_MAX scratch */
	uint64_t head_seq;
	uint8_t head_hash[AUDIT_HASH_BYTES];
	bool broken;        /* the last entry does not decode: verify only */
	uint64_t batch_seq; /* head at archive_begin, restored on abort */
	uint8_t batch_hash[AUDIT_HASH_BYTES];
};

int archive_lmdb_fail(const char *func, const char *what, int rc)
{
	log_msg(rc == MDB_MAP_FULL ? LOG_WARN : LOG_ERR, SUB_STORE, func, "archive %s: %s", what,
		mdb_strerror(rc));
	return rc == MDB_MAP_FULL ? MU_E_QUOTA : MU_E_STORE;
}

static MDB_val val(const void *p, size_t n)
{
	return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

/* ---- transactions ---- */

/* A write: a child of the batch, or a transaction of its own. */
static int wbegin(struct archive *a, MDB_txn **t)
{
	int rc = mdb_txn_begin(a->env, a->txn, 0, t);

	if (rc) {
		*t = NULL;
		return LMDB_FAIL("write begin", rc);
	}
	return 0;
}

/* Ends a write: commits on ret 0 (then the new head stands), else aborts
 * and puts the head back (old_hash may be NULL for writes that append no
 * entry). */
static int wend(struct archive *a, MDB_txn *t, int ret, uint64_t old_seq, const uint8_t *old_hash)
{
	int rc;

	if (!ret) {
		rc = mdb_txn_commit(t);
		if (rc)
			ret = LMDB_FAIL("write commit", rc);
	} else {
		mdb_txn_abort(t);
	}
	if (ret && old_seq != a->head_seq) {
		a->head_seq = old_seq;
		memcpy(a->head_hash, old_hash, AUDIT_HASH_BYTES);
	}
	return ret;
}

/* A read: the batch when one is open, or the scan's in progress (LMDB
 * allows one transaction per thread), else a read-only one of its own. */
static int rbegin(struct archive *a, MDB_txn **t)
{
	int rc;

	if (a->txn || a->rtxn) {
		*t = a->txn ? a->txn : a->rtxn;
		return 0;
	}
	rc = mdb_txn_begin(a->env, NULL, MDB_RDONLY, t);
	if (rc) {
		*t = NULL;
		return LMDB_FAIL("read begin", rc);
	}
	return 0;
}

static void rend(struct archive *a, MDB_txn *t)
{
	if (t && t != a->txn && t != a->rtxn)
		mdb_txn_abort(t);
}

/* Makes t the transaction reads reuse while a walk calls back (into
 * archive_get and the like); returns what to pass to scan_end. */
static MDB_txn *scan_begin(struct archive *a, MDB_txn *t)
{
	MDB_txn *saved = a->rtxn;

	if (t != a->txn)
		a->rtxn = t;
	return saved;
}

static void scan_end(struct archive *a, MDB_txn *saved)
{
	a->rtxn = saved;
}

/* ---- meta counters ---- */

static int meta_get(MDB_txn *t, MDB_dbi dbi, const char *name, uint64_t *v)
{
	MDB_val k = val(name, strlen(name)), d;
	int rc = mdb_get(t, dbi, &k, &d);

	*v = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return LMDB_FAIL("meta get", rc);
	if (d.mv_size != 8)
		return MU_E_FORMAT;
	*v = get_be64(d.mv_data);
	return 0;
}

static int meta_set(MDB_txn *t, MDB_dbi dbi, const char *name, uint64_t v)
{
	uint8_t b[8];
	MDB_val k = val(name, strlen(name)), d = val(b, sizeof(b));
	int rc;

	put_be64(b, v);
	rc = mdb_put(t, dbi, &k, &d, 0);
	return rc ? LMDB_FAIL("meta put", rc) : 0;
}

static int meta_add(MDB_txn *t, MDB_dbi dbi, const char *name, int64_t delta)
{
	uint64_t v;
	int ret = meta_get(t, dbi, name, &v);

	return ret ? ret : meta_set(t, dbi, name, v + (uint64_t)delta);
}

/* ---- sealing under the item or data key ---- */

static void seal_under(uint8_t *out, const uint8_t *m, size_t mlen, const uint8_t id[static BUNDLE_ID_BYTES],
		       uint8_t role, const uint8_t *key)
{
	uint8_t ad[BUNDLE_ID_BYTES + 1];

	memcpy(ad, id, BUNDLE_ID_BYTES);
	ad[BUNDLE_ID_BYTES] = role;
	randombytes_buf(out, NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE_BYTES, NULL, m, mlen, ad, sizeof(ad), NULL,
						   out, key);
}

/* Opens sealed (nonce || ciphertext) into out: role 0 is the version 1
 * content (the id alone as associated data). */
static int open_under(uint8_t *out, size_t cap, size_t *olen, const uint8_t *sealed, size_t slen,
		      const uint8_t id[static BUNDLE_ID_BYTES], uint8_t role, const uint8_t *key)
{
	uint8_t ad[BUNDLE_ID_BYTES + 1];
	unsigned long long mlen = 0;

	if (slen - NONCE_BYTES - TAG_BYTES > cap)
		return MU_E_TOOBIG;
	memcpy(ad, id, BUNDLE_ID_BYTES);
	ad[BUNDLE_ID_BYTES] = role;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, sealed + NONCE_BYTES,
						       slen - NONCE_BYTES, ad,
						       role ? sizeof(ad) : BUNDLE_ID_BYTES, sealed, key))
		return MU_E_SIG;
	*olen = (size_t)mlen;
	return 0;
}

/* ---- records ---- */

static int record_encode(uint8_t *out, size_t cap, const struct archive_item *it, const uint8_t *bundle,
			 size_t blen, const uint8_t *sealed, size_t slen)
{
	struct wr w = wr_make(out, cap);

	wr_u8(&w, it->version);
	wr_u8(&w, it->flags);
	wr_u64(&w, it->seq);
	wr_u64(&w, it->archived);
	wr_u64(&w, it->created);
	wr_u64(&w, it->expires);
	wr_u8(&w, it->prio);
	wr_u8(&w, it->kind);
	wr_bytes(&w, it->sender, MU_KEY_BYTES);
	wr_u8(&w, it->dest_type);
	wr_lv8(&w, it->dest, it->dest_len, BUNDLE_DEST_MAX);
	wr_lv32(&w, bundle, blen,
		it->version == ARCHIVE_VERSION_LEGACY ? BUNDLE_ENC_MAX : ARCHIVE_BSEALED_MAX);
	wr_lv32(&w, sealed, slen, ARCHIVE_SEALED_MAX);
	return wr_finish(&w);
}

int archive_record_decode(struct archive_item *it, const uint8_t **bundle, size_t *blen,
			  const uint8_t **sealed, size_t *slen, const uint8_t *in, size_t len)
{
	struct rd rd = rd_make(in, len);
	const uint8_t *dest = NULL;
	uint8_t version = 0;
	size_t dlen = 0;
	bool legacy;
	int ret;

	memset(it, 0, sizeof(*it));
	*bundle = *sealed = NULL;
	*blen = *slen = 0;
	ret = rd_u8(&rd, &version);
	if (!ret && version != ARCHIVE_VERSION && version != ARCHIVE_VERSION_LEGACY)
		ret = MU_E_VERSION;
	legacy = version == ARCHIVE_VERSION_LEGACY;
	if (!ret)
		ret = rd_u8(&rd, &it->flags) || rd_u64(&rd, &it->seq) || rd_u64(&rd, &it->archived) ||
			      rd_u64(&rd, &it->created) || rd_u64(&rd, &it->expires) ||
			      rd_u8(&rd, &it->prio) || rd_u8(&rd, &it->kind) ||
			      rd_bytes(&rd, it->sender, MU_KEY_BYTES) || rd_u8(&rd, &it->dest_type)
			  ? MU_E_FORMAT
			  : 0;
	if (!ret)
		ret = rd_lv8(&rd, BUNDLE_DEST_MAX, &dest, &dlen);
	if (!ret)
		ret = rd_lv32(&rd, legacy ? BUNDLE_ENC_MAX : ARCHIVE_BSEALED_MAX, bundle, blen);
	if (!ret)
		ret = rd_lv32(&rd, ARCHIVE_SEALED_MAX, sealed, slen);
	if (!ret)
		ret = rd_end(&rd);
	/* An erased stub has neither bundle nor content; a live item has both.
	 * A version 2 item is shredded exactly when erased; version 1 never. */
	if (!ret && (it->seq == 0 ||
		     (legacy ? it->flags & ~ARCHIVE_F_ERASED
			     : it->flags != 0 && it->flags != (ARCHIVE_F_ERASED | ARCHIVE_F_SHREDDED))))
		ret = MU_E_FORMAT;
	if (!ret && (it->flags & ARCHIVE_F_ERASED ? *blen || *slen
						  : *blen < (legacy ? 1 : NONCE_BYTES + TAG_BYTES + 1) ||
							*slen < NONCE_BYTES + TAG_BYTES))
		ret = MU_E_FORMAT;
	if (ret) {
		memset(it, 0, sizeof(*it));
		*bundle = *sealed = NULL;
		*blen = *slen = 0;
		return ret;
	}
	it->version = version;
	it->dest_len = (uint8_t)dlen;
	memcpy(it->dest, dest, dlen);
	return 0;
}

/* Binds the record to its key, so a record moved under another id fails. */
static void record_digest(uint8_t out[static AUDIT_HASH_BYTES], const uint8_t id[static BUNDLE_ID_BYTES],
			  const void *rec, size_t len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, AUDIT_HASH_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)record_tag, sizeof(record_tag) - 1);
	crypto_generichash_update(&st, id, BUNDLE_ID_BYTES);
	crypto_generichash_update(&st, rec, len);
	crypto_generichash_final(&st, out, AUDIT_HASH_BYTES);
}

/* ---- the audit chain ---- */

/* Appends entry seq (= head + 1) in t and advances the cached head; wend
 * puts it back if t does not commit. */
static int audit_append(struct archive *a, MDB_txn *t, uint8_t event, const uint8_t *id,
			const uint8_t digest[static AUDIT_HASH_BYTES], uint64_t now, struct audit_entry *e)
{
	uint8_t key[8] = {0}, enc[AUDIT_ENTRY_BYTES];
	MDB_val k = val(key, sizeof(key)), d = val(enc, sizeof(enc));
	int rc, ret;

	memset(e, 0, sizeof(*e));
	e->event = event;
	e->seq = a->head_seq + 1;
	e->time = now;
	if (id)
		memcpy(e->id, id, BUNDLE_ID_BYTES);
	memcpy(e->digest, digest, AUDIT_HASH_BYTES);
	memcpy(e->prev, a->head_hash, AUDIT_HASH_BYTES);
	ret = audit_entry_sign(e, a->signer);
	if (ret)
		return ret;
	audit_entry_encode(enc, e);
	put_be64(key, e->seq);
	rc = mdb_put(t, a->audit, &k, &d, MDB_NOOVERWRITE);
	if (rc)
		return LMDB_FAIL("audit put", rc);
	ret = meta_set(t, a->meta, "last_seq", e->seq);
	if (ret)
		return ret;
	a->head_seq = e->seq;
	audit_entry_hash(a->head_hash, e);
	return 0;
}

static int load_head(struct archive *a, MDB_txn *t)
{
	MDB_cursor *cur = NULL;
	MDB_val k, d;
	struct audit_entry e;
	int rc = mdb_cursor_open(t, a->audit, &cur), ret = 0;

	if (rc)
		return LMDB_FAIL("cursor open", rc);
	rc = mdb_cursor_get(cur, &k, &d, MDB_LAST);
	a->head_seq = 0;
	memset(a->head_hash, 0, AUDIT_HASH_BYTES);
	if (rc == MDB_NOTFOUND)
		goto out;
	if (rc) {
		ret = LMDB_FAIL("cursor last", rc);
		goto out;
	}
	/* A damaged head is for verify to report; appending after it would
	 * chain to a hash nobody can check, so writes are refused. */
	if (audit_entry_decode(&e, d.mv_data, d.mv_size)) {
		log_err(SUB_STORE, "archive: the last audit entry is damaged; archiving stops (run muster "
				   "audit verify)");
		a->broken = true;
		goto out;
	}
	a->head_seq = e.seq;
	audit_entry_hash(a->head_hash, &e);
out:
	mdb_cursor_close(cur);
	return ret;
}

/* ---- open / close ---- */

/* The data key: random, sealed to the archive key identity in meta. */
static int data_key_setup(struct archive *a, MDB_txn *t, const char *key_path, const char *keyfile)
{
	struct ks_unlock u = {.wrap = KS_WRAP_KEYFILE, .secret = keyfile};
	struct mu_identity *kid = NULL;
	uint8_t sealed[SEALED_KEY_BYTES];
	MDB_val k = val("data_key", 8), d;
	bool have_file = access(key_path, F_OK) == 0;
	int rc = mdb_get(t, a->meta, &k, &d), ret = 0;

	if (rc && rc != MDB_NOTFOUND)
		return LMDB_FAIL("meta get", rc);
	if (!rc && d.mv_size != SEALED_KEY_BYTES)
		return MU_E_FORMAT;
	if (!rc && !have_file) {
		log_err(SUB_STORE,
			"archive key %s is missing: the archive's content cannot be read without it",
			key_path);
		return MU_E_PASS;
	}
	ret = have_file ? keystore_load(&kid, key_path, &u) : identity_generate(&kid);
	if (!ret && !have_file)
		ret = keystore_save(key_path, kid, &u);
	if (ret) {
		log_err(SUB_STORE, "archive key %s: %s", key_path, mu_strerror(ret));
		goto out;
	}
	if (!rc) {
		ret = identity_unseal(kid, a->data_key, d.mv_data, SEALED_KEY_BYTES) ? MU_E_PASS : 0;
		if (ret)
			log_err(SUB_STORE, "archive key %s does not open this archive's data key", key_path);
		goto out;
	}
	randombytes_buf(a->data_key, DATA_KEY_BYTES);
	ret = mu_seal(sealed, a->data_key, DATA_KEY_BYTES, identity_kx_pk(kid)) ? MU_E_CRYPTO : 0;
	d = val(sealed, sizeof(sealed));
	if (!ret && (rc = mdb_put(t, a->meta, &k, &d, 0)))
		ret = LMDB_FAIL("meta put", rc);
out:
	identity_free(kid);
	return ret;
}

static int dbi_open(MDB_txn *t, const char *name, MDB_dbi *dbi)
{
	int rc = mdb_dbi_open(t, name, MDB_CREATE, dbi);

	return rc ? LMDB_FAIL(name, rc) : 0;
}

static void shred_resume(struct archive *a);

int archive_open(struct archive **out, const char *dir, const char *key_path, const char *keyfile,
		 const struct mu_identity *signer, uint64_t map_bytes)
{
	struct archive *a = NULL;
	MDB_txn *t = NULL;
	uint64_t keyed = 0;
	bool had_keys = false;
	int rc, ret, dead = 0;

	*out = NULL;
	if (mu_crypto_init())
		return MU_E_CRYPTO;
	if (mkdir(dir, 0700) && errno != EEXIST) {
		ret = -errno;
		log_err(SUB_STORE, "mkdir %s: %s", dir, mu_strerror(ret));
		return ret;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->signer = signer;
	a->data_key = sodium_malloc(DATA_KEY_BYTES);
	a->item_key = sodium_malloc(ITEM_KEY_BYTES);
	a->rec = malloc(ARCHIVE_REC_MAX);
	a->sealed = malloc(ARCHIVE_SEALED_MAX);
	a->bsealed = malloc(ARCHIVE_BSEALED_MAX);
	if (!a->data_key || !a->item_key || !a->rec || !a->sealed || !a->bsealed) {
		ret = -ENOMEM;
		goto out;
	}
	/* Before anything creates it: an archive that had a keys environment
	 * refuses to open without one (below), which would otherwise quietly
	 * make every item archived since unreadable. */
	ret = archive_keys_setup(&a->keys, dir, (size_t)ARCHIVE_KEYS_MAP(map_bytes), &had_keys);
	if (ret)
		goto out;
	rc = mdb_env_create(&a->env);
	if (rc) {
		a->env = NULL;
		ret = LMDB_FAIL("env create", rc);
		goto out;
	}
	rc = mdb_env_set_maxdbs(a->env, 5);
	if (!rc)
		rc = mdb_env_set_mapsize(a->env, (size_t)map_bytes);
	if (!rc)
		rc = mdb_env_open(a->env, dir, 0, 0600);
	if (!rc)
		rc = mdb_reader_check(a->env, &dead);
	if (rc) {
		log_err(SUB_STORE, "archive %s: %s", dir, mdb_strerror(rc));
		ret = rc > 0 ? -rc : MU_E_STORE;
		goto out;
	}
	rc = mdb_txn_begin(a->env, NULL, 0, &t);
	if (rc) {
		t = NULL;
		ret = LMDB_FAIL("txn begin", rc);
		goto out;
	}
	ret = dbi_open(t, "items", &a->items);
	if (!ret)
		ret = dbi_open(t, "audit", &a->audit);
	if (!ret)
		ret = dbi_open(t, "meta", &a->meta);
	if (!ret)
		ret = dbi_open(t, "chunks", &a->chunks);
	if (!ret)
		ret = data_key_setup(a, t, key_path, keyfile);
	if (!ret)
		ret = load_head(a, t);
	if (!ret)
		ret = meta_get(t, a->meta, "item_keys", &keyed);
	if (!ret && keyed && !had_keys) {
		log_err(SUB_STORE,
			"archive keys environment %s is missing: restore it with the archive (without it "
			"nothing archived since per-item keys can be read; docs/operations.md)",
			archive_keys_dir(a->keys));
		ret = MU_E_PASS;
	}
	if (!ret && !keyed)
		ret = meta_set(t, a->meta, "item_keys", 1);
	if (!ret)
		ret = archive_keys_open_env(a->keys);
	if (!ret) {
		rc = mdb_txn_commit(t);
		t = NULL;
		if (rc)
			ret = LMDB_FAIL("txn commit", rc);
	}
	if (!ret)
		shred_resume(a);
out:
	if (t)
		mdb_txn_abort(t);
	if (ret) {
		archive_close(a);
		return ret;
	}
	*out = a;
	return 0;
}

void archive_close(struct archive *a)
{
	if (!a)
		return;
	archive_abort(a);
	archive_keys_free(a->keys);
	if (a->env)
		mdb_env_close(a->env);
	sodium_free(a->data_key);
	sodium_free(a->item_key);
	free(a->rec);
	free(a->sealed);
	free(a->bsealed);
	free(a);
}

/* ---- batches ---- */

int archive_begin(struct archive *a)
{
	int rc, ret;

	if (a->txn)
		return -EBUSY;
	rc = mdb_txn_begin(a->env, NULL, 0, &a->txn);
	if (rc) {
		a->txn = NULL;
		return LMDB_FAIL("batch begin", rc);
	}
	ret = archive_keys_batch_begin(a->keys);
	if (ret) {
		mdb_txn_abort(a->txn);
		a->txn = NULL;
		return ret;
	}
	a->owe_shred = false;
	a->batch_seq = a->head_seq;
	memcpy(a->batch_hash, a->head_hash, AUDIT_HASH_BYTES);
	return 0;
}

static int shred_finish(struct archive *a);

/* Keys first (see the top of this file), then the archive, then the
 * compaction the batch's erasures owe. */
int archive_commit(struct archive *a)
{
	int rc, ret, stage = a->crash_stage;

	if (!a->txn)
		return 0;
	a->crash_stage = 0;
	ret = archive_keys_batch_commit(a->keys);
	if (ret) {
		archive_abort(a);
		return ret;
	}
	if (stage == 1) {
		archive_abort(a);
		return MU_E_STORE;
	}
	rc = mdb_txn_commit(a->txn);
	a->txn = NULL;
	if (rc) {
		a->owe_shred = false; /* the pending ids stay for the next open */
		a->head_seq = a->batch_seq;
		memcpy(a->head_hash, a->batch_hash, AUDIT_HASH_BYTES);
		return LMDB_FAIL("batch commit", rc);
	}
	if (a->owe_shred && stage != 2)
		(void)shred_finish(a); /* the erasure stands; a failure is logged and retried at open */
	a->owe_shred = false;
	return 0;
}

void archive_abort(struct archive *a)
{
	archive_keys_batch_abort(a->keys);
	a->owe_shred = false;
	if (!a->txn)
		return;
	mdb_txn_abort(a->txn);
	a->txn = NULL;
	a->head_seq = a->batch_seq;
	memcpy(a->head_hash, a->batch_hash, AUDIT_HASH_BYTES);
}

bool archive_in_batch(const struct archive *a)
{
	return a->txn != NULL;
}

/* ---- put / get / erase ---- */

static int put_record(struct archive *a, MDB_txn *t, const struct archive_item *it, const uint8_t *bundle,
		      size_t blen, const uint8_t *sealed, size_t slen,
		      uint8_t digest[static AUDIT_HASH_BYTES], size_t *reclen)
{
	MDB_val k = val(it->id, BUNDLE_ID_BYTES), d;
	int len = record_encode(a->rec, ARCHIVE_REC_MAX, it, bundle, blen, sealed, slen), rc;

	if (len < 0)
		return len;
	record_digest(digest, it->id, a->rec, (size_t)len);
	d = val(a->rec, (size_t)len);
	rc = mdb_put(t, a->items, &k, &d, 0);
	*reclen = (size_t)len;
	return rc ? LMDB_FAIL("item put", rc) : 0;
}

static int put_item(struct archive *a, const uint8_t *enc, size_t len, const uint8_t *content, size_t clen,
		    uint64_t now, const uint8_t *chunk_key);
static int get_record(struct archive *a, MDB_txn *t, const uint8_t id[static BUNDLE_ID_BYTES],
		      struct archive_item *it, const uint8_t **bundle, size_t *blen, const uint8_t **sealed,
		      size_t *slen, size_t *reclen);

int archive_put(struct archive *a, const uint8_t *enc, size_t len, const uint8_t *content, size_t clen,
		uint64_t now)
{
	return put_item(a, enc, len, content, clen, now, NULL);
}

static void chunk_key(uint8_t key[static BUNDLE_ID_BYTES + 4], const uint8_t manifest[static BUNDLE_ID_BYTES],
		      uint32_t index)
{
	memcpy(key, manifest, BUNDLE_ID_BYTES);
	key[BUNDLE_ID_BYTES] = (uint8_t)(index >> 24);
	key[BUNDLE_ID_BYTES + 1] = (uint8_t)(index >> 16);
	key[BUNDLE_ID_BYTES + 2] = (uint8_t)(index >> 8);
	key[BUNDLE_ID_BYTES + 3] = (uint8_t)index;
}

int archive_put_chunk(struct archive *a, const uint8_t manifest[static BUNDLE_ID_BYTES], uint32_t index,
		      const uint8_t *enc, size_t len, const uint8_t *content, size_t clen, uint64_t now)
{
	uint8_t key[BUNDLE_ID_BYTES + 4];

	if (clen < ARCHIVE_CHUNK_HDR || content[0] != ARCHIVE_CONTENT_CHUNK ||
	    memcmp(content + 1, manifest, BUNDLE_ID_BYTES) ||
	    get_be64(content + 1 + BUNDLE_ID_BYTES) >> 32 != index)
		return MU_E_FORMAT;
	chunk_key(key, manifest, index);
	return put_item(a, enc, len, content, clen, now, key);
}

int archive_chunk_id(struct archive *a, const uint8_t manifest[static BUNDLE_ID_BYTES], uint32_t index,
		     uint8_t id[static BUNDLE_ID_BYTES])
{
	uint8_t key[BUNDLE_ID_BYTES + 4] = {0};
	MDB_val k = val(key, sizeof(key)), d;
	MDB_txn *t = NULL;
	int rc, ret = rbegin(a, &t);

	if (ret)
		return ret;
	chunk_key(key, manifest, index);
	rc = mdb_get(t, a->chunks, &k, &d);
	if (rc == MDB_NOTFOUND)
		ret = MU_E_NOTFOUND;
	else if (rc)
		ret = LMDB_FAIL("chunk get", rc);
	else if (d.mv_size != BUNDLE_ID_BYTES)
		ret = MU_E_FORMAT;
	else
		memcpy(id, d.mv_data, BUNDLE_ID_BYTES);
	rend(a, t);
	return ret;
}

/* Puts one item; with ckey (manifest id || index), also links it as that
 * chunk of a live archived manifest, in the same transaction. */
static int put_item(struct archive *a, const uint8_t *enc, size_t len, const uint8_t *content, size_t clen,
		    uint64_t now, const uint8_t *ckey)
{
	uint64_t old_seq = a->head_seq;
	uint8_t old_hash[AUDIT_HASH_BYTES], digest[AUDIT_HASH_BYTES], nonce[NONCE_BYTES];
	unsigned long long slen = 0;
	struct archive_item it = {0};
	struct audit_entry e;
	struct bundle b;
	MDB_txn *t = NULL, *kt = NULL;
	MDB_val k, d;
	size_t reclen = 0;
	bool key_committed = false;
	int rc, ret;

	if (bundle_decode(&b, enc, len))
		return MU_E_FORMAT;
	if (clen > ARCHIVE_CONTENT_MAX)
		return MU_E_TOOBIG;
	memcpy(old_hash, a->head_hash, AUDIT_HASH_BYTES);
	ret = a->broken ? MU_E_MISMATCH : wbegin(a, &t);
	if (ret)
		return ret;
	k = val(b.id, BUNDLE_ID_BYTES);
	rc = mdb_get(t, a->items, &k, &d);
	if (rc == 0)
		ret = MU_E_EXISTS;
	else if (rc != MDB_NOTFOUND)
		ret = LMDB_FAIL("item get", rc);
	if (!ret && ckey) {
		struct archive_item man;
		const uint8_t *mb, *ms;
		size_t mbl, msl;
		MDB_val ck = val(ckey, BUNDLE_ID_BYTES + 4);

		ret = get_record(a, t, ckey, &man, &mb, &mbl, &ms, &msl, NULL);
		if (!ret && man.flags & ARCHIVE_F_ERASED)
			ret = MU_E_EXISTS; /* erased: its file must not come back */
		if (!ret) {
			d = val(b.id, BUNDLE_ID_BYTES);
			rc = mdb_put(t, a->chunks, &ck, &d, MDB_NOOVERWRITE);
			if (rc)
				ret = rc == MDB_KEYEXIST ? MU_E_EXISTS : LMDB_FAIL("chunk put", rc);
		}
	}
	if (!ret && !a->legacy)
		ret = archive_keys_wbegin(a->keys, &kt);
	if (!ret && kt)
		ret = archive_keys_new(a->keys, kt, a->data_key, b.id, a->item_key);
	if (ret) {
		if (kt)
			mdb_txn_abort(kt);
		sodium_memzero(a->item_key, ITEM_KEY_BYTES);
		return wend(a, t, ret, old_seq, old_hash);
	}

	it.version = a->legacy ? ARCHIVE_VERSION_LEGACY : ARCHIVE_VERSION;
	memcpy(it.id, b.id, BUNDLE_ID_BYTES);
	it.seq = a->head_seq + 1;
	it.archived = now;
	it.created = b.created;
	it.expires = b.expires;
	it.prio = b.prio;
	it.kind = b.kind;
	memcpy(it.sender, b.sender, MU_KEY_BYTES);
	it.dest_type = b.dest_type;
	it.dest_len = b.dest_len;
	memcpy(it.dest, b.dest, b.dest_len);
	if (kt) {
		/* Both under the item key: the bundle's envelope is as readable
		 * as the content to whoever holds the archive user key. */
		seal_under(a->bsealed, enc, len, b.id, AD_BUNDLE, a->item_key);
		seal_under(a->sealed, content, clen, b.id, AD_CONTENT, a->item_key);
		sodium_memzero(a->item_key, ITEM_KEY_BYTES);
		ret = put_record(a, t, &it, a->bsealed, NONCE_BYTES + len + TAG_BYTES, a->sealed,
				 NONCE_BYTES + clen + TAG_BYTES, digest, &reclen);
	} else {
		randombytes_buf(nonce, sizeof(nonce));
		memcpy(a->sealed, nonce, sizeof(nonce));
		crypto_aead_xchacha20poly1305_ietf_encrypt(a->sealed + NONCE_BYTES, &slen, content, clen,
							   b.id, BUNDLE_ID_BYTES, NULL, nonce, a->data_key);
		ret = put_record(a, t, &it, enc, len, a->sealed, NONCE_BYTES + (size_t)slen, digest, &reclen);
	}
	if (!ret)
		ret = audit_append(a, t, AUDIT_ARCHIVED, b.id, digest, now, &e);
	if (!ret)
		ret = meta_add(t, a->meta, "items", 1);
	if (!ret)
		ret = meta_add(t, a->meta, "bytes", (int64_t)reclen);
	/* The key commits first: a record never exists without its key. */
	if (!ret && kt) {
		ret = archive_keys_commit(kt);
		key_committed = !ret && !a->txn; /* in a batch it commits with the batch */
	} else if (kt) {
		mdb_txn_abort(kt);
	}
	ret = wend(a, t, ret, old_seq, old_hash);
	if (ret && key_committed)
		archive_keys_forget(a->keys, b.id);
	return ret;
}

/* Reads and decodes id's record in t; pointers into the map. */
static int get_record(struct archive *a, MDB_txn *t, const uint8_t id[static BUNDLE_ID_BYTES],
		      struct archive_item *it, const uint8_t **bundle, size_t *blen, const uint8_t **sealed,
		      size_t *slen, size_t *reclen)
{
	MDB_val k = val(id, BUNDLE_ID_BYTES), d;
	int rc = mdb_get(t, a->items, &k, &d), ret;

	if (rc == MDB_NOTFOUND)
		return MU_E_NOTFOUND;
	if (rc)
		return LMDB_FAIL("item get", rc);
	ret = archive_record_decode(it, bundle, blen, sealed, slen, d.mv_data, d.mv_size);
	if (!ret) {
		memcpy(it->id, id, BUNDLE_ID_BYTES);
		if (reclen)
			*reclen = d.mv_size;
	}
	return ret;
}

int archive_get(struct archive *a, const uint8_t id[static BUNDLE_ID_BYTES], struct archive_item *item,
		uint8_t *content, size_t ccap, size_t *clen, uint8_t *enc, size_t ecap, size_t *elen)
{
	struct archive_item it;
	const uint8_t *bundle, *sealed;
	size_t blen, slen, n = 0;
	MDB_txn *t = NULL, *kt = NULL;
	bool keyed;
	int ret = rbegin(a, &t);

	if (clen)
		*clen = 0;
	if (elen)
		*elen = 0;
	if (ret)
		return ret;
	ret = get_record(a, t, id, &it, &bundle, &blen, &sealed, &slen, NULL);
	keyed = !ret && it.version == ARCHIVE_VERSION && !(it.flags & ARCHIVE_F_ERASED);
	if (keyed && (content || enc)) {
		ret = archive_keys_rbegin(a->keys, &kt);
		if (!ret)
			ret = archive_keys_get(a->keys, kt, a->data_key, id, a->item_key);
		archive_keys_rend(a->keys, kt);
		if (ret == MU_E_PASS)
			log_debug(SUB_STORE, "archive: an item's key is gone (crypto-shredded)");
	}
	if (!ret && enc && blen) {
		if (keyed)
			ret = open_under(enc, ecap, &n, bundle, blen, id, AD_BUNDLE, a->item_key);
		else if (blen > ecap)
			ret = MU_E_TOOBIG;
		else
			memcpy(enc, bundle, n = blen);
		if (!ret)
			*elen = n;
	}
	if (!ret && content && slen) {
		ret = keyed ? open_under(content, ccap, &n, sealed, slen, id, AD_CONTENT, a->item_key)
			    : open_under(content, ccap, &n, sealed, slen, id, 0, a->data_key);
		if (!ret)
			*clen = n;
	}
	sodium_memzero(a->item_key, ITEM_KEY_BYTES);
	if (!ret && item)
		*item = it;
	rend(a, t);
	return ret;
}

/* One erasure in its own (or the batch's child) transactions; the key's
 * destruction commits before the stub and its entry. */
static int erase_one(struct archive *a, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t now,
		     bool *shredded)
{
	uint64_t old_seq = a->head_seq;
	uint8_t old_hash[AUDIT_HASH_BYTES], digest[AUDIT_HASH_BYTES];
	struct archive_item it;
	struct audit_entry e;
	const uint8_t *bundle, *sealed;
	size_t blen, slen, oldlen = 0, reclen = 0;
	MDB_txn *t = NULL, *kt = NULL;
	int ret;

	*shredded = false;
	memcpy(old_hash, a->head_hash, AUDIT_HASH_BYTES);
	ret = a->broken ? MU_E_MISMATCH : wbegin(a, &t);
	if (ret)
		return ret;
	ret = get_record(a, t, id, &it, &bundle, &blen, &sealed, &slen, &oldlen);
	if (!ret && it.flags & ARCHIVE_F_ERASED)
		ret = MU_E_EXISTS;
	if (!ret && it.version == ARCHIVE_VERSION) {
		ret = archive_keys_wbegin(a->keys, &kt);
		if (!ret)
			ret = archive_keys_destroy(a->keys, kt, id);
		if (!ret)
			it.flags |= ARCHIVE_F_SHREDDED; /* so the entry's digest records it */
	}
	if (!ret) {
		it.flags |= ARCHIVE_F_ERASED;
		it.seq = a->head_seq + 1;
		ret = put_record(a, t, &it, NULL, 0, NULL, 0, digest, &reclen);
	}
	if (!ret)
		ret = audit_append(a, t, AUDIT_ERASED, id, digest, now, &e);
	if (!ret)
		ret = meta_add(t, a->meta, "erased", 1);
	if (!ret && kt)
		ret = meta_add(t, a->meta, "shredded", 1);
	if (!ret)
		ret = meta_add(t, a->meta, "bytes", (int64_t)reclen - (int64_t)oldlen);
	if (!ret && kt) {
		ret = archive_keys_commit(kt);
		if (!ret)
			a->owe_shred = *shredded = true;
	} else if (kt) {
		mdb_txn_abort(kt);
	}
	ret = wend(a, t, ret, old_seq, old_hash);
	if (ret)
		*shredded = false;
	return ret;
}

int archive_erase_ex(struct archive *a, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t now,
		     bool *shredded)
{
	bool sh = false;
	int ret = erase_one(a, id, now, &sh);

	if (shredded)
		*shredded = sh;
	/* Outside a batch the erasure has committed: compact now. */
	if (!a->txn && a->owe_shred) {
		a->owe_shred = false;
		if (a->crash_stage == 2)
			a->crash_stage = 0;
		else
			(void)shred_finish(a);
	}
	return ret;
}

int archive_erase(struct archive *a, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t now)
{
	return archive_erase_ex(a, id, now, NULL);
}

/* After the erasures committed: the keys file compacted (so the destroyed
 * keys' freed pages are gone), then the pending ids whose stubs are in the
 * archive dropped. A crash between leaves them for the next open, which
 * compacts again. */
struct stub_check {
	struct archive *a;
	MDB_txn *t;
};

/* Whether id's erasure stands in the archive: its stub, or no record. */
static bool stub_committed(void *ctx, const uint8_t id[static BUNDLE_ID_BYTES])
{
	struct stub_check *c = ctx;
	struct archive_item it;
	const uint8_t *bundle, *sealed;
	size_t blen, slen;
	int got = get_record(c->a, c->t, id, &it, &bundle, &blen, &sealed, &slen, NULL);

	return got == MU_E_NOTFOUND || (!got && it.flags & ARCHIVE_F_ERASED);
}

static int shred_finish(struct archive *a)
{
	struct stub_check c = {.a = a};
	int ret = archive_keys_compact(a->keys);

	if (!ret)
		ret = rbegin(a, &c.t);
	if (!ret)
		ret = archive_keys_pending_drop(a->keys, stub_committed, &c);
	rend(a, c.t);
	if (ret)
		log_err(SUB_STORE,
			"archive: erased items' keys destroyed but shredding not finished (%s); "
			"the next start finishes it",
			mu_strerror(ret));
	return ret;
}

/* At open: ids left pending by a crash. Items still live had their keys
 * destroyed by an erasure whose archive side never committed; it is
 * completed now (stub, 'erased' entry) as the confirmed erasure it was. */
static void shred_resume(struct archive *a)
{
	uint8_t(*ids)[BUNDLE_ID_BYTES] = NULL;
	size_t n = 0, live = 0;
	struct timespec ts;
	bool sh;
	int ret = archive_keys_pending_list(a->keys, &ids, &n);

	if (ret)
		log_err(SUB_STORE, "archive: interrupted erasures not listed (%s); the next start retries",
			mu_strerror(ret));
	if (ret || !n)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (!a->broken && !archive_begin(a)) {
		for (size_t i = 0; i < n; i++)
			if (!erase_one(a, ids[i], (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
				       &sh))
				live++;
		if (live)
			log_warn(SUB_STORE, "archive: completing an erasure a crash interrupted (%zu items)",
				 live);
		a->owe_shred = true; /* compact even if none was live */
		if (archive_commit(a))
			log_err(SUB_STORE, "archive: could not complete an interrupted erasure");
	} else {
		(void)shred_finish(a);
	}
	free(ids);
}

int archive_audit_note(struct archive *a, uint8_t event, const uint8_t digest[static AUDIT_HASH_BYTES],
		       uint64_t now, struct audit_entry *out)
{
	uint64_t old_seq = a->head_seq;
	uint8_t old_hash[AUDIT_HASH_BYTES];
	struct audit_entry e;
	MDB_txn *t = NULL;
	int ret;

	if (event != AUDIT_EXPORTED && event != AUDIT_VERIFIED)
		return MU_E_FORMAT;
	memcpy(old_hash, a->head_hash, AUDIT_HASH_BYTES);
	ret = a->broken ? MU_E_MISMATCH : wbegin(a, &t);
	if (ret)
		return ret;
	ret = audit_append(a, t, event, NULL, digest, now, &e);
	ret = wend(a, t, ret, old_seq, old_hash);
	if (!ret && out)
		*out = e;
	return ret;
}

/* ---- scans ---- */

int archive_audit_scan(struct archive *a, uint64_t after, archive_audit_fn fn, void *ctx)
{
	uint8_t key[8] = {0};
	MDB_cursor *cur = NULL;
	MDB_txn *t = NULL;
	MDB_val k = val(key, sizeof(key)), d;
	struct audit_entry e;
	MDB_txn *saved;
	int rc, ret = rbegin(a, &t);

	if (ret)
		return ret;
	rc = mdb_cursor_open(t, a->audit, &cur);
	if (rc) {
		rend(a, t);
		return LMDB_FAIL("cursor open", rc);
	}
	saved = scan_begin(a, t);
	put_be64(key, after + 1);
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); !rc && !ret;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		ret = audit_entry_decode(&e, d.mv_data, d.mv_size);
		if (!ret)
			ret = fn(ctx, &e);
	}
	if (!ret && rc != MDB_NOTFOUND)
		ret = LMDB_FAIL("cursor next", rc);
	mdb_cursor_close(cur);
	scan_end(a, saved);
	rend(a, t);
	return ret;
}

struct pending {
	struct archive *a;
	MDB_txn *t;
	uint8_t (*ids)[BUNDLE_ID_BYTES];
	size_t max, n;
	uint64_t upto, expires;
};

#define SCAN_STOP 1

static int pending_one(void *ctx, const struct audit_entry *e)
{
	struct pending *p = ctx;
	struct archive_item it;
	const uint8_t *bundle, *sealed;
	size_t blen, slen;
	int ret;

	if (e->event == AUDIT_ARCHIVED) {
		if (p->n == p->max)
			return SCAN_STOP;
		ret = get_record(p->a, p->t, e->id, &it, &bundle, &blen, &sealed, &slen, NULL);
		if (ret)
			return ret;
		memcpy(p->ids[p->n++], e->id, BUNDLE_ID_BYTES);
		if (it.expires > p->expires)
			p->expires = it.expires;
	}
	p->upto = e->seq;
	return 0;
}

int archive_receipt_pending(struct archive *a, uint8_t (*ids)[BUNDLE_ID_BYTES], size_t max, size_t *n,
			    uint64_t *upto, uint64_t *expires_max)
{
	struct pending p = {.a = a, .ids = ids, .max = max};
	uint64_t cursor = 0;
	int ret = rbegin(a, &p.t);

	*n = 0;
	*upto = *expires_max = 0;
	if (ret)
		return ret;
	ret = meta_get(p.t, a->meta, "cursor", &cursor);
	if (!ret) {
		MDB_txn *saved = scan_begin(a, p.t); /* one snapshot for the cursor and the walk */

		ret = archive_audit_scan(a, cursor, pending_one, &p);
		scan_end(a, saved);
	}
	rend(a, p.t);
	if (ret == SCAN_STOP)
		ret = 0;
	if (ret)
		return ret;
	*n = p.n;
	*upto = p.upto;
	*expires_max = p.expires;
	return 0;
}

int archive_receipt_done(struct archive *a, uint64_t upto, size_t n)
{
	MDB_txn *t = NULL;
	int ret = wbegin(a, &t);

	if (ret)
		return ret;
	ret = meta_set(t, a->meta, "cursor", upto);
	if (!ret)
		ret = meta_add(t, a->meta, "receipted", (int64_t)n);
	return wend(a, t, ret, a->head_seq, NULL);
}

int archive_stat(struct archive *a, struct archive_stat *st)
{
	MDB_txn *t = NULL;
	int ret = rbegin(a, &t);

	memset(st, 0, sizeof(*st));
	if (ret)
		return ret;
	ret = meta_get(t, a->meta, "items", &st->items);
	if (!ret)
		ret = meta_get(t, a->meta, "erased", &st->erased);
	if (!ret)
		ret = meta_get(t, a->meta, "shredded", &st->shredded);
	if (!ret)
		ret = meta_get(t, a->meta, "bytes", &st->bytes);
	if (!ret)
		ret = meta_get(t, a->meta, "receipted", &st->receipted);
	if (!ret)
		ret = meta_get(t, a->meta, "cursor", &st->receipt_cursor);
	rend(a, t);
	st->last_seq = a->head_seq;
	memcpy(st->head, a->head_hash, AUDIT_HASH_BYTES);
	return ret;
}

/* ---- verification ---- */

struct vwalk {
	struct archive *a;
	MDB_txn *t;
	const uint8_t *pk;
	struct archive_verify *res;
	uint64_t archived, erased;
	int err; /* MU_E_SIG or MU_E_MISMATCH once something is bad */
};

static int vbad(struct vwalk *w, uint64_t seq, const char *why, int err)
{
	w->res->bad_seq = seq;
	w->res->why = why;
	w->err = err;
	return SCAN_STOP;
}

/* One entry, in order: chain, signature, and the record it speaks for. */
static int verify_entry(struct vwalk *w, const struct audit_entry *e)
{
	struct archive_item it;
	const uint8_t *bundle, *sealed;
	uint8_t digest[AUDIT_HASH_BYTES];
	size_t blen, slen;
	MDB_val k, d;
	int rc, ret;

	if (e->seq != w->res->entries + 1)
		return vbad(w, w->res->entries + 1, "entry missing or out of order", MU_E_MISMATCH);
	if (sodium_memcmp(e->prev, w->res->head, AUDIT_HASH_BYTES))
		return vbad(w, e->seq, "previous-entry hash does not match", MU_E_MISMATCH);
	if (audit_entry_check(e, w->pk))
		return vbad(w, e->seq, "signature does not verify", MU_E_SIG);
	if (e->event == AUDIT_ARCHIVED || e->event == AUDIT_ERASED) {
		k = val(e->id, BUNDLE_ID_BYTES);
		rc = mdb_get(w->t, w->a->items, &k, &d);
		if (rc == MDB_NOTFOUND)
			return vbad(w, e->seq, "the item it records is missing", MU_E_MISMATCH);
		if (rc)
			return LMDB_FAIL("item get", rc);
		ret = archive_record_decode(&it, &bundle, &blen, &sealed, &slen, d.mv_data, d.mv_size);
		if (ret)
			return vbad(w, e->seq, "the item's record is damaged", MU_E_MISMATCH);
		if (it.seq < e->seq)
			return vbad(w, e->seq, "the item's record is older than its entry", MU_E_MISMATCH);
		if (it.seq == e->seq) {
			record_digest(digest, e->id, d.mv_data, d.mv_size);
			if (sodium_memcmp(digest, e->digest, AUDIT_HASH_BYTES))
				return vbad(w, e->seq, "the item's record does not match its digest",
					    MU_E_MISMATCH);
			if (e->event == AUDIT_ERASED ? !(it.flags & ARCHIVE_F_ERASED)
						     : it.flags & ARCHIVE_F_ERASED)
				return vbad(w, e->seq, "the item's state does not match the entry",
					    MU_E_MISMATCH);
		} else if (e->event != AUDIT_ARCHIVED || !(it.flags & ARCHIVE_F_ERASED)) {
			/* Only erasure supersedes an entry. */
			return vbad(w, e->seq, "the item changed after this entry without an erasure",
				    MU_E_MISMATCH);
		}
		if (e->event == AUDIT_ARCHIVED)
			w->archived++;
		else
			w->erased++;
	}
	audit_entry_hash(w->res->head, e);
	w->res->entries++;
	return 0;
}

static int verify_entry_cb(void *ctx, const struct audit_entry *e)
{
	return verify_entry(ctx, e);
}

/* Every item must be accounted for by the entry its record names. */
static int verify_items(struct vwalk *w)
{
	MDB_cursor *cur = NULL;
	MDB_val k, d, ak, ad;
	uint8_t key[8] = {0};
	struct archive_item it;
	struct audit_entry e;
	const uint8_t *bundle, *sealed;
	size_t blen, slen;
	uint64_t count = 0;
	int rc = mdb_cursor_open(w->t, w->a->items, &cur), ret = 0;

	if (rc)
		return LMDB_FAIL("cursor open", rc);
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); !rc; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		count++;
		if (k.mv_size != BUNDLE_ID_BYTES ||
		    archive_record_decode(&it, &bundle, &blen, &sealed, &slen, d.mv_data, d.mv_size)) {
			ret =
			    vbad(w, w->res->entries + 1, "an item's key or record is damaged", MU_E_MISMATCH);
			break;
		}
		put_be64(key, it.seq);
		ak = val(key, sizeof(key));
		rc = mdb_get(w->t, w->a->audit, &ak, &ad);
		if (rc && rc != MDB_NOTFOUND) {
			ret = LMDB_FAIL("audit get", rc);
			break;
		}
		if (rc || audit_entry_decode(&e, ad.mv_data, ad.mv_size) ||
		    memcmp(e.id, k.mv_data, BUNDLE_ID_BYTES) ||
		    e.event != (it.flags & ARCHIVE_F_ERASED ? AUDIT_ERASED : AUDIT_ARCHIVED)) {
			ret = vbad(w, it.seq ? it.seq : w->res->entries + 1,
				   "an item has no audit entry for it", MU_E_MISMATCH);
			break;
		}
	}
	if (!ret && rc != MDB_NOTFOUND)
		ret = LMDB_FAIL("cursor next", rc);
	mdb_cursor_close(cur);
	if (!ret && count != w->archived)
		ret = vbad(w, w->res->entries + 1, "item count differs from the chain's", MU_E_MISMATCH);
	return ret;
}

int archive_audit_verify(struct archive *a, const uint8_t pk[static MU_KEY_BYTES], struct archive_verify *res)
{
	struct vwalk w = {.a = a, .pk = pk, .res = res};
	uint64_t last = 0, items = 0;
	MDB_txn *saved;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = rbegin(a, &w.t);
	if (ret)
		return ret;
	saved = scan_begin(a, w.t); /* the whole check sees one snapshot */
	ret = archive_audit_scan(a, 0, verify_entry_cb, &w);
	if (ret == MU_E_FORMAT || ret == MU_E_VERSION)
		ret = vbad(&w, res->entries + 1, "entry does not decode", MU_E_MISMATCH);
	if (!ret)
		ret = verify_items(&w);
	if (!ret)
		ret = meta_get(w.t, a->meta, "last_seq", &last);
	if (!ret)
		ret = meta_get(w.t, a->meta, "items", &items);
	if (!ret && (last != res->entries || items != w.archived))
		ret = vbad(&w, res->entries + 1, "the chain ends before the archive's recorded head",
			   MU_E_MISMATCH);
	scan_end(a, saved);
	rend(a, w.t);
	if (w.err)
		return w.err;
	return ret == SCAN_STOP ? MU_E_STORE : ret;
}

/* ---- test helpers ---- */

static int raw_dbi(struct archive *a, const char *db, MDB_dbi *dbi)
{
	if (!strcmp(db, "items"))
		*dbi = a->items;
	else if (!strcmp(db, "audit"))
		*dbi = a->audit;
	else if (!strcmp(db, "meta"))
		*dbi = a->meta;
	else
		return -EINVAL;
	return 0;
}

int archive_test_raw_get(struct archive *a, const char *db, const void *key, size_t klen, uint8_t *buf,
			 size_t cap, size_t *len)
{
	MDB_dbi dbi;
	MDB_txn *t = NULL;
	MDB_val k = val(key, klen), d;
	int ret = raw_dbi(a, db, &dbi), rc;

	if (!ret)
		ret = rbegin(a, &t);
	if (ret)
		return ret;
	rc = mdb_get(t, dbi, &k, &d);
	if (rc)
		ret = rc == MDB_NOTFOUND ? MU_E_NOTFOUND : MU_E_STORE;
	else if (d.mv_size > cap)
		ret = MU_E_TOOBIG;
	else {
		memcpy(buf, d.mv_data, d.mv_size);
		*len = d.mv_size;
	}
	rend(a, t);
	return ret;
}

static int raw_write(struct archive *a, const char *db, const void *key, size_t klen, const void *v,
		     size_t vlen, bool del)
{
	MDB_dbi dbi;
	MDB_txn *t = NULL;
	MDB_val k = val(key, klen), d = val(v, vlen);
	int ret = raw_dbi(a, db, &dbi), rc;

	if (!ret)
		ret = wbegin(a, &t);
	if (ret)
		return ret;
	rc = del ? mdb_del(t, dbi, &k, NULL) : mdb_put(t, dbi, &k, &d, 0);
	if (rc)
		ret = rc == MDB_NOTFOUND ? MU_E_NOTFOUND : MU_E_STORE;
	return wend(a, t, ret, a->head_seq, NULL);
}

int archive_test_raw_put(struct archive *a, const char *db, const void *key, size_t klen, const void *val_,
			 size_t vlen)
{
	return raw_write(a, db, key, klen, val_, vlen, false);
}

int archive_test_raw_del(struct archive *a, const char *db, const void *key, size_t klen)
{
	return raw_write(a, db, key, klen, NULL, 0, true);
}

int archive_test_key_record(struct archive *a, const uint8_t id[static BUNDLE_ID_BYTES],
			    uint8_t out[static ARCHIVE_KEYREC_BYTES])
{
	return archive_keys_test_record(a->keys, id, out);
}

void archive_test_set_legacy(struct archive *a, bool on)
{
	a->legacy = on;
}

void archive_test_crash_commit(struct archive *a, int stage)
{
	a->crash_stage = stage;
}

/* ---- named meta values (archive_meta_*) ---- */

/* A caller's name holds a '.' and only [a-z0-9_.]: the archive's own meta
 * entries (data_key, items, cursor, ...) have none, so no caller can
 * overwrite a counter or the sealed data key. */
static int meta_name_ok(const char *name)
{
	size_t len = name ? strnlen(name, ARCHIVE_META_NAME_MAX + 1) : 0;
	bool dot = false;

	if (len < 3 || len > ARCHIVE_META_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (c == '.')
			dot = true;
		else if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '_')
			return -EINVAL;
	}
	return dot && name[0] != '.' && name[len - 1] != '.' ? 0 : -EINVAL;
}

int archive_meta_get_blob(struct archive *a, const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	MDB_txn *t = NULL;
	MDB_val k, d;
	int ret = meta_name_ok(name), rc;

	*len = 0;
	if (!ret)
		ret = rbegin(a, &t);
	if (ret)
		return ret;
	k = val(name, strlen(name));
	rc = mdb_get(t, a->meta, &k, &d);
	if (rc == MDB_NOTFOUND)
		ret = MU_E_NOTFOUND;
	else if (rc)
		ret = LMDB_FAIL("meta get", rc);
	else if (d.mv_size > ARCHIVE_META_BLOB_MAX)
		ret = MU_E_FORMAT;
	else if (d.mv_size > cap || (d.mv_size && !buf))
		ret = MU_E_TOOBIG;
	else if (d.mv_size)
		memcpy(buf, d.mv_data, d.mv_size);
	if (!ret || ret == MU_E_TOOBIG)
		*len = d.mv_size;
	rend(a, t);
	return ret;
}

int archive_meta_put_blob(struct archive *a, const char *name, const uint8_t *v, size_t len)
{
	MDB_txn *t = NULL;
	MDB_val k, d = val(v, len);
	int ret = meta_name_ok(name), rc;

	if (!ret && (len > ARCHIVE_META_BLOB_MAX || (len && !v)))
		ret = MU_E_TOOBIG;
	if (!ret)
		ret = wbegin(a, &t);
	if (ret)
		return ret;
	k = val(name, strlen(name));
	rc = mdb_put(t, a->meta, &k, &d, 0);
	if (rc)
		ret = LMDB_FAIL("meta put", rc);
	return wend(a, t, ret, a->head_seq, NULL);
}

int archive_meta_del(struct archive *a, const char *name)
{
	MDB_txn *t = NULL;
	MDB_val k;
	int ret = meta_name_ok(name), rc;

	if (!ret)
		ret = wbegin(a, &t);
	if (ret)
		return ret;
	k = val(name, strlen(name));
	rc = mdb_del(t, a->meta, &k, NULL);
	if (rc == MDB_NOTFOUND)
		ret = MU_E_NOTFOUND;
	else if (rc)
		ret = LMDB_FAIL("meta del", rc);
	return wend(a, t, ret, a->head_seq, NULL);
}
