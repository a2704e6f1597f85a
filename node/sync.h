/* Set reconciliation between two nodes, as a transport-free state machine.
 *
 * Two peers each hold a keyset of (created, id) keys. One session (one
 * contact) finds the symmetric difference: each side learns, through
 * callbacks, which keys the peer has that it lacks (have_missing: request
 * that bundle) and which keys it has that the peer lacks (peer_missing:
 * offer it). Each key of the difference is reported exactly once per
 * completed session, on both sides, and only after the result is verified.
 *
 * The machine never touches a socket or a clock: the caller moves buffers.
 * Messages strictly alternate, initiator first:
 *
 *	while (!sync_done(s)) {
 *		if (sync_want_send(s)) { sync_build_message(s, &wr); send(wr); }
 *		else { receive msg (with a timeout); sync_recv_message(s, msg, len); }
 *	}
 *
 * The algorithm, wire format, caps and cost model are in docs/sync.md.
 * Summary: message 1 carries the count, a keyed 128-bit whole-set
 * fingerprint and a 64-byte difference estimator (equal sets finish in one
 * round trip, < 200 bytes); otherwise the responder streams a prefix of a
 * rateless invertible Bloom lookup table over 64-bit short ids sized from
 * the estimate, the initiator peels it (asking for more symbols if needed),
 * names both halves of the difference, and both sides verify the result
 * against the fingerprints. When the sketch cannot be used or does not
 * decode within its caps, or a short-id collision makes it ambiguous, both
 * sides fall back to exchanging sorted key lists, which always terminates.
 *
 * Lost, duplicated or reordered messages: every message carries the
 * session tag and a sequence number; sync_recv_message rejects a message
 * from another session or out of sequence with MU_E_MISMATCH and leaves the
 * state unchanged (the caller drops it). A lost message shows up as silence:
 * the caller's session timeout (SYNC_TIMEOUT_MS_DEFAULT) frees the session
 * and starts a new one from scratch. Callbacks of an abandoned session may
 * already have fired on one side; they are requests/offers, which the
 * transfer layer treats idempotently.
 *
 * One session per struct sync; single-threaded; no global state. */
#ifndef MU_SYNC_H
#define MU_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyset.h"
#include "wire.h"

#define SYNC_VERSION            1
#define SYNC_MSG_MAX            (1u << 20) /* bytes in one message */
#define SYNC_SYM_MAX            65536u     /* coded symbols per session (and per message) */
#define SYNC_KEYS_MAX           25000u     /* keys, or short ids, in one message */
#define SYNC_DIFF_MAX           24000u     /* differences the sketch path resolves */
#define SYNC_MORE_MAX           3u         /* requests for more symbols per session */
#define SYNC_TIMEOUT_MS_DEFAULT 5000       /* config: sync_timeout_ms (caller's timer) */

struct sync;
struct wr;

enum sync_role {
	SYNC_INITIATOR,
	SYNC_RESPONDER,
};

/* Called from inside sync_recv_message / sync_build_message. id points at
 * 32 bytes valid for the duration of the call. */
struct sync_cb {
	/* The peer has this key and we lack it: request the bundle. */
	void (*have_missing)(void *user, uint64_t created, const uint8_t id[static KEYSET_ID_BYTES]);
	/* We have this key and the peer lacks it: offer the bundle. */
	void (*peer_missing)(void *user, uint64_t created, const uint8_t id[static KEYSET_ID_BYTES]);
};

struct sync_stats {
	uint64_t msgs_sent, msgs_recv;
	uint64_t bytes_sent, bytes_recv; /* sync message bytes, no transport framing */
	uint32_t estimate;               /* responder: estimated difference size */
	uint32_t symbols;                /* coded symbols exchanged */
	uint32_t more;                   /* extra symbol rounds */
	bool fallback;                   /* key lists were exchanged */
};

/* Starts one session over ks (read, not copied; keep it unchanged until
 * sync_free). cb and user are kept. *out is owned by the caller
 * (sync_free). -ENOMEM, MU_E_CRYPTO. */
int sync_new(struct sync **out, const struct keyset *ks, enum sync_role role, const struct sync_cb *cb,
	     void *user);
void sync_free(struct sync *s); /* NULL-safe */

/* True when it is our turn to send (the initiator's turn comes first). */
bool sync_want_send(const struct sync *s);
/* Writes the next message into out (give it SYNC_MSG_MAX bytes of room).
 * Returns 0; -EAGAIN if it is not our turn; MU_E_TOOBIG if out is too
 * small (the session is then failed); a failed session returns its error. */
int sync_build_message(struct sync *s, struct wr *out);
/* Consumes one whole message (msg is not kept). Returns 0;
 * MU_E_MISMATCH for another session's or an out-of-sequence message (state
 * unchanged: drop it); MU_E_FORMAT / MU_E_TOOBIG / MU_E_VERSION for a
 * malformed message and MU_E_MISMATCH for a peer whose answers contradict
 * the verified fingerprints (the session is then failed); -EAGAIN if it is
 * our turn to send. */
int sync_recv_message(struct sync *s, const uint8_t *msg, size_t len);
/* True once this side knows the whole difference and has nothing more to
 * send. */
bool sync_done(const struct sync *s);
/* 0 while running or done, else the error that failed the session. */
int sync_error(const struct sync *s);
void sync_get_stats(const struct sync *s, struct sync_stats *st);

/* Testing only. set_salt fixes the initiator's session salt (for
 * reproducible transcripts); set_sid_bits narrows short ids to bits (1..64)
 * to force collisions (both peers must agree); set_batch forces the
 * responder's first batch of symbols (1..SYNC_SYM_MAX). */
void sync_test_set_salt(struct sync *s, const uint8_t salt[static 16]);
void sync_test_set_sid_bits(struct sync *s, unsigned bits);
void sync_test_set_batch(struct sync *s, uint32_t symbols);

#endif
