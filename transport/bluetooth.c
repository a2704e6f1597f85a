/* The Bluetooth driver ("bluetooth"): discovery and adapter control through
 * bluetoothd over D-Bus (sd-bus, on the loop), data over L2CAP connection-
 * oriented channels (LE credit-based by default, BR/EDR when configured).
 * docs/bluetooth.md is the long form of the choices below.
 *
 * D-Bus. One system-bus connection, its fd and timeout on the loop; every
 * request is asynchronous with its slot kept, so a request in flight also
 * means "busy". bluetoothd's state arrives by signals: ObjectManager
 * InterfacesAdded/Removed (adapter and devices appearing and going),
 * PropertiesChanged on our adapter's subtree (Powered; a device's RSSI,
 * UUIDs or manufacturer data: an advertisement was heard), and
 * NameOwnerChanged for bluetoothd itself. Nothing polls. When the adapter is
 * powered: listen on the PSM, set the discovery filter (our UUID, LE), start
 * discovery, then register the advertisement (scanning before advertising:
 * see docs/radiolab.md on btvirt). A missing bus, bluetoothd or adapter is
 * logged once and waited for; the daemon keeps running.
 *
 * Links. The core sees a byte stream; L2CAP moves packets (SDUs) of at most
 * the peer's MTU. Outgoing bytes are cut into packets of at most the send
 * MTU (sendq); incoming packets are handed up as stream bytes (the session
 * layer finds its own record boundaries). Each link asks the core to keep
 * only a few KB queued (link.pump_high_water), so an immediate bundle waits
 * behind at most one bundle frame, not a quarter megabyte.
 *
 * Callback discipline as in tcp.c: the core is only called from loop
 * callbacks; link_down after close (or a failure inside send) comes on a
 * later turn; stop() inside a callback defers the free (depth). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bluetooth/bluetooth.h>
#include <bluetooth/l2cap.h>
#include <systemd/sd-bus.h>

#include "bt_proto.h"
#include "config.h"
#include "err.h"
#include "hex.h"
#include "link.h"
#include "log.h"
#include "loop.h"

/* [bluetooth] keys: defaults and bounds (docs/bluetooth.md lists them). */
#define CFG_SECTION            "bluetooth"
#define DEF_ADAPTER            "hci0"
#define DEF_PSM_LE             0x0081
#define DEF_PSM_BREDR          0x1081
#define DEF_MTU                2048
#define DEF_CONNECT_TIMEOUT_MS 30000 /* beyond the kernel's own LE limit (20 s): it ends first */
#define MIN_CONNECT_TIMEOUT_MS 100
#define MAX_CONNECT_TIMEOUT_MS 600000
#define DEF_RETRY_MS           10000 /* bus, bluetoothd or setup missing: look again */
#define MIN_RETRY_MS           100
#define MAX_RETRY_MS           600000
#define DEF_RESCAN_MS          20000 /* restart scanning this often; 0 = never */
#define MIN_RESCAN_MS          1000
#define MAX_RESCAN_MS          3600000
#define DEF_QUEUE_BYTES        4096 /* what the core keeps queued per link */
#define MIN_QUEUE_BYTES        512
#define MAX_QUEUE_BYTES        (1u << 20)

#define BLUEZ         "org.bluez"
#define IFACE_ADAPTER "org.bluez.Adapter1"
#define IFACE_DEVICE  "org.bluez.Device1"
#define IFACE_ADV_MGR "org.bluez.LEAdvertisingManager1"
#define IFACE_ADV     "org.bluez.LEAdvertisement1"
#define ADV_PATH      "/org/muster/bluetooth/advertisement0"

#define ADAPTER_NAME_MAX 16
#define PATH_MAX_LEN     128
#define PEER_SLOTS       128
#define PEER_RECENT_MS   60000 /* peers_seen counts tags heard this recently */
#define FRESH_MS         5000  /* an advertisement this recent says "connectable now" */
#define LISTEN_BACKLOG   16
#define ACCEPT_PER_TURN  16
#define READ_BUF         65536
#define READ_PER_TURN    (128u * 1024)
#define BUS_PER_TURN     64

enum bl_state {
	BL_CONNECTING, /* outbound, not yet reported */
	BL_UP,         /* reported with link_up */
	BL_DEAD,       /* socket gone; link_down delivered or pending */
};

/* Where the adapter set-up stands; each step is one D-Bus request. */
enum bt_setup {
	SETUP_IDLE,     /* not powered, or not started */
	SETUP_FILTER,   /* SetDiscoveryFilter in flight */
	SETUP_DISCOVER, /* StartDiscovery in flight */
	SETUP_RESCAN,   /* StopDiscovery in flight (a periodic scan restart) */
	SETUP_ADVERT,   /* RegisterAdvertisement in flight */
	SETUP_DONE,
};

struct bt_driver;

struct bt_link {
	struct link base; /* first: the core's struct link * points here */
	struct bt_driver *d;
	struct bt_link *prev, *next; /* d->links or d->reap */
	int fd;
	enum bl_state state;
	int down_err;
	uint32_t events;
	struct loop_timer *timer; /* connect timeout */
	struct sendq q;
	uint16_t smtu, rmtu;
};

/* A device bluetoothd reports under our adapter. Only those advertising
 * Muster's UUID and a tag are reported to the core. */
struct bt_peer {
	bool used;
	char path[PATH_MAX_LEN];
	uint8_t addr[BT_ADDR_BYTES];
	bool has_addr, random_addr, has_uuid, has_tag;
	uint8_t tag[BT_TAG_BYTES];
	uint64_t last_ms; /* mono + 1 when last heard; 0 = never */
};

struct bt_driver {
	struct loop *loop;
	const struct mu_identity *id;
	const struct link_events *ev;
	void *user;
	int depth;
	bool stopped;

	/* config */
	char adapter[ADAPTER_NAME_MAX];
	bool le, power_on;
	uint16_t psm, mtu;
	uint64_t connect_timeout_ms, retry_ms, rescan_ms;
	size_t queue_bytes;
	uint8_t tag[BT_TAG_BYTES];

	/* D-Bus */
	sd_bus *bus;
	int bus_fd;
	uint32_t bus_events;
	struct loop_timer *bus_timer, *retry_timer, *rescan_timer;
	sd_bus_slot *m_added, *m_removed, *m_props, *m_owner, *adv_obj;
	sd_bus_slot *call_objects, *call_power, *call_setup;
	bool warned_bus, warned_bluez, warned_adapter;

	/* the adapter */
	char adapter_path[PATH_MAX_LEN];
	bool adapter_found, powered, power_asked, has_addr;
	uint8_t addr[BT_ADDR_BYTES];
	enum bt_setup setup;
	bool adv_registered;

	struct bt_peer peers[PEER_SLOTS];

	/* L2CAP */
	int lfd;
	struct bt_link *links; /* connecting and up */
	struct bt_link *reap;  /* dead, link_down pending */
	struct loop_timer *reap_timer;
	struct link_stats closed;
};

static struct bt_driver *drv_of(struct link_driver *ld)
{
	return (struct bt_driver *)(void *)ld;
}

static struct link_driver *ld_of(struct bt_driver *d)
{
	return (struct link_driver *)(void *)d;
}

static struct bt_link *bl_of(struct link *lk)
{
	return (struct bt_link *)lk;
}

static void bt_stop(struct link_driver *ld);
static void adapter_check(struct bt_driver *d);
static void bus_kick(struct bt_driver *d);
static void rescan_arm(struct bt_driver *d);

/* ---- driver frames ---- */

static void bus_drop(struct bt_driver *d)
{
	sd_bus_slot **slots[] = {&d->m_added, &d->m_removed,    &d->m_props,    &d->m_owner,
				 &d->adv_obj, &d->call_objects, &d->call_power, &d->call_setup};

	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
		*slots[i] = sd_bus_slot_unref(*slots[i]);
	if (d->bus_fd >= 0)
		loop_del_fd(d->loop, d->bus_fd);
	d->bus_fd = -1;
	d->bus_events = 0;
	/* Closing the connection is enough for bluetoothd: it drops the
	 * discovery session and the advertisement of a client that left. */
	d->bus = sd_bus_flush_close_unref(d->bus);
}

