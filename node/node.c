/* Node start-up and shared state: configuration, the data directory, the
 * node key (made on first start), its credential, trust anchors, the store
 * and the keyset, link drivers and their events, and periodic purging. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../crypto/keystore.h"
#include "clock.h"
#include "config.h"
#include "err.h"
#include "grow.h"
#include "hex.h"
#include "log.h"
#include "node_int.h"
#include "route_watch.h"
#include "wipe.h"

#define SEEN_MAX 256
#define CONNECT_DELAY_LARGER_KEY_MS 3000 /* let the smaller key connect first */

/* Peers heard of (beacons, radio events, static config), for connect
 * decisions and backoff. Static peers are reported with an all-zero key and
 * told apart by address; their key is what answered there last (zero until
 * a session with them has come up). */
struct seen {
	uint8_t key[MU_KEY_BYTES];
	bool is_static;
	struct link_addr addr;
	struct driver_slot *drv;
	uint64_t next_try_mono;
	uint64_t backoff_ms;
};
static struct seen seen_tab[SEEN_MAX];
static unsigned seen_n;

static const uint8_t zero_key[MU_KEY_BYTES];

struct verify_ctx node_verify_ctx(struct node *n)
{
	return (struct verify_ctx){
		.trust = &n->trust,
		.now = mu_now_ms(),
		.skew_ms = n->skew_ms,
		.lookup = store_cred_lookup,
		.is_revoked = store_is_revoked,
		.ctx = n->store,
	};
}

/* ---- keyset: changes wait while a sync session reads it ---- */

/* The keyset is built after start, KEYSET_BUILD_STEP keys a loop turn (on
 * the purge timer, whose purge waits for it), so that the node answers its
 * control socket and accepts sessions without first walking the whole
 * by_time index (a cold start reads thousands of scattered pages:
 * docs/benchmarks.md "startup"; a step of 1024 keys reads at most a few
 * dozen pages, a few ms cold). Until the build is done n->keys is NULL,
 * new keys wait in keys_pending_add, and a sync that starts meanwhile
 * finishes the build first (node_sync_started), so no sync sees a partial
 * keyset (n->keys_building holds it meanwhile). */
#define KEYSET_BUILD_STEP 1024

/* Credentials and revocations: the keys an uplink session reconciles
 * (docs/sync.md "Uplink"); they are few, and every node needs them. */
static bool kind_ctl(uint8_t kind)
{
	return kind == BK_CREDENTIAL || kind == BK_REVOCATION;
}

struct keyset_fill {
	struct node *n;
	struct keyset *ks, *ctl;
	size_t left;
};

static int keyset_fill_one(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES], uint8_t kind)
{
	struct keyset_fill *f = ctx;
	struct store_info info;
	int ret = keyset_add(f->ks, created, id); /* in order: an append */

	if (ret && ret != MU_E_EXISTS)
		return ret;
	/* A row from before kinds were indexed: the record says (a tombstone
	 * is a message, never a credential). */
	if (!kind && !store_peek(f->n->store, id, &info))
		kind = info.kind;
	if (kind_ctl(kind)) {
		ret = keyset_add(f->ctl, created, id);
		if (ret && ret != MU_E_EXISTS)
			return ret;
	}
	return --f->left ? 0 : 1;
}

/* Adds up to max keys of the by_time index that follow the last key of ks
 * (ks only ever grows by this walk, so its last key is where the walk
 * stopped), and the credential and revocation keys among them to ctl. 1 if
 * more may follow, 0 at the end of the index, <0 on error. */
static int keyset_fill(struct node *n, struct keyset *ks, struct keyset *ctl, size_t max)
{
	size_t c = keyset_count(ks);
	const struct sync_key *last = c ? keyset_at(ks, c - 1) : NULL;
	struct keyset_fill f = { .n = n, .ks = ks, .ctl = ctl, .left = max };

	return store_scan_keys(n->store, last ? last->created : 0, last ? last->id : NULL, keyset_fill_one, &f);
}

