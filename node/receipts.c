/* Delivered, read and acknowledgement receipts sent by this node's user
 * (docs/protocol.md "Delivered, read and ack receipts"), and the record of the read and ack
 * receipts already sent.
 *
 * A delivered receipt is sealed once a text message or alert for the user
 * is committed; a read receipt once `muster inbox` shows it; an ack when
 * the user runs `muster ack`. Delivered and read receipts are queued and
 * sealed on the next loop turn, one receipt per (type, original sender)
 * for everything queued in that turn, so a ferry's backlog costs a few
 * receipts, not one per message. They are never sealed inside node_stored:
 * that runs while node_commit walks the batch ingest would refill.
 *
 * Which read/ack receipts were sent is kept in the store's notes (below).
 * If a note is missing, showing the message again sends a second read
 * receipt; the sender keeps the earliest time, so that is harmless.
 *
 * A channel message that arrives before the key-wrap of its epoch (or
 * before the wrap that made its sender a member) cannot be opened yet: it
 * is not announced then (node_stored asks receipts_hold) but kept in a
 * list of at most RECEIPTS_HELD_MAX ids, and when a wrap of that channel
 * and epoch is stored, each of them that now opens is acted on as if it had
 * just arrived: notify hook, alert, delivered receipt. The list is kept in
 * the notes too, so a restart loses none and a message that opened before
 * it is not announced again.
 *
 * Notes. What open() needs — the read/ack receipts sent (NOTE_READ,
 * NOTE_ACK: when), the held channel messages (NOTE_HELD: channel, epoch),
 * the outstanding alerts (NOTE_ALERT, alerts.c) — is kept in the store's
 * notes (store.h; docs/storage.md "notes"), one per message, expiring with
 * it, so a start reads a few notes instead of decoding every message
 * (docs/benchmarks.md "startup"). They are written where the state in
 * memory changes: a read/ack note in the batch of the receipt bundle that
 * sends it (both commit or neither), with an ack the deletion of the
 * alert's note; what an arriving bundle causes (an alert, a held message)
 * can only follow the commit of that bundle (node_stored runs after it),
 * so those are queued and written on the next loop turn in a write of
 * their own (and at close). A NOTE_STATE note, keyed by the
 * user's signing key, says how far the notes can be trusted: NOTES_OPEN
 * is written at start, NOTES_CLEAN by receipts_close() once everything
 * queued is written. open() trusts the notes only after a clean stop by
 * the same user; otherwise — a store made before the notes, a crash or
 * power loss, a failed note write, another user, a run without a user
 * (whose arrivals were not noted) — it walks the store once, as before,
 * and writes the notes again from what it found. So a crash loses no
 * alert and no held message (it costs one walk at the next start); at
 * worst a read receipt that was queued but not yet sealed is sent twice.
 * Notes of messages deleted before they expire (custody tombstones,
 * quota eviction) are not deleted then: open() drops the alert and held
 * ones whose message is gone, read/ack ones go with the expiry purge
 * (store_note_purge, node.c), like expired ones. */
#include <errno.h>
#include <sodium.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "clock.h"
#include "config.h"
#include "control_util.h"
#include "err.h"
#include "grow.h"
#include "hex.h"
#include "incident.h"
#include "log.h"
#include "node_int.h"
#include "receipt.h"
#include "wire.h"

#define RECEIPTS_PENDING_MAX (2 * NODE_FRESH_MAX) /* queued in one turn; beyond it, dropped and logged */
/* Channel messages held for the user that wait for the key-wrap of their
 * epoch (or for the wrap that makes their sender a member). Beyond it the
 * one expiring first is forgotten (logged): it stays readable in the inbox
 * once its key arrives, but it is then not announced. */
#define RECEIPTS_HELD_MAX 4096
#define HELD_NOTE_BYTES (CHANNEL_ID_BYTES + 4) /* NOTE_HELD data: channel, epoch */
#define DONE_NOTE_BYTES 8                      /* NOTE_READ / NOTE_ACK data: sent at */
/* NOTE_STATE: id = the user's signing key; data = version, state. */
#define NOTES_VERSION 1
enum notes_state { NOTES_NONE = 0, NOTES_OPEN = 1, NOTES_CLEAN = 2 };

struct rcpt_pending {
	uint8_t type, prio, hop_limit;
	uint8_t id[BUNDLE_ID_BYTES];
	uint8_t to[MU_KEY_BYTES];
	uint64_t expires;
	bool taken; /* sealed in the current flush */
};

/* A receipt this user sent, kept sorted by (type, id) for lookups. */
struct rcpt_done {
	uint8_t type;
	uint8_t id[BUNDLE_ID_BYTES];
	uint64_t at;
	uint64_t expires; /* of its note */
};

