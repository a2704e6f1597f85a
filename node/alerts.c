/* Alerts for this node's user that wait for `muster ack`: each is re-alerted
 * locally every [messaging] realert_interval_ms (the notify hook runs again
 * and the log says who and for how long, never what) until it is
 * acknowledged or expires.
 *
 * The list lives in memory and in the store's notes (receipts.c "Notes"):
 * one NOTE_ALERT per outstanding alert (sender, destination type, since),
 * put when the alert is added and deleted when it is acknowledged, dropped
 * or expires, so a start reads them (alerts_load) instead of walking the
 * store. A note whose message has expired, been acknowledged, or lost its
 * content since (custody, quota) is dropped at load, with its note. Where
 * the notes are not complete (a store older than them, a stop that was not
 * clean) receipts.c walks instead (alerts_walk): the immediate messages
 * held for the user, keeping the alerts among them the user has not
 * acknowledged. Either way a restart loses none. */
#include <errno.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "config.h"
#include "control_util.h"
#include "err.h"
#include "hex.h"
#include "incident.h"
#include "log.h"
#include "node_int.h"
#include "receipt.h"
#include "wire.h"

#define REALERT_INTERVAL_MS_DEFAULT 60000
#define REALERT_INTERVAL_MS_MIN 100
#define REALERT_INTERVAL_MS_MAX 3600000
#define ALERTS_MAX 4096 /* outstanding at once; beyond it the oldest is no longer re-alerted */
#define ALERT_NOTE_BYTES (MU_KEY_BYTES + 1 + 8) /* NOTE_ALERT data: sender, dest_type, since */

struct alert_out {
	uint8_t id[BUNDLE_ID_BYTES];
	uint8_t sender[MU_KEY_BYTES];
	uint8_t dest_type;
	uint64_t since;   /* Unix ms when stored here */
	uint64_t expires; /* Unix ms */
	uint64_t due;     /* monotonic ms of the next re-alert */
};

struct alerts {
	struct alert_out *v;
	size_t n;
	uint64_t interval_ms;
	struct loop_timer *timer;
};

static void rearm(struct alerts *a)
{
	uint64_t now = loop_now_mono_ms(), next = UINT64_MAX;

	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].due < next)
			next = a->v[i].due;
	if (next == UINT64_MAX)
		loop_timer_disarm(a->timer);
	else
		loop_timer_arm(a->timer, next > now ? next - now : 0);
}

static void note_put(struct node *n, const struct alert_out *al)
{
	uint8_t d[ALERT_NOTE_BYTES];
	struct wr wr = wr_make(d, sizeof(d));

	wr_bytes(&wr, al->sender, MU_KEY_BYTES);
	wr_u8(&wr, al->dest_type);
	wr_u64(&wr, al->since);
	if (wr_finish(&wr) == (int)sizeof(d))
		receipts_note(n, NOTE_ALERT, al->id, false, al->expires, d, sizeof(d));
}

/* Forgets alert i, and its note. */
static void remove_at(struct node *n, size_t i)
{
	struct alerts *a = n->alerts;

	receipts_note(n, NOTE_ALERT, a->v[i].id, true, 0, NULL, 0);
	a->v[i] = a->v[--a->n];
}

/* The notify hook again, as for a new message plus MUSTER_ALERT and how
 * long it has waited: no content. */
static void renotify(struct node *n, const struct alert_out *al, const char *from, uint64_t secs)
{
	char sender[160], dest[48], wait[48];
	char *argv[] = { n->notify_cmd, NULL };
	char *envp[] = { sender, "MUSTER_PRIORITY=immediate", dest, "MUSTER_ALERT=unacknowledged", wait,
			 "PATH=/usr/bin:/bin", NULL };
	pid_t pid;
	int ret;

	snprintf(sender, sizeof(sender), "MUSTER_SENDER=%s", from);
	snprintf(dest, sizeof(dest), "MUSTER_DEST=%s", dest_type_name(al->dest_type));
	snprintf(wait, sizeof(wait), "MUSTER_UNACKED_S=%" PRIu64, secs);
	ret = posix_spawn(&pid, n->notify_cmd, NULL, NULL, argv, envp);
	if (ret)
		log_warn(SUB_MAIN, "notify_command %s: %s", n->notify_cmd, strerror(ret));
}

