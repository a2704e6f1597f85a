/* The daemon's one event loop: epoll for file descriptors, timerfd-backed
 * timers and signalfd for signals, all on one thread.
 *
 * Every callback gets the user pointer given at registration. A callback may
 * add or remove any registration, including its own, while the loop runs:
 * removed registrations are never called again, even later in the same
 * epoll batch. Errors: 0, -errno. */
#ifndef MU_LOOP_H
#define MU_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_timer;

typedef void (*loop_fd_fn)(void *user, int fd, uint32_t events); /* EPOLLIN/OUT/ERR/HUP */
typedef void (*loop_timer_fn)(void *user);
typedef void (*loop_signal_fn)(void *user, int signo);

int loop_new(struct loop **out);
void loop_free(struct loop *l); /* NULL-safe; closes nothing it did not open */

/* Watches fd for events (EPOLLIN, EPOLLOUT; EPOLLERR/EPOLLHUP always). The
 * caller keeps owning fd and must loop_del_fd before closing it. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *user);
int loop_mod_fd(struct loop *l, int fd, uint32_t events);
void loop_del_fd(struct loop *l, int fd);

/* One-shot timers; re-arm from the callback for periodic work. */
int loop_timer_new(struct loop *l, struct loop_timer **out, loop_timer_fn fn, void *user);
void loop_timer_arm(struct loop_timer *t, uint64_t ms_from_now); /* 0 = next turn */
void loop_timer_disarm(struct loop_timer *t);
void loop_timer_free(struct loop_timer *t); /* NULL-safe */

/* Blocks the signal (SIGTERM, SIGINT, SIGHUP, ...) and delivers it through
 * the loop. */
int loop_on_signal(struct loop *l, int signo, loop_signal_fn fn, void *user);

/* Runs until loop_quit(); returns the code given to it. */
int loop_run(struct loop *l);
void loop_quit(struct loop *l, int code);

/* Monotonic milliseconds, for timeouts (never for wire times). */
uint64_t loop_now_mono_ms(void);

#endif
