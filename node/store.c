#include "store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "log.h"
#include "wire.h"

#define STORE_SCHEMA 1

/* "bundles" value: version, flags, hops, kind, prio, received, expires,
 * created, then the encoding. */
#define REC_VERSION      1
#define REC_OFF_VERSION  0
#define REC_OFF_FLAGS    1
#define REC_OFF_HOPS     2
#define REC_OFF_KIND     3
#define REC_OFF_PRIO     4
#define REC_OFF_RECEIVED 5
#define REC_OFF_EXPIRES  13
#define REC_OFF_CREATED  21
#define REC_HDR_BYTES    29
/* A tombstone is a record with this flag and no encoding (store.h). Never
 * accepted from callers' store_meta.flags. */
#define REC_F_TOMBSTONE  0x80

/* "custody" value: archived_at, expires. */
#define CUSTODY_BYTES 16

#define TIME_KEY_BYTES (8 + BUNDLE_ID_BYTES)     /* by_time, by_expiry */
#define RANK_KEY_BYTES (1 + 8 + BUNDLE_ID_BYTES) /* by_rank */
#define REVOKED_BYTES  (8 + 1)

#define SCAN_CHUNK 128

/* Admission asks, for every bundle, for its sender's credential and
 * whether that key is revoked; the answers change only when "creds" or
 * "revoked" is written. So each answer is kept with the generation it was
 * read at, and every write to those tables and every batch that ends
 * without a commit moves the generation on: a kept answer is always what a
 * read would return at that moment (through the open batch or not).
 * Direct-mapped by the key's first byte. */
#define ANSWER_SETS 64
struct cred_answer {
	uint64_t gen; /* 0: empty */
	struct cred c;
};
struct revoked_answer {
	uint64_t gen; /* 0: empty */
	uint8_t key[MU_KEY_BYTES];
	bool revoked;
};

struct store {
	MDB_env *env;
	uint64_t gen; /* of "creds" and "revoked", see above; starts at 1 */
	struct cred_answer creds_seen[ANSWER_SETS];
	struct revoked_answer revoked_seen[ANSWER_SETS];
	MDB_dbi bundles, by_time, by_expiry, by_rank, creds, revoked, custody, meta;
	struct store_limits lim;
	uint64_t evicted;
	size_t psize;            /* LMDB page size */
	struct store_txn *batch; /* the open write batch, if any */
};

/* Kept in "meta", so status needs no scan. count and bytes cover records
 * with an encoding; tombs counts tombstones; msgs and msg_bytes the
 * BK_MESSAGE part of count and bytes. */
struct totals {
	uint64_t count;
	uint64_t bytes;
	uint64_t tombs;
	uint64_t msgs;
	uint64_t msg_bytes;
};

struct store_txn {
	struct store *s;
	MDB_txn *txn;
	uint64_t evicted; /* folded into s->evicted on commit */
	/* Read at begin, kept here and written once by the commit: ten meta
	 * row reads and writes per put cost more than the put itself. */
	struct totals tot;
	bool tot_dirty;
	/* An LMDB failure in a write made without a child transaction: LMDB
	 * has then marked the transaction unusable, so every later call and
	 * the commit return this (store.h). */
	int failed;
	/* Pages the map can still give (at begin), and an upper bound of the
	 * pages this batch has taken since: a write without a child
	 * transaction is only made while it cannot run out of map. */
	size_t pg_room, pg_used;
};

/* What a stored record says about itself, copied out of the map. */
struct rec_hdr {
	uint8_t kind;
	uint8_t prio;
	uint64_t expires;
	uint64_t created;
	size_t enc_len;
	bool tomb;
};

static int lmdb_fail(const char *func, const char *what, int rc)
{
	if (rc == MDB_MAP_FULL) {
		log_msg(LOG_WARN, SUB_STORE, func, "%s: %s", what, mdb_strerror(rc));
		return MU_E_QUOTA;
	}
	log_msg(LOG_ERR, SUB_STORE, func, "%s: %s", what, mdb_strerror(rc));
	return MU_E_STORE;
}
#define LMDB_FAIL(what, rc) lmdb_fail(__func__, what, rc)

static int corrupt(const char *func, const char *what)
{
	log_msg(LOG_ERR, SUB_STORE, func, "corrupt store: %s", what);
	return MU_E_STORE;
}
#define CORRUPT(what) corrupt(__func__, what)

static MDB_val val(const void *p, size_t n)
{
	return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

/* Content ranks low-to-high in eviction order: bulk is evicted first. */
static uint8_t prio_rank(uint8_t prio)
{
	return (uint8_t)(PRIO_BULK - prio);
}

/* Credentials and revocations are what lets every other bundle be admitted;
 * they leave only by expiring. */
static bool kind_evictable(uint8_t kind)
{
	return kind != BK_CREDENTIAL && kind != BK_REVOCATION;
}

static void time_key(uint8_t k[static TIME_KEY_BYTES], uint64_t t, const uint8_t id[static BUNDLE_ID_BYTES])
{
	put_be64(k, t);
	memcpy(k + 8, id, BUNDLE_ID_BYTES);
}

static void rank_key(uint8_t k[static RANK_KEY_BYTES], uint8_t prio, uint64_t created,
		     const uint8_t id[static BUNDLE_ID_BYTES])
{
	k[0] = prio_rank(prio);
	put_be64(k + 1, created);
	memcpy(k + 9, id, BUNDLE_ID_BYTES);
}

static int meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v)
{
	MDB_val k = val(name, strlen(name)), d;
	int rc = mdb_get(txn, dbi, &k, &d);

	*v = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return LMDB_FAIL("meta get", rc);
	if (d.mv_size != 8)
		return CORRUPT("meta value size");
	*v = get_be64(d.mv_data);
	return 0;
}

static int meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t v)
{
	uint8_t b[8];
	MDB_val k = val(name, strlen(name)), d = val(b, sizeof(b));
	int rc;

	put_be64(b, v);
	rc = mdb_put(txn, dbi, &k, &d, 0);
	return rc ? LMDB_FAIL("meta put", rc) : 0;
}

static int totals_get(struct store *s, MDB_txn *txn, struct totals *t)
{
	int rc = meta_get_u64(txn, s->meta, "count", &t->count);

	if (!rc)
		rc = meta_get_u64(txn, s->meta, "bytes", &t->bytes);
	if (!rc)
		rc = meta_get_u64(txn, s->meta, "tombs", &t->tombs);
	if (!rc)
		rc = meta_get_u64(txn, s->meta, "msgs", &t->msgs);
	if (!rc)
		rc = meta_get_u64(txn, s->meta, "msg_bytes", &t->msg_bytes);
	return rc;
}

static int totals_put(struct store *s, MDB_txn *txn, const struct totals *t)
{
	int rc = meta_put_u64(txn, s->meta, "count", t->count);

	if (!rc)
		rc = meta_put_u64(txn, s->meta, "bytes", t->bytes);
	if (!rc)
		rc = meta_put_u64(txn, s->meta, "tombs", t->tombs);
	if (!rc)
		rc = meta_put_u64(txn, s->meta, "msgs", t->msgs);
	if (!rc)
		rc = meta_put_u64(txn, s->meta, "msg_bytes", t->msg_bytes);
	return rc;
}

/* Adds (sign 1) or removes (sign -1) one record with an encoding. */
static int totals_apply(struct totals *t, uint8_t kind, size_t len, int sign)
{
	bool msg = kind == BK_MESSAGE;

	if (sign > 0) {
		t->count++;
		t->bytes += len;
		t->msgs += msg;
		t->msg_bytes += msg ? len : 0;
		return 0;
	}
	if (t->count < 1 || t->bytes < len || (msg && (t->msgs < 1 || t->msg_bytes < len)))
		return CORRUPT("totals below a stored bundle");
	t->count--;
	t->bytes -= len;
	t->msgs -= msg;
	t->msg_bytes -= msg ? len : 0;
	return 0;
}

static int rec_parse(const MDB_val *d, struct rec_hdr *h)
{
	const uint8_t *p = d->mv_data;

	if (d->mv_size < REC_HDR_BYTES || p[REC_OFF_VERSION] != REC_VERSION)
		return CORRUPT("bundle record header");
	h->kind = p[REC_OFF_KIND];
	h->prio = p[REC_OFF_PRIO];
	h->expires = get_be64(p + REC_OFF_EXPIRES);
	h->created = get_be64(p + REC_OFF_CREATED);
	h->enc_len = d->mv_size - REC_HDR_BYTES;
	h->tomb = p[REC_OFF_FLAGS] & REC_F_TOMBSTONE;
	if (h->prio > PRIO_BULK)
		return CORRUPT("bundle record priority");
	if (h->tomb && h->enc_len)
		return CORRUPT("tombstone with an encoding");
	return 0;
}

