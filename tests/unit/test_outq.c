/* The per-peer send queue (node/outq.c): heap order, and an id offered
 * again while queued is queued once (a sync round offers everything the
 * peer still lacks, also what is already on its way). */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "node_int.h"
#include "testutil.h"

static void item(struct outq_item *it, uint8_t prio, uint32_t len, unsigned n)
{
	memset(it, 0, sizeof(*it));
	it->prio = prio;
	it->len = len;
	it->created = n;
	crypto_generichash(it->id, BUNDLE_ID_BYTES, (const uint8_t *)&n, sizeof(n), NULL, 0);
}

static void test_order(void)
{
	struct outq q = { 0 };
	struct outq_item it, out;

	item(&it, 3, 100, 1);
	CHECK_OK(outq_push(&q, &it));
	item(&it, 1, 500, 2);
	CHECK_OK(outq_push(&q, &it));
	item(&it, 1, 200, 3);
	CHECK_OK(outq_push(&q, &it));
	CHECK_OK(outq_pop(&q, &out));
	CHECK(out.created == 3);
	CHECK_OK(outq_pop(&q, &out));
	CHECK(out.created == 2);
	CHECK_OK(outq_pop(&q, &out));
	CHECK(out.created == 1);
	CHECK_RET(outq_pop(&q, &out), -ENOENT);
	outq_free(&q);
}

/* Random pushes (many repeated) and pops against a reference of which ids
 * are queued: each id is queued at most once, and popped ones can come
 * back. Exercises growth and the set's backward-shift deletion. */
static void test_dedupe(void)
{
	enum { IDS = 3000, OPS = 200000 };
	static unsigned char queued[IDS];
	struct outq q = { 0 };
	struct outq_item it, out;
	size_t n = 0;
	uint32_t r = 12345;

	for (int op = 0; op < OPS; op++) {
		r = r * 1103515245u + 12345u;
		if ((r >> 16) % 3) {
			unsigned id = (r >> 8) % IDS;

			item(&it, (uint8_t)(id % 4), 1000 + id, id);
			CHECK_OK(outq_push(&q, &it));
			if (!queued[id]) {
				queued[id] = 1;
				n++;
			}
		} else if (n) {
			CHECK_OK(outq_pop(&q, &out));
			CHECK(queued[out.created]);
			queued[out.created] = 0;
			n--;
		}
		CHECK(q.n == n);
	}
	while (n) {
		CHECK_OK(outq_pop(&q, &out));
		CHECK(queued[out.created]);
		queued[out.created] = 0;
		n--;
	}
	CHECK_RET(outq_pop(&q, &out), -ENOENT);
	outq_free(&q);
	outq_free(&q); /* a freed queue is empty and may be freed again */
}

static const struct test tests[] = {
	{ "/outq/order", test_order },
	{ "/outq/dedupe", test_dedupe },
};

TEST_MAIN(tests)
