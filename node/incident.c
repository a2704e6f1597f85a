#include "incident.h"

#include <stddef.h>
#include <string.h>

#include "err.h"
#include "text.h"
#include "wire.h"

_Static_assert(INC_NAME_MAX <= 255 && INC_SHORT_MAX <= 255 && INC_PLACE_MAX <= 255 && INC_TEXT_MAX <= 255,
	       "text lengths are u8 on the wire");

#define FLAG_PREV 1
#define FLAG_REF 2

/* ---- names ---- */

static const char *const type_names[INC_TYPE_MAX + 1] = {
	[INC_METHANE] = "methane", [INC_CHECKIN] = "checkin",   [INC_ASSIGN] = "assign",
	[INC_ASSIGN_ACK] = "ack",  [INC_REQUEST] = "request",   [INC_RESPONSE] = "response",
	[INC_TRIAGE] = "triage",   [INC_CASUALTY] = "casualty",
};
static const char *const declared_names[] = { "not-declared", "declared", "standby", "stand-down" };
static const char *const loc_names[] = { "grid", "w3w", "latlon", "text" };
static const char *const skill_names[SKILL_MAX + 1] = { "paramedic", "technician", "hart",
							"doctor",    "nurse",      "specialist" };
static const char *const status_names[CREW_STATUS_MAX + 1] = { "available", "committed", "transporting",
								"checked-out" };
static const char *const triage_names[] = { "P1", "P2", "P3", "dead" };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, uint8_t v)
{
	return v < n ? names[v] : NULL;
}

static int parse_of(const char *const *names, size_t n, const char *s, uint8_t *out)
{
	for (size_t i = 0; s && i < n; i++) {
		if (names[i] && !strcmp(s, names[i])) {
			*out = (uint8_t)i;
			return 0;
		}
	}
	return MU_E_FORMAT;
}

const char *inc_type_name(uint8_t type)
{
	return name_of(type_names, COUNT(type_names), type);
}

const char *inc_declared_name(uint8_t d)
{
	return name_of(declared_names, COUNT(declared_names), d);
}

const char *inc_loc_kind_name(uint8_t k)
{
	return name_of(loc_names, COUNT(loc_names), k);
}

const char *inc_skill_name(uint8_t skill)
{
	return name_of(skill_names, COUNT(skill_names), skill);
}

const char *inc_crew_status_name(uint8_t s)
{
	return name_of(status_names, COUNT(status_names), s);
}

const char *inc_triage_name(uint8_t cat)
{
	return name_of(triage_names, COUNT(triage_names), cat);
}

int inc_type_parse(const char *s, uint8_t *out)
{
	return parse_of(type_names, COUNT(type_names), s, out);
}

int inc_declared_parse(const char *s, uint8_t *out)
{
	return parse_of(declared_names, COUNT(declared_names), s, out);
}

int inc_loc_kind_parse(const char *s, uint8_t *out)
{
	return parse_of(loc_names, COUNT(loc_names), s, out);
}

int inc_skill_parse(const char *s, uint8_t *out)
{
	return parse_of(skill_names, COUNT(skill_names), s, out);
}

int inc_crew_status_parse(const char *s, uint8_t *out)
{
	return parse_of(status_names, COUNT(status_names), s, out);
}

int inc_triage_parse(const char *s, uint8_t *out)
{
	return parse_of(triage_names, COUNT(triage_names), s, out);
}

/* ---- field tables ----
 *
 * Each type's body is a list of fields in wire order; the encoder and the
 * decoder walk the same table, so they cannot disagree about order, caps or
 * ranges. Rules that tie fields together live in cross_check(). */

enum fkind {
	F_END,    /* closes a table */
	F_TEXT,   /* lv8 text into char[max + 1] */
	F_U8,     /* u8 in lo..hi */
	F_U16,    /* u16, any value */
	F_U64,    /* u64, any value */
	F_BITS,   /* u8 bit set, bits above hi clear */
	F_KEYS,   /* u8 count 0..hi, then count keys; off = count, off2 = keys */
	F_U16X4,  /* four u16 */
};

struct field {
	uint8_t kind;
	uint8_t required; /* F_TEXT: non-empty */
	uint16_t lo, hi;  /* F_TEXT: hi = cap */
	size_t off, off2;
};

