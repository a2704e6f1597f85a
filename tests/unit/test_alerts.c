/* Alerts jump queues: an immediate bundle queued for a link behind a
 * backlog of bulk and routine ones (a ferry's day, a flood) is the next one
 * sent, whatever its size or age, and only credentials and revocations
 * (which its admission may need) go before it. conn_offer queues a content
 * bundle with key priority + 1 and those two kinds with 0. */
#include <sodium.h>
#include <string.h>

#include "node_int.h"
#include "testutil.h"

static void item(struct outq_item *it, uint8_t prio, uint32_t len, uint64_t created, unsigned n)
{
	memset(it, 0, sizeof(*it));
	it->prio = prio;
	it->len = len;
	it->created = created;
	crypto_generichash(it->id, BUNDLE_ID_BYTES, (const uint8_t *)&n, sizeof(n), NULL, 0);
}

static void test_alert_jumps_backlog(void)
{
	enum { BACKLOG = 50000 };
	struct outq q = { 0 };
	struct outq_item it, out;

	for (unsigned i = 0; i < BACKLOG; i++) {
		/* older and smaller than the alert: neither must win */
		item(&it, (uint8_t)(PRIO_ROUTINE + 1 + i % 2), 64, i, i);
		CHECK_OK(outq_push(&q, &it));
	}
	item(&it, PRIO_IMMEDIATE + 1, 60000, 1ull << 40, BACKLOG);
	CHECK_OK(outq_push(&q, &it));
	item(&it, 0, 400, 1ull << 41, BACKLOG + 1); /* a credential, queued later still */
	CHECK_OK(outq_push(&q, &it));
	CHECK_OK(outq_pop(&q, &out));
	CHECK(out.prio == 0);
	CHECK_OK(outq_pop(&q, &out));
	CHECK(out.prio == PRIO_IMMEDIATE + 1 && out.len == 60000);
	CHECK_OK(outq_pop(&q, &out));
	CHECK(out.prio == PRIO_ROUTINE + 1);
	CHECK(q.n == BACKLOG - 1);
	outq_free(&q);
}

static const struct test tests[] = {
	{ "/alerts/outq/immediate-jumps-backlog", test_alert_jumps_backlog },
};

TEST_MAIN(tests)
