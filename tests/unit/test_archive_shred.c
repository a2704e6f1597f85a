/* Crypto-shredding in the hospital archive: per-item keys in the keys
 * environment, erasure that destroys them (and compacts their freed pages
 * away), backups of the archive that lose erased items, version 1 records
 * that still read and erase as deletion only, and interrupted erasures. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../crypto/keystore.h"
#include "archive_fixture.h"
#include "err.h"
#include "testutil.h"

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *p;
	long len;

	CHECK(fp != NULL);
	CHECK(fseek(fp, 0, SEEK_END) == 0 && (len = ftell(fp)) >= 0);
	rewind(fp);
	p = malloc((size_t)len + 1);
	CHECK(p != NULL);
	CHECK(fread(p, 1, (size_t)len, fp) == (size_t)len);
	fclose(fp);
	*n = (size_t)len;
	return p;
}

static bool file_has(const char *path, const void *needle, size_t len)
{
	size_t n = 0;
	uint8_t *p = slurp(path, &n);
	bool found = memmem(p, n, needle, len) != NULL;

	free(p);
	return found;
}

/* A byte copy of one environment's data.mdb into dst (created), as a
 * backup tool would take it while the archive is closed. */
static void copy_env(const char *src_dir, const char *dst_dir)
{
	char *src = NULL, *dst = NULL;
	size_t n = 0;
	uint8_t *p;
	FILE *fp;

	CHECK(asprintf(&src, "%s/data.mdb", src_dir) > 0);
	CHECK(asprintf(&dst, "%s/data.mdb", dst_dir) > 0);
	CHECK(mkdir(dst_dir, 0700) == 0 || errno == EEXIST);
	p = slurp(src, &n);
	CHECK((fp = fopen(dst, "wb")) != NULL);
	CHECK(fwrite(p, 1, n, fp) == n);
	CHECK(fclose(fp) == 0);
	free(p);
	free(src);
	free(dst);
}

static char *keys_dir(const struct fixture *f)
{
	char *d = NULL;

	CHECK(asprintf(&d, "%s%s", f->arch_dir, ARCHIVE_KEYS_SUFFIX) > 0);
	return d;
}

static char *keys_file(const struct fixture *f)
{
	char *p = NULL;

	CHECK(asprintf(&p, "%s%s/data.mdb", f->arch_dir, ARCHIVE_KEYS_SUFFIX) > 0);
	return p;
}

static void close_archive(struct fixture *f)
{
	archive_close(f->a);
	f->a = NULL;
}

static void open_at(struct fixture *f, const char *dir, struct archive **a)
{
	CHECK_OK(archive_open(a, dir, f->key_path, f->keyfile, f->node, 64ull << 20));
}

static void expect_content(struct archive *a, const uint8_t id[static 32], unsigned i)
{
	uint8_t content[64];
	char want[64];
	size_t clen = 0;

	snprintf(want, sizeof(want), "content %u", i);
	CHECK_OK(archive_get(a, id, NULL, content, sizeof(content), &clen, NULL, 0, NULL));
	CHECK(clen == strlen(want) && !memcmp(content, want, clen));
}

static void expect_verified(struct fixture *f, uint64_t entries)
{
	struct archive_verify v;

	CHECK_OK(archive_audit_verify(f->a, identity_sign_pk(f->node), &v));
	CHECK(v.entries == entries && v.bad_seq == 0);
}

/* The point of it all: a backup of DATA/archive taken before the erasure
 * no longer yields the item once its key is gone, while the same backup
 * opened with the keys as they were before still does (which is why keys
 * backups must be kept briefly). */
