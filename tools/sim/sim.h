/* mu-sim: delivery under movement. A deterministic discrete-event
 * simulation that runs the node's real bundle, admission, store, sync and
 * send-queue code over a contact trace, next to ideal flooding (unlimited
 * storage and capacity) on the same trace. Trace format and model:
 * docs/benchmarks.md "sim".
 *
 * Two steps: sim_trace_parse() reads a trace from memory (strict; a bad
 * line gets MU_E_FORMAT and its line number), sim_run() simulates it with
 * one LMDB store per node in fresh directories under a scratch directory.
 * Single-threaded; no wall clock inside the model. */
#ifndef MU_SIM_H
#define MU_SIM_H

#include <stddef.h>
#include <stdint.h>

/* Explicit limits of a trace (each checked by the parser). */
#define SIM_NODES_MAX    64
#define SIM_NAME_MAX     31 /* bytes of a node name */
#define SIM_CONTACTS_MAX 200000u
#define SIM_MSGS_MAX     200000u   /* after gen lines are expanded */
#define SIM_LINE_MAX     512       /* bytes of one line */
#define SIM_TIME_MAX     604800u   /* seconds: one week */
#define SIM_KBPS_MAX     10000000u /* 10 Gbit/s */
#define SIM_MSG_MIN      8         /* payload bytes: the message number rides in the first 4 */
#define SIM_QUOTA_MIN    65536u
#define SIM_QUOTA_MAX    (1ull << 32)

enum sim_role { SIM_CREW, SIM_COMMANDER, SIM_FERRY, SIM_HOSPITAL };

struct sim_node {
	char name[SIM_NAME_MAX + 1];
	uint8_t role;   /* enum sim_role */
	uint64_t quota; /* store quota_bytes */
};

struct sim_contact {
	uint32_t t0, t1; /* seconds, t0 < t1 */
	uint16_t a, b;   /* node indexes, a != b */
	uint32_t kbps;
};

struct sim_msg {
	uint32_t t; /* seconds */
	uint16_t from, to;
	uint8_t prio;  /* enum bundle_prio */
	uint32_t size; /* payload bytes */
};

struct sim_trace {
	uint64_t seed;
	uint32_t duration; /* seconds simulated */
	uint32_t ttl;      /* message lifetime, seconds */
	uint8_t hops;      /* hop limit of messages */
	size_t nnodes, ncontacts, nmsgs;
	struct sim_node node[SIM_NODES_MAX];
	struct sim_contact *contact; /* sorted by t0, then input order */
	struct sim_msg *msg;         /* sorted by t, then input order */
};

/* Parses text (len bytes, need not be NUL-terminated). *out is owned by
 * the caller (sim_trace_free). MU_E_FORMAT for a malformed line (with
 * *bad_line set to its 1-based number, else 0), MU_E_TOOBIG over a limit
 * (also with *bad_line), -ENOMEM. */
int sim_trace_parse(struct sim_trace **out, const char *text, size_t len, unsigned *bad_line);
void sim_trace_free(struct sim_trace *t); /* NULL-safe */

#define SIM_PRIOS 4

struct sim_prio_result {
	uint32_t generated;
	uint32_t delivered, ideal_delivered;
	double p50_s, p90_s, ideal_p50_s, ideal_p90_s; /* -1 when nothing delivered */
};

struct sim_result {
	struct sim_prio_result prio[SIM_PRIOS];
	uint64_t bundle_bytes; /* bundle encodings that crossed a contact */
	uint64_t sync_bytes;   /* sync messages, both directions */
	uint64_t sync_rounds;
	uint64_t sent;           /* bundles that crossed a contact */
	uint64_t duplicates;     /* ... that the receiver already held */
	uint64_t refused_quota;  /* ... that did not fit the receiver's quota */
	uint64_t refused_other;  /* ... refused by admission (hops, expiry) */
	uint64_t wasted_bytes;   /* bundle_bytes of duplicates and refused bundles */
	uint64_t refused_skipped; /* offers skipped: the receiver had REFUSED the bundle (node/refused.c) */
	uint64_t cut;            /* sends that the end of a contact cut off */
	uint64_t skipped;        /* queued bundles dropped at send time: hops used up or expired */
	uint64_t lost_at_source; /* messages the sender's own store refused (quota) */
	uint64_t evicted;        /* store evictions, all nodes */
	uint64_t admitted_sigs;  /* bundle_admit runs that passed (signature checked) */
};

/* Simulates t with stores under scratch_dir (which must exist; one
 * subdirectory per node, removed at the end). MU_E_* / -errno from the
 * real code when something that should not fail does. */
int sim_run(const struct sim_trace *t, const char *scratch_dir, struct sim_result *out);

/* The earliest time each message could reach its destination through the
 * contact graph (time-respecting paths, no capacity or storage limit, no
 * hop limit, within ttl and duration): arrival[i] is seconds after the
 * message was created, or -1 if never. */
int sim_ideal(const struct sim_trace *t, double *arrival);

#endif
