/* One struct conn per open link: the session handshake, then HELLO, sync
 * rounds and bundle transfer. Everything a conn sends is a peer frame
 * (node/frames.h) inside a session frame. A conn never frees itself while
 * one of its own callbacks is running: drivers deliver link_down on a later
 * loop turn, and conn_close only asks the driver to close. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "err.h"
#include "hex.h"
#include "log.h"
#include "node_int.h"
#include "wipe.h"

/* Scratch buffers shared by every conn: the loop is single-threaded and no
 * buffer is used across a callback boundary. */
static uint8_t frame_buf[FRAME_MAX];
static uint8_t send_buf[SESSION_SEND_SPACE(FRAME_MAX)];
static uint8_t hs_buf[SESSION_HANDSHAKE_OUT + SESSION_SEND_SPACE(FRAME_MAX)];
static uint8_t bundle_buf[BUNDLE_ENC_MAX];
static uint8_t *sync_buf; /* SYNC_MSG_MAX, allocated on first use */

_Static_assert(FRAME_MAX <= SESSION_FRAME_MAX, "a peer frame must fit in one session frame");

static void sync_tick(void *user);
static void conn_deadline(void *user);
static void conn_established(struct conn *c);

static const char *key_short(const uint8_t *key, char buf[static 17])
{
	hex_encode(buf, key, 8);
	return buf;
}

const char *conn_state_name(const struct conn *c)
{
	switch (c->st) {
	case CONN_HANDSHAKE: return "handshake";
	case CONN_UP: return "up";
	case CONN_CLOSING: return "closing";
	}
	return "?";
}

struct conn *conn_find_peer(struct node *n, const uint8_t key[static MU_KEY_BYTES])
{
	for (struct conn *c = n->conns; c; c = c->next)
		if (c->st == CONN_UP && !memcmp(c->peer, key, MU_KEY_BYTES))
			return c;
	return NULL;
}

static void close_now(void *user)
{
	struct conn *c = user;

	c->lk->ops->close(c->lk);
}

static void sync_release(struct conn *c)
{
	if (!c->sync)
		return;
	sync_free(c->sync);
	c->sync = NULL;
	node_sync_ended(c->n);
}

void conn_close(struct conn *c, const char *why)
{
	char k[17];

	if (c->st == CONN_CLOSING)
		return;
	log_info(SUB_LINK, "closing link %s (peer %s): %s", c->lk->peer.text,
		 c->st == CONN_UP ? key_short(c->peer, k) : "unauthenticated", why);
	/* A sync machine that is running (its callbacks led here) is freed
	 * when it returns, by whoever called it. */
	if (!c->in_sync)
		sync_release(c);
	c->st = CONN_CLOSING;
	loop_timer_disarm(c->sync_timer);
	/* Close on the next turn so no caller up the stack sees it vanish. */
	loop_timer_free(c->timer);
	c->timer = NULL;
	if (loop_timer_new(c->n->loop, &c->timer, close_now, c) == 0)
		loop_timer_arm(c->timer, 0);
	else
		c->lk->ops->close(c->lk);
}

static int link_write(struct conn *c, const uint8_t *p, size_t n)
{
	int ret = c->lk->ops->send(c->lk, p, n);

	if (ret) {
		conn_close(c, mu_strerror(ret));
		return ret;
	}
	return 0;
}

static int send_frame(struct conn *c, const uint8_t *frame, size_t len)
{
	struct wr out = wr_make(send_buf, sizeof(send_buf));
	int ret;

	if (c->st != CONN_UP)
		return -ENOTCONN;
	/* Inside session_recv the session may have written records (its
	 * last handshake message) that must reach the wire before ours. */
	if (c->rx_out && c->rx_out->len) {
		ret = link_write(c, c->rx_out->p, c->rx_out->len);
		c->rx_out->len = 0;
		if (ret)
			return ret;
	}
	ret = session_send(c->sess, frame, len, &out);
	if (ret) {
		conn_close(c, mu_strerror(ret));
		return ret;
	}
	return link_write(c, send_buf, out.len);
}