/* A note write waiting for the next turn (receipts_note). */
struct note_op {
	uint8_t kind;
	bool del;
	uint8_t len;
	uint8_t id[BUNDLE_ID_BYTES];
	uint64_t expires;
	uint8_t data[STORE_NOTE_DATA_MAX];
};

/* A channel message stored before its epoch key could open it. */
struct rcpt_held {
	uint8_t id[BUNDLE_ID_BYTES];
	uint8_t chan[CHANNEL_ID_BYTES];
	uint32_t epoch;
	uint64_t expires;
};

struct receipts {
	bool delivered_on; /* [messaging] delivery_receipts */
	bool read_on;      /* [messaging] read_receipts */
	struct loop_timer *flush_timer;
	struct rcpt_pending *pend;
	size_t npend;
	struct rcpt_done *done;
	size_t ndone, capdone;
	uint64_t dropped;
	struct rcpt_held *held;
	size_t nheld;
	uint64_t held_dropped;
	struct note_op *ops;
	size_t nops, capops;
	bool notes_on;  /* a user: notes loaded or rebuilt at open */
	bool loading;   /* open() is filling memory from notes or a walk: no puts queued */
	bool notes_bad; /* a note was not written: the next start walks */
};

struct done_key {
	uint8_t type;
	const uint8_t *id;
};

static int done_cmp(const void *el, const void *key)
{
	const struct rcpt_done *d = el;
	const struct done_key *k = key;

	if (d->type != k->type)
		return d->type < k->type ? -1 : 1;
	return memcmp(d->id, k->id, BUNDLE_ID_BYTES);
}

/* Index of the entry, or where it would be inserted; *found set. */
static size_t done_find(const struct receipts *rc, uint8_t type, const uint8_t *id, bool *found)
{
	struct done_key k = { type, id };

	return mu_sorted_find(rc->done, rc->ndone, sizeof(*rc->done), done_cmp, &k, found);
}

static int done_add(struct receipts *rc, uint8_t type, const uint8_t *id, uint64_t at, uint64_t expires)
{
	bool found;
	size_t i = done_find(rc, type, id, &found);

	if (found) {
		if (at < rc->done[i].at)
			rc->done[i].at = at;
		if (expires > rc->done[i].expires)
			rc->done[i].expires = expires;
		return 0;
	}
	if (rc->ndone == rc->capdone) {
		size_t cap = rc->capdone ? 2 * rc->capdone : 64;
		void *v = realloc(rc->done, cap * sizeof(*rc->done));

		if (!v)
			return -ENOMEM;
		rc->done = v;
		rc->capdone = cap;
	}
	memmove(&rc->done[i + 1], &rc->done[i], (rc->ndone - i) * sizeof(*rc->done));
	rc->done[i].type = type;
	memcpy(rc->done[i].id, id, BUNDLE_ID_BYTES);
	rc->done[i].at = at;
	rc->done[i].expires = expires;
	rc->ndone++;
	return 0;
}

/* ---- notes (see the top of this file) ---- */

void receipts_note(struct node *n, uint8_t kind, const uint8_t id[static BUNDLE_ID_BYTES], bool del,
		   uint64_t expires, const void *data, size_t len)
{
	struct receipts *rc = n->receipts;
	struct note_op *op;

	if (!rc || !rc->notes_on || (rc->loading && !del))
		return;
	if (len > STORE_NOTE_DATA_MAX) {
		rc->notes_bad = true;
		return;
	}
	if (rc->nops == rc->capops) {
		size_t cap = rc->capops ? 2 * rc->capops : 64;
		void *v = realloc(rc->ops, cap * sizeof(*rc->ops));

		if (!v) {
			if (!rc->notes_bad)
				log_warn(SUB_MAIN, "out of memory for a note: the next start walks the store");
			rc->notes_bad = true;
			return;
		}
		rc->ops = v;
		rc->capops = cap;
	}
	op = &rc->ops[rc->nops++];
	op->kind = kind;
	op->del = del;
	op->len = (uint8_t)len;
	memcpy(op->id, id, BUNDLE_ID_BYTES);
	op->expires = expires;
	if (len)
		memcpy(op->data, data, len);
	if (rc->flush_timer)
		loop_timer_arm(rc->flush_timer, 0);
}

static void note_done(struct node *n, uint8_t type, const struct rcpt_done *d)
{
	uint8_t v[DONE_NOTE_BYTES];

	put_be64(v, d->at);
	receipts_note(n, type == RECEIPT_ACK ? NOTE_ACK : NOTE_READ, d->id, false, d->expires, v, sizeof(v));
}

