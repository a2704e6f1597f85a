/* Peer frames: decode, and for every frame that decodes, re-encode it and
 * demand the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "frames.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[FRAME_MAX];
	struct wr wr = wr_make(out, sizeof(out));
	struct frame f;

	if (frame_decode(&f, data, size))
		return 0;
	switch ((enum frame_type)f.type) {
	case FRAME_HELLO: frame_hello(&wr, f.u.hello.role, f.u.hello.held); break;
	case FRAME_SYNC: frame_sync(&wr, f.u.sync.more, f.u.sync.p, f.u.sync.len); break;
	case FRAME_WANT:
	case FRAME_GONE: frame_ids(&wr, f.type, f.u.ids.ids, f.u.ids.count); break;
	case FRAME_BUNDLE: frame_bundle(&wr, f.u.bundle.hops, f.u.bundle.enc, f.u.bundle.len); break;
	case FRAME_OFFER: frame_offer(&wr, f.u.up.seq, f.u.up.keys, f.u.up.count); break;
	case FRAME_TAKE: frame_take(&wr, f.u.up.seq, f.u.up.bits, f.u.up.count); break;
	case FRAME_REFUSED: frame_refused(&wr, f.u.refused.entries, f.u.refused.count); break;
	}
	if (wr_finish(&wr) != (int)size || memcmp(out, data, size))
		abort();
	return 0;
}
