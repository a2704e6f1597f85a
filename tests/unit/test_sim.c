/* mu-sim (tools/sim): the trace parser's limits and errors, and exact
 * delivery figures on tiny traces whose outcome can be worked out by hand:
 * a relay path, a hop limit, a relay's quota, a contact too short for a
 * bundle. Every run is repeated to check that it is deterministic. */
#include <stdbool.h>
#include <string.h>

#include "bundle.h"
#include "sim.h"
#include "testutil.h"

/* Field by field: struct sim_msg has padding. */
static bool same_msgs(const struct sim_trace *a, const struct sim_trace *b)
{
	if (a->nmsgs != b->nmsgs)
		return false;
	for (size_t i = 0; i < a->nmsgs; i++) {
		const struct sim_msg *x = &a->msg[i], *y = &b->msg[i];

		if (x->t != y->t || x->from != y->from || x->to != y->to || x->prio != y->prio ||
		    x->size != y->size)
			return false;
	}
	return true;
}

static struct sim_trace *parse_ok(const char *text)
{
	struct sim_trace *t = NULL;
	unsigned line = 99;

	CHECK_OK(sim_trace_parse(&t, text, strlen(text), &line));
	CHECK(line == 0);
	return t;
}

/* Field by field: the structs have padding. */
static bool same(const struct sim_result *a, const struct sim_result *b)
{
	for (int p = 0; p < SIM_PRIOS; p++) {
		const struct sim_prio_result *x = &a->prio[p], *y = &b->prio[p];

		if (x->generated != y->generated || x->delivered != y->delivered ||
		    x->ideal_delivered != y->ideal_delivered || x->p50_s != y->p50_s ||
		    x->p90_s != y->p90_s || x->ideal_p50_s != y->ideal_p50_s ||
		    x->ideal_p90_s != y->ideal_p90_s)
			return false;
	}
	return a->bundle_bytes == b->bundle_bytes && a->sync_bytes == b->sync_bytes &&
	       a->sync_rounds == b->sync_rounds && a->sent == b->sent && a->duplicates == b->duplicates &&
	       a->refused_quota == b->refused_quota && a->refused_other == b->refused_other &&
	       a->wasted_bytes == b->wasted_bytes && a->cut == b->cut && a->skipped == b->skipped &&
	       a->lost_at_source == b->lost_at_source && a->evicted == b->evicted &&
	       a->admitted_sigs == b->admitted_sigs;
}

static void run(const char *text, struct sim_result *r)
{
	struct sim_trace *t = parse_ok(text);
	char *dir = test_tmpdir("sim");
	struct sim_result again;

	CHECK_OK(sim_run(t, dir, r));
	CHECK_OK(sim_run(t, dir, &again));
	CHECK(same(r, &again)); /* same trace, same seed: same figures */
	sim_trace_free(t);
	free(dir);
}

static const char tiny[] = "# a relay: a meets b, later b meets c\n"
			   "seed 7\n"
			   "ttl 3600\n"
			   "node a crew 1000000\n"
			   "node b ferry 1000000\n"
			   "node c commander 1000000\n"
			   "msg 0 a c immediate 200\n"
			   "msg 5 a c bulk 60000\n"
			   "gen a c routine 3 300 0 50\n"
			   "0 100 a b 1000\n"
			   "200 300 b c 100   # 12.5 kB/s\n";

static void t_parse(void)
{
	struct sim_trace *t = parse_ok(tiny), *u = parse_ok(tiny);

	CHECK(t->nnodes == 3 && t->ncontacts == 2 && t->nmsgs == 5);
	CHECK(t->seed == 7 && t->ttl == 3600 && t->hops == 16 && t->duration == 300);
	CHECK(t->node[1].role == SIM_FERRY && t->node[2].quota == 1000000);
	CHECK(t->contact[1].t0 == 200 && t->contact[1].a == 1 && t->contact[1].kbps == 100);
	/* sorted by time; the gen line's three times come from the seed */
	for (size_t i = 1; i < t->nmsgs; i++)
		CHECK(t->msg[i - 1].t <= t->msg[i].t);
	CHECK(same_msgs(t, u));
	sim_trace_free(t);
	sim_trace_free(u);
}

