/* nl80211 / rtnetlink / rfkill encoding and decoding for the Wi-Fi driver.
 * Contracts in wifi_nl.h. Decoding goes through libnl's attribute parser
 * with a policy for every attribute read (type and length checked before
 * use); the message and header lengths are checked here first, so a
 * parser never trusts nlmsg_len beyond the bytes it was given. */
#include "wifi_nl.h"

#include <errno.h>
#include <sys/socket.h>
#include <net/if.h>
#include <string.h>

#include <linux/genetlink.h>
#include <linux/nl80211.h>
#include <linux/rfkill.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/route/link.h>

#include "err.h"

/* IEEE 802.11 cipher suite selectors (00-0F-AC:1 and :5). */
#define CIPHER_WEP40  0x000FAC01u
#define CIPHER_WEP104 0x000FAC05u

#ifndef NLM_F_CAPPED
#define NLM_F_CAPPED 0x100
#endif
#ifndef NLM_F_ACK_TLVS
#define NLM_F_ACK_TLVS 0x200
#endif

uint32_t wnl_iftype(enum wnl_mode mode)
{
	switch (mode) {
	case WNL_IBSS:
		return NL80211_IFTYPE_ADHOC;
	case WNL_MESH:
		return NL80211_IFTYPE_MESH_POINT;
	}
	return NL80211_IFTYPE_UNSPECIFIED;
}

/* ---- building ---- */

static int start(struct nl_msg **out, int family, uint8_t cmd, int flags)
{
	*out = nlmsg_alloc();
	if (!*out)
		return -ENOMEM;
	if (!genlmsg_put(*out, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, flags | NLM_F_ACK, cmd, 0)) {
		nlmsg_free(*out);
		*out = NULL;
		return -EMSGSIZE;
	}
	return 0;
}

/* Ends a builder: put is the OR of the nla_put results (0 or -NLE_*). */
static int finish(struct nl_msg **out, int put)
{
	if (!put)
		return 0;
	nlmsg_free(*out);
	*out = NULL;
	return -EMSGSIZE;
}

int wnl_get_wiphys(struct nl_msg **out, int family)
{
	int ret = start(out, family, NL80211_CMD_GET_WIPHY, NLM_F_DUMP);

	/* Split: a modern wiphy's description does not fit one message. */
	return ret ? ret : finish(out, nla_put_flag(*out, NL80211_ATTR_SPLIT_WIPHY_DUMP));
}

int wnl_get_ifaces(struct nl_msg **out, int family)
{
	return start(out, family, NL80211_CMD_GET_INTERFACE, NLM_F_DUMP);
}

int wnl_get_stations(struct nl_msg **out, int family, uint32_t ifindex)
{
	int ret = start(out, family, NL80211_CMD_GET_STATION, NLM_F_DUMP);

	return ret ? ret : finish(out, nla_put_u32(*out, NL80211_ATTR_IFINDEX, ifindex));
}

int wnl_new_iface(struct nl_msg **out, int family, uint32_t wiphy, const char *ifname, enum wnl_mode mode)
{
	int ret;

	if (!*ifname || strlen(ifname) >= IF_NAMESIZE) {
		*out = NULL;
		return -EINVAL;
	}
	ret = start(out, family, NL80211_CMD_NEW_INTERFACE, 0);
	if (ret)
		return ret;
	return finish(out, nla_put_u32(*out, NL80211_ATTR_WIPHY, wiphy) |
			       nla_put_string(*out, NL80211_ATTR_IFNAME, ifname) |
			       nla_put_u32(*out, NL80211_ATTR_IFTYPE, wnl_iftype(mode)));
}

int wnl_del_iface(struct nl_msg **out, int family, uint32_t ifindex)
{
	int ret = start(out, family, NL80211_CMD_DEL_INTERFACE, 0);

	return ret ? ret : finish(out, nla_put_u32(*out, NL80211_ATTR_IFINDEX, ifindex));
}

int wnl_set_iftype(struct nl_msg **out, int family, uint32_t ifindex, enum wnl_mode mode)
{
	int ret = start(out, family, NL80211_CMD_SET_INTERFACE, 0);

	return ret ? ret
		   : finish(out, nla_put_u32(*out, NL80211_ATTR_IFINDEX, ifindex) |
				     nla_put_u32(*out, NL80211_ATTR_IFTYPE, wnl_iftype(mode)));
}

