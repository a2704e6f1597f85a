/* mu-sim engine: discrete events on a simulated clock over the node's real
 * code. Per node: a real LMDB store (node/store.c) with the trace's quota,
 * a keyset kept as the daemon keeps it (added on ingest, rebuilt from the
 * store after an expiry purge), the node's identity and a CA-issued
 * credential. Per contact: the real sync engine (node/sync.c) between the
 * two keysets, then the real send queue (node/outq.c) in each direction,
 * one bundle at a time over a half-duplex link of the contact's rate.
 * Admission is the real bundle_admit (credential and signature checked at
 * every node for every bundle it takes in).
 *
 * What the daemon does that is modelled (node/ingest.c route, node/conn.c):
 * a stored immediate or urgent bundle is queued at once on every other open
 * contact; a lower priority one pokes a sync round 50 ms later (or at the
 * next bundle boundary while a transfer is running); rounds repeat every
 * 30 s; a queued bundle is skipped at send time if it has used its hops or
 * expired; the queue is dropped when the contact ends. A bundle the
 * receiver does not store for a reason it reports (node/refused.c: store
 * full, hops, expiry; not a duplicate) is REFUSED back to the sender when
 * its transfer ends, and the sender's offers skip it (the daemon's own
 * refused set, per contact = per session, with its default retry times).
 * Not modelled: link handshakes and framing bytes (the REFUSED frame's
 * too), rate limiting, receipts and custody.
 *
 * Event order at equal times: message creation, arrival, contact end,
 * contact start, sync round, purge; then insertion order. Nothing reads the
 * wall clock, sync salts come from the trace seed, Ed25519 signatures are
 * deterministic: the same trace and seed give the same result. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bundle.h"
#include "cred.h"
#include "err.h"
#include "keyset.h"
#include "node_int.h"
#include "sim.h"
#include "store.h"
#include "sync.h"
#include "verify.h"
#include "wire.h"

#define SIM_EPOCH_MS 1767225600000ull /* t = 0 of every trace: 2026-01-01T00:00Z */
#define CRED_LIFE_MS (8ull * 86400 * 1000)

enum ev_type { EV_GEN, EV_ARRIVE, EV_END, EV_START, EV_SYNC, EV_PURGE };

struct ev {
	uint64_t t; /* ms since trace start */
	uint64_t seq;
	uint8_t type;
	uint32_t idx; /* message, contact or node */
	uint32_t gen; /* EV_SYNC: contact generation it was armed in */
};

struct snode {
	struct mu_identity *id;
	struct store *st;
	struct keyset *ks;
	uint32_t *contacts; /* indexes of this node's contacts */
	size_t ncontacts;
	char dir[PATH_MAX];
};

struct scontact {
	struct outq q[2]; /* 0: a -> b, 1: b -> a */
	struct refused_set *refused[2]; /* what the receiver of that direction refused */
	uint64_t bps;     /* bytes per second */
	uint64_t last_sync;
	uint32_t gen;
	int turn;
	bool up, busy, again, poke_pending;
	uint8_t *inflight;
	size_t inflight_len;
	uint8_t inflight_hops, inflight_dir;
};

struct sim {
	const struct sim_trace *t;
	struct sim_result *r;
	struct snode *n;
	struct scontact *c;
	struct ev *heap;
	size_t nev, evcap;
	uint64_t seq, rng;
	struct trust trust;
	double *lat; /* per message, seconds, -1 until delivered */
	uint8_t *buf, *syncbuf;
};

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ---- event heap ---- */

static bool ev_less(const struct ev *a, const struct ev *b)
{
	if (a->t != b->t)
		return a->t < b->t;
	if (a->type != b->type)
		return a->type < b->type;
	return a->seq < b->seq;
}