static void drv_free(struct bt_driver *d)
{
	struct bt_link *lists[2] = {d->links, d->reap};

	bus_drop(d);
	for (int i = 0; i < 2; i++) {
		while (lists[i]) {
			struct bt_link *bl = lists[i];

			lists[i] = bl->next;
			sendq_clear(&bl->q);
			free(bl);
		}
	}
	free(d);
}

static void drv_enter(struct bt_driver *d)
{
	d->depth++;
}

static void drv_leave(struct bt_driver *d)
{
	if (--d->depth == 0 && d->stopped)
		drv_free(d);
}

/* ---- links ---- */

static void list_add(struct bt_link **head, struct bt_link *bl)
{
	bl->prev = NULL;
	bl->next = *head;
	if (*head)
		(*head)->prev = bl;
	*head = bl;
}

static void list_del(struct bt_link **head, struct bt_link *bl)
{
	if (bl->prev)
		bl->prev->next = bl->next;
	else
		*head = bl->next;
	if (bl->next)
		bl->next->prev = bl->prev;
	bl->prev = bl->next = NULL;
}

static void stats_add(struct link_stats *to, const struct link_stats *s)
{
	to->bytes_in += s->bytes_in;
	to->bytes_out += s->bytes_out;
	to->frames_in += s->frames_in;
	to->frames_out += s->frames_out;
}

static void link_teardown(struct bt_link *bl)
{
	if (bl->fd >= 0) {
		loop_del_fd(bl->d->loop, bl->fd);
		close(bl->fd);
		bl->fd = -1;
	}
	loop_timer_free(bl->timer);
	bl->timer = NULL;
	sendq_clear(&bl->q);
	bl->state = BL_DEAD;
}

static void link_free(struct bt_link *bl)
{
	stats_add(&bl->d->closed, &bl->base.stats);
	free(bl);
}

/* Reports the link down now and frees it: only from loop callbacks. */
static void link_fail(struct bt_link *bl, int err)
{
	struct bt_driver *d = bl->d;

	log_debug(SUB_LINK, "%s down: %s", bl->base.peer.text, mu_strerror(err));
	link_teardown(bl);
	list_del(&d->links, bl);
	if (!d->stopped)
		d->ev->link_down(d->user, &bl->base, err);
	link_free(bl);
}

/* Reports the link down on the next turn (from inside a core call). */
static void link_fail_later(struct bt_link *bl, int err)
{
	struct bt_driver *d = bl->d;
	struct bt_link *t = d->reap;

	link_teardown(bl);
	list_del(&d->links, bl);
	bl->down_err = err;
	bl->prev = bl->next = NULL;
	if (!t) {
		d->reap = bl;
	} else {
		while (t->next)
			t = t->next;
		t->next = bl;
		bl->prev = t;
	}
	loop_timer_arm(d->reap_timer, 0);
}

static void reap_run(void *user)
{
	struct bt_driver *d = user;

	drv_enter(d);
	while (d->reap && !d->stopped) {
		struct bt_link *bl = d->reap;

		list_del(&d->reap, bl);
		log_debug(SUB_LINK, "%s down: %s", bl->base.peer.text, mu_strerror(bl->down_err));
		d->ev->link_down(d->user, &bl->base, bl->down_err);
		link_free(bl);
	}
	drv_leave(d);
}

static void link_want(struct bt_link *bl)
{
	uint32_t want = EPOLLIN | (bl->q.len ? EPOLLOUT : 0);
	int ret;

	if (want == bl->events || bl->fd < 0)
		return;
	ret = loop_mod_fd(bl->d->loop, bl->fd, want);
	if (ret)
		log_warn(SUB_LINK, "%s: loop_mod_fd: %s", bl->base.peer.text, mu_strerror(ret));
	else
		bl->events = want;
}

