/* Local control protocol between the `muster` CLI and musterd, over a Unix
 * stream socket (default /run/muster/muster.sock, mode 0660, group muster).
 *
 * One request per connection, then one or more response records, then the
 * daemon closes. All integers big-endian.
 *
 *   request  = u32 len, body[len]            (len <= CTL_REQ_MAX)
 *   body     = u8 version (CTL_VERSION), u8 flags (CTL_F_*), u8 argc
 *              (<= CTL_ARGS_MAX), argc x (u16 n, n bytes, n <= CTL_ARG_MAX,
 *              no NUL bytes)
 *   record   = u32 len, i32 status, u8 more, body[len - 5]
 *              (body <= CTL_BODY_MAX; status 0 or a negative error code,
 *              always 0 when more = 1; more = 0 on the last record)
 *
 * Bodies are text or, with CTL_F_JSON, JSON; a long reply may be split
 * across records at any byte, so a reader concatenates the bodies. */
#ifndef MU_CTL_H
#define MU_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "wire.h"

struct loop;

#define CTL_VERSION 1
#define CTL_F_JSON  0x01 /* reply as JSON */
#define CTL_F_TTY   0x02 /* the CLI's stdout is a terminal (colour, widths) */
#define CTL_F_ALL   (CTL_F_JSON | CTL_F_TTY)

#define CTL_ARGS_MAX       32
#define CTL_ARG_MAX        16384 /* one argument, e.g. a message text */
#define CTL_REQ_MAX        65536 /* request body, all arguments together */
#define CTL_BODY_MAX       65536 /* one response record's body */
#define CTL_RECORD_MAX     (5 + CTL_BODY_MAX)
#define CTL_CLIENTS_MAX    16         /* concurrent connections to the daemon */
#define CTL_REQ_TIMEOUT_MS 5000       /* to send a whole request */
#define CTL_IO_TIMEOUT_MS  10000      /* without write progress to a client */
#define CTL_OUT_MAX        (1u << 20) /* queued reply bytes per client */

/* Return value of a handler that keeps its reply to finish it later
 * (with ctl_reply_finish, or by handing it to ctl_reply_stream). */
#define CTL_DEFER 1

/* Streaming replies (ctl_reply_stream): the server calls the step function
 * whenever the client's queued output (records waiting to be written plus
 * the open record body) is below CTL_STREAM_LOW, so a reply of any length
 * goes out with at most about CTL_STREAM_LOW + CTL_STREAM_STEP_MAX bytes
 * held, never more than CTL_OUT_MAX. */
#define CTL_STREAM_MORE     1
#define CTL_STREAM_LOW      (256u << 10)
#define CTL_STREAM_STEP_MAX (512u << 10) /* most one step may append */

/* A decoded request. argv[i] are NUL-terminated copies inside buf;
 * argv[argc] is NULL. uid and pid are the peer's credentials
 * (SO_PEERCRED), filled by the server; the decoder sets them to -1. */
struct ctl_req {
	uint8_t version;
	uint8_t flags;
	int argc;
	char *argv[CTL_ARGS_MAX + 1];
	uid_t uid;
	pid_t pid;
	char buf[CTL_REQ_MAX];
};

/* ---- codec (pure; no I/O) ---- */

/* Writes a whole request frame (length prefix included) and returns 0.
 * MU_E_TOOBIG when argc, an argument or the body exceeds its cap (or wr is
 * too small); MU_E_FORMAT for unknown flags. On error nothing is written and
 * wr's sticky error is set. */
int ctl_request_encode(struct wr *wr, unsigned flags, int argc, char *const *argv);
/* Decodes one whole request frame (length prefix included) into req.
 * MU_E_FORMAT on truncation, trailing bytes, unknown flags or a NUL in an
 * argument; MU_E_VERSION for another version; MU_E_TOOBIG when a length
 * exceeds its cap. */
int ctl_request_decode(struct ctl_req *req, const uint8_t *p, size_t n);