/* Writes the queued notes from index `from` on into t, in order, and
 * takes them off the queue. A failure is logged once and makes the next
 * start walk (notes_bad). */
static int notes_write(struct node *n, struct store_txn *t, size_t from)
{
	struct receipts *rc = n->receipts;
	int first = 0;

	for (size_t i = from; i < rc->nops; i++) {
		struct note_op *op = &rc->ops[i];
		int ret = op->del ? store_note_del(t, op->kind, op->id)
				  : store_note_put(t, op->kind, op->id, op->expires, op->data, op->len);

		if (ret && !first)
			first = ret;
	}
	rc->nops = from;
	if (first) {
		if (!rc->notes_bad)
			log_warn(SUB_STORE, "a receipt or alert note was not written (%s): the next start walks the store",
				 mu_strerror(first));
		rc->notes_bad = true;
	}
	return first;
}

/* The queued notes, in a write of their own: after a commit of the open
 * batch, so that a failure of that batch (a full map) cannot take notes
 * of bundles committed before it along unseen. */
static void notes_flush(struct node *n)
{
	struct receipts *rc = n->receipts;
	struct store_txn *t = NULL;
	int ret;

	if (!rc || !rc->nops)
		return;
	if (n->txn)
		node_commit(n);
	if (n->txn) {
		/* An action of that commit opened the next batch (a hospital's
		 * custody receipts): the notes go with it. */
		notes_write(n, n->txn, 0);
		return;
	}
	ret = store_write_begin(n->store, &t);
	if (!ret && notes_write(n, t, 0))
		store_write_abort(t);
	else if (!ret)
		ret = store_write_commit(t);
	if (ret) {
		rc->nops = 0;
		if (!rc->notes_bad)
			log_warn(SUB_STORE, "receipt and alert notes not written (%s): the next start walks the store",
				 mu_strerror(ret));
		rc->notes_bad = true;
	}
}

bool receipts_sent_at(struct node *n, uint8_t type, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t *at)
{
	bool found = false;
	size_t i;

	if (!n->receipts)
		return false;
	i = done_find(n->receipts, type, id, &found);
	if (found && at)
		*at = n->receipts->done[i].at;
	return found;
}

bool node_msg_for_user(const struct node *n, const struct bundle *b)
{
	if (!n->user)
		return false;
	switch ((enum dest_type)b->dest_type) {
	case DEST_ALL: return true;
	case DEST_PERSON: return !memcmp(b->dest, identity_sign_pk(n->user), MU_KEY_BYTES);
	case DEST_ROLE: return b->dest[0] == n->user_cred.role;
	case DEST_CHANNEL: return channel_msg_for_user(n, b); /* a holder of one of its epoch keys */
	}
	return false;
}

int node_msg_content(struct node *n, const struct bundle *b, uint8_t *out, size_t cap, size_t *len)
{
	int ret;

	if (!n->user || b->kind != BK_MESSAGE)
		return MU_E_NOTFOUND;
	if (b->dest_type == DEST_CHANNEL)
		ret = channel_msg_content(n, b, out, cap, len);
	else
		ret = envelope_open(out, cap, len, b->payload, b->payload_len, n->user, b->sender);
	if (!ret && *len < 1)
		ret = MU_E_FORMAT;
	return ret;
}

/* ---- sealing ---- */

/* Seals and stores one receipt of the pending entries [ids] to `to`. */
static int seal_one(struct node *n, uint8_t type, const uint8_t to[static MU_KEY_BYTES],
		    const uint8_t (*ids)[BUNDLE_ID_BYTES], size_t nids, uint8_t prio, uint8_t hop_limit,
		    uint64_t expires)
{
	static uint8_t payload[RECEIPT_ENC_MAX], enc[BUNDLE_ENC_MAX];
	struct bundle b = { .kind = BK_RECEIPT, .prio = prio, .hop_limit = hop_limit, .dest_type = DEST_PERSON,
			    .dest_len = MU_KEY_BYTES };
	size_t mark;
	int len;

	len = receipt_encode(payload, sizeof(payload), type, ids, nids);
	if (len < 0)
		return len;
	memcpy(b.dest, to, MU_KEY_BYTES);
	b.created = mu_now_ms();
	if (expires <= b.created)
		return MU_E_EXPIRED; /* the messages it names are gone everywhere */
	b.expires = expires;
	b.payload = payload;
	b.payload_len = (size_t)len;
	len = bundle_seal(enc, sizeof(enc), &b, n->user);
	if (len < 0)
		return len;
	len = node_ingest(n, enc, (size_t)len, 0, NULL);
	if (len || type == RECEIPT_DELIVERED)
		return len;
	mark = n->receipts->nops;
	for (size_t i = 0; i < nids; i++) {
		struct receipts *rc = n->receipts;
		bool found;
		size_t k;

		if (done_add(rc, type, ids[i], b.created, b.expires)) {
			rc->notes_bad = true; /* out of memory: no record, no note */
			continue;
		}
		k = done_find(rc, type, ids[i], &found);
		note_done(n, type, &rc->done[k]);
		if (type == RECEIPT_ACK)
			receipts_note(n, NOTE_ALERT, ids[i], true, 0, NULL, 0);
	}
	/* Into the receipt's batch (node_ingest opened it, unless it had to
	 * commit a full one: then with the rest, next turn), so the record and
	 * the receipt commit together or not at all; if not, the receipt is
	 * sent again when asked again — never an alert lost. */
	if (n->txn)
		notes_write(n, n->txn, mark);
	return 0;
}

