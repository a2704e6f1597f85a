/* Channels on a node (channel.h, "node side"): which epoch keys the user
 * holds, sending and reading channel messages, the `channel` commands, and
 * rotation when a member's credential is revoked.
 *
 * Epoch keys are never stored by this node: they exist only inside the
 * key-wrap bundles in the store (sealed to each holder's X25519 key) and
 * are unwrapped with the user's key when needed. A wrap bundle expires
 * CHANNEL_WRAP_LIFETIME_MS after it was made and the store purges it then;
 * every channel message is clamped to expire no later than the last wrap
 * of its epoch, so once the wraps are gone no copy of the epoch's messages
 * can be opened by any member's key.
 *
 * What was unwrapped is kept in memory (module state: the node runs on one
 * thread) so that each inbox entry does not walk the store: epoch keys in
 * sodium_malloc'd memory, wiped when a new key-wrap is stored (rebuilt on
 * next use) or when any cached epoch's wraps expire. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "../crypto/envelope.h"
#include "channel.h"
#include "clock.h"
#include "control_util.h"
#include "err.h"
#include "hex.h"
#include "log.h"
#include "node_int.h"

#define EPOCHS_MAX 4096 /* unwrapped epochs kept; wraps beyond it are ignored (logged) */
#define SEND_MIN_LEFT_MS 60000 /* an epoch ending sooner takes no new messages */

/* One epoch the user holds the key of. */
struct epoch_ent {
	uint8_t chan[CHANNEL_ID_BYTES];
	uint32_t epoch;
	uint8_t creator[MU_KEY_BYTES];
	char name[CHANNEL_NAME_MAX + 1];
	uint8_t *key;     /* sodium_malloc'd */
	uint64_t start;   /* earliest created of its wraps: when the epoch began */
	uint64_t latest;  /* created of the wrap whose holders count */
	uint64_t expires; /* last expiry of its wraps: the key's end */
	uint8_t holders[KEYWRAP_SLOTS_MAX][MU_KEY_BYTES];
	uint8_t roles[KEYWRAP_SLOTS_MAX];
	unsigned nholders;
};

/* A wrap the user holds no slot in: it tells a removed member that a
 * later epoch exists. */
struct foreign {
	uint8_t chan[CHANNEL_ID_BYTES];
	uint32_t epoch;
	uint8_t signer[MU_KEY_BYTES];
	uint64_t created;
};

static struct {
	const struct node *n;
	const void *store;
	uint8_t user[MU_KEY_BYTES];
	bool valid;
	uint64_t min_expires;
	struct epoch_ent *e;
	size_t ne, cape;
	struct foreign *f;
	size_t nf, capf;
	/* rotation after a revocation, on the next loop turn */
	struct loop_timer *rot_timer;
	const struct node *rot_node;
	const struct loop *rot_loop;
} cc;

static void cache_clear(void)
{
	for (size_t i = 0; i < cc.ne; i++)
		sodium_free(cc.e[i].key);
	free(cc.e);
	free(cc.f);
	cc.e = NULL;
	cc.f = NULL;
	cc.ne = cc.cape = cc.nf = cc.capf = 0;
	cc.valid = false;
}

static struct epoch_ent *ent_find(const uint8_t *chan, uint32_t epoch)
{
	for (size_t i = 0; i < cc.ne; i++)
		if (cc.e[i].epoch == epoch && !memcmp(cc.e[i].chan, chan, CHANNEL_ID_BYTES))
			return &cc.e[i];
	return NULL;
}

/* The highest epoch of chan the user holds. */
static struct epoch_ent *ent_latest(const uint8_t *chan)
{
	struct epoch_ent *best = NULL;

	for (size_t i = 0; i < cc.ne; i++)
		if (!memcmp(cc.e[i].chan, chan, CHANNEL_ID_BYTES) && (!best || cc.e[i].epoch > best->epoch))
			best = &cc.e[i];
	return best;
}

static uint8_t ent_role(const struct epoch_ent *e, const uint8_t *key)
{
	for (unsigned i = 0; i < e->nholders; i++)
		if (!memcmp(e->holders[i], key, MU_KEY_BYTES))
			return e->roles[i];
	return 0;
}

/* When the first epoch after e that the creator made began, as far as
 * this node knows (held or not); UINT64_MAX if none. */
