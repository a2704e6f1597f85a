/* Scene views: what a realistic incident derives to (conflicts shown, not
 * hidden), that the rendering depends only on the set of records (200
 * seeded permutations, partitions, duplicates), the incident filter,
 * scene_head, the record cap and the cost of 100,000 records. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "incident.h"
#include "testutil.h"

#define T0 1780315200000ull /* 2026-06-01T12:00:00Z */
#define MIN 60000ull
#define NOW (T0 + 60 * MIN)
#define INC "INC-2026-0412"

struct ent {
	uint8_t id[BUNDLE_ID_BYTES];
	uint8_t sender[MU_KEY_BYTES];
	const char *name;
	uint64_t created;
	struct inc_record r;
};

struct world {
	struct ent *e;
	size_t n, cap;
};

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static const char *const senders[] = { "Jo Bloggs (aic)", "Sam Smith (aic)", "Crew A1 (paramedic)",
				       "Crew H1 (hart)", "Dr Lee (doctor)" };

/* Ids look random and are unrelated to creation order, like real ones. */
static const uint8_t *add(struct world *w, uint64_t created, int sender, const struct inc_record *r)
{
	struct ent *e;
	uint64_t save = rng_state;

	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 64;
		w->e = realloc(w->e, w->cap * sizeof(*w->e));
		CHECK(w->e);
	}
	e = &w->e[w->n++];
	rng_state = 0x1234 + w->n * 7919;
	for (size_t k = 0; k < BUNDLE_ID_BYTES; k += 8) {
		uint64_t v = rng();

		memcpy(e->id + k, &v, 8);
	}
	rng_state = save;
	memset(e->sender, 0x40 + sender, MU_KEY_BYTES);
	e->name = senders[sender];
	e->created = created;
	e->r = *r;
	return e->id;
}

static struct inc_record rec(uint8_t type, const uint8_t *prev, const uint8_t *ref)
{
	struct inc_record r;

	memset(&r, 0, sizeof(r));
	r.type = type;
	strcpy(r.incident, INC);
	if (prev) {
		r.has_prev = true;
		memcpy(r.prev, prev, BUNDLE_ID_BYTES);
	}
	if (ref) {
		r.has_ref = true;
		memcpy(r.ref, ref, BUNDLE_ID_BYTES);
	}
	return r;
}

static const uint8_t *methane(struct world *w, uint64_t t, int by, const uint8_t *prev, uint16_t p1,
			      const char *hazards)
{
	struct inc_record r = rec(INC_METHANE, prev, NULL);

	r.u.methane.declared = METHANE_DECLARED;
	r.u.methane.loc_kind = LOC_GRID;
	strcpy(r.u.methane.location, "TQ 3012 8045");
	strcpy(r.u.methane.type, "Train derailment");
	strcpy(r.u.methane.hazards, hazards);
	strcpy(r.u.methane.access, "Station Rd from the north; RVP car park");
	r.u.methane.casualties[0] = p1;
	r.u.methane.casualties[1] = 20;
	r.u.methane.casualties[2] = 40;
	strcpy(r.u.methane.services, "Fire, police, HART");
	return add(w, t, by, &r);
}

static const uint8_t *checkin(struct world *w, uint64_t t, const char *cs, uint8_t status, const uint8_t *prev)
{
	struct inc_record r = rec(INC_CHECKIN, prev, NULL);

	strcpy(r.u.checkin.callsign, cs);
	r.u.checkin.status = status;
	r.u.checkin.skills = 1u << SKILL_PARAMEDIC | (cs[0] == 'H' ? 1u << SKILL_HART : 1u << SKILL_TECHNICIAN);
	snprintf(r.u.checkin.vehicle, sizeof(r.u.checkin.vehicle), "AM-%s", cs);
	strcpy(r.u.checkin.location, "RVP");
	r.u.checkin.n_members = 2;
	memset(r.u.checkin.members[0], 0x11, MU_KEY_BYTES);
	memset(r.u.checkin.members[1], cs[1], MU_KEY_BYTES);
	return add(w, t, 2, &r);
}

