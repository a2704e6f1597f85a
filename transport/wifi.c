/* The Wi-Fi driver ("wifi"): puts one radio interface into an IBSS (ad-hoc)
 * cell or an 802.11s mesh over nl80211 and keeps it there while radios come
 * and go. It carries no data: discovery beacons and sessions run over the
 * same interface in the IP driver (tcp), which the core tells about every
 * change here through link_events.iface_event -> link_ops.kick. So
 * connect/send/close are -EOPNOTSUPP and link_up is never called.
 * docs/wifi.md is the long form.
 *
 * Shape (after iwd): the driver keeps what it knows of the kernel (the
 * nl80211 family, the radios, our interface, its flags, its stations) and
 * reconcile() compares that with what the config wants and sends the one
 * next request. Exactly one request is outstanding at a time; its netlink
 * sequence number is the tracked id, and it also means "busy". Its ack or
 * error (the kernel's -errno, with the extended-ack text when the kernel
 * gives one) updates the knowledge and reconcile() runs again. Everything
 * else comes from multicast subscriptions, never polling: nl80211 "config"
 * (radios and interfaces appearing, vanishing, changing type) and "mlme"
 * (stations, IBSS joins), the generic netlink controller's "notify" (the
 * nl80211 family itself appearing when cfg80211 loads), rtnetlink
 * RTNLGRP_LINK (up, carrier, renames) and /dev/rfkill. A lost event
 * (receive buffer overrun) re-reads the state by dumps.
 *
 * Callback discipline as in tcp.c: the core is called only from loop
 * callbacks; stop() from inside one defers the final free (depth). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/nl80211.h>
#include <linux/rfkill.h>
#include <linux/rtnetlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include <sodium.h>

#include "config.h"
#include "err.h"
#include "hex.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "wifi_nl.h"

/* [wifi] keys: defaults and bounds (docs/wifi.md lists them). */
#define CFG_SECTION     "wifi"
#define DEF_MODE        "ibss"
#define DEF_FREQ_MHZ    2412
#define MIN_FREQ_MHZ    2400
#define MAX_FREQ_MHZ    7200
#define DEF_SSID        "muster"
#define DEF_MESH_ID     "muster"
#define DEF_CREATE_NAME "muster0" /* the interface made on [wifi] phy */
#define PHY_ANY         "any"

#define REQ_TIMEOUT_MS 5000  /* the kernel answers at once; this is for lost replies */
#define RETRY_MIN_MS   1000  /* after a failed request, doubling ... */
#define RETRY_MAX_MS   60000 /* ... up to this */
#define RECV_PER_TURN  64
#define EV_RCVBUF      (1 << 20) /* event socket: room for a burst of station events */
#define WIPHY_MAX      16
#define STA_MAX        128
#define ERRTEXT_MAX    128

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000 /* linux/if.h; <net/if.h> stops at IFF_DYNAMIC */
#endif
#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* The one outstanding request. */
enum wreq {
	WR_NONE,
	WR_WIPHYS, /* dump radios */
	WR_IFACES, /* dump interfaces */
	WR_LINK,   /* RTM_GETLINK of ours: flags */
	WR_NEW_IFACE,
	WR_DOWN, /* link down, to change type */
	WR_SET_TYPE,
	WR_UP,
	WR_LEAVE, /* before a re-join (-EALREADY) */
	WR_JOIN,
	WR_STATIONS, /* dump stations after joining */
};

static const char *wreq_name(enum wreq r)
{
	switch (r) {
	case WR_NONE:
		return "none";
	case WR_WIPHYS:
		return "list radios";
	case WR_IFACES:
		return "list interfaces";
	case WR_LINK:
		return "read link state";
	case WR_NEW_IFACE:
		return "create interface";
	case WR_DOWN:
		return "set link down";
	case WR_SET_TYPE:
		return "set interface type";
	case WR_UP:
		return "set link up";
	case WR_LEAVE:
		return "leave";
	case WR_JOIN:
		return "join";
	case WR_STATIONS:
		return "list stations";
	}
	return "?";
}

struct wifi_driver;

/* A netlink socket registered with the loop. */
struct nlch {
	struct wifi_driver *d;
	struct nl_sock *sk;
	struct nl_cb *cb;
	int fd;
	bool route; /* NETLINK_ROUTE, else generic */
	const char *what;
};

struct wiphy_info {
	uint32_t idx;
	uint32_t iftypes;
	char name[WNL_NAME_MAX];
};

struct wifi_driver {
	struct loop *loop;
	const struct link_events *ev;
	void *user;
	int depth;
	bool stopped;

	/* What the config wants. */
	enum wnl_mode mode;
	bool external;               /* setup = external: watch, do not configure */
	char want_if[IF_NAMESIZE];   /* interface to use, or to create on want_phy */
	char want_phy[WNL_NAME_MAX]; /* "" = use want_if as found; PHY_ANY = any radio */
	struct wnl_join join;        /* id, key, freq (ifindex filled per join) */

	struct nlch cmd, evs, rt;
	int rfk_fd;
	int family;               /* nl80211 generic netlink id; -1 = absent */
	int grp_config, grp_mlme; /* joined on evs; 0 = none */

	enum wreq req;
	struct nlch *req_ch;
	uint32_t req_seq;
	bool dump_intr;
	struct loop_timer *req_timer;
	struct loop_timer *retry_timer;
	bool retry_wait;
	uint64_t backoff_ms;
	int last_err; /* of the last failed request, to log a repeat quietly */
	enum wreq last_err_req;

	/* What we know of the kernel. */
	bool need_wiphys, need_ifaces;
	struct wiphy_info wiphys[WIPHY_MAX];
	unsigned n_wiphys;
	uint32_t wiphy;                                            /* our radio, WNL_NONE = not chosen */
	uint32_t cand_ifindex, cand_iftype, cand_wiphy, cand_freq; /* best match of an interface dump */
	char cand_name[IF_NAMESIZE];
	uint32_t ifindex; /* our interface, 0 = none */
	char ifname[IF_NAMESIZE];
	uint32_t iftype;
	bool created; /* by us: deleted on stop */
	bool link_known;
	uint32_t flags; /* IFF_* */
	bool joined, leave_first, stations_known;
	uint32_t freq_mhz;   /* current channel, 0 = unknown */
	bool blocked;        /* rfkill: last bring-up said -ERFKILL */
	bool unsupported;    /* the radio cannot do our mode */
	const char *waiting; /* the reason last logged for waiting, to log it once */

	uint8_t sta[STA_MAX][WNL_MAC_BYTES];
	unsigned n_sta;

