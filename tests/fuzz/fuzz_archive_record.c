/* Archive record decoder: any input either fails or yields lengths within
 * their caps, pointers inside the input, and the erased/live shape rules
 * of both record versions (2: bundle sealed under the item key, shredded
 * exactly when erased; 1: bundle in clear, never shredded). */
#include <stdint.h>
#include <stdlib.h>

#include "archive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
	return !n || (p >= data && p + n <= data + size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct archive_item it;
	const uint8_t *bundle, *sealed;
	size_t blen, slen;

	if (archive_record_decode(&it, &bundle, &blen, &sealed, &slen, data, size))
		return 0;
	int v2 = it.version == ARCHIVE_VERSION;

	if (!v2 && it.version != ARCHIVE_VERSION_LEGACY)
		abort();
	if (blen > (v2 ? ARCHIVE_BSEALED_MAX : BUNDLE_ENC_MAX) || slen > ARCHIVE_SEALED_MAX ||
	    it.dest_len > BUNDLE_DEST_MAX || it.seq == 0)
		abort();
	if (!inside(bundle, blen, data, size) || !inside(sealed, slen, data, size))
		abort();
	if ((it.flags & ARCHIVE_F_ERASED) ? (blen || slen) : (blen < (v2 ? 41u : 1u) || slen < 40))
		abort();
	if (!!(it.flags & ARCHIVE_F_SHREDDED) != (v2 && (it.flags & ARCHIVE_F_ERASED)))
		abort();
	if (size != ARCHIVE_REC_FIXED + it.dest_len + blen + slen)
		abort();
	return 0;
}
