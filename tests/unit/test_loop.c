#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"

struct fdctx {
	struct loop *l;
	int fd;
	int calls;
	uint32_t last;
	char got[16];
	size_t got_len;
};

static void on_readable(void *user, int fd, uint32_t events)
{
	struct fdctx *c = user;
	ssize_t n;

	c->calls++;
	c->last = events;
	n = read(fd, c->got + c->got_len, sizeof(c->got) - c->got_len);
	CHECK(n > 0);
	c->got_len += (size_t)n;
	if (c->got_len >= 3)
		loop_quit(c->l, 7);
}

static void test_fd_readable(void)
{
	struct loop *l = NULL;
	int sv[2];
	struct fdctx c = {0};

	CHECK_OK(loop_new(&l));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	c.l = l;
	CHECK_OK(loop_add_fd(l, sv[0], EPOLLIN, on_readable, &c));
	CHECK_RET(loop_add_fd(l, sv[0], EPOLLIN, on_readable, &c), -EEXIST);
	CHECK(write(sv[1], "abc", 3) == 3);
	CHECK(loop_run(l) == 7);
	CHECK(c.got_len == 3 && !memcmp(c.got, "abc", 3));
	CHECK(c.last & EPOLLIN);
	loop_del_fd(l, sv[0]);
	CHECK_RET(loop_mod_fd(l, sv[0], EPOLLIN), -ENOENT);
	close(sv[0]);
	close(sv[1]);
	loop_free(l);
}

static void on_writable(void *user, int fd, uint32_t events)
{
	struct fdctx *c = user;

	(void)fd;
	c->calls++;
	c->last = events;
	if (events & EPOLLOUT) {
		/* Level-triggered: stays writable until we stop asking. */
		if (c->calls == 3) {
			CHECK_OK(loop_mod_fd(c->l, c->fd, EPOLLIN));
			loop_quit(c->l, 0);
		}
	}
}

static void test_fd_writable_level(void)
{
	struct loop *l = NULL;
	int sv[2];
	struct fdctx c = {0};

	CHECK_OK(loop_new(&l));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	c.l = l;
	c.fd = sv[0];
	CHECK_OK(loop_add_fd(l, sv[0], EPOLLOUT, on_writable, &c));
	CHECK(loop_run(l) == 0);
	CHECK(c.calls == 3);
	loop_del_fd(l, sv[0]);
	close(sv[0]);
	close(sv[1]);
	loop_free(l);
}

static void on_hup(void *user, int fd, uint32_t events)
{
	struct fdctx *c = user;

	c->calls++;
	c->last = events;
	loop_del_fd(c->l, fd);
	loop_quit(c->l, 0);
}

/* EPOLLHUP arrives even when no events were asked for. */
static void test_fd_hup_always(void)
{
	struct loop *l = NULL;
	int sv[2];
	struct fdctx c = {0};

	CHECK_OK(loop_new(&l));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	c.l = l;
	CHECK_OK(loop_add_fd(l, sv[0], 0, on_hup, &c));
	close(sv[1]);
	CHECK(loop_run(l) == 0);
	CHECK(c.calls == 1 && (c.last & EPOLLHUP));
	close(sv[0]);
	loop_free(l);
}

/* Two fds ready in the same batch; whichever runs first removes the other,
 * which must then never be called. */
struct pair {
	struct loop *l;
	int fd[2];
	int calls[2];
};

static void pair_cb(struct pair *p, int me)
{
	p->calls[me]++;
	loop_del_fd(p->l, p->fd[!me]);
	loop_del_fd(p->l, p->fd[me]);
	loop_quit(p->l, 0);
}

static void pair_cb0(void *user, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	pair_cb(user, 0);
}

static void pair_cb1(void *user, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	pair_cb(user, 1);
}

static void quit_later(void *user)
{
	loop_quit(user, 0);
}