static int ev_push(struct sim *S, uint64_t t, uint8_t type, uint32_t idx, uint32_t gen)
{
	size_t i;

	if (S->nev == S->evcap) {
		size_t cap = S->evcap ? 2 * S->evcap : 1024;
		struct ev *v = realloc(S->heap, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		S->heap = v;
		S->evcap = cap;
	}
	i = S->nev++;
	S->heap[i] = (struct ev){t, S->seq++, type, idx, gen};
	while (i && ev_less(&S->heap[i], &S->heap[(i - 1) / 2])) {
		struct ev tmp = S->heap[i];

		S->heap[i] = S->heap[(i - 1) / 2];
		S->heap[(i - 1) / 2] = tmp;
		i = (i - 1) / 2;
	}
	return 0;
}

static struct ev ev_pop(struct sim *S)
{
	struct ev top = S->heap[0];
	size_t i = 0;

	S->heap[0] = S->heap[--S->nev];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < S->nev && ev_less(&S->heap[l], &S->heap[m]))
			m = l;
		if (r < S->nev && ev_less(&S->heap[r], &S->heap[m]))
			m = r;
		if (m == i)
			break;
		struct ev tmp = S->heap[i];
		S->heap[i] = S->heap[m];
		S->heap[m] = tmp;
		i = m;
	}
	return top;
}

/* ---- node side: the daemon's ingest path ---- */

static int keyset_add_scanned(void *ks, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES])
{
	int ret = keyset_add(ks, created, id);

	return ret == MU_E_EXISTS ? 0 : ret;
}

static int keyset_reload(struct snode *nd)
{
	struct keyset *ks = NULL;
	int ret = keyset_new(&ks);

	if (!ret)
		ret = store_scan_time(nd->st, 0, NULL, keyset_add_scanned, ks);
	if (ret) {
		keyset_free(ks);
		return ret;
	}
	keyset_free(nd->ks);
	nd->ks = ks;
	return 0;
}

static const struct refused_retry retry = {REFUSED_RETRY_FULL_MS_DEFAULT, REFUSED_RETRY_RATE_MS_DEFAULT};

static void offer(struct sim *S, uint32_t ci, int dir, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t now);
static int send_next(struct sim *S, uint32_t ci, uint64_t now);
static int sync_arm(struct sim *S, uint32_t ci, uint64_t at);

/* node/ingest.c route(): what a node does with a bundle it has just stored. */
static int route(struct sim *S, uint32_t ni, int64_t from_ci, uint8_t prio, const uint8_t *id, uint64_t now)
{
	struct snode *nd = &S->n[ni];
	int ret = 0;

	for (size_t k = 0; k < nd->ncontacts && !ret; k++) {
		uint32_t ci = nd->contacts[k];
		struct scontact *c = &S->c[ci];

		if ((int64_t)ci == from_ci || !c->up)
			continue;
		if (prio <= PRIO_URGENT) {
			offer(S, ci, S->t->contact[ci].a == ni ? 0 : 1, id, now);
			if (!c->busy)
				ret = send_next(S, ci, now);
		} else if (c->busy) {
			c->again = true;
		} else if (!c->poke_pending) {
			c->poke_pending = true;
			ret = sync_arm(S, ci, now + SYNC_DEBOUNCE_MS);
		}
	}
	return ret;
}

