#include "wire.h"

#include <string.h>

#include "err.h"

int rd_slice(struct rd *rd, size_t n, const uint8_t **p)
{
	if (rd->len < n)
		return MU_E_FORMAT;
	*p = rd->p;
	rd->p += n;
	rd->len -= n;
	return 0;
}

int rd_bytes(struct rd *rd, void *dst, size_t n)
{
	const uint8_t *p;
	int ret = rd_slice(rd, n, &p);

	if (ret == 0 && n)
		memcpy(dst, p, n);
	return ret;
}

static int rd_be(struct rd *rd, size_t n, uint64_t *v)
{
	const uint8_t *p;
	uint64_t x = 0;
	int ret = rd_slice(rd, n, &p);

	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++)
		x = (x << 8) | p[i];
	*v = x;
	return 0;
}

int rd_u8(struct rd *rd, uint8_t *v)
{
	uint64_t x;
	int ret = rd_be(rd, 1, &x);

	if (!ret)
		*v = (uint8_t)x;
	return ret;
}

int rd_u16(struct rd *rd, uint16_t *v)
{
	uint64_t x;
	int ret = rd_be(rd, 2, &x);

	if (!ret)
		*v = (uint16_t)x;
	return ret;
}

int rd_u32(struct rd *rd, uint32_t *v)
{
	uint64_t x;
	int ret = rd_be(rd, 4, &x);

	if (!ret)
		*v = (uint32_t)x;
	return ret;
}

int rd_u64(struct rd *rd, uint64_t *v)
{
	return rd_be(rd, 8, v);
}

/* Length-prefixed reads restore the reader on failure so that the caller's
 * reader never points into the middle of a field. */
static int rd_lv(struct rd *rd, size_t width, size_t max, const uint8_t **p, size_t *n)
{
	struct rd save = *rd;
	uint64_t len;
	int ret = rd_be(rd, width, &len);

	if (!ret && len > max)
		ret = MU_E_TOOBIG;
	if (!ret)
		ret = rd_slice(rd, (size_t)len, p);
	if (ret) {
		*rd = save;
		return ret;
	}
	*n = (size_t)len;
	return 0;
}

int rd_lv8(struct rd *rd, size_t max, const uint8_t **p, size_t *n)
{
	return rd_lv(rd, 1, max, p, n);
}

int rd_lv32(struct rd *rd, size_t max, const uint8_t **p, size_t *n)
{
	return rd_lv(rd, 4, max, p, n);
}

int rd_end(const struct rd *rd)
{
	return rd->len ? MU_E_FORMAT : 0;
}

void wr_bytes(struct wr *wr, const void *src, size_t n)
{
	if (wr->err)
		return;
	if (wr->cap - wr->len < n) {
		wr->err = MU_E_TOOBIG;
		return;
	}
	if (n)
		memcpy(wr->p + wr->len, src, n);
	wr->len += n;
}

static void wr_be(struct wr *wr, uint64_t v, size_t n)
{
	uint8_t b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	wr_bytes(wr, b, n);
}

void wr_u8(struct wr *wr, uint8_t v) { wr_be(wr, v, 1); }
void wr_u16(struct wr *wr, uint16_t v) { wr_be(wr, v, 2); }
void wr_u32(struct wr *wr, uint32_t v) { wr_be(wr, v, 4); }
void wr_u64(struct wr *wr, uint64_t v) { wr_be(wr, v, 8); }

void wr_lv8(struct wr *wr, const void *src, size_t n, size_t max)
{
	if (n > max || n > 255) {
		if (!wr->err)
			wr->err = MU_E_TOOBIG;
		return;
	}
	wr_u8(wr, (uint8_t)n);
	wr_bytes(wr, src, n);
}

void wr_lv32(struct wr *wr, const void *src, size_t n, size_t max)
{
	if (n > max || n > UINT32_MAX) {
		if (!wr->err)
			wr->err = MU_E_TOOBIG;
		return;
	}
	wr_u32(wr, (uint32_t)n);
	wr_bytes(wr, src, n);
}

int wr_finish(const struct wr *wr)
{
	return wr->err ? wr->err : (int)wr->len;
}

void put_be64(uint8_t out[static 8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t get_be64(const uint8_t in[static 8])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | in[i];
	return v;
}