/* Seals everything pending: one receipt per (type, sender) of up to
 * RECEIPT_IDS_MAX ids, immediate if any message it names was immediate
 * (or for an ack), else urgent, expiring with the last of its messages. */
static int flush(struct node *n)
{
	static uint8_t ids[RECEIPT_IDS_MAX][BUNDLE_ID_BYTES];
	struct receipts *rc = n->receipts;
	size_t n0 = rc->npend; /* a commit inside may queue more: those wait for the next turn */
	int first_err = 0;

	for (size_t i = 0; i < n0; i++) {
		struct rcpt_pending *p = &rc->pend[i];
		uint8_t prio = p->type == RECEIPT_ACK ? PRIO_IMMEDIATE : PRIO_URGENT, hops = p->hop_limit;
		uint64_t expires = 0;
		size_t k = 0;
		int ret;

		if (p->taken)
			continue;
		for (size_t j = i; j < n0 && k < RECEIPT_IDS_MAX; j++) {
			struct rcpt_pending *q = &rc->pend[j];

			if (q->taken || q->type != p->type || memcmp(q->to, p->to, MU_KEY_BYTES))
				continue;
			q->taken = true;
			memcpy(ids[k++], q->id, BUNDLE_ID_BYTES);
			if (q->prio == PRIO_IMMEDIATE)
				prio = PRIO_IMMEDIATE;
			if (q->expires > expires)
				expires = q->expires;
			if (q->hop_limit > hops)
				hops = q->hop_limit;
		}
		ret = seal_one(n, p->type, p->to, (const uint8_t (*)[BUNDLE_ID_BYTES])ids, k, prio, hops, expires);
		if (ret && ret != MU_E_EXPIRED) {
			log_warn(SUB_MAIN, "%s receipt for %zu message%s not stored: %s", receipt_type_name(p->type), k,
				 k == 1 ? "" : "s", mu_strerror(ret));
			if (!first_err)
				first_err = ret;
		}
	}
	memmove(rc->pend, rc->pend + n0, (rc->npend - n0) * sizeof(*rc->pend));
	rc->npend -= n0;
	if (rc->npend)
		loop_timer_arm(rc->flush_timer, 0);
	if (!first_err)
		first_err = node_commit(n);
	return first_err;
}

static void flush_tick(void *user)
{
	struct node *n = user;

	if (!n->receipts)
		return;
	notes_flush(n);
	if (n->receipts->npend)
		flush(n);
}

static int queue(struct node *n, uint8_t type, const struct bundle *msg)
{
	struct receipts *rc = n->receipts;
	struct rcpt_pending *p;

	if (rc->npend == RECEIPTS_PENDING_MAX) {
		if (rc->dropped++ % 1000 == 0)
			log_warn(SUB_MAIN, "too many receipts in one turn; %" PRIu64 " not sent", rc->dropped);
		return -ENOBUFS;
	}
	p = &rc->pend[rc->npend++];
	p->type = type;
	p->prio = msg->prio;
	p->hop_limit = msg->hop_limit;
	memcpy(p->id, msg->id, BUNDLE_ID_BYTES);
	memcpy(p->to, msg->sender, MU_KEY_BYTES);
	p->expires = msg->expires;
	p->taken = false;
	loop_timer_arm(rc->flush_timer, 0);
	return 0;
}

void receipts_read(struct node *n, const struct bundle *msg)
{
	struct receipts *rc = n->receipts;

	if (!rc || !rc->read_on || !n->user || !memcmp(msg->sender, identity_sign_pk(n->user), MU_KEY_BYTES) ||
	    receipts_sent_at(n, RECEIPT_READ, msg->id, NULL))
		return;
	/* Recorded now, so a second `inbox` before the flush queues none. */
	if (!queue(n, RECEIPT_READ, msg))
		done_add(rc, RECEIPT_READ, msg->id, mu_now_ms(), msg->expires);
}

