/* Bundle decoder: any input either fails to decode or decodes to fields
 * that re-encode to exactly the same bytes (so ids and signatures are over
 * one canonical encoding), with the payload inside the input. Decoded
 * bundles are also run through admission, which must never crash whatever
 * the kind and payload. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "err.h"
#include "verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int no_cred(void *ctx, const uint8_t key[static MU_KEY_BYTES], struct cred *out)
{
	(void)ctx;
	(void)key;
	(void)out;
	return MU_E_NOCRED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[BUNDLE_ENC_MAX];
	static struct trust trust;
	struct verify_ctx v = { .trust = &trust, .now = 1780315200000ull, .skew_ms = VERIFY_SKEW_MS_DEFAULT,
				.lookup = no_cred };
	struct bundle b;
	struct cred c;
	int n;

	if (mu_crypto_init())
		abort();
	if (bundle_decode(&b, data, size))
		return 0;
	n = bundle_encode(out, sizeof(out), &b);
	if (n < 0 || (size_t)n != size || memcmp(out, data, size))
		abort();
	if (b.payload_len && (b.payload < data || b.payload_len > size - (size_t)(b.payload - data)))
		abort();
	/* No key is trusted, so nothing may be admitted. */
	if (bundle_admit(&v, &b, data, size, 0, &c) == 0)
		abort();
	return 0;
}
