/* Attachment codec and chunk crypto (node/attach.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "attach.h"
#include "bundle.h"
#include "envelope.h"
#include "err.h"
#include "testutil.h"

static uint8_t hashes[ATTACH_CHUNKS_MAX][ATTACH_HASH_BYTES];
static uint8_t payload[ATTACH_CHUNK_PAYLOAD_MAX];
static uint8_t plain[ATTACH_CHUNK_BYTES], back[ATTACH_CHUNK_BYTES];
static uint8_t menc[ATTACH_MANIFEST_MAX + 64];

/* Deterministic file bytes: byte k of the file. */
static uint8_t file_byte(uint64_t k)
{
	return (uint8_t)((k * 2654435761u) >> 13);
}

static void fill_chunk(const struct attach_manifest *m, uint32_t i)
{
	size_t len = attach_chunk_len(m, i);

	for (size_t k = 0; k < len; k++)
		plain[k] = file_byte((uint64_t)i * ATTACH_CHUNK_BYTES + k);
}

static void make_manifest(struct attach_manifest *m, uint64_t size)
{
	memset(m, 0, sizeof(*m));
	randombytes_buf(m->id, sizeof(m->id));
	randombytes_buf(m->key, sizeof(m->key));
	m->size = size;
	m->chunk_bytes = ATTACH_CHUNK_BYTES;
	m->count = attach_chunks_for(size);
	m->hashes = &hashes[0][0];
	strcpy(m->name, "photo.jpg");
	strcpy(m->mime, "image/jpeg");
	m->caption = (const uint8_t *)"left leg, scene B";
	m->caption_len = strlen("left leg, scene B");
}

/* Splits a file of size bytes, round-trips the manifest, then opens every
 * chunk against the decoded manifest and compares with the file. */
static void round_trip(uint64_t size)
{
	struct attach_manifest m, d;
	uint64_t total = 0;
	int len;

	make_manifest(&m, size);
	/* seal every chunk first (its hash goes in the manifest) ... */
	for (uint32_t i = 0; i < m.count; i++) {
		fill_chunk(&m, i);
		CHECK_LEN(attach_chunk_seal(payload, sizeof(payload), hashes[i], m.id, m.key, i, m.count, plain,
					    attach_chunk_len(&m, i)));
	}
	len = CHECK_LEN(attach_manifest_encode(menc, sizeof(menc), &m));
	CHECK_OK(attach_manifest_decode(&d, menc, (size_t)len));
	CHECK(d.size == size && d.count == m.count && !strcmp(d.name, "photo.jpg") && !strcmp(d.mime, "image/jpeg"));
	CHECK(d.caption_len == m.caption_len && !memcmp(d.caption, m.caption, m.caption_len));
	/* ... then reassemble (chunks re-sealed identically: the key and
	 * nonce are fixed per index, so the hash must match again). */
	for (uint32_t i = 0; i < d.count; i++) {
		uint8_t h[ATTACH_HASH_BYTES];
		size_t got = 0;
		int plen;

		fill_chunk(&m, i);
		plen = CHECK_LEN(attach_chunk_seal(payload, sizeof(payload), h, m.id, m.key, i, m.count, plain,
						   attach_chunk_len(&m, i)));
		CHECK_OK(attach_chunk_open(back, sizeof(back), &got, &d, i, payload, (size_t)plen));
		CHECK(got == attach_chunk_len(&d, i) && !memcmp(back, plain, got));
		total += got;
	}
	CHECK(total == size);
}

static void test_round_trip(void)
{
	round_trip(1);
	round_trip(ATTACH_CHUNK_BYTES);
	round_trip(ATTACH_CHUNK_BYTES + 1);
	round_trip(3 * ATTACH_CHUNK_BYTES - 7);
}

