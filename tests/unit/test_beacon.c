/* The beacon codec: round trip, the published vector in docs/transport.md,
 * and every way a beacon is rejected. */
#include "testutil.h"

#include <sodium.h>

#include "beacon.h"
#include "hex.h"
#include "identity.h"
#include "wire.h"

/* Offsets of the byte table in docs/transport.md, written out independently
 * of beacon.c so a layout change shows up here. */
#define OFF_VERSION 3
#define OFF_KEY     4
#define OFF_PORT    36
#define OFF_TS      38
#define OFF_NONCE   46
#define OFF_SIG     54
#define LEN         118

/* The documented vector: node key from 32 bytes of 0x04, TCP port 7420,
 * 2026-06-01T12:00:00Z, nonce 00..07. */
#define V_SEED 0x04
#define V_PORT 7420
#define V_TS   1780315200000ull

static struct mu_identity *ident(uint8_t fill)
{
	struct mu_identity *id = NULL;
	uint8_t seed[32];

	memset(seed, fill, sizeof(seed));
	CHECK_OK(identity_from_seed(&id, seed));
	return id;
}

static struct beacon vector_fields(const struct mu_identity *id)
{
	struct beacon b = {.port = V_PORT, .ts_ms = V_TS};

	memcpy(b.key, identity_sign_pk(id), MU_KEY_BYTES);
	for (int i = 0; i < BEACON_NONCE_BYTES; i++)
		b.nonce[i] = (uint8_t)i;
	return b;
}

static void encode_vector(uint8_t out[static LEN])
{
	struct mu_identity *id = ident(V_SEED);
	struct beacon b = vector_fields(id);

	CHECK_OK(beacon_encode(out, &b, id));
	identity_free(id);
}

static int same(const struct beacon *a, const struct beacon *b)
{
	return !memcmp(a->key, b->key, MU_KEY_BYTES) && a->port == b->port && a->ts_ms == b->ts_ms &&
	       !memcmp(a->nonce, b->nonce, BEACON_NONCE_BYTES);
}

static int is_zero(const struct beacon *b)
{
	static const struct beacon z;

	return same(b, &z);
}

static void test_sizes(void)
{
	CHECK(BEACON_BYTES == LEN);
	CHECK(BEACON_SIGNED_BYTES == OFF_SIG);
}

static void test_roundtrip(void)
{
	struct mu_identity *id = ident(0x11);
	struct beacon b = {.port = 65535, .ts_ms = UINT64_MAX - 1}, got;
	uint8_t enc[LEN];

	memcpy(b.key, identity_sign_pk(id), MU_KEY_BYTES);
	randombytes_buf(b.nonce, sizeof(b.nonce));
	CHECK_OK(beacon_encode(enc, &b, id));
	CHECK(!memcmp(enc, "MUB", 3));
	CHECK(enc[OFF_VERSION] == 1);
	CHECK(!memcmp(enc + OFF_KEY, b.key, MU_KEY_BYTES));
	CHECK(enc[OFF_PORT] == 0xff && enc[OFF_PORT + 1] == 0xff);
	CHECK(get_be64(enc + OFF_TS) == b.ts_ms);
	CHECK(!memcmp(enc + OFF_NONCE, b.nonce, BEACON_NONCE_BYTES));
	CHECK_OK(mu_verify(b.key, enc + OFF_SIG, enc, OFF_SIG));
	CHECK_OK(beacon_decode(&got, enc, sizeof(enc)));
	CHECK(same(&b, &got));
	identity_free(id);
}

