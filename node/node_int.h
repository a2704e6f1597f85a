/* Internals shared by the node core's files (node.c, conn.c, ingest.c,
 * control.c). Not for other modules. */
#ifndef MU_NODE_INT_H
#define MU_NODE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "../crypto/cred.h"
#include "../crypto/session.h"
#include "../transport/link.h"
#include "archive_checkpoint.h"
#include "bundle.h"
#include "frames.h"
#include "keyset.h"
#include "loop.h"
#include "node.h"
#include "ratelimit.h"
#include "store.h"
#include "sync.h"
#include "verify.h"

#define NODE_DRIVERS_MAX 4
#define NODE_CONNS_MAX 256
#define NODE_FRESH_MAX 4096 /* bundles stored in one loop turn before a commit */
#define OUTQ_MAX 200000     /* bundles queued for one peer */

/* Timing defaults; config keys in [node]. */
#define HANDSHAKE_TIMEOUT_MS_DEFAULT 10000
#define SYNC_INTERVAL_MS_DEFAULT 30000
#define SYNC_DEBOUNCE_MS 50
#define SYNC_RETRY_MS 500 /* after a failed round */
#define PURGE_INTERVAL_MS_DEFAULT 60000
#define CUSTODY_GRACE_MS_DEFAULT 600000 /* [node] custody_grace_ms: archived content kept 10 min */
#define CUSTODY_GRACE_MS_MAX 604800000  /* a week */
#define RECONNECT_MIN_MS 500
#define RECONNECT_MAX_MS 30000
#define PUMP_HIGH_WATER (256u << 10) /* bytes queued on a link before we stop adding; a link may ask for less */

struct outq_item {
	uint8_t prio;
	uint32_t len;
	uint64_t created;
	uint8_t id[BUNDLE_ID_BYTES];
};

/* Bundles waiting to be sent to one peer: a binary heap ordered by
 * priority, then size, then age, so immediate bundles always go next; and
 * a hash set of the ids in it, so a bundle offered again (every sync round
 * offers everything the peer still lacks) is queued once. */
struct outq {
	struct outq_item *v;
	size_t n, cap;
	uint8_t (*set)[BUNDLE_ID_BYTES]; /* open addressing; all-zero = free */
	size_t slots;                    /* 0 or a power of two >= 2 * cap */
};

enum conn_state { CONN_HANDSHAKE, CONN_UP, CONN_CLOSING };

struct conn {
	struct node *n;
	struct link *lk;
	bool inbound;
	enum conn_state st;
	struct session *sess;
	struct wr *rx_out; /* session output pending during session_recv */
	struct loop_timer *timer; /* handshake deadline, then sync deadline */
	struct loop_timer *sync_timer; /* next sync (initiator side) */
	uint8_t peer[MU_KEY_BYTES];
	struct cred peer_cred;
	uint8_t peer_role; /* NODE_FIELD / NODE_HOSPITAL, from HELLO */
	bool sync_initiator; /* our key sorts first */
	struct sync *sync;
	unsigned in_sync; /* > 0 while the sync machine runs (its callbacks may close us) */
	bool sync_again;
	bool poke_pending; /* sync_timer armed for a debounced round */
	uint8_t *sync_rx; /* reassembly of a fragmented SYNC message */
	size_t sync_rx_len;
	uint64_t syncs_done, last_sync_ms;
	uint64_t bundles_in, bundles_out;
	struct outq oq;
	bool oq_full_logged; /* "send queue full" logged; reset when it half empties */
	bool hello_seen;     /* the peer's HELLO arrived: peer_role is known */
	struct uplink *up;   /* field side of an uplink session (uplink.c) */
	uint64_t up_answered; /* hospital side: keys answered in TAKEs */
	struct refused_set *refused; /* what the peer refused from us (refused.c) */
	struct refused_set *inflight; /* what we sent it lately: conn_offer skips it (refused.c) */
	uint64_t refused_by_peer;    /* REFUSED entries received */
	uint64_t refused_to_peer;    /* bundles from the peer we refused (sent in REFUSED) */
	uint8_t *refuse_out;         /* this turn's refusals, FRAME_IDS_MAX entries of FRAME_REFUSAL_BYTES */
	uint16_t refuse_n;
	struct conn *next;
};