	bool reported_up;
	char reported_if[IF_NAMESIZE];
};

static struct wifi_driver *drv_of(struct link_driver *ld)
{
	return (struct wifi_driver *)(void *)ld;
}

static struct link_driver *ld_of(struct wifi_driver *d)
{
	return (struct link_driver *)(void *)d;
}

static const char *mode_name(enum wnl_mode m)
{
	switch (m) {
	case WNL_IBSS:
		return "ibss";
	case WNL_MESH:
		return "mesh";
	}
	return "?";
}

static void wifi_stop(struct link_driver *ld);
static void settle(struct wifi_driver *d);

/* ---- driver frames ---- */

static void nlch_free(struct nlch *ch)
{
	nl_cb_put(ch->cb);
	nl_socket_free(ch->sk); /* closes the fd, leaving every group */
	ch->cb = NULL;
	ch->sk = NULL;
	ch->fd = -1;
}

static void drv_free(struct wifi_driver *d)
{
	nlch_free(&d->cmd);
	nlch_free(&d->evs);
	nlch_free(&d->rt);
	if (d->rfk_fd >= 0)
		close(d->rfk_fd);
	sodium_memzero(&d->join, sizeof(d->join));
	free(d);
}

static void drv_enter(struct wifi_driver *d)
{
	d->depth++;
}

static void drv_leave(struct wifi_driver *d)
{
	if (--d->depth == 0 && d->stopped)
		drv_free(d);
}

/* ---- what we know ---- */

/* An interface name from the kernel into an IF_NAMESIZE buffer (a longer
 * one cannot be an interface name: left unchanged). */
static void set_ifname(char dst[static IF_NAMESIZE], const char *src)
{
	size_t n = strlen(src);

	if (n < IF_NAMESIZE)
		memcpy(dst, src, n + 1);
}

static void sta_clear(struct wifi_driver *d)
{
	d->n_sta = 0;
	d->stations_known = false;
}

/* Our interface is gone (or no longer ours). */
static void forget_iface(struct wifi_driver *d)
{
	d->ifindex = 0;
	d->created = false;
	d->link_known = false;
	d->flags = 0;
	d->joined = d->leave_first = false;
	d->freq_mhz = 0;
	sta_clear(d);
}

/* Something changed that may make a waiting or failing setup work now:
 * re-read radios and interfaces, and retry at once. */
static void rescan(struct wifi_driver *d)
{
	d->need_wiphys = d->need_ifaces = true;
	d->unsupported = false;
	d->retry_wait = false;
	d->backoff_ms = RETRY_MIN_MS;
	d->last_err = 0;
	if (d->retry_timer)
		loop_timer_disarm(d->retry_timer);
}

static void wait_for(struct wifi_driver *d, const char *why)
{
	if (d->waiting == why)
		return;
	d->waiting = why;
	log_info(SUB_LINK, "wifi: %s", why);
}

static const struct wiphy_info *wiphy_find(const struct wifi_driver *d, uint32_t idx)
{
	for (unsigned i = 0; i < d->n_wiphys; i++)
		if (d->wiphys[i].idx == idx)
			return &d->wiphys[i];
	return NULL;
}

static bool wiphy_can(const struct wiphy_info *w, enum wnl_mode m)
{
	/* iftypes 0: not told (an old kernel); let the kernel decide. */
	return !w->iftypes || (w->iftypes & (1u << wnl_iftype(m)));
}

static void wiphy_note(struct wifi_driver *d, const struct wnl_event *e)
{
	struct wiphy_info *w = (struct wiphy_info *)wiphy_find(d, e->wiphy);

	if (!w) {
		if (d->n_wiphys == WIPHY_MAX)
			return;
		w = &d->wiphys[d->n_wiphys++];
		memset(w, 0, sizeof(*w));
		w->idx = e->wiphy;
	}
	/* A split dump spreads one radio over several messages. */
	if (*e->name)
		snprintf(w->name, sizeof(w->name), "%s", e->name);
	w->iftypes |= e->iftypes;
}

static void unsupported(struct wifi_driver *d, const struct wiphy_info *w)
{
	d->unsupported = true;
	log_err(SUB_LINK, "wifi: radio %s cannot be an %s (%s); %s. Waiting for another radio.", w->name,
		d->mode == WNL_MESH ? "802.11s mesh point" : "IBSS member", mode_name(d->mode),
		d->mode == WNL_MESH
		    ? "brcmfmac (Raspberry Pi onboard Wi-Fi) has no mesh point: use mode = ibss"
		    : "use a radio that supports ad-hoc");
}

/* After a radio dump: which radio is ours (phy mode). */
static void pick_wiphy(struct wifi_driver *d)
{
	const struct wiphy_info *pick = NULL;

	d->wiphy = WNL_NONE;
	if (!*d->want_phy)
		return; /* interface mode: the interface names its radio */
	for (unsigned i = 0; i < d->n_wiphys && !pick; i++) {
		const struct wiphy_info *w = &d->wiphys[i];

		if (!strcmp(d->want_phy, PHY_ANY) ? wiphy_can(w, d->mode) : !strcmp(w->name, d->want_phy))
			pick = w;
	}
	if (!pick)
		return;
	d->wiphy = pick->idx;
	if (!wiphy_can(pick, d->mode))
		unsupported(d, pick);
}

/* One interface of a dump: is it the one we want? */
static void iface_consider(struct wifi_driver *d, const struct wnl_event *e)
{
	if (strcmp(e->name, d->want_if))
		return;
	if (*d->want_phy && e->wiphy != d->wiphy)
		return; /* the name is taken on another radio: NEW_INTERFACE will say -ENFILE/-EEXIST */
	d->cand_ifindex = e->ifindex;
	d->cand_iftype = e->iftype;
	d->cand_wiphy = e->wiphy;
	d->cand_freq = e->freq_mhz;
	set_ifname(d->cand_name, e->name);
}

static void adopt_iface(struct wifi_driver *d, uint32_t ifindex, uint32_t iftype, uint32_t wiphy,
			uint32_t freq, const char *name)
{
	const struct wiphy_info *w;

	if (d->ifindex == ifindex)
		return;
	forget_iface(d);
	d->ifindex = ifindex;
	d->iftype = iftype;
	d->freq_mhz = freq;
	set_ifname(d->ifname, name);
	if (wiphy != WNL_NONE)
		d->wiphy = wiphy;
	d->waiting = NULL;
	w = wiphy_find(d, d->wiphy);
	log_info(SUB_LINK, "wifi: using %s (ifindex %u) on %s", d->ifname, ifindex, w ? w->name : "?");
	if (w && !wiphy_can(w, d->mode))
		unsupported(d, w);
}