static void test_max(void)
{
	struct attach_manifest m;

	/* The largest attachment: its manifest fits one envelope for the most
	 * recipients inside one bundle payload. */
	CHECK(ENVELOPE_OVERHEAD(ENVELOPE_RECIPIENTS_MAX) + 1 + ATTACH_MANIFEST_MAX <= BUNDLE_PAYLOAD_MAX);
	CHECK(ATTACH_CHUNK_PAYLOAD_MAX <= BUNDLE_PAYLOAD_MAX);
	CHECK(attach_chunks_for(ATTACH_BYTES_MAX) == ATTACH_CHUNKS_MAX);
	round_trip(ATTACH_BYTES_MAX);
	/* one byte more is refused */
	make_manifest(&m, ATTACH_BYTES_MAX + 1);
	CHECK(m.count == ATTACH_CHUNKS_MAX + 1);
	CHECK_RET(attach_manifest_encode(menc, sizeof(menc), &m), MU_E_TOOBIG);
}

static void test_tampered_chunk(void)
{
	struct attach_manifest m, d;
	uint8_t good[ATTACH_CHUNK_PAYLOAD_MAX];
	size_t got;
	int len, plen = 0;

	make_manifest(&m, 2 * ATTACH_CHUNK_BYTES);
	for (uint32_t i = 0; i < m.count; i++) {
		fill_chunk(&m, i);
		plen = CHECK_LEN(attach_chunk_seal(payload, sizeof(payload), hashes[i], m.id, m.key, i, m.count, plain,
						   attach_chunk_len(&m, i)));
	}
	memcpy(good, payload, (size_t)plen); /* chunk 1 */
	len = CHECK_LEN(attach_manifest_encode(menc, sizeof(menc), &m));
	CHECK_OK(attach_manifest_decode(&d, menc, (size_t)len));

	/* one ciphertext byte flipped: refused by hash, nothing written */
	payload[ATTACH_CHUNK_HDR_BYTES + 100] ^= 1;
	memset(back, 0xee, sizeof(back));
	CHECK_RET(attach_chunk_open(back, sizeof(back), &got, &d, 1, payload, (size_t)plen), MU_E_MISMATCH);
	CHECK(got == 0);
	CHECK_RET(attach_chunk_check(&d, 1, payload, (size_t)plen), MU_E_MISMATCH);
	/* the right chunk offered for the wrong index */
	CHECK_RET(attach_chunk_check(&d, 0, good, (size_t)plen), MU_E_MISMATCH);
	/* the good copy arriving later is still taken */
	CHECK_OK(attach_chunk_open(back, sizeof(back), &got, &d, 1, good, (size_t)plen));
	fill_chunk(&m, 1);
	CHECK(got == ATTACH_CHUNK_BYTES && !memcmp(back, plain, got));

	/* A sender that lists a chunk it did not encrypt under the key: the
	 * hash matches (it is what was signed) but the AEAD refuses it. */
	{
		uint8_t other[ATTACH_KEY_BYTES];

		randombytes_buf(other, sizeof(other));
		plen = CHECK_LEN(attach_chunk_seal(payload, sizeof(payload), hashes[1], m.id, other, 1, m.count, plain,
						   ATTACH_CHUNK_BYTES));
		len = CHECK_LEN(attach_manifest_encode(menc, sizeof(menc), &m));
		CHECK_OK(attach_manifest_decode(&d, menc, (size_t)len));
		CHECK_OK(attach_chunk_check(&d, 1, payload, (size_t)plen));
		CHECK_RET(attach_chunk_open(back, sizeof(back), &got, &d, 1, payload, (size_t)plen), MU_E_SIG);
	}
	/* a truncated chunk */
	CHECK_RET(attach_chunk_header(payload, ATTACH_CHUNK_HDR_BYTES + 3, (uint8_t[ATTACH_ID_BYTES]){ 0 },
				      &(uint32_t){ 0 }, &(uint32_t){ 0 }),
		  MU_E_FORMAT);
}