/* refused.c: per conn, the bundles the peer refused (REFUSED frames), so
 * conn_offer skips them: "invalid" for the rest of the session, "full"
 * for [node] refused_retry_full_ms (a store frees room only as bundles
 * expire or custody sweeps, minutes apart, so 5 min = 10 sync rounds), "rate"
 * for refused_retry_rate_ms (a sender's budget refills within about a
 * minute). At most REFUSED_MAX ids per conn (about 3.5 MB at most), the
 * oldest refusal forgotten first; O(1) per look-up. */
#define REFUSED_MAX 65536
#define REFUSED_RETRY_FULL_MS_DEFAULT 300000
#define REFUSED_RETRY_RATE_MS_DEFAULT 60000
#define REFUSED_RETRY_MS_MIN 1000
#define REFUSED_RETRY_MS_MAX 86400000
struct refused_set;
struct refused_retry {
	uint64_t full_ms, rate_ms;
};
/* The enum frame_refusal for an ingest error; 0 when the error is no
 * refusal to report (stored, MU_E_EXISTS, MU_E_NOCRED, local failures). */
int refused_reason(int err);
/* Remembers that id was refused for reason at now (ms); *rs is created on
 * first use (owned by the caller: refused_free, NULL-safe). -ENOMEM. */
int refused_note(struct refused_set **rs, const uint8_t id[static BUNDLE_ID_BYTES], uint8_t reason,
		 uint64_t now);
/* Whether conn_offer should skip id at now under the retry times rt. */
bool refused_skip(const struct refused_set *rs, const uint8_t id[static BUNDLE_ID_BYTES],
		  const struct refused_retry *rt, uint64_t now);
size_t refused_count(const struct refused_set *rs);
void refused_free(struct refused_set *rs);

/* In flight, a second set per conn (refused.c): the bundles conn_pump
 * handed to the link. Until the peer has stored one, a sync round finds
 * it missing there; offered again, it went twice (docs/benchmarks.md
 * "goodput"). conn_offer skips an id sent on the conn less than
 * INFLIGHT_TIMEOUTS x [node] sync_timeout_ms ago: a round that outlives
 * sync_timeout_ms is abandoned, so a round that completes, and whose
 * messages crossed the same queue as the bundle, shows the peer's set as
 * of at most one timeout before it ends, and the bundle itself crossed
 * that queue within about one timeout of being sent. Cost: a bundle the
 * peer got but did not store for no reason it reports (its credential
 * still on the way, a local failure) is offered again up to that much
 * later. At most INFLIGHT_MAX ids (about 230 KB), the oldest forgotten
 * first: 4096 bundles are more bytes than a link holds in flight unless
 * they are tiny, and one forgotten early is only a possible duplicate. */
#define INFLIGHT_MAX 4096
#define INFLIGHT_TIMEOUTS 2
/* Remembers that id was handed to the link at now (ms); *rs as for
 * refused_note. -ENOMEM. */
int refused_sent_note(struct refused_set **rs, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t now);
/* Whether id was noted by refused_sent_note less than window_ms before now. */
bool refused_in_flight(const struct refused_set *rs, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t now,
		       uint64_t window_ms);
/* Reads [node] refused_retry_full_ms and refused_retry_rate_ms into
 * n->refused_retry; MU_E_CONFIG (logged) when out of bounds. */
int refused_config(struct node *n);

struct route_watch;

/* uplink.c (docs/sync.md "Uplink"): a session between a field node and a
 * hospital. conn_is_uplink: the peer's HELLO is in and exactly one side is
 * a hospital. uplink_new: the field side's state (nothing on a hospital;
 * -ENOMEM); uplink_free: NULL-safe. uplink_kick: tell more keys if the
 * window allows; uplink_poke: keys may have arrived, walk again.
 * uplink_on_offer (hospital) / uplink_on_take (field) handle the frames and
 * close the conn on a protocol error. */
