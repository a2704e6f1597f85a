/* The hospital archive: round trip, exactly once, content encrypted at
 * rest, erasure, reopen and key custody, batches, custody receipt cursor,
 * limits. The audit chain's tamper detection is in test_audit.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../crypto/keystore.h"
#include "archive_fixture.h"
#include "testutil.h"

static const char secret_text[] = "PATIENT-Zebedee-Quaggathorpe-Triage-P1-leg";

static void put_text(struct fixture *f, unsigned i, const char *text, uint8_t id[static BUNDLE_ID_BYTES])
{
	uint8_t enc[512];
	size_t len = fixture_bundle(f, i, enc, sizeof(enc), id);

	CHECK_OK(archive_put(f->a, enc, len, (const uint8_t *)text, strlen(text), 42));
}

static void test_put_get(void)
{
	struct fixture f;
	uint8_t enc[512], got_enc[BUNDLE_ENC_MAX], content[ARCHIVE_CONTENT_MAX], id[32];
	size_t len, clen = 0, elen = 0;
	struct archive_item it;
	struct archive_stat st;
	struct bundle b;

	fixture_open(&f, "archive-put-get");
	len = fixture_bundle(&f, 7, enc, sizeof(enc), id);
	CHECK_OK(archive_put(f.a, enc, len, (const uint8_t *)"hello", 5, 1234));
	CHECK_OK(archive_get(f.a, id, &it, content, sizeof(content), &clen, got_enc, sizeof(got_enc), &elen));
	CHECK(clen == 5 && !memcmp(content, "hello", 5));
	CHECK(elen == len && !memcmp(got_enc, enc, len));
	/* The original signature still verifies from the archived copy. */
	CHECK_OK(bundle_decode(&b, got_enc, elen));
	CHECK_OK(bundle_verify_sig(&b, got_enc, elen));
	CHECK(!memcmp(it.id, id, 32) && !memcmp(it.sender, identity_sign_pk(f.sender), 32));
	CHECK(it.archived == 1234 && it.created == 1700000000007ull && it.seq == 1 && it.kind == BK_MESSAGE);
	CHECK(it.flags == 0 && it.dest_type == DEST_ALL && it.dest_len == 0);
	/* Buffers too short, unknown ids. */
	CHECK_RET(archive_get(f.a, id, NULL, content, 4, &clen, NULL, 0, NULL), MU_E_TOOBIG);
	CHECK_RET(archive_get(f.a, id, NULL, NULL, 0, NULL, got_enc, 10, &elen), MU_E_TOOBIG);
	memset(id, 0xab, sizeof(id));
	CHECK_RET(archive_get(f.a, id, &it, NULL, 0, NULL, NULL, 0, NULL), MU_E_NOTFOUND);
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.items == 1 && st.erased == 0 && st.last_seq == 1 && st.bytes > len);
	fixture_close(&f);
}

static void test_exactly_once(void)
{
	struct fixture f;
	uint8_t enc[512], id[32], id2[32];
	size_t len;
	struct archive_stat st;

	fixture_open(&f, "archive-once");
	len = fixture_bundle(&f, 1, enc, sizeof(enc), id);
	CHECK_OK(archive_put(f.a, enc, len, (const uint8_t *)"a", 1, 1));
	CHECK_RET(archive_put(f.a, enc, len, (const uint8_t *)"b", 1, 2), MU_E_EXISTS);
	/* Inside a batch too, and the batch stays usable after the refusal. */
	CHECK_OK(archive_begin(f.a));
	CHECK_RET(archive_begin(f.a), -EBUSY);
	CHECK_RET(archive_put(f.a, enc, len, (const uint8_t *)"c", 1, 3), MU_E_EXISTS);
	fixture_put(&f, 2, id2);
	CHECK_RET(archive_put(f.a, enc, len, (const uint8_t *)"c", 1, 3), MU_E_EXISTS);
	CHECK_OK(archive_commit(f.a));
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.items == 2 && st.last_seq == 2);
	fixture_reopen(&f);
	CHECK_RET(archive_put(f.a, enc, len, (const uint8_t *)"d", 1, 4), MU_E_EXISTS);
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.items == 2 && st.last_seq == 2);
	fixture_close(&f);
}

