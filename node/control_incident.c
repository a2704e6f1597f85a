/* Control commands for incident records (docs/operations.md "Incident
 * coordination"): the views (methane, roster, requests, triage,
 * incident-report) and the commands that create records (methane send,
 * checkin, checkout, assign, acknowledge, request send|accept|decline|cancel,
 * triage send, casualty send).
 *
 * A record is the content of an ordinary message encrypted to every staff
 * credential this node knows plus the archive, exactly as `send --to all`;
 * the views decrypt what the local user can read and hand it to the scene
 * (incident.h). Every argument is checked before anything is sealed, so a
 * refused command stores nothing; the request arguments (clinical text)
 * are never logged. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "clock.h"
#include "control_util.h"
#include "err.h"
#include "hex.h"
#include "incident.h"
#include "text.h"

#define INC_LIFETIME_MS                                                                                      \
	(7ull * 24 * 60 * 60 * 1000)            /* records outlive the incident; the archive keeps them */
#define INC_COUNT_MAX        65535u             /* tallies and estimates: u16 on the wire */
#define INC_PEOPLE_MAX       99u                /* a request's need, an acceptance's offer */
#define ID_PREFIX_MIN        8                  /* hex digits naming a record */
#define TIME_FUTURE_SLACK_MS (5ull * 60 * 1000) /* an HH:MM this far ahead is still today */
#define ARGS_MAX             24

static const char no_user_msg[] =
    "no user on this node: incident records are encrypted to staff, so this node cannot read or write "
    "them (set [user] identity and credential in the config)\n";

/* ---- arguments ---- */

enum opt_kind { O_FLAG, O_TEXT, O_VALUE, O_REPEAT };

struct opt {
	const char *name;
	enum opt_kind kind; /* O_TEXT values pass the identifier check */
};

struct args {
	const struct opt *spec;
	const char *val[ARGS_MAX]; /* by spec index; flags: "" when given */
	const char *pos[2];
	int npos;
	const char *rep[INC_MEMBERS_MAX + 1]; /* the O_REPEAT option's values */
	int nrep;
};

static const char *arg(const struct args *a, const char *name)
{
	for (int i = 0; a->spec[i].name; i++)
		if (!strcmp(a->spec[i].name, name))
			return a->val[i];
	return NULL;
}

static void list_options(struct ctl_reply *r, const struct opt *spec)
{
	ctl_reply_printf(r, " (options:");
	for (int i = 0; spec[i].name; i++)
		ctl_reply_printf(r, " %s", spec[i].name);
	ctl_reply_printf(r, ")\n");
}

/* Parses req->argv[first..] against spec: every option known, given once
 * (O_REPEAT up to INC_MEMBERS_MAX + 1 times), values present; at most
 * npos_max positionals. Then the identifier check on every O_TEXT value. */
static int args_parse(struct node *n, const struct ctl_req *req, int first, const struct opt *spec,
		      int npos_max, struct args *a, struct ctl_reply *r)
{
	bool confirmed = false;
	int ret;

	memset(a, 0, sizeof(*a));
	a->spec = spec;
	for (int i = first; i < req->argc; i++) {
		const char *w = req->argv[i];
		int k;

		if (w[0] != '-' || w[1] != '-') {
			if (a->npos == npos_max) {
				ctl_reply_printf(r, "unexpected argument '%.40s'", w);
				list_options(r, spec);
				return MU_E_FORMAT;
			}
			a->pos[a->npos++] = w;
			continue;
		}
		for (k = 0; spec[k].name && strcmp(spec[k].name, w); k++)
			;
		if (!spec[k].name) {
			ctl_reply_printf(r, "unknown option %.40s", w);
			list_options(r, spec);
			return MU_E_FORMAT;
		}
		if (spec[k].kind != O_REPEAT && a->val[k]) {
			ctl_reply_printf(r, "%s given twice\n", w);
			return MU_E_FORMAT;
		}
		if (spec[k].kind == O_FLAG) {
			a->val[k] = "";
			continue;
		}
		if (i + 1 >= req->argc) {
			ctl_reply_printf(r, "%s needs a value\n", w);
			return MU_E_FORMAT;
		}
		a->val[k] = req->argv[++i];
		if (spec[k].kind == O_REPEAT) {
			if (a->nrep == INC_MEMBERS_MAX + 1) {
				ctl_reply_printf(r, "%s: at most %d\n", w, INC_MEMBERS_MAX);
				return MU_E_FORMAT;
			}
			a->rep[a->nrep++] = a->val[k];
		}
	}
	for (int k = 0; spec[k].name; k++)
		if (!strcmp(spec[k].name, "--confirm-identifier") && a->val[k])
			confirmed = true;
	for (int k = 0; spec[k].name; k++) {
		if (spec[k].kind != O_TEXT || !a->val[k])
			continue;
		ret = control_check_identifiers(n, a->val[k], confirmed, r);
		if (ret)
			return ret;
	}
	return 0;
}

/* Copies text option v (when given) into dst[max + 1]; a missing required
 * one, a wrong length or bytes that are not printable UTF-8 get a reply. */
static int text_arg(struct ctl_reply *r, const char *name, const char *v, size_t max, bool required,
		    char *dst)
{
	size_t len;

	if (!v) {
		if (required) {
			ctl_reply_printf(r, "%s is required (1..%zu bytes)\n", name, max);
			return MU_E_FORMAT;
		}
		return 0;
	}
	len = strlen(v);
	if (len == 0 || len > max) {
		ctl_reply_printf(r, "%s must be 1..%zu bytes (got %zu)\n", name, max, len);
		return len ? MU_E_TOOBIG : MU_E_FORMAT;
	}
	if (!mu_text_valid((const uint8_t *)v, len)) {
		ctl_reply_printf(r, "%s must be UTF-8 text without control characters\n", name);
		return MU_E_FORMAT;
	}
	memcpy(dst, v, len + 1);
	return 0;
}

