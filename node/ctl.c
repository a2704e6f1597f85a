/* Control protocol codec, the daemon-side server and the CLI-side client.
 *
 * Server design: every client is read with non-blocking reads of exactly the
 * bytes still missing from the one request frame, so bytes after it are
 * never consumed. Output is only queued by the reply functions and written
 * from the client's EPOLLOUT callback; a client is only freed from its own
 * timer (armed for the next turn by client_kill). Together these mean a
 * handler, or a deferred reply finished from any callback, can never free
 * the client out from under the code that called it. */
#include "ctl.h"

#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "loop.h"

#define CTL_BACKLOG         16
#define CTL_ACCEPT_PAUSE_MS 1000

/* ---- codec ---- */

static void wr_fail(struct wr *wr, int err)
{
	if (!wr->err)
		wr->err = err;
}

int ctl_request_encode(struct wr *wr, unsigned flags, int argc, char *const *argv)
{
	size_t body = 3;

	if (flags & ~(unsigned)CTL_F_ALL) {
		wr_fail(wr, MU_E_FORMAT);
		return MU_E_FORMAT;
	}
	if (argc < 0 || argc > CTL_ARGS_MAX) {
		wr_fail(wr, MU_E_TOOBIG);
		return MU_E_TOOBIG;
	}
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);

		if (n > CTL_ARG_MAX) {
			wr_fail(wr, MU_E_TOOBIG);
			return MU_E_TOOBIG;
		}
		body += 2 + n;
	}
	if (body > CTL_REQ_MAX || wr->err || wr->cap - wr->len < 4 + body) {
		wr_fail(wr, MU_E_TOOBIG);
		return wr->err;
	}
	wr_u32(wr, (uint32_t)body);
	wr_u8(wr, CTL_VERSION);
	wr_u8(wr, (uint8_t)flags);
	wr_u8(wr, (uint8_t)argc);
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);

		wr_u16(wr, (uint16_t)n);
		wr_bytes(wr, argv[i], n);
	}
	return wr->err;
}

int ctl_request_decode(struct ctl_req *req, const uint8_t *p, size_t n)
{
	struct rd rd = rd_make(p, n), body;
	const uint8_t *b;
	size_t blen, used = 0;
	uint8_t argc;
	int ret;

	req->version = req->flags = 0;
	req->argc = 0;
	req->argv[0] = NULL;
	req->uid = (uid_t)-1;
	req->pid = -1;
	if ((ret = rd_lv32(&rd, CTL_REQ_MAX, &b, &blen)) || (ret = rd_end(&rd)))
		return ret;
	body = rd_make(b, blen);
	if ((ret = rd_u8(&body, &req->version)))
		return ret;
	if (req->version != CTL_VERSION)
		return MU_E_VERSION;
	if ((ret = rd_u8(&body, &req->flags)) || (ret = rd_u8(&body, &argc)))
		return ret;
	if (req->flags & ~CTL_F_ALL)
		return MU_E_FORMAT;
	if (argc > CTL_ARGS_MAX)
		return MU_E_TOOBIG;
	for (unsigned i = 0; i < argc; i++) {
		const uint8_t *a;
		uint16_t alen;

		if ((ret = rd_u16(&body, &alen)))
			return ret;
		if (alen > CTL_ARG_MAX)
			return MU_E_TOOBIG;
		if ((ret = rd_slice(&body, alen, &a)))
			return ret;
		if (memchr(a, 0, alen))
			return MU_E_FORMAT;
		/* Fits: each argument costs 2 wire bytes and 1 NUL here. */
		req->argv[i] = memcpy(req->buf + used, a, alen);
		req->buf[used + alen] = 0;
		used += alen + 1u;
	}
	if ((ret = rd_end(&body)))
		return ret;
	req->argc = argc;
	req->argv[argc] = NULL;
	return 0;
}

int ctl_response_encode(struct wr *wr, int status, int more, const void *body, size_t n)
{
	if (n > CTL_BODY_MAX) {
		wr_fail(wr, MU_E_TOOBIG);
		return MU_E_TOOBIG;
	}
	if (status > 0 || (more && status)) {
		wr_fail(wr, MU_E_FORMAT);
		return MU_E_FORMAT;
	}
	if (wr->err || wr->cap - wr->len < 4 + 5 + n) {
		wr_fail(wr, MU_E_TOOBIG);
		return wr->err;
	}
	wr_u32(wr, (uint32_t)(5 + n));
	wr_u32(wr, (uint32_t)status);
	wr_u8(wr, more ? 1 : 0);
	wr_bytes(wr, body, n);
	return wr->err;
}

