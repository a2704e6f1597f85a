#include "receipt.h"

#include <string.h>

#include "err.h"
#include "wire.h"

#define RECEIPT_MAGIC0 'M'
#define RECEIPT_MAGIC1 'R'

const char *receipt_type_name(uint8_t type)
{
	switch ((enum receipt_type)type) {
	case RECEIPT_DELIVERED: return "delivered";
	case RECEIPT_READ: return "read";
	case RECEIPT_ACK: return "ack";
	case RECEIPT_CUSTODY: return "custody";
	}
	return NULL;
}

int receipt_encode(uint8_t *out, size_t cap, uint8_t type, const uint8_t (*ids)[BUNDLE_ID_BYTES], size_t n)
{
	struct wr w = wr_make(out, cap);

	if (!receipt_type_name(type) || n == 0 || n > RECEIPT_IDS_MAX || !ids)
		return MU_E_FORMAT;
	wr_u8(&w, RECEIPT_MAGIC0);
	wr_u8(&w, RECEIPT_MAGIC1);
	wr_u8(&w, RECEIPT_VERSION);
	wr_u8(&w, type);
	wr_u16(&w, (uint16_t)n);
	wr_bytes(&w, ids, n * BUNDLE_ID_BYTES);
	return wr_finish(&w);
}

int receipt_decode(const uint8_t *in, size_t len, uint8_t *type, const uint8_t (**ids)[BUNDLE_ID_BYTES],
		   size_t *n)
{
	struct rd rd = rd_make(in, len);
	uint8_t m0, m1, version, t;
	uint16_t count;
	const uint8_t *p;
	int ret;

	*type = 0;
	*ids = NULL;
	*n = 0;
	if ((ret = rd_u8(&rd, &m0)) || (ret = rd_u8(&rd, &m1)) || (ret = rd_u8(&rd, &version)))
		return ret;
	if (m0 != RECEIPT_MAGIC0 || m1 != RECEIPT_MAGIC1)
		return MU_E_FORMAT;
	if (version != RECEIPT_VERSION)
		return MU_E_VERSION;
	if ((ret = rd_u8(&rd, &t)) || (ret = rd_u16(&rd, &count)))
		return ret;
	if (!receipt_type_name(t) || count == 0 || count > RECEIPT_IDS_MAX)
		return MU_E_FORMAT;
	if ((ret = rd_slice(&rd, (size_t)count * BUNDLE_ID_BYTES, &p)) || (ret = rd_end(&rd)))
		return ret;
	*type = t;
	*ids = (const uint8_t (*)[BUNDLE_ID_BYTES])p;
	*n = count;
	return 0;
}
