/* Contact trace parser for mu-sim. The format is in docs/benchmarks.md
 * "sim"; every limit is in sim.h. Strict: unknown keywords, stray fields,
 * out-of-range numbers and undeclared nodes are errors with a line number,
 * because a silently skipped contact would change the figures. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "err.h"
#include "sim.h"

#define FIELDS_MAX 10
#define GENS_MAX   4096

struct gen {
	int from; /* node index, or -1 - role for "each node of that role" */
	uint16_t to;
	uint8_t prio;
	uint32_t count, size, t0, t1;
};

struct parser {
	struct sim_trace *t;
	size_t ccap, mcap;
	struct gen *gen;
	size_t ngen;
	bool have_duration;
};

static const char *const role_names[] = {"crew", "commander", "ferry", "hospital"};

static int num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return MU_E_FORMAT;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return MU_E_FORMAT;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < min || v > max)
		return MU_E_TOOBIG;
	*out = v;
	return 0;
}

static int node_find(const struct sim_trace *t, const char *name)
{
	for (size_t i = 0; i < t->nnodes; i++)
		if (!strcmp(t->node[i].name, name))
			return (int)i;
	return -1;
}

static int role_find(const char *name)
{
	for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (!strcmp(role_names[i], name))
			return (int)i;
	return -1;
}

