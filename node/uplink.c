/* The uplink: a session between a field node and a hospital
 * (docs/sync.md "Uplink").
 *
 * Reconciling the two whole stores would make every reconnection cost what
 * the hospital holds (millions of bundles from every incident), not what
 * it lacks. So over an uplink the sync machine reconciles only credentials
 * and revocations (n->keys_ctl), and each side TELLS the other the keys of
 * the bundles the other may lack, in OFFER frames of up to FRAME_KEYS_MAX
 * keys, UPLINK_WINDOW of them unanswered at most. The other answers each
 * with a TAKE bitmap of the keys it lacks, and those bundles are queued.
 *
 * What each side tells:
 * - a field node: every bundle it holds with content and no custody
 *   receipt (walking its keyset), so a reconnection costs its
 *   not-yet-archived backlog: 40 bytes a key up, a bit a key down. For a
 *   key the hospital holds and has receipted already, the hospital issues a
 *   new custody receipt (the field node missed the first);
 * - a hospital: what arrived in the last relay_window_ms (at most
 *   relay_max keys, the relay ring, memory only), so scenes and hospital
 *   staff still reach each other through it without the hospital's history
 *   flowing down. Credentials, revocations and its own custody receipts it
 *   sends as soon as they are stored (ingest.c route()).
 *
 * A side tells each key once per session (the told set, which also holds
 * keys found not worth telling and keys the peer told us), and a field
 * node tells everything again every UPLINK_RETELL_MS, so a bundle the
 * hospital refused (rate, quota) or a transfer cut short is offered again
 * without a new session. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "err.h"
#include "hex.h"
#include "log.h"
#include "node_int.h"
#include "receipt.h"
#include "relay_ring.h"

struct up_batch {
	uint32_t seq;
	uint16_t n;
	struct sync_key keys[FRAME_KEYS_MAX];
};

struct uplink {
	struct keyset *told; /* keys told, not worth telling, or told by the peer */
	struct up_batch win[UPLINK_WINDOW];
	unsigned head, inflight; /* win[head] is the oldest unanswered OFFER */
	uint32_t seq;
	bool walking; /* uplink_kick is running (TAKE -> conn_offer -> pump) */
	bool again;   /* keys may have arrived behind the walk: walk again */
	bool at_end;  /* the walk reached the last key */
	bool has_pos;
	struct sync_key pos; /* field: the last key of n->keys looked at */
	uint64_t rpos;       /* hospital: the next relay ring entry to look at */
	uint64_t told_since_ms;
	struct loop_timer *resume; /* a walk that looked at uplink_walk_step keys goes on next turn */
	struct uplink_stats pass, total;
};

static void resume_tick(void *user);

static uint8_t keys_wire[FRAME_KEYS_MAX * KEYSET_KEY_WIRE];
static uint8_t offer_buf[1 + 4 + 2 + FRAME_KEYS_MAX * KEYSET_KEY_WIRE];
static uint8_t take_buf[1 + 4 + 2 + FRAME_TAKE_BYTES(FRAME_KEYS_MAX)];

bool conn_is_uplink(const struct conn *c)
{
	return c->hello_seen && (c->n->role == NODE_HOSPITAL) != (c->peer_role == NODE_HOSPITAL);
}

/* ---- the relay ring (hospital) ---- */

int relay_open(struct node *n)
{
	uint64_t window, max;
	int ret;

	if (config_u64(n->cfg, "node", "relay_window_ms", RELAY_WINDOW_MS_DEFAULT, 0, 7 * 86400000ull, &window) ||
	    config_u64(n->cfg, "node", "relay_max", RELAY_MAX_DEFAULT, 1, RELAY_MAX_MAX, &max) ||
	    config_u64(n->cfg, "node", "uplink_walk_step", UPLINK_WALK_STEP_DEFAULT, 1, 1000000, &n->uplink_walk_step))
		return MU_E_CONFIG;
	if (n->role != NODE_HOSPITAL || !window)
		return 0;
	ret = relay_ring_new(&n->relay, (size_t)max, window);
	if (ret)
		log_err(SUB_MAIN, "cannot make the relay ring: %s", mu_strerror(ret));
	return ret;
}

void relay_close(struct node *n)
{
	relay_ring_free(n->relay);
	n->relay = NULL;
}

