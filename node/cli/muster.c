/* muster: the staff command-line tool. Subcommands are listed in one table
 * (in the style of wg and iwctl); each parses its own options. Commands that
 * talk to the daemon arrive with the mesh issue. */
#include <errno.h>
#include <fcntl.h>
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
#include "get.h"
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

/* export --out FILE: the CLI writes the reply (new file, 0600: it may be
 * clinical content) as the calling user; on failure the daemon's message
 * goes to stderr and the file is removed. */
static int export_to_file(const char *sock, int n, char **fwd, unsigned flags, const char *path)
{
	char msg[4096];
	size_t k;
	FILE *f;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600), ret;

	if (fd < 0 || !(f = fdopen(fd, "w+"))) {
		fprintf(stderr, "muster: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	ret = ctl_call(sock, n, fwd, flags & ~(unsigned)CTL_F_TTY, f);
	if (ret) {
		rewind(f);
		k = fread(msg, 1, sizeof(msg), f);
		fwrite(msg, 1, k, stderr);
		unlink(path);
	}
	if (fclose(f) && !ret) {
		fprintf(stderr, "muster: %s: %s\n", path, strerror(errno));
		unlink(path);
		ret = -EIO;
	}
	return ret ? 1 : 0;
}

/* Commands answered by the daemon: the CLI forwards its arguments, minus
 * --json and --socket (and an export's --out FILE), and prints what comes
 * back. */
static int cmd_daemon(int argc, char **argv)
{
	const char *sock = getenv("MUSTER_SOCKET"), *out = NULL;
	char *fwd[CTL_ARGS_MAX + 1];
	unsigned flags = isatty(STDOUT_FILENO) ? CTL_F_TTY : 0;
	int n = 0, ret;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			flags |= CTL_F_JSON;
		} else if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			sock = argv[++i];
		} else if (!strcmp(argv[0], "export") && !strcmp(argv[i], "--out") && i + 1 < argc) {
			out = argv[++i];
		} else {
			if (n == CTL_ARGS_MAX) {
				fprintf(stderr, "muster: too many arguments\n");
				return 2;
			}
			fwd[n++] = argv[i];
		}
	}
	fwd[n] = NULL;
	if (out && strcmp(out, "-"))
		return export_to_file(sock && *sock ? sock : SOCKET_DEFAULT, n, fwd, flags, out);
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

/* send: an --attach FILE is opened by the daemon, so it gets an absolute
 * path, as import does. */
static int cmd_send(int argc, char **argv)
{
	char *fwd[CTL_ARGS_MAX + 3], *abs = NULL;
	int n = 0, ret;

	if (argc > CTL_ARGS_MAX + 2) {
		fprintf(stderr, "muster: too many arguments\n");
		return 2;
	}
	for (int i = 0; i < argc; i++) {
		fwd[n++] = argv[i];
		if (!strcmp(argv[i], "--attach") && i + 1 < argc && !abs) {
			abs = realpath(argv[++i], NULL);
			if (!abs) {
				fprintf(stderr, "muster send: %s: %s\n", argv[i], strerror(errno));
				return 1;
			}
			fwd[n++] = abs;
		}
	}
	ret = cmd_daemon(n, fwd);
	free(abs);
	return ret;
}

static int cmd_get(int argc, char **argv)
{
	return cli_get(argc, argv, SOCKET_DEFAULT);
}

