/* Text and JSON rendering of the views derived in scene.c. Everything shown
 * comes from struct view in its fixed orders; nothing here depends on the
 * order records were added. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "hex.h"
#include "json.h"
#include "scene_int.h"
#include "scene_stream.h"

#define PIECE_MAX 4096 /* out() gets a line, or pieces of about this size */

#define C_RED "31"
#define C_YELLOW "33"
#define C_GREEN "32"
#define C_ALERT "1;31"
#define C_OPEN "1;36"

struct out {
	const struct view *v;
	unsigned flags;
	uint64_t now;
	scene_name_fn names;
	void *names_ctx;
	scene_out_fn fn;
	void *ctx;
	char *buf;
	size_t n, cap;
	size_t sent; /* bytes handed to fn so far */
	int err;
};

static void flush(struct out *o)
{
	int r;

	if (o->err || !o->n)
		return;
	if ((r = o->fn(o->ctx, o->buf)))
		o->err = r;
	o->sent += o->n;
	o->n = 0;
	o->buf[0] = 0;
}

static void putn(struct out *o, const char *s, size_t len)
{
	if (o->err)
		return;
	if (o->n + len + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		char *b;

		while (cap < o->n + len + 1)
			cap *= 2;
		if (!(b = realloc(o->buf, cap))) {
			o->err = -ENOMEM;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->n, s, len);
	o->n += len;
	o->buf[o->n] = 0;
	if ((len && s[len - 1] == '\n') || o->n >= PIECE_MAX)
		flush(o);
}

static void puts_(struct out *o, const char *s)
{
	putn(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	char small[512], *p = small;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (len < 0) {
		o->err = o->err ? o->err : MU_E_FORMAT;
		return;
	}
	if ((size_t)len >= sizeof(small)) {
		if (!(p = malloc((size_t)len + 1))) {
			o->err = o->err ? o->err : -ENOMEM;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(p, (size_t)len + 1, fmt, ap);
		va_end(ap);
	}
	putn(o, p, (size_t)len);
	if (p != small)
		free(p);
}

static void colour(struct out *o, const char *code)
{
	if (o->flags & SCENE_F_COLOUR)
		put(o, "\033[%sm", code);
}

static void colour_end(struct out *o)
{
	if (o->flags & SCENE_F_COLOUR)
		puts_(o, "\033[0m");
}

/* Display width in code points (terminal cells for the scripts staff names
 * and places use here). */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* One column: text (or "-") cut to width code points ('~' marks a cut),
 * in colour when asked, padded to width unless last. */
static void cell(struct out *o, const char *s, size_t width, const char *code, int last)
{
	size_t w, bytes = 0, cps = 0;

	if (!s || !*s)
		s = "-";
	w = text_width(s);
	if (w > width) {
		while (s[bytes] && cps < width - 1) {
			bytes++;
			while (((unsigned char)s[bytes] & 0xc0) == 0x80)
				bytes++;
			cps++;
		}
	} else {
		bytes = strlen(s);
	}
	if (code)
		colour(o, code);
	putn(o, s, bytes);
	if (w > width)
		puts_(o, "~");
	if (code)
		colour_end(o);
	if (!last)
		put(o, "%*s", (int)(width - (w > width ? width : w) + 1), "");
}

static const char *dash(const char *s)
{
	return s && *s ? s : "-";
}

/* ---- times ---- */

static int utc(uint64_t ms, struct tm *tm)
{
	time_t t;

	if (ms / 1000 > (uint64_t)INT32_MAX * 366) /* far beyond any real clock */
		return -1;
	t = (time_t)(ms / 1000);
	return gmtime_r(&t, tm) ? 0 : -1;
}

static const char *clock_str(char buf[32], uint64_t ms)
{
	struct tm tm;

	if (!ms || utc(ms, &tm))
		return ms ? "?" : "-";
	snprintf(buf, 32, "%02d:%02d:%02dZ", tm.tm_hour, tm.tm_min, tm.tm_sec);
	return buf;
}

static const char *date_str(char buf[32], uint64_t ms)
{
	struct tm tm;

	if (utc(ms, &tm))
		return "?";
	snprintf(buf, 32, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	return buf;
}

static const char *age_str(char buf[32], uint64_t now, uint64_t t)
{
	uint64_t m;

	if (!t)
		return "-";
	if (t >= now || now - t < 60000)
		return "just now";
	m = (now - t) / 60000;
	if (m < 60)
		snprintf(buf, 32, "%u min ago", (unsigned)m);
	else if (m < 48 * 60)
		snprintf(buf, 32, "%uh%02u ago", (unsigned)(m / 60), (unsigned)(m % 60));
	else
		snprintf(buf, 32, "%llu d ago", (unsigned long long)(m / (24 * 60)));
	return buf;
}

static const char *short_id(char buf[32], const uint8_t *id)
{
	hex_encode(buf, id, 4);
	return buf;
}

static const char *const skill_abbr[SKILL_MAX + 1] = { "para", "tech", "HART", "dr", "nurse", "spec" };

static const char *skills_str(char buf[64], uint8_t skills)
{
	size_t n = 0;

	buf[0] = 0;
	for (int k = 0; k <= SKILL_MAX; k++)
		if (skills & (1u << k))
			n += (size_t)snprintf(buf + n, 64 - n, "%s%s", n ? "," : "", skill_abbr[k]);
	return buf;
}

static const char *tri_colour(int cat)
{
	return cat == TRIAGE_P1 ? C_RED : cat == TRIAGE_P2 ? C_YELLOW : cat == TRIAGE_P3 ? C_GREEN : NULL;
}

static const struct srec *shown(const struct group *g)
{
	if (!g || !g->n)
		return NULL;
	return g->nheads ? g->heads[g->nheads - 1] : g->m[g->n - 1];
}

static size_t idx(const struct view *v, const struct srec *r)
{
	return view_find(v, r->id);
}

/* Groups of one type are contiguous (sorted by type, key). */
static void type_range(const struct view *v, uint8_t type, size_t *a, size_t *b)
{
	size_t i = 0;

	while (i < v->ng && v->g[i].type < type)
		i++;
	*a = i;
	while (i < v->ng && v->g[i].type == type)
		i++;
	*b = i;
}

static void member_name(struct out *o, const uint8_t *key, char buf[128])
{
	if (!o->names || o->names(o->names_ctx, key, buf, 128) || !buf[0]) {
		hex_encode(buf, key, 4);
		return;
	}
	buf[127] = 0;
}

/* ---- JSON pieces ---- */

static void jstr(struct out *o, const char *s)
{
	char *q = json_quote(s);

	if (!q) {
		o->err = o->err ? o->err : -ENOMEM;
		return;
	}
	puts_(o, q);
	free(q);
}

static void jhex(struct out *o, const uint8_t *p, size_t n)
{
	char buf[2 * 64 + 1];

	hex_encode(buf, p, n);
	put(o, "\"%s\"", buf);
}

static void jcounts(struct out *o, const uint16_t c[4])
{
	put(o, "{\"P1\":%u,\"P2\":%u,\"P3\":%u,\"dead\":%u}", c[0], c[1], c[2], c[3]);
}

static void jkey(struct out *o, const char *k, const char *s)
{
	put(o, ",\"%s\":", k);
	jstr(o, s);
}

/* One record, every field, as an object. */
static void jrec(struct out *o, const struct srec *r)
{
	if (!r) {
		puts_(o, "null");
		return;
	}
	puts_(o, "{\"id\":");
	jhex(o, r->id, BUNDLE_ID_BYTES);
	put(o, ",\"created\":%llu,\"sender\":", (unsigned long long)r->created);
	jhex(o, r->sender, MU_KEY_BYTES);
	jkey(o, "sender_name", r->sender_name);
	put(o, ",\"type\":\"%s\",\"prev\":", inc_type_name(r->type));
	if (r->has_prev)
		jhex(o, r->prev, BUNDLE_ID_BYTES);
	else
		puts_(o, "null");
	puts_(o, ",\"ref\":");
	if (r->has_ref)
		jhex(o, r->ref, BUNDLE_ID_BYTES);
	else
		puts_(o, "null");
	switch ((enum inc_type)r->type) {
	case INC_METHANE: {
		const struct inc_methane *m = r->b.methane;

		put(o, ",\"declared\":\"%s\",\"loc_kind\":\"%s\"", inc_declared_name(m->declared),
		    inc_loc_kind_name(m->loc_kind));
		jkey(o, "location", m->location);
		jkey(o, "incident_type", m->type);
		jkey(o, "hazards", m->hazards);
		jkey(o, "access", m->access);
		puts_(o, ",\"casualties\":");
		jcounts(o, m->casualties);
		jkey(o, "casualty_note", m->casualty_note);
		jkey(o, "services", m->services);
		break;
	}
	case INC_CHECKIN: {
		const struct inc_checkin *c = r->b.checkin;

		jkey(o, "callsign", c->callsign);
		put(o, ",\"status\":\"%s\",\"skills\":[", inc_crew_status_name(c->status));
		for (int k = 0, n = 0; k <= SKILL_MAX; k++)
			if (c->skills & (1u << k))
				put(o, "%s\"%s\"", n++ ? "," : "", inc_skill_name((uint8_t)k));
		puts_(o, "]");
		jkey(o, "vehicle", c->vehicle);
		jkey(o, "location", c->location);
		puts_(o, ",\"members\":[");
		for (int k = 0; k < c->n_members; k++) {
			char name[128];

			member_name(o, c->members[k], name);
			puts_(o, k ? ",{\"key\":" : "{\"key\":");
			jhex(o, c->members[k], MU_KEY_BYTES);
			jkey(o, "name", name);
			puts_(o, "}");
		}
		puts_(o, "]");
		break;
	}
	case INC_ASSIGN:
		jkey(o, "callsign", r->b.assign->callsign);
		jkey(o, "function", r->b.assign->function);
		jkey(o, "sector", r->b.assign->sector);
		jkey(o, "note", r->b.assign->note);
		break;
	case INC_ASSIGN_ACK:
		jkey(o, "callsign", r->b.ack->callsign);
		break;
	case INC_REQUEST:
		put(o, ",\"count\":%u,\"skill\":\"%s\"", r->b.request->count, inc_skill_name(r->b.request->skill));
		jkey(o, "sector", r->b.request->sector);
		jkey(o, "note", r->b.request->note);
		put(o, ",\"cancelled\":%s", r->b.request->cancelled ? "true" : "false");
		break;
	case INC_RESPONSE:
		jkey(o, "callsign", r->b.response->callsign);
		put(o, ",\"accept\":%s,\"count\":%u", r->b.response->accept ? "true" : "false",
		    r->b.response->count);
		break;
	case INC_TRIAGE:
		jkey(o, "ccs", r->b.triage->ccs);
		puts_(o, ",\"counts\":");
		jcounts(o, r->b.triage->count);
		put(o, ",\"at\":%llu", (unsigned long long)r->b.triage->at);
		break;
	case INC_CASUALTY:
		jkey(o, "tag", r->b.casualty->tag);
		put(o, ",\"priority\":\"%s\"", inc_triage_name(r->b.casualty->priority));
		jkey(o, "destination", r->b.casualty->destination);
		put(o, ",\"departed\":%llu", (unsigned long long)r->b.casualty->departed);
		jkey(o, "note", r->b.casualty->note);
		break;
	}
	puts_(o, "}");
}

/* The heads of g other than the shown one: what a conflict also says. */
static void jconflicts(struct out *o, const struct group *g)
{
	puts_(o, "[");
	for (size_t k = 0; g && g->nheads > 1 && k + 1 < g->nheads; k++) {
		if (k)
			puts_(o, ",");
		jrec(o, g->heads[k]);
	}
	puts_(o, "]");
}

/* ---- record summaries (text) ---- */

static void summary(struct out *o, const struct srec *r)
{
	char a[64], b[32];

	switch ((enum inc_type)r->type) {
	case INC_METHANE: {
		const struct inc_methane *m = r->b.methane;

		put(o, "M/ETHANE %s: %s at %s %s; hazards %s; access %s; casualties P1 %u P2 %u P3 %u dead %u (%s); "
		    "services %s",
		    inc_declared_name(m->declared), m->type, inc_loc_kind_name(m->loc_kind), m->location,
		    dash(m->hazards), dash(m->access), m->casualties[0], m->casualties[1], m->casualties[2],
		    m->casualties[3], dash(m->casualty_note), m->services);
		break;
	}
	case INC_CHECKIN: {
		const struct inc_checkin *c = r->b.checkin;

		put(o, "check-in %s %s, skills %s, vehicle %s, at %s, %u member%s", c->callsign,
		    inc_crew_status_name(c->status), dash(skills_str(a, c->skills)), dash(c->vehicle),
		    dash(c->location), c->n_members, c->n_members == 1 ? "" : "s");
		for (int k = 0; k < c->n_members; k++) {
			char name[128];

			member_name(o, c->members[k], name);
			put(o, "%s%s", k ? ", " : ": ", name);
		}
		break;
	}
	case INC_ASSIGN:
		put(o, "assign %s to %s in %s; note %s", r->b.assign->callsign, r->b.assign->function,
		    dash(r->b.assign->sector), dash(r->b.assign->note));
		break;
	case INC_ASSIGN_ACK:
		put(o, "%s acknowledges assignment %s", r->b.ack->callsign, short_id(b, r->ref));
		break;
	case INC_REQUEST:
		put(o, "%s %u %s for %s; note %s",
		    r->b.request->cancelled ? "cancel request for" : r->has_prev ? "revised request:" : "request",
		    r->b.request->count, inc_skill_name(r->b.request->skill), r->b.request->sector,
		    dash(r->b.request->note));
		break;
	case INC_RESPONSE:
		if (r->b.response->accept)
			put(o, "%s accepts request %s with %u", r->b.response->callsign, short_id(b, r->ref),
			    r->b.response->count);
		else
			put(o, "%s declines request %s", r->b.response->callsign, short_id(b, r->ref));
		break;
	case INC_TRIAGE: {
		const struct inc_triage *t = r->b.triage;

		put(o, "triage at %s: P1 %u P2 %u P3 %u dead %u, counted %s", t->ccs, t->count[0], t->count[1],
		    t->count[2], t->count[3], clock_str(b, t->at));
		break;
	}
	case INC_CASUALTY: {
		const struct inc_casualty *c = r->b.casualty;

		put(o, "casualty %s %s to %s, departed %s; note %s", c->tag, inc_triage_name(c->priority),
		    c->destination, clock_str(b, c->departed), dash(c->note));
		break;
	}
	}
	if (r->has_prev)
		put(o, " (updates %s)", short_id(b, r->prev));
}

/* "CONFLICT: n concurrent <what>, also: <summary> at T by X; ..." */
static void conflict_line(struct out *o, const struct group *g, const char *what, const char *indent)
{
	char t[32];

	if (!g || g->nheads < 2)
		return;
	puts_(o, indent);
	colour(o, C_ALERT);
	put(o, "CONFLICT: %zu concurrent %s", g->nheads, what);
	colour_end(o);
	puts_(o, ", also:");
	for (size_t k = 0; k + 1 < g->nheads; k++) {
		put(o, "%s%s by %s: ", k ? "; " : " ", clock_str(t, g->heads[k]->created),
		    dash(g->heads[k]->sender_name));
		summary(o, g->heads[k]);
	}
	puts_(o, "\n");
}

/* ---- M/ETHANE ---- */

/* Everything before the history rows; returns how many rows follow. */
static size_t methane_head(struct out *o)
{
	const struct view *v = o->v;
	const struct group *g = view_group(v, INC_METHANE, "");
	const struct srec *s = shown(g), *p = NULL;
	const struct inc_methane *m, *pm = NULL;
	char t[32], d[32], a[32];

	put(o, "M/ETHANE  %s\n", dash(v->incident));
	if (!s) {
		puts_(o, "  no report yet\n");
		return 0;
	}
	m = s->b.methane;
	if (s->has_prev) {
		size_t pi = view_find(v, s->prev);

		if (pi != SIZE_MAX && v->all[pi]->type == INC_METHANE) {
			p = v->all[pi];
			pm = p->b.methane;
		}
	}
	put(o, "Latest report %s %s (%s) by %s\n", date_str(d, s->created), clock_str(t, s->created),
	    age_str(a, o->now, s->created), dash(s->sender_name));
	conflict_line(o, g, "reports", "");
#define CH(f) (pm && strcmp(pm->f, m->f) ? "  *changed" : "")
	put(o, "  M  Major incident     ");
	if (m->declared == METHANE_DECLARED)
		colour(o, C_ALERT);
	puts_(o, inc_declared_name(m->declared));
	if (m->declared == METHANE_DECLARED)
		colour_end(o);
	put(o, "%s\n", pm && pm->declared != m->declared ? "  *changed" : "");
	put(o, "  E  Exact location     %s %s%s\n", inc_loc_kind_name(m->loc_kind), m->location,
	    pm && (strcmp(pm->location, m->location) || pm->loc_kind != m->loc_kind) ? "  *changed" : "");
	put(o, "  T  Type               %s%s\n", m->type, CH(type));
	put(o, "  H  Hazards            %s%s\n", dash(m->hazards), CH(hazards));
	put(o, "  A  Access             %s%s\n", dash(m->access), CH(access));
	puts_(o, "  N  Casualties         ");
	for (int c = 0; c < 4; c++) {
		colour(o, c < 3 ? tri_colour(c) : "0");
		put(o, "%s %u", inc_triage_name((uint8_t)c), m->casualties[c]);
		colour_end(o);
		puts_(o, c < 3 ? "  " : "");
	}
	put(o, "%s\n", pm && (memcmp(pm->casualties, m->casualties, sizeof(m->casualties)) ||
			      strcmp(pm->casualty_note, m->casualty_note))
			       ? "  *changed"
			       : "");
	if (m->casualty_note[0])
		put(o, "                        %s\n", m->casualty_note);
	put(o, "  E  Emergency services %s%s\n", m->services, CH(services));
#undef CH
	if (p)
		put(o, "  (*changed: since the report of %s by %s)\n", clock_str(t, p->created), dash(p->sender_name));
	put(o, "History (%zu report%s)\n", g->n, g->n == 1 ? "" : "s");
	return g->n;
}

/* History row k (of methane_head's count). */
static void methane_row(struct out *o, size_t k)
{
	const struct view *v = o->v;
	const struct group *g = view_group(v, INC_METHANE, "");
	const struct srec *s = shown(g), *r = g->m[k];
	size_t upd = SIZE_MAX;
	char t[32], d[32];

	for (size_t j = 0; r->has_prev && j < k; j++)
		if (!memcmp(g->m[j]->id, r->prev, BUNDLE_ID_BYTES))
			upd = j;
	put(o, "  #%-3zu %s %s  %-12s ", k + 1, date_str(d, r->created), clock_str(t, r->created),
	    inc_declared_name(r->b.methane->declared));
	cell(o, r->sender_name, 24, NULL, 0);
	if (upd != SIZE_MAX)
		put(o, "updates #%zu", upd + 1);
	else
		puts_(o, "first report");
	if (r == s)
		puts_(o, "  [shown]");
	else if (!v->superseded[idx(v, r)]) {
		colour(o, C_ALERT);
		puts_(o, "  [CONFLICT]");
		colour_end(o);
	}
	puts_(o, "\n");
}

static void methane_json(struct out *o)
{
	const struct view *v = o->v;
	const struct group *g = view_group(v, INC_METHANE, "");

	puts_(o, "{\"view\":\"methane\",\"incident\":");
	jstr(o, v->incident);
	puts_(o, ",\"shown\":");
	jrec(o, shown(g));
	puts_(o, ",\"conflicts\":");
	jconflicts(o, g);
	puts_(o, ",\"history\":[\n");
	for (size_t k = 0; g && k < g->n; k++) {
		puts_(o, k ? ",{\"superseded\":" : "{\"superseded\":");
		puts_(o, v->superseded[idx(v, g->m[k])] ? "true" : "false");
		puts_(o, ",\"record\":");
		jrec(o, g->m[k]);
		puts_(o, "}\n");
	}
	puts_(o, "]}");
}

/* ---- roster ---- */

struct crew {
	const char *callsign;
	const struct group *ck, *as;
};

/* Walks the callsigns that checked in or were assigned, in byte order. */
struct crew_it {
	size_t ca, cb, aa, ab;
};

static void crew_first(const struct view *v, struct crew_it *it)
{
	type_range(v, INC_CHECKIN, &it->ca, &it->cb);
	type_range(v, INC_ASSIGN, &it->aa, &it->ab);
}

/* The next crew with both its groups (either may be NULL); false after
 * the last. */
static bool crew_next(const struct view *v, struct crew_it *it, struct crew *c)
{
	int cmp;

	if (it->ca == it->cb && it->aa == it->ab)
		return false;
	cmp = it->ca == it->cb ? 1 : it->aa == it->ab ? -1 : strcmp(v->g[it->ca].key, v->g[it->aa].key);
	memset(c, 0, sizeof(*c));
	if (cmp <= 0)
		c->ck = &v->g[it->ca++];
	if (cmp >= 0)
		c->as = &v->g[it->aa++];
	c->callsign = c->ck ? c->ck->key : c->as->key;
	return true;
}

/* Calls fn for each crew with its index; the number of crews. */
static size_t each_crew(struct out *o, void (*fn)(struct out *, const struct crew *, size_t))
{
	struct crew_it it;
	struct crew c;
	size_t n = 0;

	crew_first(o->v, &it);
	while (crew_next(o->v, &it, &c)) {
		if (fn)
			fn(o, &c, n);
		n++;
	}
	return n;
}

static void crew_text(struct out *o, const struct crew *c, size_t n)
{
	const struct view *v = o->v;
	const struct srec *ck = shown(c->ck), *as = shown(c->as), *ack = as ? v->ack[idx(v, as)] : NULL;
	char sk[64], asg[80], a[32], t[32];
	const char *indent = "          ";

	(void)n;
	cell(o, c->callsign, 9, NULL, 0);
	cell(o, ck ? inc_crew_status_name(ck->b.checkin->status) : "not in", 12, ck ? NULL : C_YELLOW, 0);
	cell(o, ck ? skills_str(sk, ck->b.checkin->skills) : NULL, 12, NULL, 0);
	cell(o, ck ? ck->b.checkin->vehicle : NULL, 8, NULL, 0);
	if (as)
		snprintf(asg, sizeof(asg), "%s%s%s", as->b.assign->function, as->b.assign->sector[0] ? " / " : "",
			 as->b.assign->sector);
	cell(o, as ? asg : NULL, 20, NULL, 0);
	if (!as)
		cell(o, "-", 13, NULL, 1);
	else if (ack)
		cell(o, age_str(a, o->now, ack->created), 13, NULL, 1);
	else
		cell(o, "NOT ACKED", 13, C_YELLOW, 1);
	puts_(o, "\n");
	if (ck) {
		const struct inc_checkin *x = ck->b.checkin;

		put(o, "%sin since %s at %s", indent, clock_str(t, c->ck->m[0]->created), dash(x->location));
		for (int k = 0; k < x->n_members; k++) {
			char name[128];

			member_name(o, x->members[k], name);
			put(o, "%s%s", k ? ", " : "; crew: ", name);
		}
		puts_(o, "\n");
	}
	conflict_line(o, c->ck, "check-ins", indent);
	if (c->as && c->as->nheads > 1) {
		puts_(o, indent);
		colour(o, C_ALERT);
		put(o, "CONFLICT: assigned %zu times concurrently", c->as->nheads);
		colour_end(o);
		puts_(o, ", also:");
		for (size_t k = 0; k + 1 < c->as->nheads; k++) {
			const struct srec *r = c->as->heads[k];

			put(o, "%s%s / %s at %s by %s", k ? "; " : " ", r->b.assign->function, dash(r->b.assign->sector),
			    clock_str(t, r->created), dash(r->sender_name));
		}
		puts_(o, "\n");
	}
}

/* The roster's head; returns how many crew rows follow. */
static size_t roster_head(struct out *o)
{
	size_t n = each_crew(o, NULL);

	put(o, "Roster  %s  (%zu crew%s)\n", dash(o->v->incident), n, n == 1 ? "" : "s");
	puts_(o, "CALLSIGN  STATUS       SKILLS       VEHICLE  ASSIGNMENT           ACK\n");
	return n;
}

static void crew_json(struct out *o, const struct crew *c, size_t n)
{
	const struct view *v = o->v;
	const struct srec *as = shown(c->as), *ack = as ? v->ack[idx(v, as)] : NULL;

	puts_(o, n ? ",{\"callsign\":" : "{\"callsign\":");
	jstr(o, c->callsign);
	puts_(o, ",\"checkin\":");
	jrec(o, shown(c->ck));
	put(o, ",\"checked_in\":%llu,\"checkin_conflicts\":",
	    (unsigned long long)(c->ck ? c->ck->m[0]->created : 0));
	jconflicts(o, c->ck);
	puts_(o, ",\"assignment\":");
	jrec(o, as);
	puts_(o, ",\"assignment_conflicts\":");
	jconflicts(o, c->as);
	puts_(o, ",\"acknowledged\":");
	jrec(o, ack);
	puts_(o, "}\n");
}

static void roster_json(struct out *o)
{
	puts_(o, "{\"view\":\"roster\",\"incident\":");
	jstr(o, o->v->incident);
	puts_(o, ",\"crews\":[\n");
	each_crew(o, crew_json);
	puts_(o, "]}");
}

/* ---- requests ---- */

struct req {
	const struct group *g;
	const struct srec *shown;
	struct srec *const *resp; /* latest response per callsign */
	size_t nresp;
	unsigned needed, accepted;
	bool cancelled;
};

static int cmp_req(const void *a, const void *b)
{
	const struct req *x = a, *y = b;

	return x->g->first < y->g->first ? -1 : x->g->first > y->g->first;
}

/* Requests in the order they were first raised, with their state. Caller
 * frees *out. */
static int requests_collect(const struct view *v, struct req **out, size_t *n)
{
	size_t a, b, ri = 0;
	struct req *q;

	type_range(v, INC_REQUEST, &a, &b);
	*n = b - a;
	if (!(q = calloc(*n ? *n : 1, sizeof(*q))))
		return -ENOMEM;
	for (size_t gi = a; gi < b; gi++) {
		struct req *r = &q[gi - a];

		r->g = &v->g[gi];
		r->shown = shown(r->g);
		r->needed = r->shown->b.request->count;
		for (size_t k = 0; k < r->g->nheads; k++)
			r->cancelled |= r->g->heads[k]->b.request->cancelled;
		while (ri < v->nresp && v->resp_g[ri] < gi)
			ri++;
		r->resp = v->resp + ri;
		while (ri < v->nresp && v->resp_g[ri] == gi) {
			if (v->resp[ri]->b.response->accept)
				r->accepted += v->resp[ri]->b.response->count;
			ri++;
			r->nresp++;
		}
	}
	qsort(q, *n, sizeof(*q), cmp_req);
	*out = q;
	return 0;
}

static const char *req_status(const struct req *r)
{
	return r->cancelled ? "cancelled" : r->accepted >= r->needed ? "filled" : "open";
}

/* The requests' head; *q (the caller frees it) and *n: the rows to follow. */
static void requests_head(struct out *o, struct req **q, size_t *n)
{
	size_t open = 0;

	*q = NULL;
	*n = 0;
	if ((o->err = o->err ? o->err : requests_collect(o->v, q, n)))
		return;
	for (size_t i = 0; i < *n; i++)
		open += !strcmp(req_status(&(*q)[i]), "open");
	put(o, "Staffing requests  %s  (%zu, %zu open)\n", dash(o->v->incident), *n, open);
	puts_(o, "REQUEST  STATUS     NEED GOT  SKILL      SECTOR        RAISED\n");
}

static void request_row(struct out *o, const struct req *r)
{
	const struct srec *root = r->g->m[0];
	const char *indent = "          ", *st = req_status(r);
	char id[32], t[32], raised[128], num[16];

	cell(o, short_id(id, root->id), 8, NULL, 0);
	cell(o, st, 10, !strcmp(st, "open") ? C_OPEN : NULL, 0);
	snprintf(num, sizeof(num), "%u", r->needed);
	cell(o, num, 4, NULL, 0);
	snprintf(num, sizeof(num), "%u", r->accepted);
	cell(o, num, 4, r->accepted > r->needed ? C_ALERT : NULL, 0);
	cell(o, inc_skill_name(r->shown->b.request->skill), 10, NULL, 0);
	cell(o, r->shown->b.request->sector, 13, NULL, 0);
	snprintf(raised, sizeof(raised), "%s %s", clock_str(t, root->created), dash(root->sender_name));
	cell(o, raised, 25, NULL, 1);
	puts_(o, "\n");
	if (r->shown->b.request->note[0])
		put(o, "%snote: %s\n", indent, r->shown->b.request->note);
	if (r->nresp) {
		puts_(o, indent);
		for (size_t k = 0; k < r->nresp; k++) {
			const struct inc_response *x = r->resp[k]->b.response;

			if (x->accept)
				put(o, "%s%s accepted %u", k ? ", " : "", x->callsign, x->count);
			else
				put(o, "%s%s declined", k ? ", " : "", x->callsign);
		}
		puts_(o, "\n");
	}
	if (r->accepted > r->needed && !r->cancelled) {
		puts_(o, indent);
		colour(o, C_ALERT);
		put(o, "CONFLICT: over-filled, %u accepted for %u needed", r->accepted, r->needed);
		colour_end(o);
		puts_(o, "\n");
	}
	conflict_line(o, r->g, "updates", indent);
}

static void requests_json(struct out *o)
{
	struct req *q = NULL;
	size_t n = 0;

	if ((o->err = o->err ? o->err : requests_collect(o->v, &q, &n)))
		return;
	puts_(o, "{\"view\":\"requests\",\"incident\":");
	jstr(o, o->v->incident);
	puts_(o, ",\"requests\":[\n");
	for (size_t i = 0; i < n; i++) {
		const struct req *r = &q[i];

		puts_(o, i ? ",{\"id\":" : "{\"id\":");
		jhex(o, r->g->m[0]->id, BUNDLE_ID_BYTES);
		put(o, ",\"status\":\"%s\",\"needed\":%u,\"accepted\":%u,\"over_filled\":%s,\"request\":",
		    req_status(r), r->needed, r->accepted, r->accepted > r->needed ? "true" : "false");
		jrec(o, r->shown);
		puts_(o, ",\"conflicts\":");
		jconflicts(o, r->g);
		puts_(o, ",\"responses\":[");
		for (size_t k = 0; k < r->nresp; k++) {
			if (k)
				puts_(o, ",");
			jrec(o, r->resp[k]);
		}
		puts_(o, "]}\n");
	}
	puts_(o, "]}");
	free(q);
}

/* ---- triage and casualty movements ---- */

struct dest {
	const char *name;
	unsigned count[3];
};

static int cmp_dest(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Per destination hospital, shown movements by priority. */
static int dest_collect(const struct view *v, struct dest **out, size_t *n)
{
	size_t a, b, nd = 0;
	const struct srec **s;
	struct dest *d;

	type_range(v, INC_CASUALTY, &a, &b);
	s = malloc((b - a ? b - a : 1) * sizeof(*s));
	d = calloc(b - a ? b - a : 1, sizeof(*d));
	if (!s || !d) {
		free(s);
		free(d);
		return -ENOMEM;
	}
	for (size_t gi = a; gi < b; gi++)
		s[gi - a] = shown(&v->g[gi]);
	/* Sort by destination: the casualty body starts with tag, so compare
	 * the destination strings through a pointer array. */
	{
		const char **names = malloc((b - a ? b - a : 1) * sizeof(*names));

		if (!names) {
			free(s);
			free(d);
			return -ENOMEM;
		}
		for (size_t k = 0; k < b - a; k++)
			names[k] = s[k]->b.casualty->destination;
		qsort(names, b - a, sizeof(*names), cmp_dest);
		for (size_t k = 0; k < b - a; k++)
			if (!nd || strcmp(d[nd - 1].name, names[k]))
				d[nd++].name = names[k];
		free(names);
	}
	for (size_t k = 0; k < b - a; k++) {
		const struct inc_casualty *c = s[k]->b.casualty;
		size_t lo = 0, hi = nd;

		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int cmp = strcmp(d[mid].name, c->destination);

			if (!cmp) {
				d[mid].count[c->priority]++;
				break;
			}
			if (cmp < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	free(s);
	*out = d;
	*n = nd;
	return 0;
}

/* Triage's head; rows CCS a..b follow, then the TOTAL row (ccs_row). */
static void triage_head(struct out *o, size_t *a, size_t *b)
{
	type_range(o->v, INC_TRIAGE, a, b);
	put(o, "Triage  %s  (%zu CCS)\n", dash(o->v->incident), *b - *a);
	puts_(o, "CCS                 P1    P2    P3  DEAD COUNTED\n");
}

/* The tally of CCS group gi, added to tot; gi == b: the TOTAL row. */
static void ccs_row(struct out *o, size_t gi, size_t b, unsigned tot[4])
{
	const struct view *v = o->v;
	const struct srec *s = gi < b ? shown(&v->g[gi]) : NULL;
	const unsigned *c = tot;
	unsigned cs[4];
	char t[32], ag[32], at[80], num[16];

	if (s) {
		for (int k = 0; k < 4; k++) {
			cs[k] = s->b.triage->count[k];
			tot[k] += cs[k];
		}
		c = cs;
	}
	cell(o, s ? s->b.triage->ccs : "TOTAL", 16, NULL, 0);
	for (int k = 0; k < 4; k++) {
		snprintf(num, sizeof(num), "%5u", c[k]);
		cell(o, num, 5, c[k] ? tri_colour(k) : NULL, !s && k == 3);
	}
	if (s) {
		snprintf(at, sizeof(at), "%s (%s)", clock_str(t, s->b.triage->at), age_str(ag, o->now, s->b.triage->at));
		cell(o, at, 24, NULL, 1);
	}
	puts_(o, "\n");
	if (s)
		conflict_line(o, &v->g[gi], "tallies", "                  ");
}

/* The movements' head; rows for casualty groups a..b follow. */
static void casualty_head(struct out *o, size_t *a, size_t *b)
{
	type_range(o->v, INC_CASUALTY, a, b);
	put(o, "\nCasualty movements  (%zu)\n", *b - *a);
	puts_(o, "TAG        PRI  DESTINATION              DEPARTED   NOTE\n");
}

static void casualty_row(struct out *o, size_t gi)
{
	const struct view *v = o->v;
	const struct srec *s = shown(&v->g[gi]);
	const struct inc_casualty *c = s->b.casualty;
	char t[32];

	cell(o, c->tag, 10, NULL, 0);
	cell(o, inc_triage_name(c->priority), 4, tri_colour(c->priority), 0);
	cell(o, c->destination, 24, NULL, 0);
	cell(o, c->departed ? clock_str(t, c->departed) : "not yet", 10, NULL, 0);
	cell(o, c->note, 25, NULL, 1);
	puts_(o, "\n");
	conflict_line(o, &v->g[gi], "movements", "           ");
}

/* "Who is coming": *d (the caller frees it) and *n, the rows to follow. */
static void dest_head(struct out *o, struct dest **d, size_t *n)
{
	*d = NULL;
	*n = 0;
	if ((o->err = o->err ? o->err : dest_collect(o->v, d, n)))
		return;
	puts_(o, "\nWho is coming\nHOSPITAL                            P1    P2    P3 TOTAL\n");
}

static void dest_row(struct out *o, const struct dest *d)
{
	char num[16];

	cell(o, d->name, 32, NULL, 0);
	for (int p = 0; p < 3; p++) {
		snprintf(num, sizeof(num), "%5u", d->count[p]);
		cell(o, num, 5, d->count[p] ? tri_colour(p) : NULL, 0);
	}
	snprintf(num, sizeof(num), "%5u", d->count[0] + d->count[1] + d->count[2]);
	cell(o, num, 5, NULL, 1);
	puts_(o, "\n");
}

static void triage_json(struct out *o)
{
	const struct view *v = o->v;
	size_t a, b, nd = 0;
	unsigned long tot[4] = { 0 };
	struct dest *d = NULL;

	if ((o->err = o->err ? o->err : dest_collect(v, &d, &nd)))
		return;
	type_range(v, INC_TRIAGE, &a, &b);
	puts_(o, "{\"view\":\"triage\",\"incident\":");
	jstr(o, v->incident);
	puts_(o, ",\"ccs\":[\n");
	for (size_t gi = a; gi < b; gi++) {
		const struct srec *s = shown(&v->g[gi]);

		for (int k = 0; k < 4; k++)
			tot[k] += s->b.triage->count[k];
		puts_(o, gi > a ? ",{\"ccs\":" : "{\"ccs\":");
		jstr(o, v->g[gi].key);
		puts_(o, ",\"tally\":");
		jrec(o, s);
		puts_(o, ",\"conflicts\":");
		jconflicts(o, &v->g[gi]);
		puts_(o, "}\n");
	}
	put(o, "],\"totals\":{\"P1\":%lu,\"P2\":%lu,\"P3\":%lu,\"dead\":%lu},\"casualties\":[\n", tot[0], tot[1],
	    tot[2], tot[3]);
	type_range(v, INC_CASUALTY, &a, &b);
	for (size_t gi = a; gi < b; gi++) {
		puts_(o, gi > a ? ",{\"tag\":" : "{\"tag\":");
		jstr(o, v->g[gi].key);
		puts_(o, ",\"movement\":");
		jrec(o, shown(&v->g[gi]));
		puts_(o, ",\"conflicts\":");
		jconflicts(o, &v->g[gi]);
		puts_(o, "}\n");
	}
	puts_(o, "],\"destinations\":[\n");
	for (size_t k = 0; k < nd; k++) {
		puts_(o, k ? ",{\"destination\":" : "{\"destination\":");
		jstr(o, d[k].name);
		put(o, ",\"P1\":%u,\"P2\":%u,\"P3\":%u}\n", d[k].count[0], d[k].count[1], d[k].count[2]);
	}
	puts_(o, "]}");
	free(d);
}

/* ---- report ---- */

static void report_head(struct out *o)
{
	const struct view *v = o->v;
	char d[32], t[32], d2[32], t2[32];

	put(o, "INCIDENT REPORT  %s\n", dash(v->incident));
	put(o, "Generated %s %s from %zu records", date_str(d, o->now), clock_str(t, o->now), v->n);
	if (v->n)
		put(o, ", %s %s to %s %s", date_str(d, v->all[0]->created), clock_str(t, v->all[0]->created),
		    date_str(d2, v->all[v->n - 1]->created), clock_str(t2, v->all[v->n - 1]->created));
	puts_(o, "\nTimes are UTC. Ids are the first 8 hex digits of bundle ids.\n\n");
}

/* Timeline row i; day: the date of the row before ("" at the first). */
static void timeline_row(struct out *o, size_t i, char day[static 32])
{
	const struct srec *r = o->v->all[i];
	char d[32], t[32], id[32];

	if (strcmp(day, date_str(d, r->created))) {
		snprintf(day, 32, "%s", d);
		put(o, "--- %s ---\n", day);
	}
	put(o, "%s %s %s: ", clock_str(t, r->created), short_id(id, r->id), dash(r->sender_name));
	summary(o, r);
	puts_(o, "\n");
}

/* ---- text views, unit by unit ----
 *
 * A text view is a run of units: a section's head, then its rows. The
 * cursor renders one unit per call, so scene_render writes a whole view
 * and scene_stream the same bytes a few units at a time. The report is
 * every section in this order; the other views are one section each. */

enum part {
	P_REPORT_HEAD,
	P_METHANE_HEAD,
	P_METHANE_ROW,
	P_TIMELINE_HEAD,
	P_TIMELINE_ROW,
	P_ROSTER_HEAD,
	P_ROSTER_ROW,
	P_REQUESTS_HEAD,
	P_REQUESTS_ROW,
	P_TRIAGE_HEAD,
	P_CCS_ROW,
	P_CASUALTY_HEAD,
	P_CASUALTY_ROW,
	P_DEST_HEAD,
	P_DEST_ROW,
	P_END,
};

struct cursor {
	enum part part, end;
	bool report; /* sections apart by a blank line */
	size_t i, n; /* the next row and the section's row count (or end) */
	char day[32]; /* timeline: the date of the last row */
	struct crew_it crews;
	unsigned tot[4]; /* triage: totals so far */
	struct req *q;
	struct dest *d;
};

static int cursor_init(struct cursor *c, enum scene_view view)
{
	static const enum part range[][2] = {
		[VIEW_METHANE] = { P_METHANE_HEAD, P_TIMELINE_HEAD },
		[VIEW_ROSTER] = { P_ROSTER_HEAD, P_REQUESTS_HEAD },
		[VIEW_REQUESTS] = { P_REQUESTS_HEAD, P_TRIAGE_HEAD },
		[VIEW_TRIAGE] = { P_TRIAGE_HEAD, P_END },
		[VIEW_REPORT] = { P_REPORT_HEAD, P_END },
	};

	memset(c, 0, sizeof(*c));
	if ((unsigned)view >= sizeof(range) / sizeof(range[0]))
		return MU_E_NOTFOUND;
	c->part = range[view][0];
	c->end = range[view][1];
	c->report = view == VIEW_REPORT;
	return 0;
}

static void cursor_fini(struct cursor *c)
{
	free(c->q);
	free(c->d);
	c->q = NULL;
	c->d = NULL;
}

static void blank(struct out *o, const struct cursor *c)
{
	if (c->report)
		puts_(o, "\n");
}

/* Renders the next unit; false once the view is complete or failed
 * (o->err). A row part past its last row moves on without output. */
static bool cursor_next(struct out *o, struct cursor *c)
{
	struct crew cr;

	if (o->err || c->part == c->end)
		return false;
	switch (c->part) {
	case P_REPORT_HEAD:
		report_head(o);
		c->part++;
		break;
	case P_METHANE_HEAD:
		c->n = methane_head(o);
		c->i = 0;
		c->part++;
		break;
	case P_METHANE_ROW:
		if (c->i < c->n)
			methane_row(o, c->i++);
		else
			c->part++;
		break;
	case P_TIMELINE_HEAD:
		blank(o, c);
		put(o, "Timeline  (%zu records)\n", o->v->n);
		c->i = 0;
		c->day[0] = 0;
		c->part++;
		break;
	case P_TIMELINE_ROW:
		if (c->i < o->v->n)
			timeline_row(o, c->i++, c->day);
		else
			c->part++;
		break;
	case P_ROSTER_HEAD:
		blank(o, c);
		roster_head(o);
		crew_first(o->v, &c->crews);
		c->part++;
		break;
	case P_ROSTER_ROW:
		if (crew_next(o->v, &c->crews, &cr))
			crew_text(o, &cr, 0);
		else
			c->part++;
		break;
	case P_REQUESTS_HEAD:
		blank(o, c);
		requests_head(o, &c->q, &c->n);
		c->i = 0;
		c->part++;
		break;
	case P_REQUESTS_ROW:
		if (c->i < c->n) {
			request_row(o, &c->q[c->i++]);
			break;
		}
		free(c->q);
		c->q = NULL;
		c->part++;
		break;
	case P_TRIAGE_HEAD:
		blank(o, c);
		triage_head(o, &c->i, &c->n);
		memset(c->tot, 0, sizeof(c->tot));
		c->part++;
		break;
	case P_CCS_ROW:
		if (c->i <= c->n) /* the last one is the TOTAL row */
			ccs_row(o, c->i++, c->n, c->tot);
		else
			c->part++;
		break;
	case P_CASUALTY_HEAD:
		casualty_head(o, &c->i, &c->n);
		c->part++;
		break;
	case P_CASUALTY_ROW:
		if (c->i < c->n)
			casualty_row(o, c->i++);
		else
			c->part++;
		break;
	case P_DEST_HEAD:
		dest_head(o, &c->d, &c->n);
		c->i = 0;
		c->part++;
		break;
	case P_DEST_ROW:
		if (c->i < c->n) {
			dest_row(o, &c->d[c->i++]);
			break;
		}
		free(c->d);
		c->d = NULL;
		c->part++;
		break;
	case P_END:
		return false;
	}
	return !o->err;
}

static void report_json(struct out *o)
{
	const struct view *v = o->v;

	puts_(o, "{\"view\":\"report\",\"incident\":");
	jstr(o, v->incident);
	put(o, ",\"generated\":%llu,\"methane\":", (unsigned long long)o->now);
	methane_json(o);
	puts_(o, ",\"roster\":");
	roster_json(o);
	puts_(o, ",\"requests\":");
	requests_json(o);
	puts_(o, ",\"triage\":");
	triage_json(o);
	puts_(o, ",\"timeline\":[\n");
	for (size_t i = 0; i < v->n; i++) {
		if (i)
			puts_(o, ",");
		jrec(o, v->all[i]);
		puts_(o, "\n");
	}
	puts_(o, "]}");
}

int scene_render(struct scene *s, enum scene_view view, unsigned flags, uint64_t now, scene_name_fn names,
		 void *names_ctx, scene_out_fn out, void *out_ctx)
{
	struct view v;
	struct cursor c;
	struct out o = { .v = &v, .flags = flags & SCENE_F_JSON ? SCENE_F_JSON : flags, .now = now,
			 .names = names, .names_ctx = names_ctx, .fn = out, .ctx = out_ctx };
	int json = flags & SCENE_F_JSON, ret;

	if ((ret = view_build(&v, s)))
		return ret;
	if (!json) {
		if (!(o.err = cursor_init(&c, view))) {
			while (cursor_next(&o, &c))
				;
			cursor_fini(&c);
		}
	} else {
		switch (view) {
		case VIEW_METHANE:
			methane_json(&o);
			break;
		case VIEW_ROSTER:
			roster_json(&o);
			break;
		case VIEW_REQUESTS:
			requests_json(&o);
			break;
		case VIEW_TRIAGE:
			triage_json(&o);
			break;
		case VIEW_REPORT:
			report_json(&o);
			break;
		default:
			o.err = MU_E_NOTFOUND;
			break;
		}
	}
	if (json)
		puts_(&o, "\n");
	flush(&o);
	free(o.buf);
	view_free(&v);
	return o.err;
}

/* ---- streaming (scene_stream.h) ---- */

struct scene_stream {
	struct view v;
	struct out o;
	struct cursor c;
};

int scene_stream_new(struct scene_stream **out, const struct scene *s, enum scene_view view, unsigned flags,
		     uint64_t now, scene_name_fn names, void *names_ctx)
{
	struct scene_stream *st;
	int ret;

	*out = NULL;
	if (flags & SCENE_F_JSON)
		return -EINVAL;
	if (!(st = calloc(1, sizeof(*st))))
		return -ENOMEM;
	if ((ret = cursor_init(&st->c, view))) {
		free(st);
		return ret;
	}
	if ((ret = view_build(&st->v, s))) {
		free(st);
		return ret;
	}
	st->o = (struct out){ .v = &st->v, .flags = flags, .now = now, .names = names, .names_ctx = names_ctx };
	*out = st;
	return 0;
}

int scene_stream_step(struct scene_stream *st, size_t budget, scene_out_fn out, void *ctx)
{
	size_t start = st->o.sent;

	if (st->o.err)
		return st->o.err;
	st->o.fn = out;
	st->o.ctx = ctx;
	while (st->o.sent - start < budget && cursor_next(&st->o, &st->c))
		flush(&st->o);
	flush(&st->o);
	if (st->o.err)
		return st->o.err;
	return st->c.part != st->c.end;
}

void scene_stream_free(struct scene_stream *st)
{
	if (!st)
		return;
	cursor_fini(&st->c);
	free(st->o.buf);
	view_free(&st->v);
	free(st);
}
