/* In-memory index of the bundles a node holds, as sync sees them: keys
 * (created, id) sorted by created (Unix ms) then id (bytewise).
 *
 * One flat sorted array of 40-byte keys: 100k bundles take 4 MB, 1M take
 * 40 MB. The daemon builds it from the store's by_time index after start
 * (keys in order, so keyset_add appends; keyset_reserve first), then keeps
 * it current with keyset_add / keyset_del as bundles arrive and expire.
 * Appending a key newer than every other is O(1) amortised; inserting in
 * the middle is O(n) (a memmove).
 *
 * A keyset is owned by its creator (keyset_free). A sync session reads it
 * and keeps a pointer to it: do not change a keyset while a session that
 * uses it is alive. Single-threaded. */
#ifndef MU_KEYSET_H
#define MU_KEYSET_H

#include <stddef.h>
#include <stdint.h>

#define KEYSET_ID_BYTES 32
#define KEYSET_KEY_WIRE 40 /* u64 created (big-endian) + id */

struct sync_key {
	uint64_t created; /* Unix ms */
	uint8_t id[KEYSET_ID_BYTES];
};

struct keyset;

/* *out is owned by the caller. -ENOMEM. */
int keyset_new(struct keyset **out);
void keyset_free(struct keyset *ks); /* NULL-safe */

/* Inserts a key in order. MU_E_EXISTS if present, -ENOMEM. */
int keyset_add(struct keyset *ks, uint64_t created, const uint8_t id[static KEYSET_ID_BYTES]);
/* Removes a key. MU_E_NOTFOUND if absent. */
int keyset_del(struct keyset *ks, uint64_t created, const uint8_t id[static KEYSET_ID_BYTES]);
/* Makes room for at least n keys in all, so that adding up to n keys
 * allocates nothing more (a bulk load whose size is known: one allocation
 * of exactly that size instead of doublings). 0 also when the room is
 * already there; -ENOMEM (the set is then unchanged). */
int keyset_reserve(struct keyset *ks, size_t n);
/* Adds n keys in any order (bulk load): one sort, duplicates dropped.
 * -ENOMEM (the set is then unchanged). */
int keyset_load(struct keyset *ks, const struct sync_key *keys, size_t n);

size_t keyset_count(const struct keyset *ks);
/* The i-th key in order (i < keyset_count). Points into the set; valid
 * until the set is next changed. */
const struct sync_key *keyset_at(const struct keyset *ks, size_t i);
/* 1 if present (and *pos is its index), 0 if not (and *pos is where it
 * would go). pos may be NULL. */
int keyset_find(const struct keyset *ks, const struct sync_key *k, size_t *pos);

/* Total order on keys: <0, 0, >0. */
int sync_key_cmp(const struct sync_key *a, const struct sync_key *b);

#endif
