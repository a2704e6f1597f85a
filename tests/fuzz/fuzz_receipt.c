/* Receipt payload decoder: decode, re-encode, compare (the encoding is
 * canonical, so anything accepted must re-encode to the same bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "receipt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[RECEIPT_ENC_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t(*ids)[BUNDLE_ID_BYTES];
	size_t n;
	uint8_t type;
	int len;

	if (receipt_decode(data, size, &type, &ids, &n))
		return 0;
	if (n == 0 || n > RECEIPT_IDS_MAX || !receipt_type_name(type))
		abort();
	len = receipt_encode(out, sizeof(out), type, ids, n);
	if (len < 0 || (size_t)len != size || memcmp(out, data, size))
		abort();
	return 0;
}
