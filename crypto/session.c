/* Link session: handshake, record reassembly, secretstream traffic.
 * docs/session.md is the specification; names below follow it. */
#include "session.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hex.h"
#include "log.h"
#include "wire.h"

#define PROTO_LABEL   "muster/link/v1"
#define SIG_CTX_R     "muster/link/v1 responder"
#define SIG_CTX_I     "muster/link/v1 initiator"
#define HS_KEY_LABEL  "muster/link/v1 handshake"
#define TRAFFIC_LABEL "muster/link/v1 traffic"

#define KEY_BYTES   32u
#define NONCE_BYTES 32u
#define HELLO_BYTES (2u + 1u + KEY_BYTES + NONCE_BYTES) /* 67 */
/* A hello up to this size is read far enough to name its version, so a
 * newer peer gets MU_E_VERSION rather than a length error. */
#define HELLO_MAX   256u
#define HELLO_MIN   3u
#define AEAD_ABYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
/* Handshake auth payload: u16 credential length, credential, signature. */
#define AUTH_MIN  (2u + 1u + MU_SIG_BYTES)
#define AUTH_MAX  (2u + CRED_ENC_MAX + MU_SIG_BYTES)
#define MSG2_MIN  (KEY_BYTES + AEAD_ABYTES + AUTH_MIN)
#define MSG2_MAX  (KEY_BYTES + AEAD_ABYTES + AUTH_MAX)
#define MSG3_MIN  (AEAD_ABYTES + AUTH_MIN)
#define MSG3_MAX  (AEAD_ABYTES + AUTH_MAX)
#define HDR_BYTES crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define TH_BYTES  32u

_Static_assert(SESSION_FRAME_OVERHEAD == crypto_secretstream_xchacha20poly1305_ABYTES, "overhead");
_Static_assert(SESSION_FRAME_MAX <= crypto_secretstream_xchacha20poly1305_MESSAGEBYTES_MAX, "frame");
_Static_assert(KEY_BYTES == crypto_kx_SESSIONKEYBYTES && KEY_BYTES == crypto_kx_PUBLICKEYBYTES &&
		   KEY_BYTES == crypto_kx_SEEDBYTES &&
		   KEY_BYTES == crypto_secretstream_xchacha20poly1305_KEYBYTES &&
		   KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
	       "key sizes");
/* The most one session_recv() call can write: a responder's reply to a
 * hello, then (only from a pipelining peer) its stream header. */
_Static_assert(SESSION_HANDSHAKE_OUT >= 2 * SESSION_LEN_BYTES + MSG2_MAX + HDR_BYTES &&
		   SESSION_HANDSHAKE_OUT >= 2 * SESSION_LEN_BYTES + MSG3_MAX + HDR_BYTES,
	       "handshake output room");
_Static_assert(SESSION_RECORD_MAX <= UINT32_MAX, "length prefix");

enum sess_state {
	ST_I_START,     /* initiator, hello not yet written */
	ST_I_WAIT_MSG2, /* initiator, hello sent */
	ST_R_WAIT_MSG1, /* responder, nothing received */
	ST_R_WAIT_MSG3, /* responder, reply sent */
	ST_ESTABLISHED,
	ST_FAILED,
};

/* Everything secret, in one sodium_malloc'd block wiped on every exit. Its
 * size is a multiple of the hash state's 64-byte alignment, and
 * sodium_malloc places a block flush against its guard page, so the block
 * is 64-byte aligned. */
struct secrets {
	crypto_generichash_state th; /* transcript hash (identities are secret from outsiders) */
	crypto_secretstream_xchacha20poly1305_state tx, rx;
	uint8_t eph_sk[KEY_BYTES];
	uint8_t kx_tx[KEY_BYTES], kx_rx[KEY_BYTES]; /* crypto_kx session keys */
	uint8_t hs_tx[KEY_BYTES], hs_rx[KEY_BYTES];
	uint8_t t_rx[KEY_BYTES]; /* held until the peer's stream header arrives */
	uint8_t det_seed[KEY_BYTES];
	uint8_t auth[AUTH_MAX]; /* handshake plaintext scratch */
};
_Static_assert(sizeof(struct secrets) % 64 == 0, "sodium_malloc alignment");