#define UPLINK_WINDOW    8                /* OFFERs unanswered at most */
#define UPLINK_WALK_STEP_DEFAULT 8192     /* config: [node] uplink_walk_step (keys a walk looks at a turn) */
#define RELAY_WINDOW_MS_DEFAULT 3600000   /* config: [node] relay_window_ms (hospital) */
#define RELAY_MAX_DEFAULT       20000     /* config: [node] relay_max */
#define RELAY_MAX_MAX           1000000
#define UPLINK_RETELL_MS (10 * 60 * 1000) /* tell every key again after this */
struct uplink;
struct uplink_stats {
	uint64_t offers, keys, taken;
	uint64_t bytes; /* OFFER and TAKE frames (type byte and body) */
	uint64_t round_trips, passes;
};
struct conn;
struct frame;
bool conn_is_uplink(const struct conn *c);
int uplink_new(struct conn *c);
void uplink_free(struct conn *c);
void uplink_kick(struct conn *c);
void uplink_poke(struct conn *c);
void uplink_on_offer(struct conn *c, const struct frame *f);
void uplink_on_take(struct conn *c, const struct frame *f);
void uplink_get_stats(const struct conn *c, struct uplink_stats *st);
/* The hospital's relay ring: relay_open reads [node] relay_window_ms and
 * relay_max (MU_E_CONFIG, -ENOMEM; no ring on a field node or with a
 * window of 0); relay_note records a committed bundle; relay_close is
 * NULL-safe. */
struct relay_ring;
struct fresh;
int relay_open(struct node *n);
void relay_close(struct node *n);
void relay_note(struct node *n, const struct fresh *f);

struct driver_slot {
	const struct link_ops *ops;
	struct link_driver *drv;
};

/* A key waiting to join the keysets while a sync reads them. */
struct key_pending {
	struct sync_key k;
	uint8_t kind;
};

/* A bundle stored in the current turn, acted on after the commit. */
struct fresh {
	uint8_t id[BUNDLE_ID_BYTES];
	uint64_t created;
	uint8_t prio, kind;
	struct conn *from; /* NULL when created here; cleared if conn closes */
};

enum nhs_policy { NHS_WARN, NHS_BLOCK, NHS_ALLOW };

struct node {
	struct loop *loop;
	struct config *cfg;
	char *data_dir;
	uint8_t role; /* NODE_FIELD / NODE_HOSPITAL */

	struct mu_identity *id; /* node key */
	uint8_t *cred_enc;      /* node credential (NULL until enrolled) */
	size_t cred_len;
	struct cred cred;
	struct trust trust;
	uint64_t skew_ms;

	struct mu_identity *user; /* the staff member using this device, if any */
	struct cred user_cred;

	struct store *store;
	struct keyset *keys;
	struct relay_ring *relay;     /* hospital: recent arrivals told to field nodes (uplink.c) */
	uint64_t uplink_walk_step;    /* field: keys an uplink walk looks at in one loop turn */
	/* The store file as it was opened, before anything wrote to it: what a
	 * hospital's clean-shutdown checkpoint is compared with (control_archive.c). */
	struct archive_store_print store_print_open;
	bool store_print_ok;
	struct keyset *keys_ctl;      /* the credential and revocation keys of keys (uplink sync) */
	struct keyset *keys_building; /* filled step by step after start; becomes keys */
	struct keyset *keys_ctl_building;
	unsigned syncs_active;   /* keyset changes wait while > 0 */
	struct key_pending *keys_pending_add;
	size_t keys_pending_n, keys_pending_cap;
	bool keys_reload; /* rebuild the keyset from the store when idle */

	struct store_txn *txn; /* the open batch of this turn */
	struct fresh *fresh;
	size_t fresh_n;
	struct loop_timer *commit_timer;
	struct loop_timer *purge_timer;
	struct ratelimit *rl; /* per-sender budgets for bundles from peers */

	struct route_watch *route_w; /* redials static peers when links or routes change */

	struct driver_slot drv[NODE_DRIVERS_MAX];
	unsigned ndrv;
	struct conn *conns;
	unsigned nconns;

