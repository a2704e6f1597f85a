/* The audit chain: entry codec and signatures; a 1000-entry chain
 * verifies; flipping any byte of an entry, deleting, reordering or
 * inserting entries, editing, deleting or adding an archived item's record,
 * and another signer are each detected at the right seq, and undoing the
 * change makes the chain verify again (so the detection is the change's). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "archive_fixture.h"
#include "audit.h"
#include "testutil.h"
#include "wire.h"

static void test_entry_codec(void)
{
	struct mu_identity *id = NULL, *other = NULL;
	struct audit_entry e = {.event = AUDIT_ARCHIVED, .seq = 7, .time = 1234}, d;
	uint8_t enc[AUDIT_ENTRY_BYTES], h1[32], h2[32];

	CHECK_OK(mu_crypto_init());
	CHECK_OK(identity_generate(&id));
	CHECK_OK(identity_generate(&other));
	memset(e.id, 1, 32);
	memset(e.digest, 2, 32);
	memset(e.prev, 3, 32);
	CHECK_OK(audit_entry_sign(&e, id));
	audit_entry_encode(enc, &e);
	CHECK(enc[0] == AUDIT_VERSION && enc[1] == AUDIT_ARCHIVED && get_be64(enc + 2) == 7);
	CHECK_OK(audit_entry_decode(&d, enc, sizeof(enc)));
	CHECK(!memcmp(&d.sig, &e.sig, 64) && d.seq == 7 && d.time == 1234 && !memcmp(d.prev, e.prev, 32));
	CHECK_OK(audit_entry_check(&d, identity_sign_pk(id)));
	CHECK_RET(audit_entry_check(&d, identity_sign_pk(other)), MU_E_SIG);
	audit_entry_hash(h1, &d);
	d.time++;
	audit_entry_hash(h2, &d);
	CHECK(memcmp(h1, h2, 32));
	CHECK_RET(audit_entry_check(&d, identity_sign_pk(id)), MU_E_SIG);
	/* Bad input. */
	CHECK_RET(audit_entry_decode(&d, enc, sizeof(enc) - 1), MU_E_FORMAT);
	CHECK(d.seq == 0);
	enc[0] = 2;
	CHECK_RET(audit_entry_decode(&d, enc, sizeof(enc)), MU_E_VERSION);
	enc[0] = AUDIT_VERSION;
	enc[1] = 9;
	CHECK_RET(audit_entry_decode(&d, enc, sizeof(enc)), MU_E_FORMAT);
	enc[1] = AUDIT_EXPORTED;
	memset(enc + 2, 0, 8);
	CHECK_RET(audit_entry_decode(&d, enc, sizeof(enc)), MU_E_FORMAT); /* seq 0 */
	CHECK(audit_event_name(AUDIT_ERASED) && !strcmp(audit_event_name(AUDIT_VERIFIED), "verified"));
	CHECK(audit_event_name(0) == NULL);
	identity_free(id);
	identity_free(other);
}

static void build(struct fixture *f, const char *tag, unsigned n, uint8_t (*ids)[32])
{
	fixture_open(f, tag);
	CHECK_OK(archive_begin(f->a));
	for (unsigned i = 0; i < n; i++)
		fixture_put(f, i, ids[i]);
	CHECK_OK(archive_commit(f->a));
}

/* Verifies and expects failure at bad (0 = success). */
static void expect(struct fixture *f, uint64_t bad)
{
	struct archive_verify v;
	int ret = archive_audit_verify(f->a, identity_sign_pk(f->node), &v);

	if (!bad) {
		CHECK_OK(ret);
		CHECK(v.bad_seq == 0 && v.why == NULL);
		return;
	}
	if (ret != MU_E_MISMATCH && ret != MU_E_SIG) {
		fprintf(stderr, "expected failure at %llu, got %d (%s)\n", (unsigned long long)bad, ret,
			mu_strerror(ret));
		CHECK(0);
	}
	if (v.bad_seq != bad) {
		fprintf(stderr, "expected bad seq %llu, got %llu (%s)\n", (unsigned long long)bad,
			(unsigned long long)v.bad_seq, v.why);
		CHECK(0);
	}
	/* Entries before the bad one verified (all of them, when what is bad
	 * is an item that claims an entry). */
	CHECK(v.why && v.entries >= bad - 1);
}

