/* Admission (bundle_admit), revocation payloads, and the published test
 * vectors: docs/protocol.md and the fuzz seed corpora must match the code. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "cred.h"
#include "hex.h"
#include "identity.h"
#include "incident.h"
#include "receipt.h"
#include "testutil.h"
#include "verify.h"

#define T_FROM 1767225600000ull    /* 2026-01-01T00:00:00Z */
#define T_UNTIL 1798761600000ull   /* 2027-01-01T00:00:00Z */
#define T_CREATED 1780315200000ull /* 2026-06-01T12:00:00Z */
#define T_HOUR 3600000ull
#define T_DAY 86400000ull
#define T_NOW (T_CREATED + 2 * T_HOUR)

/* docs/protocol.md "vector: revocation-payload", "vector: revocation-bundle"
 * and "vector: revocation-bundle-id" */
static const char revocation_payload_hex[] =
	"01" "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394" "01";
static const char revocation_bundle_hex[] =
	"4d42" "01" "03" "00" "20"                         /* magic, version, revocation, immediate, hops 32 */
	"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c" /* sender: the CA */
	"0000019e83450880"                                 /* created */
	"000001a2ce8bd400"                                 /* expires */
	"00" "00"                                          /* dest all, empty */
	"00000022"                                         /* payload length 34 */
	"018139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39401"
	"610d0bda73a4a83675e74e49d2ad6cfe809114d399e5f0331031746c566b3637"
	"5a8cce7fc49529f023648957bedc64c2743afec3fb4b27fd1040108bce61750f"; /* signature */
static const char revocation_id_hex[] = "d05d96117b532f0b5e44609153b9910f1e650d3b4f55a4315b47b768bc70b4e7";

static const char payload_text[] = "example payload (real payloads are ciphertext)";

static struct mu_identity *seed_identity(uint8_t fill)
{
	struct mu_identity *id = NULL;
	uint8_t seed[32];

	memset(seed, fill, sizeof(seed));
	CHECK_OK(identity_from_seed(&id, seed));
	return id;
}

static void check_hex(const uint8_t *got, size_t n, const char *want)
{
	char *hex = malloc(2 * n + 1);

	CHECK(hex);
	hex_encode(hex, got, n);
	if (strcmp(hex, want)) {
		fprintf(stderr, "got  %s\nwant %s\n", hex, want);
		CHECK(!"hex differs");
	}
	free(hex);
}

/* Everything the vectors and the admission tests need: the CA (seed 0x01),
 * a paramedic (0x02) and a doctor (0x03) with credentials, and one sealed
 * bundle of each kind used in docs/protocol.md. */
struct enc {
	uint8_t b[1024];
	size_t n;
};

struct fx {
	struct mu_identity *ca, *para, *doctor;
	struct trust trust;
	struct cred para_cred, doctor_cred;
	struct enc para_cred_enc, doctor_cred_enc;
	struct enc message, revocation, revocation_payload;
	uint8_t message_id[BUNDLE_ID_BYTES], revocation_id[BUNDLE_ID_BYTES];
	/* callback state */
	int revoked_para;
	int lookup_err;
	int lookup_wrong;
	struct verify_ctx v;
};

static void make_cred(struct cred *c, struct enc *e, const struct mu_identity *holder, uint8_t role,
		      const char *subject, const char *name, const char *reg, const struct mu_identity *ca)
{
	memset(c, 0, sizeof(*c));
	c->role = role;
	strcpy(c->subject, subject);
	strcpy(c->name, name);
	strcpy(c->org, "Example Ambulance Service NHS Trust");
	strcpy(c->reg, reg);
	memcpy(c->sign_pk, identity_sign_pk(holder), MU_KEY_BYTES);
	memcpy(c->kx_pk, identity_kx_pk(holder), MU_KEY_BYTES);
	c->valid_from = T_FROM;
	c->valid_until = T_UNTIL;
	e->n = (size_t)CHECK_LEN(cred_issue(e->b, sizeof(e->b), c, ca));
}

static void seal(struct enc *e, struct bundle *b, const struct mu_identity *signer)
{
	e->n = (size_t)CHECK_LEN(bundle_seal(e->b, sizeof(e->b), b, signer));
}

