/* Link session: the authenticated, encrypted stream between two nodes.
 *
 * Transport-free: the caller hands in stream bytes as they arrive (any
 * split, no frame boundaries) and flushes whatever the session writes into
 * its output buffer to the transport. The session never touches a socket,
 * a clock or a timer.
 *
 * Protocol (docs/session.md): SIGMA-I style handshake with fresh X25519
 * ephemerals (crypto_kx), each side proving its node credential (chained to
 * a trusted CA, in its validity window, not revoked, role node or archive)
 * with an Ed25519 signature over the transcript hash; then one
 * crypto_secretstream_xchacha20poly1305 per direction, keys bound to the
 * whole transcript, rekeyed every SESSION_REKEY_FRAMES frames or
 * SESSION_REKEY_BYTES bytes, closed with an explicit final record.
 *
 * Failure is final: the first error a session meets (a bad or untrusted
 * peer, a tampered, replayed or oversize record) is returned by that call
 * and every later call, nothing more is written, keys are wiped, and one
 * log_warn(SUB_CRYPTO) line names the peer key id (when known) and the
 * reason. The caller then closes the transport. Handshake and idle timeouts
 * are the caller's business: a session waits for bytes forever. */
#ifndef MU_SESSION_H
#define MU_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "cred.h"
#include "identity.h"
#include "wire.h"

#define SESSION_VERSION        1
#define SESSION_FRAME_MAX      69632u /* plaintext bytes per frame: one whole bundle frame fits */
#define SESSION_FRAME_OVERHEAD 17u    /* crypto_secretstream_xchacha20poly1305_ABYTES */
/* Largest record body on the wire; a longer length prefix is refused with
 * MU_E_TOOBIG before any of it is buffered. */
#define SESSION_RECORD_MAX (SESSION_FRAME_MAX + SESSION_FRAME_OVERHEAD)
#define SESSION_LEN_BYTES  4u /* u32 big-endian length before every record */
/* Bytes session_send() needs free in out for a frame of n bytes. */
#define SESSION_SEND_SPACE(n) (SESSION_LEN_BYTES + (size_t)(n) + SESSION_FRAME_OVERHEAD)
/* Free space session_recv() needs in out until session_established(). */
#define SESSION_HANDSHAKE_OUT 1024u
/* Rekey (TAG_REKEY on the frame that reaches either limit). */
#define SESSION_REKEY_FRAMES 4096u
#define SESSION_REKEY_BYTES  (16u << 20)

enum session_role { SESSION_INITIATOR, SESSION_RESPONDER };

struct session;

struct session_params {
	enum session_role role;
	/* Our node identity; borrowed, must outlive the session. */
	const struct mu_identity *me;
	/* Our credential encoding (copied). Must be a node or archive
	 * credential for me's signing key. */
	const uint8_t *cred;
	size_t cred_len;
	/* CA keys the peer's credential must chain to (copied). */
	const struct trust *trust;
	/* Optional revocation check for the peer's key; called once, during
	 * the handshake; ctx is borrowed until then. */
	revoked_fn is_revoked;
	void *revoked_ctx;
	/* Unix ms against which the peer's validity window is checked. */
	uint64_t now_ms;
};

/* Called once per decrypted frame, in order. frame points into the
 * session's wiped buffer and is valid only during the call. It may call
 * session_send() / session_close() on the same session (into a buffer
 * other than session_recv's out is simplest), but not session_recv() or
 * session_free(). A non-zero return (use a negative error) stops
 * session_recv(), which returns that value; the session is then failed
 * (the rest of the stream can no longer be read), without a log line. */
typedef int (*session_frame_fn)(void *user, const uint8_t *frame, size_t len);

struct session_stats {
	uint64_t frames_sent, frames_recv;
	uint64_t bytes_sent, bytes_recv; /* plaintext */
	uint64_t rekeys_sent, rekeys_recv;
};

/* Creates a session. *out is owned by the caller (session_free()).
 * Errors: MU_E_FORMAT / MU_E_MISMATCH if p->cred is not a node credential
 * for p->me, -EINVAL, -ENOMEM, MU_E_CRYPTO. */
int session_new(struct session **out, const struct session_params *p) __attribute__((warn_unused_result));

/* TEST ONLY (docs/session.md vectors, fuzzing): as session_new(), but every
 * random byte the session would draw (ephemeral key seed, hello nonce,
 * secretstream header) is derived from seed. Never use it on a real link:
 * two sessions with one seed share keys. */
int session_new_det(struct session **out, const struct session_params *p, const uint8_t seed[static 32])
    __attribute__((warn_unused_result));

/* Initiator only, once: writes the first handshake record to out.
 * MU_E_TOOBIG (session unchanged) if out lacks SESSION_HANDSHAKE_OUT free
 * bytes; -EINVAL for a responder or a second call. */
int session_start(struct session *s, struct wr *out) __attribute__((warn_unused_result));

/* Consumes n stream bytes (any split). Writes the handshake replies to out
 * (which needs SESSION_HANDSHAKE_OUT free bytes until the session is
 * established, else MU_E_TOOBIG with nothing consumed) and calls on_frame
 * (may be NULL) for each frame decrypted. Returns 0 when all n bytes were
 * taken, or the session's error (see the top of this file): MU_E_FORMAT,
 * MU_E_VERSION, MU_E_TOOBIG, MU_E_SIG (tampered, replayed or reordered
 * record, bad transcript signature), MU_E_UNTRUSTED, MU_E_NOTYET,
 * MU_E_EXPIRED, MU_E_REVOKED, MU_E_MISMATCH (peer is not a node), or a
 * revocation callback / on_frame error. */
int session_recv(struct session *s, const uint8_t *p, size_t n, struct wr *out, session_frame_fn on_frame,
		 void *user) __attribute__((warn_unused_result));

/* Encrypts one frame (0..SESSION_FRAME_MAX bytes) as one record into out.
 * -EAGAIN before session_established(), -EPIPE after session_close(),
 * MU_E_TOOBIG (session unchanged) if n > SESSION_FRAME_MAX or out lacks
 * SESSION_SEND_SPACE(n) free bytes; a failed session's error otherwise. */
int session_send(struct session *s, const uint8_t *frame, size_t n, struct wr *out)
    __attribute__((warn_unused_result));

/* Writes the final record (our direction ends; we can still receive).
 * Errors as session_send(). */
int session_close(struct session *s, struct wr *out) __attribute__((warn_unused_result));

/* 1 once the peer is authenticated and we can send, else 0. For the
 * initiator that is when the responder's reply verifies, one flight before
 * the responder has checked us: if it refuses our credential, its stream
 * header (its first traffic record) never comes and the transport closes;
 * anything we sent meanwhile was never decrypted. */
int session_established(const struct session *s);
/* 1 once the peer's final record arrived. A transport EOF before that is a
 * truncated stream, not a clean close. */
int session_peer_closed(const struct session *s);
/* The first error the session met, 0 if none. */
int session_error(const struct session *s);
/* The peer's verified credential, NULL before it is verified; points into
 * s and lives as long as it. */
const struct cred *session_peer(const struct session *s);
void session_stats(const struct session *s, struct session_stats *out);

/* Wipes every secret and frees; NULL is fine. */
void session_free(struct session *s);

#endif
