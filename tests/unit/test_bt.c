/* The Bluetooth driver's pure pieces (transport/bt_proto.c): the node tag
 * in the advertisement, Bluetooth address text, PSM rules, the send queue
 * that cuts the stream into packets of at most one MTU; and the driver on a
 * host without Bluetooth: config errors, a start with no system bus or no
 * bluetoothd that logs and waits instead of failing, clean stops. Radio
 * paths: tests/radiolab/bt-*.sh; the link machinery over a socketpair:
 * test_bt_link.c. */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "bt_proto.h"
#include "config.h"
#include "identity.h"
#include "link.h"
#include "loop.h"

/* ---- tag ---- */

static void test_tag(void)
{
	uint8_t key[MU_KEY_BYTES], tag[BT_TAG_BYTES], back[BT_TAG_BYTES], k2[MU_KEY_BYTES];

	randombytes_buf(key, sizeof(key));
	key[0] |= 1; /* never all zero */
	bt_tag_make(tag, key);
	CHECK(!memcmp(tag, key, BT_TAG_BYTES));
	CHECK_OK(bt_tag_parse(back, tag, sizeof(tag)));
	CHECK(!memcmp(back, tag, BT_TAG_BYTES));
	bt_tag_key(k2, back);
	CHECK(!memcmp(k2, key, BT_TAG_BYTES));
	for (size_t i = BT_TAG_BYTES; i < MU_KEY_BYTES; i++)
		CHECK(k2[i] == 0);
	/* The legacy advertisement has exactly this much room: flags 3 +
	 * 128-bit UUID list 18 + manufacturer data (2 + 2 + tag) = 31. */
	CHECK(3 + 18 + 2 + 2 + BT_TAG_BYTES == 31);
}

static void test_tag_reject(void)
{
	uint8_t tag[BT_TAG_BYTES], buf[BT_TAG_BYTES + 1];

	memset(buf, 0xab, sizeof(buf));
	CHECK_RET(bt_tag_parse(tag, buf, BT_TAG_BYTES - 1), MU_E_FORMAT);
	CHECK_RET(bt_tag_parse(tag, buf, BT_TAG_BYTES + 1), MU_E_FORMAT);
	CHECK_RET(bt_tag_parse(tag, buf, 0), MU_E_FORMAT);
	CHECK_RET(bt_tag_parse(tag, NULL, BT_TAG_BYTES), MU_E_FORMAT);
	memset(buf, 0, sizeof(buf));
	CHECK_RET(bt_tag_parse(tag, buf, BT_TAG_BYTES), MU_E_FORMAT); /* zero: "unknown" to the core */
	for (size_t i = 0; i < BT_TAG_BYTES; i++)
		CHECK(tag[i] == 0);
}

/* ---- addresses, PSMs ---- */