static int put_wep_key(struct nl_msg *m, const struct wnl_join *j)
{
	struct nlattr *keys, *key;
	int put;

	keys = nla_nest_start(m, NL80211_ATTR_KEYS);
	if (!keys)
		return -NLE_NOMEM;
	key = nla_nest_start(m, 1);
	if (!key)
		return -NLE_NOMEM;
	put =
	    nla_put(m, NL80211_KEY_DATA, (int)j->key_len, j->key) | nla_put_u8(m, NL80211_KEY_IDX, 0) |
	    nla_put_u32(m, NL80211_KEY_CIPHER, j->key_len == WNL_WEP40_BYTES ? CIPHER_WEP40 : CIPHER_WEP104) |
	    nla_put_flag(m, NL80211_KEY_DEFAULT);
	if (put)
		return put;
	nla_nest_end(m, key);
	nla_nest_end(m, keys);
	return nla_put_flag(m, NL80211_ATTR_PRIVACY);
}

int wnl_join(struct nl_msg **out, int family, const struct wnl_join *j)
{
	int ret, put;

	*out = NULL;
	if (!j->id_len || j->id_len > WNL_ID_MAX ||
	    (j->key_len &&
	     (j->mode != WNL_IBSS || (j->key_len != WNL_WEP40_BYTES && j->key_len != WNL_WEP104_BYTES))))
		return -EINVAL;
	ret = start(out, family, j->mode == WNL_IBSS ? NL80211_CMD_JOIN_IBSS : NL80211_CMD_JOIN_MESH, 0);
	if (ret)
		return ret;
	put = nla_put_u32(*out, NL80211_ATTR_IFINDEX, j->ifindex) |
	      nla_put_u32(*out, NL80211_ATTR_WIPHY_FREQ, j->freq_mhz);
	if (j->mode == WNL_IBSS) {
		/* Fixed: stay on the configured channel rather than follow a
		 * foreign cell of the same name elsewhere. */
		put |= nla_put(*out, NL80211_ATTR_SSID, (int)j->id_len, j->id) |
		       nla_put_flag(*out, NL80211_ATTR_FREQ_FIXED);
		if (j->has_bssid)
			put |= nla_put(*out, NL80211_ATTR_MAC, WNL_MAC_BYTES, j->bssid);
		if (!put && j->key_len)
			put = put_wep_key(*out, j);
	} else {
		put |= nla_put(*out, NL80211_ATTR_MESH_ID, (int)j->id_len, j->id);
	}
	return finish(out, put);
}

int wnl_leave(struct nl_msg **out, int family, uint32_t ifindex, enum wnl_mode mode)
{
	int ret = start(out, family, mode == WNL_IBSS ? NL80211_CMD_LEAVE_IBSS : NL80211_CMD_LEAVE_MESH, 0);

	return ret ? ret : finish(out, nla_put_u32(*out, NL80211_ATTR_IFINDEX, ifindex));
}

int wnl_link_get(struct nl_msg **out, uint32_t ifindex)
{
	int ret;

	*out = NULL;
	if (!ifindex || ifindex > INT32_MAX)
		return -EINVAL;
	ret = rtnl_link_build_get_request((int)ifindex, NULL, out);
	if (ret) {
		*out = NULL;
		return ret == -NLE_NOMEM ? -ENOMEM : -EMSGSIZE;
	}
	nlmsg_hdr(*out)->nlmsg_flags |= NLM_F_ACK;
	return 0;
}

int wnl_link_set_up(struct nl_msg **out, uint32_t ifindex, bool up)
{
	struct rtnl_link *orig = rtnl_link_alloc(), *chg = rtnl_link_alloc();
	int ret = -ENOMEM;

	*out = NULL;
	if (!ifindex || ifindex > INT32_MAX) {
		ret = -EINVAL;
		goto out;
	}
	if (!orig || !chg)
		goto out;
	rtnl_link_set_ifindex(orig, (int)ifindex);
	if (up)
		rtnl_link_set_flags(chg, IFF_UP);
	else
		rtnl_link_unset_flags(chg, IFF_UP);
	ret = rtnl_link_build_change_request(orig, chg, NLM_F_ACK, out);
	if (ret) {
		*out = NULL;
		ret = ret == -NLE_NOMEM ? -ENOMEM : -EMSGSIZE;
	}
out:
	rtnl_link_put(orig);
	rtnl_link_put(chg);
	return ret;
}

