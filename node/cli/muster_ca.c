/* muster-ca: the trust's offline certificate authority. It keeps the CA's
 * identity in a directory (ca.key wrapped, ca.pub public), issues staff and
 * node credentials, and signs revocations. Run it on an offline machine;
 * move credentials and revocations to the mesh as files. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "clock.h"
#include "cli_util.h"
#include "cred.h"
#include "err.h"
#include "hex.h"
#include "keystore.h"
#include "verify.h"

#define DAY_MS (24ull * 3600 * 1000)
#define CA_VALID_DAYS_DEFAULT 365
#define CA_VALID_DAYS_MAX (5 * 366)
#define REVOCATION_LIFETIME_DAYS_DEFAULT (2 * 366)
/* A wipe order must outlive the device's absence: it is delivered when the
 * device next meets any node, for as long as its credential could still be
 * accepted (credentials default to 365 days). docs/operations.md. */
#define WIPE_LIFETIME_DAYS_DEFAULT (2 * 366)

static int fail(const char *what, int err)
{
	fprintf(stderr, "muster-ca: %s: %s\n", what, mu_strerror(err));
	return 1;
}

static char *ca_path(const char *dir, const char *name)
{
	char *p = NULL;

	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* What every command is given: the CA's directory and how its key is
 * unlocked (--keyfile, --passphrase-file, or a prompt). */
struct ca_ctx {
	const char *dir;
	struct cli_unlock u;
};

#define CA_COMMON_OPTS                                                                                   \
	{ "dir", required_argument, NULL, 'd' }, { "keyfile", required_argument, NULL, 'k' },            \
		{ "passphrase-file", required_argument, NULL, 'p' }
#define CA_COMMON_USAGE "--dir DIR [--keyfile KF | --passphrase-file PF]"

/* Takes the option getopt returned if it is one of CA_COMMON_OPTS: 1 if it
 * was, 0 if the command must handle it. */
static int ca_common_opt(struct ca_ctx *cc, int c)
{
	switch (c) {
	case 'd': cc->dir = optarg; return 1;
	case 'k': cc->u.keyfile = optarg; return 1;
	case 'p': cc->u.passfile = optarg; return 1;
	default: return 0;
	}
}

/* Unlocks ca.key; *ca is the caller's (identity_free). */
static int ca_load(struct ca_ctx *cc, struct mu_identity **ca)
{
	char *key = ca_path(cc->dir, "ca.key");
	int ret = key ? cli_unlock_prepare(&cc->u, 0) : -ENOMEM;

	if (!ret)
		ret = keystore_load(ca, key, &cc->u.ks);
	free(key);
	return ret;
}

/* "--days N" for a command whose limit is max: 0 if N is 1..max. */
static int parse_days(const char *s, unsigned long max, unsigned long *days)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max) {
		fprintf(stderr, "muster-ca: --days must be 1..%lu\n", max);
		return -1;
	}
	*days = v;
	return 0;
}

static int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = { CA_COMMON_OPTS, { 0 } };
	struct ca_ctx cc = { 0 };
	struct mu_identity *ca = NULL;
	char *key = NULL, *pub = NULL;
	int c, ret;

	while ((c = getopt_long(argc, argv, "d:k:p:", opts, NULL)) != -1)
		if (!ca_common_opt(&cc, c))
			return 2;
	if (!cc.dir) {
		fprintf(stderr, "usage: muster-ca init " CA_COMMON_USAGE "\n");
		return 2;
	}
	if (mkdir(cc.dir, 0700) && errno != EEXIST)
		return fail(cc.dir, -errno);
	key = ca_path(cc.dir, "ca.key");
	pub = ca_path(cc.dir, "ca.pub");
	ret = key && pub ? 0 : -ENOMEM;
	if (!ret && access(key, F_OK) == 0)
		ret = -EEXIST; /* never overwrite a CA key */
	if (!ret && cc.u.keyfile) {
		ret = keystore_keyfile_create(cc.u.keyfile);
		if (ret == -EEXIST)
			ret = 0;
	}
	if (!ret)
		ret = cli_unlock_prepare(&cc.u, 1);
	if (!ret)
		ret = identity_generate(&ca);
	if (!ret)
		ret = keystore_save(key, ca, &cc.u.ks);
	if (!ret)
		ret = cli_write_pub(pub, ca);
	if (!ret) {
		char h[65];

		hex_encode(h, identity_sign_pk(ca), 32);
		printf("%s\n", h);
		fprintf(stderr, "muster-ca: CA created in %s; its key id (above) goes into every node's trust list\n",
			cc.dir);
	}
	identity_free(ca);
	cli_unlock_free(&cc.u);
	free(key);
	free(pub);
	return ret ? fail("init", ret) : 0;
}

