/* The hospital's relay ring (node/relay_ring.h): the count cap, the time
 * window, sequence numbers that a reader can resume from, and origins. */
#include <errno.h>
#include <string.h>

#include "relay_ring.h"
#include "testutil.h"

static struct sync_key key(uint64_t i)
{
	struct sync_key k = { .created = 1000 + i };

	memset(k.id, (int)(i & 0xff), sizeof(k.id));
	return k;
}

static void test_cap(void)
{
	struct relay_ring *r = NULL;
	const uint8_t from[RELAY_FROM_BYTES] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	CHECK_RET(relay_ring_new(&r, 0, 1000), -EINVAL);
	CHECK_RET(relay_ring_new(&r, 3, 0), -EINVAL);
	CHECK_OK(relay_ring_new(&r, 3, 60000));
	CHECK(relay_ring_first(r) == 0 && relay_ring_next(r) == 0 && !relay_ring_get(r, 0));
	for (uint64_t i = 0; i < 3; i++) {
		struct sync_key k = key(i);

		relay_ring_add(r, &k, 5000 + i, i == 1 ? from : NULL);
	}
	CHECK(relay_ring_first(r) == 0 && relay_ring_next(r) == 3);
	CHECK(relay_ring_get(r, 1)->k.created == 1001 && !memcmp(relay_ring_get(r, 1)->from, from, sizeof(from)));
	CHECK(relay_ring_get(r, 0)->from[0] == 0 && relay_ring_get(r, 2)->at == 5002);
	/* The fourth makes the first give way; seq keeps counting. */
	{
		struct sync_key k = key(3);

		relay_ring_add(r, &k, 5003, NULL);
	}
	CHECK(relay_ring_first(r) == 1 && relay_ring_next(r) == 4);
	CHECK(!relay_ring_get(r, 0) && !relay_ring_get(r, 4));
	for (uint64_t s = 1; s < 4; s++)
		CHECK(relay_ring_get(r, s)->k.created == 1000 + s && relay_ring_get(r, s)->k.id[0] == s);
	/* Many more: exactly the last cap remain, in order. */
	for (uint64_t i = 4; i < 1000; i++) {
		struct sync_key k = key(i);

		relay_ring_add(r, &k, 5000 + i, NULL);
	}
	CHECK(relay_ring_first(r) == 997 && relay_ring_next(r) == 1000);
	CHECK(relay_ring_get(r, 999)->k.created == 1999);
	relay_ring_free(r);
	relay_ring_free(NULL);
}

static void test_window(void)
{
	struct relay_ring *r = NULL;

	CHECK_OK(relay_ring_new(&r, 100, 1000));
	for (uint64_t i = 0; i < 10; i++) {
		struct sync_key k = key(i);

		relay_ring_add(r, &k, 10000 + 100 * i, NULL); /* 10000 .. 10900 */
	}
	CHECK(relay_ring_first(r) == 0 && relay_ring_next(r) == 10);
	relay_ring_trim(r, 10999); /* 999 ms after the first: all stay */
	CHECK(relay_ring_first(r) == 0);
	relay_ring_trim(r, 11000); /* the first is 1000 ms old: gone */
	CHECK(relay_ring_first(r) == 1 && relay_ring_get(r, 1)->at == 10100);
	relay_ring_trim(r, 11450);
	CHECK(relay_ring_first(r) == 5);
	/* An add trims by its own time too. */
	{
		struct sync_key k = key(10);

		relay_ring_add(r, &k, 20000, NULL);
	}
	CHECK(relay_ring_first(r) == 10 && relay_ring_next(r) == 11);
	relay_ring_trim(r, 21000);
	CHECK(relay_ring_first(r) == 11 && relay_ring_next(r) == 11 && !relay_ring_get(r, 10));
	relay_ring_free(r);
}

static const struct test tests[] = {
	{ "/relay_ring/cap", test_cap },
	{ "/relay_ring/window", test_window },
};

TEST_MAIN(tests)
