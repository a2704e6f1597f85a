/* Fuzzes every parser of kernel input in the Wi-Fi driver
 * (transport/wifi_nl.c, included): nl80211 and generic-netlink-controller
 * events, rtnetlink link messages, NLMSG_ERROR with extended ack, and
 * /dev/rfkill events. The first input byte picks the parser (and, for
 * generic netlink, whether nl80211 is known); the rest, copied to an
 * aligned buffer as recvmsg would leave it, is the message. Each parser
 * must stay inside the bytes, and either succeed with a consistent event
 * or fail with its output zeroed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../transport/wifi_nl.c"

#define FAM 28

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_event(int ret, const struct wnl_event *e)
{
	if (ret) {
		if (ret != MU_E_FORMAT && ret != MU_E_TOOBIG)
			abort();
		if (e->kind != WNL_EV_OTHER || e->wiphy != WNL_NONE || e->ifindex || e->has_mac ||
		    e->name[0] || e->iftypes || e->cmd || e->flags)
			abort();
		return;
	}
	if (memchr(e->name, 0, sizeof(e->name)) == NULL)
		abort();
	switch (e->kind) {
	case WNL_EV_STATION:
	case WNL_EV_STATION_DEL:
	case WNL_EV_IBSS_JOINED:
		if (!e->has_mac || !e->ifindex)
			abort();
		break;
	case WNL_EV_WIPHY:
	case WNL_EV_WIPHY_DEL:
		if (e->wiphy == WNL_NONE)
			abort();
		break;
	case WNL_EV_IFACE:
	case WNL_EV_IFACE_DEL:
	case WNL_EV_LINK:
	case WNL_EV_LINK_DEL:
	case WNL_EV_ADDR_READY:
		if (!e->ifindex)
			abort();
		break;
	case WNL_EV_FAMILY:
	case WNL_EV_FAMILY_DEL:
		if (!e->name[0])
			abort();
		break;
	case WNL_EV_OTHER:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;
	struct wnl_event e;
	struct wnl_rfkill r;
	char text[32];
	int err, ret;

	if (size < 1)
		return 0;
	/* Exact-size heap copy: ASan sees any read past the message. */
	buf = malloc(size - 1 ? size - 1 : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	switch (data[0] & 7) {
	case 0:
	case 1:
		ret = wnl_parse_genl(&e, (data[0] & 7) ? -1 : FAM, (const struct nlmsghdr *)buf, size - 1);
		check_event(ret, &e);
		break;
	case 2:
		ret = wnl_parse_route(&e, (const struct nlmsghdr *)buf, size - 1);
		check_event(ret, &e);
		break;
	case 3:
	case 4:
		ret = wnl_parse_ack(&err, text, (data[0] & 7) == 3 ? sizeof(text) : 1,
				    (const struct nlmsghdr *)buf, size - 1);
		if (memchr(text, 0, (data[0] & 7) == 3 ? sizeof(text) : 1) == NULL)
			abort();
		if (!ret && (err > 0 || err < -4095))
			abort();
		break;
	default:
		ret = wnl_parse_rfkill(&r, buf, size - 1);
		if (ret && (r.idx || r.type || r.op || r.soft || r.hard))
			abort();
		break;
	}
	free(buf);
	return 0;
}
