/* Receipts and alerts as staff see them (control_msg.h): per recipient,
 * when a message was delivered, read and acknowledged; `muster alerts` for
 * the sender's alerts and the user's own unacknowledged ones; `muster ack`.
 *
 * Everything here is derived from the store on each request: the receipts
 * addressed to the user, and the envelope of each sent message for whom it
 * was meant. A receipt counts only from a key the message was encrypted to
 * (anyone can sign a receipt; only a recipient could have read it), and
 * for each (message, recipient, kind) the earliest one counts. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "../crypto/envelope.h"
#include "clock.h"
#include "control_msg.h"
#include "control_util.h"
#include "err.h"
#include "hex.h"
#include "incident.h"
#include "receipt.h"
#include "wire.h"

#define ALERTS_LIMIT_DEFAULT 50

/* ---- the receipt index ---- */

struct rx {
	uint8_t msg[BUNDLE_ID_BYTES];
	uint8_t who[MU_KEY_BYTES];
	uint8_t type;
	uint64_t at; /* the receipt's created time: when the recipient's node says it happened */
};

struct msg_index {
	struct rx *v;
	size_t n, cap;
	struct node *node;
};

static int rx_cmp(const void *a, const void *b)
{
	const struct rx *x = a, *y = b;
	int c = memcmp(x->msg, y->msg, BUNDLE_ID_BYTES);

	if (!c)
		c = memcmp(x->who, y->who, MU_KEY_BYTES);
	if (!c)
		c = (x->type > y->type) - (x->type < y->type);
	if (!c)
		c = (x->at > y->at) - (x->at < y->at);
	return c;
}

static int index_add(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES])
{
	static uint8_t enc[BUNDLE_ENC_MAX];
	struct msg_index *mi = ctx;
	struct node *n = mi->node;
	const uint8_t (*ids)[BUNDLE_ID_BYTES];
	struct store_info info;
	struct bundle b;
	size_t len, nids;
	uint8_t type;

	(void)created;
	if (store_peek(n->store, id, &info) || info.kind != BK_RECEIPT)
		return 0;
	if (store_get(n->store, id, enc, sizeof(enc), &len, NULL) || bundle_decode(&b, enc, len) ||
	    b.dest_type != DEST_PERSON || memcmp(b.dest, identity_sign_pk(n->user), MU_KEY_BYTES) ||
	    receipt_decode(b.payload, b.payload_len, &type, &ids, &nids) || type == RECEIPT_CUSTODY)
		return 0;
	for (size_t i = 0; i < nids; i++) {
		void *v = mu_grow(mi->v, &mi->cap, mi->n, sizeof(*mi->v), 64);
		struct rx *x;

		if (!v)
			return -ENOMEM;
		mi->v = v;
		x = &mi->v[mi->n++];
		memcpy(x->msg, ids[i], BUNDLE_ID_BYTES);
		memcpy(x->who, b.sender, MU_KEY_BYTES);
		x->type = type;
		x->at = b.created;
	}
	return 0;
}

int control_msg_index(struct node *n, struct msg_index **out)
{
	struct msg_index *mi = calloc(1, sizeof(*mi));
	int ret;

	*out = NULL;
	if (!mi)
		return -ENOMEM;
	mi->node = n;
	ret = n->user ? store_scan_time(n->store, 0, NULL, index_add, mi) : 0;
	if (ret) {
		control_msg_index_free(mi);
		return ret;
	}
	/* Sorted with the earliest of equal (msg, who, type) first. */
	if (mi->n)
		qsort(mi->v, mi->n, sizeof(*mi->v), rx_cmp);
	*out = mi;
	return 0;
}

void control_msg_index_free(struct msg_index *mi)
{
	if (!mi)
		return;
	free(mi->v);
	free(mi);
}