#define TEXT(T, m, cap, req) { F_TEXT, req, 0, cap, offsetof(T, m), 0 }
#define U8(T, m, l, h) { F_U8, 0, l, h, offsetof(T, m), 0 }
#define END { F_END, 0, 0, 0, 0, 0 }

static const struct field methane_fields[] = {
	U8(struct inc_methane, declared, 0, METHANE_STAND_DOWN),
	U8(struct inc_methane, loc_kind, 0, LOC_TEXT),
	TEXT(struct inc_methane, location, INC_PLACE_MAX, 1),
	TEXT(struct inc_methane, type, INC_TEXT_MAX, 1),
	TEXT(struct inc_methane, hazards, INC_TEXT_MAX, 0),
	TEXT(struct inc_methane, access, INC_TEXT_MAX, 0),
	{ F_U16X4, 0, 0, 0, offsetof(struct inc_methane, casualties), 0 },
	TEXT(struct inc_methane, casualty_note, INC_TEXT_MAX, 0),
	TEXT(struct inc_methane, services, INC_TEXT_MAX, 1),
	END,
};

static const struct field checkin_fields[] = {
	TEXT(struct inc_checkin, callsign, INC_SHORT_MAX, 1),
	U8(struct inc_checkin, status, 0, CREW_STATUS_MAX),
	{ F_BITS, 0, 0, SKILL_MAX, offsetof(struct inc_checkin, skills), 0 },
	TEXT(struct inc_checkin, vehicle, INC_SHORT_MAX, 0),
	TEXT(struct inc_checkin, location, INC_PLACE_MAX, 0),
	{ F_KEYS, 0, 0, INC_MEMBERS_MAX, offsetof(struct inc_checkin, n_members), offsetof(struct inc_checkin, members) },
	END,
};

static const struct field assign_fields[] = {
	TEXT(struct inc_assign, callsign, INC_SHORT_MAX, 1),
	TEXT(struct inc_assign, function, INC_SHORT_MAX, 1),
	TEXT(struct inc_assign, sector, INC_SHORT_MAX, 0),
	TEXT(struct inc_assign, note, INC_TEXT_MAX, 0),
	END,
};

static const struct field ack_fields[] = {
	TEXT(struct inc_assign_ack, callsign, INC_SHORT_MAX, 1),
	END,
};

static const struct field request_fields[] = {
	U8(struct inc_request, count, 1, 99),
	U8(struct inc_request, skill, 0, SKILL_MAX),
	TEXT(struct inc_request, sector, INC_SHORT_MAX, 1),
	TEXT(struct inc_request, note, INC_TEXT_MAX, 0),
	U8(struct inc_request, cancelled, 0, 1),
	END,
};

static const struct field response_fields[] = {
	TEXT(struct inc_response, callsign, INC_SHORT_MAX, 1),
	U8(struct inc_response, accept, 0, 1),
	U8(struct inc_response, count, 0, 99), /* tied to accept in cross_check */
	END,
};

static const struct field triage_fields[] = {
	TEXT(struct inc_triage, ccs, INC_SHORT_MAX, 1),
	{ F_U16X4, 0, 0, 0, offsetof(struct inc_triage, count), 0 },
	{ F_U64, 0, 0, 0, offsetof(struct inc_triage, at), 0 },
	END,
};

static const struct field casualty_fields[] = {
	TEXT(struct inc_casualty, tag, INC_SHORT_MAX, 1),
	U8(struct inc_casualty, priority, TRIAGE_P1, TRIAGE_P3),
	TEXT(struct inc_casualty, destination, INC_PLACE_MAX, 1),
	{ F_U64, 0, 0, 0, offsetof(struct inc_casualty, departed), 0 },
	TEXT(struct inc_casualty, note, INC_TEXT_MAX, 0),
	END,
};

static const struct field *const type_fields[INC_TYPE_MAX + 1] = {
	[INC_METHANE] = methane_fields,   [INC_CHECKIN] = checkin_fields, [INC_ASSIGN] = assign_fields,
	[INC_ASSIGN_ACK] = ack_fields,    [INC_REQUEST] = request_fields, [INC_RESPONSE] = response_fields,
	[INC_TRIAGE] = triage_fields,     [INC_CASUALTY] = casualty_fields,
};

