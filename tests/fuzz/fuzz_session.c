/* Fuzzes the link session's receive side: arbitrary stream bytes to a
 * responder (from its first byte) or to an initiator that has sent its
 * hello. Both sessions are the deterministic ones of docs/session.md, with
 * the same trust and clock, so the seeds in corpus/fuzz_session/ (captured
 * streams, kept current by test_session) get through the handshake and the
 * fuzzer starts on real traffic records.
 *
 * Input: byte 0 = mode (bit 0: 0 responder, 1 initiator) | chunk << 1
 * (chunk 0: all bytes in one call, else that many per call); the rest is
 * the stream. Besides "no crash", it checks that a failure is final: the
 * same error again and nothing more written. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../crypto/session.c"

#define T_FROM  1767225600000ull
#define T_UNTIL 1798761600000ull
#define T_NOW   1780315200000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fixture {
	struct mu_identity *a, *b;
	struct trust trust;
	uint8_t cred_a[CRED_ENC_MAX], cred_b[CRED_ENC_MAX];
	size_t len_a, len_b;
};

static struct mu_identity *seed_identity(uint8_t fill)
{
	struct mu_identity *id = NULL;
	uint8_t seed[32];

	memset(seed, fill, sizeof(seed));
	if (identity_from_seed(&id, seed))
		abort();
	return id;
}

static size_t issue(uint8_t *out, const struct mu_identity *holder, uint8_t role, const char *subject,
		    const char *name, const char *org, const struct mu_identity *ca)
{
	struct cred c;
	int n;

	memset(&c, 0, sizeof(c));
	c.role = role;
	strcpy(c.subject, subject);
	strcpy(c.name, name);
	strcpy(c.org, org);
	memcpy(c.sign_pk, identity_sign_pk(holder), MU_KEY_BYTES);
	memcpy(c.kx_pk, identity_kx_pk(holder), MU_KEY_BYTES);
	c.valid_from = T_FROM;
	c.valid_until = T_UNTIL;
	n = cred_issue(out, CRED_ENC_MAX, &c, ca);
	if (n < 0)
		abort();
	return (size_t)n;
}

static const struct fixture *fixture(void)
{
	static struct fixture f;
	static int ready;
	struct mu_identity *ca;

	if (ready)
		return &f;
	if (mu_crypto_init())
		abort();
	log_set_level(LOG_ERR); /* every rejection would log a line */
	ca = seed_identity(0x01);
	f.a = seed_identity(0x0a);
	f.b = seed_identity(0x0b);
	if (trust_add(&f.trust, identity_sign_pk(ca)))
		abort();
	f.len_a = issue(f.cred_a, f.a, ROLE_NODE, "node-amb-07", "Ambulance 7 node",
			"Example Ambulance Service NHS Trust", ca);
	f.len_b = issue(f.cred_b, f.b, ROLE_HOSPITAL_ARCHIVE, "node-hosp-01", "Example Hospital archive",
			"Example Hospital NHS Trust", ca);
	identity_free(ca);
	ready = 1;
	return &f;
}

struct seen {
	const struct session *s;
	size_t frames;
};

/* Frames come only from an authenticated peer. */
static int count_frame(void *user, const uint8_t *frame, size_t len)
{
	struct seen *seen = user;

	if (!session_established(seen->s) || !session_peer(seen->s) || len > SESSION_FRAME_MAX ||
	    (len && !frame))
		abort();
	seen->frames++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t seed_i[32] = {[0 ... 31] = 0x1a};
	static const uint8_t seed_r[32] = {[0 ... 31] = 0x1b};
	static uint8_t outbuf[1 << 16];
	const struct fixture *f = fixture();
	struct session *s = NULL;
	struct session_params p = {.trust = &f->trust, .now_ms = T_NOW};
	struct wr out = wr_make(outbuf, sizeof(outbuf));
	struct seen seen = {0};
	size_t chunk, before;
	int initiator, ret = 0;

	if (size < 1)
		return 0;
	initiator = data[0] & 1;
	chunk = data[0] >> 1;
	data++;
	size--;
	if (initiator) {
		p.role = SESSION_INITIATOR, p.me = f->a, p.cred = f->cred_a, p.cred_len = f->len_a;
		if (session_new_det(&s, &p, seed_i) || session_start(s, &out))
			abort();
	} else {
		p.role = SESSION_RESPONDER, p.me = f->b, p.cred = f->cred_b, p.cred_len = f->len_b;
		if (session_new_det(&s, &p, seed_r))
			abort();
	}
	seen.s = s;
	if (!chunk)
		chunk = size ? size : 1;
	for (size_t at = 0; at < size && !ret; at += chunk) {
		size_t n = size - at < chunk ? size - at : chunk;

		out.len = 0; /* flushed to the transport */
		ret = session_recv(s, data + at, n, &out, count_frame, &seen);
	}
	if (ret) {
		if (ret > 0 || session_error(s) != ret || session_established(s) != (s->st == ST_ESTABLISHED))
			abort();
		before = out.len;
		if (session_recv(s, data, size, &out, count_frame, &seen) != ret ||
		    session_send(s, data, 0, &out) != ret || out.len != before)
			abort();
	} else if (session_established(s) && !s->tx_closed) {
		if (session_send(s, data, size < 64 ? size : 64, &out) || session_close(s, &out))
			abort();
	}
	session_free(s);
	return 0;
}
