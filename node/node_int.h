/* Internals shared by the node core's files (node.c, conn.c, ingest.c,
 * control.c). Not for other modules. */
#ifndef MU_NODE_INT_H
#define MU_NODE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "../crypto/cred.h"
#include "../crypto/session.h"
#include "../transport/link.h"
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
	struct conn *next;
};

struct driver_slot {
	const struct link_ops *ops;
	struct link_driver *drv;
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
	unsigned syncs_active;   /* keyset changes wait while > 0 */
	struct sync_key *keys_pending_add;
	size_t keys_pending_n, keys_pending_cap;
	bool keys_reload; /* rebuild the keyset from the store when idle */

	struct store_txn *txn; /* the open batch of this turn */
	struct fresh *fresh;
	size_t fresh_n;
	struct loop_timer *commit_timer;
	struct loop_timer *purge_timer;
	struct ratelimit *rl; /* per-sender budgets for bundles from peers */

	struct driver_slot drv[NODE_DRIVERS_MAX];
	unsigned ndrv;
	struct conn *conns;
	unsigned nconns;

	struct ctl_server *ctl;
	enum nhs_policy nhs_policy; /* [messaging] nhs_number */
	char *notify_cmd;           /* [messaging] notify_command, NULL if none */
	uint64_t sync_interval_ms, sync_timeout_ms, handshake_timeout_ms, purge_interval_ms;

	struct {
		uint64_t bundles_in, bundles_dup, bundles_rejected, bundles_local;
		uint64_t sessions_ok, sessions_refused;
		uint64_t rate_limited; /* from peers, over their sender's budget */
	} stats;
};

/* node.c */
struct verify_ctx node_verify_ctx(struct node *n);
void node_keyset_add(struct node *n, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES]);
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

/* control.c */
int control_open(struct node *n);
void control_close(struct node *n);
void node_deliver_notice(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES]);

#endif