static int lookup(void *ctx, const uint8_t key[static MU_KEY_BYTES], struct cred *out)
{
	struct fx *f = ctx;

	if (f->lookup_err)
		return f->lookup_err;
	if (!memcmp(key, f->para_cred.sign_pk, MU_KEY_BYTES)) {
		*out = f->lookup_wrong ? f->doctor_cred : f->para_cred;
		return 0;
	}
	if (!memcmp(key, f->doctor_cred.sign_pk, MU_KEY_BYTES)) {
		*out = f->doctor_cred;
		return 0;
	}
	return MU_E_NOCRED;
}

static int is_revoked(void *ctx, const uint8_t key[static MU_KEY_BYTES])
{
	struct fx *f = ctx;

	return f->revoked_para && !memcmp(key, f->para_cred.sign_pk, MU_KEY_BYTES);
}

static void fx_init(struct fx *f)
{
	struct bundle b;

	memset(f, 0, sizeof(*f));
	f->ca = seed_identity(0x01);
	f->para = seed_identity(0x02);
	f->doctor = seed_identity(0x03);
	CHECK_OK(trust_add(&f->trust, identity_sign_pk(f->ca)));
	make_cred(&f->para_cred, &f->para_cred_enc, f->para, ROLE_PARAMEDIC, "EAS-004217", "Alex Example",
		  "HCPC PA123456", f->ca);
	make_cred(&f->doctor_cred, &f->doctor_cred_enc, f->doctor, ROLE_DOCTOR, "EAS-D0042", "Sam Example",
		  "GMC 7654321", f->ca);

	memset(&b, 0, sizeof(b));
	b.kind = BK_MESSAGE;
	b.prio = PRIO_URGENT;
	b.hop_limit = 8;
	b.created = T_CREATED;
	b.expires = T_CREATED + T_DAY;
	b.dest_type = DEST_PERSON;
	b.dest_len = MU_KEY_BYTES;
	memcpy(b.dest, identity_sign_pk(f->doctor), MU_KEY_BYTES);
	b.payload = (const uint8_t *)payload_text;
	b.payload_len = strlen(payload_text);
	seal(&f->message, &b, f->para);
	memcpy(f->message_id, b.id, BUNDLE_ID_BYTES);

	f->revocation_payload.n = (size_t)CHECK_LEN(
		revocation_encode(f->revocation_payload.b, identity_sign_pk(f->para), REVOKE_LOST));
	memset(&b, 0, sizeof(b));
	b.kind = BK_REVOCATION;
	b.prio = PRIO_IMMEDIATE;
	b.hop_limit = BUNDLE_HOPS_MAX;
	b.created = T_CREATED + T_HOUR;
	b.expires = T_UNTIL; /* outlives the credential it revokes */
	b.dest_type = DEST_ALL;
	b.payload = f->revocation_payload.b;
	b.payload_len = f->revocation_payload.n;
	seal(&f->revocation, &b, f->ca);
	memcpy(f->revocation_id, b.id, BUNDLE_ID_BYTES);

	f->v = (struct verify_ctx){ .trust = &f->trust, .now = T_NOW, .skew_ms = VERIFY_SKEW_MS_DEFAULT,
				    .lookup = lookup, .is_revoked = is_revoked, .ctx = f };
}

static void fx_free(struct fx *f)
{
	identity_free(f->ca);
	identity_free(f->para);
	identity_free(f->doctor);
}

/* A bundle from signer with the given kind, times and payload. */
static void make_bundle(struct enc *e, const struct mu_identity *signer, uint8_t kind, uint8_t hop_limit,
			uint64_t created, uint64_t expires, const struct enc *payload)
{
	struct bundle b = { .kind = kind, .prio = PRIO_ROUTINE, .hop_limit = hop_limit, .created = created,
			    .expires = expires, .dest_type = DEST_ALL };

	if (payload) {
		b.payload = payload->b;
		b.payload_len = payload->n;
	}
	seal(e, &b, signer);
}

static int admit(const struct fx *f, const struct enc *e, uint8_t hops, struct cred *cred_out)
{
	struct bundle b;
	int ret = bundle_decode(&b, e->b, e->n);

	if (ret)
		return ret;
	return bundle_admit(&f->v, &b, e->b, e->n, hops, cred_out);
}

/* -- revocation payload -- */

