/* mu-bench-ingest: how fast a node takes in bundles, next to how fast this
 * machine checks bare Ed25519 signatures. Prints one line:
 *	ingest n=<K> batch=<B> senders=<S> payload=<P> verify_per_s=<V> ingest_per_s=<I>
 *	       ratio=<I/V> target=0.90 met=<yes|no>
 * The store lives in a fresh directory under --dir (default /var/tmp, a
 * disk rather than tmpfs), removed at exit.
 *
 * Setup (not timed): a CA, S senders with CA-issued credentials, and K
 * message bundles (payload P bytes, sealed-size) signed by the senders in
 * turn, all held in memory.
 *
 * verify_per_s: crypto_sign_verify_detached over the K bundles' signatures
 * (sender key, every byte before the signature), nothing else.
 *
 * ingest_per_s: the daemon's ingest path (node/ingest.c node_ingest) on a
 * fresh LMDB store whose S credentials were stored first through the same
 * path: bundle_decode, store_has, bundle_admit with store_cred_lookup and
 * store_is_revoked, store_put_bundle; one write batch per B bundles, each
 * committed synchronously (as the daemon commits once per loop turn). The
 * final commit is inside the timing; opening the store is not.
 *
 * Both are wall-clock (CLOCK_MONOTONIC), run R times interleaved
 * (verify, ingest, verify, ingest, ...); the best run of each is reported.
 * Per run, stderr also shows the wall time spent in store_write_commit and
 * the process CPU time of each phase: on a machine shared with other work
 * the wall clock varies from run to run, the CPU time much less.
 * Any bundle refused or any signature failing exits 1. docs/benchmarks.md. */
#include <errno.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "clock.h"
#include "cred.h"
#include "err.h"
#include "store.h"
#include "verify.h"

#define LIFETIME_MS (12ull * 3600 * 1000)

struct item {
	uint8_t *enc;
	size_t len;
};

struct setup {
	struct trust trust;
	size_t senders;
	struct item *creds; /* one CREDENTIAL bundle per sender */
	struct item *msgs;
	size_t n;
	uint8_t *arena;
};

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* CPU seconds of this process: a diagnostic next to the wall clock, which
 * a busy machine (other processes on the cores) stretches. */