	struct ctl_server *ctl;
	enum nhs_policy nhs_policy; /* [messaging] nhs_number */
	char *notify_cmd;           /* [messaging] notify_command, NULL if none */
	struct receipts *receipts;  /* receipts.c: receipts the user sends */
	struct alerts *alerts;      /* alerts.c: alerts awaiting the user's ack */
	struct hospital *hosp;      /* control_archive.c: the archive, hospital only */
	uint64_t sync_interval_ms, sync_timeout_ms, handshake_timeout_ms, purge_interval_ms;
	struct refused_retry refused_retry; /* [node] refused_retry_*_ms (refused.c) */

	struct {
		uint64_t grace_ms;         /* [node] custody_grace_ms */
		struct loop_timer *timer;  /* the next custody sweep */
		uint64_t next;             /* Unix ms it is armed for; 0 = not armed */
		uint64_t deleted;          /* messages made tombstones since start */
	} custody;

	struct {
		uint64_t bundles_in, bundles_dup, bundles_rejected, bundles_local;
		uint64_t sessions_ok, sessions_refused;
		uint64_t rate_limited; /* from peers, over their sender's budget */
	} stats;
};

/* node.c */
struct verify_ctx node_verify_ctx(struct node *n);
void node_keyset_add(struct node *n, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES], uint8_t kind);
void node_sync_started(struct node *n);
void node_sync_ended(struct node *n);
/* A session is up over an outbound link to addr: if addr is a static peer,
 * key is who answers there (so a link that peer opens to us counts as
 * being connected to it, and we do not dial it again). */
void node_peer_learned(struct node *n, const struct link_addr *addr, const uint8_t key[static MU_KEY_BYTES]);

/* ingest.c: reads the [node] rate_* keys and makes the per-sender rate
 * limiter (MU_E_CONFIG on a bad value); ingest_close is NULL-safe. */
int ingest_open(struct node *n);
void ingest_close(struct node *n);
/* Admits and stores one bundle received with hops travelled (0 for
 * bundles created here). Returns 0 when stored, MU_E_EXISTS for a
 * duplicate, MU_E_RATE when from a peer and its sender is over budget
 * (not stored: the peer offers it again at a later sync), or the
 * admission/store error. */
int node_ingest(struct node *n, const uint8_t *enc, size_t len, uint8_t hops, struct conn *from);
/* Commits the open batch now (the CLI waits for durability on send). */
int node_commit(struct node *n);

/* conn.c */
void conn_link_up(struct node *n, struct link *lk, int inbound);
void conn_link_data(struct node *n, struct link *lk, const uint8_t *p, size_t len);
void conn_link_down(struct node *n, struct link *lk, int err);
void conn_link_drained(struct node *n, struct link *lk);
void conn_close(struct conn *c, const char *why);
/* Frees c without telling its driver (link gone or driver stopped). */
void conn_destroy(struct conn *c);
/* Queues a stored bundle for c and starts sending. */
void conn_offer(struct conn *c, const uint8_t id[static BUNDLE_ID_BYTES]);
/* Something new is stored that c may lack: sync soon. */
void conn_poke(struct conn *c);
/* Sends one peer frame built in fw (wr_finish'd here). 0, or the error
 * that closed the conn. */
int conn_send_wr(struct conn *c, struct wr *fw);
struct conn *conn_find_peer(struct node *n, const uint8_t key[static MU_KEY_BYTES]);
const char *conn_state_name(const struct conn *c);

/* outq.c: outq_push returns 0 also when the id is already queued (and
 * queues nothing), -ENOBUFS at OUTQ_MAX, -ENOMEM. */
int outq_push(struct outq *q, const struct outq_item *it);
int outq_pop(struct outq *q, struct outq_item *out); /* 0, or -ENOENT when empty */
void outq_free(struct outq *q);

/* stored.c: acts on a bundle whose batch has just committed (delivery,
 * archive, receipts, wipe orders). */
void node_stored(struct node *n, const struct fresh *f);

