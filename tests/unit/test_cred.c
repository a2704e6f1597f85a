/* Credentials: the published test vector, the decoder's rejections, and
 * cred_verify's trust, signature, validity-window and revocation checks. */
#include <errno.h>
#include <string.h>

#include "cred.h"
#include "hex.h"
#include "identity.h"
#include "testutil.h"
#include "wire.h"

#define T_FROM 1767225600000ull  /* 2026-01-01T00:00:00Z */
#define T_UNTIL 1798761600000ull /* 2027-01-01T00:00:00Z */
#define T_NOW 1780315200000ull   /* 2026-06-01T12:00:00Z */

/* docs/protocol.md "vector: credential" */
static const char cred_vector_hex[] =
	"4d43" "01" "02"                                   /* magic, version, role paramedic */
	"0a" "4541532d303034323137"                        /* subject "EAS-004217" */
	"0c" "416c6578204578616d706c65"                    /* name "Alex Example" */
	"23" "4578616d706c6520416d62756c616e6365205365727669"
	     "6365204e4853205472757374"                    /* org */
	"0d" "48435043205041313233343536"                  /* reg "HCPC PA123456" */
	"8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394" /* sign_pk */
	"8cfa0a970cc7a7f95de0fef1c1a64a9399049b7690712af01e9f5a6c52622149" /* kx_pk */
	"0000019b76daa800"                                 /* valid_from */
	"000001a2ce8bd400"                                 /* valid_until */
	"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c" /* issuer (CA) */
	"423a2d2fd6d82a7a82ad48c30e1e5ddebb5b187774cdaa842dc298ba36b1ea61"
	"b89c06c438f66f24f501cfb30d19dc1b577f84b808990e286c827d2d61b95c04"; /* signature */

static struct mu_identity *seed_identity(uint8_t fill)
{
	struct mu_identity *id = NULL;
	uint8_t seed[32];

	memset(seed, fill, sizeof(seed));
	CHECK_OK(identity_from_seed(&id, seed));
	return id;
}

/* The documented example: a paramedic's credential from the CA. */
static void fixture_cred(struct cred *c, const struct mu_identity *holder)
{
	memset(c, 0, sizeof(*c));
	c->role = ROLE_PARAMEDIC;
	strcpy(c->subject, "EAS-004217");
	strcpy(c->name, "Alex Example");
	strcpy(c->org, "Example Ambulance Service NHS Trust");
	strcpy(c->reg, "HCPC PA123456");
	memcpy(c->sign_pk, identity_sign_pk(holder), MU_KEY_BYTES);
	memcpy(c->kx_pk, identity_kx_pk(holder), MU_KEY_BYTES);
	c->valid_from = T_FROM;
	c->valid_until = T_UNTIL;
}

struct fx {
	struct mu_identity *ca, *para;
	struct cred c;
	struct trust t;
	uint8_t enc[CRED_ENC_MAX];
	int len;
};

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->ca = seed_identity(0x01);
	f->para = seed_identity(0x02);
	fixture_cred(&f->c, f->para);
	f->len = CHECK_LEN(cred_issue(f->enc, sizeof(f->enc), &f->c, f->ca));
	CHECK_OK(trust_add(&f->t, identity_sign_pk(f->ca)));
}

static void fx_free(struct fx *f)
{
	identity_free(f->ca);
	identity_free(f->para);
}

static void check_hex(const uint8_t *got, size_t n, const char *want)
{
	char hex[2 * CRED_ENC_MAX + 1];

	CHECK(n <= CRED_ENC_MAX);
	hex_encode(hex, got, n);
	if (strcmp(hex, want)) {
		fprintf(stderr, "got  %s\nwant %s\n", hex, want);
		CHECK(!"hex differs");
	}
}

/* Writes a credential field by field with no validation, so tests can build
 * encodings that cred_issue would refuse. */
struct raw {
	uint8_t magic[2];
	uint8_t version, role;
	const char *text[4]; /* subject, name, org, reg */
	size_t text_len[4];
	uint64_t from, until;
};

static void raw_default(struct raw *r)
{
	static const char *const t[4] = { "EAS-004217", "Alex Example", "Example Ambulance Service NHS Trust",
					  "HCPC PA123456" };

	*r = (struct raw){ .magic = { 'M', 'C' }, .version = 1, .role = ROLE_PARAMEDIC, .from = T_FROM,
			   .until = T_UNTIL };
	for (int i = 0; i < 4; i++) {
		r->text[i] = t[i];
		r->text_len[i] = strlen(t[i]);
	}
}