/* Empty keysets, the first with room for every key the store holds. */
static int keyset_sized(struct node *n, struct keyset **out, struct keyset **ctl)
{
	struct store_stat st;
	int ret = store_stat(n->store, &st);

	*out = *ctl = NULL;
	if (!ret)
		ret = keyset_new(out);
	if (!ret)
		ret = keyset_new(ctl);
	if (!ret)
		ret = keyset_reserve(*out, (size_t)(st.count + st.tombstones));
	if (ret) {
		keyset_free(*out);
		keyset_free(*ctl);
		*out = *ctl = NULL;
	}
	return ret;
}

static int keyset_reload(struct node *n)
{
	struct keyset *ks = NULL, *ctl = NULL;
	int ret = keyset_sized(n, &ks, &ctl);

	if (!ret)
		ret = keyset_fill(n, ks, ctl, SIZE_MAX);
	if (ret) {
		keyset_free(ks);
		keyset_free(ctl);
		return ret;
	}
	keyset_free(n->keys);
	keyset_free(n->keys_ctl);
	n->keys = ks;
	n->keys_ctl = ctl;
	return 0;
}

static void keyset_apply_pending(struct node *n);

/* One step of the build: 1 if more remain, 0 once n->keys is complete,
 * <0 on a store error. */
static int keyset_build_step(struct node *n, size_t max)
{
	int ret = keyset_fill(n, n->keys_building, n->keys_ctl_building, max);

	if (ret)
		return ret;
	n->keys = n->keys_building;
	n->keys_ctl = n->keys_ctl_building;
	n->keys_building = n->keys_ctl_building = NULL;
	log_debug(SUB_SYNC, "sync index built: %zu keys (%zu credentials and revocations)", keyset_count(n->keys),
		  keyset_count(n->keys_ctl));
	keyset_apply_pending(n);
	return 0;
}

/* The store could not be read: the node stops, as it did when the build
 * still ran before ready. A sync that must start anyway gets the keys read
 * so far (it can only ask for bundles again or not offer some). */
static void keyset_build_failed(struct node *n, int ret)
{
	log_err(SUB_SYNC, "cannot build the sync index from the store: %s", mu_strerror(ret));
	n->keys = n->keys_building;
	n->keys_ctl = n->keys_ctl_building;
	n->keys_building = n->keys_ctl_building = NULL;
	loop_quit(n->loop, ret);
}

static void keyset_add_now(struct node *n, const struct sync_key *k, uint8_t kind)
{
	keyset_add(n->keys, k->created, k->id);
	if (kind_ctl(kind))
		keyset_add(n->keys_ctl, k->created, k->id);
}

static void keyset_apply_pending(struct node *n)
{
	if (n->keys_building)
		return; /* applied when the build ends */
	if (n->keys_reload) {
		n->keys_reload = false;
		n->keys_pending_n = 0;
		if (keyset_reload(n))
			log_err(SUB_SYNC, "cannot rebuild the sync index");
		return;
	}
	for (size_t i = 0; i < n->keys_pending_n; i++)
		keyset_add_now(n, &n->keys_pending_add[i].k, n->keys_pending_add[i].kind);
	n->keys_pending_n = 0;
}

void node_keyset_add(struct node *n, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES], uint8_t kind)
{
	struct key_pending *v;
	struct sync_key k = { .created = created };

	memcpy(k.id, id, BUNDLE_ID_BYTES);
	if (!n->syncs_active && !n->keys_building) {
		keyset_add_now(n, &k, kind);
		return;
	}
	v = mu_grow(n->keys_pending_add, &n->keys_pending_cap, n->keys_pending_n, sizeof(*v), 256);
	if (!v) {
		n->keys_reload = true; /* rebuild from the store later */
		return;
	}
	n->keys_pending_add = v;
	n->keys_pending_add[n->keys_pending_n].k = k;
	n->keys_pending_add[n->keys_pending_n].kind = kind;
	n->keys_pending_n++;
}