static int text_check(const char *s, size_t cap, int required)
{
	size_t n = strnlen(s, cap + 1);

	if (n > cap)
		return MU_E_TOOBIG;
	if ((required && n == 0) || !mu_text_valid((const uint8_t *)s, n))
		return MU_E_FORMAT;
	return 0;
}

static int type_needs_ref(uint8_t type)
{
	return type == INC_ASSIGN_ACK || type == INC_RESPONSE;
}

/* Rules across fields: a ref exactly on the answering types; a response
 * that accepts offers 1..99 people and a decline offers none; only an
 * update (prev) can cancel a request. One meaning, one encoding. */
static int cross_check(const struct inc_record *r)
{
	if (r->has_ref != type_needs_ref(r->type))
		return MU_E_FORMAT;
	if (r->type == INC_RESPONSE && (r->u.response.accept ? r->u.response.count == 0 : r->u.response.count != 0))
		return MU_E_FORMAT;
	if (r->type == INC_REQUEST && r->u.request.cancelled && !r->has_prev)
		return MU_E_FORMAT;
	return 0;
}

static void encode_fields(struct wr *w, const struct field *f, const uint8_t *body)
{
	for (; f->kind != F_END; f++) {
		const uint8_t *p = body + f->off;

		switch ((enum fkind)f->kind) {
		case F_TEXT:
			wr_lv8(w, p, strlen((const char *)p), f->hi);
			break;
		case F_U8:
		case F_BITS:
			wr_u8(w, *p);
			break;
		case F_U16: {
			uint16_t v;

			memcpy(&v, p, sizeof(v));
			wr_u16(w, v);
			break;
		}
		case F_U64: {
			uint64_t v;

			memcpy(&v, p, sizeof(v));
			wr_u64(w, v);
			break;
		}
		case F_U16X4:
			for (int i = 0; i < 4; i++) {
				uint16_t v;

				memcpy(&v, p + i * sizeof(v), sizeof(v));
				wr_u16(w, v);
			}
			break;
		case F_KEYS:
			wr_u8(w, *p);
			wr_bytes(w, body + f->off2, (size_t)*p * MU_KEY_BYTES);
			break;
		case F_END:
			break;
		}
	}
}

static int check_fields(const struct field *f, const uint8_t *body)
{
	int ret;

	for (; f->kind != F_END; f++) {
		const uint8_t *p = body + f->off;

		switch ((enum fkind)f->kind) {
		case F_TEXT:
			if ((ret = text_check((const char *)p, f->hi, f->required)))
				return ret;
			break;
		case F_U8:
			if (*p < f->lo || *p > f->hi)
				return MU_E_FORMAT;
			break;
		case F_BITS:
			if (*p >> (f->hi + 1))
				return MU_E_FORMAT;
			break;
		case F_KEYS:
			if (*p > f->hi)
				return MU_E_TOOBIG;
			break;
		case F_U16:
		case F_U64:
		case F_U16X4:
		case F_END:
			break;
		}
	}
	return 0;
}

static int record_check(const struct inc_record *r)
{
	int ret;

	if (r->type < 1 || r->type > INC_TYPE_MAX)
		return MU_E_FORMAT;
	if ((ret = text_check(r->incident, INC_NAME_MAX, 1)) ||
	    (ret = check_fields(type_fields[r->type], (const uint8_t *)&r->u)))
		return ret;
	return cross_check(r);
}

int inc_encode(uint8_t *out, size_t cap, const struct inc_record *r)
{
	struct wr w = wr_make(out, cap);
	int ret;

	if ((ret = record_check(r)))
		return ret;
	wr_bytes(&w, "MI", 2);
	wr_u8(&w, INC_VERSION);
	wr_u8(&w, r->type);
	wr_lv8(&w, r->incident, strlen(r->incident), INC_NAME_MAX);
	wr_u8(&w, (uint8_t)((r->has_prev ? FLAG_PREV : 0) | (r->has_ref ? FLAG_REF : 0)));
	if (r->has_prev)
		wr_bytes(&w, r->prev, BUNDLE_ID_BYTES);
	if (r->has_ref)
		wr_bytes(&w, r->ref, BUNDLE_ID_BYTES);
	encode_fields(&w, type_fields[r->type], (const uint8_t *)&r->u);
	return wr_finish(&w);
}