static void t_parse_gen_role(void)
{
	struct sim_trace *t = parse_ok("node x crew 65536\nnode y crew 65536\nnode h hospital 65536\n"
				       "gen crew h bulk 2 100 10 20\n");

	CHECK(t->nmsgs == 4);
	for (size_t i = 0; i < t->nmsgs; i++)
		CHECK(t->msg[i].to == 2 && t->msg[i].prio == PRIO_BULK && t->msg[i].t >= 10 &&
		      t->msg[i].t < 20);
	sim_trace_free(t);
}

static void bad(const char *text, int want, unsigned want_line)
{
	struct sim_trace *t = (struct sim_trace *)1;
	unsigned line = 99;

	CHECK_RET(sim_trace_parse(&t, text, strlen(text), &line), want);
	CHECK(t == NULL);
	if (line != want_line) {
		fprintf(stderr, "%s: line %u, wanted %u\n", text, line, want_line);
		exit(1);
	}
}

static void t_parse_errors(void)
{
	char longline[SIM_LINE_MAX + 40];

	bad("node a crew 65536\nbogus 1\n", MU_E_FORMAT, 2);
	bad("node a crew 65536\n0 10 a b 100\n", MU_E_FORMAT, 2);                     /* b undeclared */
	bad("node a crew 65536\nnode b crew 65536\n10 10 a b 100\n", MU_E_FORMAT, 3); /* empty */
	bad("node a crew 65536\n0 10 a a 100\n", MU_E_FORMAT, 2);                     /* self */
	bad("node a crew 65536\nnode b crew 65536\n0 10 a b 0\n", MU_E_TOOBIG, 3);
	bad("node a crew 65536\nnode b crew 65536\n0 604801 a b 1\n", MU_E_TOOBIG, 3);
	bad("node a crew 65535\n", MU_E_TOOBIG, 1); /* under SIM_QUOTA_MIN */
	bad("node a crew 65536\nnode a ferry 65536\n", MU_E_EXISTS, 2);
	bad("node 1a crew 65536\n", MU_E_FORMAT, 1);
	bad("node a pilot 65536\n", MU_E_FORMAT, 1);
	bad("node a crew 65536\nnode b crew 65536\nmsg 0 a b soon 100\n", MU_E_FORMAT, 3);
	bad("node a crew 65536\nnode b crew 65536\nmsg 0 a b bulk 7\n", MU_E_TOOBIG, 3);
	bad("node a crew 65536\nnode b crew 65536\nmsg 0 a b bulk 65537\n", MU_E_TOOBIG, 3);
	bad("node a crew 65536\nnode b crew 65536\nmsg 0 a b bulk 100 extra\n", MU_E_FORMAT, 3);
	bad("node a crew 65536\nnode b crew 65536\nmsg -1 a b bulk 100\n", MU_E_FORMAT, 3);
	bad("node a crew 65536\nhops 33\n", MU_E_TOOBIG, 2);
	bad("seed 1\n", MU_E_FORMAT, 0); /* no nodes */
	memset(longline, ' ', sizeof(longline));
	memcpy(longline, "node a crew 65536\n", 18);
	longline[sizeof(longline) - 1] = 0;
	bad(longline, MU_E_TOOBIG, 2);
}

static void t_relay(void)
{
	struct sim_result r;
	const struct sim_prio_result *im = &r.prio[PRIO_IMMEDIATE], *ro = &r.prio[PRIO_ROUTINE],
				     *bu = &r.prio[PRIO_BULK];

	run(tiny, &r);
	CHECK(im->generated == 1 && im->delivered == 1 && im->ideal_delivered == 1);
	CHECK(ro->generated == 3 && ro->delivered == 3 && ro->ideal_delivered == 3);
	CHECK(bu->generated == 1 && bu->delivered == 1 && bu->ideal_delivered == 1);
	CHECK(r.prio[PRIO_URGENT].generated == 0);
	/* ideal: everything reaches c when b-c opens at 200 s */
	CHECK(im->ideal_p50_s == 200.0 && bu->ideal_p50_s == 195.0);
	/* Muster: the same, plus the transfer time on the 12.5 kB/s link:
	 * the immediate goes right after the two credentials, the 60 kB bulk
	 * bundle last, 4.8 s on its own. */
	CHECK(im->p50_s > 200.0 && im->p50_s < 200.5);
	CHECK(bu->p50_s > 195.0 + 4.8 && bu->p50_s < 195.0 + 5.5);
	CHECK(ro->p50_s >= ro->ideal_p50_s && ro->p50_s < ro->ideal_p50_s + 1);
	/* a -> b: a's credential and 5 messages; b -> a: b's credential;
	 * b -> c: 2 credentials and 5 messages; c -> b: c's credential. */
	CHECK(r.sent == 15 && r.duplicates == 0 && r.refused_quota == 0 && r.cut == 0);
	CHECK(r.admitted_sigs == 3 + 5 + 15);
	CHECK(r.bundle_bytes > 2 * 60000 && r.bundle_bytes < 2 * 60000 + 8000);
	CHECK(r.sync_rounds >= 2 && r.sync_bytes > 0);
}

