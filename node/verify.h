/* Admission check run before anything is stored or forwarded: a relay only
 * keeps bundles whose sender holds a valid, unrevoked credential from a
 * trusted CA, so nothing unauthenticated can flood the mesh.
 *
 * Checks, in this order (the first failure is returned):
 *   hops <= hop_limit                           MU_E_HOPS
 *   expires > now                               MU_E_EXPIRED
 *   created <= now + skew_ms                    MU_E_NOTYET
 *   by kind:
 *     CREDENTIAL: payload is a credential         cred_decode errors
 *                 whose sign_pk is the sender     MU_E_MISMATCH
 *                 and passes cred_verify          cred_verify errors
 *     REVOCATION: sender is a trusted CA key      MU_E_UNTRUSTED
 *                 payload decodes                 revocation_decode errors
 *     others:     sender's credential (lookup)    MU_E_NOCRED (or lookup error)
 *                 whose sign_pk is the sender     MU_E_MISMATCH
 *                 and passes cred_verify          cred_verify errors
 *   the bundle's own signature                  MU_E_SIG
 * cred_verify runs at v->now with v->is_revoked, so an expired, not yet
 * valid, revoked or foreign-CA credential stops its holder's bundles.
 *
 * The CA signature of a credential is checked once: bundle_admit remembers
 * (module state, up to 256 credentials; not thread-safe, like the rest of
 * the node) credentials whose cred_verify passed, and for an identical
 * credential later runs cred_verify_status only — trust, validity window
 * and revocation are checked on every call, exactly as before. */
#ifndef MU_VERIFY_H
#define MU_VERIFY_H

#include "../crypto/cred.h"
#include "bundle.h"

#define VERIFY_SKEW_MS_DEFAULT (5 * 60 * 1000) /* config: clock_skew_ms */

/* Finds the current credential for a signing key; returns 0 and fills *out,
 * MU_E_NOCRED if unknown, <0 on error. */
typedef int (*cred_lookup_fn)(void *ctx, const uint8_t key[static MU_KEY_BYTES], struct cred *out);

struct verify_ctx {
	const struct trust *trust;
	uint64_t now;
	uint64_t skew_ms;
	cred_lookup_fn lookup;
	revoked_fn is_revoked;
	void *ctx; /* passed to both callbacks */
};

/* Revocation payload (kind REVOCATION, signed by the CA as bundle sender):
 * version 1, revoked key id (32), reason (1). */
#define REVOCATION_VERSION 1
#define REVOCATION_BYTES (1 + MU_KEY_BYTES + 1)
enum revoke_reason {
	REVOKE_UNSPECIFIED = 0,
	REVOKE_LOST = 1,
	REVOKE_COMPROMISED = 2,
	REVOKE_LEFT = 3,
	REVOKE_WIPE = 4, /* also: the holder's node destroys its keys and store */
};
/* Returns REVOCATION_BYTES, or MU_E_FORMAT for an unknown reason. */
int revocation_encode(uint8_t out[static REVOCATION_BYTES], const uint8_t key[static MU_KEY_BYTES],
		      uint8_t reason);
/* MU_E_FORMAT (short, trailing bytes, unknown reason) / MU_E_VERSION;
 * key and reason are zeroed unless it returns 0. */
int revocation_decode(const uint8_t *in, size_t len, uint8_t key[static MU_KEY_BYTES], uint8_t *reason);

/* b is the unmodified result of bundle_decode(b, enc, len); hops is the count
 * travelled so far (a bundle at hops == hop_limit is admitted, stored and
 * delivered; whether to forward it further is the router's decision). If b is a
 * CREDENTIAL bundle and cred_out is non-NULL, the decoded credential is
 * copied there on success. */
int bundle_admit(const struct verify_ctx *v, const struct bundle *b, const uint8_t *enc, size_t len,
		 uint8_t hops, struct cred *cred_out) __attribute__((warn_unused_result));

#endif