static const uint8_t *assign(struct world *w, uint64_t t, int by, const char *cs, const char *fn, const char *sector,
			     const uint8_t *prev)
{
	struct inc_record r = rec(INC_ASSIGN, prev, NULL);

	strcpy(r.u.assign.callsign, cs);
	strcpy(r.u.assign.function, fn);
	strcpy(r.u.assign.sector, sector);
	return add(w, t, by, &r);
}

static void ack(struct world *w, uint64_t t, const char *cs, const uint8_t *assignment)
{
	struct inc_record r = rec(INC_ASSIGN_ACK, NULL, assignment);

	strcpy(r.u.ack.callsign, cs);
	add(w, t, 2, &r);
}

static const uint8_t *request(struct world *w, uint64_t t, uint8_t count, uint8_t skill, const char *sector,
			      const uint8_t *prev, uint8_t cancelled)
{
	struct inc_record r = rec(INC_REQUEST, prev, NULL);

	r.u.request.count = count;
	r.u.request.skill = skill;
	strcpy(r.u.request.sector, sector);
	r.u.request.cancelled = cancelled;
	return add(w, t, 0, &r);
}

static void respond(struct world *w, uint64_t t, const char *cs, const uint8_t *req, uint8_t count)
{
	struct inc_record r = rec(INC_RESPONSE, NULL, req);

	strcpy(r.u.response.callsign, cs);
	r.u.response.accept = count > 0;
	r.u.response.count = count;
	add(w, t, 3, &r);
}

static const uint8_t *triage(struct world *w, uint64_t t, const char *ccs, const uint8_t *prev, uint16_t p1,
			     uint16_t p2, uint16_t p3, uint16_t dead)
{
	struct inc_record r = rec(INC_TRIAGE, prev, NULL);

	strcpy(r.u.triage.ccs, ccs);
	r.u.triage.count[0] = p1;
	r.u.triage.count[1] = p2;
	r.u.triage.count[2] = p3;
	r.u.triage.count[3] = dead;
	r.u.triage.at = t - MIN;
	return add(w, t, 4, &r);
}

static const uint8_t *casualty(struct world *w, uint64_t t, const char *tag, uint8_t prio, const char *dest,
			       uint64_t departed, const uint8_t *prev)
{
	struct inc_record r = rec(INC_CASUALTY, prev, NULL);

	strcpy(r.u.casualty.tag, tag);
	r.u.casualty.priority = prio;
	strcpy(r.u.casualty.destination, dest);
	r.u.casualty.departed = departed;
	return add(w, t, 4, &r);
}

