/* Scene records and the derivation every view shares. All orders are total
 * and depend only on record content (created, id, keys), never on the
 * order records were added, which is what makes views deterministic. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grow.h"
#include "err.h"
#include "hex.h"
#include "scene_int.h"

int srec_cmp_time(const struct srec *a, const struct srec *b)
{
	if (a->created != b->created)
		return a->created < b->created ? -1 : 1;
	return memcmp(a->id, b->id, BUNDLE_ID_BYTES);
}

int scene_new(struct scene **out, const char *incident)
{
	struct scene *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	if (incident) {
		s->filter = true;
		snprintf(s->want, sizeof(s->want), "%s", incident);
	}
	*out = s;
	return 0;
}

static void srec_free(struct srec *r)
{
	if (!r)
		return;
	free(r->b.p);
	free(r->sender_name);
	free(r);
}

void scene_free(struct scene *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		srec_free(s->recs[i]);
	free(s->recs);
	free(s->slots);
	free(s);
}

const char *scene_incident(const struct scene *s)
{
	if (s->filter)
		return s->want;
	return s->have_latest ? s->latest : "";
}

/* Ids are hashes, so their first bytes are a good hash already. */
static size_t slot_of(const uint8_t id[static BUNDLE_ID_BYTES], size_t nslots)
{
	uint64_t h;

	memcpy(&h, id, sizeof(h));
	return (size_t)h & (nslots - 1);
}

static size_t find_slot(const struct scene *s, const uint8_t id[static BUNDLE_ID_BYTES])
{
	size_t i = slot_of(id, s->nslots);

	while (s->slots[i] && memcmp(s->recs[s->slots[i] - 1]->id, id, BUNDLE_ID_BYTES))
		i = (i + 1) & (s->nslots - 1);
	return i;
}

/* Keeps the load factor at or below one half. */
static int grow(struct scene *s)
{
	struct srec **r = mu_grow(s->recs, &s->cap, s->n, sizeof(*r), 64);

	if (!r)
		return -ENOMEM;
	s->recs = r;
	if (2 * (s->n + 1) > s->nslots) {
		size_t nslots = s->nslots ? 2 * s->nslots : 128;
		uint32_t *old = s->slots;

		s->slots = calloc(nslots, sizeof(*s->slots));
		if (!s->slots) {
			s->slots = old;
			return -ENOMEM;
		}
		s->nslots = nslots;
		for (size_t i = 0; i < s->n; i++)
			s->slots[find_slot(s, s->recs[i]->id)] = (uint32_t)(i + 1);
		free(old);
	}
	return 0;
}

static size_t body_size(uint8_t type)
{
	switch ((enum inc_type)type) {
	case INC_METHANE:
		return sizeof(struct inc_methane);
	case INC_CHECKIN:
		return sizeof(struct inc_checkin);
	case INC_ASSIGN:
		return sizeof(struct inc_assign);
	case INC_ASSIGN_ACK:
		return sizeof(struct inc_assign_ack);
	case INC_REQUEST:
		return sizeof(struct inc_request);
	case INC_RESPONSE:
		return sizeof(struct inc_response);
	case INC_TRIAGE:
		return sizeof(struct inc_triage);
	case INC_CASUALTY:
		return sizeof(struct inc_casualty);
	}
	return 0;
}