static void test_remove_during_dispatch(void)
{
	struct loop *l = NULL;
	struct loop_timer *t = NULL;
	int a[2], b[2];
	struct pair p = {0};

	CHECK_OK(loop_new(&l));
	CHECK(pipe(a) == 0 && pipe(b) == 0);
	CHECK(write(a[1], "x", 1) == 1 && write(b[1], "y", 1) == 1);
	p.l = l;
	p.fd[0] = a[0];
	p.fd[1] = b[0];
	CHECK_OK(loop_add_fd(l, a[0], EPOLLIN, pair_cb0, &p));
	CHECK_OK(loop_add_fd(l, b[0], EPOLLIN, pair_cb1, &p));
	/* loop_quit also stops the batch; run the rest of it by hand: the
	 * first run dispatches one callback, the second must see nothing
	 * left (both fds gone) and end on the timer. */
	CHECK(loop_run(l) == 0);
	CHECK(p.calls[0] + p.calls[1] == 1);
	CHECK_OK(loop_timer_new(l, &t, quit_later, l));
	loop_timer_arm(t, 20);
	CHECK(loop_run(l) == 0);
	CHECK(p.calls[0] + p.calls[1] == 1);
	loop_timer_free(t);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	loop_free(l);
}

/* Same batch, no loop_quit: the second callback in the batch would run if
 * the removal were not honoured. */
static void pair_nq(void *user, int fd, uint32_t events)
{
	struct pair *p = user;
	int me = fd == p->fd[1];

	(void)events;
	p->calls[me]++;
	loop_del_fd(p->l, p->fd[!me]);
	loop_del_fd(p->l, p->fd[me]);
}

static void test_remove_same_batch_no_quit(void)
{
	struct loop *l = NULL;
	struct loop_timer *t = NULL;
	int a[2], b[2];
	struct pair p = {0};

	CHECK_OK(loop_new(&l));
	CHECK(pipe(a) == 0 && pipe(b) == 0);
	CHECK(write(a[1], "x", 1) == 1 && write(b[1], "y", 1) == 1);
	p.l = l;
	p.fd[0] = a[0];
	p.fd[1] = b[0];
	CHECK_OK(loop_add_fd(l, a[0], EPOLLIN, pair_nq, &p));
	CHECK_OK(loop_add_fd(l, b[0], EPOLLIN, pair_nq, &p));
	CHECK_OK(loop_timer_new(l, &t, quit_later, l));
	loop_timer_arm(t, 30);
	CHECK(loop_run(l) == 0);
	CHECK(p.calls[0] + p.calls[1] == 1);
	loop_timer_free(t);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	loop_free(l);
}

struct tctx {
	struct loop *l;
	struct loop_timer *t[4];
	int order[16];
	int n;
	int rearms;
};

struct tone {
	struct tctx *c;
	int id;
};

static void t_fire(void *user)
{
	struct tone *o = user;
	struct tctx *c = o->c;

	c->order[c->n++] = o->id;
	if (o->id == 3)
		loop_quit(c->l, 5);
}

static void test_timers_order(void)
{
	struct tctx c = {0};
	struct tone o[4];
	uint64_t t0 = loop_now_mono_ms();

	CHECK_OK(loop_new(&c.l));
	for (int i = 0; i < 4; i++) {
		o[i] = (struct tone){&c, i};
		CHECK_OK(loop_timer_new(c.l, &c.t[i], t_fire, &o[i]));
	}
	/* Armed out of order; id 1 and 2 share a deadline and keep arm order. */
	loop_timer_arm(c.t[3], 60);
	loop_timer_arm(c.t[1], 20);
	loop_timer_arm(c.t[2], 20);
	loop_timer_arm(c.t[0], 0);
	CHECK(loop_run(c.l) == 5);
	CHECK(loop_now_mono_ms() - t0 >= 60);
	CHECK(c.n == 4);
	for (int i = 0; i < 4; i++)
		CHECK(c.order[i] == i);
	for (int i = 0; i < 4; i++)
		loop_timer_free(c.t[i]);
	loop_free(c.l);
}

static void t_periodic(void *user)
{
	struct tctx *c = user;

	if (++c->rearms == 5) {
		loop_quit(c->l, 0);
		return;
	}
	loop_timer_arm(c->t[0], 5);
}

static void test_timers_rearm(void)
{
	struct tctx c = {0};
	uint64_t t0 = loop_now_mono_ms();

	CHECK_OK(loop_new(&c.l));
	CHECK_OK(loop_timer_new(c.l, &c.t[0], t_periodic, &c));
	loop_timer_arm(c.t[0], 5);
	CHECK(loop_run(c.l) == 0);
	CHECK(c.rearms == 5);
	CHECK(loop_now_mono_ms() - t0 >= 25);
	loop_timer_free(c.t[0]);
	loop_free(c.l);
}