int receipts_ack(struct node *n, const struct bundle *msg)
{
	int ret;

	if (!n->receipts || !n->user)
		return MU_E_NOCRED;
	if (receipts_sent_at(n, RECEIPT_ACK, msg->id, NULL))
		return MU_E_EXISTS;
	/* Whatever is queued goes with it; the CLI waits for the commit. */
	ret = queue(n, RECEIPT_ACK, msg);
	if (!ret)
		ret = flush(n);
	if (!ret && !receipts_sent_at(n, RECEIPT_ACK, msg->id, NULL))
		ret = MU_E_EXPIRED;
	return ret;
}

/* ---- what arrives ---- */

void receipts_stored(struct node *n, const struct fresh *f)
{
	static uint8_t enc[BUNDLE_ENC_MAX], content[BUNDLE_PAYLOAD_MAX];
	struct store_meta meta;
	struct bundle b;
	size_t len, clen;

	if (!n->receipts || !n->user || (f->kind != BK_MESSAGE && f->kind != BK_RECEIPT))
		return;
	if (store_get(n->store, f->id, enc, sizeof(enc), &len, &meta) || bundle_decode(&b, enc, len))
		return;
	if (!memcmp(b.sender, identity_sign_pk(n->user), MU_KEY_BYTES))
		return; /* our own: no receipt for it, and our receipts are recorded when sealed */
	if (f->kind == BK_RECEIPT) {
		alerts_receipt(n, &b);
		return;
	}
	if (!node_msg_for_user(n, &b) || node_msg_content(n, &b, content, sizeof(content), &clen))
		return;
	/* Text and alerts only: incident records carry their own answers
	 * (assignment acks, request responses) and go to everyone. */
	if (content[0] != CONTENT_TEXT && content[0] != CONTENT_ALERT)
		return;
	if (n->receipts->delivered_on)
		queue(n, RECEIPT_DELIVERED, &b);
	if (content[0] == CONTENT_ALERT)
		alerts_add(n, &b, meta.received);
}

/* ---- channel messages waiting for their key ---- */

/* Forgets held message i, and its note. */
static void held_remove(struct node *n, size_t i)
{
	struct receipts *rc = n->receipts;

	receipts_note(n, NOTE_HELD, rc->held[i].id, true, 0, NULL, 0);
	rc->held[i] = rc->held[--rc->nheld];
}

static void held_note(struct node *n, const struct rcpt_held *h)
{
	uint8_t d[HELD_NOTE_BYTES];
	struct wr wr = wr_make(d, sizeof(d));

	wr_bytes(&wr, h->chan, CHANNEL_ID_BYTES);
	wr_u32(&wr, h->epoch);
	if (wr_finish(&wr) == (int)sizeof(d))
		receipts_note(n, NOTE_HELD, h->id, false, h->expires, d, sizeof(d));
}

static void held_add(struct node *n, const struct bundle *b, uint32_t epoch)
{
	struct receipts *rc = n->receipts;
	uint64_t now = mu_now_ms();
	size_t first = 0;

	for (size_t i = 0; i < rc->nheld;) {
		if (!memcmp(rc->held[i].id, b->id, BUNDLE_ID_BYTES))
			return;
		if (rc->held[i].expires <= now) {
			held_remove(n, i);
			continue;
		}
		if (rc->held[i].expires < rc->held[first].expires)
			first = i;
		i++;
	}
	if (rc->nheld == RECEIPTS_HELD_MAX) {
		if (rc->held_dropped++ % 1000 == 0)
			log_warn(SUB_MAIN, "%d channel messages wait for their key: %" PRIu64 " will not be announced",
				 RECEIPTS_HELD_MAX, rc->held_dropped);
		held_remove(n, first);
	}
	memcpy(rc->held[rc->nheld].id, b->id, BUNDLE_ID_BYTES);
	memcpy(rc->held[rc->nheld].chan, b->dest, CHANNEL_ID_BYTES);
	rc->held[rc->nheld].epoch = epoch;
	rc->held[rc->nheld].expires = b->expires;
	held_note(n, &rc->held[rc->nheld]);
	rc->nheld++;
}

/* Whether b is a channel message of someone else's that the user may be
 * able to open once a key-wrap arrives: no key for its epoch yet, or its
 * sender not (yet) a member of it. Held if so. */