static int cmd_issue(int argc, char **argv)
{
	static const struct option opts[] = {
		CA_COMMON_OPTS,
		{ "pub", required_argument, NULL, 'P' },
		{ "subject", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "role", required_argument, NULL, 'r' },
		{ "org", required_argument, NULL, 'O' },
		{ "reg", required_argument, NULL, 'g' },
		{ "days", required_argument, NULL, 'D' },
		{ "from-ms", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' },
		{ 0 },
	};
	struct ca_ctx cc = { 0 };
	struct mu_identity *ca = NULL;
	struct cred cr = { 0 };
	const char *pubf = NULL, *out = NULL, *subject = NULL, *name = NULL, *org = NULL, *reg = "",
		   *role = NULL;
	unsigned long days = CA_VALID_DAYS_DEFAULT;
	uint64_t from = mu_now_ms();
	uint8_t enc[CRED_ENC_MAX];
	int c, ret, len;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ca_common_opt(&cc, c))
			continue;
		switch (c) {
		case 'P': pubf = optarg; break;
		case 's': subject = optarg; break;
		case 'n': name = optarg; break;
		case 'r': role = optarg; break;
		case 'O': org = optarg; break;
		case 'g': reg = optarg; break;
		case 'D':
			if (parse_days(optarg, CA_VALID_DAYS_MAX, &days))
				return 2;
			break;
		case 'f': from = strtoull(optarg, NULL, 10); break;
		case 'o': out = optarg; break;
		default: return 2;
		}
	}
	if (!cc.dir || !pubf || !subject || !name || !role || !org || !out) {
		fprintf(stderr, "usage: muster-ca issue " CA_COMMON_USAGE " --pub KEY.pub --subject ID --name NAME "
				"--role ROLE --org ORG [--reg REG] [--days N] --out FILE.cred\n");
		return 2;
	}
	if (role_parse(role, &cr.role)) {
		fprintf(stderr, "muster-ca: unknown role '%s' (paramedic, technician, hart, doctor, nurse, "
				"aic, archive, control, node)\n", role);
		return 2;
	}
	if (strlen(subject) > CRED_TEXT_MAX || strlen(name) > CRED_TEXT_MAX || strlen(org) > CRED_TEXT_MAX ||
	    strlen(reg) > CRED_REG_MAX)
		return fail("issue", MU_E_TOOBIG);
	strcpy(cr.subject, subject);
	strcpy(cr.name, name);
	strcpy(cr.org, org);
	strcpy(cr.reg, reg);
	cr.valid_from = from;
	cr.valid_until = from + days * DAY_MS;
	ret = cli_read_pub(pubf, cr.sign_pk, cr.kx_pk);
	if (ret)
		return fail(pubf, ret);
	ret = ca_load(&cc, &ca);
	if (ret)
		goto out;
	len = cred_issue(enc, sizeof(enc), &cr, ca);
	ret = len < 0 ? len : cli_write_file(out, enc, (size_t)len, 0644);
	if (!ret)
		fprintf(stderr, "muster-ca: issued %s credential for %s (%s) to %s\n", role, name, subject, out);
out:
	identity_free(ca);
	cli_unlock_free(&cc.u);
	return ret ? fail("issue", ret) : 0;
}

/* revoke and wipe: the same CA-signed REVOCATION bundle, flooded to every
 * node at immediate priority; they differ in reason and in what the
 * revoked device does when it receives it. */
struct revoke_args {
	struct ca_ctx cc;
	const char *keyhex, *out;
	uint8_t reason;
	unsigned long days;
};

static int sign_revocation(struct revoke_args *a, const char *cmd)
{
	struct mu_identity *ca = NULL;
	uint8_t key[MU_KEY_BYTES], payload[REVOCATION_BYTES], enc[BUNDLE_ENC_MAX];
	struct bundle b = { 0 };
	int ret, len;

	if (strlen(a->keyhex) != 2 * MU_KEY_BYTES || hex_decode(key, MU_KEY_BYTES, a->keyhex))
		return fail("--key (64 hex digits: muster pubkey KEYFILE prints it)", MU_E_FORMAT);
	len = revocation_encode(payload, key, a->reason);
	if (len < 0)
		return fail(cmd, len);
	ret = ca_load(&a->cc, &ca);
	if (ret)
		goto out;
	b.kind = BK_REVOCATION;
	b.prio = PRIO_IMMEDIATE;
	b.hop_limit = BUNDLE_HOPS_MAX;
	b.created = mu_now_ms();
	b.expires = b.created + a->days * DAY_MS;
	b.dest_type = DEST_ALL;
	b.payload = payload;
	b.payload_len = sizeof(payload);
	len = bundle_seal(enc, sizeof(enc), &b, ca);
	ret = len < 0 ? len : cli_write_file(a->out, enc, (size_t)len, 0644);
out:
	identity_free(ca);
	cli_unlock_free(&a->cc.u);
	return ret ? fail(cmd, ret) : 0;
}

