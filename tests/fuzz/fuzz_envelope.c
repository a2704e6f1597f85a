/* Content envelopes: parsing and opening arbitrary bytes with a fixed
 * identity must fail cleanly or succeed, never read out of bounds. */
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mu_identity *id;
	static const uint8_t seed[32] = { 7 };
	static uint8_t out[1 << 17];
	size_t len;

	if (!id && identity_from_seed(&id, seed))
		abort();
	if (size > sizeof(out))
		return 0;
	(void)envelope_has_recipient(data, size, identity_sign_pk(id));
	if (envelope_open(out, sizeof(out), &len, data, size, id, identity_sign_pk(id)) == 0 && len > size)
		abort();
	return 0;
}