/* Reads lv8 text into a NUL-terminated char[cap + 1]; length above cap is
 * MU_E_TOOBIG before any byte of it is read. */
static int rd_text(struct rd *rd, char *dst, size_t cap, int required)
{
	const uint8_t *p;
	size_t n;
	int ret;

	if ((ret = rd_lv8(rd, cap, &p, &n)))
		return ret;
	if ((required && n == 0) || !mu_text_valid(p, n))
		return MU_E_FORMAT;
	memcpy(dst, p, n);
	dst[n] = 0;
	return 0;
}

static int decode_fields(struct rd *rd, const struct field *f, uint8_t *body)
{
	int ret = 0;

	for (; f->kind != F_END; f++) {
		uint8_t *p = body + f->off;

		switch ((enum fkind)f->kind) {
		case F_TEXT:
			ret = rd_text(rd, (char *)p, f->hi, f->required);
			break;
		case F_U8:
			if (!(ret = rd_u8(rd, p)) && (*p < f->lo || *p > f->hi))
				ret = MU_E_FORMAT;
			break;
		case F_BITS:
			if (!(ret = rd_u8(rd, p)) && (*p >> (f->hi + 1)))
				ret = MU_E_FORMAT;
			break;
		case F_U16: {
			uint16_t v = 0;

			ret = rd_u16(rd, &v);
			memcpy(p, &v, sizeof(v));
			break;
		}
		case F_U64: {
			uint64_t v = 0;

			ret = rd_u64(rd, &v);
			memcpy(p, &v, sizeof(v));
			break;
		}
		case F_U16X4:
			for (int i = 0; i < 4 && !ret; i++) {
				uint16_t v = 0;

				ret = rd_u16(rd, &v);
				memcpy(p + i * sizeof(v), &v, sizeof(v));
			}
			break;
		case F_KEYS:
			if (!(ret = rd_u8(rd, p))) {
				if (*p > f->hi)
					ret = MU_E_TOOBIG;
				else
					ret = rd_bytes(rd, body + f->off2, (size_t)*p * MU_KEY_BYTES);
			}
			break;
		case F_END:
			break;
		}
		if (ret)
			return ret;
	}
	return 0;
}

int inc_decode(struct inc_record *r, const uint8_t *in, size_t len)
{
	struct rd rd = rd_make(in, len);
	const uint8_t *magic;
	uint8_t version = 0, flags = 0;
	int ret;

	memset(r, 0, sizeof(*r));
	if ((ret = rd_slice(&rd, 2, &magic)))
		goto out;
	if (memcmp(magic, "MI", 2)) {
		ret = MU_E_FORMAT;
		goto out;
	}
	if ((ret = rd_u8(&rd, &version)))
		goto out;
	if (version != INC_VERSION) {
		ret = MU_E_VERSION;
		goto out;
	}
	if ((ret = rd_u8(&rd, &r->type)))
		goto out;
	if (r->type < 1 || r->type > INC_TYPE_MAX) {
		ret = MU_E_FORMAT;
		goto out;
	}
	if ((ret = rd_text(&rd, r->incident, INC_NAME_MAX, 1)) || (ret = rd_u8(&rd, &flags)))
		goto out;
	if (flags & ~(FLAG_PREV | FLAG_REF)) {
		ret = MU_E_FORMAT;
		goto out;
	}
	r->has_prev = flags & FLAG_PREV;
	r->has_ref = flags & FLAG_REF;
	if ((r->has_prev && (ret = rd_bytes(&rd, r->prev, BUNDLE_ID_BYTES))) ||
	    (r->has_ref && (ret = rd_bytes(&rd, r->ref, BUNDLE_ID_BYTES))) ||
	    (ret = decode_fields(&rd, type_fields[r->type], (uint8_t *)&r->u)) || (ret = rd_end(&rd)) ||
	    (ret = cross_check(r)))
		goto out;
out:
	if (ret)
		memset(r, 0, sizeof(*r));
	return ret;
}

int inc_check(const struct inc_record *r)
{
	return record_check(r);
}
