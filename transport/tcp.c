/* The IP driver ("tcp"): TCP connections for sessions, signed UDP multicast
 * beacons to ff02::1 for discovery on the beacon interfaces, and static peers
 * from the config for routed networks (a hospital uplink). Everything runs
 * on the loop thread with non-blocking sockets; docs/transport.md is the
 * long form of the choices below.
 *
 * Callback discipline. The core is only called from loop callbacks (fd
 * events, timers), never from inside a call the core made into the driver:
 * a link that fails inside send() or is closed by close() goes on the reap
 * list and its link_down is delivered on the next turn. The core may call
 * anything (send, close, connect, even stop) from inside a callback, so after
 * every callback the driver re-checks that the link and the driver are still
 * alive; stop() inside a callback defers the final free until the outermost
 * driver frame returns (depth). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sodium.h>

#include "beacon.h"
#include "clock.h"
#include "config.h"
#include "err.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "sendq.h"

/* [tcp] keys: defaults and bounds (docs/transport.md lists them). */
#define CFG_SECTION            "tcp"
#define DEF_LISTEN             "[::]:7420"
#define DEF_BEACON_PORT        7421
#define DEF_BEACON_INTERVAL_MS 2000
#define MIN_BEACON_INTERVAL_MS 100
#define MAX_BEACON_INTERVAL_MS 60000
#define DEF_MAX_SKEW_MS        300000 /* 5 min */
#define MIN_MAX_SKEW_MS        1000
#define MAX_MAX_SKEW_MS        86400000
#define DEF_CONNECT_TIMEOUT_MS 5000
#define MIN_CONNECT_TIMEOUT_MS 10
#define MAX_CONNECT_TIMEOUT_MS 600000
#define DEF_STATIC_INTERVAL_MS 10000
#define MIN_STATIC_INTERVAL_MS 100
#define MAX_STATIC_INTERVAL_MS 3600000

/* A cut link (cable pulled, radio gone) is noticed within about 25 s: when
 * idle by keepalive (first probe after KEEPIDLE, then KEEPCNT probes
 * KEEPINTVL apart), when data is unacknowledged by USER_TIMEOUT (which the
 * kernel also applies to keepalive, hence the same total). Short because a
 * crew moving out of range should free its slot quickly; long enough to
 * ride out a Wi-Fi retry storm. */
#define KEEPIDLE_S      10
#define KEEPINTVL_S     5
#define KEEPCNT         3
#define USER_TIMEOUT_MS ((KEEPIDLE_S + KEEPCNT * KEEPINTVL_S) * 1000)

/* Unsent bytes the kernel may hold per socket. Left to autotuning it takes
 * megabytes, and an immediate-priority bundle would then wait behind a bulk
 * attachment already handed to the kernel; capped, the backlog stays in our
 * queue where the core can see it (queued()) and order what comes next.
 * 16 KiB is 13 ms at 10 Mbit/s and still keeps a 100 Mbit/s link full
 * (docs/benchmarks.md "latency": measured with 128 KiB and with 16 KiB,
 * goodput the same at 1 and 100 Mbit/s, p50 latency under bulk lower). */
#define NOTSENT_LOWAT (16 * 1024)
/* Bytes the core keeps queued on a TCP link (struct link.pump_high_water,
 * the core's default is 256 KiB) before it stops adding bundles: an
 * immediate bundle waits behind this plus the frame being added and
 * NOTSENT_LOWAT at each hop. Small queues cost goodput only while the core
 * re-sent bundles still on their way (node/refused.c, in flight). */
#define PUMP_HIGH_WATER_TCP (16 * 1024)

#define LISTEN_BACKLOG  64
#define ACCEPT_PER_TURN 32
#define ACCEPT_PAUSE_MS 100 /* after EMFILE and friends, so we do not spin */
#define READ_BUF        65536
#define READ_PER_TURN   (256u * 1024) /* per link, so one busy link cannot starve the rest */
#define WRITE_IOV       16

#define IFACES_MAX       8
#define STATIC_MAX       32
#define BEACONS_PER_TURN 32
/* Beacon rate limits, applied before the signature is checked: one beacon
 * per source address per SRC_GAP_MS (a legitimate node sends one per
 * interval, >= 100 ms), and at most VERIFY_PER_S signature checks a second
 * over all sources, so a flood of forged beacons costs bounded CPU. */
#define SRC_SLOTS    64
#define SRC_GAP_MS   250
#define VERIFY_PER_S 200
/* peers_seen counts keys heard within max(PEER_RECENT_MIN_MS, 3 intervals). */
/* Beacons sent at once on a radio driver's kick (interface up, new station):
 * at most one per interface per KICK_GAP_MS, so a crowd arriving together
 * costs a few beacons, not one per station; the periodic beacon follows. */
#define KICK_GAP_MS        250
#define PEER_SLOTS         256
#define PEER_RECENT_MIN_MS 30000

static const uint8_t zero_key[MU_KEY_BYTES];
/* ff02::1, every node on the link. */
static const struct in6_addr all_nodes = {.s6_addr = {0xff, 0x02, [15] = 1}};

enum tl_state {
	TL_CONNECTING, /* outbound, not yet reported */
	TL_UP,         /* reported with link_up */
	TL_DEAD,       /* sockets gone; link_down delivered or pending */
};

struct tcp_driver;

