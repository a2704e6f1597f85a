/* Credentials: a trust CA's signed statement binding a person or node to
 * their keys, role and organisation for a validity window. They travel
 * inside CREDENTIAL bundles and are verified by every relay.
 *
 * Encoding (docs/protocol.md "Credential"): 'M' 'C' version, fields, then a
 * 64-byte Ed25519 signature by the issuer over every byte before it. Text
 * fields are UTF-8 without control characters (so they are safe to print). */
#ifndef MU_CRED_H
#define MU_CRED_H

#include <stdint.h>

#include "identity.h"

#define CRED_VERSION 1
#define CRED_TEXT_MAX 64 /* subject id, display name, organisation */
#define CRED_REG_MAX 32  /* professional registration, e.g. "HCPC PA123456" */
#define CRED_ENC_MAX 512 /* largest possible encoding */
#define MU_TRUST_MAX 16  /* trusted CA keys per node */

enum mu_role {
	ROLE_NODE = 1,
	ROLE_PARAMEDIC = 2,
	ROLE_TECHNICIAN = 3, /* emergency medical technician / ambulance technician */
	ROLE_HART = 4,       /* HART operative */
	ROLE_DOCTOR = 5,
	ROLE_NURSE = 6,
	ROLE_AIC = 7,        /* ambulance incident commander */
	ROLE_HOSPITAL_ARCHIVE = 8,
	ROLE_CONTROL = 9,    /* emergency operations centre / control */
	ROLE_MAX = 9,
};

/* "node", "paramedic", "technician", "hart", "doctor", "nurse", "aic",
 * "archive", "control"; NULL for unknown. */
const char *role_name(uint8_t role);
/* Accepts the short names above; MU_E_FORMAT otherwise. */
int role_parse(const char *s, uint8_t *role);

struct cred {
	uint8_t role;
	char subject[CRED_TEXT_MAX + 1]; /* stable id, e.g. staff number */
	char name[CRED_TEXT_MAX + 1];    /* display name */
	char org[CRED_TEXT_MAX + 1];     /* organisation */
	char reg[CRED_REG_MAX + 1];      /* registration, "" when none */
	uint8_t sign_pk[MU_KEY_BYTES];
	uint8_t kx_pk[MU_KEY_BYTES];
	uint64_t valid_from;  /* Unix ms, inclusive */
	uint64_t valid_until; /* Unix ms, exclusive */
	uint8_t issuer[MU_KEY_BYTES];
	uint8_t sig[MU_SIG_BYTES];
};

/* The set of CA public keys this node trusts. A plain value. */
struct trust {
	unsigned n;
	uint8_t ca[MU_TRUST_MAX][MU_KEY_BYTES];
};

/* Returns 1 if key is revoked, 0 if not, <0 on error. */
typedef int (*revoked_fn)(void *ctx, const uint8_t key[static MU_KEY_BYTES]);

/* Sets c->issuer to the CA's key, signs, and writes the encoding to out.
 * Returns the length or an error (MU_E_TOOBIG if a field is too long,
 * MU_E_FORMAT if text has control characters). */
int cred_issue(uint8_t *out, size_t cap, struct cred *c, const struct mu_identity *ca);
/* Parses an encoding (no signature check). MU_E_FORMAT / MU_E_TOOBIG /
 * MU_E_VERSION on bad input; *out is zeroed first and again on failure. */
int cred_decode(struct cred *out, const uint8_t *in, size_t len);
/* Re-encodes c (including its signature) into out; returns length, or the
 * error cred_decode would give for such fields. The encoding is canonical:
 * cred_decode then cred_encode gives back the same bytes. */
int cred_encode(uint8_t *out, size_t cap, const struct cred *c);
/* Full check: issuer in trust (MU_E_UNTRUSTED), signature (MU_E_SIG),
 * now within [valid_from, valid_until) (MU_E_NOTYET / MU_E_EXPIRED), and
 * not revoked (MU_E_REVOKED) when is_revoked is given. */
int cred_verify(const struct cred *c, const struct trust *t, uint64_t now, revoked_fn is_revoked,
		void *ctx) __attribute__((warn_unused_result));
/* cred_verify without the signature check, same errors in the same order:
 * for a caller that has already verified the signature of this exact
 * credential (a signature over immutable bytes stays valid; trust, time and
 * revocation do not, so they are checked here every time). */
int cred_verify_status(const struct cred *c, const struct trust *t, uint64_t now, revoked_fn is_revoked,
		       void *ctx) __attribute__((warn_unused_result));

/* Adds a CA key; MU_E_TOOBIG when full, 0 if already present. */
int trust_add(struct trust *t, const uint8_t ca[static MU_KEY_BYTES]);
int trust_has(const struct trust *t, const uint8_t key[static MU_KEY_BYTES]);

#endif
