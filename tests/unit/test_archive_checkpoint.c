/* Clean-shutdown checkpoint codec (node/archive_checkpoint.h): the bytes
 * docs/archive.md gives, round trips up to the cap, and every way the
 * decoder refuses a value (truncated, trailing bytes, version, count over
 * the cap, an entry with no chunk missing, too small a pend array). */
#include <stdint.h>
#include <string.h>

#include "../../node/archive_checkpoint.h"
#include "testutil.h"

#define OVER (ARCHIVE_CHECKPOINT_PEND_MAX + 1)

static struct archive_checkpoint_attach in[OVER], got[OVER];
static uint8_t buf[ARCHIVE_CHECKPOINT_BYTES(OVER) + 1];

static struct archive_checkpoint header(uint32_t npend)
{
	struct archive_checkpoint ck = {.store = {0x0102030405060708ull, 11, 12, 13, 999999999},
					.npend = npend};

	for (size_t i = 0; i < MU_KEY_BYTES; i++)
		ck.user[i] = (uint8_t)(0xA0 + i);
	return ck;
}

static void fill(void)
{
	for (size_t i = 0; i < OVER; i++) {
		for (size_t j = 0; j < ATTACH_ID_BYTES; j++)
			in[i].aid[j] = (uint8_t)(i * 3 + j);
		for (size_t j = 0; j < MU_KEY_BYTES; j++)
			in[i].sender[j] = (uint8_t)(i * 5 + j);
		for (size_t j = 0; j < BUNDLE_ID_BYTES; j++)
			in[i].manifest[j] = (uint8_t)(i * 7 + j);
		in[i].expires = 1700000000000ull + i;
		in[i].missing = (uint32_t)(i % 1024) + 1;
	}
}

static int encode(uint32_t npend)
{
	struct archive_checkpoint ck = header(npend);

	return archive_checkpoint_encode(buf, sizeof(buf), &ck, in);
}

static int decode(size_t len, struct archive_checkpoint *ck)
{
	return archive_checkpoint_decode(ck, got, OVER, buf, len);
}

/* Field by field: the struct has padding after npend. */
static int same(const struct archive_checkpoint *a, const struct archive_checkpoint *b)
{
	return !memcmp(a->user, b->user, MU_KEY_BYTES) && !memcmp(&a->store, &b->store, sizeof(a->store)) &&
	       a->npend == b->npend;
}

static int same_attach(const struct archive_checkpoint_attach *a, const struct archive_checkpoint_attach *b,
		       size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(a[i].aid, b[i].aid, ATTACH_ID_BYTES) ||
		    memcmp(a[i].sender, b[i].sender, MU_KEY_BYTES) ||
		    memcmp(a[i].manifest, b[i].manifest, BUNDLE_ID_BYTES) || a[i].expires != b[i].expires ||
		    a[i].missing != b[i].missing)
			return 0;
	return 1;
}

static void check_round_trip(uint32_t npend)
{
	struct archive_checkpoint want = header(npend), ck;
	static uint8_t again[sizeof(buf)];
	int len;

	fill();
	len = CHECK_LEN(encode(npend));
	CHECK((size_t)len == ARCHIVE_CHECKPOINT_BYTES(npend));
	CHECK_OK(decode((size_t)len, &ck));
	CHECK(same(&ck, &want));
	CHECK(same_attach(got, in, npend));
	CHECK(CHECK_LEN(archive_checkpoint_encode(again, sizeof(again), &ck, got)) == len);
	CHECK(!memcmp(again, buf, (size_t)len));
}

static void test_bytes(void)
{
	static const uint8_t fixed_tail[] = {
	    1, 2, 3, 4, 5,    6,    7,    8,    /* dev */
	    0, 0, 0, 0, 0,    0,    0,    11,   /* ino */
	    0, 0, 0, 0, 0,    0,    0,    12,   /* size */
	    0, 0, 0, 0, 0,    0,    0,    13,   /* mtime s */
	    0, 0, 0, 0, 0x3b, 0x9a, 0xc9, 0xff, /* ns */
	    0, 0, 0, 1,                         /* count */
	};
	const uint8_t *e = buf + ARCHIVE_CHECKPOINT_FIXED;

	fill();
	CHECK(ARCHIVE_CHECKPOINT_FIXED == 77 && ARCHIVE_CHECKPOINT_ENTRY == 92);
	CHECK(CHECK_LEN(encode(1)) == 77 + 92);
	CHECK(buf[0] == ARCHIVE_CHECKPOINT_VERSION && ARCHIVE_CHECKPOINT_VERSION == 1);
	CHECK(buf[1] == 0xA0 && buf[32] == 0xA0 + 31);
	CHECK(!memcmp(buf + 33, fixed_tail, sizeof(fixed_tail)));
	CHECK(!memcmp(e, in[0].aid, 16) && !memcmp(e + 16, in[0].sender, 32) &&
	      !memcmp(e + 48, in[0].manifest, 32));
	/* expires 1700000000000 = 0x18BCFE56800, missing 1 */
	CHECK(!memcmp(e + 80, "\x00\x00\x01\x8b\xcf\xe5\x68\x00", 8));
	CHECK(!memcmp(e + 88, "\x00\x00\x00\x01", 4));
}

static void test_round_trips(void)
{
	check_round_trip(0);
	check_round_trip(1);
	check_round_trip(3);
}

