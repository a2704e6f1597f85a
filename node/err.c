#include "err.h"

#include <string.h>

static const char *const mu_errstr[] = {
	[-(MU_E_FORMAT - MU_E_FIRST)] = "malformed encoding",
	[-(MU_E_TOOBIG - MU_E_FIRST)] = "field exceeds its size limit",
	[-(MU_E_VERSION - MU_E_FIRST)] = "unsupported encoding version",
	[-(MU_E_SIG - MU_E_FIRST)] = "signature does not verify",
	[-(MU_E_UNTRUSTED - MU_E_FIRST)] = "issuer is not a trusted CA",
	[-(MU_E_EXPIRED - MU_E_FIRST)] = "expired",
	[-(MU_E_NOTYET - MU_E_FIRST)] = "not yet valid",
	[-(MU_E_REVOKED - MU_E_FIRST)] = "key has been revoked",
	[-(MU_E_EXISTS - MU_E_FIRST)] = "already exists",
	[-(MU_E_NOTFOUND - MU_E_FIRST)] = "not found",
	[-(MU_E_QUOTA - MU_E_FIRST)] = "storage quota full",
	[-(MU_E_PASS - MU_E_FIRST)] = "wrong passphrase or key file",
	[-(MU_E_CRYPTO - MU_E_FIRST)] = "cryptographic library failure",
	[-(MU_E_CONFIG - MU_E_FIRST)] = "invalid configuration",
	[-(MU_E_PERM - MU_E_FIRST)] = "secret file permissions too open",
	[-(MU_E_NOCRED - MU_E_FIRST)] = "no credential known for sender",
	[-(MU_E_MISMATCH - MU_E_FIRST)] = "fields do not match",
	[-(MU_E_HOPS - MU_E_FIRST)] = "hop limit exceeded",
	[-(MU_E_STORE - MU_E_FIRST)] = "storage failure",
	[-(MU_E_RATE - MU_E_FIRST)] = "sender over its rate limit",
	[-(MU_E_IDENTIFIER - MU_E_FIRST)] = "text contains a patient identifier",
	[-(MU_E_WIPED - MU_E_FIRST)] = "wiped by its CA's order",
};

const char *mu_strerror(int err)
{
	if (err == 0)
		return "success";
	if (err <= MU_E_FIRST && err >= MU_E_LAST)
		return mu_errstr[-(err - MU_E_FIRST)];
	if (err < 0 && err > MU_E_FIRST)
		return strerror(-err);
	return "unknown error";
}
