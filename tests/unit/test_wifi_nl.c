/* The Wi-Fi driver's kernel messages (transport/wifi_nl.c): every request
 * built and read back attribute by attribute; canned kernel events parsed,
 * and malformed ones (truncated, lying lengths, wrong attribute sizes,
 * unterminated or oversized names) refused with the output zeroed. */
#include "testutil.h"

#include <errno.h>
#include <net/if.h>
#include <stdint.h>

#include <linux/genetlink.h>
#include <linux/nl80211.h>
#include <linux/rfkill.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "wifi_nl.h"

#define FAM 28 /* a plausible nl80211 family id */

static const uint8_t mac_a[6] = {0x02, 0x00, 0x00, 0x00, 0x0a, 0x01};

/* Parses a request we built back into attributes. */
static struct genlmsghdr *parse_back(struct nl_msg *m, struct nlattr **tb, uint8_t cmd)
{
	struct nlmsghdr *nlh = nlmsg_hdr(m);
	struct genlmsghdr *g = nlmsg_data(nlh);

	CHECK(nlh->nlmsg_type == FAM);
	CHECK(nlh->nlmsg_flags & NLM_F_ACK);
	CHECK(g->cmd == cmd);
	CHECK(genlmsg_parse(nlh, 0, tb, NL80211_ATTR_MAX, NULL) == 0);
	return g;
}

static void test_build_join_ibss(void)
{
	struct wnl_join j = {.mode = WNL_IBSS, .ifindex = 7, .freq_mhz = 2437, .id_len = 6, .key_len = 5};
	struct nlattr *tb[NL80211_ATTR_MAX + 1], *kt[NL80211_KEY_MAX + 1], *k;
	struct nl_msg *m = NULL;
	int rem, n = 0;

	memcpy(j.id, "muster", 6);
	memcpy(j.key, "\x01\x02\x03\x04\x05", 5);
	CHECK_OK(wnl_join(&m, FAM, &j));
	parse_back(m, tb, NL80211_CMD_JOIN_IBSS);
	CHECK(nla_get_u32(tb[NL80211_ATTR_IFINDEX]) == 7);
	CHECK(nla_get_u32(tb[NL80211_ATTR_WIPHY_FREQ]) == 2437);
	CHECK(nla_len(tb[NL80211_ATTR_SSID]) == 6 && !memcmp(nla_data(tb[NL80211_ATTR_SSID]), "muster", 6));
	CHECK(tb[NL80211_ATTR_FREQ_FIXED] && tb[NL80211_ATTR_PRIVACY] && !tb[NL80211_ATTR_MESH_ID]);
	nla_for_each_nested(k, tb[NL80211_ATTR_KEYS], rem)
	{
		n++;
		CHECK(nla_parse_nested(kt, NL80211_KEY_MAX, k, NULL) == 0);
		CHECK(nla_len(kt[NL80211_KEY_DATA]) == 5 &&
		      !memcmp(nla_data(kt[NL80211_KEY_DATA]), j.key, 5));
		CHECK(nla_get_u8(kt[NL80211_KEY_IDX]) == 0);
		CHECK(nla_get_u32(kt[NL80211_KEY_CIPHER]) == 0x000FAC01u);
		CHECK(kt[NL80211_KEY_DEFAULT]);
	}
	CHECK(n == 1);
	nlmsg_free(m);

	/* WEP-104 selects the other cipher suite; an open cell has no keys. */
	j.key_len = 13;
	CHECK_OK(wnl_join(&m, FAM, &j));
	parse_back(m, tb, NL80211_CMD_JOIN_IBSS);
	k = nla_data(tb[NL80211_ATTR_KEYS]);
	CHECK(nla_parse_nested(kt, NL80211_KEY_MAX, k, NULL) == 0);
	CHECK(nla_get_u32(kt[NL80211_KEY_CIPHER]) == 0x000FAC05u);
	nlmsg_free(m);
	j.key_len = 0;
	CHECK_OK(wnl_join(&m, FAM, &j));
	parse_back(m, tb, NL80211_CMD_JOIN_IBSS);
	CHECK(!tb[NL80211_ATTR_KEYS] && !tb[NL80211_ATTR_PRIVACY] && !tb[NL80211_ATTR_MAC]);
	nlmsg_free(m);
	/* A fixed cell. */
	j.has_bssid = true;
	memcpy(j.bssid, mac_a, 6);
	CHECK_OK(wnl_join(&m, FAM, &j));
	parse_back(m, tb, NL80211_CMD_JOIN_IBSS);
	CHECK(nla_len(tb[NL80211_ATTR_MAC]) == 6 && !memcmp(nla_data(tb[NL80211_ATTR_MAC]), mac_a, 6));
	nlmsg_free(m);
}