static int send_wr(struct conn *c, struct wr *fw)
{
	int len = wr_finish(fw);

	if (len < 0) {
		log_err(SUB_LINK, "frame encoding failed: %s", mu_strerror(len));
		return len;
	}
	return send_frame(c, fw->p, (size_t)len);
}

int conn_send_wr(struct conn *c, struct wr *fw)
{
	return send_wr(c, fw);
}

static void send_hello(struct conn *c)
{
	struct store_stat st = { 0 };
	struct wr fw = wr_make(frame_buf, sizeof(frame_buf));

	store_stat(c->n->store, &st);
	frame_hello(&fw, c->n->role, st.count);
	send_wr(c, &fw);
}

/* ---- outbound bundles ---- */

static void conn_pump(struct conn *c)
{
	struct outq_item it;
	uint64_t now = mu_now_ms();
	/* A slow link asks for less queued (struct link.pump_high_water), so
	 * an immediate bundle waits behind one bundle frame at most. */
	size_t high = c->lk->pump_high_water ? c->lk->pump_high_water : PUMP_HIGH_WATER;

	while (c->st == CONN_UP && c->lk->ops->queued(c->lk) < high && outq_pop(&c->oq, &it) == 0) {
		struct store_meta meta;
		struct bundle b;
		struct wr fw;
		size_t len;

		if (store_get(c->n->store, it.id, bundle_buf, sizeof(bundle_buf), &len, &meta))
			continue; /* expired or evicted since it was queued */
		if (bundle_decode(&b, bundle_buf, len))
			continue;
		/* The receiver would refuse it: it has used its hops or its time. */
		if (meta.hops >= b.hop_limit || b.expires <= now)
			continue;
		/* Queued before the peer's REFUSED for it came in. */
		if (refused_skip(c->refused, it.id, &c->n->refused_retry, loop_now_mono_ms()))
			continue;
		fw = wr_make(frame_buf, sizeof(frame_buf));
		frame_bundle(&fw, (uint8_t)(meta.hops + 1), bundle_buf, len);
		if (send_wr(c, &fw))
			return;
		c->bundles_out++;
		/* No memory to remember it: at worst it is sent twice. */
		(void)refused_sent_note(&c->inflight, it.id, loop_now_mono_ms());
	}
}

void conn_offer(struct conn *c, const uint8_t id[static BUNDLE_ID_BYTES])
{
	struct store_info info;
	struct outq_item it;

	if (c->st != CONN_UP || store_peek(c->n->store, id, &info))
		return;
	/* The peer told us it will not take it (yet): a REFUSED frame. */
	if (refused_skip(c->refused, id, &c->n->refused_retry, loop_now_mono_ms()))
		return;
	/* Sent lately and still on its way: the round that offers it again
	 * started before it arrived (node_int.h, INFLIGHT_TIMEOUTS). */
	if (refused_in_flight(c->inflight, id, loop_now_mono_ms(), INFLIGHT_TIMEOUTS * c->n->sync_timeout_ms))
		return;
	/* Credentials and revocations go before everything: they are tiny,
	 * and a message is only admitted once its sender's credential is. */
	it.prio = info.kind == BK_CREDENTIAL || info.kind == BK_REVOCATION ? 0 : (uint8_t)(info.prio + 1);
	it.len = (uint32_t)info.len;
	it.created = info.created;
	memcpy(it.id, id, BUNDLE_ID_BYTES);
	/* Once per filling, not per bundle: a sync round that finds a large
	 * difference offers every bundle of it, and a line for each refused
	 * one would be megabytes of log. */
	if (outq_push(&c->oq, &it)) {
		if (!c->oq_full_logged)
			log_warn(SUB_LINK, "send queue for %s full (%d bundles); the next sync offers the rest",
				 c->lk->peer.text, OUTQ_MAX);
		c->oq_full_logged = true;
	} else if (c->oq.n < OUTQ_MAX / 2) {
		c->oq_full_logged = false;
	}
	conn_pump(c);
}

void conn_link_drained(struct node *n, struct link *lk)
{
	struct conn *c = lk->core_data;

	(void)n;
	if (c)
		conn_pump(c);
}