struct session {
	enum session_role role;
	enum sess_state st;
	int err;
	int det;
	const struct mu_identity *me;
	uint8_t my_cred[CRED_ENC_MAX];
	size_t my_cred_len;
	struct trust trust;
	revoked_fn is_revoked;
	void *revoked_ctx;
	uint64_t now_ms;

	uint8_t eph_pk[KEY_BYTES];
	struct cred peer;
	int peer_claimed; /* peer decoded (its key id can be logged) */
	int peer_ok;      /* peer verified */

	/* reassembly: 4 length bytes, then the body into rbuf */
	uint8_t lenbuf[SESSION_LEN_BYTES];
	size_t len_have;
	int in_body;
	size_t body_len, body_have;
	uint8_t *rbuf;  /* malloc, SESSION_RECORD_MAX */
	uint8_t *plain; /* sodium_malloc, SESSION_FRAME_MAX, wiped after each frame */

	int rx_ready, rx_final, tx_closed;
	uint64_t tx_frames_since, tx_bytes_since, rx_frames_since, rx_bytes_since;
	struct session_stats stats;
	struct secrets *sec;
};

static void sess_random(struct session *s, const char *label, uint8_t *out, size_t n)
{
	if (s->det)
		crypto_generichash(out, n, (const uint8_t *)label, strlen(label), s->sec->det_seed,
				   KEY_BYTES);
	else
		randombytes_buf(out, n);
}

static void wipe_secrets(struct session *s)
{
	if (s->sec)
		sodium_memzero(s->sec, sizeof(*s->sec));
}

/* The one log line a failed session writes. The peer's text fields passed
 * cred_decode's check (no control characters), so they print safely; they
 * are only claims until peer_ok. */
static void log_failure(const struct session *s, int err, const char *why, const char *func)
{
	const char *phase = s->peer_ok ? "link" : "link handshake";

	if (s->peer_claimed) {
		char key[2 * MU_KEY_BYTES + 1], issuer[2 * MU_KEY_BYTES + 1];
		const char *role = role_name(s->peer.role);

		hex_encode(key, s->peer.sign_pk, MU_KEY_BYTES);
		hex_encode(issuer, s->peer.issuer, MU_KEY_BYTES);
		log_msg(LOG_WARN, SUB_CRYPTO, func,
			"%s: %s peer key %s (subject \"%s\", role %s, issuer %.16s): %s: %s", phase,
			s->peer_ok ? "closing link with" : "rejected", key, s->peer.subject,
			role ? role : "?", issuer, why, mu_strerror(err));
	} else {
		log_msg(LOG_WARN, SUB_CRYPTO, func, "%s: rejected unidentified peer: %s: %s", phase, why,
			mu_strerror(err));
	}
}

static int sess_fail(struct session *s, int err, const char *why, const char *func)
{
	if (s->st == ST_FAILED)
		return s->err;
	if (why)
		log_failure(s, err, why, func);
	s->st = ST_FAILED;
	s->err = err;
	wipe_secrets(s);
	s->in_body = 0;
	s->len_have = 0;
	return err;
}

static size_t wr_room(const struct wr *w)
{
	return w->err || w->len > w->cap ? 0 : w->cap - w->len;
}

/* BLAKE2b-256 keyed by key over label || data. */
static void kdf(uint8_t out[static KEY_BYTES], const uint8_t key[static KEY_BYTES], const char *label,
		const uint8_t *data, size_t len)
{
	crypto_generichash_state h;

	crypto_generichash_init(&h, key, KEY_BYTES, KEY_BYTES);
	crypto_generichash_update(&h, (const uint8_t *)label, strlen(label));
	if (len)
		crypto_generichash_update(&h, data, len);
	crypto_generichash_final(&h, out, KEY_BYTES);
	sodium_memzero(&h, sizeof(h));
}