static void test_revocation_vector(void)
{
	uint8_t key[MU_KEY_BYTES], reason = 9;
	struct fx f;

	fx_init(&f);
	CHECK(f.revocation_payload.n == REVOCATION_BYTES);
	check_hex(f.revocation_payload.b, f.revocation_payload.n, revocation_payload_hex);
	check_hex(f.revocation.b, f.revocation.n, revocation_bundle_hex);
	check_hex(f.revocation_id, BUNDLE_ID_BYTES, revocation_id_hex);
	CHECK_OK(revocation_decode(f.revocation_payload.b, f.revocation_payload.n, key, &reason));
	CHECK(!memcmp(key, identity_sign_pk(f.para), MU_KEY_BYTES) && reason == REVOKE_LOST);
	fx_free(&f);
}

static void test_revocation_decode(void)
{
	uint8_t in[REVOCATION_BYTES + 1], key[MU_KEY_BYTES], k[MU_KEY_BYTES], reason;

	memset(k, 0x42, sizeof(k));
	for (unsigned r = 0; r <= REVOKE_WIPE; r++) {
		CHECK(revocation_encode(in, k, (uint8_t)r) == REVOCATION_BYTES);
		CHECK_OK(revocation_decode(in, REVOCATION_BYTES, key, &reason));
		CHECK(reason == r && !memcmp(key, k, sizeof(k)));
	}
	CHECK_RET(revocation_encode(in, k, REVOKE_WIPE + 1), MU_E_FORMAT);

	CHECK(revocation_encode(in, k, REVOKE_WIPE) == REVOCATION_BYTES);
	for (size_t n = 0; n < REVOCATION_BYTES; n++) {
		memset(key, 0xee, sizeof(key));
		CHECK_RET(revocation_decode(in, n, key, &reason), MU_E_FORMAT);
		CHECK(key[0] == 0); /* zeroed unless it succeeds */
	}
	in[REVOCATION_BYTES] = 0;
	CHECK_RET(revocation_decode(in, REVOCATION_BYTES + 1, key, &reason), MU_E_FORMAT);
	in[REVOCATION_BYTES - 1] = REVOKE_WIPE + 1;
	CHECK_RET(revocation_decode(in, REVOCATION_BYTES, key, &reason), MU_E_FORMAT);
	in[REVOCATION_BYTES - 1] = 255;
	CHECK_RET(revocation_decode(in, REVOCATION_BYTES, key, &reason), MU_E_FORMAT);
	in[REVOCATION_BYTES - 1] = REVOKE_LOST;
	in[0] = 0;
	CHECK_RET(revocation_decode(in, REVOCATION_BYTES, key, &reason), MU_E_VERSION);
	in[0] = 2;
	CHECK_RET(revocation_decode(in, REVOCATION_BYTES, key, &reason), MU_E_VERSION);
}

/* -- admission -- */

static void test_admit_ok(void)
{
	struct enc e;
	struct cred c;
	struct fx f;

	fx_init(&f);
	CHECK_OK(admit(&f, &f.message, 0, NULL));
	CHECK_OK(admit(&f, &f.revocation, 0, NULL));

	/* A credential bundle is published by its holder, and hands back the
	 * credential it carries. */
	make_bundle(&e, f.para, BK_CREDENTIAL, BUNDLE_HOPS_MAX, T_FROM, T_UNTIL, &f.para_cred_enc);
	memset(&c, 0, sizeof(c));
	CHECK_OK(admit(&f, &e, 3, &c));
	CHECK(!memcmp(&c, &f.para_cred, sizeof(c)));
	CHECK_OK(admit(&f, &e, 3, NULL));

	/* Unknown kinds are carried when the sender checks out. */
	make_bundle(&e, f.doctor, 77, 4, T_CREATED, T_CREATED + T_DAY, NULL);
	CHECK_OK(admit(&f, &e, 1, NULL));
	fx_free(&f);
}

static void test_admit_hops(void)
{
	struct fx f;

	fx_init(&f);
	CHECK_OK(admit(&f, &f.message, 8, NULL));
	CHECK_RET(admit(&f, &f.message, 9, NULL), MU_E_HOPS);
	CHECK_RET(admit(&f, &f.message, 255, NULL), MU_E_HOPS);
	fx_free(&f);
}

static void test_admit_expired(void)
{
	struct fx f;

	fx_init(&f);
	f.v.now = T_CREATED + T_DAY - 1;
	CHECK_OK(admit(&f, &f.message, 0, NULL));
	f.v.now = T_CREATED + T_DAY;
	CHECK_RET(admit(&f, &f.message, 0, NULL), MU_E_EXPIRED);
	f.v.now = UINT64_MAX;
	CHECK_RET(admit(&f, &f.message, 0, NULL), MU_E_EXPIRED);
	fx_free(&f);
}