static uint64_t next_epoch_start(const struct epoch_ent *e)
{
	uint64_t at = UINT64_MAX;

	for (size_t i = 0; i < cc.ne; i++)
		if (!memcmp(cc.e[i].chan, e->chan, CHANNEL_ID_BYTES) && cc.e[i].epoch > e->epoch && cc.e[i].start < at)
			at = cc.e[i].start;
	for (size_t i = 0; i < cc.nf; i++)
		if (!memcmp(cc.f[i].chan, e->chan, CHANNEL_ID_BYTES) && cc.f[i].epoch > e->epoch &&
		    !memcmp(cc.f[i].signer, e->creator, MU_KEY_BYTES) && cc.f[i].created < at)
			at = cc.f[i].created;
	return at;
}

static void note_foreign(const struct keywrap *kw, const struct bundle *b)
{
	if (cc.nf == cc.capf) {
		size_t cap = cc.capf ? 2 * cc.capf : 16;
		void *v = cap <= EPOCHS_MAX ? realloc(cc.f, cap * sizeof(*cc.f)) : NULL;

		if (!v)
			return;
		cc.f = v;
		cc.capf = cap;
	}
	memcpy(cc.f[cc.nf].chan, kw->chan, CHANNEL_ID_BYTES);
	cc.f[cc.nf].epoch = kw->epoch;
	memcpy(cc.f[cc.nf].signer, b->sender, MU_KEY_BYTES);
	cc.f[cc.nf].created = b->created;
	cc.nf++;
}

static void note_held(const struct keywrap *kw, const struct bundle *b, const uint8_t *key, const char *name)
{
	struct epoch_ent *e = ent_find(kw->chan, kw->epoch);
	uint8_t role;

	if (!e) {
		if (cc.ne == cc.cape) {
			size_t cap = cc.cape ? 2 * cc.cape : 16;
			void *v = cap <= EPOCHS_MAX ? realloc(cc.e, cap * sizeof(*cc.e)) : NULL;

			if (!v) {
				log_warn(SUB_MAIN, "more than %zu channel epochs held; some are ignored", cc.ne);
				return;
			}
			cc.e = v;
			cc.cape = cap;
		}
		e = &cc.e[cc.ne];
		memset(e, 0, sizeof(*e));
		if (!(e->key = sodium_malloc(CHANNEL_KEY_BYTES)))
			return;
		cc.ne++;
		memcpy(e->chan, kw->chan, CHANNEL_ID_BYTES);
		e->epoch = kw->epoch;
		memcpy(e->creator, b->sender, MU_KEY_BYTES);
		snprintf(e->name, sizeof(e->name), "%s", name);
		memcpy(e->key, key, CHANNEL_KEY_BYTES);
		e->start = b->created;
	}
	/* The creator re-wraps an epoch only to add members, with the same
	 * key; the latest wrap's holders are the epoch's members. */
	if (b->created < e->start)
		e->start = b->created;
	if (b->expires > e->expires)
		e->expires = b->expires;
	if (!e->latest || b->created >= e->latest) {
		e->latest = b->created;
		e->nholders = kw->nslots;
		for (unsigned i = 0; i < kw->nslots; i++) {
			memcpy(e->holders[i], keywrap_slot(kw, i, &role), MU_KEY_BYTES);
			e->roles[i] = role;
		}
	}
}

struct scan_ctx {
	const struct node *n;
	uint64_t now;
	uint8_t *key;
};

static int scan_wrap(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES])
{
	static uint8_t enc[BUNDLE_ENC_MAX];
	struct scan_ctx *s = ctx;
	struct store_info info;
	struct keywrap kw;
	struct bundle b;
	size_t len;
	char name[CHANNEL_NAME_MAX + 1];
	int ret;

	(void)created;
	if (store_peek(s->n->store, id, &info) || info.kind != BK_KEYWRAP || info.expires <= s->now)
		return 0;
	if (store_get(s->n->store, id, enc, sizeof(enc), &len, NULL) || bundle_decode(&b, enc, len) ||
	    b.dest_type != DEST_CHANNEL || b.dest_len != CHANNEL_ID_BYTES ||
	    keywrap_decode(&kw, b.payload, b.payload_len) || memcmp(kw.chan, b.dest, CHANNEL_ID_BYTES))
		return 0;
	ret = keywrap_open(&kw, s->n->user, b.sender, s->key, name);
	if (ret == MU_E_NOTFOUND)
		note_foreign(&kw, &b);
	else if (!ret)
		note_held(&kw, &b, s->key, name);
	/* MU_E_MISMATCH: signed by someone who did not create the channel. */
	return 0;
}