void relay_note(struct node *n, const struct fresh *f)
{
	struct sync_key k = { .created = f->created };

	/* Credentials, revocations and our own receipts go at once. */
	if (!n->relay || f->kind == BK_CREDENTIAL || f->kind == BK_REVOCATION || (f->kind == BK_RECEIPT && !f->from))
		return;
	memcpy(k.id, f->id, KEYSET_ID_BYTES);
	relay_ring_add(n->relay, &k, mu_now_ms(), f->from ? f->from->peer : NULL);
}

/* ---- state ---- */

int uplink_new(struct conn *c)
{
	struct uplink *up;
	int ret;

	if (c->up)
		return 0;
	up = calloc(1, sizeof(*up));
	if (!up)
		return -ENOMEM;
	ret = keyset_new(&up->told);
	if (ret) {
		free(up);
		return ret;
	}
	ret = loop_timer_new(c->n->loop, &up->resume, resume_tick, c);
	if (ret) {
		keyset_free(up->told);
		free(up);
		return ret;
	}
	up->told_since_ms = mu_now_ms();
	up->again = true;
	c->up = up;
	return 0;
}

void uplink_free(struct conn *c)
{
	if (!c->up)
		return;
	loop_timer_free(c->up->resume);
	keyset_free(c->up->told);
	free(c->up);
	c->up = NULL;
}

void uplink_get_stats(const struct conn *c, struct uplink_stats *st)
{
	const struct uplink *up = c->up;

	*st = (struct uplink_stats){ 0 };
	if (!up)
		return;
	/* Finished passes and the one under way. */
	st->offers = up->total.offers + up->pass.offers;
	st->keys = up->total.keys + up->pass.keys;
	st->taken = up->total.taken + up->pass.taken;
	st->bytes = up->total.bytes + up->pass.bytes;
	st->round_trips = up->total.round_trips;
	st->passes = up->total.passes;
}

/* ---- telling ---- */

/* Worth telling the hospital: held with its content, not a credential or
 * revocation (the sync machine reconciles those), no custody receipt. */
static bool field_worth_telling(struct node *n, const struct sync_key *k)
{
	struct store_info info;
	uint64_t at;

	if (store_peek(n->store, k->id, &info))
		return false; /* a tombstone, or gone since */
	if (info.kind == BK_CREDENTIAL || info.kind == BK_REVOCATION)
		return false;
	return store_custody_get(n->store, k->id, &at) == MU_E_NOTFOUND;
}

/* Marks k as looked at; true the first time. A failed add only means
 * looking at it again on the next walk. */
static bool first_look(struct uplink *up, const struct sync_key *k)
{
	if (keyset_find(up->told, k, NULL) == 1)
		return false;
	keyset_add(up->told, k->created, k->id);
	return true;
}

/* Field: fills b from n->keys, from where the walk stopped, looking at
 * *budget keys at most ([node] uplink_walk_step a turn: each costs two
 * store lookups, and a store of archived tombstones must not hold the loop
 * for seconds). */
static void fill_from_keys(struct conn *c, struct up_batch *b, size_t *budget)
{
	struct uplink *up = c->up;
	const struct keyset *ks = c->n->keys;
	size_t i = 0, count = keyset_count(ks);

	if (up->has_pos && keyset_find(ks, &up->pos, &i) == 1)
		i++;
	for (; i < count && b->n < FRAME_KEYS_MAX && *budget; i++, (*budget)--) {
		const struct sync_key *k = keyset_at(ks, i);

		up->pos = *k;
		up->has_pos = true;
		if (first_look(up, k) && field_worth_telling(c->n, k))
			b->keys[b->n++] = *k;
	}
	if (i >= count)
		up->at_end = true;
}

/* Hospital: fills b from the relay ring, skipping what came from this
 * peer and what is no longer held. */
static void fill_from_ring(struct conn *c, struct up_batch *b)
{
	struct uplink *up = c->up;
	struct relay_ring *r = c->n->relay;
	struct store_info info;

	if (!r) {
		up->at_end = true;
		return;
	}
	relay_ring_trim(r, mu_now_ms());
	if (up->rpos < relay_ring_first(r))
		up->rpos = relay_ring_first(r);
	for (; up->rpos < relay_ring_next(r) && b->n < FRAME_KEYS_MAX; up->rpos++) {
		const struct relay_entry *e = relay_ring_get(r, up->rpos);

		if (!memcmp(e->from, c->peer, RELAY_FROM_BYTES))
			continue;
		if (first_look(up, &e->k) && !store_peek(c->n->store, e->k.id, &info))
			b->keys[b->n++] = e->k;
	}
	if (up->rpos >= relay_ring_next(r))
		up->at_end = true;
}