struct tcp_link {
	struct link base; /* first: the core's struct link * points here */
	struct tcp_driver *d;
	struct tcp_link *prev, *next; /* d->links or d->reap */
	int fd;
	enum tl_state state;
	int down_err; /* for a pending link_down on the reap list */
	uint32_t events;
	struct loop_timer *timer; /* connect timeout */
	struct sendq q; /* bytes the socket has not taken yet */
};

struct tcp_iface {
	char name[IF_NAMESIZE];
	unsigned idx;
	bool joined;
	uint64_t kick_ms; /* mono + 1 of the last beacon sent on a kick; 0 = none */
};

struct beacon_src {
	struct in6_addr addr;
	uint32_t scope;
	uint64_t last_ms; /* mono; 0 = free */
};

struct peer_slot {
	uint8_t key[MU_KEY_BYTES];
	uint64_t last_ms; /* mono; 0 = free */
};

struct tcp_driver {
	struct loop *loop;
	const struct mu_identity *id;
	const struct link_events *ev;
	void *user;
	int depth;
	bool stopped;

	uint64_t beacon_interval_ms, max_skew_ms, connect_timeout_ms, static_interval_ms;
	uint16_t beacon_port;

	int lfd;
	uint16_t lport;
	struct loop_timer *accept_timer;

	struct tcp_link *links; /* connecting and up */
	struct tcp_link *reap;  /* dead, link_down pending */
	struct loop_timer *reap_timer;
	struct link_stats closed; /* totals of freed links */

	int bfd;
	struct tcp_iface ifaces[IFACES_MAX];
	unsigned n_ifaces;
	struct loop_timer *beacon_timer;
	struct beacon_src srcs[SRC_SLOTS];
	uint64_t verify_window_ms;
	unsigned verify_count;
	struct peer_slot peers[PEER_SLOTS];

	struct link_addr statics[STATIC_MAX];
	unsigned n_statics;
	struct loop_timer *static_timer;
};

static struct tcp_driver *drv_of(struct link_driver *ld)
{
	return (struct tcp_driver *)(void *)ld;
}

static struct link_driver *ld_of(struct tcp_driver *d)
{
	return (struct link_driver *)(void *)d;
}

static struct tcp_link *tl_of(struct link *lk)
{
	return (struct tcp_link *)lk;
}

static void tcp_stop(struct link_driver *ld);

/* ---- addresses ---- */

static void addr_format(struct link_addr *a)
{
	char host[INET6_ADDRSTRLEN] = "?", ifn[IF_NAMESIZE] = "";
	const struct sockaddr *sa = (const struct sockaddr *)&a->sa;

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		if (s6->sin6_scope_id && !if_indextoname(s6->sin6_scope_id, ifn))
			snprintf(ifn, sizeof(ifn), "%u", s6->sin6_scope_id);
		snprintf(a->text, sizeof(a->text), "[%s%s%s]:%u", host, *ifn ? "%" : "", ifn,
			 ntohs(s6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(a->text, sizeof(a->text), "%s:%u", host, ntohs(s4->sin_port));
	} else {
		snprintf(a->text, sizeof(a->text), "(family %d)", sa->sa_family);
	}
}

static void addr_from_sa(struct link_addr *a, const void *sa, socklen_t len)
{
	memset(a, 0, sizeof(*a));
	if (len > sizeof(a->sa))
		len = sizeof(a->sa);
	memcpy(&a->sa, sa, len);
	a->sa_len = len;
	addr_format(a);
}

static int parse_port(const char *s, bool allow_zero, uint16_t *out)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return MU_E_CONFIG;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return MU_E_CONFIG;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v > 65535 || (!v && !allow_zero))
		return MU_E_CONFIG;
	*out = (uint16_t)v;
	return 0;
}

/* "[v6addr%scope]:port" or "a.b.c.d:port", numeric only (no DNS: resolving
 * would block the loop, and at a scene there may be no resolver). */
static int addr_parse(struct link_addr *out, const char *s, bool allow_port_zero)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 1];
	const char *port, *end;
	uint16_t p;

	memset(out, 0, sizeof(*out));
	if (*s == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->sa;
		char *pct;

		end = strchr(s, ']');
		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
			return MU_E_CONFIG;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = 0;
		port = end + 2;
		pct = strchr(host, '%');
		if (pct) {
			*pct++ = 0;
			s6->sin6_scope_id = if_nametoindex(pct);
			if (!s6->sin6_scope_id) {
				uint16_t n;

				/* A numeric scope; an interface that does not
				 * exist (yet) is a config error. */
				if (parse_port(pct, false, &n))
					return MU_E_CONFIG;
				s6->sin6_scope_id = n;
			}
		}
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1 || parse_port(port, allow_port_zero, &p))
			return MU_E_CONFIG;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(p);
		out->sa_len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&out->sa;

		end = strchr(s, ':');
		if (!end || strchr(end + 1, ':') || (size_t)(end - s) >= sizeof(host))
			return MU_E_CONFIG;
		memcpy(host, s, (size_t)(end - s));
		host[end - s] = 0;
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1 || parse_port(end + 1, allow_port_zero, &p))
			return MU_E_CONFIG;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(p);
		out->sa_len = sizeof(*s4);
	}
	addr_format(out);
	return 0;
}

/* ---- driver frames ---- */

static void drv_free(struct tcp_driver *d)
{
	struct tcp_link *lists[2] = {d->links, d->reap};

	for (int i = 0; i < 2; i++) {
		while (lists[i]) {
			struct tcp_link *tl = lists[i];

			lists[i] = tl->next;
			free(tl);
		}
	}
	free(d);
}

