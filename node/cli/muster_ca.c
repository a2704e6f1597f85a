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

static int load_ca(const char *dir, struct cli_unlock *u, struct mu_identity **ca)
{
	char *key = ca_path(dir, "ca.key");
	int ret = key ? cli_unlock_prepare(u, 0) : -ENOMEM;

	if (!ret)
		ret = keystore_load(ca, key, &u->ks);
	free(key);
	return ret;
}

static int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "keyfile", required_argument, NULL, 'k' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ 0 },
	};
	struct cli_unlock u = { 0 };
	struct mu_identity *ca = NULL;
	const char *dir = NULL;
	char *key = NULL, *pub = NULL;
	int c, ret;

	while ((c = getopt_long(argc, argv, "d:k:p:", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'k': u.keyfile = optarg; break;
		case 'p': u.passfile = optarg; break;
		default: return 2;
		}
	}
	if (!dir) {
		fprintf(stderr, "usage: muster-ca init --dir DIR [--keyfile KF | --passphrase-file PF]\n");
		return 2;
	}
	if (mkdir(dir, 0700) && errno != EEXIST)
		return fail(dir, -errno);
	key = ca_path(dir, "ca.key");
	pub = ca_path(dir, "ca.pub");
	ret = key && pub ? 0 : -ENOMEM;
	if (!ret && access(key, F_OK) == 0)
		ret = -EEXIST; /* never overwrite a CA key */
	if (!ret && u.keyfile) {
		ret = keystore_keyfile_create(u.keyfile);
		if (ret == -EEXIST)
			ret = 0;
	}
	if (!ret)
		ret = cli_unlock_prepare(&u, 1);
	if (!ret)
		ret = identity_generate(&ca);
	if (!ret)
		ret = keystore_save(key, ca, &u.ks);
	if (!ret)
		ret = cli_write_pub(pub, ca);
	if (!ret) {
		char h[65];

		hex_encode(h, identity_sign_pk(ca), 32);
		printf("%s\n", h);
		fprintf(stderr, "muster-ca: CA created in %s; its key id (above) goes into every node's trust list\n",
			dir);
	}
	identity_free(ca);
	cli_unlock_free(&u);
	free(key);
	free(pub);
	return ret ? fail("init", ret) : 0;
}

static int cmd_issue(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "keyfile", required_argument, NULL, 'k' },
		{ "passphrase-file", required_argument, NULL, 'p' },
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
	struct cli_unlock u = { 0 };
	struct mu_identity *ca = NULL;
	struct cred cr = { 0 };
	const char *dir = NULL, *pubf = NULL, *out = NULL, *subject = NULL, *name = NULL, *org = NULL,
		   *reg = "", *role = NULL;
	unsigned long days = CA_VALID_DAYS_DEFAULT;
	uint64_t from = mu_now_ms();
	uint8_t enc[CRED_ENC_MAX];
	int c, ret, len;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'k': u.keyfile = optarg; break;
		case 'p': u.passfile = optarg; break;
		case 'P': pubf = optarg; break;
		case 's': subject = optarg; break;
		case 'n': name = optarg; break;
		case 'r': role = optarg; break;
		case 'O': org = optarg; break;
		case 'g': reg = optarg; break;
		case 'D': days = strtoul(optarg, NULL, 10); break;
		case 'f': from = strtoull(optarg, NULL, 10); break;
		case 'o': out = optarg; break;
		default: return 2;
		}
	}
	if (!dir || !pubf || !subject || !name || !role || !org || !out) {
		fprintf(stderr, "usage: muster-ca issue --dir DIR --pub KEY.pub --subject ID --name NAME "
				"--role ROLE --org ORG [--reg REG] [--days N] --out FILE.cred\n");
		return 2;
	}
	if (days == 0 || days > CA_VALID_DAYS_MAX) {
		fprintf(stderr, "muster-ca: --days must be 1..%u\n", CA_VALID_DAYS_MAX);
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
	ret = load_ca(dir, &u, &ca);
	if (ret)
		goto out;
	len = cred_issue(enc, sizeof(enc), &cr, ca);
	ret = len < 0 ? len : cli_write_file(out, enc, (size_t)len, 0644);
	if (!ret)
		fprintf(stderr, "muster-ca: issued %s credential for %s (%s) to %s\n", role, name, subject, out);
out:
	identity_free(ca);
	cli_unlock_free(&u);
	return ret ? fail("issue", ret) : 0;
}

static int cmd_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "keyfile", required_argument, NULL, 'k' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "key", required_argument, NULL, 'K' },
		{ "reason", required_argument, NULL, 'r' },
		{ "out", required_argument, NULL, 'o' },
		{ 0 },
	};
	static const char *const reasons[] = { "unspecified", "lost", "compromised", "left" };
	struct cli_unlock u = { 0 };
	struct mu_identity *ca = NULL;
	const char *dir = NULL, *keyhex = NULL, *out = NULL, *reason_s = "unspecified";
	uint8_t key[32], payload[REVOCATION_BYTES], enc[BUNDLE_ENC_MAX];
	uint8_t reason = 0xff;
	struct bundle b = { 0 };
	int c, ret, len;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'k': u.keyfile = optarg; break;
		case 'p': u.passfile = optarg; break;
		case 'K': keyhex = optarg; break;
		case 'r': reason_s = optarg; break;
		case 'o': out = optarg; break;
		default: return 2;
		}
	}
	for (uint8_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (!strcmp(reason_s, reasons[i]))
			reason = i;
	if (!dir || !keyhex || !out || reason == 0xff) {
		fprintf(stderr, "usage: muster-ca revoke --dir DIR --key KEYID-HEX "
				"[--reason unspecified|lost|compromised|left] --out FILE.bundle\n");
		return 2;
	}
	if (hex_decode(key, 32, keyhex))
		return fail("--key", MU_E_FORMAT);
	ret = load_ca(dir, &u, &ca);
	if (!ret) {
		len = revocation_encode(payload, key, reason);
		ret = len < 0 ? len : 0;
	}
	if (ret)
		goto out;
	b.kind = BK_REVOCATION;
	b.prio = PRIO_IMMEDIATE;
	b.hop_limit = BUNDLE_HOPS_MAX;
	b.created = mu_now_ms();
	b.expires = b.created + REVOCATION_LIFETIME_DAYS_DEFAULT * DAY_MS;
	b.dest_type = DEST_ALL;
	b.payload = payload;
	b.payload_len = sizeof(payload);
	len = bundle_seal(enc, sizeof(enc), &b, ca);
	ret = len < 0 ? len : cli_write_file(out, enc, (size_t)len, 0644);
	if (!ret)
		fprintf(stderr, "muster-ca: revocation written to %s; give it to any node to flood the mesh\n",
			out);
out:
	identity_free(ca);
	cli_unlock_free(&u);
	return ret ? fail("revoke", ret) : 0;
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
