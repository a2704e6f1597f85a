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

#include <stdbool.h>
#include <stddef.h>

void *mu_grow(void *v, size_t *cap, size_t n, size_t elem, size_t first);

/* Sorted arrays: the one binary search over n elements of elem bytes at
 * base, ordered by cmp(element, key) (<0, 0, >0). Returns the first index
 * whose element does not sort before key (n if none: where key would be
 * inserted) and sets *found when that element equals key. */
size_t mu_sorted_find(const void *base, size_t n, size_t elem, int (*cmp)(const void *el, const void *key),
		      const void *key, bool *found);

#endif
