/* Fuzzes what the Bluetooth driver reads from outside (transport/
 * bluetooth.c, included): the property dictionaries bluetoothd sends for a
 * device or the adapter (Device1 / Adapter1 a{sv}: Address, AddressType,
 * UUIDs, ManufacturerData with the node tag, RSSI, Powered, anything else,
 * each with any value type), the node tag itself, Bluetooth address text
 * and PSM text. The first byte picks the target; for dictionaries the rest
 * is a small program that builds a D-Bus message of the given shape (keys
 * from a list, values of any type, also the wrong one), which the parser
 * must walk without reading out of bounds and either accept or reject. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../transport/bluetooth.c"
#include "../../transport/bt_proto.c"
#include "../../transport/sendq.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct prog {
	const uint8_t *p;
	size_t n;
};

static uint8_t take(struct prog *g)
{
	if (!g->n)
		return 0;
	g->n--;
	return *g->p++;
}

/* A string of up to 40 bytes from the input, made valid UTF-8 (ASCII) as
 * sd-bus insists; with a bias towards Muster's UUID and an address. */
static const char *take_str(struct prog *g, char buf[static 64])
{
	uint8_t k = take(g);
	size_t n = k % 41;

	if (k == 0xfe)
		return BT_SERVICE_UUID;
	if (k == 0xfd)
		return "00:AA:01:02:03:04";
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(0x20 + take(g) % 0x5f);
	buf[n] = 0;
	return buf;
}

static int append_value(sd_bus_message *m, struct prog *g, int depth)
{
	char s[64];
	uint8_t bytes[48];
	int r;

	switch (take(g) % 9) {
	case 0:
		return sd_bus_message_append(m, "v", "s", take_str(g, s));
	case 1: {
		unsigned n = take(g) % 5;

		r = sd_bus_message_open_container(m, 'v', "as");
		if (r >= 0)
			r = sd_bus_message_open_container(m, 'a', "s");
		for (unsigned i = 0; i < n && r >= 0; i++)
			r = sd_bus_message_append(m, "s", take_str(g, s));
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		return r;
	}
	case 2: {
		unsigned n = take(g) % 4;

		r = sd_bus_message_open_container(m, 'v', "a{qv}");
		if (r >= 0)
			r = sd_bus_message_open_container(m, 'a', "{qv}");
		for (unsigned i = 0; i < n && r >= 0; i++) {
			uint16_t id = take(g) & 1 ? (uint16_t)BT_MFG_ID : (uint16_t)(take(g) << 8 | take(g));
			size_t len = take(g) % sizeof(bytes);

			for (size_t j = 0; j < len; j++)
				bytes[j] = take(g);
			r = sd_bus_message_open_container(m, 'e', "qv");
			if (r >= 0)
				r = sd_bus_message_append(m, "q", id);
			if (r >= 0 && depth < 2 && take(g) % 4 == 0) {
				r = append_value(m, g, depth + 1); /* any type in the variant */
			} else if (r >= 0) {
				r = sd_bus_message_open_container(m, 'v', "ay");
				if (r >= 0)
					r = sd_bus_message_append_array(m, 'y', bytes, len);
				if (r >= 0)
					r = sd_bus_message_close_container(m);
			}
			if (r >= 0)
				r = sd_bus_message_close_container(m);
		}
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		return r;
	}
	case 3:
		return sd_bus_message_append(m, "v", "b", take(g) & 1);
	case 4:
		return sd_bus_message_append(m, "v", "n", (int16_t)(take(g) << 8 | take(g)));
	case 5: {
		size_t len = take(g) % sizeof(bytes);

		for (size_t j = 0; j < len; j++)
			bytes[j] = take(g);
		r = sd_bus_message_open_container(m, 'v', "ay");
		if (r >= 0)
			r = sd_bus_message_append_array(m, 'y', bytes, len);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		return r;
	}
	case 6:
		return sd_bus_message_append(m, "v", "u", (uint32_t)take(g) << 24 | take(g));
	case 7:
		return sd_bus_message_append(m, "v", "a{sv}", 1, "x", "s", take_str(g, s));
	default:
		return sd_bus_message_append(m, "v", "o", "/org/bluez/hci0");
	}
}

static const char *const keys[] = {
    "Address", "AddressType", "UUIDs", "ManufacturerData", "RSSI", "ServiceData",
    "TxPower", "Powered",     "Name",  "Connected",
};

/* a{sv} with up to 12 entries. */
static int append_dict(sd_bus_message *m, struct prog *g)
{
	unsigned n = take(g) % 13;
	int r = sd_bus_message_open_container(m, 'a', "{sv}");

	for (unsigned i = 0; i < n && r >= 0; i++) {
		r = sd_bus_message_open_container(m, 'e', "sv");
		if (r >= 0)
			r = sd_bus_message_append(m, "s", keys[take(g) % (sizeof(keys) / sizeof(keys[0]))]);
		if (r >= 0)
			r = append_value(m, g, 0);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
	}
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	return r;
}

static void fuzz_dict(struct prog *g, int which)
{
	static sd_bus *bus;
	sd_bus_message *m = NULL;
	struct bt_driver d;
	struct bt_peer p;
	bool heard = false;

	if (!bus) {
		/* Messages need a bus that is not "unset": one started over a
		 * socketpair nobody answers (nothing is ever sent). */
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) || sd_bus_new(&bus) < 0 ||
		    sd_bus_set_fd(bus, sv[0], sv[0]) < 0 || sd_bus_start(bus) < 0)
			abort();
	}
	if (sd_bus_message_new(bus, &m, SD_BUS_MESSAGE_SIGNAL) < 0)
		abort();
	if (append_dict(m, g) < 0 || sd_bus_message_seal(m, 1, 0) < 0 || sd_bus_message_rewind(m, 1) < 0) {
		sd_bus_message_unref(m);
		return;
	}
	memset(&d, 0, sizeof(d));
	memset(&p, 0, sizeof(p));
	if (which) {
		(void)adapter_props(&d, m);
		if (!d.has_addr)
			for (int i = 0; i < BT_ADDR_BYTES; i++)
				if (d.addr[i])
					abort();
	} else if (device_props(&p, m, &heard) >= 0) {
		static const uint8_t zero[BT_TAG_BYTES];

		if (p.has_tag && !memcmp(p.tag, zero, BT_TAG_BYTES))
			abort(); /* a zero tag would read as "key unknown" */
	}
	sd_bus_message_unref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct prog g = {data, size};
	uint8_t sel = take(&g), tag[BT_TAG_BYTES], a[BT_ADDR_BYTES];
	char s[64];
	uint16_t psm;

	switch (sel % 5) {
	case 0:
	case 1:
		fuzz_dict(&g, sel % 2);
		break;
	case 2:
		if (bt_tag_parse(tag, g.p, g.n) == 0 && g.n != BT_TAG_BYTES)
			abort();
		break;
	case 3: {
		size_t n = g.n < sizeof(s) - 1 ? g.n : sizeof(s) - 1;

		memcpy(s, g.p, n);
		s[n] = 0;
		if (bt_addr_parse(a, s) == 0) {
			char back[BT_ADDR_TEXT];

			bt_addr_format(back, a);
			if (strcasecmp(back, s))
				abort(); /* accepted text must round-trip */
		}
		break;
	}
	default: {
		size_t n = g.n < sizeof(s) - 1 ? g.n : sizeof(s) - 1;

		memcpy(s, g.p, n);
		s[n] = 0;
		(void)bt_psm_parse(s, &psm);
		break;
	}
	}
	return 0;
}