static double cpu_s(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static int seal_into(uint8_t **arena, struct item *it, struct bundle *b, const struct mu_identity *id)
{
	int len = bundle_seal(*arena, BUNDLE_ENC_MAX, b, id);

	if (len < 0)
		return len;
	it->enc = *arena;
	it->len = (size_t)len;
	*arena += len;
	return 0;
}

/* A CA, senders enrolled by it, their credential bundles, and n messages
 * from them in turn, created 1 ms apart ending now. */
static int setup_make(struct setup *st, size_t n, size_t senders, size_t payload)
{
	struct mu_identity *ca = NULL, **ids = calloc(senders, sizeof(*ids));
	uint64_t now = mu_now_ms();
	uint8_t *pay = malloc(payload ? payload : 1), *arena;
	int ret = 0;

	st->senders = senders;
	st->n = n;
	st->creds = calloc(senders, sizeof(*st->creds));
	st->msgs = calloc(n, sizeof(*st->msgs));
	st->arena = malloc((senders + n) * (BUNDLE_FIXED_BYTES + BUNDLE_DEST_MAX + 4 + MU_SIG_BYTES) +
			   senders * CRED_ENC_MAX + n * payload);
	if (!ids || !pay || !st->creds || !st->msgs || !st->arena) {
		ret = -ENOMEM;
		goto out;
	}
	arena = st->arena;
	randombytes_buf(pay, payload);
	if ((ret = identity_generate(&ca)) || (ret = trust_add(&st->trust, identity_sign_pk(ca))))
		goto out;
	for (size_t s = 0; s < senders; s++) {
		uint8_t cenc[CRED_ENC_MAX];
		struct cred c = {.role = ROLE_PARAMEDIC, .valid_from = now - 3600000, .valid_until = now + 86400000};
		struct bundle b = {.kind = BK_CREDENTIAL, .prio = PRIO_URGENT, .hop_limit = BUNDLE_HOPS_MAX,
				   .created = now - 60000, .expires = c.valid_until, .dest_type = DEST_ALL};
		int clen;

		if ((ret = identity_generate(&ids[s])))
			goto out;
		snprintf(c.subject, sizeof(c.subject), "BENCH-%zu", s);
		snprintf(c.name, sizeof(c.name), "Bench Sender %zu", s);
		snprintf(c.org, sizeof(c.org), "Bench Ambulance Service");
		memcpy(c.sign_pk, identity_sign_pk(ids[s]), MU_KEY_BYTES);
		memcpy(c.kx_pk, identity_kx_pk(ids[s]), MU_KEY_BYTES);
		if ((clen = cred_issue(cenc, sizeof(cenc), &c, ca)) < 0) {
			ret = clen;
			goto out;
		}
		b.payload = cenc;
		b.payload_len = (size_t)clen;
		if ((ret = seal_into(&arena, &st->creds[s], &b, ids[s])))
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct bundle b = {.kind = BK_MESSAGE, .prio = (uint8_t)(i % 4), .hop_limit = 16,
				   .created = now - n + i, .expires = now + LIFETIME_MS,
				   .dest_type = DEST_ALL, .payload = pay, .payload_len = payload};

		memcpy(pay, &i, sizeof(i) < payload ? sizeof(i) : payload);
		if ((ret = seal_into(&arena, &st->msgs[i], &b, ids[i % senders])))
			goto out;
	}
out:
	for (size_t s = 0; ids && s < senders; s++)
		identity_free(ids[s]);
	identity_free(ca);
	free(ids);
	free(pay);
	return ret;
}

static void setup_free(struct setup *st)
{
	free(st->creds);
	free(st->msgs);
	free(st->arena);
}

/* (a) Bare signature checks; returns seconds, or -1 if one fails. */
static double run_verify(const struct setup *st)
{
	/* sender key sits after magic, version, kind, priority, hop limit */
	const size_t sender_off = 6;
	size_t bad = 0;
	double t = now_s();

	for (size_t i = 0; i < st->n; i++) {
		const struct item *it = &st->msgs[i];

		bad += crypto_sign_verify_detached(it->enc + it->len - MU_SIG_BYTES, it->enc,
						   it->len - MU_SIG_BYTES, it->enc + sender_off) != 0;
	}
	t = now_s() - t;
	if (bad) {
		fprintf(stderr, "mu-bench-ingest: %zu signatures failed\n", bad);
		return -1;
	}
	return t;
}

/* node_ingest without the node: decode, duplicate check, admission, store. */
static int ingest_one(struct store *s, struct store_txn *t, const struct verify_ctx *v, const struct item *it)
{
	struct store_meta meta = {.received = v->now, .hops = 1};
	struct bundle b;
	struct cred c;
	int ret = bundle_decode(&b, it->enc, it->len);

	if (!ret)
		ret = store_has(s, b.id) == 0 ? 0 : MU_E_EXISTS;
	if (!ret)
		ret = bundle_admit(v, &b, it->enc, it->len, meta.hops, &c);
	if (!ret && b.kind == BK_CREDENTIAL)
		ret = store_put_cred(t, &c);
	if (!ret)
		ret = store_put_bundle(t, &b, it->enc, it->len, &meta);
	return ret;
}

/* Seconds spent in store_write_commit by the last ingest_batched (the
 * synchronous commits; printed per run). */
static double commit_s;

static int ingest_batched(struct store *s, const struct verify_ctx *v0, const struct item *items, size_t n,
			  size_t batch)
{
	struct store_txn *t = NULL;
	double tc;
	int ret = 0;

	commit_s = 0;
	for (size_t i = 0; i < n && !ret; i += batch) {
		/* the daemon's ctx is made per bundle; its clock read is part of it */
		struct verify_ctx v = *v0;

		if ((ret = store_write_begin(s, &t)))
			break;
		for (size_t j = i; j < i + batch && j < n && !ret; j++) {
			v.now = mu_now_ms();
			ret = ingest_one(s, t, &v, &items[j]);
		}
		if (ret) {
			fprintf(stderr, "mu-bench-ingest: bundle refused: %s\n", mu_strerror(ret));
			store_write_abort(t);
			break;
		}
		tc = now_s();
		ret = store_write_commit(t);
		commit_s += now_s() - tc;
	}
	return ret;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

/* (b) Ingest into a fresh store under dir; returns seconds, or -1. */
static double run_ingest(const struct setup *st, const char *dir, size_t batch)
{
	struct store *s = NULL;
	struct verify_ctx v = {.trust = &st->trust, .skew_ms = VERIFY_SKEW_MS_DEFAULT,
			       .lookup = store_cred_lookup, .is_revoked = store_is_revoked};
	double t = -1;
	int ret;

	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if ((ret = store_open(&s, dir, NULL))) {
		fprintf(stderr, "mu-bench-ingest: store %s: %s\n", dir, mu_strerror(ret));
		return -1;
	}
	v.ctx = s;
	if (ingest_batched(s, &v, st->creds, st->senders, batch))
		goto out;
	t = now_s();
	ret = ingest_batched(s, &v, st->msgs, st->n, batch);
	t = ret ? -1 : now_s() - t;
out:
	store_close(s);
	return t;
}

static void usage(void)
{
	fprintf(stderr, "usage: mu-bench-ingest [--n K] [--batch B] [--senders S] [--payload BYTES] [--runs R] "
			"[--dir DIR]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	size_t n = 20000, batch = 256, senders = 8, payload = 200;
	int runs = 3, ret = 1;
	const char *parent = "/var/tmp";
	char base[4096] = "", dir[4096 + 8];
	double best_v = 1e99, best_i = 1e99;
	struct setup st = {0};

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--n") && i + 1 < argc)
			n = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--senders") && i + 1 < argc)
			senders = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--payload") && i + 1 < argc)
			payload = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			parent = argv[++i];
		else
			usage();
	}
	if (!n || !batch || !senders || runs < 1 || payload > BUNDLE_PAYLOAD_MAX)
		usage();
	if (mu_crypto_init())
		return 1;
	/* A real disk, not tmpfs: the commits are synchronous, as on a node. */
	snprintf(base, sizeof(base), "%s/mu-bench-ingest.XXXXXX", parent);
	if (!mkdtemp(base)) {
		perror("mu-bench-ingest: mkdtemp");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/store", base);
	if ((ret = setup_make(&st, n, senders, payload))) {
		fprintf(stderr, "mu-bench-ingest: setup: %s\n", mu_strerror(ret));
		ret = 1;
		goto out;
	}
	ret = 1;
	for (int r = 0; r < runs; r++) {
		double cv = cpu_s(), tv = run_verify(&st), ci, ti;

		cv = cpu_s() - cv;
		if (tv < 0)
			goto out;
		ci = cpu_s();
		ti = run_ingest(&st, dir, batch);
		ci = cpu_s() - ci;
		if (ti < 0)
			goto out;
		if (tv < best_v)
			best_v = tv;
		if (ti < best_i)
			best_i = ti;
		fprintf(stderr,
			"  run %d: verify %.0f/s ingest %.0f/s (commits %.0f of %.0f ms; cpu verify %.0f ms, "
			"ingest %.0f ms)\n",
			r + 1, n / tv, n / ti, commit_s * 1000, ti * 1000, cv * 1000, ci * 1000);
	}
	double vps = n / best_v, ips = n / best_i;

	printf("ingest n=%zu batch=%zu senders=%zu payload=%zu verify_per_s=%.0f ingest_per_s=%.0f ratio=%.3f "
	       "target=0.90 met=%s\n",
	       n, batch, senders, payload, vps, ips, ips / vps, ips / vps >= 0.90 ? "yes" : "no");
	ret = 0;
out:
	setup_free(&st);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return ret;
}