/* Sends whole packets while the socket takes them: 0 or -errno. */
static int q_flush(struct bt_link *bl)
{
	static uint8_t pkt[BT_MTU_MAX];

	while (bl->q.len) {
		size_t n = sendq_peek(&bl->q, pkt, bl->smtu);
		ssize_t w = send(bl->fd, pkt, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		/* A packet socket takes all of it or nothing; a short count
		 * would mean a stream socket (tests), which is fine too. */
		sendq_consume(&bl->q, (size_t)w);
		bl->base.stats.bytes_out += (uint64_t)w;
		bl->base.stats.frames_out++;
	}
	return 0;
}

/* Reads what is there; false when bl is no longer up (and may be freed). */
static bool link_read(struct bt_link *bl)
{
	static uint8_t buf[READ_BUF];
	struct bt_driver *d = bl->d;
	size_t total = 0;

	while (total < READ_PER_TURN) {
		ssize_t r = recv(bl->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (r > 0) {
			total += (size_t)r;
			bl->base.stats.bytes_in += (uint64_t)r;
			bl->base.stats.frames_in++;
			d->ev->link_data(d->user, &bl->base, buf, (size_t)r);
			if (d->stopped || bl->state != BL_UP)
				return false;
			continue;
		}
		if (r == 0) {
			link_fail(bl, 0);
			return false;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			link_fail(bl, -errno);
			return false;
		}
		break;
	}
	return true;
}

/* The MTUs the kernel settled on. An LE CoC answers BT_SNDMTU/BT_RCVMTU, a
 * BR/EDR channel L2CAP_OPTIONS; anything else (tests over a socketpair)
 * gets the configured MTU. */
static void link_mtus(struct bt_link *bl)
{
	struct l2cap_options o;
	uint16_t s = 0, r = 0;
	socklen_t len = sizeof(s);

	if (getsockopt(bl->fd, SOL_BLUETOOTH, BT_SNDMTU, &s, &len) || len != sizeof(s))
		s = 0;
	len = sizeof(r);
	if (getsockopt(bl->fd, SOL_BLUETOOTH, BT_RCVMTU, &r, &len) || len != sizeof(r))
		r = 0;
	if (!s || !r) {
		memset(&o, 0, sizeof(o));
		len = sizeof(o);
		if (!getsockopt(bl->fd, SOL_L2CAP, L2CAP_OPTIONS, &o, &len)) {
			if (!s)
				s = o.omtu;
			if (!r)
				r = o.imtu;
		}
	}
	bl->smtu = s ? s : bl->d->mtu;
	bl->rmtu = r ? r : bl->d->mtu;
	/* Let the core queue a few packets' worth, no more. */
	bl->base.pump_high_water = bl->d->queue_bytes > 2u * bl->smtu ? bl->d->queue_bytes : 2u * bl->smtu;
}

static void link_io(void *user, int fd, uint32_t events);

static void link_up_now(struct bt_link *bl, bool inbound)
{
	struct bt_driver *d = bl->d;

	loop_timer_free(bl->timer);
	bl->timer = NULL;
	bl->state = BL_UP;
	link_mtus(bl);
	link_want(bl);
	log_debug(SUB_LINK, "%s up (%s, MTU send %u receive %u)", bl->base.peer.text,
		  inbound ? "inbound" : "outbound", bl->smtu, bl->rmtu);
	d->ev->link_up(d->user, &bl->base, inbound);
}

static void connect_done(struct bt_link *bl)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(bl->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		link_fail(bl, -err);
		return;
	}
	link_up_now(bl, false);
}

static void link_io(void *user, int fd, uint32_t events)
{
	struct bt_link *bl = user;
	struct bt_driver *d = bl->d;

	(void)fd;
	drv_enter(d);
	if (bl->state == BL_CONNECTING) {
		connect_done(bl);
	} else if (bl->state == BL_UP) {
		bool up = true;

		/* Read first: data that came before the close still counts. */
		if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			up = link_read(bl);
		if (up && (events & EPOLLOUT)) {
			int ret = q_flush(bl);

			if (ret) {
				link_fail(bl, ret);
			} else {
				link_want(bl);
				if (!bl->q.len && d->ev->link_drained)
					d->ev->link_drained(d->user, &bl->base);
			}
		}
	}
	drv_leave(d);
}

static void connect_timeout(void *user)
{
	struct bt_link *bl = user;
	struct bt_driver *d = bl->d;

	drv_enter(d);
	if (bl->state == BL_CONNECTING)
		link_fail(bl, -ETIMEDOUT);
	drv_leave(d);
}

static struct bt_link *link_new(struct bt_driver *d, int fd)
{
	struct bt_link *bl = calloc(1, sizeof(*bl));

	if (!bl)
		return NULL;
	bl->base.ops = &link_bluetooth_ops;
	bl->base.drv = ld_of(d);
	bl->d = d;
	bl->fd = fd;
	sendq_init(&bl->q, LINK_SENDQ_MAX);
	return bl;
}

static void addr_text(struct link_addr *a, const char *adapter, const uint8_t bd[static BT_ADDR_BYTES])
{
	char s[BT_ADDR_TEXT];

	bt_addr_format(s, bd);
	snprintf(a->text, sizeof(a->text), "%s/%s", adapter, s);
}

static void addr_make(struct bt_driver *d, struct link_addr *a, const uint8_t bd[static BT_ADDR_BYTES],
		      uint8_t type, uint16_t psm)
{
	struct sockaddr_l2 *l2 = (struct sockaddr_l2 *)&a->sa;

	memset(a, 0, sizeof(*a));
	l2->l2_family = AF_BLUETOOTH;
	l2->l2_psm = htobs(psm);
	memcpy(&l2->l2_bdaddr, bd, BT_ADDR_BYTES);
	l2->l2_bdaddr_type = type;
	a->sa_len = sizeof(*l2);
	addr_text(a, d->adapter, bd);
}

/* Options every channel gets, inbound ones through the listener: no pairing
 * (the session authenticates and encrypts end to end), and our receive MTU.
 * Failures cost performance or mode, logged, not fatal. */
static void sock_tune(struct bt_driver *d, int fd)
{
	struct bt_security sec = {.level = BT_SECURITY_LOW};
	uint16_t mtu = d->mtu;

	if (setsockopt(fd, SOL_BLUETOOTH, BT_SECURITY, &sec, sizeof(sec)))
		log_warn(SUB_LINK, "bluetooth: BT_SECURITY low: %s", strerror(errno));
	if (d->le) {
		uint8_t mode = BT_MODE_LE_FLOWCTL;

		/* The kernel picks LE credit-based mode for an LE address by
		 * itself; BT_MODE only exists with its enable_ecred option. */
		if (setsockopt(fd, SOL_BLUETOOTH, BT_MODE, &mode, sizeof(mode)) && errno != ENOPROTOOPT)
			log_debug(SUB_LINK, "bluetooth: BT_MODE: %s", strerror(errno));
		if (setsockopt(fd, SOL_BLUETOOTH, BT_RCVMTU, &mtu, sizeof(mtu)))
			log_warn(SUB_LINK, "bluetooth: BT_RCVMTU %u: %s", mtu, strerror(errno));
	} else {
		struct l2cap_options o;
		socklen_t len = sizeof(o);

		if (!getsockopt(fd, SOL_L2CAP, L2CAP_OPTIONS, &o, &len)) {
			o.imtu = mtu;
			if (setsockopt(fd, SOL_L2CAP, L2CAP_OPTIONS, &o, sizeof(o)))
				log_warn(SUB_LINK, "bluetooth: L2CAP MTU %u: %s", mtu, strerror(errno));
		}
	}
}

static uint8_t own_type(const struct bt_driver *d)
{
	return d->le ? BDADDR_LE_PUBLIC : BDADDR_BREDR;
}

static int bt_connect(struct link_driver *ld, const struct link_addr *addr)
{
	struct bt_driver *d = drv_of(ld);
	const struct sockaddr_l2 *to = (const struct sockaddr_l2 *)&addr->sa;
	struct sockaddr_l2 me = {.l2_family = AF_BLUETOOTH};
	struct bt_link *bl = NULL;
	int fd = -1, ret;

	if (addr->sa_len != sizeof(*to) || to->l2_family != AF_BLUETOOTH)
		return -EAFNOSUPPORT;
	if (d->stopped)
		return -ESHUTDOWN;
	if (!d->powered || !d->has_addr)
		return -ENETDOWN;
	/* One channel per device: both ends dial when they hear each other,
	 * and an LE connection takes seconds, longer than the core's head
	 * start for the smaller key. The session over the existing channel
	 * settles who the peer is. */
	for (const struct bt_link *bl2 = d->links; bl2; bl2 = bl2->next) {
		if (bl2->state != BL_DEAD && !strcmp(bl2->base.peer.text, addr->text))
			return -EALREADY;
		/* One LE connection attempt at a time per adapter: the kernel
		 * refuses a second one (EBUSY), and closing the socket of a
		 * failed attempt is what crashes 6.1.192 (docs/bluetooth.md).
		 * The core dials again after its backoff. */
		if (bl2->state == BL_CONNECTING)
			return -EBUSY;
	}
	fd = socket(AF_BLUETOOTH, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, BTPROTO_L2CAP);
	if (fd < 0)
		return -errno;
	bl = link_new(d, fd);
	if (!bl) {
		ret = -ENOMEM;
		goto out;
	}
	bl->base.peer = *addr;
	bl->state = BL_CONNECTING;
	memcpy(&me.l2_bdaddr, d->addr, BT_ADDR_BYTES);
	me.l2_bdaddr_type = own_type(d);
	if (bind(fd, (struct sockaddr *)&me, sizeof(me))) {
		ret = -errno;
		goto out;
	}
	sock_tune(d, fd); /* after bind: the receive MTU needs the LE address type */
	ret = loop_timer_new(d->loop, &bl->timer, connect_timeout, bl);
	if (ret)
		goto out;
	if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0 && errno != EINPROGRESS) {
		/* Refused, host down, ...: the same path as a late failure. */
		ret = -errno;
		list_add(&d->links, bl);
		link_fail_later(bl, ret);
		return 0;
	}
	ret = loop_add_fd(d->loop, fd, EPOLLOUT, link_io, bl);
	if (ret)
		goto out;
	bl->events = EPOLLOUT;
	loop_timer_arm(bl->timer, d->connect_timeout_ms);
	list_add(&d->links, bl);
	log_debug(SUB_LINK, "connecting to %s (PSM 0x%04x)", bl->base.peer.text, btohs(to->l2_psm));
	return 0;
out:
	if (bl) {
		loop_timer_free(bl->timer);
		free(bl);
	}
	close(fd);
	return ret;
}

static int bt_send(struct link *lk, const uint8_t *p, size_t n)
{
	struct bt_link *bl = bl_of(lk);
	int ret;

	if (bl->state != BL_UP)
		return bl->state == BL_DEAD ? -EPIPE : -ENOTCONN;
	if (!n)
		return 0;
	ret = sendq_append(&bl->q, p, n);
	if (ret)
		return ret;
	if (!(bl->events & EPOLLOUT)) {
		/* Nothing waiting on the socket: send now, which saves a loop
		 * turn for an immediate bundle. */
		ret = q_flush(bl);
		if (ret) {
			link_fail_later(bl, ret);
			return ret;
		}
	}
	link_want(bl);
	return 0;
}

static size_t bt_queued(const struct link *lk)
{
	return ((const struct bt_link *)lk)->q.len;
}

static void bt_close(struct link *lk)
{
	struct bt_link *bl = bl_of(lk);

	if (bl->state == BL_DEAD)
		return;
	link_fail_later(bl, 0);
}

/* Links whose socket is already dead when the adapter powers off are
 * failed by the kernel; this only handles the ones still connecting. */
static void links_fail_connecting(struct bt_driver *d, int err)
{
	struct bt_link *bl = d->links, *next;

	for (; bl; bl = next) {
		next = bl->next;
		if (bl->state == BL_CONNECTING)
			link_fail(bl, err);
	}
}

/* ---- the listening channel ---- */

