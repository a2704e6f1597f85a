#include "bundle.h"

#include <sodium.h>
#include <string.h>

#include "cred.h"
#include "err.h"
#include "wire.h"

_Static_assert(BUNDLE_ID_BYTES == crypto_generichash_BYTES, "id is BLAKE2b-256");
_Static_assert(BUNDLE_ENC_MAX <= INT32_MAX, "lengths are returned as int");
_Static_assert(BUNDLE_DEST_MAX <= 255, "dest length is u8 on the wire");

const char *bundle_kind_name(uint8_t kind)
{
	switch ((enum bundle_kind)kind) {
	case BK_MESSAGE:
		return "message";
	case BK_CREDENTIAL:
		return "credential";
	case BK_REVOCATION:
		return "revocation";
	case BK_RECEIPT:
		return "receipt";
	case BK_KEYWRAP:
		return "keywrap";
	}
	return NULL;
}

static const char *const prio_names[] = {
	[PRIO_IMMEDIATE] = "immediate",
	[PRIO_URGENT] = "urgent",
	[PRIO_ROUTINE] = "routine",
	[PRIO_BULK] = "bulk",
};

const char *bundle_prio_name(uint8_t prio)
{
	return prio <= PRIO_BULK ? prio_names[prio] : NULL;
}

int bundle_prio_parse(const char *s, uint8_t *prio)
{
	for (uint8_t p = 0; p <= PRIO_BULK; p++) {
		if (!strcmp(s, prio_names[p])) {
			*prio = p;
			return 0;
		}
	}
	return MU_E_FORMAT;
}

const char *dest_type_name(uint8_t t)
{
	switch ((enum dest_type)t) {
	case DEST_ALL:
		return "all";
	case DEST_PERSON:
		return "person";
	case DEST_ROLE:
		return "role";
	case DEST_CHANNEL:
		return "channel";
	}
	return NULL;
}

static int dest_check(uint8_t type, size_t len, const uint8_t *dest)
{
	switch ((enum dest_type)type) {
	case DEST_ALL:
		return len == 0 ? 0 : MU_E_FORMAT;
	case DEST_PERSON:
		return len == MU_KEY_BYTES ? 0 : MU_E_FORMAT;
	case DEST_ROLE:
		return len == 1 && dest[0] >= 1 && dest[0] <= ROLE_MAX ? 0 : MU_E_FORMAT;
	case DEST_CHANNEL:
		return len == 16 ? 0 : MU_E_FORMAT;
	}
	return MU_E_FORMAT;
}

/* Every rule bundle_decode applies to the fields, shared with the encoders so
 * that nothing is signed that a peer would reject. Lengths are checked first
 * so that an over-long field reports MU_E_TOOBIG as the decoder would. */
static int bundle_check(const struct bundle *b)
{
	if (b->dest_len > BUNDLE_DEST_MAX || b->payload_len > BUNDLE_PAYLOAD_MAX)
		return MU_E_TOOBIG;
	if (b->payload_len && !b->payload)
		return MU_E_FORMAT;
	if (b->kind == 0 || b->prio > PRIO_BULK || b->hop_limit < 1 || b->hop_limit > BUNDLE_HOPS_MAX ||
	    b->expires <= b->created)
		return MU_E_FORMAT;
	return dest_check(b->dest_type, b->dest_len, b->dest);
}

static int bundle_write_body(struct wr *w, const struct bundle *b)
{
	int ret = bundle_check(b);

	if (ret)
		return ret;
	wr_bytes(w, "MB", 2);
	wr_u8(w, BUNDLE_VERSION);
	wr_u8(w, b->kind);
	wr_u8(w, b->prio);
	wr_u8(w, b->hop_limit);
	wr_bytes(w, b->sender, MU_KEY_BYTES);
	wr_u64(w, b->created);
	wr_u64(w, b->expires);
	wr_u8(w, b->dest_type);
	wr_lv8(w, b->dest, b->dest_len, BUNDLE_DEST_MAX);
	wr_lv32(w, b->payload, b->payload_len, BUNDLE_PAYLOAD_MAX);
	return w->err;
}

int bundle_seal(uint8_t *out, size_t cap, struct bundle *b, const struct mu_identity *signer)
{
	struct wr w = wr_make(out, cap);
	int ret;

	memcpy(b->sender, identity_sign_pk(signer), MU_KEY_BYTES);
	if ((ret = bundle_write_body(&w, b)))
		return ret;
	if (cap - w.len < MU_SIG_BYTES)
		return MU_E_TOOBIG;
	if ((ret = identity_sign(signer, b->sig, out, w.len)))
		return ret;
	wr_bytes(&w, b->sig, MU_SIG_BYTES);
	if ((ret = wr_finish(&w)) < 0)
		return ret;
	crypto_generichash(b->id, BUNDLE_ID_BYTES, out, w.len, NULL, 0);
	return ret;
}

int bundle_encode(uint8_t *out, size_t cap, const struct bundle *b)
{
	struct wr w = wr_make(out, cap);
	int ret;

	if ((ret = bundle_write_body(&w, b)))
		return ret;
	wr_bytes(&w, b->sig, MU_SIG_BYTES);
	return wr_finish(&w);
}

int bundle_decode(struct bundle *b, const uint8_t *in, size_t len)
{
	struct rd rd = rd_make(in, len);
	const uint8_t *magic, *dest;
	size_t dest_n;
	uint8_t version;
	int ret;

	memset(b, 0, sizeof(*b));
	if ((ret = rd_slice(&rd, 2, &magic)))
		goto out;
	if (magic[0] != 'M' || magic[1] != 'B') {
		ret = MU_E_FORMAT;
		goto out;
	}
	if ((ret = rd_u8(&rd, &version)))
		goto out;
	if (version != BUNDLE_VERSION) {
		ret = MU_E_VERSION;
		goto out;
	}
	if ((ret = rd_u8(&rd, &b->kind)) || (ret = rd_u8(&rd, &b->prio)) ||
	    (ret = rd_u8(&rd, &b->hop_limit)) || (ret = rd_bytes(&rd, b->sender, MU_KEY_BYTES)) ||
	    (ret = rd_u64(&rd, &b->created)) || (ret = rd_u64(&rd, &b->expires)) ||
	    (ret = rd_u8(&rd, &b->dest_type)) || (ret = rd_lv8(&rd, BUNDLE_DEST_MAX, &dest, &dest_n)) ||
	    (ret = rd_lv32(&rd, BUNDLE_PAYLOAD_MAX, &b->payload, &b->payload_len)) ||
	    (ret = rd_bytes(&rd, b->sig, MU_SIG_BYTES)) || (ret = rd_end(&rd)))
		goto out;
	b->dest_len = (uint8_t)dest_n;
	if (dest_n)
		memcpy(b->dest, dest, dest_n);
	if ((ret = bundle_check(b)))
		goto out;
	crypto_generichash(b->id, BUNDLE_ID_BYTES, in, len, NULL, 0);
out:
	if (ret)
		memset(b, 0, sizeof(*b));
	return ret;
}

int bundle_verify_sig(const struct bundle *b, const uint8_t *in, size_t len)
{
	if (len < MU_SIG_BYTES)
		return MU_E_SIG;
	/* Only the signature that is part of the encoding counts: a b->sig
	 * that differs from it means b was not decoded from in. */
	if (memcmp(in + len - MU_SIG_BYTES, b->sig, MU_SIG_BYTES))
		return MU_E_SIG;
	return mu_verify(b->sender, b->sig, in, len - MU_SIG_BYTES);
}
