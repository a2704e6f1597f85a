/* Per-sender token buckets (node/ratelimit.c): refill and caps, the two
 * classes, check-then-charge, the LRU table, and the log throttle. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "ratelimit.h"
#include "testutil.h"

#define IMMEDIATE 0
#define URGENT 1
#define ROUTINE 2
#define BULK 3

static void key_of(uint8_t k[static RL_KEY_BYTES], unsigned i)
{
	memset(k, 0, RL_KEY_BYTES);
	memcpy(k, &i, sizeof(i));
	k[31] = 0x5a;
}

/* bulk: 10 bundles/s burst 20, 1000 B/s burst 200000;
 * urgent: 2 bundles/s burst 5, 1000 B/s burst 150000. */
static struct ratelimit *mk(size_t senders)
{
	struct rl_conf c = {
		.cls[RL_BULK] = { .bytes_per_s = 1000, .burst_bytes = 200000, .bundles_per_s = 10, .burst_bundles = 20 },
		.cls[RL_URGENT] = { .bytes_per_s = 1000, .burst_bytes = 150000, .bundles_per_s = 2, .burst_bundles = 5 },
		.max_senders = senders,
	};
	struct ratelimit *rl = NULL;

	CHECK_OK(ratelimit_new(&rl, &c));
	return rl;
}

/* Sends (check, then charge on success) one bundle; returns the check. */
static int send1(struct ratelimit *rl, const uint8_t *k, uint8_t prio, size_t len, uint64_t now)
{
	int ret = ratelimit_check(rl, k, prio, len, now);

	if (!ret)
		ratelimit_charge(rl, k, prio, len, now);
	return ret;
}

static void test_classes_map(void)
{
	CHECK(ratelimit_class(IMMEDIATE) == RL_URGENT);
	CHECK(ratelimit_class(URGENT) == RL_URGENT);
	CHECK(ratelimit_class(ROUTINE) == RL_BULK);
	CHECK(ratelimit_class(BULK) == RL_BULK);
	CHECK(ratelimit_class(200) == RL_BULK);
}

static void test_bad_conf(void)
{
	struct rl_conf c = { .max_senders = 0 };
	struct ratelimit *rl = (struct ratelimit *)&c;

	CHECK_RET(ratelimit_new(&rl, &c), -EINVAL);
	CHECK(rl == NULL);
	c.max_senders = 65535;
	CHECK_RET(ratelimit_new(&rl, &c), -EINVAL);
	ratelimit_free(NULL);
}

static void test_burst_then_rate(void)
{
	struct ratelimit *rl = mk(16);
	uint8_t k[RL_KEY_BYTES];
	uint64_t t = 1000;

	key_of(k, 1);
	for (int i = 0; i < 20; i++)
		CHECK_OK(send1(rl, k, BULK, 100, t));
	CHECK_RET(send1(rl, k, BULK, 100, t), MU_E_RATE);
	/* 10 bundles/s: one token per 100 ms, not before. */
	CHECK_RET(send1(rl, k, BULK, 100, t + 99), MU_E_RATE);
	CHECK_OK(send1(rl, k, BULK, 100, t + 100));
	CHECK_RET(send1(rl, k, BULK, 100, t + 100), MU_E_RATE);
	/* A long pause refills to the burst, no more. */
	t += 1000000;
	for (int i = 0; i < 20; i++)
		CHECK_OK(send1(rl, k, ROUTINE, 100, t));
	CHECK_RET(send1(rl, k, ROUTINE, 100, t), MU_E_RATE);
	ratelimit_free(rl);
}

static void test_bytes(void)
{
	struct ratelimit *rl = mk(16);
	uint8_t k[RL_KEY_BYTES];
	uint64_t t = 5;

	key_of(k, 2);
	CHECK_OK(send1(rl, k, BULK, 65692, t));
	CHECK_OK(send1(rl, k, BULK, 65692, t));
	CHECK_OK(send1(rl, k, BULK, 65692, t)); /* 3 * 65692 = 197076 of 200000 */
	CHECK_RET(send1(rl, k, BULK, 65692, t), MU_E_RATE);
	CHECK_OK(send1(rl, k, BULK, 2924, t)); /* exactly what is left */
	CHECK_RET(send1(rl, k, BULK, 1, t), MU_E_RATE);
	/* 1000 B/s: 65692 bytes take 65.692 s to come back. */
	CHECK_RET(send1(rl, k, BULK, 65692, t + 65691), MU_E_RATE);
	CHECK_OK(send1(rl, k, BULK, 65692, t + 65692));
	ratelimit_free(rl);
}

