/* The node's store: one LMDB environment in a directory.
 *
 * Databases: "bundles" (id -> metadata + encoding), "by_time" ((created, id),
 * for range reconciliation), "by_expiry" ((expires, id), for purging),
 * "by_rank" ((eviction rank, created, id), for quota eviction), "creds"
 * (signing key -> credential encoding), "revoked" (key -> revocation record),
 * "custody" (bundle id -> archived_at, expires: the hospital has it in the
 * record) and "meta" (schema version, totals). Keys are big-endian so LMDB's byte
 * order is numeric order.
 *
 * The store holds bundles as received: signed and, for content, encrypted.
 * It never holds secret keys or plaintext content.
 *
 * Writes are batched: store_write_begin() opens one LMDB write transaction,
 * puts add to it, store_write_commit() makes them durable together (a
 * synchronous commit: once it returns 0 the batch survives a crash or power
 * loss; an uncommitted batch is lost whole). A call that fails
 * (MU_E_EXISTS, MU_E_QUOTA including a full LMDB map, MU_E_STORE) changes
 * nothing and the batch stays usable — with one exception, below. With the
 * map full the commit itself may fail (MU_E_QUOTA, batch lost).
 *
 * How, and the exception: a store_put_bundle() that needs no eviction and
 * whose worst case of new pages (from the trees' depths) fits in what the
 * map had left at store_write_begin() minus what the batch may have taken
 * since, writes straight into the batch: its first write (the record, with
 * MDB_NOOVERWRITE) is also its duplicate check and changes nothing when it
 * fails, and the rest cannot meet a full map. If one of those writes still
 * fails inside LMDB (an I/O error, a damaged store: MU_E_STORE), LMDB has
 * marked the transaction unusable: the batch is then failed — this and
 * every later call on it return that error, reads through it fail, and
 * store_write_commit() discards it and returns the error. Every other
 * write (eviction, deletes, tombstones, credentials, revocations, custody,
 * and a put near the end of the map) runs in a nested transaction, so its
 * failure, a full map included, undoes only that call.
 *
 * One thread only: a struct store is not thread-safe, at most one batch is
 * open at a time (a second store_write_begin() gets -EBUSY), and the same
 * directory must not be opened twice in one process. While a batch is open,
 * reads on the same store go through it and see its uncommitted writes
 * (LMDB allows one transaction per thread); otherwise each read uses its own
 * short read-only transaction. Reads copy out of the map so nothing returned
 * points into LMDB memory.
 *
 * LMDB failures are logged (SUB_STORE) and returned as MU_E_STORE, except a
 * full map, which is MU_E_QUOTA. Layouts: docs/storage.md.
 *
 * Quota (docs/operations.md "Storage"): when a put would take the store over
 * quota_bytes or quota_count, the store evicts, in order, (1) expired
 * bundles, (2) the lowest-priority, oldest content bundles — but only
 * bundles that rank strictly below the one being stored. If that is not
 * enough the put fails with MU_E_QUOTA and nothing already stored is lost.
 * CREDENTIAL and REVOCATION bundles are never evicted before they expire.
 *
 * Tombstones (docs/storage.md "Tombstones"): store_tombstone() drops a
 * bundle's encoding but keeps its record (kind, priority, created, expires)
 * and its by_time and by_expiry rows until it expires. So the id stays
 * known: store_has() is 1, a put of it is MU_E_EXISTS, store_scan_time()
 * (the sync keyset) still passes it; but store_get() and store_peek() say
 * MU_E_NOTFOUND, there is nothing to send. Tombstones are not in count,
 * bytes or the quota, and are never evicted (they hold no content); expiry
 * deletes them like any bundle.
 *
 * Exactly: "now" is meta->received of the bundle being put. (1) deletes
 * bundles with expires <= now, earliest expiry first, until the new one
 * fits. (2) walks content bundles in eviction order — bulk, routine, urgent,
 * immediate; within a priority oldest created first; ties by id — and
 * deletes each that ranks strictly below the new bundle: lower priority, or
 * the same priority and created strictly earlier. A bundle larger than
 * quota_bytes fails at once. Evictions count in store_stat.evicted once their
 * batch commits; store_purge_expired() deletions do not count. */
