/* The incident report in steps (node/export_report.h): the streamed bytes
 * are the whole rendering's whatever the step size, no step writes more
 * than it may, an incident far past the old 960 KiB reply cap comes out
 * complete, a stream dropped half way or stopped by its writer frees
 * everything (ASan checks), and more than SCENE_RECORDS_MAX records are
 * refused before anything is written. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive_fixture.h"
#include "export_report.h"
#include "incident.h"
#include "testutil.h"

#define NOW           1795370000000ull
#define OLD_REPLY_MAX (960u << 10) /* where the report built whole stopped */
#define STEP          (64u << 10)  /* the daemon's step (EXPORT_STEP_BYTES) */
#define MOVES         8000         /* casualty movements of the large incident */

static const char *const hospitals[] = {"Royal London", "St Thomas'", "King's College", "UCLH", "St Mary's"};

struct rep {
	struct fixture f;
	struct cred cred;
	struct export_dir dir;
	struct scene *s; /* the same records added directly: the reference */
	char name[160];
	unsigned next;
};

static void rep_open(struct rep *w, const char *tag)
{
	memset(w, 0, sizeof(*w));
	fixture_open(&w->f, tag);
	w->cred.role = ROLE_PARAMEDIC;
	snprintf(w->cred.name, sizeof(w->cred.name), "Pat Medic");
	memcpy(w->cred.sign_pk, identity_sign_pk(w->f.sender), MU_KEY_BYTES);
	w->dir.c = &w->cred;
	w->dir.n = 1;
	snprintf(w->name, sizeof(w->name), "Pat Medic (%s)", role_name(ROLE_PARAMEDIC));
	CHECK_OK(scene_new(&w->s, "INC-1"));
	CHECK_OK(archive_begin(w->f.a));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Closes and removes the archive (the cap test's is large). */
static void rep_close(struct rep *w)
{
	scene_free(w->s);
	archive_close(w->f.a);
	w->f.a = NULL;
	CHECK(nftw(w->f.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
	fixture_close(&w->f);
}

/* Archives r as sent by the fixture's sender (created 1700000000000 + i,
 * fixture_bundle) and adds it to the reference scene when ref. */
static void rep_put(struct rep *w, const struct inc_record *r, bool ref)
{
	uint8_t enc[512], id[BUNDLE_ID_BYTES], c[1 + INC_ENC_MAX];
	unsigned i = w->next++;
	size_t len = fixture_bundle(&w->f, i, enc, sizeof(enc), id);
	int clen = CHECK_LEN(inc_encode(c + 1, INC_ENC_MAX, r));

	c[0] = CONTENT_INCIDENT;
	CHECK_OK(archive_put(w->f.a, enc, len, c, 1 + (size_t)clen, 1800000000000ull + i));
	if (ref)
		CHECK_OK(
		    scene_add(w->s, id, identity_sign_pk(w->f.sender), w->name, 1700000000000ull + i, r));
}

static struct inc_record rec(uint8_t type, const char *incident)
{
	struct inc_record r;

	memset(&r, 0, sizeof(r));
	r.type = type;
	snprintf(r.incident, sizeof(r.incident), "%s", incident);
	return r;
}

static void put_methane(struct rep *w)
{
	struct inc_record r = rec(INC_METHANE, "INC-1");

	r.u.methane.declared = METHANE_DECLARED;
	r.u.methane.loc_kind = LOC_TEXT;
	strcpy(r.u.methane.location, "Victoria Station concourse");
	strcpy(r.u.methane.type, "structural collapse");
	strcpy(r.u.methane.services, "fire, police");
	r.u.methane.casualties[0] = 4;
	rep_put(w, &r, true);
}

static void put_casualty(struct rep *w, unsigned k, const char *incident)
{
	struct inc_record r = rec(INC_CASUALTY, incident);

	snprintf(r.u.casualty.tag, sizeof(r.u.casualty.tag), "T%05u", k);
	r.u.casualty.priority = (uint8_t)(k % 3);
	snprintf(r.u.casualty.destination, sizeof(r.u.casualty.destination), "%s", hospitals[k % 5]);
	r.u.casualty.departed = k % 4 ? 1700000000000ull + 60000ull * k : 0;
	snprintf(r.u.casualty.note, sizeof(r.u.casualty.note), "movement %u", k);
	rep_put(w, &r, !strcmp(incident, "INC-1"));
}

static void put_small(struct rep *w)
{
	struct inc_record r;

	put_methane(w);
	r = rec(INC_CHECKIN, "INC-1");
	strcpy(r.u.checkin.callsign, "A1");
	r.u.checkin.status = CREW_COMMITTED;
	r.u.checkin.skills = 1;
	rep_put(w, &r, true);
	r = rec(INC_REQUEST, "INC-1");
	r.u.request.count = 2;
	strcpy(r.u.request.sector, "north");
	rep_put(w, &r, true);
	for (unsigned k = 0; k < 2; k++) {
		r = rec(INC_TRIAGE, "INC-1");
		snprintf(r.u.triage.ccs, sizeof(r.u.triage.ccs), "CCS %u", k);
		r.u.triage.count[0] = 3 + k;
		r.u.triage.at = 1700000000000ull;
		rep_put(w, &r, true);
	}
	for (unsigned k = 0; k < 3; k++)
		put_casualty(w, k, "INC-1");
	put_casualty(w, 99, "INC-2"); /* another incident: not shown */
}

struct sink {
	char *p;
	size_t n, cap;
	size_t step; /* bytes of the step running */
	int calls, fail_at;
};

static int sink_out(void *ctx, const char *s, size_t n)
{
	struct sink *k = ctx;

	if (++k->calls == k->fail_at)
		return -EPIPE;
	if (k->n + n + 1 > k->cap) {
		k->cap = 2 * (k->n + n + 1);
		CHECK(k->p = realloc(k->p, k->cap));
	}
	memcpy(k->p + k->n, s, n);
	k->n += n;
	k->p[k->n] = 0;
	k->step += n;
	return 0;
}

static int scene_sink(void *ctx, const char *text)
{
	return sink_out(ctx, text, strlen(text));
}

/* The whole report in steps of at most max bytes, each step checked. */
static char *stream_all(struct rep *w, size_t max, struct report_result *res, int *steps)
{
	struct report_stream *rs;
	struct sink k = {0};
	int ret;

	CHECK_OK(report_stream_new(&rs, w->f.a, &w->dir, "INC-1", NOW, sink_out, &k));
	CHECK(k.n == 0); /* nothing before the first step */
	*steps = 0;
	do {
		k.step = 0;
		ret = report_stream_step(rs, max, res);
		CHECK(k.step <= max);
		CHECK(ret != 1 || k.step > 0); /* a step that says more writes */
		++*steps;
	} while (ret == 1);
	CHECK_OK(ret);
	report_stream_free(rs);
	return k.p;
}

/* The report's body (after the archive header) is scene_render's. */
static void check_body(struct rep *w, const char *out)
{
	struct sink ref = {0};
	const char *body = strstr(out, "\n\nINCIDENT REPORT  INC-1\n");

	CHECK(!strncmp(out, "INCIDENT REPORT INC-1, from the hospital archive\n", 49));
	CHECK(body);
	CHECK_OK(scene_render(w->s, VIEW_REPORT, 0, NOW, NULL, NULL, scene_sink, &ref));
	CHECK(ref.n > 0 && !strcmp(body + 2, ref.p));
	free(ref.p);
}

static void test_small(void)
{
	static const size_t maxes[] = {1, 7, 100, 4096, STEP, 1u << 20};
	struct report_result res, whole_res;
	struct sink whole = {0};
	struct rep w;
	int steps;

	rep_open(&w, "report-small");
	put_small(&w);
	CHECK_OK(archive_commit(w.f.a));
	CHECK_OK(export_report(w.f.a, &w.dir, "INC-1", NOW, sink_out, &whole, &whole_res));
	CHECK(whole_res.records == 8 && !strcmp(whole_res.incident, "INC-1"));
	check_body(&w, whole.p);
	CHECK(strstr(whole.p, "Victoria Station concourse") && strstr(whole.p, "T00002"));
	CHECK(!strstr(whole.p, "T00099"));
	for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
		char *p = stream_all(&w, maxes[m], &res, &steps);

		CHECK(!strcmp(p, whole.p));
		CHECK(!memcmp(&res, &whole_res, sizeof(res)));
		/* one byte a step (and maybe a last one that finds nothing more) */
		CHECK(maxes[m] > 1 || (size_t)steps == whole.n || (size_t)steps == whole.n + 1);
		free(p);
	}
	free(whole.p);
	rep_close(&w);
}

static void put_large(struct rep *w)
{
	struct inc_record r;

	put_methane(w);
	for (unsigned k = 0; k < 50; k++) {
		r = rec(INC_TRIAGE, "INC-1");
		snprintf(r.u.triage.ccs, sizeof(r.u.triage.ccs), "CCS %02u", k);
		r.u.triage.count[k % 4] = (uint16_t)k;
		rep_put(w, &r, true);
	}
	for (unsigned k = 0; k < MOVES; k++)
		put_casualty(w, k, "INC-1");
	CHECK_OK(archive_commit(w->f.a));
}

static void test_large(void)
{
	struct report_result res;
	struct rep w;
	char last[128], *p;
	size_t n;
	int steps;

	rep_open(&w, "report-large");
	put_large(&w);
	p = stream_all(&w, STEP, &res, &steps);
	n = strlen(p);
	printf("%u movements: %zu bytes in %d steps of at most %u\n", MOVES, n, steps, STEP);
	CHECK(n > OLD_REPLY_MAX + (OLD_REPLY_MAX >> 2));
	CHECK(res.records == 1 + 50 + MOVES);
	CHECK(steps >= (int)(n / STEP) && steps <= (int)(n / STEP) + 2);
	check_body(&w, p);
	/* every section, and it ends with the last row of the last one */
	CHECK(strstr(p, "Timeline  (8051 records)\n"));
	CHECK(strstr(p, "Triage  INC-1  (50 CCS)\n"));
	CHECK(strstr(p, "Casualty movements  (8000)\n"));
	CHECK(strstr(p, "T07999     P2   St Mary's"));
	CHECK(strstr(p, "\nWho is coming\n"));
	snprintf(last, sizeof(last), "%-32s %5u %5u %5u %5u\n", "UCLH", 534u, 533u, 533u, 1600u);
	CHECK(n > strlen(last) && !strcmp(p + n - strlen(last), last));
	free(p);
	rep_close(&w);
}

/* A client that goes away half way: the stream is freed between steps;
 * a writer that fails stops the stream for good. ASan finds any leak. */
static void test_abandon(void)
{
	struct report_stream *rs;
	struct report_result res;
	struct sink k = {0};
	struct rep w;

	rep_open(&w, "report-abandon");
	put_large(&w);
	CHECK_OK(report_stream_new(&rs, w.f.a, &w.dir, "INC-1", NOW, sink_out, &k));
	for (int i = 0; i < 3; i++)
		CHECK(report_stream_step(rs, STEP, &res) == 1);
	CHECK(k.n == 3 * STEP);
	report_stream_free(rs);
	report_stream_free(NULL);

	k.n = 0;
	k.calls = 0;
	k.fail_at = 2;
	CHECK_OK(report_stream_new(&rs, w.f.a, &w.dir, "INC-1", NOW, sink_out, &k));
	CHECK(report_stream_step(rs, STEP, &res) == 1);
	CHECK_RET(report_stream_step(rs, STEP, &res), -EPIPE);
	CHECK_RET(report_stream_step(rs, STEP, &res), -EPIPE); /* sticky */
	CHECK_RET(report_stream_step(rs, 0, &res), -EPIPE);
	CHECK(k.n == STEP);
	report_stream_free(rs);

	k.fail_at = 0;
	CHECK_OK(report_stream_new(&rs, w.f.a, &w.dir, "INC-1", NOW, sink_out, &k));
	CHECK_RET(report_stream_step(rs, 0, &res), -EINVAL);
	report_stream_free(rs);
	free(k.p);
	rep_close(&w);
}

/* One record more than a scene holds: refused, nothing written. */
static void test_cap(void)
{
	struct report_stream *rs = NULL;
	struct timespec t0, t1;
	struct sink k = {0};
	struct rep w;

	rep_open(&w, "report-cap");
	/* the fixture's 64 MiB map holds fewer items */
	CHECK_OK(archive_commit(w.f.a));
	archive_close(w.f.a);
	CHECK_OK(archive_open(&w.f.a, w.f.arch_dir, w.f.key_path, w.f.keyfile, w.f.node, 1ull << 30));
	for (unsigned i = 0; i <= SCENE_RECORDS_MAX; i++) {
		struct inc_record r = rec(INC_TRIAGE, "INC-1");

		if (i % 10000 == 0)
			CHECK_OK(archive_begin(w.f.a));
		snprintf(r.u.triage.ccs, sizeof(r.u.triage.ccs), "C%u", i % 100);
		rep_put(&w, &r, false);
		if (i % 10000 == 9999 || i == SCENE_RECORDS_MAX)
			CHECK_OK(archive_commit(w.f.a));
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_RET(report_stream_new(&rs, w.f.a, &w.dir, "INC-1", NOW, sink_out, &k), MU_E_TOOBIG);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%d records read and refused in %.3f s\n", SCENE_RECORDS_MAX + 1,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	CHECK(!rs && k.calls == 0);
	CHECK_RET(report_stream_new(&rs, w.f.a, &w.dir, NULL, NOW, sink_out, &k), MU_E_TOOBIG);
	CHECK_RET(export_report(w.f.a, &w.dir, "INC-1", NOW, sink_out, &k, NULL), MU_E_TOOBIG);
	CHECK(k.calls == 0);
	/* another incident of the same archive is still reported */
	put_casualty(&w, 1, "INC-3");
	CHECK_OK(export_report(w.f.a, &w.dir, "INC-3", NOW, sink_out, &k, NULL));
	CHECK(k.n && strstr(k.p, "Casualty movements  (1)"));
	free(k.p);
	rep_close(&w);
}

static const struct test tests[] = {
    {"/export/report/stream/small-equals-whole", test_small},
    {"/export/report/stream/large-over-960KiB", test_large},
    {"/export/report/stream/abandon", test_abandon},
    {"/export/report/stream/record-cap", test_cap},
};

TEST_MAIN(tests)