static void test_addr(void)
{
	uint8_t a[BT_ADDR_BYTES];
	char s[BT_ADDR_TEXT];
	static const char *const bad[] = {
	    "",
	    "00:AA:01:00:00",
	    "00:AA:01:00:00:000",
	    "00:AA:01:00:00:0G",
	    "00-AA-01-00-00-00",
	    "00:AA:01:00:00:00 ",
	    " 0:AA:01:00:00:00",
	    "00:AA:01:00:0000:",
	};

	CHECK_OK(bt_addr_parse(a, "00:AA:01:02:03:Fe"));
	/* bdaddr_t order: least significant byte first. */
	CHECK(a[0] == 0xfe && a[1] == 0x03 && a[2] == 0x02 && a[3] == 0x01 && a[4] == 0xaa && a[5] == 0x00);
	bt_addr_format(s, a);
	CHECK(!strcmp(s, "00:AA:01:02:03:FE"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(a, 0x55, sizeof(a));
		CHECK_RET(bt_addr_parse(a, bad[i]), MU_E_FORMAT);
		for (int j = 0; j < BT_ADDR_BYTES; j++)
			CHECK(a[j] == 0);
	}
	CHECK_RET(bt_addr_parse(a, NULL), MU_E_FORMAT);
}

static void test_psm(void)
{
	uint16_t p = 0;

	CHECK(bt_psm_valid(0x80, true) && bt_psm_valid(0xff, true) && bt_psm_valid(0x81, true));
	CHECK(!bt_psm_valid(0x7f, true) && !bt_psm_valid(0x100, true) && !bt_psm_valid(0x1001, true));
	CHECK(bt_psm_valid(0x1001, false) && bt_psm_valid(0x1081, false) && bt_psm_valid(0xfeff, false));
	CHECK(!bt_psm_valid(0x1002, false)); /* even */
	CHECK(!bt_psm_valid(0x1101, false)); /* odd upper octet */
	CHECK(!bt_psm_valid(0x0081, false)); /* fixed range */
	CHECK_OK(bt_psm_parse("129", &p));
	CHECK(p == 0x81);
	CHECK_OK(bt_psm_parse("0x0081", &p));
	CHECK(p == 0x81);
	CHECK_OK(bt_psm_parse("0X1081", &p));
	CHECK(p == 0x1081);
	CHECK_RET(bt_psm_parse("", &p), MU_E_CONFIG);
	CHECK_RET(bt_psm_parse("0x", &p), MU_E_CONFIG);
	CHECK_RET(bt_psm_parse("0x10000", &p), MU_E_CONFIG);
	CHECK_RET(bt_psm_parse("65536", &p), MU_E_CONFIG);
	CHECK_RET(bt_psm_parse("12a", &p), MU_E_CONFIG);
	CHECK_RET(bt_psm_parse("-1", &p), MU_E_CONFIG);
}

/* ---- fragmentation ---- */

/* Feeds n random bytes in uneven pieces, drains packets of at most mtu,
 * and checks the packets put back together are the input. */
static void frag_case(size_t n, size_t mtu, size_t piece)
{
	static uint8_t in[300000], out[300000], pkt[65536];
	struct sendq q;
	size_t got = 0, packets = 0;

	CHECK(n <= sizeof(in));
	randombytes_buf(in, n);
	sendq_init(&q, LINK_SENDQ_MAX);
	for (size_t off = 0; off < n;) {
		size_t k = n - off < piece ? n - off : piece;

		CHECK_OK(sendq_append(&q, in + off, k));
		off += k;
	}
	CHECK(q.len == n);
	while (q.len) {
		size_t k = sendq_peek(&q, pkt, mtu);

		CHECK(k > 0 && k <= mtu);
		/* Every packet but the last is full. */
		CHECK(k == mtu || k == q.len);
		memcpy(out + got, pkt, k);
		got += k;
		sendq_consume(&q, k);
		packets++;
	}
	CHECK(got == n && !memcmp(in, out, n));
	CHECK(packets == (n + mtu - 1) / mtu);
	CHECK(sendq_peek(&q, pkt, mtu) == 0);
	sendq_clear(&q);
}

static void test_frag(void)
{
	static const size_t mtus[] = {1, BT_LE_MTU_MIN, 247, 672, 2048, 16383, 16384, 16385, BT_MTU_MAX};
	static const size_t sizes[] = {1, 22, 23, 24, 16384, 16385, 65536, 100003, 300000};
	static const size_t pieces[] = {1, 7, 16384, 70000};

	for (size_t i = 0; i < sizeof(mtus) / sizeof(mtus[0]); i++)
		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			if (mtus[i] == 1 && sizes[j] > 70000)
				continue; /* the same paths, only slower */
			frag_case(sizes[j], mtus[i], pieces[(i + j) % 4]);
		}
}

/* A stream socket (or a partial write) consumes less than a packet. */
static void test_frag_partial(void)
{
	uint8_t in[100], pkt[64];
	struct sendq q;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	sendq_init(&q, 1000);
	CHECK_OK(sendq_append(&q, in, sizeof(in)));
	CHECK(sendq_peek(&q, pkt, 64) == 64 && pkt[63] == 63);
	sendq_consume(&q, 10);
	CHECK(sendq_peek(&q, pkt, 64) == 64 && pkt[0] == 10 && pkt[63] == 73);
	sendq_consume(&q, 1000); /* more than queued: drops what is there */
	CHECK(q.len == 0 && sendq_peek(&q, pkt, 64) == 0);
	CHECK_OK(sendq_append(&q, in, 5)); /* usable after draining */
	CHECK(sendq_peek(&q, pkt, 64) == 5 && pkt[4] == 4);
	sendq_clear(&q);
	sendq_clear(&q); /* twice: harmless */
}