/* The earliest receipt time, 0 if none. */
static uint64_t rx_at(const struct msg_index *mi, const uint8_t *msg, const uint8_t *who, uint8_t type)
{
	size_t lo = 0, hi = mi ? mi->n : 0;
	struct rx key = { .type = type, .at = 0 };

	memcpy(key.msg, msg, BUNDLE_ID_BYTES);
	memcpy(key.who, who, MU_KEY_BYTES);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rx_cmp(&mi->v[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < (mi ? mi->n : 0) && !memcmp(mi->v[lo].msg, msg, BUNDLE_ID_BYTES) &&
	    !memcmp(mi->v[lo].who, who, MU_KEY_BYTES) && mi->v[lo].type == type)
		return mi->v[lo].at;
	return 0;
}

/* ---- whom a sent message was meant for ---- */

/* The sender themselves and the hospital archive are recipients of every
 * message but not whom it was meant for. */
static bool intended(struct node *n, const uint8_t *key)
{
	struct cred c;

	if (!memcmp(key, identity_sign_pk(n->user), MU_KEY_BYTES))
		return false;
	return store_cred_lookup(n->store, key, &c) || c.role != ROLE_HOSPITAL_ARCHIVE;
}

static void json_time(struct ctl_reply *r, const char *name, uint64_t at)
{
	if (at)
		ctl_reply_printf(r, ",\"%s\":%" PRIu64, name, at);
	else
		ctl_reply_printf(r, ",\"%s\":null", name);
}

/* Per-recipient rows of a sent message (JSON, or text when text_rows);
 * adds to cnt[] the delivered, read, acknowledged and intended counts. */
static void recipients_state(struct node *n, const struct msg_index *mi, struct ctl_reply *r, const struct bundle *b,
			     bool alert, bool json, bool text_rows, unsigned cnt[4])
{
	struct envelope_slots it;
	struct envelope_slot s;
	/* A malformed envelope names no one: no rows. */
	int bad = envelope_slots_init(&it, b->payload, b->payload_len);
	uint64_t now = mu_now_ms();
	bool first = true;
	char name[128];

	if (json)
		ctl_reply_printf(r, ",\"recipients\":[");
	while (!bad && envelope_slot_next(&it, &s)) {
		const uint8_t *key = s.key;
		uint64_t d = rx_at(mi, b->id, key, RECEIPT_DELIVERED), rd = rx_at(mi, b->id, key, RECEIPT_READ);
		uint64_t ack = rx_at(mi, b->id, key, RECEIPT_ACK);

		if (!intended(n, key))
			continue;
		/* A later receipt implies the earlier steps. */
		if (!rd && ack)
			rd = ack;
		if (!d && rd)
			d = rd;
		cnt[0] += d != 0;
		cnt[1] += rd != 0;
		cnt[2] += ack != 0;
		cnt[3]++;
		control_who(n, key, name, sizeof(name));
		if (json) {
			ctl_reply_printf(r, "%s{\"key\":", first ? "" : ",");
			control_json_hex(r, key, MU_KEY_BYTES);
			ctl_reply_printf(r, ",\"name\":");
			control_json_str(r, name);
			json_time(r, "delivered", d);
			json_time(r, "read", rd);
			if (alert) {
				json_time(r, "acknowledged", ack);
				if (ack)
					ctl_reply_printf(r, ",\"ack_after_ms\":%" PRIu64 ",\"waiting_ms\":null",
							 ack > b->created ? ack - b->created : 0);
				else
					ctl_reply_printf(r, ",\"ack_after_ms\":null,\"waiting_ms\":%" PRIu64,
							 now > b->created ? now - b->created : 0);
			}
			ctl_reply_printf(r, "}");
		} else if (text_rows) {
			if (ack)
				ctl_reply_printf(r, "    %-40.40s acknowledged after %" PRIu64 " s\n", name,
						 (ack > b->created ? ack - b->created : 0) / 1000);
			else
				ctl_reply_printf(r, "    %-40.40s NOT acknowledged for %" PRIu64 " s (%s)\n", name,
						 (now > b->created ? now - b->created : 0) / 1000,
						 rd ? "read" : d ? "delivered" : "not yet delivered");
		}
		first = false;
	}
	if (json)
		ctl_reply_printf(r, "]");
}

void control_msg_state(struct node *n, const struct msg_index *mi, struct ctl_reply *r, const struct bundle *b,
		       uint8_t content, bool sent, bool json)
{
	bool alert = content == CONTENT_ALERT;
	unsigned cnt[4] = { 0 };
	uint64_t at = 0;

	if (!n->user)
		return;
	if (sent) {
		recipients_state(n, mi, r, b, alert, json, false, cnt);
		if (json) {
			ctl_reply_printf(r, ",\"alert\":%s,\"to\":%u,\"delivered\":%u,\"read\":%u", alert ? "true" : "false",
					 cnt[3], cnt[0], cnt[1]);
			if (alert)
				ctl_reply_printf(r, ",\"acknowledged\":%u", cnt[2]);
		} else {
			ctl_reply_printf(r, "              to %u: %u delivered, %u read", cnt[3], cnt[0], cnt[1]);
			if (alert)
				ctl_reply_printf(r, ", %u/%u acknowledged (muster alerts)", cnt[2], cnt[3]);
			ctl_reply_printf(r, "\n");
		}
		return;
	}
	if (alert)
		receipts_sent_at(n, RECEIPT_ACK, b->id, &at);
	if (json) {
		ctl_reply_printf(r, ",\"alert\":%s", alert ? "true" : "false");
		if (alert)
			json_time(r, "acknowledged", at);
	} else if (alert) {
		char h[13];

		hex_encode(h, b->id, 6);
		if (at)
			ctl_reply_printf(r, "              ALERT, acknowledged\n");
		else
			ctl_reply_printf(r, "              ALERT, not acknowledged: muster ack %s\n", h);
	}
}

/* ---- muster alerts ---- */

struct alerts_walk {
	struct node *n;
	uint8_t (*ids)[BUNDLE_ID_BYTES];
	size_t nids, cap;
};

static int collect_sent_alert(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES])
{
	struct alerts_walk *w = ctx;
	struct store_info info;

	(void)created;
	/* Alerts are always immediate; the content is checked when shown. */
	if (store_peek(w->n->store, id, &info) || info.kind != BK_MESSAGE || info.prio != PRIO_IMMEDIATE ||
	    !(info.meta.flags & STORE_F_LOCAL))
		return 0;
	void *v = mu_grow(w->ids, &w->cap, w->nids, BUNDLE_ID_BYTES, 64);

	if (!v)
		return -ENOMEM;
	w->ids = v;
	memcpy(w->ids[w->nids++], id, BUNDLE_ID_BYTES);
	return 0;
}

