/* muster: the staff command-line tool. Subcommands are listed in one table
 * (in the style of wg and iwctl); each parses its own options. Commands that
 * talk to the daemon arrive with the mesh issue. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "ctl.h"
#include "cli_util.h"
#include "err.h"
#include "hex.h"
#include "inspect.h"
#include "keystore.h"

struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	const char *help;
};

static int cmd_help(int argc, char **argv);

static int fail(const char *what, int err)
{
	fprintf(stderr, "muster: %s: %s\n", what, mu_strerror(err));
	return 1;
}

static int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "keyfile", required_argument, NULL, 'k' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ 0 },
	};
	struct cli_unlock u = { 0 };
	struct mu_identity *id = NULL;
	const char *out = NULL;
	char *pub = NULL;
	int c, ret;

	while ((c = getopt_long(argc, argv, "o:k:p:", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'k': u.keyfile = optarg; break;
		case 'p': u.passfile = optarg; break;
		default: return 2;
		}
	}
	if (!out) {
		fprintf(stderr, "muster keygen: --out FILE is required\n");
		return 2;
	}
	if (asprintf(&pub, "%s.pub", out) < 0)
		return fail("keygen", -ENOMEM);
	if (u.keyfile) {
		ret = keystore_keyfile_create(u.keyfile);
		if (ret && ret != -EEXIST)
			goto out;
	}
	ret = cli_unlock_prepare(&u, 1);
	if (!ret)
		ret = identity_generate(&id);
	if (!ret)
		ret = keystore_save(out, id, &u.ks);
	if (!ret)
		ret = cli_write_pub(pub, id);
	if (!ret) {
		char h[65];

		hex_encode(h, identity_sign_pk(id), 32);
		printf("%s\n", h);
		fprintf(stderr, "muster: wrote %s (secret, 0600) and %s (public)\n", out, pub);
	}
out:
	identity_free(id);
	cli_unlock_free(&u);
	free(pub);
	return ret ? fail("keygen", ret) : 0;
}

static int cmd_pubkey(int argc, char **argv)
{
	uint8_t pk[32];
	char h[65];
	int ret;

	if (argc != 2) {
		fprintf(stderr, "usage: muster pubkey IDENTITY-FILE\n");
		return 2;
	}
	ret = keystore_peek_pk(argv[1], pk);
	if (ret)
		return fail(argv[1], ret);
	hex_encode(h, pk, 32);
	printf("%s\n", h);
	return 0;
}

static int cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, { 0 } };
	uint8_t *data = NULL;
	size_t len = 0;
	int c, json = 0, ret;

	while ((c = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		if (c != 'j')
			return 2;
		json = 1;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: muster inspect [--json] FILE\n");
		return 2;
	}
	ret = cli_read_file(argv[optind], BUNDLE_ENC_MAX, &data, &len);
	if (!ret)
		ret = inspect_print(stdout, data, len, json);
	free(data);
	return ret ? fail(argv[optind], ret) : 0;
}

#define SOCKET_DEFAULT "/run/muster/muster.sock"

/* Commands answered by the daemon: the CLI forwards its arguments, minus
 * --json and --socket, and prints what comes back. */
static int cmd_daemon(int argc, char **argv)
{
	const char *sock = getenv("MUSTER_SOCKET");
	char *fwd[CTL_ARGS_MAX + 1];
	unsigned flags = isatty(STDOUT_FILENO) ? CTL_F_TTY : 0;
	int n = 0, ret;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			flags |= CTL_F_JSON;
		} else if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			sock = argv[++i];
		} else {
			if (n == CTL_ARGS_MAX) {
				fprintf(stderr, "muster: too many arguments\n");
				return 2;
			}
			fwd[n++] = argv[i];
		}
	}
	fwd[n] = NULL;
	ret = ctl_call(sock && *sock ? sock : SOCKET_DEFAULT, n, fwd, flags, stdout);
	return ret ? 1 : 0;
}

/* import: the daemon opens the files, so it is given absolute paths. */
static int cmd_import(int argc, char **argv)
{
	char *fwd[CTL_ARGS_MAX + 3];
	int n = 0, ret;

	if (argc > CTL_ARGS_MAX + 2) {
		fprintf(stderr, "muster: too many arguments\n");
		return 2;
	}
	for (int i = 0; i < argc; i++) {
		bool opt = i == 0 || argv[i][0] == '-' || !strcmp(argv[i - 1], "--socket");

		fwd[n] = opt ? strdup(argv[i]) : realpath(argv[i], NULL);
		if (!fwd[n]) {
			fprintf(stderr, "muster import: %s: %s\n", argv[i], strerror(errno));
			ret = 1;
			goto out;
		}
		n++;
	}
	ret = cmd_daemon(n, fwd);
out:
	while (n)
		free(fwd[--n]);
	return ret;
}

static const struct subcommand commands[] = {
	{ "send", cmd_daemon, "[--to all|role:R|person:KEY|channel:NAME] [--priority P] [--expires-min M] TEXT",
	  "send an encrypted message" },
	{ "inbox", cmd_daemon, "[--json] [--limit N]", "messages for you" },
	{ "sent", cmd_daemon, "[--json] [--limit N]", "messages you sent" },
	{ "peers", cmd_daemon, "[--json]", "links to other nodes" },
	{ "status", cmd_daemon, "[--json]", "this node, its store and its links" },
	{ "import", cmd_import, "[--json] FILE...", "store bundle files (e.g. a CA's revocation) and flood them" },
	{ "keygen", cmd_keygen, "--out FILE [--keyfile KF | --passphrase-file PF]",
	  "create a staff or node identity (FILE secret, FILE.pub public)" },
	{ "pubkey", cmd_pubkey, "IDENTITY-FILE", "print an identity's key id" },
	{ "inspect", cmd_inspect, "[--json] FILE", "decode a bundle or credential" },
	{ "help", cmd_help, "", "this list" },
};

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("usage: muster COMMAND [OPTIONS]\n"
	       "Daemon commands take --socket PATH (default $MUSTER_SOCKET or %s).\n\n", SOCKET_DEFAULT);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("  %-8s %-48s %s\n", commands[i].name, commands[i].usage, commands[i].help);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		cmd_help(0, NULL);
		return 2;
	}
	if (mu_crypto_init())
		return fail("libsodium", MU_E_CRYPTO);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "muster: unknown command '%s' (try: muster help)\n", argv[1]);
	return 2;
}