/* 0 when stored; MU_E_EXISTS, MU_E_QUOTA, admission errors otherwise. */
static int ingest(struct sim *S, uint32_t ni, const uint8_t *enc, size_t len, uint8_t hops, uint64_t now,
		  int64_t from_ci)
{
	struct snode *nd = &S->n[ni];
	struct verify_ctx v = {.trust = &S->trust,
			       .now = SIM_EPOCH_MS + now,
			       .skew_ms = VERIFY_SKEW_MS_DEFAULT,
			       .lookup = store_cred_lookup,
			       .is_revoked = store_is_revoked,
			       .ctx = nd->st};
	struct store_meta meta = {.received = v.now, .hops = hops, .flags = from_ci < 0 ? STORE_F_LOCAL : 0};
	struct store_txn *txn = NULL;
	struct bundle b;
	struct cred c;
	int ret = bundle_decode(&b, enc, len);

	if (!ret && (ret = store_has(nd->st, b.id)) == 1)
		ret = MU_E_EXISTS;
	if (!ret)
		ret = bundle_admit(&v, &b, enc, len, hops, &c);
	if (ret)
		return ret;
	S->r->admitted_sigs++;
	if ((ret = store_write_begin(nd->st, &txn)))
		return ret;
	if (b.kind == BK_CREDENTIAL)
		ret = store_put_cred(txn, &c);
	if (!ret)
		ret = store_put_bundle(txn, &b, enc, len, &meta);
	if (ret) {
		store_write_abort(txn);
		return ret;
	}
	if ((ret = store_write_commit(txn)))
		return ret;
	ret = keyset_add(nd->ks, b.created, b.id);
	if (ret && ret != MU_E_EXISTS)
		return ret;
	if (b.kind == BK_MESSAGE && b.dest_type == DEST_PERSON &&
	    !memcmp(b.dest, identity_sign_pk(nd->id), MU_KEY_BYTES) && b.payload_len >= 4) {
		uint32_t m = (uint32_t)b.payload[0] | (uint32_t)b.payload[1] << 8 |
			     (uint32_t)b.payload[2] << 16 | (uint32_t)b.payload[3] << 24;

		if (m < S->t->nmsgs && S->lat[m] < 0)
			S->lat[m] = (double)(v.now - b.created) / 1000.0;
	}
	return route(S, ni, from_ci, b.kind == BK_CREDENTIAL || b.kind == BK_REVOCATION ? 0 : b.prio, b.id,
		     now);
}

/* ---- contact side: sync, queue, send ---- */

/* node/conn.c conn_offer(): queue a bundle the peer lacks and has not
 * refused. */
static void offer(struct sim *S, uint32_t ci, int dir, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t now)
{
	const struct sim_contact *tc = &S->t->contact[ci];
	struct store_info info;
	struct outq_item it;

	if (store_peek(S->n[dir ? tc->b : tc->a].st, id, &info))
		return;
	if (refused_skip(S->c[ci].refused[dir], id, &retry, now)) {
		S->r->refused_skipped++;
		return;
	}
	it.prio = info.kind == BK_CREDENTIAL || info.kind == BK_REVOCATION ? 0 : (uint8_t)(info.prio + 1);
	it.len = (uint32_t)info.len;
	it.created = info.created;
	memcpy(it.id, id, BUNDLE_ID_BYTES);
	outq_push(&S->c[ci].q[dir], &it); /* a full queue: the next round offers the rest */
}

struct side {
	struct sim *S;
	uint32_t ci;
	int dir;
	uint64_t now;
};

static void on_have_missing(void *user, uint64_t created, const uint8_t id[static KEYSET_ID_BYTES])
{
	(void)user, (void)created, (void)id; /* the peer offers it */
}

static void on_peer_missing(void *user, uint64_t created, const uint8_t id[static KEYSET_ID_BYTES])
{
	struct side *sd = user;

	(void)created;
	offer(sd->S, sd->ci, sd->dir, id, sd->now);
}

/* One sync round; *now advances by the time its bytes take on the link. */
static int sync_round(struct sim *S, uint32_t ci, uint64_t *now)
{
	static const struct sync_cb cb = {on_have_missing, on_peer_missing};
	const struct sim_contact *tc = &S->t->contact[ci];
	struct scontact *c = &S->c[ci];
	struct side sa = {S, ci, 0, *now}, sb = {S, ci, 1, *now};
	struct sync *si = NULL, *sr = NULL;
	uint64_t bytes = 0;
	uint8_t salt[16];
	int ret;

	c->last_sync = *now;
	c->again = false;
	c->poke_pending = false;
	for (int i = 0; i < 16; i += 8) {
		uint64_t v = splitmix(&S->rng);

		memcpy(salt + i, &v, 8);
	}
	if ((ret = sync_new(&si, S->n[tc->a].ks, SYNC_INITIATOR, &cb, &sa)) ||
	    (ret = sync_new(&sr, S->n[tc->b].ks, SYNC_RESPONDER, &cb, &sb)))
		goto out;
	sync_test_set_salt(si, salt);
	while (!sync_done(si) || !sync_done(sr)) {
		struct sync *from = sync_want_send(si) ? si : sr, *to = from == si ? sr : si;
		struct wr w = wr_make(S->syncbuf, SYNC_MSG_MAX);

		if (!sync_want_send(from)) {
			ret = sync_error(si) ? sync_error(si) : sync_error(sr) ? sync_error(sr) : -EPROTO;
			goto out;
		}
		if ((ret = sync_build_message(from, &w)) || (ret = sync_recv_message(to, S->syncbuf, w.len)))
			goto out;
		bytes += w.len;
	}
	S->r->sync_bytes += bytes;
	S->r->sync_rounds++;
	*now += (bytes * 1000 + c->bps - 1) / c->bps;
out:
	sync_free(si);
	sync_free(sr);
	return ret;
}

