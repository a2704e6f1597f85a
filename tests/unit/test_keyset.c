/* node/keyset.c: ordered inserts, bulk load, and keyset_reserve, which the
 * node's start-up build relies on (one allocation of the known size, then
 * in-order appends that never move the array). */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "keyset.h"
#include "testutil.h"

static void key_of(struct sync_key *k, uint64_t created, unsigned tag)
{
	memset(k, 0, sizeof(*k));
	k->created = created;
	k->id[0] = (uint8_t)(tag >> 8);
	k->id[1] = (uint8_t)tag;
}

static void check_sorted(const struct keyset *ks)
{
	for (size_t i = 1; i < keyset_count(ks); i++)
		CHECK(sync_key_cmp(keyset_at(ks, i - 1), keyset_at(ks, i)) < 0);
}

/* In-order appends after a reserve keep the array where it is. */
static void test_reserve_append(void)
{
	enum { N = 10000 };
	struct keyset *ks = NULL;
	const struct sync_key *first = NULL;
	struct sync_key k;

	CHECK_OK(keyset_new(&ks));
	CHECK_OK(keyset_reserve(ks, N));
	CHECK(keyset_count(ks) == 0);
	for (unsigned i = 0; i < N; i++) {
		key_of(&k, 1000 + i / 3, i);
		CHECK_OK(keyset_add(ks, k.created, k.id));
		if (i == 0)
			first = keyset_at(ks, 0);
	}
	CHECK(keyset_count(ks) == N);
	CHECK(keyset_at(ks, 0) == first); /* never reallocated */
	check_sorted(ks);
	/* a smaller reserve is a no-op, a larger one keeps the keys */
	CHECK_OK(keyset_reserve(ks, 10));
	CHECK(keyset_at(ks, 0) == first);
	CHECK_OK(keyset_reserve(ks, 2 * N));
	CHECK(keyset_count(ks) == N);
	check_sorted(ks);
	/* the same key again, as a resumed walk delivers it */
	key_of(&k, 1000 + (N - 1) / 3, N - 1);
	CHECK_RET(keyset_add(ks, k.created, k.id), MU_E_EXISTS);
	CHECK(keyset_count(ks) == N);
	/* an impossible size fails and leaves the set as it was */
	CHECK_RET(keyset_reserve(ks, SIZE_MAX), -ENOMEM);
	CHECK(keyset_count(ks) == N);
	check_sorted(ks);
	keyset_free(ks);
}

/* Random inserts and deletes agree with a bulk load of the same keys. */
static void test_add_del_load(void)
{
	enum { N = 2000 };
	struct sync_key *v = calloc(N, sizeof(*v));
	struct keyset *a = NULL, *b = NULL;
	size_t pos;

	CHECK(v);
	CHECK_OK(keyset_new(&a));
	CHECK_OK(keyset_new(&b));
	for (unsigned i = 0; i < N; i++) {
		key_of(&v[i], randombytes_uniform(500), i);
		CHECK_OK(keyset_add(a, v[i].created, v[i].id));
	}
	CHECK_OK(keyset_load(b, v, N));
	CHECK_OK(keyset_load(b, v, N / 2)); /* duplicates dropped */
	CHECK(keyset_count(a) == N && keyset_count(b) == N);
	for (size_t i = 0; i < N; i++)
		CHECK(sync_key_cmp(keyset_at(a, i), keyset_at(b, i)) == 0);
	for (unsigned i = 0; i < N; i += 2)
		CHECK_OK(keyset_del(a, v[i].created, v[i].id));
	CHECK_RET(keyset_del(a, v[0].created, v[0].id), MU_E_NOTFOUND);
	CHECK(keyset_count(a) == N / 2);
	check_sorted(a);
	CHECK(keyset_find(a, &v[1], &pos) == 1);
	CHECK(sync_key_cmp(keyset_at(a, pos), &v[1]) == 0);
	CHECK(keyset_find(a, &v[0], NULL) == 0);
	keyset_free(a);
	keyset_free(b);
	free(v);
}

static const struct test tests[] = {
    {"/keyset/reserve/append-in-place", test_reserve_append},
    {"/keyset/add-del/matches-load", test_add_del_load},
};

TEST_MAIN(tests)