static bool sta_find(const struct wifi_driver *d, const uint8_t mac[static WNL_MAC_BYTES], unsigned *at)
{
	for (unsigned i = 0; i < d->n_sta; i++) {
		if (!memcmp(d->sta[i], mac, WNL_MAC_BYTES)) {
			*at = i;
			return true;
		}
	}
	return false;
}

static void emit(struct wifi_driver *d, const char *ifname, enum link_iface_ev ev)
{
	if (!d->stopped && d->ev->iface_event)
		d->ev->iface_event(d->user, ld_of(d), ifname, ev);
}

static void station(struct wifi_driver *d, const struct wnl_event *e, bool gone)
{
	unsigned at;
	bool known = sta_find(d, e->mac, &at);

	if (gone) {
		if (!known)
			return;
		memmove(d->sta[at], d->sta[d->n_sta - 1], WNL_MAC_BYTES);
		d->n_sta--;
		log_debug(SUB_LINK, "wifi: %s station %02x:%02x:%02x:%02x:%02x:%02x gone (%u left)",
			  d->ifname, e->mac[0], e->mac[1], e->mac[2], e->mac[3], e->mac[4], e->mac[5],
			  d->n_sta);
		emit(d, d->ifname, IFACE_PEER_GONE);
		return;
	}
	if (known || d->n_sta == STA_MAX)
		return;
	memcpy(d->sta[d->n_sta++], e->mac, WNL_MAC_BYTES);
	log_debug(SUB_LINK, "wifi: %s station %02x:%02x:%02x:%02x:%02x:%02x new (%u)", d->ifname, e->mac[0],
		  e->mac[1], e->mac[2], e->mac[3], e->mac[4], e->mac[5], d->n_sta);
	emit(d, d->ifname, IFACE_PEER_NEW);
}

/* Tells the core when the interface can carry traffic, and when not. */
static void report(struct wifi_driver *d)
{
	bool ready = d->ifindex && d->link_known && (d->flags & IFF_UP) && (d->flags & IFF_LOWER_UP) &&
		     d->iftype == wnl_iftype(d->mode) && (d->external || d->joined);

	if (d->stopped || ready == d->reported_up)
		return;
	d->reported_up = ready;
	if (ready) {
		snprintf(d->reported_if, sizeof(d->reported_if), "%s", d->ifname);
		log_info(SUB_LINK, "wifi: %s up: %s '%.*s' on %u MHz", d->ifname, mode_name(d->mode),
			 (int)d->join.id_len, (const char *)d->join.id, d->freq_mhz);
	} else {
		log_info(SUB_LINK, "wifi: %s down", d->reported_if);
	}
	emit(d, d->reported_if, ready ? IFACE_UP : IFACE_DOWN);
}

/* ---- the nl80211 family ---- */

/* Asks the generic netlink controller for a family's id and up to two of
 * its multicast groups (NULL: not wanted); returns the id or -NLE_*.
 * genl_ctrl_resolve is a request and a wait, but the kernel answers
 * controller requests inside the sendmsg itself, so the reply is queued
 * before the wait begins and the loop does not stall. A short-lived socket
 * keeps these replies apart from the tracked request stream. */
static int ctrl_resolve(const char *family, const char *g1, int *id1, const char *g2, int *id2)
{
	struct nl_sock *sk = nl_socket_alloc();
	int fam = -NLE_NOMEM;

	if (sk && !(fam = genl_connect(sk))) {
		fam = genl_ctrl_resolve(sk, family);
		if (fam > 0 && g1)
			*id1 = genl_ctrl_resolve_grp(sk, family, g1);
		if (fam > 0 && g2)
			*id2 = genl_ctrl_resolve_grp(sk, family, g2);
	}
	nl_socket_free(sk);
	return fam;
}

/* nl80211 and its "config" and "mlme" groups. */
static int family_resolve(struct wifi_driver *d)
{
	int cfg = 0, mlme = 0;
	int fam = ctrl_resolve(NL80211_GENL_NAME, NL80211_MULTICAST_GROUP_CONFIG, &cfg,
			       NL80211_MULTICAST_GROUP_MLME, &mlme);

	if (fam <= 0 || cfg <= 0 || mlme <= 0) {
		if (fam == -NLE_OBJ_NOTFOUND)
			wait_for(
			    d, "no nl80211 in this kernel (cfg80211 not loaded, or no radio in this network "
			       "namespace): waiting for it to appear");
		else
			log_warn(SUB_LINK, "wifi: resolving nl80211: %s",
				 nl_geterror(fam <= 0   ? fam
					     : cfg <= 0 ? cfg
							: mlme));
		return -ENOENT;
	}
	/* Old ids (a reloaded cfg80211) are simply left; new ones joined. */
	if ((cfg != d->grp_config && nl_socket_add_membership(d->evs.sk, cfg)) ||
	    (mlme != d->grp_mlme && nl_socket_add_membership(d->evs.sk, mlme))) {
		log_err(SUB_LINK, "wifi: cannot subscribe to nl80211 events");
		return -EIO;
	}
	d->grp_config = cfg;
	d->grp_mlme = mlme;
	d->family = fam;
	d->waiting = NULL;
	log_info(SUB_LINK, "wifi: nl80211 family %d; events: config %d, mlme %d", fam, cfg, mlme);
	rescan(d);
	return 0;
}

static void family_gone(struct wifi_driver *d)
{
	log_warn(SUB_LINK, "wifi: nl80211 went away (cfg80211 unloaded); waiting for it");
	d->family = -1;
	d->req = WR_NONE;
	loop_timer_disarm(d->req_timer);
	d->wiphy = WNL_NONE;
	d->n_wiphys = 0;
	forget_iface(d);
}

/* ---- requests ---- */

static void backoff(struct wifi_driver *d)
{
	d->retry_wait = true;
	loop_timer_arm(d->retry_timer, d->backoff_ms);
	d->backoff_ms = d->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : d->backoff_ms * 2;
}

static int build(struct wifi_driver *d, enum wreq r, struct nl_msg **m)
{
	switch (r) {
	case WR_NONE:
		break;
	case WR_WIPHYS:
		return wnl_get_wiphys(m, d->family);
	case WR_IFACES:
		return wnl_get_ifaces(m, d->family);
	case WR_LINK:
		return wnl_link_get(m, d->ifindex);
	case WR_NEW_IFACE:
		return wnl_new_iface(m, d->family, d->wiphy, d->want_if, d->mode);
	case WR_DOWN:
		return wnl_link_set_up(m, d->ifindex, false);
	case WR_SET_TYPE:
		return wnl_set_iftype(m, d->family, d->ifindex, d->mode);
	case WR_UP:
		return wnl_link_set_up(m, d->ifindex, true);
	case WR_LEAVE:
		return wnl_leave(m, d->family, d->ifindex, d->mode);
	case WR_JOIN:
		d->join.ifindex = d->ifindex;
		return wnl_join(m, d->family, &d->join);
	case WR_STATIONS:
		return wnl_get_stations(m, d->family, d->ifindex);
	}
	return -EINVAL;
}