static int sync_arm(struct sim *S, uint32_t ci, uint64_t at)
{
	return ev_push(S, at, EV_SYNC, ci, ++S->c[ci].gen);
}

/* node/conn.c conn_pump(), one bundle at a time, directions alternating. */
static int send_next(struct sim *S, uint32_t ci, uint64_t now)
{
	const struct sim_contact *tc = &S->t->contact[ci];
	struct scontact *c = &S->c[ci];
	const uint64_t end = (uint64_t)tc->t1 * 1000;
	int ret;

	if (!c->up || c->busy)
		return 0;
	if ((c->again || now >= c->last_sync + SYNC_INTERVAL_MS_DEFAULT) && (ret = sync_round(S, ci, &now)))
		return ret;
	for (;;) {
		struct outq_item it;
		struct store_meta meta;
		struct bundle b;
		size_t len;
		uint64_t dt;
		int d = c->turn;

		if (!c->q[d].n)
			d ^= 1;
		if (outq_pop(&c->q[d], &it)) /* both empty: idle until the next round */
			return sync_arm(S, ci,
					c->last_sync + SYNC_INTERVAL_MS_DEFAULT > now
					    ? c->last_sync + SYNC_INTERVAL_MS_DEFAULT
					    : now + SYNC_DEBOUNCE_MS);
		if (store_get(S->n[d ? tc->b : tc->a].st, it.id, S->buf, BUNDLE_ENC_MAX, &len, &meta) ||
		    bundle_decode(&b, S->buf, len))
			continue; /* evicted or expired since it was queued */
		if (meta.hops >= b.hop_limit || b.expires <= SIM_EPOCH_MS + now) {
			S->r->skipped++;
			continue;
		}
		if (refused_skip(c->refused[d], it.id, &retry, now)) /* refused since it was queued */
			continue;
		dt = (len * 1000 + c->bps - 1) / c->bps;
		if (now + dt > end) {
			S->r->cut++;
			return 0;
		}
		if (!(c->inflight = malloc(len)))
			return -ENOMEM;
		memcpy(c->inflight, S->buf, len);
		c->inflight_len = len;
		c->inflight_hops = (uint8_t)(meta.hops + 1);
		c->inflight_dir = (uint8_t)d;
		c->busy = true;
		c->turn = d ^ 1;
		return ev_push(S, now + dt, EV_ARRIVE, ci, 0);
	}
}

static int on_arrive(struct sim *S, uint32_t ci, uint64_t now)
{
	const struct sim_contact *tc = &S->t->contact[ci];
	struct scontact *c = &S->c[ci];
	struct bundle b;
	int ret, reason;

	c->busy = false;
	S->r->sent++;
	S->r->bundle_bytes += c->inflight_len;
	ret = ingest(S, c->inflight_dir ? tc->a : tc->b, c->inflight, c->inflight_len, c->inflight_hops, now,
		     ci);
	if (ret)
		S->r->wasted_bytes += c->inflight_len;
	/* The receiver's REFUSED reaches the sender as the transfer ends. */
	reason = refused_reason(ret);
	if (reason && !bundle_decode(&b, c->inflight, c->inflight_len)) {
		int err = refused_note(&c->refused[c->inflight_dir], b.id, (uint8_t)reason, now);

		if (err) {
			free(c->inflight);
			c->inflight = NULL;
			return err;
		}
	}
	free(c->inflight);
	c->inflight = NULL;
	if (ret == MU_E_EXISTS)
		S->r->duplicates++;
	else if (ret == MU_E_QUOTA)
		S->r->refused_quota++;
	else if (ret == MU_E_HOPS || ret == MU_E_EXPIRED || ret == MU_E_NOCRED)
		S->r->refused_other++;
	else if (ret)
		return ret;
	return send_next(S, ci, now);
}