/* The incident: every rule of the views is exercised at least once. */
static void build_incident(struct world *w)
{
	const uint8_t *m1, *m2, *c, *a1, *a2, *a3, *r1, *r2, *r3, *r4, *tn, *ts, *cas;
	uint8_t id[BUNDLE_ID_BYTES], keep[8][BUNDLE_ID_BYTES];
	struct inc_record other = rec(INC_TRIAGE, NULL, NULL);

	memset(w, 0, sizeof(*w));
	m1 = methane(w, T0, 0, NULL, 5, "Overhead lines");
	m2 = methane(w, T0 + 5 * MIN, 0, m1, 8, "Overhead lines");
	memcpy(id, m2, sizeof(id));
	methane(w, T0 + 10 * MIN, 0, id, 12, "Overhead lines, diesel spill");
	methane(w, T0 + 10 * MIN + 30000, 1, id, 10, "Overhead lines"); /* concurrent: conflict */
	static const char *const crews[5] = { "A1", "A2", "A3", "A4", "H1" };
	for (int k = 0; k < 5; k++) {
		c = checkin(w, T0 + (2 + k) * MIN, crews[k], CREW_AVAILABLE, NULL);
		memcpy(keep[k], c, BUNDLE_ID_BYTES);
	}
	for (int k = 0; k < 4; k++) {
		c = checkin(w, T0 + (12 + k) * MIN, crews[k], CREW_COMMITTED, keep[k]);
		memcpy(keep[k], c, BUNDLE_ID_BYTES);
	}
	c = checkin(w, T0 + 30 * MIN, "A2", CREW_TRANSPORTING, keep[1]);
	memcpy(keep[1], c, BUNDLE_ID_BYTES);
	checkin(w, T0 + 40 * MIN, "H1", CREW_CHECKED_OUT, keep[4]);
	a1 = assign(w, T0 + 8 * MIN, 0, "A1", "triage", "sector 1", NULL);
	memcpy(keep[5], a1, BUNDLE_ID_BYTES);
	ack(w, T0 + 9 * MIN, "A1", keep[5]);
	a1 = assign(w, T0 + 20 * MIN, 0, "A1", "CCS", "north", keep[5]);
	memcpy(keep[5], a1, BUNDLE_ID_BYTES);
	ack(w, T0 + 21 * MIN, "A1", keep[5]);
	a2 = assign(w, T0 + 8 * MIN, 0, "A2", "CCS", "south", NULL);
	memcpy(keep[6], a2, BUNDLE_ID_BYTES);
	ack(w, T0 + 8 * MIN + 30000, "A2", keep[6]);
	a3 = assign(w, T0 + 9 * MIN, 0, "A3", "forward command", "inner", NULL);
	(void)a3;
	assign(w, T0 + 9 * MIN, 0, "A4", "triage", "sector 2", NULL);
	assign(w, T0 + 9 * MIN + 10000, 1, "A4", "loading", "sector 3", NULL); /* concurrent: conflict */
	r1 = request(w, T0 + 11 * MIN, 2, SKILL_PARAMEDIC, "sector 1", NULL, 0);
	memcpy(keep[7], r1, BUNDLE_ID_BYTES);
	respond(w, T0 + 12 * MIN, "A1", keep[7], 1);
	respond(w, T0 + 13 * MIN, "A2", keep[7], 1);
	r2 = request(w, T0 + 14 * MIN, 2, SKILL_HART, "inner cordon", NULL, 0);
	memcpy(id, r2, sizeof(id));
	respond(w, T0 + 15 * MIN, "H1", id, 0);
	respond(w, T0 + 17 * MIN, "H1", id, 2); /* the later answer wins */
	r3 = request(w, T0 + 16 * MIN, 3, SKILL_DOCTOR, "CCS north", NULL, 0);
	memcpy(id, r3, sizeof(id));
	request(w, T0 + 26 * MIN, 3, SKILL_DOCTOR, "CCS north", id, 1);
	r4 = request(w, T0 + 18 * MIN, 2, SKILL_TECHNICIAN, "loading", NULL, 0);
	memcpy(id, r4, sizeof(id));
	respond(w, T0 + 19 * MIN, "A3", id, 2);
	respond(w, T0 + 19 * MIN + 5000, "A4", id, 1); /* over-filled */
	tn = triage(w, T0 + 15 * MIN, "CCS North", NULL, 3, 5, 10, 0);
	memcpy(id, tn, sizeof(id));
	triage(w, T0 + 25 * MIN, "CCS North", id, 4, 7, 15, 1);
	ts = triage(w, T0 + 18 * MIN, "CCS South", NULL, 1, 2, 6, 0);
	memcpy(id, ts, sizeof(id));
	triage(w, T0 + 28 * MIN, "CCS South", id, 2, 4, 9, 0);
	static const char *const dest[2] = { "Royal London", "St Thomas'" };
	for (int k = 0; k < 16; k++) {
		char tag[16];

		snprintf(tag, sizeof(tag), "T-%03d", k + 1);
		cas = casualty(w, T0 + (30 + k) * MIN, tag, (uint8_t)(k % 3), dest[k % 2], k < 6 ? T0 + (32 + k) * MIN : 0,
			       NULL);
		if (k == 7) {
			memcpy(id, cas, sizeof(id));
			casualty(w, T0 + 45 * MIN, tag, TRIAGE_P1, dest[0], T0 + 46 * MIN, id);
		}
	}
	strcpy(other.incident, "INC-2026-0001");
	strcpy(other.u.triage.ccs, "Elsewhere");
	add(w, T0 - 24 * 60 * MIN, 4, &other); /* another, older incident */
}