int ctl_response_decode(const uint8_t *p, size_t n, int *status, int *more, const uint8_t **body,
			size_t *body_len)
{
	struct rd rd = rd_make(p, n), rec;
	const uint8_t *r;
	size_t rlen;
	uint32_t st;
	uint8_t m;
	int ret;

	if ((ret = rd_lv32(&rd, CTL_RECORD_MAX, &r, &rlen)) || (ret = rd_end(&rd)))
		return ret;
	rec = rd_make(r, rlen);
	if ((ret = rd_u32(&rec, &st)) || (ret = rd_u8(&rec, &m)))
		return ret;
	if (m > 1 || (int32_t)st > 0 || (m && st))
		return MU_E_FORMAT;
	*status = (int32_t)st;
	*more = m;
	*body = rec.p;
	*body_len = rec.len;
	return 0;
}

/* ---- server ---- */

enum cl_state {
	CL_READ,     /* collecting the request */
	CL_HANDLING, /* handler has it (maybe deferred); progress may flow */
	CL_DRAIN,    /* final record queued; close once written */
	CL_DEAD,     /* fd closed; freed by the timer next turn */
};

struct ctl_client {
	struct ctl_server *srv;
	struct ctl_client *prev, *next;
	int fd;
	enum cl_state state;
	struct loop_timer *timer;
	uid_t uid;
	pid_t pid;

	uint8_t hdr[4];
	size_t hdr_len;
	uint8_t *rx; /* whole frame, length prefix included */
	size_t rx_len, rx_need;

	struct ctl_reply *reply;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
};

struct ctl_reply {
	struct ctl_client *cl; /* NULL once the client has gone */
	ctl_stream_fn step;    /* non-NULL: a streaming reply the server owns */
	ctl_stream_free_fn destroy;
	void *state;
	bool in_step; /* step is running: a kill must not free r under it */
	size_t len;
	uint8_t body[CTL_BODY_MAX];
	struct ctl_req req;
};

struct ctl_server {
	struct loop *loop;
	int fd;
	char *path;
	ctl_handler_fn fn;
	void *user;
	struct ctl_client *clients;
	unsigned nclients;
	struct loop_timer *pause; /* accept back-off after EMFILE */
};

/* Ends a stream's state and frees its reply (the client is gone or
 * about to be). */
static void stream_free(struct ctl_reply *r)
{
	if (r->destroy)
		r->destroy(r->state);
	free(r);
}

/* Detaches cl's reply; a stream goes with its client (unless its step is
 * running: stream_pump frees it when the step returns). */
static void reply_detach(struct ctl_client *cl)
{
	struct ctl_reply *r = cl->reply;

	if (!r)
		return;
	cl->reply = NULL;
	r->cl = NULL;
	if (r->step && !r->in_step)
		stream_free(r);
}

static void client_free(struct ctl_client *cl)
{
	struct ctl_server *s = cl->srv;

	reply_detach(cl);
	if (cl->fd >= 0) {
		loop_del_fd(s->loop, cl->fd);
		close(cl->fd);
	}
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		s->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	s->nclients--;
	loop_timer_free(cl->timer);
	free(cl->rx);
	free(cl->out);
	free(cl);
}

/* Closes the connection now; the struct goes next turn (see top). */
static void client_kill(struct ctl_client *cl)
{
	if (cl->state == CL_DEAD)
		return;
	reply_detach(cl);
	loop_del_fd(cl->srv->loop, cl->fd);
	close(cl->fd);
	cl->fd = -1;
	cl->state = CL_DEAD;
	loop_timer_arm(cl->timer, 0);
}