static void test_build_join_mesh(void)
{
	struct wnl_join j = {.mode = WNL_MESH, .ifindex = 9, .freq_mhz = 2412, .id_len = 3};
	struct nlattr *tb[NL80211_ATTR_MAX + 1];
	struct nl_msg *m = NULL;

	memcpy(j.id, "abc", 3);
	CHECK_OK(wnl_join(&m, FAM, &j));
	parse_back(m, tb, NL80211_CMD_JOIN_MESH);
	CHECK(nla_len(tb[NL80211_ATTR_MESH_ID]) == 3 &&
	      !memcmp(nla_data(tb[NL80211_ATTR_MESH_ID]), "abc", 3));
	CHECK(!tb[NL80211_ATTR_SSID] && !tb[NL80211_ATTR_KEYS]);
	CHECK(nla_get_u32(tb[NL80211_ATTR_IFINDEX]) == 9 && nla_get_u32(tb[NL80211_ATTR_WIPHY_FREQ]) == 2412);
	nlmsg_free(m);
}

static void test_build_join_invalid(void)
{
	struct wnl_join j = {.mode = WNL_IBSS, .ifindex = 1, .freq_mhz = 2412, .id_len = 0};
	struct nl_msg *m = (struct nl_msg *)&j;

	CHECK_RET(wnl_join(&m, FAM, &j), -EINVAL);
	CHECK(!m);
	j.id_len = WNL_ID_MAX + 1;
	CHECK_RET(wnl_join(&m, FAM, &j), -EINVAL);
	j.id_len = 4;
	j.key_len = 7;
	CHECK_RET(wnl_join(&m, FAM, &j), -EINVAL);
	j.key_len = 5;
	j.mode = WNL_MESH; /* no static key for a mesh */
	CHECK_RET(wnl_join(&m, FAM, &j), -EINVAL);
	CHECK(!m);
}

