/* Shared pieces of the control handlers (control_util.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "channel.h"
#include "clock.h"
#include "control_util.h"
#include "err.h"
#include "hex.h"
#include "json.h"
#include "nhsnum.h"

const char *control_arg_value(const struct ctl_req *req, const char *name)
{
	for (int i = 1; i + 1 < req->argc; i++)
		if (!strcmp(req->argv[i], name))
			return req->argv[i + 1];
	return NULL;
}

bool control_arg_flag(const struct ctl_req *req, const char *name)
{
	for (int i = 1; i < req->argc; i++)
		if (!strcmp(req->argv[i], name))
			return true;
	return false;
}

void control_json_str(struct ctl_reply *r, const char *s)
{
	char *q = json_quote(s);

	ctl_reply_printf(r, "%s", q ? q : "null");
	free(q);
}

void control_json_hex(struct ctl_reply *r, const uint8_t *p, size_t n)
{
	char h[2 * 64 + 1];

	if (n > 64)
		n = 64;
	hex_encode(h, p, n);
	ctl_reply_printf(r, "\"%s\"", h);
}

const char *control_who(struct node *n, const uint8_t key[static MU_KEY_BYTES], char *buf, size_t cap)
{
	struct cred c;
	char h[17];

	if (store_cred_lookup(n->store, key, &c) == 0) {
		snprintf(buf, cap, "%s (%s)", c.name, role_name(c.role));
		return buf;
	}
	hex_encode(h, key, 8);
	snprintf(buf, cap, "%s", h);
	return buf;
}

/* ---- recipients ---- */

static void recipients_add(struct recipients *rs, const struct cred *c)
{
	for (unsigned i = 0; i < rs->n; i++)
		if (!memcmp(rs->r[i].key, c->sign_pk, MU_KEY_BYTES))
			return;
	if (rs->n == ENVELOPE_RECIPIENTS_MAX) {
		rs->overflow = true;
		return;
	}
	memcpy(rs->r[rs->n].key, c->sign_pk, MU_KEY_BYTES);
	memcpy(rs->r[rs->n].kx_pk, c->kx_pk, MU_KEY_BYTES);
	rs->n++;
}

static int collect_recipient(void *ctx, const struct cred *c)
{
	struct recipients *rs = ctx;

	if (c->role == ROLE_NODE)
		return 0;
	/* The hospital archive reads everything: that is how it reaches the
	 * record. */
	if (c->role == ROLE_HOSPITAL_ARCHIVE || (!rs->archive_only && (!rs->role || c->role == rs->role)))
		recipients_add(rs, c);
	return 0;
}

int control_parse_dest(struct node *n, const char *to, struct bundle *b, struct recipients *rs,
		       struct ctl_reply *r)
{
	struct cred c;

	if (!strcmp(to, "all")) {
		b->dest_type = DEST_ALL;
		return store_scan_creds(n->store, collect_recipient, rs);
	}
	if (!strncmp(to, "role:", 5)) {
		if (role_parse(to + 5, &rs->role)) {
			ctl_reply_printf(r, "unknown role '%s'\n", to + 5);
			return MU_E_FORMAT;
		}
		b->dest_type = DEST_ROLE;
		b->dest_len = 1;
		b->dest[0] = rs->role;
		return store_scan_creds(n->store, collect_recipient, rs);
	}
	if (!strncmp(to, "person:", 7)) {
		b->dest_type = DEST_PERSON;
		b->dest_len = MU_KEY_BYTES;
		if (hex_decode(b->dest, MU_KEY_BYTES, to + 7)) {
			ctl_reply_printf(r, "person: wants a 64-digit key id\n");
			return MU_E_FORMAT;
		}
		if (store_cred_lookup(n->store, b->dest, &c)) {
			ctl_reply_printf(r, "no credential known for that person on this node yet\n");
			return MU_E_NOCRED;
		}
		recipients_add(rs, &c);
		rs->archive_only = true;
		return store_scan_creds(n->store, collect_recipient, rs);
	}
	if (!strncmp(to, "channel:", 8)) {
		/* Sealed with the channel's epoch key (node/channel.h); the
		 * ordinary recipients are the archives (and the user). */
		int ret = channel_resolve(n, to + 8, b, r);

		rs->archive_only = true;
		return ret ? ret : store_scan_creds(n->store, collect_recipient, rs);
	}
	ctl_reply_printf(r, "--to must be all, role:NAME, person:KEYID or channel:NAME\n");
	return MU_E_FORMAT;
}

/* An NHS number in a message is refused unless the sender confirms it
 * (warn, the default) or always (block); the reply points to the casualty
 * tag. */
int control_check_identifiers(struct node *n, const char *text, bool confirmed, struct ctl_reply *r)
{
	size_t at, span;

	if (n->nhs_policy == NHS_ALLOW || !nhs_number_find(text, strlen(text), &at, &span))
		return 0;
	if (n->nhs_policy == NHS_WARN && confirmed)
		return 0;
	ctl_reply_printf(r,
			 "not sent: the text contains what looks like an NHS number (\"%.*s\").\n"
			 "Minimise patient identifiers: use the casualty's triage tag number instead.\n",
			 (int)span, text + at);
	if (n->nhs_policy == NHS_WARN)
		ctl_reply_printf(r, "If the number must go, send again with --confirm-identifier.\n");
	else
		ctl_reply_printf(r,
				 "This node is configured to block them ([messaging] nhs_number = block).\n");
	return MU_E_IDENTIFIER;
}

int control_seal_store(struct node *n, struct bundle *b, struct recipients *rs, const uint8_t *content,
		       size_t len, uint64_t lifetime_ms, struct ctl_reply *r)
{
	static uint8_t env[ENVELOPE_OVERHEAD(ENVELOPE_RECIPIENTS_MAX) + CONTROL_CONTENT_MAX];
	static uint8_t enc[BUNDLE_ENC_MAX];
	struct cred user = n->user_cred;
	int elen, ret;

	recipients_add(rs, &user); /* the sender reads their own sent messages */
	if (rs->overflow) {
		ctl_reply_printf(r, "more than %d recipients: use a channel\n", ENVELOPE_RECIPIENTS_MAX);
		return MU_E_TOOBIG;
	}
	if (len > CONTROL_CONTENT_MAX) {
		ctl_reply_printf(r, "content is limited to %d bytes\n", CONTROL_CONTENT_MAX);
		return MU_E_TOOBIG;
	}
	b->created = mu_now_ms();
	b->expires = b->created + lifetime_ms;
	if (b->dest_type == DEST_CHANNEL) /* replies itself; may shorten b->expires */
		elen = channel_seal(n, b, env, sizeof(env), content, len, rs, r);
	else
		elen = envelope_seal(env, sizeof(env), content, len, rs->r, rs->n, identity_sign_pk(n->user));
	if (elen < 0) {
		if (b->dest_type != DEST_CHANNEL)
			ctl_reply_printf(r, "not stored: %s\n", mu_strerror(elen));
		return elen;
	}
	b->payload = env;
	b->payload_len = (size_t)elen;
	ret = bundle_seal(enc, sizeof(enc), b, n->user);
	if (ret >= 0)
		ret = node_ingest(n, enc, (size_t)ret, 0, NULL);
	if (!ret)
		ret = node_commit(n); /* "sent" means stored durably */
	b->payload = NULL;
	if (ret) {
		ctl_reply_printf(r, "not stored: %s\n", mu_strerror(ret));
		return ret;
	}
	return 0;
}