#ifndef MU_STORE_H
#define MU_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/cred.h"
#include "bundle.h"

#define STORE_MAP_DEFAULT         (1ull << 30)   /* config: store_map_bytes */
#define STORE_QUOTA_BYTES_DEFAULT (256ull << 20) /* config: quota_bytes */
#define STORE_QUOTA_COUNT_DEFAULT 1000000ull     /* config: quota_count */

struct store;
struct store_txn;

struct store_limits {
	uint64_t map_bytes;
	uint64_t quota_bytes; /* sum of stored encodings */
	uint64_t quota_count; /* number of stored bundles */
};

struct store_meta {
	uint64_t received; /* Unix ms when stored */
	uint8_t hops;      /* hops travelled when received */
	uint8_t flags;     /* STORE_F_* */
};
#define STORE_F_LOCAL 1 /* created on this node */

struct store_stat {
	uint64_t count;
	uint64_t bytes;
	uint64_t creds;
	uint64_t revoked;
	uint64_t evicted; /* since open */
	uint64_t messages, message_bytes; /* BK_MESSAGE part of count and bytes */
	uint64_t tombstones;
	uint64_t custody; /* custody records */
};

/* Custody records are at most this many: a receipt names at most
 * RECEIPT_IDS_MAX ids, so this holds 256 full receipts' worth, about 12 MB
 * of map. Records leave when the receipt that made them expires. */
#define STORE_CUSTODY_MAX 262144u

/* Opens or creates the environment in dir (created 0700 if missing; files
 * 0600). lim may be NULL for the defaults. *out is owned by the caller
 * (store_close). -errno for file system errors, MU_E_VERSION for a store of
 * another schema. */
int store_open(struct store **out, const char *dir, const struct store_limits *lim);
/* NULL-safe; aborts a batch still open. */
void store_close(struct store *s);

/* Opens the write batch. -EBUSY if one is already open on s. *out is freed
 * by store_write_commit() or store_write_abort(). */
int store_write_begin(struct store *s, struct store_txn **out);
/* Stores a bundle already admitted (bundle_admit). MU_E_EXISTS if the id is
 * present (not an error for relays), MU_E_QUOTA if it does not fit (see
 * Quota above; the batch is unchanged). Uses b->id, kind, prio, created and
 * expires only; enc is copied and never decoded. MU_E_FORMAT if b->prio >
 * PRIO_BULK, MU_E_TOOBIG if len > BUNDLE_ENC_MAX, -EINVAL for len 0. */
int store_put_bundle(struct store_txn *t, const struct bundle *b, const uint8_t *enc, size_t len,
		     const struct store_meta *meta);
/* Indexes a verified credential under its signing key; keeps the one with
 * the latest valid_until (an equal or earlier one is ignored, returning 0).
 * Errors from cred_encode() are passed through. Never evicted. */
int store_put_cred(struct store_txn *t, const struct cred *c);
/* Records that key is revoked (at: Unix ms; reason: enum revoke_reason).
 * A key already recorded keeps its earliest time. Never evicted. */
int store_put_revocation(struct store_txn *t, const uint8_t key[static MU_KEY_BYTES], uint64_t at,
			 uint8_t reason);
/* Deletes a bundle and its index rows; MU_E_NOTFOUND if absent. */
int store_del_bundle(struct store_txn *t, const uint8_t id[static BUNDLE_ID_BYTES]);
/* Makes a held bundle a tombstone (see Tombstones above). 0 also if it
 * already is one; MU_E_NOTFOUND if the id is not stored. */