static void listen_io(void *user, int fd, uint32_t events)
{
	struct bt_driver *d = user;

	(void)events;
	drv_enter(d);
	for (int i = 0; i < ACCEPT_PER_TURN && !d->stopped && d->lfd == fd; i++) {
		struct sockaddr_l2 from;
		socklen_t len = sizeof(from);
		struct bt_link *bl;
		int c = accept4(fd, (struct sockaddr *)&from, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int ret;

		if (c < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn(SUB_LINK, "bluetooth: accept: %s", strerror(errno));
			break;
		}
		bl = link_new(d, c);
		if (!bl) {
			close(c);
			continue;
		}
		addr_make(d, &bl->base.peer, (const uint8_t *)&from.l2_bdaddr, from.l2_bdaddr_type,
			  btohs(from.l2_psm));
		ret = loop_add_fd(d->loop, c, EPOLLIN, link_io, bl);
		if (ret) {
			log_warn(SUB_LINK, "bluetooth: %s: %s", bl->base.peer.text, mu_strerror(ret));
			free(bl);
			close(c);
			continue;
		}
		bl->events = EPOLLIN;
		list_add(&d->links, bl);
		link_up_now(bl, true);
	}
	drv_leave(d);
}

static void listen_close(struct bt_driver *d)
{
	if (d->lfd < 0)
		return;
	loop_del_fd(d->loop, d->lfd);
	close(d->lfd);
	d->lfd = -1;
}

static int listen_open(struct bt_driver *d)
{
	struct sockaddr_l2 me = {.l2_family = AF_BLUETOOTH, .l2_psm = htobs(d->psm)};
	char a[BT_ADDR_TEXT];
	int ret;

	if (d->lfd >= 0)
		return 0;
	memcpy(&me.l2_bdaddr, d->addr, BT_ADDR_BYTES);
	me.l2_bdaddr_type = own_type(d);
	bt_addr_format(a, d->addr);
	d->lfd = socket(AF_BLUETOOTH, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, BTPROTO_L2CAP);
	if (d->lfd < 0) {
		ret = -errno;
		log_err(SUB_LINK,
			"bluetooth: L2CAP socket: %s (a kernel without Bluetooth, or not the initial "
			"network namespace?)",
			strerror(errno));
		return ret;
	}
	ret = bind(d->lfd, (struct sockaddr *)&me, sizeof(me));
	if (!ret) {
		sock_tune(d, d->lfd); /* after bind, as in bt_connect; accepted channels inherit it */
		ret = listen(d->lfd, LISTEN_BACKLOG);
	}
	if (ret) {
		ret = -errno;
		log_err(SUB_LINK, "bluetooth: listen on %s PSM 0x%04x: %s", a, d->psm, strerror(errno));
		close(d->lfd);
		d->lfd = -1;
		return ret;
	}
	ret = loop_add_fd(d->loop, d->lfd, EPOLLIN, listen_io, d);
	if (ret) {
		close(d->lfd);
		d->lfd = -1;
		return ret;
	}
	return 0;
}

/* ---- peers (devices bluetoothd reports under our adapter) ---- */

static bool path_under(const char *path, const char *parent)
{
	size_t n = strlen(parent);

	return n && !strncmp(path, parent, n) && path[n] == '/';
}

static struct bt_peer *peer_find(struct bt_driver *d, const char *path, bool create)
{
	struct bt_peer *free_slot = NULL, *oldest = NULL;

	if (strlen(path) >= PATH_MAX_LEN)
		return NULL;
	for (unsigned i = 0; i < PEER_SLOTS; i++) {
		struct bt_peer *p = &d->peers[i];

		if (p->used && !strcmp(p->path, path))
			return p;
		if (!p->used && !free_slot)
			free_slot = p;
		/* When full, a device that is not a Muster peer goes first. */
		if (p->used && (!oldest || (!p->has_tag && oldest->has_tag) ||
				(p->has_tag == oldest->has_tag && p->last_ms < oldest->last_ms)))
			oldest = p;
	}
	if (!create)
		return NULL;
	if (!free_slot)
		free_slot = oldest;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	snprintf(free_slot->path, sizeof(free_slot->path), "%s", path);
	return free_slot;
}

static void peers_clear(struct bt_driver *d)
{
	memset(d->peers, 0, sizeof(d->peers));
}

static void peer_report(struct bt_driver *d, struct bt_peer *p)
{
	uint8_t key[MU_KEY_BYTES];
	struct link_addr a;
	uint8_t type;

	if (!p->has_addr || !p->has_uuid || !p->has_tag || !memcmp(p->tag, d->tag, BT_TAG_BYTES))
		return;
	if (d->le)
		type = p->random_addr ? BDADDR_LE_RANDOM : BDADDR_LE_PUBLIC;
	else if (p->random_addr)
		return; /* no BR/EDR behind a random LE address */
	else
		type = BDADDR_BREDR;
	p->last_ms = loop_now_mono_ms() + 1;
	if (!d->adv_registered && d->setup != SETUP_ADVERT)
		return; /* heard, but we cannot dial yet */
	bt_tag_key(key, p->tag);
	addr_make(d, &a, p->addr, type, d->psm);
	/* A channel to it is open or opening: nothing to decide. */
	for (const struct bt_link *bl = d->links; bl; bl = bl->next)
		if (bl->state != BL_DEAD && !strcmp(bl->base.peer.text, a.text))
			return;
	d->ev->peer_seen(d->user, ld_of(d), key, &a);
}

/* Reads a variant holding "ay" into buf; the length or -1. */
static int read_variant_bytes(sd_bus_message *m, uint8_t *buf, size_t cap)
{
	const void *p = NULL;
	size_t n = 0;
	int r = sd_bus_message_enter_container(m, 'v', "ay");

	if (r <= 0)
		return r < 0 ? r : -EINVAL;
	r = sd_bus_message_read_array(m, 'y', &p, &n);
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(m);
	if (r < 0)
		return r;
	if (n > cap)
		n = cap + 1; /* too long: the caller rejects it */
	else
		memcpy(buf, p, n);
	return (int)n;
}

/* Walks the dict m is on (entries: its array's contents, "{sv}"; entry:
 * "sv"), handing each key to one with m on its value, which one reads or
 * skips; stops at the first error. */
static int dict_each(sd_bus_message *m, const char *entries, const char *entry,
		     int (*one)(void *ctx, const char *key, sd_bus_message *m), void *ctx)
{
	int r = sd_bus_message_enter_container(m, 'a', entries);

	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', entry)) > 0) {
		const char *k = NULL;

		r = sd_bus_message_read(m, "s", &k);
		if (r < 0)
			return r;
		r = one(ctx, k, m);
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

struct device_walk {
	struct bt_peer *p;
	bool *heard;
};

/* One Device1 property k, with m on its value. */
static int device_prop(void *ctx, const char *k, sd_bus_message *m)
{
	struct device_walk *w = ctx;
	struct bt_peer *p = w->p;
	bool *heard = w->heard;
	const char *s = NULL;
	int r;

	if (!strcmp(k, "Address")) {
		r = sd_bus_message_read(m, "v", "s", &s);
		if (r >= 0)
			p->has_addr = bt_addr_parse(p->addr, s) == 0;
	} else if (!strcmp(k, "AddressType")) {
		r = sd_bus_message_read(m, "v", "s", &s);
		if (r >= 0)
			p->random_addr = !strcmp(s, "random");
	} else if (!strcmp(k, "UUIDs")) {
		r = sd_bus_message_enter_container(m, 'v', "as");
		if (r > 0) {
			/* Sticky: once connected, bluetoothd replaces
			 * the advertised UUIDs with GATT services. */
			r = sd_bus_message_enter_container(m, 'a', "s");
			while (r > 0 && (r = sd_bus_message_read(m, "s", &s)) > 0)
				if (!strcasecmp(s, BT_SERVICE_UUID))
					p->has_uuid = true;
			if (r >= 0)
				r = sd_bus_message_exit_container(m);
			if (r >= 0)
				r = sd_bus_message_exit_container(m);
		}
	} else if (!strcmp(k, "ManufacturerData")) {
		r = sd_bus_message_enter_container(m, 'v', "a{qv}");
		if (r > 0) {
			r = sd_bus_message_enter_container(m, 'a', "{qv}");
			while (r > 0 && (r = sd_bus_message_enter_container(m, 'e', "qv")) > 0) {
				uint8_t buf[BT_TAG_BYTES];
				uint16_t id = 0;
				int n;

				r = sd_bus_message_read(m, "q", &id);
				if (r < 0)
					break;
				if (id == BT_MFG_ID) {
					n = read_variant_bytes(m, buf, sizeof(buf));
					if (n < 0) {
						r = n;
						break;
					}
					uint8_t tag[BT_TAG_BYTES];

					if (bt_tag_parse(tag, buf, (size_t)n) == 0) {
						memcpy(p->tag, tag, BT_TAG_BYTES);
						p->has_tag = true;
					}
				} else {
					r = sd_bus_message_skip(m, "v");
					if (r < 0)
						break;
				}
				r = sd_bus_message_exit_container(m);
			}
			if (r >= 0)
				r = sd_bus_message_exit_container(m);
			if (r >= 0)
				r = sd_bus_message_exit_container(m);
			*heard = true;
		}
	} else if (!strcmp(k, "RSSI") || !strcmp(k, "ServiceData") || !strcmp(k, "TxPower")) {
		*heard = true;
		r = sd_bus_message_skip(m, "v");
	} else {
		r = sd_bus_message_skip(m, "v");
	}
	return r;
}

/* Device1 properties (a{sv}, the whole set or changed ones). Sets *heard
 * when they say an advertisement just arrived. */
static int device_props(struct bt_peer *p, sd_bus_message *m, bool *heard)
{
	struct device_walk w = {.p = p, .heard = heard};

	return dict_each(m, "{sv}", "sv", device_prop, &w);
}

static int adapter_prop(void *ctx, const char *k, sd_bus_message *m)
{
	struct bt_driver *d = ctx;
	const char *s = NULL;
	int b = 0, r;

	if (!strcmp(k, "Address")) {
		r = sd_bus_message_read(m, "v", "s", &s);
		if (r >= 0)
			d->has_addr = bt_addr_parse(d->addr, s) == 0;
	} else if (!strcmp(k, "Powered")) {
		r = sd_bus_message_read(m, "v", "b", &b);
		if (r >= 0)
			d->powered = b;
	} else {
		r = sd_bus_message_skip(m, "v");
	}
	return r;
}

/* Adapter1 properties (a{sv}). */
static int adapter_props(struct bt_driver *d, sd_bus_message *m)
{
	return dict_each(m, "{sv}", "sv", adapter_prop, d);
}

struct ifaces_walk {
	struct bt_driver *d;
	const char *path;
	bool adapter; /* the object is our adapter */
};

static int object_iface(void *ctx, const char *iface, sd_bus_message *m)
{
	struct ifaces_walk *w = ctx;
	struct bt_driver *d = w->d;
	const char *path = w->path;
	int r;

	if (!strcmp(iface, IFACE_ADAPTER) && !strcmp(path, d->adapter_path)) {
		r = adapter_props(d, m);
		w->adapter = true;
	} else if (!strcmp(iface, IFACE_DEVICE) && path_under(path, d->adapter_path)) {
		struct bt_peer *p = peer_find(d, path, true);
		bool heard = false;

		r = p ? device_props(p, m, &heard) : sd_bus_message_skip(m, "a{sv}");
		/* Only a device with advertisement data of this
		 * discovery (not one bluetoothd remembers) is dialled. */
		if (r >= 0 && p && heard)
			peer_report(d, p);
	} else {
		r = sd_bus_message_skip(m, "a{sv}");
	}
	return r;
}

/* One object's interfaces (a{sa{sv}}), from GetManagedObjects or
 * InterfacesAdded. */
static int object_ifaces(struct bt_driver *d, const char *path, sd_bus_message *m)
{
	struct ifaces_walk w = {.d = d, .path = path};
	int r = dict_each(m, "{sa{sv}}", "sa{sv}", object_iface, &w);

	if (r >= 0 && w.adapter) {
		if (!d->adapter_found)
			log_info(SUB_LINK, "bluetooth: adapter %s found", d->adapter);
		d->adapter_found = true;
		d->warned_adapter = false;
	}
	return r;
}

/* ---- D-Bus plumbing ---- */

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void bus_update(struct bt_driver *d)
{
	uint64_t usec = UINT64_MAX, now;
	uint32_t want = 0;
	int ev;

	if (!d->bus || d->stopped)
		return;
	ev = sd_bus_get_events(d->bus);
	if (ev > 0) {
		if (ev & POLLIN)
			want |= EPOLLIN;
		if (ev & POLLOUT)
			want |= EPOLLOUT;
	}
	if (want != d->bus_events && d->bus_fd >= 0 && !loop_mod_fd(d->loop, d->bus_fd, want))
		d->bus_events = want;
	if (sd_bus_get_timeout(d->bus, &usec) < 0 || usec == UINT64_MAX) {
		loop_timer_disarm(d->bus_timer);
		return;
	}
	now = now_usec();
	loop_timer_arm(d->bus_timer, usec > now ? (usec - now + 999) / 1000 : 0);
}

static void bus_lost(struct bt_driver *d, int err)
{
	log_warn(SUB_LINK, "bluetooth: lost the system D-Bus: %s; retrying in %llu ms", strerror(-err),
		 (unsigned long long)d->retry_ms);
	bus_drop(d);
	d->adapter_found = d->powered = d->power_asked = d->has_addr = false;
	d->setup = SETUP_IDLE;
	d->adv_registered = false;
	peers_clear(d);
	listen_close(d);
	loop_timer_arm(d->retry_timer, d->retry_ms);
}

static void bus_process(struct bt_driver *d)
{
	int i, r = 0;

	drv_enter(d);
	for (i = 0; i < BUS_PER_TURN && d->bus && !d->stopped; i++) {
		r = sd_bus_process(d->bus, NULL);
		if (r <= 0)
			break;
	}
	if (d->bus && !d->stopped) {
		if (r < 0)
			bus_lost(d, r);
		else if (i == BUS_PER_TURN)
			loop_timer_arm(d->bus_timer, 0); /* more next turn: others get theirs */
		else
			bus_update(d);
	}
	drv_leave(d);
}

static void bus_io(void *user, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	bus_process(user);
}

static void bus_tick(void *user)
{
	bus_process(user);
}

static void bus_kick(struct bt_driver *d)
{
	if (d->bus && !d->stopped)
		loop_timer_arm(d->bus_timer, 0);
}

/* A method call to bluetoothd that does not start it (no bus activation:
 * an operator who has not enabled bluetoothd gets a log line, not a
 * surprise daemon). The reply goes to cb with slot kept in *slot. */
static int call_new(struct bt_driver *d, sd_bus_message **m, const char *path, const char *iface,
		    const char *member)
{
	int r = sd_bus_message_new_method_call(d->bus, m, BLUEZ, path, iface, member);

	if (r >= 0)
		r = sd_bus_message_set_auto_start(*m, 0);
	return r;
}

/* Sends m, built when r >= 0 (else only freed), with its reply to cb. */
static int call_send(struct bt_driver *d, int r, sd_bus_message *m, sd_bus_slot **slot,
		     sd_bus_message_handler_t cb)
{
	if (r < 0) {
		sd_bus_message_unref(m);
		return r;
	}
	*slot = sd_bus_slot_unref(*slot);
	r = sd_bus_call_async(d->bus, slot, m, cb, d, 0);
	sd_bus_message_unref(m);
	bus_kick(d);
	return r;
}

static const char *reply_error(sd_bus_message *m)
{
	const sd_bus_error *e = sd_bus_message_get_error(m);

	if (!e)
		return NULL;
	return e->message ? e->message : e->name ? e->name : "error";
}

/* ---- the advertisement object bluetoothd reads ---- */

static int adv_get_type(sd_bus *bus, const char *path, const char *iface, const char *prop,
			sd_bus_message *reply, void *user, sd_bus_error *err)
{
	(void)bus, (void)path, (void)iface, (void)prop, (void)user, (void)err;
	return sd_bus_message_append(reply, "s", "peripheral");
}

static int adv_get_uuids(sd_bus *bus, const char *path, const char *iface, const char *prop,
			 sd_bus_message *reply, void *user, sd_bus_error *err)
{
	(void)bus, (void)path, (void)iface, (void)prop, (void)user, (void)err;
	return sd_bus_message_append(reply, "as", 1, BT_SERVICE_UUID);
}

static int adv_get_mfg(sd_bus *bus, const char *path, const char *iface, const char *prop,
		       sd_bus_message *reply, void *user, sd_bus_error *err)
{
	struct bt_driver *d = user;
	int r;

	(void)bus, (void)path, (void)iface, (void)prop, (void)err;
	r = sd_bus_message_open_container(reply, 'a', "{qv}");
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'e', "qv");
	if (r >= 0)
		r = sd_bus_message_append(reply, "q", (uint16_t)BT_MFG_ID);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'v', "ay");
	if (r >= 0)
		r = sd_bus_message_append_array(reply, 'y', d->tag, BT_TAG_BYTES);
	for (int i = 0; i < 3 && r >= 0; i++)
		r = sd_bus_message_close_container(reply);
	return r;
}