static bool hold_if_waiting(struct node *n, const struct bundle *b)
{
	static uint8_t content[BUNDLE_PAYLOAD_MAX];
	uint32_t epoch;
	size_t clen = 0;
	int ret;

	if (b->kind != BK_MESSAGE || b->dest_type != DEST_CHANNEL || b->dest_len != CHANNEL_ID_BYTES ||
	    !memcmp(b->sender, identity_sign_pk(n->user), MU_KEY_BYTES) || b->expires <= mu_now_ms())
		return false;
	ret = node_msg_content(n, b, content, sizeof(content), &clen);
	sodium_memzero(content, clen < sizeof(content) ? clen : sizeof(content));
	if (ret != MU_E_NOTFOUND && ret != MU_E_UNTRUSTED)
		return false;
	if (chanmsg_epoch(b->payload, b->payload_len, b->dest, &epoch))
		return false; /* no channel slot: no wrap will ever open it */
	held_add(n, b, epoch);
	return true;
}

bool receipts_hold(struct node *n, const struct fresh *f)
{
	static uint8_t enc[BUNDLE_ENC_MAX];
	struct bundle b;
	size_t len;
	char h[13];

	if (!n->receipts || !n->user || f->kind != BK_MESSAGE)
		return false;
	if (store_get(n->store, f->id, enc, sizeof(enc), &len, NULL) || bundle_decode(&b, enc, len))
		return false;
	if (!hold_if_waiting(n, &b))
		return false;
	hex_encode(h, f->id, 6);
	log_info(SUB_MAIN, "channel message %s waits for its key-wrap", h);
	return true;
}

void receipts_keywrap(struct node *n, const struct fresh *f)
{
	static uint8_t enc[BUNDLE_ENC_MAX], content[BUNDLE_PAYLOAD_MAX];
	struct receipts *rc = n->receipts;
	struct keywrap kw;
	struct bundle b;
	size_t len, clen = 0;

	if (!rc || !rc->nheld || !n->user || f->kind != BK_KEYWRAP)
		return;
	if (store_get(n->store, f->id, enc, sizeof(enc), &len, NULL) || bundle_decode(&b, enc, len) ||
	    keywrap_decode(&kw, b.payload, b.payload_len))
		return;
	for (size_t i = 0; i < rc->nheld;) {
		struct rcpt_held h = rc->held[i];
		struct fresh msg = { .kind = BK_MESSAGE };
		int ret;

		if (h.epoch != kw.epoch || memcmp(h.chan, kw.chan, CHANNEL_ID_BYTES)) {
			i++;
			continue;
		}
		if (store_get(n->store, h.id, enc, sizeof(enc), &len, NULL) || bundle_decode(&b, enc, len)) {
			held_remove(n, i); /* expired or evicted meanwhile */
			continue;
		}
		ret = node_msg_content(n, &b, content, sizeof(content), &clen);
		sodium_memzero(content, clen < sizeof(content) ? clen : sizeof(content));
		if (ret == MU_E_NOTFOUND || ret == MU_E_UNTRUSTED) {
			i++; /* this wrap was not for the user, or not the sender's */
			continue;
		}
		held_remove(n, i);
		if (ret)
			continue; /* altered: never opens */
		/* Now readable: as if it had just arrived. */
		memcpy(msg.id, h.id, BUNDLE_ID_BYTES);
		msg.created = b.created;
		msg.prio = b.prio;
		node_deliver_notice(n, h.id);
		receipts_stored(n, &msg);
	}
}

/* ---- open / close ---- */

static int scan_own(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES])
{
	static uint8_t enc[BUNDLE_ENC_MAX];
	struct node *n = ctx;
	const uint8_t (*ids)[BUNDLE_ID_BYTES];
	struct store_info info;
	struct bundle b;
	size_t len, nids;
	uint8_t type;

	(void)created;
	if (store_peek(n->store, id, &info))
		return 0;
	/* Channel messages still waiting for their key: a restart loses none. */
	if (info.kind == BK_MESSAGE && info.expires > mu_now_ms()) {
		if (!store_get(n->store, id, enc, sizeof(enc), &len, NULL) && !bundle_decode(&b, enc, len))
			hold_if_waiting(n, &b);
		return 0;
	}
	if (info.kind != BK_RECEIPT || !(info.meta.flags & STORE_F_LOCAL))
		return 0;
	if (store_get(n->store, id, enc, sizeof(enc), &len, NULL) || bundle_decode(&b, enc, len) ||
	    memcmp(b.sender, identity_sign_pk(n->user), MU_KEY_BYTES) ||
	    receipt_decode(b.payload, b.payload_len, &type, &ids, &nids))
		return 0;
	if (type == RECEIPT_READ || type == RECEIPT_ACK)
		for (size_t i = 0; i < nids; i++)
			if (done_add(n->receipts, type, ids[i], b.created, b.expires))
				return -ENOMEM;
	return 0;
}

/* The NOTE_STATE of this user, NOTES_NONE if there is none (or it is of
 * another layout). */
