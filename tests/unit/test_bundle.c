/* Bundles: the published message vector and id, round trips for every
 * destination type, the decoder's rejections and the sender signature. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "cred.h"
#include "hex.h"
#include "identity.h"
#include "testutil.h"
#include "wire.h"

#define T_CREATED 1780315200000ull /* 2026-06-01T12:00:00Z */
#define T_DAY 86400000ull

/* docs/protocol.md "vector: message-bundle" and "vector: message-bundle-id" */
static const char message_vector_hex[] =
	"4d42" "01" "01" "01" "08"                         /* magic, version, message, urgent, hops 8 */
	"8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394" /* sender */
	"0000019e830e1a00"                                 /* created */
	"0000019e88347600"                                 /* expires */
	"01" "20"                                          /* dest person, 32 bytes */
	"ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1"
	"0000002e"                                         /* payload length 46 */
	"6578616d706c65207061796c6f616420287265616c207061796c6f6164732061"
	"7265206369706865727465787429"
	"7acff7f83a769d6df5f8d35d8601741b217a036c01fd4c2c062985fda33e9123"
	"20f4d8cb1052368aef894d06cba16e8ade7053a8fbefe0c9711cce75f723cf01"; /* signature */
static const char message_id_hex[] = "72f14ca8fad0396e22050054df5360afda2b816611b1dc30623f9cb9216280a7";

static const char payload_text[] = "example payload (real payloads are ciphertext)";

static struct mu_identity *seed_identity(uint8_t fill)
{
	struct mu_identity *id = NULL;
	uint8_t seed[32];

	memset(seed, fill, sizeof(seed));
	CHECK_OK(identity_from_seed(&id, seed));
	return id;
}

struct fx {
	struct mu_identity *para, *doctor;
	struct bundle b;
	uint8_t enc[1024];
	int len;
};

/* The documented example: an urgent message from the paramedic (seed 0x02)
 * to the doctor (seed 0x03). */
static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->para = seed_identity(0x02);
	f->doctor = seed_identity(0x03);
	f->b.kind = BK_MESSAGE;
	f->b.prio = PRIO_URGENT;
	f->b.hop_limit = 8;
	f->b.created = T_CREATED;
	f->b.expires = T_CREATED + T_DAY;
	f->b.dest_type = DEST_PERSON;
	f->b.dest_len = MU_KEY_BYTES;
	memcpy(f->b.dest, identity_sign_pk(f->doctor), MU_KEY_BYTES);
	f->b.payload = (const uint8_t *)payload_text;
	f->b.payload_len = strlen(payload_text);
	f->len = CHECK_LEN(bundle_seal(f->enc, sizeof(f->enc), &f->b, f->para));
}

static void fx_free(struct fx *f)
{
	identity_free(f->para);
	identity_free(f->doctor);
}

static void check_hex(const uint8_t *got, size_t n, const char *want)
{
	char hex[2 * 1024 + 1];

	CHECK(n <= 1024);
	hex_encode(hex, got, n);
	if (strcmp(hex, want)) {
		fprintf(stderr, "got  %s\nwant %s\n", hex, want);
		CHECK(!"hex differs");
	}
}

/* Writes a bundle field by field with no validation. */
struct raw {
	uint8_t magic[2];
	uint8_t version, kind, prio, hop_limit;
	uint64_t created, expires;
	uint8_t dest_type;
	size_t dest_len, payload_len;
};

static void raw_default(struct raw *r)
{
	*r = (struct raw){ .magic = { 'M', 'B' }, .version = 1, .kind = BK_MESSAGE, .prio = PRIO_ROUTINE,
			   .hop_limit = 4, .created = T_CREATED, .expires = T_CREATED + T_DAY,
			   .dest_type = DEST_ALL };
}