static void th_snapshot(struct session *s, uint8_t out[static TH_BYTES])
{
	crypto_generichash_state copy = s->sec->th;

	crypto_generichash_final(&copy, out, TH_BYTES);
	sodium_memzero(&copy, sizeof(copy));
}

/* Signed message: context label || transcript hash. */
static void sig_message(uint8_t out[static 64], size_t *len, const char *ctx,
			const uint8_t th[static TH_BYTES])
{
	size_t n = strlen(ctx);

	memcpy(out, ctx, n);
	memcpy(out + n, th, TH_BYTES);
	*len = n + TH_BYTES;
}

/* The handshake keys come from the ephemeral DH alone (crypto_kx hashes
 * both public keys in); binding to the transcript is the signatures' job,
 * and the traffic keys bind it again. */
static int derive_handshake(struct session *s, const uint8_t peer_eph[static KEY_BYTES])
{
	struct secrets *k = s->sec;
	int ret;

	if (s->role == SESSION_INITIATOR)
		ret = crypto_kx_client_session_keys(k->kx_rx, k->kx_tx, s->eph_pk, k->eph_sk, peer_eph);
	else
		ret = crypto_kx_server_session_keys(k->kx_rx, k->kx_tx, s->eph_pk, k->eph_sk, peer_eph);
	sodium_memzero(k->eph_sk, sizeof(k->eph_sk));
	if (ret)
		return MU_E_FORMAT; /* low-order point: no shared secret */
	kdf(k->hs_tx, k->kx_tx, HS_KEY_LABEL, NULL, 0);
	kdf(k->hs_rx, k->kx_rx, HS_KEY_LABEL, NULL, 0);
	return 0;
}

/* Builds and hashes our auth payload (u16 len, credential, signature over
 * ctx || transcript hash) into sec->auth; returns its length. */
static int auth_build(struct session *s, const char *ctx, size_t *len)
{
	struct wr w = wr_make(s->sec->auth, sizeof(s->sec->auth));
	uint8_t th[TH_BYTES], msg[64], sig[MU_SIG_BYTES];
	size_t msg_len;
	int ret;

	wr_u16(&w, (uint16_t)s->my_cred_len);
	wr_bytes(&w, s->my_cred, s->my_cred_len);
	crypto_generichash_update(&s->sec->th, w.p, w.len);
	th_snapshot(s, th);
	sig_message(msg, &msg_len, ctx, th);
	if ((ret = identity_sign(s->me, sig, msg, msg_len)))
		return ret;
	crypto_generichash_update(&s->sec->th, sig, sizeof(sig));
	wr_bytes(&w, sig, sizeof(sig));
	if ((ret = wr_finish(&w)) < 0)
		return ret;
	*len = w.len;
	return 0;
}

/* Parses and checks the peer's auth payload; on error *why says what to
 * log. Order: decode, chain/validity/revocation, role, signature. */
