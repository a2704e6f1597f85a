/* Audit entry codec, hash and signature (layout in audit.h). */
#include <sodium.h>
#include <string.h>

#include "audit.h"
#include "err.h"
#include "wire.h"

static const char hash_tag[] = "muster/audit/1:";
static const char sig_tag[] = "muster/audit-sig/1:";

const char *audit_event_name(uint8_t event)
{
	switch ((enum audit_event)event) {
	case AUDIT_ARCHIVED:
		return "archived";
	case AUDIT_ERASED:
		return "erased";
	case AUDIT_EXPORTED:
		return "exported";
	case AUDIT_VERIFIED:
		return "verified";
	}
	return NULL;
}

static void encode_body(uint8_t out[static AUDIT_BODY_BYTES], const struct audit_entry *e)
{
	struct wr w = wr_make(out, AUDIT_BODY_BYTES);

	wr_u8(&w, AUDIT_VERSION);
	wr_u8(&w, e->event);
	wr_u64(&w, e->seq);
	wr_u64(&w, e->time);
	wr_bytes(&w, e->id, sizeof(e->id));
	wr_bytes(&w, e->digest, sizeof(e->digest));
	wr_bytes(&w, e->prev, sizeof(e->prev));
}

void audit_entry_encode(uint8_t out[static AUDIT_ENTRY_BYTES], const struct audit_entry *e)
{
	encode_body(out, e);
	memcpy(out + AUDIT_BODY_BYTES, e->sig, MU_SIG_BYTES);
}

int audit_entry_decode(struct audit_entry *e, const uint8_t *in, size_t len)
{
	struct rd rd = rd_make(in, len);
	uint8_t version = 0;
	int ret;

	memset(e, 0, sizeof(*e));
	if (len != AUDIT_ENTRY_BYTES)
		return MU_E_FORMAT;
	ret = rd_u8(&rd, &version);
	if (!ret && version != AUDIT_VERSION)
		ret = MU_E_VERSION;
	if (!ret)
		ret = rd_u8(&rd, &e->event) || rd_u64(&rd, &e->seq) || rd_u64(&rd, &e->time) ||
			      rd_bytes(&rd, e->id, sizeof(e->id)) ||
			      rd_bytes(&rd, e->digest, sizeof(e->digest)) ||
			      rd_bytes(&rd, e->prev, sizeof(e->prev)) || rd_bytes(&rd, e->sig, sizeof(e->sig))
			  ? MU_E_FORMAT
			  : rd_end(&rd);
	if (!ret && (!audit_event_name(e->event) || e->seq == 0))
		ret = MU_E_FORMAT;
	if (ret)
		memset(e, 0, sizeof(*e));
	return ret;
}

void audit_entry_hash(uint8_t out[static AUDIT_HASH_BYTES], const struct audit_entry *e)
{
	uint8_t body[AUDIT_BODY_BYTES];
	crypto_generichash_state st;

	encode_body(body, e);
	crypto_generichash_init(&st, NULL, 0, AUDIT_HASH_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)hash_tag, sizeof(hash_tag) - 1);
	crypto_generichash_update(&st, body, sizeof(body));
	crypto_generichash_final(&st, out, AUDIT_HASH_BYTES);
}

/* What is signed: the tagged hash, so a signature made for anything else
 * by the same node key can never pass as an audit signature. */
static void signed_msg(uint8_t out[static sizeof(sig_tag) - 1 + AUDIT_HASH_BYTES],
		       const struct audit_entry *e)
{
	memcpy(out, sig_tag, sizeof(sig_tag) - 1);
	audit_entry_hash(out + sizeof(sig_tag) - 1, e);
}

int audit_entry_sign(struct audit_entry *e, const struct mu_identity *id)
{
	uint8_t msg[sizeof(sig_tag) - 1 + AUDIT_HASH_BYTES];

	signed_msg(msg, e);
	return identity_sign(id, e->sig, msg, sizeof(msg)) ? MU_E_CRYPTO : 0;
}

int audit_entry_check(const struct audit_entry *e, const uint8_t pk[static MU_KEY_BYTES])
{
	uint8_t msg[sizeof(sig_tag) - 1 + AUDIT_HASH_BYTES];

	signed_msg(msg, e);
	return mu_verify(pk, e->sig, msg, sizeof(msg)) ? MU_E_SIG : 0;
}