static void test_backup_shredded(void)
{
	struct fixture f;
	struct archive *bak = NULL;
	uint8_t id[3][32], rec[ARCHIVE_KEYREC_BYTES], enc[512], got[BUNDLE_ENC_MAX], content[64];
	size_t len, elen = 0, clen = 0;
	char *bak_dir = NULL, *bak_keys = NULL, *old_keys = NULL, *kd, *kf, *bak_mdb = NULL;
	struct archive_stat st;
	struct archive_item it;
	bool shredded = false;

	fixture_open(&f, "shred-backup");
	kd = keys_dir(&f);
	kf = keys_file(&f);
	for (unsigned i = 0; i < 3; i++)
		fixture_put(&f, i, id[i]);
	CHECK_OK(archive_test_key_record(f.a, id[1], rec));
	close_archive(&f);
	/* The backups: the archive, and (kept too long) the keys of the day. */
	CHECK(asprintf(&bak_dir, "%s/bak", f.dir) > 0);
	CHECK(asprintf(&bak_keys, "%s/bak%s", f.dir, ARCHIVE_KEYS_SUFFIX) > 0);
	CHECK(asprintf(&old_keys, "%s/old-keys", f.dir) > 0);
	CHECK(asprintf(&bak_mdb, "%s/data.mdb", bak_dir) > 0);
	copy_env(f.arch_dir, bak_dir);
	copy_env(kd, old_keys);
	/* The bundle is sealed too: its signature is nowhere in the backup. */
	len = fixture_bundle(&f, 1, enc, sizeof(enc), id[1]);
	CHECK(!file_has(bak_mdb, enc + len - MU_SIG_BYTES, MU_SIG_BYTES));
	CHECK(file_has(kf, rec, sizeof(rec)));

	fixture_reopen(&f);
	CHECK_OK(archive_erase_ex(f.a, id[1], 50, &shredded));
	CHECK(shredded);
	CHECK_RET(archive_test_key_record(f.a, id[1], rec + 0), MU_E_NOTFOUND);
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.erased == 1 && st.shredded == 1);
	close_archive(&f);
	/* Compacted: the destroyed key's bytes are gone from the file. */
	CHECK(!file_has(kf, rec, sizeof(rec)));

	/* The backup with the current keys: item 1 is gone, the rest read. */
	copy_env(kd, bak_keys);
	open_at(&f, bak_dir, &bak);
	CHECK_RET(archive_get(bak, id[1], &it, content, sizeof(content), &clen, NULL, 0, NULL), MU_E_PASS);
	CHECK_RET(archive_get(bak, id[1], NULL, NULL, 0, NULL, got, sizeof(got), &elen), MU_E_PASS);
	CHECK(clen == 0 && elen == 0);
	CHECK_OK(archive_get(bak, id[1], &it, NULL, 0, NULL, NULL, 0, NULL)); /* metadata only */
	CHECK(it.version == ARCHIVE_VERSION && it.flags == 0);
	expect_content(bak, id[0], 0);
	expect_content(bak, id[2], 2);
	CHECK_OK(archive_get(bak, id[2], NULL, NULL, 0, NULL, got, sizeof(got), &elen));
	len = fixture_bundle(&f, 2, enc, sizeof(enc), id[2]);
	CHECK(elen == len && !memcmp(got, enc, len));
	archive_close(bak);
	bak = NULL;

	/* The same backup with keys from before the erasure: readable. */
	copy_env(old_keys, bak_keys);
	open_at(&f, bak_dir, &bak);
	expect_content(bak, id[1], 1);
	archive_close(bak);

	fixture_reopen(&f);
	expect_verified(&f, 4);
	free(bak_dir);
	free(bak_keys);
	free(old_keys);
	free(bak_mdb);
	free(kd);
	free(kf);
	fixture_close(&f);
}

/* LMDB never clears a freed page: without the compaction the deleted key
 * stays in the file (stage 2 stops before it), after it (here at the next
 * open, as after a crash) it does not. One compaction serves the batch. */