/* Bulk spent to nothing leaves the urgent budget whole; a flood of
 * immediate bundles is capped by the urgent budget alone. */
static void test_classes_separate(void)
{
	struct ratelimit *rl = mk(16);
	uint8_t k[RL_KEY_BYTES];
	uint64_t t = 0;
	int ok = 0;

	key_of(k, 3);
	while (send1(rl, k, BULK, 10, t) == 0)
		;
	CHECK_OK(send1(rl, k, IMMEDIATE, 10, t));
	CHECK_OK(send1(rl, k, URGENT, 10, t));
	for (int i = 0; i < 100; i++)
		ok += send1(rl, k, IMMEDIATE, 10, t) == 0;
	CHECK(ok == 3); /* burst 5, two used above */
	/* Urgent spent: bulk is unaffected by that either, once it refills. */
	CHECK_OK(send1(rl, k, BULK, 10, t + 100));
	CHECK_RET(send1(rl, k, IMMEDIATE, 10, t + 100), MU_E_RATE);
	CHECK_OK(send1(rl, k, IMMEDIATE, 10, t + 500)); /* 2/s */
	ratelimit_free(rl);
}

/* Senders are independent. */
static void test_per_sender(void)
{
	struct ratelimit *rl = mk(16);
	uint8_t a[RL_KEY_BYTES], b[RL_KEY_BYTES];

	key_of(a, 4);
	key_of(b, 5);
	while (send1(rl, a, BULK, 10, 0) == 0)
		;
	for (int i = 0; i < 20; i++)
		CHECK_OK(send1(rl, b, BULK, 10, 0));
	CHECK(ratelimit_senders(rl) == 2);
	ratelimit_free(rl);
}

/* Checking takes nothing and makes no entry: keys seen only on the wire
 * (forged, perhaps) can neither spend a budget nor push a sender out. */
static void test_check_takes_nothing(void)
{
	struct ratelimit *rl = mk(16);
	uint8_t k[RL_KEY_BYTES], f[RL_KEY_BYTES];

	key_of(k, 6);
	for (int i = 0; i < 1000; i++)
		CHECK_OK(ratelimit_check(rl, k, BULK, 100, 0));
	CHECK(ratelimit_senders(rl) == 0);
	while (send1(rl, k, BULK, 10, 0) == 0)
		;
	for (unsigned i = 100; i < 5000; i++) {
		key_of(f, i);
		CHECK_OK(ratelimit_check(rl, f, BULK, 10, 1));
	}
	CHECK(ratelimit_senders(rl) == 1);
	CHECK_RET(ratelimit_check(rl, k, BULK, 10, 1), MU_E_RATE); /* still spent */
	ratelimit_free(rl);
}

/* A full table replaces the least recently used sender. */
static void test_lru(void)
{
	struct ratelimit *rl = mk(16);
	uint8_t k[RL_KEY_BYTES];

	for (unsigned i = 0; i < 16; i++) {
		key_of(k, i);
		while (send1(rl, k, BULK, 10, 0) == 0)
			;
	}
	CHECK(ratelimit_senders(rl) == 16);
	key_of(k, 0);
	CHECK_RET(ratelimit_check(rl, k, BULK, 10, 0), MU_E_RATE); /* 0 is now the most recent */
	key_of(k, 16);
	CHECK_OK(send1(rl, k, BULK, 10, 0)); /* replaces 1, the least recent */
	CHECK(ratelimit_senders(rl) == 16);
	key_of(k, 1);
	CHECK_OK(ratelimit_check(rl, k, BULK, 10, 0)); /* forgotten: full again */
	key_of(k, 0);
	CHECK_RET(ratelimit_check(rl, k, BULK, 10, 0), MU_E_RATE);
	for (unsigned i = 2; i < 16; i++) {
		key_of(k, i);
		CHECK_RET(ratelimit_check(rl, k, BULK, 10, 0), MU_E_RATE);
	}
	/* Many more senders than slots: the table stays bounded and
	 * consistent (each lookup finds the entry it made). */
	for (unsigned round = 0; round < 3; round++)
		for (unsigned i = 0; i < 1000; i++) {
			key_of(k, 1000 + i);
			CHECK_OK(send1(rl, k, BULK, 10, 0));
			CHECK(ratelimit_senders(rl) == 16);
		}
	ratelimit_free(rl);
}

