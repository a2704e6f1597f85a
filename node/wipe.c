/* Remote wipe: recognising an order for this node, delivering orders to
 * the devices they name, and destroying keys and store. See wipe.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../crypto/keystore.h"
#include "config.h"
#include "err.h"
#include "hex.h"
#include "log.h"
#include "wipe.h"

#define SHRED_CHUNK (64u << 10)

struct order {
	uint8_t key[MU_KEY_BYTES];
	uint8_t id[BUNDLE_ID_BYTES];
	bool found; /* false: the store held no wipe order for key when looked up */
};

static bool wipe_ordered;
static struct order orders[WIPE_ORDERS_MAX];
static unsigned orders_n, orders_next;
static uint8_t enc_buf[BUNDLE_ENC_MAX];

/* The wipe order in bundle id, if it is one: 1 and its key, 0 if not. */
static int order_of(struct store *s, const uint8_t id[static BUNDLE_ID_BYTES],
		    uint8_t key[static MU_KEY_BYTES])
{
	struct store_info info;
	struct bundle b;
	uint8_t reason;
	size_t len;

	if (store_peek(s, id, &info) || info.kind != BK_REVOCATION)
		return 0;
	if (store_get(s, id, enc_buf, sizeof(enc_buf), &len, NULL) || bundle_decode(&b, enc_buf, len))
		return 0;
	if (revocation_decode(b.payload, b.payload_len, key, &reason) || reason != REVOKE_WIPE)
		return 0;
	return 1;
}

static struct order *order_slot(const uint8_t key[static MU_KEY_BYTES])
{
	struct order *o;

	for (unsigned i = 0; i < orders_n; i++)
		if (!memcmp(orders[i].key, key, MU_KEY_BYTES))
			return &orders[i];
	if (orders_n < WIPE_ORDERS_MAX)
		o = &orders[orders_n++];
	else {
		o = &orders[orders_next];
		orders_next = (orders_next + 1) % WIPE_ORDERS_MAX;
	}
	memcpy(o->key, key, MU_KEY_BYTES);
	o->found = false;
	return o;
}

struct scan {
	struct store *s;
	const uint8_t *key;
	uint8_t *id;
};

static int scan_one(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES])
{
	struct scan *sc = ctx;
	uint8_t key[MU_KEY_BYTES];

	(void)created;
	if (!order_of(sc->s, id, key) || memcmp(key, sc->key, MU_KEY_BYTES))
		return 0;
	memcpy(sc->id, id, BUNDLE_ID_BYTES);
	return 1;
}

/* The stored wipe order naming key: 1 with its id, 0 if none. Only a
 * revoked key can have one, so others cost one lookup; a revoked key is
 * looked for in the store once (the answer is remembered) because the
 * revocation index keeps the first reason, which need not be the wipe. */
static int order_find(struct store *s, const uint8_t key[static MU_KEY_BYTES],
		      uint8_t id[static BUNDLE_ID_BYTES])
{
	struct scan sc = { .s = s, .key = key, .id = id };
	struct order *o = NULL;

	for (unsigned i = 0; i < orders_n; i++)
		if (!memcmp(orders[i].key, key, MU_KEY_BYTES))
			o = &orders[i];
	if (o && (!o->found || store_has(s, o->id) == 1)) {
		memcpy(id, o->id, BUNDLE_ID_BYTES);
		return o->found;
	}
	if (store_is_revoked(s, key) != 1)
		return 0;
	o = order_slot(key);
	if (store_scan_time(s, 0, NULL, scan_one, &sc) == 1) {
		memcpy(o->id, id, BUNDLE_ID_BYTES);
		o->found = true;
	}
	return o->found;
}

static bool is_mine(const struct node *n, const uint8_t key[static MU_KEY_BYTES])
{
	return (n->id && !memcmp(key, identity_sign_pk(n->id), MU_KEY_BYTES)) ||
	       (n->user && !memcmp(key, identity_sign_pk(n->user), MU_KEY_BYTES));
}

void wipe_on_stored(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES])
{
	uint8_t key[MU_KEY_BYTES];
	struct order *o;

	if (!order_of(n->store, id, key))
		return;
	if (is_mine(n, key)) {
		/* Nothing more is sent or stored: the loop stops at once and
		 * node_close destroys once the store is closed. */
		wipe_ordered = true;
		loop_quit(n->loop, MU_E_WIPED);
		return;
	}
	o = order_slot(key);
	memcpy(o->id, id, BUNDLE_ID_BYTES);
	o->found = true;
}

/* The [user] identity's public key when it did not load (its credential
 * may be the revoked one). */
static struct mu_identity *user_identity(struct node *n)
{
	const char *path = config_str(n->cfg, "user", "identity", "");
	struct ks_unlock u = { .wrap = KS_WRAP_KEYFILE, .secret = config_str(n->cfg, "user", "keyfile", "") };
	struct mu_identity *id = NULL;

	if (!*path || keystore_load(&id, path, &u))
		return NULL;
	return id;
}

bool wipe_at_start(struct node *n)
{
	struct mu_identity *user = n->user ? NULL : user_identity(n);
	uint8_t id[BUNDLE_ID_BYTES];

	if (n->id && order_find(n->store, identity_sign_pk(n->id), id))
		wipe_ordered = true;
	if (n->user && order_find(n->store, identity_sign_pk(n->user), id))
		wipe_ordered = true;
	if (user && order_find(n->store, identity_sign_pk(user), id))
		wipe_ordered = true;
	identity_free(user);
	return wipe_ordered;
}