/* ---- parsing ---- */

/* The header fits in len and claims no more than len. */
static bool msg_fits(const struct nlmsghdr *nlh, size_t len)
{
	return nlh && len >= NLMSG_HDRLEN && nlh->nlmsg_len >= NLMSG_HDRLEN && nlh->nlmsg_len <= len;
}

static void event_clear(struct wnl_event *e)
{
	memset(e, 0, sizeof(*e));
	e->wiphy = WNL_NONE;
}

static int fail(struct wnl_event *e, int err)
{
	event_clear(e);
	return err;
}

/* A NUL-terminated string attribute into dst (WNL_NAME_MAX). */
static int get_name(char dst[static WNL_NAME_MAX], const struct nlattr *a)
{
	const char *s = nla_data(a);
	size_t cap = (size_t)nla_len(a), n = strnlen(s, cap);

	if (n == cap)
		return MU_E_FORMAT; /* no NUL inside the attribute */
	if (n >= WNL_NAME_MAX)
		return MU_E_TOOBIG;
	memcpy(dst, s, n);
	dst[n] = 0;
	return 0;
}

static struct nla_policy nl80211_policy[NL80211_ATTR_MAX + 1] = {
    [NL80211_ATTR_WIPHY] = {.type = NLA_U32},
    [NL80211_ATTR_WIPHY_NAME] = {.type = NLA_STRING},
    [NL80211_ATTR_IFINDEX] = {.type = NLA_U32},
    [NL80211_ATTR_IFNAME] = {.type = NLA_STRING},
    [NL80211_ATTR_IFTYPE] = {.type = NLA_U32},
    [NL80211_ATTR_MAC] = {.type = NLA_UNSPEC, .minlen = WNL_MAC_BYTES, .maxlen = WNL_MAC_BYTES},
    [NL80211_ATTR_WIPHY_FREQ] = {.type = NLA_U32},
    [NL80211_ATTR_SUPPORTED_IFTYPES] = {.type = NLA_NESTED},
};

static struct nla_policy ctrl_policy[CTRL_ATTR_MAX + 1] = {
    [CTRL_ATTR_FAMILY_ID] = {.type = NLA_U16},
    [CTRL_ATTR_FAMILY_NAME] = {.type = NLA_STRING},
};

static struct nla_policy link_policy[IFLA_MAX + 1] = {
    [IFLA_IFNAME] = {.type = NLA_STRING},
};

static struct nla_policy addr_policy[IFA_MAX + 1] = {
    [IFA_FLAGS] = {.type = NLA_U32},
};

/* A link-local IPv6 address past duplicate address detection is what the
 * IP driver's beacons need as their source. */
static int parse_addr(struct wnl_event *out, struct nlmsghdr *h)
{
	struct nlattr *tb[IFA_MAX + 1];
	const struct ifaddrmsg *ifa;
	uint32_t flags;

	if (nlmsg_parse(h, sizeof(*ifa), tb, IFA_MAX, addr_policy))
		return fail(out, MU_E_FORMAT);
	ifa = nlmsg_data(h);
	if (!ifa->ifa_index)
		return fail(out, MU_E_FORMAT);
	flags = tb[IFA_FLAGS] ? nla_get_u32(tb[IFA_FLAGS]) : ifa->ifa_flags;
	if (ifa->ifa_family != AF_INET6 || ifa->ifa_scope != RT_SCOPE_LINK ||
	    (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)))
		return 0;
	out->ifindex = ifa->ifa_index;
	out->flags = flags;
	out->kind = WNL_EV_ADDR_READY;
	return 0;
}