static void realert_tick(void *user)
{
	struct node *n = user;
	struct alerts *a = n->alerts;
	uint64_t now = mu_now_ms(), mono = loop_now_mono_ms();
	char from[128];

	for (size_t i = 0; i < a->n;) {
		struct alert_out *al = &a->v[i];
		uint64_t secs;

		if (al->expires <= now) {
			remove_at(n, i);
			continue;
		}
		if (al->due <= mono) {
			secs = now > al->since ? (now - al->since) / 1000 : 0;
			control_who(n, al->sender, from, sizeof(from));
			log_warn(SUB_MAIN, "alert from %s unacknowledged for %" PRIu64 " s", from, secs);
			if (n->notify_cmd)
				renotify(n, al, from, secs);
			al->due = mono + a->interval_ms;
		}
		i++;
	}
	rearm(a);
}

void alerts_add(struct node *n, const struct bundle *msg, uint64_t received)
{
	struct alerts *a = n->alerts;
	struct alert_out *al;

	if (!a || receipts_sent_at(n, RECEIPT_ACK, msg->id, NULL))
		return;
	for (size_t i = 0; i < a->n; i++)
		if (!memcmp(a->v[i].id, msg->id, BUNDLE_ID_BYTES))
			return;
	if (a->n == ALERTS_MAX) {
		size_t old = 0;

		log_warn(SUB_MAIN, "%d alerts unacknowledged: the oldest is no longer re-alerted", ALERTS_MAX);
		for (size_t i = 1; i < a->n; i++)
			if (a->v[i].since < a->v[old].since)
				old = i;
		remove_at(n, old);
	}
	al = &a->v[a->n++];
	memcpy(al->id, msg->id, BUNDLE_ID_BYTES);
	memcpy(al->sender, msg->sender, MU_KEY_BYTES);
	al->dest_type = msg->dest_type;
	al->since = received;
	al->expires = msg->expires;
	al->due = loop_now_mono_ms() + a->interval_ms;
	note_put(n, al);
	rearm(a);
}

void alerts_acked(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES])
{
	struct alerts *a = n->alerts;

	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		if (!memcmp(a->v[i].id, id, BUNDLE_ID_BYTES)) {
			remove_at(n, i);
			break;
		}
	rearm(a);
}

int alerts_find(struct node *n, const char *hex, uint8_t id[static BUNDLE_ID_BYTES])
{
	struct alerts *a = n->alerts;
	size_t len = strlen(hex), found = 0;
	char h[2 * BUNDLE_ID_BYTES + 1];

	if (len == 2 * BUNDLE_ID_BYTES)
		return hex_decode(id, BUNDLE_ID_BYTES, hex) ? MU_E_FORMAT : 0;
	if (len < 8 || len > 2 * BUNDLE_ID_BYTES)
		return MU_E_FORMAT;
	for (size_t i = 0; a && i < a->n; i++) {
		hex_encode(h, a->v[i].id, BUNDLE_ID_BYTES);
		if (!strncasecmp(h, hex, len)) {
			memcpy(id, a->v[i].id, BUNDLE_ID_BYTES);
			found++;
		}
	}
	return found == 1 ? 0 : found ? -EEXIST : MU_E_NOTFOUND;
}

void alerts_each(struct node *n, alerts_fn fn, void *ctx)
{
	struct alerts *a = n->alerts;

	for (size_t i = 0; a && i < a->n; i++)
		fn(ctx, a->v[i].id, a->v[i].sender, a->v[i].since);
}

void alerts_receipt(struct node *n, const struct bundle *b)
{
	const uint8_t (*ids)[BUNDLE_ID_BYTES];
	char from[128], h[13];
	size_t nids;
	uint8_t type;

	if (b->dest_type != DEST_PERSON || memcmp(b->dest, identity_sign_pk(n->user), MU_KEY_BYTES) ||
	    receipt_decode(b->payload, b->payload_len, &type, &ids, &nids) || type != RECEIPT_ACK)
		return;
	control_who(n, b->sender, from, sizeof(from));
	for (size_t i = 0; i < nids; i++) {
		hex_encode(h, ids[i], 6);
		log_info(SUB_MAIN, "alert %s acknowledged by %s", h, from);
	}
}