void node_sync_started(struct node *n)
{
	int ret;

	if (n->keys_building) {
		log_debug(SUB_SYNC, "a sync waits for the sync index to be built");
		ret = keyset_build_step(n, SIZE_MAX);
		if (ret)
			keyset_build_failed(n, ret);
	}
	n->syncs_active++;
}

void node_sync_ended(struct node *n)
{
	if (n->syncs_active && --n->syncs_active == 0)
		keyset_apply_pending(n);
}

/* ---- purge ---- */

static void purge_tick(void *user)
{
	struct node *n = user;
	uint64_t removed = 0;
	int ret;

	if (n->keys_building) {
		ret = keyset_build_step(n, KEYSET_BUILD_STEP);
		if (ret < 0)
			keyset_build_failed(n, ret);
		else
			loop_timer_arm(n->purge_timer, 0); /* the next step, or the purge */
		return;
	}
	node_commit(n);
	ret = store_purge_expired(n->store, mu_now_ms(), &removed);
	if (ret)
		log_err(SUB_STORE, "expiry purge failed: %s", mu_strerror(ret));
	/* Receipt and alert notes (receipts.c) expire with their messages. */
	if (!ret && (ret = store_note_purge(n->store, mu_now_ms(), NULL)))
		log_err(SUB_STORE, "note purge failed: %s", mu_strerror(ret));
	if (removed) {
		log_info(SUB_STORE, "deleted %llu expired bundles", (unsigned long long)removed);
		n->keys_reload = true;
		if (!n->syncs_active)
			keyset_apply_pending(n);
	}
	loop_timer_arm(n->purge_timer, n->purge_interval_ms);
}

/* ---- link events ---- */

static struct driver_slot *slot_of(struct node *n, struct link_driver *drv)
{
	for (unsigned i = 0; i < n->ndrv; i++)
		if (n->drv[i].drv == drv)
			return &n->drv[i];
	return NULL;
}

static bool connected_to(struct node *n, const uint8_t *key, const struct link_addr *addr)
{
	for (struct conn *c = n->conns; c; c = c->next) {
		if (c->st == CONN_CLOSING)
			continue;
		if (memcmp(key, zero_key, MU_KEY_BYTES) && c->st == CONN_UP && !memcmp(c->peer, key, MU_KEY_BYTES))
			return true;
		if (!c->inbound && !strcmp(c->lk->peer.text, addr->text))
			return true;
	}
	return false;
}

static void ev_peer_seen(void *user, struct link_driver *drv, const uint8_t key[static MU_KEY_BYTES],
			 const struct link_addr *addr)
{
	struct node *n = user;
	bool is_static = !memcmp(key, zero_key, MU_KEY_BYTES);
	uint64_t now = loop_now_mono_ms();
	struct seen *s = NULL;
	int ret;

	if (!n->cred_enc || !memcmp(key, identity_sign_pk(n->id), MU_KEY_BYTES))
		return;
	for (unsigned i = 0; i < seen_n; i++) {
		if (is_static ? seen_tab[i].is_static && !strcmp(seen_tab[i].addr.text, addr->text)
			      : !seen_tab[i].is_static && !memcmp(seen_tab[i].key, key, MU_KEY_BYTES)) {
			s = &seen_tab[i];
			break;
		}
	}
	if (!s) {
		s = seen_n < SEEN_MAX ? &seen_tab[seen_n++] : &seen_tab[now % SEEN_MAX];
		memcpy(s->key, key, MU_KEY_BYTES);
		s->is_static = is_static;
		s->backoff_ms = RECONNECT_MIN_MS;
		/* Both ends hear each other's beacons; the smaller key dials
		 * first so the usual case makes one link, not two. */
		s->next_try_mono = now;
		if (!is_static && memcmp(identity_sign_pk(n->id), key, MU_KEY_BYTES) > 0)
			s->next_try_mono = now + CONNECT_DELAY_LARGER_KEY_MS;
	}
	s->addr = *addr;
	s->drv = slot_of(n, drv);
	/* A static peer that dialled us first is connected too, over its
	 * inbound link: recognised by the key learnt on an earlier session. */
	if (connected_to(n, s->key, addr)) {
		s->backoff_ms = RECONNECT_MIN_MS;
		return;
	}
	if (now < s->next_try_mono || !s->drv)
		return;
	s->next_try_mono = now + s->backoff_ms;
	s->backoff_ms = s->backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : s->backoff_ms * 2;
	log_debug(SUB_LINK, "connecting to %s", addr->text);
	ret = s->drv->ops->connect(s->drv->drv, addr);
	if (ret)
		log_info(SUB_LINK, "connect to %s: %s", addr->text, mu_strerror(ret));
}

