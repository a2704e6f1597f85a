#include "cred.h"

#include <string.h>

#include "err.h"
#include "text.h"
#include "wire.h"

/* Largest encoding: magic 2, version, role, three text fields and reg with
 * their length bytes, two keys, two times, issuer, signature. */
#define CRED_BODY_MAX                                                                                        \
	(2 + 1 + 1 + 3 * (1 + CRED_TEXT_MAX) + (1 + CRED_REG_MAX) + 2 * MU_KEY_BYTES + 8 + 8 + MU_KEY_BYTES)
_Static_assert(CRED_BODY_MAX + MU_SIG_BYTES <= CRED_ENC_MAX, "CRED_ENC_MAX too small");
_Static_assert(CRED_TEXT_MAX <= 255 && CRED_REG_MAX <= 255, "text lengths are u8 on the wire");

static const char *const role_names[ROLE_MAX + 1] = {
	[ROLE_NODE] = "node",
	[ROLE_PARAMEDIC] = "paramedic",
	[ROLE_TECHNICIAN] = "technician",
	[ROLE_HART] = "hart",
	[ROLE_DOCTOR] = "doctor",
	[ROLE_NURSE] = "nurse",
	[ROLE_AIC] = "aic",
	[ROLE_HOSPITAL_ARCHIVE] = "archive",
	[ROLE_CONTROL] = "control",
};

const char *role_name(uint8_t role)
{
	return role >= 1 && role <= ROLE_MAX ? role_names[role] : NULL;
}

int role_parse(const char *s, uint8_t *role)
{
	for (uint8_t r = 1; r <= ROLE_MAX; r++) {
		if (!strcmp(s, role_names[r])) {
			*role = r;
			return 0;
		}
	}
	return MU_E_FORMAT;
}

static int text_check(const uint8_t *s, size_t n, size_t max, int required)
{
	if (n > max)
		return MU_E_TOOBIG;
	if ((required && n == 0) || !mu_text_valid(s, n))
		return MU_E_FORMAT;
	return 0;
}

/* Length of a NUL-terminated field of a struct cred, max + 1 if the field
 * holds no terminator (which text_check then reports as MU_E_TOOBIG). */
static size_t field_len(const char *s, size_t max)
{
	return strnlen(s, max + 1);
}

static int cred_check_scalars(const struct cred *c)
{
	if (c->role < 1 || c->role > ROLE_MAX)
		return MU_E_FORMAT;
	if (c->valid_until <= c->valid_from)
		return MU_E_FORMAT;
	return 0;
}

/* Validates c exactly as cred_decode would and writes every byte before the
 * signature. */
static int cred_write_body(struct wr *w, const struct cred *c)
{
	size_t subject_n = field_len(c->subject, CRED_TEXT_MAX);
	size_t name_n = field_len(c->name, CRED_TEXT_MAX);
	size_t org_n = field_len(c->org, CRED_TEXT_MAX);
	size_t reg_n = field_len(c->reg, CRED_REG_MAX);
	int ret;

	if ((ret = text_check((const uint8_t *)c->subject, subject_n, CRED_TEXT_MAX, 1)) ||
	    (ret = text_check((const uint8_t *)c->name, name_n, CRED_TEXT_MAX, 1)) ||
	    (ret = text_check((const uint8_t *)c->org, org_n, CRED_TEXT_MAX, 1)) ||
	    (ret = text_check((const uint8_t *)c->reg, reg_n, CRED_REG_MAX, 0)) ||
	    (ret = cred_check_scalars(c)))
		return ret;
	wr_bytes(w, "MC", 2);
	wr_u8(w, CRED_VERSION);
	wr_u8(w, c->role);
	wr_lv8(w, c->subject, subject_n, CRED_TEXT_MAX);
	wr_lv8(w, c->name, name_n, CRED_TEXT_MAX);
	wr_lv8(w, c->org, org_n, CRED_TEXT_MAX);
	wr_lv8(w, c->reg, reg_n, CRED_REG_MAX);
	wr_bytes(w, c->sign_pk, MU_KEY_BYTES);
	wr_bytes(w, c->kx_pk, MU_KEY_BYTES);
	wr_u64(w, c->valid_from);
	wr_u64(w, c->valid_until);
	wr_bytes(w, c->issuer, MU_KEY_BYTES);
	return w->err;
}

int cred_issue(uint8_t *out, size_t cap, struct cred *c, const struct mu_identity *ca)
{
	struct wr w = wr_make(out, cap);
	int ret;

	memcpy(c->issuer, identity_sign_pk(ca), MU_KEY_BYTES);
	if ((ret = cred_write_body(&w, c)))
		return ret;
	if (cap - w.len < MU_SIG_BYTES)
		return MU_E_TOOBIG;
	if ((ret = identity_sign(ca, c->sig, out, w.len)))
		return ret;
	wr_bytes(&w, c->sig, MU_SIG_BYTES);
	return wr_finish(&w);
}