static void test_admit_future(void)
{
	struct fx f;

	fx_init(&f);
	f.v.now = T_CREATED - VERIFY_SKEW_MS_DEFAULT;
	CHECK_OK(admit(&f, &f.message, 0, NULL));
	f.v.now = T_CREATED - VERIFY_SKEW_MS_DEFAULT - 1;
	CHECK_RET(admit(&f, &f.message, 0, NULL), MU_E_NOTYET);
	f.v.skew_ms = 0;
	f.v.now = T_CREATED;
	CHECK_OK(admit(&f, &f.message, 0, NULL));
	f.v.now = T_CREATED - 1;
	CHECK_RET(admit(&f, &f.message, 0, NULL), MU_E_NOTYET);
	/* A huge skew must not wrap around. */
	f.v.skew_ms = UINT64_MAX;
	CHECK_OK(admit(&f, &f.message, 0, NULL));
	fx_free(&f);
}

static void test_admit_unknown_sender(void)
{
	struct mu_identity *stranger = seed_identity(0x09);
	struct enc e;
	struct fx f;

	fx_init(&f);
	make_bundle(&e, stranger, BK_MESSAGE, 4, T_CREATED, T_CREATED + T_DAY, NULL);
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_NOCRED);
	f.v.lookup = NULL;
	CHECK_RET(admit(&f, &f.message, 0, NULL), MU_E_NOCRED);
	f.v.lookup = lookup;
	f.lookup_err = -EIO; /* store failure passes through */
	CHECK_RET(admit(&f, &f.message, 0, NULL), -EIO);
	identity_free(stranger);
	fx_free(&f);
}

static void test_admit_mismatch(void)
{
	struct enc e;
	struct fx f;

	fx_init(&f);
	/* The paramedic republishing the doctor's credential. */
	make_bundle(&e, f.para, BK_CREDENTIAL, 4, T_CREATED, T_CREATED + T_DAY, &f.doctor_cred_enc);
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_MISMATCH);
	/* A lookup that returns someone else's credential. */
	f.lookup_wrong = 1;
	CHECK_RET(admit(&f, &f.message, 0, NULL), MU_E_MISMATCH);
	fx_free(&f);
}

static void test_admit_sender_cred(void)
{
	struct mu_identity *rogue_ca = seed_identity(0x0f);
	struct cred rogue_cred;
	struct enc rogue_enc, e;
	struct fx f;

	fx_init(&f);
	/* Credential window: the message is admitted only while its sender's
	 * credential is valid. */
	f.para_cred.valid_until = T_NOW;
	CHECK_LEN(cred_issue(f.para_cred_enc.b, sizeof(f.para_cred_enc.b), &f.para_cred, f.ca));
	CHECK_RET(admit(&f, &f.message, 0, NULL), MU_E_EXPIRED);
	f.para_cred.valid_until = T_UNTIL;
	f.para_cred.valid_from = T_NOW + 1;
	CHECK_LEN(cred_issue(f.para_cred_enc.b, sizeof(f.para_cred_enc.b), &f.para_cred, f.ca));
	CHECK_RET(admit(&f, &f.message, 0, NULL), MU_E_NOTYET);
	f.para_cred.valid_from = T_FROM;
	CHECK_LEN(cred_issue(f.para_cred_enc.b, sizeof(f.para_cred_enc.b), &f.para_cred, f.ca));
	CHECK_OK(admit(&f, &f.message, 0, NULL));

	/* Revoked. */
	f.revoked_para = 1;
	CHECK_RET(admit(&f, &f.message, 0, NULL), MU_E_REVOKED);
	make_bundle(&e, f.para, BK_CREDENTIAL, 4, T_CREATED, T_CREATED + T_DAY, &f.para_cred_enc);
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_REVOKED);
	f.revoked_para = 0;

	/* Credential from a CA we do not trust, as a lookup result and as a
	 * credential bundle. */
	make_cred(&rogue_cred, &rogue_enc, f.para, ROLE_AIC, "X-1", "Mallory", "", rogue_ca);
	f.para_cred = rogue_cred;
	CHECK_RET(admit(&f, &f.message, 0, NULL), MU_E_UNTRUSTED);
	make_bundle(&e, f.para, BK_CREDENTIAL, 4, T_CREATED, T_CREATED + T_DAY, &rogue_enc);
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_UNTRUSTED);

	/* A credential whose CA signature is broken. */
	memcpy(&rogue_enc, &f.para_cred_enc, sizeof(rogue_enc));
	rogue_enc.b[rogue_enc.n - 1] ^= 1;
	make_bundle(&e, f.para, BK_CREDENTIAL, 4, T_CREATED, T_CREATED + T_DAY, &rogue_enc);
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_SIG);

	/* A credential bundle whose payload is not a credential. */
	make_bundle(&e, f.para, BK_CREDENTIAL, 4, T_CREATED, T_CREATED + T_DAY, &f.revocation_payload);
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_FORMAT);
	identity_free(rogue_ca);
	fx_free(&f);
}

