#include "frames.h"

#include <stdbool.h>

#include "err.h"
#include "keyset.h"

#define FRAME_PROTOCOL_VERSION 1

void frame_hello(struct wr *wr, uint8_t role, uint64_t held)
{
	wr_u8(wr, FRAME_HELLO);
	wr_u8(wr, role);
	wr_u8(wr, FRAME_PROTOCOL_VERSION);
	wr_u64(wr, held);
}

void frame_sync(struct wr *wr, uint8_t more, const uint8_t *chunk, size_t len)
{
	if (len > FRAME_SYNC_CHUNK || more > 1) {
		wr->err = wr->err ? wr->err : MU_E_TOOBIG;
		return;
	}
	wr_u8(wr, FRAME_SYNC);
	wr_u8(wr, more);
	wr_bytes(wr, chunk, len);
}

void frame_ids(struct wr *wr, uint8_t type, const uint8_t *ids, uint16_t count)
{
	if (count == 0 || count > FRAME_IDS_MAX || (type != FRAME_WANT && type != FRAME_GONE)) {
		wr->err = wr->err ? wr->err : MU_E_FORMAT;
		return;
	}
	wr_u8(wr, type);
	wr_u16(wr, count);
	wr_bytes(wr, ids, (size_t)count * BUNDLE_ID_BYTES);
}

void frame_bundle(struct wr *wr, uint8_t hops, const uint8_t *enc, size_t len)
{
	if (len > BUNDLE_ENC_MAX) {
		wr->err = wr->err ? wr->err : MU_E_TOOBIG;
		return;
	}
	wr_u8(wr, FRAME_BUNDLE);
	wr_u8(wr, hops);
	wr_bytes(wr, enc, len);
}

void frame_offer(struct wr *wr, uint32_t seq, const uint8_t *keys, uint16_t count)
{
	if (count == 0 || count > FRAME_KEYS_MAX) {
		wr->err = wr->err ? wr->err : MU_E_FORMAT;
		return;
	}
	wr_u8(wr, FRAME_OFFER);
	wr_u32(wr, seq);
	wr_u16(wr, count);
	wr_bytes(wr, keys, (size_t)count * KEYSET_KEY_WIRE);
}

void frame_take(struct wr *wr, uint32_t seq, const uint8_t *bits, uint16_t count)
{
	if (count == 0 || count > FRAME_KEYS_MAX) {
		wr->err = wr->err ? wr->err : MU_E_FORMAT;
		return;
	}
	wr_u8(wr, FRAME_TAKE);
	wr_u32(wr, seq);
	wr_u16(wr, count);
	wr_bytes(wr, bits, FRAME_TAKE_BYTES(count));
}

static bool refusal_valid(uint8_t reason)
{
	return reason == REFUSAL_FULL || reason == REFUSAL_RATE || reason == REFUSAL_INVALID;
}

static int refused_check(const uint8_t *entries, uint16_t count)
{
	for (uint16_t i = 0; i < count; i++)
		if (!refusal_valid(entries[(size_t)i * FRAME_REFUSAL_BYTES + BUNDLE_ID_BYTES]))
			return MU_E_FORMAT;
	return 0;
}

void frame_refused(struct wr *wr, const uint8_t *entries, uint16_t count)
{
	if (count == 0 || count > FRAME_IDS_MAX || refused_check(entries, count)) {
		wr->err = wr->err ? wr->err : MU_E_FORMAT;
		return;
	}
	wr_u8(wr, FRAME_REFUSED);
	wr_u16(wr, count);
	wr_bytes(wr, entries, (size_t)count * FRAME_REFUSAL_BYTES);
}

/* TAKE's bitmap: bits past count must be zero, so one meaning has one
 * encoding. */
static int take_bits_check(const uint8_t *bits, uint16_t count)
{
	unsigned used = count % 8;

	if (used && (bits[FRAME_TAKE_BYTES(count) - 1] >> used))
		return MU_E_FORMAT;
	return 0;
}

int frame_decode(struct frame *f, const uint8_t *p, size_t len)
{
	struct rd rd = rd_make(p, len);
	int ret;

	*f = (struct frame){ 0 };
	if (len > FRAME_MAX)
		return MU_E_TOOBIG;
	ret = rd_u8(&rd, &f->type);
	if (ret)
		return ret;
	switch ((enum frame_type)f->type) {
	case FRAME_HELLO:
		ret = rd_u8(&rd, &f->u.hello.role) || rd_u8(&rd, &f->u.hello.version) ||
		      rd_u64(&rd, &f->u.hello.held) ? MU_E_FORMAT : 0;
		if (!ret && f->u.hello.role != NODE_FIELD && f->u.hello.role != NODE_HOSPITAL)
			ret = MU_E_FORMAT;
		if (!ret && f->u.hello.version != FRAME_PROTOCOL_VERSION)
			ret = MU_E_VERSION;
		break;
	case FRAME_SYNC:
		ret = rd_u8(&rd, &f->u.sync.more);
		if (ret)
			break;
		if (f->u.sync.more > 1)
			return MU_E_FORMAT;
		if (rd.len > FRAME_SYNC_CHUNK)
			return MU_E_TOOBIG;
		f->u.sync.len = rd.len;
		ret = rd_slice(&rd, rd.len, &f->u.sync.p);
		break;
	case FRAME_WANT:
	case FRAME_GONE:
		ret = rd_u16(&rd, &f->u.ids.count);
		if (!ret && (f->u.ids.count == 0 || f->u.ids.count > FRAME_IDS_MAX))
			ret = MU_E_FORMAT;
		if (!ret)
			ret = rd_slice(&rd, (size_t)f->u.ids.count * BUNDLE_ID_BYTES, &f->u.ids.ids);
		break;
	case FRAME_BUNDLE:
		ret = rd_u8(&rd, &f->u.bundle.hops);
		if (!ret && rd.len > BUNDLE_ENC_MAX)
			ret = MU_E_TOOBIG;
		if (!ret) {
			f->u.bundle.len = rd.len;
			ret = rd_slice(&rd, rd.len, &f->u.bundle.enc);
		}
		break;
	case FRAME_OFFER:
	case FRAME_TAKE:
		ret = rd_u32(&rd, &f->u.up.seq) || rd_u16(&rd, &f->u.up.count) ? MU_E_FORMAT : 0;
		if (!ret && (f->u.up.count == 0 || f->u.up.count > FRAME_KEYS_MAX))
			ret = MU_E_FORMAT;
		if (!ret && f->type == FRAME_OFFER)
			ret = rd_slice(&rd, (size_t)f->u.up.count * KEYSET_KEY_WIRE, &f->u.up.keys);
		if (!ret && f->type == FRAME_TAKE) {
			ret = rd_slice(&rd, FRAME_TAKE_BYTES(f->u.up.count), &f->u.up.bits);
			if (!ret)
				ret = take_bits_check(f->u.up.bits, f->u.up.count);
		}
		break;
	case FRAME_REFUSED:
		ret = rd_u16(&rd, &f->u.refused.count);
		if (!ret && (f->u.refused.count == 0 || f->u.refused.count > FRAME_IDS_MAX))
			ret = MU_E_FORMAT;
		if (!ret)
			ret = rd_slice(&rd, (size_t)f->u.refused.count * FRAME_REFUSAL_BYTES, &f->u.refused.entries);
		if (!ret)
			ret = refused_check(f->u.refused.entries, f->u.refused.count);
		break;
	default:
		return MU_E_FORMAT;
	}
	if (ret)
		return ret;
	return rd_end(&rd);
}
