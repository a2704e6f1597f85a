/* Incident record codec: round trips, every cap, every required field,
 * text rules, enum ranges, cross-field rules, truncation and trailing
 * bytes. Decoder cases are made by splicing a valid encoding, so each one
 * differs from a valid input in exactly one field. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "incident.h"
#include "testutil.h"
#include "text.h"

#define MARK "QQ" /* appears in no sample field */

static void sample(struct inc_record *r, uint8_t type)
{
	memset(r, 0, sizeof(*r));
	r->type = type;
	strcpy(r->incident, "INC-2026-0412");
	switch ((enum inc_type)type) {
	case INC_METHANE:
		r->has_prev = true;
		memset(r->prev, 0xa1, sizeof(r->prev));
		r->u.methane.declared = METHANE_DECLARED;
		r->u.methane.loc_kind = LOC_GRID;
		strcpy(r->u.methane.location, "TQ 3012 8045");
		strcpy(r->u.methane.type, "Train derailment, two carriages on their side");
		strcpy(r->u.methane.hazards, "Overhead lines down");
		strcpy(r->u.methane.access, "From the north via Station Rd; RVP in the car park");
		r->u.methane.casualties[0] = 12;
		r->u.methane.casualties[1] = 30;
		r->u.methane.casualties[2] = 65535;
		r->u.methane.casualties[3] = 2;
		strcpy(r->u.methane.casualty_note, "estimate");
		strcpy(r->u.methane.services, "Fire, police, HART, air ambulance \xf0\x9f\x9a\x91");
		break;
	case INC_CHECKIN:
		strcpy(r->u.checkin.callsign, "A12");
		r->u.checkin.status = CREW_COMMITTED;
		r->u.checkin.skills = 1u << SKILL_PARAMEDIC | 1u << SKILL_SPECIALIST;
		strcpy(r->u.checkin.vehicle, "AM-12");
		strcpy(r->u.checkin.location, "Sector 2");
		r->u.checkin.n_members = 2;
		memset(r->u.checkin.members[0], 0x11, MU_KEY_BYTES);
		memset(r->u.checkin.members[1], 0x22, MU_KEY_BYTES);
		break;
	case INC_ASSIGN:
		strcpy(r->u.assign.callsign, "A12");
		strcpy(r->u.assign.function, "triage");
		strcpy(r->u.assign.sector, "sector 2");
		strcpy(r->u.assign.note, "report to forward command first");
		break;
	case INC_ASSIGN_ACK:
		r->has_ref = true;
		memset(r->ref, 0xb2, sizeof(r->ref));
		strcpy(r->u.ack.callsign, "A12");
		break;
	case INC_REQUEST:
		r->has_prev = true;
		memset(r->prev, 0xc3, sizeof(r->prev));
		r->u.request.count = 4;
		r->u.request.skill = SKILL_HART;
		strcpy(r->u.request.sector, "inner cordon");
		strcpy(r->u.request.note, "confined space");
		r->u.request.cancelled = 1;
		break;
	case INC_RESPONSE:
		r->has_ref = true;
		memset(r->ref, 0xd4, sizeof(r->ref));
		strcpy(r->u.response.callsign, "H3");
		r->u.response.accept = 1;
		r->u.response.count = 3;
		break;
	case INC_TRIAGE:
		strcpy(r->u.triage.ccs, "CCS North");
		r->u.triage.count[0] = 3;
		r->u.triage.count[1] = 7;
		r->u.triage.count[2] = 21;
		r->u.triage.count[3] = 1;
		r->u.triage.at = 1780315800000ull;
		break;
	case INC_CASUALTY:
		strcpy(r->u.casualty.tag, "T-0042");
		r->u.casualty.priority = TRIAGE_P1;
		strcpy(r->u.casualty.destination, "Royal London Hospital");
		r->u.casualty.departed = 1780316400000ull;
		strcpy(r->u.casualty.note, "head injury");
		break;
	}
}