static void t_hops(void)
{
	struct sim_result r;

	/* a -> b is the one hop allowed; b must not forward */
	run("hops 1\nnode a crew 1000000\nnode b ferry 1000000\nnode c commander 1000000\n"
	    "msg 0 a c urgent 100\n0 100 a b 1000\n200 300 b c 1000\n",
	    &r);
	CHECK(r.prio[PRIO_URGENT].delivered == 0 && r.prio[PRIO_URGENT].ideal_delivered == 1);
	CHECK(r.skipped >= 1);
}

static void t_quota(void)
{
	struct sim_result r;

	/* b holds one 40 kB bundle: the newer bulk bundle evicts the older */
	run("node a crew 1000000\nnode b ferry 65536\nnode c commander 1000000\n"
	    "msg 0 a c bulk 40000\nmsg 1 a c bulk 40000\n5 100 a b 1000\n200 300 b c 1000\n",
	    &r);
	CHECK(r.prio[PRIO_BULK].generated == 2);
	CHECK(r.prio[PRIO_BULK].delivered == 1 && r.prio[PRIO_BULK].ideal_delivered == 2);
	CHECK(r.evicted == 1);
	CHECK(r.prio[PRIO_BULK].p50_s > 199.0 &&
	      r.prio[PRIO_BULK].p50_s < 200.0); /* the newer, sent at 1 s */
}

static void t_capacity(void)
{
	struct sim_result r;

	/* 2 s at 1 kB/s: the credentials and the small message fit, 8 kB does not */
	run("node a crew 1000000\nnode c commander 1000000\n"
	    "msg 0 a c immediate 100\nmsg 0 a c bulk 8000\n10 12 a c 8\n",
	    &r);
	CHECK(r.prio[PRIO_IMMEDIATE].delivered == 1 && r.prio[PRIO_BULK].delivered == 0);
	CHECK(r.prio[PRIO_BULK].ideal_delivered == 1 && r.cut == 1);
}

static void t_seed(void)
{
	struct sim_trace *t = parse_ok(tiny), *u;
	char *text = malloc(sizeof(tiny));

	/* another seed draws other times for the gen line */
	memcpy(text, tiny, sizeof(tiny));
	memcpy(strstr(text, "seed 7"), "seed 8", 6);
	u = parse_ok(text);
	CHECK(!same_msgs(t, u));
	sim_trace_free(t);
	sim_trace_free(u);
	free(text);
}

/* The checked-in traces parse, with the sizes docs/benchmarks.md states. */
static void t_checked_in(void)
{
	static const char *const names[] = {"scene3h", "scene3h_tight"};

	for (size_t i = 0; i < 2; i++) {
		char path[4096];
		FILE *f;
		char *text = malloc(1 << 20);
		size_t len;
		struct sim_trace *t;

		snprintf(path, sizeof(path), "%s/tools/traces/%s.trace", MU_SOURCE_DIR, names[i]);
		CHECK(text && (f = fopen(path, "rb")));
		len = fread(text, 1, (1 << 20) - 1, f);
		fclose(f);
		text[len] = 0;
		t = parse_ok(text);
		CHECK(t->nnodes == 9 && t->ncontacts == 116 && t->nmsgs == 992 && t->duration == 10800);
		CHECK(t->seed == 2026 && t->ttl == 21600 && t->hops == 16);
		sim_trace_free(t);
		free(text);
	}
}

static const struct test tests[] = {
    {"/sim/trace/checked-in", t_checked_in},
    {"/sim/trace/parse", t_parse},
    {"/sim/trace/gen-role", t_parse_gen_role},
    {"/sim/trace/errors", t_parse_errors},
    {"/sim/trace/seed", t_seed},
    {"/sim/run/relay", t_relay},
    {"/sim/run/hop-limit", t_hops},
    {"/sim/run/quota", t_quota},
    {"/sim/run/capacity", t_capacity},
};

TEST_MAIN(tests)