static void test_compaction(void)
{
	struct fixture f;
	uint8_t id[4][32], rec[2][ARCHIVE_KEYREC_BYTES], tmp[ARCHIVE_KEYREC_BYTES];
	char *kf;
	struct stat st;

	fixture_open(&f, "shred-compact");
	kf = keys_file(&f);
	for (unsigned i = 0; i < 4; i++)
		fixture_put(&f, i, id[i]);
	CHECK_OK(archive_test_key_record(f.a, id[0], rec[0]));
	CHECK_OK(archive_test_key_record(f.a, id[3], rec[1]));
	CHECK_OK(archive_begin(f.a));
	CHECK_OK(archive_erase(f.a, id[0], 60));
	CHECK_OK(archive_erase(f.a, id[3], 60));
	/* Inside the batch the keys are gone already for readers of it. */
	CHECK_RET(archive_test_key_record(f.a, id[0], tmp), MU_E_NOTFOUND);
	archive_test_crash_commit(f.a, 2);
	CHECK_OK(archive_commit(f.a));
	CHECK_RET(archive_test_key_record(f.a, id[3], tmp), MU_E_NOTFOUND);
	close_archive(&f);
	CHECK(file_has(kf, rec[0], sizeof(rec[0])) || file_has(kf, rec[1], sizeof(rec[1])));
	fixture_reopen(&f);
	close_archive(&f);
	CHECK(!file_has(kf, rec[0], sizeof(rec[0])) && !file_has(kf, rec[1], sizeof(rec[1])));
	CHECK(stat(kf, &st) == 0 && (st.st_mode & 0777) == 0600);
	fixture_reopen(&f);
	expect_content(f.a, id[1], 1);
	expect_content(f.a, id[2], 2);
	expect_verified(&f, 6);
	free(kf);
	fixture_close(&f);
}

/* Records archived before per-item keys still read, and erase as deletion
 * only, which the erasure reports. */
static void test_legacy_records(void)
{
	struct fixture f;
	uint8_t old[32], new[32], enc[512], got[BUNDLE_ENC_MAX], content[64], rec[ARCHIVE_KEYREC_BYTES];
	struct archive_item it;
	struct archive_stat st;
	size_t len, elen = 0, clen = 0;
	bool shredded = true;
	char *mdb = NULL;

	fixture_open(&f, "shred-legacy");
	CHECK(asprintf(&mdb, "%s/data.mdb", f.arch_dir) > 0);
	archive_test_set_legacy(f.a, true);
	fixture_put(&f, 1, old);
	archive_test_set_legacy(f.a, false);
	fixture_put(&f, 2, new);
	CHECK_RET(archive_test_key_record(f.a, old, rec), MU_E_NOTFOUND);
	CHECK_OK(archive_test_key_record(f.a, new, rec));
	fixture_reopen(&f);
	CHECK_OK(archive_get(f.a, old, &it, content, sizeof(content), &clen, got, sizeof(got), &elen));
	len = fixture_bundle(&f, 1, enc, sizeof(enc), old);
	CHECK(it.version == ARCHIVE_VERSION_LEGACY && clen == 9 && !memcmp(content, "content 1", 9));
	CHECK(elen == len && !memcmp(got, enc, len));
	expect_content(f.a, new, 2);
	close_archive(&f);
	/* Version 1 keeps the bundle in clear: its signature is in the file. */
	CHECK(file_has(mdb, enc + len - MU_SIG_BYTES, MU_SIG_BYTES));
	fixture_reopen(&f);

	CHECK_OK(archive_erase_ex(f.a, old, 70, &shredded));
	CHECK(!shredded);
	CHECK_OK(archive_get(f.a, old, &it, NULL, 0, NULL, NULL, 0, NULL));
	CHECK(it.flags == ARCHIVE_F_ERASED && it.version == ARCHIVE_VERSION_LEGACY);
	CHECK_OK(archive_erase_ex(f.a, new, 71, &shredded));
	CHECK(shredded);
	CHECK_OK(archive_get(f.a, new, &it, content, sizeof(content), &clen, NULL, 0, NULL));
	CHECK(it.flags == (ARCHIVE_F_ERASED | ARCHIVE_F_SHREDDED) && clen == 0);
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.erased == 2 && st.shredded == 1);
	expect_verified(&f, 4);
	free(mdb);
	fixture_close(&f);
}