static void drv_enter(struct tcp_driver *d)
{
	d->depth++;
}

static void drv_leave(struct tcp_driver *d)
{
	if (--d->depth == 0 && d->stopped)
		drv_free(d);
}

/* ---- links ---- */

static void list_add(struct tcp_link **head, struct tcp_link *tl)
{
	tl->prev = NULL;
	tl->next = *head;
	if (*head)
		(*head)->prev = tl;
	*head = tl;
}

static void list_del(struct tcp_link **head, struct tcp_link *tl)
{
	if (tl->prev)
		tl->prev->next = tl->next;
	else
		*head = tl->next;
	if (tl->next)
		tl->next->prev = tl->prev;
	tl->prev = tl->next = NULL;
}


/* Closes the socket and drops the queue; the struct stays for link_down. */
static void link_teardown(struct tcp_link *tl)
{
	if (tl->fd >= 0) {
		loop_del_fd(tl->d->loop, tl->fd);
		close(tl->fd);
		tl->fd = -1;
	}
	loop_timer_free(tl->timer);
	tl->timer = NULL;
	sendq_clear(&tl->q);
	tl->state = TL_DEAD;
}

static void stats_add(struct link_stats *to, const struct link_stats *s)
{
	to->bytes_in += s->bytes_in;
	to->bytes_out += s->bytes_out;
	to->frames_in += s->frames_in;
	to->frames_out += s->frames_out;
}

static void link_free(struct tcp_link *tl)
{
	stats_add(&tl->d->closed, &tl->base.stats);
	free(tl);
}

/* Reports the link down now and frees it. Only from loop callbacks (the core
 * is not inside a call into us). */
static void link_fail(struct tcp_link *tl, int err)
{
	struct tcp_driver *d = tl->d;

	log_debug(SUB_LINK, "%s down: %s", tl->base.peer.text, mu_strerror(err));
	link_teardown(tl);
	list_del(&d->links, tl);
	if (!d->stopped)
		d->ev->link_down(d->user, &tl->base, err);
	link_free(tl);
}

/* Reports the link down on the next turn (from inside a core call). */
static void link_fail_later(struct tcp_link *tl, int err)
{
	struct tcp_driver *d = tl->d;

	link_teardown(tl);
	list_del(&d->links, tl);
	tl->down_err = err;
	/* Append so downs are reported in the order they happened. */
	if (!d->reap) {
		list_add(&d->reap, tl);
	} else {
		struct tcp_link *t = d->reap;

		while (t->next)
			t = t->next;
		t->next = tl;
		tl->prev = t;
	}
	loop_timer_arm(d->reap_timer, 0);
}

static void reap_run(void *user)
{
	struct tcp_driver *d = user;

	drv_enter(d);
	while (d->reap && !d->stopped) {
		struct tcp_link *tl = d->reap;

		list_del(&d->reap, tl);
		log_debug(SUB_LINK, "%s down: %s", tl->base.peer.text, mu_strerror(tl->down_err));
		d->ev->link_down(d->user, &tl->base, tl->down_err);
		link_free(tl);
	}
	drv_leave(d);
}

