/* One epoll loop: file descriptors, timers and signals.
 *
 * Timers live in a binary min-heap ordered by (deadline, arm sequence) and
 * share one timerfd programmed with the earliest deadline (absolute,
 * CLOCK_MONOTONIC). A heap rather than a timerfd per timer because the node
 * keeps many short-lived timeouts (per link, per control client, per sync
 * round): arming costs no file descriptor and at most one syscall, and timers
 * due in the same turn fire in deadline order, which per-timer fds in one
 * epoll batch would not promise.
 *
 * Removal during dispatch: epoll hands back a batch of registration
 * pointers. loop_del_fd marks its registration dead and, while a batch is
 * being dispatched, parks it on a list freed after the batch, so a later
 * event in the same batch finds the mark and is skipped instead of touching
 * freed memory or calling a removed callback. Timers are popped from the heap
 * one at a time, so a timer disarmed or freed by an earlier callback is
 * simply no longer there. */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOOP_BATCH 64
#define NS_PER_MS  1000000ull

struct reg {
	int fd;
	bool dead;
	uint32_t events;
	loop_fd_fn fn;
	void *user;
	struct reg *next_zombie;
};

struct loop_timer {
	struct loop *l;
	loop_timer_fn fn;
	void *user;
	uint64_t deadline_ns;
	uint64_t seq;    /* arm order: ties and "0 = next turn" */
	size_t heap_idx; /* SIZE_MAX when not armed */
};

struct loop {
	int epfd;
	int tfd;
	int sfd;
	struct reg tfd_reg;
	struct reg sfd_reg;

	struct reg **by_fd; /* indexed by fd */
	size_t by_fd_cap;
	struct reg *zombies;
	bool dispatching;

	struct loop_timer **heap;
	size_t heap_len, heap_cap;
	uint64_t arm_seq;
	uint64_t programmed_ns; /* timerfd deadline, 0 = disarmed */

	sigset_t sigmask;
	loop_signal_fn sig_fn[_NSIG];
	void *sig_user[_NSIG];

	bool quit;
	int quit_code;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t loop_now_mono_ms(void)
{
	return now_ns() / NS_PER_MS;
}

/* ---- timer heap ---- */

static bool timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
	if (a->deadline_ns != b->deadline_ns)
		return a->deadline_ns < b->deadline_ns;
	return a->seq < b->seq;
}

static void heap_set(struct loop *l, size_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->heap_idx = i;
}

static void heap_up(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(t, l->heap[parent]))
			break;
		heap_set(l, i, l->heap[parent]);
		i = parent;
	}
	heap_set(l, i, t);
}

static void heap_down(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= l->heap_len)
			break;
		if (c + 1 < l->heap_len && timer_before(l->heap[c + 1], l->heap[c]))
			c++;
		if (!timer_before(l->heap[c], t))
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

static void heap_remove(struct loop *l, struct loop_timer *t)
{
	size_t i = t->heap_idx;
	struct loop_timer *last;

	if (i == SIZE_MAX)
		return;
	t->heap_idx = SIZE_MAX;
	last = l->heap[--l->heap_len];
	if (last == t)
		return;
	heap_set(l, i, last);
	if (i > 0 && timer_before(last, l->heap[(i - 1) / 2]))
		heap_up(l, i);
	else
		heap_down(l, i);
}

static int heap_insert(struct loop *l, struct loop_timer *t)
{
	if (l->heap_len == l->heap_cap) {
		size_t cap = l->heap_cap ? 2 * l->heap_cap : 16;
		struct loop_timer **h = realloc(l->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		l->heap = h;
		l->heap_cap = cap;
	}
	heap_set(l, l->heap_len++, t);
	heap_up(l, t->heap_idx);
	return 0;
}

/* Points the timerfd at the earliest deadline, or disarms it. */
static void timers_program(struct loop *l)
{
	uint64_t want = l->heap_len ? l->heap[0]->deadline_ns : 0;
	struct itimerspec its = {0};

	if (want == l->programmed_ns)
		return;
	if (want) {
		its.it_value.tv_sec = (time_t)(want / 1000000000ull);
		its.it_value.tv_nsec = (long)(want % 1000000000ull);
	}
	if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		log_err(SUB_MAIN, "timerfd_settime: %s", strerror(errno));
		return;
	}
	l->programmed_ns = want;
}

static void timers_run(struct loop *l)
{
	uint64_t now = now_ns();
	uint64_t limit = l->arm_seq; /* timers armed by these callbacks wait a turn */

	while (l->heap_len && !l->quit) {
		struct loop_timer *t = l->heap[0];

		if (t->deadline_ns > now || t->seq >= limit)
			break;
		heap_remove(l, t);
		t->fn(t->user); /* may re-arm, disarm or free t */
	}
}

static void tfd_ready(void *user, int fd, uint32_t events)
{
	struct loop *l = user;
	uint64_t ticks;

	(void)events;
	/* The kernel counts expiries; the count is meaningless after a
	 * re-program, so only drain it. */
	if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_warn(SUB_MAIN, "timerfd read: %s", strerror(errno));
	l->programmed_ns = 0;
	timers_run(l);
}

int loop_timer_new(struct loop *l, struct loop_timer **out, loop_timer_fn fn, void *user)
{
	struct loop_timer *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->l = l;
	t->fn = fn;
	t->user = user;
	t->heap_idx = SIZE_MAX;
	*out = t;
	return 0;
}

void loop_timer_arm(struct loop_timer *t, uint64_t ms_from_now)
{
	struct loop *l = t->l;
	const uint64_t max_ms = UINT64_MAX / 2 / NS_PER_MS;

	heap_remove(l, t);
	if (ms_from_now > max_ms)
		ms_from_now = max_ms;
	t->deadline_ns = now_ns() + ms_from_now * NS_PER_MS;
	t->seq = l->arm_seq++;
	if (heap_insert(l, t) < 0)
		/* The API has no error path here; losing a timeout silently
		 * would hang a peer, so say so loudly. */
		log_err(SUB_MAIN, "out of memory arming a timer");
}

