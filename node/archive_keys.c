/* The archive's keys environment (contract in archive_int.h, layout in
 * docs/archive.md). Kept apart from the archive so that the bytes of a
 * destroyed key can be compacted out of a small file (and its short-lived
 * backups), while the large archive file and its long-kept backups hold
 * only ciphertext. */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive_int.h"
#include "err.h"
#include "log.h"

#define NONCE_BYTES  24
#define TAG_BYTES    16
#define KEYREC_BYTES (NONCE_BYTES + ARCHIVE_ITEM_KEY_BYTES + TAG_BYTES)
_Static_assert(KEYREC_BYTES == ARCHIVE_KEYREC_BYTES, "key record size");

struct archive_keys {
	MDB_env *env;    /* NULL if a reopen after compaction failed */
	MDB_dbi keys;    /* item id -> key record */
	MDB_dbi pending; /* item id -> "" : key destroyed, compaction or stub owed */
	MDB_txn *batch;  /* the batch's transaction, or NULL */
	char *dir;
	size_t map;
};

static MDB_val val(const void *p, size_t n)
{
	return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

int archive_keys_setup(struct archive_keys **out, const char *archive_dir, size_t map_bytes, bool *had)
{
	struct archive_keys *k = calloc(1, sizeof(*k));
	size_t n = strlen(archive_dir);
	char *kfile = NULL;
	int ret = 0;

	*out = NULL;
	if (!k)
		return -ENOMEM;
	k->map = map_bytes;
	while (n > 1 && archive_dir[n - 1] == '/')
		n--;
	if (asprintf(&k->dir, "%.*s%s", (int)n, archive_dir, ARCHIVE_KEYS_SUFFIX) < 0) {
		k->dir = NULL;
		ret = -ENOMEM;
	}
	if (!ret && asprintf(&kfile, "%s/data.mdb", k->dir) < 0) {
		kfile = NULL;
		ret = -ENOMEM;
	}
	if (!ret) {
		*had = access(kfile, F_OK) == 0;
		if (mkdir(k->dir, 0700) && errno != EEXIST) {
			ret = -errno;
			log_err(SUB_STORE, "mkdir %s: %s", k->dir, mu_strerror(ret));
		}
	}
	free(kfile);
	if (ret) {
		archive_keys_free(k);
		return ret;
	}
	*out = k;
	return 0;
}

const char *archive_keys_dir(const struct archive_keys *k)
{
	return k->dir;
}

int archive_keys_open_env(struct archive_keys *k)
{
	MDB_txn *t = NULL;
	int dead = 0, rc = mdb_env_create(&k->env);

	if (rc) {
		k->env = NULL;
		return LMDB_FAIL("keys env create", rc);
	}
	rc = mdb_env_set_maxdbs(k->env, 2);
	if (!rc)
		rc = mdb_env_set_mapsize(k->env, k->map);
	if (!rc)
		rc = mdb_env_open(k->env, k->dir, 0, 0600);
	if (!rc)
		rc = mdb_reader_check(k->env, &dead);
	if (!rc)
		rc = mdb_txn_begin(k->env, NULL, 0, &t);
	if (!rc)
		rc = mdb_dbi_open(t, "keys", MDB_CREATE, &k->keys);
	if (!rc)
		rc = mdb_dbi_open(t, "pending", MDB_CREATE, &k->pending);
	if (!rc) {
		rc = mdb_txn_commit(t);
		t = NULL;
	}
	if (t)
		mdb_txn_abort(t);
	if (rc) {
		log_err(SUB_STORE, "archive keys %s: %s", k->dir, mdb_strerror(rc));
		mdb_env_close(k->env);
		k->env = NULL;
		return rc > 0 ? -rc : MU_E_STORE;
	}
	return 0;
}

void archive_keys_free(struct archive_keys *k)
{
	if (!k)
		return;
	archive_keys_batch_abort(k);
	if (k->env)
		mdb_env_close(k->env);
	free(k->dir);
	free(k);
}

/* ---- transactions ---- */

int archive_keys_batch_begin(struct archive_keys *k)
{
	int rc;

	if (k->batch)
		return -EBUSY;
	rc = k->env ? mdb_txn_begin(k->env, NULL, 0, &k->batch) : MDB_PANIC;
	if (rc) {
		k->batch = NULL;
		return LMDB_FAIL("keys batch begin", rc);
	}
	return 0;
}

int archive_keys_batch_commit(struct archive_keys *k)
{
	int rc;

	if (!k->batch)
		return 0;
	rc = mdb_txn_commit(k->batch);
	k->batch = NULL;
	return rc ? LMDB_FAIL("keys batch commit", rc) : 0;
}

void archive_keys_batch_abort(struct archive_keys *k)
{
	if (!k || !k->batch)
		return;
	mdb_txn_abort(k->batch);
	k->batch = NULL;
}

int archive_keys_wbegin(struct archive_keys *k, MDB_txn **t)
{
	int rc;

	*t = NULL;
	if (!k->env)
		return MU_E_STORE;
	rc = mdb_txn_begin(k->env, k->batch, 0, t);
	if (rc) {
		*t = NULL;
		return LMDB_FAIL("keys write begin", rc);
	}
	return 0;
}

int archive_keys_commit(MDB_txn *t)
{
	int rc = mdb_txn_commit(t);

	return rc ? LMDB_FAIL("keys commit", rc) : 0;
}

int archive_keys_rbegin(struct archive_keys *k, MDB_txn **t)
{
	int rc;

	if (k->batch) {
		*t = k->batch;
		return 0;
	}
	*t = NULL;
	if (!k->env)
		return MU_E_STORE;
	rc = mdb_txn_begin(k->env, NULL, MDB_RDONLY, t);
	if (rc) {
		*t = NULL;
		return LMDB_FAIL("keys read begin", rc);
	}
	return 0;
}

void archive_keys_rend(struct archive_keys *k, MDB_txn *t)
{
	if (t && t != k->batch)
		mdb_txn_abort(t);
}

/* ---- item keys ---- */

int archive_keys_new(struct archive_keys *k, MDB_txn *t,
		     const uint8_t data_key[static ARCHIVE_DATA_KEY_BYTES],
		     const uint8_t id[static BUNDLE_ID_BYTES], uint8_t key[static ARCHIVE_ITEM_KEY_BYTES])
{
	uint8_t rec[KEYREC_BYTES];
	MDB_val kv = val(id, BUNDLE_ID_BYTES), d = val(rec, sizeof(rec));
	int rc;

	randombytes_buf(key, ARCHIVE_ITEM_KEY_BYTES);
	randombytes_buf(rec, NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(rec + NONCE_BYTES, NULL, key, ARCHIVE_ITEM_KEY_BYTES, id,
						   BUNDLE_ID_BYTES, NULL, rec, data_key);
	rc = mdb_put(t, k->keys, &kv, &d, 0);
	return rc ? LMDB_FAIL("key put", rc) : 0;
}

int archive_keys_get(struct archive_keys *k, MDB_txn *t,
		     const uint8_t data_key[static ARCHIVE_DATA_KEY_BYTES],
		     const uint8_t id[static BUNDLE_ID_BYTES], uint8_t key[static ARCHIVE_ITEM_KEY_BYTES])
{
	MDB_val kv = val(id, BUNDLE_ID_BYTES), d;
	int rc = mdb_get(t, k->keys, &kv, &d);

	if (rc == MDB_NOTFOUND)
		return MU_E_PASS;
	if (rc)
		return LMDB_FAIL("key get", rc);
	if (d.mv_size != KEYREC_BYTES)
		return MU_E_FORMAT;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		key, NULL, NULL, (const uint8_t *)d.mv_data + NONCE_BYTES, KEYREC_BYTES - NONCE_BYTES, id,
		BUNDLE_ID_BYTES, d.mv_data, data_key))
		return MU_E_PASS;
	return 0;
}