static void sock_tune(int fd)
{
	int one = 1, idle = KEEPIDLE_S, intvl = KEEPINTVL_S, cnt = KEEPCNT, lowat = NOTSENT_LOWAT;
	unsigned uto = USER_TIMEOUT_MS;

	/* Failures here cost latency or liveness detection, not correctness:
	 * log and go on. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof(uto)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat)))
		log_warn(SUB_LINK, "socket options: %s", strerror(errno));
}

static void link_want(struct tcp_link *tl)
{
	uint32_t want = EPOLLIN | (tl->q.len ? EPOLLOUT : 0);
	int ret;

	if (want == tl->events || tl->fd < 0)
		return;
	ret = loop_mod_fd(tl->d->loop, tl->fd, want);
	if (ret)
		log_warn(SUB_LINK, "%s: loop_mod_fd: %s", tl->base.peer.text, mu_strerror(ret));
	else
		tl->events = want;
}

/* Writes as much of the queue as the socket takes: 0 or -errno. */
static int q_flush(struct tcp_link *tl)
{
	while (tl->q.len) {
		struct iovec iov[WRITE_IOV];
		struct msghdr msg = {.msg_iov = iov};
		ssize_t w;

		msg.msg_iovlen = sendq_iov(&tl->q, iov, WRITE_IOV);
		w = sendmsg(tl->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		tl->base.stats.bytes_out += (uint64_t)w;
		sendq_consume(&tl->q, (size_t)w);
	}
	return 0;
}

/* Reads what is there; false when tl is no longer up (and may be freed). */
static bool link_read(struct tcp_link *tl)
{
	struct tcp_driver *d = tl->d;
	uint8_t buf[READ_BUF];
	size_t total = 0;

	while (total < READ_PER_TURN) {
		ssize_t r = recv(tl->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (r > 0) {
			total += (size_t)r;
			tl->base.stats.bytes_in += (uint64_t)r;
			tl->base.stats.frames_in++;
			d->ev->link_data(d->user, &tl->base, buf, (size_t)r);
			if (d->stopped || tl->state != TL_UP)
				return false;
			continue;
		}
		if (r == 0) {
			link_fail(tl, 0);
			return false;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			link_fail(tl, -errno);
			return false;
		}
		break;
	}
	return true;
}

static void connect_done(struct tcp_link *tl)
{
	struct tcp_driver *d = tl->d;
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(tl->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		link_fail(tl, -err);
		return;
	}
	loop_timer_free(tl->timer);
	tl->timer = NULL;
	tl->state = TL_UP;
	link_want(tl);
	log_debug(SUB_LINK, "%s up (outbound)", tl->base.peer.text);
	d->ev->link_up(d->user, &tl->base, 0);
}

static void link_io(void *user, int fd, uint32_t events)
{
	struct tcp_link *tl = user;
	struct tcp_driver *d = tl->d;

	(void)fd;
	drv_enter(d);
	if (tl->state == TL_CONNECTING) {
		connect_done(tl);
	} else if (tl->state == TL_UP) {
		/* Read first: data that came before a FIN or RST still
		 * reaches the core. */
		bool up = true;

		if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			up = link_read(tl);
		if (up && (events & EPOLLOUT)) {
			int ret = q_flush(tl);

			if (ret) {
				link_fail(tl, ret);
			} else {
				link_want(tl);
				/* The queue ran dry: the core may add more. */
				if (!tl->q.len && d->ev->link_drained)
					d->ev->link_drained(d->user, &tl->base);
			}
		}
	}
	drv_leave(d);
}

static void connect_timeout(void *user)
{
	struct tcp_link *tl = user;
	struct tcp_driver *d = tl->d;

	drv_enter(d);
	if (tl->state == TL_CONNECTING)
		link_fail(tl, -ETIMEDOUT);
	drv_leave(d);
}

static struct tcp_link *link_new(struct tcp_driver *d, int fd)
{
	struct tcp_link *tl = calloc(1, sizeof(*tl));

	if (!tl)
		return NULL;
	sendq_init(&tl->q, LINK_SENDQ_MAX);
	tl->base.ops = &link_tcp_ops;
	tl->base.drv = ld_of(d);
	tl->base.pump_high_water = PUMP_HIGH_WATER_TCP;
	tl->d = d;
	tl->fd = fd;
	return tl;
}

static int tcp_connect(struct link_driver *ld, const struct link_addr *addr)
{
	struct tcp_driver *d = drv_of(ld);
	int family = ((const struct sockaddr *)&addr->sa)->sa_family;
	struct tcp_link *tl = NULL;
	int fd = -1, ret;

	if ((family != AF_INET6 || addr->sa_len != sizeof(struct sockaddr_in6)) &&
	    (family != AF_INET || addr->sa_len != sizeof(struct sockaddr_in)))
		return -EAFNOSUPPORT;
	if (d->stopped)
		return -ESHUTDOWN;
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	tl = link_new(d, fd);
	if (!tl) {
		ret = -ENOMEM;
		goto out;
	}
	tl->base.peer = *addr;
	addr_format(&tl->base.peer);
	tl->state = TL_CONNECTING;
	sock_tune(fd);
	ret = loop_timer_new(d->loop, &tl->timer, connect_timeout, tl);
	if (ret)
		goto out;
	if (connect(fd, (const struct sockaddr *)&addr->sa, addr->sa_len) < 0 && errno != EINPROGRESS) {
		/* Refused, unreachable, ...: the same path as a late failure,
		 * so the core handles one case. */
		ret = -errno;
		list_add(&d->links, tl);
		link_fail_later(tl, ret);
		return 0;
	}
	ret = loop_add_fd(d->loop, fd, EPOLLOUT, link_io, tl);
	if (ret)
		goto out;
	tl->events = EPOLLOUT;
	loop_timer_arm(tl->timer, d->connect_timeout_ms);
	list_add(&d->links, tl);
	log_debug(SUB_LINK, "connecting to %s", tl->base.peer.text);
	return 0;
out:
	if (tl)
		loop_timer_free(tl->timer);
	free(tl);
	close(fd);
	return ret;
}

static int tcp_send(struct link *lk, const uint8_t *p, size_t n)
{
	struct tcp_link *tl = tl_of(lk);
	size_t done = 0;
	int ret;

	if (tl->state != TL_UP)
		return tl->state == TL_DEAD ? -EPIPE : -ENOTCONN;
	if (n > LINK_SENDQ_MAX - tl->q.len)
		return -ENOBUFS;
	if (!n)
		return 0;
	if (!tl->q.len) {
		/* Nothing ahead of it: try the socket now, which saves a
		 * loop turn for an immediate-priority bundle. */
		ssize_t w = send(tl->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w >= 0) {
			done = (size_t)w;
			tl->base.stats.bytes_out += (uint64_t)w;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			ret = -errno;
			link_fail_later(tl, ret);
			return ret;
		}
	}
	if (done < n) {
		ret = sendq_append(&tl->q, p + done, n - done);
		if (ret) {
			/* Part of it is on the wire: the stream is broken. */
			if (done)
				link_fail_later(tl, ret);
			return ret;
		}
		link_want(tl);
	}
	tl->base.stats.frames_out++;
	return 0;
}

static size_t tcp_queued(const struct link *lk)
{
	return ((const struct tcp_link *)lk)->q.len;
}

static void tcp_close(struct link *lk)
{
	struct tcp_link *tl = tl_of(lk);

	if (tl->state == TL_DEAD)
		return;
	/* One last non-blocking push of what is queued; whatever the kernel
	 * does not take now is dropped (the session layer above knows what
	 * was acknowledged). */
	if (tl->state == TL_UP && tl->q.len)
		(void)q_flush(tl);
	link_fail_later(tl, 0);
}

/* ---- listening ---- */

static void accept_resume(void *user)
{
	struct tcp_driver *d = user;

	if (d->lfd >= 0 && loop_mod_fd(d->loop, d->lfd, EPOLLIN))
		log_err(SUB_LINK, "cannot resume accepting");
}

static void listen_io(void *user, int fd, uint32_t events)
{
	struct tcp_driver *d = user;

	(void)events;
	drv_enter(d);
	for (int i = 0; i < ACCEPT_PER_TURN && !d->stopped; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct tcp_link *tl;
		int c = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int ret;

		if (c < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			/* Out of fds or memory: the socket stays readable,
			 * so pause instead of spinning. */
			log_warn(SUB_LINK, "accept: %s; pausing %d ms", strerror(errno), ACCEPT_PAUSE_MS);
			if (!loop_mod_fd(d->loop, fd, 0))
				loop_timer_arm(d->accept_timer, ACCEPT_PAUSE_MS);
			break;
		}
		tl = link_new(d, c);
		if (!tl) {
			close(c);
			continue;
		}
		addr_from_sa(&tl->base.peer, &ss, sl);
		sock_tune(c);
		ret = loop_add_fd(d->loop, c, EPOLLIN, link_io, tl);
		if (ret) {
			log_warn(SUB_LINK, "%s: %s", tl->base.peer.text, mu_strerror(ret));
			free(tl);
			close(c);
			continue;
		}
		tl->events = EPOLLIN;
		tl->state = TL_UP;
		list_add(&d->links, tl);
		log_debug(SUB_LINK, "%s up (inbound)", tl->base.peer.text);
		d->ev->link_up(d->user, &tl->base, 1);
	}
	drv_leave(d);
}

static int listen_start(struct tcp_driver *d, const char *spec)
{
	struct link_addr a;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1, zero = 0, family, ret;

	if (addr_parse(&a, spec, true)) {
		log_err(SUB_LINK, "[tcp] listen = %s: expected [v6addr]:port, a.b.c.d:port or off", spec);
		return MU_E_CONFIG;
	}
	family = ((struct sockaddr *)&a.sa)->sa_family;
	d->lfd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->lfd < 0)
		return -errno;
	/* Dual-stack: [::] also takes IPv4 peers (as ::ffff:a.b.c.d). */
	if (setsockopt(d->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (family == AF_INET6 && setsockopt(d->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero))) ||
	    bind(d->lfd, (struct sockaddr *)&a.sa, a.sa_len) || listen(d->lfd, LISTEN_BACKLOG) ||
	    getsockname(d->lfd, (struct sockaddr *)&ss, &sl)) {
		ret = -errno;
		log_err(SUB_LINK, "listen on %s: %s", a.text, strerror(errno));
		return ret;
	}
	d->lport = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					    : ((struct sockaddr_in *)&ss)->sin_port);
	ret = loop_timer_new(d->loop, &d->accept_timer, accept_resume, d);
	if (!ret)
		ret = loop_add_fd(d->loop, d->lfd, EPOLLIN, listen_io, d);
	if (ret)
		return ret;
	log_info(SUB_LINK, "listening on %s (port %u)", a.text, d->lport);
	return 0;
}

/* ---- beacons ---- */

static void iface_join(struct tcp_driver *d, struct tcp_iface *ifc)
{
	struct ipv6_mreq mr = {.ipv6mr_multiaddr = all_nodes};

	if (ifc->joined)
		return;
	ifc->idx = if_nametoindex(ifc->name);
	if (!ifc->idx)
		return; /* not there yet (a radio driver may create it); retried each beacon */
	mr.ipv6mr_interface = ifc->idx;
	if (setsockopt(d->bfd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr, sizeof(mr)) && errno != EADDRINUSE) {
		log_debug(SUB_LINK, "join ff02::1 on %s: %s", ifc->name, strerror(errno));
		return;
	}
	ifc->joined = true;
	log_info(SUB_LINK, "beacons on %s (ifindex %u)", ifc->name, ifc->idx);
}

/* Signs a fresh beacon into buf: 0 or an error (logged). */
static int beacon_make(struct tcp_driver *d, uint8_t buf[static BEACON_BYTES])
{
	struct beacon b = {.port = d->lport};
	int ret;

	memcpy(b.key, identity_sign_pk(d->id), MU_KEY_BYTES);
	b.ts_ms = mu_now_ms();
	randombytes_buf(b.nonce, sizeof(b.nonce));
	ret = beacon_encode(buf, &b, d->id);
	if (ret)
		log_err(SUB_LINK, "beacon: %s", mu_strerror(ret));
	return ret;
}

static void beacon_send_on(struct tcp_driver *d, struct tcp_iface *ifc,
			   const uint8_t buf[static BEACON_BYTES])
{
	struct sockaddr_in6 to = {
	    .sin6_family = AF_INET6,
	    .sin6_port = htons(d->beacon_port),
	    .sin6_addr = all_nodes,
	};

	iface_join(d, ifc);
	if (!ifc->joined)
		return;
	to.sin6_scope_id = ifc->idx;
	if (sendto(d->bfd, buf, BEACON_BYTES, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to)) < 0) {
		log_debug(SUB_LINK, "beacon on %s: %s", ifc->name, strerror(errno));
		/* Gone or renumbered: look it up again next time. */
		if (errno == ENODEV || errno == ENXIO)
			ifc->joined = false;
	}
}