static void req_send(struct wifi_driver *d, enum wreq r)
{
	struct nlch *ch = (r == WR_LINK || r == WR_DOWN || r == WR_UP) ? &d->rt : &d->cmd;
	struct nl_msg *m = NULL;
	int ret = build(d, r, &m);

	if (ret) {
		log_err(SUB_LINK, "wifi: %s: %s", wreq_name(r), mu_strerror(ret));
		backoff(d);
		return;
	}
	ret = nl_send_auto(ch->sk, m);
	if (ret < 0) {
		log_warn(SUB_LINK, "wifi: %s: sending: %s", wreq_name(r), nl_geterror(ret));
		nlmsg_free(m);
		backoff(d);
		return;
	}
	d->req = r;
	d->req_ch = ch;
	d->req_seq = nlmsg_hdr(m)->nlmsg_seq;
	d->dump_intr = false;
	nlmsg_free(m);
	if (r == WR_WIPHYS)
		d->n_wiphys = 0;
	if (r == WR_IFACES)
		d->cand_ifindex = 0;
	log_debug(SUB_LINK, "wifi: -> %s (seq %u)", wreq_name(r), d->req_seq);
	loop_timer_arm(d->req_timer, REQ_TIMEOUT_MS);
}

/* Sends without tracking (stop: the kernel acts inside sendmsg, and the
 * socket closes before any ack is read). */
static void send_now(struct wifi_driver *d, bool leave)
{
	struct nl_msg *m = NULL;
	int ret =
	    leave ? wnl_leave(&m, d->family, d->ifindex, d->mode) : wnl_del_iface(&m, d->family, d->ifindex);

	if (!ret)
		ret = nl_send_auto(d->cmd.sk, m) < 0 ? -EIO : 0;
	nlmsg_free(m);
	if (ret)
		log_warn(SUB_LINK, "wifi: %s on stop: %s", leave ? "leave" : "delete interface",
			 mu_strerror(ret));
}

/* Decides the one next request from what we know and what we want. */
static void reconcile(struct wifi_driver *d)
{
	if (d->stopped || d->req != WR_NONE || d->family < 0 || d->retry_wait)
		return;
	if (d->need_wiphys) {
		req_send(d, WR_WIPHYS);
		return;
	}
	if (d->need_ifaces) {
		req_send(d, WR_IFACES);
		return;
	}
	if (d->unsupported)
		return;
	if (!d->ifindex) {
		if (!*d->want_phy)
			wait_for(d, "waiting for the configured interface to appear");
		else if (d->wiphy == WNL_NONE)
			wait_for(d, "waiting for the configured radio (phy) to appear");
		else if (d->external)
			wait_for(d, "setup = external: waiting for the interface to be created");
		else
			req_send(d, WR_NEW_IFACE);
		return;
	}
	if (!d->link_known) {
		req_send(d, WR_LINK);
		return;
	}
	if (!d->external) {
		if (d->blocked)
			return; /* until an rfkill event (or the retry timer without /dev/rfkill) */
		if (d->iftype != wnl_iftype(d->mode)) {
			/* Most drivers change type only while down. */
			req_send(d, (d->flags & IFF_UP) ? WR_DOWN : WR_SET_TYPE);
			return;
		}
		if (!(d->flags & IFF_UP)) {
			req_send(d, WR_UP);
			return;
		}
		if (d->leave_first) {
			req_send(d, WR_LEAVE);
			return;
		}
		if (!d->joined) {
			req_send(d, WR_JOIN);
			return;
		}
	}
	if (!d->stations_known && (d->flags & IFF_LOWER_UP))
		req_send(d, WR_STATIONS);
}

static void settle(struct wifi_driver *d)
{
	reconcile(d);
	report(d);
}

static void req_failed(struct wifi_driver *d, enum wreq r, int err, const char *text)
{
	bool repeat = err == d->last_err && r == d->last_err_req;

	d->last_err = err;
	d->last_err_req = r;
	if (err == -ERFKILL) {
		if (!d->blocked)
			log_warn(SUB_LINK, "wifi: %s is blocked by rfkill; waiting for it to be unblocked%s",
				 d->ifname, d->rfk_fd < 0 ? " (no /dev/rfkill: retrying)" : "");
		d->blocked = true;
		if (d->rfk_fd < 0)
			backoff(d);
		return;
	}
	if (repeat)
		log_debug(SUB_LINK, "wifi: %s on %s failed again: %s%s%s", wreq_name(r), d->ifname,
			  mu_strerror(err), *text ? ": " : "", text);
	else
		log_warn(SUB_LINK, "wifi: %s on %s failed: %s%s%s; retrying", wreq_name(r),
			 d->ifindex ? d->ifname : d->want_if, mu_strerror(err), *text ? ": " : "", text);
	if (err == -ENODEV || err == -ENOENT) {
		/* Gone under us: the DEL events follow; re-read meanwhile. */
		forget_iface(d);
		d->need_ifaces = true;
	}
	backoff(d);
}