/* A whole number lo..hi written in decimal digits only. */
static int num_arg(struct ctl_reply *r, const char *name, const char *v, unsigned long lo, unsigned long hi,
		   unsigned long *out)
{
	size_t len = v ? strlen(v) : 0;
	bool ok = len > 0 && len <= 10;

	for (size_t i = 0; ok && i < len; i++)
		ok = isdigit((unsigned char)v[i]);
	if (ok)
		*out = strtoul(v, NULL, 10);
	if (!ok || *out < lo || *out > hi) {
		ctl_reply_printf(r, "%s must be a whole number %lu..%lu\n", name, lo, hi);
		return MU_E_FORMAT;
	}
	return 0;
}

/* "now" (when allow_now), HH:MM UTC as the views show times (today, or
 * yesterday when that is more than TIME_FUTURE_SLACK_MS ahead: a count
 * taken before midnight), or Unix ms not more than a day ahead. */
static int time_arg(struct ctl_reply *r, const char *name, const char *v, bool allow_now, uint64_t *out)
{
	const uint64_t day = 24ull * 60 * 60 * 1000;
	uint64_t now = mu_now_ms();
	unsigned long ms, hh, mm;
	char *end;

	if (allow_now && !strcmp(v, "now")) {
		*out = now;
		return 0;
	}
	if (strlen(v) == 5 && v[2] == ':' && isdigit((unsigned char)v[0]) && isdigit((unsigned char)v[1]) &&
	    isdigit((unsigned char)v[3]) && isdigit((unsigned char)v[4])) {
		hh = strtoul(v, NULL, 10);
		mm = strtoul(v + 3, NULL, 10);
		if (hh < 24 && mm < 60) {
			*out = now - now % day + (hh * 60 + mm) * 60000;
			if (*out > now + TIME_FUTURE_SLACK_MS)
				*out -= day;
			return 0;
		}
	} else if (isdigit((unsigned char)v[0])) {
		errno = 0;
		ms = strtoul(v, &end, 10);
		if (!errno && !*end && ms >= 1000000000000ul && ms <= now + day) {
			*out = ms;
			return 0;
		}
	}
	ctl_reply_printf(
	    r, "%s must be %sHH:MM (UTC, 00:00..23:59) or Unix milliseconds (at most a day ahead)\n", name,
	    allow_now ? "now, " : "");
	return MU_E_FORMAT;
}

/* ---- reading records ---- */

struct readable {
	uint8_t id[BUNDLE_ID_BYTES];
	char incident[INC_NAME_MAX + 1];
	uint8_t type;
};

struct scan {
	struct node *n;
	struct scene *s;
	struct readable *v; /* every incident record the user can read */
	size_t nv, cap;
};

static void scan_free(struct scan *sc)
{
	scene_free(sc->s);
	free(sc->v);
	memset(sc, 0, sizeof(*sc));
}

/* Opens one stored bundle as an incident record the user can read. Fills
 * sender and created when non-NULL. MU_E_NOTFOUND when it is not one. */
static int record_open(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES], struct inc_record *rec,
		       uint8_t *sender, uint64_t *created)
{
	static uint8_t enc[BUNDLE_ENC_MAX], plain[BUNDLE_PAYLOAD_MAX];
	struct bundle b;
	size_t len, plen;
	int ret;

	ret = store_get(n->store, id, enc, sizeof(enc), &len, NULL);
	if (!ret)
		ret = bundle_decode(&b, enc, len);
	if (ret)
		return ret;
	if (b.kind != BK_MESSAGE ||
	    envelope_has_recipient(b.payload, b.payload_len, identity_sign_pk(n->user)) != 1)
		return MU_E_NOTFOUND;
	if (envelope_open(plain, sizeof(plain), &plen, b.payload, b.payload_len, n->user, b.sender) ||
	    plen < 1 || plain[0] != CONTENT_INCIDENT)
		return MU_E_NOTFOUND;
	ret = inc_decode(rec, plain + 1, plen - 1);
	if (ret)
		return MU_E_NOTFOUND; /* a record this version cannot read is not shown */
	if (sender)
		memcpy(sender, b.sender, MU_KEY_BYTES);
	if (created)
		*created = b.created;
	return 0;
}

static int scan_one(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES])
{
	static struct inc_record rec;
	struct scan *sc = ctx;
	struct store_info info;
	uint8_t sender[MU_KEY_BYTES];
	char name[160];
	void *p;
	int ret;

	if (store_peek(sc->n->store, id, &info) || info.kind != BK_MESSAGE)
		return 0;
	if (record_open(sc->n, id, &rec, sender, &created))
		return 0;
	p = mu_grow(sc->v, &sc->cap, sc->nv, sizeof(*sc->v), 64);
	if (!p)
		return -ENOMEM;
	sc->v = p;
	memcpy(sc->v[sc->nv].id, id, BUNDLE_ID_BYTES);
	memcpy(sc->v[sc->nv].incident, rec.incident, sizeof(rec.incident));
	sc->v[sc->nv++].type = rec.type;
	control_who(sc->n, sender, name, sizeof(name));
	ret = scene_add(sc->s, id, sender, name, created, &rec);
	return ret;
}

/* The scene of incident (NULL: the latest one readable here) from every
 * record the user can read. */
static int scan_load(struct node *n, const char *incident, struct scan *sc, struct ctl_reply *r)
{
	int ret;

	memset(sc, 0, sizeof(*sc));
	sc->n = n;
	node_commit(n);
	ret = scene_new(&sc->s, incident);
	if (!ret)
		ret = store_scan_time(n->store, 0, NULL, scan_one, sc);
	if (ret) {
		ctl_reply_printf(r, "cannot read the incident records: %s\n", mu_strerror(ret));
		scan_free(sc);
	}
	return ret;
}

