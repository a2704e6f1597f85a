/* Receipt payloads (node/receipt.h): round trip, limits and every way the
 * strict decoder refuses input. */
#include <stdint.h>
#include <string.h>

#include "../../node/receipt.h"
#include "testutil.h"

static uint8_t ids[RECEIPT_IDS_MAX + 1][BUNDLE_ID_BYTES];
static uint8_t buf[RECEIPT_ENC_MAX + BUNDLE_ID_BYTES];

static void fill_ids(void)
{
	for (size_t i = 0; i < RECEIPT_IDS_MAX + 1; i++)
		for (size_t j = 0; j < BUNDLE_ID_BYTES; j++)
			ids[i][j] = (uint8_t)(i * 7 + j);
}

static void test_round_trip(void)
{
	const size_t counts[] = { 1, 2, 100, RECEIPT_IDS_MAX };
	const uint8_t(*got)[BUNDLE_ID_BYTES];
	size_t n;
	uint8_t type;

	fill_ids();
	for (uint8_t t = RECEIPT_DELIVERED; t <= RECEIPT_CUSTODY; t++) {
		for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
			int len = CHECK_LEN(receipt_encode(buf, sizeof(buf), t, (const uint8_t(*)[BUNDLE_ID_BYTES])ids,
							   counts[c]));

			CHECK((size_t)len == RECEIPT_HDR_BYTES + counts[c] * BUNDLE_ID_BYTES);
			CHECK(buf[0] == 'M' && buf[1] == 'R' && buf[2] == RECEIPT_VERSION && buf[3] == t);
			CHECK(buf[4] == (uint8_t)(counts[c] >> 8) && buf[5] == (uint8_t)counts[c]);
			CHECK_OK(receipt_decode(buf, (size_t)len, &type, &got, &n));
			CHECK(type == t && n == counts[c]);
			CHECK(!memcmp(got, ids, n * BUNDLE_ID_BYTES));
			CHECK((const uint8_t *)got == buf + RECEIPT_HDR_BYTES); /* points into the input */
		}
	}
	/* The largest payload fits the documented cap exactly. */
	CHECK(RECEIPT_ENC_MAX == RECEIPT_HDR_BYTES + RECEIPT_IDS_MAX * BUNDLE_ID_BYTES);
	CHECK(CHECK_LEN(receipt_encode(buf, RECEIPT_ENC_MAX, RECEIPT_CUSTODY, (const uint8_t(*)[BUNDLE_ID_BYTES])ids,
				       RECEIPT_IDS_MAX)) == RECEIPT_ENC_MAX);
}

static void test_names(void)
{
	CHECK(!strcmp(receipt_type_name(RECEIPT_DELIVERED), "delivered"));
	CHECK(!strcmp(receipt_type_name(RECEIPT_READ), "read"));
	CHECK(!strcmp(receipt_type_name(RECEIPT_ACK), "ack"));
	CHECK(!strcmp(receipt_type_name(RECEIPT_CUSTODY), "custody"));
	CHECK(receipt_type_name(0) == NULL);
	CHECK(receipt_type_name(5) == NULL);
	CHECK(receipt_type_name(255) == NULL);
}

static void test_encode_errors(void)
{
	const uint8_t(*p)[BUNDLE_ID_BYTES] = (const uint8_t(*)[BUNDLE_ID_BYTES])ids;

	fill_ids();
	CHECK_RET(receipt_encode(buf, sizeof(buf), RECEIPT_CUSTODY, p, 0), MU_E_FORMAT);
	CHECK_RET(receipt_encode(buf, sizeof(buf), RECEIPT_CUSTODY, p, RECEIPT_IDS_MAX + 1), MU_E_FORMAT);
	CHECK_RET(receipt_encode(buf, sizeof(buf), 0, p, 1), MU_E_FORMAT);
	CHECK_RET(receipt_encode(buf, sizeof(buf), 5, p, 1), MU_E_FORMAT);
	CHECK_RET(receipt_encode(buf, RECEIPT_HDR_BYTES + BUNDLE_ID_BYTES - 1, RECEIPT_CUSTODY, p, 1), MU_E_TOOBIG);
}

/* A valid one-id custody payload, then each field broken in turn. */
static size_t valid(uint16_t count)
{
	return (size_t)CHECK_LEN(
		receipt_encode(buf, sizeof(buf), RECEIPT_CUSTODY, (const uint8_t(*)[BUNDLE_ID_BYTES])ids, count));
}

static int decode(size_t len)
{
	const uint8_t(*got)[BUNDLE_ID_BYTES] = (const uint8_t(*)[BUNDLE_ID_BYTES])ids;
	size_t n = 99;
	uint8_t type = 99;
	int ret = receipt_decode(buf, len, &type, &got, &n);

	if (ret)
		CHECK(type == 0 && got == NULL && n == 0); /* outputs cleared on error */
	return ret;
}

static void test_decode_errors(void)
{
	size_t len;

	fill_ids();
	/* every truncation */
	len = valid(2);
	for (size_t cut = 0; cut < len; cut++)
		CHECK_RET(decode(cut), MU_E_FORMAT);
	CHECK_OK(decode(len));
	/* trailing bytes, also a partial extra id */
	buf[len] = 0;
	CHECK_RET(decode(len + 1), MU_E_FORMAT);
	CHECK_RET(decode(len + BUNDLE_ID_BYTES), MU_E_FORMAT);
	/* count 0, and a count naming more ids than are there */
	len = valid(1);
	buf[4] = 0;
	buf[5] = 0;
	CHECK_RET(decode(RECEIPT_HDR_BYTES), MU_E_FORMAT);
	CHECK_RET(decode(len), MU_E_FORMAT);
	buf[5] = 2;
	CHECK_RET(decode(len), MU_E_FORMAT);
	/* count over the cap, even with the bytes present */
	len = valid(RECEIPT_IDS_MAX);
	memcpy(buf + len, ids[0], BUNDLE_ID_BYTES);
	buf[4] = (uint8_t)((RECEIPT_IDS_MAX + 1) >> 8);
	buf[5] = (uint8_t)(RECEIPT_IDS_MAX + 1);
	CHECK_RET(decode(len + BUNDLE_ID_BYTES), MU_E_FORMAT);
	buf[4] = 0xff;
	buf[5] = 0xff;
	CHECK_RET(decode(len + BUNDLE_ID_BYTES), MU_E_FORMAT);
	/* type */
	len = valid(1);
	for (unsigned t = 0; t < 256; t++) {
		buf[3] = (uint8_t)t;
		CHECK_RET(decode(len), receipt_type_name((uint8_t)t) ? 0 : MU_E_FORMAT);
	}
	/* magic and version */
	len = valid(1);
	buf[0] = 'B';
	CHECK_RET(decode(len), MU_E_FORMAT);
	len = valid(1);
	buf[1] = 'B';
	CHECK_RET(decode(len), MU_E_FORMAT);
	len = valid(1);
	buf[2] = RECEIPT_VERSION + 1;
	CHECK_RET(decode(len), MU_E_VERSION);
	buf[2] = 0;
	CHECK_RET(decode(len), MU_E_VERSION);
}

static const struct test tests[] = {
	{ "/receipt/round-trip", test_round_trip },
	{ "/receipt/names", test_names },
	{ "/receipt/encode-errors", test_encode_errors },
	{ "/receipt/decode-errors", test_decode_errors },
};

TEST_MAIN(tests)
