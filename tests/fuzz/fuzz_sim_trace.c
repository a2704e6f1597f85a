/* Fuzzes the mu-sim contact trace parser (tools/sim/trace.c) with arbitrary
 * text. On success every invariant the simulator relies on must hold
 * (indexes in range, contacts non-empty, both lists sorted, limits kept),
 * and the ideal-flooding reference runs on small results. On failure
 * nothing is returned. Seeds in corpus/fuzz_sim_trace/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "bundle.h"
#include "err.h"
#include "sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sim_trace *t = NULL;
	unsigned line = 0;
	int ret = sim_trace_parse(&t, (const char *)data, size, &line);

	if (ret) {
		if (t)
			abort();
		return 0;
	}
	if (!t || !t->nnodes || t->nnodes > SIM_NODES_MAX || t->ncontacts > SIM_CONTACTS_MAX ||
	    t->nmsgs > SIM_MSGS_MAX || t->hops < 1 || t->hops > BUNDLE_HOPS_MAX)
		abort();
	for (size_t i = 0; i < t->ncontacts; i++) {
		const struct sim_contact *c = &t->contact[i];

		if (c->a >= t->nnodes || c->b >= t->nnodes || c->a == c->b || c->t0 >= c->t1 ||
		    c->t1 > SIM_TIME_MAX || !c->kbps || (i && t->contact[i - 1].t0 > c->t0))
			abort();
	}
	for (size_t i = 0; i < t->nmsgs; i++) {
		const struct sim_msg *m = &t->msg[i];

		if (m->from >= t->nnodes || m->to >= t->nnodes || m->from == m->to || m->prio > PRIO_BULK ||
		    m->size < SIM_MSG_MIN || m->size > BUNDLE_PAYLOAD_MAX || (i && t->msg[i - 1].t > m->t))
			abort();
	}
	if (t->nmsgs * (t->ncontacts + 1) < 100000) {
		double *arr = malloc((t->nmsgs + 1) * sizeof(*arr));

		if (arr && sim_ideal(t, arr) == 0)
			for (size_t i = 0; i < t->nmsgs; i++)
				if (arr[i] > (double)t->ttl)
					abort();
		free(arr);
	}
	sim_trace_free(t);
	return 0;
}