static int send_offer(struct conn *c, struct up_batch *b)
{
	struct wr fw = wr_make(offer_buf, sizeof(offer_buf));
	uint8_t *p = keys_wire;
	size_t len;
	int ret;

	for (uint16_t i = 0; i < b->n; i++, p += KEYSET_KEY_WIRE) {
		put_be64(p, b->keys[i].created);
		memcpy(p + 8, b->keys[i].id, KEYSET_ID_BYTES);
	}
	b->seq = c->up->seq++;
	frame_offer(&fw, b->seq, keys_wire, b->n);
	len = fw.len;
	ret = conn_send_wr(c, &fw);
	if (!ret) {
		c->up->pass.offers++;
		c->up->pass.keys += b->n;
		c->up->pass.bytes += len;
	}
	return ret;
}

static void pass_done(struct conn *c)
{
	struct uplink *up = c->up;
	struct uplink_stats *p = &up->pass;
	char k[17];

	/* Windows of OFFERs: a pass waits for at most one answer per window
	 * once the link's round trip dominates. */
	p->round_trips = (p->offers + UPLINK_WINDOW - 1) / UPLINK_WINDOW;
	if (p->offers) {
		hex_encode(k, c->peer, 8);
		/* The bench (tools/bench_hospital.sh) reads this line. */
		log_debug(SUB_SYNC,
			  "uplink to %s told: %llu keys in %llu offers, %llu taken, %llu bytes, %llu round trips",
			  k, (unsigned long long)p->keys, (unsigned long long)p->offers,
			  (unsigned long long)p->taken, (unsigned long long)p->bytes,
			  (unsigned long long)p->round_trips);
	}
	up->total.offers += p->offers;
	up->total.keys += p->keys;
	up->total.taken += p->taken;
	up->total.bytes += p->bytes;
	up->total.round_trips += p->round_trips;
	up->total.passes++;
	*p = (struct uplink_stats){ 0 };
}

/* Field: a fresh walk from the first key (new keys may sort anywhere:
 * created is the sender's clock; the told set skips the rest), with the
 * told set emptied every UPLINK_RETELL_MS. */
static void walk_restart(struct uplink *up)
{
	struct keyset *fresh = NULL;

	up->has_pos = false;
	if (mu_now_ms() - up->told_since_ms < UPLINK_RETELL_MS || keyset_new(&fresh))
		return;
	keyset_free(up->told);
	up->told = fresh;
	up->told_since_ms = mu_now_ms();
}

static void resume_tick(void *user)
{
	uplink_kick(user);
}

void uplink_kick(struct conn *c)
{
	struct uplink *up = c->up;
	bool hospital = c->n->role == NODE_HOSPITAL;
	size_t budget = (size_t)c->n->uplink_walk_step;

	/* Not before the first round has queued the credentials each side
	 * lacks: a bundle whose sender's credential has not arrived is
	 * refused, and nothing would offer it again this session. */
	if (!up || up->walking || c->st != CONN_UP || !c->syncs_done || (!hospital && !c->n->keys))
		return;
	up->walking = true;
	while (up->inflight < UPLINK_WINDOW && c->st == CONN_UP) {
		struct up_batch *b = &up->win[(up->head + up->inflight) % UPLINK_WINDOW];

		if (up->at_end) {
			if (!up->again)
				break;
			up->again = up->at_end = false;
			if (!hospital)
				walk_restart(up);
		}
		b->n = 0;
		if (hospital)
			fill_from_ring(c, b);
		else
			fill_from_keys(c, b, &budget);
		if (b->n && send_offer(c, b))
			break;
		if (b->n)
			up->inflight++;
		if (!up->at_end && !budget) {
			loop_timer_arm(up->resume, 0); /* the rest on the next turn */
			break;
		}
	}
	if (up->at_end && !up->again && !up->inflight)
		pass_done(c);
	up->walking = false;
}

void uplink_poke(struct conn *c)
{
	if (!c->up)
		return;
	c->up->again = true;
	uplink_kick(c);
}

/* Hospital: ids among those a field node just took that were receipted
 * before it connected get a receipt again, so the copies it now holds
 * leave it after the grace like everyone else's. */
