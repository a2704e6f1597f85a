#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "json.h"
#include "testutil.h"
#include "wire.h"

static void test_reader(void)
{
	static const uint8_t in[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09 };
	struct rd rd = rd_make(in, sizeof(in));
	uint8_t u8, buf[4];
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *p;

	CHECK_OK(rd_u8(&rd, &u8));
	CHECK(u8 == 0x01);
	CHECK_OK(rd_u16(&rd, &u16));
	CHECK(u16 == 0x0203); /* big-endian */
	CHECK_OK(rd_u32(&rd, &u32));
	CHECK(u32 == 0x04050607);
	CHECK_RET(rd_u64(&rd, &u64), MU_E_FORMAT); /* 2 bytes left: refused, nothing consumed */
	CHECK(rd.len == 2);
	CHECK_RET(rd_bytes(&rd, buf, 3), MU_E_FORMAT);
	CHECK_RET(rd_end(&rd), MU_E_FORMAT);
	CHECK_OK(rd_slice(&rd, 2, &p));
	CHECK(p == in + 7 && rd.len == 0);
	CHECK_OK(rd_end(&rd));
}

static void test_length_prefixed(void)
{
	static const uint8_t lv8[] = { 3, 'a', 'b', 'c', 9 };
	static const uint8_t lv32[] = { 0, 0, 0, 2, 'x', 'y' };
	static const uint8_t short8[] = { 5, 'a', 'b' };
	struct rd rd = rd_make(lv8, sizeof(lv8));
	const uint8_t *p;
	size_t n;

	CHECK_RET(rd_lv8(&rd, 2, &p, &n), MU_E_TOOBIG); /* over its cap */
	CHECK(rd.p == lv8 && rd.len == sizeof(lv8));    /* reader restored */
	CHECK_OK(rd_lv8(&rd, 3, &p, &n));
	CHECK(n == 3 && !memcmp(p, "abc", 3) && rd.len == 1);
	rd = rd_make(short8, sizeof(short8));
	CHECK_RET(rd_lv8(&rd, 64, &p, &n), MU_E_FORMAT); /* claims more than is there */
	CHECK(rd.len == sizeof(short8));
	rd = rd_make(lv32, sizeof(lv32));
	CHECK_RET(rd_lv32(&rd, 1, &p, &n), MU_E_TOOBIG);
	CHECK_OK(rd_lv32(&rd, 2, &p, &n));
	CHECK(n == 2 && !memcmp(p, "xy", 2));
	CHECK_OK(rd_end(&rd));
}

static void test_writer(void)
{
	uint8_t out[8];
	struct wr wr = wr_make(out, sizeof(out));
	uint8_t big[300] = { 0 };

	wr_u16(&wr, 0xabcd);
	wr_u32(&wr, 0x01020304);
	CHECK(wr_finish(&wr) == 6 && out[0] == 0xab && out[5] == 0x04);
	wr_u32(&wr, 0); /* overflows: sticky error, nothing written */
	CHECK_RET(wr_finish(&wr), MU_E_TOOBIG);
	CHECK(wr.len == 6);
	wr_u8(&wr, 1); /* would fit, but the error sticks */
	CHECK_RET(wr_finish(&wr), MU_E_TOOBIG);

	wr = wr_make(out, sizeof(out));
	wr_lv8(&wr, big, 4, 3); /* over the caller's cap */
	CHECK_RET(wr_finish(&wr), MU_E_TOOBIG);
	wr = wr_make(out, sizeof(out));
	wr_lv8(&wr, big, 256, 1000); /* over what a u8 length can say */
	CHECK_RET(wr_finish(&wr), MU_E_TOOBIG);
	CHECK(get_be64((uint8_t[]){ 0, 0, 0, 0, 0, 0, 1, 2 }) == 0x102);
	put_be64(out, 0x0102030405060708ull);
	CHECK(out[0] == 1 && out[7] == 8);
}

static void test_strerror(void)
{
	CHECK(!strcmp(mu_strerror(0), "success"));
	CHECK(!strcmp(mu_strerror(MU_E_FORMAT), "malformed encoding"));
	CHECK(!strcmp(mu_strerror(-2), "No such file or directory"));
	for (int e = MU_E_FIRST; e >= MU_E_LAST; e--) /* every code has its text */
		CHECK(mu_strerror(e) && strcmp(mu_strerror(e), "unknown error"));
	CHECK(!strcmp(mu_strerror(MU_E_LAST - 1), "unknown error"));
}

static void test_json_quote(void)
{
	char *q = json_quote("a \"b\" \\ \n\x01 \xc3\xa9");

	CHECK(q && !strcmp(q, "\"a \\\"b\\\" \\\\ \\u000a\\u0001 \xc3\xa9\""));
	free(q);
	q = json_quote("");
	CHECK(q && !strcmp(q, "\"\""));
	free(q);
}

/* mu_grow: unchanged below cap, doubles at cap (first when empty), keeps
 * the contents, and refuses a size that would overflow without touching
 * the array. */
static void test_grow(void)
{
	size_t cap = 0, n = 0;
	int *v = NULL, *p;

	for (int i = 0; i < 100; i++) {
		p = mu_grow(v, &cap, n, sizeof(*v), 4);
		CHECK(p != NULL);
		if (n < 4)
			CHECK(cap == 4);
		v = p;
		v[n++] = i;
	}
	CHECK(cap == 128);
	for (int i = 0; i < 100; i++)
		CHECK(v[i] == i);
	p = mu_grow(v, &cap, 50, sizeof(*v), 4);
	CHECK(p == v && cap == 128);
	cap = SIZE_MAX / 2 + 1;
	CHECK(mu_grow(v, &cap, cap, sizeof(*v), 4) == NULL);
	CHECK(cap == SIZE_MAX / 2 + 1);
	free(v);
}

static int int_cmp(const void *el, const void *key)
{
	int a = *(const int *)el, b = *(const int *)key;

	return (a > b) - (a < b);
}

/* mu_sorted_find: the first index not before key, found only on equality,
 * n past the end, at every position of an array with gaps. */
static void test_sorted_find(void)
{
	const int v[] = { 10, 20, 30, 40, 50 };
	bool found = true;

	CHECK(mu_sorted_find(v, 0, sizeof(*v), int_cmp, &v[0], &found) == 0 && !found);
	for (size_t i = 0; i < 5; i++) {
		int below = v[i] - 5;

		CHECK(mu_sorted_find(v, 5, sizeof(*v), int_cmp, &v[i], &found) == i && found);
		CHECK(mu_sorted_find(v, 5, sizeof(*v), int_cmp, &below, &found) == i && !found);
	}
	{
		int above = 99;

		CHECK(mu_sorted_find(v, 5, sizeof(*v), int_cmp, &above, &found) == 5 && !found);
	}
}

static const struct test tests[] = {
	{ "/grow/doubling", test_grow },
	{ "/grow/sorted-find", test_sorted_find },
	{ "/wire/reader", test_reader },
	{ "/wire/length-prefixed", test_length_prefixed },
	{ "/wire/writer", test_writer },
	{ "/err/strerror", test_strerror },
	{ "/json/quote", test_json_quote },
};

TEST_MAIN(tests)