/* custody.c (docs/operations.md "Custody"): custody_open reads [node]
 * custody_grace_ms (MU_E_CONFIG if bad) and makes the sweep timer;
 * custody_close is NULL-safe for a node it never opened. */
int custody_open(struct node *n);
void custody_close(struct node *n);
/* Acts on a stored bundle id that may be a custody receipt: on a field
 * node, a RECEIPT_CUSTODY from a sender with role archive records its ids
 * as archived at now and schedules the sweep. 0 also for bundles that are
 * not custody receipts; MU_E_UNTRUSTED for a sender without role archive
 * (ignored); store errors. */
int custody_receipt(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t now);
/* A message was stored: if it is already archived, schedule its deletion. */
void custody_message_stored(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t now);
/* Commits the open batch, then makes every held message whose custody
 * record is at least custody_grace_ms old (at now) a tombstone, in one
 * transaction; *deleted gets the count. Re-arms the timer for the next
 * one due. Nothing on a hospital node. */
int custody_sweep(struct node *n, uint64_t now, uint64_t *deleted);
struct custody_stat {
	uint64_t unarchived, unarchived_bytes; /* messages held with no custody record */
	uint64_t awaiting, awaiting_bytes;     /* archived, deleted when their grace ends */
	uint64_t tombstones;                   /* content deleted, id kept until expiry */
	uint64_t records;                      /* custody records */
	uint64_t deleted;                      /* made tombstones since start */
};
/* Counts from the store's totals plus one walk of the custody records
 * (at most STORE_CUSTODY_MAX). */
int custody_stat(struct node *n, struct custody_stat *out);

/* receipts.c (docs/protocol.md "Delivered, read and ack receipts"): receipts_open reads
 * [messaging] read_receipts and delivery_receipts, loads from the store's
 * notes (receipts.c "Notes") which read/ack receipts the user sent, the
 * held channel messages and (alerts.c) the outstanding alerts, and opens
 * alerts.c; receipts_close (NULL-safe) seals what is still queued. receipts_stored: called by node_stored for
 * each committed bundle (queues delivered receipts, registers alerts).
 * receipts_read: a message was shown to the user (queues one read receipt
 * unless sent before or disabled). receipts_ack: seals and commits the
 * user's ack now; MU_E_EXISTS if sent before. receipts_sent_at: whether
 * the user sent a receipt of type for id, and when (at may be NULL). */
struct receipts;
int receipts_open(struct node *n);
void receipts_close(struct node *n);
void receipts_stored(struct node *n, const struct fresh *f);
void receipts_read(struct node *n, const struct bundle *msg);
int receipts_ack(struct node *n, const struct bundle *msg);
bool receipts_sent_at(struct node *n, uint8_t type, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t *at);
/* Channel messages stored before their epoch key (receipts.c):
 * receipts_hold is true (and keeps f's id, up to RECEIPTS_HELD_MAX) when f
 * is a channel message the user cannot open yet, which node_stored then
 * does not announce; receipts_keywrap, for a stored key-wrap, announces
 * each held message of its channel and epoch that now opens (notify hook,
 * alert, delivered receipt) exactly once. */
bool receipts_hold(struct node *n, const struct fresh *f);
void receipts_keywrap(struct node *n, const struct fresh *f);
/* Whether b's destination includes the user (as inbox shows it), and its
 * decrypted content for the user (MU_E_NOTFOUND without a user, else
 * envelope_open's errors; *len >= 1 on success). */
bool node_msg_for_user(const struct node *n, const struct bundle *b);
int node_msg_content(struct node *n, const struct bundle *b, uint8_t *out, size_t cap, size_t *len);

/* alerts.c: alerts for the user not yet acknowledged, re-alerted every
 * [messaging] realert_interval_ms. alerts_find: a full id, or a unique hex
 * prefix (>= 8 digits) of an outstanding alert; MU_E_FORMAT, MU_E_NOTFOUND,
 * -EEXIST when ambiguous. alerts_receipt: a receipt for the user arrived. */