int store_tombstone(struct store_txn *t, const uint8_t id[static BUNDLE_ID_BYTES]);
/* Records that the hospital archived bundle id at archived_at (Unix ms);
 * the record lives until expires (Unix ms). For an id already recorded the
 * earliest archived_at and the latest expires are kept. The id need not be
 * stored. MU_E_QUOTA if STORE_CUSTODY_MAX records exist and id is new. */
int store_custody_put(struct store_txn *t, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t archived_at,
		      uint64_t expires);
/* Frees t, also on failure. On failure nothing of the batch is stored:
 * MU_E_QUOTA if the LMDB map is full, MU_E_STORE otherwise (also the error
 * that failed the batch, see above). */
int store_write_commit(struct store_txn *t);
void store_write_abort(struct store_txn *t); /* NULL-safe, frees t */

/* 1 if present (held or a tombstone), 0 if not, <0 on error. */
int store_has(struct store *s, const uint8_t id[static BUNDLE_ID_BYTES]);
/* Copies the encoding into buf (cap >= BUNDLE_ENC_MAX is always enough);
 * *len gets its length. meta may be NULL. MU_E_NOTFOUND if absent or a
 * tombstone (also for store_peek),
 * MU_E_TOOBIG if cap is too small (*len still gets the length). */
int store_get(struct store *s, const uint8_t id[static BUNDLE_ID_BYTES], uint8_t *buf, size_t cap,
	      size_t *len, struct store_meta *meta);
/* What the store knows of a bundle without copying it: its metadata and
 * the fields the router orders by. MU_E_NOTFOUND if absent. */
struct store_info {
	struct store_meta meta;
	uint8_t kind, prio;
	uint64_t created, expires;
	size_t len; /* encoding bytes */
};
int store_peek(struct store *s, const uint8_t id[static BUNDLE_ID_BYTES], struct store_info *out);
/* Credential lookup and revocation test, shaped as verify.h callbacks
 * (ctx is the struct store *). store_cred_lookup: 0, MU_E_NOCRED if the key
 * is unknown, MU_E_STORE if the stored encoding no longer decodes.
 * store_is_revoked: 1 if revoked, 0 if not, <0 on error. */
int store_cred_lookup(void *store, const uint8_t key[static MU_KEY_BYTES], struct cred *out);
int store_is_revoked(void *store, const uint8_t key[static MU_KEY_BYTES]);
/* The stored revocation record for key (at and reason may be NULL);
 * MU_E_NOTFOUND if key is not revoked. */
int store_get_revocation(struct store *s, const uint8_t key[static MU_KEY_BYTES], uint64_t *at,
			 uint8_t *reason);

/* Deletes every bundle and tombstone with expires <= now, in one
 * transaction of its own, and every custody record whose expires <= now;
 * *removed (may be NULL) gets the count of bundles and tombstones.
 * -EBUSY while a batch is open. */
int store_purge_expired(struct store *s, uint64_t now, uint64_t *removed);

/* Calls fn for each (created, id) in ascending order starting at the first
 * key >= (from_created, from_id) (from_id NULL means all zeros). Stops early
 * when fn returns non-zero and returns that value.
 *
 * Rows are copied out in chunks and fn runs with no transaction of the
 * store's open, so fn may call any store function, including writes; rows
 * added or removed during the scan may or may not be seen. */
typedef int (*store_scan_fn)(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES]);
int store_scan_time(struct store *s, uint64_t from_created, const uint8_t *from_id, store_scan_fn fn,
		    void *ctx);
/* store_scan_time with each bundle's kind (enum bundle_kind) as well;
 * kind 0 for a row written by a build before 2026-11 (read the record). */
typedef int (*store_key_fn)(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES], uint8_t kind);
int store_scan_keys(struct store *s, uint64_t from_created, const uint8_t *from_id, store_key_fn fn, void *ctx);
/* For tests and diagnostics, same contract as store_scan_time:
 * store_scan_expiry passes (expires, id) in expiry order (every bundle);
 * store_scan_evict passes (created, id) in eviction order (content bundles
 * only; CREDENTIAL and REVOCATION kinds are not in it). */