/* Makes the cache current for n's user; false without a user or on
 * failure (then nothing is held). */
static bool cache_ready(const struct node *n)
{
	struct scan_ctx s = { .n = n, .now = mu_now_ms() };
	int ret;

	if (!n->user)
		return false;
	if (cc.valid && cc.n == n && cc.store == n->store && !memcmp(cc.user, identity_sign_pk(n->user), MU_KEY_BYTES) &&
	    s.now < cc.min_expires)
		return true;
	cache_clear();
	if (!(s.key = sodium_malloc(CHANNEL_KEY_BYTES)))
		return false;
	ret = store_scan_time(n->store, 0, NULL, scan_wrap, &s);
	sodium_free(s.key);
	if (ret) {
		cache_clear();
		return false;
	}
	cc.n = n;
	cc.store = n->store;
	memcpy(cc.user, identity_sign_pk(n->user), MU_KEY_BYTES);
	cc.min_expires = UINT64_MAX;
	for (size_t i = 0; i < cc.ne; i++)
		if (cc.e[i].expires < cc.min_expires)
			cc.min_expires = cc.e[i].expires;
	cc.valid = true;
	return true;
}

/* ---- reading and sending ---- */

bool channel_msg_for_user(const struct node *n, const struct bundle *b)
{
	if (b->dest_type != DEST_CHANNEL || b->dest_len != CHANNEL_ID_BYTES || !cache_ready(n))
		return false;
	return ent_latest(b->dest) != NULL;
}

int channel_msg_content(const struct node *n, const struct bundle *b, uint8_t *out, size_t cap, size_t *len)
{
	const struct epoch_ent *e, *last;
	uint32_t epoch;
	int ret;

	*len = 0;
	if (!n->user)
		return MU_E_NOTFOUND;
	/* The sender's own copy, and the hospital archive's, open as plain
	 * envelopes. */
	ret = envelope_open(out, cap, len, b->payload, b->payload_len, n->user, b->sender);
	if (ret != MU_E_NOTFOUND)
		return ret;
	if (b->dest_type != DEST_CHANNEL || b->dest_len != CHANNEL_ID_BYTES || !cache_ready(n))
		return MU_E_NOTFOUND;
	if ((ret = chanmsg_epoch(b->payload, b->payload_len, b->dest, &epoch)))
		return ret;
	if (!(e = ent_find(b->dest, epoch)))
		return MU_E_NOTFOUND;
	/* Only members write; a member removed (a later epoch without them)
	 * cannot keep writing into the epoch they still hold. */
	last = ent_latest(b->dest);
	if (ent_role(e, b->sender) != KEYWRAP_MEMBER ||
	    (b->created >= next_epoch_start(e) && ent_role(last, b->sender) != KEYWRAP_MEMBER))
		return MU_E_UNTRUSTED;
	return chanmsg_open(out, cap, len, b->payload, b->payload_len, b->dest, epoch, e->key, b->sender);
}

/* The channel a name (or a 32-digit id) means to the user: the one held
 * channel of that name; *found counts the matches. */
static struct epoch_ent *find_channel(const struct node *n, const char *name, unsigned *found)
{
	uint8_t id[CHANNEL_ID_BYTES];
	bool by_id = strlen(name) == 2 * CHANNEL_ID_BYTES && !hex_decode(id, sizeof(id), name);
	struct epoch_ent *hit = NULL;

	*found = 0;
	if (!cache_ready(n))
		return NULL;
	for (size_t i = 0; i < cc.ne; i++) {
		struct epoch_ent *e = &cc.e[i];

		if (by_id ? memcmp(e->chan, id, CHANNEL_ID_BYTES) : strcmp(e->name, name))
			continue;
		if (ent_latest(e->chan) != e)
			continue; /* each channel counted once, by its latest epoch */
		(*found)++;
		hit = e;
	}
	return *found == 1 ? hit : NULL;
}