static int parse_ctrl(struct wnl_event *out, struct nlmsghdr *nlh)
{
	struct nlattr *tb[CTRL_ATTR_MAX + 1];
	struct genlmsghdr *g = nlmsg_data(nlh);

	if (genlmsg_parse(nlh, 0, tb, CTRL_ATTR_MAX, ctrl_policy))
		return fail(out, MU_E_FORMAT);
	out->cmd = g->cmd;
	if (g->cmd != CTRL_CMD_NEWFAMILY && g->cmd != CTRL_CMD_DELFAMILY)
		return 0;
	if (!tb[CTRL_ATTR_FAMILY_ID] || !tb[CTRL_ATTR_FAMILY_NAME])
		return fail(out, MU_E_FORMAT);
	if (get_name(out->name, tb[CTRL_ATTR_FAMILY_NAME]) || !*out->name)
		return fail(out, MU_E_FORMAT);
	out->family = nla_get_u16(tb[CTRL_ATTR_FAMILY_ID]);
	out->kind = g->cmd == CTRL_CMD_NEWFAMILY ? WNL_EV_FAMILY : WNL_EV_FAMILY_DEL;
	return 0;
}

static int parse_nl80211(struct wnl_event *out, struct nlmsghdr *nlh)
{
	struct nlattr *tb[NL80211_ATTR_MAX + 1];
	struct genlmsghdr *g = nlmsg_data(nlh);
	int ret = 0;

	if (genlmsg_parse(nlh, 0, tb, NL80211_ATTR_MAX, nl80211_policy))
		return fail(out, MU_E_FORMAT);
	out->cmd = g->cmd;
	if (tb[NL80211_ATTR_WIPHY])
		out->wiphy = nla_get_u32(tb[NL80211_ATTR_WIPHY]);
	if (tb[NL80211_ATTR_IFINDEX])
		out->ifindex = nla_get_u32(tb[NL80211_ATTR_IFINDEX]);
	if (tb[NL80211_ATTR_IFTYPE])
		out->iftype = nla_get_u32(tb[NL80211_ATTR_IFTYPE]);
	if (tb[NL80211_ATTR_WIPHY_FREQ])
		out->freq_mhz = nla_get_u32(tb[NL80211_ATTR_WIPHY_FREQ]);
	if (tb[NL80211_ATTR_MAC]) {
		memcpy(out->mac, nla_data(tb[NL80211_ATTR_MAC]), WNL_MAC_BYTES);
		out->has_mac = true;
	}
	switch (g->cmd) {
	case NL80211_CMD_NEW_WIPHY:
		if (out->wiphy == WNL_NONE)
			return fail(out, MU_E_FORMAT);
		if (tb[NL80211_ATTR_WIPHY_NAME])
			ret = get_name(out->name, tb[NL80211_ATTR_WIPHY_NAME]);
		if (tb[NL80211_ATTR_SUPPORTED_IFTYPES]) {
			struct nlattr *pos;
			int rem;

			nla_for_each_nested(pos, tb[NL80211_ATTR_SUPPORTED_IFTYPES],
					    rem) if (nla_type(pos) < 32) out->iftypes |= 1u << nla_type(pos);
		}
		out->kind = WNL_EV_WIPHY;
		break;
	case NL80211_CMD_DEL_WIPHY:
		if (out->wiphy == WNL_NONE)
			return fail(out, MU_E_FORMAT);
		out->kind = WNL_EV_WIPHY_DEL;
		break;
	case NL80211_CMD_NEW_INTERFACE:
	case NL80211_CMD_SET_INTERFACE:
	case NL80211_CMD_DEL_INTERFACE:
		if (!out->ifindex)
			return fail(out, MU_E_FORMAT);
		if (tb[NL80211_ATTR_IFNAME])
			ret = get_name(out->name, tb[NL80211_ATTR_IFNAME]);
		out->kind = g->cmd == NL80211_CMD_DEL_INTERFACE ? WNL_EV_IFACE_DEL : WNL_EV_IFACE;
		break;
	case NL80211_CMD_NEW_STATION:
	case NL80211_CMD_DEL_STATION:
	case NL80211_CMD_JOIN_IBSS:
		if (!out->ifindex || !out->has_mac)
			return fail(out, MU_E_FORMAT);
		out->kind = g->cmd == NL80211_CMD_NEW_STATION   ? WNL_EV_STATION
			    : g->cmd == NL80211_CMD_DEL_STATION ? WNL_EV_STATION_DEL
								: WNL_EV_IBSS_JOINED;
		break;
	default:
		break;
	}
	return ret ? fail(out, ret) : 0;
}