static int del_key(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t n)
{
	MDB_val k = val(key, n);
	int rc = mdb_del(txn, dbi, &k, NULL);

	/* Every index row is written with its record; a missing one means the
	 * store was damaged outside this code. */
	if (rc == MDB_NOTFOUND)
		return CORRUPT("index row missing");
	return rc ? LMDB_FAIL("index del", rc) : 0;
}

/* Removes a bundle and its index rows; adjusts *tot (the caller writes it). */
static int del_bundle_in(struct store *s, MDB_txn *txn, const uint8_t id[static BUNDLE_ID_BYTES],
			 struct totals *tot)
{
	MDB_val k = val(id, BUNDLE_ID_BYTES), d;
	uint8_t tk[TIME_KEY_BYTES], rk[RANK_KEY_BYTES];
	struct rec_hdr h;
	int rc = mdb_get(txn, s->bundles, &k, &d);

	if (rc == MDB_NOTFOUND)
		return MU_E_NOTFOUND;
	if (rc)
		return LMDB_FAIL("bundle get", rc);
	rc = rec_parse(&d, &h);
	if (rc)
		return rc;
	time_key(tk, h.created, id);
	rc = del_key(txn, s->by_time, tk, sizeof(tk));
	if (rc)
		return rc;
	time_key(tk, h.expires, id);
	rc = del_key(txn, s->by_expiry, tk, sizeof(tk));
	if (rc)
		return rc;
	/* A tombstone left by_rank when it lost its encoding. */
	if (kind_evictable(h.kind) && !h.tomb) {
		rank_key(rk, h.prio, h.created, id);
		rc = del_key(txn, s->by_rank, rk, sizeof(rk));
		if (rc)
			return rc;
	}
	rc = del_key(txn, s->bundles, id, BUNDLE_ID_BYTES);
	if (rc)
		return rc;
	if (h.tomb) {
		if (tot->tombs < 1)
			return CORRUPT("tombstone total below a stored tombstone");
		tot->tombs--;
		return 0;
	}
	return totals_apply(tot, h.kind, h.enc_len, -1);
}

/* First key of dbi, copied into key (n bytes); 1 if the database is empty. */
static int first_key(MDB_txn *txn, MDB_dbi dbi, uint8_t *key, size_t n)
{
	MDB_cursor *cur = NULL;
	MDB_val k, d;
	int rc = mdb_cursor_open(txn, dbi, &cur);

	if (rc) {
		rc = LMDB_FAIL("cursor open", rc);
		goto out;
	}
	rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
	if (rc == MDB_NOTFOUND) {
		rc = 1;
		goto out;
	}
	if (rc) {
		rc = LMDB_FAIL("cursor first", rc);
		goto out;
	}
	if (k.mv_size != n) {
		rc = CORRUPT("index key size");
		goto out;
	}
	memcpy(key, k.mv_data, n);
out:
	mdb_cursor_close(cur);
	return rc;
}

/* Deletes the bundle with the earliest expiry if it has expired by now.
 * Returns 1 if one was deleted, 0 if none is due, <0 on error. */
static int del_one_expired(struct store *s, MDB_txn *txn, uint64_t now, struct totals *tot)
{
	uint8_t k[TIME_KEY_BYTES];
	int rc = first_key(txn, s->by_expiry, k, sizeof(k));

	if (rc)
		return rc == 1 ? 0 : rc;
	if (get_be64(k) > now)
		return 0;
	rc = del_bundle_in(s, txn, k + 8, tot);
	if (rc == MU_E_NOTFOUND)
		return CORRUPT("by_expiry row without bundle");
	return rc ? rc : 1;
}

/* Deletes the first bundle in eviction order if it ranks strictly below
 * (prio, created): lower priority, or the same priority and created earlier.
 * Returns 1 if one was evicted, 0 if none qualifies, <0 on error. */
static int evict_one_below(struct store *s, MDB_txn *txn, uint8_t prio, uint64_t created, struct totals *tot)
{
	uint8_t k[RANK_KEY_BYTES];
	uint8_t new_rank = prio_rank(prio);
	int rc = first_key(txn, s->by_rank, k, sizeof(k));

	if (rc)
		return rc == 1 ? 0 : rc;
	if (k[0] > new_rank || (k[0] == new_rank && get_be64(k + 1) >= created))
		return 0;
	rc = del_bundle_in(s, txn, k + 9, tot);
	if (rc == MU_E_NOTFOUND)
		return CORRUPT("by_rank row without bundle");
	return rc ? rc : 1;
}

static bool fits(const struct store *s, const struct totals *tot, size_t len)
{
	return tot->count < s->lim.quota_count && tot->bytes + len <= s->lim.quota_bytes;
}

/* Frees room for a bundle of len bytes; on MU_E_QUOTA the caller's child
 * transaction is aborted, which restores everything deleted here. */
static int make_room(struct store *s, MDB_txn *txn, const struct bundle *b, size_t len, uint64_t now,
		     struct totals *tot, uint64_t *evicted)
{
	int rc;

	if (len > s->lim.quota_bytes || s->lim.quota_count == 0)
		return MU_E_QUOTA;
	while (!fits(s, tot, len)) {
		rc = del_one_expired(s, txn, now, tot);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		(*evicted)++;
	}
	while (!fits(s, tot, len)) {
		rc = evict_one_below(s, txn, b->prio, b->created, tot);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return MU_E_QUOTA;
		(*evicted)++;
	}
	return 0;
}

static int put_index(MDB_txn *txn, MDB_dbi dbi, const uint8_t *key, size_t n)
{
	MDB_val k = val(key, n), d = val(NULL, 0);
	int rc = mdb_put(txn, dbi, &k, &d, MDB_NOOVERWRITE);

	if (rc == MDB_KEYEXIST)
		return CORRUPT("index row already present");
	return rc ? LMDB_FAIL("index put", rc) : 0;
}

/* by_time rows carry the bundle's kind (one byte) as their value, so the
 * keyset build can tell credentials and revocations apart without reading
 * records (node.c: the uplink's control keyset). Rows written before that
 * have an empty value (store_scan_keys passes kind 0). */
static int put_time_row(MDB_txn *txn, MDB_dbi dbi, const uint8_t *key, size_t n, uint8_t kind)
{
	MDB_val k = val(key, n), d = val(&kind, 1);
	int rc = mdb_put(txn, dbi, &k, &d, MDB_NOOVERWRITE);

	if (rc == MDB_KEYEXIST)
		return CORRUPT("index row already present");
	return rc ? LMDB_FAIL("index put", rc) : 0;
}

/* Every write runs in a child of the batch so a failure (including
 * MDB_MAP_FULL) undoes only that call and the batch stays usable. */
static int child_begin(struct store_txn *t, MDB_txn **child)
{
	int rc = mdb_txn_begin(t->s->env, t->txn, 0, child);

	if (rc) {
		*child = NULL;
		return LMDB_FAIL("child txn begin", rc);
	}
	return 0;
}

static int child_commit(MDB_txn **child)
{
	int rc = mdb_txn_commit(*child);

	*child = NULL;
	return rc ? LMDB_FAIL("child txn commit", rc) : 0;
}

/* ---- page accounting for writes without a child transaction ----
 *
 * Upper bounds of the pages one row write can take from the map, from how
 * LMDB writes: a put copies each page on its path this batch has not
 * copied yet (depth pages), may split each of them and the root (depth + 1
 * new pages), and puts a value too large for a leaf on overflow pages; a
 * delete copies its path and, per level, may copy the neighbour it
 * rebalances with and split the parent whose separator changed. The first
 * write to a named database in a batch also copies the path to its record
 * in the main database (two levels with eight databases). A batch with
 * more dirty pages than LMDB's dirty list holds spills some to the file
 * first (LMDB's own mechanism), so that is no failure either, unless the
 * spill's write fails. */
#define PG_SLACK 3

static size_t tree_depth(MDB_txn *txn, MDB_dbi dbi)
{
	MDB_stat st;

	/* On error a depth no tree reaches: the bound then forbids the fast
	 * path and the write goes through a child transaction. */
	return mdb_stat(txn, dbi, &st) ? 1000 : st.ms_depth;
}

static size_t pages_put(const struct store *s, MDB_txn *txn, MDB_dbi dbi, size_t vsize)
{
	size_t n = 2 * tree_depth(txn, dbi) + 1 + PG_SLACK;

	if (vsize > s->psize / 4)
		n += vsize / s->psize + 2;
	return n;
}

static size_t pages_del(MDB_txn *txn, MDB_dbi dbi)
{
	return 3 * tree_depth(txn, dbi) + 1 + PG_SLACK;
}

/* A bundle record and its three index rows. */
static size_t pages_bundle_put(const struct store *s, MDB_txn *txn, size_t len)
{
	return pages_put(s, txn, s->bundles, REC_HDR_BYTES + len) + pages_put(s, txn, s->by_time, 0) +
	       pages_put(s, txn, s->by_expiry, 0) + pages_put(s, txn, s->by_rank, 0);
}