static void test_build_others(void)
{
	struct nlattr *tb[NL80211_ATTR_MAX + 1];
	struct nl_msg *m = NULL;
	struct ifinfomsg *ifi;

	CHECK_OK(wnl_get_wiphys(&m, FAM));
	parse_back(m, tb, NL80211_CMD_GET_WIPHY);
	CHECK(nlmsg_hdr(m)->nlmsg_flags & NLM_F_DUMP);
	CHECK(tb[NL80211_ATTR_SPLIT_WIPHY_DUMP]);
	nlmsg_free(m);

	CHECK_OK(wnl_get_ifaces(&m, FAM));
	parse_back(m, tb, NL80211_CMD_GET_INTERFACE);
	CHECK((nlmsg_hdr(m)->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP);
	nlmsg_free(m);

	CHECK_OK(wnl_get_stations(&m, FAM, 4));
	parse_back(m, tb, NL80211_CMD_GET_STATION);
	CHECK(nla_get_u32(tb[NL80211_ATTR_IFINDEX]) == 4);
	nlmsg_free(m);

	CHECK_OK(wnl_new_iface(&m, FAM, 2, "muster0", WNL_MESH));
	parse_back(m, tb, NL80211_CMD_NEW_INTERFACE);
	CHECK(nla_get_u32(tb[NL80211_ATTR_WIPHY]) == 2);
	CHECK(!strcmp(nla_get_string(tb[NL80211_ATTR_IFNAME]), "muster0"));
	CHECK(nla_get_u32(tb[NL80211_ATTR_IFTYPE]) == NL80211_IFTYPE_MESH_POINT);
	nlmsg_free(m);
	CHECK_RET(wnl_new_iface(&m, FAM, 2, "a-name-far-too-long", WNL_IBSS), -EINVAL);
	CHECK_RET(wnl_new_iface(&m, FAM, 2, "", WNL_IBSS), -EINVAL);

	CHECK_OK(wnl_del_iface(&m, FAM, 5));
	parse_back(m, tb, NL80211_CMD_DEL_INTERFACE);
	CHECK(nla_get_u32(tb[NL80211_ATTR_IFINDEX]) == 5);
	nlmsg_free(m);

	CHECK_OK(wnl_set_iftype(&m, FAM, 5, WNL_IBSS));
	parse_back(m, tb, NL80211_CMD_SET_INTERFACE);
	CHECK(nla_get_u32(tb[NL80211_ATTR_IFTYPE]) == NL80211_IFTYPE_ADHOC);
	nlmsg_free(m);

	CHECK_OK(wnl_leave(&m, FAM, 5, WNL_IBSS));
	parse_back(m, tb, NL80211_CMD_LEAVE_IBSS);
	nlmsg_free(m);
	CHECK_OK(wnl_leave(&m, FAM, 5, WNL_MESH));
	parse_back(m, tb, NL80211_CMD_LEAVE_MESH);
	CHECK(nla_get_u32(tb[NL80211_ATTR_IFINDEX]) == 5);
	nlmsg_free(m);

	/* rtnetlink through libnl-route: RTM_NEWLINK on the index, only the
	 * IFF_UP bit changed. */
	CHECK_OK(wnl_link_set_up(&m, 12, true));
	CHECK(nlmsg_hdr(m)->nlmsg_type == RTM_NEWLINK && (nlmsg_hdr(m)->nlmsg_flags & NLM_F_ACK));
	CHECK(!(nlmsg_hdr(m)->nlmsg_flags & NLM_F_CREATE));
	ifi = nlmsg_data(nlmsg_hdr(m));
	CHECK(ifi->ifi_index == 12 && (ifi->ifi_flags & IFF_UP) && ifi->ifi_change == IFF_UP);
	nlmsg_free(m);
	CHECK_OK(wnl_link_set_up(&m, 12, false));
	ifi = nlmsg_data(nlmsg_hdr(m));
	CHECK(ifi->ifi_index == 12 && !(ifi->ifi_flags & IFF_UP) && ifi->ifi_change == IFF_UP);
	nlmsg_free(m);
	CHECK_RET(wnl_link_set_up(&m, 0, true), -EINVAL);

	CHECK_OK(wnl_link_get(&m, 12));
	CHECK(nlmsg_hdr(m)->nlmsg_type == RTM_GETLINK && (nlmsg_hdr(m)->nlmsg_flags & NLM_F_ACK));
	ifi = nlmsg_data(nlmsg_hdr(m));
	CHECK(ifi->ifi_index == 12);
	nlmsg_free(m);
}

/* ---- canned kernel messages ---- */

static struct nl_msg *event(uint8_t cmd)
{
	struct nl_msg *m = nlmsg_alloc();

	CHECK(m && genlmsg_put(m, 0, 0, FAM, 0, 0, cmd, 1));
	return m;
}

static int parse(struct wnl_event *e, struct nl_msg *m)
{
	int ret = wnl_parse_genl(e, FAM, nlmsg_hdr(m), nlmsg_hdr(m)->nlmsg_len);

	nlmsg_free(m);
	return ret;
}

static void check_zeroed(const struct wnl_event *e)
{
	CHECK(e->kind == WNL_EV_OTHER && e->wiphy == WNL_NONE && !e->ifindex && !e->has_mac && !*e->name &&
	      !e->iftypes && !e->cmd);
}

static void test_parse_station(void)
{
	struct wnl_event e;
	struct nl_msg *m = event(NL80211_CMD_NEW_STATION);

	CHECK(!nla_put_u32(m, NL80211_ATTR_IFINDEX, 3) && !nla_put(m, NL80211_ATTR_MAC, 6, mac_a));
	CHECK_OK(parse(&e, m));
	CHECK(e.kind == WNL_EV_STATION && e.ifindex == 3 && e.has_mac && !memcmp(e.mac, mac_a, 6));

	m = event(NL80211_CMD_DEL_STATION);
	CHECK(!nla_put_u32(m, NL80211_ATTR_IFINDEX, 3) && !nla_put(m, NL80211_ATTR_MAC, 6, mac_a));
	CHECK_OK(parse(&e, m));
	CHECK(e.kind == WNL_EV_STATION_DEL && e.ifindex == 3);

	m = event(NL80211_CMD_JOIN_IBSS);
	CHECK(!nla_put_u32(m, NL80211_ATTR_IFINDEX, 3) && !nla_put(m, NL80211_ATTR_MAC, 6, mac_a));
	CHECK_OK(parse(&e, m));
	CHECK(e.kind == WNL_EV_IBSS_JOINED);

	/* A station event without its MAC, or with a 5-byte one. */
	m = event(NL80211_CMD_NEW_STATION);
	CHECK(!nla_put_u32(m, NL80211_ATTR_IFINDEX, 3));
	CHECK_RET(parse(&e, m), MU_E_FORMAT);
	check_zeroed(&e);
	m = event(NL80211_CMD_NEW_STATION);
	CHECK(!nla_put_u32(m, NL80211_ATTR_IFINDEX, 3) && !nla_put(m, NL80211_ATTR_MAC, 5, mac_a));
	CHECK_RET(parse(&e, m), MU_E_FORMAT);
	check_zeroed(&e);
	/* A 2-byte ifindex. */
	m = event(NL80211_CMD_NEW_STATION);
	CHECK(!nla_put_u16(m, NL80211_ATTR_IFINDEX, 3) && !nla_put(m, NL80211_ATTR_MAC, 6, mac_a));
	CHECK_RET(parse(&e, m), MU_E_FORMAT);
	check_zeroed(&e);
}

static void test_parse_wiphy(void)
{
	struct wnl_event e;
	struct nl_msg *m = event(NL80211_CMD_NEW_WIPHY);
	struct nlattr *types;

	CHECK(!nla_put_u32(m, NL80211_ATTR_WIPHY, 1) && !nla_put_string(m, NL80211_ATTR_WIPHY_NAME, "phy1"));
	types = nla_nest_start(m, NL80211_ATTR_SUPPORTED_IFTYPES);
	CHECK(types && !nla_put_flag(m, NL80211_IFTYPE_ADHOC) && !nla_put_flag(m, NL80211_IFTYPE_STATION) &&
	      !nla_put_flag(m, 40)); /* a type beyond the mask is ignored */
	nla_nest_end(m, types);
	CHECK_OK(parse(&e, m));
	CHECK(e.kind == WNL_EV_WIPHY && e.wiphy == 1 && !strcmp(e.name, "phy1"));
	CHECK(e.iftypes == ((1u << NL80211_IFTYPE_ADHOC) | (1u << NL80211_IFTYPE_STATION)));
	CHECK(wnl_iftype(WNL_IBSS) == NL80211_IFTYPE_ADHOC &&
	      wnl_iftype(WNL_MESH) == NL80211_IFTYPE_MESH_POINT);

	m = event(NL80211_CMD_DEL_WIPHY);
	CHECK(!nla_put_u32(m, NL80211_ATTR_WIPHY, 1));
	CHECK_OK(parse(&e, m));
	CHECK(e.kind == WNL_EV_WIPHY_DEL && e.wiphy == 1);

	m = event(NL80211_CMD_NEW_WIPHY); /* no index */
	CHECK(!nla_put_string(m, NL80211_ATTR_WIPHY_NAME, "phy1"));
	CHECK_RET(parse(&e, m), MU_E_FORMAT);
	check_zeroed(&e);
}

static void test_parse_iface(void)
{
	char long_name[80];
	struct wnl_event e;
	struct nl_msg *m = event(NL80211_CMD_NEW_INTERFACE);

	CHECK(!nla_put_u32(m, NL80211_ATTR_IFINDEX, 4) && !nla_put_u32(m, NL80211_ATTR_WIPHY, 0) &&
	      !nla_put_string(m, NL80211_ATTR_IFNAME, "wlan0") &&
	      !nla_put_u32(m, NL80211_ATTR_IFTYPE, NL80211_IFTYPE_ADHOC) &&
	      !nla_put_u32(m, NL80211_ATTR_WIPHY_FREQ, 2412));
	CHECK_OK(parse(&e, m));
	CHECK(e.kind == WNL_EV_IFACE && e.ifindex == 4 && e.wiphy == 0 && !strcmp(e.name, "wlan0") &&
	      e.iftype == NL80211_IFTYPE_ADHOC && e.freq_mhz == 2412);

	m = event(NL80211_CMD_DEL_INTERFACE);
	CHECK(!nla_put_u32(m, NL80211_ATTR_IFINDEX, 4));
	CHECK_OK(parse(&e, m));
	CHECK(e.kind == WNL_EV_IFACE_DEL && e.ifindex == 4 && e.wiphy == WNL_NONE);

	/* A name without its NUL, and one longer than any name we keep. */
	m = event(NL80211_CMD_NEW_INTERFACE);
	CHECK(!nla_put_u32(m, NL80211_ATTR_IFINDEX, 4) && !nla_put(m, NL80211_ATTR_IFNAME, 5, "wlan0"));
	CHECK_RET(parse(&e, m), MU_E_FORMAT);
	check_zeroed(&e);
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;
	m = event(NL80211_CMD_NEW_INTERFACE);
	CHECK(!nla_put_u32(m, NL80211_ATTR_IFINDEX, 4) && !nla_put_string(m, NL80211_ATTR_IFNAME, long_name));
	CHECK_RET(parse(&e, m), MU_E_TOOBIG);
	check_zeroed(&e);

	/* Another family's message, and a command we do not act on. */
	m = nlmsg_alloc();
	CHECK(m && genlmsg_put(m, 0, 0, FAM + 1, 0, 0, NL80211_CMD_NEW_STATION, 1));
	CHECK_OK(parse(&e, m));
	check_zeroed(&e);
	m = event(NL80211_CMD_TRIGGER_SCAN);
	CHECK(!nla_put_u32(m, NL80211_ATTR_IFINDEX, 4));
	CHECK_OK(parse(&e, m));
	CHECK(e.kind == WNL_EV_OTHER && e.cmd == NL80211_CMD_TRIGGER_SCAN);
}

static void test_parse_ctrl(void)
{
	struct wnl_event e;
	struct nl_msg *m = nlmsg_alloc();

	CHECK(m && genlmsg_put(m, 0, 0, GENL_ID_CTRL, 0, 0, CTRL_CMD_NEWFAMILY, 2));
	CHECK(!nla_put_u16(m, CTRL_ATTR_FAMILY_ID, 33) &&
	      !nla_put_string(m, CTRL_ATTR_FAMILY_NAME, "nl80211"));
	/* Before nl80211 is known (family -1). */
	CHECK_OK(wnl_parse_genl(&e, -1, nlmsg_hdr(m), nlmsg_hdr(m)->nlmsg_len));
	CHECK(e.kind == WNL_EV_FAMILY && e.family == 33 && !strcmp(e.name, "nl80211"));
	nlmsg_free(m);

	m = nlmsg_alloc();
	CHECK(m && genlmsg_put(m, 0, 0, GENL_ID_CTRL, 0, 0, CTRL_CMD_DELFAMILY, 2));
	CHECK(!nla_put_u16(m, CTRL_ATTR_FAMILY_ID, 33) &&
	      !nla_put_string(m, CTRL_ATTR_FAMILY_NAME, "nl80211"));
	CHECK_OK(parse(&e, m));
	CHECK(e.kind == WNL_EV_FAMILY_DEL && e.family == 33);

	m = nlmsg_alloc(); /* no name */
	CHECK(m && genlmsg_put(m, 0, 0, GENL_ID_CTRL, 0, 0, CTRL_CMD_NEWFAMILY, 2));
	CHECK(!nla_put_u16(m, CTRL_ATTR_FAMILY_ID, 33));
	CHECK_RET(parse(&e, m), MU_E_FORMAT);
	check_zeroed(&e);
}

/* A hand-made buffer, 4-byte aligned, for lengths libnl would not build. */
static union {
	uint32_t align;
	uint8_t b[512];
} buf;

static struct nlmsghdr *raw_genl(uint16_t type, uint8_t cmd, size_t attr_bytes)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf.b;
	struct genlmsghdr *g = (struct genlmsghdr *)(buf.b + NLMSG_HDRLEN);

	memset(buf.b, 0, sizeof(buf.b));
	nlh->nlmsg_len = (uint32_t)(NLMSG_HDRLEN + GENL_HDRLEN + attr_bytes);
	nlh->nlmsg_type = type;
	g->cmd = cmd;
	return nlh;
}

