/* The kernel messages of the Wi-Fi driver (transport/wifi.c): nl80211
 * requests built with libnl-genl, rtnetlink link requests built with
 * libnl-route, and parsers for what the kernel sends back (nl80211 and
 * generic-netlink-controller events, RTM_NEWLINK/DELLINK, NLMSG_ERROR with
 * extended ack, /dev/rfkill events). No sockets, no state: wifi.c sends and
 * receives, these only encode and decode, so they are unit-tested and
 * fuzzed (tests/fuzz/fuzz_wifi_nl.c includes this file's .c).
 *
 * Builders return 0 and a new message in *out (the caller frees it with
 * nlmsg_free), or -ENOMEM / -EMSGSIZE with *out NULL. Sequence and port are
 * left for nl_send_auto to fill; every request asks for an ack (NLM_F_ACK).
 *
 * Parsers take one netlink message of len bytes (nlh->nlmsg_len must lie
 * within len) and never read outside it; every attribute they use is
 * length-checked. They return 0, or MU_E_FORMAT / MU_E_TOOBIG with *out
 * zeroed. A well-formed message the driver does not act on parses to
 * WNL_EV_OTHER. */
#ifndef MU_WIFI_NL_H
#define MU_WIFI_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>

struct nl_msg;

#define WNL_MAC_BYTES 6
#define WNL_ID_MAX    32         /* SSID and mesh ID, bytes */
#define WNL_NAME_MAX  64         /* interface, phy and genl family names, with NUL */
#define WNL_NONE      UINT32_MAX /* wiphy index absent */
/* Static WEP key lengths (the only group key the kernel applies to an IBSS
 * by itself; see docs/wifi.md for what that is worth). */
#define WNL_WEP40_BYTES  5
#define WNL_WEP104_BYTES 13

enum wnl_mode {
	WNL_IBSS, /* NL80211_IFTYPE_ADHOC, JOIN_IBSS */
	WNL_MESH, /* NL80211_IFTYPE_MESH_POINT, JOIN_MESH */
};

/* What a JOIN_IBSS / JOIN_MESH carries. */
struct wnl_join {
	enum wnl_mode mode;
	uint32_t ifindex;
	uint32_t freq_mhz;
	uint8_t id[WNL_ID_MAX]; /* SSID (IBSS) or mesh ID */
	size_t id_len;          /* 1..WNL_ID_MAX */
	uint8_t key[WNL_WEP104_BYTES];
	size_t key_len; /* 0 (open), WNL_WEP40_BYTES or WNL_WEP104_BYTES; IBSS only */
	bool has_bssid; /* IBSS: join or create exactly this cell, no search */
	uint8_t bssid[WNL_MAC_BYTES];
};

/* nl80211 (family = the resolved "nl80211" generic netlink id). */
int wnl_get_wiphys(struct nl_msg **out, int family);                     /* dump, split */
int wnl_get_ifaces(struct nl_msg **out, int family);                     /* dump */
int wnl_get_stations(struct nl_msg **out, int family, uint32_t ifindex); /* dump */
int wnl_new_iface(struct nl_msg **out, int family, uint32_t wiphy, const char *ifname, enum wnl_mode mode);
int wnl_del_iface(struct nl_msg **out, int family, uint32_t ifindex);
int wnl_set_iftype(struct nl_msg **out, int family, uint32_t ifindex, enum wnl_mode mode);
/* -EINVAL for an id or key length the kernel would refuse, or a key with
 * WNL_MESH (the kernel has no static mesh key: SAE/AMPE is wpa_supplicant's). */
int wnl_join(struct nl_msg **out, int family, const struct wnl_join *j);
int wnl_leave(struct nl_msg **out, int family, uint32_t ifindex, enum wnl_mode mode);
/* rtnetlink, through libnl-route. */
int wnl_link_get(struct nl_msg **out, uint32_t ifindex);
int wnl_link_set_up(struct nl_msg **out, uint32_t ifindex, bool up);