int channel_resolve(struct node *n, const char *name, struct bundle *b, struct ctl_reply *r)
{
	unsigned found;
	struct epoch_ent *e = find_channel(n, name, &found);

	if (found > 1) {
		ctl_reply_printf(r, "%u channels named '%s': use channel:ID (muster channel list)\n", found, name);
		return -EEXIST;
	}
	if (!e) {
		ctl_reply_printf(r, "you hold no key for a channel '%s' (muster channel list)\n", name);
		return MU_E_NOTFOUND;
	}
	b->dest_type = DEST_CHANNEL;
	b->dest_len = CHANNEL_ID_BYTES;
	memcpy(b->dest, e->chan, CHANNEL_ID_BYTES);
	return 0;
}

int channel_seal(struct node *n, struct bundle *b, uint8_t *out, size_t cap, const uint8_t *content, size_t len,
		 const struct recipients *rs, struct ctl_reply *r)
{
	const uint8_t *me = identity_sign_pk(n->user);
	struct epoch_ent *e;
	int ret;

	if (!cache_ready(n) || !(e = ent_latest(b->dest)) || ent_role(e, me) != KEYWRAP_MEMBER ||
	    next_epoch_start(e) != UINT64_MAX) {
		ctl_reply_printf(r, "not stored: you are not a member of this channel's current epoch\n");
		return MU_E_NOTFOUND;
	}
	if (e->expires < b->created + SEND_MIN_LEFT_MS) {
		ctl_reply_printf(r, "not stored: the channel's key (epoch %" PRIu32 ") is about to end; "
				    "its creator renews it with: muster channel rotate %s\n", e->epoch, e->name);
		return MU_E_EXPIRED;
	}
	/* No message outlives its epoch's key. */
	if (b->expires > e->expires)
		b->expires = e->expires;
	ret = chanmsg_seal(out, cap, content, len, e->chan, e->epoch, e->key, rs->r, rs->n, me);
	if (ret < 0)
		ctl_reply_printf(r, "not stored: %s\n", mu_strerror(ret));
	return ret;
}

/* ---- making wraps ---- */

struct holders {
	struct keywrap_holder h[KEYWRAP_SLOTS_MAX];
	unsigned n, members, archives;
	bool overflow;
	struct node *node;
	uint8_t role; /* for holders_by_role */
};

static void holders_add(struct holders *hs, const struct cred *c, uint8_t role)
{
	for (unsigned i = 0; i < hs->n; i++)
		if (!memcmp(hs->h[i].key, c->sign_pk, MU_KEY_BYTES))
			return;
	if (role == KEYWRAP_MEMBER ? hs->members == CHANNEL_MEMBERS_MAX : hs->archives == CHANNEL_ARCHIVES_MAX) {
		hs->overflow = true;
		return;
	}
	memcpy(hs->h[hs->n].key, c->sign_pk, MU_KEY_BYTES);
	memcpy(hs->h[hs->n].kx_pk, c->kx_pk, MU_KEY_BYTES);
	hs->h[hs->n++].role = role;
	if (role == KEYWRAP_MEMBER)
		hs->members++;
	else
		hs->archives++;
}

static bool revoked(struct node *n, const uint8_t *key)
{
	return store_is_revoked(n->store, key) != 0; /* an error counts as revoked: no key for them */
}

static int holders_by_role(void *ctx, const struct cred *c)
{
	struct holders *hs = ctx;

	if (c->role == hs->role && !revoked(hs->node, c->sign_pk))
		holders_add(hs, c, hs->role == ROLE_HOSPITAL_ARCHIVE ? KEYWRAP_ARCHIVE : KEYWRAP_MEMBER);
	return 0;
}

/* Adds a member by key id; a reply and an error if they cannot be one. */
static int holders_add_key(struct holders *hs, const uint8_t *key, struct ctl_reply *r)
{
	struct cred c;
	char h[17];

	hex_encode(h, key, 8);
	if (store_cred_lookup(hs->node->store, key, &c)) {
		ctl_reply_printf(r, "no credential known here for %s\n", h);
		return MU_E_NOCRED;
	}
	if (c.role == ROLE_NODE || revoked(hs->node, key)) {
		ctl_reply_printf(r, "%s cannot be a member (%s)\n", h, c.role == ROLE_NODE ? "a node key" : "revoked");
		return MU_E_REVOKED;
	}
	holders_add(hs, &c, KEYWRAP_MEMBER);
	return 0;
}

/* The user first, then e's holders still credentialed and unrevoked
 * (except those in drop), then every archive. */