void node_peer_learned(struct node *n, const struct link_addr *addr, const uint8_t key[static MU_KEY_BYTES])
{
	(void)n;
	for (unsigned i = 0; i < seen_n; i++)
		if (seen_tab[i].is_static && !strcmp(seen_tab[i].addr.text, addr->text))
			memcpy(seen_tab[i].key, key, MU_KEY_BYTES);
}

/* The kernel's links, addresses or routes changed (route_watch.h): a static
 * peer (the hospital uplink) may be reachable again, so its back-off starts
 * over and it is dialled now, not up to RECONNECT_MAX_MS later. A dial
 * still in progress may get a twin; conn.c closes the duplicate session. */

static void statics_retry(void *user)
{
	struct node *n = user;
	unsigned tried = 0;

	for (unsigned i = 0; i < seen_n; i++) {
		struct seen *s = &seen_tab[i];
		struct link_addr addr = s->addr;

		if (!s->is_static || !s->drv)
			continue;
		s->backoff_ms = RECONNECT_MIN_MS;
		s->next_try_mono = 0;
		ev_peer_seen(n, s->drv->drv, zero_key, &addr);
		tried++;
	}
	if (tried)
		log_debug(SUB_LINK, "routes changed: static peers tried again (%u)", tried);
}

static void ev_link_up(void *user, struct link *lk, int inbound)
{
	conn_link_up(user, lk, inbound);
}

static void ev_link_data(void *user, struct link *lk, const uint8_t *p, size_t n)
{
	conn_link_data(user, lk, p, n);
}

static void ev_link_down(void *user, struct link *lk, int err)
{
	conn_link_down(user, lk, err);
}

static void ev_link_drained(void *user, struct link *lk)
{
	conn_link_drained(user, lk);
}

/* A radio driver's interface changed: tell the other drivers (the IP driver
 * beacons at once on a fresh cell or a new station, so discovery does not
 * wait for the next beacon interval). */
static void ev_iface_event(void *user, struct link_driver *drv, const char *ifname, enum link_iface_ev ev)
{
	struct node *n = user;

	for (unsigned i = 0; i < n->ndrv; i++)
		if (n->drv[i].drv != drv && n->drv[i].ops->kick)
			n->drv[i].ops->kick(n->drv[i].drv, ifname, ev);
}

static const struct link_events node_link_events = {
	.peer_seen = ev_peer_seen,
	.link_up = ev_link_up,
	.link_data = ev_link_data,
	.link_down = ev_link_down,
	.link_drained = ev_link_drained,
	.iface_event = ev_iface_event,
};

/* ---- start-up ---- */

static char *path_or_default(struct node *n, const char *section, const char *key, const char *file)
{
	const char *v = config_str(n->cfg, section, key, "");
	char *p = NULL;

	if (*v)
		return strdup(v);
	return asprintf(&p, "%s/%s", n->data_dir, file) < 0 ? NULL : p;
}