/* The nl80211 interface type for a mode (NL80211_IFTYPE_*). */
uint32_t wnl_iftype(enum wnl_mode mode);

enum wnl_ev_kind {
	WNL_EV_OTHER,
	WNL_EV_WIPHY,       /* NEW_WIPHY (event or dump part): wiphy, name, iftypes */
	WNL_EV_WIPHY_DEL,   /* DEL_WIPHY: wiphy */
	WNL_EV_IFACE,       /* NEW_/SET_INTERFACE: ifindex, wiphy, name, iftype, freq */
	WNL_EV_IFACE_DEL,   /* DEL_INTERFACE: ifindex, wiphy */
	WNL_EV_STATION,     /* NEW_STATION: ifindex, mac */
	WNL_EV_STATION_DEL, /* DEL_STATION: ifindex, mac */
	WNL_EV_IBSS_JOINED, /* JOIN_IBSS event (cell found or merged): ifindex, mac = BSSID */
	WNL_EV_FAMILY,      /* generic netlink controller: a family appeared: name, family */
	WNL_EV_FAMILY_DEL,  /* a family went away: name, family */
	WNL_EV_LINK,        /* RTM_NEWLINK: ifindex, flags, name */
	WNL_EV_LINK_DEL,    /* RTM_DELLINK: ifindex, name */
	WNL_EV_ADDR_READY,  /* RTM_NEWADDR: an IPv6 link-local address on ifindex is usable (DAD done) */
};

struct wnl_event {
	enum wnl_ev_kind kind;
	uint8_t cmd;       /* the genl command, or 0 */
	uint32_t wiphy;    /* WNL_NONE when absent */
	uint32_t ifindex;  /* 0 when absent */
	uint32_t iftype;   /* NL80211_IFTYPE_UNSPECIFIED (0) when absent */
	uint32_t freq_mhz; /* 0 when absent */
	uint32_t iftypes;  /* WIPHY: bit n = supports NL80211_IFTYPE n (n < 32) */
	uint32_t flags;    /* LINK: IFF_* */
	uint16_t family;   /* FAMILY*: its id */
	bool has_mac;
	uint8_t mac[WNL_MAC_BYTES];
	char name[WNL_NAME_MAX]; /* ifname, phy name or family name; "" when absent */
};

/* A generic netlink message: from the controller (nlmsg_type GENL_ID_CTRL)
 * or from nl80211 (nlmsg_type == family; family < 0 when not resolved). */
int wnl_parse_genl(struct wnl_event *out, int family, const struct nlmsghdr *nlh, size_t len)
    __attribute__((warn_unused_result));
/* An rtnetlink message (RTM_NEWLINK / RTM_DELLINK, RTM_NEWADDR; others are
 * OTHER, and so is an address that is not a usable IPv6 link-local one). */
int wnl_parse_route(struct wnl_event *out, const struct nlmsghdr *nlh, size_t len)
    __attribute__((warn_unused_result));

/* An NLMSG_ERROR: *err = the kernel's 0 (ack) or -errno; msg gets the
 * extended-ack text (NLMSGERR_ATTR_MSG) or "" (always NUL-terminated,
 * truncated to cap). MU_E_FORMAT if it is not a well-formed NLMSG_ERROR. */
int wnl_parse_ack(int *err, char *msg, size_t cap, const struct nlmsghdr *nlh, size_t len)
    __attribute__((warn_unused_result));

struct wnl_rfkill {
	uint32_t idx;
	uint8_t type; /* RFKILL_TYPE_* */
	uint8_t op;   /* RFKILL_OP_* */
	bool soft, hard;
};

/* One read() from /dev/rfkill: at least the 8-byte v1 event (newer kernels
 * may append fields, which are ignored). */
int wnl_parse_rfkill(struct wnl_rfkill *out, const void *p, size_t n) __attribute__((warn_unused_result));

#endif