/* Writes one response record. MU_E_TOOBIG if n > CTL_BODY_MAX; MU_E_FORMAT
 * if status > 0 or (more and status != 0). */
int ctl_response_encode(struct wr *wr, int status, int more, const void *body, size_t n);
/* Decodes one whole record frame (length prefix included). *body points
 * into p. Same errors as the request decoder. */
int ctl_response_decode(const uint8_t *p, size_t n, int *status, int *more, const uint8_t **body,
			size_t *body_len);

/* ---- server (on the daemon's loop) ---- */

struct ctl_server;
struct ctl_reply;

/* Called once per well-formed request. Appends output to reply and returns
 * the status (0 or a negative error code), which ends the reply; or returns
 * CTL_DEFER to keep reply and end it later with ctl_reply_finish. req lives
 * as long as reply. */
typedef int (*ctl_handler_fn)(void *user, const struct ctl_req *req, struct ctl_reply *reply);

/* Listens on path: refuses (-EADDRINUSE) if a daemon answers there, removes
 * a stale socket (never a file of another type: -EEXIST), creates the
 * socket with mode 0660 and, if group is non-NULL and exists, that group
 * (a missing group is logged and the socket keeps the daemon's group).
 * -ENAMETOOLONG if path does not fit a sockaddr_un. */
int ctl_server_open(struct ctl_server **out, struct loop *loop, const char *path, const char *group,
		    ctl_handler_fn fn, void *user);
/* Closes every client and the socket and unlinks path. Replies still
 * deferred stay valid (detached) until ctl_reply_finish frees them.
 * NULL-safe. */
void ctl_server_close(struct ctl_server *s);

/* Append to the reply body. Output beyond CTL_BODY_MAX is sent as extra
 * records automatically. After the client has gone they discard. */
void ctl_reply_write(struct ctl_reply *r, const void *p, size_t n);
void ctl_reply_printf(struct ctl_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sends what has been appended so far as a progress record (more = 1). */
void ctl_reply_flush(struct ctl_reply *r);
/* 1 while the client is still connected. */
int ctl_reply_alive(const struct ctl_reply *r);
/* Ends a deferred reply with status (0 or negative) and frees r: r and its
 * request are dead after this call. Not for a reply handed to
 * ctl_reply_stream (the server finishes those). */
void ctl_reply_finish(struct ctl_reply *r, int status);

/* One step of a streaming reply: appends the next piece of output to r
 * (at least one byte and at most CTL_STREAM_STEP_MAX) and returns
 * CTL_STREAM_MORE, or returns the final status (0 or negative; it may
 * append a last piece first), which ends the reply. state is the
 * handler's. A step must not block: one thread, one loop. */
typedef int (*ctl_stream_fn)(void *state, struct ctl_reply *r);
/* Frees a stream's state; called exactly once. */
typedef void (*ctl_stream_free_fn)(void *state);

/* Makes r a streaming reply: the handler calls this and returns CTL_DEFER
 * (any other return finishes the reply at once and frees state). From
 * then on the server owns r and state: it calls step from its loop as the
 * client drains the socket, ends the reply with step's final status, and
 * calls destroy(state) when the stream ends, when the client goes (closed,
 * timed out after CTL_IO_TIMEOUT_MS without reading, or over CTL_OUT_MAX),
 * or at ctl_server_close; the request (r's) stays valid until then. A step
 * returning MORE without output ends the reply with -EIO. */
void ctl_reply_stream(struct ctl_reply *r, ctl_stream_fn step, ctl_stream_free_fn destroy, void *state);

/* ---- client (the CLI; blocking) ---- */

/* Sends argv to the daemon at path, writes each body to out as it arrives
 * (flushing after progress records) and returns the daemon's status, or
 * -errno / MU_E_* for a local or protocol failure. Failures to reach the
 * daemon are explained on stderr ("musterd is not running at PATH"). */
int ctl_call(const char *path, int argc, char **argv, unsigned flags, FILE *out);

#endif
