#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "loop.h"
#include "wire.h"

#define FRAME_CAP (4 + CTL_REQ_MAX + 64)

static uint8_t *frame_buf(void)
{
	uint8_t *p = malloc(FRAME_CAP);

	CHECK(p);
	return p;
}

/* ---- codec ---- */

static void test_request_roundtrip(void)
{
	char *argv[] = {"send", "--to", "role:triage", "Two P1 casualties, ETA 10 min = urgent", ""};
	struct ctl_req *req = malloc(sizeof(*req));
	uint8_t *buf = frame_buf();
	struct wr wr = wr_make(buf, FRAME_CAP);

	CHECK_OK(ctl_request_encode(&wr, CTL_F_JSON | CTL_F_TTY, 5, argv));
	CHECK_OK(ctl_request_decode(req, buf, wr.len));
	CHECK(req->version == CTL_VERSION && req->flags == (CTL_F_JSON | CTL_F_TTY));
	CHECK(req->argc == 5 && req->argv[5] == NULL);
	for (int i = 0; i < 5; i++)
		CHECK(!strcmp(req->argv[i], argv[i]));
	CHECK(req->uid == (uid_t)-1 && req->pid == -1);

	/* Layout, written out by hand. */
	wr = wr_make(buf, FRAME_CAP);
	CHECK_OK(ctl_request_encode(&wr, 0, 1, (char *[]){"ab"}));
	CHECK(wr.len == 4 + 3 + 2 + 2);
	CHECK(!memcmp(buf,
		      "\0\0\0\x07\x01\x00\x01\x00\x02"
		      "ab",
		      11));

	/* No arguments at all is a valid request. */
	wr = wr_make(buf, FRAME_CAP);
	CHECK_OK(ctl_request_encode(&wr, 0, 0, NULL));
	CHECK_OK(ctl_request_decode(req, buf, wr.len));
	CHECK(req->argc == 0 && req->argv[0] == NULL);
	free(buf);
	free(req);
}

static void test_request_truncated(void)
{
	char *argv[] = {"status", "x", "peers"};
	struct ctl_req *req = malloc(sizeof(*req));
	uint8_t *buf = frame_buf(), *cut = frame_buf();
	struct wr wr = wr_make(buf, FRAME_CAP);
	size_t n;

	CHECK_OK(ctl_request_encode(&wr, 0, 3, argv));
	n = wr.len;
	/* Every prefix of the frame. */
	for (size_t k = 0; k < n; k++)
		CHECK_RET(ctl_request_decode(req, buf, k), MU_E_FORMAT);
	/* Every prefix of the body under a consistent length. */
	for (size_t k = 0; k < n - 4; k++) {
		put_be64(cut, 0);
		cut[0] = (uint8_t)(k >> 24);
		cut[1] = (uint8_t)(k >> 16);
		cut[2] = (uint8_t)(k >> 8);
		cut[3] = (uint8_t)k;
		memcpy(cut + 4, buf + 4, k);
		CHECK_RET(ctl_request_decode(req, cut, 4 + k), MU_E_FORMAT);
		CHECK(req->argc == 0);
	}
	/* Trailing bytes, inside and outside the frame. */
	buf[n] = 0;
	CHECK_RET(ctl_request_decode(req, buf, n + 1), MU_E_FORMAT);
	memcpy(cut, buf, n + 1);
	cut[3]++;
	CHECK_RET(ctl_request_decode(req, cut, n + 1), MU_E_FORMAT);
	free(buf);
	free(cut);
	free(req);
}

