/* Admission check run before anything is stored or forwarded: a relay only
 * keeps bundles whose sender holds a valid, unrevoked credential from a
 * trusted CA, so nothing unauthenticated can flood the mesh.
 *
 * Checks, in this order (the first failure is returned):
 *   hops <= hop_limit                           MU_E_HOPS
 *   expires > now                               MU_E_EXPIRED
 *   created <= now + skew_ms                    MU_E_NOTYET
 *   by kind:
 *     CREDENTIAL: payload is a credential for sender; cred_verify
 *     REVOCATION: sender is a trusted CA key; payload decodes
 *     others: sender's credential (looked up) passes cred_verify
 *   the bundle's own signature                  MU_E_SIG */
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
enum revoke_reason { REVOKE_UNSPECIFIED = 0, REVOKE_LOST = 1, REVOKE_COMPROMISED = 2, REVOKE_LEFT = 3, REVOKE_WIPE = 4 };
int revocation_encode(uint8_t out[static REVOCATION_BYTES], const uint8_t key[static MU_KEY_BYTES], uint8_t reason);
int revocation_decode(const uint8_t *in, size_t len, uint8_t key[static MU_KEY_BYTES], uint8_t *reason);

/* b was decoded from enc/len; hops is the count travelled so far. If b is a
 * CREDENTIAL bundle and cred_out is non-NULL, the decoded credential is
 * copied there on success. */
int bundle_admit(const struct verify_ctx *v, const struct bundle *b, const uint8_t *enc, size_t len,
		 uint8_t hops, struct cred *cred_out) __attribute__((warn_unused_result));

#endif