static void beacon_send(void *user)
{
	struct tcp_driver *d = user;
	uint64_t iv = d->beacon_interval_ms;
	uint8_t buf[BEACON_BYTES];

	if (!beacon_make(d, buf))
		for (unsigned i = 0; i < d->n_ifaces; i++)
			beacon_send_on(d, &d->ifaces[i], buf);
	/* +-10% jitter so nodes switched on together do not stay in step. */
	loop_timer_arm(d->beacon_timer, iv - iv / 10 + randombytes_uniform((uint32_t)(iv / 5) + 1));
}

static bool src_allowed(struct tcp_driver *d, const struct sockaddr_in6 *src, uint64_t now)
{
	struct beacon_src *slot = NULL, *oldest = &d->srcs[0];

	for (unsigned i = 0; i < SRC_SLOTS; i++) {
		struct beacon_src *s = &d->srcs[i];

		if (s->last_ms && s->scope == src->sin6_scope_id &&
		    !memcmp(&s->addr, &src->sin6_addr, sizeof(s->addr))) {
			slot = s;
			break;
		}
		if (s->last_ms < oldest->last_ms)
			oldest = s;
	}
	if (slot && now - slot->last_ms < SRC_GAP_MS)
		return false;
	if (now - d->verify_window_ms >= 1000) {
		d->verify_window_ms = now;
		d->verify_count = 0;
	}
	if (d->verify_count >= VERIFY_PER_S)
		return false;
	d->verify_count++;
	if (!slot) {
		slot = oldest;
		slot->addr = src->sin6_addr;
		slot->scope = src->sin6_scope_id;
	}
	slot->last_ms = now;
	return true;
}

