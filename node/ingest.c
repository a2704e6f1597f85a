/* Ingest and routing. Every bundle, whether created here or received,
 * passes bundle_admit before it is stored; stores of one loop turn share one
 * LMDB transaction, committed on the next turn (or at once when the CLI
 * waits for durability). Only after the commit does a bundle become visible
 * to sync, get pushed to peers (immediate and urgent at once) or delivered
 * to the local user, so nothing is ever offered that a crash could lose.
 *
 * Bundles from peers are also held to a per-sender budget (ratelimit.h):
 * one for immediate and urgent, one for routine and bulk. The budget is
 * checked before admission (an over-budget sender costs no signature check)
 * and charged only once the bundle is stored, so a forged bundle naming
 * another sender never spends that sender's budget. A refused bundle is not
 * stored, so the peer's next sync finds we still lack it and offers it
 * again: that is the back-pressure. Bundles created or imported here are
 * not limited: the local user is limited by every peer that receives from
 * them, and a revocation (signed by a trusted CA) is never limited. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "err.h"
#include "hex.h"
#include "log.h"
#include "node_int.h"

/* Per-sender budgets; config keys in [node], 0 rate = no limit. Bursts
 * start full, so an ordinary backlog (a ferried day of one crew's traffic)
 * passes at once and only a sustained flood is held to the rate. */
#define RATE_BYTES_DEFAULT (512u << 10)
#define RATE_BURST_BYTES_DEFAULT (16u << 20)
#define RATE_BUNDLES_DEFAULT 200
#define RATE_BURST_BUNDLES_DEFAULT 5000
#define RATE_URGENT_BYTES_DEFAULT (64u << 10)
#define RATE_URGENT_BURST_BYTES_DEFAULT (1u << 20)
#define RATE_URGENT_BUNDLES_DEFAULT 20
#define RATE_URGENT_BURST_BUNDLES_DEFAULT 500
#define RATE_BURST_BYTES_MIN (128u << 10) /* above the largest bundle, so any bundle can pass */

struct rate_key {
	const char *key;
	uint64_t def, min;
	size_t off;
};

#define RK(k, d, m, cls, field) { k, d, m, offsetof(struct rl_conf, cls) + offsetof(struct rl_rate, field) }

static const struct rate_key rate_keys[] = {
	RK("rate_bytes_per_s", RATE_BYTES_DEFAULT, 0, cls[RL_BULK], bytes_per_s),
	RK("rate_burst_bytes", RATE_BURST_BYTES_DEFAULT, RATE_BURST_BYTES_MIN, cls[RL_BULK], burst_bytes),
	RK("rate_bundles_per_s", RATE_BUNDLES_DEFAULT, 0, cls[RL_BULK], bundles_per_s),
	RK("rate_burst_bundles", RATE_BURST_BUNDLES_DEFAULT, 1, cls[RL_BULK], burst_bundles),
	RK("rate_urgent_bytes_per_s", RATE_URGENT_BYTES_DEFAULT, 0, cls[RL_URGENT], bytes_per_s),
	RK("rate_urgent_burst_bytes", RATE_URGENT_BURST_BYTES_DEFAULT, RATE_BURST_BYTES_MIN, cls[RL_URGENT],
	   burst_bytes),
	RK("rate_urgent_bundles_per_s", RATE_URGENT_BUNDLES_DEFAULT, 0, cls[RL_URGENT], bundles_per_s),
	RK("rate_urgent_burst_bundles", RATE_URGENT_BURST_BUNDLES_DEFAULT, 1, cls[RL_URGENT], burst_bundles),
};