/* ---- sync ---- */

static void on_have_missing(void *user, uint64_t created, const uint8_t id[static KEYSET_ID_BYTES])
{
	/* The peer offers what we lack (it learns the same difference). */
	(void)user;
	(void)created;
	(void)id;
}

static void on_peer_missing(void *user, uint64_t created, const uint8_t id[static KEYSET_ID_BYTES])
{
	(void)created;
	conn_offer(user, id);
}

static const struct sync_cb sync_callbacks = {
	.have_missing = on_have_missing,
	.peer_missing = on_peer_missing,
};

static void sync_finish(struct conn *c, int err)
{
	struct sync_stats st;
	char k[17];

	sync_get_stats(c->sync, &st);
	if (err)
		log_info(SUB_SYNC, "sync with %s abandoned: %s", key_short(c->peer, k), mu_strerror(err));
	else
		log_debug(SUB_SYNC, "sync with %s done: %llu+%llu bytes, %llu messages%s", key_short(c->peer, k),
			  (unsigned long long)st.bytes_sent, (unsigned long long)st.bytes_recv,
			  (unsigned long long)(st.msgs_sent + st.msgs_recv), st.fallback ? ", key lists" : "");
	sync_free(c->sync);
	c->sync = NULL;
	loop_timer_disarm(c->timer);
	node_sync_ended(c->n);
	if (!err) {
		c->syncs_done++;
		c->last_sync_ms = mu_now_ms();
	}
	if (c->st == CONN_UP) {
		bool again = c->sync_again;

		c->sync_again = false;
		c->poke_pending = false;
		/* Something arrived during the round: another round soon (or,
		 * on the responder's side, a poke asking for one). A failed
		 * round backs off a little; otherwise the periodic round. */
		if (c->sync_initiator)
			loop_timer_arm(c->sync_timer, err ? SYNC_RETRY_MS : again ? SYNC_DEBOUNCE_MS
								       : c->n->sync_interval_ms);
		else if (again)
			send_hello(c);
		/* Keys stored during the round joined the keyset just now. */
		uplink_poke(c);
	}
	conn_pump(c);
}

/* Sends every message the sync machine has for us now, fragmented. */
static void sync_continue(struct conn *c)
{
	while (c->sync && c->st == CONN_UP && sync_want_send(c->sync)) {
		struct wr mw = wr_make(sync_buf, SYNC_MSG_MAX);
		size_t off = 0;
		int ret;

		c->in_sync++;
		ret = sync_build_message(c->sync, &mw);
		c->in_sync--;
		if (c->st == CONN_CLOSING) {
			sync_release(c);
			return;
		}
		if (ret) {
			sync_finish(c, ret);
			return;
		}
		do {
			size_t chunk = mw.len - off > FRAME_SYNC_CHUNK ? FRAME_SYNC_CHUNK : mw.len - off;
			struct wr fw = wr_make(frame_buf, sizeof(frame_buf));

			frame_sync(&fw, off + chunk < mw.len, sync_buf + off, chunk);
			if (send_wr(c, &fw))
				return;
			off += chunk;
		} while (off < mw.len);
	}
	if (c->sync && sync_done(c->sync))
		sync_finish(c, 0);
}

static int sync_begin(struct conn *c, enum sync_role role)
{
	int ret;

	if (!sync_buf && !(sync_buf = malloc(SYNC_MSG_MAX)))
		return -ENOMEM;
	node_sync_started(c->n); /* freeze the keyset before the machine reads it */
	/* An uplink reconciles credentials and revocations only; the rest
	 * goes up by OFFER (uplink.c). Both ends decide alike: each has the
	 * other's HELLO before the first sync message. */
	ret = sync_new(&c->sync, conn_is_uplink(c) ? c->n->keys_ctl : c->n->keys, role, &sync_callbacks, c);
	if (ret) {
		node_sync_ended(c->n);
		return ret;
	}
	loop_timer_arm(c->timer, c->n->sync_timeout_ms);
	return 0;
}