static void test_cap_exactly(void)
{
	struct archive_checkpoint ck;

	check_round_trip(ARCHIVE_CHECKPOINT_PEND_MAX);
	CHECK(ARCHIVE_CHECKPOINT_BYTES(ARCHIVE_CHECKPOINT_PEND_MAX) == ARCHIVE_CHECKPOINT_MAX);
	CHECK(ARCHIVE_CHECKPOINT_MAX == 77 + 4096 * 92);
	/* A pend array of exactly the count is enough. */
	CHECK_OK(
	    archive_checkpoint_decode(&ck, got, ARCHIVE_CHECKPOINT_PEND_MAX, buf, ARCHIVE_CHECKPOINT_MAX));
	CHECK(ck.npend == ARCHIVE_CHECKPOINT_PEND_MAX);
}

static void test_over_cap(void)
{
	struct archive_checkpoint ck = header(OVER);
	size_t len;

	fill();
	CHECK_RET(archive_checkpoint_encode(buf, sizeof(buf), &ck, in), MU_E_TOOBIG);
	/* Hand-made: count 4097 with all 4097 entries present. */
	ck.npend = ARCHIVE_CHECKPOINT_PEND_MAX;
	len = (size_t)CHECK_LEN(archive_checkpoint_encode(buf, sizeof(buf), &ck, in));
	memcpy(buf + len, buf + len - ARCHIVE_CHECKPOINT_ENTRY, ARCHIVE_CHECKPOINT_ENTRY);
	len += ARCHIVE_CHECKPOINT_ENTRY;
	buf[73] = 0, buf[74] = 0, buf[75] = 0x10, buf[76] = 0x01;
	CHECK_RET(decode(len, &ck), MU_E_FORMAT);
	/* A huge count on a short value: refused before any entry is read. */
	encode(0);
	memset(buf + 73, 0xff, 4);
	CHECK_RET(decode(ARCHIVE_CHECKPOINT_FIXED, &ck), MU_E_FORMAT);
}

static void test_truncated(void)
{
	struct archive_checkpoint ck;
	size_t len;

	fill();
	len = (size_t)CHECK_LEN(encode(3));
	for (size_t n = 0; n < len; n++) {
		CHECK_RET(decode(n, &ck), MU_E_FORMAT);
		CHECK(ck.npend == 0 && ck.store.dev == 0 && ck.user[0] == 0); /* zeroed on error */
	}
	CHECK_OK(decode(len, &ck));
}

static void test_trailing(void)
{
	struct archive_checkpoint ck;
	size_t len;

	fill();
	len = (size_t)CHECK_LEN(encode(1));
	buf[len] = 0;
	CHECK_RET(decode(len + 1, &ck), MU_E_FORMAT);
	/* A whole extra entry the count does not announce. */
	len = (size_t)CHECK_LEN(encode(2));
	buf[76] = 1;
	CHECK_RET(decode(len, &ck), MU_E_FORMAT);
	/* The count announcing more than is there. */
	buf[76] = 3;
	CHECK_RET(decode(len, &ck), MU_E_FORMAT);
	buf[76] = 2;
	CHECK_OK(decode(len, &ck));
}

static void test_version(void)
{
	static const uint8_t bad[] = {0, 2, 255};
	struct archive_checkpoint ck;
	size_t len;

	fill();
	len = (size_t)CHECK_LEN(encode(1));
	for (size_t i = 0; i < sizeof(bad); i++) {
		buf[0] = bad[i];
		CHECK_RET(decode(len, &ck), MU_E_VERSION);
	}
	buf[0] = ARCHIVE_CHECKPOINT_VERSION;
	CHECK_OK(decode(len, &ck));
}

static void test_missing_zero(void)
{
	struct archive_checkpoint ck = header(2);
	size_t len;

	fill();
	in[1].missing = 0;
	CHECK_RET(archive_checkpoint_encode(buf, sizeof(buf), &ck, in), MU_E_FORMAT);
	fill();
	len = (size_t)CHECK_LEN(encode(2));
	memset(buf + len - 4, 0, 4); /* the last entry's missing */
	CHECK_RET(decode(len, &ck), MU_E_FORMAT);
}

static void test_short_buffers(void)
{
	struct archive_checkpoint ck = header(2);
	size_t len;

	fill();
	len = (size_t)CHECK_LEN(encode(2));
	CHECK_RET(archive_checkpoint_encode(buf, len - 1, &ck, in), MU_E_TOOBIG);
	CHECK(CHECK_LEN(archive_checkpoint_encode(buf, len, &ck, in)) == (int)len);
	/* The pend array one entry short: refused, not overrun. */
	memset(got, 0xEE, sizeof(got));
	CHECK_RET(archive_checkpoint_decode(&ck, got, 1, buf, len), MU_E_TOOBIG);
	CHECK(got[1].missing == 0xEEEEEEEE && ck.npend == 0);
	CHECK_OK(archive_checkpoint_decode(&ck, got, 2, buf, len));
	/* No entries: NULL pend is fine both ways. */
	ck = header(0);
	len = (size_t)CHECK_LEN(archive_checkpoint_encode(buf, sizeof(buf), &ck, NULL));
	CHECK_OK(archive_checkpoint_decode(&ck, NULL, 0, buf, len));
}

static const struct test tests[] = {
    {"/archive_checkpoint/bytes", test_bytes},
    {"/archive_checkpoint/round-trip", test_round_trips},
    {"/archive_checkpoint/cap-exactly", test_cap_exactly},
    {"/archive_checkpoint/over-cap", test_over_cap},
    {"/archive_checkpoint/truncated", test_truncated},
    {"/archive_checkpoint/trailing", test_trailing},
    {"/archive_checkpoint/version", test_version},
    {"/archive_checkpoint/missing-zero", test_missing_zero},
    {"/archive_checkpoint/short-buffers", test_short_buffers},
};

TEST_MAIN(tests)