static size_t pages_bundle_del(const struct store *s, MDB_txn *txn)
{
	return pages_del(txn, s->bundles) + pages_del(txn, s->by_time) + pages_del(txn, s->by_expiry) +
	       pages_del(txn, s->by_rank);
}

static bool room_for(const struct store_txn *t, size_t pages)
{
	return t->pg_used + pages < t->pg_room;
}

static void charge(struct store_txn *t, size_t pages)
{
	t->pg_used = pages > SIZE_MAX - t->pg_used ? SIZE_MAX : t->pg_used + pages;
}

/* 0 when t may take another write: -EINVAL without a batch, its first
 * failure once it has failed. */
static int batch_usable(const struct store_txn *t)
{
	return t ? t->failed : -EINVAL;
}

/* Commits a write's child txn; once committed, its pages and (when tot)
 * its totals count in the batch. */
static int child_finish(struct store_txn *t, MDB_txn **child, size_t pages, const struct totals *tot)
{
	int rc = child_commit(child);

	if (rc)
		return rc;
	charge(t, pages);
	if (tot) {
		t->tot = *tot;
		t->tot_dirty = true;
	}
	return 0;
}

/* Copies k's value in db, which must be size bytes, into out:
 * MU_E_NOTFOUND without one. func, get_what and size_what name the
 * failures in the log. */
static int get_fixed(MDB_txn *txn, MDB_dbi db, MDB_val *k, uint8_t *out, size_t size, const char *func,
		     const char *get_what, const char *size_what)
{
	MDB_val d;
	int rc = mdb_get(txn, db, k, &d);

	if (rc == MDB_NOTFOUND)
		return MU_E_NOTFOUND;
	if (rc)
		return lmdb_fail(func, get_what, rc);
	if (d.mv_size != size)
		return corrupt(func, size_what);
	memcpy(out, d.mv_data, size);
	return 0;
}

/* Fills a reserved "bundles" value. */
static void rec_fill(uint8_t *p, const struct bundle *b, const uint8_t *enc, size_t len,
		     const struct store_meta *meta)
{
	p[REC_OFF_VERSION] = REC_VERSION;
	p[REC_OFF_FLAGS] = meta->flags & ~REC_F_TOMBSTONE;
	p[REC_OFF_HOPS] = meta->hops;
	p[REC_OFF_KIND] = b->kind;
	p[REC_OFF_PRIO] = b->prio;
	put_be64(p + REC_OFF_RECEIVED, meta->received);
	put_be64(p + REC_OFF_EXPIRES, b->expires);
	put_be64(p + REC_OFF_CREATED, b->created);
	memcpy(p + REC_HDR_BYTES, enc, len);
}

/* The record's index rows; the record is already in txn. */
static int put_bundle_index(struct store *s, MDB_txn *txn, const struct bundle *b)
{
	uint8_t tk[TIME_KEY_BYTES], rk[RANK_KEY_BYTES];
	int rc;

	time_key(tk, b->created, b->id);
	rc = put_time_row(txn, s->by_time, tk, sizeof(tk), b->kind);
	if (rc)
		return rc;
	time_key(tk, b->expires, b->id);
	rc = put_index(txn, s->by_expiry, tk, sizeof(tk));
	if (rc || !kind_evictable(b->kind))
		return rc;
	rank_key(rk, b->prio, b->created, b->id);
	return put_index(txn, s->by_rank, rk, sizeof(rk));
}

/* The common case, straight into the batch: no eviction is needed and the
 * map cannot run out (room_for), so after the record's own put, which
 * fails with MDB_KEYEXIST before it writes anything, only an LMDB failure
 * (I/O, a damaged store) can stop it part-way; that fails the batch. */
static int put_bundle_direct(struct store_txn *t, const struct bundle *b, const uint8_t *enc, size_t len,
			     const struct store_meta *meta, size_t pages)
{
	struct store *s = t->s;
	MDB_val k = val(b->id, BUNDLE_ID_BYTES), d = val(NULL, REC_HDR_BYTES + len);
	int rc = mdb_put(t->txn, s->bundles, &k, &d, MDB_NOOVERWRITE | MDB_RESERVE);

	if (rc == MDB_KEYEXIST)
		return MU_E_EXISTS;
	charge(t, pages);
	if (rc) {
		t->failed = LMDB_FAIL("bundle put", rc);
		return t->failed;
	}
	rec_fill(d.mv_data, b, enc, len, meta);
	rc = put_bundle_index(s, t->txn, b);
	if (rc) {
		t->failed = rc;
		return rc;
	}
	totals_apply(&t->tot, b->kind, len, 1);
	t->tot_dirty = true;
	return 0;
}

int store_put_bundle(struct store_txn *t, const struct bundle *b, const uint8_t *enc, size_t len,
		     const struct store_meta *meta)
{
	struct store *s;
	MDB_txn *txn = NULL;
	MDB_val k, d;
	struct totals tot;
	uint64_t evicted = 0;
	size_t pages, pages_evict;
	int rc;

	if (!t || !b || !enc || !len || !meta)
		return -EINVAL;
	if (b->prio > PRIO_BULK)
		return MU_E_FORMAT;
	if (len > BUNDLE_ENC_MAX)
		return MU_E_TOOBIG;
	if (t->failed)
		return t->failed;
	s = t->s;
	pages = pages_bundle_put(s, t->txn, len);
	if (fits(s, &t->tot, len) && room_for(t, pages))
		return put_bundle_direct(t, b, enc, len, meta, pages);

	/* Eviction, or near the end of the map: in a child transaction, so
	 * that a failure undoes only this call. */
	pages_evict = pages_bundle_del(s, t->txn);
	tot = t->tot;
	rc = child_begin(t, &txn);
	if (rc)
		goto out;

	k = val(b->id, BUNDLE_ID_BYTES);
	rc = mdb_get(txn, s->bundles, &k, &d);
	if (rc == 0) {
		rc = MU_E_EXISTS;
		goto out;
	}
	if (rc != MDB_NOTFOUND) {
		rc = LMDB_FAIL("bundle get", rc);
		goto out;
	}

	if (!fits(s, &tot, len)) {
		rc = make_room(s, txn, b, len, meta->received, &tot, &evicted);
		if (rc)
			goto out;
	}

	d = val(NULL, REC_HDR_BYTES + len);
	rc = mdb_put(txn, s->bundles, &k, &d, MDB_NOOVERWRITE | MDB_RESERVE);
	if (rc) {
		rc = LMDB_FAIL("bundle put", rc);
		goto out;
	}
	rec_fill(d.mv_data, b, enc, len, meta);
	rc = put_bundle_index(s, txn, b);
	if (rc)
		goto out;
	totals_apply(&tot, b->kind, len, 1);
	/* Depths before this call bound its deletes and its put alike. */
	rc = child_finish(t, &txn, pages + (size_t)evicted * pages_evict, &tot);
	if (!rc)
		t->evicted += evicted;
out:
	mdb_txn_abort(txn);
	return rc;
}

int store_put_cred(struct store_txn *t, const struct cred *c)
{
	uint8_t enc[CRED_ENC_MAX];
	MDB_txn *txn = NULL;
	MDB_val k, d;
	struct cred old;
	size_t pages;
	int n, rc;

	if (!t || !c)
		return -EINVAL;
	if (t->failed)
		return t->failed;
	n = cred_encode(enc, sizeof(enc), c);
	if (n < 0)
		return n;
	pages = pages_put(t->s, t->txn, t->s->creds, (size_t)n);
	rc = child_begin(t, &txn);
	if (rc)
		goto out;
	k = val(c->sign_pk, MU_KEY_BYTES);
	rc = mdb_get(txn, t->s->creds, &k, &d);
	if (rc == 0) {
		rc = cred_decode(&old, d.mv_data, d.mv_size);
		if (rc == 0 && old.valid_until >= c->valid_until)
			goto out; /* what we hold lasts as long; keep it */
		if (rc)
			log_warn(SUB_STORE, "replacing undecodable stored credential: %s", mu_strerror(rc));
	} else if (rc != MDB_NOTFOUND) {
		rc = LMDB_FAIL("cred get", rc);
		goto out;
	}
	d = val(enc, (size_t)n);
	rc = mdb_put(txn, t->s->creds, &k, &d, 0);
	rc = rc ? LMDB_FAIL("cred put", rc) : child_finish(t, &txn, pages, NULL);
out:
	t->s->gen++; /* even unchanged or failed: cheap, and never stale */
	mdb_txn_abort(txn);
	return rc;
}