static int encode(uint8_t *out, const struct inc_record *r)
{
	return inc_encode(out, INC_ENC_MAX, r);
}

static void test_roundtrip(void)
{
	for (uint8_t t = 1; t <= INC_TYPE_MAX; t++) {
		struct inc_record r, d;
		uint8_t a[INC_ENC_MAX], b[INC_ENC_MAX];
		int n, m;

		sample(&r, t);
		n = CHECK_LEN(encode(a, &r));
		CHECK(n > 4 && a[0] == 'M' && a[1] == 'I' && a[2] == INC_VERSION && a[3] == t);
		CHECK_OK(inc_decode(&d, a, (size_t)n));
		CHECK(!memcmp(&r, &d, sizeof(r)));
		m = CHECK_LEN(encode(b, &d));
		CHECK(m == n && !memcmp(a, b, (size_t)n));
		/* Without the optional prev/ref flags where allowed. */
		if (t != INC_ASSIGN_ACK && t != INC_RESPONSE && t != INC_REQUEST) {
			r.has_prev = false;
			memset(r.prev, 0, sizeof(r.prev));
			m = CHECK_LEN(encode(b, &r));
			CHECK(m == n - (r.type == INC_METHANE ? BUNDLE_ID_BYTES : 0));
			CHECK_OK(inc_decode(&d, b, (size_t)m));
			CHECK(!memcmp(&r, &d, sizeof(r)));
		}
	}
}

/* Truncation at every length, and one trailing byte, fail and zero *r. */
static void test_truncated_trailing(void)
{
	static const uint8_t zero[sizeof(struct inc_record)];

	for (uint8_t t = 1; t <= INC_TYPE_MAX; t++) {
		struct inc_record r, d;
		uint8_t a[INC_ENC_MAX + 1];
		int n;

		sample(&r, t);
		n = CHECK_LEN(encode(a, &r));
		for (int len = 0; len < n; len++) {
			memset(&d, 0x5a, sizeof(d));
			CHECK(inc_decode(&d, a, (size_t)len) != 0);
			CHECK(!memcmp(&d, zero, sizeof(d)));
		}
		a[n] = 0;
		memset(&d, 0x5a, sizeof(d));
		CHECK_RET(inc_decode(&d, a, (size_t)n + 1), MU_E_FORMAT);
		CHECK(!memcmp(&d, zero, sizeof(d)));
	}
}

static void test_header(void)
{
	struct inc_record r, d;
	uint8_t a[INC_ENC_MAX];
	int n;

	sample(&r, INC_TRIAGE);
	n = CHECK_LEN(encode(a, &r));
	a[0] = 'X';
	CHECK_RET(inc_decode(&d, a, (size_t)n), MU_E_FORMAT);
	a[0] = 'M';
	a[2] = 2;
	CHECK_RET(inc_decode(&d, a, (size_t)n), MU_E_VERSION);
	a[2] = 0;
	CHECK_RET(inc_decode(&d, a, (size_t)n), MU_E_VERSION);
	a[2] = INC_VERSION;
	a[3] = 0;
	CHECK_RET(inc_decode(&d, a, (size_t)n), MU_E_FORMAT);
	a[3] = INC_TYPE_MAX + 1;
	CHECK_RET(inc_decode(&d, a, (size_t)n), MU_E_FORMAT);
	a[3] = INC_TRIAGE;
	/* flags byte follows the incident name */
	CHECK(a[4 + 1 + strlen(r.incident)] == 0);
	a[4 + 1 + strlen(r.incident)] = 4;
	CHECK_RET(inc_decode(&d, a, (size_t)n), MU_E_FORMAT);
	a[4 + 1 + strlen(r.incident)] = 0;
	CHECK_OK(inc_decode(&d, a, (size_t)n));
	r.type = 0;
	CHECK_RET(encode(a, &r), MU_E_FORMAT);
	r.type = INC_TYPE_MAX + 1;
	CHECK_RET(encode(a, &r), MU_E_FORMAT);
}