static int on_gen(struct sim *S, uint32_t mi, uint64_t now)
{
	const struct sim_msg *m = &S->t->msg[mi];
	uint8_t *pay = malloc(m->size);
	struct bundle b = {.kind = BK_MESSAGE,
			   .prio = m->prio,
			   .hop_limit = S->t->hops,
			   .created = SIM_EPOCH_MS + now,
			   .expires = SIM_EPOCH_MS + now + (uint64_t)S->t->ttl * 1000,
			   .dest_type = DEST_PERSON,
			   .dest_len = MU_KEY_BYTES};
	int len, ret;

	if (!pay)
		return -ENOMEM;
	/* stands in for ciphertext; the first 4 bytes name the message */
	for (uint32_t i = 0; i < m->size; i++)
		pay[i] = (uint8_t)(i < 4 ? mi >> (8 * i) : splitmix(&S->rng));
	memcpy(b.dest, identity_sign_pk(S->n[m->to].id), MU_KEY_BYTES);
	b.payload = pay;
	b.payload_len = m->size;
	len = bundle_seal(S->buf, BUNDLE_ENC_MAX, &b, S->n[m->from].id);
	ret = len < 0 ? len : ingest(S, m->from, S->buf, (size_t)len, 0, now, -1);
	free(pay);
	if (ret == MU_E_QUOTA) {
		S->r->lost_at_source++;
		return 0;
	}
	return ret;
}

static int on_end(struct sim *S, uint32_t ci)
{
	struct scontact *c = &S->c[ci];

	c->up = false;
	c->gen++;
	outq_free(&c->q[0]);
	outq_free(&c->q[1]);
	/* A new contact is a new session: the daemon's refused set is per conn. */
	for (int d = 0; d < 2; d++) {
		refused_free(c->refused[d]);
		c->refused[d] = NULL;
	}
	return 0;
}

static int on_purge(struct sim *S, uint32_t ni, uint64_t now)
{
	uint64_t removed = 0;
	int ret = store_purge_expired(S->n[ni].st, SIM_EPOCH_MS + now, &removed);

	if (!ret && removed)
		ret = keyset_reload(&S->n[ni]);
	if (!ret)
		ret = ev_push(S, now + PURGE_INTERVAL_MS_DEFAULT, EV_PURGE, ni, 0);
	return ret;
}

static int dispatch(struct sim *S, const struct ev *e)
{
	struct scontact *c;
	uint64_t now = e->t;
	int ret;

	switch ((enum ev_type)e->type) {
	case EV_GEN:
		return on_gen(S, e->idx, now);
	case EV_ARRIVE:
		return on_arrive(S, e->idx, now);
	case EV_END:
		return on_end(S, e->idx);
	case EV_START:
		c = &S->c[e->idx];
		c->up = true;
		if ((ret = sync_round(S, e->idx, &now)))
			return ret;
		return send_next(S, e->idx, now);
	case EV_SYNC:
		c = &S->c[e->idx];
		if (e->gen != c->gen || !c->up || c->busy)
			return 0;
		if ((ret = sync_round(S, e->idx, &now)))
			return ret;
		return send_next(S, e->idx, now);
	case EV_PURGE:
		return on_purge(S, e->idx, now);
	}
	return 0;
}

/* ---- setup and results ---- */