static bool file_has(const char *path, const void *needle, size_t n)
{
	FILE *fp = fopen(path, "rb");
	char *buf = malloc(64 << 20);
	size_t len;
	bool found;

	CHECK(fp && buf);
	len = fread(buf, 1, 64 << 20, fp);
	fclose(fp);
	found = memmem(buf, len, needle, n) != NULL;
	free(buf);
	return found;
}

static void test_at_rest(void)
{
	struct fixture f;
	uint8_t id[32];
	char *mdb = NULL;
	struct stat st;

	fixture_open(&f, "archive-at-rest");
	put_text(&f, 1, secret_text, id);
	put_text(&f, 2, "control text that is stored", id);
	archive_close(f.a);
	f.a = NULL;
	CHECK(asprintf(&mdb, "%s/data.mdb", f.arch_dir) > 0);
	CHECK(!file_has(mdb, secret_text, strlen(secret_text)));
	/* The check can fail: the sender's key does appear in the file. */
	CHECK(file_has(mdb, identity_sign_pk(f.sender), 32));
	CHECK(stat(f.arch_dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(stat(f.key_path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(!file_has(f.key_path, secret_text, strlen(secret_text)));
	free(mdb);
	fixture_reopen(&f);
	fixture_close(&f);
}

static void test_erase(void)
{
	struct fixture f;
	struct archive_item it;
	struct archive_stat st;
	struct archive_verify v;
	uint8_t id[32], other[32], content[ARCHIVE_CONTENT_MAX], enc[BUNDLE_ENC_MAX];
	size_t clen = 99, elen = 99;

	fixture_open(&f, "archive-erase");
	put_text(&f, 1, secret_text, id);
	fixture_put(&f, 2, other);
	CHECK_OK(archive_erase(f.a, id, 77));
	CHECK_OK(archive_get(f.a, id, &it, content, sizeof(content), &clen, enc, sizeof(enc), &elen));
	CHECK(clen == 0 && elen == 0 && it.flags == (ARCHIVE_F_ERASED | ARCHIVE_F_SHREDDED) && it.seq == 3);
	/* The stub keeps who and when. */
	CHECK(!memcmp(it.sender, identity_sign_pk(f.sender), 32) && it.created == 1700000000001ull);
	CHECK_RET(archive_erase(f.a, id, 78), MU_E_EXISTS);
	memset(content, 0x5a, 32);
	CHECK_RET(archive_erase(f.a, content, 78), MU_E_NOTFOUND);
	CHECK_OK(archive_get(f.a, other, &it, content, sizeof(content), &clen, NULL, 0, NULL));
	CHECK(clen == 9 && !memcmp(content, "content 2", 9));
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.items == 2 && st.erased == 1 && st.last_seq == 3);
	CHECK_OK(archive_audit_verify(f.a, identity_sign_pk(f.node), &v));
	CHECK(v.entries == 3 && v.bad_seq == 0);
	/* A re-archive of an erased id is still refused: exactly once. */
	{
		uint8_t b[512], bid[32];
		size_t len = fixture_bundle(&f, 1, b, sizeof(b), bid);

		CHECK_RET(archive_put(f.a, b, len, (const uint8_t *)"x", 1, 1), MU_E_EXISTS);
	}
	fixture_close(&f);
}

static void test_reopen_and_keys(void)
{
	struct fixture f;
	struct archive *other = NULL;
	struct archive_verify v;
	uint8_t id[3][32], id4[32], content[64];
	size_t clen = 0;
	char *kf2 = NULL, *moved = NULL;

	fixture_open(&f, "archive-reopen");
	for (unsigned i = 0; i < 3; i++)
		fixture_put(&f, i, id[i]);
	fixture_reopen(&f);
	CHECK_OK(archive_get(f.a, id[2], NULL, content, sizeof(content), &clen, NULL, 0, NULL));
	CHECK(clen == 9 && !memcmp(content, "content 2", 9));
	fixture_put(&f, 3, id4);
	CHECK_OK(archive_audit_verify(f.a, identity_sign_pk(f.node), &v));
	CHECK(v.entries == 4);
	archive_close(f.a);
	f.a = NULL;
	/* Another key file cannot unwrap archive.key. */
	CHECK(asprintf(&kf2, "%s/other.kf", f.dir) > 0);
	CHECK_OK(keystore_keyfile_create(kf2));
	CHECK_RET(archive_open(&other, f.arch_dir, f.key_path, kf2, f.node, 64ull << 20), MU_E_PASS);
	/* Without archive.key the archive does not open (and no new key is
	 * made that would orphan the content). */
	CHECK(asprintf(&moved, "%s.moved", f.key_path) > 0);
	CHECK(rename(f.key_path, moved) == 0);
	CHECK_RET(archive_open(&other, f.arch_dir, f.key_path, f.keyfile, f.node, 64ull << 20), MU_E_PASS);
	CHECK(other == NULL);
	CHECK(access(f.key_path, F_OK) != 0);
	CHECK(rename(moved, f.key_path) == 0);
	fixture_reopen(&f);
	CHECK_OK(archive_get(f.a, id[0], NULL, content, sizeof(content), &clen, NULL, 0, NULL));
	CHECK(clen == 9 && !memcmp(content, "content 0", 9));
	free(kf2);
	free(moved);
	fixture_close(&f);
}

static void test_batch_abort(void)
{
	struct fixture f;
	struct archive_stat st;
	struct archive_verify v;
	uint8_t id[32], id2[32];

	fixture_open(&f, "archive-abort");
	fixture_put(&f, 1, id);
	CHECK_OK(archive_begin(f.a));
	CHECK(archive_in_batch(f.a));
	fixture_put(&f, 2, id2);
	CHECK_OK(archive_get(f.a, id2, NULL, NULL, 0, NULL, NULL, 0, NULL));
	archive_abort(f.a);
	CHECK(!archive_in_batch(f.a));
	CHECK_RET(archive_get(f.a, id2, NULL, NULL, 0, NULL, NULL, 0, NULL), MU_E_NOTFOUND);
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.items == 1 && st.last_seq == 1);
	fixture_put(&f, 2, id2); /* the chain continues from the restored head */
	CHECK_OK(archive_audit_verify(f.a, identity_sign_pk(f.node), &v));
	CHECK(v.entries == 2);
	fixture_close(&f);
}

static void test_receipt_cursor(void)
{
	struct fixture f;
	uint8_t id[5][32], ids[8][32], digest[32] = {1};
	size_t n = 0;
	uint64_t upto = 0, exp = 0;
	struct archive_stat st;

	fixture_open(&f, "archive-receipts");
	CHECK_OK(archive_receipt_pending(f.a, ids, 8, &n, &upto, &exp));
	CHECK(n == 0 && upto == 0);
	for (unsigned i = 0; i < 5; i++)
		fixture_put(&f, i, id[i]);
	CHECK_OK(archive_receipt_pending(f.a, ids, 3, &n, &upto, &exp));
	CHECK(n == 3 && upto == 3 && exp == 1700000000000ull + 3600000 + 2);
	for (unsigned i = 0; i < 3; i++)
		CHECK(!memcmp(ids[i], id[i], 32));
	/* Not moved yet: asking again lists the same (a crash before the
	 * receipt is stored issues them again). */
	CHECK_OK(archive_receipt_pending(f.a, ids, 3, &n, &upto, &exp));
	CHECK(n == 3 && !memcmp(ids[0], id[0], 32));
	CHECK_OK(archive_receipt_done(f.a, upto, n));
	CHECK_OK(archive_audit_note(f.a, AUDIT_EXPORTED, digest, 5, NULL));
	fixture_reopen(&f); /* the cursor survives a restart */
	CHECK_OK(archive_receipt_pending(f.a, ids, 8, &n, &upto, &exp));
	CHECK(n == 2 && upto == 6 && !memcmp(ids[0], id[3], 32) && !memcmp(ids[1], id[4], 32));
	CHECK_OK(archive_receipt_done(f.a, upto, n));
	CHECK_OK(archive_audit_note(f.a, AUDIT_VERIFIED, digest, 5, NULL));
	CHECK_OK(archive_receipt_pending(f.a, ids, 8, &n, &upto, &exp));
	CHECK(n == 0 && upto == 7); /* only an entry about no item */
	CHECK_OK(archive_receipt_done(f.a, upto, n));
	CHECK_OK(archive_receipt_pending(f.a, ids, 8, &n, &upto, &exp));
	CHECK(n == 0 && upto == 0);
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.items == 5 && st.receipted == 5);
	CHECK_RET(archive_audit_note(f.a, AUDIT_ARCHIVED, digest, 5, NULL), MU_E_FORMAT);
	fixture_close(&f);
}

static void test_limits(void)
{
	struct fixture f;
	uint8_t enc[512], id[32], *big = calloc(1, ARCHIVE_CONTENT_MAX + 1);
	size_t len;

	CHECK(big);
	fixture_open(&f, "archive-limits");
	len = fixture_bundle(&f, 1, enc, sizeof(enc), id);
	CHECK_RET(archive_put(f.a, enc, len, big, ARCHIVE_CONTENT_MAX + 1, 1), MU_E_TOOBIG);
	CHECK_OK(archive_put(f.a, enc, len, big, ARCHIVE_CONTENT_MAX, 1));
	CHECK_RET(archive_put(f.a, enc, len - 1, big, 1, 1), MU_E_FORMAT);
	{
		uint8_t *out = malloc(ARCHIVE_CONTENT_MAX);
		size_t clen = 0;

		CHECK(out);
		CHECK_OK(archive_get(f.a, id, NULL, out, ARCHIVE_CONTENT_MAX, &clen, NULL, 0, NULL));
		CHECK(clen == ARCHIVE_CONTENT_MAX);
		free(out);
	}
	free(big);
	fixture_close(&f);
}

/* A sealed content byte altered in place fails to open (AEAD). */
static void test_content_altered(void)
{
	struct fixture f;
	uint8_t id[32], rec[ARCHIVE_REC_MAX], content[64];
	size_t len = 0, clen = 0;

	fixture_open(&f, "archive-altered");
	fixture_put(&f, 1, id);
	CHECK_OK(archive_test_raw_get(f.a, "items", id, 32, rec, sizeof(rec), &len));
	rec[len - 1] ^= 1;
	CHECK_OK(archive_test_raw_put(f.a, "items", id, 32, rec, len));
	CHECK_RET(archive_get(f.a, id, NULL, content, sizeof(content), &clen, NULL, 0, NULL), MU_E_SIG);
	fixture_close(&f);
}

struct scan_ctx {
	struct fixture *f;
	unsigned archived, read;
};

static int scan_read(void *ctx, const struct audit_entry *e)
{
	struct scan_ctx *c = ctx;
	struct archive_item it;
	uint8_t content[64];
	size_t clen = 0;

	if (e->event != AUDIT_ARCHIVED)
		return 0;
	c->archived++;
	/* Reading the archive from inside a walk (as the export does). */
	if (!archive_get(c->f->a, e->id, &it, content, sizeof(content), &clen, NULL, 0, NULL) &&
	    it.seq == e->seq && clen == 9)
		c->read++;
	return 0;
}

static int scan_stop(void *ctx, const struct audit_entry *e)
{
	(void)ctx;
	return e->seq == 2 ? 77 : 0;
}

static void test_scan(void)
{
	struct fixture f;
	struct scan_ctx c = {.f = &f};
	uint8_t id[32], digest[32] = {0};

	fixture_open(&f, "archive-scan");
	for (unsigned i = 0; i < 4; i++)
		fixture_put(&f, i, id);
	CHECK_OK(archive_audit_note(f.a, AUDIT_EXPORTED, digest, 9, NULL));
	CHECK_OK(archive_audit_scan(f.a, 0, scan_read, &c));
	CHECK(c.archived == 4 && c.read == 4);
	c.archived = c.read = 0;
	CHECK_OK(archive_audit_scan(f.a, 2, scan_read, &c)); /* after seq 2 */
	CHECK(c.archived == 2 && c.read == 2);
	CHECK_RET(archive_audit_scan(f.a, 0, scan_stop, NULL), 77);
	/* Inside a batch the walk sees the batch's writes. */
	CHECK_OK(archive_begin(f.a));
	fixture_put(&f, 9, id);
	c.archived = c.read = 0;
	CHECK_OK(archive_audit_scan(f.a, 0, scan_read, &c));
	CHECK(c.archived == 5 && c.read == 5);
	CHECK_OK(archive_commit(f.a));
	fixture_close(&f);
}

static const struct test tests[] = {
    {"/archive/scan-reads-inside", test_scan},
    {"/archive/put-get", test_put_get},
    {"/archive/exactly-once", test_exactly_once},
    {"/archive/at-rest-not-plaintext", test_at_rest},
    {"/archive/erase", test_erase},
    {"/archive/reopen-and-keys", test_reopen_and_keys},
    {"/archive/batch-abort", test_batch_abort},
    {"/archive/receipt-cursor", test_receipt_cursor},
    {"/archive/limits", test_limits},
    {"/archive/content-altered", test_content_altered},
};

TEST_MAIN(tests)