static struct nlattr *raw_attr(size_t off, uint16_t type, uint16_t len)
{
	struct nlattr *a = (struct nlattr *)(buf.b + NLMSG_HDRLEN + GENL_HDRLEN + off);

	a->nla_type = type;
	a->nla_len = len;
	return a;
}

static void test_parse_malformed(void)
{
	struct wnl_event e;
	struct nlmsghdr *nlh;

	/* Shorter than a netlink header; a header shorter than itself. */
	nlh = raw_genl(FAM, NL80211_CMD_NEW_STATION, 0);
	CHECK_RET(wnl_parse_genl(&e, FAM, nlh, NLMSG_HDRLEN - 1), MU_E_FORMAT);
	check_zeroed(&e);
	nlh->nlmsg_len = 8;
	CHECK_RET(wnl_parse_genl(&e, FAM, nlh, sizeof(buf.b)), MU_E_FORMAT);
	CHECK_RET(wnl_parse_genl(&e, FAM, NULL, 0), MU_E_FORMAT);
	/* No room for the genl header. */
	nlh = raw_genl(FAM, NL80211_CMD_NEW_STATION, 0);
	nlh->nlmsg_len = NLMSG_HDRLEN + 2;
	CHECK_RET(wnl_parse_genl(&e, FAM, nlh, nlh->nlmsg_len), MU_E_FORMAT);
	/* nlmsg_len claims more than was received. */
	nlh = raw_genl(FAM, NL80211_CMD_NEW_STATION, 8);
	raw_attr(0, NL80211_ATTR_IFINDEX, 8);
	CHECK_RET(wnl_parse_genl(&e, FAM, nlh, nlh->nlmsg_len - 1), MU_E_FORMAT);
	check_zeroed(&e);
	/* An attribute whose length runs past the message: libnl stops the
	 * walk there, so the ifindex is simply absent -> a station without
	 * its fields. */
	nlh = raw_genl(FAM, NL80211_CMD_NEW_STATION, 8);
	raw_attr(0, NL80211_ATTR_IFINDEX, 200);
	CHECK_RET(wnl_parse_genl(&e, FAM, nlh, nlh->nlmsg_len), MU_E_FORMAT);
	check_zeroed(&e);
	/* A zero-length string attribute (nothing to hold a NUL). */
	nlh = raw_genl(FAM, NL80211_CMD_NEW_INTERFACE, 12);
	raw_attr(0, NL80211_ATTR_IFINDEX, 8);
	*(uint32_t *)(buf.b + NLMSG_HDRLEN + GENL_HDRLEN + 4) = 4;
	raw_attr(8, NL80211_ATTR_IFNAME, 4);
	CHECK_RET(wnl_parse_genl(&e, FAM, nlh, nlh->nlmsg_len), MU_E_FORMAT);
	check_zeroed(&e);
	/* Not a link message: OTHER; a link message too short for ifinfomsg. */
	nlh = raw_genl(RTM_NEWROUTE, 0, 16);
	CHECK_OK(wnl_parse_route(&e, nlh, nlh->nlmsg_len));
	CHECK(e.kind == WNL_EV_OTHER);
	nlh = raw_genl(RTM_NEWLINK, 0, 0);
	nlh->nlmsg_len = NLMSG_HDRLEN + 4;
	CHECK_RET(wnl_parse_route(&e, nlh, nlh->nlmsg_len), MU_E_FORMAT);
	check_zeroed(&e);
}