/* ---- text fields ---- */

struct tfield {
	uint8_t type;
	size_t off; /* within struct inc_record */
	size_t cap;
	int required;
};

#define TF(t, m, cap, req) { t, offsetof(struct inc_record, m), cap, req }

static const struct tfield tfields[] = {
	TF(INC_TRIAGE, incident, INC_NAME_MAX, 1),
	TF(INC_METHANE, u.methane.location, INC_PLACE_MAX, 1),
	TF(INC_METHANE, u.methane.type, INC_TEXT_MAX, 1),
	TF(INC_METHANE, u.methane.hazards, INC_TEXT_MAX, 0),
	TF(INC_METHANE, u.methane.access, INC_TEXT_MAX, 0),
	TF(INC_METHANE, u.methane.casualty_note, INC_TEXT_MAX, 0),
	TF(INC_METHANE, u.methane.services, INC_TEXT_MAX, 1),
	TF(INC_CHECKIN, u.checkin.callsign, INC_SHORT_MAX, 1),
	TF(INC_CHECKIN, u.checkin.vehicle, INC_SHORT_MAX, 0),
	TF(INC_CHECKIN, u.checkin.location, INC_PLACE_MAX, 0),
	TF(INC_ASSIGN, u.assign.callsign, INC_SHORT_MAX, 1),
	TF(INC_ASSIGN, u.assign.function, INC_SHORT_MAX, 1),
	TF(INC_ASSIGN, u.assign.sector, INC_SHORT_MAX, 0),
	TF(INC_ASSIGN, u.assign.note, INC_TEXT_MAX, 0),
	TF(INC_ASSIGN_ACK, u.ack.callsign, INC_SHORT_MAX, 1),
	TF(INC_REQUEST, u.request.sector, INC_SHORT_MAX, 1),
	TF(INC_REQUEST, u.request.note, INC_TEXT_MAX, 0),
	TF(INC_RESPONSE, u.response.callsign, INC_SHORT_MAX, 1),
	TF(INC_TRIAGE, u.triage.ccs, INC_SHORT_MAX, 1),
	TF(INC_CASUALTY, u.casualty.tag, INC_SHORT_MAX, 1),
	TF(INC_CASUALTY, u.casualty.destination, INC_PLACE_MAX, 1),
	TF(INC_CASUALTY, u.casualty.note, INC_TEXT_MAX, 0),
};

/* The sample encoding with field f set to MARK, and where MARK's length
 * byte sits. */
static int marked(const struct tfield *f, struct inc_record *r, uint8_t *a, size_t *at)
{
	int n;

	sample(r, f->type);
	strcpy((char *)r + f->off, MARK);
	n = CHECK_LEN(encode(a, r));
	for (size_t i = 0; i + 3 <= (size_t)n; i++) {
		if (a[i] == 2 && !memcmp(a + i + 1, MARK, 2)) {
			*at = i;
			return n;
		}
	}
	CHECK(!"marker not found");
	return 0;
}

/* Decodes the marked encoding with MARK's lv8 replaced by len bytes of v. */
static int decode_spliced(const struct tfield *f, const uint8_t *v, size_t len)
{
	struct inc_record r, d;
	uint8_t a[INC_ENC_MAX], b[INC_ENC_MAX + 300];
	size_t at = 0, m;
	int n = marked(f, &r, a, &at);

	memcpy(b, a, at);
	b[at] = (uint8_t)len;
	memcpy(b + at + 1, v, len);
	m = at + 1 + len;
	memcpy(b + m, a + at + 3, (size_t)n - at - 3);
	m += (size_t)n - at - 3;
	return inc_decode(&d, b, m);
}