/* The tracked request finished: err 0 or the kernel's -errno. */
static void req_done(struct wifi_driver *d, int err, const char *text)
{
	enum wreq r = d->req;

	d->req = WR_NONE;
	loop_timer_disarm(d->req_timer);
	log_debug(SUB_LINK, "wifi: <- %s: %s", wreq_name(r), mu_strerror(err));
	if (!err && d->dump_intr && (r == WR_WIPHYS || r == WR_IFACES || r == WR_STATIONS))
		return; /* the kernel says the dump changed under it: reconcile repeats it */
	if (r == WR_JOIN && err == -EALREADY) {
		/* Joined already (a previous run): leave, then join as configured. */
		d->leave_first = true;
		return;
	}
	if (err) {
		req_failed(d, r, err, text);
		return;
	}
	d->last_err = 0;
	switch (r) {
	case WR_NONE:
		break;
	case WR_WIPHYS:
		d->need_wiphys = false;
		pick_wiphy(d);
		break;
	case WR_IFACES:
		d->need_ifaces = false;
		if (d->cand_ifindex)
			adopt_iface(d, d->cand_ifindex, d->cand_iftype, d->cand_wiphy, d->cand_freq,
				    d->cand_name);
		else if (d->ifindex)
			forget_iface(d);
		break;
	case WR_LINK:
		d->link_known = true;
		break;
	case WR_NEW_IFACE:
		if (d->ifindex)
			d->created = true;
		else
			d->need_ifaces = true; /* no reply body seen: find it by dump */
		break;
	case WR_DOWN:
		d->flags &= ~(unsigned)(IFF_UP | IFF_LOWER_UP);
		break;
	case WR_SET_TYPE:
		d->iftype = wnl_iftype(d->mode);
		break;
	case WR_UP:
		d->flags |= IFF_UP;
		break;
	case WR_LEAVE:
		d->leave_first = d->joined = false;
		sta_clear(d);
		break;
	case WR_JOIN:
		d->joined = true;
		d->freq_mhz = d->join.freq_mhz;
		d->backoff_ms = RETRY_MIN_MS;
		log_info(SUB_LINK, "wifi: %s joining %s '%.*s' on %u MHz%s%s", d->ifname, mode_name(d->mode),
			 (int)d->join.id_len, (const char *)d->join.id, d->join.freq_mhz,
			 d->join.key_len ? " (static WEP key)"
			 : d->external   ? ""
					 : " (open)",
			 d->join.has_bssid ? ", fixed BSSID" : "");
		break;
	case WR_STATIONS:
		d->stations_known = true;
		break;
	}
}

/* ---- what the kernel tells ---- */

static void apply(struct wifi_driver *d, const struct wnl_event *e, bool reply)
{
	switch (e->kind) {
	case WNL_EV_OTHER:
		break;
	case WNL_EV_WIPHY:
		if (reply && d->req == WR_WIPHYS) {
			wiphy_note(d, e);
		} else if (!reply) {
			log_info(SUB_LINK, "wifi: radio %s appeared", *e->name ? e->name : "?");
			rescan(d);
		}
		break;
	case WNL_EV_WIPHY_DEL:
		if (e->wiphy == d->wiphy) {
			log_warn(SUB_LINK,
				 "wifi: our radio is gone (unplugged or driver unloaded); waiting for it");
			forget_iface(d);
			d->wiphy = WNL_NONE;
		}
		d->need_wiphys = true;
		break;
	case WNL_EV_IFACE:
		if (reply && d->req == WR_IFACES) {
			iface_consider(d, e);
		} else if (reply && d->req == WR_NEW_IFACE) {
			adopt_iface(d, e->ifindex, e->iftype, e->wiphy, e->freq_mhz, e->name);
		} else if (e->ifindex == d->ifindex) {
			if (e->iftype && e->iftype != d->iftype) {
				d->iftype = e->iftype;
				d->joined = false;
			}
			if (*e->name)
				set_ifname(d->ifname, e->name);
		} else if (!d->ifindex && !strcmp(e->name, d->want_if)) {
			rescan(d);
		}
		break;
	case WNL_EV_IFACE_DEL:
		if (e->ifindex && e->ifindex == d->ifindex) {
			log_warn(SUB_LINK, "wifi: %s was removed", d->ifname);
			forget_iface(d);
			d->need_ifaces = true;
		}
		break;
	case WNL_EV_STATION:
	case WNL_EV_STATION_DEL:
		if (e->ifindex == d->ifindex && d->ifindex)
			station(d, e, e->kind == WNL_EV_STATION_DEL);
		break;
	case WNL_EV_IBSS_JOINED:
		if (e->ifindex == d->ifindex)
			log_debug(SUB_LINK, "wifi: %s in cell %02x:%02x:%02x:%02x:%02x:%02x", d->ifname,
				  e->mac[0], e->mac[1], e->mac[2], e->mac[3], e->mac[4], e->mac[5]);
		break;
	case WNL_EV_FAMILY:
		if (!strcmp(e->name, NL80211_GENL_NAME) && d->family < 0)
			family_resolve(d);
		break;
	case WNL_EV_FAMILY_DEL:
		if (!strcmp(e->name, NL80211_GENL_NAME) && d->family >= 0)
			family_gone(d);
		break;
	case WNL_EV_LINK:
		if (d->ifindex && e->ifindex == d->ifindex) {
			if (!(e->flags & IFF_UP) && (d->flags & IFF_UP)) {
				/* cfg80211 leaves the cell when the link goes down
				 * (rfkill, an administrator, a driver reset). */
				d->joined = false;
				sta_clear(d);
			}
			d->flags = e->flags;
			d->link_known = true;
			if (*e->name && strcmp(e->name, d->ifname)) {
				log_info(SUB_LINK, "wifi: %s renamed to %s", d->ifname, e->name);
				set_ifname(d->ifname, e->name);
			}
		} else if (!d->ifindex && !strcmp(e->name, d->want_if)) {
			rescan(d);
		}
		break;
	case WNL_EV_ADDR_READY:
		/* The link-local address finished DAD after we said UP: say it
		 * again, so the IP driver's first beacon goes out now rather
		 * than failing for want of a source address. */
		if (d->reported_up && e->ifindex == d->ifindex)
			emit(d, d->ifname, IFACE_UP);
		break;
	case WNL_EV_LINK_DEL:
		if (d->ifindex && e->ifindex == d->ifindex) {
			log_warn(SUB_LINK, "wifi: %s was removed", d->ifname);
			forget_iface(d);
			d->need_ifaces = true;
		}
		break;
	}
}

static bool is_reply(const struct nlch *ch, const struct nlmsghdr *nlh)
{
	const struct wifi_driver *d = ch->d;

	return d->req != WR_NONE && ch == d->req_ch && nlh->nlmsg_seq == d->req_seq;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct nlch *ch = arg;
	struct wifi_driver *d = ch->d;
	const struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct wnl_event e;
	int ret;

	if (d->stopped)
		return NL_STOP;
	ret = ch->route ? wnl_parse_route(&e, nlh, nlh->nlmsg_len)
			: wnl_parse_genl(&e, d->family, nlh, nlh->nlmsg_len);
	if (ret) {
		log_debug(SUB_LINK, "wifi: %s: malformed message type %u: %s", ch->what, nlh->nlmsg_type,
			  mu_strerror(ret));
		return NL_SKIP;
	}
	apply(d, &e, is_reply(ch, nlh));
	settle(d);
	return d->stopped ? NL_STOP : NL_SKIP;
}