static void test_zero_rate_is_off(void)
{
	struct rl_conf c = { .cls[RL_BULK] = { .bundles_per_s = 1, .burst_bundles = 1 }, .max_senders = 4 };
	struct ratelimit *rl = NULL;
	uint8_t k[RL_KEY_BYTES];

	CHECK_OK(ratelimit_new(&rl, &c));
	key_of(k, 7);
	for (int i = 0; i < 10000; i++)
		CHECK_OK(send1(rl, k, IMMEDIATE, 65692, 0)); /* urgent class: all zero */
	CHECK_OK(send1(rl, k, BULK, 1u << 30, 0)); /* no bytes limit */
	CHECK_RET(send1(rl, k, BULK, 1, 0), MU_E_RATE); /* one bundle per second */
	ratelimit_free(rl);
}

/* Huge gaps and huge rates neither overflow nor exceed the burst. */
static void test_no_overflow(void)
{
	struct rl_conf c = {
		.cls[RL_BULK] = { .bytes_per_s = 1ull << 40, .burst_bytes = 1ull << 40, .bundles_per_s = 1ull << 40,
				  .burst_bundles = 3 },
		.max_senders = 4,
	};
	struct ratelimit *rl = NULL;
	uint8_t k[RL_KEY_BYTES];

	CHECK_OK(ratelimit_new(&rl, &c));
	key_of(k, 8);
	CHECK_OK(send1(rl, k, BULK, 1, 0));
	CHECK_OK(send1(rl, k, BULK, 1, UINT64_MAX / 2));
	CHECK_OK(send1(rl, k, BULK, 1, UINT64_MAX / 2));
	CHECK_OK(send1(rl, k, BULK, 1, UINT64_MAX / 2));
	CHECK_RET(send1(rl, k, BULK, 1, UINT64_MAX / 2), MU_E_RATE);
	/* Time going backwards refills nothing. */
	CHECK_RET(send1(rl, k, BULK, 1, 0), MU_E_RATE);
	ratelimit_free(rl);
}

/* Over a long flood a sender gets the burst plus the rate, never more. */
static void test_flood_bound(void)
{
	struct ratelimit *rl = mk(16);
	uint8_t k[RL_KEY_BYTES];
	uint64_t bulk = 0, urgent = 0;

	key_of(k, 9);
	for (uint64_t t = 0; t <= 60000; t++) { /* 60 s, one try of each per ms */
		bulk += send1(rl, k, BULK, 1, t) == 0;
		urgent += send1(rl, k, IMMEDIATE, 1, t) == 0;
	}
	CHECK(bulk == 20 + 10 * 60);
	CHECK(urgent == 5 + 2 * 60);
	ratelimit_free(rl);
}

static void test_log_throttle(void)
{
	struct ratelimit *rl = mk(16);
	uint8_t k[RL_KEY_BYTES], u[RL_KEY_BYTES];
	uint64_t more = 99;

	key_of(k, 10);
	key_of(u, 11);
	CHECK(!ratelimit_refused(rl, u, 0, &more)); /* no entry: nothing stored */
	CHECK_OK(send1(rl, k, BULK, 1, 0));
	CHECK(ratelimit_refused(rl, k, 1, &more));
	CHECK(more == 0);
	for (int i = 0; i < 50; i++)
		CHECK(!ratelimit_refused(rl, k, 2 + (uint64_t)i, &more));
	CHECK(!ratelimit_refused(rl, k, RL_LOG_INTERVAL_MS, &more));
	CHECK(ratelimit_refused(rl, k, 1 + RL_LOG_INTERVAL_MS, &more));
	CHECK(more == 51);
	CHECK(!ratelimit_refused(rl, k, 2 + RL_LOG_INTERVAL_MS, &more));
	ratelimit_free(rl);
}

static const struct test tests[] = {
	{ "/ratelimit/class-of-priority", test_classes_map },
	{ "/ratelimit/bad-conf", test_bad_conf },
	{ "/ratelimit/burst-then-rate", test_burst_then_rate },
	{ "/ratelimit/bytes", test_bytes },
	{ "/ratelimit/classes-separate", test_classes_separate },
	{ "/ratelimit/per-sender", test_per_sender },
	{ "/ratelimit/check-takes-nothing", test_check_takes_nothing },
	{ "/ratelimit/lru", test_lru },
	{ "/ratelimit/zero-rate-is-off", test_zero_rate_is_off },
	{ "/ratelimit/no-overflow", test_no_overflow },
	{ "/ratelimit/flood-bound", test_flood_bound },
	{ "/ratelimit/log-throttle", test_log_throttle },
};

TEST_MAIN(tests)