/* A record named by its id or a unique prefix of ID_PREFIX_MIN+ hex
 * digits, among the records the user can read. */
static int resolve_id(const struct scan *sc, const char *what, const char *s,
		      uint8_t id[static BUNDLE_ID_BYTES], const struct readable **out, struct ctl_reply *r)
{
	size_t len = s ? strlen(s) : 0, hits = 0;
	char h[2 * BUNDLE_ID_BYTES + 1], lower[2 * BUNDLE_ID_BYTES + 1];

	for (size_t i = 0; i < len && len <= 2 * BUNDLE_ID_BYTES; i++) {
		if (!isxdigit((unsigned char)s[i]))
			len = 0;
		else
			lower[i] = (char)tolower((unsigned char)s[i]);
	}
	if (len < ID_PREFIX_MIN || len > 2 * BUNDLE_ID_BYTES) {
		ctl_reply_printf(r, "%s must be a record id: %d..%d hex digits\n", what, ID_PREFIX_MIN,
				 2 * BUNDLE_ID_BYTES);
		return MU_E_FORMAT;
	}
	for (size_t i = 0; i < sc->nv; i++) {
		hex_encode(h, sc->v[i].id, BUNDLE_ID_BYTES);
		if (!strncmp(h, lower, len)) {
			hits++;
			*out = &sc->v[i];
		}
	}
	if (hits != 1) {
		ctl_reply_printf(r,
				 hits ? "%s %.*s matches %zu records: give more digits\n"
				      : "%s %.*s: no incident record with that id is readable on this node\n",
				 what, (int)len, lower, hits);
		return hits ? MU_E_FORMAT : MU_E_NOTFOUND;
	}
	memcpy(id, (*out)->id, BUNDLE_ID_BYTES);
	return 0;
}

/* ---- views ---- */

static int reply_out(void *ctx, const char *text)
{
	ctl_reply_write(ctx, text, strlen(text));
	return 0;
}

static int staff_name(void *ctx, const uint8_t key[static MU_KEY_BYTES], char *buf, size_t cap)
{
	struct node *n = ctx;
	struct cred c;

	if (store_cred_lookup(n->store, key, &c))
		return -1;
	snprintf(buf, cap, "%s (%s)", c.name, role_name(c.role));
	return 0;
}

static const struct opt view_opts[] = {{"--incident", O_VALUE}, {0}};

static int incident_arg(const struct args *a, struct ctl_reply *r, char name[static INC_NAME_MAX + 1])
{
	*name = 0;
	return text_arg(r, "--incident", arg(a, "--incident"), INC_NAME_MAX, false, name);
}

static int cmd_view(struct node *n, const struct ctl_req *req, struct ctl_reply *r, enum scene_view view)
{
	unsigned flags = (req->flags & CTL_F_JSON)  ? SCENE_F_JSON
			 : (req->flags & CTL_F_TTY) ? SCENE_F_COLOUR
						    : 0;
	char incident[INC_NAME_MAX + 1];
	struct scan sc;
	struct args a;
	int ret;

	ret = args_parse(n, req, 1, view_opts, 0, &a, r);
	if (!ret)
		ret = incident_arg(&a, r, incident);
	if (ret)
		return ret;
	if (!n->user) {
		ctl_reply_printf(r, "%s", no_user_msg);
		return MU_E_NOCRED;
	}
	ret = scan_load(n, *incident ? incident : NULL, &sc, r);
	if (ret)
		return ret;
	if (!*scene_incident(sc.s) && !(flags & SCENE_F_JSON))
		ctl_reply_printf(r,
				 *incident ? "no records of incident %s are readable on this node\n"
					   : "no incident records are readable on this node yet%s\n",
				 incident);
	else
		ret = scene_render(sc.s, view, flags, mu_now_ms(), staff_name, n, reply_out, r);
	scan_free(&sc);
	return ret;
}

/* ---- creating records ---- */

struct create;

/* One command that creates a record: what sets it apart from the others. */
struct create_cmd {
	const char *cmd, *verb; /* argv[0], and argv[1] for a noun's verb (`triage send`) or NULL */
	const struct opt *opts;
	int npos_max;        /* record ids named among the options (ASSIGNMENT-ID, REQUEST-ID) */
	const char *key_opt; /* a keyed record, one current record per thing that a new one updates:
			      * the required option naming the thing, "" for one per incident; else NULL */
	uint8_t type;
	uint8_t prio;
	/* Checks of the arguments that need no records, into c->rec (still
	 * zero but for what it writes); NULL when there are none. */
	int (*parse)(struct create *c);
	/* Fills c->rec once its incident and scene (and, keyed, its current
	 * record) are known; replies to what it refuses. */
	int (*fill)(struct create *c);
};

/* A record being made, with what the fill steps read. */
struct create {
	struct node *n;
	struct ctl_reply *r;
	struct args a;
	struct scan sc;
	struct inc_record rec;
	struct inc_record head;      /* keyed, when update: the thing's current record */
	struct inc_record ref;       /* the record an acknowledgement or an answer names */
	char key[INC_SHORT_MAX + 1]; /* keyed: the value of key_opt */
	bool update;                 /* keyed: rec.u starts as the current record's content */
};

/* The incident the new record belongs to, in c->rec, and its scene:
 * --incident, or the latest incident readable here. */
static int create_begin(struct create *c)
{
	char incident[INC_NAME_MAX + 1];
	int ret;

	if (!c->n->user) {
		ctl_reply_printf(c->r, "%s", no_user_msg);
		return MU_E_NOCRED;
	}
	ret = incident_arg(&c->a, c->r, incident);
	if (!ret)
		ret = scan_load(c->n, *incident ? incident : NULL, &c->sc, c->r);
	if (ret)
		return ret;
	if (!*incident && !*scene_incident(c->sc.s)) {
		ctl_reply_printf(
		    c->r,
		    "no incident is known on this node yet: name it with --incident NAME (1..%d bytes)\n",
		    INC_NAME_MAX);
		scan_free(&c->sc);
		return MU_E_FORMAT;
	}
	snprintf(c->rec.incident, sizeof(c->rec.incident), "%s",
		 *incident ? incident : scene_incident(c->sc.s));
	return 0;
}