static void key_of(uint8_t k[8], uint64_t seq)
{
	put_be64(k, seq);
}

static void test_chain_1000(void)
{
	struct fixture f;
	static uint8_t ids[1000][32];
	struct archive_verify v;
	struct archive_stat st;
	uint8_t k[8], enc[AUDIT_ENTRY_BYTES];
	size_t len;

	build(&f, "audit-1000", 1000, ids);
	CHECK_OK(archive_audit_verify(f.a, identity_sign_pk(f.node), &v));
	CHECK(v.entries == 1000);
	CHECK_OK(archive_stat(f.a, &st));
	CHECK(st.last_seq == 1000 && !memcmp(st.head, v.head, 32));
	/* Random single-byte changes anywhere in the long chain, each undone
	 * after it is found. */
	srand(1);
	for (int t = 0; t < 12; t++) {
		uint64_t seq = 1 + (uint64_t)(rand() % 1000);
		size_t pos = (size_t)rand() % AUDIT_ENTRY_BYTES;
		uint8_t orig;

		key_of(k, seq);
		CHECK_OK(archive_test_raw_get(f.a, "audit", k, 8, enc, sizeof(enc), &len));
		orig = enc[pos];
		enc[pos] ^= (uint8_t)(1 + rand() % 255);
		CHECK_OK(archive_test_raw_put(f.a, "audit", k, 8, enc, len));
		expect(&f, seq);
		enc[pos] = orig;
		CHECK_OK(archive_test_raw_put(f.a, "audit", k, 8, enc, len));
	}
	CHECK_OK(archive_audit_verify(f.a, identity_sign_pk(f.node), &v));
	/* Another signer's key: the first entry fails. */
	{
		struct mu_identity *other = NULL;

		CHECK_OK(identity_generate(&other));
		CHECK_RET(archive_audit_verify(f.a, identity_sign_pk(other), &v), MU_E_SIG);
		CHECK(v.bad_seq == 1);
		identity_free(other);
	}
	fixture_close(&f);
}

/* Every byte of the first, a middle and the last entry of a short chain. */
static void test_flip_every_byte(void)
{
	struct fixture f;
	uint8_t ids[20][32], k[8], enc[AUDIT_ENTRY_BYTES], orig[AUDIT_ENTRY_BYTES];
	uint64_t seqs[] = {1, 10, 20};
	size_t len;

	build(&f, "audit-flip", 20, ids);
	for (size_t s = 0; s < sizeof(seqs) / sizeof(seqs[0]); s++) {
		key_of(k, seqs[s]);
		CHECK_OK(archive_test_raw_get(f.a, "audit", k, 8, orig, sizeof(orig), &len));
		CHECK(len == AUDIT_ENTRY_BYTES);
		for (size_t pos = 0; pos < len; pos++) {
			memcpy(enc, orig, len);
			enc[pos] ^= 0x01;
			CHECK_OK(archive_test_raw_put(f.a, "audit", k, 8, enc, len));
			expect(&f, seqs[s]);
		}
		CHECK_OK(archive_test_raw_put(f.a, "audit", k, 8, orig, len));
		expect(&f, 0);
	}
	fixture_close(&f);
}