static int load_trust(void *ctx, const char *value)
{
	struct node *n = ctx;
	uint8_t key[MU_KEY_BYTES];
	char *data = NULL;
	size_t len = 0;
	FILE *f;
	int ret = 0;

	if (strlen(value) == 2 * MU_KEY_BYTES && hex_decode(key, MU_KEY_BYTES, value) == 0)
		return trust_add(&n->trust, key);
	/* A public-key file as muster-ca init writes it. */
	f = fopen(value, "r");
	if (!f) {
		log_err(SUB_MAIN, "[trust] ca = %s: %s", value, strerror(errno));
		return MU_E_CONFIG;
	}
	if (getdelim(&data, &len, '\0', f) < 0)
		ret = MU_E_CONFIG;
	fclose(f);
	if (!ret) {
		char hexkey[2 * MU_KEY_BYTES + 1];

		if (sscanf(data, "muster-pub 1\nsign %64s", hexkey) != 1 || hex_decode(key, MU_KEY_BYTES, hexkey))
			ret = MU_E_CONFIG;
		else
			ret = trust_add(&n->trust, key);
	}
	if (ret)
		log_err(SUB_MAIN, "[trust] ca = %s: not a CA public key file", value);
	free(data);
	return ret;
}

static int read_small_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, cap, f);
	if (!feof(f)) {
		fclose(f);
		return -EFBIG;
	}
	fclose(f);
	*len = n;
	return 0;
}

static int write_pub(const char *path, const struct mu_identity *id)
{
	char s[65], k[65];
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	hex_encode(s, identity_sign_pk(id), 32);
	hex_encode(k, identity_kx_pk(id), 32);
	fprintf(f, "muster-pub 1\nsign %s\nkx %s\n", s, k);
	return fclose(f) ? -errno : 0;
}

/* Loads an identity wrapped by a key file, creating both on first start
 * when create is set. */
static int load_identity(struct mu_identity **out, const char *path, const char *keyfile, bool create)
{
	struct ks_unlock u = { .wrap = KS_WRAP_KEYFILE, .secret = keyfile };
	char *pub = NULL;
	int ret;

	if (access(path, F_OK) == 0 || !create)
		return keystore_load(out, path, &u);
	ret = keystore_keyfile_create(keyfile);
	if (ret && ret != -EEXIST)
		return ret;
	ret = identity_generate(out);
	if (!ret)
		ret = keystore_save(path, *out, &u);
	if (!ret && asprintf(&pub, "%s.pub", path) < 0)
		ret = -ENOMEM;
	if (!ret)
		ret = write_pub(pub, *out);
	free(pub);
	if (ret) {
		identity_free(*out);
		*out = NULL;
	}
	return ret;
}

/* A credential file must belong to the identity and chain to our trust. */
static int load_cred(struct node *n, const char *path, const struct mu_identity *id, struct cred *c,
		     uint8_t **enc, size_t *enc_len)
{
	uint8_t buf[CRED_ENC_MAX];
	size_t len = 0;
	int ret = read_small_file(path, buf, sizeof(buf), &len);

	if (!ret)
		ret = cred_decode(c, buf, len);
	if (!ret && memcmp(c->sign_pk, identity_sign_pk(id), MU_KEY_BYTES))
		ret = MU_E_MISMATCH;
	if (!ret)
		ret = cred_verify(c, &n->trust, mu_now_ms(), store_is_revoked, n->store);
	if (!ret && enc) {
		*enc = malloc(len);
		if (!*enc)
			return -ENOMEM;
		memcpy(*enc, buf, len);
		*enc_len = len;
	}
	return ret;
}

/* The user's credential travels as a bundle so relays can admit what they
 * send and others can encrypt to them. */
static int publish_cred(struct node *n, const struct mu_identity *id, const struct cred *c)
{
	uint8_t enc[CRED_ENC_MAX], benc[BUNDLE_ENC_MAX];
	struct bundle b = {
		.kind = BK_CREDENTIAL,
		.prio = PRIO_URGENT,
		.hop_limit = BUNDLE_HOPS_MAX,
		.dest_type = DEST_ALL,
	};
	int len = cred_encode(enc, sizeof(enc), c), blen;
	struct cred known;

	if (len < 0)
		return len;
	if (store_cred_lookup(n->store, c->sign_pk, &known) == 0 && known.valid_until >= c->valid_until)
		return 0; /* already published */
	b.created = mu_now_ms();
	b.expires = c->valid_until;
	b.payload = enc;
	b.payload_len = (size_t)len;
	blen = bundle_seal(benc, sizeof(benc), &b, id);
	if (blen < 0)
		return blen;
	blen = node_ingest(n, benc, (size_t)blen, 0, NULL);
	return blen == MU_E_EXISTS ? 0 : blen ? blen : node_commit(n);
}