static void test_request_caps(void)
{
	struct ctl_req *req = malloc(sizeof(*req));
	uint8_t *buf = frame_buf();
	char *big = malloc(CTL_ARG_MAX + 2);
	char *argv[CTL_ARGS_MAX + 1];
	struct wr wr;

	memset(big, 'a', CTL_ARG_MAX + 1);
	big[CTL_ARG_MAX + 1] = 0;
	for (int i = 0; i <= CTL_ARGS_MAX; i++)
		argv[i] = "x";

	wr = wr_make(buf, FRAME_CAP);
	CHECK_OK(ctl_request_encode(&wr, 0, CTL_ARGS_MAX, argv));
	CHECK_OK(ctl_request_decode(req, buf, wr.len));
	CHECK(req->argc == CTL_ARGS_MAX);
	wr = wr_make(buf, FRAME_CAP);
	CHECK_RET(ctl_request_encode(&wr, 0, CTL_ARGS_MAX + 1, argv), MU_E_TOOBIG);
	CHECK(wr.len == 0 && wr_finish(&wr) == MU_E_TOOBIG);

	/* One argument over CTL_ARG_MAX; exactly CTL_ARG_MAX is fine. */
	wr = wr_make(buf, FRAME_CAP);
	CHECK_RET(ctl_request_encode(&wr, 0, 1, (char *[]){big}), MU_E_TOOBIG);
	big[CTL_ARG_MAX] = 0;
	wr = wr_make(buf, FRAME_CAP);
	CHECK_OK(ctl_request_encode(&wr, 0, 1, (char *[]){big}));
	CHECK_OK(ctl_request_decode(req, buf, wr.len));
	CHECK(strlen(req->argv[0]) == CTL_ARG_MAX);
	/* Hand-made: the argument length says CTL_ARG_MAX + 1. */
	buf[7] = (uint8_t)((CTL_ARG_MAX + 1) >> 8);
	buf[8] = (uint8_t)(CTL_ARG_MAX + 1);
	CHECK_RET(ctl_request_decode(req, buf, wr.len), MU_E_TOOBIG);

	/* The body as a whole: five maximal arguments exceed CTL_REQ_MAX. */
	wr = wr_make(buf, FRAME_CAP);
	CHECK_RET(ctl_request_encode(&wr, 0, 5, (char *[]){big, big, big, big, big}), MU_E_TOOBIG);
	/* A writer too small for the frame. */
	wr = wr_make(buf, 10);
	CHECK_RET(ctl_request_encode(&wr, 0, 1, (char *[]){"abcdef"}), MU_E_TOOBIG);
	/* Unknown flags. */
	wr = wr_make(buf, FRAME_CAP);
	CHECK_RET(ctl_request_encode(&wr, 0x80, 0, NULL), MU_E_FORMAT);

	/* Hand-made frames. */
	static const uint8_t argc_over[] = {0, 0, 0, 3, 1, 0, CTL_ARGS_MAX + 1};
	static const uint8_t version2[] = {0, 0, 0, 3, 2, 0, 0};
	static const uint8_t flags_bad[] = {0, 0, 0, 3, 1, 4, 0};
	static const uint8_t nul_arg[] = {0, 0, 0, 8, 1, 0, 1, 0, 3, 'a', 0, 'b'};
	static const uint8_t len_over[] = {0, 1, 0, 1, 1, 0, 0};
	CHECK_RET(ctl_request_decode(req, argc_over, sizeof(argc_over)), MU_E_TOOBIG);
	CHECK_RET(ctl_request_decode(req, version2, sizeof(version2)), MU_E_VERSION);
	CHECK_RET(ctl_request_decode(req, flags_bad, sizeof(flags_bad)), MU_E_FORMAT);
	CHECK_RET(ctl_request_decode(req, nul_arg, sizeof(nul_arg)), MU_E_FORMAT);
	CHECK_RET(ctl_request_decode(req, len_over, sizeof(len_over)), MU_E_TOOBIG);
	free(big);
	free(buf);
	free(req);
}

