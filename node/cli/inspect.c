#include "inspect.h"

#include <inttypes.h>
#include <string.h>

#include "bundle.h"
#include "cli_util.h"
#include "cred.h"
#include "err.h"
#include "hex.h"
#include "verify.h"

static void text_hex_w(FILE *f, int width, const char *label, const uint8_t *p, size_t n)
{
	char h[2 * 64 + 1];

	hex_encode(h, p, n);
	fprintf(f, "%-*s %s\n", width, label, h);
}

static void text_hex(FILE *f, const char *label, const uint8_t *p, size_t n)
{
	text_hex_w(f, 14, label, p, n);
}

static void print_cred(FILE *f, const struct cred *c, int json, const char *indent)
{
	char t1[64], t2[64];
	const char *role = role_name(c->role);

	if (json) {
		fprintf(f, "{\"type\":\"credential\",\"role\":");
		json_str(f, role ? role : "unknown");
		fprintf(f, ",\"subject\":");
		json_str(f, c->subject);
		fprintf(f, ",\"name\":");
		json_str(f, c->name);
		fprintf(f, ",\"organisation\":");
		json_str(f, c->org);
		fprintf(f, ",\"registration\":");
		json_str(f, c->reg);
		fprintf(f, ",\"sign_pk\":");
		json_hex(f, c->sign_pk, 32);
		fprintf(f, ",\"kx_pk\":");
		json_hex(f, c->kx_pk, 32);
		fprintf(f, ",\"valid_from\":%" PRIu64 ",\"valid_until\":%" PRIu64 ",\"issuer\":",
			c->valid_from, c->valid_until);
		json_hex(f, c->issuer, 32);
		fprintf(f, "}");
		return;
	}
	fprintf(f, "%scredential\n", indent);
	fprintf(f, "%s  %-12s %s\n", indent, "role", role ? role : "unknown");
	fprintf(f, "%s  %-12s %s\n", indent, "subject", c->subject);
	fprintf(f, "%s  %-12s %s\n", indent, "name", c->name);
	fprintf(f, "%s  %-12s %s\n", indent, "organisation", c->org);
	fprintf(f, "%s  %-12s %s\n", indent, "registration", *c->reg ? c->reg : "(none)");
	fprintf(f, "%s  ", indent);
	text_hex_w(f, 12, "sign key", c->sign_pk, 32);
	fprintf(f, "%s  ", indent);
	text_hex_w(f, 12, "kx key", c->kx_pk, 32);
	fprintf(f, "%s  %-12s %s\n", indent, "valid from", cli_fmt_time(t1, sizeof(t1), c->valid_from));
	fprintf(f, "%s  %-12s %s\n", indent, "valid until", cli_fmt_time(t2, sizeof(t2), c->valid_until));
	fprintf(f, "%s  ", indent);
	text_hex_w(f, 12, "issuer", c->issuer, 32);
}

static void print_dest(FILE *f, const struct bundle *b, int json)
{
	char h[65] = "";
	const char *type = dest_type_name(b->dest_type);

	if (b->dest_type == DEST_ROLE && b->dest_len == 1) {
		const char *r = role_name(b->dest[0]);
		snprintf(h, sizeof(h), "%s", r ? r : "unknown");
	} else {
		hex_encode(h, b->dest, b->dest_len);
	}
	if (json) {
		fprintf(f, ",\"dest_type\":");
		json_str(f, type ? type : "unknown");
		fprintf(f, ",\"dest\":");
		json_str(f, h);
	} else {
		fprintf(f, "%-14s %s %s\n", "destination", type ? type : "unknown", h);
	}
}

static int print_bundle(FILE *f, const uint8_t *data, size_t len, int json)
{
	struct bundle b;
	struct cred c;
	uint8_t key[32], reason = 0;
	char t1[64], t2[64];
	const char *kind;
	int ret = bundle_decode(&b, data, len);
	int inner = -1; /* 0 cred, 1 revocation */

	if (ret)
		return ret;
	kind = bundle_kind_name(b.kind);
	if (b.kind == BK_CREDENTIAL && cred_decode(&c, b.payload, b.payload_len) == 0)
		inner = 0;
	if (b.kind == BK_REVOCATION && revocation_decode(b.payload, b.payload_len, key, &reason) == 0)
		inner = 1;
	if (json) {
		fprintf(f, "{\"type\":\"bundle\",\"id\":");
		json_hex(f, b.id, 32);
		fprintf(f, ",\"kind\":");
		if (kind)
			json_str(f, kind);
		else
			fprintf(f, "%u", b.kind);
		fprintf(f, ",\"priority\":");
		json_str(f, bundle_prio_name(b.prio));
		fprintf(f, ",\"hop_limit\":%u,\"sender\":", b.hop_limit);
		json_hex(f, b.sender, 32);
		fprintf(f, ",\"created\":%" PRIu64 ",\"expires\":%" PRIu64, b.created, b.expires);
		print_dest(f, &b, 1);
		fprintf(f, ",\"payload_bytes\":%zu", b.payload_len);
		if (inner == 0) {
			fprintf(f, ",\"credential\":");
			print_cred(f, &c, 1, "");
		} else if (inner == 1) {
			fprintf(f, ",\"revokes\":");
			json_hex(f, key, 32);
			fprintf(f, ",\"reason\":%u", reason);
		}
		fprintf(f, "}\n");
		return 0;
	}
	fprintf(f, "bundle\n");
	text_hex(f, "id", b.id, 32);
	if (kind)
		fprintf(f, "%-14s %s\n", "kind", kind);
	else
		fprintf(f, "%-14s %u (not known to this version)\n", "kind", b.kind);
	fprintf(f, "%-14s %s\n", "priority", bundle_prio_name(b.prio));
	fprintf(f, "%-14s %u\n", "hop limit", b.hop_limit);
	text_hex(f, "sender", b.sender, 32);
	fprintf(f, "%-14s %s\n", "created", cli_fmt_time(t1, sizeof(t1), b.created));
	fprintf(f, "%-14s %s\n", "expires", cli_fmt_time(t2, sizeof(t2), b.expires));
	print_dest(f, &b, 0);
	fprintf(f, "%-14s %zu bytes\n", "payload", b.payload_len);
	if (inner == 0)
		print_cred(f, &c, 0, "  ");
	if (inner == 1) {
		text_hex(f, "revokes", key, 32);
		fprintf(f, "%-14s %u\n", "reason", reason);
	}
	return 0;
}

int inspect_print(FILE *f, const uint8_t *data, size_t len, int json)
{
	struct cred c;
	int ret;

	if (len >= 8 && !memcmp(data, "MUSTERSK", 8)) {
		/* The public key sits at a fixed place only the keystore knows;
		 * say what the file is without parsing secrets. */
		if (json)
			fprintf(f, "{\"type\":\"identity-file\",\"bytes\":%zu}\n", len);
		else
			fprintf(f, "identity file (wrapped secret keys, %zu bytes); use `muster pubkey`\n", len);
		return 0;
	}
	if (len >= 2 && data[0] == 'M' && data[1] == 'B')
		return print_bundle(f, data, len, json);
	if (len >= 2 && data[0] == 'M' && data[1] == 'C') {
		ret = cred_decode(&c, data, len);
		if (ret)
			return ret;
		print_cred(f, &c, json, "");
		if (json)
			fputc('\n', f);
		return 0;
	}
	return MU_E_FORMAT;
}
