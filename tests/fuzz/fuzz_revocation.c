/* Revocation payload decoder: decode, re-encode, compare. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[MU_KEY_BYTES], reason, out[REVOCATION_BYTES];

	if (revocation_decode(data, size, key, &reason))
		return 0;
	if (revocation_encode(out, key, reason) != REVOCATION_BYTES || size != REVOCATION_BYTES ||
	    memcmp(out, data, size))
		abort();
	return 0;
}