static int raw_decode(const struct raw *r, struct bundle *b)
{
	static const uint8_t key[MU_KEY_BYTES] = { 0xaa }, sig[MU_SIG_BYTES] = { 0x55 }, dest[255] = { 1 };
	size_t cap = BUNDLE_ENC_MAX + 512;
	uint8_t *buf = calloc(1, cap), *payload = calloc(1, r->payload_len + 1);
	struct wr w = wr_make(buf, cap);
	int ret;

	CHECK(buf && payload);
	wr_bytes(&w, r->magic, 2);
	wr_u8(&w, r->version);
	wr_u8(&w, r->kind);
	wr_u8(&w, r->prio);
	wr_u8(&w, r->hop_limit);
	wr_bytes(&w, key, sizeof(key));
	wr_u64(&w, r->created);
	wr_u64(&w, r->expires);
	wr_u8(&w, r->dest_type);
	wr_lv8(&w, dest, r->dest_len, 255);
	wr_lv32(&w, payload, r->payload_len, UINT32_MAX);
	wr_bytes(&w, sig, sizeof(sig));
	ret = bundle_decode(b, buf, (size_t)CHECK_LEN(wr_finish(&w)));
	free(buf);
	free(payload);
	return ret;
}

static void test_vector(void)
{
	uint8_t id[BUNDLE_ID_BYTES];
	struct fx f;

	fx_init(&f);
	check_hex(f.enc, (size_t)f.len, message_vector_hex);
	check_hex(f.b.id, BUNDLE_ID_BYTES, message_id_hex);
	/* The id is plain BLAKE2b-256 over the whole encoding. */
	crypto_generichash(id, sizeof(id), f.enc, (size_t)f.len, NULL, 0);
	CHECK(!memcmp(id, f.b.id, sizeof(id)));
	CHECK(!memcmp(f.b.sender, identity_sign_pk(f.para), MU_KEY_BYTES));
	CHECK(!memcmp(f.b.sig, f.enc + f.len - MU_SIG_BYTES, MU_SIG_BYTES));
	CHECK(f.len == BUNDLE_FIXED_BYTES + MU_KEY_BYTES + 4 + (int)strlen(payload_text) + MU_SIG_BYTES);
	fx_free(&f);
}

static void test_roundtrip(void)
{
	uint8_t again[1024];
	struct bundle d;
	struct fx f;

	fx_init(&f);
	CHECK_OK(bundle_decode(&d, f.enc, (size_t)f.len));
	CHECK(d.kind == BK_MESSAGE && d.prio == PRIO_URGENT && d.hop_limit == 8);
	CHECK(d.created == T_CREATED && d.expires == T_CREATED + T_DAY);
	CHECK(d.dest_type == DEST_PERSON && d.dest_len == MU_KEY_BYTES);
	CHECK(!memcmp(d.dest, identity_sign_pk(f.doctor), MU_KEY_BYTES));
	CHECK(!memcmp(d.sender, identity_sign_pk(f.para), MU_KEY_BYTES));
	/* The payload is not copied: it points into the input. */
	CHECK(d.payload_len == strlen(payload_text));
	CHECK(d.payload >= f.enc && d.payload + d.payload_len <= f.enc + f.len);
	CHECK(!memcmp(d.payload, payload_text, d.payload_len));
	CHECK(!memcmp(d.sig, f.b.sig, MU_SIG_BYTES));
	CHECK(!memcmp(d.id, f.b.id, BUNDLE_ID_BYTES));
	CHECK_OK(bundle_verify_sig(&d, f.enc, (size_t)f.len));
	CHECK(bundle_encode(again, sizeof(again), &d) == f.len);
	CHECK(!memcmp(again, f.enc, (size_t)f.len));
	CHECK_RET(bundle_encode(again, (size_t)f.len - 1, &d), MU_E_TOOBIG);
	fx_free(&f);
}

