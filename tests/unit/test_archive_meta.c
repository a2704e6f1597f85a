/* Named meta values of the hospital archive (archive_meta_*, node/archive.c),
 * which the hospital's clean-shutdown checkpoint lives in: names are
 * checked so a caller can never reach the archive's own entries, values
 * are capped, survive a reopen, and a deletion inside a batch is lost with
 * the batch. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "archive_fixture.h"
#include "err.h"
#include "testutil.h"

static void test_roundtrip(void)
{
	struct fixture f;
	uint8_t v[300], got[300];
	size_t len = 99;

	fixture_open(&f, "meta-rt");
	for (size_t i = 0; i < sizeof(v); i++)
		v[i] = (uint8_t)(i * 7);
	CHECK_RET(archive_meta_get_blob(f.a, "hospital.clean", got, sizeof(got), &len), MU_E_NOTFOUND);
	CHECK(len == 0);
	CHECK_RET(archive_meta_del(f.a, "hospital.clean"), MU_E_NOTFOUND);
	CHECK_OK(archive_meta_put_blob(f.a, "hospital.clean", v, sizeof(v)));
	/* Too small a buffer says how much is needed and copies nothing. */
	memset(got, 0, sizeof(got));
	CHECK_RET(archive_meta_get_blob(f.a, "hospital.clean", got, 10, &len), MU_E_TOOBIG);
	CHECK(len == sizeof(v) && got[1] == 0);
	CHECK_RET(archive_meta_get_blob(f.a, "hospital.clean", NULL, 0, &len), MU_E_TOOBIG);
	CHECK(len == sizeof(v));
	fixture_reopen(&f); /* committed at once: durable */
	CHECK_OK(archive_meta_get_blob(f.a, "hospital.clean", got, sizeof(got), &len));
	CHECK(len == sizeof(v) && !memcmp(got, v, sizeof(v)));
	/* An empty value is a value. */
	CHECK_OK(archive_meta_put_blob(f.a, "x.empty", NULL, 0));
	CHECK_OK(archive_meta_get_blob(f.a, "x.empty", NULL, 0, &len));
	CHECK(len == 0);
	CHECK_OK(archive_meta_del(f.a, "hospital.clean"));
	fixture_reopen(&f);
	CHECK_RET(archive_meta_get_blob(f.a, "hospital.clean", got, sizeof(got), &len), MU_E_NOTFOUND);
	CHECK_OK(archive_meta_get_blob(f.a, "x.empty", NULL, 0, &len));
	fixture_close(&f);
}

/* Names without a dot, with other characters, empty, too long: refused,
 * so "data_key", "items", "cursor" and the like are out of reach. */
static void test_names(void)
{
	static const char *bad[] = {"data_key",
				    "items",
				    "cursor",
				    "last_seq",
				    "",
				    "a.",
				    ".ab",
				    "A.b",
				    "a b.c",
				    "a/b.c",
				    "a.b\n",
				    "ab",
				    "hospital.clean-1",
				    "a.0123456789012345678901234567890"}; /* 33 bytes */
	struct fixture f;
	struct archive_stat st0, st1;
	uint8_t v[8] = {1, 2, 3, 4, 5, 6, 7, 8}, got[16];
	size_t len;

	fixture_open(&f, "meta-names");
	fixture_put(&f, 1, (uint8_t[BUNDLE_ID_BYTES]){0});
	CHECK_OK(archive_stat(f.a, &st0));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_RET(archive_meta_put_blob(f.a, bad[i], v, sizeof(v)), -EINVAL);
		CHECK_RET(archive_meta_get_blob(f.a, bad[i], got, sizeof(got), &len), -EINVAL);
		CHECK_RET(archive_meta_del(f.a, bad[i]), -EINVAL);
	}
	CHECK_RET(archive_meta_put_blob(f.a, NULL, v, sizeof(v)), -EINVAL);
	CHECK_OK(archive_stat(f.a, &st1));
	CHECK(st1.items == st0.items && st1.last_seq == st0.last_seq && st1.bytes == st0.bytes);
	/* The longest name allowed, 32 bytes. */
	CHECK_OK(archive_meta_put_blob(f.a, "a.012345678901234567890123456789", v, sizeof(v)));
	CHECK_OK(archive_meta_get_blob(f.a, "a.012345678901234567890123456789", got, sizeof(got), &len));
	CHECK(len == sizeof(v) && !memcmp(got, v, sizeof(v)));
	fixture_close(&f);
}

static void test_size_cap(void)
{
	struct fixture f;
	uint8_t *v = calloc(1, ARCHIVE_META_BLOB_MAX + 1);
	size_t len;

	CHECK(v != NULL);
	fixture_open(&f, "meta-cap");
	CHECK_RET(archive_meta_put_blob(f.a, "x.big", v, ARCHIVE_META_BLOB_MAX + 1), MU_E_TOOBIG);
	CHECK_RET(archive_meta_get_blob(f.a, "x.big", NULL, 0, &len), MU_E_NOTFOUND);
	v[ARCHIVE_META_BLOB_MAX - 1] = 0x5a;
	CHECK_OK(archive_meta_put_blob(f.a, "x.big", v, ARCHIVE_META_BLOB_MAX));
	memset(v, 0, ARCHIVE_META_BLOB_MAX);
	CHECK_OK(archive_meta_get_blob(f.a, "x.big", v, ARCHIVE_META_BLOB_MAX, &len));
	CHECK(len == ARCHIVE_META_BLOB_MAX && v[ARCHIVE_META_BLOB_MAX - 1] == 0x5a);
	fixture_close(&f);
	free(v);
}

/* Inside a batch, a deletion is durable only with the batch. */
static void test_batch(void)
{
	struct fixture f;
	uint8_t v[4] = {9, 9, 9, 9};
	size_t len;

	fixture_open(&f, "meta-batch");
	CHECK_OK(archive_meta_put_blob(f.a, "x.mark", v, sizeof(v)));
	CHECK_OK(archive_begin(f.a));
	CHECK_OK(archive_meta_del(f.a, "x.mark"));
	CHECK_RET(archive_meta_get_blob(f.a, "x.mark", NULL, 0, &len), MU_E_NOTFOUND);
	archive_abort(f.a);
	CHECK_RET(archive_meta_get_blob(f.a, "x.mark", NULL, 0, &len), MU_E_TOOBIG);
	CHECK_OK(archive_begin(f.a));
	CHECK_OK(archive_meta_del(f.a, "x.mark"));
	CHECK_OK(archive_commit(f.a));
	fixture_reopen(&f);
	CHECK_RET(archive_meta_get_blob(f.a, "x.mark", NULL, 0, &len), MU_E_NOTFOUND);
	fixture_close(&f);
}

static const struct test tests[] = {
    {"/archive/meta/roundtrip", test_roundtrip},
    {"/archive/meta/names", test_names},
    {"/archive/meta/size-cap", test_size_cap},
    {"/archive/meta/batch", test_batch},
};

TEST_MAIN(tests)