static const struct subcommand commands[] = {
	{ "send", cmd_send, "[--to all|role:R|person:KEY|channel:NAME] [--priority P] [--expires-min M] [--alert] TEXT",
	  "send an encrypted message" },
	{ "inbox", cmd_daemon, "[--json] [--limit N]", "messages for you" },
	{ "sent", cmd_daemon, "[--json] [--limit N]", "messages you sent, with who received and read them" },
	{ "alerts", cmd_daemon, "[--json] [--limit N]", "your alerts: who acknowledged; alerts awaiting your ack" },
	{ "ack", cmd_daemon, "[--json] ID", "acknowledge an alert (ID: 8+ leading hex digits)" },
	{ "channel", cmd_daemon,
	  "create NAME [--member KEY]... [--role R]... | add NAME KEY... | remove NAME KEY... | rotate NAME | "
	  "list | show NAME",
	  "channels you created or hold a key for: members, epochs, rotation" },
	{ "peers", cmd_daemon, "[--json]", "links to other nodes" },
	{ "status", cmd_daemon, "[--json]", "this node, its store and its links" },
	{ "send --attach", cmd_send, "FILE [--mime TYPE] [--to ...] [--priority P] [CAPTION]",
	  "send a file (photo, document, voice note) as chunked bulk bundles" },
	{ "get", cmd_get, "ID [--out FILE|-] [--wait [--timeout S]] | ID --status [--json]",
	  "save an attachment once all its chunks are here, or show how many are" },
	{ "import", cmd_import, "[--json] FILE...", "store bundle files (e.g. a CA's revocation) and flood them" },
	{ "methane", cmd_daemon, "[--json] [--incident NAME]", "the incident's M/ETHANE report: latest, what changed, history" },
	{ "methane send", cmd_daemon,
	  "--declared|--standby|--stand-down|--not-declared --location TEXT [--grid|--w3w|--latlon] --type TEXT "
	  "--services TEXT [--hazards T] [--access T] [--p1 N --p2 N --p3 N --dead N] [--casualties-note T] "
	  "[--incident NAME]",
	  "declare or update the M/ETHANE report (immediate; an update restates what it does not change)" },
	{ "roster", cmd_daemon, "[--json] [--incident NAME]", "crews: status, skills, members, assignment" },
	{ "checkin", cmd_daemon,
	  "--callsign C --skills paramedic,hart,... [--vehicle V] [--location L] [--member KEYID]... "
	  "[--status available|committed|transporting] [--incident NAME]",
	  "check a crew in or change its status (you are always a member)" },
	{ "checkout", cmd_daemon, "--callsign C [--incident NAME]", "check a crew out" },
	{ "assign", cmd_daemon, "--callsign C --function F [--sector S] [--note N] [--incident NAME]",
	  "task a crew (incident commanders only)" },
	{ "acknowledge", cmd_daemon, "ASSIGNMENT-ID [--callsign C]", "acknowledge an assignment" },
	{ "requests", cmd_daemon, "[--json] [--incident NAME]", "staffing requests: open, filled, cancelled" },
	{ "request", cmd_daemon,
	  "send --need N --skill S --sector X [--note T] | accept REQUEST-ID --callsign C [--count N] | "
	  "decline REQUEST-ID --callsign C | cancel REQUEST-ID",
	  "ask for staff, or answer or withdraw a request (urgent)" },
	{ "triage", cmd_daemon, "[--json] [--incident NAME]", "P1/P2/P3/dead per CCS, totals, casualty movements" },
	{ "triage send", cmd_daemon, "--ccs NAME --p1 N --p2 N --p3 N --dead N [--at HH:MM|UNIXMS]",
	  "report a CCS's cumulative triage count (urgent)" },
	{ "casualty send", cmd_daemon,
	  "--tag TAG --priority P1|P2|P3 --destination HOSPITAL [--departed now|HH:MM] [--note T]",
	  "record a casualty's movement to hospital (urgent; tag numbers, never names)" },
	{ "incident-report", cmd_daemon, "[--json] [--incident NAME]", "everything as one timeline, for the record" },
	{ "archive", cmd_daemon, "[--json]", "hospital: the archive's items, audit head and custody receipts" },
	{ "audit verify", cmd_daemon, "[--json]", "hospital: check the archive's signed audit chain (exit 1 if bad)" },
	{ "export audit", cmd_daemon, "[--since SEQ]", "hospital: the audit log as JSON Lines (itself recorded)" },
	{ "export fhir", cmd_daemon, "[--incident NAME] [--since ISO|MS]",
	  "hospital: a FHIR R4 Bundle of Communication resources (recorded)" },
	{ "export report", cmd_daemon, "[--incident NAME]", "hospital: the incident report as text, from the archive" },
	{ "export subject", cmd_daemon, "--tag TAG | --ref TEXT [--json]",
	  "hospital: subject access: every archived item naming a casualty (recorded)" },
	{ "export attachment", cmd_daemon, "ID --out FILE",
	  "hospital: an archived attachment's file (recorded); any export takes --out FILE" },
	{ "erase", cmd_daemon, "--tag TAG | --ref TEXT | --id ID [--confirm]",
	  "hospital: erase archived items (lists them without --confirm)" },
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
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		/* long names and option lists get a line of their own */
		if (strlen(commands[i].name) > 8 || strlen(commands[i].usage) > 48)
			printf("  %-8s %s\n  %-8s %-48s %s\n", commands[i].name, commands[i].usage, "", "",
			       commands[i].help);
		else
			printf("  %-8s %-48s %s\n", commands[i].name, commands[i].usage, commands[i].help);
	}
	printf("\nIncident records (methane, checkin, ... casualty) take --incident NAME (default: the latest\n"
	       "incident readable here) and --confirm-identifier where they carry free text.\n");
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
		size_t len = strlen(argv[1]);

		/* "methane send" is listed apart for help; both reach "methane". */
		if (!strncmp(argv[1], commands[i].name, len) && (!commands[i].name[len] || commands[i].name[len] == ' '))
			return commands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "muster: unknown command '%s' (try: muster help)\n", argv[1]);
	return 2;
}
