#include <sodium.h>
#include <string.h>

#include "frames.h"
#include "testutil.h"

static uint8_t buf[FRAME_MAX + 16];

static void test_roundtrip(void)
{
	uint8_t ids[3 * 32], enc[100];
	struct wr wr = wr_make(buf, sizeof(buf));
	struct frame f;
	int n;

	randombytes_buf(ids, sizeof(ids));
	frame_ids(&wr, FRAME_WANT, ids, 3);
	n = CHECK_LEN(wr_finish(&wr));
	CHECK(n == 1 + 2 + 96);
	CHECK_OK(frame_decode(&f, buf, (size_t)n));
	CHECK(f.type == FRAME_WANT && f.u.ids.count == 3 && !memcmp(f.u.ids.ids, ids, 96));

	wr = wr_make(buf, sizeof(buf));
	memset(enc, 0xab, sizeof(enc));
	frame_bundle(&wr, 7, enc, sizeof(enc));
	n = CHECK_LEN(wr_finish(&wr));
	CHECK_OK(frame_decode(&f, buf, (size_t)n));
	CHECK(f.type == FRAME_BUNDLE && f.u.bundle.hops == 7 && f.u.bundle.len == sizeof(enc));
	CHECK(f.u.bundle.enc == buf + 2);

	wr = wr_make(buf, sizeof(buf));
	frame_hello(&wr, NODE_HOSPITAL, 123456789);
	n = CHECK_LEN(wr_finish(&wr));
	CHECK_OK(frame_decode(&f, buf, (size_t)n));
	CHECK(f.type == FRAME_HELLO && f.u.hello.role == NODE_HOSPITAL && f.u.hello.held == 123456789);
}

static void test_reject(void)
{
	uint8_t ids[32] = { 0 };
	struct wr wr = wr_make(buf, sizeof(buf));
	struct frame f;
	int n;

	frame_ids(&wr, FRAME_GONE, ids, 1);
	n = CHECK_LEN(wr_finish(&wr));
	for (int i = 0; i < n; i++) /* every truncation */
		CHECK(frame_decode(&f, buf, (size_t)i) != 0);
	buf[n] = 0; /* trailing byte */
	CHECK_RET(frame_decode(&f, buf, (size_t)n + 1), MU_E_FORMAT);
	buf[1] = 0, buf[2] = 0; /* zero count */
	CHECK_RET(frame_decode(&f, buf, (size_t)n), MU_E_FORMAT);
	buf[0] = 99; /* unknown type */
	CHECK_RET(frame_decode(&f, buf, (size_t)n), MU_E_FORMAT);

	wr = wr_make(buf, sizeof(buf));
	frame_ids(&wr, FRAME_WANT, ids, FRAME_IDS_MAX + 1);
	CHECK_RET(wr_finish(&wr), MU_E_FORMAT);

	buf[0] = FRAME_SYNC; /* oversize sync chunk */
	buf[1] = 0;
	CHECK_RET(frame_decode(&f, buf, 2 + FRAME_SYNC_CHUNK + 1), MU_E_TOOBIG);
	buf[1] = 2; /* bad fragment flag */
	CHECK_RET(frame_decode(&f, buf, 10), MU_E_FORMAT);
	wr = wr_make(buf, sizeof(buf));
	frame_sync(&wr, 1, ids, 32);
	n = CHECK_LEN(wr_finish(&wr));
	CHECK_OK(frame_decode(&f, buf, (size_t)n));
	CHECK(f.type == FRAME_SYNC && f.u.sync.more == 1 && f.u.sync.len == 32);
	buf[0] = FRAME_BUNDLE;
	CHECK_RET(frame_decode(&f, buf, FRAME_MAX + 1), MU_E_TOOBIG);

	wr = wr_make(buf, sizeof(buf));
	frame_hello(&wr, 3, 0); /* unknown role */
	n = CHECK_LEN(wr_finish(&wr));
	CHECK_RET(frame_decode(&f, buf, (size_t)n), MU_E_FORMAT);
}

/* OFFER and TAKE (the uplink): round trip at the cap, every truncation,
 * counts 0 and over the cap, a TAKE with a bit past its count. */