/* ---- rendering into a string ---- */

struct buf {
	char *p;
	size_t n, cap;
};

static int collect(void *ctx, const char *text)
{
	struct buf *b = ctx;
	size_t len = strlen(text);

	if (b->n + len + 1 > b->cap) {
		b->cap = 2 * (b->n + len + 1);
		b->p = realloc(b->p, b->cap);
		CHECK(b->p);
	}
	memcpy(b->p + b->n, text, len + 1);
	b->n += len;
	return 0;
}

static int names(void *ctx, const uint8_t key[static MU_KEY_BYTES], char *buf, size_t cap)
{
	(void)ctx;
	if (key[0] != 0x11)
		return -1;
	snprintf(buf, cap, "Alex Example");
	return 0;
}

static char *render(struct scene *s, enum scene_view v, unsigned flags)
{
	struct buf b = { calloc(1, 1), 0, 1 };

	CHECK(b.p);
	CHECK_OK(scene_render(s, v, flags, NOW, names, NULL, collect, &b));
	return b.p;
}

static struct scene *scene_of(const struct world *w, const size_t *order, size_t n, const char *incident)
{
	struct scene *s;

	CHECK_OK(scene_new(&s, incident));
	for (size_t k = 0; k < n; k++) {
		const struct ent *e = &w->e[order ? order[k] : k];

		CHECK_OK(scene_add(s, e->id, e->sender, e->name, e->created, &e->r));
	}
	return s;
}

#define NVIEWS 5
#define NFLAGS 3
static const unsigned flagsets[NFLAGS] = { 0, SCENE_F_COLOUR, SCENE_F_JSON };

static void render_all(struct scene *s, char *out[NVIEWS * NFLAGS])
{
	for (int v = 0; v < NVIEWS; v++)
		for (int f = 0; f < NFLAGS; f++)
			out[v * NFLAGS + f] = render(s, (enum scene_view)v, flagsets[f]);
}

static void free_all(char *out[NVIEWS * NFLAGS])
{
	for (int k = 0; k < NVIEWS * NFLAGS; k++)
		free(out[k]);
}

static void same_all(char *a[NVIEWS * NFLAGS], char *b[NVIEWS * NFLAGS], uint64_t seed)
{
	for (int k = 0; k < NVIEWS * NFLAGS; k++) {
		if (strcmp(a[k], b[k])) {
			fprintf(stderr, "view %d flags %u differs (seed %llu)\n--- want\n%s\n--- got\n%s\n", k / NFLAGS,
				flagsets[k % NFLAGS], (unsigned long long)seed, a[k], b[k]);
			CHECK(!"views differ");
		}
	}
}

/* A minimal JSON syntax check: one value, then only whitespace. */
static const char *json_value(const char *p);

static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

static const char *json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (; *p && *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\' && !*++p)
			return NULL;
	}
	return *p == '"' ? p + 1 : NULL;
}

static const char *json_value(const char *p)
{
	p = json_ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		int obj = *p == '{';

		p = json_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (obj) {
				if (!(p = json_string(json_ws(p))))
					return NULL;
				p = json_ws(p);
				if (*p++ != ':')
					return NULL;
			}
			if (!(p = json_value(p)))
				return NULL;
			p = json_ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	if (*p == '"')
		return json_string(p);
	if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	if (*p >= '0' && *p <= '9') {
		while (*p >= '0' && *p <= '9')
			p++;
		return p;
	}
	return NULL;
}

