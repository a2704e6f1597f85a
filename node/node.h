/* The node core: everything musterd runs on its one loop. It owns the
 * store, the keyset sync reads, the node and user identities, the link
 * drivers, one struct conn per open link and the control socket.
 *
 * Data flows one way: link bytes -> session (crypto/session.h) -> frames
 * (node/frames.h) -> sync (node/sync.h) or ingest (bundle_admit, then the
 * store, batched per loop turn) -> router (push to peers, deliver locally).
 * docs/architecture.md walks through it. */
#ifndef MU_NODE_H
#define MU_NODE_H

struct node;
struct loop;
struct config;

/* Reads the node's config, creates the data directory, node keys (first
 * start) and store, starts link drivers and the control socket. cfg and
 * loop are borrowed and must outlive the node. MU_E_WIPED if the store
 * holds a wipe order for this node: it has then destroyed itself. */
int node_open(struct node **out, struct loop *loop, struct config *cfg);
/* Stops drivers, closes links, commits anything pending and closes the
 * store; after a wipe order for this node, then destroys its keys and store
 * (node/wipe.h). NULL-safe. */
void node_close(struct node *n);

/* musterd's exit status once the node has wiped itself on its CA's order
 * (node_open or the loop returned MU_E_WIPED); the systemd unit does not
 * restart it (RestartPreventExitStatus). docs/operations.md. */
#define MUSTERD_EXIT_WIPED 10

#endif