static int push_msg(struct parser *p, const struct sim_msg *m)
{
	struct sim_trace *t = p->t;

	if (t->nmsgs == SIM_MSGS_MAX)
		return MU_E_TOOBIG;
	if (t->nmsgs == p->mcap) {
		size_t cap = p->mcap ? 2 * p->mcap : 256;
		struct sim_msg *v = realloc(t->msg, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->msg = v;
		p->mcap = cap;
	}
	t->msg[t->nmsgs++] = *m;
	return 0;
}

static int parse_node(struct parser *p, char **f, int n)
{
	struct sim_trace *t = p->t;
	struct sim_node *nd;
	uint64_t q;
	int role, ret;

	/* a name starting with a digit would read as a contact line */
	if (n != 4 || strlen(f[1]) > SIM_NAME_MAX || (f[1][0] | 0x20) < 'a' || (f[1][0] | 0x20) > 'z' ||
	    (role = role_find(f[2])) < 0)
		return MU_E_FORMAT;
	if (node_find(t, f[1]) >= 0)
		return MU_E_EXISTS;
	if (t->nnodes == SIM_NODES_MAX)
		return MU_E_TOOBIG;
	if ((ret = num(f[3], SIM_QUOTA_MIN, SIM_QUOTA_MAX, &q)))
		return ret;
	nd = &t->node[t->nnodes++];
	strcpy(nd->name, f[1]);
	nd->role = (uint8_t)role;
	nd->quota = q;
	return 0;
}

static int parse_contact(struct parser *p, char **f, int n)
{
	struct sim_trace *t = p->t;
	uint64_t t0, t1, kbps;
	int a, b, ret;

	if (n != 5)
		return MU_E_FORMAT;
	if ((ret = num(f[0], 0, SIM_TIME_MAX, &t0)) || (ret = num(f[1], 0, SIM_TIME_MAX, &t1)) ||
	    (ret = num(f[4], 1, SIM_KBPS_MAX, &kbps)))
		return ret;
	a = node_find(t, f[2]);
	b = node_find(t, f[3]);
	if (t1 <= t0 || a < 0 || b < 0 || a == b)
		return MU_E_FORMAT;
	if (t->ncontacts == SIM_CONTACTS_MAX)
		return MU_E_TOOBIG;
	if (t->ncontacts == p->ccap) {
		size_t cap = p->ccap ? 2 * p->ccap : 256;
		struct sim_contact *v = realloc(t->contact, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->contact = v;
		p->ccap = cap;
	}
	t->contact[t->ncontacts++] =
	    (struct sim_contact){(uint32_t)t0, (uint32_t)t1, (uint16_t)a, (uint16_t)b, (uint32_t)kbps};
	return 0;
}

/* msg T FROM TO PRIO SIZE  |  gen FROM TO PRIO COUNT SIZE T0 T1 */
static int parse_msg(struct parser *p, char **f, int n, bool gen)
{
	struct sim_trace *t = p->t;
	int i = gen ? 0 : 1, from, to, role, ret;
	uint64_t tm = 0, count = 1, size, t0 = 0, t1 = 1;
	uint8_t prio;

	if (n != (gen ? 8 : 6))
		return MU_E_FORMAT;
	if (!gen && (ret = num(f[1], 0, SIM_TIME_MAX, &tm)))
		return ret;
	from = node_find(t, f[i + 1]);
	if (from < 0 && gen && (role = role_find(f[i + 1])) >= 0)
		from = -1 - role; /* each node of that role */
	else if (from < 0)
		return MU_E_FORMAT;
	to = node_find(t, f[i + 2]);
	if (to < 0 || from == to)
		return MU_E_FORMAT;
	if (bundle_prio_parse(f[i + 3], &prio))
		return MU_E_FORMAT;
	if (gen) {
		if ((ret = num(f[4], 1, SIM_MSGS_MAX, &count)) ||
		    (ret = num(f[5], SIM_MSG_MIN, BUNDLE_PAYLOAD_MAX, &size)) ||
		    (ret = num(f[6], 0, SIM_TIME_MAX, &t0)) || (ret = num(f[7], 0, SIM_TIME_MAX, &t1)))
			return ret;
		if (t1 <= t0)
			return MU_E_FORMAT;
		if (p->ngen == GENS_MAX)
			return MU_E_TOOBIG;
		p->gen[p->ngen++] = (struct gen){from,           (uint16_t)to, prio,        (uint32_t)count,
						 (uint32_t)size, (uint32_t)t0, (uint32_t)t1};
		return 0;
	}
	if ((ret = num(f[5], SIM_MSG_MIN, BUNDLE_PAYLOAD_MAX, &size)))
		return ret;
	return push_msg(p,
			&(struct sim_msg){(uint32_t)tm, (uint16_t)from, (uint16_t)to, prio, (uint32_t)size});
}

static int parse_line(struct parser *p, char *line)
{
	char *f[FIELDS_MAX + 1], *save = NULL, *tok;
	int n = 0, ret;
	uint64_t v;

	if ((tok = strchr(line, '#')))
		*tok = 0;
	for (tok = strtok_r(line, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
		if (n == FIELDS_MAX)
			return MU_E_FORMAT;
		f[n++] = tok;
	}
	if (!n)
		return 0;
	if (f[0][0] >= '0' && f[0][0] <= '9')
		return parse_contact(p, f, n);
	if (!strcmp(f[0], "node"))
		return parse_node(p, f, n);
	if (!strcmp(f[0], "msg"))
		return parse_msg(p, f, n, false);
	if (!strcmp(f[0], "gen"))
		return parse_msg(p, f, n, true);
	if (n != 2)
		return MU_E_FORMAT;
	if (!strcmp(f[0], "seed"))
		return num(f[1], 0, UINT64_MAX, &p->t->seed);
	if (!strcmp(f[0], "duration")) {
		if ((ret = num(f[1], 1, SIM_TIME_MAX, &v)))
			return ret;
		p->t->duration = (uint32_t)v;
		p->have_duration = true;
		return 0;
	}
	if (!strcmp(f[0], "ttl")) {
		if ((ret = num(f[1], 1, SIM_TIME_MAX, &v)))
			return ret;
		p->t->ttl = (uint32_t)v;
		return 0;
	}
	if (!strcmp(f[0], "hops")) {
		if ((ret = num(f[1], 1, BUNDLE_HOPS_MAX, &v)))
			return ret;
		p->t->hops = (uint8_t)v;
		return 0;
	}
	return MU_E_FORMAT;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* gen lines become messages at seeded uniform times, in line order and,
 * for a role, node order: the same trace and seed give the same list. */
static int expand_gens(struct parser *p)
{
	struct sim_trace *t = p->t;
	uint64_t rng = t->seed ^ 0x6d75737465722d73ull;
	int ret;

	for (size_t g = 0; g < p->ngen; g++) {
		const struct gen *gn = &p->gen[g];

		for (size_t nd = 0; nd < t->nnodes; nd++) {
			if (gn->from >= 0 ? (int)nd != gn->from
					  : t->node[nd].role != (uint8_t)(-1 - gn->from) || nd == gn->to)
				continue;
			for (uint32_t i = 0; i < gn->count; i++) {
				struct sim_msg m = {gn->t0 + (uint32_t)(splitmix(&rng) % (gn->t1 - gn->t0)),
						    (uint16_t)nd, gn->to, gn->prio, gn->size};

				if ((ret = push_msg(p, &m)))
					return ret;
			}
		}
	}
	return 0;
}

static int cmp_contact(const void *x, const void *y)
{
	const struct sim_contact *a = x, *b = y;

	return a->t0 != b->t0 ? (a->t0 < b->t0 ? -1 : 1) : 0;
}

static int cmp_msg(const void *x, const void *y)
{
	const struct sim_msg *a = x, *b = y;

	return a->t != b->t ? (a->t < b->t ? -1 : 1) : 0;
}

/* A bottom-up merge sort: qsort is not stable, and equal times must keep
 * the trace's order for the run to be reproducible everywhere. */
static int stable_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	char *tmp, *a = base;

	if (n < 2)
		return 0;
	if (!(tmp = malloc(n * size)))
		return -ENOMEM;
	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t i = lo, j = mid, k = lo;

			while (i < mid || j < hi) {
				if (j >= hi || (i < mid && cmp(a + i * size, a + j * size) <= 0))
					memcpy(tmp + k++ * size, a + i++ * size, size);
				else
					memcpy(tmp + k++ * size, a + j++ * size, size);
			}
		}
		memcpy(a, tmp, n * size);
	}
	free(tmp);
	return 0;
}

int sim_trace_parse(struct sim_trace **out, const char *text, size_t len, unsigned *bad_line)
{
	struct parser p = {0};
	char line[SIM_LINE_MAX + 1];
	unsigned lineno = 0;
	int ret = 0;

	*out = NULL;
	*bad_line = 0;
	p.t = calloc(1, sizeof(*p.t));
	p.gen = calloc(GENS_MAX, sizeof(*p.gen));
	if (!p.t || !p.gen) {
		ret = -ENOMEM;
		goto out;
	}
	p.t->ttl = 6 * 3600;
	p.t->hops = 16;
	for (size_t pos = 0; pos < len && !ret;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

		lineno++;
		if (n > SIM_LINE_MAX || memchr(text + pos, 0, n))
			ret = n > SIM_LINE_MAX ? MU_E_TOOBIG : MU_E_FORMAT;
		else {
			memcpy(line, text + pos, n);
			line[n] = 0;
			ret = parse_line(&p, line);
		}
		pos += n + 1;
	}
	if (ret) {
		*bad_line = lineno;
		goto out;
	}
	if (!p.t->nnodes || (ret = expand_gens(&p))) {
		ret = ret ? ret : MU_E_FORMAT;
		goto out;
	}
	if ((ret = stable_sort(p.t->contact, p.t->ncontacts, sizeof(*p.t->contact), cmp_contact)) ||
	    (ret = stable_sort(p.t->msg, p.t->nmsgs, sizeof(*p.t->msg), cmp_msg)))
		goto out;
	if (!p.have_duration) {
		for (size_t i = 0; i < p.t->ncontacts; i++)
			if (p.t->contact[i].t1 > p.t->duration)
				p.t->duration = p.t->contact[i].t1;
		if (p.t->nmsgs && p.t->msg[p.t->nmsgs - 1].t >= p.t->duration)
			p.t->duration = p.t->msg[p.t->nmsgs - 1].t + 1;
	}
	*out = p.t;
	p.t = NULL;
out:
	free(p.gen);
	sim_trace_free(p.t);
	return ret;
}

void sim_trace_free(struct sim_trace *t)
{
	if (!t)
		return;
	free(t->contact);
	free(t->msg);
	free(t);
}
