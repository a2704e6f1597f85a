#include "envelope.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "err.h"
#include "wire.h"

#define KEY_BYTES crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES

_Static_assert(KEY_BYTES == 32 && NONCE_BYTES == 24, "envelope layout");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == 16, "envelope layout");
_Static_assert(ENVELOPE_SEALED_BYTES == KEY_BYTES + MU_SEAL_OVERHEAD, "envelope layout");

int envelope_seal(uint8_t *out, size_t cap, const uint8_t *content, size_t len,
		  const struct envelope_recipient *r, unsigned n, const uint8_t sender[static MU_KEY_BYTES])
{
	uint8_t *key = NULL, nonce[NONCE_BYTES], sealed[KEY_BYTES + MU_SEAL_OVERHEAD];
	struct wr wr = wr_make(out, cap);
	unsigned long long clen = 0;
	int ret = 0;

	if (n == 0 || n > ENVELOPE_RECIPIENTS_MAX || cap < ENVELOPE_OVERHEAD(n) + len)
		return MU_E_TOOBIG;
	if (mu_crypto_init())
		return MU_E_CRYPTO;
	key = sodium_malloc(KEY_BYTES);
	if (!key)
		return -ENOMEM;
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	randombytes_buf(nonce, sizeof(nonce));
	wr_u8(&wr, ENVELOPE_VERSION);
	wr_u8(&wr, (uint8_t)n);
	for (unsigned i = 0; i < n && !ret; i++) {
		ret = mu_seal(sealed, key, KEY_BYTES, r[i].kx_pk);
		wr_bytes(&wr, r[i].key, MU_KEY_BYTES);
		wr_bytes(&wr, sealed, sizeof(sealed));
	}
	wr_bytes(&wr, nonce, sizeof(nonce));
	if (!ret && !wr.err)
		crypto_aead_xchacha20poly1305_ietf_encrypt(out + wr.len, &clen, content, len, sender,
							   MU_KEY_BYTES, NULL, nonce, key);
	sodium_free(key);
	if (ret)
		return ret;
	if (wr.err)
		return wr.err;
	return (int)(wr.len + clen);
}

int envelope_slots_init(struct envelope_slots *it, const uint8_t *env, size_t len)
{
	struct rd rd = rd_make(env, len);
	uint8_t version, n;
	const uint8_t *slots;

	memset(it, 0, sizeof(*it));
	if (rd_u8(&rd, &version) || rd_u8(&rd, &n))
		return MU_E_FORMAT;
	if (version != ENVELOPE_VERSION)
		return MU_E_VERSION;
	if (n == 0 || n > ENVELOPE_RECIPIENTS_MAX)
		return MU_E_FORMAT;
	/* All slots at once, so that a caller never acts on the first slots of
	 * an envelope that turns out to be cut short. */
	if (rd_slice(&rd, (size_t)n * ENVELOPE_SLOT_BYTES, &slots))
		return MU_E_FORMAT;
	*it = (struct envelope_slots){ .next = slots, .left = n, .count = n, .rest = rd.p, .rest_len = rd.len };
	return 0;
}

int envelope_slot_next(struct envelope_slots *it, struct envelope_slot *slot)
{
	if (!it->left) {
		*slot = (struct envelope_slot){ 0 };
		return 0;
	}
	slot->key = it->next;
	slot->sealed = it->next + MU_KEY_BYTES;
	it->next += ENVELOPE_SLOT_BYTES;
	it->left--;
	return 1;
}

/* Finds key's slot; on success *slot points at its sealed key and rd is
 * left at the nonce. */
static int envelope_parse(struct rd *rd, const uint8_t key[static MU_KEY_BYTES], const uint8_t **slot)
{
	struct envelope_slots it;
	struct envelope_slot s;
	int ret = envelope_slots_init(&it, rd->p, rd->len);

	*slot = NULL;
	if (ret)
		return ret;
	while (envelope_slot_next(&it, &s))
		if (!*slot && !memcmp(s.key, key, MU_KEY_BYTES))
			*slot = s.sealed;
	*rd = rd_make(it.rest, it.rest_len);
	if (rd->len < NONCE_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)
		return MU_E_FORMAT;
	return 0;
}

int envelope_has_recipient(const uint8_t *env, size_t env_len, const uint8_t key[static MU_KEY_BYTES])
{
	struct rd rd = rd_make(env, env_len);
	const uint8_t *slot;
	int ret = envelope_parse(&rd, key, &slot);

	return ret ? ret : slot != NULL;
}

int envelope_open(uint8_t *out, size_t cap, size_t *len, const uint8_t *env, size_t env_len,
		  const struct mu_identity *id, const uint8_t sender[static MU_KEY_BYTES])
{
	struct rd rd = rd_make(env, env_len);
	const uint8_t *slot, *nonce;
	uint8_t *key = NULL;
	unsigned long long mlen = 0;
	int ret = envelope_parse(&rd, identity_sign_pk(id), &slot);

	*len = 0;
	if (ret)
		return ret;
	if (!slot)
		return MU_E_NOTFOUND;
	if (cap < rd.len)
		return MU_E_TOOBIG;
	key = sodium_malloc(KEY_BYTES);
	if (!key)
		return -ENOMEM;
	ret = identity_unseal(id, key, slot, KEY_BYTES + MU_SEAL_OVERHEAD);
	if (!ret)
		ret = rd_slice(&rd, NONCE_BYTES, &nonce);
	if (!ret && crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, rd.p, rd.len, sender,
							       MU_KEY_BYTES, nonce, key))
		ret = MU_E_SIG;
	sodium_free(key);
	if (!ret)
		*len = (size_t)mlen;
	return ret;
}