static int node_read_config(struct node *n)
{
	const char *role = config_str(n->cfg, "node", "role", "field");
	const char *lvl = config_str(n->cfg, "node", "log_level", "info");
	const char *dbg = config_str(n->cfg, "node", "debug", "");
	const char *nhs, *notify;
	int ret;

	if (!strcmp(role, "field"))
		n->role = NODE_FIELD;
	else if (!strcmp(role, "hospital"))
		n->role = NODE_HOSPITAL;
	else {
		log_err(SUB_MAIN, "[node] role = %s: must be field or hospital", role);
		return MU_E_CONFIG;
	}
	if (!strcmp(lvl, "error"))
		log_set_level(LOG_ERR);
	else if (!strcmp(lvl, "warn"))
		log_set_level(LOG_WARN);
	else if (!strcmp(lvl, "info"))
		log_set_level(LOG_INFO);
	else if (!strcmp(lvl, "debug"))
		log_set_level(LOG_DEBUG);
	else {
		log_err(SUB_MAIN, "[node] log_level = %s: must be error, warn, info or debug", lvl);
		return MU_E_CONFIG;
	}
	if (*dbg && log_enable_debug(dbg)) {
		log_err(SUB_MAIN, "[node] debug = %s: unknown subsystem", dbg);
		return MU_E_CONFIG;
	}
	n->data_dir = strdup(config_str(n->cfg, "node", "data_dir", "/var/lib/muster"));
	if (!n->data_dir)
		return -ENOMEM;
	nhs = config_str(n->cfg, "messaging", "nhs_number", "warn");
	if (!strcmp(nhs, "warn"))
		n->nhs_policy = NHS_WARN;
	else if (!strcmp(nhs, "block"))
		n->nhs_policy = NHS_BLOCK;
	else if (!strcmp(nhs, "allow"))
		n->nhs_policy = NHS_ALLOW;
	else {
		log_err(SUB_MAIN, "[messaging] nhs_number = %s: must be warn, block or allow", nhs);
		return MU_E_CONFIG;
	}
	notify = config_str(n->cfg, "messaging", "notify_command", "");
	if (*notify && notify[0] != '/') {
		log_err(SUB_MAIN, "[messaging] notify_command = %s: must be an absolute path", notify);
		return MU_E_CONFIG;
	}
	if (*notify && !(n->notify_cmd = strdup(notify)))
		return -ENOMEM;
	ret = config_u64(n->cfg, "node", "sync_interval_ms", SYNC_INTERVAL_MS_DEFAULT, 100, 3600000,
			 &n->sync_interval_ms) ||
	      config_u64(n->cfg, "node", "sync_timeout_ms", SYNC_TIMEOUT_MS_DEFAULT, 100, 600000,
			 &n->sync_timeout_ms) ||
	      config_u64(n->cfg, "node", "handshake_timeout_ms", HANDSHAKE_TIMEOUT_MS_DEFAULT, 100, 600000,
			 &n->handshake_timeout_ms) ||
	      config_u64(n->cfg, "node", "purge_interval_ms", PURGE_INTERVAL_MS_DEFAULT, 1000, 86400000,
			 &n->purge_interval_ms) ||
	      config_u64(n->cfg, "node", "clock_skew_ms", VERIFY_SKEW_MS_DEFAULT, 0, 86400000, &n->skew_ms) ||
	      refused_config(n);
	return ret ? MU_E_CONFIG : 0;
}