static void holders_from(struct holders *hs, const struct epoch_ent *e, const uint8_t (*drop)[MU_KEY_BYTES], unsigned ndrop)
{
	struct cred c;

	holders_add(hs, &hs->node->user_cred, KEYWRAP_MEMBER);
	for (unsigned i = 0; e && i < e->nholders; i++) {
		bool skip = e->roles[i] != KEYWRAP_MEMBER || revoked(hs->node, e->holders[i]) ||
			    store_cred_lookup(hs->node->store, e->holders[i], &c);

		for (unsigned k = 0; k < ndrop && !skip; k++)
			skip = !memcmp(drop[k], e->holders[i], MU_KEY_BYTES);
		if (!skip)
			holders_add(hs, &c, KEYWRAP_MEMBER);
	}
}

static int holders_archives(struct holders *hs)
{
	hs->role = ROLE_HOSPITAL_ARCHIVE;
	return store_scan_creds(hs->node->store, holders_by_role, hs);
}

/* Seals, stores and commits a wrap of key for epoch of the user's channel
 * name. */
static int publish(struct node *n, const char *name, uint32_t epoch, const uint8_t *key, const struct holders *hs)
{
	static uint8_t payload[KEYWRAP_MAX], enc[BUNDLE_ENC_MAX];
	struct bundle b = { .kind = BK_KEYWRAP, .prio = PRIO_URGENT, .hop_limit = CONTROL_HOPS_DEFAULT,
			    .dest_type = DEST_CHANNEL, .dest_len = CHANNEL_ID_BYTES };
	const uint8_t *me = identity_sign_pk(n->user);
	int ret;

	ret = keywrap_seal(payload, sizeof(payload), me, name, epoch, key, hs->h, hs->n);
	if (ret < 0)
		return ret;
	channel_id(b.dest, me, name, strlen(name));
	b.created = mu_now_ms();
	b.expires = b.created + CHANNEL_WRAP_LIFETIME_MS;
	b.payload = payload;
	b.payload_len = (size_t)ret;
	ret = bundle_seal(enc, sizeof(enc), &b, n->user);
	if (ret >= 0)
		ret = node_ingest(n, enc, (size_t)ret, 0, NULL);
	if (!ret)
		ret = node_commit(n);
	cc.valid = false;
	return ret;
}

/* A new epoch of e with a fresh key for hs. */
static int rotate(struct node *n, const struct epoch_ent *e, const struct holders *hs)
{
	uint8_t *key = sodium_malloc(CHANNEL_KEY_BYTES);
	char name[CHANNEL_NAME_MAX + 1];
	uint32_t epoch = e->epoch + 1;
	int ret;

	if (!key)
		return -ENOMEM;
	if (epoch == 0) {
		sodium_free(key);
		return MU_E_TOOBIG; /* 2^32 rotations: make a new channel */
	}
	snprintf(name, sizeof(name), "%s", e->name); /* e dies with the cache */
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	ret = publish(n, name, epoch, key, hs);
	sodium_free(key);
	return ret;
}

/* ---- rotation on revocation ---- */

/* The user's current channel whose holders include a revoked key and
 * is not in done; NULL if none. */
static struct epoch_ent *needs_rotation(struct node *n, const uint8_t (*done)[CHANNEL_ID_BYTES], size_t ndone)
{
	const uint8_t *me = identity_sign_pk(n->user);

	for (size_t i = 0; i < cc.ne; i++) {
		struct epoch_ent *e = &cc.e[i];
		bool seen = false;

		if (memcmp(e->creator, me, MU_KEY_BYTES) || ent_latest(e->chan) != e)
			continue;
		for (size_t k = 0; k < ndone && !seen; k++)
			seen = !memcmp(done[k], e->chan, CHANNEL_ID_BYTES);
		for (unsigned k = 0; k < e->nholders && !seen; k++)
			if (revoked(n, e->holders[k]))
				return e;
	}
	return NULL;
}

