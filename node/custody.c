/* Custody: clinical content leaves field devices once the hospital has it
 * in the record (docs/operations.md "Custody").
 *
 * A hospital archive issues RECEIPT_CUSTODY receipts naming the bundles it
 * archived. A field node that stores one, from a sender whose credential
 * has role "archive", writes a custody record per listed id (held or not:
 * a copy that arrives later is archived all the same). custody_grace_ms
 * after the record was made, each listed BK_MESSAGE the node holds becomes
 * a tombstone (store.h): the content is deleted, the id stays known until
 * the bundle's own expiry so sync neither offers it to us again nor asks
 * us for it. A hospital node never deletes.
 *
 * Time: archived_at is this node's clock when the receipt was stored, not
 * the receipt's created field, so the grace is the same on every node
 * whatever the hospital's clock says. */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "err.h"
#include "log.h"
#include "node_int.h"
#include "receipt.h"

static uint8_t custody_buf[BUNDLE_ENC_MAX];

static void custody_tick(void *user)
{
	struct node *n = user;
	uint64_t deleted = 0;
	int ret;

	n->custody.next = 0;
	ret = custody_sweep(n, mu_now_ms(), &deleted);
	if (ret)
		log_err(SUB_STORE, "custody sweep failed: %s", mu_strerror(ret));
}

int custody_open(struct node *n)
{
	int ret;

	if (config_u64(n->cfg, "node", "custody_grace_ms", CUSTODY_GRACE_MS_DEFAULT, 0, CUSTODY_GRACE_MS_MAX,
		       &n->custody.grace_ms))
		return MU_E_CONFIG;
	ret = loop_timer_new(n->loop, &n->custody.timer, custody_tick, n);
	if (ret)
		return ret;
	/* Content whose grace ran out while the node was off goes at start. */
	n->custody.next = 1;
	loop_timer_arm(n->custody.timer, 0);
	return 0;
}

void custody_close(struct node *n)
{
	loop_timer_free(n->custody.timer);
	n->custody.timer = NULL;
}

/* Makes sure a sweep runs by due (Unix ms); keeps an earlier one. */
static void custody_arm(struct node *n, uint64_t due, uint64_t now)
{
	if (!n->custody.timer || (n->custody.next && n->custody.next <= due))
		return;
	n->custody.next = due;
	loop_timer_arm(n->custody.timer, due > now ? due - now : 0);
}

/* The id is held with its content, as a message: what custody deletes. */
static bool holds_message(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES], size_t *len)
{
	struct store_info info;

	if (store_peek(n->store, id, &info) || info.kind != BK_MESSAGE)
		return false;
	if (len)
		*len = info.len;
	return true;
}

int custody_receipt(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t now)
{
	const uint8_t(*ids)[BUNDLE_ID_BYTES] = NULL;
	struct store_txn *t = n->txn;
	struct bundle b;
	struct cred c;
	size_t len = 0, nids = 0, recorded = 0, full = 0;
	uint8_t type;
	int ret;

	if (n->role != NODE_FIELD)
		return 0; /* the hospital keeps the record */
	ret = store_get(n->store, id, custody_buf, sizeof(custody_buf), &len, NULL);
	if (!ret)
		ret = bundle_decode(&b, custody_buf, len);
	if (ret)
		return ret;
	if (b.kind != BK_RECEIPT || receipt_decode(b.payload, b.payload_len, &type, &ids, &nids) ||
	    type != RECEIPT_CUSTODY)
		return 0; /* not a custody receipt; others are for their recipients */
	/* Admission checked the chain, validity and revocation; what is left
	 * is whether the sender may speak for the record. */
	ret = store_cred_lookup(n->store, b.sender, &c);
	if (ret)
		return ret;
	if (c.role != ROLE_HOSPITAL_ARCHIVE) {
		log_warn(SUB_BUNDLE, "custody receipt from %s (role %s, not archive) ignored", c.subject,
			 role_name(c.role));
		return MU_E_UNTRUSTED;
	}
	/* Called after a commit, but another action of the same commit may
	 * have opened the next batch: then the records ride in it. */
	if (!t && (ret = store_write_begin(n->store, &t)))
		return ret;
	for (size_t i = 0; i < nids; i++) {
		struct store_info info;
		int held = store_peek(n->store, ids[i], &info) == 0;

		/* Only messages are deleted; a tombstone is done already. */
		if (held ? info.kind != BK_MESSAGE : store_has(n->store, ids[i]) == 1)
			continue;
		ret = store_custody_put(t, ids[i], now, b.expires);
		if (ret == MU_E_QUOTA) {
			full++;
			continue;
		}
		if (ret)
			break;
		recorded++;
	}
	if (t != n->txn) {
		if (ret)
			store_write_abort(t);
		else
			ret = store_write_commit(t);
	}
	if (ret)
		return ret;
	if (full)
		log_warn(SUB_STORE, "custody table full (%u records): %zu archived ids not recorded, their copies "
				    "stay until they expire",
			 STORE_CUSTODY_MAX, full);
	log_info(SUB_BUNDLE, "custody receipt from %s: %zu of %zu ids recorded, deleting after %llu ms", c.subject,
		 recorded, nids, (unsigned long long)n->custody.grace_ms);
	if (recorded)
		custody_arm(n, now + n->custody.grace_ms, now);
	return 0;
}