static void test_parse_link(void)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = 6, .ifi_flags = IFF_UP | 0x10000};
	struct nl_msg *m = nlmsg_alloc_simple(RTM_NEWLINK, 0);
	struct wnl_event e;

	CHECK(m && !nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO));
	CHECK(!nla_put_string(m, IFLA_IFNAME, "wlan0"));
	CHECK_OK(wnl_parse_route(&e, nlmsg_hdr(m), nlmsg_hdr(m)->nlmsg_len));
	CHECK(e.kind == WNL_EV_LINK && e.ifindex == 6 && e.flags == (IFF_UP | 0x10000) &&
	      !strcmp(e.name, "wlan0"));
	nlmsg_free(m);

	m = nlmsg_alloc_simple(RTM_DELLINK, 0);
	CHECK(m && !nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO));
	CHECK_OK(wnl_parse_route(&e, nlmsg_hdr(m), nlmsg_hdr(m)->nlmsg_len));
	CHECK(e.kind == WNL_EV_LINK_DEL && e.ifindex == 6 && !*e.name);
	nlmsg_free(m);

	ifi.ifi_index = -1;
	m = nlmsg_alloc_simple(RTM_NEWLINK, 0);
	CHECK(m && !nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO));
	CHECK_RET(wnl_parse_route(&e, nlmsg_hdr(m), nlmsg_hdr(m)->nlmsg_len), MU_E_FORMAT);
	check_zeroed(&e);
	nlmsg_free(m);
}

