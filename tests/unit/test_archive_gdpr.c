/* What a batch erasure reports (gdpr_erase_ex, shown by `muster erase
 * --confirm`): per item whether it was crypto-shredded or deleted only
 * (archived before per-item keys) or skipped (erased before), the totals,
 * nothing reported when the batch fails, and that the audit chain covers
 * the shredded flag of the stub. */
#include <errno.h>
#include <string.h>

#include "archive_fixture.h"
#include "err.h"
#include "gdpr.h"
#include "testutil.h"

#define IDS(x) ((const uint8_t(*)[BUNDLE_ID_BYTES])(x))

static void test_mixed(void)
{
	struct fixture f;
	uint8_t ids[4][BUNDLE_ID_BYTES], what[4], rec[ARCHIVE_KEYREC_BYTES];
	struct gdpr_erase_result res;
	struct archive_stat st;
	struct archive_item it;
	struct archive_verify v;
	size_t erased = 99;

	fixture_open(&f, "gdpr-mixed");
	archive_test_set_legacy(f.a, true);
	fixture_put(&f, 1, ids[0]);
	archive_test_set_legacy(f.a, false);
	fixture_put(&f, 2, ids[1]);
	fixture_put(&f, 3, ids[2]);
	fixture_put(&f, 4, ids[3]);
	CHECK_OK(archive_erase(f.a, ids[2], 10)); /* erased before the batch */

	memset(what, 0xee, sizeof(what));
	CHECK_OK(gdpr_erase_ex(f.a, IDS(ids), 3, 20, what, &res));
	CHECK(what[0] == GDPR_DELETED && what[1] == GDPR_SHREDDED && what[2] == GDPR_SKIPPED);
	CHECK(what[3] == 0xee); /* only n bytes are written */
	CHECK(res.erased == 2 && res.shredded == 1);
	CHECK_RET(archive_test_key_record(f.a, ids[1], rec), MU_E_NOTFOUND);
	CHECK_OK(archive_test_key_record(f.a, ids[3], rec));
	CHECK_OK(archive_get(f.a, ids[0], &it, NULL, 0, NULL, NULL, 0, NULL));
	CHECK(it.flags == ARCHIVE_F_ERASED);
	CHECK_OK(archive_get(f.a, ids[1], &it, NULL, 0, NULL, NULL, 0, NULL));
	CHECK(it.flags == (ARCHIVE_F_ERASED | ARCHIVE_F_SHREDDED));
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.erased == 3 && st.shredded == 2);

	/* again: everything skipped, nothing recorded */
	CHECK_OK(gdpr_erase_ex(f.a, IDS(ids), 3, 30, what, &res));
	CHECK(what[0] == GDPR_SKIPPED && what[1] == GDPR_SKIPPED && what[2] == GDPR_SKIPPED);
	CHECK(res.erased == 0 && res.shredded == 0);
	CHECK_OK(gdpr_erase(f.a, IDS(ids), 3, 31, &erased));
	CHECK(erased == 0);
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.last_seq == 7 && st.erased == 3);

	/* the NULL per-item list is allowed */
	CHECK_OK(gdpr_erase_ex(f.a, IDS(ids[3]), 1, 40, NULL, &res));
	CHECK(res.erased == 1 && res.shredded == 1);
	CHECK_OK(archive_audit_verify(f.a, identity_sign_pk(f.node), &v));
	CHECK(v.entries == 8);
	fixture_close(&f);
}