static int on_finish(struct nl_msg *msg, void *arg)
{
	struct nlch *ch = arg;
	struct wifi_driver *d = ch->d;

	if (d->stopped)
		return NL_STOP;
	if (is_reply(ch, nlmsg_hdr(msg))) {
		req_done(d, 0, "");
		settle(d);
	}
	return d->stopped ? NL_STOP : NL_SKIP;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	return on_finish(msg, arg);
}

static int on_error(struct sockaddr_nl *from, struct nlmsgerr *nerr, void *arg)
{
	struct nlch *ch = arg;
	struct wifi_driver *d = ch->d;
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)((const uint8_t *)nerr - NLMSG_HDRLEN);
	char text[ERRTEXT_MAX];
	int err;

	(void)from;
	if (d->stopped)
		return NL_STOP;
	if (wnl_parse_ack(&err, text, sizeof(text), nlh, nlh->nlmsg_len)) {
		log_debug(SUB_LINK, "wifi: %s: malformed error message", ch->what);
		return NL_SKIP;
	}
	if (is_reply(ch, nlh)) {
		req_done(d, err ? err : -EIO, text);
		settle(d);
	}
	return d->stopped ? NL_STOP : NL_SKIP;
}

static int on_seq(struct nl_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
	return NL_OK; /* matched against the tracked request in the handlers */
}

static int on_dump_intr(struct nl_msg *msg, void *arg)
{
	struct nlch *ch = arg;

	if (is_reply(ch, nlmsg_hdr(msg)))
		ch->d->dump_intr = true;
	return NL_OK;
}

static void nl_io(void *user, int fd, uint32_t events)
{
	struct nlch *ch = user;
	struct wifi_driver *d = ch->d;

	(void)fd;
	(void)events;
	drv_enter(d);
	for (int i = 0; i < RECV_PER_TURN && !d->stopped; i++) {
		int ret = nl_recvmsgs_report(ch->sk, ch->cb);

		if (ret >= 0) {
			if (!ret)
				break;
			continue;
		}
		if (ret == -NLE_NOMEM) {
			/* ENOBUFS: the kernel dropped events for us. Re-read
			 * everything rather than guess what was lost. */
			log_warn(SUB_LINK, "wifi: %s: events lost (receive buffer full); re-reading state",
				 ch->what);
			rescan(d);
			d->link_known = false;
			sta_clear(d);
			continue;
		}
		if (ret != -NLE_AGAIN)
			log_debug(SUB_LINK, "wifi: %s: %s", ch->what, nl_geterror(ret));
		break;
	}
	if (!d->stopped)
		settle(d);
	drv_leave(d);
}

/* ---- rfkill ---- */

static void rfkill_io(void *user, int fd, uint32_t events)
{
	struct wifi_driver *d = user;

	(void)events;
	drv_enter(d);
	for (int i = 0; i < RECV_PER_TURN && !d->stopped; i++) {
		uint8_t buf[64];
		struct wnl_rfkill ev;
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
				log_warn(SUB_LINK, "wifi: /dev/rfkill: %s; no longer watching it",
					 r ? strerror(errno) : "closed");
				loop_del_fd(d->loop, d->rfk_fd);
				close(d->rfk_fd);
				d->rfk_fd = -1;
			}
			break;
		}
		if (wnl_parse_rfkill(&ev, buf, (size_t)r) ||
		    (ev.type != RFKILL_TYPE_WLAN && ev.type != RFKILL_TYPE_ALL) || ev.op == RFKILL_OP_DEL)
			continue;
		log_debug(SUB_LINK, "wifi: rfkill%u %s%s", ev.idx, ev.soft ? "soft-blocked " : "",
			  ev.hard ? "hard-blocked" : (ev.soft ? "" : "unblocked"));
		if (!ev.soft && !ev.hard && d->blocked) {
			log_info(SUB_LINK, "wifi: radio unblocked; rejoining");
			d->blocked = false;
			rescan(d);
		}
	}
	if (!d->stopped)
		settle(d);
	drv_leave(d);
}

/* ---- timers ---- */

static void req_timeout(void *user)
{
	struct wifi_driver *d = user;

	drv_enter(d);
	if (d->req != WR_NONE) {
		/* A late reply carries the old sequence number and is ignored. */
		req_done(d, -ETIMEDOUT, "no answer from the kernel");
		settle(d);
	}
	drv_leave(d);
}

static void retry_fire(void *user)
{
	struct wifi_driver *d = user;

	drv_enter(d);
	d->retry_wait = false;
	if (d->blocked && d->rfk_fd < 0)
		d->blocked = false; /* no rfkill events to wait for: try again */
	settle(d);
	drv_leave(d);
}

/* ---- start, stop, status ---- */

static int nlch_open(struct wifi_driver *d, struct nlch *ch, int proto, const char *what)
{
	int one = 1, ret;

	ch->d = d;
	ch->route = proto == NETLINK_ROUTE;
	ch->what = what;
	ch->sk = nl_socket_alloc();
	ch->cb = nl_cb_alloc(NL_CB_CUSTOM);
	if (!ch->sk || !ch->cb)
		return -ENOMEM;
	ret = nl_connect(ch->sk, proto);
	if (ret) {
		log_err(SUB_LINK, "wifi: netlink socket (%s): %s", what, nl_geterror(ret));
		return -EIO;
	}
	/* Large split-dump parts: read the real size first. */
	nl_socket_enable_msg_peek(ch->sk);
	ch->fd = nl_socket_get_fd(ch->sk);
	/* The kernel's reason for a refusal, not only its errno. Older
	 * kernels lack it: not an error. */
	(void)setsockopt(ch->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	if (nl_socket_set_nonblocking(ch->sk) < 0)
		return -EIO;
	nl_cb_set(ch->cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, ch);
	nl_cb_set(ch->cb, NL_CB_FINISH, NL_CB_CUSTOM, on_finish, ch);
	nl_cb_set(ch->cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, ch);
	nl_cb_set(ch->cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, on_seq, ch);
	nl_cb_set(ch->cb, NL_CB_DUMP_INTR, NL_CB_CUSTOM, on_dump_intr, ch);
	nl_cb_err(ch->cb, NL_CB_CUSTOM, on_error, ch);
	return loop_add_fd(d->loop, ch->fd, EPOLLIN, nl_io, ch);
}

static int parse_key(struct wifi_driver *d, const char *hex)
{
	size_t n = strlen(hex) / 2;

	if ((strlen(hex) != 2 * WNL_WEP40_BYTES && strlen(hex) != 2 * WNL_WEP104_BYTES) ||
	    hex_decode(d->join.key, n, hex)) {
		log_err(SUB_LINK, "[wifi] key: expected 10 or 26 hex digits (a static WEP-40/104 key)");
		return MU_E_CONFIG;
	}
	d->join.key_len = n;
	return 0;
}

/* Whether list (names separated by spaces or commas) holds name. */
static bool word_in(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; (p = strstr(p, name)); p += n)
		if ((p == list || strchr(" \t,", p[-1])) && (!p[n] || strchr(" \t,", p[n])))
			return true;
	return false;
}

