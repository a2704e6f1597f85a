#include "verify.h"

#include <stdbool.h>
#include <string.h>

#include "err.h"
#include "wire.h"

int revocation_encode(uint8_t out[static REVOCATION_BYTES], const uint8_t key[static MU_KEY_BYTES],
		      uint8_t reason)
{
	struct wr w = wr_make(out, REVOCATION_BYTES);

	if (reason > REVOKE_WIPE)
		return MU_E_FORMAT;
	wr_u8(&w, REVOCATION_VERSION);
	wr_bytes(&w, key, MU_KEY_BYTES);
	wr_u8(&w, reason);
	return wr_finish(&w);
}

int revocation_decode(const uint8_t *in, size_t len, uint8_t key[static MU_KEY_BYTES], uint8_t *reason)
{
	struct rd rd = rd_make(in, len);
	uint8_t version, k[MU_KEY_BYTES], r;
	int ret;

	memset(key, 0, MU_KEY_BYTES);
	*reason = 0;
	if ((ret = rd_u8(&rd, &version)))
		return ret;
	if (version != REVOCATION_VERSION)
		return MU_E_VERSION;
	if ((ret = rd_bytes(&rd, k, sizeof(k))) || (ret = rd_u8(&rd, &r)) || (ret = rd_end(&rd)))
		return ret;
	if (r > REVOKE_WIPE)
		return MU_E_FORMAT;
	memcpy(key, k, MU_KEY_BYTES);
	*reason = r;
	return 0;
}

/* Credentials whose CA signature admission has already checked. Every
 * bundle of a sender needs its credential checked, and the CA's Ed25519
 * signature would otherwise cost as much as the bundle's own: it is a pure
 * function of the credential's fields, so it is checked once per credential
 * and remembered. A hit needs every field equal, signature included; trust,
 * the validity window and revocation are still checked for every bundle
 * (cred_verify_status). Set-associative by signing key, round-robin
 * replacement: 256 credentials, about 100 KB. Module state: Muster runs on
 * one thread. */
#define SIG_MEMO_SETS 64
#define SIG_MEMO_WAYS 4
static struct {
	struct cred c[SIG_MEMO_WAYS];
	uint8_t used, next;
} sig_memo[SIG_MEMO_SETS];

static bool cred_same(const struct cred *a, const struct cred *b)
{
	return a->role == b->role && a->valid_from == b->valid_from && a->valid_until == b->valid_until &&
	       !memcmp(a->sig, b->sig, MU_SIG_BYTES) && !memcmp(a->sign_pk, b->sign_pk, MU_KEY_BYTES) &&
	       !memcmp(a->kx_pk, b->kx_pk, MU_KEY_BYTES) && !memcmp(a->issuer, b->issuer, MU_KEY_BYTES) &&
	       !memcmp(a->subject, b->subject, sizeof(a->subject)) &&
	       !memcmp(a->name, b->name, sizeof(a->name)) && !memcmp(a->org, b->org, sizeof(a->org)) &&
	       !memcmp(a->reg, b->reg, sizeof(a->reg));
}

static int admit_cred(const struct verify_ctx *v, const struct cred *c)
{
	unsigned set = c->sign_pk[0] % SIG_MEMO_SETS;
	int ret;

	for (unsigned w = 0; w < sig_memo[set].used; w++)
		if (cred_same(&sig_memo[set].c[w], c))
			return cred_verify_status(c, v->trust, v->now, v->is_revoked, v->ctx);
	ret = cred_verify(c, v->trust, v->now, v->is_revoked, v->ctx);
	if (!ret) {
		unsigned w = sig_memo[set].next;

		sig_memo[set].c[w] = *c;
		sig_memo[set].next = (uint8_t)((w + 1) % SIG_MEMO_WAYS);
		if (sig_memo[set].used < SIG_MEMO_WAYS)
			sig_memo[set].used++;
	}
	return ret;
}

/* The kind-specific part of admission: establishes that the sender is
 * entitled to send this bundle. Fills *cred for CREDENTIAL bundles. */
static int admit_sender(const struct verify_ctx *v, const struct bundle *b, struct cred *cred)
{
	uint8_t key[MU_KEY_BYTES], reason;
	int ret;

	switch (b->kind) {
	case BK_CREDENTIAL:
		/* Self-published: the holder sends their own credential, so
		 * the bundle signature proves possession of the key. */
		if ((ret = cred_decode(cred, b->payload, b->payload_len)))
			return ret;
		if (memcmp(cred->sign_pk, b->sender, MU_KEY_BYTES))
			return MU_E_MISMATCH;
		return admit_cred(v, cred);
	case BK_REVOCATION:
		if (!v->trust || !trust_has(v->trust, b->sender))
			return MU_E_UNTRUSTED;
		return revocation_decode(b->payload, b->payload_len, key, &reason);
	default:
		if (!v->lookup)
			return MU_E_NOCRED;
		if ((ret = v->lookup(v->ctx, b->sender, cred)))
			return ret;
		if (memcmp(cred->sign_pk, b->sender, MU_KEY_BYTES))
			return MU_E_MISMATCH;
		return admit_cred(v, cred);
	}
}

int bundle_admit(const struct verify_ctx *v, const struct bundle *b, const uint8_t *enc, size_t len,
		 uint8_t hops, struct cred *cred_out)
{
	struct cred cred;
	int ret;

	if (hops > b->hop_limit)
		return MU_E_HOPS;
	if (b->expires <= v->now)
		return MU_E_EXPIRED;
	/* Written as a difference so that now + skew cannot wrap. */
	if (b->created > v->now && b->created - v->now > v->skew_ms)
		return MU_E_NOTYET;
	memset(&cred, 0, sizeof(cred));
	if ((ret = admit_sender(v, b, &cred)) || (ret = bundle_verify_sig(b, enc, len)))
		return ret;
	if (b->kind == BK_CREDENTIAL && cred_out)
		*cred_out = cred;
	return 0;
}