/* The current record of a thing as prev, with its content in *head (for
 * the fields an update keeps). 0 when there is one, MU_E_NOTFOUND if not. */
static int take_head(struct node *n, const struct scan *sc, uint8_t type, const char *key,
		     struct inc_record *rec, struct inc_record *head)
{
	if (scene_head(sc->s, type, key, rec->prev) || record_open(n, rec->prev, head, NULL, NULL) ||
	    head->type != type)
		return MU_E_NOTFOUND;
	rec->has_prev = true;
	return 0;
}

/* Seals rec to every staff credential known here plus the archive and
 * stores it; prints its id. */
static int create_finish(struct node *n, const struct ctl_req *req, struct ctl_reply *r,
			 struct inc_record *rec, uint8_t prio)
{
	static uint8_t content[1 + INC_ENC_MAX];
	struct bundle b = {.kind = BK_MESSAGE, .prio = prio, .hop_limit = CONTROL_HOPS_DEFAULT};
	struct recipients rs = {0};
	char id[2 * BUNDLE_ID_BYTES + 1], prev[2 * BUNDLE_ID_BYTES + 1] = "";
	int len, ret;

	len = inc_encode(content + 1, sizeof(content) - 1, rec);
	if (len < 0) {
		ctl_reply_printf(r, "record refused: %s\n", mu_strerror(len));
		return len;
	}
	content[0] = CONTENT_INCIDENT;
	ret = control_parse_dest(n, "all", &b, &rs, r);
	if (!ret)
		ret = control_seal_store(n, &b, &rs, content, 1 + (size_t)len, INC_LIFETIME_MS, r);
	if (ret)
		return ret;
	hex_encode(id, b.id, BUNDLE_ID_BYTES);
	if (rec->has_prev)
		hex_encode(prev, rec->prev, BUNDLE_ID_BYTES);
	if (req->flags & CTL_F_JSON) {
		ctl_reply_printf(r, "{\"id\":\"%s\",\"type\":\"%s\",\"incident\":", id,
				 inc_type_name(rec->type));
		control_json_str(r, rec->incident);
		ctl_reply_printf(r, ",\"updates\":%s%s%s,\"priority\":\"%s\",\"recipients\":%u}\n",
				 *prev ? "\"" : "", *prev ? prev : "null", *prev ? "\"" : "",
				 bundle_prio_name(prio), rs.n);
	} else {
		ctl_reply_printf(r, "%s  %s recorded for %s (%s, %u recipients incl. archive and you)", id,
				 inc_type_name(rec->type), rec->incident, bundle_prio_name(prio), rs.n);
		if (*prev)
			ctl_reply_printf(r, ", updates %.12s", prev);
		ctl_reply_printf(r, "\n");
	}
	return 0;
}

/* Runs one create command: every argument is checked before anything is
 * sealed, so a refused command stores nothing. */
static int create_record(struct node *n, const struct ctl_req *req, struct ctl_reply *r,
			 const struct create_cmd *cmd)
{
	static struct create c; /* records are large; commands run one at a time */
	int ret;

	memset(&c, 0, sizeof(c));
	c.n = n;
	c.r = r;
	ret = args_parse(n, req, cmd->verb ? 2 : 1, cmd->opts, cmd->npos_max, &c.a, r);
	if (!ret && cmd->key_opt && *cmd->key_opt)
		ret = text_arg(r, cmd->key_opt, arg(&c.a, cmd->key_opt), INC_SHORT_MAX, true, c.key);
	if (!ret && cmd->parse)
		ret = cmd->parse(&c);
	if (!ret)
		ret = create_begin(&c);
	if (ret)
		return ret;
	if (cmd->key_opt) {
		c.update = !take_head(n, &c.sc, cmd->type, c.key, &c.rec, &c.head);
		if (c.update)
			c.rec.u = c.head.u; /* an update restates what it does not change */
	}
	c.rec.type = cmd->type;
	ret = cmd->fill(&c);
	if (!ret)
		ret = create_finish(n, req, r, &c.rec, cmd->prio);
	scan_free(&c.sc);
	return ret;
}

static const char *const cat_opts[4] = {"--p1", "--p2", "--p3", "--dead"};

/* The casualty counts by category (cat_opts) given, into out; each one is
 * required when required_at (the CCS counted at) is not NULL. */
static int counts_arg(const struct args *a, struct ctl_reply *r, const char *required_at,
		      uint16_t out[static 4])
{
	unsigned long v = 0;
	int ret = 0;

	for (int i = 0; !ret && i < 4; i++) {
		if (!arg(a, cat_opts[i])) {
			if (required_at) {
				ctl_reply_printf(r, "%s is required for the first count at %s (0..%u)\n",
						 cat_opts[i], required_at, INC_COUNT_MAX);
				ret = MU_E_FORMAT;
			}
			continue;
		}
		ret = num_arg(r, cat_opts[i], arg(a, cat_opts[i]), 0, INC_COUNT_MAX, &v);
		out[i] = (uint16_t)v;
	}
	return ret;
}

/* MU_E_NOTFOUND with a reply: crew callsign is not checked in. */
static int crew_missing(const struct create *c, const char *callsign)
{
	ctl_reply_printf(c->r, "%s has not checked in to %s (as seen from this node)\n", callsign,
			 c->rec.incident);
	return MU_E_NOTFOUND;
}