/* A timer re-armed with 0 from its own callback waits for the next turn
 * instead of spinning inside one dispatch. */
static void t_zero(void *user)
{
	struct tctx *c = user;

	c->rearms++;
	loop_timer_arm(c->t[0], 0);
}

static void t_stop(void *user)
{
	struct tctx *c = user;

	loop_quit(c->l, 0);
}

static void test_timers_zero_next_turn(void)
{
	struct tctx c = {0};

	CHECK_OK(loop_new(&c.l));
	CHECK_OK(loop_timer_new(c.l, &c.t[0], t_zero, &c));
	CHECK_OK(loop_timer_new(c.l, &c.t[1], t_stop, &c));
	loop_timer_arm(c.t[0], 0);
	loop_timer_arm(c.t[1], 10);
	CHECK(loop_run(c.l) == 0);
	CHECK(c.rearms > 1);
	loop_timer_free(c.t[0]);
	loop_timer_free(c.t[1]);
	loop_free(c.l);
}

static void t_disarm_other(void *user)
{
	struct tone *o = user;
	struct tctx *c = o->c;

	c->order[c->n++] = o->id;
	/* Disarm and free timers due in the same pass. */
	loop_timer_disarm(c->t[1]);
	loop_timer_free(c->t[2]);
	c->t[2] = NULL;
}

static void test_timers_disarm(void)
{
	struct tctx c = {0};
	struct tone o[4];

	CHECK_OK(loop_new(&c.l));
	for (int i = 0; i < 3; i++) {
		o[i] = (struct tone){&c, i};
		CHECK_OK(loop_timer_new(c.l, &c.t[i], i ? t_fire : t_disarm_other, &o[i]));
	}
	o[3] = (struct tone){&c, 3};
	CHECK_OK(loop_timer_new(c.l, &c.t[3], t_fire, &o[3]));
	loop_timer_arm(c.t[0], 5);
	loop_timer_arm(c.t[1], 5);
	loop_timer_arm(c.t[2], 5);
	loop_timer_arm(c.t[3], 40);
	/* Disarmed before running: never fires. */
	loop_timer_arm(c.t[3], 40);
	loop_timer_disarm(c.t[3]);
	loop_timer_arm(c.t[3], 40);
	usleep(10000); /* all three due in one pass */
	CHECK(loop_run(c.l) == 5);
	CHECK(c.n == 2 && c.order[0] == 0 && c.order[1] == 3);
	for (int i = 0; i < 4; i++)
		loop_timer_free(c.t[i]);
	loop_free(c.l);
}

static void on_sig(void *user, int signo)
{
	struct loop *l = user;

	loop_quit(l, 100 + signo);
}

static void test_signal_sigterm(void)
{
	struct loop *l = NULL;

	CHECK_OK(loop_new(&l));
	CHECK_OK(loop_on_signal(l, SIGTERM, on_sig, l));
	CHECK_RET(loop_on_signal(l, SIGKILL, on_sig, l), -EINVAL);
	raise(SIGTERM);
	CHECK(loop_run(l) == 100 + SIGTERM);
	loop_free(l);
}

static void test_free_null(void)
{
	loop_free(NULL);
	loop_timer_free(NULL);
}

static const struct test tests[] = {
	{ "/loop/fd/readable", test_fd_readable },
	{ "/loop/fd/writable-level", test_fd_writable_level },
	{ "/loop/fd/hup-always", test_fd_hup_always },
	{ "/loop/fd/remove-during-dispatch", test_remove_during_dispatch },
	{ "/loop/fd/remove-same-batch", test_remove_same_batch_no_quit },
	{ "/loop/timer/order", test_timers_order },
	{ "/loop/timer/rearm", test_timers_rearm },
	{ "/loop/timer/zero-next-turn", test_timers_zero_next_turn },
	{ "/loop/timer/disarm", test_timers_disarm },
	{ "/loop/signal/sigterm", test_signal_sigterm },
	{ "/loop/free-null", test_free_null },
};

TEST_MAIN(tests)