/* Admission remembers credentials whose CA signature it checked; what it
 * remembers must never stand in for the checks that change over time, nor
 * for a credential that differs in any byte. */
static void test_admit_memo(void)
{
	struct fx f;

	fx_init(&f);
	CHECK_OK(admit(&f, &f.message, 0, NULL)); /* remembered from here on */
	CHECK_OK(admit(&f, &f.message, 0, NULL));
	f.revoked_para = 1;
	CHECK_RET(admit(&f, &f.message, 0, NULL), MU_E_REVOKED);
	f.revoked_para = 0;
	f.v.now = f.para_cred.valid_until; /* the credential has run out */
	CHECK_RET(admit(&f, &f.message, 0, NULL), MU_E_EXPIRED);
	f.v.now = T_NOW;
	f.v.trust = &(struct trust){ 0 }; /* the CA is no longer trusted */
	CHECK_RET(admit(&f, &f.message, 0, NULL), MU_E_UNTRUSTED);
	f.v.trust = &f.trust;
	/* Same fields, forged signature: not the remembered credential. */
	f.para_cred.sig[0] ^= 1;
	CHECK_RET(admit(&f, &f.message, 0, NULL), MU_E_SIG);
	f.para_cred.sig[0] ^= 1;
	/* A changed field under the old signature likewise. */
	f.para_cred.role = ROLE_AIC;
	CHECK_RET(admit(&f, &f.message, 0, NULL), MU_E_SIG);
	fx_free(&f);
}

static void test_admit_revocation(void)
{
	struct mu_identity *rogue_ca = seed_identity(0x0f);
	struct enc e, bad;
	struct fx f;

	fx_init(&f);
	/* From a staff member, or from a CA we do not trust. */
	make_bundle(&e, f.para, BK_REVOCATION, 4, T_CREATED, T_CREATED + T_DAY, &f.revocation_payload);
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_UNTRUSTED);
	make_bundle(&e, rogue_ca, BK_REVOCATION, 4, T_CREATED, T_CREATED + T_DAY, &f.revocation_payload);
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_UNTRUSTED);
	f.v.trust = NULL;
	CHECK_RET(admit(&f, &f.revocation, 0, NULL), MU_E_UNTRUSTED);
	f.v.trust = &f.trust;

	/* From the CA but with a malformed payload. */
	memcpy(&bad, &f.revocation_payload, sizeof(bad));
	bad.b[0] = 2;
	make_bundle(&e, f.ca, BK_REVOCATION, 4, T_CREATED, T_CREATED + T_DAY, &bad);
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_VERSION);
	bad.n = 5;
	bad.b[0] = 1;
	make_bundle(&e, f.ca, BK_REVOCATION, 4, T_CREATED, T_CREATED + T_DAY, &bad);
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_FORMAT);
	/* A CA's revocation does not depend on the lookup. */
	f.v.lookup = NULL;
	CHECK_OK(admit(&f, &f.revocation, 0, NULL));
	identity_free(rogue_ca);
	fx_free(&f);
}

static void test_admit_sig(void)
{
	struct bundle b;
	struct enc e;
	struct fx f;

	fx_init(&f);
	e = f.message;
	e.b[e.n - 1] ^= 0x80;
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_SIG);
	e = f.message;
	e.b[e.n - MU_SIG_BYTES - 1] ^= 0x01; /* last payload byte */
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_SIG);
	e = f.revocation;
	e.b[e.n - 1] ^= 0x80;
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_SIG);

	/* b must come from enc: a struct decoded from other bytes fails. */
	CHECK_OK(bundle_decode(&b, f.message.b, f.message.n));
	CHECK_RET(bundle_admit(&f.v, &b, f.revocation.b, f.revocation.n, 0, NULL), MU_E_SIG);
	fx_free(&f);
}