int store_put_revocation(struct store_txn *t, const uint8_t key[static MU_KEY_BYTES], uint64_t at,
			 uint8_t reason)
{
	uint8_t rec[REVOKED_BYTES];
	MDB_txn *txn = NULL;
	MDB_val k, d;
	size_t pages;
	int rc;

	rc = batch_usable(t);
	if (rc)
		return rc;
	pages = pages_put(t->s, t->txn, t->s->revoked, REVOKED_BYTES);
	rc = child_begin(t, &txn);
	if (rc)
		goto out;
	k = val(key, MU_KEY_BYTES);
	rc = get_fixed(txn, t->s->revoked, &k, rec, REVOKED_BYTES, __func__, "revoked get",
		       "revoked record size");
	if (rc == 0 && get_be64(rec) <= at)
		goto out; /* the earliest revocation stands */
	if (rc && rc != MU_E_NOTFOUND)
		goto out;
	put_be64(rec, at);
	rec[8] = reason;
	d = val(rec, sizeof(rec));
	rc = mdb_put(txn, t->s->revoked, &k, &d, 0);
	rc = rc ? LMDB_FAIL("revoked put", rc) : child_finish(t, &txn, pages, NULL);
out:
	t->s->gen++;
	mdb_txn_abort(txn);
	return rc;
}

int store_del_bundle(struct store_txn *t, const uint8_t id[static BUNDLE_ID_BYTES])
{
	MDB_txn *txn = NULL;
	struct totals tot;
	size_t pages;
	int rc;

	rc = batch_usable(t);
	if (rc)
		return rc;
	pages = pages_bundle_del(t->s, t->txn);
	tot = t->tot;
	rc = child_begin(t, &txn);
	if (rc)
		goto out;
	rc = del_bundle_in(t->s, txn, id, &tot);
	if (!rc)
		rc = child_finish(t, &txn, pages, &tot);
out:
	mdb_txn_abort(txn);
	return rc;
}

int store_tombstone(struct store_txn *t, const uint8_t id[static BUNDLE_ID_BYTES])
{
	uint8_t hdr[REC_HDR_BYTES], rk[RANK_KEY_BYTES];
	MDB_txn *txn = NULL;
	MDB_val k = val(id, BUNDLE_ID_BYTES), d;
	struct totals tot;
	struct rec_hdr h;
	size_t pages;
	int rc;

	rc = batch_usable(t);
	if (rc)
		return rc;
	pages = pages_put(t->s, t->txn, t->s->bundles, REC_HDR_BYTES) + pages_del(t->txn, t->s->by_rank);
	tot = t->tot;
	rc = child_begin(t, &txn);
	if (rc)
		goto out;
	rc = mdb_get(txn, t->s->bundles, &k, &d);
	if (rc == MDB_NOTFOUND) {
		rc = MU_E_NOTFOUND;
		goto out;
	}
	if (rc) {
		rc = LMDB_FAIL("bundle get", rc);
		goto out;
	}
	rc = rec_parse(&d, &h);
	if (rc || h.tomb)
		goto out;
	memcpy(hdr, d.mv_data, REC_HDR_BYTES);
	hdr[REC_OFF_FLAGS] |= REC_F_TOMBSTONE;
	rc = totals_apply(&tot, h.kind, h.enc_len, -1);
	if (rc)
		goto out;
	tot.tombs++;
	if (kind_evictable(h.kind)) {
		rank_key(rk, h.prio, h.created, id);
		rc = del_key(txn, t->s->by_rank, rk, sizeof(rk));
		if (rc)
			goto out;
	}
	d = val(hdr, sizeof(hdr));
	rc = mdb_put(txn, t->s->bundles, &k, &d, 0);
	rc = rc ? LMDB_FAIL("tombstone put", rc) : child_finish(t, &txn, pages, &tot);
out:
	mdb_txn_abort(txn);
	return rc;
}

int store_custody_put(struct store_txn *t, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t archived_at,
		      uint64_t expires)
{
	uint8_t rec[CUSTODY_BYTES];
	MDB_txn *txn = NULL;
	MDB_val k = val(id, BUNDLE_ID_BYTES), d;
	MDB_stat st;
	size_t pages;
	int rc;

	rc = batch_usable(t);
	if (rc)
		return rc;
	pages = pages_put(t->s, t->txn, t->s->custody, CUSTODY_BYTES);
	rc = child_begin(t, &txn);
	if (rc)
		goto out;
	rc = get_fixed(txn, t->s->custody, &k, rec, CUSTODY_BYTES, __func__, "custody get",
		       "custody record size");
	if (rc == 0) {
		/* The first receipt dates the custody; the longest-lived one
		 * keeps the record. */
		if (get_be64(rec) < archived_at)
			archived_at = get_be64(rec);
		if (get_be64(rec + 8) > expires)
			expires = get_be64(rec + 8);
	} else if (rc == MU_E_NOTFOUND) {
		rc = mdb_stat(txn, t->s->custody, &st);
		if (rc) {
			rc = LMDB_FAIL("stat custody", rc);
			goto out;
		}
		if (st.ms_entries >= STORE_CUSTODY_MAX) {
			rc = MU_E_QUOTA;
			goto out;
		}
	} else {
		goto out;
	}
	put_be64(rec, archived_at);
	put_be64(rec + 8, expires);
	d = val(rec, sizeof(rec));
	rc = mdb_put(txn, t->s->custody, &k, &d, 0);
	rc = rc ? LMDB_FAIL("custody put", rc) : child_finish(t, &txn, pages, NULL);
out:
	mdb_txn_abort(txn);
	return rc;
}

int store_write_begin(struct store *s, struct store_txn **out)
{
	struct store_txn *t = NULL;
	MDB_envinfo info;
	int rc;

	*out = NULL;
	if (s->batch)
		return -EBUSY; /* a second writer on this thread would deadlock */
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->s = s;
	rc = mdb_txn_begin(s->env, NULL, 0, &t->txn);
	if (rc) {
		t->txn = NULL;
		rc = LMDB_FAIL("txn begin", rc);
		goto out;
	}
	rc = totals_get(s, t->txn, &t->tot);
	if (rc)
		goto out;
	/* Holding the write lock, the last commit's end of file is ours. */
	rc = mdb_env_info(s->env, &info);
	if (rc) {
		rc = LMDB_FAIL("env info", rc);
		goto out;
	}
	if (info.me_mapsize / s->psize > info.me_last_pgno + 2)
		t->pg_room = info.me_mapsize / s->psize - info.me_last_pgno - 2;
	s->batch = t;
	*out = t;
	t = NULL;
out:
	if (t)
		mdb_txn_abort(t->txn);
	free(t);
	return rc;
}

int store_write_commit(struct store_txn *t)
{
	int rc;

	if (!t)
		return -EINVAL;
	t->s->batch = NULL;
	rc = t->failed;
	if (!rc && t->tot_dirty)
		rc = totals_put(t->s, t->txn, &t->tot);
	if (rc) {
		t->s->gen++;
		mdb_txn_abort(t->txn);
		free(t);
		return rc;
	}
	rc = mdb_txn_commit(t->txn);
	if (rc) {
		t->s->gen++; /* what the batch wrote is gone */
		rc = LMDB_FAIL("txn commit", rc);
	} else {
		t->s->evicted += t->evicted;
	}
	free(t);
	return rc;
}

void store_write_abort(struct store_txn *t)
{
	if (!t)
		return;
	t->s->batch = NULL;
	t->s->gen++; /* what the batch wrote is gone */
	mdb_txn_abort(t->txn);
	free(t);
}

/* LMDB allows one transaction per thread, so while a batch is open reads go
 * through it (and see its uncommitted writes); otherwise a short read-only
 * transaction. */
static int read_begin(struct store *s, MDB_txn **txn)
{
	int rc;

	if (s->batch) {
		*txn = s->batch->txn;
		return 0;
	}
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
	if (rc) {
		*txn = NULL;
		return LMDB_FAIL("read txn begin", rc);
	}
	return 0;
}

static void read_end(struct store *s, MDB_txn *txn)
{
	if (txn && (!s->batch || txn != s->batch->txn))
		mdb_txn_abort(txn);
}

/* 1 if key is in dbi, 0 if not, <0 on error. */
static int key_exists(struct store *s, MDB_dbi dbi, const uint8_t *key, size_t n, const char *what)
{
	MDB_txn *txn = NULL;
	MDB_val k = val(key, n), d;
	int rc = read_begin(s, &txn);

	if (rc)
		goto out;
	rc = mdb_get(txn, dbi, &k, &d);
	if (rc == 0)
		rc = 1;
	else if (rc == MDB_NOTFOUND)
		rc = 0;
	else
		rc = LMDB_FAIL(what, rc);
out:
	read_end(s, txn);
	return rc;
}

int store_has(struct store *s, const uint8_t id[static BUNDLE_ID_BYTES])
{
	return key_exists(s, s->bundles, id, BUNDLE_ID_BYTES, "bundle get");
}

/* Finds a bundle's record inside txn and fills info (meta and routing
 * fields); *d points into the LMDB map, valid until txn ends. */