static void sync_tick(void *user)
{
	struct conn *c = user;

	c->poke_pending = false;
	if (c->st != CONN_UP)
		return;
	if (!c->sync_initiator) {
		if (c->sync)
			c->sync_again = true; /* poke when this round ends */
		else
			send_hello(c); /* a poke: "I have something new" */
		return;
	}
	if (c->sync) {
		c->sync_again = true;
		return;
	}
	if (sync_begin(c, SYNC_INITIATOR)) {
		loop_timer_arm(c->sync_timer, c->n->sync_interval_ms);
		return;
	}
	sync_continue(c);
}

void conn_poke(struct conn *c)
{
	if (c->st != CONN_UP)
		return;
	if (c->sync) {
		c->sync_again = true;
		return;
	}
	/* Debounce a burst of arrivals into one round: the first poke arms
	 * the timer, later ones ride on it, so a steady stream of arrivals
	 * cannot keep postponing the round. */
	if (!c->poke_pending) {
		c->poke_pending = true;
		loop_timer_arm(c->sync_timer, SYNC_DEBOUNCE_MS);
	}
}

/* Runs the machine on one message. Its callbacks may close the conn (a send
 * fails); then the machine is released here, after it has returned, and
 * c->sync is NULL. */
static int sync_recv_guarded(struct conn *c, const uint8_t *msg, size_t len)
{
	int ret;

	c->in_sync++;
	ret = sync_recv_message(c->sync, msg, len);
	c->in_sync--;
	if (c->st == CONN_CLOSING)
		sync_release(c);
	return ret;
}

static void on_sync_message(struct conn *c, const uint8_t *msg, size_t len)
{
	int ret;

	if (!c->sync) {
		if (c->sync_initiator)
			return; /* a late reply to a session we abandoned */
		ret = sync_begin(c, SYNC_RESPONDER);
		if (ret) {
			log_err(SUB_SYNC, "cannot start sync: %s", mu_strerror(ret));
			return;
		}
	}
	ret = sync_recv_guarded(c, msg, len);
	if (!c->sync)
		return; /* the conn closed under the machine's callbacks */
	if (ret == MU_E_MISMATCH && !sync_error(c->sync)) {
		if (c->sync_initiator)
			return; /* a stale reply: dropped */
		/* Only the initiator starts rounds, so a message from another
		 * round means it gave up on ours: follow it at once rather than
		 * wait for our own timeout. */
		sync_finish(c, -ECANCELED);
		ret = sync_begin(c, SYNC_RESPONDER);
		if (!ret)
			ret = sync_recv_guarded(c, msg, len);
		if (!c->sync)
			return;
		if (ret) {
			if (c->sync)
				sync_finish(c, ret);
			return;
		}
	}
	if (ret) {
		sync_finish(c, ret);
		return;
	}
	sync_continue(c);
}

/* ---- frames ---- */

/* Sends this turn's refusals in one REFUSED frame (conn_link_data calls
 * it after each read, on_bundle when the frame is full). */
static void refuse_flush(struct conn *c)
{
	struct wr fw = wr_make(frame_buf, sizeof(frame_buf));
	uint16_t n = c->refuse_n;

	if (!n)
		return;
	c->refuse_n = 0;
	frame_refused(&fw, c->refuse_out, n);
	if (send_wr(c, &fw) == 0)
		c->refused_to_peer += n;
}

/* Tells the peer, at the end of this turn, that we did not store id: it
 * stops offering it (refused.c). A refusal that cannot be queued (no
 * memory) is only a re-send more. */
static void refuse_later(struct conn *c, const uint8_t *enc, size_t len, uint8_t reason)
{
	struct bundle b;
	uint8_t *e;

	if (bundle_decode(&b, enc, len))
		return; /* no id to name: only a misbehaving peer sends it */
	if (!c->refuse_out && !(c->refuse_out = malloc((size_t)FRAME_IDS_MAX * FRAME_REFUSAL_BYTES)))
		return;
	e = c->refuse_out + (size_t)c->refuse_n++ * FRAME_REFUSAL_BYTES;
	memcpy(e, b.id, BUNDLE_ID_BYTES);
	e[BUNDLE_ID_BYTES] = reason;
	if (c->refuse_n == FRAME_IDS_MAX)
		refuse_flush(c);
}