static void test_parse_addr(void)
{
	struct ifaddrmsg ifa = {
	    .ifa_family = AF_INET6, .ifa_prefixlen = 64, .ifa_scope = RT_SCOPE_LINK, .ifa_index = 6};
	struct nl_msg *m;
	struct wnl_event e;

	/* Usable; tentative (by the header, then by IFA_FLAGS); global. */
	m = nlmsg_alloc_simple(RTM_NEWADDR, 0);
	CHECK(m && !nlmsg_append(m, &ifa, sizeof(ifa), NLMSG_ALIGNTO));
	CHECK_OK(wnl_parse_route(&e, nlmsg_hdr(m), nlmsg_hdr(m)->nlmsg_len));
	CHECK(e.kind == WNL_EV_ADDR_READY && e.ifindex == 6);
	CHECK(!nla_put_u32(m, IFA_FLAGS, IFA_F_TENTATIVE));
	CHECK_OK(wnl_parse_route(&e, nlmsg_hdr(m), nlmsg_hdr(m)->nlmsg_len));
	CHECK(e.kind == WNL_EV_OTHER);
	nlmsg_free(m);
	ifa.ifa_flags = IFA_F_TENTATIVE;
	m = nlmsg_alloc_simple(RTM_NEWADDR, 0);
	CHECK(m && !nlmsg_append(m, &ifa, sizeof(ifa), NLMSG_ALIGNTO));
	CHECK_OK(wnl_parse_route(&e, nlmsg_hdr(m), nlmsg_hdr(m)->nlmsg_len));
	CHECK(e.kind == WNL_EV_OTHER);
	nlmsg_free(m);
	ifa.ifa_flags = 0;
	ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	m = nlmsg_alloc_simple(RTM_NEWADDR, 0);
	CHECK(m && !nlmsg_append(m, &ifa, sizeof(ifa), NLMSG_ALIGNTO));
	CHECK_OK(wnl_parse_route(&e, nlmsg_hdr(m), nlmsg_hdr(m)->nlmsg_len));
	CHECK(e.kind == WNL_EV_OTHER);
	nlmsg_free(m);
	/* Too short for its header; a 2-byte IFA_FLAGS. */
	ifa.ifa_scope = RT_SCOPE_LINK;
	m = nlmsg_alloc_simple(RTM_NEWADDR, 0);
	CHECK(m && !nlmsg_append(m, &ifa, 4, NLMSG_ALIGNTO));
	CHECK_RET(wnl_parse_route(&e, nlmsg_hdr(m), nlmsg_hdr(m)->nlmsg_len), MU_E_FORMAT);
	nlmsg_free(m);
	m = nlmsg_alloc_simple(RTM_NEWADDR, 0);
	CHECK(m && !nlmsg_append(m, &ifa, sizeof(ifa), NLMSG_ALIGNTO) && !nla_put_u16(m, IFA_FLAGS, 0));
	CHECK_RET(wnl_parse_route(&e, nlmsg_hdr(m), nlmsg_hdr(m)->nlmsg_len), MU_E_FORMAT);
	check_zeroed(&e);
	nlmsg_free(m);
}