static int rec_find(struct store *s, MDB_txn *txn, const uint8_t id[static BUNDLE_ID_BYTES], MDB_val *d,
		    struct store_info *info)
{
	MDB_val k = val(id, BUNDLE_ID_BYTES);
	struct rec_hdr h;
	const uint8_t *p;
	int rc = mdb_get(txn, s->bundles, &k, d);

	if (rc == MDB_NOTFOUND)
		return MU_E_NOTFOUND;
	if (rc)
		return LMDB_FAIL("bundle get", rc);
	rc = rec_parse(d, &h);
	if (rc)
		return rc;
	if (h.tomb)
		return MU_E_NOTFOUND; /* the id is known, the content is gone */
	p = d->mv_data;
	info->meta.received = get_be64(p + REC_OFF_RECEIVED);
	info->meta.hops = p[REC_OFF_HOPS];
	info->meta.flags = p[REC_OFF_FLAGS];
	info->kind = h.kind;
	info->prio = h.prio;
	info->created = h.created;
	info->expires = h.expires;
	info->len = h.enc_len;
	return 0;
}

int store_get(struct store *s, const uint8_t id[static BUNDLE_ID_BYTES], uint8_t *buf, size_t cap,
	      size_t *len, struct store_meta *meta)
{
	MDB_txn *txn = NULL;
	struct store_info info;
	MDB_val d;
	int rc;

	*len = 0;
	if (meta)
		memset(meta, 0, sizeof(*meta));
	rc = read_begin(s, &txn);
	if (!rc)
		rc = rec_find(s, txn, id, &d, &info);
	if (rc)
		goto out;
	*len = info.len;
	if (info.len > cap) {
		rc = MU_E_TOOBIG;
		goto out;
	}
	memcpy(buf, (const uint8_t *)d.mv_data + REC_HDR_BYTES, info.len);
	if (meta)
		*meta = info.meta;
out:
	read_end(s, txn);
	return rc;
}

int store_peek(struct store *s, const uint8_t id[static BUNDLE_ID_BYTES], struct store_info *out)
{
	MDB_txn *txn = NULL;
	MDB_val d;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = read_begin(s, &txn);
	if (!rc)
		rc = rec_find(s, txn, id, &d, out);
	read_end(s, txn);
	return rc;
}

int store_cred_lookup(void *store, const uint8_t key[static MU_KEY_BYTES], struct cred *out)
{
	struct store *s = store;
	struct cred_answer *a = &s->creds_seen[key[0] % ANSWER_SETS];
	MDB_txn *txn = NULL;
	MDB_val k = val(key, MU_KEY_BYTES), d;
	int rc;

	if (a->gen == s->gen && !memcmp(a->c.sign_pk, key, MU_KEY_BYTES)) {
		*out = a->c;
		return 0;
	}
	memset(out, 0, sizeof(*out));
	rc = read_begin(s, &txn);
	if (rc)
		goto out;
	rc = mdb_get(txn, s->creds, &k, &d);
	if (rc == MDB_NOTFOUND) {
		rc = MU_E_NOCRED;
		goto out;
	}
	if (rc) {
		rc = LMDB_FAIL("cred get", rc);
		goto out;
	}
	rc = cred_decode(out, d.mv_data, d.mv_size);
	if (rc) {
		log_err(SUB_STORE, "stored credential does not decode: %s", mu_strerror(rc));
		rc = MU_E_STORE;
		goto out;
	}
	/* kept only under the key it was found by */
	if (!memcmp(out->sign_pk, key, MU_KEY_BYTES)) {
		a->gen = s->gen;
		a->c = *out;
	}
out:
	read_end(s, txn);
	return rc;
}

int store_is_revoked(void *store, const uint8_t key[static MU_KEY_BYTES])
{
	struct store *s = store;
	struct revoked_answer *a = &s->revoked_seen[key[0] % ANSWER_SETS];
	int rc;

	if (a->gen == s->gen && !memcmp(a->key, key, MU_KEY_BYTES))
		return a->revoked;
	rc = key_exists(s, s->revoked, key, MU_KEY_BYTES, "revoked get");
	if (rc >= 0) {
		a->gen = s->gen;
		memcpy(a->key, key, MU_KEY_BYTES);
		a->revoked = rc;
	}
	return rc;
}

/* Copies the fixed-size record under key in db into out (size bytes):
 * MU_E_NOTFOUND if absent, MU_E_STORE for a record of another size or an
 * LMDB failure (logged with the caller's name and the table's, get_what and
 * size_what, e.g. "revoked get" / "revoked record size"). */
static int read_fixed(struct store *s, MDB_dbi db, const uint8_t *key, size_t klen, uint8_t *out, size_t size,
		      const char *func, const char *get_what, const char *size_what)
{
	MDB_txn *txn = NULL;
	MDB_val k = val(key, klen);
	int rc = read_begin(s, &txn);

	if (!rc)
		rc = get_fixed(txn, db, &k, out, size, func, get_what, size_what);
	read_end(s, txn);
	return rc;
}

int store_get_revocation(struct store *s, const uint8_t key[static MU_KEY_BYTES], uint64_t *at,
			 uint8_t *reason)
{
	uint8_t rec[REVOKED_BYTES] = { 0 };
	int rc = read_fixed(s, s->revoked, key, MU_KEY_BYTES, rec, sizeof(rec), __func__, "revoked get",
			    "revoked record size");

	if (at)
		*at = rc ? 0 : get_be64(rec);
	if (reason)
		*reason = rc ? 0 : rec[8];
	return rc;
}

int store_custody_get(struct store *s, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t *archived_at)
{
	uint8_t rec[CUSTODY_BYTES];
	int rc = read_fixed(s, s->custody, id, BUNDLE_ID_BYTES, rec, sizeof(rec), __func__, "custody get",
			    "custody record size");

	*archived_at = rc ? 0 : get_be64(rec);
	return rc;
}

/* Deletes every custody record with expires <= now; *n gets the count. The
 * table is capped (STORE_CUSTODY_MAX), so a walk is cheap enough for the
 * purge timer. */
static int purge_custody(struct store *s, MDB_txn *txn, uint64_t now, uint64_t *n)
{
	MDB_cursor *cur = NULL;
	MDB_val k, d;
	int rc = mdb_cursor_open(txn, s->custody, &cur);

	*n = 0;
	if (rc) {
		rc = LMDB_FAIL("cursor open", rc);
		goto out;
	}
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		if (d.mv_size != CUSTODY_BYTES) {
			rc = CORRUPT("custody record size");
			goto out;
		}
		if (get_be64((const uint8_t *)d.mv_data + 8) > now)
			continue;
		rc = mdb_cursor_del(cur, 0);
		if (rc) {
			rc = LMDB_FAIL("custody del", rc);
			goto out;
		}
		(*n)++;
	}
	rc = rc == MDB_NOTFOUND ? 0 : LMDB_FAIL("cursor get", rc);
out:
	mdb_cursor_close(cur);
	return rc;
}

int store_purge_expired(struct store *s, uint64_t now, uint64_t *removed)
{
	MDB_txn *txn = NULL;
	struct totals tot;
	uint64_t n = 0, ncust = 0;
	int rc;

	if (removed)
		*removed = 0;
	if (s->batch)
		return -EBUSY;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc) {
		txn = NULL;
		rc = LMDB_FAIL("txn begin", rc);
		goto out;
	}
	rc = totals_get(s, txn, &tot);
	if (rc)
		goto out;
	while ((rc = del_one_expired(s, txn, now, &tot)) == 1)
		n++;
	if (!rc)
		rc = purge_custody(s, txn, now, &ncust);
	if (rc)
		goto out;
	if (n) {
		rc = totals_put(s, txn, &tot);
		if (rc)
			goto out;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc) {
		rc = LMDB_FAIL("txn commit", rc);
		goto out;
	}
	if (removed)
		*removed = n;
	if (n || ncust)
		log_debug(SUB_STORE, "purged %llu expired bundles and tombstones, %llu custody records",
			  (unsigned long long)n, (unsigned long long)ncust);
out:
	mdb_txn_abort(txn);
	return rc;
}

struct scan_row {
	uint64_t t;
	uint8_t id[BUNDLE_ID_BYTES];
	uint8_t kind; /* by_time's value; 0 if none */
};

/* How scan_chunks reads one table's rows into a walk w. */
struct chunk_ops {
	size_t val_len;   /* every value's size; 0: any */
	const char *what; /* a key or value of another size, in the log */
	/* Copies row i out of the transaction into w. */
	void (*copy)(void *w, size_t i, const MDB_val *k, const MDB_val *d);
	/* Hands row i to the caller's callback; nonzero stops the walk. */
	int (*deliver)(void *w, size_t i);
};

/* Walks dbi in key order from the key in from (key_len bytes, every key as
 * long; from holds the last key read) in chunks of SCAN_CHUNK rows. Each
 * chunk is read in a read transaction of its own and copied out, then
 * delivered with no transaction of ours open, so the callback may call any
 * store function. func names the caller in log lines. */