static void test_dest(void)
{
	static const struct {
		uint8_t type, len, first;
		int want;
	} cases[] = {
		{ DEST_ALL, 0, 0, 0 },
		{ DEST_ALL, 1, 0, MU_E_FORMAT },
		{ DEST_PERSON, 32, 7, 0 },
		{ DEST_PERSON, 31, 7, MU_E_FORMAT },
		{ DEST_PERSON, 0, 0, MU_E_FORMAT },
		{ DEST_ROLE, 1, ROLE_AIC, 0 },
		{ DEST_ROLE, 1, ROLE_NODE, 0 },
		{ DEST_ROLE, 1, ROLE_MAX, 0 },
		{ DEST_ROLE, 1, 0, MU_E_FORMAT },
		{ DEST_ROLE, 1, ROLE_MAX + 1, MU_E_FORMAT },
		{ DEST_ROLE, 2, ROLE_AIC, MU_E_FORMAT },
		{ DEST_CHANNEL, 16, 9, 0 },
		{ DEST_CHANNEL, 32, 9, MU_E_FORMAT },
		{ DEST_CHANNEL, 15, 9, MU_E_FORMAT },
		{ 4, 0, 0, MU_E_FORMAT },
		{ 255, 1, 1, MU_E_FORMAT },
	};
	uint8_t again[1024];
	struct bundle d;
	struct fx f;

	fx_init(&f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f.b.dest_type = cases[i].type;
		f.b.dest_len = cases[i].len;
		memset(f.b.dest, 0x11, sizeof(f.b.dest));
		f.b.dest[0] = cases[i].first;
		/* The sealer refuses exactly what the decoder would. */
		f.len = bundle_seal(f.enc, sizeof(f.enc), &f.b, f.para);
		if (cases[i].want) {
			CHECK_RET(f.len, cases[i].want);
			continue;
		}
		CHECK(f.len > 0);
		CHECK_OK(bundle_decode(&d, f.enc, (size_t)f.len));
		CHECK(d.dest_type == cases[i].type && d.dest_len == cases[i].len);
		CHECK(!memcmp(d.dest, f.b.dest, d.dest_len));
		CHECK(bundle_encode(again, sizeof(again), &d) == f.len);
		CHECK(!memcmp(again, f.enc, (size_t)f.len));
	}
	/* And the decoder on hand-made encodings. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct raw r;

		raw_default(&r);
		r.dest_type = cases[i].type;
		r.dest_len = cases[i].len;
		/* raw dest bytes start with 1 = ROLE_NODE */
		CHECK_RET(raw_decode(&r, &d), cases[i].type == DEST_ROLE && cases[i].len == 1 ? 0 : cases[i].want);
	}
	fx_free(&f);
}

static void test_truncated(void)
{
	struct bundle d;
	struct fx f;

	fx_init(&f);
	for (int n = 0; n < f.len; n++) {
		memset(&d, 0xee, sizeof(d));
		CHECK_RET(bundle_decode(&d, f.enc, (size_t)n), MU_E_FORMAT);
		CHECK(d.kind == 0 && d.payload == NULL); /* zeroed on failure */
	}
	fx_free(&f);
}

static void test_trailing(void)
{
	struct bundle d;
	struct fx f;

	fx_init(&f);
	f.enc[f.len] = 0;
	CHECK_RET(bundle_decode(&d, f.enc, (size_t)f.len + 1), MU_E_FORMAT);
	fx_free(&f);
}

static void test_magic_version(void)
{
	struct bundle d;
	struct fx f;

	fx_init(&f);
	f.enc[1] = 'C'; /* a credential's magic */
	CHECK_RET(bundle_decode(&d, f.enc, (size_t)f.len), MU_E_FORMAT);
	f.enc[1] = 'B';
	f.enc[0] = 0;
	CHECK_RET(bundle_decode(&d, f.enc, (size_t)f.len), MU_E_FORMAT);
	f.enc[0] = 'M';
	for (unsigned v = 0; v < 256; v++) {
		f.enc[2] = (uint8_t)v;
		CHECK_RET(bundle_decode(&d, f.enc, (size_t)f.len), v == BUNDLE_VERSION ? 0 : MU_E_VERSION);
	}
	fx_free(&f);
}