static void test_response_codec(void)
{
	uint8_t *buf = malloc(4 + CTL_RECORD_MAX + 16);
	uint8_t *body = calloc(1, CTL_BODY_MAX + 1);
	const uint8_t *b;
	struct wr wr;
	size_t blen, n;
	int status, more;

	wr = wr_make(buf, 4 + CTL_RECORD_MAX + 16);
	CHECK_OK(ctl_response_encode(&wr, MU_E_NOTFOUND, 0, "no such peer\n", 13));
	n = wr.len;
	CHECK(n == 4 + 5 + 13);
	CHECK_OK(ctl_response_decode(buf, n, &status, &more, &b, &blen));
	CHECK(status == MU_E_NOTFOUND && more == 0 && blen == 13 && !memcmp(b, "no such peer\n", 13));
	for (size_t k = 0; k < n; k++)
		CHECK_RET(ctl_response_decode(buf, k, &status, &more, &b, &blen), MU_E_FORMAT);
	/* Inner truncation: a record shorter than status + more. */
	for (uint8_t k = 0; k < 5; k++) {
		uint8_t rec[9] = {0, 0, 0, k, 0, 0, 0, 0, 0};

		CHECK_RET(ctl_response_decode(rec, 4u + k, &status, &more, &b, &blen), MU_E_FORMAT);
	}
	buf[n] = 0;
	CHECK_RET(ctl_response_decode(buf, n + 1, &status, &more, &b, &blen), MU_E_FORMAT);

	/* Largest body, and one byte more. */
	wr = wr_make(buf, 4 + CTL_RECORD_MAX + 16);
	CHECK_OK(ctl_response_encode(&wr, 0, 1, body, CTL_BODY_MAX));
	CHECK_OK(ctl_response_decode(buf, wr.len, &status, &more, &b, &blen));
	CHECK(status == 0 && more == 1 && blen == CTL_BODY_MAX);
	wr = wr_make(buf, 4 + CTL_RECORD_MAX + 16);
	CHECK_RET(ctl_response_encode(&wr, 0, 0, body, CTL_BODY_MAX + 1), MU_E_TOOBIG);
	buf[0] = 0;
	buf[1] = (uint8_t)((CTL_RECORD_MAX + 1) >> 16);
	buf[2] = (uint8_t)((CTL_RECORD_MAX + 1) >> 8);
	buf[3] = (uint8_t)(CTL_RECORD_MAX + 1);
	CHECK_RET(ctl_response_decode(buf, 4 + CTL_RECORD_MAX + 1, &status, &more, &b, &blen), MU_E_TOOBIG);

	/* Field rules. */
	wr = wr_make(buf, 64);
	CHECK_RET(ctl_response_encode(&wr, 1, 0, NULL, 0), MU_E_FORMAT);
	wr = wr_make(buf, 64);
	CHECK_RET(ctl_response_encode(&wr, -5, 1, NULL, 0), MU_E_FORMAT);
	static const uint8_t more2[] = {0, 0, 0, 5, 0, 0, 0, 0, 2};
	static const uint8_t positive[] = {0, 0, 0, 5, 0, 0, 0, 1, 0};
	static const uint8_t more_err[] = {0, 0, 0, 5, 0xff, 0xff, 0xff, 0xfe, 1};
	static const uint8_t neg_ok[] = {0, 0, 0, 5, 0xff, 0xff, 0xff, 0xfe, 0};
	CHECK_RET(ctl_response_decode(more2, 9, &status, &more, &b, &blen), MU_E_FORMAT);
	CHECK_RET(ctl_response_decode(positive, 9, &status, &more, &b, &blen), MU_E_FORMAT);
	CHECK_RET(ctl_response_decode(more_err, 9, &status, &more, &b, &blen), MU_E_FORMAT);
	CHECK_OK(ctl_response_decode(neg_ok, 9, &status, &more, &b, &blen));
	CHECK(status == -2 && blen == 0);
	free(body);
	free(buf);
}

/* ---- server ---- */

struct srv {
	struct loop *l;
	struct ctl_server *s;
	char *dir;
	char *path;
	struct loop_timer *quit_timer;
	struct loop_timer *later;
	struct ctl_reply *deferred;
	int handled;
	int streams, stream_freed;
	uid_t last_uid;
};

static void quit_timeout(void *user)
{
	loop_quit(user, -ETIMEDOUT);
}

/* Runs the loop until something quits it or ms pass. */
static int spin(struct srv *s, uint64_t ms)
{
	int ret;

	loop_timer_arm(s->quit_timer, ms);
	ret = loop_run(s->l);
	loop_timer_disarm(s->quit_timer);
	return ret;
}

static void finish_later(void *user)
{
	struct srv *s = user;

	CHECK(s->deferred);
	if (ctl_reply_alive(s->deferred))
		ctl_reply_printf(s->deferred, "finished later\n");
	ctl_reply_finish(s->deferred, MU_E_NOTFOUND);
	s->deferred = NULL;
}

/* ---- streaming: a generator of STREAM_TOTAL pattern bytes ---- */

#define STREAM_TOTAL (50ull << 20)
#define STREAM_PIECE 40000 /* not a divisor of anything the server uses */

struct gen {
	struct srv *s;
	uint64_t off, total;
	int steps;
};

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i % 251);
}

static int gen_step(void *state, struct ctl_reply *r)
{
	static uint8_t buf[STREAM_PIECE];
	struct gen *g = state;
	size_t n = g->total - g->off < STREAM_PIECE ? (size_t)(g->total - g->off) : STREAM_PIECE;

	for (size_t i = 0; i < n; i++)
		buf[i] = pattern(g->off + i);
	ctl_reply_write(r, buf, n);
	g->off += n;
	g->steps++;
	return g->off < g->total ? CTL_STREAM_MORE : 0;
}

static void gen_free(void *state)
{
	struct gen *g = state;

	g->s->stream_freed++;
	free(g);
}

static int stream_start(struct srv *s, const struct ctl_req *req, struct ctl_reply *r)
{
	struct gen *g = calloc(1, sizeof(*g));

	CHECK(g);
	g->s = s;
	g->total = req->argc > 1 ? strtoull(req->argv[1], NULL, 10) : STREAM_TOTAL;
	s->streams++;
	ctl_reply_stream(r, gen_step, gen_free, g);
	return CTL_DEFER;
}