int archive_keys_destroy(struct archive_keys *k, MDB_txn *t, const uint8_t id[static BUNDLE_ID_BYTES])
{
	MDB_val kv = val(id, BUNDLE_ID_BYTES), d = val("", 0);
	int rc = mdb_del(t, k->keys, &kv, NULL);

	if (rc && rc != MDB_NOTFOUND)
		return LMDB_FAIL("key del", rc);
	rc = mdb_put(t, k->pending, &kv, &d, 0);
	return rc ? LMDB_FAIL("pending put", rc) : 0;
}

void archive_keys_forget(struct archive_keys *k, const uint8_t id[static BUNDLE_ID_BYTES])
{
	MDB_val kv = val(id, BUNDLE_ID_BYTES);
	MDB_txn *t = NULL;

	if (archive_keys_wbegin(k, &t))
		return;
	if (mdb_del(t, k->keys, &kv, NULL) || mdb_txn_commit(t))
		mdb_txn_abort(t);
}

/* ---- compaction ---- */

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

/* LMDB copies on write and never clears a freed page, so only a copy
 * without free pages loses a destroyed key's bytes. Needs no keys
 * transaction open, which holds in one thread between calls (rbegin). */
int archive_keys_compact(struct archive_keys *k)
{
	char path[4096], tmp[4096];
	int fd, rc, ret = 0, ret2;

	if (!k->env || k->batch)
		return k->env ? -EBUSY : MU_E_STORE;
	if (snprintf(path, sizeof(path), "%s/data.mdb", k->dir) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/data.mdb.compact", k->dir) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	(void)unlink(tmp); /* left by a crash during an earlier compaction */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		log_err(SUB_STORE, "archive keys compaction %s: %s", tmp, mu_strerror(ret));
		return ret;
	}
	rc = mdb_env_copyfd2(k->env, fd, MDB_CP_COMPACT);
	if (rc)
		ret = LMDB_FAIL("keys compact", rc);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (ret) {
		(void)unlink(tmp);
		return ret;
	}
	mdb_env_close(k->env);
	k->env = NULL;
	if (rename(tmp, path)) {
		ret = -errno;
		(void)unlink(tmp);
	}
	if (!ret)
		ret = fsync_dir(k->dir);
	if (ret)
		log_err(SUB_STORE, "archive keys compaction %s: %s", path, mu_strerror(ret));
	ret2 = archive_keys_open_env(k);
	return ret ? ret : ret2;
}

