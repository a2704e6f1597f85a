#include <string.h>

#include "nhsnum.h"
#include "testutil.h"

static bool find(const char *s, size_t *at, size_t *span)
{
	return nhs_number_find(s, strlen(s), at, span);
}

static void test_check_digit(void)
{
	/* 943 476 5919 is the NHS's published example. */
	CHECK(nhs_number_valid("9434765919"));
	CHECK(!nhs_number_valid("9434765918")); /* wrong check digit */
	CHECK(!nhs_number_valid("9434765910"));
	CHECK(nhs_number_valid("4010232137")); /* check digit 7 */
	/* 11 - sum%11 == 11 means a check digit of 0 */
	CHECK(nhs_number_valid("0000000000"));
	/* 11 - sum%11 == 10 is never valid: 1000000010 has sum 10*1+2*1=12 ->
	 * 12%11=1 -> 10 */
	CHECK(!nhs_number_valid("1000000010"));
	CHECK(!nhs_number_valid("94347659x9"));
}

static void test_find(void)
{
	size_t at = 0, span = 0;

	CHECK(find("pt 9434765919 to resus", &at, &span) && at == 3 && span == 10);
	CHECK(find("NHS no. 943 476 5919.", &at, &span) && at == 8 && span == 12);
	CHECK(find("943-476-5919", &at, &span) && at == 0 && span == 12);
	CHECK(!find("943 476-5919", &at, &span));   /* mixed separators */
	CHECK(!find("94347659190", &at, &span));    /* 11 digits: a longer number */
	CHECK(!find("19434765919", &at, &span));
	CHECK(!find("9434765918", &at, &span));     /* invalid check digit */
	CHECK(!find("call 07700 900123", &at, &span));
	CHECK(!find("grid TQ 30560 80480", &at, &span));
	CHECK(!find("943  476 5919", &at, &span));  /* two spaces */
	CHECK(!find("", &at, &span));
	/* the second of two numbers, the first invalid */
	CHECK(find("9434765918 or 4010232137", &at, &span) && at == 14);
	/* tag numbers and counts are not mistaken */
	CHECK(!find("tag 0042, P1 x3, 12 casualties", &at, &span));
}

static const struct test tests[] = {
	{ "/nhsnum/check-digit", test_check_digit },
	{ "/nhsnum/find", test_find },
};

TEST_MAIN(tests)