/* [wifi] bssid: "auto" derives a locally administered unicast address from
 * the SSID, so every node founds or joins the same cell instead of each
 * creating its own when they start together (IBSS cells with one SSID and
 * different BSSIDs merge slowly or, on some hardware, never). */
static int parse_bssid(struct wifi_driver *d, const char *v)
{
	static const char label[] = "muster ibss bssid";
	uint8_t h[16];
	unsigned b[WNL_MAC_BYTES];
	char end;

	if (!strcmp(v, "any"))
		return 0;
	if (!strcmp(v, "auto")) {
		crypto_generichash_state st;

		crypto_generichash_init(&st, NULL, 0, sizeof(h));
		crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label) - 1);
		crypto_generichash_update(&st, d->join.id, d->join.id_len);
		crypto_generichash_final(&st, h, sizeof(h));
		memcpy(d->join.bssid, h, WNL_MAC_BYTES);
	} else if (sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) ==
		       6 &&
		   strlen(v) == 17) {
		for (int i = 0; i < WNL_MAC_BYTES; i++)
			d->join.bssid[i] = (uint8_t)b[i];
		if (d->join.bssid[0] & 1) {
			log_err(SUB_LINK, "[wifi] bssid = %s: a multicast address cannot name a cell", v);
			return MU_E_CONFIG;
		}
	} else {
		log_err(SUB_LINK, "[wifi] bssid = %s: expected auto, any or xx:xx:xx:xx:xx:xx", v);
		return MU_E_CONFIG;
	}
	if (!strcmp(v, "auto"))
		d->join.bssid[0] = (uint8_t)((d->join.bssid[0] & 0xfc) | 0x02);
	d->join.has_bssid = true;
	return 0;
}

static int read_config(struct wifi_driver *d, const struct config *cfg)
{
	const char *iface = config_str(cfg, CFG_SECTION, "interface", "");
	const char *phy = config_str(cfg, CFG_SECTION, "phy", "");
	const char *mode = config_str(cfg, CFG_SECTION, "mode", DEF_MODE);
	const char *setup = config_str(cfg, CFG_SECTION, "setup", "driver");
	const char *ssid = config_str(cfg, CFG_SECTION, "ssid", DEF_SSID);
	const char *mesh_id = config_str(cfg, CFG_SECTION, "mesh_id", DEF_MESH_ID);
	const char *key = config_str(cfg, CFG_SECTION, "key", "");
	const char *beacons = config_str(cfg, "tcp", "beacon_interfaces", "");
	const char *id;
	uint64_t freq;
	int allow_open = 0, ret;

	if (!strcmp(mode, "ibss"))
		d->mode = WNL_IBSS;
	else if (!strcmp(mode, "mesh"))
		d->mode = WNL_MESH;
	else {
		log_err(SUB_LINK, "[wifi] mode = %s: must be ibss or mesh", mode);
		return MU_E_CONFIG;
	}
	if (!strcmp(setup, "driver") || !strcmp(setup, "external")) {
		d->external = !strcmp(setup, "external");
	} else {
		log_err(SUB_LINK, "[wifi] setup = %s: must be driver or external", setup);
		return MU_E_CONFIG;
	}
	if (!*iface && !*phy) {
		log_err(SUB_LINK, "[wifi] needs interface (e.g. wlan0) or phy (e.g. phy0, or any)");
		return MU_E_CONFIG;
	}
	if (!*iface)
		iface = DEF_CREATE_NAME;
	if (strlen(iface) >= IF_NAMESIZE || strchr(iface, '/') || strchr(iface, ' ') || !strcmp(iface, ".") ||
	    !strcmp(iface, "..")) {
		log_err(SUB_LINK, "[wifi] interface = %s: not an interface name (< %d characters)", iface,
			IF_NAMESIZE);
		return MU_E_CONFIG;
	}
	if (strlen(phy) >= WNL_NAME_MAX) {
		log_err(SUB_LINK, "[wifi] phy: at most %d characters", WNL_NAME_MAX - 1);
		return MU_E_CONFIG;
	}
	if (*phy && d->external) {
		log_err(SUB_LINK,
			"[wifi] setup = external uses an existing interface: set interface, not phy");
		return MU_E_CONFIG;
	}
	snprintf(d->want_if, sizeof(d->want_if), "%s", iface);
	snprintf(d->want_phy, sizeof(d->want_phy), "%s", phy);
	ret = config_u64(cfg, CFG_SECTION, "freq_mhz", DEF_FREQ_MHZ, MIN_FREQ_MHZ, MAX_FREQ_MHZ, &freq);
	if (ret)
		return ret;
	d->join.freq_mhz = (uint32_t)freq;
	d->join.mode = d->mode;
	id = d->mode == WNL_IBSS ? ssid : mesh_id;
	if (!*id || strlen(id) > WNL_ID_MAX) {
		log_err(SUB_LINK, "[wifi] %s: 1 to %d bytes", d->mode == WNL_IBSS ? "ssid" : "mesh_id",
			WNL_ID_MAX);
		return MU_E_CONFIG;
	}
	d->join.id_len = strlen(id);
	memcpy(d->join.id, id, d->join.id_len);
	if (d->mode == WNL_IBSS) {
		ret = parse_bssid(d, config_str(cfg, CFG_SECTION, "bssid", "auto"));
		if (ret)
			return ret;
	}
	ret = config_bool(cfg, CFG_SECTION, "allow_open", 0, &allow_open);
	if (ret)
		return ret;
	if (*key) {
		if (d->external) {
			log_err(SUB_LINK,
				"[wifi] key: with setup = external the cell's security is wpa_supplicant's");
			return MU_E_CONFIG;
		}
		if (d->mode == WNL_MESH) {
			log_err(SUB_LINK,
				"[wifi] key: the kernel has no static mesh key; a secured 802.11s mesh "
				"(SAE/AMPE) is set up by wpa_supplicant: use setup = external");
			return MU_E_CONFIG;
		}
		ret = parse_key(d, key);
		if (ret)
			return ret;
	} else if (!d->external && !allow_open) {
		log_err(SUB_LINK,
			"[wifi] refusing an open %s: set key (IBSS), or setup = external with "
			"wpa_supplicant, or allow_open = yes for a lab (see docs/wifi.md)",
			mode_name(d->mode));
		return MU_E_CONFIG;
	}
	/* Beacons over the radio are the tcp driver's: say so if it will not
	 * send them here (a phy-created name may differ; only warn). */
	if (!word_in(beacons, d->want_if))
		log_warn(SUB_LINK,
			 "wifi: %s is not in [tcp] beacon_interfaces: peers on it will not be discovered",
			 d->want_if);
	return 0;
}