/* The documented order: the first failing check is the one reported. */
static void test_admit_order(void)
{
	struct enc e;
	struct fx f;

	fx_init(&f);
	e = f.message;
	e.b[e.n - 1] ^= 0x80; /* bad signature, checked last */
	f.revoked_para = 1;
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_REVOKED);
	f.v.now = T_CREATED - VERIFY_SKEW_MS_DEFAULT - 1;
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_NOTYET);
	f.v.now = T_UNTIL;
	CHECK_RET(admit(&f, &e, 0, NULL), MU_E_EXPIRED);
	CHECK_RET(admit(&f, &e, 9, NULL), MU_E_HOPS);
	fx_free(&f);
}

/* -- published vectors -- */

struct vector {
	const char *name;
	const uint8_t *p;
	size_t n;
};

/* docs/protocol.md "Incident records": one record of each type (the
 * vectors use METHANE and RESPONSE; the fuzz seeds use all). */
static struct inc_record incident_example(uint8_t type)
{
	struct inc_record r = { .type = type, .incident = "INC-2026-0412" };

	switch ((enum inc_type)type) {
	case INC_METHANE:
		r.u.methane = (struct inc_methane){ .declared = METHANE_DECLARED, .loc_kind = LOC_GRID,
						    .location = "TQ 3012 8045", .type = "Train derailment",
						    .hazards = "Overhead lines", .access = "RVP car park",
						    .casualties = { 5, 20, 40, 1 }, .services = "Fire, police, HART" };
		break;
	case INC_CHECKIN:
		r.u.checkin = (struct inc_checkin){ .callsign = "A12", .status = CREW_AVAILABLE, .skills = 3,
						    .vehicle = "AM-12", .n_members = 1 };
		memset(r.u.checkin.members[0], 0x81, MU_KEY_BYTES);
		break;
	case INC_ASSIGN:
		r.u.assign = (struct inc_assign){ .callsign = "A12", .function = "triage", .sector = "sector 2" };
		break;
	case INC_ASSIGN_ACK:
		r.u.ack = (struct inc_assign_ack){ .callsign = "A12" };
		break;
	case INC_REQUEST:
		r.u.request = (struct inc_request){ .count = 4, .skill = SKILL_HART, .sector = "inner cordon" };
		break;
	case INC_RESPONSE:
		r.u.response = (struct inc_response){ .callsign = "H3", .accept = 1, .count = 2 };
		break;
	case INC_TRIAGE:
		r.u.triage = (struct inc_triage){ .ccs = "CCS North", .count = { 3, 7, 21, 1 }, .at = T_CREATED };
		break;
	case INC_CASUALTY:
		r.u.casualty = (struct inc_casualty){ .tag = "T-0042", .priority = TRIAGE_P1,
						      .destination = "Royal London", .departed = T_CREATED };
		break;
	}
	r.has_ref = type == INC_ASSIGN_ACK || type == INC_RESPONSE;
	memset(r.ref, r.has_ref ? 0x72 : 0, sizeof(r.ref));
	if (type == INC_TRIAGE || type == INC_CASUALTY) {
		r.has_prev = true;
		memset(r.prev, 0x3d, sizeof(r.prev));
	}
	return r;
}

static size_t incident_encoding(uint8_t type, uint8_t out[static INC_ENC_MAX])
{
	struct inc_record r = incident_example(type);

	return (size_t)CHECK_LEN(inc_encode(out, INC_ENC_MAX, &r));
}

