/* Length-checked reader and bounded writer for every wire encoding.
 *
 * All wire input goes through struct rd: each call checks that the bytes are
 * there before it consumes them and returns MU_E_FORMAT otherwise, leaving the
 * reader unchanged. Multi-byte integers are big-endian. A decoder chains
 * reads with ||, jumps to one out: label, and finishes with rd_end(), which
 * rejects trailing bytes.
 *
 * struct wr writes into a caller-owned buffer of fixed capacity. An overflow
 * sets a sticky error (MU_E_TOOBIG) and later writes do nothing, so an
 * encoder can write all fields and check once with wr_finish(). */
#ifndef MU_WIRE_H
#define MU_WIRE_H

#include <stddef.h>
#include <stdint.h>

struct rd {
	const uint8_t *p;
	size_t len;
};

struct wr {
	uint8_t *p;
	size_t cap;
	size_t len;
	int err;
};

static inline struct rd rd_make(const void *p, size_t len)
{
	return (struct rd){ .p = p, .len = len };
}

int rd_u8(struct rd *rd, uint8_t *v);
int rd_u16(struct rd *rd, uint16_t *v);
int rd_u32(struct rd *rd, uint32_t *v);
int rd_u64(struct rd *rd, uint64_t *v);
/* Copies n bytes into dst. */
int rd_bytes(struct rd *rd, void *dst, size_t n);
/* Points *p at the next n bytes of the input (no copy; lives as long as the
 * input buffer). */
int rd_slice(struct rd *rd, size_t n, const uint8_t **p);
/* Reads a u8 length then that many bytes; MU_E_TOOBIG if length > max. */
int rd_lv8(struct rd *rd, size_t max, const uint8_t **p, size_t *n);
/* Reads a u32 length then that many bytes; MU_E_TOOBIG if length > max. */
int rd_lv32(struct rd *rd, size_t max, const uint8_t **p, size_t *n);
/* 0 if the input is used up, MU_E_FORMAT if bytes remain. */
int rd_end(const struct rd *rd);

static inline struct wr wr_make(void *p, size_t cap)
{
	return (struct wr){ .p = p, .cap = cap, .len = 0, .err = 0 };
}

void wr_u8(struct wr *wr, uint8_t v);
void wr_u16(struct wr *wr, uint16_t v);
void wr_u32(struct wr *wr, uint32_t v);
void wr_u64(struct wr *wr, uint64_t v);
void wr_bytes(struct wr *wr, const void *src, size_t n);
/* u8 length prefix; sets MU_E_TOOBIG if n > max or n > 255. */
void wr_lv8(struct wr *wr, const void *src, size_t n, size_t max);
/* u32 length prefix; sets MU_E_TOOBIG if n > max. */
void wr_lv32(struct wr *wr, const void *src, size_t n, size_t max);
/* Returns the sticky error, or the number of bytes written (>= 0). */
int wr_finish(const struct wr *wr);

/* Big-endian helpers for fixed-layout keys (LMDB index keys). */
void put_be64(uint8_t out[static 8], uint64_t v);
uint64_t get_be64(const uint8_t in[static 8]);

#endif