static void test_frag_cap(void)
{
	static uint8_t buf[5000];
	struct sendq q;

	sendq_init(&q, 4096);
	CHECK_OK(sendq_append(&q, buf, 4000));
	CHECK_RET(sendq_append(&q, buf, 97), -ENOBUFS); /* all or nothing */
	CHECK(q.len == 4000);
	CHECK_OK(sendq_append(&q, buf, 96)); /* exactly the cap */
	CHECK(q.len == 4096);
	CHECK_RET(sendq_append(&q, buf, 1), -ENOBUFS);
	CHECK_OK(sendq_append(&q, buf, 0));
	sendq_clear(&q);
	CHECK(q.len == 0 && !q.head && !q.tail);
}

/* ---- the driver without Bluetooth ---- */

static struct loop *loop;
static struct loop_timer *quit_timer;
static struct mu_identity *me;

static void ev_peer_seen(void *user, struct link_driver *drv, const uint8_t key[static MU_KEY_BYTES],
			 const struct link_addr *addr)
{
	(void)user, (void)drv, (void)key, (void)addr;
	CHECK(0); /* nothing to hear without bluetoothd */
}

static void ev_link_up(void *user, struct link *lk, int inbound)
{
	(void)user, (void)lk, (void)inbound;
	CHECK(0);
}

static void ev_link_data(void *user, struct link *lk, const uint8_t *p, size_t n)
{
	(void)user, (void)lk, (void)p, (void)n;
	CHECK(0);
}

static void ev_link_down(void *user, struct link *lk, int err)
{
	(void)user, (void)lk, (void)err;
	CHECK(0);
}

static const struct link_events events = {
    .peer_seen = ev_peer_seen,
    .link_up = ev_link_up,
    .link_data = ev_link_data,
    .link_down = ev_link_down,
};

static void quit(void *user)
{
	(void)user;
	loop_quit(loop, 0);
}

static void run_ms(uint64_t ms)
{
	loop_timer_arm(quit_timer, ms);
	CHECK_OK(loop_run(loop));
}

static void setup(void)
{
	CHECK_OK(mu_crypto_init());
	CHECK_OK(loop_new(&loop));
	CHECK_OK(loop_timer_new(loop, &quit_timer, quit, NULL));
	CHECK_OK(identity_generate(&me));
}

static void teardown(void)
{
	loop_timer_free(quit_timer);
	loop_free(loop);
	identity_free(me);
	loop = NULL;
	me = NULL;
}

static int start(struct link_driver **drv, const char *body)
{
	struct config *cfg = NULL;
	char text[512];
	int ret;

	snprintf(text, sizeof(text), "[bluetooth]\nenable = yes\n%s", body);
	CHECK_OK(config_parse(&cfg, text));
	ret = link_bluetooth_ops.start(drv, loop, cfg, me, &events, NULL);
	config_free(cfg); /* the driver keeps nothing from it */
	CHECK(ret ? !*drv : !!*drv);
	return ret;
}

static void expect_config_error(const char *body)
{
	struct link_driver *drv = NULL;

	if (start(&drv, body) != MU_E_CONFIG) {
		fprintf(stderr, "accepted: %s\n", body);
		CHECK(0);
	}
}

static void test_config_errors(void)
{
	setup();
	expect_config_error("mode = classic\n");
	expect_config_error("mode = LE\n");
	expect_config_error("psm = 0x1001\n"); /* BR/EDR range in LE mode */
	expect_config_error("psm = 0x7f\n");   /* below the LE dynamic range */
	expect_config_error("psm = 0x100\n");
	expect_config_error("psm = 0x81\nmode = bredr\n"); /* LE range in BR/EDR mode */
	expect_config_error("psm = 0x1002\nmode = bredr\n");
	expect_config_error("psm = 0x1101\nmode = bredr\n");
	expect_config_error("psm = 0x\n");
	expect_config_error("psm = eighty\n");
	expect_config_error("mtu = 22\n");
	expect_config_error("mtu = 47\nmode = bredr\n");
	expect_config_error("mtu = 65536\n");
	expect_config_error("adapter =\n");
	expect_config_error("adapter = hci0/dev\n");
	expect_config_error("adapter = a-very-long-adapter-name\n");
	expect_config_error("power = sometimes\n");
	expect_config_error("connect_timeout_ms = 5\n");
	expect_config_error("retry_ms = 0\n");
	expect_config_error("queue_bytes = 100\n");
	expect_config_error("rescan_ms = 500\n"); /* 0 (off) or at least 1000 */
	teardown();
}

