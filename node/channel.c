/* Channel ids, key-wrap payloads and channel messages (channel.h). */
#include "channel.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "err.h"
#include "wire.h"

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define AD_BYTES (CHANNEL_ID_BYTES + 4 + MU_KEY_BYTES)
/* Channel slot of a message: the marker in the key id field, then
 * nonce || sealed content key || zero padding in the 80-byte sealed field. */
#define MARK_BYTES (MU_KEY_BYTES - CHANNEL_ID_BYTES - 4)
#define CSLOT_SEALED (NONCE_BYTES + CHANNEL_KEY_BYTES + TAG_BYTES)
#define CSLOT_PAD (CHANNEL_KEY_BYTES + MU_SEAL_OVERHEAD - CSLOT_SEALED)

_Static_assert(NONCE_BYTES == 24 && TAG_BYTES == 16, "channel layout");
_Static_assert(CSLOT_PAD == 8, "the channel slot fills an envelope slot");
_Static_assert(KEYWRAP_MAX <= 65536, "a key-wrap fits one bundle");

void channel_id(uint8_t out[static CHANNEL_ID_BYTES], const uint8_t creator[static MU_KEY_BYTES], const char *name,
		size_t len)
{
	static const char tag[] = "muster/channel/2:";
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, CHANNEL_ID_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)tag, sizeof(tag) - 1);
	crypto_generichash_update(&st, creator, MU_KEY_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)name, len);
	crypto_generichash_final(&st, out, CHANNEL_ID_BYTES);
}

/* channel id || epoch || a key id: what binds a sealed part to its place. */
static void make_ad(uint8_t ad[static AD_BYTES], const uint8_t *chan, uint32_t epoch, const uint8_t *key)
{
	memcpy(ad, chan, CHANNEL_ID_BYTES);
	ad[16] = (uint8_t)(epoch >> 24);
	ad[17] = (uint8_t)(epoch >> 16);
	ad[18] = (uint8_t)(epoch >> 8);
	ad[19] = (uint8_t)epoch;
	memcpy(ad + 20, key, MU_KEY_BYTES);
}

/* ---- key-wrap payloads ---- */

/* Counts members and archives of n slots given as (key id, role) pairs
 * at key(i) / role(i); MU_E_FORMAT unless the caps, roles and uniqueness
 * hold. Shared by the sealer and the decoder so both enforce one rule. */
static int check_slots(const uint8_t *keys, size_t key_stride, const uint8_t *roles, size_t role_stride, unsigned n)
{
	unsigned members = 0, archives = 0;

	if (n == 0 || n > KEYWRAP_SLOTS_MAX)
		return MU_E_FORMAT;
	for (unsigned i = 0; i < n; i++) {
		uint8_t role = roles[i * role_stride];

		if (role == KEYWRAP_MEMBER)
			members++;
		else if (role == KEYWRAP_ARCHIVE)
			archives++;
		else
			return MU_E_FORMAT;
		for (unsigned j = 0; j < i; j++)
			if (!memcmp(keys + i * key_stride, keys + j * key_stride, MU_KEY_BYTES))
				return MU_E_FORMAT;
	}
	if (!members || members > CHANNEL_MEMBERS_MAX || archives > CHANNEL_ARCHIVES_MAX)
		return MU_E_FORMAT;
	return 0;
}