static void rotate_tick(void *user)
{
	struct node *n = user;
	uint8_t (*done)[CHANNEL_ID_BYTES] = NULL;
	size_t ndone = 0;

	/* Each pass rotates at most one channel (publish rebuilds the cache). */
	while (n->user && cache_ready(n)) {
		struct epoch_ent *hit = needs_rotation(n, (const uint8_t (*)[CHANNEL_ID_BYTES])done, ndone);
		struct holders hs = { .node = n };
		char h[2 * CHANNEL_ID_BYTES + 1];
		void *v;
		int ret;

		if (!hit)
			break;
		if (!(v = realloc(done, (ndone + 1) * sizeof(*done))))
			break;
		done = v;
		memcpy(done[ndone++], hit->chan, CHANNEL_ID_BYTES);
		hex_encode(h, hit->chan, CHANNEL_ID_BYTES);
		holders_from(&hs, hit, NULL, 0);
		ret = holders_archives(&hs);
		if (!ret)
			ret = rotate(n, hit, &hs);
		if (ret)
			log_err(SUB_MAIN, "channel %s: rotation after a revocation failed: %s", h, mu_strerror(ret));
		else
			log_info(SUB_MAIN, "channel %s: a member's key was revoked; new epoch made", h);
	}
	free(done);
}

void channel_stored(struct node *n, const struct fresh *f)
{
	if (f->kind == BK_KEYWRAP)
		cc.valid = false;
	if (f->kind != BK_REVOCATION || !n->user || !cache_ready(n) || !needs_rotation(n, NULL, 0))
		return;
	/* Sealing here would refill the batch node_commit is walking: the
	 * rotation runs on the next turn. */
	if (!cc.rot_timer || cc.rot_node != n || cc.rot_loop != n->loop) {
		cc.rot_timer = NULL; /* an old node's timer is left alone: its loop may be gone */
		if (loop_timer_new(n->loop, &cc.rot_timer, rotate_tick, n))
			return;
		cc.rot_node = n;
		cc.rot_loop = n->loop;
	}
	loop_timer_arm(cc.rot_timer, 0);
}

/* ---- commands ---- */

static bool name_ok(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > CHANNEL_NAME_MAX)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

/* The user's own channel called name, or a reply and NULL. */
static struct epoch_ent *own_channel(struct node *n, const char *name, struct ctl_reply *r)
{
	unsigned found;
	struct epoch_ent *e = find_channel(n, name, &found);

	if (!e || memcmp(e->creator, identity_sign_pk(n->user), MU_KEY_BYTES) || next_epoch_start(e) != UINT64_MAX) {
		ctl_reply_printf(r, "you did not create a channel '%s' (only its creator changes it)\n", name);
		return NULL;
	}
	return e;
}

static int reply_result(struct ctl_reply *r, int ret, const char *what, const struct holders *hs)
{
	if (hs->overflow) {
		ctl_reply_printf(r, "not done: a channel holds at most %d members and %d archives\n", CHANNEL_MEMBERS_MAX,
				 CHANNEL_ARCHIVES_MAX);
		return MU_E_TOOBIG;
	}
	if (ret)
		ctl_reply_printf(r, "not done: %s\n", mu_strerror(ret));
	else
		ctl_reply_printf(r, "%s (%u members, %u archives)\n", what, hs->members, hs->archives);
	return ret;
}

static int ch_create(struct node *n, const struct ctl_req *req, struct ctl_reply *r)
{
	const char *name = req->argc > 2 ? req->argv[2] : "";
	struct holders hs = { .node = n };
	uint8_t id[CHANNEL_ID_BYTES], key_id[MU_KEY_BYTES], *key = NULL;
	int ret = 0;

	if (!name_ok(name)) {
		ctl_reply_printf(r, "usage: muster channel create NAME [--member KEY]... [--role ROLE]...\n"
				    "(NAME: 1..%d printable characters, no spaces)\n", CHANNEL_NAME_MAX);
		return MU_E_FORMAT;
	}
	channel_id(id, identity_sign_pk(n->user), name, strlen(name));
	if (cache_ready(n) && ent_latest(id)) {
		ctl_reply_printf(r, "you already made a channel '%s'\n", name);
		return MU_E_EXISTS;
	}
	holders_add(&hs, &n->user_cred, KEYWRAP_MEMBER);
	for (int i = 3; i < req->argc && !ret; i += 2) { /* option, value */
		const char *v = i + 1 < req->argc ? req->argv[i + 1] : NULL;

		if (!strcmp(req->argv[i], "--member") && v) {
			if (hex_decode(key_id, MU_KEY_BYTES, v)) {
				ctl_reply_printf(r, "--member wants a 64-digit key id\n");
				ret = MU_E_FORMAT;
			} else {
				ret = holders_add_key(&hs, key_id, r);
			}
		} else if (!strcmp(req->argv[i], "--role") && v) {
			if (role_parse(v, &hs.role) || hs.role == ROLE_NODE || hs.role == ROLE_HOSPITAL_ARCHIVE) {
				ctl_reply_printf(r, "--role wants a staff role, not '%s'\n", v);
				ret = MU_E_FORMAT;
			} else {
				ret = store_scan_creds(n->store, holders_by_role, &hs);
			}
		} else {
			ctl_reply_printf(r, "unexpected '%s'\n", req->argv[i]);
			ret = MU_E_FORMAT;
		}
	}
	if (ret)
		return ret;
	if (!(ret = holders_archives(&hs)) && !hs.overflow) {
		if (!(key = sodium_malloc(CHANNEL_KEY_BYTES)))
			return -ENOMEM;
		crypto_aead_xchacha20poly1305_ietf_keygen(key);
		ret = publish(n, name, 1, key, &hs);
		sodium_free(key);
	}
	return reply_result(r, ret, "channel created, epoch 1", &hs);
}