static int node_setup(struct sim *S, uint32_t ni, const struct mu_identity *ca, const char *scratch)
{
	const struct sim_node *tn = &S->t->node[ni];
	struct snode *nd = &S->n[ni];
	static const uint8_t roles[] = {ROLE_PARAMEDIC, ROLE_AIC, ROLE_NODE, ROLE_HOSPITAL_ARCHIVE};
	struct store_limits lim = {.map_bytes = 3 * tn->quota + (32ull << 20),
				   .quota_bytes = tn->quota,
				   .quota_count = STORE_QUOTA_COUNT_DEFAULT};
	struct cred c = {.role = roles[tn->role],
			 .valid_from = SIM_EPOCH_MS - 86400000ull,
			 .valid_until = SIM_EPOCH_MS + CRED_LIFE_MS};
	struct bundle b = {.kind = BK_CREDENTIAL,
			   .prio = PRIO_URGENT,
			   .hop_limit = BUNDLE_HOPS_MAX,
			   .created = SIM_EPOCH_MS - 60000,
			   .expires = c.valid_until,
			   .dest_type = DEST_ALL};
	uint8_t seed[32] = {0}, cenc[CRED_ENC_MAX];
	uint64_t s = S->t->seed + ni + 1;
	int len, ret;

	for (int i = 0; i < 32; i += 8) {
		uint64_t v = splitmix(&s);

		memcpy(seed + i, &v, 8);
	}
	if ((ret = identity_from_seed(&nd->id, seed)))
		return ret;
	if (snprintf(nd->dir, sizeof(nd->dir), "%s/%s", scratch, tn->name) >= (int)sizeof(nd->dir))
		return -ENAMETOOLONG;
	if ((ret = store_open(&nd->st, nd->dir, &lim)) || (ret = keyset_new(&nd->ks)))
		return ret;
	snprintf(c.subject, sizeof(c.subject), "SIM-%s", tn->name);
	snprintf(c.name, sizeof(c.name), "%s", tn->name);
	snprintf(c.org, sizeof(c.org), "Sim Ambulance Service");
	memcpy(c.sign_pk, identity_sign_pk(nd->id), MU_KEY_BYTES);
	memcpy(c.kx_pk, identity_kx_pk(nd->id), MU_KEY_BYTES);
	if ((len = cred_issue(cenc, sizeof(cenc), &c, ca)) < 0)
		return len;
	b.payload = cenc;
	b.payload_len = (size_t)len;
	if ((len = bundle_seal(S->buf, BUNDLE_ENC_MAX, &b, nd->id)) < 0)
		return len;
	return ingest(S, ni, S->buf, (size_t)len, 0, 0, -1);
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

/* Nearest rank over the delivered messages of one priority. */
static void percentiles(double *v, size_t n, double *p50, double *p90)
{
	if (!n) {
		*p50 = *p90 = -1;
		return;
	}
	qsort(v, n, sizeof(*v), cmp_double);
	*p50 = v[(n * 50 + 99) / 100 - 1];
	*p90 = v[(n * 90 + 99) / 100 - 1];
}

static int results(struct sim *S)
{
	const struct sim_trace *t = S->t;
	double *ideal = malloc((t->nmsgs + 1) * sizeof(double)), *v = malloc((t->nmsgs + 1) * sizeof(double));
	int ret = -ENOMEM;

	if (!ideal || !v || (ret = sim_ideal(t, ideal)))
		goto out;
	for (int p = 0; p < SIM_PRIOS; p++) {
		struct sim_prio_result *pr = &S->r->prio[p];
		size_t n = 0, ni = 0;

		for (size_t i = 0; i < t->nmsgs; i++)
			if (t->msg[i].prio == p) {
				pr->generated++;
				if (S->lat[i] >= 0)
					v[n++] = S->lat[i];
			}
		pr->delivered = (uint32_t)n;
		percentiles(v, n, &pr->p50_s, &pr->p90_s);
		for (size_t i = 0; i < t->nmsgs; i++)
			if (t->msg[i].prio == p && ideal[i] >= 0)
				v[ni++] = ideal[i];
		pr->ideal_delivered = (uint32_t)ni;
		percentiles(v, ni, &pr->ideal_p50_s, &pr->ideal_p90_s);
	}
	for (size_t i = 0; i < t->nnodes; i++) {
		struct store_stat st;

		if ((ret = store_stat(S->n[i].st, &st)))
			goto out;
		S->r->evicted += st.evicted;
	}
out:
	free(ideal);
	free(v);
	return ret;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

int sim_run(const struct sim_trace *t, const char *scratch_dir, struct sim_result *out)
{
	struct sim S = {.t = t, .r = out, .rng = t->seed ^ 0x73796e6373616c74ull};
	struct mu_identity *ca = NULL;
	uint8_t seed[32];
	uint64_t s = t->seed ^ 0xca;
	const uint64_t end = (uint64_t)t->duration * 1000;
	int ret;

	*out = (struct sim_result){0};
	if ((ret = mu_crypto_init()))
		return ret;
	S.n = calloc(t->nnodes, sizeof(*S.n));
	S.c = calloc(t->ncontacts + 1, sizeof(*S.c));
	S.lat = malloc((t->nmsgs + 1) * sizeof(*S.lat));
	S.buf = malloc(BUNDLE_ENC_MAX);
	S.syncbuf = malloc(SYNC_MSG_MAX);
	if (!S.n || !S.c || !S.lat || !S.buf || !S.syncbuf) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < t->nmsgs; i++)
		S.lat[i] = -1;
	for (int i = 0; i < 32; i += 8) {
		uint64_t v = splitmix(&s);

		memcpy(seed + i, &v, 8);
	}
	if ((ret = identity_from_seed(&ca, seed)) || (ret = trust_add(&S.trust, identity_sign_pk(ca))))
		goto out;
	for (uint32_t i = 0; i < t->nnodes; i++)
		if ((ret = node_setup(&S, i, ca, scratch_dir)))
			goto out;
	for (uint32_t i = 0; i < t->ncontacts; i++) {
		const struct sim_contact *tc = &t->contact[i];

		S.c[i].bps = (uint64_t)tc->kbps * 1000 / 8;
		for (int side = 0; side < 2; side++) {
			struct snode *nd = &S.n[side ? tc->b : tc->a];
			uint32_t *v = realloc(nd->contacts, (nd->ncontacts + 1) * sizeof(*v));

			if (!v) {
				ret = -ENOMEM;
				goto out;
			}
			nd->contacts = v;
			nd->contacts[nd->ncontacts++] = i;
		}
		if ((ret = ev_push(&S, (uint64_t)tc->t0 * 1000, EV_START, i, 0)) ||
		    (ret = ev_push(&S, (uint64_t)tc->t1 * 1000, EV_END, i, 0)))
			goto out;
	}
	for (uint32_t i = 0; i < t->nmsgs; i++)
		if ((ret = ev_push(&S, (uint64_t)t->msg[i].t * 1000, EV_GEN, i, 0)))
			goto out;
	for (uint32_t i = 0; i < t->nnodes; i++)
		if ((ret = ev_push(&S, PURGE_INTERVAL_MS_DEFAULT, EV_PURGE, i, 0)))
			goto out;
	while (S.nev && S.heap[0].t <= end) {
		struct ev e = ev_pop(&S);

		if ((ret = dispatch(&S, &e)))
			goto out;
	}
	ret = results(&S);
out:
	for (size_t i = 0; S.c && i < t->ncontacts; i++) {
		outq_free(&S.c[i].q[0]);
		outq_free(&S.c[i].q[1]);
		refused_free(S.c[i].refused[0]);
		refused_free(S.c[i].refused[1]);
		free(S.c[i].inflight);
	}
	for (size_t i = 0; S.n && i < t->nnodes; i++) {
		store_close(S.n[i].st);
		if (S.n[i].st)
			nftw(S.n[i].dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		keyset_free(S.n[i].ks);
		identity_free(S.n[i].id);
		free(S.n[i].contacts);
	}
	identity_free(ca);
	free(S.n);
	free(S.c);
	free(S.lat);
	free(S.heap);
	free(S.buf);
	free(S.syncbuf);
	return ret;
}