static int auth_check(struct session *s, const uint8_t *p, size_t len, const char *ctx, const char **why)
{
	struct rd rd = rd_make(p, len);
	const uint8_t *cred, *sig;
	uint8_t th[TH_BYTES], msg[64];
	size_t cred_len, msg_len;
	uint16_t n16;
	int ret;

	*why = "malformed credential";
	if ((ret = rd_u16(&rd, &n16)))
		return ret;
	if (n16 > CRED_ENC_MAX)
		return MU_E_TOOBIG;
	cred_len = n16;
	if ((ret = rd_slice(&rd, cred_len, &cred)) || (ret = rd_slice(&rd, MU_SIG_BYTES, &sig)) ||
	    (ret = rd_end(&rd)))
		return ret;
	if ((ret = cred_decode(&s->peer, cred, cred_len)))
		return ret;
	s->peer_claimed = 1;
	*why = "credential refused";
	ret = cred_verify(&s->peer, &s->trust, s->now_ms, s->is_revoked, s->revoked_ctx);
	if (ret) {
		if (ret > MU_E_FIRST) /* -errno: from the revocation callback */
			*why = "revocation check failed";
		return ret;
	}
	if (s->peer.role != ROLE_NODE && s->peer.role != ROLE_HOSPITAL_ARCHIVE) {
		*why = "not a node credential (role must be node or archive)";
		return MU_E_MISMATCH;
	}
	crypto_generichash_update(&s->sec->th, p, 2 + cred_len);
	th_snapshot(s, th);
	sig_message(msg, &msg_len, ctx, th);
	*why = "transcript signature";
	if ((ret = mu_verify(s->peer.sign_pk, sig, msg, msg_len)))
		return ret;
	crypto_generichash_update(&s->sec->th, sig, MU_SIG_BYTES);
	s->peer_ok = 1;
	return 0;
}

static void write_record_hdr(struct wr *out, size_t len)
{
	wr_u32(out, (uint32_t)len);
}

/* Traffic keys from the crypto_kx keys and the whole transcript; writes our
 * stream header record; the ephemeral material is gone after this. */
static int establish(struct session *s, struct wr *out)
{
	struct secrets *k = s->sec;
	uint8_t th[TH_BYTES], t_tx[KEY_BYTES], header[HDR_BYTES];

	crypto_generichash_final(&k->th, th, TH_BYTES);
	kdf(t_tx, k->kx_tx, TRAFFIC_LABEL, th, TH_BYTES);
	kdf(k->t_rx, k->kx_rx, TRAFFIC_LABEL, th, TH_BYTES);
	sess_random(s, "secretstream header", header, sizeof(header));
	/* init_pull computes from (header, key) exactly the state init_push
	 * computes from a random header; using it on both sides lets the
	 * header come from sess_random (and so from the test seed). */
	crypto_secretstream_xchacha20poly1305_init_pull(&k->tx, header, t_tx);
	sodium_memzero(t_tx, sizeof(t_tx));
	sodium_memzero(k->kx_tx, sizeof(k->kx_tx));
	sodium_memzero(k->kx_rx, sizeof(k->kx_rx));
	sodium_memzero(k->hs_tx, sizeof(k->hs_tx));
	sodium_memzero(k->hs_rx, sizeof(k->hs_rx));
	sodium_memzero(k->det_seed, sizeof(k->det_seed));
	sodium_memzero(&k->th, sizeof(k->th));
	write_record_hdr(out, sizeof(header));
	wr_bytes(out, header, sizeof(header));
	s->st = ST_ESTABLISHED;
	return out->err;
}

static void hello_body(const struct session *s, uint8_t out[static HELLO_BYTES],
		       const uint8_t nonce[static NONCE_BYTES])
{
	struct wr w = wr_make(out, HELLO_BYTES);

	wr_bytes(&w, "MS", 2);
	wr_u8(&w, SESSION_VERSION);
	wr_bytes(&w, s->eph_pk, KEY_BYTES);
	wr_bytes(&w, nonce, NONCE_BYTES);
}

/* Responder: hello in, reply (ephemeral, encrypted credential and
 * signature) out. */