static void on_refused(struct conn *c, const struct frame *f)
{
	uint64_t now = loop_now_mono_ms();
	char k[17];

	for (uint16_t i = 0; i < f->u.refused.count; i++) {
		const uint8_t *e = f->u.refused.entries + (size_t)i * FRAME_REFUSAL_BYTES;

		c->refused_by_peer++;
		/* Only ids we hold: a peer cannot fill our memory with others. */
		if (store_has(c->n->store, e) == 1 && refused_note(&c->refused, e, e[BUNDLE_ID_BYTES], now)) {
			log_warn(SUB_LINK, "out of memory for refusals from %s", key_short(c->peer, k));
			return;
		}
	}
	log_debug(SUB_LINK, "%s refused %u bundles (%zu remembered)", key_short(c->peer, k),
		  (unsigned)f->u.refused.count, refused_count(c->refused));
}

static void on_bundle(struct conn *c, const struct frame *f)
{
	int ret = node_ingest(c->n, f->u.bundle.enc, f->u.bundle.len, f->u.bundle.hops, c);
	int reason = refused_reason(ret);
	char k[17];

	if (ret == 0) {
		c->bundles_in++;
		return;
	}
	if (reason)
		refuse_later(c, f->u.bundle.enc, f->u.bundle.len, (uint8_t)reason);
	if (ret == MU_E_NOCRED) {
		/* Its sender's credential is still on its way: look again soon. */
		c->sync_again = true;
		conn_poke(c);
	}
	/* Rate-limited refusals are logged once per sender per interval by
	 * the limiter; a line per bundle would itself be a flood. */
	if (ret != MU_E_EXISTS && ret != MU_E_RATE)
		log_info(SUB_BUNDLE, "bundle from %s refused: %s", key_short(c->peer, k), mu_strerror(ret));
}

static void on_ids(struct conn *c, const struct frame *f)
{
	uint8_t gone[FRAME_IDS_MAX * BUNDLE_ID_BYTES];
	uint16_t ngone = 0;
	struct store_info info;

	/* GONE needs no answer: the id stays in our keyset or theirs, and
	 * nothing re-asks for an id on its own (sync offers, it never asks). */
	if (f->type == FRAME_GONE)
		return;
	for (uint16_t i = 0; i < f->u.ids.count; i++) {
		const uint8_t *id = f->u.ids.ids + (size_t)i * BUNDLE_ID_BYTES;

		/* A tombstone (content deleted once archived) is GONE too. */
		if (store_peek(c->n->store, id, &info) == 0)
			conn_offer(c, id);
		else
			memcpy(gone + (size_t)ngone++ * BUNDLE_ID_BYTES, id, BUNDLE_ID_BYTES);
	}
	if (ngone) {
		struct wr fw = wr_make(frame_buf, sizeof(frame_buf));

		frame_ids(&fw, FRAME_GONE, gone, ngone);
		send_wr(c, &fw);
	}
}