static void test_uplink(void)
{
	static uint8_t keys[FRAME_KEYS_MAX * 40];
	uint8_t bits[FRAME_TAKE_BYTES(FRAME_KEYS_MAX)];
	struct wr wr = wr_make(buf, sizeof(buf));
	struct frame f;
	int n;

	randombytes_buf(keys, sizeof(keys));
	frame_offer(&wr, 0xfeedf00d, keys, FRAME_KEYS_MAX);
	n = CHECK_LEN(wr_finish(&wr));
	CHECK(n == 1 + 4 + 2 + FRAME_KEYS_MAX * 40 && n <= FRAME_SYNC_CHUNK + 16);
	CHECK_OK(frame_decode(&f, buf, (size_t)n));
	CHECK(f.type == FRAME_OFFER && f.u.up.seq == 0xfeedf00d && f.u.up.count == FRAME_KEYS_MAX);
	CHECK(!memcmp(f.u.up.keys, keys, sizeof(keys)));
	for (int i = 0; i < n; i += 37)
		CHECK(frame_decode(&f, buf, (size_t)i) != 0);
	CHECK(frame_decode(&f, buf, (size_t)n - 1) != 0);
	buf[n] = 0;
	CHECK_RET(frame_decode(&f, buf, (size_t)n + 1), MU_E_FORMAT);
	buf[5] = (FRAME_KEYS_MAX + 1) >> 8, buf[6] = (FRAME_KEYS_MAX + 1) & 0xff;
	CHECK(frame_decode(&f, buf, (size_t)n + 40) == MU_E_FORMAT);
	wr = wr_make(buf, sizeof(buf));
	frame_offer(&wr, 1, keys, 0);
	CHECK_RET(wr_finish(&wr), MU_E_FORMAT);
	wr = wr_make(buf, sizeof(buf));
	frame_offer(&wr, 1, keys, FRAME_KEYS_MAX + 1);
	CHECK_RET(wr_finish(&wr), MU_E_FORMAT);

	/* 10 keys: two bytes, bits 0 and 9 set. */
	memset(bits, 0, sizeof(bits));
	bits[0] = 0x01, bits[1] = 0x02;
	wr = wr_make(buf, sizeof(buf));
	frame_take(&wr, 7, bits, 10);
	n = CHECK_LEN(wr_finish(&wr));
	CHECK(n == 1 + 4 + 2 + 2);
	CHECK_OK(frame_decode(&f, buf, (size_t)n));
	CHECK(f.type == FRAME_TAKE && f.u.up.seq == 7 && f.u.up.count == 10);
	CHECK(f.u.up.bits[0] == 0x01 && f.u.up.bits[1] == 0x02);
	for (int i = 0; i < n; i++)
		CHECK(frame_decode(&f, buf, (size_t)i) != 0);
	buf[n - 1] = 0x04; /* bit 10: past the count */
	CHECK_RET(frame_decode(&f, buf, (size_t)n), MU_E_FORMAT);
	buf[n - 1] = 0x03; /* bits 8 and 9: fine */
	CHECK_OK(frame_decode(&f, buf, (size_t)n));
	wr = wr_make(buf, sizeof(buf));
	frame_take(&wr, 7, bits, 0);
	CHECK_RET(wr_finish(&wr), MU_E_FORMAT);
}

/* REFUSED: round trip at the cap with every reason, the byte layout of one
 * entry, every truncation, counts 0 and over the cap, unknown reasons (0
 * and 4) on both sides, trailing bytes. */
static void test_refused(void)
{
	static uint8_t ent[FRAME_IDS_MAX * FRAME_REFUSAL_BYTES];
	struct wr wr = wr_make(buf, sizeof(buf));
	struct frame f;
	int n;

	randombytes_buf(ent, sizeof(ent));
	for (size_t i = 0; i < FRAME_IDS_MAX; i++)
		ent[i * FRAME_REFUSAL_BYTES + 32] = (uint8_t)(REFUSAL_FULL + i % 3);
	frame_refused(&wr, ent, FRAME_IDS_MAX);
	n = CHECK_LEN(wr_finish(&wr));
	CHECK(n == 1 + 2 + FRAME_IDS_MAX * 33);
	CHECK_OK(frame_decode(&f, buf, (size_t)n));
	CHECK(f.type == FRAME_REFUSED && f.u.refused.count == FRAME_IDS_MAX);
	CHECK(f.u.refused.entries == buf + 3 && !memcmp(f.u.refused.entries, ent, sizeof(ent)));
	buf[n] = 0; /* trailing byte */
	CHECK_RET(frame_decode(&f, buf, (size_t)n + 1), MU_E_FORMAT);
	buf[1] = (FRAME_IDS_MAX + 1) >> 8, buf[2] = (FRAME_IDS_MAX + 1) & 0xff;
	CHECK_RET(frame_decode(&f, buf, (size_t)n + 33), MU_E_FORMAT);

	/* One entry, byte for byte: 08 0001 id reason. */
	wr = wr_make(buf, sizeof(buf));
	memset(ent, 0x5a, 32);
	ent[32] = REFUSAL_INVALID;
	frame_refused(&wr, ent, 1);
	n = CHECK_LEN(wr_finish(&wr));
	CHECK(n == 36 && buf[0] == 8 && buf[1] == 0 && buf[2] == 1 && buf[3] == 0x5a && buf[34] == 0x5a);
	CHECK(buf[35] == 3);
	CHECK_OK(frame_decode(&f, buf, (size_t)n));
	CHECK(f.u.refused.count == 1 && f.u.refused.entries[32] == REFUSAL_INVALID);
	for (int i = 0; i < n; i++)
		CHECK(frame_decode(&f, buf, (size_t)i) != 0);
	buf[35] = 0; /* unknown reasons */
	CHECK_RET(frame_decode(&f, buf, (size_t)n), MU_E_FORMAT);
	buf[35] = 4;
	CHECK_RET(frame_decode(&f, buf, (size_t)n), MU_E_FORMAT);
	buf[35] = REFUSAL_RATE;
	CHECK_OK(frame_decode(&f, buf, (size_t)n));
	buf[2] = 0; /* zero count */
	CHECK_RET(frame_decode(&f, buf, 3), MU_E_FORMAT);

	/* The encoder refuses what the decoder would. */
	wr = wr_make(buf, sizeof(buf));
	frame_refused(&wr, ent, 0);
	CHECK_RET(wr_finish(&wr), MU_E_FORMAT);
	wr = wr_make(buf, sizeof(buf));
	frame_refused(&wr, ent, FRAME_IDS_MAX + 1);
	CHECK_RET(wr_finish(&wr), MU_E_FORMAT);
	ent[32] = 0;
	wr = wr_make(buf, sizeof(buf));
	frame_refused(&wr, ent, 1);
	CHECK_RET(wr_finish(&wr), MU_E_FORMAT);
}

static const struct test tests[] = {
	{ "/frames/refused", test_refused },
	{ "/frames/uplink", test_uplink },
	{ "/frames/roundtrip", test_roundtrip },
	{ "/frames/reject", test_reject },
};

TEST_MAIN(tests)
