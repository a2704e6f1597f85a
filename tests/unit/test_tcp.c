/* The IP driver end to end: two driver instances on one loop in one
 * process, over loopback on ephemeral ports; beacons over a veth pair
 * between two private network namespaces (a forked child, root only). No
 * traffic leaves loopback or the test's own namespaces. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "beacon.h"
#include "clock.h"
#include "config.h"
#include "identity.h"
#include "link.h"
#include "loop.h"

#define SKIP_STATUS 77
#define PEERS_MAX   8

static const struct link_ops *ops = &link_tcp_ops;

struct world;

struct seen {
	uint8_t key[MU_KEY_BYTES];
	struct link_addr addr;
	int count;
};

struct side {
	struct world *w;
	struct mu_identity *id;
	struct link_driver *drv;
	struct link *lk; /* the link between link_up and link_down */
	int ups, downs, inbound, down_err, data_calls;
	struct link *down_lk; /* dead after link_down: compare, never dereference */
	void *down_core_data;
	char down_text[LINK_ADDR_TEXT];
	uint8_t *rx;
	size_t rx_len, rx_cap;
	struct seen seen[PEERS_MAX];
	int n_seen, seen_calls;
	/* Optional behaviour injected into the callbacks. */
	void (*on_up)(struct side *s);
	void (*on_data)(struct side *s);
};

struct world {
	struct loop *loop;
	struct side a, b;
	struct loop_timer *tick;
	int (*until)(struct world *w);
	uint64_t deadline;
	int timed_out;
};

/* ---- callbacks (the test's "core") ---- */

static void ev_peer_seen(void *user, struct link_driver *drv, const uint8_t key[static MU_KEY_BYTES],
			 const struct link_addr *addr)
{
	struct side *s = user;
	int i;

	CHECK(drv == s->drv);
	s->seen_calls++;
	for (i = 0; i < s->n_seen; i++)
		if (!memcmp(s->seen[i].key, key, MU_KEY_BYTES))
			break;
	if (i == s->n_seen) {
		CHECK(s->n_seen < PEERS_MAX);
		memcpy(s->seen[s->n_seen++].key, key, MU_KEY_BYTES);
	}
	s->seen[i].addr = *addr;
	s->seen[i].count++;
}

static void ev_link_up(void *user, struct link *lk, int inbound)
{
	struct side *s = user;

	CHECK(!s->lk); /* one link per side in these tests */
	CHECK(lk->ops == ops && lk->drv == s->drv && !lk->core_data);
	s->lk = lk;
	lk->core_data = s;
	s->ups++;
	s->inbound = inbound;
	if (s->on_up)
		s->on_up(s);
}

static void ev_link_data(void *user, struct link *lk, const uint8_t *p, size_t n)
{
	struct side *s = user;

	/* Never for a link that is not up (closed, failed, unknown). */
	CHECK(lk == s->lk && lk->core_data == s);
	CHECK(n > 0);
	s->data_calls++;
	if (s->rx_len + n > s->rx_cap) {
		s->rx_cap = (s->rx_len + n) * 2;
		s->rx = realloc(s->rx, s->rx_cap);
		CHECK(s->rx);
	}
	memcpy(s->rx + s->rx_len, p, n);
	s->rx_len += n;
	if (s->on_data)
		s->on_data(s);
}

static void ev_link_down(void *user, struct link *lk, int err)
{
	struct side *s = user;

	/* Either the link we saw come up, or a connect that never did. */
	CHECK(lk == s->lk || !lk->core_data);
	if (lk == s->lk)
		s->lk = NULL;
	s->downs++;
	s->down_err = err;
	s->down_lk = lk;
	s->down_core_data = lk->core_data;
	memcpy(s->down_text, lk->peer.text, sizeof(s->down_text));
}

static const struct link_events events = {
    .peer_seen = ev_peer_seen,
    .link_up = ev_link_up,
    .link_data = ev_link_data,
    .link_down = ev_link_down,
};

/* ---- harness ---- */

static void tick(void *user)
{
	struct world *w = user;

	if (w->until && w->until(w)) {
		loop_quit(w->loop, 0);
		return;
	}
	if (loop_now_mono_ms() >= w->deadline) {
		w->timed_out = 1;
		loop_quit(w->loop, 0);
		return;
	}
	loop_timer_arm(w->tick, 2);
}

