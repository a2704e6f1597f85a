/* The Wi-Fi driver without a radio (this host's kernel has no Wi-Fi): its
 * config checks, a start that waits for a radio instead of failing, clean
 * stops, status; and the IP driver's side of the glue (kick): an interface
 * that does not exist at start, then appears, gets a beacon at once, in a
 * private network namespace over veth (root only). The radio paths run in
 * the radio lab (tests/radiolab/wifi-*.sh). */
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
#include "config.h"
#include "identity.h"
#include "link.h"
#include "loop.h"

#define SKIP_STATUS 77

static struct loop *loop;
static struct loop_timer *quit_timer;
static int iface_events;

static void ev_peer_seen(void *user, struct link_driver *drv, const uint8_t key[static MU_KEY_BYTES],
			 const struct link_addr *addr)
{
	(void)user, (void)drv, (void)key, (void)addr;
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

static void ev_iface(void *user, struct link_driver *drv, const char *ifname, enum link_iface_ev ev)
{
	(void)user, (void)drv, (void)ifname, (void)ev;
	iface_events++;
}

static const struct link_events events = {
    .peer_seen = ev_peer_seen,
    .link_up = ev_link_up,
    .link_data = ev_link_data,
    .link_down = ev_link_down,
    .iface_event = ev_iface,
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
}

static void teardown(void)
{
	loop_timer_free(quit_timer);
	loop_free(loop);
	loop = NULL;
}

static int start(const struct link_ops *ops, struct link_driver **drv, const char *text)
{
	struct config *cfg = NULL;
	int ret;

	CHECK_OK(config_parse(&cfg, text));
	ret = ops->start(drv, loop, cfg, NULL, &events, NULL);
	config_free(cfg); /* the driver keeps nothing from it */
	CHECK(ret ? !*drv : !!*drv);
	return ret;
}

static void expect_config_error(const char *body)
{
	struct link_driver *drv = NULL;
	char text[512];

	snprintf(text, sizeof(text), "[tcp]\nbeacon_interfaces = wlan0\n[wifi]\nenable = yes\n%s", body);
	if (start(&link_wifi_ops, &drv, text) != MU_E_CONFIG) {
		fprintf(stderr, "accepted: %s\n", body);
		CHECK(0);
	}
}

static void test_config_errors(void)
{
	setup();
	expect_config_error("allow_open = yes\n"); /* neither interface nor phy */
	expect_config_error("interface = wlan0\nmode = adhoc\nallow_open = yes\n");
	expect_config_error("interface = wlan0\nsetup = manual\nallow_open = yes\n");
	expect_config_error("interface = wlan0\nfreq_mhz = 900\nallow_open = yes\n");
	expect_config_error("interface = wlan0\nfreq_mhz = 2.4G\nallow_open = yes\n");
	expect_config_error(
	    "interface = wlan0\nssid = 0123456789abcdef0123456789abcdefX\nallow_open = yes\n");
	expect_config_error("interface = wlan0\nmode = mesh\nmesh_id =\nallow_open = yes\n");
	expect_config_error("interface = wlan0-with-a-long-name\nallow_open = yes\n");
	expect_config_error("interface = wl/an0\nallow_open = yes\n");
	expect_config_error("interface = wlan0\nallow_open = perhaps\n");
	/* Keys: hex of WEP-40 or WEP-104 length, IBSS only, not with external. */
	expect_config_error("interface = wlan0\nkey = 0102030405g\n");
	expect_config_error("interface = wlan0\nkey = 01020304\n");
	expect_config_error("interface = wlan0\nkey = 010203040506\n");
	expect_config_error("interface = wlan0\nmode = mesh\nkey = 0102030405\n");
	expect_config_error("interface = wlan0\nsetup = external\nkey = 0102030405\n");
	expect_config_error("phy = phy0\nsetup = external\n");
	expect_config_error("interface = wlan0\nbssid = 02:00:00:00:00\nallow_open = yes\n");
	expect_config_error("interface = wlan0\nbssid = 03:00:00:00:00:01\nallow_open = yes\n");
	expect_config_error("interface = wlan0\nbssid = 02:00:00:00:00:01x\nallow_open = yes\n");
	/* An open cell must be asked for. */
	expect_config_error("interface = wlan0\n");
	expect_config_error("phy = phy0\nmode = mesh\n");
	teardown();
}

static void test_no_radio(void)
{
	static const char *const ok[] = {
	    "interface = wlan0\nallow_open = yes\n",
	    "interface = wlan0\nkey = 0102030405\nfreq_mhz = 2437\n",
	    "interface = wlan0\nkey = 0102030405060708090a0b0c0d\nssid = incident-7\n",
	    "phy = phy0\nmode = mesh\nallow_open = yes\n",
	    "phy = any\ninterface = mesh0\nmode = mesh\nmesh_id = m\nallow_open = yes\n",
	    "interface = wlan0\nsetup = external\nmode = mesh\n",
	    "interface = wlan0\nbssid = any\nallow_open = yes\n",
	    "interface = wlan0\nbssid = 02:11:22:33:44:55\nallow_open = yes\n",
	};
	setup();
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct link_driver *drv = NULL;
		struct link_status st;
		char text[512];

		snprintf(text, sizeof(text), "[tcp]\nbeacon_interfaces = wlan0 mesh0 muster0\n[wifi]\n%s",
			 ok[i]);
		/* On a kernel without nl80211 (or with no radio yet) the driver
		 * starts and waits: the daemon must not die for want of a radio. */
		CHECK_OK(start(&link_wifi_ops, &drv, text));
		run_ms(100);
		link_wifi_ops.status(drv, &st);
		CHECK(!strcmp(st.driver, "wifi"));
		CHECK(!strcmp(st.mode, strstr(ok[i], "mesh\n") ? "mesh" : "ibss"));
		CHECK(st.freq_mhz == 0 && st.links_up == 0 && st.port == 0);
		CHECK(!strcmp(st.iface, strstr(ok[i], "phy = phy0") ? "muster0"
					: strstr(ok[i], "mesh0")    ? "mesh0"
								    : "wlan0"));
		if (access("/sys/class/ieee80211", F_OK) != 0)
			CHECK(st.peers_seen == 0 && iface_events == 0);
		link_wifi_ops.stop(drv);
	}
	link_wifi_ops.stop(NULL); /* NULL-safe */
	teardown();
}