static int wifi_start(struct link_driver **out, struct loop *loop, const struct config *cfg,
		      const struct mu_identity *id, const struct link_events *ev, void *user)
{
	struct wifi_driver *d = NULL;
	int grp = 0, ret;

	(void)id;
	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->ev = ev;
	d->user = user;
	d->cmd.fd = d->evs.fd = d->rt.fd = d->rfk_fd = -1;
	d->family = -1;
	d->wiphy = WNL_NONE;
	d->backoff_ms = RETRY_MIN_MS;
	ret = read_config(d, cfg);
	if (ret)
		goto out;
	ret = loop_timer_new(loop, &d->req_timer, req_timeout, d);
	if (!ret)
		ret = loop_timer_new(loop, &d->retry_timer, retry_fire, d);
	if (!ret)
		ret = nlch_open(d, &d->cmd, NETLINK_GENERIC, "nl80211 requests");
	if (!ret)
		ret = nlch_open(d, &d->evs, NETLINK_GENERIC, "nl80211 events");
	if (!ret)
		ret = nlch_open(d, &d->rt, NETLINK_ROUTE, "rtnetlink");
	if (ret)
		goto out;
	nl_socket_set_buffer_size(d->evs.sk, EV_RCVBUF, 0);
	nl_socket_set_buffer_size(d->rt.sk, EV_RCVBUF, 0);
	/* The controller's notify group tells when nl80211 itself appears. */
	if (ctrl_resolve("nlctrl", "notify", &grp, NULL, NULL) <= 0 || grp <= 0 ||
	    nl_socket_add_membership(d->evs.sk, grp) || nl_socket_add_membership(d->rt.sk, RTNLGRP_LINK) ||
	    nl_socket_add_membership(d->rt.sk, RTNLGRP_IPV6_IFADDR)) {
		log_err(SUB_LINK, "wifi: cannot subscribe to netlink events");
		ret = -EIO;
		goto out;
	}
	d->rfk_fd = open("/dev/rfkill", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (d->rfk_fd < 0) {
		log_info(SUB_LINK, "wifi: /dev/rfkill: %s; a blocked radio is retried with back-off",
			 strerror(errno));
	} else if (loop_add_fd(loop, d->rfk_fd, EPOLLIN, rfkill_io, d)) {
		close(d->rfk_fd);
		d->rfk_fd = -1;
	}
	log_info(SUB_LINK, "wifi: %s '%.*s' on %u MHz, %s %s%s", mode_name(d->mode), (int)d->join.id_len,
		 (const char *)d->join.id, d->join.freq_mhz, *d->want_phy ? "phy" : "interface",
		 *d->want_phy ? d->want_phy : d->want_if, d->external ? " (setup external)" : "");
	/* Absent nl80211 is not an error: the daemon waits for a radio. */
	family_resolve(d);
	reconcile(d); /* sends a request; no core callback from here */
out:
	if (ret)
		wifi_stop(ld_of(d));
	else
		*out = ld_of(d);
	return ret;
}

static void fd_drop(struct loop *loop, int fd)
{
	if (fd >= 0)
		loop_del_fd(loop, fd);
}

static void wifi_stop(struct link_driver *ld)
{
	struct wifi_driver *d = drv_of(ld);

	if (!d || d->stopped)
		return;
	d->stopped = true;
	/* Leave cleanly: other nodes see us go at once, and an interface we
	 * made does not outlive us. */
	if (!d->external && d->family > 0 && d->ifindex && d->cmd.sk) {
		if (d->joined || d->req == WR_JOIN)
			send_now(d, true);
		if (d->created)
			send_now(d, false);
		log_info(SUB_LINK, "wifi: left %s%s", d->ifname, d->created ? " and removed it" : "");
	}
	fd_drop(d->loop, d->cmd.fd);
	fd_drop(d->loop, d->evs.fd);
	fd_drop(d->loop, d->rt.fd);
	fd_drop(d->loop, d->rfk_fd);
	loop_timer_free(d->req_timer);
	loop_timer_free(d->retry_timer);
	d->req_timer = d->retry_timer = NULL;
	if (d->depth == 0)
		drv_free(d);
}

static uint64_t read_counter(const char *ifname, const char *name)
{
	char path[96];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static void wifi_status(const struct link_driver *ld, struct link_status *out)
{
	const struct wifi_driver *d = (const struct wifi_driver *)(const void *)ld;

	memset(out, 0, sizeof(*out));
	out->driver = link_wifi_ops.name;
	snprintf(out->iface, sizeof(out->iface), "%s", d->ifindex ? d->ifname : d->want_if);
	snprintf(out->mode, sizeof(out->mode), "%s", mode_name(d->mode));
	out->freq_mhz = d->reported_up ? d->freq_mhz : 0; /* 0: not in the cell */
	out->peers_seen = d->n_sta;
	/* The interface's own counters (all traffic on it, beacons included):
	 * four small sysfs reads, only when asked. */
	if (d->ifindex) {
		out->stats.bytes_in = read_counter(d->ifname, "rx_bytes");
		out->stats.bytes_out = read_counter(d->ifname, "tx_bytes");
		out->stats.frames_in = read_counter(d->ifname, "rx_packets");
		out->stats.frames_out = read_counter(d->ifname, "tx_packets");
	}
}

/* No links of its own: data runs in the tcp driver over the interface. */
static int wifi_connect(struct link_driver *ld, const struct link_addr *addr)
{
	(void)ld;
	(void)addr;
	return -EOPNOTSUPP;
}

static int wifi_send(struct link *lk, const uint8_t *p, size_t n)
{
	(void)lk;
	(void)p;
	(void)n;
	return -EOPNOTSUPP;
}

static size_t wifi_queued(const struct link *lk)
{
	(void)lk;
	return 0;
}

static void wifi_close(struct link *lk)
{
	(void)lk;
}

const struct link_ops link_wifi_ops = {
    .name = "wifi",
    .start = wifi_start,
    .stop = wifi_stop,
    .connect = wifi_connect,
    .send = wifi_send,
    .queued = wifi_queued,
    .close = wifi_close,
    .status = wifi_status,
};
