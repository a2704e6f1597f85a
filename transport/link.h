/* Transport drivers ("links"): each driver is one const struct link_ops,
 * listed by name in link_drivers[] (transport/link.c). A driver moves bytes
 * and discovers peers; it knows nothing about sessions, bundles or sync.
 * Data flows one way through the node: link -> session -> sync -> verify ->
 * store -> router; drivers only ever call the link_events callbacks.
 *
 * Ownership: the node core owns each struct link_driver (start/stop). A
 * struct link (one connection) belongs to its driver; the core holds a
 * pointer from link_up until link_down, after which the pointer is dead. */
#ifndef MU_LINK_H
#define MU_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "../crypto/identity.h"

struct loop;
struct config;
struct link_driver;

#define LINK_ADDR_TEXT 80

/* Where a peer can be reached, as the driver understands it. */
struct link_addr {
	char text[LINK_ADDR_TEXT]; /* "[fe80::1%veth0]:7420", "hci1/AA:BB:..", for logs */
	struct sockaddr_storage sa; /* IP drivers */
	uint32_t sa_len;
};

/* What a radio driver says about an interface it manages (iface_event), and
 * what the core passes on to the other drivers (kick). */
enum link_iface_ev {
	IFACE_UP,        /* joined the cell/mesh and carrier is on: traffic can flow */
	IFACE_DOWN,      /* left, lost carrier, blocked or removed */
	IFACE_PEER_NEW,  /* a radio station appeared in the cell (not yet a Muster peer) */
	IFACE_PEER_GONE, /* a radio station left the cell or timed out */
};

struct link_stats {
	uint64_t bytes_in, bytes_out;
	uint64_t frames_in, frames_out;
};

struct link_status {
	const char *driver;   /* ops name */
	char iface[32];       /* interface / adapter */
	char mode[16];        /* "ip", "ibss", "mesh", "le", ... */
	uint32_t freq_mhz;    /* 0 when not radio */
	unsigned peers_seen;  /* discovered, not necessarily connected */
	unsigned links_up;    /* connections open */
	uint16_t port;        /* IP drivers: bound TCP listen port; 0 = not listening */
	struct link_stats stats;
};

/* One connection. Drivers embed this as the first member of their own
 * connection struct; the core reads it and sets core_data, nothing else. */
struct link {
	const struct link_ops *ops;
	struct link_driver *drv;
	struct link_addr peer; /* where it goes, for logs and `muster peers` */
	struct link_stats stats;
	void *core_data;       /* the node core's per-link state */
	/* Set by the driver before link_up (0 = the core's default): how many
	 * bytes the core keeps queued on this link before it stops adding
	 * bundles. A slow link (Bluetooth) asks for a few KB, so an immediate
	 * bundle never waits behind a long queue of bulk ones. */
	size_t pump_high_water;
};

/* Callbacks from a driver into the node core (all on the loop thread). */
struct link_events {
	/* A beacon or radio event says a peer with this key id is reachable at
	 * addr. The core decides whether to connect. An all-zero key means
	 * "key not known yet" (a configured static peer): the session
	 * handshake tells who it is. */
	void (*peer_seen)(void *user, struct link_driver *drv, const uint8_t key[static MU_KEY_BYTES],
			  const struct link_addr *addr);
	/* A connection is open (inbound = the peer connected to us). */
	void (*link_up)(void *user, struct link *lk, int inbound);
	/* Bytes arrived on lk (a stream: no frame boundaries promised). */
	void (*link_data)(void *user, struct link *lk, const uint8_t *p, size_t n);
	/* The send queue that was waiting on the socket is now empty, so the
	 * core can hand over more (optional; NULL to ignore). Lets a sender
	 * keep only a little queued and so put an immediate bundle next. */
	void (*link_drained)(void *user, struct link *lk);
	/* The connection is gone (err 0 = closed by us or cleanly by peer). */
	void (*link_down)(void *user, struct link *lk, int err);
	/* A radio driver reports a change of an interface it manages, named
	 * ifname (valid during the call). The core passes it to every other
	 * driver's kick, so the driver that carries data over that interface
	 * can react at once (optional; NULL to ignore). */
	void (*iface_event)(void *user, struct link_driver *drv, const char *ifname, enum link_iface_ev ev);
};

struct link_ops {
	const char *name;
	/* Starts the driver with its config section ("[tcp]", "[wifi]", ...).
	 * own_key is this node's key id (beacons carry it; signing uses id). */
	int (*start)(struct link_driver **out, struct loop *loop, const struct config *cfg,
		     const struct mu_identity *id, const struct link_events *ev, void *user);
	void (*stop)(struct link_driver *drv); /* closes every link; no callbacks after */
	/* Starts connecting; 0 or -errno (then nothing follows). The outcome
	 * comes later: link_up(inbound 0), or link_down(err) on a link the core
	 * never saw in link_up (core_data NULL; lk->peer says which attempt). */
	int (*connect)(struct link_driver *drv, const struct link_addr *addr);
	/* Queues bytes; never blocks. -ENOBUFS when the send queue is over its
	 * cap (LINK_SENDQ_MAX): the caller slows down. */
	int (*send)(struct link *lk, const uint8_t *p, size_t n);
	/* Bytes queued and not yet written (for back-pressure). */
	size_t (*queued)(const struct link *lk);
	/* link_down(err 0) follows on a later loop turn, never from inside
	 * close; no link_data arrives in between. */
	void (*close)(struct link *lk);
	void (*status)(const struct link_driver *drv, struct link_status *out);
	/* Optional (NULL: not interested). Another driver reported ev on
	 * ifname (see link_events.iface_event). Called by the core from inside
	 * a callback of that other driver, so it must not call back into the
	 * core; sending a beacon or re-reading an interface index is fine. */
	void (*kick)(struct link_driver *drv, const char *ifname, enum link_iface_ev ev);
};

#define LINK_SENDQ_MAX (4u << 20) /* per link */

/* The drivers, each defined in its own transport/<name>.c. */
extern const struct link_ops link_tcp_ops;
/* Sets up IBSS / 802.11s over nl80211; carries no data itself (see wifi.c). */
extern const struct link_ops link_wifi_ops;
/* LE advertising + discovery through bluetoothd (D-Bus), data over L2CAP
 * LE credit-based (or BR/EDR) channels (see bluetooth.c). */
extern const struct link_ops link_bluetooth_ops;

/* NULL-terminated, in preference order. */
extern const struct link_ops *const link_drivers[];
/* The driver called name, or NULL. */
const struct link_ops *link_ops_find(const char *name);

#endif