static int handler(void *user, const struct ctl_req *req, struct ctl_reply *r)
{
	struct srv *s = user;
	const char *cmd = req->argc ? req->argv[0] : "";

	s->handled++;
	s->last_uid = req->uid;
	if (!strcmp(cmd, "echo")) {
		for (int i = 1; i < req->argc; i++)
			ctl_reply_printf(r, "%s%s", i > 1 ? " " : "", req->argv[i]);
		ctl_reply_printf(r, "\nflags=%u\n", req->flags);
		return 0;
	}
	if (!strcmp(cmd, "progress")) {
		ctl_reply_printf(r, "one\n");
		ctl_reply_flush(r);
		ctl_reply_printf(r, "two\n");
		ctl_reply_flush(r);
		ctl_reply_flush(r); /* nothing new: no record */
		ctl_reply_write(r, "three\n", 6);
		return 0;
	}
	if (!strcmp(cmd, "big")) {
		char *b = malloc(CTL_BODY_MAX + 100);

		memset(b, 'b', CTL_BODY_MAX + 100);
		ctl_reply_write(r, b, CTL_BODY_MAX + 100);
		ctl_reply_printf(r, "%s", "!");
		free(b);
		return 0;
	}
	if (!strcmp(cmd, "stream"))
		return stream_start(s, req, r);
	if (!strcmp(cmd, "defer")) {
		ctl_reply_printf(r, "working\n");
		ctl_reply_flush(r);
		s->deferred = r;
		loop_timer_arm(s->later, 30);
		return CTL_DEFER;
	}
	ctl_reply_printf(r, "unknown command '%s'\n", cmd);
	return -EINVAL;
}

static void srv_open(struct srv *s, const char *group)
{
	memset(s, 0, sizeof(*s));
	s->dir = test_tmpdir("ctl");
	CHECK(asprintf(&s->path, "%s/muster.sock", s->dir) > 0);
	CHECK_OK(loop_new(&s->l));
	CHECK_OK(loop_timer_new(s->l, &s->quit_timer, quit_timeout, s->l));
	CHECK_OK(loop_timer_new(s->l, &s->later, finish_later, s));
	CHECK_OK(ctl_server_open(&s->s, s->l, s->path, group, handler, s));
}

static void srv_close(struct srv *s)
{
	struct stat st;

	ctl_server_close(s->s);
	CHECK(stat(s->path, &st) < 0 && errno == ENOENT);
	loop_timer_free(s->quit_timer);
	loop_timer_free(s->later);
	loop_free(s->l);
	rmdir(s->dir);
	free(s->path);
	free(s->dir);
}

/* A client driven from the test's own loop: non-blocking, collects records
 * and quits the loop at the final one or at EOF. */
struct raw {
	struct loop *l;
	int fd;
	uint8_t *in;
	size_t len;
	int eof;
	int records;
	int status;
	char body[4 * CTL_BODY_MAX];
	size_t body_len;
	int final;
};

static void raw_parse(struct raw *c)
{
	for (;;) {
		const uint8_t *b;
		size_t blen, rec;
		int status, more;

		if (c->len < 4)
			return;
		rec =
		    4 + ((size_t)c->in[0] << 24 | (size_t)c->in[1] << 16 | (size_t)c->in[2] << 8 | c->in[3]);
		if (c->len < rec)
			return;
		CHECK_OK(ctl_response_decode(c->in, rec, &status, &more, &b, &blen));
		CHECK(!c->final);
		CHECK(c->body_len + blen <= sizeof(c->body));
		memcpy(c->body + c->body_len, b, blen);
		c->body_len += blen;
		c->records++;
		c->status = status;
		c->final = !more;
		memmove(c->in, c->in + rec, c->len - rec);
		c->len -= rec;
	}
}

static void raw_ready(void *user, int fd, uint32_t events)
{
	struct raw *c = user;
	ssize_t n;

	(void)events;
	n = read(fd, c->in + c->len, 4 + CTL_RECORD_MAX - c->len);
	if (n <= 0) {
		c->eof = 1;
		loop_del_fd(c->l, fd);
		loop_quit(c->l, 0);
		return;
	}
	c->len += (size_t)n;
	raw_parse(c);
}