static int encode_with(const struct tfield *f, const char *v, size_t len)
{
	struct inc_record r;
	uint8_t a[INC_ENC_MAX];

	sample(&r, f->type);
	memcpy((char *)&r + f->off, v, len); /* no NUL when len = cap + 1 */
	if (len <= f->cap)
		((char *)&r + f->off)[len] = 0;
	return encode(a, &r);
}

static void test_text_fields(void)
{
	char big[300];

	memset(big, 'a', sizeof(big));
	for (size_t i = 0; i < sizeof(tfields) / sizeof(tfields[0]); i++) {
		const struct tfield *f = &tfields[i];

		/* at the cap: fine both ways */
		CHECK_OK(decode_spliced(f, (const uint8_t *)big, f->cap));
		CHECK(encode_with(f, big, f->cap) > 0);
		/* one over: MU_E_TOOBIG (on the wire only where lv8 can say it) */
		CHECK_RET(encode_with(f, big, f->cap + 1), MU_E_TOOBIG);
		if (f->cap + 1 <= 255)
			CHECK_RET(decode_spliced(f, (const uint8_t *)big, f->cap + 1), MU_E_TOOBIG);
		/* empty */
		if (f->required) {
			CHECK_RET(decode_spliced(f, (const uint8_t *)"", 0), MU_E_FORMAT);
			CHECK_RET(encode_with(f, "", 0), MU_E_FORMAT);
		} else {
			CHECK_OK(decode_spliced(f, (const uint8_t *)"", 0));
			CHECK(encode_with(f, "", 0) > 0);
		}
		/* invalid UTF-8 and control characters */
		static const char *const bad[] = { "a\nb", "\t", "x\x7f", "\xc3\x28", "\xc0\xaf", "\xed\xa0\x80",
						   "\xf4\x90\x80\x80", "\xe2\x82", "\xff" };
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			CHECK_RET(decode_spliced(f, (const uint8_t *)bad[k], strlen(bad[k])), MU_E_FORMAT);
			CHECK_RET(encode_with(f, bad[k], strlen(bad[k])), MU_E_FORMAT);
		}
		CHECK_OK(decode_spliced(f, (const uint8_t *)"\xc3\xa9\xe2\x82\xac", 5));
	}
}

/* ---- enums and counts ---- */

struct efield {
	uint8_t type;
	size_t off;
	uint8_t good, other; /* two valid values (they locate the byte) */
	uint8_t bad[3];
	size_t nbad;
};

#define EF(t, m, g, o, ...) { t, offsetof(struct inc_record, m), g, o, { __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ }) }

static const struct efield efields[] = {
	EF(INC_METHANE, u.methane.declared, 0, 3, 4, 255),
	EF(INC_METHANE, u.methane.loc_kind, 0, 3, 4),
	EF(INC_CHECKIN, u.checkin.status, 0, 3, 4),
	EF(INC_CHECKIN, u.checkin.skills, 0, 0x3f, 0x40, 0x80),
	EF(INC_REQUEST, u.request.count, 1, 99, 0, 100),
	EF(INC_REQUEST, u.request.skill, 0, 5, 6),
	EF(INC_REQUEST, u.request.cancelled, 0, 1, 2),
	EF(INC_RESPONSE, u.response.count, 1, 99, 0, 100),
	EF(INC_CASUALTY, u.casualty.priority, 0, 2, 3, 4),
};

static void test_enums(void)
{
	for (size_t i = 0; i < sizeof(efields) / sizeof(efields[0]); i++) {
		const struct efield *f = &efields[i];
		struct inc_record r, d;
		uint8_t a[INC_ENC_MAX], b[INC_ENC_MAX];
		int n, m;
		size_t at = SIZE_MAX;

		sample(&r, f->type);
		*((uint8_t *)&r + f->off) = f->good;
		n = CHECK_LEN(encode(a, &r));
		*((uint8_t *)&r + f->off) = f->other;
		m = CHECK_LEN(encode(b, &r));
		CHECK(n == m);
		for (size_t k = 0; k < (size_t)n; k++) {
			if (a[k] != b[k]) {
				CHECK(at == SIZE_MAX);
				at = k;
			}
		}
		CHECK(at != SIZE_MAX && a[at] == f->good);
		for (size_t k = 0; k < f->nbad; k++) {
			*((uint8_t *)&r + f->off) = f->bad[k];
			CHECK_RET(encode(b, &r), MU_E_FORMAT);
			a[at] = f->bad[k];
			CHECK_RET(inc_decode(&d, a, (size_t)n), MU_E_FORMAT);
		}
	}
}

