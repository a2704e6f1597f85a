/* rtnetlink change notification for the static-peer redial (route_watch.h). */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "route_watch.h"

#define DRAIN_PER_TURN 64 /* datagrams read per wake-up; the rest next turn */

struct route_watch {
	struct loop *loop;
	struct loop_timer *timer;
	int fd;
	bool pending; /* the debounce timer is armed */
	uint64_t debounce_ms;
	void (*fn)(void *user);
	void *user;
};

static void fire(void *user)
{
	struct route_watch *w = user;

	w->pending = false;
	w->fn(w->user);
}

static void readable(void *user, int fd, uint32_t events)
{
	struct route_watch *w = user;
	char buf[8192];
	bool changed = false;

	(void)events;
	for (int i = 0; i < DRAIN_PER_TURN; i++) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (r > 0 || (r < 0 && errno == ENOBUFS)) {
			changed = true;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		break; /* EAGAIN, or an error that the next wake-up sees again */
	}
	if (changed && !w->pending) {
		w->pending = true;
		loop_timer_arm(w->timer, w->debounce_ms);
	}
}

int route_watch_open(struct route_watch **out, struct loop *l, uint64_t debounce_ms, void (*fn)(void *user),
		     void *user)
{
	struct sockaddr_nl sa = {
	    .nl_family = AF_NETLINK,
	    .nl_groups =
		RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE,
	};
	struct route_watch *w = calloc(1, sizeof(*w));
	int ret;

	*out = NULL;
	if (!w)
		return -ENOMEM;
	*w = (struct route_watch){.loop = l, .fd = -1, .debounce_ms = debounce_ms, .fn = fn, .user = user};
	w->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (w->fd < 0 || bind(w->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		goto fail;
	}
	if ((ret = loop_timer_new(l, &w->timer, fire, w)))
		goto fail;
	if ((ret = loop_add_fd(l, w->fd, EPOLLIN, readable, w)))
		goto fail;
	*out = w;
	return 0;
fail:
	loop_timer_free(w->timer);
	if (w->fd >= 0)
		close(w->fd);
	free(w);
	return ret;
}

void route_watch_close(struct route_watch *w)
{
	if (!w)
		return;
	loop_del_fd(w->loop, w->fd);
	close(w->fd);
	loop_timer_free(w->timer);
	free(w);
}