static int json_ok(const char *s)
{
	const char *end = json_value(s);

	return end && !*json_ws(end);
}

static size_t display_width(const char *s, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++)
		w += ((unsigned char)s[i] & 0xc0) != 0x80;
	return w;
}

/* Table rows and headings (lines not indented) fit 80 columns. */
static void check_80(const char *text)
{
	for (const char *l = text; *l;) {
		const char *e = strchr(l, '\n');
		size_t n = e ? (size_t)(e - l) : strlen(l);

		if (n && l[0] != ' ' && display_width(l, n) > 80) {
			fprintf(stderr, "line over 80 columns: %.*s\n", (int)n, l);
			CHECK(!"line too long");
		}
		l += n + (e ? 1 : 0);
	}
}

static void test_views(void)
{
	struct world w;
	struct scene *s;
	char *out[NVIEWS * NFLAGS];

	build_incident(&w);
	printf("incident of %zu records\n", w.n);
	CHECK(w.n >= 55);
	s = scene_of(&w, NULL, w.n, NULL);
	CHECK(!strcmp(scene_incident(s), INC));
	render_all(s, out);
	for (int v = 0; v < NVIEWS; v++) {
		CHECK(!strstr(out[v * NFLAGS], "\033"));
		CHECK(json_ok(out[v * NFLAGS + 2]));
		if (v != VIEW_METHANE && v != VIEW_REPORT)
			check_80(out[v * NFLAGS]);
	}
	printf("%s\n%s\n", out[VIEW_REPORT * NFLAGS], out[VIEW_ROSTER * NFLAGS + 1]);
	/* M/ETHANE: the two concurrent updates of report 2 are both shown. */
	const char *m = out[VIEW_METHANE * NFLAGS];
	CHECK(strstr(m, "CONFLICT: 2 concurrent reports"));
	CHECK(strstr(m, "History (4 reports)"));
	CHECK(strstr(m, "by Sam Smith (aic)\n")); /* the later head is shown */
	CHECK(strstr(m, "P1 10"));
	CHECK(strstr(m, "  *changed"));
	CHECK(strstr(strstr(m, "updates #2"), "updates #2"));
	CHECK(strstr(m, "[CONFLICT]"));
	/* Roster */
	const char *r = out[VIEW_ROSTER * NFLAGS];
	CHECK(strstr(r, "(5 crews)"));
	CHECK(strstr(r, "A1        committed    para,tech    AM-A1    CCS / north          "));
	CHECK(strstr(r, "A2        transporting "));
	CHECK(strstr(r, "A3        committed    para,tech    AM-A3    forward command / i~ NOT ACKED"));
	CHECK(strstr(r, "CONFLICT: assigned 2 times concurrently"));
	CHECK(strstr(r, "H1        checked-out  para,HART "));
	CHECK(strstr(r, "crew: Alex Example, 31313131")); /* named, and the hex of an unknown key */
	CHECK(strstr(r, "in since 12:02:00Z")); /* first check-in, not the latest */
	/* Requests */
	const char *q = out[VIEW_REQUESTS * NFLAGS];
	CHECK(strstr(q, "(4, 0 open)"));
	CHECK(strstr(q, "d648751e filled     2    2    paramedic  sector 1      12:11:00Z Jo Bloggs (aic)\n"));
	CHECK(strstr(q, "H1 accepted 2"));
	CHECK(!strstr(q, "H1 declined"));
	CHECK(strstr(q, "cancelled  3    0    doctor"));
	CHECK(strstr(q, "CONFLICT: over-filled, 3 accepted for 2 needed"));
	CHECK(strstr(out[VIEW_REQUESTS * NFLAGS + 1], "\033[1;31m3\033[0m    "));
	/* Triage */
	const char *t = out[VIEW_TRIAGE * NFLAGS];
	CHECK(strstr(t, "CCS North            4     7    15     1 12:24:00Z (36 min ago)\n"));
	CHECK(strstr(t, "TOTAL                6    11    24     1\n"));
	CHECK(strstr(t, "T-008      P1   Royal London             12:46:00Z"));
	CHECK(strstr(t, "T-010      P1   St Thomas'               not yet    -\n"));
	CHECK(strstr(t, "Royal London                         4     2     3     9\n"));
	CHECK(strstr(t, "St Thomas'                           3     2     2     7\n"));
	CHECK(strstr(out[VIEW_TRIAGE * NFLAGS + 1], "\033[31m"));
	CHECK(!strstr(out[VIEW_TRIAGE * NFLAGS + 2], "Elsewhere")); /* other incident */
	/* Report: every record of the incident on the timeline */
	CHECK(strstr(out[VIEW_REPORT * NFLAGS], "Timeline  (56 records)"));
	CHECK(w.n == 57);
	free_all(out);
	scene_free(s);
	free(w.e);
}