/* An aborted erase batch changes nothing: keys, content and chain. */
static void test_batch_abort(void)
{
	struct fixture f;
	uint8_t id[3][32], rec[ARCHIVE_KEYREC_BYTES], put_id[32], enc[512];
	struct archive_stat st;
	size_t len;

	fixture_open(&f, "shred-abort");
	for (unsigned i = 0; i < 3; i++)
		fixture_put(&f, i, id[i]);
	CHECK_OK(archive_begin(f.a));
	CHECK_OK(archive_erase(f.a, id[0], 80));
	CHECK_OK(archive_erase(f.a, id[1], 80));
	fixture_put(&f, 7, put_id);
	CHECK_OK(archive_test_key_record(f.a, put_id, rec));
	archive_abort(f.a);
	for (unsigned i = 0; i < 3; i++) {
		expect_content(f.a, id[i], i);
		CHECK_OK(archive_test_key_record(f.a, id[i], rec));
	}
	/* The put's key went with the batch. */
	CHECK_RET(archive_test_key_record(f.a, put_id, rec), MU_E_NOTFOUND);
	len = fixture_bundle(&f, 7, enc, sizeof(enc), put_id);
	CHECK_OK(archive_put(f.a, enc, len, (const uint8_t *)"content 7", 9, 81));
	expect_content(f.a, put_id, 7);
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.erased == 0 && st.shredded == 0 && st.items == 4);
	fixture_reopen(&f);
	expect_verified(&f, 4);
	fixture_close(&f);
}

/* A crash after the keys committed and before the archive did: the
 * content is already unreadable, nothing says erased yet, and the next
 * open completes the erasure (stubs, entries, compaction). Items outside
 * the batch are untouched. */
static void test_crash_between(void)
{
	struct fixture f;
	uint8_t id[3][32], rec[2][ARCHIVE_KEYREC_BYTES], content[64];
	struct archive_stat st;
	struct archive_item it;
	size_t clen = 0;
	char *kf;

	fixture_open(&f, "shred-crash");
	kf = keys_file(&f);
	for (unsigned i = 0; i < 3; i++)
		fixture_put(&f, i, id[i]);
	CHECK_OK(archive_test_key_record(f.a, id[0], rec[0]));
	CHECK_OK(archive_test_key_record(f.a, id[2], rec[1]));
	CHECK_OK(archive_begin(f.a));
	CHECK_OK(archive_erase(f.a, id[0], 90));
	CHECK_OK(archive_erase(f.a, id[2], 90));
	archive_test_crash_commit(f.a, 1);
	CHECK_RET(archive_commit(f.a), MU_E_STORE);
	CHECK_RET(archive_get(f.a, id[0], NULL, content, sizeof(content), &clen, NULL, 0, NULL), MU_E_PASS);
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.erased == 0 && st.last_seq == 3);

	fixture_reopen(&f);
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.erased == 2 && st.shredded == 2 && st.last_seq == 5);
	CHECK_OK(archive_get(f.a, id[2], &it, content, sizeof(content), &clen, NULL, 0, NULL));
	CHECK(it.flags == (ARCHIVE_F_ERASED | ARCHIVE_F_SHREDDED) && clen == 0);
	expect_content(f.a, id[1], 1);
	expect_verified(&f, 5);
	close_archive(&f);
	CHECK(!file_has(kf, rec[0], sizeof(rec[0])) && !file_has(kf, rec[1], sizeof(rec[1])));
	/* Completed once: a further open changes nothing. */
	fixture_reopen(&f);
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.erased == 2 && st.last_seq == 5);
	free(kf);
	fixture_close(&f);
}

/* A restore that forgot the keys environment is refused, not opened as
 * an archive whose every item looks shredded. */