/* No system bus at all: the driver starts, says so, and waits. */
static void test_no_bus(void)
{
	static const char *const ok[] = {
	    "",
	    "adapter = hci1\nmode = le\npsm = 0x00c1\nmtu = 23\n",
	    "mode = bredr\npsm = 4225\nmtu = 48\npower = no\n",
	    "retry_ms = 100\nrescan_ms = 0\n",
	};
	const char *old = getenv("DBUS_SYSTEM_BUS_ADDRESS");
	char *saved = old ? strdup(old) : NULL;

	setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/muster-test-bus", 1);
	setup();
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct link_driver *drv = NULL;
		struct link_status st;
		struct link_addr a = {.text = "x"};

		CHECK_OK(start(&drv, ok[i]));
		run_ms(250); /* retries at 100 ms in one case: still no callbacks */
		link_bluetooth_ops.status(drv, &st);
		CHECK(!strcmp(st.driver, "bluetooth"));
		CHECK(!strcmp(st.iface, strstr(ok[i], "hci1") ? "hci1" : "hci0"));
		CHECK(!strcmp(st.mode, strstr(ok[i], "bredr") ? "bredr-off" : "le-off"));
		CHECK(st.links_up == 0 && st.peers_seen == 0 && st.freq_mhz == 0);
		/* Not an L2CAP address, then no adapter. */
		CHECK_RET(link_bluetooth_ops.connect(drv, &a), -EAFNOSUPPORT);
		link_bluetooth_ops.stop(drv);
	}
	link_bluetooth_ops.stop(NULL); /* NULL-safe */
	CHECK(link_ops_find("bluetooth") == &link_bluetooth_ops);
	/* After tcp and wifi: a peer on both keeps the IP link. */
	CHECK(link_drivers[0] == &link_tcp_ops && link_drivers[2] == &link_bluetooth_ops);
	teardown();
	if (saved)
		setenv("DBUS_SYSTEM_BUS_ADDRESS", saved, 1);
	else
		unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
	free(saved);
}

/* A system bus with no bluetoothd on it (a private dbus-daemon): the driver
 * asks, is told org.bluez is not there, and waits for it. */
static void test_no_bluetoothd(void)
{
	char *dir = test_tmpdir("bt-bus"), addr[512], sock[400], conf[400];
	struct link_driver *drv = NULL;
	struct link_status st;
	FILE *f;
	pid_t pid;

	if (access("/usr/bin/dbus-daemon", X_OK)) {
		fprintf(stderr, "SKIP: no dbus-daemon\n");
		free(dir);
		return;
	}
	snprintf(sock, sizeof(sock), "%s/bus", dir);
	snprintf(conf, sizeof(conf), "%s/bus.conf", dir);
	f = fopen(conf, "w");
	CHECK(f);
	fprintf(f,
		"<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
		" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
		"<busconfig><type>system</type><listen>unix:path=%s</listen>\n"
		"<auth>EXTERNAL</auth><policy context=\"default\"><allow send_destination=\"*\" "
		"eavesdrop=\"true\"/>"
		"<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n",
		sock);
	fclose(f);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execl("/usr/bin/dbus-daemon", "dbus-daemon", "--nofork", "--nopidfile", "--config-file", conf,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && access(sock, F_OK); i++)
		usleep(20000);
	snprintf(addr, sizeof(addr), "unix:path=%s", sock);
	setenv("DBUS_SYSTEM_BUS_ADDRESS", addr, 1);
	setup();
	CHECK_OK(start(&drv, "retry_ms = 100\n"));
	run_ms(500);
	link_bluetooth_ops.status(drv, &st);
	CHECK(!strcmp(st.mode, "le-off") && st.links_up == 0);
	link_bluetooth_ops.stop(drv);
	teardown();
	unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	free(dir);
}

static const struct test tests[] = {
    {"/bt/tag/roundtrip", test_tag},          {"/bt/tag/reject", test_tag_reject},
    {"/bt/addr/parse-format", test_addr},     {"/bt/psm/rules", test_psm},
    {"/bt/frag/mtu-edges", test_frag},        {"/bt/frag/partial", test_frag_partial},
    {"/bt/frag/cap", test_frag_cap},          {"/bt/config/errors", test_config_errors},
    {"/bt/start/no-system-bus", test_no_bus}, {"/bt/start/no-bluetoothd", test_no_bluetoothd},
};

TEST_MAIN(tests)