static void peer_note(struct tcp_driver *d, const uint8_t key[static MU_KEY_BYTES], uint64_t now)
{
	struct peer_slot *slot = NULL, *oldest = &d->peers[0];

	for (unsigned i = 0; i < PEER_SLOTS; i++) {
		struct peer_slot *p = &d->peers[i];

		if (p->last_ms && !memcmp(p->key, key, MU_KEY_BYTES)) {
			slot = p;
			break;
		}
		if (p->last_ms < oldest->last_ms)
			oldest = p;
	}
	if (!slot) {
		slot = oldest;
		memcpy(slot->key, key, MU_KEY_BYTES);
	}
	slot->last_ms = now;
}

static bool iface_ours(const struct tcp_driver *d, uint32_t scope)
{
	for (unsigned i = 0; i < d->n_ifaces; i++)
		if (d->ifaces[i].joined && d->ifaces[i].idx == scope)
			return true;
	return false;
}

static void beacon_input(struct tcp_driver *d, const uint8_t *p, size_t n, const struct sockaddr_in6 *src)
{
	uint64_t now = loop_now_mono_ms() + 1; /* +1: 0 marks a free slot */
	struct link_addr addr;
	struct beacon b;
	int ret;

	/* Beacons are link-local by design; anything else (a unicast from a
	 * routed network, another interface's traffic) is not ours. */
	if (src->sin6_family != AF_INET6 || !IN6_IS_ADDR_LINKLOCAL(&src->sin6_addr) ||
	    !iface_ours(d, src->sin6_scope_id))
		return;
	if (!src_allowed(d, src, now))
		return;
	ret = beacon_decode(&b, p, n);
	if (ret) {
		log_debug(SUB_LINK, "beacon rejected: %s", mu_strerror(ret));
		return;
	}
	switch (beacon_judge(&b, identity_sign_pk(d->id), mu_now_ms(), d->max_skew_ms)) {
	case BEACON_ACCEPT:
		break;
	case BEACON_OWN:
		return;
	case BEACON_STALE:
	case BEACON_FUTURE:
		log_debug(SUB_LINK, "beacon rejected: timestamp more than %llu ms off",
			  (unsigned long long)d->max_skew_ms);
		return;
	}
	peer_note(d, b.key, now);
	memset(&addr, 0, sizeof(addr));
	{
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&addr.sa;

		*s6 = *src;
		s6->sin6_port = htons(b.port);
		s6->sin6_flowinfo = 0;
		addr.sa_len = sizeof(*s6);
	}
	addr_format(&addr);
	d->ev->peer_seen(d->user, ld_of(d), b.key, &addr);
}

static void beacon_io(void *user, int fd, uint32_t events)
{
	struct tcp_driver *d = user;

	(void)events;
	drv_enter(d);
	for (int i = 0; i < BEACONS_PER_TURN && !d->stopped; i++) {
		uint8_t buf[BEACON_BYTES + 1];
		struct sockaddr_in6 src;
		socklen_t sl = sizeof(src);
		ssize_t r =
		    recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&src, &sl);

		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			continue; /* a queued ICMP error, consumed by this call */
		}
		if ((size_t)r > BEACON_BYTES || sl != sizeof(src))
			continue; /* MSG_TRUNC gave the real length: too long */
		beacon_input(d, buf, (size_t)r, &src);
	}
	drv_leave(d);
}

