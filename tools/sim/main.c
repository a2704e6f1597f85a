/* mu-sim: runs contact traces through the simulator (sim.h) and prints, per
 * trace, one line per priority with Muster's delivery next to ideal
 * flooding on the same trace, then one line of totals:
 *	sim trace=<name> prio=<p> generated=<n> muster_delivered=<ratio> ideal_delivered=<ratio>
 *	    muster_p50_s=<s> muster_p90_s=<s> ideal_p50_s=<s> ideal_p90_s=<s>
 *	sim trace=<name> total ... wall_s=<s>
 * Latencies are over the delivered messages ("-" when none). Stores live in
 * a fresh directory under --dir (default /dev/shm when present: see
 * docs/benchmarks.md "sim" for why), removed at exit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "err.h"
#include "sim.h"

static void usage(void)
{
	fprintf(stderr, "usage: mu-sim [--dir DIR] [--seed N] [TRACE ...]\n"
			"  (default: tools/traces/scene3h.trace tools/traces/scene3h_tight.trace)\n");
	exit(2);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
	    !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	} else
		*len = (size_t)n;
	fclose(f);
	return buf;
}

static void fmt_s(char *out, size_t cap, double s)
{
	if (s < 0)
		snprintf(out, cap, "-");
	else
		snprintf(out, cap, "%.1f", s);
}

static double ratio(uint32_t a, uint32_t n)
{
	return n ? (double)a / n : 0;
}

static void print(const char *name, const struct sim_trace *t, const struct sim_result *r, double wall)
{
	for (int p = 0; p < SIM_PRIOS; p++) {
		const struct sim_prio_result *pr = &r->prio[p];
		char a[32], b[32], c[32], d[32];

		if (!pr->generated)
			continue;
		fmt_s(a, sizeof(a), pr->p50_s);
		fmt_s(b, sizeof(b), pr->p90_s);
		fmt_s(c, sizeof(c), pr->ideal_p50_s);
		fmt_s(d, sizeof(d), pr->ideal_p90_s);
		printf("sim trace=%s prio=%s generated=%u muster_delivered=%.3f ideal_delivered=%.3f "
		       "muster_p50_s=%s muster_p90_s=%s ideal_p50_s=%s ideal_p90_s=%s\n",
		       name, bundle_prio_name((uint8_t)p), pr->generated, ratio(pr->delivered, pr->generated),
		       ratio(pr->ideal_delivered, pr->generated), a, b, c, d);
	}
	printf("sim trace=%s total nodes=%zu contacts=%zu messages=%zu bundle_bytes=%llu sync_bytes=%llu "
	       "sync_rounds=%llu sent=%llu duplicates=%llu wasted_bytes=%llu refused_quota=%llu "
	       "refused_other=%llu refused_skipped=%llu cut=%llu "
	       "skipped=%llu lost_at_source=%llu evicted=%llu admitted=%llu wall_s=%.2f\n",
	       name, t->nnodes, t->ncontacts, t->nmsgs, (unsigned long long)r->bundle_bytes,
	       (unsigned long long)r->sync_bytes, (unsigned long long)r->sync_rounds,
	       (unsigned long long)r->sent, (unsigned long long)r->duplicates,
	       (unsigned long long)r->wasted_bytes, (unsigned long long)r->refused_quota,
	       (unsigned long long)r->refused_other, (unsigned long long)r->refused_skipped,
	       (unsigned long long)r->cut,
	       (unsigned long long)r->skipped, (unsigned long long)r->lost_at_source,
	       (unsigned long long)r->evicted, (unsigned long long)r->admitted_sigs, wall);
}

static int run_one(const char *path, const char *parent, const char *seed)
{
	char dir[4096], name[256];
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	struct sim_trace *t = NULL;
	struct sim_result r;
	struct timespec t0, t1;
	unsigned line = 0;
	size_t len = 0;
	char *text = slurp(path, &len);
	int ret;

	snprintf(name, sizeof(name), "%.*s", (int)(strcspn(base, ".")), base);
	if (!text) {
		fprintf(stderr, "mu-sim: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (seed) {
		/* the last seed line wins, and gen lines expand after the whole
		 * trace is read: appending one redraws every generated time */
		size_t n = strlen(seed) + 8;
		char *more = realloc(text, len + n + 1);

		if (!more) {
			free(text);
			return 1;
		}
		text = more;
		len += (size_t)snprintf(text + len, n + 1, "\nseed %s\n", seed);
	}
	ret = sim_trace_parse(&t, text, len, &line);
	free(text);
	if (ret) {
		fprintf(stderr, "mu-sim: %s:%u: %s\n", path, line, mu_strerror(ret));
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/mu-sim-XXXXXX", parent);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "mu-sim: %s: %s\n", dir, strerror(errno));
		sim_trace_free(t);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = sim_run(t, dir, &r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rmdir(dir);
	if (ret)
		fprintf(stderr, "mu-sim: %s: simulation failed: %s\n", path, mu_strerror(ret));
	else
		print(name, t, &r, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	sim_trace_free(t);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *parent = access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm", *seed = NULL;
	int fails = 0, ntraces = 0, i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			parent = argv[++i];
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = argv[++i];
		else
			usage();
	}
	for (; i < argc; i++, ntraces++)
		fails += run_one(argv[i], parent, seed);
	if (!ntraces) {
		fails += run_one("tools/traces/scene3h.trace", parent, seed);
		fails += run_one("tools/traces/scene3h_tight.trace", parent, seed);
	}
	return fails ? 1 : 0;
}