static int crew_checked_in(const struct create *c, const char *callsign)
{
	uint8_t head[BUNDLE_ID_BYTES];

	return scene_head(c->sc.s, INC_CHECKIN, callsign, head) ? crew_missing(c, callsign) : 0;
}

/* ---- methane ---- */

static const struct opt methane_opts[] = {
    {"--declared", O_FLAG},
    {"--standby", O_FLAG},
    {"--stand-down", O_FLAG},
    {"--not-declared", O_FLAG},
    {"--location", O_TEXT},
    {"--grid", O_FLAG},
    {"--w3w", O_FLAG},
    {"--latlon", O_FLAG},
    {"--type", O_TEXT},
    {"--hazards", O_TEXT},
    {"--access", O_TEXT},
    {"--p1", O_VALUE},
    {"--p2", O_VALUE},
    {"--p3", O_VALUE},
    {"--dead", O_VALUE},
    {"--casualties-note", O_TEXT},
    {"--services", O_TEXT},
    {"--incident", O_VALUE},
    {"--confirm-identifier", O_FLAG},
    {0},
};

static const char *const declared_opts[4] = {"--not-declared", "--declared", "--standby", "--stand-down"};
static const char *const loc_kind_opts[3] = {"--grid", "--w3w", "--latlon"};

/* Picks the one flag of names[] given; -1 if none, -2 (replied) if more. */
static int one_of(const struct args *a, const char *const *names, int count, struct ctl_reply *r)
{
	int got = -1;

	for (int i = 0; i < count; i++) {
		if (!arg(a, names[i]))
			continue;
		if (got >= 0) {
			ctl_reply_printf(r, "give only one of %s and %s\n", names[got], names[i]);
			return -2;
		}
		got = i;
	}
	return got;
}

static int methane_parse(struct create *c)
{
	int d = one_of(&c->a, declared_opts, 4, c->r);
	int k = one_of(&c->a, loc_kind_opts, 3, c->r);

	return d == -2 || k == -2 ? MU_E_FORMAT : 0;
}

static int methane_fill(struct create *c)
{
	const struct args *a = &c->a;
	struct inc_methane *m = &c->rec.u.methane;
	int d = one_of(a, declared_opts, 4, c->r), k = one_of(a, loc_kind_opts, 3, c->r);
	int ret;

	if (d >= 0)
		m->declared = (uint8_t)d;
	else if (!c->update) {
		ctl_reply_printf(
		    c->r,
		    "the first report needs one of --declared, --standby, --stand-down, --not-declared\n");
		return MU_E_FORMAT;
	}
	if (arg(a, "--location"))
		m->loc_kind = k >= 0 ? (uint8_t)k : LOC_TEXT;
	else if (k >= 0)
		m->loc_kind = (uint8_t)k;
	ret = text_arg(c->r, "--location", arg(a, "--location"), INC_PLACE_MAX, !c->update, m->location);
	if (!ret)
		ret = text_arg(c->r, "--type", arg(a, "--type"), INC_TEXT_MAX, !c->update, m->type);
	if (!ret)
		ret = text_arg(c->r, "--hazards", arg(a, "--hazards"), INC_TEXT_MAX, false, m->hazards);
	if (!ret)
		ret = text_arg(c->r, "--access", arg(a, "--access"), INC_TEXT_MAX, false, m->access);
	if (!ret)
		ret = text_arg(c->r, "--casualties-note", arg(a, "--casualties-note"), INC_TEXT_MAX, false,
			       m->casualty_note);
	if (!ret)
		ret =
		    text_arg(c->r, "--services", arg(a, "--services"), INC_TEXT_MAX, !c->update, m->services);
	if (!ret)
		ret = counts_arg(a, c->r, NULL, m->casualties);
	return ret;
}

/* ---- crews ---- */

static const struct opt checkin_opts[] = {
    {"--callsign", O_TEXT},
    {"--skills", O_VALUE},
    {"--vehicle", O_TEXT},
    {"--location", O_TEXT},
    {"--member", O_REPEAT},
    {"--status", O_VALUE},
    {"--incident", O_VALUE},
    {"--confirm-identifier", O_FLAG},
    {0},
};

static int skills_arg(struct ctl_reply *r, const char *v, uint8_t *out)
{
	char buf[128], *save = NULL, *tok;
	uint8_t skill;

	*out = 0;
	if (strlen(v) >= sizeof(buf))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (inc_skill_parse(tok, &skill))
			goto bad;
		*out |= (uint8_t)(1u << skill);
	}
	if (*out)
		return 0;
bad:
	ctl_reply_printf(r, "--skills is a comma-separated list of:");
	for (uint8_t s = 0; s <= SKILL_MAX; s++)
		ctl_reply_printf(r, "%s%s", s ? ", " : " ", inc_skill_name(s));
	ctl_reply_printf(r, "\n");
	return MU_E_FORMAT;
}

/* Adds key to the check-in's members unless it is there. */
static int member_add(struct inc_checkin *c, const uint8_t key[static MU_KEY_BYTES], struct ctl_reply *r)
{
	for (unsigned i = 0; i < c->n_members; i++)
		if (!memcmp(c->members[i], key, MU_KEY_BYTES))
			return 0;
	if (c->n_members == INC_MEMBERS_MAX) {
		ctl_reply_printf(r, "--member: a crew has at most %d members, you included\n",
				 INC_MEMBERS_MAX);
		return MU_E_TOOBIG;
	}
	memcpy(c->members[c->n_members++], key, MU_KEY_BYTES);
	return 0;
}