int scene_add(struct scene *s, const uint8_t id[static BUNDLE_ID_BYTES], const uint8_t sender[static MU_KEY_BYTES],
	      const char *sender_name, uint64_t created, const struct inc_record *r)
{
	struct srec *x = NULL;
	size_t slot;
	int ret;

	if ((ret = inc_check(r)))
		return ret; /* views rely on terminated, valid text */
	if (s->filter && strcmp(r->incident, s->want))
		return 0;
	if (s->nslots && s->slots[find_slot(s, id)])
		return 0;
	if (s->n >= SCENE_RECORDS_MAX)
		return MU_E_TOOBIG;
	if ((ret = grow(s)))
		return ret;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->b.p = malloc(body_size(r->type));
	x->sender_name = strdup(sender_name ? sender_name : "");
	if (!x->b.p || !x->sender_name) {
		srec_free(x);
		return -ENOMEM;
	}
	memcpy(x->b.p, &r->u, body_size(r->type));
	memcpy(x->id, id, BUNDLE_ID_BYTES);
	memcpy(x->sender, sender, MU_KEY_BYTES);
	memcpy(x->prev, r->prev, BUNDLE_ID_BYTES);
	memcpy(x->ref, r->ref, BUNDLE_ID_BYTES);
	x->created = created;
	x->type = r->type;
	x->has_prev = r->has_prev;
	x->has_ref = r->has_ref;
	memcpy(x->incident, r->incident, sizeof(x->incident));
	slot = find_slot(s, id);
	s->recs[s->n++] = x;
	s->slots[slot] = (uint32_t)s->n;
	if (!s->have_latest || created > s->latest_created ||
	    (created == s->latest_created && memcmp(id, s->latest_id, BUNDLE_ID_BYTES) > 0)) {
		s->have_latest = true;
		s->latest_created = created;
		memcpy(s->latest_id, id, BUNDLE_ID_BYTES);
		memcpy(s->latest, r->incident, sizeof(s->latest));
	}
	return 0;
}

/* ---- derivation ---- */

static int cmp_time_p(const void *a, const void *b)
{
	return srec_cmp_time(*(struct srec *const *)a, *(struct srec *const *)b);
}

static int cmp_byid(const void *a, const void *b, void *ctx)
{
	const struct view *v = ctx;

	return memcmp(v->all[*(const size_t *)a]->id, v->all[*(const size_t *)b]->id, BUNDLE_ID_BYTES);
}