static void test_members(void)
{
	struct inc_record r, d;
	uint8_t a[INC_ENC_MAX];
	int n;
	size_t at;

	sample(&r, INC_CHECKIN);
	r.u.checkin.n_members = INC_MEMBERS_MAX;
	for (int k = 0; k < INC_MEMBERS_MAX; k++)
		memset(r.u.checkin.members[k], k + 1, MU_KEY_BYTES);
	n = CHECK_LEN(encode(a, &r));
	CHECK_OK(inc_decode(&d, a, (size_t)n));
	CHECK(!memcmp(&r, &d, sizeof(r)));
	at = (size_t)n - 1 - INC_MEMBERS_MAX * MU_KEY_BYTES;
	CHECK(a[at] == INC_MEMBERS_MAX);
	a[at] = INC_MEMBERS_MAX + 1;
	CHECK_RET(inc_decode(&d, a, (size_t)n), MU_E_TOOBIG);
	r.u.checkin.n_members = INC_MEMBERS_MAX + 1;
	CHECK_RET(encode(a, &r), MU_E_TOOBIG);
	r.u.checkin.n_members = 0;
	n = CHECK_LEN(encode(a, &r));
	CHECK_OK(inc_decode(&d, a, (size_t)n));
	CHECK(d.u.checkin.n_members == 0);
}

/* Rules that tie fields together, checked by both sides. */
static void test_cross_rules(void)
{
	struct inc_record r, d;
	uint8_t a[INC_ENC_MAX];
	int n;

	sample(&r, INC_ASSIGN_ACK);
	r.has_ref = false;
	CHECK_RET(encode(a, &r), MU_E_FORMAT);
	sample(&r, INC_RESPONSE);
	r.has_ref = false;
	CHECK_RET(encode(a, &r), MU_E_FORMAT);
	sample(&r, INC_ASSIGN);
	r.has_ref = true;
	CHECK_RET(encode(a, &r), MU_E_FORMAT);
	sample(&r, INC_RESPONSE);
	r.u.response.accept = 0;
	CHECK_RET(encode(a, &r), MU_E_FORMAT); /* a decline offers nobody */
	r.u.response.count = 0;
	n = CHECK_LEN(encode(a, &r));
	a[n - 1] = 1; /* count */
	CHECK_RET(inc_decode(&d, a, (size_t)n), MU_E_FORMAT);
	sample(&r, INC_RESPONSE);
	r.u.response.accept = 2;
	CHECK_RET(encode(a, &r), MU_E_FORMAT);
	sample(&r, INC_REQUEST);
	r.has_prev = false;
	CHECK_RET(encode(a, &r), MU_E_FORMAT); /* only an update cancels */
	r.u.request.cancelled = 0;
	n = CHECK_LEN(encode(a, &r));
	a[n - 1] = 1;
	CHECK_RET(inc_decode(&d, a, (size_t)n), MU_E_FORMAT);
	/* flags: ref bit on a type without ref */
	sample(&r, INC_TRIAGE);
	n = CHECK_LEN(encode(a, &r));
	CHECK_OK(inc_check(&r));
	a[4 + 1 + strlen(r.incident)] = 2;
	CHECK(inc_decode(&d, a, (size_t)n) != 0);
}

