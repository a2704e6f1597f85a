/* Remote wipe (node/wipe.c): which orders are this node's, delivery to a
 * revoked peer, and what the destruction leaves. The node is a bare struct
 * node holding a store, a config and identities (no loop, no links). */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../crypto/keystore.h"
#include "../../node/config.h"
#include "../../node/wipe.h"
#include "clock.h"
#include "testutil.h"

struct fx {
	char *dir;
	struct node n;
	struct loop *loop;
	struct mu_identity *ca, *user;
	char path[512];
};

static const char *fx_path(struct fx *f, const char *name)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
	return f->path;
}

static void write_text(struct fx *f, const char *name, const char *text)
{
	FILE *fp = fopen(fx_path(f, name), "w");

	CHECK(fp);
	CHECK(fputs(text, fp) >= 0);
	CHECK(fclose(fp) == 0);
}

static bool exists(struct fx *f, const char *name)
{
	return access(fx_path(f, name), F_OK) == 0;
}

/* Config with every path in the test directory; the user's key is a real
 * key-file-wrapped identity so wipe_at_start can load it. */
static void fx_init(struct fx *f, const char *tag)
{
	struct ks_unlock u = { .wrap = KS_WRAP_KEYFILE };
	char *cfg = NULL;

	memset(f, 0, sizeof(*f));
	f->dir = test_tmpdir(tag);
	CHECK(asprintf(&cfg,
		       "[node]\ndata_dir = %s\n"
		       "[user]\nidentity = %s/user.key\nkeyfile = %s/user.kf\ncredential = %s/user.cred\n",
		       f->dir, f->dir, f->dir, f->dir) > 0);
	CHECK_OK(config_parse(&f->n.cfg, cfg));
	free(cfg);
	f->n.data_dir = strdup(f->dir);
	CHECK(mkdir(fx_path(f, "store"), 0700) == 0);
	CHECK_OK(store_open(&f->n.store, fx_path(f, "store"), NULL));
	CHECK_OK(loop_new(&f->loop));
	f->n.loop = f->loop;
	CHECK_OK(identity_generate(&f->n.id));
	CHECK_OK(identity_generate(&f->ca));
	CHECK_OK(identity_generate(&f->user));
	CHECK_OK(keystore_keyfile_create(fx_path(f, "user.kf")));
	u.secret = strdup(f->path);
	CHECK_OK(keystore_save(fx_path(f, "user.key"), f->user, &u));
	free((char *)u.secret);
	write_text(f, "node.key", "node secret key bytes");
	write_text(f, "node.kf", "node key file bytes");
	write_text(f, "node.cred", "credential");
	write_text(f, "node.key.pub", "public");
	write_text(f, "user.cred", "credential");
	write_text(f, "user.key.pub", "public");
	write_text(f, "muster.conf", "# kept");
}

static void fx_free(struct fx *f)
{
	store_close(f->n.store);
	config_free(f->n.cfg);
	loop_free(f->loop);
	identity_free(f->n.id);
	identity_free(f->n.user);
	identity_free(f->ca);
	identity_free(f->user);
	free(f->n.data_dir);
	free(f->dir);
}

/* Stores a CA-signed revocation of key with reason; its id in id. */
static void put_order(struct fx *f, const uint8_t *key, uint8_t reason, uint8_t id[static BUNDLE_ID_BYTES])
{
	uint8_t payload[REVOCATION_BYTES], enc[BUNDLE_ENC_MAX];
	struct bundle b = {
		.kind = BK_REVOCATION,
		.prio = PRIO_IMMEDIATE,
		.hop_limit = BUNDLE_HOPS_MAX,
		.dest_type = DEST_ALL,
		.payload = payload,
		.payload_len = sizeof(payload),
	};
	struct store_meta meta = { .received = mu_now_ms() };
	struct store_txn *t = NULL;
	int len;

	CHECK_LEN(revocation_encode(payload, key, reason));
	b.created = mu_now_ms();
	b.expires = b.created + 86400000ull;
	len = CHECK_LEN(bundle_seal(enc, sizeof(enc), &b, f->ca));
	CHECK_OK(bundle_decode(&b, enc, (size_t)len));
	memcpy(id, b.id, BUNDLE_ID_BYTES);
	CHECK_OK(store_write_begin(f->n.store, &t));
	CHECK_OK(store_put_revocation(t, key, meta.received, reason));
	CHECK_OK(store_put_bundle(t, &b, enc, (size_t)len, &meta));
	CHECK_OK(store_write_commit(t));
}

static const char *const destroyed[] = {
	"node.key", "node.kf", "node.cred", "node.key.pub", "user.key", "user.kf", "user.cred",
	"user.key.pub", "store/data.mdb", "store/lock.mdb", "store",
};

static void check_destroyed(struct fx *f)
{
	for (size_t i = 0; i < sizeof(destroyed) / sizeof(destroyed[0]); i++) {
		if (exists(f, destroyed[i]))
			fprintf(stderr, "survived: %s\n", destroyed[i]);
		CHECK(!exists(f, destroyed[i]));
	}
	CHECK(exists(f, "muster.conf")); /* not the wipe's to remove */
}

static void close_and_finish(struct fx *f)
{
	store_close(f->n.store);
	f->n.store = NULL;
	wipe_finish(&f->n);
}

/* The order arrives while running: the node key's files are overwritten
 * (seen through a second hard link) and every key and store file goes. */