/* Options of revoke and wipe; reasons is NULL for wipe (its reason is
 * fixed). Returns 0, or 2 on a usage error. */
static int revoke_parse(int argc, char **argv, struct revoke_args *a, const char *const *reasons,
			size_t nreasons)
{
	static const struct option opts[] = {
		CA_COMMON_OPTS,
		{ "key", required_argument, NULL, 'K' },
		{ "reason", required_argument, NULL, 'r' },
		{ "days", required_argument, NULL, 'D' },
		{ "out", required_argument, NULL, 'o' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ca_common_opt(&a->cc, c))
			continue;
		switch (c) {
		case 'K': a->keyhex = optarg; break;
		case 'o': a->out = optarg; break;
		case 'D':
			if (parse_days(optarg, CA_VALID_DAYS_MAX, &a->days))
				return 2;
			break;
		case 'r':
			if (!reasons) {
				fprintf(stderr, "muster-ca: a wipe order's reason is always \"wipe\"\n");
				return 2;
			}
			a->reason = 0xff;
			for (size_t i = 0; i < nreasons; i++)
				if (!strcmp(optarg, reasons[i]))
					a->reason = (uint8_t)i;
			if (a->reason == 0xff) {
				fprintf(stderr, "muster-ca: unknown --reason '%s'\n", optarg);
				return 2;
			}
			break;
		default: return 2;
		}
	}
	return a->cc.dir && a->keyhex && a->out ? 0 : 2;
}

static int cmd_revoke(int argc, char **argv)
{
	/* Indexed by enum revoke_reason; "wipe" is its own command. */
	static const char *const reasons[] = { "unspecified", "lost", "compromised", "left" };
	struct revoke_args a = { .reason = REVOKE_UNSPECIFIED, .days = REVOCATION_LIFETIME_DAYS_DEFAULT };
	int ret = revoke_parse(argc, argv, &a, reasons, sizeof(reasons) / sizeof(reasons[0]));

	if (ret) {
		fprintf(stderr, "usage: muster-ca revoke " CA_COMMON_USAGE " --key KEYID-HEX "
				"[--reason unspecified|lost|compromised|left] [--days N] --out FILE.bundle\n");
		return ret;
	}
	ret = sign_revocation(&a, "revoke");
	if (!ret)
		fprintf(stderr, "muster-ca: revocation written to %s; give it to any node to flood the mesh\n",
			a.out);
	return ret;
}

static int cmd_wipe(int argc, char **argv)
{
	struct revoke_args a = { .reason = REVOKE_WIPE, .days = WIPE_LIFETIME_DAYS_DEFAULT };
	int ret = revoke_parse(argc, argv, &a, NULL, 0);

	if (ret) {
		fprintf(stderr, "usage: muster-ca wipe " CA_COMMON_USAGE " --key KEYID-HEX [--days N] "
				"--out FILE.bundle\n"
				"  KEYID is the lost device's node key or its user's key; the order stays in the\n"
				"  mesh for --days (default %d), so a device that comes back later still gets it.\n",
			WIPE_LIFETIME_DAYS_DEFAULT);
		return ret;
	}
	ret = sign_revocation(&a, "wipe");
	if (!ret)
		fprintf(stderr, "muster-ca: wipe order written to %s; give it to any node to flood the mesh. "
				"It revokes the key everywhere; the device destroys its keys and store when "
				"it receives it\n",
			a.out);
	return ret;
}

struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct subcommand commands[] = {
	{ "init", cmd_init, "create the CA key in a directory" },
	{ "issue", cmd_issue, "issue a staff or node credential" },
	{ "revoke", cmd_revoke, "sign a revocation of a key" },
	{ "wipe", cmd_wipe, "sign a remote-wipe order for a lost device (revokes its key too)" },
};

int main(int argc, char **argv)
{
	if (argc >= 2 && mu_crypto_init())
		return fail("libsodium", MU_E_CRYPTO);
	for (size_t i = 0; argc >= 2 && i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	}
	printf("usage: muster-ca COMMAND [OPTIONS]\n\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("  %-8s %s\n", commands[i].name, commands[i].help);
	return 2;
}