static int node_open_store(struct node *n)
{
	struct store_limits lim;
	char *dir = NULL;
	int ret;

	if (config_u64(n->cfg, "store", "quota_bytes", STORE_QUOTA_BYTES_DEFAULT, 1 << 20, 1ull << 40,
		       &lim.quota_bytes) ||
	    config_u64(n->cfg, "store", "quota_count", STORE_QUOTA_COUNT_DEFAULT, 10, 100000000, &lim.quota_count) ||
	    config_u64(n->cfg, "store", "map_bytes", STORE_MAP_DEFAULT, 4 << 20, 1ull << 42, &lim.map_bytes))
		return MU_E_CONFIG;
	if (asprintf(&dir, "%s/store", n->data_dir) < 0)
		return -ENOMEM;
	ret = store_open(&n->store, dir, &lim);
	if (ret)
		log_err(SUB_STORE, "cannot open the store in %s: %s", dir, mu_strerror(ret));
	free(dir);
	if (!ret)
		hospital_store_opened(n);
	if (!ret)
		ret = keyset_sized(n, &n->keys_building, &n->keys_ctl_building); /* built after start: purge_tick */
	return ret;
}

static int node_load_identities(struct node *n)
{
	char *key = path_or_default(n, "node", "identity", "node.key");
	char *kf = path_or_default(n, "node", "keyfile", "node.kf");
	char *cred = path_or_default(n, "node", "credential", "node.cred");
	const char *ukey = config_str(n->cfg, "user", "identity", "");
	const char *ukf = config_str(n->cfg, "user", "keyfile", "");
	const char *ucred = config_str(n->cfg, "user", "credential", "");
	char hexkey[2 * MU_KEY_BYTES + 1];
	int ret = key && kf && cred ? 0 : -ENOMEM;

	if (!ret)
		ret = load_identity(&n->id, key, kf, true);
	if (ret) {
		log_err(SUB_CRYPTO, "node identity %s: %s", key, mu_strerror(ret));
		goto out;
	}
	hex_encode(hexkey, identity_sign_pk(n->id), MU_KEY_BYTES);
	ret = load_cred(n, cred, n->id, &n->cred, &n->cred_enc, &n->cred_len);
	if (ret == -ENOENT) {
		log_warn(SUB_MAIN, "node %s is not enrolled: no %s. Until it is, it talks to no one. Ask the "
				   "trust's CA: muster-ca issue --pub %s.pub --role node ... --out %s",
			 hexkey, cred, key, cred);
		ret = 0;
	} else if (ret) {
		log_err(SUB_MAIN, "node credential %s: %s", cred, mu_strerror(ret));
		goto out;
	} else if (n->cred.role != ROLE_NODE && n->cred.role != ROLE_HOSPITAL_ARCHIVE) {
		log_err(SUB_MAIN, "node credential %s has role %s, not node or archive", cred,
			role_name(n->cred.role));
		ret = MU_E_MISMATCH;
		goto out;
	}
	if (*ukey) {
		ret = load_identity(&n->user, ukey, ukf, false);
		if (!ret)
			ret = load_cred(n, ucred, n->user, &n->user_cred, NULL, NULL);
		if (ret) {
			log_err(SUB_MAIN, "[user] %s / %s: %s", ukey, ucred, mu_strerror(ret));
			goto out;
		}
		ret = publish_cred(n, n->user, &n->user_cred);
		if (ret)
			log_warn(SUB_MAIN, "cannot publish the user's credential: %s", mu_strerror(ret));
		ret = 0;
	}
	log_info(SUB_MAIN, "node %s (%s)%s%s%s", hexkey, n->role == NODE_HOSPITAL ? "hospital" : "field",
		 n->cred_enc ? ", enrolled as " : "", n->cred_enc ? n->cred.subject : "",
		 n->user ? ", user loaded" : "");
out:
	free(key);
	free(kf);
	free(cred);
	return ret;
}