static void test_running_self(void)
{
	struct fx f;
	uint8_t id[BUNDLE_ID_BYTES];
	char keep[600], buf[64];
	ssize_t got;
	int fd;

	fx_init(&f, "wipe-running");
	snprintf(keep, sizeof(keep), "%s/keep-node.key", f.dir);
	CHECK(link(fx_path(&f, "node.key"), keep) == 0);
	put_order(&f, identity_sign_pk(f.n.id), REVOKE_WIPE, id);
	wipe_on_stored(&f.n, id);
	close_and_finish(&f);
	check_destroyed(&f);
	fd = open(keep, O_RDONLY);
	CHECK(fd >= 0);
	got = read(fd, buf, sizeof(buf));
	close(fd);
	CHECK(got == (ssize_t)strlen("node secret key bytes"));
	for (ssize_t i = 0; i < got; i++)
		CHECK(buf[i] == 0);
	/* Done once: a second close does nothing more. */
	write_text(&f, "node.key", "new");
	wipe_finish(&f.n);
	CHECK(exists(&f, "node.key"));
	fx_free(&f);
}

/* Stored before a restart, also when the key was first revoked for another
 * reason (the revocation index keeps that first reason). */
static void test_start_after_lost(void)
{
	struct fx f;
	uint8_t id[BUNDLE_ID_BYTES], id2[BUNDLE_ID_BYTES];

	fx_init(&f, "wipe-start");
	CHECK(!wipe_at_start(&f.n));
	put_order(&f, identity_sign_pk(f.n.id), REVOKE_LOST, id);
	put_order(&f, identity_sign_pk(f.n.id), REVOKE_WIPE, id2);
	CHECK(wipe_at_start(&f.n));
	close_and_finish(&f);
	check_destroyed(&f);
	fx_free(&f);
}

/* An order naming the user's key, whose identity did not load (its
 * credential is the one revoked): read from the [user] files. */
static void test_start_user(void)
{
	struct fx f;
	uint8_t id[BUNDLE_ID_BYTES];

	fx_init(&f, "wipe-user");
	put_order(&f, identity_sign_pk(f.user), REVOKE_WIPE, id);
	CHECK(f.n.user == NULL);
	CHECK(wipe_at_start(&f.n));
	close_and_finish(&f);
	check_destroyed(&f);
	fx_free(&f);
}

/* Another node's order: nothing here is touched; its key may come up a
 * session to receive it, a key revoked without one may not. */
static void test_other_node(void)
{
	struct fx f;
	struct mu_identity *other = NULL, *lost = NULL;
	uint8_t id[BUNDLE_ID_BYTES], id2[BUNDLE_ID_BYTES];

	fx_init(&f, "wipe-other");
	CHECK_OK(identity_generate(&other));
	CHECK_OK(identity_generate(&lost));
	CHECK(wipe_is_revoked(&f.n, identity_sign_pk(other)) == 0);
	put_order(&f, identity_sign_pk(other), REVOKE_WIPE, id);
	put_order(&f, identity_sign_pk(lost), REVOKE_LOST, id2);
	CHECK(store_is_revoked(f.n.store, identity_sign_pk(other)) == 1);
	CHECK(wipe_is_revoked(&f.n, identity_sign_pk(other)) == 0);
	CHECK(wipe_is_revoked(&f.n, identity_sign_pk(lost)) == 1);
	wipe_on_stored(&f.n, id);
	wipe_on_stored(&f.n, id2);
	CHECK(wipe_is_revoked(&f.n, identity_sign_pk(other)) == 0);
	CHECK(wipe_is_revoked(&f.n, identity_sign_pk(lost)) == 1);
	/* The "no order" answer remembered for lost gives way to a new order. */
	put_order(&f, identity_sign_pk(lost), REVOKE_WIPE, id2);
	wipe_on_stored(&f.n, id2);
	CHECK(wipe_is_revoked(&f.n, identity_sign_pk(lost)) == 0);
	CHECK(!wipe_at_start(&f.n));
	close_and_finish(&f);
	CHECK(exists(&f, "node.key") && exists(&f, "user.key") && exists(&f, "store/data.mdb"));
	identity_free(other);
	identity_free(lost);
	fx_free(&f);
}

/* A file that cannot be destroyed (here a non-empty directory where the
 * key should be) is reported; everything else is still destroyed. */
static void test_undestroyable(void)
{
	struct fx f;
	uint8_t id[BUNDLE_ID_BYTES];

	fx_init(&f, "wipe-fail");
	CHECK(unlink(fx_path(&f, "node.cred")) == 0);
	CHECK(mkdir(fx_path(&f, "node.cred"), 0700) == 0);
	write_text(&f, "node.cred/x", "x");
	put_order(&f, identity_sign_pk(f.n.id), REVOKE_WIPE, id);
	CHECK(wipe_at_start(&f.n));
	close_and_finish(&f);
	CHECK(exists(&f, "node.cred/x"));
	CHECK(!exists(&f, "node.key") && !exists(&f, "user.key") && !exists(&f, "store/data.mdb"));
	CHECK(unlink(fx_path(&f, "node.cred/x")) == 0);
	CHECK(rmdir(fx_path(&f, "node.cred")) == 0);
	fx_free(&f);
}

static const struct test tests[] = {
	{ "/wipe/running/self-node", test_running_self },
	{ "/wipe/start/after-lost", test_start_after_lost },
	{ "/wipe/start/user-key", test_start_user },
	{ "/wipe/other-node", test_other_node },
	{ "/wipe/undestroyable-file", test_undestroyable },
};

TEST_MAIN(tests)