/* One of the user's own alerts; false if id is not one. */
static bool show_sent_alert(struct node *n, const struct msg_index *mi, struct ctl_reply *r, const uint8_t *id,
			    bool json, bool first)
{
	static uint8_t enc[BUNDLE_ENC_MAX], text[BUNDLE_PAYLOAD_MAX + 1];
	unsigned cnt[4] = { 0 };
	struct bundle b;
	size_t len, tlen;
	char h[2 * BUNDLE_ID_BYTES + 1];

	if (store_get(n->store, id, enc, sizeof(enc), &len, NULL) || bundle_decode(&b, enc, len) ||
	    memcmp(b.sender, identity_sign_pk(n->user), MU_KEY_BYTES) ||
	    envelope_open(text, sizeof(text) - 1, &tlen, b.payload, b.payload_len, n->user, b.sender) || tlen < 1 ||
	    text[0] != CONTENT_ALERT)
		return false;
	text[tlen] = 0;
	hex_encode(h, b.id, BUNDLE_ID_BYTES);
	if (json) {
		ctl_reply_printf(r, "%s{\"id\":\"%s\",\"created\":%" PRIu64 ",\"dest\":\"%s\",\"text\":", first ? "" : ",",
				 h, b.created, dest_type_name(b.dest_type));
		control_json_str(r, (const char *)text + 1);
		recipients_state(n, mi, r, &b, true, true, false, cnt);
		ctl_reply_printf(r, ",\"to\":%u,\"acknowledged\":%u,\"outstanding\":%u}", cnt[3], cnt[2], cnt[3] - cnt[2]);
		return true;
	}
	/* Counts first, so the header can say them: a dry run. */
	recipients_state(n, mi, r, &b, true, false, false, cnt);
	ctl_reply_printf(r, "%.12s  to %-6s %u/%u acknowledged  %s\n", h, dest_type_name(b.dest_type), cnt[2], cnt[3],
			 (const char *)text + 1);
	memset(cnt, 0, sizeof(cnt));
	recipients_state(n, mi, r, &b, true, false, true, cnt);
	return true;
}

struct waiting_ctx {
	struct node *n;
	struct ctl_reply *r;
	bool json, first;
};

static void show_waiting(void *ctx, const uint8_t id[static BUNDLE_ID_BYTES], const uint8_t sender[static MU_KEY_BYTES],
			 uint64_t since)
{
	struct waiting_ctx *w = ctx;
	uint64_t now = mu_now_ms(), waited = now > since ? now - since : 0;
	char name[128], h[2 * BUNDLE_ID_BYTES + 1];

	control_who(w->n, sender, name, sizeof(name));
	hex_encode(h, id, BUNDLE_ID_BYTES);
	if (w->json) {
		ctl_reply_printf(w->r, "%s{\"id\":\"%s\",\"from\":", w->first ? "" : ",", h);
		control_json_hex(w->r, sender, MU_KEY_BYTES);
		ctl_reply_printf(w->r, ",\"from_name\":");
		control_json_str(w->r, name);
		ctl_reply_printf(w->r, ",\"since\":%" PRIu64 ",\"waiting_ms\":%" PRIu64 "}", since, waited);
	} else {
		if (w->first)
			ctl_reply_printf(w->r, "\nWaiting for your acknowledgement (muster ack ID):\n");
		ctl_reply_printf(w->r, "%.12s  from %-32.32s for %" PRIu64 " s\n", h, name, waited / 1000);
	}
	w->first = false;
}

