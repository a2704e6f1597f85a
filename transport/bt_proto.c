/* Pure helpers of the Bluetooth driver (see bt_proto.h). */
#include "bt_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

void bt_tag_make(uint8_t tag[static BT_TAG_BYTES], const uint8_t key[static MU_KEY_BYTES])
{
	memcpy(tag, key, BT_TAG_BYTES);
}

int bt_tag_parse(uint8_t tag[static BT_TAG_BYTES], const uint8_t *p, size_t n)
{
	static const uint8_t zero[BT_TAG_BYTES];

	memset(tag, 0, BT_TAG_BYTES);
	if (!p || n != BT_TAG_BYTES || !memcmp(p, zero, BT_TAG_BYTES))
		return MU_E_FORMAT;
	memcpy(tag, p, BT_TAG_BYTES);
	return 0;
}

void bt_tag_key(uint8_t key[static MU_KEY_BYTES], const uint8_t tag[static BT_TAG_BYTES])
{
	memset(key, 0, MU_KEY_BYTES);
	memcpy(key, tag, BT_TAG_BYTES);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int bt_addr_parse(uint8_t out[static BT_ADDR_BYTES], const char *s)
{
	memset(out, 0, BT_ADDR_BYTES);
	if (!s || strlen(s) != BT_ADDR_TEXT - 1)
		return MU_E_FORMAT;
	for (int i = 0; i < BT_ADDR_BYTES; i++) {
		const char *p = s + 3 * i;
		int hi = hexval(p[0]), lo = hexval(p[1]);

		if (hi < 0 || lo < 0 || (i < BT_ADDR_BYTES - 1 && p[2] != ':')) {
			memset(out, 0, BT_ADDR_BYTES);
			return MU_E_FORMAT;
		}
		/* Text is most significant first; bdaddr_t the other way. */
		out[BT_ADDR_BYTES - 1 - i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void bt_addr_format(char out[static BT_ADDR_TEXT], const uint8_t addr[static BT_ADDR_BYTES])
{
	snprintf(out, BT_ADDR_TEXT, "%02X:%02X:%02X:%02X:%02X:%02X", addr[5], addr[4], addr[3], addr[2],
		 addr[1], addr[0]);
}

bool bt_psm_valid(uint16_t psm, bool le)
{
	if (le)
		return psm >= 0x0080 && psm <= 0x00ff;
	return psm >= 0x1001 && (psm & 1) && !(psm & 0x0100);
}

int bt_psm_parse(const char *s, uint16_t *out)
{
	unsigned long v = 0;
	int base = 10;

	if (!s || !*s)
		return MU_E_CONFIG;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return MU_E_CONFIG;
	}
	for (; *s; s++) {
		int d = hexval(*s);

		if (d < 0 || d >= base)
			return MU_E_CONFIG;
		v = v * (unsigned long)base + (unsigned long)d;
		if (v > 0xffff)
			return MU_E_CONFIG;
	}
	*out = (uint16_t)v;
	return 0;
}