static int checkin_fill(struct create *c)
{
	const struct args *a = &c->a;
	struct inc_checkin *ci = &c->rec.u.checkin;
	const char *v;
	int ret = 0;

	snprintf(ci->callsign, sizeof(ci->callsign), "%s", c->key);
	if ((v = arg(a, "--status"))) {
		if (inc_crew_status_parse(v, &ci->status) || ci->status == CREW_CHECKED_OUT) {
			ctl_reply_printf(c->r, "--status must be available, committed or transporting "
					       "(muster checkout checks a crew out)\n");
			return MU_E_FORMAT;
		}
	} else if (!c->update || ci->status == CREW_CHECKED_OUT) {
		ci->status = CREW_AVAILABLE; /* checking in (again) */
	}
	if ((v = arg(a, "--skills")))
		ret = skills_arg(c->r, v, &ci->skills);
	else if (!c->update) {
		ctl_reply_printf(c->r,
				 "--skills is required when a crew first checks in (e.g. paramedic,hart)\n");
		ret = MU_E_FORMAT;
	}
	if (!ret)
		ret = text_arg(c->r, "--vehicle", arg(a, "--vehicle"), INC_SHORT_MAX, false, ci->vehicle);
	if (!ret)
		ret = text_arg(c->r, "--location", arg(a, "--location"), INC_PLACE_MAX, false, ci->location);
	if (!ret && a->nrep)
		ci->n_members = 0; /* the members given replace the crew's list */
	for (int i = 0; !ret && i < a->nrep; i++) {
		uint8_t key[MU_KEY_BYTES];

		if (hex_decode(key, MU_KEY_BYTES, a->rep[i])) {
			ctl_reply_printf(c->r, "--member wants a staff member's 64-digit key id\n");
			ret = MU_E_FORMAT;
		} else {
			ret = member_add(ci, key, c->r);
		}
	}
	if (!ret)
		ret = member_add(ci, identity_sign_pk(c->n->user),
				 c->r); /* the sender is always one of the crew */
	return ret;
}

static int checkout_fill(struct create *c)
{
	struct inc_checkin *ci = &c->rec.u.checkin;

	snprintf(ci->callsign, sizeof(ci->callsign), "%s", c->key);
	if (!c->update)
		return crew_missing(c, c->key);
	ci->status = CREW_CHECKED_OUT;
	return member_add(ci, identity_sign_pk(c->n->user), c->r); /* the sender is always one of the crew */
}

static const struct opt checkout_opts[] = {{"--callsign", O_TEXT}, {"--incident", O_VALUE}, {0}};

/* Local policy, not a protocol rule: other nodes show any signed
 * assignment, and the view flags a crew assigned twice. */
static int assign_parse(struct create *c)
{
	if (c->n->user && c->n->user_cred.role != ROLE_AIC) {
		ctl_reply_printf(
		    c->r, "only an incident commander (credential role aic) may assign crews; you are %s\n",
		    role_name(c->n->user_cred.role));
		return -EPERM;
	}
	return 0;
}

static int assign_fill(struct create *c)
{
	const struct args *a = &c->a;
	struct inc_assign *as = &c->rec.u.assign;
	int ret;

	ret = text_arg(c->r, "--callsign", arg(a, "--callsign"), INC_SHORT_MAX, true, as->callsign);
	if (!ret)
		ret = text_arg(c->r, "--function", arg(a, "--function"), INC_SHORT_MAX, true, as->function);
	if (!ret)
		ret = text_arg(c->r, "--sector", arg(a, "--sector"), INC_SHORT_MAX, false, as->sector);
	if (!ret)
		ret = text_arg(c->r, "--note", arg(a, "--note"), INC_TEXT_MAX, false, as->note);
	if (!ret)
		ret = crew_checked_in(c, as->callsign);
	/* A reassignment supersedes the crew's current assignment; two
	 * commanders assigning without seeing each other stay a conflict. */
	if (!ret && !scene_head(c->sc.s, INC_ASSIGN, as->callsign, c->rec.prev))
		c->rec.has_prev = true;
	return ret;
}

static const struct opt assign_opts[] = {
    {"--callsign", O_TEXT},
    {"--function", O_TEXT},
    {"--sector", O_TEXT},
    {"--note", O_TEXT},
    {"--incident", O_VALUE},
    {"--confirm-identifier", O_FLAG},
    {0},
};

/* The record a response names (ASSIGNMENT-ID, REQUEST-ID): readable, of
 * the type wanted and of the incident the new record is for. */
static int take_ref(struct node *n, const struct scan *sc, const char *what, const char *idtext, uint8_t type,
		    struct inc_record *rec, struct inc_record *ref, struct ctl_reply *r)
{
	const struct readable *hit = NULL;
	int ret;

	if (!idtext) {
		ctl_reply_printf(r, "%s is required\n", what);
		return MU_E_FORMAT;
	}
	ret = resolve_id(sc, what, idtext, rec->ref, &hit, r);
	if (ret)
		return ret;
	if (hit->type != type || record_open(n, rec->ref, ref, NULL, NULL)) {
		ctl_reply_printf(r, "%s %.12s is a %s record, not a%s %s\n", what, idtext,
				 inc_type_name(hit->type), type == INC_ASSIGN ? "n" : "",
				 inc_type_name(type));
		return MU_E_FORMAT;
	}
	if (strcmp(ref->incident, rec->incident)) {
		ctl_reply_printf(r, "%s %.12s belongs to incident %s: add --incident %s\n", what, idtext,
				 ref->incident, ref->incident);
		return MU_E_MISMATCH;
	}
	rec->has_ref = true;
	return 0;
}

static int acknowledge_fill(struct create *c)
{
	struct inc_assign_ack *ack = &c->rec.u.ack;
	const char *crew = c->ref.u.assign.callsign;
	int ret;

	ret = take_ref(c->n, &c->sc, "ASSIGNMENT-ID", c->a.pos[0], INC_ASSIGN, &c->rec, &c->ref, c->r);
	if (!ret)
		ret = text_arg(c->r, "--callsign", arg(&c->a, "--callsign"), INC_SHORT_MAX, false,
			       ack->callsign);
	if (!ret && !*ack->callsign)
		snprintf(ack->callsign, sizeof(ack->callsign), "%s", crew);
	if (!ret && strcmp(ack->callsign, crew)) {
		ctl_reply_printf(c->r, "that assignment is for %s, not %s\n", crew, ack->callsign);
		ret = MU_E_MISMATCH;
	}
	return ret;
}