static int raw_encode(uint8_t *out, size_t cap, const struct raw *r)
{
	static const uint8_t key[MU_KEY_BYTES] = { 0xaa }, sig[MU_SIG_BYTES] = { 0x55 };
	struct wr w = wr_make(out, cap);

	wr_bytes(&w, r->magic, 2);
	wr_u8(&w, r->version);
	wr_u8(&w, r->role);
	for (int i = 0; i < 4; i++)
		wr_lv8(&w, r->text[i], r->text_len[i], 255);
	wr_bytes(&w, key, sizeof(key));
	wr_bytes(&w, key, sizeof(key));
	wr_u64(&w, r->from);
	wr_u64(&w, r->until);
	wr_bytes(&w, key, sizeof(key));
	wr_bytes(&w, sig, sizeof(sig));
	return CHECK_LEN(wr_finish(&w));
}

static int raw_decode(const struct raw *r)
{
	uint8_t buf[1024];
	struct cred c;
	int n = raw_encode(buf, sizeof(buf), r);

	return cred_decode(&c, buf, (size_t)n);
}

static void test_vector(void)
{
	struct fx f;
	struct cred d;

	fx_init(&f);
	check_hex(f.enc, (size_t)f.len, cred_vector_hex);
	CHECK(!memcmp(f.c.issuer, identity_sign_pk(f.ca), MU_KEY_BYTES));
	CHECK(!memcmp(f.c.sig, f.enc + f.len - MU_SIG_BYTES, MU_SIG_BYTES));
	CHECK_OK(cred_decode(&d, f.enc, (size_t)f.len));
	CHECK(d.role == ROLE_PARAMEDIC);
	CHECK(!strcmp(d.subject, "EAS-004217"));
	CHECK(!strcmp(d.name, "Alex Example"));
	CHECK(!strcmp(d.org, "Example Ambulance Service NHS Trust"));
	CHECK(!strcmp(d.reg, "HCPC PA123456"));
	CHECK(!memcmp(d.sign_pk, identity_sign_pk(f.para), MU_KEY_BYTES));
	CHECK(!memcmp(d.kx_pk, identity_kx_pk(f.para), MU_KEY_BYTES));
	CHECK(d.valid_from == T_FROM && d.valid_until == T_UNTIL);
	CHECK(!memcmp(&d, &f.c, sizeof(d)));
	fx_free(&f);
}

static void test_roundtrip(void)
{
	struct fx f;
	struct cred d;
	uint8_t again[CRED_ENC_MAX];

	fx_init(&f);
	CHECK_OK(cred_decode(&d, f.enc, (size_t)f.len));
	CHECK(cred_encode(again, sizeof(again), &d) == f.len);
	CHECK(!memcmp(again, f.enc, (size_t)f.len));
	/* Too small a buffer is refused, never overrun. */
	CHECK_RET(cred_encode(again, (size_t)f.len - 1, &d), MU_E_TOOBIG);
	CHECK_RET(cred_issue(again, (size_t)f.len - 1, &f.c, f.ca), MU_E_TOOBIG);

	/* Empty registration and non-ASCII text. */
	f.c.reg[0] = 0;
	strcpy(f.c.name, "Zo\xc3\xab \xc3\x93 Briain \xe6\x95\x91\xe6\x80\xa5 \xf0\x9f\x9a\x91");
	f.len = CHECK_LEN(cred_issue(f.enc, sizeof(f.enc), &f.c, f.ca));
	CHECK_OK(cred_decode(&d, f.enc, (size_t)f.len));
	CHECK(!strcmp(d.reg, "") && !strcmp(d.name, f.c.name));
	CHECK(cred_encode(again, sizeof(again), &d) == f.len);
	CHECK(!memcmp(again, f.enc, (size_t)f.len));
	CHECK_OK(cred_verify(&d, &f.t, T_NOW, NULL, NULL));
	fx_free(&f);
}

static void test_truncated(void)
{
	struct fx f;
	struct cred d;

	fx_init(&f);
	for (int n = 0; n < f.len; n++) {
		memset(&d, 0xee, sizeof(d));
		CHECK_RET(cred_decode(&d, f.enc, (size_t)n), MU_E_FORMAT);
		CHECK(d.role == 0 && d.subject[0] == 0); /* zeroed on failure */
	}
	fx_free(&f);
}