static void test_fields(void)
{
	struct bundle d;
	struct raw r;

	raw_default(&r);
	CHECK_OK(raw_decode(&r, &d));
	r.kind = 0;
	CHECK_RET(raw_decode(&r, &d), MU_E_FORMAT);
	r.kind = 200; /* unknown kinds are carried */
	CHECK_OK(raw_decode(&r, &d));
	CHECK(d.kind == 200 && bundle_kind_name(200) == NULL);

	raw_default(&r);
	r.prio = PRIO_BULK;
	CHECK_OK(raw_decode(&r, &d));
	r.prio = PRIO_BULK + 1;
	CHECK_RET(raw_decode(&r, &d), MU_E_FORMAT);

	raw_default(&r);
	r.hop_limit = 0;
	CHECK_RET(raw_decode(&r, &d), MU_E_FORMAT);
	r.hop_limit = 1;
	CHECK_OK(raw_decode(&r, &d));
	r.hop_limit = BUNDLE_HOPS_MAX;
	CHECK_OK(raw_decode(&r, &d));
	r.hop_limit = BUNDLE_HOPS_MAX + 1;
	CHECK_RET(raw_decode(&r, &d), MU_E_FORMAT);
	r.hop_limit = 255;
	CHECK_RET(raw_decode(&r, &d), MU_E_FORMAT);

	raw_default(&r);
	r.expires = r.created;
	CHECK_RET(raw_decode(&r, &d), MU_E_FORMAT);
	r.expires = r.created - 1;
	CHECK_RET(raw_decode(&r, &d), MU_E_FORMAT);
	r.expires = r.created + 1;
	CHECK_OK(raw_decode(&r, &d));
}

static void test_toobig(void)
{
	struct bundle d;
	struct raw r;
	struct fx f;
	uint8_t *big = calloc(1, BUNDLE_PAYLOAD_MAX + 1), *out = malloc(BUNDLE_ENC_MAX);

	CHECK(big && out);
	raw_default(&r);
	r.payload_len = BUNDLE_PAYLOAD_MAX;
	CHECK_OK(raw_decode(&r, &d));
	CHECK(d.payload_len == BUNDLE_PAYLOAD_MAX);
	r.payload_len = BUNDLE_PAYLOAD_MAX + 1;
	CHECK_RET(raw_decode(&r, &d), MU_E_TOOBIG);

	raw_default(&r);
	r.dest_len = BUNDLE_DEST_MAX + 1;
	CHECK_RET(raw_decode(&r, &d), MU_E_TOOBIG);
	r.dest_len = 255;
	CHECK_RET(raw_decode(&r, &d), MU_E_TOOBIG);

	/* The largest bundle fits BUNDLE_ENC_MAX; one byte more is refused. */
	fx_init(&f);
	f.b.payload = big;
	f.b.payload_len = BUNDLE_PAYLOAD_MAX;
	CHECK(bundle_seal(out, BUNDLE_ENC_MAX, &f.b, f.para) == BUNDLE_ENC_MAX);
	CHECK_OK(bundle_decode(&d, out, BUNDLE_ENC_MAX));
	CHECK_OK(bundle_verify_sig(&d, out, BUNDLE_ENC_MAX));
	f.b.payload_len = BUNDLE_PAYLOAD_MAX + 1;
	CHECK_RET(bundle_seal(out, BUNDLE_ENC_MAX, &f.b, f.para), MU_E_TOOBIG);
	f.b.payload_len = 10;
	f.b.dest_len = BUNDLE_DEST_MAX + 1;
	CHECK_RET(bundle_seal(out, BUNDLE_ENC_MAX, &f.b, f.para), MU_E_TOOBIG);

	/* Output buffer too small: for the body, or only for the signature. */
	f.b.dest_len = MU_KEY_BYTES;
	f.b.payload = (const uint8_t *)payload_text;
	f.b.payload_len = strlen(payload_text);
	CHECK_RET(bundle_seal(out, 10, &f.b, f.para), MU_E_TOOBIG);
	CHECK_RET(bundle_seal(out, (size_t)f.len - 1, &f.b, f.para), MU_E_TOOBIG);
	CHECK(bundle_seal(out, (size_t)f.len, &f.b, f.para) == f.len);
	free(big);
	free(out);
	fx_free(&f);
}

static void test_empty_payload(void)
{
	uint8_t out[256];
	struct bundle d;
	struct fx f;
	int n;

	fx_init(&f);
	f.b.payload = NULL;
	f.b.payload_len = 0;
	n = CHECK_LEN(bundle_seal(out, sizeof(out), &f.b, f.para));
	CHECK_OK(bundle_decode(&d, out, (size_t)n));
	CHECK(d.payload_len == 0);
	CHECK_OK(bundle_verify_sig(&d, out, (size_t)n));
	f.b.payload_len = 3; /* length without data */
	CHECK_RET(bundle_seal(out, sizeof(out), &f.b, f.para), MU_E_FORMAT);
	fx_free(&f);
}