int keywrap_seal(uint8_t *out, size_t cap, const uint8_t creator[static MU_KEY_BYTES], const char *name,
		 uint32_t epoch, const uint8_t key[static CHANNEL_KEY_BYTES], const struct keywrap_holder *h,
		 unsigned n)
{
	size_t nlen = name ? strlen(name) : 0;
	uint8_t chan[CHANNEL_ID_BYTES], ad[AD_BYTES], nonce[NONCE_BYTES], ct[CHANNEL_NAME_MAX + TAG_BYTES];
	uint8_t sealed[CHANNEL_KEY_BYTES + MU_SEAL_OVERHEAD];
	struct wr wr = wr_make(out, cap);
	unsigned long long clen = 0;
	int ret;

	if (!nlen || nlen > CHANNEL_NAME_MAX)
		return MU_E_FORMAT;
	if ((ret = check_slots(h->key, sizeof(*h), &h->role, sizeof(*h), n)))
		return ret;
	if (mu_crypto_init())
		return MU_E_CRYPTO;
	channel_id(chan, creator, name, nlen);
	make_ad(ad, chan, epoch, creator);
	randombytes_buf(nonce, sizeof(nonce));
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &clen, (const uint8_t *)name, nlen, ad, sizeof(ad), NULL, nonce,
						   key);
	wr_u8(&wr, KEYWRAP_VERSION);
	wr_bytes(&wr, chan, sizeof(chan));
	wr_u32(&wr, epoch);
	wr_bytes(&wr, nonce, sizeof(nonce));
	wr_lv8(&wr, ct, (size_t)clen, sizeof(ct));
	wr_u8(&wr, (uint8_t)n);
	for (unsigned i = 0; i < n && !ret; i++) {
		ret = mu_seal(sealed, key, CHANNEL_KEY_BYTES, h[i].kx_pk);
		wr_bytes(&wr, h[i].key, MU_KEY_BYTES);
		wr_u8(&wr, h[i].role);
		wr_bytes(&wr, sealed, sizeof(sealed));
	}
	return ret ? ret : wr_finish(&wr);
}

int keywrap_decode(struct keywrap *kw, const uint8_t *in, size_t len)
{
	struct rd rd = rd_make(in, len);
	uint8_t version = 0, n = 0;
	int ret;

	memset(kw, 0, sizeof(*kw));
	if ((ret = rd_u8(&rd, &version)))
		goto out;
	if (version != KEYWRAP_VERSION) {
		ret = MU_E_VERSION;
		goto out;
	}
	if ((ret = rd_bytes(&rd, kw->chan, CHANNEL_ID_BYTES)) || (ret = rd_u32(&rd, &kw->epoch)) ||
	    (ret = rd_slice(&rd, NONCE_BYTES, &kw->nonce)) ||
	    (ret = rd_lv8(&rd, CHANNEL_NAME_MAX + TAG_BYTES, &kw->name_ct, &kw->name_ct_len)) ||
	    (ret = rd_u8(&rd, &n)))
		goto out;
	if (kw->name_ct_len < 1 + TAG_BYTES || n == 0 || n > KEYWRAP_SLOTS_MAX) {
		ret = MU_E_FORMAT;
		goto out;
	}
	if ((ret = rd_slice(&rd, (size_t)n * KEYWRAP_SLOT_BYTES, &kw->slots)) || (ret = rd_end(&rd)))
		goto out;
	kw->nslots = n;
	ret = check_slots(kw->slots, KEYWRAP_SLOT_BYTES, kw->slots + MU_KEY_BYTES, KEYWRAP_SLOT_BYTES, n);
out:
	if (ret) {
		memset(kw, 0, sizeof(*kw));
		return ret == MU_E_TOOBIG ? MU_E_FORMAT : ret;
	}
	return 0;
}

const uint8_t *keywrap_slot(const struct keywrap *kw, unsigned i, uint8_t *role)
{
	const uint8_t *s = kw->slots + (size_t)i * KEYWRAP_SLOT_BYTES;

	*role = s[MU_KEY_BYTES];
	return s;
}

uint8_t keywrap_role_of(const struct keywrap *kw, const uint8_t key[static MU_KEY_BYTES])
{
	uint8_t role;

	for (unsigned i = 0; i < kw->nslots; i++)
		if (!memcmp(keywrap_slot(kw, i, &role), key, MU_KEY_BYTES))
			return role;
	return 0;
}

