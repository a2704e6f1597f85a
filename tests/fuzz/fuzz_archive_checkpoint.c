/* Clean-shutdown checkpoint codec (node/archive_checkpoint.c): any input
 * either fails or decodes to at most ARCHIVE_CHECKPOINT_PEND_MAX entries,
 * each with a chunk missing, filling exactly the input's length, and
 * re-encodes to the same bytes; a pend array one entry short is refused
 * with MU_E_TOOBIG, never overrun. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "archive_checkpoint.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct archive_checkpoint_attach pend[ARCHIVE_CHECKPOINT_PEND_MAX];
static uint8_t out[ARCHIVE_CHECKPOINT_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct archive_checkpoint ck, again;
	int ret = archive_checkpoint_decode(&ck, pend, ARCHIVE_CHECKPOINT_PEND_MAX, data, size);

	if (ret) {
		static const uint8_t zero[MU_KEY_BYTES];
		static const struct archive_store_print none;

		if (ret != MU_E_FORMAT && ret != MU_E_VERSION)
			abort();
		/* The header promises a zeroed result on error. */
		if (memcmp(ck.user, zero, MU_KEY_BYTES) || memcmp(&ck.store, &none, sizeof(none)) || ck.npend)
			abort();
		return 0;
	}
	if (ck.npend > ARCHIVE_CHECKPOINT_PEND_MAX || size != ARCHIVE_CHECKPOINT_BYTES(ck.npend))
		abort();
	for (uint32_t i = 0; i < ck.npend; i++)
		if (!pend[i].missing)
			abort();
	ret = archive_checkpoint_encode(out, sizeof(out), &ck, pend);
	if (ret < 0 || (size_t)ret != size || memcmp(out, data, size))
		abort();
	/* One byte short of room must fail whole, not write past the end. */
	if (archive_checkpoint_encode(out, size - 1, &ck, pend) != MU_E_TOOBIG)
		abort();
	/* Decoding into exactly one entry too few, on the heap so that ASan
	 * sees any write past it. */
	if (ck.npend) {
		/* + 1: never malloc(0) */
		struct archive_checkpoint_attach *few = malloc((ck.npend - 1) * sizeof(*few) + 1);

		if (!few)
			abort();
		ret = archive_checkpoint_decode(&again, few, ck.npend - 1, data, size);
		free(few);
		if (ret != MU_E_TOOBIG)
			abort();
	}
	return 0;
}