/* ---- open / close ---- */

static int scan_alerts(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES])
{
	static uint8_t enc[BUNDLE_ENC_MAX], content[BUNDLE_PAYLOAD_MAX];
	struct node *n = ctx;
	struct store_info info;
	struct store_meta meta;
	struct bundle b;
	size_t len, clen;

	(void)created;
	/* Alerts are always immediate: nothing else needs decrypting. */
	if (store_peek(n->store, id, &info) || info.kind != BK_MESSAGE || info.prio != PRIO_IMMEDIATE ||
	    info.expires <= mu_now_ms())
		return 0;
	if (store_get(n->store, id, enc, sizeof(enc), &len, &meta) || bundle_decode(&b, enc, len) ||
	    !memcmp(b.sender, identity_sign_pk(n->user), MU_KEY_BYTES) || !node_msg_for_user(n, &b) ||
	    node_msg_content(n, &b, content, sizeof(content), &clen) || content[0] != CONTENT_ALERT)
		return 0;
	alerts_add(n, &b, meta.received);
	return 0;
}

int alerts_open(struct node *n)
{
	struct alerts *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	n->alerts = a;
	if (config_u64(n->cfg, "messaging", "realert_interval_ms", REALERT_INTERVAL_MS_DEFAULT,
		       REALERT_INTERVAL_MS_MIN, REALERT_INTERVAL_MS_MAX, &a->interval_ms))
		return MU_E_CONFIG;
	if (!(a->v = calloc(ALERTS_MAX, sizeof(*a->v))))
		return -ENOMEM;
	return loop_timer_new(n->loop, &a->timer, realert_tick, n);
}

static void log_outstanding(const struct alerts *a)
{
	if (a->n)
		log_warn(SUB_MAIN, "%zu alert%s unacknowledged", a->n, a->n == 1 ? "" : "s");
}

int alerts_walk(struct node *n)
{
	int ret = store_scan_time(n->store, 0, NULL, scan_alerts, n);

	if (!ret)
		log_outstanding(n->alerts);
	return ret;
}

/* One NOTE_ALERT at start. Runs after the ack notes are loaded, so an
 * alert acknowledged before the stop is not taken up again. */
static int load_one(void *ctx, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t expires, const uint8_t *data,
		    size_t len)
{
	struct node *n = ctx;
	struct alerts *a = n->alerts;
	struct rd rd = rd_make(data, len);
	struct store_info info;
	struct alert_out al = { .expires = expires };
	int ret;

	if (rd_bytes(&rd, al.sender, MU_KEY_BYTES) || rd_u8(&rd, &al.dest_type) || rd_u64(&rd, &al.since) ||
	    rd_end(&rd) || expires <= mu_now_ms() || receipts_sent_at(n, RECEIPT_ACK, id, NULL))
		ret = MU_E_NOTFOUND;
	else
		ret = store_peek(n->store, id, &info); /* its content still held? */
	if (ret == MU_E_NOTFOUND) {
		receipts_note(n, NOTE_ALERT, id, true, 0, NULL, 0);
		return 0;
	}
	if (ret)
		return ret;
	if (a->n == ALERTS_MAX)
		return 0; /* the notes never hold more; a damaged store might */
	memcpy(al.id, id, BUNDLE_ID_BYTES);
	al.due = loop_now_mono_ms() + a->interval_ms;
	a->v[a->n++] = al;
	return 0;
}

int alerts_load(struct node *n)
{
	int ret = store_note_scan(n->store, NOTE_ALERT, load_one, n);

	if (!ret) {
		rearm(n->alerts);
		log_outstanding(n->alerts);
	}
	return ret;
}

void alerts_note_all(struct node *n)
{
	struct alerts *a = n->alerts;

	for (size_t i = 0; a && i < a->n; i++)
		note_put(n, &a->v[i]);
}

void alerts_close(struct node *n)
{
	struct alerts *a = n->alerts;

	if (!a)
		return;
	loop_timer_free(a->timer);
	free(a->v);
	free(a);
	n->alerts = NULL;
}