static void client_queue(struct ctl_client *cl, int status, int more, const void *body, size_t n)
{
	size_t need = 4 + 5 + n;
	struct wr wr;

	if (cl->out_len - cl->out_off + need > CTL_OUT_MAX) {
		log_warn(SUB_CTL, "client uid %d not reading its reply; dropping it", (int)cl->uid);
		client_kill(cl);
		return;
	}
	if (cl->out_off && cl->out_off == cl->out_len)
		cl->out_off = cl->out_len = 0;
	if (cl->out_off && cl->out_cap - cl->out_len < need) {
		/* A stream appends while the head is still being written: reuse
		 * the written part rather than grow past CTL_OUT_MAX. */
		memmove(cl->out, cl->out + cl->out_off, cl->out_len - cl->out_off);
		cl->out_len -= cl->out_off;
		cl->out_off = 0;
	}
	if (cl->out_cap - cl->out_len < need) {
		size_t cap = cl->out_len + need;
		uint8_t *o;

		if (cap < 2 * cl->out_cap)
			cap = 2 * cl->out_cap;
		o = realloc(cl->out, cap);
		if (!o) {
			client_kill(cl);
			return;
		}
		cl->out = o;
		cl->out_cap = cap;
	}
	wr = wr_make(cl->out + cl->out_len, cl->out_cap - cl->out_len);
	if (ctl_response_encode(&wr, status, more, body, n)) {
		client_kill(cl);
		return;
	}
	if (cl->out_off == cl->out_len)
		loop_timer_arm(cl->timer, CTL_IO_TIMEOUT_MS);
	cl->out_len += wr.len;
	loop_mod_fd(cl->srv->loop, cl->fd, EPOLLOUT);
}

/* Rejects a request: one record with the error, then close. */
static void client_fail(struct ctl_client *cl, int err)
{
	log_info(SUB_CTL, "bad request from uid %d: %s", (int)cl->uid, mu_strerror(err));
	cl->state = CL_DRAIN;
	client_queue(cl, err, 0, NULL, 0);
}

static void reply_emit(struct ctl_reply *r, int status, int more)
{
	if (r->cl)
		client_queue(r->cl, status, more, r->body, r->len);
	r->len = 0;
}

void ctl_reply_write(struct ctl_reply *r, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n && r->cl) {
		size_t k = CTL_BODY_MAX - r->len;

		if (!k) {
			reply_emit(r, 0, 1);
			continue;
		}
		if (k > n)
			k = n;
		memcpy(r->body + r->len, b, k);
		r->len += k;
		b += k;
		n -= k;
	}
}