/* A batch that fails erases nothing and reports nothing. */
static void test_failure_reports_nothing(void)
{
	struct fixture f;
	uint8_t ids[3][BUNDLE_ID_BYTES], what[3], rec[ARCHIVE_KEYREC_BYTES];
	struct gdpr_erase_result res;
	struct archive_stat st;
	size_t erased = 99;

	fixture_open(&f, "gdpr-fail");
	fixture_put(&f, 1, ids[0]);
	fixture_put(&f, 2, ids[1]);
	memset(ids[2], 0x5a, BUNDLE_ID_BYTES); /* never archived */
	memset(what, 0xee, sizeof(what));
	CHECK_RET(gdpr_erase_ex(f.a, IDS(ids), 3, 20, what, &res), MU_E_NOTFOUND);
	CHECK(what[0] == GDPR_SKIPPED && what[1] == GDPR_SKIPPED && what[2] == GDPR_SKIPPED);
	CHECK(res.erased == 0 && res.shredded == 0);
	CHECK_OK(archive_test_key_record(f.a, ids[0], rec));
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.erased == 0 && st.shredded == 0 && st.last_seq == 2);

	CHECK_OK(archive_begin(f.a));
	CHECK_RET(gdpr_erase_ex(f.a, IDS(ids), 2, 21, what, &res), -EBUSY);
	CHECK_RET(gdpr_erase(f.a, IDS(ids), 2, 21, &erased), -EBUSY);
	CHECK(erased == 0);
	archive_abort(f.a);
	fixture_close(&f);
}

/* The shredded flag cannot be altered unseen: the 'erased' entry's digest
 * covers the stub, and the decoder allows only erased+shredded for a
 * version 2 stub and only erased for a version 1 one. A stub whose flag
 * is taken away (claiming deletion only) or added (claiming a shred that
 * did not happen) fails verification at the item's first entry. */
static void test_flag_in_chain(void)
{
	struct fixture f;
	uint8_t ids[2][BUNDLE_ID_BYTES], stub[ARCHIVE_REC_MAX], what[2];
	struct gdpr_erase_result res;
	struct archive_verify v;
	size_t len = 0;

	fixture_open(&f, "gdpr-chain");
	archive_test_set_legacy(f.a, true);
	fixture_put(&f, 1, ids[0]);
	archive_test_set_legacy(f.a, false);
	fixture_put(&f, 2, ids[1]);
	CHECK_OK(gdpr_erase_ex(f.a, IDS(ids), 2, 20, what, &res)); /* entries 3 (ids[0]), 4 (ids[1]) */
	CHECK(res.erased == 2 && res.shredded == 1);
	CHECK_OK(archive_audit_verify(f.a, identity_sign_pk(f.node), &v));

	CHECK_OK(archive_test_raw_get(f.a, "items", ids[1], BUNDLE_ID_BYTES, stub, sizeof(stub), &len));
	CHECK(len > 2 && stub[1] == (ARCHIVE_F_ERASED | ARCHIVE_F_SHREDDED));
	stub[1] = ARCHIVE_F_ERASED;
	CHECK_OK(archive_test_raw_put(f.a, "items", ids[1], BUNDLE_ID_BYTES, stub, len));
	CHECK(archive_audit_verify(f.a, identity_sign_pk(f.node), &v) != 0);
	CHECK(v.bad_seq == 2 && v.why != NULL);
	stub[1] = ARCHIVE_F_ERASED | ARCHIVE_F_SHREDDED;
	CHECK_OK(archive_test_raw_put(f.a, "items", ids[1], BUNDLE_ID_BYTES, stub, len));
	CHECK_OK(archive_audit_verify(f.a, identity_sign_pk(f.node), &v));

	/* a version 1 stub with the shredded flag does not even decode */
	CHECK_OK(archive_test_raw_get(f.a, "items", ids[0], BUNDLE_ID_BYTES, stub, sizeof(stub), &len));
	CHECK(stub[0] == ARCHIVE_VERSION_LEGACY && stub[1] == ARCHIVE_F_ERASED);
	stub[1] = ARCHIVE_F_ERASED | ARCHIVE_F_SHREDDED;
	CHECK_OK(archive_test_raw_put(f.a, "items", ids[0], BUNDLE_ID_BYTES, stub, len));
	CHECK(archive_audit_verify(f.a, identity_sign_pk(f.node), &v) != 0);
	CHECK(v.bad_seq == 1 && v.why != NULL);
	fixture_close(&f);
}

static const struct test tests[] = {
    {"/archive/gdpr/erase-mixed", test_mixed},
    {"/archive/gdpr/erase-failure-reports-nothing", test_failure_reports_nothing},
    {"/archive/gdpr/shredded-flag-in-chain", test_flag_in_chain},
};

TEST_MAIN(tests)