static void test_manifest_errors(void)
{
	struct attach_manifest m, d;
	int len;

	make_manifest(&m, 5 * ATTACH_CHUNK_BYTES);
	len = CHECK_LEN(attach_manifest_encode(menc, sizeof(menc), &m));
	/* one hash missing, one hash extra */
	CHECK_RET(attach_manifest_decode(&d, menc, (size_t)len - ATTACH_HASH_BYTES), MU_E_FORMAT);
	CHECK_RET(attach_manifest_decode(&d, menc, (size_t)len + ATTACH_HASH_BYTES), MU_E_FORMAT);
	CHECK(d.count == 0 && d.hashes == NULL); /* zeroed on failure */
	/* every truncation refused */
	for (int cut = 0; cut < len; cut += 7)
		CHECK(attach_manifest_decode(&d, menc, (size_t)cut) != 0);
	/* a count that does not match the size */
	menc[1 + ATTACH_ID_BYTES + 8 + 4 + 3] = 4;
	CHECK_RET(attach_manifest_decode(&d, menc, (size_t)len - ATTACH_HASH_BYTES), MU_E_FORMAT);
	menc[1 + ATTACH_ID_BYTES + 8 + 4 + 3] = 5;
	CHECK_OK(attach_manifest_decode(&d, menc, (size_t)len));
	/* a NUL inside the name ("photo.jpg" starts after the fixed fields) */
	menc[ATTACH_MANIFEST_FIXED - 4 + 1 + 3] = 0;
	CHECK_RET(attach_manifest_decode(&d, menc, (size_t)len), MU_E_FORMAT);
	menc[ATTACH_MANIFEST_FIXED - 4 + 1 + 3] = 't';
	CHECK_OK(attach_manifest_decode(&d, menc, (size_t)len));
	menc[0] = 2;
	CHECK_RET(attach_manifest_decode(&d, menc, (size_t)len), MU_E_VERSION);
	/* empty files are refused */
	make_manifest(&m, 0);
	CHECK_RET(attach_manifest_encode(menc, sizeof(menc), &m), MU_E_FORMAT);
	/* names and types the decoder refuses are refused on encode too */
	make_manifest(&m, 10);
	strcpy(m.name, "../etc/passwd");
	CHECK_RET(attach_manifest_encode(menc, sizeof(menc), &m), MU_E_FORMAT);
	make_manifest(&m, 10);
	strcpy(m.mime, "image");
	CHECK_RET(attach_manifest_encode(menc, sizeof(menc), &m), MU_E_FORMAT);
	make_manifest(&m, 10);
	m.caption_len = ATTACH_CAPTION_MAX + 1;
	m.caption = menc;
	CHECK(attach_manifest_encode(menc + 2048, sizeof(menc) - 2048, &m) < 0);
}

static void test_names(void)
{
	char out[ATTACH_NAME_MAX + 1], longname[300];

	attach_name_sanitise(out, "/home/a/IMG 0001 (2).JPG");
	CHECK(!strcmp(out, "IMG_0001__2_.JPG") && attach_name_ok(out));
	attach_name_sanitise(out, "/tmp/.hidden");
	CHECK(!strcmp(out, "_hidden") && attach_name_ok(out));
	attach_name_sanitise(out, "/tmp/dir/");
	CHECK(!strcmp(out, "attachment"));
	attach_name_sanitise(out, "/tmp/caf\xc3\xa9.txt");
	CHECK(!strcmp(out, "caf__.txt"));
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	attach_name_sanitise(out, longname);
	CHECK(strlen(out) == ATTACH_NAME_MAX && attach_name_ok(out));
	CHECK(!attach_name_ok("") && !attach_name_ok(".x") && !attach_name_ok("a/b") && !attach_name_ok("a b"));
	CHECK(!strcmp(attach_mime_guess("photo.JPG"), "image/jpeg"));
	CHECK(!strcmp(attach_mime_guess("note.opus"), "audio/ogg"));
	CHECK(!strcmp(attach_mime_guess("report.pdf"), "application/pdf"));
	CHECK(!strcmp(attach_mime_guess("noext"), "application/octet-stream"));
	CHECK(!strcmp(attach_mime_guess(".jpg"), "application/octet-stream"));
	CHECK(attach_mime_ok("image/jpeg") && attach_mime_ok("application/vnd.oasis.opendocument.text"));
	CHECK(!attach_mime_ok("Image/JPEG") && !attach_mime_ok("a/b/c") && !attach_mime_ok("/x") &&
	      !attach_mime_ok("text/"));
}

static const struct test tests[] = {
	{ "/attach/round-trip", test_round_trip },
	{ "/attach/max", test_max },
	{ "/attach/tampered-chunk", test_tampered_chunk },
	{ "/attach/manifest-errors", test_manifest_errors },
	{ "/attach/names", test_names },
};

TEST_MAIN(tests)
