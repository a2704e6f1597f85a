/* Growable arrays: the one doubling step every list of records, ids or
 * pointers in the node uses.
 *
 *	void *p = mu_grow(l->v, &l->cap, l->n, sizeof(*l->v), 64);
 *	if (!p)
 *		return -ENOMEM;
 *	l->v = p;
 *	l->v[l->n++] = x;
 *
 * mu_grow returns v itself while n < *cap; otherwise it reallocates to
 * twice *cap (first elements when *cap is 0), updates *cap and returns the
 * new block. NULL when memory (or size_t) runs out: v and *cap are then
 * unchanged and still owned by the caller. */
#ifndef MU_GROW_H
#define MU_GROW_H

#include <stddef.h>

void *mu_grow(void *v, size_t *cap, size_t n, size_t elem, size_t first);

#endif
