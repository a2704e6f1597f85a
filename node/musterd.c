/* musterd: the Muster node daemon. One thread, one epoll loop; see
 * node/node.h for what runs on it and docs/operations.md for running it. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../crypto/identity.h"
#include "config.h"
#include "err.h"
#include "log.h"
#include "loop.h"
#include "node.h"

static void on_signal(void *user, int signo)
{
	struct loop *l = user;

	log_info(SUB_MAIN, "signal %d: shutting down", signo);
	loop_quit(l, 0);
}

static void usage(void)
{
	fprintf(stderr, "usage: musterd [-c CONFIG] [--print-default-config] [--check-config]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "print-default-config", no_argument, NULL, 'p' },
		{ "check-config", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL;
	struct config *cfg = NULL;
	struct loop *loop = NULL;
	struct node *node = NULL;
	int c, ret, check = 0;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'p': fputs(config_default_text, stdout); return 0;
		case 'k': check = 1; break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (optind != argc) {
		usage();
		return 2;
	}
	if (getenv("MUSTER_DEBUG") && log_enable_debug(getenv("MUSTER_DEBUG")))
		fprintf(stderr, "musterd: MUSTER_DEBUG: unknown subsystem\n");
	if (mu_crypto_init()) {
		log_err(SUB_MAIN, "libsodium failed to initialise");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN); /* notify_command children reap themselves */
	ret = config_load(&cfg, path);
	if (ret) {
		log_err(SUB_MAIN, "configuration %s: %s", path ? path : "(default)", mu_strerror(ret));
		return 1;
	}
	if (check) {
		config_free(cfg);
		printf("configuration ok\n");
		return 0;
	}
	ret = loop_new(&loop);
	if (!ret)
		ret = loop_on_signal(loop, SIGTERM, on_signal, loop);
	if (!ret)
		ret = loop_on_signal(loop, SIGINT, on_signal, loop);
	if (!ret)
		ret = node_open(&node, loop, cfg);
	if (!ret) {
		log_info(SUB_MAIN, "ready");
		ret = loop_run(loop);
	}
	/* Closing commits whatever this turn stored: SIGTERM loses nothing. */
	node_close(node);
	loop_free(loop);
	config_free(cfg);
	if (ret == MU_E_WIPED)
		return MUSTERD_EXIT_WIPED; /* the wipe logged its one line */
	if (ret)
		log_err(SUB_MAIN, "exiting: %s", mu_strerror(ret));
	return ret ? 1 : 0;
}