static int on_msg1(struct session *s, const uint8_t *p, size_t len, struct wr *out, const char **why)
{
	struct rd rd = rd_make(p, len);
	const uint8_t *magic, *peer_eph, *nonce;
	uint8_t version, zero_nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = {0};
	uint8_t ct[AEAD_ABYTES + AUTH_MAX];
	unsigned long long ct_len;
	size_t auth_len;
	int ret;

	*why = "malformed hello";
	if ((ret = rd_slice(&rd, 2, &magic)) || (ret = rd_u8(&rd, &version)))
		return ret;
	if (magic[0] != 'M' || magic[1] != 'S')
		return MU_E_FORMAT;
	if (version != SESSION_VERSION) {
		*why = "hello version";
		return MU_E_VERSION;
	}
	if ((ret = rd_slice(&rd, KEY_BYTES, &peer_eph)) || (ret = rd_slice(&rd, NONCE_BYTES, &nonce)) ||
	    (ret = rd_end(&rd)))
		return ret;
	*why = "bad ephemeral key";
	if ((ret = derive_handshake(s, peer_eph)))
		return ret;
	crypto_generichash_update(&s->sec->th, p, len);
	crypto_generichash_update(&s->sec->th, s->eph_pk, KEY_BYTES);
	*why = "signing";
	if ((ret = auth_build(s, SIG_CTX_R, &auth_len)))
		return ret;
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ct_len, s->sec->auth, auth_len, NULL, 0, NULL,
						   zero_nonce, s->sec->hs_tx);
	sodium_memzero(s->sec->hs_tx, KEY_BYTES);
	write_record_hdr(out, KEY_BYTES + (size_t)ct_len);
	wr_bytes(out, s->eph_pk, KEY_BYTES);
	wr_bytes(out, ct, (size_t)ct_len);
	*why = "output buffer";
	s->st = ST_R_WAIT_MSG3;
	return out->err;
}

static int open_auth(struct session *s, const uint8_t *ct, size_t ct_len, size_t *len)
{
	uint8_t zero_nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = {0};
	unsigned long long n;

	if (ct_len < AEAD_ABYTES || ct_len - AEAD_ABYTES > AUTH_MAX)
		return MU_E_FORMAT;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(s->sec->auth, &n, NULL, ct, ct_len, NULL, 0,
						       zero_nonce, s->sec->hs_rx))
		return MU_E_SIG;
	sodium_memzero(s->sec->hs_rx, KEY_BYTES);
	*len = (size_t)n;
	return 0;
}

/* Initiator: responder's reply in; our credential, then our stream header
 * out. */
static int on_msg2(struct session *s, const uint8_t *p, size_t len, struct wr *out, const char **why)
{
	uint8_t zero_nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = {0};
	uint8_t ct[AEAD_ABYTES + AUTH_MAX];
	unsigned long long ct_len;
	size_t auth_len;
	int ret;

	*why = "malformed reply";
	if (len < KEY_BYTES)
		return MU_E_FORMAT;
	*why = "bad ephemeral key";
	if ((ret = derive_handshake(s, p)))
		return ret;
	crypto_generichash_update(&s->sec->th, p, KEY_BYTES);
	*why = "reply does not decrypt";
	if ((ret = open_auth(s, p + KEY_BYTES, len - KEY_BYTES, &auth_len)))
		return ret;
	if ((ret = auth_check(s, s->sec->auth, auth_len, SIG_CTX_R, why)))
		return ret;
	*why = "signing";
	if ((ret = auth_build(s, SIG_CTX_I, &auth_len)))
		return ret;
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ct_len, s->sec->auth, auth_len, NULL, 0, NULL,
						   zero_nonce, s->sec->hs_tx);
	write_record_hdr(out, (size_t)ct_len);
	wr_bytes(out, ct, (size_t)ct_len);
	*why = "output buffer";
	return establish(s, out);
}

/* Responder: initiator's credential in; our stream header out. */
static int on_msg3(struct session *s, const uint8_t *p, size_t len, struct wr *out, const char **why)
{
	size_t auth_len;
	int ret;

	*why = "credential does not decrypt";
	if ((ret = open_auth(s, p, len, &auth_len)))
		return ret;
	if ((ret = auth_check(s, s->sec->auth, auth_len, SIG_CTX_I, why)))
		return ret;
	*why = "output buffer";
	return establish(s, out);
}