static int adv_release(sd_bus_message *m, void *user, sd_bus_error *err)
{
	struct bt_driver *d = user;

	(void)err;
	log_info(SUB_LINK, "bluetooth: bluetoothd released our advertisement");
	d->adv_registered = false;
	if (d->setup == SETUP_DONE) {
		d->setup = SETUP_IDLE;
		loop_timer_arm(d->retry_timer, d->retry_ms);
	}
	return sd_bus_reply_method_return(m, "");
}

static const sd_bus_vtable adv_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Type", "s", adv_get_type, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("ServiceUUIDs", "as", adv_get_uuids, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("ManufacturerData", "a{qv}", adv_get_mfg, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_METHOD("Release", "", "", adv_release, 0),
    SD_BUS_VTABLE_END,
};

/* ---- adapter set-up: filter, discovery, advertisement ---- */

static void setup_failed(struct bt_driver *d, const char *step, const char *why)
{
	log_warn(SUB_LINK, "bluetooth: %s on %s: %s; retrying in %llu ms", step, d->adapter, why,
		 (unsigned long long)d->retry_ms);
	d->setup = SETUP_IDLE;
	loop_timer_arm(d->retry_timer, d->retry_ms);
}

/* The reply m to setup step `step` (state while in flight): true when the
 * step is still current and succeeded, or failed with error ok (NULL:
 * none is fine); a failure fails the step. */
