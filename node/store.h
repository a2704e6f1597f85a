/* The node's store: one LMDB environment in a directory.
 *
 * Databases: "bundles" (id -> metadata + encoding), "by_time" ((created, id),
 * for range reconciliation), "by_expiry" ((expires, id), for purging),
 * "by_rank" ((eviction rank, created, id), for quota eviction), "creds"
 * (signing key -> credential encoding), "revoked" (key -> revocation record)
 * and "meta" (schema version, totals). Keys are big-endian so LMDB's byte
 * order is numeric order.
 *
 * The store holds bundles as received: signed and, for content, encrypted.
 * It never holds secret keys or plaintext content.
 *
 * Writes are batched: store_write_begin() opens one LMDB write transaction,
 * puts add to it, store_write_commit() makes them durable together. Only the
 * daemon's one thread writes. Reads copy out of the map so nothing returned
 * points into LMDB memory.
 *
 * Quota (docs/operations.md "Storage"): when a put would take the store over
 * quota_bytes or quota_count, the store evicts, in order, (1) expired
 * bundles, (2) the lowest-priority, oldest content bundles — but only
 * bundles that rank strictly below the one being stored. If that is not
 * enough the put fails with MU_E_QUOTA and nothing already stored is lost.
 * CREDENTIAL and REVOCATION bundles are never evicted before they expire. */
#ifndef MU_STORE_H
#define MU_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/cred.h"
#include "bundle.h"

#define STORE_MAP_DEFAULT (1ull << 30)      /* config: store_map_bytes */
#define STORE_QUOTA_BYTES_DEFAULT (256ull << 20) /* config: quota_bytes */
#define STORE_QUOTA_COUNT_DEFAULT 1000000ull    /* config: quota_count */

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
};

/* Opens or creates the environment in dir (created 0700 if missing). lim may
 * be NULL for the defaults. *out is owned by the caller (store_close). */
int store_open(struct store **out, const char *dir, const struct store_limits *lim);
void store_close(struct store *s); /* NULL-safe */

int store_write_begin(struct store *s, struct store_txn **out);
/* Stores a bundle already admitted (bundle_admit). MU_E_EXISTS if the id is
 * present (not an error for relays), MU_E_QUOTA if it does not fit. */
int store_put_bundle(struct store_txn *t, const struct bundle *b, const uint8_t *enc, size_t len,
		     const struct store_meta *meta);
/* Indexes a verified credential under its signing key; keeps the one with
 * the latest valid_until. */
int store_put_cred(struct store_txn *t, const struct cred *c);
int store_put_revocation(struct store_txn *t, const uint8_t key[static MU_KEY_BYTES], uint64_t at,
			 uint8_t reason);
int store_del_bundle(struct store_txn *t, const uint8_t id[static BUNDLE_ID_BYTES]);
int store_write_commit(struct store_txn *t); /* frees t, also on failure */
void store_write_abort(struct store_txn *t); /* NULL-safe, frees t */

/* 1 if present, 0 if not, <0 on error. */
int store_has(struct store *s, const uint8_t id[static BUNDLE_ID_BYTES]);
/* Copies the encoding into buf (cap >= BUNDLE_ENC_MAX is always enough);
 * *len gets its length. meta may be NULL. MU_E_NOTFOUND if absent. */
int store_get(struct store *s, const uint8_t id[static BUNDLE_ID_BYTES], uint8_t *buf, size_t cap,
	      size_t *len, struct store_meta *meta);
/* Credential lookup and revocation test, shaped as verify.h callbacks
 * (ctx is the struct store *). */
int store_cred_lookup(void *store, const uint8_t key[static MU_KEY_BYTES], struct cred *out);
int store_is_revoked(void *store, const uint8_t key[static MU_KEY_BYTES]);

/* Deletes every bundle with expires <= now, in one transaction; *removed
 * (may be NULL) gets the count. */
int store_purge_expired(struct store *s, uint64_t now, uint64_t *removed);

/* Calls fn for each (created, id) in ascending order starting at the first
 * key >= (from_created, from_id) (from_id NULL means all zeros). Stops early
 * when fn returns non-zero and returns that value. */
typedef int (*store_scan_fn)(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES]);
int store_scan_time(struct store *s, uint64_t from_created, const uint8_t *from_id, store_scan_fn fn,
		    void *ctx);

int store_stat(struct store *s, struct store_stat *out);

#endif