static const struct opt acknowledge_opts[] = {{"--callsign", O_TEXT}, {"--incident", O_VALUE}, {0}};

/* ---- staffing requests ---- */

static int request_parse(struct create *c)
{
	struct inc_request *q = &c->rec.u.request;
	const char *skill = arg(&c->a, "--skill");
	unsigned long need = 0;
	int ret;

	ret = num_arg(c->r, "--need", arg(&c->a, "--need"), 1, INC_PEOPLE_MAX, &need);
	if (!ret && (!skill || inc_skill_parse(skill, &q->skill))) {
		ctl_reply_printf(
		    c->r, "--skill is required: paramedic, technician, hart, doctor, nurse or specialist\n");
		ret = MU_E_FORMAT;
	}
	q->count = (uint8_t)need;
	return ret;
}

static int request_fill(struct create *c)
{
	struct inc_request *q = &c->rec.u.request;
	int ret;

	ret = text_arg(c->r, "--sector", arg(&c->a, "--sector"), INC_SHORT_MAX, true, q->sector);
	if (!ret)
		ret = text_arg(c->r, "--note", arg(&c->a, "--note"), INC_TEXT_MAX, false, q->note);
	return ret;
}

static const struct opt request_opts[] = {
    {"--need", O_VALUE},
    {"--skill", O_VALUE},
    {"--sector", O_TEXT},
    {"--note", O_TEXT},
    {"--incident", O_VALUE},
    {"--confirm-identifier", O_FLAG},
    {0},
};

/* The request REQUEST-ID names: its original in c->ref (orig_id, key: its
 * id in hex) and, once updated, its current record in c->head (rec.prev).
 * Refused when it is an update or cancelled. */
static int request_target(struct create *c, uint8_t orig_id[static BUNDLE_ID_BYTES],
			  char key[static 2 * BUNDLE_ID_BYTES + 1])
{
	int ret;

	ret = take_ref(c->n, &c->sc, "REQUEST-ID", c->a.pos[0], INC_REQUEST, &c->rec, &c->ref, c->r);
	if (!ret && c->ref.has_prev) {
		ctl_reply_printf(c->r,
				 "REQUEST-ID %.12s is an update of a request: name the original request\n",
				 c->a.pos[0]);
		ret = MU_E_FORMAT;
	}
	if (ret)
		return ret;
	memcpy(orig_id, c->rec.ref, BUNDLE_ID_BYTES);
	hex_encode(key, orig_id, BUNDLE_ID_BYTES);
	if (!take_head(c->n, &c->sc, INC_REQUEST, key, &c->rec, &c->head) && c->head.u.request.cancelled) {
		ctl_reply_printf(c->r, "request %.12s was cancelled\n", key);
		return MU_E_FORMAT;
	}
	return 0;
}

static int accept_parse(struct create *c)
{
	unsigned long count = 1;
	int ret = 0;

	if (arg(&c->a, "--count"))
		ret = num_arg(c->r, "--count", arg(&c->a, "--count"), 1, INC_PEOPLE_MAX, &count);
	c->rec.u.response.accept = 1;
	c->rec.u.response.count = (uint8_t)count;
	return ret;
}

static int decline_parse(struct create *c)
{
	if (!arg(&c->a, "--count"))
		return 0;
	ctl_reply_printf(c->r, "--count is for accepting a request\n");
	return MU_E_FORMAT;
}

static int response_fill(struct create *c)
{
	struct inc_response *p = &c->rec.u.response;
	uint8_t orig_id[BUNDLE_ID_BYTES];
	char key[2 * BUNDLE_ID_BYTES + 1];
	int ret;

	ret = request_target(c, orig_id, key);
	if (ret)
		return ret;
	c->rec.has_prev = false; /* a response stands beside the request, it updates nothing */
	memset(c->rec.prev, 0, sizeof(c->rec.prev));
	ret = text_arg(c->r, "--callsign", arg(&c->a, "--callsign"), INC_SHORT_MAX, true, p->callsign);
	if (!ret)
		ret = crew_checked_in(c, p->callsign);
	return ret;
}

static int cancel_fill(struct create *c)
{
	struct inc_record *rec = &c->rec;
	uint8_t orig_id[BUNDLE_ID_BYTES], sender[MU_KEY_BYTES];
	char key[2 * BUNDLE_ID_BYTES + 1];
	int ret;

	ret = request_target(c, orig_id, key);
	if (ret)
		return ret;
	if (record_open(c->n, orig_id, &c->ref, sender, NULL) ||
	    memcmp(sender, identity_sign_pk(c->n->user), MU_KEY_BYTES)) {
		ctl_reply_printf(c->r, "only the person who made request %.12s may cancel it\n", key);
		return -EPERM;
	}
	rec->has_ref = false;
	memset(rec->ref, 0, sizeof(rec->ref));
	rec->u.request = rec->has_prev ? c->head.u.request : c->ref.u.request;
	rec->u.request.cancelled = 1;
	if (!rec->has_prev) { /* no update yet: the original is the head */
		rec->has_prev = true;
		memcpy(rec->prev, orig_id, BUNDLE_ID_BYTES);
	}
	return 0;
}

static const struct opt answer_opts[] = {
    {"--callsign", O_TEXT},
    {"--count", O_VALUE},
    {"--incident", O_VALUE},
    {0},
};
static const struct opt cancel_opts[] = {{"--incident", O_VALUE}, {0}};

/* ---- triage and casualties ---- */