/* add / remove / rotate NAME [KEY...] */
static int ch_change(struct node *n, const struct ctl_req *req, struct ctl_reply *r, const char *sub)
{
	static uint8_t keys[CHANNEL_MEMBERS_MAX][MU_KEY_BYTES];
	const char *name = req->argc > 2 ? req->argv[2] : "";
	bool add = !strcmp(sub, "add"), rot = !strcmp(sub, "rotate");
	struct holders hs = { .node = n };
	struct epoch_ent *e;
	unsigned nkeys = 0;
	char what[64];
	int ret = 0;

	if ((!rot && req->argc < 4) || (rot && req->argc != 3) || req->argc - 3 > CHANNEL_MEMBERS_MAX) {
		ctl_reply_printf(r, "usage: muster channel %s NAME%s\n", sub, rot ? "" : " KEY...");
		return MU_E_FORMAT;
	}
	for (int i = 3; i < req->argc; i++)
		if (hex_decode(keys[nkeys++], MU_KEY_BYTES, req->argv[i])) {
			ctl_reply_printf(r, "'%s' is not a 64-digit key id\n", req->argv[i]);
			return MU_E_FORMAT;
		}
	if (!(e = own_channel(n, name, r)))
		return MU_E_NOTFOUND;
	if (!add)
		for (unsigned k = 0; k < nkeys; k++)
			if (ent_role(e, keys[k]) != KEYWRAP_MEMBER || !memcmp(keys[k], identity_sign_pk(n->user), MU_KEY_BYTES)) {
				ctl_reply_printf(r, "%s is not a member you can remove\n", req->argv[3 + k]);
				return MU_E_NOTFOUND;
			}
	holders_from(&hs, e, add ? NULL : (const uint8_t (*)[MU_KEY_BYTES])keys, add ? 0 : nkeys);
	for (unsigned k = 0; add && k < nkeys && !ret; k++)
		ret = holders_add_key(&hs, keys[k], r);
	if (ret)
		return ret;
	if (!(ret = holders_archives(&hs)) && !hs.overflow) {
		if (add) {
			uint8_t *key = sodium_malloc(CHANNEL_KEY_BYTES);
			char nm[CHANNEL_NAME_MAX + 1];
			uint32_t epoch = e->epoch;

			if (!key)
				return -ENOMEM;
			memcpy(key, e->key, CHANNEL_KEY_BYTES); /* e dies with the cache publish clears */
			snprintf(nm, sizeof(nm), "%s", e->name);
			ret = publish(n, nm, epoch, key, &hs);
			sodium_free(key);
			snprintf(what, sizeof(what), "added to epoch %" PRIu32, epoch);
		} else {
			snprintf(what, sizeof(what), "new epoch %" PRIu32, e->epoch + 1);
			ret = rotate(n, e, &hs);
		}
	}
	return reply_result(r, ret, what, &hs);
}