int keywrap_open(const struct keywrap *kw, const struct mu_identity *id, const uint8_t creator[static MU_KEY_BYTES],
		 uint8_t out_key[static CHANNEL_KEY_BYTES], char name[static CHANNEL_NAME_MAX + 1])
{
	uint8_t ad[AD_BYTES], chan[CHANNEL_ID_BYTES], role;
	const uint8_t *slot = NULL;
	unsigned long long nlen = 0;
	int ret;

	name[0] = 0;
	for (unsigned i = 0; i < kw->nslots && !slot; i++)
		if (!memcmp(keywrap_slot(kw, i, &role), identity_sign_pk(id), MU_KEY_BYTES))
			slot = kw->slots + (size_t)i * KEYWRAP_SLOT_BYTES + MU_KEY_BYTES + 1;
	if (!slot)
		return MU_E_NOTFOUND;
	ret = identity_unseal(id, out_key, slot, CHANNEL_KEY_BYTES + MU_SEAL_OVERHEAD);
	make_ad(ad, kw->chan, kw->epoch, creator);
	if (!ret && (kw->name_ct_len > CHANNEL_NAME_MAX + TAG_BYTES ||
		     crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)name, &nlen, NULL, kw->name_ct,
								kw->name_ct_len, ad, sizeof(ad), kw->nonce, out_key)))
		ret = MU_E_SIG;
	if (!ret) {
		name[nlen] = 0;
		/* A wrap signed by someone else names another channel. */
		channel_id(chan, creator, name, (size_t)nlen);
		if (sodium_memcmp(chan, kw->chan, CHANNEL_ID_BYTES) || strlen(name) != nlen)
			ret = MU_E_MISMATCH;
	}
	if (ret) {
		sodium_memzero(out_key, CHANNEL_KEY_BYTES);
		name[0] = 0;
	}
	return ret;
}

/* ---- channel messages ---- */

static void slot_marker(uint8_t out[static MU_KEY_BYTES], const uint8_t *chan, uint32_t epoch)
{
	memcpy(out, chan, CHANNEL_ID_BYTES);
	out[16] = (uint8_t)(epoch >> 24);
	out[17] = (uint8_t)(epoch >> 16);
	out[18] = (uint8_t)(epoch >> 8);
	out[19] = (uint8_t)epoch;
	memset(out + 20, 0xff, MARK_BYTES);
}

int chanmsg_seal(uint8_t *out, size_t cap, const uint8_t *content, size_t len, const uint8_t chan[static CHANNEL_ID_BYTES],
		 uint32_t epoch, const uint8_t key[static CHANNEL_KEY_BYTES], const struct envelope_recipient *r,
		 unsigned n, const uint8_t sender[static MU_KEY_BYTES])
{
	uint8_t *ck = NULL, nonce[NONCE_BYTES], sealed[CHANNEL_KEY_BYTES + MU_SEAL_OVERHEAD];
	uint8_t mark[MU_KEY_BYTES], ad[AD_BYTES];
	struct wr wr = wr_make(out, cap);
	unsigned long long clen = 0;
	int ret = 0;

	if (n + 1 > ENVELOPE_RECIPIENTS_MAX || cap < CHANMSG_OVERHEAD(n) + len)
		return MU_E_TOOBIG;
	if (mu_crypto_init())
		return MU_E_CRYPTO;
	if (!(ck = sodium_malloc(CHANNEL_KEY_BYTES)))
		return -ENOMEM;
	crypto_aead_xchacha20poly1305_ietf_keygen(ck);
	wr_u8(&wr, ENVELOPE_VERSION);
	wr_u8(&wr, (uint8_t)(n + 1));
	/* The channel slot: the content key under the epoch key. */
	slot_marker(mark, chan, epoch);
	make_ad(ad, chan, epoch, sender);
	memset(sealed, 0, sizeof(sealed));
	randombytes_buf(sealed, NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + NONCE_BYTES, NULL, ck, CHANNEL_KEY_BYTES, ad, sizeof(ad),
						   NULL, sealed, key);
	wr_bytes(&wr, mark, sizeof(mark));
	wr_bytes(&wr, sealed, sizeof(sealed));
	for (unsigned i = 0; i < n && !ret; i++) {
		ret = mu_seal(sealed, ck, CHANNEL_KEY_BYTES, r[i].kx_pk);
		wr_bytes(&wr, r[i].key, MU_KEY_BYTES);
		wr_bytes(&wr, sealed, sizeof(sealed));
	}
	randombytes_buf(nonce, sizeof(nonce));
	wr_bytes(&wr, nonce, sizeof(nonce));
	if (!ret && !wr.err)
		crypto_aead_xchacha20poly1305_ietf_encrypt(out + wr.len, &clen, content, len, sender, MU_KEY_BYTES, NULL,
							   nonce, ck);
	sodium_free(ck);
	if (ret || wr.err)
		return ret ? ret : wr.err;
	return (int)(wr.len + clen);
}