int wipe_is_revoked(void *node, const uint8_t key[static MU_KEY_BYTES])
{
	struct node *n = node;
	uint8_t id[BUNDLE_ID_BYTES];
	int ret = store_is_revoked(n->store, key);

	if (ret == 1 && order_find(n->store, key, id))
		return 0;
	return ret;
}

bool wipe_deliver(struct conn *c)
{
	uint8_t id[BUNDLE_ID_BYTES];

	if (store_is_revoked(c->n->store, c->peer) != 1)
		return false;
	c->n->stats.sessions_refused++;
	/* conn_offer sends only on an up session; the close that follows
	 * stops everything else (sync, bundles from the peer) and the link
	 * flushes what is queued when it closes. */
	c->st = CONN_UP;
	if (!order_find(c->n->store, c->peer, id)) {
		conn_close(c, mu_strerror(MU_E_REVOKED));
		return true;
	}
	conn_offer(c, id);
	conn_close(c, "key has been revoked; its wipe order was sent");
	return true;
}

/* ---- destruction ---- */

/* Overwrites the data extents of an open regular file with zeros (holes
 * stay holes: a sparse LMDB map is not filled in) and syncs. */
static int overwrite(int fd)
{
	static const uint8_t zeros[SHRED_CHUNK];
	struct stat st;
	off_t pos = 0, end;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	while (pos < st.st_size) {
		off_t data = lseek(fd, pos, SEEK_DATA);

		if (data < 0)
			break; /* ENXIO: no data after pos */
		end = lseek(fd, data, SEEK_HOLE);
		if (end < 0 || end > st.st_size)
			end = st.st_size;
		for (pos = data; pos < end;) {
			size_t len = (size_t)(end - pos) < SHRED_CHUNK ? (size_t)(end - pos) : SHRED_CHUNK;
			ssize_t w = pwrite(fd, zeros, len, pos);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return w < 0 ? -errno : -EIO;
			pos += w;
		}
	}
	return fdatasync(fd) ? -errno : 0;
}

/* Overwrites then unlinks path; a file that is not there counts as
 * destroyed. Failures are logged by kind (what), never by path or content. */
static int shred(const char *path, const char *what)
{
	int fd, ret = 0;

	if (!path || !*path)
		return 0;
	fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		ret = -errno;
	else {
		ret = overwrite(fd);
		close(fd);
	}
	if (unlink(path) && errno != ENOENT && !ret)
		ret = -errno;
	if (ret)
		log_err(SUB_MAIN, "wipe: the %s could not be destroyed: %s", what, mu_strerror(ret));
	return ret;
}

static char *in_dir(const char *dir, const char *file)
{
	char *p = NULL;

	return asprintf(&p, "%s/%s", dir, file) < 0 ? NULL : p;
}

/* The configured path, or file in the data directory when file is given. */
static char *conf_path(struct node *n, const char *section, const char *key, const char *file)
{
	const char *v = config_str(n->cfg, section, key, "");

	if (*v)
		return strdup(v);
	return file ? in_dir(n->data_dir, file) : NULL;
}

static char *pub_of(const char *key)
{
	char *p = NULL;

	return key && asprintf(&p, "%s.pub", key) >= 0 ? p : NULL;
}

void wipe_finish(struct node *n)
{
	if (!wipe_ordered)
		return;
	wipe_ordered = false;

	struct {
		char *path;
		const char *what;
	} f[] = {
		{ conf_path(n, "node", "identity", "node.key"), "node key" },
		{ conf_path(n, "node", "keyfile", "node.kf"), "node key file" },
		{ conf_path(n, "node", "credential", "node.cred"), "node credential" },
		{ conf_path(n, "user", "identity", NULL), "user key" },
		{ conf_path(n, "user", "keyfile", NULL), "user key file" },
		{ conf_path(n, "user", "credential", NULL), "user credential" },
		{ NULL, "node public key" },
		{ NULL, "user public key" },
		{ in_dir(n->data_dir, "store/data.mdb"), "store" },
		{ in_dir(n->data_dir, "store/lock.mdb"), "store lock file" },
	};
	const size_t count = sizeof(f) / sizeof(f[0]);
	char *store_dir = in_dir(n->data_dir, "store");
	unsigned failed = 0;

	f[6].path = pub_of(f[0].path);
	f[7].path = pub_of(f[3].path);
	for (size_t i = 0; i < count; i++)
		if (shred(f[i].path, f[i].what))
			failed++;
	/* Directories go only if empty: the data directory may hold the log
	 * or the configuration, which the wipe does not touch. */
	if (store_dir && rmdir(store_dir) && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST) {
		log_err(SUB_MAIN, "wipe: the store directory could not be removed: %s", strerror(errno));
		failed++;
	}
	(void)rmdir(n->data_dir);
	if (failed)
		log_err(SUB_MAIN, "wiped by CA order, but %u item(s) could not be destroyed", failed);
	else
		log_err(SUB_MAIN, "wiped by CA order: keys and store destroyed");
	for (size_t i = 0; i < count; i++)
		free(f[i].path);
	free(store_dir);
}