static bool setup_reply(struct bt_driver *d, sd_bus_message *m, enum bt_setup state, const char *step,
			const char *ok)
{
	const char *e = reply_error(m);

	d->call_setup = sd_bus_slot_unref(d->call_setup);
	if (d->setup != state)
		return false;
	if (e && !(ok && sd_bus_message_is_method_error(m, ok))) {
		setup_failed(d, step, e);
		return false;
	}
	return true;
}

/* Starts setup step `state`: bluetoothd's iface.member on our adapter with
 * the arguments after types (as sd_bus_message_append takes them; NULL:
 * none), its reply to cb. A call that cannot be sent fails the step. */
static void setup_call(struct bt_driver *d, enum bt_setup state, const char *iface, const char *member,
		       sd_bus_message_handler_t cb, const char *types, ...)
{
	sd_bus_message *m = NULL;
	va_list ap;
	int r;

	d->setup = state;
	r = call_new(d, &m, d->adapter_path, iface, member);
	if (r >= 0 && types) {
		va_start(ap, types);
		r = sd_bus_message_appendv(m, types, ap);
		va_end(ap);
	}
	r = call_send(d, r, m, &d->call_setup, cb);
	if (r < 0)
		setup_failed(d, member, strerror(-r));
}

static int on_register_adv(sd_bus_message *m, void *user, sd_bus_error *err)
{
	struct bt_driver *d = user;
	char a[BT_ADDR_TEXT], tag[2 * BT_TAG_BYTES + 1];

	(void)err;
	if (!setup_reply(d, m, SETUP_ADVERT, "RegisterAdvertisement", "org.bluez.Error.AlreadyExists"))
		return 0;
	d->adv_registered = true;
	d->setup = SETUP_DONE;
	rescan_arm(d);
	bt_addr_format(a, d->addr);
	hex_encode(tag, d->tag, BT_TAG_BYTES);
	log_info(SUB_LINK, "bluetooth: %s (%s) up: %s L2CAP on PSM 0x%04x, advertising tag %s, scanning",
		 d->adapter, a, d->le ? "LE credit-based" : "BR/EDR", d->psm, tag);
	/* Devices heard just now, while we could not dial yet. */
	for (unsigned i = 0; i < PEER_SLOTS && !d->stopped && d->setup == SETUP_DONE; i++)
		if (d->peers[i].used && d->peers[i].last_ms &&
		    loop_now_mono_ms() + 1 - d->peers[i].last_ms < FRESH_MS)
			peer_report(d, &d->peers[i]);
	return 0;
}

static void setup_advert(struct bt_driver *d)
{
	setup_call(d, SETUP_ADVERT, IFACE_ADV_MGR, "RegisterAdvertisement", on_register_adv, "oa{sv}",
		   ADV_PATH, 0);
}

static int on_start_discovery(sd_bus_message *m, void *user, sd_bus_error *err)
{
	struct bt_driver *d = user;

	(void)err;
	if (!setup_reply(d, m, SETUP_DISCOVER, "StartDiscovery", "org.bluez.Error.InProgress"))
		return 0;
	if (d->adv_registered) {
		/* A scan restart: the advertisement stayed registered. */
		d->setup = SETUP_DONE;
		rescan_arm(d);
		return 0;
	}
	setup_advert(d);
	return 0;
}

static int on_set_filter(sd_bus_message *m, void *user, sd_bus_error *err)
{
	struct bt_driver *d = user;

	(void)err;
	if (setup_reply(d, m, SETUP_FILTER, "SetDiscoveryFilter", NULL))
		setup_call(d, SETUP_DISCOVER, IFACE_ADAPTER, "StartDiscovery", on_start_discovery, NULL);
	return 0;
}

static void setup_start(struct bt_driver *d);

/* Periodic scan restart (rescan_ms). A controller that reports each
 * advertiser once per scan (duplicate filtering in the controller; btvirt
 * reports only when scanning starts) would otherwise never tell us again
 * about a node we failed to reach the first time: each restart brings a
 * fresh report of every advertiser in range, so the core can dial again. */
static void rescan_arm(struct bt_driver *d)
{
	if (d->rescan_ms && d->rescan_timer)
		loop_timer_arm(d->rescan_timer, d->rescan_ms);
}

static int on_stop_discovery(sd_bus_message *m, void *user, sd_bus_error *err)
{
	struct bt_driver *d = user;

	(void)m, (void)err;
	d->call_setup = sd_bus_slot_unref(d->call_setup);
	if (d->setup != SETUP_RESCAN)
		return 0;
	setup_start(d); /* filter again (bluetoothd may drop it with the session), then start */
	return 0;
}

static void rescan_tick(void *user)
{
	struct bt_driver *d = user;

	drv_enter(d);
	if (!d->stopped && d->bus && d->setup == SETUP_DONE)
		setup_call(d, SETUP_RESCAN, IFACE_ADAPTER, "StopDiscovery", on_stop_discovery, NULL);
	drv_leave(d);
}

/* Scanning before advertising: see the file comment. */
static void setup_start(struct bt_driver *d)
{
	setup_call(d, SETUP_FILTER, IFACE_ADAPTER, "SetDiscoveryFilter", on_set_filter, "a{sv}", 3, "UUIDs",
		   "as", 1, BT_SERVICE_UUID, "Transport", "s", "le", "DuplicateData", "b", 1);
}

static int on_power(sd_bus_message *m, void *user, sd_bus_error *err)
{
	struct bt_driver *d = user;
	const char *e = reply_error(m);

	(void)err;
	d->call_power = sd_bus_slot_unref(d->call_power);
	if (e)
		log_warn(SUB_LINK,
			 "bluetooth: cannot power %s on: %s (rfkill? `rfkill list`, `bluetoothctl power on`)",
			 d->adapter, e);
	return 0;
}

static void power_on(struct bt_driver *d)
{
	sd_bus_message *m = NULL;
	int r;

	d->power_asked = true;
	log_info(SUB_LINK, "bluetooth: %s is off; powering it on", d->adapter);
	r = call_new(d, &m, d->adapter_path, "org.freedesktop.DBus.Properties", "Set");
	if (r >= 0)
		r = sd_bus_message_append(m, "ssv", IFACE_ADAPTER, "Powered", "b", 1);
	r = call_send(d, r, m, &d->call_power, on_power);
	if (r < 0)
		log_warn(SUB_LINK, "bluetooth: cannot power %s on: %s", d->adapter, strerror(-r));
}

