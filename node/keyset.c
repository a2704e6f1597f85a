#include "keyset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

struct keyset {
	struct sync_key *k;
	size_t n;
	size_t cap;
};

int sync_key_cmp(const struct sync_key *a, const struct sync_key *b)
{
	if (a->created != b->created)
		return a->created < b->created ? -1 : 1;
	return memcmp(a->id, b->id, KEYSET_ID_BYTES);
}

static int cmp_qsort(const void *a, const void *b)
{
	return sync_key_cmp(a, b);
}

int keyset_new(struct keyset **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void keyset_free(struct keyset *ks)
{
	if (!ks)
		return;
	free(ks->k);
	free(ks);
}

static int resize(struct keyset *ks, size_t cap)
{
	struct sync_key *k;

	if (cap > SIZE_MAX / sizeof(*k))
		return -ENOMEM;
	k = realloc(ks->k, cap * sizeof(*k));
	if (!k)
		return -ENOMEM;
	ks->k = k;
	ks->cap = cap;
	return 0;
}

/* Room for want keys, growing by doubling (amortised O(1) appends). */
static int reserve(struct keyset *ks, size_t want)
{
	size_t cap = ks->cap ? ks->cap : 64;

	if (want <= ks->cap)
		return 0;
	while (cap < want) {
		if (cap > SIZE_MAX / 2 / sizeof(*ks->k))
			return -ENOMEM;
		cap *= 2;
	}
	return resize(ks, cap);
}

int keyset_reserve(struct keyset *ks, size_t n)
{
	return n <= ks->cap ? 0 : resize(ks, n);
}

int keyset_find(const struct keyset *ks, const struct sync_key *k, size_t *pos)
{
	size_t lo = 0, hi = ks->n;

	/* Fast path for the common "newest key" probe. */
	if (hi && sync_key_cmp(&ks->k[hi - 1], k) < 0)
		lo = hi;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = sync_key_cmp(&ks->k[mid], k);

		if (c == 0) {
			if (pos)
				*pos = mid;
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos)
		*pos = lo;
	return 0;
}

int keyset_add(struct keyset *ks, uint64_t created, const uint8_t id[static KEYSET_ID_BYTES])
{
	struct sync_key k = {.created = created};
	size_t pos;
	int ret;

	memcpy(k.id, id, KEYSET_ID_BYTES);
	if (keyset_find(ks, &k, &pos))
		return MU_E_EXISTS;
	ret = reserve(ks, ks->n + 1);
	if (ret)
		return ret;
	memmove(&ks->k[pos + 1], &ks->k[pos], (ks->n - pos) * sizeof(k));
	ks->k[pos] = k;
	ks->n++;
	return 0;
}

int keyset_del(struct keyset *ks, uint64_t created, const uint8_t id[static KEYSET_ID_BYTES])
{
	struct sync_key k = {.created = created};
	size_t pos;

	memcpy(k.id, id, KEYSET_ID_BYTES);
	if (!keyset_find(ks, &k, &pos))
		return MU_E_NOTFOUND;
	memmove(&ks->k[pos], &ks->k[pos + 1], (ks->n - pos - 1) * sizeof(k));
	ks->n--;
	return 0;
}

int keyset_load(struct keyset *ks, const struct sync_key *keys, size_t n)
{
	size_t w = 0;
	int ret;

	if (n > SIZE_MAX - ks->n)
		return -ENOMEM;
	if (!n)
		return 0;
	ret = reserve(ks, ks->n + n);
	if (ret)
		return ret;
	memcpy(&ks->k[ks->n], keys, n * sizeof(*keys));
	ks->n += n;
	qsort(ks->k, ks->n, sizeof(*ks->k), cmp_qsort);
	for (size_t r = 0; r < ks->n; r++)
		if (!w || sync_key_cmp(&ks->k[w - 1], &ks->k[r]) != 0)
			ks->k[w++] = ks->k[r];
	ks->n = w;
	return 0;
}

size_t keyset_count(const struct keyset *ks)
{
	return ks->n;
}

const struct sync_key *keyset_at(const struct keyset *ks, size_t i)
{
	return &ks->k[i];
}