static void shuffle(size_t *o, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rng() % i), t = o[i - 1];

		o[i - 1] = o[j];
		o[j] = t;
	}
}

static void test_permutations(void)
{
	struct world w;
	struct scene *s;
	char *want[NVIEWS * NFLAGS], *got[NVIEWS * NFLAGS];
	uint64_t seed = (uint64_t)time(NULL);
	size_t *order;

	if (getenv("MU_SEED"))
		seed = strtoull(getenv("MU_SEED"), NULL, 10);
	printf("seed %llu (MU_SEED=%llu repeats)\n", (unsigned long long)seed, (unsigned long long)seed);
	rng_state = seed;
	build_incident(&w);
	order = malloc(w.n * sizeof(*order));
	CHECK(order);
	s = scene_of(&w, NULL, w.n, NULL);
	render_all(s, want);
	scene_free(s);
	for (int round = 0; round < 200; round++) {
		for (size_t k = 0; k < w.n; k++)
			order[k] = k;
		shuffle(order, w.n);
		s = scene_of(&w, order, w.n, round % 2 ? INC : NULL);
		render_all(s, got);
		same_all(want, got, seed);
		free_all(got);
		scene_free(s);
	}
	free_all(want);
	free(order);
	free(w.e);
}

/* Two nodes each hold part of the records; merging them (plus duplicates)
 * gives exactly the view of the whole. */
static void test_partition(void)
{
	struct world w;
	struct scene *s;
	char *want[NVIEWS * NFLAGS], *got[NVIEWS * NFLAGS];
	size_t *order;
	uint64_t seed = 42;

	rng_state = seed;
	build_incident(&w);
	order = malloc(w.n * sizeof(*order));
	CHECK(order);
	s = scene_of(&w, NULL, w.n, NULL);
	render_all(s, want);
	scene_free(s);
	for (int round = 0; round < 20; round++) {
		size_t cut;

		for (size_t k = 0; k < w.n; k++)
			order[k] = k;
		shuffle(order, w.n);
		cut = (size_t)(rng() % w.n);
		/* node B's part, then node A's part with an overlap */
		s = scene_of(&w, order + cut, w.n - cut, NULL);
		for (size_t k = 0; k < cut + (cut < w.n ? 1 : 0); k++) {
			const struct ent *e = &w.e[order[k]];

			CHECK_OK(scene_add(s, e->id, e->sender, e->name, e->created, &e->r));
		}
		render_all(s, got);
		same_all(want, got, seed);
		free_all(got);
		scene_free(s);
	}
	/* A part alone differs (the test can fail). */
	s = scene_of(&w, NULL, w.n / 2, NULL);
	render_all(s, got);
	CHECK(strcmp(want[VIEW_REPORT * NFLAGS], got[VIEW_REPORT * NFLAGS]));
	free_all(got);
	scene_free(s);
	free_all(want);
	free(order);
	free(w.e);
}