void ctl_reply_printf(struct ctl_reply *r, const char *fmt, ...)
{
	size_t room = CTL_BODY_MAX - r->len;
	va_list ap;
	char *big = NULL;
	int n;

	if (!r->cl)
		return;
	va_start(ap, fmt);
	n = vsnprintf((char *)r->body + r->len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < room) {
		r->len += (size_t)n;
		return;
	}
	va_start(ap, fmt);
	n = vasprintf(&big, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	ctl_reply_write(r, big, (size_t)n);
	free(big);
}

void ctl_reply_flush(struct ctl_reply *r)
{
	if (r->len)
		reply_emit(r, 0, 1);
}

int ctl_reply_alive(const struct ctl_reply *r)
{
	return r->cl != NULL;
}

void ctl_reply_finish(struct ctl_reply *r, int status)
{
	struct ctl_client *cl = r->cl;

	if (status > 0) {
		log_err(SUB_CTL, "handler finished with status %d; sending -EINVAL", status);
		status = -EINVAL;
	}
	if (cl) {
		cl->reply = NULL;
		cl->state = CL_DRAIN;
		client_queue(cl, status, 0, r->body, r->len);
	}
	if (r->step)
		stream_free(r);
	else
		free(r);
}

void ctl_reply_stream(struct ctl_reply *r, ctl_stream_fn step, ctl_stream_free_fn destroy, void *state)
{
	r->step = step;
	r->destroy = destroy;
	r->state = state;
}

static size_t client_queued(const struct ctl_client *cl)
{
	return cl->out_len - cl->out_off + (cl->reply ? cl->reply->len : 0);
}

/* Runs the stream's steps until enough is queued or it ends. Called only
 * from the loop (never inside a handler or a step), so it may free r. */
static void stream_pump(struct ctl_client *cl)
{
	struct ctl_reply *r = cl->reply;

	while (r && r->step && r->cl && client_queued(cl) < CTL_STREAM_LOW) {
		size_t before = client_queued(cl);
		int ret;

		r->in_step = true;
		ret = r->step(r->state, r);
		r->in_step = false;
		if (!r->cl) { /* the client went during the step (over CTL_OUT_MAX) */
			stream_free(r);
			return;
		}
		if (ret == CTL_STREAM_MORE && client_queued(cl) == before) {
			log_err(SUB_CTL, "stream step made no progress; ending the reply");
			ret = -EIO;
		}
		if (ret != CTL_STREAM_MORE) {
			ctl_reply_finish(r, ret);
			return;
		}
	}
}

static void client_dispatch(struct ctl_client *cl)
{
	struct ctl_server *s = cl->srv;
	struct ctl_reply *r = malloc(sizeof(*r));
	int ret;

	if (!r) {
		client_fail(cl, -ENOMEM);
		return;
	}
	ret = ctl_request_decode(&r->req, cl->rx, cl->rx_len);
	free(cl->rx);
	cl->rx = NULL;
	if (ret) {
		free(r);
		client_fail(cl, ret);
		return;
	}
	r->req.uid = cl->uid;
	r->req.pid = cl->pid;
	r->cl = cl;
	r->len = 0;
	r->step = NULL;
	r->destroy = NULL;
	r->state = NULL;
	r->in_step = false;
	cl->reply = r;
	cl->state = CL_HANDLING;
	loop_timer_disarm(cl->timer);
	loop_mod_fd(s->loop, cl->fd, 0);
	/* Arguments may be clinical text: name the command only. */
	log_debug(SUB_CTL, "uid %d pid %d: %s", (int)cl->uid, (int)cl->pid,
		  r->req.argc ? r->req.argv[0] : "(empty)");
	ret = s->fn(s->user, &r->req, r);
	if (ret != CTL_DEFER)
		ctl_reply_finish(r, ret);
	else if (r->step && !r->cl)
		stream_free(r); /* the client went while the handler ran */
	else if (r->step)
		stream_pump(cl);
}

/* Reads what is missing of the request; 1 when complete, 0 for more, or an
 * error (-errno, MU_E_TOOBIG; 0-byte read is -ECONNRESET). */
static int client_read(struct ctl_client *cl)
{
	for (;;) {
		uint8_t *dst;
		size_t want;
		ssize_t n;

		if (cl->hdr_len < 4) {
			dst = cl->hdr + cl->hdr_len;
			want = 4 - cl->hdr_len;
		} else {
			dst = cl->rx + cl->rx_len;
			want = cl->rx_need - cl->rx_len;
		}
		if (!want)
			return 1;
		n = recv(cl->fd, dst, want, MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (n == 0)
			return -ECONNRESET;
		if (cl->hdr_len < 4) {
			cl->hdr_len += (size_t)n;
			if (cl->hdr_len == 4) {
				uint32_t len = (uint32_t)cl->hdr[0] << 24 | (uint32_t)cl->hdr[1] << 16 |
					       (uint32_t)cl->hdr[2] << 8 | cl->hdr[3];

				if (len > CTL_REQ_MAX)
					return MU_E_TOOBIG;
				cl->rx_need = 4 + (size_t)len;
				cl->rx = malloc(cl->rx_need);
				if (!cl->rx)
					return -ENOMEM;
				memcpy(cl->rx, cl->hdr, 4);
				cl->rx_len = 4;
			}
		} else {
			cl->rx_len += (size_t)n;
		}
	}
}

static void client_write(struct ctl_client *cl)
{
	while (cl->out_off < cl->out_len) {
		ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				/* Keep the socket busy: top the queue up before it runs dry. */
				if (cl->reply && cl->reply->step && client_queued(cl) < CTL_STREAM_LOW)
					stream_pump(cl);
				return;
			}
			log_debug(SUB_CTL, "client uid %d: %s", (int)cl->uid, strerror(errno));
			client_kill(cl);
			return;
		}
		cl->out_off += (size_t)n;
		loop_timer_arm(cl->timer, CTL_IO_TIMEOUT_MS);
	}
	cl->out_off = cl->out_len = 0;
	if (cl->state == CL_DRAIN) {
		client_kill(cl);
		return;
	}
	loop_timer_disarm(cl->timer);
	loop_mod_fd(cl->srv->loop, cl->fd, 0);
	if (cl->reply && cl->reply->step)
		stream_pump(cl); /* queues more and re-arms EPOLLOUT */
}

static void client_ready(void *user, int fd, uint32_t events)
{
	struct ctl_client *cl = user;
	int ret;

	(void)fd;
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* The CLI went away (Ctrl-C): a deferred reply detaches. */
		client_kill(cl);
		return;
	}
	if (cl->state == CL_READ && (events & EPOLLIN)) {
		ret = client_read(cl);
		if (ret == 1)
			client_dispatch(cl);
		else if (ret == MU_E_TOOBIG)
			client_fail(cl, ret);
		else if (ret < 0)
			client_kill(cl);
		return;
	}
	if (events & EPOLLOUT)
		client_write(cl);
}