static struct raw *raw_connect(struct srv *s)
{
	struct raw *c = calloc(1, sizeof(*c));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	CHECK(c);
	c->in = malloc(4 + CTL_RECORD_MAX);
	c->l = s->l;
	strcpy(sa.sun_path, s->path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(c->fd >= 0);
	CHECK(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return c;
}

static void raw_send(struct raw *c, const void *p, size_t n)
{
	CHECK(write(c->fd, p, n) == (ssize_t)n);
}

static void raw_request(struct raw *c, unsigned flags, int argc, char **argv)
{
	uint8_t *buf = frame_buf();
	struct wr wr = wr_make(buf, FRAME_CAP);

	CHECK_OK(ctl_request_encode(&wr, flags, argc, argv));
	raw_send(c, buf, wr.len);
	free(buf);
}

/* Reads until EOF (the server closes after the final record). */
static void raw_wait(struct srv *s, struct raw *c)
{
	CHECK_OK(loop_add_fd(s->l, c->fd, EPOLLIN, raw_ready, c));
	CHECK(spin(s, 3000) == 0);
	CHECK(c->eof);
}

static void raw_free(struct raw *c)
{
	if (!c->eof)
		loop_del_fd(c->l, c->fd);
	close(c->fd);
	free(c->in);
	free(c);
}

static void test_server_request(void)
{
	struct srv s;
	struct raw *c;
	struct stat st;

	srv_open(&s, "root");
	CHECK(stat(s.path, &st) == 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK((st.st_mode & 07777) == 0660);
	CHECK(st.st_gid == 0);

	c = raw_connect(&s);
	raw_request(c, CTL_F_JSON, 3, (char *[]){"echo", "hello", "world"});
	raw_wait(&s, c);
	CHECK(c->final && c->status == 0 && c->records == 1);
	CHECK(c->body_len == strlen("hello world\nflags=1\n"));
	CHECK(!memcmp(c->body, "hello world\nflags=1\n", c->body_len));
	CHECK(s.last_uid == getuid());
	raw_free(c);

	c = raw_connect(&s);
	raw_request(c, 0, 1, (char *[]){"nope"});
	raw_wait(&s, c);
	CHECK(c->final && c->status == -EINVAL);
	raw_free(c);
	srv_close(&s);
}

static void test_server_partial_reads(void)
{
	struct srv s;
	struct raw *c;
	uint8_t *buf = frame_buf();
	struct wr wr = wr_make(buf, FRAME_CAP);

	srv_open(&s, NULL);
	c = raw_connect(&s);
	CHECK_OK(ctl_request_encode(&wr, 0, 2, (char *[]){"echo", "drip"}));
	/* One byte per loop turn. */
	for (size_t i = 0; i < wr.len; i++) {
		raw_send(c, buf + i, 1);
		CHECK(spin(&s, 2) == -ETIMEDOUT);
		CHECK(s.handled == (i + 1 == wr.len));
	}
	raw_wait(&s, c);
	CHECK(c->status == 0 && c->body_len == strlen("drip\nflags=0\n"));
	raw_free(c);
	free(buf);
	srv_close(&s);
}

static void test_server_multi_record(void)
{
	struct srv s;
	struct raw *c;

	srv_open(&s, NULL);
	c = raw_connect(&s);
	raw_request(c, 0, 1, (char *[]){"progress"});
	raw_wait(&s, c);
	CHECK(c->records == 3 && c->status == 0);
	CHECK(c->body_len == 14 && !memcmp(c->body, "one\ntwo\nthree\n", 14));
	raw_free(c);

	/* Output over CTL_BODY_MAX is split into records automatically. */
	c = raw_connect(&s);
	raw_request(c, 0, 1, (char *[]){"big"});
	raw_wait(&s, c);
	CHECK(c->records == 2 && c->status == 0);
	CHECK(c->body_len == CTL_BODY_MAX + 101 && c->body[c->body_len - 1] == '!');
	raw_free(c);
	srv_close(&s);
}

static void test_server_deferred(void)
{
	struct srv s;
	struct raw *c;

	srv_open(&s, NULL);
	c = raw_connect(&s);
	raw_request(c, 0, 1, (char *[]){"defer"});
	raw_wait(&s, c);
	CHECK(c->records == 2 && c->status == MU_E_NOTFOUND);
	CHECK(c->body_len == 23 && !memcmp(c->body, "working\nfinished later\n", 23));
	raw_free(c);

	/* The client goes away while the reply is deferred: finishing it
	 * later is still safe (ASan checks). */
	c = raw_connect(&s);
	raw_request(c, 0, 1, (char *[]){"defer"});
	CHECK(spin(&s, 10) == -ETIMEDOUT);
	CHECK(s.deferred && ctl_reply_alive(s.deferred));
	raw_free(c);
	CHECK(spin(&s, 10) == -ETIMEDOUT);
	CHECK(s.deferred && !ctl_reply_alive(s.deferred));
	CHECK(spin(&s, 100) == -ETIMEDOUT);
	CHECK(!s.deferred);

	/* Closing the server with a reply still deferred detaches it. */
	c = raw_connect(&s);
	raw_request(c, 0, 1, (char *[]){"defer"});
	CHECK(spin(&s, 10) == -ETIMEDOUT);
	CHECK(s.deferred);
	ctl_server_close(s.s);
	CHECK(!ctl_reply_alive(s.deferred));
	finish_later(&s);
	s.s = NULL;
	raw_free(c);
	srv_close(&s);
}

/* A reader that takes at most 4 KiB per readiness event and checks the
 * pattern as it goes, keeping nothing. */
struct slow {
	struct loop *l;
	int fd;
	uint8_t hdr[9];
	size_t hdr_len;
	size_t body_left; /* of the current record */
	uint64_t got;
	int final, status, eof, bad;
	uint64_t stop_after; /* close after this many bytes; 0: never */
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void slow_ready(void *user, int fd, uint32_t events)
{
	struct slow *c = user;
	uint8_t buf[4096], *p = buf;
	ssize_t n;

	(void)events;
	n = read(fd, buf, sizeof(buf));
	if (n <= 0) {
		c->eof = 1;
		loop_del_fd(c->l, fd);
		loop_quit(c->l, 0);
		return;
	}
	while (n > 0) {
		if (c->hdr_len < 9) {
			size_t k = 9 - c->hdr_len < (size_t)n ? 9 - c->hdr_len : (size_t)n;

			memcpy(c->hdr + c->hdr_len, p, k);
			c->hdr_len += k;
			p += k;
			n -= (ssize_t)k;
			if (c->hdr_len == 9) {
				c->body_left = be32(c->hdr) - 5;
				c->status = (int32_t)be32(c->hdr + 4);
				c->final = !c->hdr[8];
				if (c->body_left == 0)
					c->hdr_len = 0;
			}
			continue;
		}
		size_t k = c->body_left < (size_t)n ? c->body_left : (size_t)n;

		for (size_t i = 0; i < k; i++)
			c->bad += p[i] != pattern(c->got + i);
		c->got += k;
		c->body_left -= k;
		p += k;
		n -= (ssize_t)k;
		if (!c->body_left)
			c->hdr_len = 0;
	}
	if (c->stop_after && c->got >= c->stop_after) {
		loop_del_fd(c->l, fd);
		close(fd);
		c->fd = -1;
		loop_quit(c->l, 0);
	}
}

static long max_rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void test_server_stream(void)
{
	struct srv s;
	struct slow c = {0};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int rcv = 4096;
	long rss0;

	srv_open(&s, NULL);
	/* 50 MiB through a small socket buffer, 4 KiB per read: the reply
	 * completes, byte-exact, and the daemon never holds much of it. */
	rss0 = max_rss_kb();
	c.l = s.l;
	strcpy(sa.sun_path, s.path);
	c.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(c.fd >= 0);
	CHECK(setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) == 0);
	CHECK(connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	{
		struct raw tmp = {.fd = c.fd};

		raw_request(&tmp, 0, 1, (char *[]){"stream"});
	}
	CHECK_OK(loop_add_fd(s.l, c.fd, EPOLLIN, slow_ready, &c));
	CHECK(spin(&s, 60000) == 0);
	CHECK(c.eof && c.final && c.status == 0);
	CHECK(c.got == STREAM_TOTAL && c.bad == 0);
	CHECK(s.streams == 1 && s.stream_freed == 1);
	/* Buffered whole it would be 50 MiB; the bound is CTL_OUT_MAX plus
	 * slack for the allocator and the test itself. */
	CHECK(max_rss_kb() - rss0 < 16 * 1024);
	close(c.fd);

	/* The client closes mid-stream: the state is freed (ASan checks the
	 * rest), and nothing else of the server is disturbed. */
	memset(&c, 0, sizeof(c));
	c.l = s.l;
	c.stop_after = 3u << 20;
	c.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(c.fd >= 0);
	CHECK(connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	{
		struct raw tmp = {.fd = c.fd};

		raw_request(&tmp, 0, 1, (char *[]){"stream"});
	}
	CHECK_OK(loop_add_fd(s.l, c.fd, EPOLLIN, slow_ready, &c));
	CHECK(spin(&s, 20000) == 0);
	CHECK(c.fd == -1 && c.got >= 3u << 20 && c.got < STREAM_TOTAL && c.bad == 0);
	CHECK(spin(&s, 50) == -ETIMEDOUT);
	CHECK(s.streams == 2 && s.stream_freed == 2);

	/* A stream still running when the server closes is freed too. */
	memset(&c, 0, sizeof(c));
	c.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(c.fd >= 0);
	CHECK(connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	{
		struct raw tmp = {.fd = c.fd};

		raw_request(&tmp, 0, 1, (char *[]){"stream"});
	}
	CHECK(spin(&s, 20) == -ETIMEDOUT);
	CHECK(s.streams == 3 && s.stream_freed == 2);
	ctl_server_close(s.s);
	s.s = NULL;
	CHECK(s.stream_freed == 3);
	close(c.fd);
	CHECK_OK(ctl_server_open(&s.s, s.l, s.path, NULL, handler, &s));

	srv_close(&s);
}

static void test_server_malformed(void)
{
	static const uint8_t version2[] = {0, 0, 0, 3, 2, 0, 0};
	static const uint8_t trailing[] = {0, 0, 0, 4, 1, 0, 0, 9};
	static const uint8_t huge[] = {0, 1, 0, 1};
	struct srv s;
	struct raw *c;

	srv_open(&s, NULL);
	c = raw_connect(&s);
	raw_send(c, version2, sizeof(version2));
	raw_wait(&s, c);
	CHECK(c->final && c->records == 1 && c->status == MU_E_VERSION);
	raw_free(c);

	c = raw_connect(&s);
	raw_send(c, trailing, sizeof(trailing));
	raw_wait(&s, c);
	CHECK(c->final && c->status == MU_E_FORMAT);
	raw_free(c);

	/* Over the cap: rejected from the length alone. */
	c = raw_connect(&s);
	raw_send(c, huge, sizeof(huge));
	raw_wait(&s, c);
	CHECK(c->final && c->status == MU_E_TOOBIG);
	raw_free(c);

	/* Hang up half way: no reply, no handler call. */
	c = raw_connect(&s);
	raw_send(c, version2, 3);
	CHECK(spin(&s, 5) == -ETIMEDOUT);
	raw_free(c);
	CHECK(spin(&s, 5) == -ETIMEDOUT);
	CHECK(s.handled == 0);
	srv_close(&s);
}

static void test_server_busy(void)
{
	struct raw *c[CTL_CLIENTS_MAX + 1];
	struct srv s;

	srv_open(&s, NULL);
	for (int i = 0; i < CTL_CLIENTS_MAX; i++) {
		c[i] = raw_connect(&s);
		CHECK(spin(&s, 2) == -ETIMEDOUT);
	}
	c[CTL_CLIENTS_MAX] = raw_connect(&s);
	raw_wait(&s, c[CTL_CLIENTS_MAX]);
	CHECK(c[CTL_CLIENTS_MAX]->status == -EBUSY);
	/* The others still work. */
	raw_request(c[0], 0, 2, (char *[]){"echo", "x"});
	raw_wait(&s, c[0]);
	CHECK(c[0]->status == 0);
	for (int i = 0; i <= CTL_CLIENTS_MAX; i++)
		raw_free(c[i]);
	srv_close(&s);
}

static void test_server_socket_file(void)
{
	struct ctl_server *other = NULL;
	struct srv s;
	char *path = NULL;
	struct stat st;
	int fd;

	/* A group that does not exist: logged, socket still 0660. */
	srv_open(&s, "no-such-group-muster");
	CHECK(stat(s.path, &st) == 0 && (st.st_mode & 07777) == 0660);
	/* A live daemon on the path is not displaced. */
	CHECK_RET(ctl_server_open(&other, s.l, s.path, NULL, handler, &s), -EADDRINUSE);
	CHECK(stat(s.path, &st) == 0);
	ctl_server_close(s.s);

	/* A stale socket (nobody listening) is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		strcpy(sa.sun_path, s.path);
		CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	}
	close(fd);
	CHECK_OK(ctl_server_open(&s.s, s.l, s.path, NULL, handler, &s));
	ctl_server_close(s.s);

	/* Never a regular file. */
	fd = open(s.path, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK_RET(ctl_server_open(&other, s.l, s.path, NULL, handler, &s), -EEXIST);
	unlink(s.path);

	CHECK(asprintf(&path, "%s/%0200d", s.dir, 0) > 0);
	CHECK_RET(ctl_server_open(&other, s.l, path, NULL, handler, &s), -ENAMETOOLONG);
	free(path);
	CHECK_OK(ctl_server_open(&s.s, s.l, s.path, NULL, handler, &s));
	srv_close(&s);
}

/* ---- the blocking client, in a child process ---- */

static void on_child(void *user, int signo)
{
	(void)signo;
	loop_quit(user, 0);
}

struct call_result {
	int status;
	char out[256];
	char err[256];
};

/* Forks a child that runs ctl_call against path while the parent runs the
 * server's loop; returns what the child saw. */
static void call_in_child(struct srv *s, const char *path, int argc, char **argv, struct call_result *res)
{
	char outp[] = "/tmp/ctl-out-XXXXXX", errp[] = "/tmp/ctl-err-XXXXXX";
	int ofd = mkstemp(outp), efd = mkstemp(errp), pfd[2], wst;
	pid_t pid;
	FILE *f;

	CHECK(ofd >= 0 && efd >= 0 && pipe(pfd) == 0);
	CHECK_OK(loop_on_signal(s->l, SIGCHLD, on_child, s->l));
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		FILE *out = fdopen(ofd, "w");
		int st;

		dup2(efd, 2);
		st = ctl_call(path, argc, argv, 0, out);
		fclose(out);
		CHECK(write(pfd[1], &st, sizeof(st)) == sizeof(st));
		_exit(0);
	}
	close(pfd[1]);
	CHECK(spin(s, 5000) == 0);
	CHECK(waitpid(pid, &wst, 0) == pid && WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
	CHECK(read(pfd[0], &res->status, sizeof(res->status)) == sizeof(res->status));
	close(pfd[0]);
	memset(res->out, 0, sizeof(res->out));
	memset(res->err, 0, sizeof(res->err));
	f = fopen(outp, "r");
	CHECK(f);
	CHECK(fread(res->out, 1, sizeof(res->out) - 1, f) < sizeof(res->out) - 1);
	fclose(f);
	f = fopen(errp, "r");
	CHECK(f);
	CHECK(fread(res->err, 1, sizeof(res->err) - 1, f) < sizeof(res->err) - 1);
	fclose(f);
	close(ofd);
	close(efd);
	unlink(outp);
	unlink(errp);
}

static void test_call(void)
{
	struct call_result r;
	struct srv s;

	srv_open(&s, NULL);
	call_in_child(&s, s.path, 3, (char *[]){"echo", "a b", "c"}, &r);
	CHECK(r.status == 0 && !strcmp(r.out, "a b c\nflags=0\n"));
	call_in_child(&s, s.path, 1, (char *[]){"progress"}, &r);
	CHECK(r.status == 0 && !strcmp(r.out, "one\ntwo\nthree\n"));
	call_in_child(&s, s.path, 1, (char *[]){"defer"}, &r);
	CHECK(r.status == MU_E_NOTFOUND && !strcmp(r.out, "working\nfinished later\n"));
	srv_close(&s);
}

static void test_call_not_running(void)
{
	struct call_result r;
	struct srv s;
	char *msg = NULL;
	int fd;

	srv_open(&s, NULL);
	ctl_server_close(s.s);
	s.s = NULL;
	/* No file at all. */
	call_in_child(&s, s.path, 1, (char *[]){"status"}, &r);
	CHECK(r.status == -ENOENT);
	CHECK(asprintf(&msg, "musterd is not running at %s", s.path) > 0);
	CHECK(strstr(r.err, msg));
	/* A stale socket: connection refused. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		strcpy(sa.sun_path, s.path);
		CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	}
	close(fd);
	call_in_child(&s, s.path, 1, (char *[]){"status"}, &r);
	CHECK(r.status == -ECONNREFUSED);
	CHECK(strstr(r.err, msg));
	unlink(s.path);
	free(msg);
	CHECK_OK(ctl_server_open(&s.s, s.l, s.path, NULL, handler, &s));
	srv_close(&s);
}

static const struct test tests[] = {
	{ "/ctl/request/roundtrip", test_request_roundtrip },
	{ "/ctl/request/truncated", test_request_truncated },
	{ "/ctl/request/caps", test_request_caps },
	{ "/ctl/response/codec", test_response_codec },
	{ "/ctl/server/request", test_server_request },
	{ "/ctl/server/partial-reads", test_server_partial_reads },
	{ "/ctl/server/multi-record", test_server_multi_record },
	{ "/ctl/server/deferred", test_server_deferred },
	{ "/ctl/server/stream-50MiB-slow-reader", test_server_stream },
	{ "/ctl/server/malformed", test_server_malformed },
	{ "/ctl/server/busy", test_server_busy },
	{ "/ctl/server/socket-file", test_server_socket_file },
	{ "/ctl/call/roundtrip", test_call },
	{ "/ctl/call/not-running", test_call_not_running },
};

TEST_MAIN(tests)