static void test_head(void)
{
	struct world w;
	struct scene *s;
	uint8_t id[BUNDLE_ID_BYTES];
	char hex[2 * BUNDLE_ID_BYTES + 1];
	const struct ent *last_methane = NULL, *r3 = NULL, *r3c = NULL;

	build_incident(&w);
	s = scene_of(&w, NULL, w.n, NULL);
	for (size_t k = 0; k < w.n; k++) {
		const struct ent *e = &w.e[k];

		if (e->r.type == INC_METHANE)
			last_methane = e; /* added in time order; the latest is the shown head */
		if (e->r.type == INC_REQUEST && e->r.u.request.skill == SKILL_DOCTOR)
			*(e->r.has_prev ? &r3c : &r3) = e;
	}
	CHECK_OK(scene_head(s, INC_METHANE, NULL, id));
	CHECK(!memcmp(id, last_methane->id, BUNDLE_ID_BYTES));
	hex_encode(hex, r3->id, BUNDLE_ID_BYTES);
	CHECK_OK(scene_head(s, INC_REQUEST, hex, id));
	CHECK(!memcmp(id, r3c->id, BUNDLE_ID_BYTES));
	hex[8] = 0;
	CHECK_OK(scene_head(s, INC_REQUEST, hex, id));
	CHECK(!memcmp(id, r3c->id, BUNDLE_ID_BYTES));
	hex[7] = 0;
	CHECK_RET(scene_head(s, INC_REQUEST, hex, id), MU_E_NOTFOUND); /* too short */
	CHECK_OK(scene_head(s, INC_CHECKIN, "A2", id));
	for (size_t k = 0; k < w.n; k++)
		if (!memcmp(w.e[k].id, id, BUNDLE_ID_BYTES))
			CHECK(w.e[k].r.u.checkin.status == CREW_TRANSPORTING);
	CHECK_OK(scene_head(s, INC_ASSIGN, "A1", id));
	CHECK_OK(scene_head(s, INC_TRIAGE, "CCS South", id));
	CHECK_OK(scene_head(s, INC_CASUALTY, "T-008", id));
	CHECK_RET(scene_head(s, INC_CHECKIN, "Z9", id), MU_E_NOTFOUND);
	CHECK_RET(scene_head(s, INC_TRIAGE, "Elsewhere", id), MU_E_NOTFOUND);
	CHECK_RET(scene_head(s, INC_RESPONSE, "A1", id), MU_E_NOTFOUND);
	scene_free(s);
	free(w.e);
}

static int fail_out(void *ctx, const char *text)
{
	int *calls = ctx;

	(void)text;
	return ++*calls == 3 ? 7 : 0;
}

static void test_filter_and_errors(void)
{
	struct world w;
	struct scene *s;
	struct inc_record bad;
	char *t;
	int calls = 0;

	build_incident(&w);
	s = scene_of(&w, NULL, w.n, "INC-2026-0001");
	CHECK(!strcmp(scene_incident(s), "INC-2026-0001"));
	t = render(s, VIEW_TRIAGE, 0);
	CHECK(strstr(t, "Elsewhere"));
	CHECK(!strstr(t, "CCS North"));
	free(t);
	t = render(s, VIEW_METHANE, 0);
	CHECK(strstr(t, "no report yet"));
	free(t);
	scene_free(s);
	/* NULL: the incident of the latest-created record */
	s = scene_of(&w, NULL, w.n, NULL);
	CHECK(!strcmp(scene_incident(s), INC));
	w.e[w.n - 1].created = NOW;
	scene_free(s);
	s = scene_of(&w, NULL, w.n, NULL);
	CHECK(!strcmp(scene_incident(s), "INC-2026-0001"));
	/* out() errors stop rendering and come back */
	CHECK_RET(scene_render(s, VIEW_REPORT, 0, NOW, NULL, NULL, fail_out, &calls), 7);
	CHECK(calls == 3);
	/* invalid records are refused, nothing stored changes */
	bad = w.e[0].r;
	bad.u.methane.location[0] = 0;
	CHECK_RET(scene_add(s, w.e[0].id, w.e[0].sender, "x", 1, &bad), MU_E_FORMAT);
	scene_free(s);
	CHECK_OK(scene_new(&s, NULL));
	CHECK(!strcmp(scene_incident(s), ""));
	t = render(s, VIEW_REPORT, SCENE_F_JSON);
	CHECK(json_ok(t));
	free(t);
	scene_free(s);
	scene_free(NULL);
	free(w.e);
}

