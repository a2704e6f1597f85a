/* route_watch: rtnetlink changes reach the callback once per burst, after
 * the debounce, and never after close. Runs in a network namespace of its
 * own (unshare(CLONE_NEWNET): root), where toggling lo makes the events;
 * without the privilege it says so and checks only the open path. */
#include "testutil.h"

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "route_watch.h"

#define DEBOUNCE_MS 100

struct ctx {
	struct loop *l;
	int calls;
	uint64_t at;
};

static void on_change(void *user)
{
	struct ctx *c = user;

	c->calls++;
	c->at = loop_now_mono_ms();
}

static void on_quit(void *user)
{
	loop_quit(user, 0);
}

/* Runs the loop for ms. */
static void run_for(struct loop *l, uint64_t ms)
{
	struct loop_timer *t = NULL;

	CHECK_OK(loop_timer_new(l, &t, on_quit, l));
	loop_timer_arm(t, ms);
	CHECK(loop_run(l) == 0);
	loop_timer_free(t);
}

static void lo_set(bool up)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	CHECK(ioctl(fd, SIOCGIFFLAGS, &ifr) == 0);
	if (up)
		ifr.ifr_flags |= IFF_UP;
	else
		ifr.ifr_flags &= ~IFF_UP;
	CHECK(ioctl(fd, SIOCSIFFLAGS, &ifr) == 0);
	close(fd);
}

static void test_burst_once(void)
{
	struct ctx c = {0};
	struct route_watch *w = NULL;
	uint64_t t0;

	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "  (no CLONE_NEWNET: %s; events not checked)\n", strerror(errno));
		CHECK_OK(loop_new(&c.l));
		CHECK_OK(route_watch_open(&w, c.l, DEBOUNCE_MS, on_change, &c));
		route_watch_close(w);
		loop_free(c.l);
		return;
	}
	CHECK_OK(loop_new(&c.l));
	CHECK_OK(route_watch_open(&w, c.l, DEBOUNCE_MS, on_change, &c));
	/* Nothing changes: no call. */
	run_for(c.l, 2 * DEBOUNCE_MS);
	CHECK(c.calls == 0);
	/* A burst (link and address messages, three flips): one call, after
	 * the debounce. */
	t0 = loop_now_mono_ms();
	lo_set(true);
	lo_set(false);
	lo_set(true);
	run_for(c.l, 4 * DEBOUNCE_MS);
	CHECK(c.calls == 1);
	CHECK(c.at - t0 >= DEBOUNCE_MS);
	run_for(c.l, 2 * DEBOUNCE_MS);
	CHECK(c.calls == 1);
	/* A later change: a second call. */
	lo_set(false);
	run_for(c.l, 4 * DEBOUNCE_MS);
	CHECK(c.calls == 2);
	/* Closed with a change pending: never called. */
	lo_set(true);
	run_for(c.l, DEBOUNCE_MS / 4); /* read, timer armed */
	route_watch_close(w);
	run_for(c.l, 3 * DEBOUNCE_MS);
	CHECK(c.calls == 2);
	loop_free(c.l);
}

static const struct test tests[] = {
	{"/route_watch/burst_once", test_burst_once},
};

TEST_MAIN(tests)
