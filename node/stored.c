/* What happens to a bundle once its batch is committed, after routing:
 * each feature that acts on stored bundles (delivery to the local user,
 * the hospital archive, custody receipts, wipe orders) is called from here,
 * so the order of those actions is written down in one place. */
#include "node_int.h"

void node_stored(struct node *n, const struct fresh *f)
{
	if (f->kind == BK_MESSAGE)
		node_deliver_notice(n, f->id);
}
