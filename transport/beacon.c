#include "beacon.h"

#include <string.h>

#include "err.h"
#include "wire.h"

int beacon_encode(uint8_t out[static BEACON_BYTES], const struct beacon *b, const struct mu_identity *id)
{
	struct wr wr = wr_make(out, BEACON_BYTES);
	int ret;

	memset(out, 0, BEACON_BYTES);
	if (memcmp(b->key, identity_sign_pk(id), MU_KEY_BYTES))
		return MU_E_MISMATCH;
	if (!b->port)
		return MU_E_FORMAT;
	wr_bytes(&wr, BEACON_MAGIC, BEACON_MAGIC_BYTES);
	wr_u8(&wr, BEACON_VERSION);
	wr_bytes(&wr, b->key, MU_KEY_BYTES);
	wr_u16(&wr, b->port);
	wr_u64(&wr, b->ts_ms);
	wr_bytes(&wr, b->nonce, BEACON_NONCE_BYTES);
	ret = wr_finish(&wr);
	if (ret != BEACON_SIGNED_BYTES) {
		ret = ret < 0 ? ret : MU_E_FORMAT;
		goto out;
	}
	ret = identity_sign(id, out + BEACON_SIGNED_BYTES, out, BEACON_SIGNED_BYTES);
out:
	if (ret)
		memset(out, 0, BEACON_BYTES);
	return ret;
}

int beacon_decode(struct beacon *out, const uint8_t *p, size_t n)
{
	struct rd rd = rd_make(p, n);
	const uint8_t *magic, *sig;
	uint8_t version;
	int ret;

	memset(out, 0, sizeof(*out));
	/* Magic and version first, so a future version with another length is
	 * reported as a version, not as garbage. */
	ret = rd_slice(&rd, BEACON_MAGIC_BYTES, &magic) || rd_u8(&rd, &version) ? MU_E_FORMAT : 0;
	if (ret)
		goto out;
	if (memcmp(magic, BEACON_MAGIC, BEACON_MAGIC_BYTES)) {
		ret = MU_E_FORMAT;
		goto out;
	}
	if (version != BEACON_VERSION) {
		ret = MU_E_VERSION;
		goto out;
	}
	if (rd_bytes(&rd, out->key, MU_KEY_BYTES) || rd_u16(&rd, &out->port) || rd_u64(&rd, &out->ts_ms) ||
	    rd_bytes(&rd, out->nonce, BEACON_NONCE_BYTES) || rd_slice(&rd, MU_SIG_BYTES, &sig) ||
	    rd_end(&rd) || !out->port) {
		ret = MU_E_FORMAT;
		goto out;
	}
	ret = mu_verify(out->key, sig, p, BEACON_SIGNED_BYTES);
out:
	if (ret)
		memset(out, 0, sizeof(*out));
	return ret;
}

enum beacon_verdict beacon_judge(const struct beacon *b, const uint8_t own_key[static MU_KEY_BYTES],
				 uint64_t now_ms, uint64_t max_skew_ms)
{
	/* Key ids are public: a plain compare is fine. */
	if (!memcmp(b->key, own_key, MU_KEY_BYTES))
		return BEACON_OWN;
	if (b->ts_ms < now_ms && now_ms - b->ts_ms > max_skew_ms)
		return BEACON_STALE;
	if (b->ts_ms > now_ms && b->ts_ms - now_ms > max_skew_ms)
		return BEACON_FUTURE;
	return BEACON_ACCEPT;
}