static int on_traffic(struct session *s, const uint8_t *p, size_t len, session_frame_fn on_frame, void *user,
		      const char **why)
{
	unsigned long long mlen = 0;
	unsigned char tag;
	int ret = 0;

	if (!s->rx_ready) {
		crypto_secretstream_xchacha20poly1305_init_pull(&s->sec->rx, p, s->sec->t_rx);
		sodium_memzero(s->sec->t_rx, KEY_BYTES);
		s->rx_ready = 1;
		return 0;
	}
	*why = "record fails authentication (tampered, replayed or reordered)";
	if (crypto_secretstream_xchacha20poly1305_pull(&s->sec->rx, s->plain, &mlen, &tag, p, len, NULL, 0))
		return MU_E_SIG;
	*why = "bad record tag";
	if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
		if (mlen)
			ret = MU_E_FORMAT;
		else
			s->rx_final = 1;
		goto out;
	}
	if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE &&
	    tag != crypto_secretstream_xchacha20poly1305_TAG_REKEY) {
		ret = MU_E_FORMAT;
		goto out;
	}
	s->rx_frames_since++;
	s->rx_bytes_since += mlen;
	if (tag == crypto_secretstream_xchacha20poly1305_TAG_REKEY) {
		s->rx_frames_since = s->rx_bytes_since = 0;
		s->stats.rekeys_recv++;
	} else if (s->rx_frames_since >= SESSION_REKEY_FRAMES || s->rx_bytes_since >= SESSION_REKEY_BYTES) {
		*why = "peer did not rekey";
		ret = MU_E_FORMAT;
		goto out;
	}
	s->stats.frames_recv++;
	s->stats.bytes_recv += mlen;
	if (on_frame && (ret = on_frame(user, s->plain, (size_t)mlen)))
		*why = NULL; /* the caller's own decision: not ours to log */
out:
	sodium_memzero(s->plain, (size_t)mlen);
	return ret;
}

/* Checks a record's length against what the current state can accept,
 * before any of its body is buffered. */
static int record_bounds(const struct session *s, uint32_t len, const char **why)
{
	size_t min = 0, max = 0;

	*why = "unexpected record";
	switch (s->st) {
	case ST_I_START:
	case ST_FAILED:
		return MU_E_FORMAT;
	case ST_R_WAIT_MSG1:
		min = HELLO_MIN, max = HELLO_MAX;
		break;
	case ST_I_WAIT_MSG2:
		min = MSG2_MIN, max = MSG2_MAX;
		break;
	case ST_R_WAIT_MSG3:
		min = MSG3_MIN, max = MSG3_MAX;
		break;
	case ST_ESTABLISHED:
		if (s->rx_final) {
			*why = "record after the peer's final record";
			return MU_E_FORMAT;
		}
		if (!s->rx_ready)
			min = max = HDR_BYTES;
		else
			min = SESSION_FRAME_OVERHEAD, max = SESSION_RECORD_MAX;
		break;
	}
	*why = "record length";
	if (len > max)
		return MU_E_TOOBIG;
	if (len < min)
		return MU_E_FORMAT;
	return 0;
}

static int on_record(struct session *s, const uint8_t *p, size_t len, struct wr *out,
		     session_frame_fn on_frame, void *user, const char **why)
{
	switch (s->st) {
	case ST_R_WAIT_MSG1:
		return on_msg1(s, p, len, out, why);
	case ST_I_WAIT_MSG2:
		return on_msg2(s, p, len, out, why);
	case ST_R_WAIT_MSG3:
		return on_msg3(s, p, len, out, why);
	case ST_ESTABLISHED:
		return on_traffic(s, p, len, on_frame, user, why);
	case ST_I_START:
	case ST_FAILED:
		break;
	}
	*why = "unexpected record";
	return MU_E_FORMAT;
}

