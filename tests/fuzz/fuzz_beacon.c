/* Fuzzes the beacon decoder (beacon_decode): any input either decodes to
 * fields that are exactly the bytes at their documented offsets, or fails
 * with one of the documented errors and leaves the output zeroed. Then, so
 * that the success path runs on every input and not only on the seeds
 * (forging a signature is not something a fuzzer will do), the input's
 * bytes are used as port/time/nonce of a beacon signed by a fixed key, which
 * must decode back to the same fields. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../transport/beacon.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static int same(const struct beacon *a, const struct beacon *b)
{
	return !memcmp(a->key, b->key, MU_KEY_BYTES) && a->port == b->port && a->ts_ms == b->ts_ms &&
	       !memcmp(a->nonce, b->nonce, BEACON_NONCE_BYTES);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mu_identity *id;
	uint8_t enc[BEACON_BYTES];
	struct beacon b, b2;
	int ret;

	if (!id) {
		uint8_t seed[32];

		memset(seed, 0x5a, sizeof(seed));
		if (mu_crypto_init() || identity_from_seed(&id, seed))
			abort();
	}
	ret = beacon_decode(&b, data, size);
	if (ret == 0) {
		if (size != BEACON_BYTES || memcmp(data, "MUB\x01", 4) ||
		    memcmp(b.key, data + 4, MU_KEY_BYTES) || b.port != (uint16_t)(data[36] << 8 | data[37]) ||
		    !b.port || b.ts_ms != get_be64(data + 38) ||
		    memcmp(b.nonce, data + 46, BEACON_NONCE_BYTES))
			abort();
	} else if ((ret != MU_E_FORMAT && ret != MU_E_VERSION && ret != MU_E_SIG) ||
		   !all_zero(&b, sizeof(b))) {
		abort();
	}

	if (size < 2 + 8 + BEACON_NONCE_BYTES)
		return 0;
	memset(&b, 0, sizeof(b));
	memcpy(b.key, identity_sign_pk(id), MU_KEY_BYTES);
	b.port = (uint16_t)(data[0] << 8 | data[1]);
	b.ts_ms = get_be64(data + 2);
	memcpy(b.nonce, data + 10, BEACON_NONCE_BYTES);
	ret = beacon_encode(enc, &b, id);
	if (!b.port) {
		if (ret != MU_E_FORMAT || !all_zero(enc, sizeof(enc)))
			abort();
		return 0;
	}
	if (ret || beacon_decode(&b2, enc, sizeof(enc)) || !same(&b, &b2))
		abort();
	/* One flipped bit anywhere must be caught. */
	enc[data[size - 1] % BEACON_BYTES] ^= (uint8_t)(1u << (data[size - 2] % 8));
	if (!beacon_decode(&b2, enc, sizeof(enc)))
		abort();
	return 0;
}