static void test_encode_rejects(void)
{
	struct mu_identity *id = ident(0x11), *other = ident(0x12);
	struct beacon b = {.port = 1, .ts_ms = 5};
	uint8_t enc[LEN];

	memcpy(b.key, identity_sign_pk(other), MU_KEY_BYTES);
	CHECK_RET(beacon_encode(enc, &b, id), MU_E_MISMATCH);
	for (int i = 0; i < LEN; i++)
		CHECK(enc[i] == 0);
	memcpy(b.key, identity_sign_pk(id), MU_KEY_BYTES);
	b.port = 0;
	CHECK_RET(beacon_encode(enc, &b, id), MU_E_FORMAT);
	identity_free(id);
	identity_free(other);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		fprintf(stderr, "cannot read %s\n", path);
	CHECK(f);
	CHECK(fseek(f, 0, SEEK_END) == 0);
	n = ftell(f);
	CHECK(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	CHECK(buf);
	CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* Hex of the fenced block that starts with "vector: name", whitespace
 * removed; NULL if absent. */
static char *doc_vector(const char *doc, const char *name)
{
	char label[64];
	const char *p, *end;
	char *hex, *o;

	snprintf(label, sizeof(label), "```\nvector: %s\n", name);
	p = strstr(doc, label);
	if (!p)
		return NULL;
	CHECK(!strstr(p + 1, label)); /* exactly once */
	p += strlen(label);
	end = strstr(p, "```");
	CHECK(end);
	hex = o = malloc((size_t)(end - p) + 1);
	CHECK(hex);
	for (; p < end; p++)
		if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r')
			*o++ = *p;
	*o = 0;
	return hex;
}

static void test_vector_doc(void)
{
	char *doc = read_all(MU_TRANSPORT_MD);
	char *hex = doc_vector(doc, "beacon"), *pk_hex = doc_vector(doc, "beacon-node-sign-pk");
	struct mu_identity *id = ident(V_SEED);
	struct beacon want = vector_fields(id), got;
	uint8_t enc[LEN], doc_bytes[LEN], pk[MU_KEY_BYTES];

	if (!hex || !pk_hex)
		fprintf(stderr, "docs/transport.md lacks the 'beacon' or 'beacon-node-sign-pk' vector\n");
	CHECK(hex && pk_hex);
	encode_vector(enc);
	if (strlen(hex) != 2 * LEN || hex_decode(doc_bytes, LEN, hex) || memcmp(doc_bytes, enc, LEN)) {
		char now[2 * LEN + 1];

		hex_encode(now, enc, LEN);
		fprintf(stderr,
			"docs/transport.md vector 'beacon' differs from the code:\n doc  %s\n code %s\n", hex,
			now);
		CHECK(0);
	}
	CHECK_OK(hex_decode(pk, MU_KEY_BYTES, pk_hex));
	CHECK(!memcmp(pk, identity_sign_pk(id), MU_KEY_BYTES));
	CHECK_OK(beacon_decode(&got, doc_bytes, LEN));
	CHECK(same(&want, &got));
	identity_free(id);
	free(hex);
	free(pk_hex);
	free(doc);
}

static void test_tampered(void)
{
	uint8_t enc[LEN];
	struct beacon b;

	encode_vector(enc);
	/* Every bit of key, port, time, nonce and signature is covered: a
	 * flip anywhere after the version is a bad signature (or port 0). */
	for (int i = OFF_KEY; i < LEN; i++) {
		for (int bit = 0; bit < 8; bit++) {
			int ret;

			enc[i] ^= (uint8_t)(1u << bit);
			ret = beacon_decode(&b, enc, LEN);
			CHECK(ret == MU_E_SIG || (ret == MU_E_FORMAT && i >= OFF_PORT && i < OFF_TS));
			CHECK(is_zero(&b));
			enc[i] ^= (uint8_t)(1u << bit);
		}
	}
	CHECK_OK(beacon_decode(&b, enc, LEN));
}

static void test_magic_version(void)
{
	uint8_t enc[LEN];
	struct beacon b;

	encode_vector(enc);
	for (int i = 0; i < 3; i++) {
		enc[i] ^= 0x20;
		CHECK_RET(beacon_decode(&b, enc, LEN), MU_E_FORMAT);
		CHECK(is_zero(&b));
		enc[i] ^= 0x20;
	}
	enc[OFF_VERSION] = 2;
	CHECK_RET(beacon_decode(&b, enc, LEN), MU_E_VERSION);
	/* A later version may be another length; it is still a version. */
	CHECK_RET(beacon_decode(&b, enc, 10), MU_E_VERSION);
	enc[OFF_VERSION] = 0;
	CHECK_RET(beacon_decode(&b, enc, LEN), MU_E_VERSION);
}

static void test_truncated(void)
{
	uint8_t enc[LEN], *copy;
	struct beacon b;

	encode_vector(enc);
	/* Each length in its own allocation so ASan sees any over-read. */
	for (size_t n = 0; n < LEN; n++) {
		copy = malloc(n ? n : 1);
		CHECK(copy);
		memcpy(copy, enc, n);
		CHECK_RET(beacon_decode(&b, copy, n), MU_E_FORMAT);
		CHECK(is_zero(&b));
		free(copy);
	}
	CHECK_RET(beacon_decode(&b, NULL, 0), MU_E_FORMAT);
}

static void test_trailing(void)
{
	uint8_t enc[LEN + 16] = {0};
	struct beacon b;

	encode_vector(enc);
	for (size_t extra = 1; extra <= 16; extra++)
		CHECK_RET(beacon_decode(&b, enc, LEN + extra), MU_E_FORMAT);
	CHECK_OK(beacon_decode(&b, enc, LEN));
}

static void test_port_zero(void)
{
	struct mu_identity *id = ident(V_SEED);
	uint8_t enc[LEN];
	struct beacon b;

	/* Correctly signed, but advertises no port. */
	encode_vector(enc);
	enc[OFF_PORT] = enc[OFF_PORT + 1] = 0;
	CHECK_OK(identity_sign(id, enc + OFF_SIG, enc, OFF_SIG));
	CHECK_RET(beacon_decode(&b, enc, LEN), MU_E_FORMAT);
	identity_free(id);
}

static void test_judge(void)
{
	const uint64_t skew = 300000, now = V_TS;
	struct mu_identity *id = ident(V_SEED), *me = ident(0x21);
	struct beacon b = vector_fields(id);

	CHECK(beacon_judge(&b, identity_sign_pk(me), now, skew) == BEACON_ACCEPT);
	CHECK(beacon_judge(&b, identity_sign_pk(id), now, skew) == BEACON_OWN);
	b.ts_ms = now - skew;
	CHECK(beacon_judge(&b, identity_sign_pk(me), now, skew) == BEACON_ACCEPT);
	b.ts_ms = now - skew - 1;
	CHECK(beacon_judge(&b, identity_sign_pk(me), now, skew) == BEACON_STALE);
	b.ts_ms = 0;
	CHECK(beacon_judge(&b, identity_sign_pk(me), now, skew) == BEACON_STALE);
	b.ts_ms = now + skew;
	CHECK(beacon_judge(&b, identity_sign_pk(me), now, skew) == BEACON_ACCEPT);
	b.ts_ms = now + skew + 1;
	CHECK(beacon_judge(&b, identity_sign_pk(me), now, skew) == BEACON_FUTURE);
	b.ts_ms = UINT64_MAX;
	CHECK(beacon_judge(&b, identity_sign_pk(me), now, skew) == BEACON_FUTURE);
	/* Our own key is ignored whatever its time. */
	CHECK(beacon_judge(&b, identity_sign_pk(id), now, skew) == BEACON_OWN);
	identity_free(id);
	identity_free(me);
}

static const struct test tests[] = {
    {"/beacon/layout/sizes", test_sizes},
    {"/beacon/encode/roundtrip", test_roundtrip},
    {"/beacon/encode/rejects", test_encode_rejects},
    {"/beacon/vector/transport-md", test_vector_doc},
    {"/beacon/decode/tampered", test_tampered},
    {"/beacon/decode/magic-version", test_magic_version},
    {"/beacon/decode/truncated-every-length", test_truncated},
    {"/beacon/decode/trailing", test_trailing},
    {"/beacon/decode/port-zero", test_port_zero},
    {"/beacon/judge/own-stale-future", test_judge},
};

TEST_MAIN(tests)