/* Our adapter went off or away: stop listening; links die with the radio. */
static void adapter_down(struct bt_driver *d, const char *why)
{
	if (d->setup != SETUP_IDLE || d->lfd >= 0)
		log_info(SUB_LINK, "bluetooth: %s %s: no Bluetooth links until it is back", d->adapter, why);
	d->setup = SETUP_IDLE;
	d->call_setup = sd_bus_slot_unref(d->call_setup);
	d->adv_registered = false;
	listen_close(d);
	links_fail_connecting(d, -ENETDOWN);
}

/* Brings our side in line with what we know of the adapter. */
static void adapter_check(struct bt_driver *d)
{
	if (d->stopped || !d->bus)
		return;
	if (!d->adapter_found) {
		adapter_down(d, "is gone");
		return;
	}
	if (!d->powered) {
		adapter_down(d, "is powered off");
		if (d->power_on && !d->power_asked && !d->call_power)
			power_on(d);
		return;
	}
	/* Powered once as we found it: from now on whoever switches it off
	 * (an operator, airplane mode) is not overruled. */
	d->power_asked = true;
	if (!d->has_addr || d->setup != SETUP_IDLE)
		return;
	if (listen_open(d)) {
		loop_timer_arm(d->retry_timer, d->retry_ms);
		return;
	}
	setup_start(d);
}

static int on_objects(sd_bus_message *m, void *user, sd_bus_error *err)
{
	struct bt_driver *d = user;
	const char *e = reply_error(m);
	int r;

	(void)err;
	d->call_objects = sd_bus_slot_unref(d->call_objects);
	if (e) {
		if (!d->warned_bluez)
			log_warn(SUB_LINK,
				 "bluetooth: bluetoothd is not running (org.bluez on the system bus: %s); "
				 "waiting for it",
				 e);
		d->warned_bluez = true;
		return 0;
	}
	d->warned_bluez = false;
	r = sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}");
	while (r > 0 && (r = sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}")) > 0) {
		const char *path = NULL;

		r = sd_bus_message_read(m, "o", &path);
		if (r >= 0)
			r = object_ifaces(d, path, m);
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
	}
	if (r < 0)
		log_warn(SUB_LINK, "bluetooth: GetManagedObjects: %s", strerror(-r));
	if (!d->adapter_found && !d->warned_adapter) {
		log_warn(SUB_LINK,
			 "bluetooth: bluetoothd has no adapter %s (see `bluetoothctl list`); waiting for it",
			 d->adapter);
		d->warned_adapter = true;
	}
	adapter_check(d);
	return 0;
}