void custody_message_stored(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t now)
{
	uint64_t at;

	if (n->role == NODE_FIELD && store_custody_get(n->store, id, &at) == 0)
		custody_arm(n, at + n->custody.grace_ms, now);
}

struct sweep {
	struct node *n;
	struct store_txn *t;
	uint64_t now, deleted, next;
};

static int sweep_one(void *ctx, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t archived_at, uint64_t expires)
{
	struct sweep *w = ctx;
	uint64_t due = archived_at + w->n->custody.grace_ms;
	int ret;

	(void)expires;
	if (!holds_message(w->n, id, NULL))
		return 0;
	if (due > w->now) {
		if (!w->next || due < w->next)
			w->next = due;
		return 0;
	}
	ret = store_tombstone(w->t, id);
	if (ret)
		return ret;
	w->deleted++;
	return 0;
}

int custody_sweep(struct node *n, uint64_t now, uint64_t *deleted)
{
	struct sweep w = { .n = n, .now = now };
	int ret;

	*deleted = 0;
	if (n->role != NODE_FIELD)
		return 0;
	ret = node_commit(n);
	if (ret)
		return ret;
	ret = store_write_begin(n->store, &w.t);
	if (ret)
		return ret;
	/* Reads in the scan go through the open batch. */
	ret = store_scan_custody(n->store, sweep_one, &w);
	if (ret) {
		store_write_abort(w.t);
		return ret;
	}
	ret = store_write_commit(w.t);
	if (ret)
		return ret;
	*deleted = w.deleted;
	n->custody.deleted += w.deleted;
	if (w.deleted)
		log_info(SUB_STORE, "deleted the content of %llu archived messages (kept as tombstones)",
			 (unsigned long long)w.deleted);
	if (w.next)
		custody_arm(n, w.next, now);
	return 0;
}

struct stat_walk {
	struct node *n;
	struct custody_stat *out;
};

static int stat_one(void *ctx, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t archived_at, uint64_t expires)
{
	struct stat_walk *w = ctx;
	size_t len;

	(void)archived_at;
	(void)expires;
	if (holds_message(w->n, id, &len)) {
		w->out->awaiting++;
		w->out->awaiting_bytes += len;
	}
	return 0;
}

int custody_stat(struct node *n, struct custody_stat *out)
{
	struct store_stat st;
	struct stat_walk w = { .n = n, .out = out };
	int ret;

	memset(out, 0, sizeof(*out));
	ret = store_stat(n->store, &st);
	if (!ret)
		ret = store_scan_custody(n->store, stat_one, &w);
	if (ret)
		return ret;
	out->unarchived = st.messages - (out->awaiting <= st.messages ? out->awaiting : st.messages);
	out->unarchived_bytes = st.message_bytes - (out->awaiting_bytes <= st.message_bytes ? out->awaiting_bytes
											     : st.message_bytes);
	out->tombstones = st.tombstones;
	out->records = st.custody;
	out->deleted = n->custody.deleted;
	return 0;
}