static void test_delete_reorder_insert(void)
{
	struct fixture f;
	uint8_t ids[20][32], k[8], k2[8], e5[AUDIT_ENTRY_BYTES], e6[AUDIT_ENTRY_BYTES];
	size_t l5, l6;

	build(&f, "audit-structure", 20, ids);
	expect(&f, 0);
	/* Delete a middle entry. */
	key_of(k, 5);
	CHECK_OK(archive_test_raw_get(f.a, "audit", k, 8, e5, sizeof(e5), &l5));
	CHECK_OK(archive_test_raw_del(f.a, "audit", k, 8));
	expect(&f, 5);
	CHECK_OK(archive_test_raw_put(f.a, "audit", k, 8, e5, l5));
	expect(&f, 0);
	/* Delete the last entry (the tail): its item is left unaccounted. */
	key_of(k, 20);
	CHECK_OK(archive_test_raw_get(f.a, "audit", k, 8, e6, sizeof(e6), &l6));
	CHECK_OK(archive_test_raw_del(f.a, "audit", k, 8));
	expect(&f, 20);
	/* ... and its item too: the head recorded in meta still tells. */
	CHECK_OK(archive_test_raw_del(f.a, "items", ids[19], 32));
	expect(&f, 20);
	fixture_close(&f);

	build(&f, "audit-structure", 20, ids);
	/* Swap entries 5 and 6. */
	key_of(k, 5);
	key_of(k2, 6);
	CHECK_OK(archive_test_raw_get(f.a, "audit", k, 8, e5, sizeof(e5), &l5));
	CHECK_OK(archive_test_raw_get(f.a, "audit", k2, 8, e6, sizeof(e6), &l6));
	CHECK_OK(archive_test_raw_put(f.a, "audit", k, 8, e6, l6));
	CHECK_OK(archive_test_raw_put(f.a, "audit", k2, 8, e5, l5));
	expect(&f, 5);
	CHECK_OK(archive_test_raw_put(f.a, "audit", k, 8, e5, l5));
	CHECK_OK(archive_test_raw_put(f.a, "audit", k2, 8, e6, l6));
	expect(&f, 0);
	/* An entry copied to the end (a replay) breaks the chain there. */
	key_of(k, 21);
	CHECK_OK(archive_test_raw_put(f.a, "audit", k, 8, e5, l5));
	expect(&f, 21);
	CHECK_OK(archive_test_raw_del(f.a, "audit", k, 8));
	expect(&f, 0);
	fixture_close(&f);
}

static void test_record_tamper(void)
{
	struct fixture f;
	uint8_t ids[20][32], rec[ARCHIVE_REC_MAX], orig[ARCHIVE_REC_MAX], fake[32];
	size_t len, olen;

	build(&f, "audit-record", 20, ids);
	CHECK_OK(archive_test_raw_get(f.a, "items", ids[7], 32, orig, sizeof(orig), &olen));
	/* Every byte of an archived record: metadata, bundle and content. */
	for (size_t pos = 0; pos < olen; pos++) {
		memcpy(rec, orig, olen);
		rec[pos] ^= 0x80;
		CHECK_OK(archive_test_raw_put(f.a, "items", ids[7], 32, rec, olen));
		expect(&f, 8);
	}
	/* Truncated, deleted, then back. */
	CHECK_OK(archive_test_raw_put(f.a, "items", ids[7], 32, orig, olen - 1));
	expect(&f, 8);
	CHECK_OK(archive_test_raw_del(f.a, "items", ids[7], 32));
	expect(&f, 8);
	CHECK_OK(archive_test_raw_put(f.a, "items", ids[7], 32, orig, olen));
	expect(&f, 0);
	/* A record moved under another id, or an item no entry speaks for. */
	CHECK_OK(archive_test_raw_get(f.a, "items", ids[3], 32, rec, sizeof(rec), &len));
	CHECK_OK(archive_test_raw_put(f.a, "items", ids[7], 32, rec, len));
	expect(&f, 8);
	CHECK_OK(archive_test_raw_put(f.a, "items", ids[7], 32, orig, olen));
	memset(fake, 0xee, sizeof(fake));
	CHECK_OK(archive_test_raw_put(f.a, "items", fake, 32, orig, olen));
	expect(&f, 8);
	CHECK_OK(archive_test_raw_del(f.a, "items", fake, 32));
	expect(&f, 0);
	/* An erased stub is checked against its erasure entry. */
	CHECK_OK(archive_erase(f.a, ids[2], 5));
	expect(&f, 0);
	CHECK_OK(archive_test_raw_get(f.a, "items", ids[2], 32, rec, sizeof(rec), &len));
	rec[len - 20] ^= 1; /* inside the stub's sender */
	CHECK_OK(archive_test_raw_put(f.a, "items", ids[2], 32, rec, len));
	expect(&f, 21);
	fixture_close(&f);
}

static const struct test tests[] = {
    {"/audit/entry/codec-sign", test_entry_codec},
    {"/audit/chain/verify-1000", test_chain_1000},
    {"/audit/tamper/flip-every-byte", test_flip_every_byte},
    {"/audit/tamper/delete-reorder-insert", test_delete_reorder_insert},
    {"/audit/tamper/record", test_record_tamper},
};

TEST_MAIN(tests)