static int notes_state(struct node *n, uint8_t *state)
{
	uint8_t d[STORE_NOTE_DATA_MAX];
	struct rd rd;
	uint8_t version = 0;
	size_t len = 0;
	int ret;

	*state = NOTES_NONE;
	ret = store_note_get(n->store, NOTE_STATE, identity_sign_pk(n->user), NULL, d, sizeof(d), &len);
	if (ret == MU_E_NOTFOUND)
		return 0;
	if (ret)
		return ret;
	rd = rd_make(d, len);
	if (rd_u8(&rd, &version) || rd_u8(&rd, state) || rd_end(&rd) || version != NOTES_VERSION)
		*state = NOTES_NONE;
	return 0;
}

static int notes_state_put(struct node *n, struct store_txn *t, uint8_t state)
{
	uint8_t d[2] = { NOTES_VERSION, state };

	return store_note_put(t, NOTE_STATE, identity_sign_pk(n->user), STORE_NOTE_KEEP, d, sizeof(d));
}

struct done_load {
	struct node *n;
	uint8_t type;
};

static int load_done(void *ctx, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t expires, const uint8_t *data,
		     size_t len)
{
	struct done_load *w = ctx;
	struct rd rd = rd_make(data, len);
	uint64_t at;

	if (rd_u64(&rd, &at) || rd_end(&rd)) {
		receipts_note(w->n, w->type == RECEIPT_ACK ? NOTE_ACK : NOTE_READ, id, true, 0, NULL, 0);
		return 0;
	}
	if (expires <= mu_now_ms())
		return 0; /* its message is gone too; the purge deletes the note */
	/* Notes come in id order: each is appended. */
	return done_add(w->n->receipts, w->type, id, at, expires);
}

static int load_held(void *ctx, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t expires, const uint8_t *data,
		     size_t len)
{
	struct node *n = ctx;
	struct receipts *rc = n->receipts;
	struct rd rd = rd_make(data, len);
	struct rcpt_held h = { .expires = expires };
	struct store_info info;
	int ret = MU_E_NOTFOUND;

	memcpy(h.id, id, BUNDLE_ID_BYTES);
	if (!rd_bytes(&rd, h.chan, CHANNEL_ID_BYTES) && !rd_u32(&rd, &h.epoch) && !rd_end(&rd) &&
	    expires > mu_now_ms())
		ret = store_peek(n->store, id, &info); /* still held? */
	if (ret == MU_E_NOTFOUND) {
		receipts_note(n, NOTE_HELD, id, true, 0, NULL, 0);
		return 0;
	}
	if (ret || rc->nheld == RECEIPTS_HELD_MAX)
		return ret;
	rc->held[rc->nheld++] = h;
	return 0;
}

/* Memory from the notes of a clean stop: done, then held, then alerts
 * (which skip what an ack note covers). */
static int notes_load(struct node *n)
{
	struct done_load w = { .n = n, .type = RECEIPT_READ };
	int ret;

	/* done is sorted by type first: READ (2) before ACK (3) keeps every
	 * add an append. */
	ret = store_note_scan(n->store, NOTE_READ, load_done, &w);
	w.type = RECEIPT_ACK;
	if (!ret)
		ret = store_note_scan(n->store, NOTE_ACK, load_done, &w);
	if (!ret)
		ret = store_note_scan(n->store, NOTE_HELD, load_held, n);
	if (!ret)
		ret = alerts_load(n);
	return ret;
}

/* Memory from a walk of the store (what every start did before the
 * notes), then every note written anew. */
static int notes_walk(struct node *n)
{
	int ret = store_scan_time(n->store, 0, NULL, scan_own, n);

	if (!ret)
		ret = alerts_walk(n);
	return ret;
}

static void notes_queue_all(struct node *n)
{
	struct receipts *rc = n->receipts;

	for (size_t i = 0; i < rc->ndone; i++)
		note_done(n, rc->done[i].type, &rc->done[i]);
	for (size_t i = 0; i < rc->nheld; i++)
		held_note(n, &rc->held[i]);
	alerts_note_all(n);
}

/* One write: (after a walk) the old notes out and the new ones in, and
 * NOTES_OPEN, so that a crash from here on makes the next start walk. */
static int notes_commit_open(struct node *n, bool rebuilt)
{
	static const uint8_t kinds[] = { NOTE_STATE, NOTE_READ, NOTE_ACK, NOTE_ALERT, NOTE_HELD };
	struct store_txn *t = NULL;
	int ret = store_write_begin(n->store, &t);

	for (size_t i = 0; !ret && rebuilt && i < sizeof(kinds); i++)
		ret = store_note_clear(t, kinds[i], NULL);
	if (!ret)
		ret = notes_write(n, t, 0);
	if (!ret)
		ret = notes_state_put(n, t, NOTES_OPEN);
	if (ret) {
		store_write_abort(t);
		return ret;
	}
	return store_write_commit(t);
}