static void test_trailing(void)
{
	struct fx f;
	struct cred d;

	fx_init(&f);
	f.enc[f.len] = 0;
	CHECK_RET(cred_decode(&d, f.enc, (size_t)f.len + 1), MU_E_FORMAT);
	fx_free(&f);
}

static void test_magic_version(void)
{
	struct fx f;
	struct cred d;

	fx_init(&f);
	f.enc[0] = 'm';
	CHECK_RET(cred_decode(&d, f.enc, (size_t)f.len), MU_E_FORMAT);
	f.enc[0] = 'M';
	f.enc[1] = 'B'; /* a bundle's magic */
	CHECK_RET(cred_decode(&d, f.enc, (size_t)f.len), MU_E_FORMAT);
	f.enc[1] = 'C';
	for (unsigned v = 0; v < 256; v++) {
		f.enc[2] = (uint8_t)v;
		CHECK_RET(cred_decode(&d, f.enc, (size_t)f.len), v == CRED_VERSION ? 0 : MU_E_VERSION);
	}
	fx_free(&f);
}

static void test_toobig(void)
{
	static const size_t max[4] = { CRED_TEXT_MAX, CRED_TEXT_MAX, CRED_TEXT_MAX, CRED_REG_MAX };
	char text[256];
	struct raw r;
	struct fx f;

	memset(text, 'x', sizeof(text));
	for (int i = 0; i < 4; i++) {
		raw_default(&r);
		r.text[i] = text;
		r.text_len[i] = max[i];
		CHECK_OK(raw_decode(&r));
		r.text_len[i] = max[i] + 1;
		CHECK_RET(raw_decode(&r), MU_E_TOOBIG);
		r.text_len[i] = 255;
		CHECK_RET(raw_decode(&r), MU_E_TOOBIG);
	}

	/* The encoder refuses the same: a field with no room for its NUL. */
	fx_init(&f);
	memset(f.c.subject, 'x', sizeof(f.c.subject));
	CHECK_RET(cred_issue(f.enc, sizeof(f.enc), &f.c, f.ca), MU_E_TOOBIG);
	fixture_cred(&f.c, f.para);
	memset(f.c.reg, 'x', sizeof(f.c.reg));
	CHECK_RET(cred_issue(f.enc, sizeof(f.enc), &f.c, f.ca), MU_E_TOOBIG);
	CHECK_RET(cred_encode(f.enc, sizeof(f.enc), &f.c), MU_E_TOOBIG);
	fx_free(&f);
}

static void test_text(void)
{
	static const char *const bad[] = {
		"a\x01" "b", "tab\there", "new\nline", "esc\x1b[2J", "del\x7f", "\x1f",
		"\xc0\x80",         /* overlong NUL */
		"\xc1\xbf",         /* overlong */
		"\xe0\x80\xaf",     /* overlong '/' */
		"\xed\xa0\x80",     /* UTF-16 surrogate */
		"\xf4\x90\x80\x80", /* above U+10FFFF */
		"\xf5\x80\x80\x80", "\xff", "\x80", "abc\xe2\x82", /* cut short */
		"\xc3" "A",         /* bad continuation */
	};
	static const char *const good[] = { "A", " ", "~", "\xc2\xa0", "\xe2\x82\xac", "\xef\xbf\xbd",
					    "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf" };
	struct raw r;
	struct fx f;

	for (int i = 0; i < 4; i++) {
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			raw_default(&r);
			r.text[i] = bad[k];
			r.text_len[i] = strlen(bad[k]);
			CHECK_RET(raw_decode(&r), MU_E_FORMAT);
		}
		for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
			raw_default(&r);
			r.text[i] = good[k];
			r.text_len[i] = strlen(good[k]);
			CHECK_OK(raw_decode(&r));
		}
		/* An embedded NUL must not slip through as a shorter string. */
		raw_default(&r);
		r.text[i] = "abc\0def";
		r.text_len[i] = 7;
		CHECK_RET(raw_decode(&r), MU_E_FORMAT);
	}

	/* Empty text: only the registration may be empty. */
	for (int i = 0; i < 4; i++) {
		raw_default(&r);
		r.text_len[i] = 0;
		CHECK_RET(raw_decode(&r), i == 3 ? 0 : MU_E_FORMAT);
	}

	fx_init(&f);
	strcpy(f.c.name, "Alex\x1b[31mExample");
	CHECK_RET(cred_issue(f.enc, sizeof(f.enc), &f.c, f.ca), MU_E_FORMAT);
	fixture_cred(&f.c, f.para);
	f.c.org[0] = 0;
	CHECK_RET(cred_issue(f.enc, sizeof(f.enc), &f.c, f.ca), MU_E_FORMAT);
	fx_free(&f);
}

