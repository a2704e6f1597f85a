#include "archive_checkpoint.h"

#include <string.h>

#include "err.h"
#include "wire.h"

_Static_assert(ARCHIVE_CHECKPOINT_FIXED == 77, "docs/archive.md checkpoint table");
_Static_assert(ARCHIVE_CHECKPOINT_ENTRY == 92, "docs/archive.md checkpoint table");

int archive_checkpoint_encode(uint8_t *out, size_t cap, const struct archive_checkpoint *ck,
			      const struct archive_checkpoint_attach *pend)
{
	struct wr w = wr_make(out, cap);

	if (ck->npend > ARCHIVE_CHECKPOINT_PEND_MAX)
		return MU_E_TOOBIG;
	/* Checked before writing: the decoder would refuse such a value. */
	for (uint32_t i = 0; i < ck->npend; i++)
		if (!pend[i].missing)
			return MU_E_FORMAT;
	wr_u8(&w, ARCHIVE_CHECKPOINT_VERSION);
	wr_bytes(&w, ck->user, MU_KEY_BYTES);
	wr_u64(&w, ck->store.dev);
	wr_u64(&w, ck->store.ino);
	wr_u64(&w, ck->store.size);
	wr_u64(&w, ck->store.sec);
	wr_u64(&w, ck->store.nsec);
	wr_u32(&w, ck->npend);
	for (uint32_t i = 0; i < ck->npend; i++) {
		wr_bytes(&w, pend[i].aid, ATTACH_ID_BYTES);
		wr_bytes(&w, pend[i].sender, MU_KEY_BYTES);
		wr_bytes(&w, pend[i].manifest, BUNDLE_ID_BYTES);
		wr_u64(&w, pend[i].expires);
		wr_u32(&w, pend[i].missing);
	}
	return wr_finish(&w);
}

int archive_checkpoint_decode(struct archive_checkpoint *ck, struct archive_checkpoint_attach *pend,
			      size_t pend_cap, const uint8_t *in, size_t len)
{
	struct rd rd = rd_make(in, len);
	uint8_t version = 0;
	int ret;

	memset(ck, 0, sizeof(*ck));
	if ((ret = rd_u8(&rd, &version)))
		goto out;
	if (version != ARCHIVE_CHECKPOINT_VERSION) {
		ret = MU_E_VERSION;
		goto out;
	}
	if (rd_bytes(&rd, ck->user, MU_KEY_BYTES) || rd_u64(&rd, &ck->store.dev) ||
	    rd_u64(&rd, &ck->store.ino) || rd_u64(&rd, &ck->store.size) || rd_u64(&rd, &ck->store.sec) ||
	    rd_u64(&rd, &ck->store.nsec) || rd_u32(&rd, &ck->npend)) {
		ret = MU_E_FORMAT;
		goto out;
	}
	/* The whole length is known from the count: check it before any entry,
	 * so a lying count costs nothing. */
	if (ck->npend > ARCHIVE_CHECKPOINT_PEND_MAX ||
	    rd.len != (size_t)ck->npend * ARCHIVE_CHECKPOINT_ENTRY) {
		ret = MU_E_FORMAT;
		goto out;
	}
	if (ck->npend > pend_cap) {
		ret = MU_E_TOOBIG;
		goto out;
	}
	for (uint32_t i = 0; i < ck->npend && !ret; i++) {
		struct archive_checkpoint_attach *p = &pend[i];

		ret = rd_bytes(&rd, p->aid, ATTACH_ID_BYTES) || rd_bytes(&rd, p->sender, MU_KEY_BYTES) ||
			      rd_bytes(&rd, p->manifest, BUNDLE_ID_BYTES) || rd_u64(&rd, &p->expires) ||
			      rd_u32(&rd, &p->missing) || !p->missing
			  ? MU_E_FORMAT
			  : 0;
	}
	if (!ret)
		ret = rd_end(&rd);
out:
	if (ret)
		memset(ck, 0, sizeof(*ck));
	return ret;
}
