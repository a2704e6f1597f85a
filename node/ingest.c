/* Ingest and routing. Every bundle, whether created here or received,
 * passes bundle_admit before it is stored; stores of one loop turn share one
 * LMDB transaction, committed on the next turn (or at once when the CLI
 * waits for durability). Only after the commit does a bundle become visible
 * to sync, get pushed to peers (immediate and urgent at once) or delivered
 * to the local user, so nothing is ever offered that a crash could lose. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "err.h"
#include "hex.h"
#include "log.h"
#include "node_int.h"

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

/* A revocation takes effect at once: links to the revoked node close. */
static void apply_revocation(struct node *n, const uint8_t key[static MU_KEY_BYTES])
{
	char k[17];

	hex_encode(k, key, 8);
	log_warn(SUB_BUNDLE, "key %s revoked by its CA", k);
	for (struct conn *c = n->conns; c; c = c->next)
		if (c->st == CONN_UP && !memcmp(c->peer, key, MU_KEY_BYTES))
			conn_close(c, "peer's credential revoked");
}

static void route(struct node *n, const struct fresh *f)
{
	for (struct conn *c = n->conns; c; c = c->next) {
		if (c == f->from || c->st != CONN_UP)
			continue;
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

		node_keyset_add(n, f->created, f->id);
		route(n, f);
		if (f->kind == BK_MESSAGE)
			node_deliver_notice(n, f->id);
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
	int ret;

	ret = bundle_decode(&b, enc, len);
	if (!ret) {
		ret = store_has(n->store, b.id);
		if (ret == 1) {
			n->stats.bundles_dup++;
			return MU_E_EXISTS;
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
	if (b.kind == BK_REVOCATION)
		apply_revocation(n, rkey);
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
