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
