/* Error codes shared by every Muster module.
 *
 * Functions return int: 0 on success, -errno for system failures, or one of
 * the MU_E_* codes below (all in the reserved range -1000..-1099, which no
 * errno reaches). mu_strerror() names both kinds. Error text is never written
 * into caller buffers. */
#ifndef MU_ERR_H
#define MU_ERR_H

enum mu_err {
	MU_E_FIRST = -1000,
	MU_E_FORMAT = -1000,    /* malformed encoding, trailing bytes */
	MU_E_TOOBIG = -1001,    /* a length exceeds its documented cap */
	MU_E_VERSION = -1002,   /* unknown encoding version */
	MU_E_SIG = -1003,       /* signature does not verify */
	MU_E_UNTRUSTED = -1004, /* issuer is not a trusted CA */
	MU_E_EXPIRED = -1005,   /* past its valid-until / expiry */
	MU_E_NOTYET = -1006,    /* before its valid-from / created in future */
	MU_E_REVOKED = -1007,   /* key revoked by its CA */
	MU_E_EXISTS = -1008,    /* already stored (duplicate id) */
	MU_E_NOTFOUND = -1009,  /* no such item */
	MU_E_QUOTA = -1010,     /* storage quota full of higher-ranked data */
	MU_E_PASS = -1011,      /* wrong passphrase or key file */
	MU_E_CRYPTO = -1012,    /* libsodium failed (init, allocation) */
	MU_E_CONFIG = -1013,    /* bad configuration value */
	MU_E_PERM = -1014,      /* file permissions too open for a secret */
	MU_E_NOCRED = -1015,    /* sender's credential unknown */
	MU_E_MISMATCH = -1016,  /* fields that must agree do not */
	MU_E_HOPS = -1017,      /* hop limit exceeded */
	MU_E_STORE = -1018,     /* LMDB failure (details logged) */
	MU_E_RATE = -1019,      /* sender over its rate limit; offered again later */
	MU_E_IDENTIFIER = -1020, /* text holds a patient identifier (NHS number) */
	MU_E_WIPED = -1021,     /* the node destroyed its keys and store on its CA's order */
	MU_E_LAST = -1021,
};

/* Returns a static string for 0, -errno or an MU_E_* code. Never NULL. */
const char *mu_strerror(int err);

#endif