int session_recv(struct session *s, const uint8_t *p, size_t n, struct wr *out, session_frame_fn on_frame,
		 void *user)
{
	const char *why = NULL;
	int ret;

	if (s->st == ST_FAILED)
		return s->err;
	if (s->st != ST_ESTABLISHED && wr_room(out) < SESSION_HANDSHAKE_OUT)
		return MU_E_TOOBIG;
	while (n) {
		size_t take;

		if (!s->in_body) {
			uint32_t len;

			take = SESSION_LEN_BYTES - s->len_have;
			take = take < n ? take : n;
			memcpy(s->lenbuf + s->len_have, p, take);
			s->len_have += take;
			p += take;
			n -= take;
			if (s->len_have < SESSION_LEN_BYTES)
				break;
			len = (uint32_t)s->lenbuf[0] << 24 | (uint32_t)s->lenbuf[1] << 16 |
			      (uint32_t)s->lenbuf[2] << 8 | s->lenbuf[3];
			if ((ret = record_bounds(s, len, &why)))
				return sess_fail(s, ret, why, __func__);
			s->in_body = 1;
			s->body_len = len;
			s->body_have = 0;
			continue;
		}
		take = s->body_len - s->body_have;
		take = take < n ? take : n;
		memcpy(s->rbuf + s->body_have, p, take);
		s->body_have += take;
		p += take;
		n -= take;
		if (s->body_have < s->body_len)
			break;
		s->in_body = 0;
		s->len_have = 0;
		if ((ret = on_record(s, s->rbuf, s->body_len, out, on_frame, user, &why)))
			return sess_fail(s, ret, why, __func__);
	}
	/* A record that ends exactly at the end of the input is handled above;
	 * one whose body is empty cannot exist (every state's minimum is > 0). */
	return 0;
}

int session_start(struct session *s, struct wr *out)
{
	uint8_t nonce[NONCE_BYTES], body[HELLO_BYTES];

	if (s->st == ST_FAILED)
		return s->err;
	if (s->role != SESSION_INITIATOR || s->st != ST_I_START)
		return -EINVAL;
	if (wr_room(out) < SESSION_HANDSHAKE_OUT)
		return MU_E_TOOBIG;
	sess_random(s, "hello nonce", nonce, sizeof(nonce));
	hello_body(s, body, nonce);
	crypto_generichash_update(&s->sec->th, body, sizeof(body));
	write_record_hdr(out, sizeof(body));
	wr_bytes(out, body, sizeof(body));
	s->st = ST_I_WAIT_MSG2;
	return 0;
}

static int send_record(struct session *s, const uint8_t *frame, size_t n, unsigned char tag, struct wr *out)
{
	unsigned long long clen;

	if (s->st == ST_FAILED)
		return s->err;
	if (s->st != ST_ESTABLISHED)
		return -EAGAIN;
	if (s->tx_closed)
		return -EPIPE;
	if (n > SESSION_FRAME_MAX || wr_room(out) < SESSION_SEND_SPACE(n))
		return MU_E_TOOBIG;
	if (tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
		s->tx_frames_since++;
		s->tx_bytes_since += n;
		if (s->tx_frames_since >= SESSION_REKEY_FRAMES || s->tx_bytes_since >= SESSION_REKEY_BYTES) {
			tag = crypto_secretstream_xchacha20poly1305_TAG_REKEY;
			s->tx_frames_since = s->tx_bytes_since = 0;
			s->stats.rekeys_sent++;
		}
		s->stats.frames_sent++;
		s->stats.bytes_sent += n;
	}
	write_record_hdr(out, n + SESSION_FRAME_OVERHEAD);
	crypto_secretstream_xchacha20poly1305_push(&s->sec->tx, out->p + out->len, &clen, frame, n, NULL, 0,
						   tag);
	out->len += (size_t)clen;
	return 0;
}

int session_send(struct session *s, const uint8_t *frame, size_t n, struct wr *out)
{
	return send_record(s, frame, n, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE, out);
}