static int node_start_drivers(struct node *n)
{
	for (unsigned i = 0; link_drivers[i] && n->ndrv < NODE_DRIVERS_MAX; i++) {
		const struct link_ops *ops = link_drivers[i];
		int enabled = 1, ret;

		ret = config_bool(n->cfg, ops->name, "enable", !strcmp(ops->name, "tcp"), &enabled);
		if (ret)
			return ret;
		if (!enabled)
			continue;
		ret = ops->start(&n->drv[n->ndrv].drv, n->loop, n->cfg, n->id, &node_link_events, n);
		if (ret) {
			log_err(SUB_LINK, "driver %s did not start: %s", ops->name, mu_strerror(ret));
			return ret;
		}
		n->drv[n->ndrv++].ops = ops;
	}
	return 0;
}

int node_open(struct node **out, struct loop *loop, struct config *cfg)
{
	struct node *n = calloc(1, sizeof(*n));
	int ret;

	*out = NULL;
	if (!n)
		return -ENOMEM;
	n->loop = loop;
	n->cfg = cfg;
	ret = node_read_config(n);
	if (!ret)
		ret = ingest_open(n);
	if (!ret)
		ret = custody_open(n);
	if (!ret)
		ret = relay_open(n);
	if (!ret && mkdir(n->data_dir, 0700) && errno != EEXIST)
		ret = -errno;
	if (!ret)
		ret = config_each(cfg, "trust", "ca", load_trust, n);
	if (!ret && !n->trust.n)
		log_warn(SUB_MAIN, "no [trust] ca configured: every peer and bundle will be refused");
	if (!ret)
		ret = node_open_store(n);
	if (!ret)
		ret = node_load_identities(n);
	/* A wipe order stored before a crash or shutdown is carried out now,
	 * also when the revoked credential no longer loads. */
	if (n->store && wipe_at_start(n))
		ret = MU_E_WIPED;
	if (!ret)
		ret = receipts_open(n);
	if (!ret)
		ret = hospital_open(n);
	if (!ret)
		ret = loop_timer_new(loop, &n->purge_timer, purge_tick, n);
	if (!ret) {
		loop_timer_arm(n->purge_timer, 0);
		ret = control_open(n);
	}
	if (!ret)
		ret = node_start_drivers(n);
	if (ret) {
		node_close(n);
		return ret;
	}
	/* Without it (no netlink in a sandbox) static peers wait for their back-off. */
	if ((ret = route_watch_open(&n->route_w, loop, ROUTE_WATCH_DEBOUNCE_MS, statics_retry, n)))
		log_warn(SUB_LINK, "no route change events (%s): static peers redial on back-off only",
			 mu_strerror(ret));
	config_warn_unused(cfg);
	*out = n;
	return 0;
}

void node_close(struct node *n)
{
	if (!n)
		return;
	/* Conns first, detached from their links; then the drivers, whose
	 * stop frees the links and delivers no more callbacks. */
	while (n->conns) {
		struct conn *c = n->conns;

		n->conns = c->next;
		c->lk->core_data = NULL;
		c->lk = NULL;
		conn_destroy(c);
	}
	route_watch_close(n->route_w);
	n->route_w = NULL;
	for (unsigned i = 0; i < n->ndrv; i++)
		n->drv[i].ops->stop(n->drv[i].drv);
	control_close(n);
	receipts_close(n); /* seals receipts still queued, so before the store closes */
	if (n->store) {
		node_commit(n);
		store_close(n->store);
	}
	hospital_close(n); /* after the last commit, which may archive */
	wipe_finish(n); /* if ordered: keys and the closed store's files */
	loop_timer_free(n->commit_timer);
	loop_timer_free(n->purge_timer);
	ingest_close(n);
	relay_close(n);
	custody_close(n);
	keyset_free(n->keys);
	keyset_free(n->keys_ctl);
	keyset_free(n->keys_building);
	keyset_free(n->keys_ctl_building);
	n->keys_building = n->keys_ctl_building = NULL;
	free(n->keys_pending_add);
	free(n->fresh);
	identity_free(n->id);
	identity_free(n->user);
	free(n->cred_enc);
	free(n->data_dir);
	free(n->notify_cmd);
	free(n);
}