static void receipt_taken(struct conn *c, const struct up_batch *b, const uint8_t *bits)
{
	uint8_t again[FRAME_KEYS_MAX][BUNDLE_ID_BYTES];
	uint64_t cursor = 0, expires = 0, exp;
	size_t nagain = 0;
	int ret;

	if (c->n->role != NODE_HOSPITAL || hospital_receipt_cursor(c->n, &cursor))
		return;
	for (uint16_t i = 0; i < b->n; i++) {
		if ((bits[i / 8] >> (i % 8) & 1) && hospital_receipted(c->n, b->keys[i].id, cursor, &exp)) {
			memcpy(again[nagain++], b->keys[i].id, BUNDLE_ID_BYTES);
			expires = exp > expires ? exp : expires;
		}
	}
	if (!nagain)
		return;
	ret = hospital_receipt_again(c->n, (const uint8_t(*)[BUNDLE_ID_BYTES])again, nagain, expires);
	if (ret)
		log_err(SUB_STORE, "custody receipt again not issued: %s", mu_strerror(ret));
}

void uplink_on_take(struct conn *c, const struct frame *f)
{
	struct uplink *up = c->up;
	struct up_batch *b;

	if (!up || !up->inflight) {
		conn_close(c, "TAKE without an OFFER");
		return;
	}
	b = &up->win[up->head];
	if (f->u.up.seq != b->seq || f->u.up.count != b->n) {
		conn_close(c, "TAKE does not answer the oldest OFFER");
		return;
	}
	up->head = (up->head + 1) % UPLINK_WINDOW;
	up->inflight--;
	up->pass.bytes += 1 + 4 + 2 + FRAME_TAKE_BYTES(b->n); /* the answer's frame */
	for (uint16_t i = 0; i < b->n; i++) {
		if (!(f->u.up.bits[i / 8] >> (i % 8) & 1))
			continue;
		up->pass.taken++;
		if (c->oq.n >= OUTQ_MAX) {
			/* No room to queue it: tell it again on the next walk. */
			keyset_del(up->told, b->keys[i].created, b->keys[i].id);
			up->again = true;
			continue;
		}
		conn_offer(c, b->keys[i].id);
		if (c->st != CONN_UP)
			return;
	}
	receipt_taken(c, b, f->u.up.bits);
	if (c->st != CONN_UP)
		return;
	uplink_kick(c);
}

/* Answers one OFFER: a bit for each key we lack. A hospital also issues a
 * custody receipt again for keys it has receipted already. */
void uplink_on_offer(struct conn *c, const struct frame *f)
{
	struct node *n = c->n;
	struct wr fw = wr_make(take_buf, sizeof(take_buf));
	uint8_t bits[FRAME_TAKE_BYTES(FRAME_KEYS_MAX)] = { 0 };
	uint8_t again[FRAME_KEYS_MAX][BUNDLE_ID_BYTES];
	uint64_t cursor = 0, expires = 0, exp;
	size_t nagain = 0;
	bool archive = n->role == NODE_HOSPITAL && hospital_receipt_cursor(n, &cursor) == 0;

	if (!c->up) {
		conn_close(c, "OFFER outside an uplink session");
		return;
	}
	for (uint16_t i = 0; i < f->u.up.count; i++) {
		const uint8_t *p = f->u.up.keys + (size_t)i * KEYSET_KEY_WIRE;
		struct sync_key k;

		k.created = get_be64(p);
		memcpy(k.id, p + 8, KEYSET_ID_BYTES);
		/* The peer has it: never tell it back. */
		first_look(c->up, &k);
		/* The keyset first (memory); a key stored while a sync froze
		 * the keyset is in the store only. */
		if (!(n->keys && keyset_find(n->keys, &k, NULL) == 1) && store_has(n->store, k.id) != 1) {
			bits[i / 8] |= (uint8_t)(1u << (i % 8));
			continue;
		}
		if (archive && hospital_receipted(n, k.id, cursor, &exp)) {
			memcpy(again[nagain++], k.id, BUNDLE_ID_BYTES);
			expires = exp > expires ? exp : expires;
		}
	}
	c->up_answered += f->u.up.count;
	frame_take(&fw, f->u.up.seq, bits, f->u.up.count);
	if (conn_send_wr(c, &fw))
		return;
	if (nagain) {
		int ret = hospital_receipt_again(n, (const uint8_t(*)[BUNDLE_ID_BYTES])again, nagain, expires);

		if (ret)
			log_err(SUB_STORE, "custody receipt again not issued: %s", mu_strerror(ret));
	}
}