static void client_timer(void *user)
{
	struct ctl_client *cl = user;

	switch (cl->state) {
	case CL_DEAD:
		client_free(cl);
		return;
	case CL_READ:
		log_info(SUB_CTL, "client uid %d sent no complete request in %d ms", (int)cl->uid,
			 CTL_REQ_TIMEOUT_MS);
		loop_mod_fd(cl->srv->loop, cl->fd, 0);
		client_fail(cl, -ETIMEDOUT);
		return;
	case CL_HANDLING:
	case CL_DRAIN:
		log_info(SUB_CTL, "client uid %d stalled reading its reply", (int)cl->uid);
		client_kill(cl);
		return;
	}
}

static void busy_reject(int fd)
{
	uint8_t buf[9];
	struct wr wr = wr_make(buf, sizeof(buf));

	/* A fresh socket's buffer is empty, so this one small write does not
	 * block or come up short. */
	if (!ctl_response_encode(&wr, -EBUSY, 0, NULL, 0))
		(void)!send(fd, buf, wr.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

static void client_new(struct ctl_server *s, int fd)
{
	struct ctl_client *cl = calloc(1, sizeof(*cl));
	struct ucred cred = {.pid = -1, .uid = (uid_t)-1, .gid = (gid_t)-1};
	socklen_t clen = sizeof(cred);

	if (!cl) {
		close(fd);
		return;
	}
	getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen);
	cl->srv = s;
	cl->fd = fd;
	cl->uid = cred.uid;
	cl->pid = cred.pid;
	cl->state = CL_READ;
	if (loop_timer_new(s->loop, &cl->timer, client_timer, cl) ||
	    loop_add_fd(s->loop, fd, EPOLLIN, client_ready, cl)) {
		loop_timer_free(cl->timer);
		free(cl);
		close(fd);
		return;
	}
	cl->next = s->clients;
	if (cl->next)
		cl->next->prev = cl;
	s->clients = cl;
	s->nclients++;
	loop_timer_arm(cl->timer, CTL_REQ_TIMEOUT_MS);
}

static void listen_resume(void *user)
{
	struct ctl_server *s = user;

	loop_mod_fd(s->loop, s->fd, EPOLLIN);
}

static void listen_ready(void *user, int fd, uint32_t events)
{
	struct ctl_server *s = user;

	(void)events;
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN)
				return;
			/* Out of descriptors or memory: level-triggered
			 * readiness would spin, so stop listening a while. */
			log_warn(SUB_CTL, "accept: %s; pausing %d ms", strerror(errno), CTL_ACCEPT_PAUSE_MS);
			loop_mod_fd(s->loop, fd, 0);
			loop_timer_arm(s->pause, CTL_ACCEPT_PAUSE_MS);
			return;
		}
		if (s->nclients >= CTL_CLIENTS_MAX) {
			log_warn(SUB_CTL, "%d control clients already; refusing one", CTL_CLIENTS_MAX);
			busy_reject(c);
			continue;
		}
		client_new(s, c);
	}
}

static int make_addr(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!n || n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, n);
	return 0;
}