static int triage_fill(struct create *c)
{
	struct inc_triage *t = &c->rec.u.triage;
	int ret;

	snprintf(t->ccs, sizeof(t->ccs), "%s", c->key);
	ret = counts_arg(&c->a, c->r, c->update ? NULL : c->key, t->count);
	t->at = mu_now_ms();
	if (!ret && arg(&c->a, "--at"))
		ret = time_arg(c->r, "--at", arg(&c->a, "--at"), false, &t->at);
	return ret;
}

static const struct opt triage_opts[] = {
    {"--ccs", O_TEXT},   {"--p1", O_VALUE}, {"--p2", O_VALUE},       {"--p3", O_VALUE},
    {"--dead", O_VALUE}, {"--at", O_VALUE}, {"--incident", O_VALUE}, {0},
};

static int casualty_fill(struct create *c)
{
	struct inc_casualty *cas = &c->rec.u.casualty;
	const char *v;
	int ret;

	snprintf(cas->tag, sizeof(cas->tag), "%s", c->key);
	if ((v = arg(&c->a, "--priority"))) {
		if (inc_triage_parse(v, &cas->priority) || cas->priority == TRIAGE_DEAD) {
			ctl_reply_printf(c->r, "--priority must be P1, P2 or P3\n");
			return MU_E_FORMAT;
		}
	} else if (!c->update) {
		ctl_reply_printf(c->r, "--priority is required: P1, P2 or P3\n");
		return MU_E_FORMAT;
	}
	ret = text_arg(c->r, "--destination", arg(&c->a, "--destination"), INC_PLACE_MAX, !c->update,
		       cas->destination);
	if (!ret)
		ret = text_arg(c->r, "--note", arg(&c->a, "--note"), INC_TEXT_MAX, false, cas->note);
	if (!ret && (v = arg(&c->a, "--departed")))
		ret = time_arg(c->r, "--departed", v, true, &cas->departed);
	return ret;
}

static const struct opt casualty_opts[] = {
    {"--tag", O_TEXT},  {"--priority", O_VALUE}, {"--destination", O_TEXT},        {"--departed", O_VALUE},
    {"--note", O_TEXT}, {"--incident", O_VALUE}, {"--confirm-identifier", O_FLAG}, {0},
};

/* ---- dispatch ---- */

static const struct create_cmd create_cmds[] = {
    /* command, verb, options, ids, keyed by, type, priority, parse, fill */
    {"methane", "send", methane_opts, 0, "", INC_METHANE, PRIO_IMMEDIATE, methane_parse, methane_fill},
    {"checkin", NULL, checkin_opts, 0, "--callsign", INC_CHECKIN, PRIO_ROUTINE, NULL, checkin_fill},
    {"checkout", NULL, checkout_opts, 0, "--callsign", INC_CHECKIN, PRIO_ROUTINE, NULL, checkout_fill},
    {"assign", NULL, assign_opts, 0, NULL, INC_ASSIGN, PRIO_URGENT, assign_parse, assign_fill},
    {"acknowledge", NULL, acknowledge_opts, 1, NULL, INC_ASSIGN_ACK, PRIO_URGENT, NULL, acknowledge_fill},
    {"request", "send", request_opts, 0, NULL, INC_REQUEST, PRIO_URGENT, request_parse, request_fill},
    {"request", "accept", answer_opts, 1, NULL, INC_RESPONSE, PRIO_URGENT, accept_parse, response_fill},
    {"request", "decline", answer_opts, 1, NULL, INC_RESPONSE, PRIO_URGENT, decline_parse, response_fill},
    {"request", "cancel", cancel_opts, 1, NULL, INC_REQUEST, PRIO_URGENT, NULL, cancel_fill},
    {"triage", "send", triage_opts, 0, "--ccs", INC_TRIAGE, PRIO_URGENT, NULL, triage_fill},
    {"casualty", "send", casualty_opts, 0, "--tag", INC_CASUALTY, PRIO_URGENT, NULL, casualty_fill},
};

/* `muster NOUN` shows a view; `muster NOUN send ...` creates a record. */
static bool sub(const struct ctl_req *req, const char *verb)
{
	return req->argc > 1 && !strcmp(req->argv[1], verb);
}

static int usage(struct ctl_reply *r, const char *cmd, const char *verbs)
{
	ctl_reply_printf(r, "usage: muster %s %s (see muster help)\n", cmd, verbs);
	return MU_E_FORMAT;
}

int control_incident(struct node *n, const struct ctl_req *req, struct ctl_reply *r, int *ret)
{
	const char *cmd = req->argc ? req->argv[0] : "";

	for (size_t i = 0; i < sizeof(create_cmds) / sizeof(create_cmds[0]); i++) {
		const struct create_cmd *c = &create_cmds[i];

		if (!strcmp(cmd, c->cmd) && (!c->verb || sub(req, c->verb))) {
			*ret = create_record(n, req, r, c);
			return 1;
		}
	}
	if (!strcmp(cmd, "methane"))
		*ret = cmd_view(n, req, r, VIEW_METHANE);
	else if (!strcmp(cmd, "roster"))
		*ret = cmd_view(n, req, r, VIEW_ROSTER);
	else if (!strcmp(cmd, "requests"))
		*ret = cmd_view(n, req, r, VIEW_REQUESTS);
	else if (!strcmp(cmd, "triage"))
		*ret = cmd_view(n, req, r, VIEW_TRIAGE);
	else if (!strcmp(cmd, "incident-report"))
		*ret = cmd_view(n, req, r, VIEW_REPORT);
	else if (!strcmp(cmd, "request"))
		*ret = usage(r, cmd, "send|accept|decline|cancel ...");
	else if (!strcmp(cmd, "casualty"))
		*ret = usage(r, cmd, "send --tag TAG ...");
	else
		return 0;
	return 1;
}
