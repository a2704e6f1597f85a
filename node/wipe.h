/* Remote wipe (docs/operations.md "Revoking and wiping a lost device").
 *
 * A wipe order is a CA-signed REVOCATION bundle with reason REVOKE_WIPE: to
 * every node it is a revocation like any other (it floods at immediate
 * priority and the key is refused from then on). The node it names (its
 * node key or its user's key) destroys its keys and its store and stops:
 * musterd exits with MUSTERD_EXIT_WIPED (node.h).
 *
 * Delivery: a revoked key is refused a session, so the order could never
 * reach its device once its neighbours know of it. A node therefore lets a
 * peer whose key has a stored wipe order complete the handshake, sends it
 * that order and nothing else, refuses everything from it and closes the
 * link (wipe_deliver). The peer learns nothing but the order.
 *
 * State is per process (like verify.c's cache; one node per process, one
 * thread): whether this node was ordered to wipe, and up to WIPE_ORDERS_MAX
 * known orders for other keys (found orders and "no order" answers), so a
 * revoked peer that redials costs one store scan at most. */
#ifndef MU_WIPE_H
#define MU_WIPE_H

#include <stdbool.h>
#include <stdint.h>

#include "node_int.h"

#define WIPE_ORDERS_MAX 64 /* remembered wipe orders for other keys; older ones are looked up again */

/* After a commit, for a stored REVOCATION bundle id: a wipe order naming
 * this node's key or its user's key makes the loop quit with MU_E_WIPED
 * (node_close then destroys; nothing is logged yet); one naming another key
 * is remembered for delivery. Anything else is ignored. */
void wipe_on_stored(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES]);

/* At start-up, once the store is open (identities may have failed to load,
 * e.g. because the credential is revoked): true if the store holds a wipe
 * order for the node key or the [user] key; node_close then destroys. */
bool wipe_at_start(struct node *n);

/* From node_close, after the store is closed: if a wipe was ordered,
 * overwrites and unlinks the node's and user's key, key file, public key
 * and credential files and the store's files, removes the store directory
 * and the data directory if empty, and logs one line (plus one per file
 * that could not be destroyed, named by kind, never by content). */
void wipe_finish(struct node *n);

/* The session's revocation test (revoked_fn; ctx is the struct node *): as
 * store_is_revoked, except 0 for a key with a stored wipe order, so its
 * session can come up to receive it. */
int wipe_is_revoked(void *node, const uint8_t key[static MU_KEY_BYTES]);

/* From conn_established, before anything is sent: if the peer's key is
 * revoked (it came up through wipe_is_revoked), sends its wipe order,
 * closes the link and returns true; the caller does nothing more with c. */
bool wipe_deliver(struct conn *c);

#endif