static size_t fx_vectors(const struct fx *f, struct vector *v)
{
	static uint8_t inc_methane[INC_ENC_MAX], inc_response[INC_ENC_MAX];
	static uint8_t receipt[RECEIPT_HDR_BYTES + 2 * BUNDLE_ID_BYTES];
	uint8_t rids[2][BUNDLE_ID_BYTES];
	size_t n = 0;

	v[n++] = (struct vector){ "ca-sign-pk", identity_sign_pk(f->ca), MU_KEY_BYTES };
	v[n++] = (struct vector){ "paramedic-sign-pk", identity_sign_pk(f->para), MU_KEY_BYTES };
	v[n++] = (struct vector){ "paramedic-kx-pk", identity_kx_pk(f->para), MU_KEY_BYTES };
	v[n++] = (struct vector){ "doctor-sign-pk", identity_sign_pk(f->doctor), MU_KEY_BYTES };
	v[n++] = (struct vector){ "credential", f->para_cred_enc.b, f->para_cred_enc.n };
	v[n++] = (struct vector){ "message-bundle", f->message.b, f->message.n };
	v[n++] = (struct vector){ "message-bundle-id", f->message_id, BUNDLE_ID_BYTES };
	v[n++] = (struct vector){ "revocation-payload", f->revocation_payload.b, f->revocation_payload.n };
	v[n++] = (struct vector){ "revocation-bundle", f->revocation.b, f->revocation.n };
	v[n++] = (struct vector){ "revocation-bundle-id", f->revocation_id, BUNDLE_ID_BYTES };
	memcpy(rids[0], f->message_id, BUNDLE_ID_BYTES);
	memcpy(rids[1], f->revocation_id, BUNDLE_ID_BYTES);
	v[n++] = (struct vector){ "receipt-payload", receipt,
				  (size_t)CHECK_LEN(receipt_encode(receipt, sizeof(receipt), RECEIPT_CUSTODY,
								   (const uint8_t(*)[BUNDLE_ID_BYTES])rids, 2)) };
	v[n++] = (struct vector){ "incident-methane", inc_methane, incident_encoding(INC_METHANE, inc_methane) };
	v[n++] = (struct vector){ "incident-response", inc_response, incident_encoding(INC_RESPONSE, inc_response) };
	return n;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!fp)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, fp) == (size_t)n) {
			buf[n] = 0;
			*len = (size_t)n;
		} else {
			free(buf);
			buf = NULL;
		}
	}
	fclose(fp);
	return buf;
}

/* Vector blocks in docs/protocol.md look like
 *
 *   ```
 *   vector: NAME
 *   4d4301...   (hex, wrapped over any number of lines)
 *   ```
 *
 * Every vector the code produces must appear exactly once with the same
 * bytes, and the document must hold no vector the code does not produce. */
static void test_protocol_md(void)
{
	struct vector v[16];
	int seen[16] = { 0 };
	size_t nv, len;
	struct fx f;
	char *doc = read_all(MU_PROTOCOL_MD, &len), *line, *save = NULL;
	char *name = NULL, *hex = NULL;
	size_t hex_len = 0;
	int in_block = 0, blocks = 0;

	if (!doc)
		fprintf(stderr, "cannot read %s\n", MU_PROTOCOL_MD);
	CHECK(doc);
	fx_init(&f);
	nv = fx_vectors(&f, v);
	hex = malloc(len + 1);
	CHECK(hex);
	for (line = strtok_r(doc, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "```", 3)) {
			if (in_block && name) {
				size_t i;

				hex[hex_len] = 0;
				for (i = 0; i < nv && strcmp(v[i].name, name); i++)
					;
				if (i == nv)
					fprintf(stderr, "protocol.md: unknown vector '%s'\n", name);
				CHECK(i < nv);
				seen[i]++;
				if (hex_len != 2 * v[i].n)
					fprintf(stderr, "protocol.md: vector '%s' has %zu hex digits, wanted %zu\n", name,
						hex_len, 2 * v[i].n);
				CHECK(hex_len == 2 * v[i].n);
				check_hex(v[i].p, v[i].n, hex);
				blocks++;
			}
			in_block = !in_block;
			name = NULL;
			hex_len = 0;
			continue;
		}
		if (!in_block)
			continue;
		if (!name && hex_len == 0 && !strncmp(line, "vector: ", 8)) {
			name = line + 8;
			continue;
		}
		if (!name)
			continue; /* some other code block */
		for (char *c = line; *c; c++) {
			if (*c == ' ' || *c == '\t' || *c == '\r')
				continue;
			hex[hex_len++] = *c;
		}
	}
	CHECK(!in_block);
	for (size_t i = 0; i < nv; i++) {
		if (seen[i] != 1)
			fprintf(stderr, "protocol.md: vector '%s' appears %d times\n", v[i].name, seen[i]);
		CHECK(seen[i] == 1);
	}
	CHECK(blocks == (int)nv);
	free(hex);
	free(doc);
	fx_free(&f);
}

/* Seeds for the fuzzers: valid encodings of each shape. With
 * MU_REGEN_CORPUS=1 they are (re)written; otherwise the committed files must
 * be exactly what the code produces now. */