static int notes_open(struct node *n)
{
	struct receipts *rc = n->receipts;
	uint8_t state;
	int ret;

	rc->notes_on = true;
	ret = notes_state(n, &state);
	if (ret)
		return ret;
	rc->loading = true;
	ret = state == NOTES_CLEAN ? notes_load(n) : notes_walk(n);
	rc->loading = false;
	if (ret)
		return ret;
	if (state != NOTES_CLEAN) {
		log_info(SUB_MAIN, "receipt and alert notes %s: walked the store once",
			 state == NOTES_OPEN ? "not closed cleanly" : "absent");
		notes_queue_all(n);
	}
	ret = notes_commit_open(n, state != NOTES_CLEAN);
	if (!ret)
		return 0;
	/* The store takes no write (its map is full, or it failed): a node
	 * at a scene must still start. Memory is right (from the notes of a
	 * clean stop, or from the walk); this run writes no notes, and a
	 * clean mark left from before stays, which is only stale if this run
	 * changes the store — which a store that takes no write hardly can. */
	log_err(SUB_STORE, "receipt and alert notes cannot be written (%s): this run keeps none", mu_strerror(ret));
	rc->notes_on = false;
	rc->nops = 0;
	return 0;
}

static int count_note(void *ctx, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t expires, const uint8_t *data,
		      size_t len)
{
	(void)id, (void)expires, (void)data, (void)len;
	(*(size_t *)ctx)++;
	return 0;
}

/* A start without a user: arrivals are not noted while it runs, so
 * the notes of a user who ran before are no longer complete. */
static int notes_forget(struct node *n)
{
	struct store_txn *t = NULL;
	size_t states = 0;
	int ret = store_note_scan(n->store, NOTE_STATE, count_note, &states);

	if (ret || !states)
		return ret;
	ret = store_write_begin(n->store, &t);
	if (ret)
		return ret;
	ret = store_note_clear(t, NOTE_STATE, NULL);
	if (ret) {
		store_write_abort(t);
		return ret;
	}
	return store_write_commit(t);
}

int receipts_open(struct node *n)
{
	struct receipts *rc = calloc(1, sizeof(*rc));
	int read_on = 1, delivered_on = 1, ret;

	if (!rc)
		return -ENOMEM;
	n->receipts = rc;
	if (config_bool(n->cfg, "messaging", "read_receipts", 1, &read_on) ||
	    config_bool(n->cfg, "messaging", "delivery_receipts", 1, &delivered_on))
		return MU_E_CONFIG;
	rc->read_on = read_on;
	rc->delivered_on = delivered_on;
	if (!(rc->pend = calloc(RECEIPTS_PENDING_MAX, sizeof(*rc->pend))) ||
	    !(rc->held = calloc(RECEIPTS_HELD_MAX, sizeof(*rc->held))))
		return -ENOMEM;
	ret = loop_timer_new(n->loop, &rc->flush_timer, flush_tick, n);
	if (!ret)
		ret = alerts_open(n);
	if (!ret)
		ret = n->user ? notes_open(n) : notes_forget(n);
	if (!ret && rc->nheld)
		log_info(SUB_MAIN, "%zu channel message%s wait for a key-wrap", rc->nheld, rc->nheld == 1 ? "" : "s");
	return ret;
}

/* After a clean stop the next start may trust the notes. */
static void notes_close(struct node *n)
{
	struct receipts *rc = n->receipts;
	struct store_txn *t = NULL;
	int ret;

	if (!rc->notes_on)
		return;
	notes_flush(n);
	if (rc->notes_bad || n->txn)
		return;
	ret = store_write_begin(n->store, &t);
	if (!ret && (ret = notes_state_put(n, t, NOTES_CLEAN)))
		store_write_abort(t);
	else if (!ret)
		ret = store_write_commit(t);
	if (ret)
		log_warn(SUB_STORE, "receipt and alert notes not closed (%s): the next start walks the store",
			 mu_strerror(ret));
}

void receipts_close(struct node *n)
{
	struct receipts *rc = n->receipts;

	if (!rc)
		return;
	/* Messages of the last turn still get their delivered receipts. */
	if (n->store && n->user) {
		node_commit(n);
		if (rc->npend)
			flush(n);
		node_commit(n);
		notes_close(n);
	}
	alerts_close(n);
	loop_timer_free(rc->flush_timer);
	free(rc->pend);
	free(rc->done);
	free(rc->held);
	free(rc->ops);
	free(rc);
	n->receipts = NULL;
}