int wnl_parse_genl(struct wnl_event *out, int family, const struct nlmsghdr *nlh, size_t len)
{
	struct nlmsghdr *h = (struct nlmsghdr *)nlh; /* libnl's parsers take non-const */

	event_clear(out);
	if (!msg_fits(nlh, len) || !genlmsg_valid_hdr(h, 0))
		return fail(out, MU_E_FORMAT);
	if (nlh->nlmsg_type == GENL_ID_CTRL)
		return parse_ctrl(out, h);
	if (family > 0 && nlh->nlmsg_type == family)
		return parse_nl80211(out, h);
	return 0;
}

int wnl_parse_route(struct wnl_event *out, const struct nlmsghdr *nlh, size_t len)
{
	struct nlmsghdr *h = (struct nlmsghdr *)nlh;
	struct nlattr *tb[IFLA_MAX + 1];
	const struct ifinfomsg *ifi;
	int ret;

	event_clear(out);
	if (!msg_fits(nlh, len))
		return fail(out, MU_E_FORMAT);
	if (nlh->nlmsg_type == RTM_NEWADDR)
		return parse_addr(out, h);
	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return 0;
	if (nlmsg_parse(h, sizeof(*ifi), tb, IFLA_MAX, link_policy))
		return fail(out, MU_E_FORMAT);
	ifi = nlmsg_data(h);
	if (ifi->ifi_index <= 0)
		return fail(out, MU_E_FORMAT);
	out->ifindex = (uint32_t)ifi->ifi_index;
	out->flags = ifi->ifi_flags;
	if (tb[IFLA_IFNAME]) {
		ret = get_name(out->name, tb[IFLA_IFNAME]);
		if (ret)
			return fail(out, ret);
	}
	out->kind = nlh->nlmsg_type == RTM_NEWLINK ? WNL_EV_LINK : WNL_EV_LINK_DEL;
	return 0;
}

int wnl_parse_ack(int *err, char *msg, size_t cap, const struct nlmsghdr *nlh, size_t len)
{
	const struct nlmsgerr *e;
	size_t off, end;

	*err = 0;
	if (cap)
		*msg = 0;
	if (!msg_fits(nlh, len) || nlh->nlmsg_type != NLMSG_ERROR ||
	    nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*e))
		return MU_E_FORMAT;
	e = (const struct nlmsgerr *)((const uint8_t *)nlh + NLMSG_HDRLEN);
	if (e->error > 0 || e->error < -4095)
		return MU_E_FORMAT;
	*err = e->error;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return 0;
	/* TLVs follow the echoed request: its header only when capped (always
	 * for an ack), else the whole request. */
	off = NLMSG_HDRLEN + sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < NLMSG_HDRLEN)
			return MU_E_FORMAT;
		off += NLMSG_ALIGN((size_t)e->msg.nlmsg_len) - NLMSG_HDRLEN;
	}
	end = nlh->nlmsg_len;
	if (off > end)
		return MU_E_FORMAT;
	while (end - off >= NLA_HDRLEN) {
		const struct nlattr *a = (const struct nlattr *)((const uint8_t *)nlh + off);

		if (a->nla_len < NLA_HDRLEN || a->nla_len > end - off)
			return MU_E_FORMAT;
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG && cap) {
			const char *s = (const char *)a + NLA_HDRLEN;
			size_t n = strnlen(s, a->nla_len - NLA_HDRLEN);

			if (n >= cap)
				n = cap - 1;
			memcpy(msg, s, n);
			msg[n] = 0;
		}
		/* The last attribute may lack its padding. */
		if (NLA_ALIGN((size_t)a->nla_len) >= end - off)
			break;
		off += NLA_ALIGN((size_t)a->nla_len);
	}
	return 0;
}

int wnl_parse_rfkill(struct wnl_rfkill *out, const void *p, size_t n)
{
	struct rfkill_event ev;

	memset(out, 0, sizeof(*out));
	if (!p || n < RFKILL_EVENT_SIZE_V1)
		return MU_E_FORMAT;
	memcpy(&ev, p, sizeof(ev));
	if (ev.soft > 1 || ev.hard > 1)
		return MU_E_FORMAT;
	out->idx = ev.idx;
	out->type = ev.type;
	out->op = ev.op;
	out->soft = ev.soft;
	out->hard = ev.hard;
	return 0;
}