int ingest_open(struct node *n)
{
	struct rl_conf conf = { 0 };
	uint64_t senders;
	int ret;

	for (size_t i = 0; i < sizeof(rate_keys) / sizeof(rate_keys[0]); i++) {
		const struct rate_key *k = &rate_keys[i];
		/* A hospital is where every scene's backlog ends: a field node
		 * that reconnects after hours brings thousands of one crew's
		 * bundles at once, and a refused one waits UPLINK_RETELL_MS to
		 * be told again. Its store quota bounds a flood; per-sender
		 * rates are off unless configured. */
		bool rate = strstr(k->key, "_per_s") != NULL;
		uint64_t def = n->role == NODE_HOSPITAL && rate ? 0 : k->def;

		if (config_u64(n->cfg, "node", k->key, def, k->min, 1ull << 40,
			       (uint64_t *)((char *)&conf + k->off)))
			return MU_E_CONFIG;
	}
	if (config_u64(n->cfg, "node", "rate_senders", RL_SENDERS_DEFAULT, 16, 65535, &senders))
		return MU_E_CONFIG;
	conf.max_senders = (size_t)senders;
	ret = ratelimit_new(&n->rl, &conf);
	if (ret)
		log_err(SUB_MAIN, "cannot make the rate limiter: %s", mu_strerror(ret));
	return ret;
}

void ingest_close(struct node *n)
{
	ratelimit_free(n->rl);
	n->rl = NULL;
}

/* Counted always, logged once per sender per RL_LOG_INTERVAL_MS. */
static void rate_refused(struct node *n, const struct bundle *b, uint64_t now)
{
	uint64_t more = 0;
	char k[17];

	n->stats.rate_limited++;
	if (!ratelimit_refused(n->rl, b->sender, now, &more))
		return;
	hex_encode(k, b->sender, 8);
	log_warn(SUB_BUNDLE,
		 "sender %s over its rate limit: %s bundle refused, %llu more since the last report "
		 "(peers offer them again later)",
		 k, bundle_prio_name(b->prio), (unsigned long long)more);
}

static void commit_tick(void *user)
{
	node_commit(user);
}

static int batch_open(struct node *n)
{
	int ret;

	if (n->txn)
		return 0;
	if (!n->commit_timer) {
		ret = loop_timer_new(n->loop, &n->commit_timer, commit_tick, n);
		if (ret)
			return ret;
	}
	if (!n->fresh && !(n->fresh = calloc(NODE_FRESH_MAX, sizeof(*n->fresh))))
		return -ENOMEM;
	ret = store_write_begin(n->store, &n->txn);
	if (ret)
		return ret;
	loop_timer_arm(n->commit_timer, 0);
	return 0;
}

/* A revocation takes effect at once: links to the revoked node close. A
 * wipe order (reason REVOKE_WIPE, id) is first queued to the node it names
 * (the batch holding it is readable already), so it reaches its device
 * even though the link then closes (node/wipe.h). */
static void apply_revocation(struct node *n, const uint8_t key[static MU_KEY_BYTES], uint8_t reason,
			     const uint8_t id[static BUNDLE_ID_BYTES])
{
	char k[17];

	hex_encode(k, key, 8);
	log_warn(SUB_BUNDLE, "key %s revoked by its CA", k);
	for (struct conn *c = n->conns; c; c = c->next) {
		if (c->st != CONN_UP || memcmp(c->peer, key, MU_KEY_BYTES))
			continue;
		if (reason == REVOKE_WIPE)
			conn_offer(c, id);
		conn_close(c, "peer's credential revoked");
	}
}

/* Over an uplink (uplink.c) the sync machine sees credentials and
 * revocations only. The hospital sends those and its own custody receipts
 * at once, and tells field nodes about other arrivals (its relay ring); a
 * field node offers urgent bundles at once and tells the hospital about
 * the rest in its next OFFER. */
static void route_uplink(struct node *n, struct conn *c, const struct fresh *f)
{
	bool ctl = f->kind == BK_CREDENTIAL || f->kind == BK_REVOCATION;

	if (n->role == NODE_HOSPITAL) {
		if (ctl || (f->kind == BK_RECEIPT && !f->from))
			conn_offer(c, f->id);
		else
			uplink_poke(c); /* the relay ring has a new arrival */
		return;
	}
	if (ctl || f->prio <= PRIO_URGENT)
		conn_offer(c, f->id);
	else
		uplink_poke(c);
}