int store_scan_expiry(struct store *s, store_scan_fn fn, void *ctx);
int store_scan_evict(struct store *s, store_scan_fn fn, void *ctx);

/* Totals as committed (or as in the open batch, see above). */
/* Calls fn for every stored credential (in key order), with no store
 * transaction open; stops at and returns fn's first non-zero result. */
typedef int (*store_cred_fn)(void *ctx, const struct cred *c);
int store_scan_creds(struct store *s, store_cred_fn fn, void *ctx);

/* 0 and *archived_at if id has a custody record, MU_E_NOTFOUND if not. */
int store_custody_get(struct store *s, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t *archived_at);
/* Calls fn for every custody record in id order; same contract as
 * store_scan_time (copied out in chunks, fn may write, stops at and returns
 * fn's first non-zero result). */
typedef int (*store_custody_fn)(void *ctx, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t archived_at,
				uint64_t expires);
int store_scan_custody(struct store *s, store_custody_fn fn, void *ctx);

int store_stat(struct store *s, struct store_stat *out);


/* ---- notes ----
 *
 * Small records a feature keeps beside the bundles so that a start need not
 * walk the store to rebuild its state (node/receipts.c, node/alerts.c).
 * Database "notes": key (kind, id) — kind one byte the caller chooses, id
 * BUNDLE_ID_BYTES (usually the bundle the note is about) — and value
 * (expires, then up to STORE_NOTE_DATA_MAX bytes of the caller's). Layout:
 * docs/storage.md "notes". The store never reads the data.
 *
 * Puts and deletes go into a write batch like any write (nested
 * transaction: a failure undoes only that call), so a note written in the
 * batch of the bundle it is about commits, or is lost, with it.
 * Notes are not bundles: they are in no total, quota or eviction; a note
 * leaves when its caller deletes it or by store_note_purge() once its
 * expires has passed (STORE_NOTE_KEEP: never). Deleting a bundle does not
 * delete its notes. */
#define STORE_NOTE_DATA_MAX 64
#define STORE_NOTE_KEEP UINT64_MAX

/* Sets the note (kind, id), replacing one present. MU_E_TOOBIG if len >
 * STORE_NOTE_DATA_MAX (data may be NULL when len is 0), MU_E_QUOTA if the
 * map is full, MU_E_STORE. */
int store_note_put(struct store_txn *t, uint8_t kind, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t expires,
		   const void *data, size_t len);
/* Deletes the note (kind, id); 0 also when there is none. */
int store_note_del(struct store_txn *t, uint8_t kind, const uint8_t id[static BUNDLE_ID_BYTES]);
/* Deletes every note of kind; *removed (may be NULL) gets their count. */
int store_note_clear(struct store_txn *t, uint8_t kind, uint64_t *removed);
/* Copies the note (kind, id): *expires (may be NULL), data into buf (cap >=
 * STORE_NOTE_DATA_MAX is always enough), *len its length. MU_E_NOTFOUND if
 * absent, MU_E_TOOBIG if cap is too small (*len still set). */
int store_note_get(struct store *s, uint8_t kind, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t *expires,
		   uint8_t *buf, size_t cap, size_t *len);
/* Calls fn for every note of kind in id order, expired ones included (the
 * caller decides). Same contract as store_scan_time: notes are copied out
 * in chunks, fn runs with no transaction of the store's open and may call
 * any store function; stops at and returns fn's first non-zero result.
 * data points into the scan's buffer, valid until fn returns. */
typedef int (*store_note_fn)(void *ctx, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t expires,
			     const uint8_t *data, size_t len);
int store_note_scan(struct store *s, uint8_t kind, store_note_fn fn, void *ctx);
/* Deletes every note with expires <= now, in a transaction of its own
 * (-EBUSY while a batch is open); *removed (may be NULL) gets the count.
 * Walks every note: meant for the purge timer. */
int store_note_purge(struct store *s, uint64_t now, uint64_t *removed);

#endif