static int scan_chunks(struct store *s, const char *func, MDB_dbi dbi, uint8_t *from, size_t key_len,
		       const struct chunk_ops *ops, void *w)
{
	bool skip_first = false, done = false;
	int rc = 0;

	while (!done) {
		MDB_txn *txn = NULL;
		MDB_cursor *cur = NULL;
		MDB_val k = val(from, key_len), d;
		size_t n = 0;

		rc = read_begin(s, &txn);
		if (rc)
			return rc;
		rc = mdb_cursor_open(txn, dbi, &cur);
		if (rc) {
			rc = lmdb_fail(func, "cursor open", rc);
			goto chunk_out;
		}
		rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
		/* resuming: the row we stopped at was already delivered */
		if (rc == 0 && skip_first && k.mv_size == key_len && !memcmp(k.mv_data, from, key_len))
			rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
		while (rc == 0 && n < SCAN_CHUNK) {
			if (k.mv_size != key_len || (ops->val_len && d.mv_size != ops->val_len)) {
				rc = corrupt(func, ops->what);
				goto chunk_out;
			}
			ops->copy(w, n, &k, &d);
			memcpy(from, k.mv_data, key_len);
			n++;
			rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
		}
		if (rc == MDB_NOTFOUND) {
			done = true;
			rc = 0;
		} else if (rc) {
			rc = lmdb_fail(func, "cursor get", rc);
		}
	chunk_out:
		mdb_cursor_close(cur);
		read_end(s, txn);
		if (rc)
			return rc;
		for (size_t i = 0; i < n; i++) {
			rc = ops->deliver(w, i);
			if (rc)
				return rc;
		}
		skip_first = true;
	}
	return 0;
}

struct index_walk {
	struct scan_row rows[SCAN_CHUNK];
	size_t prefix_len;
	store_scan_fn fn;
	store_key_fn kfn;
	void *ctx;
};

static void index_copy(void *p, size_t i, const MDB_val *k, const MDB_val *d)
{
	struct index_walk *w = p;
	const uint8_t *kp = k->mv_data;

	w->rows[i].t = get_be64(kp + w->prefix_len);
	memcpy(w->rows[i].id, kp + w->prefix_len + 8, BUNDLE_ID_BYTES);
	w->rows[i].kind = d->mv_size == 1 ? *(const uint8_t *)d->mv_data : 0;
}

static int index_deliver(void *p, size_t i)
{
	struct index_walk *w = p;
	const struct scan_row *r = &w->rows[i];

	return w->kfn ? w->kfn(w->ctx, r->t, r->id, r->kind) : w->fn(w->ctx, r->t, r->id);
}

static const struct chunk_ops index_ops = {0, "index key size", index_copy, index_deliver};

/* Walks an index whose keys are prefix_len bytes, a be64, then an id. Rows
 * are copied out SCAN_CHUNK at a time and fn runs with no transaction of
 * ours open, so fn may call any store function. */
static int scan_index(struct store *s, MDB_dbi dbi, size_t prefix_len, const uint8_t *start, store_scan_fn fn,
		      store_key_fn kfn, void *ctx)
{
	struct index_walk w = {.prefix_len = prefix_len, .fn = fn, .kfn = kfn, .ctx = ctx};
	size_t key_len = prefix_len + 8 + BUNDLE_ID_BYTES;
	uint8_t from[RANK_KEY_BYTES];

	memcpy(from, start, key_len);
	return scan_chunks(s, __func__, dbi, from, key_len, &index_ops, &w);
}

int store_scan_time(struct store *s, uint64_t from_created, const uint8_t *from_id, store_scan_fn fn,
		    void *ctx)
{
	static const uint8_t zero[BUNDLE_ID_BYTES];
	uint8_t k[TIME_KEY_BYTES];

	time_key(k, from_created, from_id ? from_id : zero);
	return scan_index(s, s->by_time, 0, k, fn, NULL, ctx);
}

int store_scan_keys(struct store *s, uint64_t from_created, const uint8_t *from_id, store_key_fn fn, void *ctx)
{
	static const uint8_t zero[BUNDLE_ID_BYTES];
	uint8_t k[TIME_KEY_BYTES];

	time_key(k, from_created, from_id ? from_id : zero);
	return scan_index(s, s->by_time, 0, k, NULL, fn, ctx);
}

int store_scan_expiry(struct store *s, store_scan_fn fn, void *ctx)
{
	uint8_t k[TIME_KEY_BYTES] = {0};

	return scan_index(s, s->by_expiry, 0, k, fn, NULL, ctx);
}

int store_scan_evict(struct store *s, store_scan_fn fn, void *ctx)
{
	uint8_t k[RANK_KEY_BYTES] = {0};

	return scan_index(s, s->by_rank, 1, k, fn, NULL, ctx);
}

int store_scan_creds(struct store *s, store_cred_fn fn, void *ctx)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, d;
	struct cred *v = NULL;
	size_t n = 0, cap = 0;
	int rc = read_begin(s, &txn);

	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, s->creds, &cur);
	if (rc) {
		rc = LMDB_FAIL("cursor open", rc);
		goto out;
	}
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		if (n == cap) {
			struct cred *nv = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof(*v));

			if (!nv) {
				rc = -ENOMEM;
				goto out;
			}
			v = nv;
		}
		if (cred_decode(&v[n], d.mv_data, d.mv_size) == 0)
			n++;
	}
	rc = rc == MDB_NOTFOUND ? 0 : LMDB_FAIL("cursor get", rc);
out:
	mdb_cursor_close(cur);
	read_end(s, txn);
	/* Callbacks run with no transaction of ours open. */
	for (size_t i = 0; !rc && i < n; i++)
		rc = fn(ctx, &v[i]);
	free(v);
	return rc;
}

struct custody_row {
	uint8_t id[BUNDLE_ID_BYTES];
	uint64_t archived_at, expires;
};

struct custody_walk {
	struct custody_row rows[SCAN_CHUNK];
	store_custody_fn fn;
	void *ctx;
};

static void custody_copy(void *p, size_t i, const MDB_val *k, const MDB_val *d)
{
	struct custody_walk *w = p;

	memcpy(w->rows[i].id, k->mv_data, BUNDLE_ID_BYTES);
	w->rows[i].archived_at = get_be64(d->mv_data);
	w->rows[i].expires = get_be64((const uint8_t *)d->mv_data + 8);
}

static int custody_deliver(void *p, size_t i)
{
	struct custody_walk *w = p;

	return w->fn(w->ctx, w->rows[i].id, w->rows[i].archived_at, w->rows[i].expires);
}

static const struct chunk_ops custody_ops = {CUSTODY_BYTES, "custody record size", custody_copy,
					     custody_deliver};

int store_scan_custody(struct store *s, store_custody_fn fn, void *ctx)
{
	struct custody_walk w = {.fn = fn, .ctx = ctx};
	uint8_t from[BUNDLE_ID_BYTES] = {0};

	/* Copied out in chunks, as scan_index does, so fn may write. */
	return scan_chunks(s, __func__, s->custody, from, sizeof(from), &custody_ops, &w);
}

int store_stat(struct store *s, struct store_stat *out)
{
	MDB_txn *txn = NULL;
	struct totals tot;
	MDB_stat st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = read_begin(s, &txn);
	if (rc)
		goto out;
	if (s->batch)
		tot = s->batch->tot; /* not written until the commit */
	else
		rc = totals_get(s, txn, &tot);
	if (rc)
		goto out;
	out->count = tot.count;
	out->bytes = tot.bytes;
	out->messages = tot.msgs;
	out->message_bytes = tot.msg_bytes;
	out->tombstones = tot.tombs;
	rc = mdb_stat(txn, s->custody, &st);
	if (rc) {
		rc = LMDB_FAIL("stat custody", rc);
		goto out;
	}
	out->custody = st.ms_entries;
	rc = mdb_stat(txn, s->creds, &st);
	if (rc) {
		rc = LMDB_FAIL("stat creds", rc);
		goto out;
	}
	out->creds = st.ms_entries;
	rc = mdb_stat(txn, s->revoked, &st);
	if (rc) {
		rc = LMDB_FAIL("stat revoked", rc);
		goto out;
	}
	out->revoked = st.ms_entries;
	out->evicted = s->evicted;
out:
	read_end(s, txn);
	return rc;
}

static int dbi_open(MDB_txn *txn, const char *name, MDB_dbi *dbi)
{
	int rc = mdb_dbi_open(txn, name, MDB_CREATE, dbi);

	return rc ? LMDB_FAIL(name, rc) : 0;
}