static void test_sizes(void)
{
	struct inc_record r, d;
	uint8_t a[INC_ENC_MAX];
	int n;

	sample(&r, INC_METHANE);
	memset(r.u.methane.location, 'l', INC_PLACE_MAX);
	memset(r.u.methane.type, 't', INC_TEXT_MAX);
	memset(r.u.methane.hazards, 'h', INC_TEXT_MAX);
	memset(r.u.methane.access, 'a', INC_TEXT_MAX);
	memset(r.u.methane.casualty_note, 'c', INC_TEXT_MAX);
	memset(r.u.methane.services, 's', INC_TEXT_MAX);
	memset(r.incident, 'i', INC_NAME_MAX);
	n = CHECK_LEN(encode(a, &r));
	CHECK(n <= INC_ENC_MAX);
	printf("largest METHANE encoding: %d bytes (INC_ENC_MAX %d)\n", n, INC_ENC_MAX);
	CHECK_OK(inc_decode(&d, a, (size_t)n));
	CHECK(!memcmp(&r, &d, sizeof(r)));
	CHECK_RET(inc_encode(a, (size_t)n - 1, &r), MU_E_TOOBIG);
	CHECK_RET(inc_encode(a, 0, &r), MU_E_TOOBIG);
}

static void test_names(void)
{
	const char *(*const namefn[])(uint8_t) = { inc_type_name, inc_declared_name, inc_loc_kind_name,
						  inc_skill_name, inc_crew_status_name, inc_triage_name };
	int (*const parsefn[])(const char *, uint8_t *) = { inc_type_parse, inc_declared_parse,
							    inc_loc_kind_parse, inc_skill_parse,
							    inc_crew_status_parse, inc_triage_parse };
	const int count[] = { INC_TYPE_MAX, 4, 4, SKILL_MAX + 1, CREW_STATUS_MAX + 1, 4 };

	for (size_t f = 0; f < 6; f++) {
		int named = 0;
		uint8_t v = 0xee;

		for (int x = 0; x < 256; x++) {
			const char *s = namefn[f]((uint8_t)x);

			if (!s)
				continue;
			named++;
			CHECK_OK(parsefn[f](s, &v));
			CHECK(v == x);
		}
		CHECK(named == count[f]);
		CHECK_RET(parsefn[f]("nonsense", &v), MU_E_FORMAT);
		CHECK_RET(parsefn[f]("", &v), MU_E_FORMAT);
	}
	CHECK(!strcmp(inc_triage_name(TRIAGE_P1), "P1"));
	CHECK(!strcmp(inc_type_name(INC_METHANE), "methane"));
	CHECK(inc_type_name(0) == NULL);
}

static void test_text_valid(void)
{
	CHECK(mu_text_valid((const uint8_t *)"", 0));
	CHECK(mu_text_valid((const uint8_t *)"plain ASCII ~", 13));
	CHECK(mu_text_valid((const uint8_t *)"\xf4\x8f\xbf\xbf", 4));
	CHECK(!mu_text_valid((const uint8_t *)"\xf4\x90\x80\x80", 4));
	CHECK(!mu_text_valid((const uint8_t *)"\xe0\x80\x80", 3));
	CHECK(!mu_text_valid((const uint8_t *)"\x1b[31m", 5));
	CHECK(!mu_text_valid((const uint8_t *)"a\0b", 3));
}

static const struct test tests[] = {
	{ "/incident/codec/roundtrip", test_roundtrip },
	{ "/incident/codec/truncated-trailing", test_truncated_trailing },
	{ "/incident/codec/header", test_header },
	{ "/incident/codec/text-fields", test_text_fields },
	{ "/incident/codec/enums", test_enums },
	{ "/incident/codec/members", test_members },
	{ "/incident/codec/cross-rules", test_cross_rules },
	{ "/incident/codec/sizes", test_sizes },
	{ "/incident/names", test_names },
	{ "/incident/text-valid", test_text_valid },
};

TEST_MAIN(tests)