static void test_no_links(void)
{
	struct link_driver *drv = NULL;
	struct link_addr a = {.text = "x"};

	setup();
	CHECK_OK(start(&link_wifi_ops, &drv, "[wifi]\ninterface = wlan0\nallow_open = yes\n"));
	/* Data runs in the tcp driver over the same interface. */
	CHECK_RET(link_wifi_ops.connect(drv, &a), -EOPNOTSUPP);
	CHECK(link_wifi_ops.kick == NULL && link_tcp_ops.kick != NULL);
	CHECK(link_ops_find("wifi") == &link_wifi_ops);
	link_wifi_ops.stop(drv);
	teardown();
}

/* ---- the tcp side of the glue ---- */

static void test_kick_missing_iface(void)
{
	struct link_driver *drv = NULL;
	struct mu_identity *id = NULL;
	struct config *cfg = NULL;

	setup();
	CHECK_OK(identity_generate(&id));
	CHECK_OK(config_parse(&cfg, "[tcp]\nlisten = [::1]:0\nbeacon_interfaces = mu-none0, lo\n"));
	/* A beacon interface that does not exist does not stop the driver. */
	CHECK_OK(link_tcp_ops.start(&drv, loop, cfg, id, &events, NULL));
	config_free(cfg);
	run_ms(20);
	link_tcp_ops.kick(drv, "mu-none0", IFACE_UP);
	link_tcp_ops.kick(drv, "mu-none0", IFACE_PEER_NEW);
	link_tcp_ops.kick(drv, "mu-none0", IFACE_PEER_GONE);
	link_tcp_ops.kick(drv, "mu-none0", IFACE_DOWN);
	link_tcp_ops.kick(drv, "not-ours", IFACE_UP);
	link_tcp_ops.kick(drv, "lo", IFACE_UP);
	link_tcp_ops.kick(drv, "lo", IFACE_DOWN);
	run_ms(20);
	link_tcp_ops.stop(drv);
	identity_free(id);
	teardown();
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Beacons waiting on fd (non-blocking): how many. */
static int drain(int fd)
{
	uint8_t b[256];
	int n = 0;

	while (recv(fd, b, sizeof(b), MSG_DONTWAIT) == BEACON_BYTES)
		n++;
	return n;
}

static int kick_child(void)
{
	struct sockaddr_in6 any = {.sin6_family = AF_INET6, .sin6_port = htons(7421)};
	struct ipv6_mreq mr;
	struct link_driver *drv = NULL;
	struct mu_identity *id = NULL;
	struct config *cfg = NULL;
	int ns_a, ns_b, fd;

	if (unshare(CLONE_NEWNET))
		return SKIP_STATUS;
	ns_b = open("/proc/self/ns/net", O_RDONLY);
	CHECK(ns_b >= 0);
	CHECK(unshare(CLONE_NEWNET) == 0);
	ns_a = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	CHECK(ns_a >= 0);
	setup();
	CHECK_OK(identity_generate(&id));
	/* A's driver starts before its beacon interface exists (a radio
	 * driver may create it later), with a long interval, so every beacon
	 * after the first comes from a kick. */
	CHECK_OK(config_parse(
	    &cfg, "[tcp]\nlisten = [::]:0\nbeacon_interfaces = mt0\nbeacon_interval_ms = 60000\n"));
	CHECK_OK(link_tcp_ops.start(&drv, loop, cfg, id, &events, NULL));
	config_free(cfg);
	run_ms(20);
	if (sh("ip link add mt0 type veth peer name mt1 2>/dev/null"))
		return SKIP_STATUS;
	CHECK_OK(sh(
	    "ip link set lo up && ip link set mt1 netns /proc/self/fd/%d && ip link set mt0 addrgenmode none "
	    "&& ip addr add fe80::a/64 dev mt0 nodad && ip link set mt0 up",
	    ns_b));
	CHECK(setns(ns_b, CLONE_NEWNET) == 0);
	CHECK_OK(sh("ip link set lo up && ip link set mt1 addrgenmode none && ip addr add fe80::b/64 dev mt1 "
		    "nodad && "
		    "ip link set mt1 up"));
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&any, sizeof(any)) == 0);
	mr.ipv6mr_multiaddr = (struct in6_addr){.s6_addr = {0xff, 0x02, [15] = 1}};
	mr.ipv6mr_interface = if_nametoindex("mt1");
	CHECK(setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr, sizeof(mr)) == 0);
	/* Back to A's namespace: the driver resolves names where it runs. */
	CHECK(setns(ns_a, CLONE_NEWNET) == 0);

	/* UP: joins the group on the new interface and beacons at once. */
	link_tcp_ops.kick(drv, "mt0", IFACE_UP);
	usleep(50000);
	CHECK(drain(fd) == 1);
	/* PEER_NEW right after: within the gap, nothing more; after it, one. */
	link_tcp_ops.kick(drv, "mt0", IFACE_PEER_NEW);
	usleep(50000);
	CHECK(drain(fd) == 0);
	usleep(300000);
	link_tcp_ops.kick(drv, "mt0", IFACE_PEER_NEW);
	link_tcp_ops.kick(drv, "mt0", IFACE_PEER_NEW);
	usleep(50000);
	CHECK(drain(fd) == 1);
	/* DOWN forgets it; PEER_GONE and other names send nothing. */
	link_tcp_ops.kick(drv, "mt0", IFACE_PEER_GONE);
	link_tcp_ops.kick(drv, "mt1", IFACE_UP);
	link_tcp_ops.kick(drv, "mt0", IFACE_DOWN);
	usleep(50000);
	CHECK(drain(fd) == 0);
	link_tcp_ops.kick(drv, "mt0", IFACE_UP);
	usleep(50000);
	CHECK(drain(fd) == 1);
	close(fd);
	close(ns_a);
	close(ns_b);
	link_tcp_ops.stop(drv);
	identity_free(id);
	teardown();
	return 0;
}

static void test_kick_netns(void)
{
	pid_t pid;
	int status;

	if (geteuid() != 0 || system("ip -V >/dev/null 2>&1") != 0) {
		fprintf(stderr, "SKIP /wifi/kick/tcp-beacon-netns: needs root and iproute2 (ip)\n");
		return;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		exit(kick_child());
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_STATUS) {
		fprintf(stderr,
			"SKIP /wifi/kick/tcp-beacon-netns: cannot create network namespaces or veth\n");
		return;
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static const struct test tests[] = {
    {"/wifi/config/errors", test_config_errors},
    {"/wifi/start/no-radio-waits", test_no_radio},
    {"/wifi/ops/no-links", test_no_links},
    {"/wifi/kick/missing-iface", test_kick_missing_iface},
    {"/wifi/kick/tcp-beacon-netns", test_kick_netns},
};

TEST_MAIN(tests)