static void test_fields(void)
{
	struct raw r;

	raw_default(&r);
	r.role = 0;
	CHECK_RET(raw_decode(&r), MU_E_FORMAT);
	r.role = ROLE_MAX + 1;
	CHECK_RET(raw_decode(&r), MU_E_FORMAT);
	for (r.role = 1; r.role <= ROLE_MAX; r.role++)
		CHECK_OK(raw_decode(&r));

	raw_default(&r);
	r.until = r.from;
	CHECK_RET(raw_decode(&r), MU_E_FORMAT);
	r.until = r.from - 1;
	CHECK_RET(raw_decode(&r), MU_E_FORMAT);
	r.until = r.from + 1;
	CHECK_OK(raw_decode(&r));
}

static void test_verify_ok(void)
{
	struct fx f;
	struct cred d;

	fx_init(&f);
	CHECK_OK(cred_decode(&d, f.enc, (size_t)f.len));
	CHECK_OK(cred_verify(&d, &f.t, T_NOW, NULL, NULL));
	fx_free(&f);
}

static void test_tampered_sig(void)
{
	struct fx f;
	struct cred d;

	fx_init(&f);
	for (int bit = 0; bit < 8 * MU_SIG_BYTES; bit += 7) {
		f.enc[f.len - MU_SIG_BYTES + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK_OK(cred_decode(&d, f.enc, (size_t)f.len));
		CHECK_RET(cred_verify(&d, &f.t, T_NOW, NULL, NULL), MU_E_SIG);
		f.enc[f.len - MU_SIG_BYTES + bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	fx_free(&f);
}

/* Any change to a signed byte either makes the encoding invalid or breaks
 * the signature (or, in the issuer field, names a CA we do not trust). */
static void test_tampered_body(void)
{
	struct fx f;
	struct cred d;
	int decoded = 0;

	fx_init(&f);
	for (int i = 0; i < f.len - MU_SIG_BYTES; i++) {
		int in_issuer = i >= f.len - MU_SIG_BYTES - MU_KEY_BYTES;

		f.enc[i] ^= 0x02;
		if (cred_decode(&d, f.enc, (size_t)f.len) == 0) {
			decoded++;
			CHECK_RET(cred_verify(&d, &f.t, T_NOW, NULL, NULL), in_issuer ? MU_E_UNTRUSTED : MU_E_SIG);
		}
		f.enc[i] ^= 0x02;
	}
	CHECK(decoded >= 170); /* of 190: all but magic, version, role, lengths */
	fx_free(&f);
}

static void test_window(void)
{
	struct fx f;

	fx_init(&f);
	CHECK_RET(cred_verify(&f.c, &f.t, 0, NULL, NULL), MU_E_NOTYET);
	CHECK_RET(cred_verify(&f.c, &f.t, T_FROM - 1, NULL, NULL), MU_E_NOTYET);
	CHECK_OK(cred_verify(&f.c, &f.t, T_FROM, NULL, NULL));
	CHECK_OK(cred_verify(&f.c, &f.t, T_UNTIL - 1, NULL, NULL));
	CHECK_RET(cred_verify(&f.c, &f.t, T_UNTIL, NULL, NULL), MU_E_EXPIRED);
	CHECK_RET(cred_verify(&f.c, &f.t, UINT64_MAX, NULL, NULL), MU_E_EXPIRED);
	fx_free(&f);
}

static void test_untrusted(void)
{
	struct mu_identity *rogue = seed_identity(0x0f);
	struct trust other = { 0 }, empty = { 0 };
	struct cred forged;
	struct fx f;

	fx_init(&f);
	CHECK_OK(trust_add(&other, identity_sign_pk(rogue)));
	CHECK_RET(cred_verify(&f.c, &other, T_NOW, NULL, NULL), MU_E_UNTRUSTED);
	CHECK_RET(cred_verify(&f.c, &empty, T_NOW, NULL, NULL), MU_E_UNTRUSTED);
	CHECK_RET(cred_verify(&f.c, NULL, T_NOW, NULL, NULL), MU_E_UNTRUSTED);

	/* Issued by a rogue key: untrusted as is, and naming the real CA as
	 * issuer does not help, since the signature is then wrong. */
	forged = f.c;
	CHECK_LEN(cred_issue(f.enc, sizeof(f.enc), &forged, rogue));
	CHECK_RET(cred_verify(&forged, &f.t, T_NOW, NULL, NULL), MU_E_UNTRUSTED);
	memcpy(forged.issuer, identity_sign_pk(f.ca), MU_KEY_BYTES);
	CHECK_RET(cred_verify(&forged, &f.t, T_NOW, NULL, NULL), MU_E_SIG);
	identity_free(rogue);
	fx_free(&f);
}

struct revoke_ctx {
	const uint8_t *revoked;
	int fail;
	int calls;
	uint8_t asked[MU_KEY_BYTES];
};

static int is_revoked(void *ctx, const uint8_t key[static MU_KEY_BYTES])
{
	struct revoke_ctx *r = ctx;

	r->calls++;
	memcpy(r->asked, key, MU_KEY_BYTES);
	if (r->fail)
		return r->fail;
	return r->revoked && !memcmp(r->revoked, key, MU_KEY_BYTES);
}

static void test_revoked(void)
{
	struct revoke_ctx r = { 0 };
	struct fx f;

	fx_init(&f);
	CHECK_OK(cred_verify(&f.c, &f.t, T_NOW, is_revoked, &r));
	CHECK(r.calls == 1 && !memcmp(r.asked, identity_sign_pk(f.para), MU_KEY_BYTES));
	r.revoked = identity_sign_pk(f.para);
	CHECK_RET(cred_verify(&f.c, &f.t, T_NOW, is_revoked, &r), MU_E_REVOKED);
	r.fail = -EIO;
	CHECK_RET(cred_verify(&f.c, &f.t, T_NOW, is_revoked, &r), -EIO);
	fx_free(&f);
}

static void test_trust(void)
{
	struct trust t = { 0 };
	uint8_t k[MU_KEY_BYTES] = { 0 };

	for (int i = 0; i < MU_TRUST_MAX; i++) {
		k[0] = (uint8_t)i;
		CHECK_OK(trust_add(&t, k));
		CHECK_OK(trust_add(&t, k)); /* already present */
	}
	CHECK(t.n == MU_TRUST_MAX);
	k[0] = MU_TRUST_MAX;
	CHECK(!trust_has(&t, k));
	CHECK_RET(trust_add(&t, k), MU_E_TOOBIG);
	k[0] = 3;
	CHECK(trust_has(&t, k));
	k[0] = 0;
	CHECK_OK(trust_add(&t, k)); /* present keys are fine even when full */
}

static void test_roles(void)
{
	uint8_t r = 0;

	for (uint8_t i = 1; i <= ROLE_MAX; i++) {
		CHECK(role_name(i) != NULL);
		CHECK_OK(role_parse(role_name(i), &r));
		CHECK(r == i);
	}
	CHECK(role_name(0) == NULL && role_name(ROLE_MAX + 1) == NULL);
	CHECK(!strcmp(role_name(ROLE_PARAMEDIC), "paramedic") && !strcmp(role_name(ROLE_AIC), "aic"));
	CHECK_RET(role_parse("surgeon", &r), MU_E_FORMAT);
	CHECK_RET(role_parse("", &r), MU_E_FORMAT);
}

static const struct test tests[] = {
	{ "/cred/vector", test_vector },
	{ "/cred/roundtrip", test_roundtrip },
	{ "/cred/decode/truncated", test_truncated },
	{ "/cred/decode/trailing", test_trailing },
	{ "/cred/decode/magic-version", test_magic_version },
	{ "/cred/decode/toobig", test_toobig },
	{ "/cred/decode/text", test_text },
	{ "/cred/decode/fields", test_fields },
	{ "/cred/verify/ok", test_verify_ok },
	{ "/cred/verify/tampered-sig", test_tampered_sig },
	{ "/cred/verify/tampered-body", test_tampered_body },
	{ "/cred/verify/window", test_window },
	{ "/cred/verify/untrusted", test_untrusted },
	{ "/cred/verify/revoked", test_revoked },
	{ "/cred/trust", test_trust },
	{ "/cred/roles", test_roles },
};

TEST_MAIN(tests)