static void objects_get(struct bt_driver *d)
{
	sd_bus_message *m = NULL;
	int r = call_new(d, &m, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects");

	r = call_send(d, r, m, &d->call_objects, on_objects);
	if (r < 0)
		log_warn(SUB_LINK, "bluetooth: GetManagedObjects: %s", strerror(-r));
}

static int on_added(sd_bus_message *m, void *user, sd_bus_error *err)
{
	struct bt_driver *d = user;
	const char *path = NULL;

	(void)err;
	if (sd_bus_message_read(m, "o", &path) < 0 || object_ifaces(d, path, m) < 0)
		return 0;
	if (!strcmp(path, d->adapter_path))
		adapter_check(d);
	return 0;
}

static int on_removed(sd_bus_message *m, void *user, sd_bus_error *err)
{
	struct bt_driver *d = user;
	const char *path = NULL, *iface = NULL;
	int r;

	(void)err;
	if (sd_bus_message_read(m, "o", &path) < 0 || sd_bus_message_enter_container(m, 'a', "s") < 0)
		return 0;
	while ((r = sd_bus_message_read(m, "s", &iface)) > 0) {
		if (!strcmp(iface, IFACE_ADAPTER) && !strcmp(path, d->adapter_path)) {
			d->adapter_found = d->powered = d->power_asked = d->has_addr = false;
			peers_clear(d);
			adapter_check(d);
		} else if (!strcmp(iface, IFACE_DEVICE)) {
			struct bt_peer *p = peer_find(d, path, false);

			if (p)
				memset(p, 0, sizeof(*p));
		}
	}
	return 0;
}

static int on_props(sd_bus_message *m, void *user, sd_bus_error *err)
{
	struct bt_driver *d = user;
	const char *path = sd_bus_message_get_path(m), *iface = NULL;

	(void)err;
	if (!path || sd_bus_message_read(m, "s", &iface) < 0)
		return 0;
	if (!strcmp(iface, IFACE_ADAPTER) && !strcmp(path, d->adapter_path)) {
		bool was = d->powered;

		if (adapter_props(d, m) < 0)
			return 0;
		if (was != d->powered)
			log_info(SUB_LINK, "bluetooth: %s powered %s", d->adapter, d->powered ? "on" : "off");
		adapter_check(d);
	} else if (!strcmp(iface, IFACE_DEVICE) && path_under(path, d->adapter_path)) {
		struct bt_peer *p = peer_find(d, path, true);
		bool heard = false;

		if (p && device_props(p, m, &heard) >= 0 && heard)
			peer_report(d, p);
	}
	return 0;
}

static int on_owner(sd_bus_message *m, void *user, sd_bus_error *err)
{
	struct bt_driver *d = user;
	const char *name = NULL, *old = NULL, *new = NULL;

	(void)err;
	if (sd_bus_message_read(m, "sss", &name, &old, &new) < 0 || strcmp(name, BLUEZ))
		return 0;
	if (new &&*new) {
		log_info(SUB_LINK, "bluetooth: bluetoothd is on the bus");
		d->warned_bluez = false;
		objects_get(d);
	} else {
		log_warn(SUB_LINK, "bluetooth: bluetoothd left the bus; waiting for it");
		d->adapter_found = d->powered = d->power_asked = d->has_addr = false;
		peers_clear(d);
		adapter_check(d);
	}
	return 0;
}

static int bus_open(struct bt_driver *d)
{
	char rule[256];
	int r;

	r = sd_bus_open_system(&d->bus);
	if (r < 0)
		goto fail;
	d->bus_fd = sd_bus_get_fd(d->bus);
	if (d->bus_fd < 0) {
		r = d->bus_fd;
		goto fail;
	}
	r = loop_add_fd(d->loop, d->bus_fd, EPOLLIN, bus_io, d);
	if (r < 0) {
		d->bus_fd = -1;
		goto fail;
	}
	d->bus_events = EPOLLIN;
	/* Matches first, then the snapshot: the bus applies them in order,
	 * so no change between the two is missed. */
	r = sd_bus_add_match_async(d->bus, &d->m_added,
				   "type='signal',sender='" BLUEZ "',path='/',"
				   "interface='org.freedesktop.DBus.ObjectManager',member='InterfacesAdded'",
				   on_added, NULL, d);
	if (r >= 0)
		r = sd_bus_add_match_async(
		    d->bus, &d->m_removed,
		    "type='signal',sender='" BLUEZ "',path='/',"
		    "interface='org.freedesktop.DBus.ObjectManager',member='InterfacesRemoved'",
		    on_removed, NULL, d);
	if (r >= 0) {
		snprintf(rule, sizeof(rule),
			 "type='signal',sender='" BLUEZ "',interface='org.freedesktop.DBus.Properties',"
			 "member='PropertiesChanged',path_namespace='%s'",
			 d->adapter_path);
		r = sd_bus_add_match_async(d->bus, &d->m_props, rule, on_props, NULL, d);
	}
	if (r >= 0)
		r = sd_bus_add_match_async(
		    d->bus, &d->m_owner,
		    "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
		    "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" BLUEZ "'",
		    on_owner, NULL, d);
	if (r >= 0)
		r = sd_bus_add_object_vtable(d->bus, &d->adv_obj, ADV_PATH, IFACE_ADV, adv_vtable, d);
	if (r < 0)
		goto fail;
	d->warned_bus = false;
	objects_get(d);
	return 0;
fail:
	if (!d->warned_bus)
		log_warn(SUB_LINK,
			 "bluetooth: cannot use the system D-Bus (%s): is dbus running? Bluetooth stays "
			 "off; retrying every %llu ms",
			 strerror(-r), (unsigned long long)d->retry_ms);
	d->warned_bus = true;
	bus_drop(d);
	return r;
}

/* Retries whatever is missing: the bus connection or the adapter set-up. */
static void retry_tick(void *user)
{
	struct bt_driver *d = user;

	drv_enter(d);
	if (!d->bus) {
		if (bus_open(d) < 0)
			loop_timer_arm(d->retry_timer, d->retry_ms);
	} else if (!d->adapter_found && !d->call_objects) {
		objects_get(d);
	} else {
		adapter_check(d);
	}
	drv_leave(d);
}

/* ---- start, stop, status ---- */

static int read_config(struct bt_driver *d, const struct config *cfg)
{
	const char *adapter = config_str(cfg, CFG_SECTION, "adapter", DEF_ADAPTER);
	const char *mode = config_str(cfg, CFG_SECTION, "mode", "le");
	const char *psm = config_str(cfg, CFG_SECTION, "psm", "");
	uint64_t v = 0;
	int power = 1, ret;

	if (!*adapter || strlen(adapter) >= sizeof(d->adapter) ||
	    strspn(adapter, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
		strlen(adapter)) {
		log_err(SUB_LINK, "[bluetooth] adapter = %s: expected an adapter name such as hci0", adapter);
		return MU_E_CONFIG;
	}
	snprintf(d->adapter, sizeof(d->adapter), "%s", adapter);
	snprintf(d->adapter_path, sizeof(d->adapter_path), "/org/bluez/%s", adapter);
	if (!strcmp(mode, "le")) {
		d->le = true;
	} else if (!strcmp(mode, "bredr")) {
		d->le = false;
	} else {
		log_err(SUB_LINK, "[bluetooth] mode = %s: must be le or bredr", mode);
		return MU_E_CONFIG;
	}
	d->psm = d->le ? DEF_PSM_LE : DEF_PSM_BREDR;
	if (*psm && (bt_psm_parse(psm, &d->psm) || !bt_psm_valid(d->psm, d->le))) {
		log_err(SUB_LINK, "[bluetooth] psm = %s: %s", psm,
			d->le ? "LE needs a dynamic PSM 0x0080..0x00ff"
			      : "BR/EDR needs an odd dynamic PSM 0x1001..0xffff with an even upper byte");
		return MU_E_CONFIG;
	}
	ret = config_u64(cfg, CFG_SECTION, "mtu", DEF_MTU, d->le ? BT_LE_MTU_MIN : BT_BREDR_MTU_MIN,
			 BT_MTU_MAX, &v);
	if (ret)
		return ret;
	d->mtu = (uint16_t)v;
	ret = config_u64(cfg, CFG_SECTION, "connect_timeout_ms", DEF_CONNECT_TIMEOUT_MS,
			 MIN_CONNECT_TIMEOUT_MS, MAX_CONNECT_TIMEOUT_MS, &d->connect_timeout_ms);
	if (!ret)
		ret = config_u64(cfg, CFG_SECTION, "retry_ms", DEF_RETRY_MS, MIN_RETRY_MS, MAX_RETRY_MS,
				 &d->retry_ms);
	if (!ret)
		ret =
		    config_u64(cfg, CFG_SECTION, "rescan_ms", DEF_RESCAN_MS, 0, MAX_RESCAN_MS, &d->rescan_ms);
	if (!ret && d->rescan_ms && d->rescan_ms < MIN_RESCAN_MS) {
		log_err(SUB_LINK, "[bluetooth] rescan_ms = %llu: 0 (off) or %d..%d",
			(unsigned long long)d->rescan_ms, MIN_RESCAN_MS, MAX_RESCAN_MS);
		ret = MU_E_CONFIG;
	}
	if (!ret)
		ret = config_u64(cfg, CFG_SECTION, "queue_bytes", DEF_QUEUE_BYTES, MIN_QUEUE_BYTES,
				 MAX_QUEUE_BYTES, &v);
	if (ret)
		return ret;
	d->queue_bytes = (size_t)v;
	ret = config_bool(cfg, CFG_SECTION, "power", 1, &power);
	if (ret)
		return ret;
	d->power_on = power;
	return 0;
}

static int bt_start(struct link_driver **out, struct loop *loop, const struct config *cfg,
		    const struct mu_identity *id, const struct link_events *ev, void *user)
{
	struct bt_driver *d = NULL;
	int ret;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->id = id;
	d->ev = ev;
	d->user = user;
	d->lfd = d->bus_fd = -1;
	ret = read_config(d, cfg);
	if (ret)
		goto out;
	if (id)
		bt_tag_make(d->tag, identity_sign_pk(id));
	ret = loop_timer_new(loop, &d->reap_timer, reap_run, d);
	if (!ret)
		ret = loop_timer_new(loop, &d->bus_timer, bus_tick, d);
	if (!ret)
		ret = loop_timer_new(loop, &d->retry_timer, retry_tick, d);
	if (!ret)
		ret = loop_timer_new(loop, &d->rescan_timer, rescan_tick, d);
	if (ret)
		goto out;
	/* No bus, no bluetoothd, no adapter: logged, retried; the node runs
	 * on its other links meanwhile. */
	if (bus_open(d) < 0)
		loop_timer_arm(d->retry_timer, d->retry_ms);
	log_info(SUB_LINK, "bluetooth: driver started on %s (%s, PSM 0x%04x, MTU %u)", d->adapter,
		 d->le ? "LE" : "BR/EDR", d->psm, d->mtu);
out:
	if (ret)
		bt_stop(ld_of(d));
	else
		*out = ld_of(d);
	return ret;
}

static void bt_stop(struct link_driver *ld)
{
	struct bt_driver *d = drv_of(ld);

	if (!d || d->stopped)
		return;
	d->stopped = true;
	listen_close(d);
	if (d->bus_fd >= 0)
		loop_del_fd(d->loop, d->bus_fd);
	d->bus_fd = -1;
	loop_timer_free(d->reap_timer);
	loop_timer_free(d->bus_timer);
	loop_timer_free(d->retry_timer);
	loop_timer_free(d->rescan_timer);
	d->reap_timer = d->bus_timer = d->retry_timer = d->rescan_timer = NULL;
	for (struct bt_link *bl = d->links; bl; bl = bl->next)
		link_teardown(bl);
	if (d->depth == 0)
		drv_free(d);
}

static void bt_status(const struct link_driver *ld, struct link_status *out)
{
	const struct bt_driver *d = (const struct bt_driver *)(const void *)ld;
	uint64_t now = loop_now_mono_ms() + 1;

	memset(out, 0, sizeof(*out));
	out->driver = link_bluetooth_ops.name;
	snprintf(out->iface, sizeof(out->iface), "%s", d->adapter);
	snprintf(out->mode, sizeof(out->mode), "%s%s", d->le ? "le" : "bredr",
		 d->setup == SETUP_DONE || d->setup == SETUP_RESCAN ? ""
		 : d->powered                                       ? "-setup"
								    : "-off");
	for (unsigned i = 0; i < PEER_SLOTS; i++) {
		const struct bt_peer *p = &d->peers[i];

		if (p->used && p->has_tag && p->has_uuid && p->last_ms && now - p->last_ms <= PEER_RECENT_MS)
			out->peers_seen++;
	}
	out->stats = d->closed;
	for (const struct bt_link *bl = d->links; bl; bl = bl->next) {
		if (bl->state == BL_UP)
			out->links_up++;
		stats_add(&out->stats, &bl->base.stats);
	}
	for (const struct bt_link *bl = d->reap; bl; bl = bl->next)
		stats_add(&out->stats, &bl->base.stats);
}

const struct link_ops link_bluetooth_ops = {
    .name = "bluetooth",
    .start = bt_start,
    .stop = bt_stop,
    .connect = bt_connect,
    .send = bt_send,
    .queued = bt_queued,
    .close = bt_close,
    .status = bt_status,
};
