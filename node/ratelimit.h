/* Per-sender rate limits: token buckets keyed by a bundle's sender key, so
 * that one credentialed sender (a compromised node, a stolen device, a
 * misbehaving app) cannot flood the mesh. Each sender has two classes, each
 * with a bytes bucket and a bundles bucket:
 *
 *   RL_URGENT  immediate and urgent bundles
 *   RL_BULK    routine and bulk bundles (and any other priority value)
 *
 * The classes never borrow from each other: a sender that has spent its bulk
 * budget still has its urgent one (its METHANE report gets through), and a
 * sender flooding immediate bundles is capped by the urgent budget alone.
 *
 * Buckets start full (a new sender may send a whole burst at once) and refill
 * continuously at their rate. A rate of 0 turns that bucket off (no limit).
 * The table holds at most max_senders entries; when a new sender arrives at
 * a full table the least recently used entry is dropped (it comes back with
 * full buckets, so the table bounds memory, not trust: only senders holding
 * a valid credential ever reach it).
 *
 * Time is the caller's monotonic milliseconds; the module keeps no clock.
 * Not thread-safe, like the rest of the node. */
#ifndef MU_RATELIMIT_H
#define MU_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RL_KEY_BYTES 32
#define RL_SENDERS_DEFAULT 1024
#define RL_LOG_INTERVAL_MS 10000 /* a sender's refusals are logged once per interval */

enum rl_class { RL_URGENT, RL_BULK, RL_CLASSES };

/* Rates are per second; bursts are the bucket sizes. A burst below the
 * cost of one item means that item can never pass: callers keep
 * bytes bursts at or above the largest bundle encoding. */
struct rl_rate {
	uint64_t bytes_per_s, burst_bytes;
	uint64_t bundles_per_s, burst_bundles;
};

struct rl_conf {
	struct rl_rate cls[RL_CLASSES];
	size_t max_senders; /* 1 .. 65535 */
};

struct ratelimit;

/* -EINVAL for max_senders out of range, -ENOMEM. */
int ratelimit_new(struct ratelimit **out, const struct rl_conf *conf);
void ratelimit_free(struct ratelimit *rl); /* NULL-safe */

/* The class of a bundle priority (enum bundle_prio: 0 immediate, 1 urgent). */
enum rl_class ratelimit_class(uint8_t prio);

/* Would a bundle of len bytes and priority prio from key fit its sender's
 * budget at now_ms? Refills the sender's buckets but takes nothing and
 * creates no entry (an unknown sender has full buckets): 0 when it fits, MU_E_RATE when it does not. Check
 * before the costly admission, charge after the bundle is stored, so a
 * forged bundle naming someone else's key never spends their budget. */
int ratelimit_check(struct ratelimit *rl, const uint8_t key[static RL_KEY_BYTES], uint8_t prio, size_t len,
		    uint64_t now_ms);

/* Takes a stored bundle's cost from its sender's buckets (not below zero),
 * creating the sender's entry if new. */
void ratelimit_charge(struct ratelimit *rl, const uint8_t key[static RL_KEY_BYTES], uint8_t prio, size_t len,
		      uint64_t now_ms);

/* Counts a refusal for key; returns true when it should be logged now (the
 * first refusal of a sender in each RL_LOG_INTERVAL_MS), and then sets
 * *suppressed to the refusals not logged since the previous log line.
 * A key with no entry (nothing of it stored yet) returns false. */
bool ratelimit_refused(struct ratelimit *rl, const uint8_t key[static RL_KEY_BYTES], uint64_t now_ms,
		       uint64_t *suppressed);

/* Senders in the table (tests). */
size_t ratelimit_senders(const struct ratelimit *rl);

#endif
