/* muster get (get.h). Every chunk comes through the control socket as its
 * own request (`get ID --chunk N`): one reply record of at most 48 KiB, so
 * a large file never sits in the daemon's reply queue, and each request is
 * short enough not to stall the daemon's loop. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "err.h"
#include "get.h"

#define POLL_MS 500

struct att_status {
	uint64_t size, have_bytes, chunks, have, bad;
	bool complete;
	char name[129];
};

/* The number after "key": in a flat JSON object; -1 if absent. */
static int json_num(const char *s, const char *key, uint64_t *v)
{
	char pat[48];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(s, pat);
	if (!p)
		return -1;
	p += strlen(pat);
	if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
		*v = *p == 't';
		return 0;
	}
	*v = strtoull(p, NULL, 10);
	return 0;
}

/* Runs one daemon command and collects its reply body; returns the
 * daemon's status (the body then holds its explanation). *body: malloc'd,
 * NUL-terminated, owned by the caller. */
static int call(const char *sock, char **argv, int argc, unsigned flags, char **body, size_t *len)
{
	FILE *f = open_memstream(body, len);
	int ret;

	if (!f)
		return -errno;
	ret = ctl_call(sock, argc, argv, flags, f);
	if (fclose(f))
		ret = ret ? ret : -ENOMEM;
	return ret;
}

static int fetch_status(const char *sock, char *id, struct att_status *st)
{
	char *argv[] = { "get", id, "--status", NULL }, *body = NULL, *p;
	size_t len = 0;
	int ret = call(sock, argv, 3, CTL_F_JSON, &body, &len);

	memset(st, 0, sizeof(*st));
	if (ret) {
		fprintf(stderr, "muster get: %s", body && *body ? body : mu_strerror(ret));
		if (!body || !*body)
			fputc('\n', stderr);
	} else if (json_num(body, "size", &st->size) || json_num(body, "chunks", &st->chunks) ||
		   json_num(body, "have", &st->have) || json_num(body, "have_bytes", &st->have_bytes) ||
		   json_num(body, "bad", &st->bad)) {
		fprintf(stderr, "muster get: the daemon's answer was not understood\n");
		ret = MU_E_FORMAT;
	} else {
		uint64_t c = 0;

		json_num(body, "complete", &c);
		st->complete = c;
		/* Names are sanitised by the sender and checked by the
		 * daemon ([A-Za-z0-9._+-]), so no JSON escapes occur. */
		p = strstr(body, "\"name\":\"");
		if (p && sscanf(p + 8, "%128[A-Za-z0-9._+-]", st->name) != 1)
			st->name[0] = 0;
	}
	free(body);
	return ret;
}

static void progress(const struct att_status *st, bool done)
{
	int width = 30, fill = st->chunks ? (int)(st->have * (uint64_t)width / st->chunks) : 0;

	fprintf(stderr, "\r%-24.24s [%.*s%*s] %" PRIu64 "/%" PRIu64 " chunks %6.1f/%.1f MiB%s", st->name, fill,
		"##############################", width - fill, "", st->have, st->chunks,
		(double)st->have_bytes / 1048576, (double)st->size / 1048576, done ? "\n" : "");
	if (st->bad)
		fprintf(stderr, "%s%" PRIu64 " chunk(s) held only as copies that do not match the manifest (refused)%s",
			done ? "" : "\n", st->bad, done ? "\n" : "");
	fflush(stderr);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int fetch_chunks(const char *sock, char *id, const struct att_status *st, int fd)
{
	uint64_t total = 0;
	char num[24];
	char *argv[] = { "get", id, "--chunk", num, NULL };

	for (uint64_t i = 0; i < st->chunks; i++) {
		char *body = NULL;
		size_t len = 0;
		int ret;

		snprintf(num, sizeof(num), "%" PRIu64, i);
		ret = call(sock, argv, 4, 0, &body, &len);
		if (ret)
			fprintf(stderr, "muster get: %s", body && *body ? body : mu_strerror(ret));
		else
			ret = write_all(fd, body, len);
		free(body);
		if (ret)
			return ret;
		total += len;
	}
	if (total != st->size) {
		fprintf(stderr, "muster get: %" PRIu64 " bytes received, the manifest says %" PRIu64 "\n", total,
			st->size);
		return MU_E_MISMATCH;
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: muster get ID [--out FILE|-] [--wait] [--timeout SECONDS] [--status [--json]]\n");
	return 2;
}

int cli_get(int argc, char **argv, const char *sock_default)
{
	const char *sock = getenv("MUSTER_SOCKET"), *out = NULL;
	bool status_only = false, wait = false, json = false, draw = isatty(STDERR_FILENO);
	unsigned long timeout_s = 0;
	char *id = NULL, *part = NULL, target[160];
	struct att_status st;
	struct timespec t0, now;
	int fd = -1, ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--status"))
			status_only = true;
		else if (!strcmp(argv[i], "--wait"))
			wait = true;
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock = argv[++i];
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			timeout_s = strtoul(argv[++i], NULL, 10);
		else if (argv[i][0] != '-' && !id)
			id = argv[i];
		else
			return usage();
	}
	if (!id)
		return usage();
	if (!sock || !*sock)
		sock = sock_default;
	if (status_only) {
		char *fwd[] = { "get", id, "--status", NULL };
		unsigned flags = (json ? CTL_F_JSON : 0) | (isatty(STDOUT_FILENO) ? CTL_F_TTY : 0);

		return ctl_call(sock, 3, fwd, flags, stdout) ? 1 : 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (fetch_status(sock, id, &st))
			return 1;
		if (draw && wait)
			progress(&st, st.complete);
		if (st.complete)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!wait || (timeout_s && (uint64_t)(now.tv_sec - t0.tv_sec) >= timeout_s)) {
			if (!draw || !wait)
				fprintf(stderr, "muster get: incomplete: %" PRIu64 "/%" PRIu64 " chunks here%s\n", st.have,
					st.chunks,
					st.bad ? "; some held only as copies that do not match the manifest (refused)" : "");
			else
				fputc('\n', stderr);
			return 3;
		}
		nanosleep(&(struct timespec){ .tv_nsec = POLL_MS * 1000000L }, NULL);
	}
	/* Where to: --out, else stdout when it is not a terminal, else the
	 * attachment's own name in the current directory (never overwritten). */
	if (out && !strcmp(out, "-"))
		out = NULL;
	else if (!out && isatty(STDOUT_FILENO))
		out = st.name[0] && st.name[0] != '.' ? st.name : "attachment";
	if (!out) {
		ret = fetch_chunks(sock, id, &st, STDOUT_FILENO);
		return ret ? 1 : 0;
	}
	snprintf(target, sizeof(target), "%s", out);
	if (asprintf(&part, "%s.part", out) < 0)
		return 1;
	fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "muster get: %s: %s\n", part, strerror(errno));
		free(part);
		return 1;
	}
	ret = fetch_chunks(sock, id, &st, fd);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && !access(target, F_OK) && out == st.name) {
		fprintf(stderr, "muster get: %s exists; use --out FILE\n", target);
		ret = -EEXIST;
	}
	if (!ret && rename(part, target))
		ret = -errno;
	if (ret) {
		unlink(part); /* never leave a partial file behind */
		free(part);
		return 1;
	}
	free(part);
	if (draw)
		fprintf(stderr, "muster get: wrote %s (%" PRIu64 " bytes)\n", target, st.size);
	return 0;
}