/* An NLMSG_ERROR as the kernel sends it with NETLINK_EXT_ACK. */
static struct nlmsghdr *raw_ack(int error, uint16_t flags, const char *text)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf.b;
	struct nlmsgerr *e = (struct nlmsgerr *)(buf.b + NLMSG_HDRLEN);
	size_t off = NLMSG_HDRLEN + sizeof(*e);

	memset(buf.b, 0, sizeof(buf.b));
	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_flags = flags;
	e->error = error;
	e->msg.nlmsg_len = NLMSG_HDRLEN + 8; /* the request had 8 bytes of payload */
	if (!(flags & 0x100))
		off += 8; /* not capped: the request's payload is echoed too */
	if (text) {
		struct nlattr *a = (struct nlattr *)(buf.b + off);

		a->nla_type = NLMSGERR_ATTR_MSG;
		a->nla_len = (uint16_t)(NLA_HDRLEN + strlen(text) + 1);
		memcpy(buf.b + off + NLA_HDRLEN, text, strlen(text) + 1);
		off += NLA_ALIGN(a->nla_len);
	}
	nlh->nlmsg_len = (uint32_t)off;
	return nlh;
}

static void test_parse_ack(void)
{
	char text[64];
	int err = 1;
	struct nlmsghdr *nlh = raw_ack(0, 0x100, NULL);

	CHECK_OK(wnl_parse_ack(&err, text, sizeof(text), nlh, nlh->nlmsg_len));
	CHECK(err == 0 && !*text);
	nlh = raw_ack(-EINVAL, 0x100 | 0x200, "Channel is disabled");
	CHECK_OK(wnl_parse_ack(&err, text, sizeof(text), nlh, nlh->nlmsg_len));
	CHECK(err == -EINVAL && !strcmp(text, "Channel is disabled"));
	nlh = raw_ack(-EBUSY, 0x200, "busy");
	CHECK_OK(wnl_parse_ack(&err, text, sizeof(text), nlh, nlh->nlmsg_len));
	CHECK(err == -EBUSY && !strcmp(text, "busy"));
	/* Truncated to the caller's buffer. */
	nlh = raw_ack(-EINVAL, 0x300, "Channel is disabled");
	CHECK_OK(wnl_parse_ack(&err, text, 8, nlh, nlh->nlmsg_len));
	CHECK(!strcmp(text, "Channel"));
	/* A TLV longer than the message; a positive error; a short message;
	 * another type. */
	nlh = raw_ack(-EINVAL, 0x300, "x");
	((struct nlattr *)(buf.b + NLMSG_HDRLEN + sizeof(struct nlmsgerr)))->nla_len = 200;
	CHECK_RET(wnl_parse_ack(&err, text, sizeof(text), nlh, nlh->nlmsg_len), MU_E_FORMAT);
	nlh = raw_ack(5, 0x100, NULL);
	CHECK_RET(wnl_parse_ack(&err, text, sizeof(text), nlh, nlh->nlmsg_len), MU_E_FORMAT);
	nlh = raw_ack(0, 0x100, NULL);
	nlh->nlmsg_len = NLMSG_HDRLEN + 2;
	CHECK_RET(wnl_parse_ack(&err, text, sizeof(text), nlh, nlh->nlmsg_len), MU_E_FORMAT);
	nlh = raw_ack(0, 0x100, NULL);
	nlh->nlmsg_type = NLMSG_DONE;
	CHECK_RET(wnl_parse_ack(&err, text, sizeof(text), nlh, nlh->nlmsg_len), MU_E_FORMAT);
	/* Not capped, and the echoed request claims more than is there. */
	nlh = raw_ack(-EINVAL, 0x200, NULL);
	((struct nlmsgerr *)(buf.b + NLMSG_HDRLEN))->msg.nlmsg_len = 4000;
	CHECK_RET(wnl_parse_ack(&err, text, sizeof(text), nlh, nlh->nlmsg_len), MU_E_FORMAT);
}