static int ctl_alerts(struct node *n, const struct ctl_req *req, struct ctl_reply *r)
{
	bool json = req->flags & CTL_F_JSON;
	const char *lim = control_arg_value(req, "--limit");
	unsigned long limit = lim ? strtoul(lim, NULL, 10) : ALERTS_LIMIT_DEFAULT;
	struct alerts_walk w = { .n = n };
	struct waiting_ctx wc = { .n = n, .r = r, .json = json, .first = true };
	struct msg_index *mi = NULL;
	size_t shown = 0;
	int ret;

	if (!n->user) {
		ctl_reply_printf(r, "no user on this node: set [user] identity and credential in the config\n");
		return MU_E_NOCRED;
	}
	node_commit(n);
	ret = store_scan_time(n->store, 0, NULL, collect_sent_alert, &w);
	if (!ret)
		ret = control_msg_index(n, &mi);
	if (ret) {
		free(w.ids);
		return ret;
	}
	ctl_reply_printf(r, "%s", json ? "{\"sent\":[" : "");
	/* Newest first, at most `limit`. */
	for (size_t i = w.nids; i-- > 0 && shown < limit;)
		shown += show_sent_alert(n, mi, r, w.ids[i], json, shown == 0) ? 1 : 0;
	if (!json && !shown)
		ctl_reply_printf(r, "(no alerts sent)\n");
	ctl_reply_printf(r, "%s", json ? "],\"waiting\":[" : "");
	alerts_each(n, show_waiting, &wc);
	ctl_reply_printf(r, "%s", json ? "]}\n" : "");
	control_msg_index_free(mi);
	free(w.ids);
	return 0;
}

/* ---- muster ack ---- */

static int ctl_ack(struct node *n, const struct ctl_req *req, struct ctl_reply *r)
{
	static uint8_t enc[BUNDLE_ENC_MAX], content[BUNDLE_PAYLOAD_MAX];
	bool json = req->flags & CTL_F_JSON;
	uint8_t id[BUNDLE_ID_BYTES];
	struct bundle b;
	size_t len, clen;
	uint64_t at = 0;
	char h[2 * BUNDLE_ID_BYTES + 1], from[128];
	int ret;

	if (!n->user) {
		ctl_reply_printf(r, "no user on this node: set [user] identity and credential in the config\n");
		return MU_E_NOCRED;
	}
	if (req->argc != 2) {
		ctl_reply_printf(r, "usage: muster ack ID (the alert's id, or 8+ leading hex digits of it)\n");
		return MU_E_FORMAT;
	}
	ret = alerts_find(n, req->argv[1], id);
	if (ret == -EEXIST)
		ctl_reply_printf(r, "more than one unacknowledged alert starts with %s: give more digits\n", req->argv[1]);
	else if (ret == MU_E_NOTFOUND)
		ctl_reply_printf(r, "no unacknowledged alert starts with %s\n", req->argv[1]);
	else if (ret)
		ctl_reply_printf(r, "an id is 64 hex digits (or at least 8 leading ones)\n");
	if (ret)
		return ret;
	node_commit(n);
	if (store_get(n->store, id, enc, sizeof(enc), &len, NULL) || bundle_decode(&b, enc, len) ||
	    b.kind != BK_MESSAGE || !memcmp(b.sender, identity_sign_pk(n->user), MU_KEY_BYTES) ||
	    !node_msg_for_user(n, &b) || node_msg_content(n, &b, content, sizeof(content), &clen) ||
	    content[0] != CONTENT_ALERT) {
		ctl_reply_printf(r, "no alert for you with that id on this node\n");
		return MU_E_NOTFOUND;
	}
	ret = receipts_ack(n, &b);
	if (ret && ret != MU_E_EXISTS) {
		ctl_reply_printf(r, "not acknowledged: %s\n", mu_strerror(ret));
		return ret;
	}
	alerts_acked(n, id);
	receipts_sent_at(n, RECEIPT_ACK, id, &at);
	hex_encode(h, id, BUNDLE_ID_BYTES);
	control_who(n, b.sender, from, sizeof(from));
	if (json) {
		ctl_reply_printf(r, "{\"id\":\"%s\",\"acknowledged\":%" PRIu64 ",\"already\":%s,\"to\":", h, at,
				 ret ? "true" : "false");
		control_json_str(r, from);
		ctl_reply_printf(r, "}\n");
	} else {
		ctl_reply_printf(r, "%s %.12s from %s\n", ret ? "already acknowledged" : "acknowledged", h, from);
	}
	return 0;
}

int control_msg(struct node *n, const struct ctl_req *req, struct ctl_reply *r, int *ret)
{
	const char *cmd = req->argc ? req->argv[0] : "";

	if (!strcmp(cmd, "ack"))
		*ret = ctl_ack(n, req, r);
	else if (!strcmp(cmd, "alerts"))
		*ret = ctl_alerts(n, req, r);
	else
		return 0;
	return 1;
}