struct alerts;
int alerts_open(struct node *n);
void alerts_close(struct node *n);
/* Store notes (store.h) of receipts.c and alerts.c, one kind each; layout
 * in docs/storage.md "notes". receipts_note queues a put (or, with del, a
 * delete) of a note, written at the latest on the next loop turn (in the
 * open batch if there is one). alerts_load: the alerts from their notes
 * (fast start); alerts_walk: from a walk of the store (a store without
 * complete notes); alerts_note_all: queues a note for every alert. */
enum node_note { NOTE_STATE = 1, NOTE_READ = 2, NOTE_ACK = 3, NOTE_ALERT = 4, NOTE_HELD = 5 };
void receipts_note(struct node *n, uint8_t kind, const uint8_t id[static BUNDLE_ID_BYTES], bool del,
		   uint64_t expires, const void *data, size_t len);
int alerts_load(struct node *n);
int alerts_walk(struct node *n);
void alerts_note_all(struct node *n);
void alerts_add(struct node *n, const struct bundle *msg, uint64_t received);
void alerts_acked(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES]);
int alerts_find(struct node *n, const char *hex, uint8_t id[static BUNDLE_ID_BYTES]);
typedef void (*alerts_fn)(void *ctx, const uint8_t id[static BUNDLE_ID_BYTES],
			  const uint8_t sender[static MU_KEY_BYTES], uint64_t since);
void alerts_each(struct node *n, alerts_fn fn, void *ctx);
void alerts_receipt(struct node *n, const struct bundle *b);

/* control.c */
int control_open(struct node *n);
void control_close(struct node *n);
void node_deliver_notice(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES]);

/* control_incident.c: the incident-record commands (methane, roster,
 * requests, triage, incident-report, checkin, checkout, assign,
 * acknowledge, request, casualty). Returns 1 with *ret set (0 or a
 * negative error) when req names one of them, else 0. */
struct ctl_req;
struct ctl_reply;
int control_incident(struct node *n, const struct ctl_req *req, struct ctl_reply *r, int *ret);

/* control_archive.c: the hospital archive (docs/archive.md). hospital_open
 * reads [archive] (MU_E_CONFIG if bad) and, on a hospital node whose user
 * has role archive, opens the archive, archives stored messages it lacks
 * and starts custody receipts (n->hosp stays NULL otherwise, with a
 * warning on a hospital node); hospital_close is NULL-safe.
 * hospital_stored: called by node_stored for each committed bundle.
 * hospital_status: the archive's lines in `muster status` (none without
 * an archive). control_archive: the commands archive, audit verify and
 * export audit; returns 1 with *ret set when req names one of them. */
struct hospital;
int hospital_open(struct node *n);
void hospital_close(struct node *n);
void hospital_stored(struct node *n, const struct fresh *f);
void hospital_status(struct node *n, struct ctl_reply *r, bool json);
int control_archive(struct node *n, const struct ctl_req *req, struct ctl_reply *r, int *ret);
/* The open archive (archive.h), NULL unless this is a hospital node with
 * an archive user; owned by the node. Pending archive writes are
 * committed first, so a reader sees every bundle stored so far. */
struct archive;
struct archive *hospital_archive(struct node *n);
/* Notes the store file's identity right after it is opened (node.c), before
 * receipts, alerts or anything else writes to it. */
void hospital_store_opened(struct node *n);
/* Uplink (node/uplink.c): a field node offers keys the hospital already
 * holds. hospital_receipt_cursor: the audit seq up to which custody
 * receipts are issued (MU_E_NOTFOUND without an archive).
 * hospital_receipted: 1 (and the item's expiry) if id is archived and
 * already listed in a receipt, else 0. hospital_receipt_again seals and
 * stores a new receipt for cnt (1..RECEIPT_IDS_MAX) such ids, without
 * moving the cursor (a field node that missed the first one). */
int hospital_receipt_cursor(struct node *n, uint64_t *cursor);
int hospital_receipted(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t cursor,
		       uint64_t *expires);
int hospital_receipt_again(struct node *n, const uint8_t (*ids)[BUNDLE_ID_BYTES], size_t cnt, uint64_t expires);

#endif
