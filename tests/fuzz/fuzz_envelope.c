/* Content envelopes: parsing and opening arbitrary bytes with a fixed
 * identity must fail cleanly or succeed, never read out of bounds. The slot
 * iterator must yield only whole slots inside the input, in order, the same
 * on every walk, and agree with envelope_has_recipient. */
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks data's slots, checking each against the input's bounds; the number
 * yielded, or the init error. *found: key is among the slots. */
static int walk(const uint8_t *data, size_t size, const uint8_t *key, const uint8_t **seen, int *found)
{
	struct envelope_slots it;
	struct envelope_slot s;
	int ret = envelope_slots_init(&it, data, size), n = 0;

	*found = 0;
	if (ret) {
		if (envelope_slot_next(&it, &s) != 0)
			abort();
		return ret;
	}
	if (it.count < 1 || it.count > ENVELOPE_RECIPIENTS_MAX || it.count != data[1])
		abort();
	while (envelope_slot_next(&it, &s) == 1) {
		if (n >= ENVELOPE_RECIPIENTS_MAX || s.key != data + 2 + (size_t)n * ENVELOPE_SLOT_BYTES ||
		    s.sealed != s.key + MU_KEY_BYTES || s.sealed + ENVELOPE_SEALED_BYTES > data + size)
			abort();
		if (seen[n] && seen[n] != s.key)
			abort();
		seen[n++] = s.key;
		*found |= !memcmp(s.key, key, MU_KEY_BYTES);
	}
	if ((unsigned)n != it.count || it.rest != data + 2 + (size_t)n * ENVELOPE_SLOT_BYTES ||
	    it.rest + it.rest_len != data + size || envelope_slot_next(&it, &s) != 0)
		abort();
	return n;
}

/* What envelope_has_recipient must say given walk's result n and found. */
static void check_has(const uint8_t *data, size_t size, const uint8_t *key, int n, int found)
{
	int has = envelope_has_recipient(data, size, key);

	/* Past a good header only a missing nonce and tag can still fail. */
	if (n < 0 ? has != n : has < 0 ? has != MU_E_FORMAT : has != found)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mu_identity *id;
	static const uint8_t seed[32] = { 7 };
	static uint8_t out[1 << 17];
	const uint8_t *seen[ENVELOPE_RECIPIENTS_MAX] = { 0 }, *key;
	int n, found;
	size_t len;

	if (!id && identity_from_seed(&id, seed))
		abort();
	if (size > sizeof(out))
		return 0;
	n = walk(data, size, identity_sign_pk(id), seen, &found);
	check_has(data, size, identity_sign_pk(id), n, found);
	/* Again, for a key the input does list: the same slots, and found. */
	key = n > 0 ? seen[data[size - 1] % n] : identity_sign_pk(id);
	if (walk(data, size, key, seen, &found) != n || (n > 0 && !found))
		abort();
	check_has(data, size, key, n, found);
	if (envelope_open(out, sizeof(out), &len, data, size, id, identity_sign_pk(id)) == 0 && len > size)
		abort();
	return 0;
}