static void test_keys_missing(void)
{
	struct fixture f;
	struct archive *a = NULL;
	uint8_t id[32];
	char *kd, *moved = NULL;
	struct stat st;

	fixture_open(&f, "shred-missing");
	kd = keys_dir(&f);
	CHECK(stat(kd, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	fixture_put(&f, 1, id);
	close_archive(&f);
	CHECK(asprintf(&moved, "%s.moved", kd) > 0);
	CHECK(rename(kd, moved) == 0);
	CHECK_RET(archive_open(&a, f.arch_dir, f.key_path, f.keyfile, f.node, 64ull << 20), MU_E_PASS);
	CHECK(a == NULL);
	CHECK(rmdir(kd) == 0); /* the refused open left an empty directory, no file */
	CHECK(rename(moved, kd) == 0);
	fixture_reopen(&f);
	expect_content(f.a, id, 1);
	free(kd);
	free(moved);
	fixture_close(&f);
}

/* The sealed bundle is bound to its item: a record's sealed bundle or
 * content altered, or the two swapped, fails to open. */
static void test_sealed_altered(void)
{
	struct fixture f;
	uint8_t id[32], rec[ARCHIVE_REC_MAX], enc[BUNDLE_ENC_MAX], content[64];
	size_t len = 0, elen = 0, clen = 0;

	fixture_open(&f, "shred-altered");
	fixture_put(&f, 1, id);
	CHECK_OK(archive_test_raw_get(f.a, "items", id, 32, rec, sizeof(rec), &len));
	/* 69 fixed bytes, dest lv8 (empty), the bundle's length u32: byte 74
	 * starts its nonce, 24 bytes later its ciphertext. */
	rec[74 + 24 + 10] ^= 1;
	CHECK_OK(archive_test_raw_put(f.a, "items", id, 32, rec, len));
	CHECK_RET(archive_get(f.a, id, NULL, NULL, 0, NULL, enc, sizeof(enc), &elen), MU_E_SIG);
	CHECK_OK(archive_get(f.a, id, NULL, content, sizeof(content), &clen, NULL, 0, NULL));
	fixture_close(&f);
}

/* Map full (the keys environment's map is ARCHIVE_KEYS_MAP of the
 * archive's, so the archive fills first): the failing put leaves neither
 * record nor key, and everything before it still reads. */
static void test_map_full(void)
{
	struct fixture f;
	struct archive_verify v;
	uint8_t enc[512], id[32], first[32], rec[ARCHIVE_KEYREC_BYTES];
	unsigned i;
	size_t len;
	int ret = 0;

	fixture_open(&f, "shred-full");
	archive_close(f.a);
	CHECK_OK(archive_open(&f.a, f.arch_dir, f.key_path, f.keyfile, f.node, 256u << 10));
	for (i = 0; i < 100000 && !ret; i++) {
		len = fixture_bundle(&f, i, enc, sizeof(enc), id);
		ret = archive_put(f.a, enc, len, (const uint8_t *)"content", 7, 1);
		if (i == 0)
			memcpy(first, id, 32);
	}
	CHECK(ret == MU_E_QUOTA && i > 20);
	CHECK_RET(archive_get(f.a, id, NULL, NULL, 0, NULL, NULL, 0, NULL), MU_E_NOTFOUND);
	CHECK_RET(archive_test_key_record(f.a, id, rec), MU_E_NOTFOUND);
	CHECK_OK(archive_test_key_record(f.a, first, rec));
	CHECK_OK(archive_audit_verify(f.a, identity_sign_pk(f.node), &v));
	CHECK(v.entries == i - 1);
	fixture_close(&f);
}

static const struct test tests[] = {
    {"/archive/shred/map-full", test_map_full},
    {"/archive/shred/backup-unreadable", test_backup_shredded},
    {"/archive/shred/compaction", test_compaction},
    {"/archive/shred/legacy-records", test_legacy_records},
    {"/archive/shred/batch-abort", test_batch_abort},
    {"/archive/shred/crash-between-commits", test_crash_between},
    {"/archive/shred/keys-env-missing", test_keys_missing},
    {"/archive/shred/sealed-altered", test_sealed_altered},
};

TEST_MAIN(tests)