size_t view_find(const struct view *v, const uint8_t id[static BUNDLE_ID_BYTES])
{
	size_t lo = 0, hi = v->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(v->all[v->byid[mid]]->id, id, BUNDLE_ID_BYTES);

		if (!c)
			return v->byid[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

/* The key a record is grouped by; NULL for records that are not grouped
 * (acks and responses attach to what they ref). */
static const char *group_key(const struct view *v, size_t i)
{
	const struct srec *r = v->all[i];

	switch ((enum inc_type)r->type) {
	case INC_METHANE:
		return "";
	case INC_CHECKIN:
		return r->b.checkin->callsign;
	case INC_ASSIGN:
		return r->b.assign->callsign;
	case INC_TRIAGE:
		return r->b.triage->ccs;
	case INC_CASUALTY:
		return r->b.casualty->tag;
	case INC_REQUEST:
		return v->rootkey[i];
	case INC_ASSIGN_ACK:
	case INC_RESPONSE:
		return NULL;
	}
	return NULL;
}

struct gent {
	uint8_t type;
	const char *key;
	size_t i;
};

static int cmp_gent(const void *a, const void *b)
{
	const struct gent *x = a, *y = b;
	int c;

	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if ((c = strcmp(x->key, y->key)))
		return c;
	return x->i < y->i ? -1 : x->i > y->i; /* index order is (created, id) */
}

/* A request's root: follow prev through requests until a record without a
 * (known, request) prev. state: 0 new, 1 on the current path, 2 done; a
 * cycle (only possible with forged ids) makes each record its own root. */
static void resolve_roots(struct view *v, size_t *root, uint8_t *state, size_t *path)
{
	for (size_t i = 0; i < v->n; i++) {
		size_t np = 0, cur = i, r;

		if (v->all[i]->type != INC_REQUEST || state[i] == 2)
			continue;
		for (;;) {
			size_t p;

			if (state[cur] == 2) {
				r = root[cur];
				break;
			}
			if (state[cur] == 1) {
				r = SIZE_MAX; /* cycle */
				break;
			}
			state[cur] = 1;
			path[np++] = cur;
			p = v->all[cur]->has_prev ? view_find(v, v->all[cur]->prev) : SIZE_MAX;
			if (p == SIZE_MAX || v->all[p]->type != INC_REQUEST || p == cur) {
				r = cur;
				break;
			}
			cur = p;
		}
		while (np--) {
			size_t k = path[np];

			root[k] = r == SIZE_MAX ? k : r;
			state[k] = 2;
		}
	}
	for (size_t i = 0; i < v->n; i++)
		if (v->all[i]->type == INC_REQUEST)
			hex_encode(v->rootkey[i], v->all[root[i]]->id, BUNDLE_ID_BYTES);
}

struct rent {
	size_t g;
	size_t i;
};

static int cmp_rent(const void *a, const void *b, void *ctx)
{
	const struct rent *x = a, *y = b;
	const struct view *resp_view = ctx;
	int c;

	if (x->g != y->g)
		return x->g < y->g ? -1 : 1;
	if ((c = strcmp(resp_view->all[x->i]->b.response->callsign, resp_view->all[y->i]->b.response->callsign)))
		return c;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int build_groups(struct view *v)
{
	struct gent *e = malloc((v->n ? v->n : 1) * sizeof(*e));
	size_t ne = 0, nm = 0;
	int ret = -ENOMEM;

	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		const char *k = group_key(v, i);

		if (k)
			e[ne++] = (struct gent){ v->all[i]->type, k, i };
	}
	qsort(e, ne, sizeof(*e), cmp_gent);
	v->g = calloc(ne ? ne : 1, sizeof(*v->g));
	v->members = malloc(2 * (ne ? ne : 1) * sizeof(*v->members));
	if (!v->g || !v->members)
		goto out;
	for (size_t a = 0, b; a < ne; a = b) {
		struct group *g = &v->g[v->ng];

		for (b = a + 1; b < ne && e[b].type == e[a].type && !strcmp(e[b].key, e[a].key); b++)
			;
		g->type = e[a].type;
		g->key = e[a].key;
		g->first = e[a].i;
		g->m = v->members + nm;
		for (size_t k = a; k < b; k++) {
			g->m[g->n++] = v->all[e[k].i];
			v->gof[e[k].i] = v->ng;
		}
		nm += g->n;
		v->ng++;
	}
	/* Superseded: named as prev by another member of the same group. */
	for (size_t i = 0; i < v->n; i++) {
		size_t p;

		if (v->gof[i] == SIZE_MAX || !v->all[i]->has_prev)
			continue;
		p = view_find(v, v->all[i]->prev);
		if (p != SIZE_MAX && p != i && v->gof[p] == v->gof[i])
			v->superseded[p] = 1;
	}
	for (size_t gi = 0; gi < v->ng; gi++) {
		struct group *g = &v->g[gi];

		g->heads = v->members + nm;
		for (size_t k = 0; k < g->n; k++) {
			size_t i = view_find(v, g->m[k]->id);

			if (!v->superseded[i])
				g->heads[g->nheads++] = g->m[k];
		}
		nm += g->nheads;
	}
	ret = 0;
out:
	free(e);
	return ret;
}

/* Acks attach to the assignment they ref (earliest ack wins, it is when
 * the crew knew); responses to the request group of what they ref, the
 * latest per callsign. */
static int build_answers(struct view *v)
{
	struct rent *r = malloc((v->n ? v->n : 1) * sizeof(*r));
	size_t nr = 0;

	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		const struct srec *x = v->all[i];
		size_t t;

		if (!x->has_ref || (t = view_find(v, x->ref)) == SIZE_MAX)
			continue;
		if (x->type == INC_ASSIGN_ACK && v->all[t]->type == INC_ASSIGN) {
			if (!v->ack[t])
				v->ack[t] = v->all[i]; /* i ascends in (created, id) */
		} else if (x->type == INC_RESPONSE && v->all[t]->type == INC_REQUEST && v->gof[t] != SIZE_MAX) {
			r[nr++] = (struct rent){ v->gof[t], i };
		}
	}
	qsort_r(r, nr, sizeof(*r), cmp_rent, v);
	v->resp = malloc((nr ? nr : 1) * sizeof(*v->resp));
	v->resp_g = malloc((nr ? nr : 1) * sizeof(*v->resp_g));
	if (!v->resp || !v->resp_g) {
		free(r);
		return -ENOMEM;
	}
	for (size_t k = 0; k < nr; k++) {
		if (k + 1 < nr && r[k + 1].g == r[k].g &&
		    !strcmp(v->all[r[k + 1].i]->b.response->callsign, v->all[r[k].i]->b.response->callsign))
			continue; /* a later response of the same callsign wins */
		v->resp[v->nresp] = v->all[r[k].i];
		v->resp_g[v->nresp++] = r[k].g;
	}
	free(r);
	return 0;
}

void view_free(struct view *v)
{
	free(v->all);
	free(v->byid);
	free(v->superseded);
	free(v->gof);
	free(v->ack);
	free(v->g);
	free(v->members);
	free(v->rootkey);
	free(v->resp);
	free(v->resp_g);
	memset(v, 0, sizeof(*v));
}

int view_build(struct view *v, const struct scene *s)
{
	size_t n = 0, cap = s->n ? s->n : 1;
	size_t *root = NULL, *path = NULL;
	uint8_t *state = NULL;
	int ret = -ENOMEM;

	memset(v, 0, sizeof(*v));
	v->incident = scene_incident(s);
	v->all = malloc(cap * sizeof(*v->all));
	if (!v->all)
		goto out;
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->recs[i]->incident, v->incident))
			v->all[n++] = s->recs[i];
	v->n = n;
	qsort(v->all, n, sizeof(*v->all), cmp_time_p);
	v->byid = malloc(cap * sizeof(*v->byid));
	v->superseded = calloc(cap, 1);
	v->gof = malloc(cap * sizeof(*v->gof));
	v->ack = calloc(cap, sizeof(*v->ack));
	v->rootkey = calloc(cap, sizeof(*v->rootkey));
	root = malloc(cap * sizeof(*root));
	path = malloc(cap * sizeof(*path));
	state = calloc(cap, 1);
	if (!v->byid || !v->superseded || !v->gof || !v->ack || !v->rootkey || !root || !path || !state)
		goto out;
	for (size_t i = 0; i < n; i++) {
		v->byid[i] = i;
		v->gof[i] = SIZE_MAX;
	}
	qsort_r(v->byid, n, sizeof(*v->byid), cmp_byid, v);
	resolve_roots(v, root, state, path);
	if ((ret = build_groups(v)) || (ret = build_answers(v)))
		goto out;
	ret = 0;
