/* route_watch: says when the kernel's links, addresses or routes change
 * (rtnetlink multicast groups RTMGRP_LINK, *_IFADDR, *_ROUTE), so the node
 * can dial its static peers (the hospital uplink) as soon as a route
 * returns instead of when the dial back-off, up to RECONNECT_MAX_MS, next
 * allows (docs/operations.md "Field uplink").
 *
 * Messages are only counted, never parsed: any change is worth one retry,
 * and nothing read from the socket reaches a decoder. A burst (a link coming
 * up brings NEWLINK, NEWADDR and NEWROUTE messages) is collapsed: fn runs
 * once, debounce_ms after the first message of the burst; messages during
 * that wait start no second call. A receive-buffer overflow (ENOBUFS: events
 * were lost) counts as a change.
 *
 * One thread (the loop's). fn is called from the loop, never from
 * route_watch_open/close. Errors: 0, -errno (socket, bind: e.g. -EPERM in a
 * sandbox without netlink; the caller carries on without the watch). */
#ifndef MU_ROUTE_WATCH_H
#define MU_ROUTE_WATCH_H

#include <stdint.h>

struct loop;
struct route_watch;

#define ROUTE_WATCH_DEBOUNCE_MS 300 /* addresses settle after the link event */

int route_watch_open(struct route_watch **out, struct loop *l, uint64_t debounce_ms, void (*fn)(void *user),
		     void *user);
/* NULL-safe. */
void route_watch_close(struct route_watch *w);

#endif
