/* mu-bench-sync: reconciles two in-process keysets and prints, per case,
 *	sync n=<N> d=<d> layout=<scattered|recent> rounds=<R> bytes=<B> cpu_ms=<T>
 * Each side holds n keys (the side with fewer unique keys n - 1 when d is
 * odd); d keys differ, half unique to each side. "scattered" spreads the
 * differing keys over the whole time range, "recent" makes them the newest.
 * rounds = ceil(messages / 2); bytes = sync message bytes, both directions;
 * cpu_ms = CPU time of both state machines (set generation excluded). Every
 * run is checked against the true difference; a wrong result exits 1.
 * See docs/benchmarks.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "keyset.h"
#include "sync.h"
#include "wire.h"

struct side {
	const struct keyset *own, *peer;
	uint64_t have_missing, peer_missing, wrong;
};

static uint64_t rng_state;
static uint64_t run_no;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rnd_key(struct sync_key *k, uint64_t created)
{
	k->created = created;
	for (int i = 0; i < KEYSET_ID_BYTES; i += 8) {
		uint64_t v = rnd();

		memcpy(k->id + i, &v, 8);
	}
}

static void on_have_missing(void *user, uint64_t created, const uint8_t id[static KEYSET_ID_BYTES])
{
	struct side *sd = user;
	struct sync_key k = {.created = created};

	memcpy(k.id, id, KEYSET_ID_BYTES);
	sd->have_missing++;
	if (keyset_find(sd->own, &k, NULL) || !keyset_find(sd->peer, &k, NULL))
		sd->wrong++;
}

static void on_peer_missing(void *user, uint64_t created, const uint8_t id[static KEYSET_ID_BYTES])
{
	struct side *sd = user;
	struct sync_key k = {.created = created};

	memcpy(k.id, id, KEYSET_ID_BYTES);
	sd->peer_missing++;
	if (!keyset_find(sd->own, &k, NULL) || keyset_find(sd->peer, &k, NULL))
		sd->wrong++;
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int run_case(size_t n, size_t d, int recent, int verbose)
{
	const uint64_t t0 = 1700000000000ull, step = 10; /* 10 ms apart */
	size_t ua = (d + 1) / 2, ub = d / 2, common = n - ua;
	struct sync_key *a = malloc(n * sizeof(*a)), *b = malloc(n * sizeof(*b));
	struct keyset *ka = NULL, *kb = NULL;
	struct sync *si = NULL, *sr = NULL;
	struct side A = {0}, B = {0};
	const struct sync_cb cb = {on_have_missing, on_peer_missing};
	uint8_t *buf = malloc(SYNC_MSG_MAX);
	uint64_t msgs = 0, bytes = 0;
	double t;
	int ret = 1;

	if (!a || !b || !buf || d > n) {
		fprintf(stderr, "bad case n=%zu d=%zu\n", n, d);
		goto out;
	}
	rng_state = 0x5eed0000 + n * 31 + d * 7 + (size_t)recent + run_no++ * 0x100000;
	for (size_t i = 0; i < common; i++) {
		rnd_key(&a[i], t0 + i * step);
		b[i] = a[i];
	}
	for (size_t i = 0; i < ua + ub; i++) {
		uint64_t created = recent ? t0 + (common + i) * step : t0 + rnd() % (n * step);
		struct sync_key *k = i < ua ? &a[common + i] : &b[common + i - ua];

		rnd_key(k, created);
	}
	if (keyset_new(&ka) || keyset_new(&kb) || keyset_load(ka, a, common + ua) ||
	    keyset_load(kb, b, common + ub))
		goto out;
	A = (struct side){.own = ka, .peer = kb};
	B = (struct side){.own = kb, .peer = ka};

	t = cpu_ms();
	if (sync_new(&si, ka, SYNC_INITIATOR, &cb, &A) || sync_new(&sr, kb, SYNC_RESPONDER, &cb, &B))
		goto out;
	while (!sync_done(si) || !sync_done(sr)) {
		struct sync *from = sync_want_send(si) ? si : sr, *to = from == si ? sr : si;
		struct wr w = wr_make(buf, SYNC_MSG_MAX);
		int r;

		if (!sync_want_send(from)) {
			fprintf(stderr, "stalled: %s / %s\n", mu_strerror(sync_error(si)),
				mu_strerror(sync_error(sr)));
			goto out;
		}
		r = sync_build_message(from, &w);
		if (!r)
			r = sync_recv_message(to, buf, w.len);
		if (r) {
			fprintf(stderr, "sync failed: %s\n", mu_strerror(r));
			goto out;
		}
		msgs++;
		bytes += w.len;
	}
	t = cpu_ms() - t;

	printf("sync n=%zu d=%zu layout=%s rounds=%llu bytes=%llu cpu_ms=%.0f\n", n, d,
	       recent ? "recent" : "scattered", (unsigned long long)(msgs + 1) / 2, (unsigned long long)bytes,
	       t);
	if (verbose) {
		struct sync_stats st;

		sync_get_stats(sr, &st);
		fprintf(stderr, "  estimate=%u symbols=%u more=%u fallback=%d msgs=%llu\n", st.estimate,
			st.symbols, st.more, st.fallback, (unsigned long long)msgs);
	}
	if (A.wrong || B.wrong || A.have_missing != ub || A.peer_missing != ua || B.have_missing != ua ||
	    B.peer_missing != ub) {
		fprintf(stderr,
			"WRONG RESULT: A have_missing=%llu peer_missing=%llu, B %llu %llu, wrong %llu/%llu\n",
			(unsigned long long)A.have_missing, (unsigned long long)A.peer_missing,
			(unsigned long long)B.have_missing, (unsigned long long)B.peer_missing,
			(unsigned long long)A.wrong, (unsigned long long)B.wrong);
		goto out;
	}
	ret = 0;
out:
	sync_free(si);
	sync_free(sr);
	keyset_free(ka);
	keyset_free(kb);
	free(a);
	free(b);
	free(buf);
	return ret;
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: mu-bench-sync [--n N] [--d D] [--layout scattered|recent] [--repeat K] [--verbose]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const size_t ds[] = {0, 1, 100, 1000, 10000};
	size_t n = 1000000, d = SIZE_MAX;
	int layout = -1, verbose = 0, fails = 0, repeat = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--n") && i + 1 < argc)
			n = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--d") && i + 1 < argc)
			d = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--layout") && i + 1 < argc)
			layout = !strcmp(argv[++i], "recent") ? 1 : !strcmp(argv[i], "scattered") ? 0 : -2;
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--verbose"))
			verbose = 1;
		else
			usage();
	}
	if (layout == -2 || !n || repeat < 1)
		usage();
	for (int rep = 0; rep < repeat; rep++)
		for (int l = 0; l < 2; l++) {
			if (layout >= 0 && l != layout)
				continue;
			for (size_t i = 0; i < sizeof(ds) / sizeof(ds[0]); i++) {
				if (d != SIZE_MAX && ds[i] != d)
					continue;
				fails += run_case(n, ds[i], l, verbose);
			}
			if (d != SIZE_MAX && d != 0 && d != 1 && d != 100 && d != 1000 && d != 10000)
				fails += run_case(n, d, l, verbose);
		}
	return fails ? 1 : 0;
}