static void test_parse_rfkill(void)
{
	struct rfkill_event ev = {
	    .idx = 3, .type = RFKILL_TYPE_WLAN, .op = RFKILL_OP_CHANGE, .soft = 1, .hard = 0};
	uint8_t b[16] = {0};
	struct wnl_rfkill r;

	memcpy(b, &ev, sizeof(ev));
	CHECK_OK(wnl_parse_rfkill(&r, b, 8));
	CHECK(r.idx == 3 && r.type == RFKILL_TYPE_WLAN && r.op == RFKILL_OP_CHANGE && r.soft && !r.hard);
	CHECK_OK(wnl_parse_rfkill(&r, b, 9)); /* a newer kernel's longer event */
	CHECK_RET(wnl_parse_rfkill(&r, b, 7), MU_E_FORMAT);
	CHECK(!r.idx && !r.soft);
	b[6] = 2; /* soft must be 0 or 1 */
	CHECK_RET(wnl_parse_rfkill(&r, b, 8), MU_E_FORMAT);
	CHECK_RET(wnl_parse_rfkill(&r, NULL, 8), MU_E_FORMAT);
}

static const struct test tests[] = {
    {"/wifi_nl/build/join-ibss", test_build_join_ibss},
    {"/wifi_nl/build/join-mesh", test_build_join_mesh},
    {"/wifi_nl/build/join-invalid", test_build_join_invalid},
    {"/wifi_nl/build/others", test_build_others},
    {"/wifi_nl/parse/station", test_parse_station},
    {"/wifi_nl/parse/wiphy", test_parse_wiphy},
    {"/wifi_nl/parse/iface", test_parse_iface},
    {"/wifi_nl/parse/ctrl", test_parse_ctrl},
    {"/wifi_nl/parse/link", test_parse_link},
    {"/wifi_nl/parse/addr", test_parse_addr},
    {"/wifi_nl/parse/malformed", test_parse_malformed},
    {"/wifi_nl/parse/ack", test_parse_ack},
    {"/wifi_nl/parse/rfkill", test_parse_rfkill},
};

TEST_MAIN(tests)
