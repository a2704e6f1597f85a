/* What happens to a bundle once its batch is committed, after routing:
 * each feature that acts on stored bundles (delivery to the local user,
 * the hospital archive, custody receipts, wipe orders) is called from here,
 * so the order of those actions is written down in one place. */
#include "channel.h"
#include "clock.h"
#include "node_int.h"
#include "wipe.h"

void node_stored(struct node *n, const struct fresh *f)
{
	bool held;

	/* A wipe order for this node stops it before anything else is done. */
	if (f->kind == BK_REVOCATION)
		wipe_on_stored(n, f->id);
	/* Channel keys first, so a message in the same batch can be read. */
	channel_stored(n, f);
	/* A channel message whose key-wrap has not arrived is announced when
	 * it does (receipts_keywrap), not now. */
	held = receipts_hold(n, f);
	if (f->kind == BK_MESSAGE && !held)
		node_deliver_notice(n, f->id);
	/* Delivered receipts and alerts for the user; acks for the sender. */
	if (!held)
		receipts_stored(n, f);
	receipts_keywrap(n, f);
	/* Hospital: into the archive (and its custody receipts). */
	hospital_stored(n, f);
	/* Custody last: it may schedule this message's deletion. */
	if (f->kind == BK_MESSAGE)
		custody_message_stored(n, f->id, mu_now_ms());
	if (f->kind == BK_RECEIPT)
		custody_receipt(n, f->id, mu_now_ms());
}