int session_close(struct session *s, struct wr *out)
{
	int ret = send_record(s, NULL, 0, crypto_secretstream_xchacha20poly1305_TAG_FINAL, out);

	if (ret == 0) {
		s->tx_closed = 1;
		sodium_memzero(&s->sec->tx, sizeof(s->sec->tx));
	}
	return ret;
}

int session_established(const struct session *s)
{
	return s->st == ST_ESTABLISHED;
}

int session_peer_closed(const struct session *s)
{
	return s->rx_final;
}

int session_error(const struct session *s)
{
	return s->st == ST_FAILED ? s->err : 0;
}

const struct cred *session_peer(const struct session *s)
{
	return s->peer_ok ? &s->peer : NULL;
}

void session_stats(const struct session *s, struct session_stats *out)
{
	*out = s->stats;
}

void session_free(struct session *s)
{
	if (!s)
		return;
	sodium_free(s->sec); /* wipes */
	sodium_free(s->plain);
	free(s->rbuf);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

/* Our own credential must be a node's, for our key: a misconfigured node
 * learns it here rather than from every peer's log. */
static int check_own_cred(const struct session_params *p)
{
	struct cred c;
	int ret;

	if (p->cred_len > CRED_ENC_MAX)
		return MU_E_TOOBIG;
	if ((ret = cred_decode(&c, p->cred, p->cred_len)))
		return ret;
	if (c.role != ROLE_NODE && c.role != ROLE_HOSPITAL_ARCHIVE)
		return MU_E_MISMATCH;
	if (memcmp(c.sign_pk, identity_sign_pk(p->me), MU_KEY_BYTES))
		return MU_E_MISMATCH;
	return 0;
}

static int session_create(struct session **out, const struct session_params *p, const uint8_t *seed)
{
	struct session *s = NULL;
	uint8_t eph_seed[KEY_BYTES];
	int ret;

	*out = NULL;
	if (!p || !p->me || !p->cred || !p->trust ||
	    (p->role != SESSION_INITIATOR && p->role != SESSION_RESPONDER))
		return -EINVAL;
	if (mu_crypto_init())
		return MU_E_CRYPTO;
	if ((ret = check_own_cred(p)))
		return ret;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->sec = sodium_malloc(sizeof(*s->sec));
	s->plain = sodium_malloc(SESSION_FRAME_MAX);
	s->rbuf = malloc(SESSION_RECORD_MAX);
	if (!s->sec || !s->plain || !s->rbuf) {
		ret = -ENOMEM;
		goto out;
	}
	sodium_memzero(s->sec, sizeof(*s->sec));
	s->role = p->role;
	s->st = p->role == SESSION_INITIATOR ? ST_I_START : ST_R_WAIT_MSG1;
	s->me = p->me;
	memcpy(s->my_cred, p->cred, p->cred_len);
	s->my_cred_len = p->cred_len;
	s->trust = *p->trust;
	s->is_revoked = p->is_revoked;
	s->revoked_ctx = p->revoked_ctx;
	s->now_ms = p->now_ms;
	if (seed) {
		s->det = 1;
		memcpy(s->sec->det_seed, seed, KEY_BYTES);
	}
	crypto_generichash_init(&s->sec->th, NULL, 0, TH_BYTES);
	crypto_generichash_update(&s->sec->th, (const uint8_t *)PROTO_LABEL, strlen(PROTO_LABEL));
	sess_random(s, "ephemeral", eph_seed, sizeof(eph_seed));
	crypto_kx_seed_keypair(s->eph_pk, s->sec->eph_sk, eph_seed);
	sodium_memzero(eph_seed, sizeof(eph_seed));
	*out = s;
	s = NULL;
out:
	session_free(s);
	return ret;
}

int session_new(struct session **out, const struct session_params *p)
{
	return session_create(out, p, NULL);
}

int session_new_det(struct session **out, const struct session_params *p, const uint8_t seed[static 32])
{
	return session_create(out, p, seed);
}