static void route(struct node *n, const struct fresh *f)
{
	for (struct conn *c = n->conns; c; c = c->next) {
		if (c == f->from || c->st != CONN_UP)
			continue;
		if (conn_is_uplink(c)) {
			route_uplink(n, c, f);
			continue;
		}
		if (f->prio <= PRIO_URGENT)
			conn_offer(c, f->id);
		else
			conn_poke(c);
	}
}

int node_commit(struct node *n)
{
	size_t count = n->fresh_n;
	int ret;

	if (!n->txn)
		return 0;
	loop_timer_disarm(n->commit_timer);
	ret = store_write_commit(n->txn);
	n->txn = NULL;
	n->fresh_n = 0;
	if (ret) {
		/* Nothing of this batch is stored; peers offer it again at the
		 * next sync, local senders were not yet told it is stored. */
		log_err(SUB_STORE, "commit of %zu bundles failed: %s", count, mu_strerror(ret));
		return ret;
	}
	for (size_t i = 0; i < count; i++) {
		struct fresh *f = &n->fresh[i];

		node_keyset_add(n, f->created, f->id, f->kind);
		relay_note(n, f);
		route(n, f);
		node_stored(n, f);
	}
	return 0;
}

int node_ingest(struct node *n, const uint8_t *enc, size_t len, uint8_t hops, struct conn *from)
{
	struct verify_ctx v = node_verify_ctx(n);
	struct store_meta meta = { .received = v.now, .hops = hops, .flags = from ? 0 : STORE_F_LOCAL };
	uint8_t rkey[MU_KEY_BYTES], reason;
	struct bundle b;
	struct cred c;
	struct fresh *f;
	bool limited = false;
	uint64_t mono = 0;
	int ret;

	ret = bundle_decode(&b, enc, len);
	if (!ret) {
		ret = store_has(n->store, b.id);
		if (ret == 1) {
			n->stats.bundles_dup++;
			return MU_E_EXISTS;
		}
	}
	if (!ret && from && n->rl && b.kind != BK_REVOCATION) {
		limited = true;
		mono = loop_now_mono_ms();
		ret = ratelimit_check(n->rl, b.sender, b.prio, len, mono);
		if (ret) {
			rate_refused(n, &b, mono);
			return ret;
		}
	}
	if (!ret)
		ret = bundle_admit(&v, &b, enc, len, hops, &c);
	if (ret) {
		n->stats.bundles_rejected++;
		return ret;
	}
	ret = batch_open(n);
	if (ret)
		return ret;
	if (b.kind == BK_CREDENTIAL)
		ret = store_put_cred(n->txn, &c);
	if (!ret && b.kind == BK_REVOCATION) {
		ret = revocation_decode(b.payload, b.payload_len, rkey, &reason);
		if (!ret)
			ret = store_put_revocation(n->txn, rkey, v.now, reason);
	}
	if (!ret)
		ret = store_put_bundle(n->txn, &b, enc, len, &meta);
	if (ret) {
		if (ret == MU_E_QUOTA)
			log_warn(SUB_STORE, "store full of higher-priority bundles; %s bundle refused",
				 bundle_prio_name(b.prio));
		return ret;
	}
	if (limited)
		ratelimit_charge(n->rl, b.sender, b.prio, len, mono);
	if (b.kind == BK_REVOCATION)
		apply_revocation(n, rkey, reason, b.id);
	f = &n->fresh[n->fresh_n++];
	memcpy(f->id, b.id, BUNDLE_ID_BYTES);
	f->created = b.created;
	f->prio = b.prio;
	f->kind = b.kind;
	f->from = from;
	if (from)
		n->stats.bundles_in++;
	else
		n->stats.bundles_local++;
	if (n->fresh_n == NODE_FRESH_MAX)
		node_commit(n);
	return 0;
}