static int on_frame(void *user, const uint8_t *p, size_t len)
{
	struct conn *c = user;
	struct frame f;
	int ret;

	/* The first frames can arrive in the same bytes as the end of the
	 * handshake. */
	if (c->st == CONN_HANDSHAKE && session_established(c->sess))
		conn_established(c);
	if (c->st != CONN_UP)
		return 0;
	ret = frame_decode(&f, p, len);
	if (ret) {
		conn_close(c, "malformed peer frame");
		return 0;
	}
	switch ((enum frame_type)f.type) {
	case FRAME_HELLO:
		if (!c->hello_seen) {
			c->peer_role = f.u.hello.role;
			c->hello_seen = true;
			if (conn_is_uplink(c) && uplink_new(c)) {
				conn_close(c, "out of memory");
				return 0;
			}
			/* The first round waits for this HELLO: which keys a
			 * round reconciles depends on the peer's role. */
			if (c->sync_initiator)
				loop_timer_arm(c->sync_timer, 0);
			uplink_kick(c);
			break;
		}
		if (f.u.hello.role != c->peer_role) {
			conn_close(c, "peer changed its role");
			return 0;
		}
		if (c->sync_initiator)
			conn_poke(c);
		break;
	case FRAME_OFFER:
		uplink_on_offer(c, &f);
		break;
	case FRAME_TAKE:
		uplink_on_take(c, &f);
		break;
	case FRAME_SYNC:
		if (c->sync_rx_len + f.u.sync.len > SYNC_MSG_MAX) {
			conn_close(c, "sync message over its size cap");
			return 0;
		}
		if (!c->sync_rx && !(c->sync_rx = malloc(SYNC_MSG_MAX))) {
			conn_close(c, "out of memory");
			return 0;
		}
		memcpy(c->sync_rx + c->sync_rx_len, f.u.sync.p, f.u.sync.len);
		c->sync_rx_len += f.u.sync.len;
		if (!f.u.sync.more) {
			size_t n = c->sync_rx_len;

			c->sync_rx_len = 0;
			on_sync_message(c, c->sync_rx, n);
		}
		break;
	case FRAME_WANT:
	case FRAME_GONE:
		on_ids(c, &f);
		break;
	case FRAME_BUNDLE:
		on_bundle(c, &f);
		break;
	case FRAME_REFUSED:
		on_refused(c, &f);
		break;
	}
	return 0;
}

/* ---- session ---- */

/* A driver's place in link_drivers[] (preference order: tcp first). */
static size_t driver_rank(const struct link *lk)
{
	size_t i = 0;

	while (link_drivers[i] && link_drivers[i] != lk->ops)
		i++;
	return i;
}

/* Of two links to the same peer, keep the one over the better driver (the
 * earlier in link_drivers[]: Wi-Fi/IP before Bluetooth). Over the same
 * driver, keep the one the smaller key opened, so both ends choose the same
 * one without talking about it (both ends list the drivers in the same
 * order). Both opened by the same end: the opener dials again only after
 * giving up on the older link, which may be half-open here (cut without a
 * reset reaching us), so the newer one, b, wins. */
static bool conn_preferred(const struct conn *a, const struct conn *b, const uint8_t *me)
{
	const uint8_t *ia = a->inbound ? a->peer : me, *ib = b->inbound ? b->peer : me;
	size_t ra = driver_rank(a->lk), rb = driver_rank(b->lk);
	int cmp;

	if (ra != rb)
		return ra < rb;
	cmp = memcmp(ia, ib, MU_KEY_BYTES);

	if (cmp == 0)
		return false;
	return cmp < 0;
}

static void conn_established(struct conn *c)
{
	const struct cred *pc = session_peer(c->sess);
	const uint8_t *me = identity_sign_pk(c->n->id);
	struct conn *other;
	char k[17];

	c->peer_cred = *pc;
	memcpy(c->peer, pc->sign_pk, MU_KEY_BYTES);
	loop_timer_disarm(c->timer);
	if (wipe_deliver(c))
		return;
	other = conn_find_peer(c->n, c->peer);
	c->st = CONN_UP;
	c->n->stats.sessions_ok++;
	log_info(SUB_LINK, "session up with %s (%s, %s) over %s", key_short(c->peer, k), pc->subject, pc->org,
		 c->lk->peer.text);
	if (!c->inbound)
		node_peer_learned(c->n, &c->lk->peer, c->peer);
	if (other) {
		if (conn_preferred(other, c, me)) {
			conn_close(c, "duplicate link to the same peer");
			return;
		}
		conn_close(other, "duplicate link to the same peer");
	}
	c->sync_initiator = memcmp(me, c->peer, MU_KEY_BYTES) < 0;
	send_hello(c); /* the first round starts on the peer's HELLO */
}

static void conn_deadline(void *user)
{
	struct conn *c = user;

	if (c->st == CONN_HANDSHAKE) {
		conn_close(c, "handshake timed out");
		return;
	}
	if (c->sync)
		sync_finish(c, -ETIMEDOUT);
}

