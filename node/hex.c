#include "hex.h"

#include <sodium.h>
#include <string.h>

#include "err.h"

void hex_encode(char *out, const uint8_t *in, size_t n)
{
	sodium_bin2hex(out, 2 * n + 1, in, n);
}

int hex_decode(uint8_t *out, size_t n, const char *in)
{
	size_t got = 0;
	const char *end = NULL;

	if (strlen(in) != 2 * n)
		return MU_E_FORMAT;
	if (sodium_hex2bin(out, n, in, 2 * n, NULL, &got, &end) || got != n)
		return MU_E_FORMAT;
	return 0;
}