/* Removes path if it is a socket nobody answers on. */
static int clear_stale(const struct sockaddr_un *sa, const char *path)
{
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err(SUB_CTL, "%s exists and is not a socket; not removing it", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (ret == 0) {
		log_err(SUB_CTL, "another musterd is answering on %s", path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static void set_group(const char *path, const char *group)
{
	struct group gr, *res = NULL;
	char buf[4096];
	int rc;

	if (!group || !*group)
		return;
	rc = getgrnam_r(group, &gr, buf, sizeof(buf), &res);
	if (rc || !res) {
		log_warn(SUB_CTL, "group '%s' %s; %s keeps the daemon's group", group,
			 rc ? strerror(rc) : "does not exist", path);
		return;
	}
	if (chown(path, (uid_t)-1, res->gr_gid) < 0)
		log_warn(SUB_CTL, "chown %s to group %s: %s", path, group, strerror(errno));
}

int ctl_server_open(struct ctl_server **out, struct loop *loop, const char *path, const char *group,
		    ctl_handler_fn fn, void *user)
{
	struct ctl_server *s = calloc(1, sizeof(*s));
	struct sockaddr_un sa;
	bool bound = false;
	mode_t old;
	int ret;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->fd = -1;
	s->loop = loop;
	s->fn = fn;
	s->user = user;
	ret = make_addr(&sa, path);
	if (ret)
		goto out;
	s->path = strdup(path);
	if (!s->path) {
		ret = -ENOMEM;
		goto out;
	}
	ret = clear_stale(&sa, path);
	if (ret)
		goto out;
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		ret = -errno;
		goto out;
	}
	/* The umask makes the file 0660 from the start; there is no window
	 * in which another user could connect. */
	old = umask(0117);
	ret = bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old);
	if (ret) {
		log_err(SUB_CTL, "bind %s: %s", path, mu_strerror(ret));
		goto out;
	}
	bound = true;
	if (chmod(path, 0660) < 0 || listen(s->fd, CTL_BACKLOG) < 0) {
		ret = -errno;
		goto out;
	}
	set_group(path, group);
	ret = loop_timer_new(loop, &s->pause, listen_resume, s);
	if (!ret)
		ret = loop_add_fd(loop, s->fd, EPOLLIN, listen_ready, s);
out:
	if (ret) {
		if (bound)
			unlink(path);
		if (s->fd >= 0)
			close(s->fd);
		loop_timer_free(s->pause);
		free(s->path);
		free(s);
		return ret;
	}
	log_info(SUB_CTL, "control socket %s", path);
	*out = s;
	return 0;
}

void ctl_server_close(struct ctl_server *s)
{
	if (!s)
		return;
	while (s->clients)
		client_free(s->clients);
	loop_del_fd(s->loop, s->fd);
	close(s->fd);
	unlink(s->path);
	loop_timer_free(s->pause);
	free(s->path);
	free(s);
}

/* ---- client ---- */

static int read_full(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = read(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -ECONNRESET;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int write_full(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int call_connect(const char *path, int *fd_out)
{
	struct sockaddr_un sa;
	int fd, ret;

	*fd_out = -1;
	ret = make_addr(&sa, path);
	if (ret) {
		fprintf(stderr, "muster: control socket path too long: %s\n", path);
		return ret;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	while ((ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0 && errno == EINTR)
		;
	if (ret < 0) {
		ret = -errno;
		close(fd);
		if (ret == -ENOENT || ret == -ECONNREFUSED)
			fprintf(stderr, "muster: musterd is not running at %s\n", path);
		else if (ret == -EACCES || ret == -EPERM)
			fprintf(stderr,
				"muster: permission denied on %s (is this user in the control group?)\n",
				path);
		else
			fprintf(stderr, "muster: cannot connect to %s: %s\n", path, strerror(-ret));
		return ret;
	}
	*fd_out = fd;
	return 0;
}

int ctl_call(const char *path, int argc, char **argv, unsigned flags, FILE *out)
{
	uint8_t *buf = malloc(4 + (CTL_REQ_MAX > CTL_RECORD_MAX ? CTL_REQ_MAX : CTL_RECORD_MAX));
	struct wr wr;
	int fd = -1, ret, wret;

	if (!buf)
		return -ENOMEM;
	wr = wr_make(buf, 4 + CTL_REQ_MAX);
	ret = ctl_request_encode(&wr, flags, argc, argv);
	if (ret)
		goto out;
	ret = call_connect(path, &fd);
	if (ret)
		goto out;
	/* A write error is not the end: the daemon may have answered (busy,
	 * malformed) and closed before reading everything. */
	wret = write_full(fd, buf, wr.len);
	for (;;) {
		const uint8_t *body;
		size_t blen;
		uint32_t len;
		int status, more;

		if ((ret = read_full(fd, buf, 4)))
			break;
		len = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
		if (len > CTL_RECORD_MAX) {
			ret = MU_E_TOOBIG;
			break;
		}
		if ((ret = read_full(fd, buf + 4, len)) ||
		    (ret = ctl_response_decode(buf, 4 + len, &status, &more, &body, &blen)))
			break;
		if (blen && fwrite(body, 1, blen, out) != blen) {
			ret = -EIO;
			break;
		}
		fflush(out);
		if (!more) {
			ret = status;
			goto out;
		}
	}
	if (ret == -ECONNRESET) {
		fprintf(stderr, "muster: musterd closed the connection before replying\n");
		if (wret)
			ret = wret;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}