static int beacon_start(struct tcp_driver *d)
{
	struct sockaddr_in6 any = {
	    .sin6_family = AF_INET6,
	    .sin6_port = htons(d->beacon_port),
	    .sin6_addr = IN6ADDR_ANY_INIT,
	};
	int one = 1, zero = 0, hops = 1, ret;

	d->bfd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->bfd < 0)
		return -errno;
	/* REUSEPORT: a second node on the same host (tests, a laptop running
	 * two roles) can hear beacons too; every socket gets each multicast. */
	if (setsockopt(d->bfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(d->bfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    setsockopt(d->bfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) ||
	    setsockopt(d->bfd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &zero, sizeof(zero)) ||
	    setsockopt(d->bfd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) ||
	    bind(d->bfd, (struct sockaddr *)&any, sizeof(any))) {
		ret = -errno;
		log_err(SUB_LINK, "beacon socket on port %u: %s", d->beacon_port, strerror(errno));
		return ret;
	}
	for (unsigned i = 0; i < d->n_ifaces; i++) {
		iface_join(d, &d->ifaces[i]);
		if (!d->ifaces[i].joined)
			log_warn(SUB_LINK, "beacon interface %s not ready; will retry", d->ifaces[i].name);
	}
	ret = loop_add_fd(d->loop, d->bfd, EPOLLIN, beacon_io, d);
	if (ret)
		return ret;
	if (!d->lport) {
		log_info(SUB_LINK, "not listening: hearing beacons, sending none");
		return 0;
	}
	ret = loop_timer_new(d->loop, &d->beacon_timer, beacon_send, d);
	if (ret)
		return ret;
	loop_timer_arm(d->beacon_timer, 0);
	return 0;
}

/* ---- static peers ---- */

static void static_report(void *user)
{
	struct tcp_driver *d = user;

	drv_enter(d);
	for (unsigned i = 0; i < d->n_statics && !d->stopped; i++)
		d->ev->peer_seen(d->user, ld_of(d), zero_key, &d->statics[i]);
	if (!d->stopped)
		loop_timer_arm(d->static_timer, d->static_interval_ms);
	drv_leave(d);
}

static int static_add(void *ctx, const char *value)
{
	struct tcp_driver *d = ctx;

	if (d->n_statics == STATIC_MAX) {
		log_err(SUB_LINK, "[tcp] peer: at most %d", STATIC_MAX);
		return MU_E_CONFIG;
	}
	if (addr_parse(&d->statics[d->n_statics], value, false)) {
		log_err(SUB_LINK, "[tcp] peer = %s: expected [v6addr]:port or a.b.c.d:port (numeric)", value);
		return MU_E_CONFIG;
	}
	d->n_statics++;
	return 0;
}

/* ---- start, stop, status ---- */

static int ifaces_parse(struct tcp_driver *d, const char *list)
{
	const char *sep = " \t,";

	while (*list) {
		size_t n;

		list += strspn(list, sep);
		n = strcspn(list, sep);
		if (!n)
			break;
		if (n >= IF_NAMESIZE || d->n_ifaces == IFACES_MAX) {
			log_err(SUB_LINK, "[tcp] beacon_interfaces: at most %d names of < %d characters",
				IFACES_MAX, IF_NAMESIZE);
			return MU_E_CONFIG;
		}
		memcpy(d->ifaces[d->n_ifaces].name, list, n);
		d->ifaces[d->n_ifaces].name[n] = 0;
		d->n_ifaces++;
		list += n;
	}
	return 0;
}

static int read_config(struct tcp_driver *d, const struct config *cfg, const char **listen_spec)
{
	uint64_t port;
	int ret;

	*listen_spec = config_str(cfg, CFG_SECTION, "listen", DEF_LISTEN);
	ret = config_u64(cfg, CFG_SECTION, "beacon_port", DEF_BEACON_PORT, 1, 65535, &port);
	if (ret)
		return ret;
	d->beacon_port = (uint16_t)port;
	ret = config_u64(cfg, CFG_SECTION, "beacon_interval_ms", DEF_BEACON_INTERVAL_MS,
			 MIN_BEACON_INTERVAL_MS, MAX_BEACON_INTERVAL_MS, &d->beacon_interval_ms);
	if (!ret)
		ret = config_u64(cfg, CFG_SECTION, "beacon_max_skew_ms", DEF_MAX_SKEW_MS, MIN_MAX_SKEW_MS,
				 MAX_MAX_SKEW_MS, &d->max_skew_ms);
	if (!ret)
		ret = config_u64(cfg, CFG_SECTION, "connect_timeout_ms", DEF_CONNECT_TIMEOUT_MS,
				 MIN_CONNECT_TIMEOUT_MS, MAX_CONNECT_TIMEOUT_MS, &d->connect_timeout_ms);
	if (!ret)
		ret = config_u64(cfg, CFG_SECTION, "static_interval_ms", DEF_STATIC_INTERVAL_MS,
				 MIN_STATIC_INTERVAL_MS, MAX_STATIC_INTERVAL_MS, &d->static_interval_ms);
	if (!ret)
		ret = ifaces_parse(d, config_str(cfg, CFG_SECTION, "beacon_interfaces", ""));
	if (!ret)
		ret = config_each(cfg, CFG_SECTION, "peer", static_add, d);
	return ret;
}

static int tcp_start(struct link_driver **out, struct loop *loop, const struct config *cfg,
		     const struct mu_identity *id, const struct link_events *ev, void *user)
{
	struct tcp_driver *d = NULL;
	const char *listen_spec;
	int ret;

	*out = NULL;
	ret = mu_crypto_init();
	if (ret)
		return ret;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->id = id;
	d->ev = ev;
	d->user = user;
	d->lfd = d->bfd = -1;
	ret = read_config(d, cfg, &listen_spec);
	if (ret)
		goto out;
	ret = loop_timer_new(loop, &d->reap_timer, reap_run, d);
	if (ret)
		goto out;
	if (strcmp(listen_spec, "off")) {
		ret = listen_start(d, listen_spec);
		if (ret)
			goto out;
	}
	if (d->n_ifaces) {
		ret = beacon_start(d);
		if (ret)
			goto out;
	}
	if (d->n_statics) {
		ret = loop_timer_new(loop, &d->static_timer, static_report, d);
		if (ret)
			goto out;
		loop_timer_arm(d->static_timer, 0);
	}
out:
	if (ret)
		tcp_stop(ld_of(d));
	else
		*out = ld_of(d);
	return ret;
}

static void fd_drop(struct loop *loop, int *fd)
{
	if (*fd < 0)
		return;
	loop_del_fd(loop, *fd);
	close(*fd);
	*fd = -1;
}

static void tcp_stop(struct link_driver *ld)
{
	struct tcp_driver *d = drv_of(ld);

	if (!d || d->stopped)
		return;
	d->stopped = true;
	fd_drop(d->loop, &d->lfd);
	fd_drop(d->loop, &d->bfd); /* closing leaves the multicast groups */
	loop_timer_free(d->accept_timer);
	loop_timer_free(d->reap_timer);
	loop_timer_free(d->beacon_timer);
	loop_timer_free(d->static_timer);
	d->accept_timer = d->reap_timer = d->beacon_timer = d->static_timer = NULL;
	for (struct tcp_link *tl = d->links; tl; tl = tl->next)
		link_teardown(tl);
	if (d->depth == 0)
		drv_free(d);
}

/* A radio driver says something changed on ifname. Only beacon interfaces
 * matter; nothing here calls the core (we are inside its callback). */
static void tcp_kick(struct link_driver *ld, const char *ifname, enum link_iface_ev ev)
{
	struct tcp_driver *d = drv_of(ld);
	struct tcp_iface *ifc = NULL;
	uint64_t now = loop_now_mono_ms() + 1;
	uint8_t buf[BEACON_BYTES];

	if (!d || d->stopped || d->bfd < 0 || !ifname)
		return;
	for (unsigned i = 0; i < d->n_ifaces && !ifc; i++)
		if (!strcmp(d->ifaces[i].name, ifname))
			ifc = &d->ifaces[i];
	if (!ifc)
		return;
	switch (ev) {
	case IFACE_DOWN:
		/* Forget the index: the interface may come back as another
		 * one (hot-plug, re-created by the radio driver). Leaving the
		 * group is the kernel's business when the device goes. */
		ifc->joined = false;
		ifc->idx = 0;
		return;
	case IFACE_UP:
		/* Re-resolve and re-join now: the index may have changed. */
		ifc->joined = false;
		ifc->kick_ms = 0;
		break;
	case IFACE_PEER_NEW:
		break;
	case IFACE_PEER_GONE:
		/* Sessions over it end by TCP keepalive / user timeout. */
		return;
	}
	iface_join(d, ifc);
	if (!ifc->joined || !d->lport || (ifc->kick_ms && now - ifc->kick_ms < KICK_GAP_MS))
		return;
	ifc->kick_ms = now;
	if (!beacon_make(d, buf))
		beacon_send_on(d, ifc, buf);
}

static void tcp_status(const struct link_driver *ld, struct link_status *out)
{
	const struct tcp_driver *d = (const struct tcp_driver *)(const void *)ld;
	uint64_t now = loop_now_mono_ms() + 1;
	uint64_t recent = 3 * d->beacon_interval_ms;
	size_t len = 0;

	memset(out, 0, sizeof(*out));
	out->driver = link_tcp_ops.name;
	snprintf(out->mode, sizeof(out->mode), "ip");
	for (unsigned i = 0; i < d->n_ifaces; i++) {
		int w = snprintf(out->iface + len, sizeof(out->iface) - len, "%s%s", i ? " " : "",
				 d->ifaces[i].name);

		if (w < 0 || (size_t)w >= sizeof(out->iface) - len)
			break; /* truncated: the list is for display */
		len += (size_t)w;
	}
	out->port = d->lport;
	if (recent < PEER_RECENT_MIN_MS)
		recent = PEER_RECENT_MIN_MS;
	for (unsigned i = 0; i < PEER_SLOTS; i++)
		if (d->peers[i].last_ms && now - d->peers[i].last_ms <= recent)
			out->peers_seen++;
	out->stats = d->closed;
	for (const struct tcp_link *tl = d->links; tl; tl = tl->next) {
		if (tl->state == TL_UP)
			out->links_up++;
		stats_add(&out->stats, &tl->base.stats);
	}
	for (const struct tcp_link *tl = d->reap; tl; tl = tl->next)
		stats_add(&out->stats, &tl->base.stats);
}

const struct link_ops link_tcp_ops = {
    .name = "tcp",
    .start = tcp_start,
    .stop = tcp_stop,
    .connect = tcp_connect,
    .send = tcp_send,
    .queued = tcp_queued,
    .close = tcp_close,
    .status = tcp_status,
    .kick = tcp_kick,
};
