/* Internal to the hospital archive (archive.c, archive_keys.c); nothing
 * else includes this. The keys environment (docs/archive.md "The keys
 * environment"): a small LMDB environment beside the archive (archive dir
 * + ARCHIVE_KEYS_SUFFIX) with two databases,
 *   "keys":    item id -> nonce 24 || XChaCha20-Poly1305 of the 32-byte
 *              item key under the archive data key, the id as associated
 *              data (ARCHIVE_KEYREC_BYTES);
 *   "pending": item id -> "": the item's key was destroyed by an erasure
 *              whose stub or compaction is not yet known done.
 * It commits separately from the archive; archive.c decides the order
 * (keys first). This module holds no secret: the data key comes in, an
 * item key goes out into the caller's (sodium_malloc'd) buffer.
 *
 * Threading and ownership: one thread, like the archive. A struct
 * archive_keys owns its environment, its directory name and its batch
 * transaction; transactions handed out (wbegin/rbegin) are the caller's
 * to end with archive_keys_commit / mdb_txn_abort / archive_keys_rend.
 * Nothing returned points into LMDB memory after the call.
 *
 * Errors: 0, -errno, MU_E_STORE (LMDB failure, logged; also any use after
 * a reopen of the environment failed), MU_E_QUOTA (map full), MU_E_PASS
 * (a key that is gone or does not open), MU_E_FORMAT (a damaged key
 * record), -EBUSY (compaction with a batch open). */
#ifndef MU_ARCHIVE_INT_H
#define MU_ARCHIVE_INT_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive.h"

#define ARCHIVE_DATA_KEY_BYTES 32
#define ARCHIVE_ITEM_KEY_BYTES 32

/* Logs an LMDB failure (func, what, mdb_strerror) and maps it: map full is
 * MU_E_QUOTA (a warning), anything else MU_E_STORE. */
int archive_lmdb_fail(const char *func, const char *what, int rc);
#define LMDB_FAIL(what, rc) archive_lmdb_fail(__func__, what, rc)

struct archive_keys;

/* Names the keys directory beside archive_dir and creates it (0700) if
 * needed, without opening the environment: *had says whether its
 * data.mdb existed before, which archive_open needs to know before
 * anything creates it. map_bytes is the keys map size. *out is set only
 * on success. */
int archive_keys_setup(struct archive_keys **out, const char *archive_dir, size_t map_bytes, bool *had);
/* The keys directory's path; valid as long as k. */
const char *archive_keys_dir(const struct archive_keys *k);
/* Opens (creating) the environment and its two databases. */
int archive_keys_open_env(struct archive_keys *k);
/* Aborts an open batch, closes; NULL-safe. */
void archive_keys_free(struct archive_keys *k);

/* The batch's keys transaction, alongside the archive's batch. begin:
 * -EBUSY if one is open. commit ends it either way; abort is NULL-safe and
 * a no-op without one. */
int archive_keys_batch_begin(struct archive_keys *k);
int archive_keys_batch_commit(struct archive_keys *k);
void archive_keys_batch_abort(struct archive_keys *k);

/* A write: a child of the batch's transaction, or one of its own; the
 * caller ends it with archive_keys_commit or mdb_txn_abort. */
int archive_keys_wbegin(struct archive_keys *k, MDB_txn **t);
int archive_keys_commit(MDB_txn *t);
/* A read: the batch's transaction (LMDB allows one per thread and
 * environment) or a short read-only one; end it with archive_keys_rend.
 * Never held across calls, which the compaction relies on. */
int archive_keys_rbegin(struct archive_keys *k, MDB_txn **t);
void archive_keys_rend(struct archive_keys *k, MDB_txn *t);

/* A fresh random key for id into key, stored sealed under data_key in t
 * (replacing a key left by a put that did not commit). */
int archive_keys_new(struct archive_keys *k, MDB_txn *t,
		     const uint8_t data_key[static ARCHIVE_DATA_KEY_BYTES],
		     const uint8_t id[static BUNDLE_ID_BYTES], uint8_t key[static ARCHIVE_ITEM_KEY_BYTES]);
/* id's key into key: MU_E_PASS when it is gone (shredded) or does not
 * open under data_key, MU_E_FORMAT for a record of the wrong size. */
int archive_keys_get(struct archive_keys *k, MDB_txn *t,
		     const uint8_t data_key[static ARCHIVE_DATA_KEY_BYTES],
		     const uint8_t id[static BUNDLE_ID_BYTES], uint8_t key[static ARCHIVE_ITEM_KEY_BYTES]);
/* Deletes id's key (already gone is fine: an erasure being completed)
 * and lists id as pending until its stub is committed and the file
 * compacted. */
int archive_keys_destroy(struct archive_keys *k, MDB_txn *t, const uint8_t id[static BUNDLE_ID_BYTES]);
/* Best effort, in its own transaction: drops id's key after a put whose
 * key committed but whose record did not. */
void archive_keys_forget(struct archive_keys *k, const uint8_t id[static BUNDLE_ID_BYTES]);

/* Rewrites the environment without its free pages, which still hold the
 * bytes of destroyed keys: a compacted copy beside data.mdb, fsync,
 * rename over it, fsync the directory, reopen. -EBUSY with a batch open.
 * If the reopen fails the environment stays closed and every later call
 * is MU_E_STORE until the archive is opened again. */
int archive_keys_compact(struct archive_keys *k);

/* The ids in "pending", in a malloc'd array the caller frees (*ids NULL
 * when *n is 0). -ENOMEM, storage errors. */
int archive_keys_pending_list(struct archive_keys *k, uint8_t (**ids)[BUNDLE_ID_BYTES], size_t *n);
/* In one write transaction, drops from "pending" each id for which done
 * returns true (its stub is in the archive, or it has no record). */
typedef bool (*archive_keys_done_fn)(void *ctx, const uint8_t id[static BUNDLE_ID_BYTES]);
int archive_keys_pending_drop(struct archive_keys *k, archive_keys_done_fn done, void *ctx);

/* Test only: id's stored key record (archive_test_key_record). */
int archive_keys_test_record(struct archive_keys *k, const uint8_t id[static BUNDLE_ID_BYTES],
			     uint8_t out[static ARCHIVE_KEYREC_BYTES]);

#endif
