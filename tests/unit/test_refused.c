/* node/refused.c: which ingest errors are refusals, how long each reason
 * keeps an id from being offered, the REFUSED_MAX cap (oldest first), and
 * the in-flight set (ids sent lately, INFLIGHT_MAX). */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "err.h"
#include "node_int.h"
#include "testutil.h"

static const struct refused_retry rt = { .full_ms = 300000, .rate_ms = 60000 };

static void id_of(uint8_t id[static BUNDLE_ID_BYTES], uint32_t i)
{
	memset(id, 0, BUNDLE_ID_BYTES);
	memcpy(id, &i, sizeof(i));
	id[31] = 1; /* never the all-zero id */
}

static void test_reason(void)
{
	CHECK(refused_reason(MU_E_QUOTA) == REFUSAL_FULL);
	CHECK(refused_reason(MU_E_RATE) == REFUSAL_RATE);
	CHECK(refused_reason(MU_E_HOPS) == REFUSAL_INVALID);
	CHECK(refused_reason(MU_E_EXPIRED) == REFUSAL_INVALID);
	CHECK(refused_reason(MU_E_NOTYET) == REFUSAL_INVALID);
	CHECK(refused_reason(MU_E_SIG) == REFUSAL_INVALID);
	CHECK(refused_reason(MU_E_REVOKED) == REFUSAL_INVALID);
	CHECK(refused_reason(MU_E_UNTRUSTED) == REFUSAL_INVALID);
	/* Not refusals: stored, duplicate, credential on its way, our own failures. */
	CHECK(refused_reason(0) == 0);
	CHECK(refused_reason(MU_E_EXISTS) == 0);
	CHECK(refused_reason(MU_E_NOCRED) == 0);
	CHECK(refused_reason(MU_E_STORE) == 0);
	CHECK(refused_reason(-ENOMEM) == 0);
}

static void test_retry(void)
{
	struct refused_set *rs = NULL;
	uint8_t full[32], rate[32], bad[32], other[32], zero[32] = { 0 };

	id_of(full, 1), id_of(rate, 2), id_of(bad, 3), id_of(other, 4);
	CHECK(!refused_skip(NULL, full, &rt, 0) && refused_count(NULL) == 0);
	CHECK_OK(refused_note(&rs, zero, REFUSAL_INVALID, 1000)); /* ignored */
	CHECK(refused_count(rs) == 0 && !refused_skip(rs, zero, &rt, 1000));
	CHECK_OK(refused_note(&rs, full, REFUSAL_FULL, 1000));
	CHECK_OK(refused_note(&rs, rate, REFUSAL_RATE, 1000));
	CHECK_OK(refused_note(&rs, bad, REFUSAL_INVALID, 1000));
	CHECK(refused_count(rs) == 3);
	CHECK(!refused_skip(rs, other, &rt, 1000));
	CHECK(refused_skip(rs, full, &rt, 1000) && refused_skip(rs, rate, &rt, 1000) && refused_skip(rs, bad, &rt, 1000));
	/* rate: until 60 s have passed */
	CHECK(refused_skip(rs, rate, &rt, 1000 + 59999) && !refused_skip(rs, rate, &rt, 1000 + 60000));
	/* full: until 5 min have passed */
	CHECK(refused_skip(rs, full, &rt, 1000 + 299999) && !refused_skip(rs, full, &rt, 1000 + 300000));
	/* invalid: for the rest of the session */
	CHECK(refused_skip(rs, bad, &rt, UINT64_MAX / 2));
	/* Refused again: the clock (and the reason) start anew, no new entry. */
	CHECK_OK(refused_note(&rs, full, REFUSAL_RATE, 400000));
	CHECK(refused_count(rs) == 3);
	CHECK(refused_skip(rs, full, &rt, 400000 + 59999) && !refused_skip(rs, full, &rt, 400000 + 60000));
	refused_free(rs);
	refused_free(NULL);
}

/* REFUSED_MAX + 100 ids: the first 100 are forgotten, every other one is
 * still found (the index survives the backward-shift deletions). */
static void test_cap(void)
{
	struct refused_set *rs = NULL;
	uint8_t id[32];

	for (uint32_t i = 0; i < REFUSED_MAX + 100; i++) {
		id_of(id, i);
		CHECK_OK(refused_note(&rs, id, REFUSAL_INVALID, i));
	}
	CHECK(refused_count(rs) == REFUSED_MAX);
	for (uint32_t i = 0; i < REFUSED_MAX + 100; i++) {
		id_of(id, i);
		CHECK(refused_skip(rs, id, &rt, 0) == (i >= 100));
	}
	/* Random ids as well: a peer's ids are not counters. */
	for (uint32_t i = 0; i < 1000; i++) {
		randombytes_buf(id, sizeof(id));
		CHECK_OK(refused_note(&rs, id, REFUSAL_INVALID, 0));
		CHECK(refused_skip(rs, id, &rt, 0));
	}
	CHECK(refused_count(rs) == REFUSED_MAX);
	id_of(id, 100 + 999);
	CHECK(!refused_skip(rs, id, &rt, 0)); /* forgotten by now */
	id_of(id, 100 + 1000);
	CHECK(refused_skip(rs, id, &rt, 0));
	refused_free(rs);
}

/* Sent at 1000: skipped for the window, offered again after it; a new
 * send starts the window anew; an in-flight entry is never a refusal. */
static void test_inflight(void)
{
	struct refused_set *fl = NULL;
	uint8_t a[32], b[32], zero[32] = { 0 };

	id_of(a, 1), id_of(b, 2);
	CHECK(!refused_in_flight(NULL, a, 0, 10000));
	CHECK_OK(refused_sent_note(&fl, zero, 1000)); /* ignored */
	CHECK(refused_count(fl) == 0 && !refused_in_flight(fl, zero, 1000, 10000));
	CHECK_OK(refused_sent_note(&fl, a, 1000));
	CHECK(refused_count(fl) == 1);
	CHECK(refused_in_flight(fl, a, 1000, 10000) && refused_in_flight(fl, a, 1000 + 9999, 10000));
	CHECK(!refused_in_flight(fl, a, 1000 + 10000, 10000));
	CHECK(!refused_in_flight(fl, b, 1000, 10000));
	CHECK_OK(refused_sent_note(&fl, a, 20000));
	CHECK(refused_count(fl) == 1);
	CHECK(refused_in_flight(fl, a, 20000 + 9999, 10000) && !refused_in_flight(fl, a, 30000, 10000));
	CHECK(!refused_skip(fl, a, &rt, 20000));
	refused_free(fl);
}

/* INFLIGHT_MAX + 10 sends: the set stops at INFLIGHT_MAX (not
 * REFUSED_MAX), the first 10 forgotten, the rest still found. */
static void test_inflight_cap(void)
{
	struct refused_set *fl = NULL;
	uint8_t id[32];

	for (uint32_t i = 0; i < INFLIGHT_MAX + 10; i++) {
		id_of(id, i);
		CHECK_OK(refused_sent_note(&fl, id, 5000));
	}
	CHECK(refused_count(fl) == INFLIGHT_MAX);
	for (uint32_t i = 0; i < INFLIGHT_MAX + 10; i++) {
		id_of(id, i);
		CHECK(refused_in_flight(fl, id, 5000, 10000) == (i >= 10));
	}
	refused_free(fl);
}

static const struct test tests[] = {
	{ "/refused/reason", test_reason },
	{ "/refused/retry", test_retry },
	{ "/refused/cap", test_cap },
	{ "/refused/inflight", test_inflight },
	{ "/refused/inflight/cap", test_inflight_cap },
};

TEST_MAIN(tests)
