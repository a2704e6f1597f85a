/* The Bluetooth driver's link machinery (transport/bluetooth.c, included)
 * over an AF_UNIX SOCK_SEQPACKET socketpair, which keeps packet boundaries
 * as an L2CAP channel does: the stream is cut into packets of at most the
 * MTU and put back together in order, a full socket makes the queue wait and
 * link_drained follows when it empties, the queue cap gives -ENOBUFS, the
 * core is asked to keep only a few KB queued, and close() reports
 * link_down on a later turn (the peer sees the end too). */
#include "testutil.h"

#include <sys/socket.h>

#include <sodium.h>

#include "../../transport/bluetooth.c"

#define TOTAL (600u * 1024)

static struct loop *loop;
static struct loop_timer *quit_timer;
static uint8_t *sent, *rcvd;
static size_t nrcvd, max_packet, drained, downs;
static int down_err[2];
static struct link *down_lk[2];
static bool in_close;

static void ev_peer_seen(void *user, struct link_driver *drv, const uint8_t key[static MU_KEY_BYTES],
			 const struct link_addr *addr)
{
	(void)user, (void)drv, (void)key, (void)addr;
}

static void ev_link_up(void *user, struct link *lk, int inbound)
{
	(void)user, (void)lk, (void)inbound;
}

static void ev_link_data(void *user, struct link *lk, const uint8_t *p, size_t n)
{
	(void)user, (void)lk;
	CHECK(nrcvd + n <= TOTAL);
	memcpy(rcvd + nrcvd, p, n);
	nrcvd += n;
	if (n > max_packet)
		max_packet = n;
	if (nrcvd == TOTAL)
		loop_quit(loop, 0);
}

static void ev_link_drained(void *user, struct link *lk)
{
	(void)user, (void)lk;
	drained++;
}

static void ev_link_down(void *user, struct link *lk, int err)
{
	(void)user;
	CHECK(!in_close); /* never from inside close() */
	CHECK(downs < 2);
	down_lk[downs] = lk;
	down_err[downs++] = err;
	if (downs == 2)
		loop_quit(loop, 0);
}

static const struct link_events events = {
    .peer_seen = ev_peer_seen,
    .link_up = ev_link_up,
    .link_data = ev_link_data,
    .link_drained = ev_link_drained,
    .link_down = ev_link_down,
};

static void quit(void *user)
{
	(void)user;
	loop_quit(loop, 1);
}

static struct bt_driver *driver_new(uint16_t mtu)
{
	struct bt_driver *d = calloc(1, sizeof(*d));

	CHECK(d);
	d->loop = loop;
	d->ev = &events;
	d->lfd = d->bus_fd = -1;
	d->mtu = mtu;
	d->queue_bytes = DEF_QUEUE_BYTES;
	snprintf(d->adapter, sizeof(d->adapter), "hci9");
	CHECK_OK(loop_timer_new(loop, &d->reap_timer, reap_run, d));
	return d;
}

static struct bt_link *adopt(struct bt_driver *d, int fd, bool inbound)
{
	struct bt_link *bl = link_new(d, fd);

	CHECK(bl);
	snprintf(bl->base.peer.text, sizeof(bl->base.peer.text), "hci9/%s", inbound ? "in" : "out");
	CHECK_OK(loop_add_fd(loop, fd, EPOLLIN, link_io, bl));
	bl->events = EPOLLIN;
	list_add(&d->links, bl);
	link_up_now(bl, inbound);
	return bl;
}

static void run_case(uint16_t mtu)
{
	struct bt_driver *d = driver_new(mtu);
	struct bt_link *a, *b;
	int sv[2], small = 2 * mtu + 4096; /* AF_UNIX: a packet must fit the send buffer */

	nrcvd = max_packet = drained = downs = 0;
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv));
	/* Small socket buffers: the queue must wait for the socket. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	a = adopt(d, sv[0], false);
	b = adopt(d, sv[1], true);
	/* No Bluetooth socket: the configured MTU; the core keeps a few KB. */
	CHECK(a->smtu == mtu && a->rmtu == mtu);
	CHECK(a->base.pump_high_water == (DEF_QUEUE_BYTES > 2u * mtu ? DEF_QUEUE_BYTES : 2u * mtu));
	CHECK(a->base.pump_high_water < (256u << 10)); /* the core default */
	/* In uneven writes, like session records. */
	for (size_t off = 0; off < TOTAL;) {
		size_t k = 1 + randombytes_uniform(9000);

		if (k > TOTAL - off)
			k = TOTAL - off;
		CHECK_OK(link_bluetooth_ops.send(&a->base, sent + off, k));
		off += k;
	}
	CHECK(link_bluetooth_ops.queued(&a->base) > 0);
	CHECK_RET(link_bluetooth_ops.send(&a->base, sent, LINK_SENDQ_MAX), -ENOBUFS);
	loop_timer_arm(quit_timer, 20000);
	CHECK_OK(loop_run(loop));
	if (nrcvd != TOTAL || memcmp(sent, rcvd, TOTAL)) {
		size_t i = 0;

		while (i < nrcvd && sent[i] == rcvd[i])
			i++;
		fprintf(stderr, "mtu %u: received %zu of %u, first difference at %zu\n", mtu, nrcvd, TOTAL,
			i);
		CHECK(0);
	}
	CHECK(max_packet <= mtu);
	CHECK(link_bluetooth_ops.queued(&a->base) == 0);
	CHECK(drained >= 1);
	CHECK(a->base.stats.bytes_out == TOTAL && b->base.stats.bytes_in == TOTAL);
	CHECK(a->base.stats.frames_out == b->base.stats.frames_in);
	CHECK(a->base.stats.frames_out >= (TOTAL + mtu - 1) / mtu);
	/* close: link_down(0) later for a; b sees the end of the channel. */
	in_close = true;
	link_bluetooth_ops.close(&a->base);
	in_close = false;
	CHECK(downs == 0);
	CHECK_RET(link_bluetooth_ops.send(&a->base, sent, 1), -EPIPE);
	loop_timer_arm(quit_timer, 5000);
	CHECK_OK(loop_run(loop));
	CHECK(downs == 2 && down_err[0] == 0 && down_err[1] == 0);
	CHECK((down_lk[0] == &a->base && down_lk[1] == &b->base) ||
	      (down_lk[0] == &b->base && down_lk[1] == &a->base));
	/* Both freed; the totals stay in the driver's status. */
	CHECK(!d->links && !d->reap);
	CHECK(d->closed.bytes_out == TOTAL && d->closed.bytes_in == TOTAL);
	d->stopped = true;
	loop_timer_free(d->reap_timer);
	d->reap_timer = NULL;
	drv_free(d);
}

static void test_stream(void)
{
	static const uint16_t mtus[] = {BT_LE_MTU_MIN, 672, 2048, 8192};

	CHECK_OK(mu_crypto_init());
	CHECK_OK(loop_new(&loop));
	CHECK_OK(loop_timer_new(loop, &quit_timer, quit, NULL));
	sent = malloc(TOTAL);
	rcvd = malloc(TOTAL);
	CHECK(sent && rcvd);
	randombytes_buf(sent, TOTAL);
	for (size_t i = 0; i < sizeof(mtus) / sizeof(mtus[0]); i++)
		run_case(mtus[i]);
	free(sent);
	free(rcvd);
	loop_timer_free(quit_timer);
	loop_free(loop);
}

static const struct test tests[] = {
    {"/bt/link/socketpair-stream", test_stream},
};

TEST_MAIN(tests)
