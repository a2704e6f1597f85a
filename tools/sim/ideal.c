/* The reference for mu-sim: ideal flooding. Every node keeps everything and
 * every contact carries everything at once, so a message reaches its
 * destination at the earliest time any time-respecting path allows. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "sim.h"

/* Earliest arrival from one source: relax every contact, both ways, until
 * nothing improves. A contact [t0, t1) passes on what a node holds before
 * t1, at max(t0, held). Contacts are sorted by t0, so one pass settles all
 * paths whose contacts start in order; overlapping contacts need more
 * passes, at most one per node. */
static double earliest(const struct sim_trace *t, const struct sim_msg *m, uint64_t *best)
{
	const uint64_t never = UINT64_MAX;
	uint64_t deadline = (uint64_t)m->t + t->ttl;
	bool changed = true;

	if (deadline > t->duration)
		deadline = t->duration;
	for (size_t i = 0; i < t->nnodes; i++)
		best[i] = never;
	best[m->from] = m->t;
	for (size_t pass = 0; changed && pass <= t->nnodes; pass++) {
		changed = false;
		for (size_t i = 0; i < t->ncontacts && t->contact[i].t0 <= deadline; i++) {
			const struct sim_contact *c = &t->contact[i];

			for (int dir = 0; dir < 2; dir++) {
				uint16_t x = dir ? c->b : c->a, y = dir ? c->a : c->b;
				uint64_t at;

				if (best[x] == never || best[x] >= c->t1)
					continue;
				at = best[x] > c->t0 ? best[x] : c->t0;
				if (at < best[y] && at <= deadline) {
					best[y] = at;
					changed = true;
				}
			}
		}
	}
	return best[m->to] == never ? -1 : (double)(best[m->to] - m->t);
}

int sim_ideal(const struct sim_trace *t, double *arrival)
{
	uint64_t *best = malloc((t->nnodes + 1) * sizeof(*best));

	if (!best)
		return -ENOMEM;
	for (size_t i = 0; i < t->nmsgs; i++)
		arrival[i] = earliest(t, &t->msg[i], best);
	free(best);
	return 0;
}