/* Runs the loop until until(w) holds (0) or ms pass (-ETIMEDOUT). until
 * NULL: just run for ms. */
static int run_until(struct world *w, int (*until)(struct world *), uint64_t ms)
{
	w->until = until;
	w->timed_out = 0;
	w->deadline = loop_now_mono_ms() + ms;
	loop_timer_arm(w->tick, 0);
	CHECK_OK(loop_run(w->loop));
	loop_timer_disarm(w->tick);
	return w->timed_out ? (until ? -ETIMEDOUT : 0) : 0;
}

static void world_init(struct world *w)
{
	memset(w, 0, sizeof(*w));
	CHECK_OK(mu_crypto_init());
	CHECK_OK(loop_new(&w->loop));
	CHECK_OK(loop_timer_new(w->loop, &w->tick, tick, w));
	w->a.w = w->b.w = w;
	CHECK_OK(identity_generate(&w->a.id));
	CHECK_OK(identity_generate(&w->b.id));
}

static int side_start(struct side *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int side_start(struct side *s, const char *fmt, ...)
{
	struct config *cfg = NULL;
	char text[1024];
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	CHECK_OK(config_parse(&cfg, text));
	ret = ops->start(&s->drv, s->w->loop, cfg, s->id, &events, s);
	/* The driver keeps nothing from the config. */
	config_free(cfg);
	CHECK(ret ? !s->drv : !!s->drv);
	return ret;
}

static void world_free(struct world *w)
{
	struct side *sides[2] = {&w->a, &w->b};

	for (int i = 0; i < 2; i++) {
		ops->stop(sides[i]->drv);
		identity_free(sides[i]->id);
		free(sides[i]->rx);
	}
	loop_timer_free(w->tick);
	loop_free(w->loop);
}

static uint16_t port_of(const struct side *s)
{
	struct link_status st;

	ops->status(s->drv, &st);
	return st.port;
}

static struct link_addr loopback(uint16_t port)
{
	struct link_addr a = {.sa_len = sizeof(struct sockaddr_in6)};
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a.sa;

	s6->sin6_family = AF_INET6;
	s6->sin6_addr = in6addr_loopback;
	s6->sin6_port = htons(port);
	snprintf(a.text, sizeof(a.text), "[::1]:%u", port);
	return a;
}

static int both_up(struct world *w)
{
	return w->a.lk && w->b.lk;
}

/* A listens on an ephemeral loopback port, B dials it. */
static void connect_pair(struct world *w)
{
	struct link_addr to;

	world_init(w);
	CHECK_OK(side_start(&w->a, "[tcp]\nlisten = [::1]:0\n"));
	CHECK_OK(side_start(&w->b, "[tcp]\nlisten = off\n"));
	CHECK(port_of(&w->a) != 0);
	CHECK(port_of(&w->b) == 0);
	to = loopback(port_of(&w->a));
	CHECK_OK(ops->connect(w->b.drv, &to));
	CHECK(w->b.ups == 0); /* never synchronous */
	CHECK_OK(run_until(w, both_up, 5000));
}

/* Stream byte i of a test payload. */
static uint8_t pattern(size_t i)
{
	return (uint8_t)((i * 7 + i / 251) % 251);
}

/* ---- tests ---- */

static void test_find(void)
{
	size_t n = 0;

	CHECK(link_ops_find("tcp") == &link_tcp_ops);
	CHECK(!link_ops_find("tcpx"));
	CHECK(!link_ops_find(NULL));
	for (; link_drivers[n]; n++)
		CHECK(link_drivers[n]->name && link_drivers[n]->start && link_drivers[n]->stop &&
		      link_drivers[n]->connect && link_drivers[n]->send && link_drivers[n]->queued &&
		      link_drivers[n]->close && link_drivers[n]->status);
	CHECK(n >= 1);
}

static void test_up_both_sides(void)
{
	struct world w;
	struct link_status st;
	char want[LINK_ADDR_TEXT];

	connect_pair(&w);
	CHECK(w.a.ups == 1 && w.b.ups == 1);
	CHECK(w.a.inbound == 1 && w.b.inbound == 0);
	CHECK(w.a.downs == 0 && w.b.downs == 0);
	snprintf(want, sizeof(want), "[::1]:%u", port_of(&w.a));
	CHECK(!strcmp(w.b.lk->peer.text, want));
	CHECK(!strncmp(w.a.lk->peer.text, "[::1]:", 6));
	ops->status(w.a.drv, &st);
	CHECK(!strcmp(st.driver, "tcp") && !strcmp(st.mode, "ip") && st.iface[0] == 0);
	CHECK(st.links_up == 1 && st.peers_seen == 0 && st.freq_mhz == 0);
	ops->status(w.b.drv, &st);
	CHECK(st.links_up == 1 && st.port == 0);

	/* stop: every link closed, and no callback afterwards. */
	ops->stop(w.a.drv);
	w.a.drv = NULL;
	CHECK(w.a.downs == 0);
	CHECK_OK(run_until(&w, NULL, 100));
	CHECK(w.a.downs == 0);
	CHECK(w.b.downs == 1 && w.b.down_err == 0); /* A's socket closed cleanly */
	world_free(&w);
}

static int got_3mb(struct world *w)
{
	return w->a.rx_len >= (3u << 20) && !ops->queued(w->b.lk);
}

static void test_send_3mb(void)
{
	const size_t n = 3u << 20;
	uint8_t *buf = malloc(n);
	struct link_status sa, sb;
	struct world w;

	CHECK(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = pattern(i);
	connect_pair(&w);
	CHECK_OK(ops->send(w.b.lk, buf, n));
	/* More than the kernel takes at once: the queue and EPOLLOUT carry
	 * the rest. */
	CHECK(ops->queued(w.b.lk) > 0);
	CHECK(ops->queued(w.b.lk) <= n);
	CHECK_OK(run_until(&w, got_3mb, 10000));
	CHECK(w.a.rx_len == n);
	CHECK(!memcmp(w.a.rx, buf, n));
	CHECK(w.a.data_calls > 1);
	ops->status(w.a.drv, &sa);
	ops->status(w.b.drv, &sb);
	CHECK(sb.stats.bytes_out == n && sb.stats.frames_out == 1);
	CHECK(sa.stats.bytes_in == n && sa.stats.frames_in == (uint64_t)w.a.data_calls);
	CHECK(w.b.lk->stats.bytes_out == n && w.a.lk->stats.bytes_in == n);

	/* And back the other way, small. */
	CHECK_OK(ops->send(w.a.lk, (const uint8_t *)"ack", 3));
	CHECK_OK(run_until(&w, NULL, 50));
	CHECK(w.b.rx_len == 3 && !memcmp(w.b.rx, "ack", 3));
	world_free(&w);
	free(buf);
}

static int drained(struct world *w)
{
	return w->b.lk && !ops->queued(w->b.lk) && w->a.rx_len == w->b.lk->stats.bytes_out;
}

static void test_enobufs(void)
{
	const size_t chunk = 1u << 20;
	uint8_t *buf = malloc(LINK_SENDQ_MAX + 1);
	size_t sent = 0;
	struct world w;
	int ret = 0, i;

	CHECK(buf);
	connect_pair(&w);
	/* One send over the cap never fits. */
	CHECK_RET(ops->send(w.b.lk, buf, LINK_SENDQ_MAX + 1), -ENOBUFS);
	CHECK(ops->queued(w.b.lk) == 0);
	CHECK_OK(ops->send(w.b.lk, buf, 0));

	/* Without the loop running nobody reads: the kernel buffers fill,
	 * then the queue, then -ENOBUFS with nothing of that send queued. */
	for (i = 0; i < 64; i++) {
		size_t before = ops->queued(w.b.lk);

		for (size_t k = 0; k < chunk; k++)
			buf[k] = pattern(sent + k);
		ret = ops->send(w.b.lk, buf, chunk);
		if (ret == -ENOBUFS) {
			CHECK(ops->queued(w.b.lk) == before);
			CHECK(before + chunk > LINK_SENDQ_MAX);
			break;
		}
		CHECK_OK(ret);
		sent += chunk;
		CHECK(ops->queued(w.b.lk) <= LINK_SENDQ_MAX);
	}
	CHECK(ret == -ENOBUFS);

	/* It drains, and the stream is intact. */
	CHECK_OK(run_until(&w, drained, 10000));
	CHECK(w.a.rx_len == sent);
	for (size_t k = 0; k < sent; k++)
		if (w.a.rx[k] != pattern(k)) {
			fprintf(stderr, "byte %zu differs\n", k);
			CHECK(0);
		}
	CHECK_OK(ops->send(w.b.lk, buf, chunk));
	world_free(&w);
	free(buf);
}

static int both_down(struct world *w)
{
	return w->a.downs && w->b.downs;
}

static int b_down(struct world *w)
{
	return w->b.downs;
}

static void test_close_once(void)
{
	struct link *lk;
	struct world w;

	connect_pair(&w);
	lk = w.b.lk;
	ops->close(lk);
	/* Not from inside close(). */
	CHECK(w.b.downs == 0);
	CHECK(w.b.lk == lk);
	ops->close(lk); /* a second close is a no-op */
	CHECK_RET(ops->send(lk, (const uint8_t *)"x", 1), -EPIPE);
	CHECK(ops->queued(lk) == 0);
	CHECK_OK(run_until(&w, both_down, 5000));
	CHECK(w.b.down_lk == lk && w.b.down_err == 0);
	CHECK(w.a.down_err == 0);
	CHECK_OK(run_until(&w, NULL, 100));
	CHECK(w.a.downs == 1 && w.b.downs == 1);
	CHECK(!w.a.lk && !w.b.lk);
	world_free(&w);
}

static void test_refused(void)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t sl = sizeof(sa);
	struct link_addr to;
	struct world w;
	/* Bound and not listening: the port stays ours, and refuses. */
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	world_init(&w);
	CHECK_OK(side_start(&w.b, "[tcp]\nlisten = off\n"));
	to = loopback(ntohs(sa.sin6_port));
	CHECK_OK(ops->connect(w.b.drv, &to));
	CHECK(w.b.downs == 0);
	CHECK_OK(run_until(&w, b_down, 5000));
	CHECK_RET(w.b.down_err, -ECONNREFUSED);
	CHECK(w.b.ups == 0 && w.b.downs == 1);
	CHECK(w.b.down_core_data == NULL);
	CHECK(!strcmp(w.b.down_text, to.text));
	world_free(&w);
	close(fd);
}

static void test_timeout(void)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), fill[2];
	struct link_addr to;
	struct world w;
	uint64_t t0;

	/* A listener that never accepts, its accept queue full (backlog 0
	 * holds one): Linux drops further SYNs, so a connect hangs. */
	CHECK(lfd >= 0);
	CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(lfd, 0) == 0);
	CHECK(getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
	for (int i = 0; i < 2; i++) {
		fill[i] = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		CHECK(fill[i] >= 0);
		CHECK(connect(fill[i], (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
	}
	world_init(&w);
	CHECK_OK(run_until(&w, NULL, 50));
	CHECK_OK(side_start(&w.b, "[tcp]\nlisten = off\nconnect_timeout_ms = 300\n"));
	to = loopback(ntohs(sa.sin6_port));
	t0 = loop_now_mono_ms();
	CHECK_OK(ops->connect(w.b.drv, &to));
	CHECK_OK(run_until(&w, b_down, 5000));
	CHECK_RET(w.b.down_err, -ETIMEDOUT);
	CHECK(loop_now_mono_ms() - t0 >= 300);
	CHECK(loop_now_mono_ms() - t0 < 2000);
	CHECK(w.b.ups == 0 && w.b.downs == 1 && !w.b.down_core_data);
	world_free(&w);
	close(fill[0]);
	close(fill[1]);
	close(lfd);
}

static int seen_twice(struct world *w)
{
	return w->b.seen_calls >= 2;
}

static void connect_seen(struct side *s)
{
	CHECK(s->n_seen >= 1);
	CHECK_OK(ops->connect(s->drv, &s->seen[0].addr));
}

static void test_static_peer(void)
{
	static const uint8_t zero[MU_KEY_BYTES];
	const struct sockaddr_in6 *s6;
	struct world w;
	uint64_t t0;

	world_init(&w);
	CHECK_OK(side_start(&w.a, "[tcp]\nlisten = [::1]:0\n"));
	CHECK_OK(side_start(&w.b, "[tcp]\nlisten = off\npeer = [::1]:%u\nstatic_interval_ms = 100\n",
			    port_of(&w.a)));
	CHECK(w.b.seen_calls == 0); /* not from inside start() */
	t0 = loop_now_mono_ms();
	CHECK_OK(run_until(&w, seen_twice, 3000));
	CHECK(loop_now_mono_ms() - t0 >= 90);
	CHECK(w.b.n_seen == 1 && !memcmp(w.b.seen[0].key, zero, MU_KEY_BYTES));
	s6 = (const struct sockaddr_in6 *)&w.b.seen[0].addr.sa;
	CHECK(s6->sin6_family == AF_INET6 && ntohs(s6->sin6_port) == port_of(&w.a));
	CHECK(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));
	/* The core connects to what it was told. */
	connect_seen(&w.b);
	CHECK_OK(run_until(&w, both_up, 5000));
	CHECK(w.a.inbound == 1);
	world_free(&w);
}

static void close_on_data(struct side *s)
{
	ops->close(s->lk);
}

/* The core closes the link from inside link_data while more bytes are
 * waiting: no further link_data, one link_down, on both sides. */
static void test_close_in_callback(void)
{
	const size_t n = 1u << 20;
	uint8_t *buf = calloc(1, n);
	struct world w;

	CHECK(buf);
	connect_pair(&w);
	w.a.on_data = close_on_data;
	CHECK_OK(ops->send(w.b.lk, buf, n));
	CHECK_OK(run_until(&w, both_down, 5000));
	CHECK_OK(run_until(&w, NULL, 50));
	CHECK(w.a.data_calls == 1 && w.a.downs == 1 && w.a.down_err == 0);
	CHECK(w.b.downs == 1);
	world_free(&w);
	free(buf);
}

static void stop_on_up(struct side *s)
{
	ops->stop(s->drv);
	s->drv = NULL;
}

static void test_stop_in_callback(void)
{
	struct link_addr to;
	struct world w;

	world_init(&w);
	CHECK_OK(side_start(&w.a, "[tcp]\nlisten = [::1]:0\n"));
	CHECK_OK(side_start(&w.b, "[tcp]\nlisten = off\n"));
	w.a.on_up = stop_on_up;
	to = loopback(port_of(&w.a));
	CHECK_OK(ops->connect(w.b.drv, &to));
	CHECK_OK(run_until(&w, both_up, 5000));
	CHECK(!w.a.drv);
	CHECK_OK(run_until(&w, b_down, 5000));
	CHECK(w.a.downs == 0 && w.b.downs == 1);
	world_free(&w);
}

static void test_config_errors(void)
{
	static const char *const bad[] = {
	    "listen = bogus",
	    "listen = ::1:7420",
	    "listen = [::1]",
	    "listen = [::1]:70000",
	    "listen = 1.2.3.4:-1",
	    "listen = [::1%nosuchif0]:1",
	    "peer = host.example:7420",
	    "peer = [::1]:0",
	    "peer = 10.0.0.1",
	    "beacon_interval_ms = 99",
	    "beacon_interval_ms = 60001",
	    "beacon_port = 0",
	    "connect_timeout_ms = x",
	    "beacon_interfaces = a b c d e f g h i",
	    "beacon_interfaces = abcdefghijklmnopq",
	};
	struct world w;

	world_init(&w);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = side_start(&w.a, "[tcp]\nlisten = off\n%s\n", bad[i]);

		if (ret != MU_E_CONFIG)
			fprintf(stderr, "'%s' gave %s\n", bad[i], mu_strerror(ret));
		CHECK(ret == MU_E_CONFIG);
	}
	/* Good ones, for contrast (IPv4 and scoped peers). */
	CHECK_OK(
	    side_start(&w.a, "[tcp]\nlisten = 127.0.0.1:0\npeer = 127.0.0.1:9\npeer = [fe80::1%%lo]:9\n"));
	CHECK(port_of(&w.a) != 0);
	world_free(&w);
}

/* ---- beacons in network namespaces ---- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd) == 0 ? 0 : -1;
}

static int ns_enter(int fd)
{
	return setns(fd, CLONE_NEWNET);
}

static struct seen *seen_key(struct side *s, const uint8_t key[static MU_KEY_BYTES])
{
	for (int i = 0; i < s->n_seen; i++)
		if (!memcmp(s->seen[i].key, key, MU_KEY_BYTES))
			return &s->seen[i];
	return NULL;
}

static int heard_each_other(struct world *w)
{
	return seen_key(&w->a, identity_sign_pk(w->b.id)) && seen_key(&w->b, identity_sign_pk(w->a.id));
}

static struct mu_identity *third;

static int heard_third(struct world *w)
{
	return seen_key(&w->a, identity_sign_pk(third)) != NULL;
}

/* A beacon sent from [src%mt1] into the veth (arrives in A's namespace). */
static void send_beacon(const char *src, const struct mu_identity *id, uint64_t ts, int tamper)
{
	struct sockaddr_in6 from = {.sin6_family = AF_INET6}, to = {.sin6_family = AF_INET6};
	struct beacon b = {.port = 7999, .ts_ms = ts};
	uint8_t enc[BEACON_BYTES];
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	memcpy(b.key, identity_sign_pk(id), MU_KEY_BYTES);
	randombytes_buf(b.nonce, sizeof(b.nonce));
	CHECK_OK(beacon_encode(enc, &b, id));
	if (tamper)
		enc[BEACON_BYTES - 1] ^= 1;
	CHECK(inet_pton(AF_INET6, src, &from.sin6_addr) == 1);
	from.sin6_scope_id = if_nametoindex("mt1");
	CHECK(from.sin6_scope_id);
	CHECK(bind(fd, (struct sockaddr *)&from, sizeof(from)) == 0);
	/* Only A's namespace, across the veth, is to hear these. */
	CHECK(setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &(int){0}, sizeof(int)) == 0);
	CHECK(inet_pton(AF_INET6, "ff02::1", &to.sin6_addr) == 1);
	to.sin6_port = htons(7421);
	to.sin6_scope_id = from.sin6_scope_id;
	CHECK(sendto(fd, enc, sizeof(enc), 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)sizeof(enc));
	close(fd);
}