static int schema_check(struct store *s, MDB_txn *txn)
{
	uint8_t b[4];
	MDB_val k = val("schema", 6), d;
	int rc = mdb_get(txn, s->meta, &k, &d);

	if (rc == MDB_NOTFOUND) {
		b[0] = 0;
		b[1] = 0;
		b[2] = 0;
		b[3] = STORE_SCHEMA;
		d = val(b, sizeof(b));
		rc = mdb_put(txn, s->meta, &k, &d, 0);
		return rc ? LMDB_FAIL("schema put", rc) : 0;
	}
	if (rc)
		return LMDB_FAIL("schema get", rc);
	if (d.mv_size != 4)
		return CORRUPT("schema value size");
	memcpy(b, d.mv_data, 4);
	if (b[0] || b[1] || b[2] || b[3] != STORE_SCHEMA) {
		log_err(SUB_STORE, "store schema %u.%u.%u.%u, this build reads %u", b[0], b[1], b[2], b[3],
			STORE_SCHEMA);
		return MU_E_VERSION;
	}
	return 0;
}

/* Stores written before the message and tombstone totals existed have
 * no "msgs" row: count them once (a walk of every record). */
static int totals_upgrade(struct store *s, MDB_txn *txn)
{
	MDB_val k = val("msgs", 4), d;
	MDB_cursor *cur = NULL;
	struct totals tot;
	struct rec_hdr h;
	int rc = mdb_get(txn, s->meta, &k, &d);

	if (rc != MDB_NOTFOUND)
		return rc ? LMDB_FAIL("meta get", rc) : 0;
	rc = totals_get(s, txn, &tot);
	if (rc)
		return rc;
	tot.msgs = tot.msg_bytes = tot.tombs = 0;
	rc = mdb_cursor_open(txn, s->bundles, &cur);
	if (rc)
		return LMDB_FAIL("cursor open", rc);
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		rc = rec_parse(&d, &h);
		if (rc)
			goto out;
		if (h.kind == BK_MESSAGE) {
			tot.msgs++;
			tot.msg_bytes += h.enc_len;
		}
	}
	rc = rc == MDB_NOTFOUND ? totals_put(s, txn, &tot) : LMDB_FAIL("cursor get", rc);
out:
	mdb_cursor_close(cur);
	return rc;
}

int store_open(struct store **out, const char *dir, const struct store_limits *lim)
{
	struct store *s = NULL;
	MDB_txn *txn = NULL;
	MDB_stat est;
	int dead = 0, rc;

	*out = NULL;
	if (mkdir(dir, 0700) && errno != EEXIST) {
		rc = -errno;
		log_err(SUB_STORE, "mkdir %s: %s", dir, mu_strerror(rc));
		return rc;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->gen = 1;
	s->lim = (struct store_limits){.map_bytes = STORE_MAP_DEFAULT,
				       .quota_bytes = STORE_QUOTA_BYTES_DEFAULT,
				       .quota_count = STORE_QUOTA_COUNT_DEFAULT};
	if (lim)
		s->lim = *lim;
	/* Evicted pages are reusable only after later commits and B-tree pages
	 * are seldom full, so a map near the quota fills before the quota does. */
	if (s->lim.quota_bytes > s->lim.map_bytes / 2)
		log_warn(SUB_STORE, "quota_bytes %llu is over half of store_map_bytes %llu",
			 (unsigned long long)s->lim.quota_bytes, (unsigned long long)s->lim.map_bytes);

	rc = mdb_env_create(&s->env);
	if (rc) {
		s->env = NULL;
		rc = LMDB_FAIL("env create", rc);
		goto out;
	}
	rc = mdb_env_set_maxdbs(s->env, 16);
	if (!rc)
		rc = mdb_env_set_mapsize(s->env, (size_t)s->lim.map_bytes);
	if (rc) {
		rc = LMDB_FAIL("env setup", rc);
		goto out;
	}
	rc = mdb_env_open(s->env, dir, 0, 0600);
	if (rc) {
		log_err(SUB_STORE, "open %s: %s", dir, mdb_strerror(rc));
		rc = rc > 0 ? -rc : MU_E_STORE;
		goto out;
	}
	/* Reader slots left by a crashed process would pin old pages forever. */
	rc = mdb_reader_check(s->env, &dead);
	if (rc) {
		rc = LMDB_FAIL("reader check", rc);
		goto out;
	}
	if (dead)
		log_info(SUB_STORE, "cleared %d stale reader slots", dead);
	rc = mdb_env_stat(s->env, &est);
	if (rc) {
		rc = LMDB_FAIL("env stat", rc);
		goto out;
	}
	s->psize = est.ms_psize;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc) {
		txn = NULL;
		rc = LMDB_FAIL("txn begin", rc);
		goto out;
	}
	rc = dbi_open(txn, "bundles", &s->bundles);
	if (!rc)
		rc = dbi_open(txn, "by_time", &s->by_time);
	if (!rc)
		rc = dbi_open(txn, "by_expiry", &s->by_expiry);
	if (!rc)
		rc = dbi_open(txn, "by_rank", &s->by_rank);
	if (!rc)
		rc = dbi_open(txn, "creds", &s->creds);
	if (!rc)
		rc = dbi_open(txn, "revoked", &s->revoked);
	if (!rc)
		rc = dbi_open(txn, "custody", &s->custody);
	if (!rc)
		rc = dbi_open(txn, "meta", &s->meta);
	if (!rc)
		rc = schema_check(s, txn);
	if (!rc)
		rc = totals_upgrade(s, txn);
	if (rc)
		goto out;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc) {
		rc = LMDB_FAIL("txn commit", rc);
		goto out;
	}
	*out = s;
	s = NULL;
out:
	mdb_txn_abort(txn);
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	store_write_abort(s->batch);
	if (s->env)
		mdb_env_close(s->env);
	free(s);
}

/* ---- notes (store.h "notes") ----
 *
 * Key: kind, id. Value: expires (be64), then the caller's data. The
 * database is newer than the others, so store_open() does not open it:
 * each call looks its handle up by name (LMDB keeps open handles in a
 * table: after the first commit that is a name compare). A store made
 * before it has none until the first note, or the first scan or purge
 * outside a batch, creates it. */
#define NOTE_KEY_BYTES (1 + BUNDLE_ID_BYTES)
#define NOTE_EXPIRES_BYTES 8
#define NOTE_VAL_MAX (NOTE_EXPIRES_BYTES + STORE_NOTE_DATA_MAX)

/* 0 and *dbi, or 1 when the database does not exist and create is false. */
static int notes_dbi(MDB_txn *txn, bool create, MDB_dbi *dbi)
{
	int rc = mdb_dbi_open(txn, "notes", create ? MDB_CREATE : 0, dbi);

	if (rc == MDB_NOTFOUND && !create)
		return 1;
	return rc ? LMDB_FAIL("notes open", rc) : 0;
}

/* The database in a top-level write transaction of its own, so that
 * creating it never happens inside a batch (see notes_dbi_batch). */
static int notes_create(struct store *s)
{
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);

	if (rc)
		return LMDB_FAIL("txn begin", rc);
	rc = notes_dbi(txn, true, &dbi);
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = mdb_txn_commit(txn);
	return rc ? LMDB_FAIL("txn commit", rc) : 0;
}

/* For a write in batch t. Creating the database writes LMDB's main
 * database without a child transaction: should that fail, the batch is
 * failed (store.h). It happens at most once in a store's life, and only
 * when no scan or purge ran before the first note (node start scans). */
static int notes_dbi_batch(struct store_txn *t, MDB_dbi *dbi)
{
	int rc = notes_dbi(t->txn, false, dbi);

	if (rc != 1)
		return rc;
	rc = notes_dbi(t->txn, true, dbi);
	if (rc)
		t->failed = rc;
	return rc;
}

static void note_key(uint8_t k[static NOTE_KEY_BYTES], uint8_t kind, const uint8_t id[static BUNDLE_ID_BYTES])
{
	k[0] = kind;
	memcpy(k + 1, id, BUNDLE_ID_BYTES);
}

static int note_val_check(const MDB_val *d)
{
	if (d->mv_size < NOTE_EXPIRES_BYTES || d->mv_size > NOTE_VAL_MAX)
		return CORRUPT("note value size");
	return 0;
}

int store_note_put(struct store_txn *t, uint8_t kind, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t expires,
		   const void *data, size_t len)
{
	uint8_t key[NOTE_KEY_BYTES], v[NOTE_VAL_MAX];
	MDB_txn *txn = NULL;
	MDB_val k, d;
	MDB_dbi dbi;
	size_t pages;
	int rc;

	if (!t || (len && !data))
		return -EINVAL;
	if (len > STORE_NOTE_DATA_MAX)
		return MU_E_TOOBIG;
	if (t->failed)
		return t->failed;
	rc = notes_dbi_batch(t, &dbi);
	if (rc)
		return rc;
	pages = pages_put(t->s, t->txn, dbi, NOTE_EXPIRES_BYTES + len);
	note_key(key, kind, id);
	put_be64(v, expires);
	if (len)
		memcpy(v + NOTE_EXPIRES_BYTES, data, len);
	rc = child_begin(t, &txn);
	if (rc)
		goto out;
	k = val(key, sizeof(key));
	d = val(v, NOTE_EXPIRES_BYTES + len);
	rc = mdb_put(txn, dbi, &k, &d, 0);
	if (rc) {
		rc = LMDB_FAIL("note put", rc);
		goto out;
	}
	rc = child_commit(&txn);
	if (!rc)
		charge(t, pages);
out:
	mdb_txn_abort(txn);
	return rc;
}