void loop_timer_disarm(struct loop_timer *t)
{
	if (t)
		heap_remove(t->l, t);
}

void loop_timer_free(struct loop_timer *t)
{
	if (!t)
		return;
	heap_remove(t->l, t);
	free(t);
}

/* ---- file descriptors ---- */

static struct reg *reg_find(const struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->by_fd_cap)
		return NULL;
	return l->by_fd[fd];
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *user)
{
	struct epoll_event ev = {.events = events};
	struct reg *r;

	if (fd < 0)
		return -EBADF;
	if (reg_find(l, fd))
		return -EEXIST;
	if ((size_t)fd >= l->by_fd_cap) {
		size_t cap = l->by_fd_cap ? l->by_fd_cap : 64;
		struct reg **n;

		while (cap <= (size_t)fd)
			cap *= 2;
		n = realloc(l->by_fd, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		memset(n + l->by_fd_cap, 0, (cap - l->by_fd_cap) * sizeof(*n));
		l->by_fd = n;
		l->by_fd_cap = cap;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = fd;
	r->events = events;
	r->fn = fn;
	r->user = user;
	ev.data.ptr = r;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = -errno;

		free(r);
		return err;
	}
	l->by_fd[fd] = r;
	return 0;
}

int loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
	struct reg *r = reg_find(l, fd);
	struct epoll_event ev = {.events = events};

	if (!r)
		return -ENOENT;
	if (r->events == events)
		return 0;
	ev.data.ptr = r;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	r->events = events;
	return 0;
}

void loop_del_fd(struct loop *l, int fd)
{
	struct reg *r = reg_find(l, fd);

	if (!r)
		return;
	/* ENOENT/EBADF here means the caller closed fd first; the
	 * registration still goes. */
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->by_fd[fd] = NULL;
	r->dead = true;
	if (l->dispatching) {
		r->next_zombie = l->zombies;
		l->zombies = r;
	} else {
		free(r);
	}
}

/* ---- signals ---- */

static void sfd_ready(void *user, int fd, uint32_t events)
{
	struct loop *l = user;
	struct signalfd_siginfo si;

	(void)events;
	while (!l->quit) {
		ssize_t n = read(fd, &si, sizeof(si));
		int signo;

		if (n != (ssize_t)sizeof(si))
			break;
		signo = (int)si.ssi_signo;
		if (signo > 0 && signo < _NSIG && l->sig_fn[signo])
			l->sig_fn[signo](l->sig_user[signo], signo);
	}
}

int loop_on_signal(struct loop *l, int signo, loop_signal_fn fn, void *user)
{
	sigset_t one;

	if (signo <= 0 || signo >= _NSIG || signo == SIGKILL || signo == SIGSTOP)
		return -EINVAL;
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (sigprocmask(SIG_BLOCK, &one, NULL) < 0)
		return -errno;
	sigaddset(&l->sigmask, signo);
	if (signalfd(l->sfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC) < 0)
		return -errno;
	l->sig_fn[signo] = fn;
	l->sig_user[signo] = user;
	return 0;
}

/* ---- the loop ---- */

static int add_internal(struct loop *l, struct reg *r, int fd, loop_fd_fn fn)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = r};

	r->fd = fd;
	r->events = EPOLLIN;
	r->fn = fn;
	r->user = l;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int loop_new(struct loop **out)
{
	struct loop *l = calloc(1, sizeof(*l));
	int ret;

	*out = NULL;
	if (!l)
		return -ENOMEM;
	l->tfd = l->sfd = -1;
	sigemptyset(&l->sigmask);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		ret = -errno;
		goto out;
	}
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	l->sfd = signalfd(-1, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->tfd < 0 || l->sfd < 0) {
		ret = -errno;
		goto out;
	}
	ret = add_internal(l, &l->tfd_reg, l->tfd, tfd_ready);
	if (!ret)
		ret = add_internal(l, &l->sfd_reg, l->sfd, sfd_ready);
out:
	if (ret)
		loop_free(l);
	else
		*out = l;
	return ret;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->by_fd_cap; i++)
		free(l->by_fd[i]);
	free(l->by_fd);
	/* Timers belong to their owners; unlink them so a late
	 * loop_timer_free does not touch the freed heap. */
	for (size_t i = 0; i < l->heap_len; i++)
		l->heap[i]->heap_idx = SIZE_MAX;
	free(l->heap);
	if (l->sfd >= 0)
		close(l->sfd);
	if (l->tfd >= 0)
		close(l->tfd);
	if (l->epfd >= 0)
		close(l->epfd);
	free(l);
}

static void free_zombies(struct loop *l)
{
	while (l->zombies) {
		struct reg *r = l->zombies;

		l->zombies = r->next_zombie;
		free(r);
	}
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[LOOP_BATCH];

	l->quit = false;
	while (!l->quit) {
		int n;

		timers_program(l);
		n = epoll_wait(l->epfd, evs, LOOP_BATCH, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err(SUB_MAIN, "epoll_wait: %s", strerror(errno));
			return -errno;
		}
		l->dispatching = true;
		for (int i = 0; i < n && !l->quit; i++) {
			struct reg *r = evs[i].data.ptr;

			if (!r->dead)
				r->fn(r->user, r->fd, evs[i].events);
		}
		l->dispatching = false;
		free_zombies(l);
	}
	return l->quit_code;
}

void loop_quit(struct loop *l, int code)
{
	l->quit = true;
	l->quit_code = code;
}
