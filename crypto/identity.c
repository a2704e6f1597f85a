#include "identity.h"

#include <sodium.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

struct mu_identity {
	uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t kx_pk[crypto_box_PUBLICKEYBYTES];
	uint8_t *secret; /* sodium_malloc: sign_sk (64) || kx_sk (32) */
};

_Static_assert(MU_KEY_BYTES == crypto_sign_PUBLICKEYBYTES, "key size");
_Static_assert(MU_KEY_BYTES == crypto_box_PUBLICKEYBYTES, "kx key size");
_Static_assert(MU_SIG_BYTES == crypto_sign_BYTES, "sig size");
_Static_assert(MU_SEAL_OVERHEAD == crypto_box_SEALBYTES, "seal size");
_Static_assert(MU_IDENTITY_SECRET_BYTES == crypto_sign_SECRETKEYBYTES + crypto_box_SECRETKEYBYTES,
	       "secret size");

#define SIGN_SK(id) ((id)->secret)
#define KX_SK(id) ((id)->secret + crypto_sign_SECRETKEYBYTES)

int mu_crypto_init(void)
{
	return sodium_init() < 0 ? MU_E_CRYPTO : 0;
}

static int identity_alloc(struct mu_identity **out)
{
	struct mu_identity *id;

	*out = NULL;
	if (mu_crypto_init())
		return MU_E_CRYPTO;
	id = calloc(1, sizeof(*id));
	if (!id)
		return -ENOMEM;
	id->secret = sodium_malloc(MU_IDENTITY_SECRET_BYTES);
	if (!id->secret) {
		free(id);
		return -ENOMEM;
	}
	*out = id;
	return 0;
}

void identity_free(struct mu_identity *id)
{
	if (!id)
		return;
	sodium_free(id->secret); /* wipes before freeing */
	free(id);
}

int identity_generate(struct mu_identity **out)
{
	int ret = identity_alloc(out);

	if (ret)
		return ret;
	crypto_sign_keypair((*out)->sign_pk, SIGN_SK(*out));
	crypto_box_keypair((*out)->kx_pk, KX_SK(*out));
	return 0;
}

int identity_from_seed(struct mu_identity **out, const uint8_t seed[static 32])
{
	uint8_t kx_seed[crypto_box_SEEDBYTES];
	int ret = identity_alloc(out);

	if (ret)
		return ret;
	crypto_sign_seed_keypair((*out)->sign_pk, SIGN_SK(*out), seed);
	/* The X25519 pair gets its own seed so the two keys are independent. */
	crypto_generichash(kx_seed, sizeof(kx_seed), (const uint8_t *)"kx", 2, seed, 32);
	crypto_box_seed_keypair((*out)->kx_pk, KX_SK(*out), kx_seed);
	sodium_memzero(kx_seed, sizeof(kx_seed));
	return 0;
}

const uint8_t *identity_sign_pk(const struct mu_identity *id)
{
	return id->sign_pk;
}

const uint8_t *identity_kx_pk(const struct mu_identity *id)
{
	return id->kx_pk;
}

int identity_sign(const struct mu_identity *id, uint8_t sig[static MU_SIG_BYTES], const uint8_t *msg,
		  size_t len)
{
	return crypto_sign_detached(sig, NULL, msg, len, SIGN_SK(id)) ? MU_E_CRYPTO : 0;
}

int mu_verify(const uint8_t pk[static MU_KEY_BYTES], const uint8_t sig[static MU_SIG_BYTES],
	      const uint8_t *msg, size_t len)
{
	return crypto_sign_verify_detached(sig, msg, len, pk) ? MU_E_SIG : 0;
}

int mu_seal(uint8_t *out, const uint8_t *msg, size_t len, const uint8_t kx_pk[static MU_KEY_BYTES])
{
	if (mu_crypto_init())
		return MU_E_CRYPTO;
	return crypto_box_seal(out, msg, len, kx_pk) ? MU_E_CRYPTO : 0;
}

int identity_unseal(const struct mu_identity *id, uint8_t *out, const uint8_t *c, size_t len)
{
	if (len < MU_SEAL_OVERHEAD)
		return MU_E_FORMAT;
	return crypto_box_seal_open(out, c, len, id->kx_pk, KX_SK(id)) ? MU_E_SIG : 0;
}

void identity_export_secret(const struct mu_identity *id, uint8_t out[static MU_IDENTITY_SECRET_BYTES])
{
	memcpy(out, id->secret, MU_IDENTITY_SECRET_BYTES);
}

int identity_import_secret(struct mu_identity **out, const uint8_t in[static MU_IDENTITY_SECRET_BYTES])
{
	int ret = identity_alloc(out);

	if (ret)
		return ret;
	memcpy((*out)->secret, in, MU_IDENTITY_SECRET_BYTES);
	crypto_sign_ed25519_sk_to_pk((*out)->sign_pk, SIGN_SK(*out));
	crypto_scalarmult_base((*out)->kx_pk, KX_SK(*out));
	return 0;
}