int cred_encode(uint8_t *out, size_t cap, const struct cred *c)
{
	struct wr w = wr_make(out, cap);
	int ret;

	if ((ret = cred_write_body(&w, c)))
		return ret;
	wr_bytes(&w, c->sig, MU_SIG_BYTES);
	return wr_finish(&w);
}

int cred_decode(struct cred *out, const uint8_t *in, size_t len)
{
	struct rd rd = rd_make(in, len);
	const uint8_t *magic, *subject, *name, *org, *reg;
	size_t subject_n, name_n, org_n, reg_n;
	uint8_t version;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = rd_slice(&rd, 2, &magic)))
		goto out;
	if (magic[0] != 'M' || magic[1] != 'C') {
		ret = MU_E_FORMAT;
		goto out;
	}
	if ((ret = rd_u8(&rd, &version)))
		goto out;
	if (version != CRED_VERSION) {
		ret = MU_E_VERSION;
		goto out;
	}
	if ((ret = rd_u8(&rd, &out->role)) || (ret = rd_lv8(&rd, CRED_TEXT_MAX, &subject, &subject_n)) ||
	    (ret = rd_lv8(&rd, CRED_TEXT_MAX, &name, &name_n)) ||
	    (ret = rd_lv8(&rd, CRED_TEXT_MAX, &org, &org_n)) ||
	    (ret = rd_lv8(&rd, CRED_REG_MAX, &reg, &reg_n)) ||
	    (ret = rd_bytes(&rd, out->sign_pk, MU_KEY_BYTES)) ||
	    (ret = rd_bytes(&rd, out->kx_pk, MU_KEY_BYTES)) || (ret = rd_u64(&rd, &out->valid_from)) ||
	    (ret = rd_u64(&rd, &out->valid_until)) || (ret = rd_bytes(&rd, out->issuer, MU_KEY_BYTES)) ||
	    (ret = rd_bytes(&rd, out->sig, MU_SIG_BYTES)) || (ret = rd_end(&rd)))
		goto out;
	/* Text is checked on the wire bytes, before the copy, so an embedded
	 * NUL cannot shorten a field unnoticed. */
	if ((ret = text_check(subject, subject_n, CRED_TEXT_MAX, 1)) ||
	    (ret = text_check(name, name_n, CRED_TEXT_MAX, 1)) ||
	    (ret = text_check(org, org_n, CRED_TEXT_MAX, 1)) ||
	    (ret = text_check(reg, reg_n, CRED_REG_MAX, 0)) || (ret = cred_check_scalars(out)))
		goto out;
	memcpy(out->subject, subject, subject_n);
	memcpy(out->name, name, name_n);
	memcpy(out->org, org, org_n);
	memcpy(out->reg, reg, reg_n);
out:
	if (ret)
		memset(out, 0, sizeof(*out));
	return ret;
}

int cred_verify(const struct cred *c, const struct trust *t, uint64_t now, revoked_fn is_revoked, void *ctx)
{
	uint8_t body[CRED_BODY_MAX];
	struct wr w = wr_make(body, sizeof(body));
	int ret;

	if (!t || !trust_has(t, c->issuer))
		return MU_E_UNTRUSTED;
	/* The encoding is canonical (decode then encode gives the same bytes),
	 * so the signed bytes are rebuilt from the fields rather than kept. */
	if ((ret = cred_write_body(&w, c)))
		return ret;
	if ((ret = mu_verify(c->issuer, c->sig, body, w.len)))
		return ret;
	return cred_verify_status(c, t, now, is_revoked, ctx);
}

int cred_verify_status(const struct cred *c, const struct trust *t, uint64_t now, revoked_fn is_revoked,
		       void *ctx)
{
	int ret;

	if (!t || !trust_has(t, c->issuer))
		return MU_E_UNTRUSTED;
	if (now < c->valid_from)
		return MU_E_NOTYET;
	if (now >= c->valid_until)
		return MU_E_EXPIRED;
	if (is_revoked) {
		ret = is_revoked(ctx, c->sign_pk);
		if (ret < 0)
			return ret;
		if (ret)
			return MU_E_REVOKED;
	}
	return 0;
}

int trust_add(struct trust *t, const uint8_t ca[static MU_KEY_BYTES])
{
	if (trust_has(t, ca))
		return 0;
	if (t->n >= MU_TRUST_MAX)
		return MU_E_TOOBIG;
	memcpy(t->ca[t->n++], ca, MU_KEY_BYTES);
	return 0;
}

int trust_has(const struct trust *t, const uint8_t key[static MU_KEY_BYTES])
{
	unsigned n = t->n < MU_TRUST_MAX ? t->n : MU_TRUST_MAX;

	for (unsigned i = 0; i < n; i++)
		if (!memcmp(t->ca[i], key, MU_KEY_BYTES))
			return 1;
	return 0;
}