static int netns_child(void)
{
	const struct sockaddr_in6 *s6;
	struct link_status st;
	struct link_addr a_at;
	unsigned mt0_idx;
	struct world w;
	struct seen *sn;
	int ns_a, ns_b;
	uint8_t seed[32];

	/* Two fresh namespaces; B's stays reachable through an fd that the
	 * `ip` child inherits (no O_CLOEXEC) to move mt1 into it. */
	if (unshare(CLONE_NEWNET))
		return SKIP_STATUS;
	ns_b = open("/proc/self/ns/net", O_RDONLY);
	CHECK(ns_b >= 0);
	CHECK(unshare(CLONE_NEWNET) == 0);
	ns_a = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	CHECK(ns_a >= 0);
	if (sh("ip link add mt0 type veth peer name mt1 2>/dev/null"))
		return SKIP_STATUS; /* no veth in this kernel */
	/* Fixed link-local addresses without DAD: usable at once. The extra
	 * ones on mt1 (for forged beacons) are deprecated so that B's own
	 * beacons keep fe80::b as their source. */
	CHECK_OK(sh("ip link set lo up && ip link set mt1 netns /proc/self/fd/%d && "
		    "ip link set mt0 addrgenmode none && ip addr add fe80::a/64 dev mt0 nodad && "
		    "ip link set mt0 up",
		    ns_b));
	mt0_idx = if_nametoindex("mt0");
	CHECK(mt0_idx);
	CHECK(ns_enter(ns_b) == 0);
	CHECK_OK(sh("ip link set lo up && ip link set mt1 addrgenmode none && "
		    "ip addr add fe80::b/64 dev mt1 nodad && "
		    "for a in c1 c2 c3 c4; do ip addr add fe80::$a/64 dev mt1 nodad preferred_lft 0 || exit "
		    "1; done && "
		    "ip link set mt1 up"));

	world_init(&w);
	memset(seed, 0x33, sizeof(seed));
	CHECK_OK(identity_from_seed(&third, seed));
	/* Each driver opens its sockets in its own namespace. */
	CHECK(ns_enter(ns_a) == 0);
	CHECK_OK(
	    side_start(&w.a, "[tcp]\nlisten = [::]:0\nbeacon_interfaces = mt0\nbeacon_interval_ms = 100\n"));
	CHECK(ns_enter(ns_b) == 0);
	CHECK_OK(
	    side_start(&w.b, "[tcp]\nlisten = [::]:0\nbeacon_interfaces = mt1\nbeacon_interval_ms = 100\n"));
	CHECK_OK(run_until(&w, heard_each_other, 5000));

	/* A heard B at B's link-local address on mt0, with B's TCP port. */
	sn = seen_key(&w.a, identity_sign_pk(w.b.id));
	s6 = (const struct sockaddr_in6 *)&sn->addr.sa;
	CHECK(s6->sin6_family == AF_INET6 && s6->sin6_scope_id == mt0_idx);
	CHECK(ntohs(s6->sin6_port) == port_of(&w.b));
	CHECK(!strncmp(sn->addr.text, "[fe80::b%", 9));
	CHECK(!seen_key(&w.a, identity_sign_pk(w.a.id)) && !seen_key(&w.b, identity_sign_pk(w.b.id)));
	sn = seen_key(&w.b, identity_sign_pk(w.a.id));
	a_at = sn->addr;
	s6 = (const struct sockaddr_in6 *)&a_at.sa;
	CHECK(ntohs(s6->sin6_port) == port_of(&w.a) && !strncmp(a_at.text, "[fe80::a%", 9));

	/* Forged and replayed beacons, each from its own source address so
	 * the per-source rate limit is not what stops them: A's own key, a
	 * stale one and a tampered one by a third key; then a good one by the
	 * third key, twice at once (the second falls to the rate limit). */
	send_beacon("fe80::c1", w.a.id, mu_now_ms(), 0);
	send_beacon("fe80::c2", third, mu_now_ms() - 600000, 0);
	send_beacon("fe80::c3", third, mu_now_ms(), 1);
	send_beacon("fe80::c4", third, mu_now_ms(), 0);
	send_beacon("fe80::c4", third, mu_now_ms(), 0);
	CHECK_OK(run_until(&w, heard_third, 3000));
	CHECK_OK(run_until(&w, NULL, 150));
	sn = seen_key(&w.a, identity_sign_pk(third));
	CHECK(sn->count == 1);
	s6 = (const struct sockaddr_in6 *)&sn->addr.sa;
	CHECK(ntohs(s6->sin6_port) == 7999 && !strncmp(sn->addr.text, "[fe80::c4%", 10));
	CHECK(!seen_key(&w.a, identity_sign_pk(w.a.id)));

	ops->status(w.a.drv, &st);
	CHECK(!strcmp(st.iface, "mt0") && !strcmp(st.mode, "ip") && st.peers_seen == 2);

	/* The core's next step: B connects to where A's beacon said (noted
	 * before the forgeries). */
	CHECK_OK(ops->connect(w.b.drv, &a_at));
	CHECK_OK(run_until(&w, both_up, 5000));
	CHECK(w.a.inbound == 1 && w.b.inbound == 0);
	CHECK_OK(ops->send(w.b.lk, (const uint8_t *)"hello", 5));
	CHECK_OK(run_until(&w, NULL, 50));
	CHECK(w.a.rx_len == 5 && !memcmp(w.a.rx, "hello", 5));

	world_free(&w);
	identity_free(third);
	close(ns_a);
	close(ns_b);
	return 0;
}

static void test_beacon_netns(void)
{
	pid_t pid;
	int status;

	if (geteuid() != 0 || system("ip -V >/dev/null 2>&1") != 0) {
		fprintf(stderr, "SKIP /tcp/beacon/veth-netns: needs root and iproute2 (ip)\n");
		return;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		exit(netns_child());
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_STATUS) {
		fprintf(stderr, "SKIP /tcp/beacon/veth-netns: cannot create network namespaces or veth\n");
		return;
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static const struct test tests[] = {
    {"/link/drivers/find", test_find},
    {"/tcp/connect/up-both-sides", test_up_both_sides},
    {"/tcp/send/3mb-intact", test_send_3mb},
    {"/tcp/send/enobufs", test_enobufs},
    {"/tcp/close/down-once-both-sides", test_close_once},
    {"/tcp/close/inside-link-data", test_close_in_callback},
    {"/tcp/stop/inside-link-up", test_stop_in_callback},
    {"/tcp/connect/refused", test_refused},
    {"/tcp/connect/timeout", test_timeout},
    {"/tcp/static/peer-seen", test_static_peer},
    {"/tcp/config/errors", test_config_errors},
    {"/tcp/beacon/veth-netns", test_beacon_netns},
};

TEST_MAIN(tests)