/* Walks the envelope: *cslot is the first slot whose key id field is a
 * channel marker for chan (NULL if none), rd is left at the nonce. */
static int chanmsg_parse(struct rd *rd, const uint8_t *chan, const uint8_t **cslot)
{
	struct envelope_slots it;
	struct envelope_slot s;
	int ret = envelope_slots_init(&it, rd->p, rd->len);

	*cslot = NULL;
	if (ret)
		return ret;
	while (envelope_slot_next(&it, &s)) {
		if (!*cslot && !memcmp(s.key, chan, CHANNEL_ID_BYTES)) {
			unsigned k = 0;

			while (k < MARK_BYTES && s.key[20 + k] == 0xff)
				k++;
			if (k == MARK_BYTES)
				*cslot = s.key;
		}
	}
	*rd = rd_make(it.rest, it.rest_len);
	if (rd->len < NONCE_BYTES + TAG_BYTES)
		return MU_E_FORMAT;
	return 0;
}

int chanmsg_epoch(const uint8_t *env, size_t len, const uint8_t chan[static CHANNEL_ID_BYTES], uint32_t *epoch)
{
	struct rd rd = rd_make(env, len);
	const uint8_t *s;
	int ret = chanmsg_parse(&rd, chan, &s);

	*epoch = 0;
	if (ret)
		return ret;
	if (!s)
		return MU_E_NOTFOUND;
	*epoch = (uint32_t)s[16] << 24 | (uint32_t)s[17] << 16 | (uint32_t)s[18] << 8 | s[19];
	return 0;
}

int chanmsg_open(uint8_t *out, size_t cap, size_t *len, const uint8_t *env, size_t env_len,
		 const uint8_t chan[static CHANNEL_ID_BYTES], uint32_t epoch, const uint8_t key[static CHANNEL_KEY_BYTES],
		 const uint8_t sender[static MU_KEY_BYTES])
{
	static const uint8_t zero[CSLOT_PAD];
	struct rd rd = rd_make(env, env_len);
	uint8_t *ck = NULL, ad[AD_BYTES], mark[MU_KEY_BYTES];
	const uint8_t *s, *nonce;
	unsigned long long mlen = 0;
	int ret = chanmsg_parse(&rd, chan, &s);

	*len = 0;
	if (ret)
		return ret;
	slot_marker(mark, chan, epoch);
	if (!s || memcmp(s, mark, MU_KEY_BYTES))
		return MU_E_NOTFOUND;
	if (cap < rd.len)
		return MU_E_TOOBIG;
	if (!(ck = sodium_malloc(CHANNEL_KEY_BYTES)))
		return -ENOMEM;
	s += MU_KEY_BYTES;
	make_ad(ad, chan, epoch, sender);
	if (memcmp(s + CSLOT_SEALED, zero, CSLOT_PAD) ||
	    crypto_aead_xchacha20poly1305_ietf_decrypt(ck, NULL, NULL, s + NONCE_BYTES, CHANNEL_KEY_BYTES + TAG_BYTES,
						       ad, sizeof(ad), s, key))
		ret = MU_E_SIG;
	if (!ret)
		ret = rd_slice(&rd, NONCE_BYTES, &nonce);
	if (!ret && crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, rd.p, rd.len, sender, MU_KEY_BYTES,
							       nonce, ck))
		ret = MU_E_SIG;
	sodium_free(ck);
	if (!ret)
		*len = (size_t)mlen;
	return ret;
}