void conn_destroy(struct conn *c)
{
	if (c->lk)
		c->lk->core_data = NULL;
	loop_timer_free(c->timer);
	loop_timer_free(c->sync_timer);
	session_free(c->sess);
	if (c->sync) {
		sync_free(c->sync);
		node_sync_ended(c->n);
	}
	free(c->sync_rx);
	free(c->refuse_out);
	refused_free(c->refused);
	refused_free(c->inflight);
	uplink_free(c);
	outq_free(&c->oq);
	free(c);
}

void conn_link_up(struct node *n, struct link *lk, int inbound)
{
	struct session_params sp = {
		.role = inbound ? SESSION_RESPONDER : SESSION_INITIATOR,
		.me = n->id,
		.cred = n->cred_enc,
		.cred_len = n->cred_len,
		.trust = &n->trust,
		/* A revoked key with a wipe order comes up, to receive it. */
		.is_revoked = wipe_is_revoked,
		.revoked_ctx = n,
		.now_ms = mu_now_ms(),
	};
	struct conn *c = NULL;
	int ret = 0;

	if (!n->cred_enc) {
		log_warn(SUB_LINK, "link %s refused: this node has no credential yet (see docs/operations.md)",
			 lk->peer.text);
		lk->ops->close(lk);
		return;
	}
	if (n->nconns >= NODE_CONNS_MAX) {
		log_warn(SUB_LINK, "link %s refused: %u links open", lk->peer.text, n->nconns);
		lk->ops->close(lk);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		lk->ops->close(lk);
		return;
	}
	c->n = n;
	c->lk = lk;
	c->inbound = inbound;
	c->st = CONN_HANDSHAKE;
	lk->core_data = c;
	c->next = n->conns;
	n->conns = c;
	n->nconns++;
	ret = session_new(&c->sess, &sp);
	if (!ret)
		ret = loop_timer_new(n->loop, &c->timer, conn_deadline, c);
	if (!ret)
		ret = loop_timer_new(n->loop, &c->sync_timer, sync_tick, c);
	if (ret) {
		conn_close(c, mu_strerror(ret));
		return;
	}
	loop_timer_arm(c->timer, n->handshake_timeout_ms);
	if (!inbound) {
		struct wr out = wr_make(hs_buf, sizeof(hs_buf));

		ret = session_start(c->sess, &out);
		if (ret) {
			conn_close(c, mu_strerror(ret));
			return;
		}
		link_write(c, hs_buf, out.len);
	}
}

void conn_link_data(struct node *n, struct link *lk, const uint8_t *p, size_t len)
{
	struct conn *c = lk->core_data;
	struct wr out = wr_make(hs_buf, sizeof(hs_buf));
	int ret;

	(void)n;
	if (!c || c->st == CONN_CLOSING)
		return;
	c->rx_out = &out;
	ret = session_recv(c->sess, p, len, &out, on_frame, c);
	c->rx_out = NULL;
	if (out.len && c->st != CONN_CLOSING)
		link_write(c, hs_buf, out.len);
	if (!ret)
		refuse_flush(c); /* one REFUSED for all the bundles of this read */
	if (ret) {
		if (c->st == CONN_HANDSHAKE)
			n->stats.sessions_refused++;
		conn_close(c, mu_strerror(ret));
		return;
	}
	if (c->st == CONN_HANDSHAKE && session_established(c->sess))
		conn_established(c);
	if (session_peer_closed(c->sess))
		conn_close(c, "peer closed the session");
}

void conn_link_down(struct node *n, struct link *lk, int err)
{
	struct conn *c = lk->core_data, **pp;

	if (!c)
		return;
	for (pp = &n->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	n->nconns--;
	for (size_t i = 0; i < n->fresh_n; i++)
		if (n->fresh[i].from == c)
			n->fresh[i].from = NULL;
	if (err)
		log_info(SUB_LINK, "link %s down: %s", lk->peer.text, mu_strerror(err));
	lk->core_data = NULL;
	conn_destroy(c);
}