static void test_tampered_sig(void)
{
	struct bundle d;
	struct fx f;

	fx_init(&f);
	for (int bit = 0; bit < 8 * MU_SIG_BYTES; bit += 5) {
		f.enc[f.len - MU_SIG_BYTES + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK_OK(bundle_decode(&d, f.enc, (size_t)f.len));
		CHECK_RET(bundle_verify_sig(&d, f.enc, (size_t)f.len), MU_E_SIG);
		CHECK(memcmp(d.id, f.b.id, BUNDLE_ID_BYTES)); /* a different bundle */
		f.enc[f.len - MU_SIG_BYTES + bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	fx_free(&f);
}

static void test_tampered_body(void)
{
	struct bundle d;
	struct fx f;
	int decoded = 0;

	fx_init(&f);
	for (int i = 0; i < f.len - MU_SIG_BYTES; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			f.enc[i] ^= (uint8_t)(1u << bit);
			if (bundle_decode(&d, f.enc, (size_t)f.len) == 0) {
				decoded++;
				CHECK_RET(bundle_verify_sig(&d, f.enc, (size_t)f.len), MU_E_SIG);
			}
			f.enc[i] ^= (uint8_t)(1u << bit);
		}
	}
	CHECK(decoded > 300);
	fx_free(&f);
}

static void test_sig_binding(void)
{
	struct bundle d;
	struct fx f;

	fx_init(&f);
	CHECK_OK(bundle_decode(&d, f.enc, (size_t)f.len));
	CHECK_RET(bundle_verify_sig(&d, f.enc, 10), MU_E_SIG);
	CHECK_RET(bundle_verify_sig(&d, f.enc, (size_t)f.len - 1), MU_E_SIG);
	/* A struct that does not come from these bytes is refused, even when
	 * its own signature is the valid one. */
	d.sig[0] ^= 1;
	CHECK_RET(bundle_verify_sig(&d, f.enc, (size_t)f.len), MU_E_SIG);
	d.sig[0] ^= 1;
	f.enc[f.len - 1] ^= 1;
	CHECK_RET(bundle_verify_sig(&d, f.enc, (size_t)f.len), MU_E_SIG);
	f.enc[f.len - 1] ^= 1;
	CHECK_OK(bundle_verify_sig(&d, f.enc, (size_t)f.len));
	/* Someone else's key as sender. */
	memcpy(d.sender, identity_sign_pk(f.doctor), MU_KEY_BYTES);
	CHECK_RET(bundle_verify_sig(&d, f.enc, (size_t)f.len), MU_E_SIG);
	fx_free(&f);
}

static void test_names(void)
{
	uint8_t p = 9;

	CHECK(!strcmp(bundle_kind_name(BK_MESSAGE), "message"));
	CHECK(!strcmp(bundle_kind_name(BK_REVOCATION), "revocation"));
	CHECK(bundle_kind_name(0) == NULL && bundle_kind_name(6) == NULL);
	for (uint8_t i = 0; i <= PRIO_BULK; i++) {
		CHECK_OK(bundle_prio_parse(bundle_prio_name(i), &p));
		CHECK(p == i);
	}
	CHECK(bundle_prio_name(PRIO_BULK + 1) == NULL);
	CHECK_RET(bundle_prio_parse("whenever", &p), MU_E_FORMAT);
	CHECK(!strcmp(dest_type_name(DEST_CHANNEL), "channel") && dest_type_name(4) == NULL);
}

static const struct test tests[] = {
	{ "/bundle/vector/message", test_vector },
	{ "/bundle/roundtrip", test_roundtrip },
	{ "/bundle/dest", test_dest },
	{ "/bundle/decode/truncated", test_truncated },
	{ "/bundle/decode/trailing", test_trailing },
	{ "/bundle/decode/magic-version", test_magic_version },
	{ "/bundle/decode/fields", test_fields },
	{ "/bundle/decode/toobig", test_toobig },
	{ "/bundle/empty-payload", test_empty_payload },
	{ "/bundle/sig/tampered-sig", test_tampered_sig },
	{ "/bundle/sig/tampered-body", test_tampered_body },
	{ "/bundle/sig/binding", test_sig_binding },
	{ "/bundle/names", test_names },
};

TEST_MAIN(tests)