out:
	free(root);
	free(path);
	free(state);
	if (ret)
		view_free(v);
	return ret;
}

const struct group *view_group(const struct view *v, uint8_t type, const char *key)
{
	size_t lo = 0, hi = v->ng;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct group *g = &v->g[mid];
		int c = g->type != type ? (g->type < type ? -1 : 1) : strcmp(g->key, key);

		if (!c)
			return g;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int scene_head(const struct scene *s, uint8_t type, const char *key, uint8_t id[static BUNDLE_ID_BYTES])
{
	struct view v;
	const struct group *g = NULL;
	int ret;

	if (type != INC_METHANE && type != INC_CHECKIN && type != INC_ASSIGN && type != INC_TRIAGE &&
	    type != INC_CASUALTY && type != INC_REQUEST)
		return MU_E_NOTFOUND;
	if (type != INC_METHANE && !key)
		return MU_E_NOTFOUND;
	if ((ret = view_build(&v, s)))
		return ret;
	if (type == INC_REQUEST) {
		/* A unique prefix of at least 8 hex digits names a request too. */
		size_t kl = strlen(key), found = 0;

		for (size_t gi = 0; kl >= 8 && kl <= 2 * BUNDLE_ID_BYTES && gi < v.ng; gi++) {
			if (v.g[gi].type == INC_REQUEST && !strncasecmp(v.g[gi].key, key, kl)) {
				g = &v.g[gi];
				found++;
			}
		}
		if (found != 1)
			g = NULL;
	} else {
		g = view_group(&v, type, type == INC_METHANE ? "" : key);
	}
	if (g && g->nheads)
		memcpy(id, g->heads[g->nheads - 1]->id, BUNDLE_ID_BYTES);
	ret = g && g->nheads ? 0 : MU_E_NOTFOUND;
	view_free(&v);
	return ret;
}