static void show_one(struct node *n, struct ctl_reply *r, const struct epoch_ent *e, bool json, bool detail, bool first)
{
	const uint8_t *me = identity_sign_pk(n->user);
	bool current = next_epoch_start(e) == UINT64_MAX;
	const char *you = !current ? "removed" : ent_role(e, me) == KEYWRAP_MEMBER ? "member" : "archive";
	unsigned members = 0;
	char who[128], id[2 * CHANNEL_ID_BYTES + 1];

	for (unsigned i = 0; i < e->nholders; i++)
		members += e->roles[i] == KEYWRAP_MEMBER;
	hex_encode(id, e->chan, CHANNEL_ID_BYTES);
	control_who(n, e->creator, who, sizeof(who));
	if (json) {
		ctl_reply_printf(r, "%s{\"id\":\"%s\",\"name\":", first ? "" : ",", id);
		control_json_str(r, e->name);
		ctl_reply_printf(r, ",\"creator\":");
		control_json_hex(r, e->creator, MU_KEY_BYTES);
		ctl_reply_printf(r, ",\"epoch\":%" PRIu32 ",\"key_expires\":%" PRIu64 ",\"members\":%u,\"you\":\"%s\"",
				 e->epoch, e->expires, members, you);
		if (detail) {
			ctl_reply_printf(r, ",\"holders\":[");
			for (unsigned i = 0; i < e->nholders; i++) {
				ctl_reply_printf(r, "%s{\"key\":", i ? "," : "");
				control_json_hex(r, e->holders[i], MU_KEY_BYTES);
				ctl_reply_printf(r, ",\"name\":");
				control_json_str(r, control_who(n, e->holders[i], who, sizeof(who)));
				ctl_reply_printf(r, ",\"role\":\"%s\"}", e->roles[i] == KEYWRAP_MEMBER ? "member" : "archive");
			}
			ctl_reply_printf(r, "]");
		}
		ctl_reply_printf(r, "}");
		return;
	}
	ctl_reply_printf(r, "%-20.20s %s  epoch %-4" PRIu32 " %3u members  you: %-8s by %s\n", e->name, id, e->epoch,
			 members, you, who);
	if (!detail)
		return;
	ctl_reply_printf(r, "key ends in %" PRIu64 " min; holders of epoch %" PRIu32 ":\n",
			 (e->expires - mu_now_ms()) / 60000, e->epoch);
	for (unsigned i = 0; i < e->nholders; i++) {
		char h[65];

		hex_encode(h, e->holders[i], MU_KEY_BYTES);
		ctl_reply_printf(r, "  %-7s %s  %s\n", e->roles[i] == KEYWRAP_MEMBER ? "member" : "archive", h,
				 control_who(n, e->holders[i], who, sizeof(who)));
	}
}

static int ch_list(struct node *n, const struct ctl_req *req, struct ctl_reply *r, const char *name)
{
	bool json = req->flags & CTL_F_JSON, first = true;
	unsigned found = 0;
	struct epoch_ent *one = NULL;

	node_commit(n);
	if (!cache_ready(n))
		return -ENOMEM;
	if (name && !(one = find_channel(n, name, &found))) {
		ctl_reply_printf(r, found > 1 ? "several channels named '%s': use its id\n"
					      : "you hold no key for a channel '%s'\n", name);
		return found > 1 ? -EEXIST : MU_E_NOTFOUND;
	}
	if (json)
		ctl_reply_printf(r, name ? "" : "[");
	for (size_t i = 0; i < cc.ne; i++) {
		if (one ? &cc.e[i] != one : ent_latest(cc.e[i].chan) != &cc.e[i])
			continue;
		show_one(n, r, &cc.e[i], json, name != NULL, first);
		first = false;
	}
	if (json)
		ctl_reply_printf(r, name ? "\n" : "]\n");
	else if (first)
		ctl_reply_printf(r, "(no channels)\n");
	return 0;
}

int control_channel(struct node *n, const struct ctl_req *req, struct ctl_reply *r, int *ret)
{
	const char *sub = req->argc > 1 ? req->argv[1] : "";

	if (!req->argc || strcmp(req->argv[0], "channel"))
		return 0;
	if (!n->user) {
		ctl_reply_printf(r, "no user on this node: set [user] identity and credential in the config\n");
		*ret = MU_E_NOCRED;
		return 1;
	}
	if (!strcmp(sub, "create"))
		*ret = ch_create(n, req, r);
	else if (!strcmp(sub, "add") || !strcmp(sub, "remove") || !strcmp(sub, "rotate"))
		*ret = ch_change(n, req, r, sub);
	else if (!strcmp(sub, "list"))
		*ret = ch_list(n, req, r, NULL);
	else if (!strcmp(sub, "show") && req->argc == 3)
		*ret = ch_list(n, req, r, req->argv[2]);
	else {
		ctl_reply_printf(r, "usage: muster channel create|add|remove|rotate|list|show ...\n");
		*ret = MU_E_FORMAT;
	}
	return 1;
}
