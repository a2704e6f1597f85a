#include "grow.h"

#include <stdint.h>
#include <stdlib.h>

void *mu_grow(void *v, size_t *cap, size_t n, size_t elem, size_t first)
{
	size_t want;
	void *p;

	if (n < *cap)
		return v;
	want = *cap ? 2 * *cap : first;
	if (want < *cap || (elem && want > SIZE_MAX / elem))
		return NULL;
	p = realloc(v, want * elem);
	if (p)
		*cap = want;
	return p;
}

size_t mu_sorted_find(const void *base, size_t n, size_t elem, int (*cmp)(const void *el, const void *key),
		      const void *key, bool *found)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp((const char *)base + mid * elem, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < n && cmp((const char *)base + lo * elem, key) == 0;
	return lo;
}