static void corpus_file(const char *dir, const char *file, const uint8_t *p, size_t n)
{
	char path[4096];
	size_t len = 0;
	char *have;
	const char *regen = getenv("MU_REGEN_CORPUS");

	snprintf(path, sizeof(path), "%s/%s/%s", MU_CORPUS_DIR, dir, file);
	if (regen && *regen == '1') {
		FILE *fp = fopen(path, "wb");

		if (!fp)
			perror(path);
		CHECK(fp);
		CHECK(fwrite(p, 1, n, fp) == n);
		CHECK(fclose(fp) == 0);
		printf("wrote %s\n", path);
		return;
	}
	have = read_all(path, &len);
	if (!have || len != n || memcmp(have, p, n))
		fprintf(stderr, "%s is missing or stale; rerun with MU_REGEN_CORPUS=1\n", path);
	CHECK(have && len == n && !memcmp(have, p, n));
	free(have);
}

static void test_corpus(void)
{
	struct cred c;
	struct enc e, payload;
	struct bundle b;
	struct fx f;
	uint8_t key[MU_KEY_BYTES] = { 0 };

	fx_init(&f);
	corpus_file("fuzz_cred", "paramedic.bin", f.para_cred_enc.b, f.para_cred_enc.n);
	c = f.doctor_cred;
	c.reg[0] = 0;
	c.role = ROLE_NODE;
	strcpy(c.name, "Node \xc3\xa9\xe2\x82\xac\xf0\x9f\x9a\x91");
	e.n = (size_t)CHECK_LEN(cred_issue(e.b, sizeof(e.b), &c, f.ca));
	corpus_file("fuzz_cred", "node-no-reg.bin", e.b, e.n);

	corpus_file("fuzz_bundle", "message-person.bin", f.message.b, f.message.n);
	corpus_file("fuzz_bundle", "revocation.bin", f.revocation.b, f.revocation.n);
	make_bundle(&e, f.para, BK_CREDENTIAL, BUNDLE_HOPS_MAX, T_FROM, T_UNTIL, &f.para_cred_enc);
	corpus_file("fuzz_bundle", "credential.bin", e.b, e.n);
	b = (struct bundle){ .kind = BK_MESSAGE, .prio = PRIO_IMMEDIATE, .hop_limit = 1, .created = T_CREATED,
			     .expires = T_CREATED + 1, .dest_type = DEST_ROLE, .dest_len = 1,
			     .dest = { ROLE_AIC } };
	seal(&e, &b, f.para);
	corpus_file("fuzz_bundle", "message-role-empty.bin", e.b, e.n);
	payload.n = 100;
	memset(payload.b, 0xc5, payload.n);
	b = (struct bundle){ .kind = 200, .prio = PRIO_BULK, .hop_limit = 16, .created = 0,
			     .expires = UINT64_MAX, .dest_type = DEST_CHANNEL, .dest_len = 16,
			     .payload = payload.b, .payload_len = payload.n };
	memset(b.dest, 0x3c, 16);
	seal(&e, &b, f.doctor);
	corpus_file("fuzz_bundle", "unknown-kind-channel.bin", e.b, e.n);

	corpus_file("fuzz_revocation", "lost.bin", f.revocation_payload.b, f.revocation_payload.n);
	memset(key, 0xff, sizeof(key));
	e.n = (size_t)CHECK_LEN(revocation_encode(e.b, key, REVOKE_WIPE));
	corpus_file("fuzz_revocation", "wipe.bin", e.b, e.n);
	for (uint8_t t = 1; t <= INC_TYPE_MAX; t++) {
		uint8_t enc[INC_ENC_MAX];
		char file[32];
		size_t n = incident_encoding(t, enc);

		snprintf(file, sizeof(file), "%s.bin", inc_type_name(t));
		corpus_file("fuzz_incident", file, enc, n);
	}
	fx_free(&f);
}

static const struct test tests[] = {
	{ "/revocation/vector", test_revocation_vector },
	{ "/revocation/decode", test_revocation_decode },
	{ "/verify/admit/ok", test_admit_ok },
	{ "/verify/admit/hops", test_admit_hops },
	{ "/verify/admit/expired", test_admit_expired },
	{ "/verify/admit/future", test_admit_future },
	{ "/verify/admit/unknown-sender", test_admit_unknown_sender },
	{ "/verify/admit/mismatch", test_admit_mismatch },
	{ "/verify/admit/sender-cred", test_admit_sender_cred },
	{ "/verify/admit/revocation", test_admit_revocation },
	{ "/verify/admit/memo", test_admit_memo },
	{ "/verify/admit/sig", test_admit_sig },
	{ "/verify/admit/order", test_admit_order },
	{ "/vectors/protocol-md", test_protocol_md },
	{ "/vectors/corpus", test_corpus },
};

TEST_MAIN(tests)