int store_note_del(struct store_txn *t, uint8_t kind, const uint8_t id[static BUNDLE_ID_BYTES])
{
	uint8_t key[NOTE_KEY_BYTES];
	MDB_txn *txn = NULL;
	MDB_val k;
	MDB_dbi dbi;
	size_t pages;
	int rc;

	if (!t)
		return -EINVAL;
	if (t->failed)
		return t->failed;
	rc = notes_dbi(t->txn, false, &dbi);
	if (rc)
		return rc == 1 ? 0 : rc;
	pages = pages_del(t->txn, dbi);
	note_key(key, kind, id);
	rc = child_begin(t, &txn);
	if (rc)
		goto out;
	k = val(key, sizeof(key));
	rc = mdb_del(txn, dbi, &k, NULL);
	if (rc == MDB_NOTFOUND)
		goto out; /* rc 0 after the abort below: nothing changed */
	if (rc) {
		rc = LMDB_FAIL("note del", rc);
		goto out;
	}
	rc = child_commit(&txn);
	if (!rc)
		charge(t, pages);
out:
	mdb_txn_abort(txn);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_note_clear(struct store_txn *t, uint8_t kind, uint64_t *removed)
{
	uint8_t key[NOTE_KEY_BYTES] = { kind };
	MDB_cursor *cur = NULL;
	MDB_txn *txn = NULL;
	MDB_val k, d;
	MDB_dbi dbi;
	uint64_t n = 0;
	size_t pages;
	int rc;

	if (removed)
		*removed = 0;
	if (!t)
		return -EINVAL;
	if (t->failed)
		return t->failed;
	rc = notes_dbi(t->txn, false, &dbi);
	if (rc)
		return rc == 1 ? 0 : rc;
	pages = pages_del(t->txn, dbi);
	rc = child_begin(t, &txn);
	if (rc)
		goto out;
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc) {
		rc = LMDB_FAIL("cursor open", rc);
		goto out;
	}
	k = val(key, sizeof(key));
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		if (k.mv_size != NOTE_KEY_BYTES) {
			rc = CORRUPT("note key size");
			goto out;
		}
		if (*(const uint8_t *)k.mv_data != kind)
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc) {
			rc = LMDB_FAIL("note del", rc);
			goto out;
		}
		n++;
	}
	if (rc && rc != MDB_NOTFOUND) {
		rc = LMDB_FAIL("cursor get", rc);
		goto out;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	rc = child_commit(&txn);
	if (rc)
		goto out;
	/* Each delete may copy its path: a loose bound, it only makes later
	 * puts of this batch take the careful path. */
	charge(t, n > SIZE_MAX / pages ? SIZE_MAX : n * pages);
	if (removed)
		*removed = n;
out:
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc;
}

int store_note_get(struct store *s, uint8_t kind, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t *expires,
		   uint8_t *buf, size_t cap, size_t *len)
{
	uint8_t key[NOTE_KEY_BYTES];
	MDB_txn *txn = NULL;
	MDB_val k, d;
	MDB_dbi dbi;
	int rc;

	*len = 0;
	rc = read_begin(s, &txn);
	if (rc)
		return rc;
	rc = notes_dbi(txn, false, &dbi);
	if (rc) {
		rc = rc == 1 ? MU_E_NOTFOUND : rc;
		goto out;
	}
	note_key(key, kind, id);
	k = val(key, sizeof(key));
	rc = mdb_get(txn, dbi, &k, &d);
	if (rc) {
		rc = rc == MDB_NOTFOUND ? MU_E_NOTFOUND : LMDB_FAIL("note get", rc);
		goto out;
	}
	rc = note_val_check(&d);
	if (rc)
		goto out;
	*len = d.mv_size - NOTE_EXPIRES_BYTES;
	if (expires)
		*expires = get_be64(d.mv_data);
	if (*len > cap) {
		rc = MU_E_TOOBIG;
		goto out;
	}
	memcpy(buf, (const uint8_t *)d.mv_data + NOTE_EXPIRES_BYTES, *len);
out:
	read_end(s, txn);
	return rc;
}

struct note_row {
	uint8_t id[BUNDLE_ID_BYTES];
	uint64_t expires;
	uint8_t len;
	uint8_t data[STORE_NOTE_DATA_MAX];
};

int store_note_scan(struct store *s, uint8_t kind, store_note_fn fn, void *ctx)
{
	uint8_t from[NOTE_KEY_BYTES] = { kind };
	struct note_row *rows = calloc(SCAN_CHUNK, sizeof(*rows));
	bool skip_first = false, done = false;
	int rc = 0;

	if (!rows)
		return -ENOMEM;
	while (!done) {
		MDB_txn *txn = NULL;
		MDB_cursor *cur = NULL;
		MDB_val k = val(from, sizeof(from)), d;
		MDB_dbi dbi;
		size_t n = 0;

		rc = read_begin(s, &txn);
		if (rc)
			break;
		rc = notes_dbi(txn, false, &dbi);
		if (rc) {
			read_end(s, txn);
			/* A store made before notes: none to pass; create the
			 * database now, outside any batch, if we can. */
			if (rc == 1)
				rc = s->batch ? 0 : notes_create(s);
			break;
		}
		rc = mdb_cursor_open(txn, dbi, &cur);
		if (rc) {
			rc = LMDB_FAIL("cursor open", rc);
			goto chunk_out;
		}
		rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
		/* resuming: the row we stopped at was already passed */
		if (rc == 0 && skip_first && k.mv_size == sizeof(from) && !memcmp(k.mv_data, from, sizeof(from)))
			rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
		while (rc == 0 && n < SCAN_CHUNK) {
			if (k.mv_size != NOTE_KEY_BYTES) {
				rc = CORRUPT("note key size");
				goto chunk_out;
			}
			if (*(const uint8_t *)k.mv_data != kind) {
				rc = MDB_NOTFOUND;
				break;
			}
			rc = note_val_check(&d);
			if (rc)
				goto chunk_out;
			memcpy(rows[n].id, (const uint8_t *)k.mv_data + 1, BUNDLE_ID_BYTES);
			rows[n].expires = get_be64(d.mv_data);
			rows[n].len = (uint8_t)(d.mv_size - NOTE_EXPIRES_BYTES);
			memcpy(rows[n].data, (const uint8_t *)d.mv_data + NOTE_EXPIRES_BYTES, rows[n].len);
			memcpy(from, k.mv_data, sizeof(from));
			n++;
			rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
		}
		if (rc == MDB_NOTFOUND) {
			done = true;
			rc = 0;
		} else if (rc) {
			rc = LMDB_FAIL("cursor get", rc);
		}
	chunk_out:
		mdb_cursor_close(cur);
		read_end(s, txn);
		for (size_t i = 0; !rc && i < n; i++)
			rc = fn(ctx, rows[i].id, rows[i].expires, rows[i].data, rows[i].len);
		if (rc)
			break;
		skip_first = true;
	}
	free(rows);
	return rc;
}

int store_note_purge(struct store *s, uint64_t now, uint64_t *removed)
{
	MDB_cursor *cur = NULL;
	MDB_txn *txn = NULL;
	MDB_val k, d;
	MDB_dbi dbi;
	uint64_t n = 0;
	int rc;

	if (removed)
		*removed = 0;
	if (s->batch)
		return -EBUSY;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc) {
		txn = NULL;
		rc = LMDB_FAIL("txn begin", rc);
		goto out;
	}
	rc = notes_dbi(txn, false, &dbi);
	if (rc) {
		rc = rc == 1 ? 0 : rc; /* no notes database: nothing to purge */
		goto out;
	}
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc) {
		rc = LMDB_FAIL("cursor open", rc);
		goto out;
	}
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		rc = note_val_check(&d);
		if (rc)
			goto out;
		if (get_be64(d.mv_data) > now)
			continue;
		rc = mdb_cursor_del(cur, 0);
		if (rc) {
			rc = LMDB_FAIL("note del", rc);
			goto out;
		}
		n++;
	}
	if (rc != MDB_NOTFOUND) {
		rc = LMDB_FAIL("cursor get", rc);
		goto out;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc) {
		rc = LMDB_FAIL("txn commit", rc);
		goto out;
	}
	if (removed)
		*removed = n;
out:
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc;
}