/* ---- pending erasures ---- */

int archive_keys_pending_list(struct archive_keys *k, uint8_t (**ids)[BUNDLE_ID_BYTES], size_t *n)
{
	uint8_t(*v)[BUNDLE_ID_BYTES] = NULL;
	size_t cnt = 0, cap = 0;
	MDB_txn *t = NULL;
	MDB_cursor *cur = NULL;
	MDB_val kv, d;
	int rc, ret = archive_keys_rbegin(k, &t);

	*ids = NULL;
	*n = 0;
	if (ret)
		return ret;
	rc = mdb_cursor_open(t, k->pending, &cur);
	for (rc = rc ? rc : mdb_cursor_get(cur, &kv, &d, MDB_FIRST); !rc && !ret;
	     rc = mdb_cursor_get(cur, &kv, &d, MDB_NEXT)) {
		if (kv.mv_size != BUNDLE_ID_BYTES)
			continue;
		if (cnt == cap) {
			void *p = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));

			if (!p) {
				ret = -ENOMEM;
				break;
			}
			v = p;
		}
		memcpy(v[cnt++], kv.mv_data, BUNDLE_ID_BYTES);
	}
	if (!ret && rc != MDB_NOTFOUND)
		ret = LMDB_FAIL("pending list", rc);
	mdb_cursor_close(cur);
	archive_keys_rend(k, t);
	if (ret) {
		free(v);
		return ret;
	}
	*ids = cnt ? v : NULL;
	*n = cnt;
	if (!cnt)
		free(v);
	return 0;
}

int archive_keys_pending_drop(struct archive_keys *k, archive_keys_done_fn done, void *ctx)
{
	MDB_txn *t = NULL;
	MDB_cursor *cur = NULL;
	MDB_val kv, d;
	int rc, ret = archive_keys_wbegin(k, &t);

	if (!ret && (rc = mdb_cursor_open(t, k->pending, &cur)))
		ret = LMDB_FAIL("cursor open", rc);
	for (rc = ret ? MDB_NOTFOUND : mdb_cursor_get(cur, &kv, &d, MDB_FIRST); !rc && !ret;
	     rc = mdb_cursor_get(cur, &kv, &d, MDB_NEXT)) {
		if (kv.mv_size != BUNDLE_ID_BYTES)
			continue;
		if (done(ctx, kv.mv_data))
			rc = mdb_cursor_del(cur, 0);
		if (rc)
			ret = LMDB_FAIL("pending del", rc);
	}
	if (!ret && rc != MDB_NOTFOUND)
		ret = LMDB_FAIL("cursor next", rc);
	mdb_cursor_close(cur);
	if (t)
		ret = ret ? (mdb_txn_abort(t), ret) : archive_keys_commit(t);
	return ret;
}

int archive_keys_test_record(struct archive_keys *k, const uint8_t id[static BUNDLE_ID_BYTES],
			     uint8_t out[static ARCHIVE_KEYREC_BYTES])
{
	MDB_val kv = val(id, BUNDLE_ID_BYTES), d;
	MDB_txn *t = NULL;
	int rc, ret = archive_keys_rbegin(k, &t);

	if (ret)
		return ret;
	rc = mdb_get(t, k->keys, &kv, &d);
	if (rc)
		ret = rc == MDB_NOTFOUND ? MU_E_NOTFOUND : MU_E_STORE;
	else if (d.mv_size != KEYREC_BYTES)
		ret = MU_E_FORMAT;
	else
		memcpy(out, d.mv_data, KEYREC_BYTES);
	archive_keys_rend(k, t);
	return ret;
}