/* SCENE_RECORDS_MAX records of every kind: all views render (time printed,
 * bound generous), and one more record is refused. */
static void test_large(void)
{
	struct scene *s;
	struct inc_record r;
	uint8_t id[BUNDLE_ID_BYTES] = { 0 }, sender[MU_KEY_BYTES] = { 0 };
	struct timespec a, b;
	struct buf out = { NULL, 0, 0 };
	double secs;

	CHECK_OK(scene_new(&s, INC));
	rng_state = 7;
	for (uint32_t i = 0; i < SCENE_RECORDS_MAX; i++) {
		uint64_t v = rng();

		memcpy(id, &v, 8);
		memcpy(id + 8, &i, 4);
		r = rec((uint8_t)(1 + i % INC_TYPE_MAX), NULL, NULL);
		switch (r.type) {
		case INC_METHANE:
			strcpy(r.u.methane.location, "here");
			strcpy(r.u.methane.type, "big");
			strcpy(r.u.methane.services, "all");
			break;
		case INC_CHECKIN:
			snprintf(r.u.checkin.callsign, sizeof(r.u.checkin.callsign), "C%u", i % 5000);
			break;
		case INC_ASSIGN:
			snprintf(r.u.assign.callsign, sizeof(r.u.assign.callsign), "C%u", i % 5000);
			strcpy(r.u.assign.function, "triage");
			break;
		case INC_ASSIGN_ACK:
		case INC_RESPONSE:
			r.has_ref = true;
			memcpy(r.ref, id, sizeof(id));
			r.ref[0] ^= 1;
			strcpy(r.u.response.callsign, "C1");
			r.u.response.accept = 1;
			r.u.response.count = 1;
			break;
		case INC_REQUEST:
			r.u.request.count = 2;
			strcpy(r.u.request.sector, "s");
			break;
		case INC_TRIAGE:
			snprintf(r.u.triage.ccs, sizeof(r.u.triage.ccs), "CCS %u", i % 50);
			break;
		case INC_CASUALTY:
			snprintf(r.u.casualty.tag, sizeof(r.u.casualty.tag), "T%u", i);
			strcpy(r.u.casualty.destination, "Royal London");
			break;
		}
		CHECK_OK(scene_add(s, id, sender, "someone", T0 + i, &r));
	}
	id[20] = 1;
	CHECK_RET(scene_add(s, id, sender, "someone", T0, &r), MU_E_TOOBIG);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int v = 0; v < NVIEWS; v++) {
		out.n = 0;
		CHECK_OK(scene_render(s, (enum scene_view)v, 0, NOW, NULL, NULL, collect, &out));
		CHECK(out.n > 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("%d records: all five text views in %.3f s\n", SCENE_RECORDS_MAX, secs);
	CHECK(secs < 60); /* a hang, not a benchmark: timing is printed */
	free(out.p);
	scene_free(s);
}

static const struct test tests[] = {
	{ "/scene/views", test_views },
	{ "/scene/permutations", test_permutations },
	{ "/scene/partition", test_partition },
	{ "/scene/head", test_head },
	{ "/scene/filter-errors", test_filter_and_errors },
	{ "/scene/large", test_large },
};

TEST_MAIN(tests)
