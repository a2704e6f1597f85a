/* The control API: what `muster` asks the daemon over the Unix socket.
 * Handlers render both plain text and JSON (CTL_F_JSON); they never print
 * message content except to the local user's own `inbox`, and the request
 * arguments (which may hold clinical text) are never logged. */
#include <errno.h>
#include <spawn.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grow.h"
#include "../crypto/envelope.h"
#include "channel.h"
#include "clock.h"
#include "config.h"
#include "control_attach.h"
#include "control_msg.h"
#include "control_util.h"
#include "ctl.h"
#include "err.h"
#include "hex.h"
#include "incident.h"
#include "json.h"
#include "log.h"
#include "nhsnum.h"
#include "node_int.h"

#define SEND_TEXT_MAX 4096               /* bytes of message text */
#define SEND_EXPIRES_MIN_DEFAULT (12 * 60) /* minutes */
#define SEND_EXPIRES_MIN_MAX (7 * 24 * 60)
#define INBOX_LIMIT_DEFAULT 50

/* ---- status ---- */

static int ctl_status(struct node *n, const struct ctl_req *req, struct ctl_reply *r)
{
	bool json = req->flags & CTL_F_JSON;
	struct store_stat st = { 0 };
	struct custody_stat cs = { 0 };
	char key[65];
	unsigned up = 0;

	node_commit(n);
	store_stat(n->store, &st);
	custody_stat(n, &cs);
	hex_encode(key, identity_sign_pk(n->id), MU_KEY_BYTES);
	for (struct conn *c = n->conns; c; c = c->next)
		up += c->st == CONN_UP;
	if (json) {
		ctl_reply_printf(r, "{\"node\":\"%s\",\"role\":\"%s\",\"enrolled\":%s,\"subject\":", key,
				 n->role == NODE_HOSPITAL ? "hospital" : "field", n->cred_enc ? "true" : "false");
		control_json_str(r, n->cred_enc ? n->cred.subject : "");
		ctl_reply_printf(r, ",\"user\":");
		control_json_str(r, n->user ? n->user_cred.name : "");
		ctl_reply_printf(r,
				 ",\"custody\":{\"unarchived\":%" PRIu64 ",\"unarchived_bytes\":%" PRIu64
				 ",\"awaiting_deletion\":%" PRIu64 ",\"awaiting_bytes\":%" PRIu64
				 ",\"tombstones\":%" PRIu64 ",\"records\":%" PRIu64 ",\"deleted\":%" PRIu64
				 ",\"grace_ms\":%" PRIu64 "}",
				 cs.unarchived, cs.unarchived_bytes, cs.awaiting, cs.awaiting_bytes, cs.tombstones,
				 cs.records, cs.deleted, n->custody.grace_ms);
		hospital_status(n, r, true);
		ctl_reply_printf(r,
				 ",\"store\":{\"bundles\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"credentials\":%" PRIu64
				 ",\"revoked\":%" PRIu64 ",\"evicted\":%" PRIu64 "},\"peers_up\":%u,"
				 "\"bundles_received\":%" PRIu64 ",\"bundles_duplicate\":%" PRIu64
				 ",\"bundles_refused\":%" PRIu64 ",\"bundles_local\":%" PRIu64
				 ",\"rate_limited\":%" PRIu64 ",\"links\":[",
				 st.count, st.bytes, st.creds, st.revoked, st.evicted, up, n->stats.bundles_in,
				 n->stats.bundles_dup, n->stats.bundles_rejected, n->stats.bundles_local,
				 n->stats.rate_limited);
	} else {
		ctl_reply_printf(r, "node      %s\nrole      %s\n", key, n->role == NODE_HOSPITAL ? "hospital" : "field");
		ctl_reply_printf(r, "enrolled  %s\n", n->cred_enc ? n->cred.subject : "no (no node credential)");
		ctl_reply_printf(r, "user      %s\n", n->user ? n->user_cred.name : "(none)");
		ctl_reply_printf(r, "store     %" PRIu64 " bundles, %" PRIu64 " bytes, %" PRIu64 " credentials, %" PRIu64
				    " revoked, %" PRIu64 " evicted\n",
				 st.count, st.bytes, st.creds, st.revoked, st.evicted);
		ctl_reply_printf(r, "custody   %" PRIu64 " messages (%" PRIu64 " bytes) not yet archived, %" PRIu64
				    " archived awaiting deletion, %" PRIu64 " deleted (tombstones)\n",
				 cs.unarchived, cs.unarchived_bytes, cs.awaiting, cs.tombstones);
		hospital_status(n, r, false);
		ctl_reply_printf(r, "bundles   %" PRIu64 " received, %" PRIu64 " duplicate, %" PRIu64 " refused, %" PRIu64
				    " rate-limited, %" PRIu64 " created here\n",
				 n->stats.bundles_in, n->stats.bundles_dup, n->stats.bundles_rejected,
				 n->stats.rate_limited, n->stats.bundles_local);
		ctl_reply_printf(r, "peers     %u up\n\n%-10s %-16s %-8s %-8s %6s %6s %12s %12s\n", up, "DRIVER", "INTERFACE",
				 "MODE", "FREQ", "SEEN", "LINKS", "BYTES IN", "BYTES OUT");
	}
	for (unsigned i = 0; i < n->ndrv; i++) {
		struct link_status ls = { 0 };

		n->drv[i].ops->status(n->drv[i].drv, &ls);
		if (json) {
			ctl_reply_printf(r, "%s{\"driver\":\"%s\",\"interface\":", i ? "," : "", ls.driver);
			control_json_str(r, ls.iface);
			ctl_reply_printf(r, ",\"mode\":\"%s\",\"freq_mhz\":%u,\"peers_seen\":%u,\"links_up\":%u,"
					    "\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 "}",
					 ls.mode, ls.freq_mhz, ls.peers_seen, ls.links_up, ls.stats.bytes_in,
					 ls.stats.bytes_out);
		} else {
			char freq[16] = "-";

			if (ls.freq_mhz)
				snprintf(freq, sizeof(freq), "%u", ls.freq_mhz);
			ctl_reply_printf(r, "%-10s %-16s %-8s %-8s %6u %6u %12" PRIu64 " %12" PRIu64 "\n", ls.driver,
					 *ls.iface ? ls.iface : "-", ls.mode, freq, ls.peers_seen, ls.links_up,
					 ls.stats.bytes_in, ls.stats.bytes_out);
		}
	}
	if (json)
		ctl_reply_printf(r, "]}\n");
	return 0;
}

/* ---- peers ---- */

static int ctl_peers(struct node *n, const struct ctl_req *req, struct ctl_reply *r)
{
	bool json = req->flags & CTL_F_JSON, first = true;

	if (json)
		ctl_reply_printf(r, "[");
	else
		ctl_reply_printf(r, "%-16s %-24s %-10s %-9s %-3s %-44s %7s %7s %6s\n", "PEER", "NAME", "ROLE", "STATE",
				 "DIR", "ADDRESS", "IN", "OUT", "SYNCS");
	for (struct conn *c = n->conns; c; c = c->next) {
		char k[17] = "-";
		const char *name = c->st == CONN_UP ? c->peer_cred.subject : "-";
		const char *role = c->st == CONN_UP ? (c->peer_role == NODE_HOSPITAL ? "hospital" : "field") : "-";

		if (c->st == CONN_UP)
			hex_encode(k, c->peer, 8);
		if (json) {
			ctl_reply_printf(r, "%s{\"peer\":", first ? "" : ",");
			if (c->st == CONN_UP)
				control_json_hex(r, c->peer, MU_KEY_BYTES);
			else
				ctl_reply_printf(r, "null");
			ctl_reply_printf(r, ",\"subject\":");
			control_json_str(r, name);
			ctl_reply_printf(r, ",\"role\":\"%s\",\"state\":\"%s\",\"inbound\":%s,\"address\":", role,
					 conn_state_name(c), c->inbound ? "true" : "false");
			control_json_str(r, c->lk->peer.text);
			ctl_reply_printf(r, ",\"driver\":\"%s\",\"bundles_in\":%" PRIu64 ",\"bundles_out\":%" PRIu64
					    ",\"syncs\":%" PRIu64 ",\"queued\":%zu,\"refused_by_peer\":%" PRIu64
					    ",\"refused_to_peer\":%" PRIu64,
					 c->lk->ops->name, c->bundles_in, c->bundles_out, c->syncs_done, c->oq.n,
					 c->refused_by_peer, c->refused_to_peer);
			if (conn_is_uplink(c)) {
				struct uplink_stats us;

				uplink_get_stats(c, &us);
				ctl_reply_printf(r,
						 ",\"uplink\":{\"keys_told\":%" PRIu64 ",\"keys_taken\":%" PRIu64
						 ",\"offers\":%" PRIu64 ",\"keys_answered\":%" PRIu64 "}",
						 us.keys, us.taken, us.offers, c->up_answered);
			}
			ctl_reply_printf(r, "}");
		} else {
			ctl_reply_printf(r, "%-16s %-24.24s %-10s %-9s %-3s %-44.44s %7" PRIu64 " %7" PRIu64 " %6" PRIu64 "\n",
					 k, name, role, conn_state_name(c), c->inbound ? "in" : "out", c->lk->peer.text,
					 c->bundles_in, c->bundles_out, c->syncs_done);
		}
		first = false;
	}
	if (json)
		ctl_reply_printf(r, "]\n");
	return 0;
}

/* ---- send ---- */

/* The one positional argument of send: everything else is an option with
 * a value or a flag. NULL if there is not exactly one. */
static const char *send_text(const struct ctl_req *req)
{
	static const char *const with_value[] = { "--to", "--priority", "--expires-min", "--hops", "--attach",
						   "--mime" };
	const char *text = NULL;

	for (int i = 1; i < req->argc; i++) {
		bool skip = false;

		for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			if (!strcmp(req->argv[i], with_value[k]))
				skip = true;
		if (skip) {
			i++;
			continue;
		}
		if (!strcmp(req->argv[i], "--confirm-identifier") || !strcmp(req->argv[i], "--alert"))
			continue;
		if (text)
			return NULL;
		text = req->argv[i];
	}
	return text;
}

static int ctl_send(struct node *n, const struct ctl_req *req, struct ctl_reply *r)
{
	static uint8_t content[1 + SEND_TEXT_MAX];
	const char *to = control_arg_value(req, "--to"), *prio = control_arg_value(req, "--priority");
	const char *exp = control_arg_value(req, "--expires-min"), *hops = control_arg_value(req, "--hops");
	const char *text = send_text(req);
	bool alert = control_arg_flag(req, "--alert");
	const char *attach = control_arg_value(req, "--attach"); /* text is then an optional caption */
	struct recipients rs = { 0 };
	struct bundle b = { .kind = BK_MESSAGE, .prio = PRIO_ROUTINE, .hop_limit = CONTROL_HOPS_DEFAULT };
	unsigned long minutes = SEND_EXPIRES_MIN_DEFAULT, h;
	char id[65];
	int ret;

	if (!n->user) {
		ctl_reply_printf(r, "no user on this node: set [user] identity and credential in the config\n");
		return MU_E_NOCRED;
	}
	if ((!text || !*text) && !attach) {
		ctl_reply_printf(r, "usage: muster send [--to all|role:NAME|person:KEYID|channel:NAME] [--priority P] "
				    "[--expires-min M] [--hops H] [--confirm-identifier] [--alert] TEXT\n"
				    "       muster send [options] --attach FILE [--mime TYPE] [CAPTION]\n");
		return MU_E_FORMAT;
	}
	if (!text)
		text = "";
	if (alert && attach) {
		ctl_reply_printf(r, "an alert carries text only; send the attachment as a message of its own\n");
		return MU_E_FORMAT;
	}
	if (strlen(text) > SEND_TEXT_MAX) {
		ctl_reply_printf(r, "message text is limited to %d bytes (attachments carry more)\n", SEND_TEXT_MAX);
		return MU_E_TOOBIG;
	}
	ret = control_check_identifiers(n, text, control_arg_flag(req, "--confirm-identifier"), r);
	if (ret)
		return ret;
	if (prio && bundle_prio_parse(prio, &b.prio)) {
		ctl_reply_printf(r, "priority must be immediate, urgent, routine or bulk\n");
		return MU_E_FORMAT;
	}
	if (alert && prio && b.prio != PRIO_IMMEDIATE) {
		ctl_reply_printf(r, "an alert is always immediate\n");
		return MU_E_FORMAT;
	}
	if (alert)
		b.prio = PRIO_IMMEDIATE; /* pushed at once and first on every link */
	if (exp && ((minutes = strtoul(exp, NULL, 10)) == 0 || minutes > SEND_EXPIRES_MIN_MAX)) {
		ctl_reply_printf(r, "--expires-min must be 1..%d\n", SEND_EXPIRES_MIN_MAX);
		return MU_E_FORMAT;
	}
	if (hops) {
		h = strtoul(hops, NULL, 10);
		if (h == 0 || h > BUNDLE_HOPS_MAX) {
			ctl_reply_printf(r, "--hops must be 1..%d\n", BUNDLE_HOPS_MAX);
			return MU_E_FORMAT;
		}
		b.hop_limit = (uint8_t)h;
	}
	ret = control_parse_dest(n, to ? to : "all", &b, &rs, r);
	if (ret)
		return ret;
	if (alert && b.dest_type != DEST_PERSON && b.dest_type != DEST_ROLE) {
		ctl_reply_printf(r, "an alert goes to person:KEYID or role:NAME\n");
		return MU_E_FORMAT;
	}
	content[0] = alert ? CONTENT_ALERT : CONTENT_TEXT;
	memcpy(content + 1, text, strlen(text));
	if (attach)
		ret = control_attach_send(n, &b, &rs, req, attach, *text ? text : NULL, (uint64_t)minutes * 60000, r);
	else
		ret = control_seal_store(n, &b, &rs, content, 1 + strlen(text), (uint64_t)minutes * 60000, r);
	if (ret)
		return ret;
	hex_encode(id, b.id, BUNDLE_ID_BYTES);
	if (req->flags & CTL_F_JSON)
		ctl_reply_printf(r, "{\"id\":\"%s\",\"recipients\":%u,\"priority\":\"%s\"}\n", id, rs.n,
				 bundle_prio_name(b.prio));
	else
		ctl_reply_printf(r, "stored %s (%s, %u recipients incl. archive and you)\n", id, bundle_prio_name(b.prio),
				 rs.n);
	return 0;
}

/* ---- inbox ---- */

struct inbox_walk {
	struct node *n;
	struct ctl_reply *r;
	bool json, first, sent;
	unsigned shown;
	struct msg_index *mi; /* receipts for the user (sent only) */
	uint8_t (*ids)[BUNDLE_ID_BYTES];
	size_t nids, cap;
};

static int inbox_collect(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES])
{
	struct inbox_walk *w = ctx;
	struct store_info info;

	(void)created;
	if (store_peek(w->n->store, id, &info) || info.kind != BK_MESSAGE)
		return 0;
	void *v = mu_grow(w->ids, &w->cap, w->nids, BUNDLE_ID_BYTES, 256);

	if (!v)
		return -ENOMEM;
	w->ids = v;
	memcpy(w->ids[w->nids++], id, BUNDLE_ID_BYTES);
	return 0;
}

static void inbox_show(struct inbox_walk *w, const uint8_t id[static BUNDLE_ID_BYTES])
{
	static uint8_t enc[BUNDLE_ENC_MAX], text[BUNDLE_PAYLOAD_MAX + 1];
	struct store_meta meta;
	struct bundle b;
	size_t len, tlen;
	char from[128], h[65];

	if (store_get(w->n->store, id, enc, sizeof(enc), &len, &meta) || bundle_decode(&b, enc, len))
		return;
	if (w->sent ? memcmp(b.sender, identity_sign_pk(w->n->user), MU_KEY_BYTES) : !node_msg_for_user(w->n, &b))
		return;
	if (node_msg_content(w->n, &b, text, sizeof(text) - 1, &tlen) ||
	    tlen < 1 || (text[0] != CONTENT_TEXT && text[0] != CONTENT_ALERT && text[0] != CONTENT_ATTACHMENT))
		return;
	if (text[0] == CONTENT_ATTACHMENT && control_attach_summary(w->n, &b, text, &tlen, sizeof(text)))
		return;
	text[tlen] = 0;
	control_who(w->n, b.sender, from, sizeof(from));
	hex_encode(h, b.id, BUNDLE_ID_BYTES);
	if (w->json) {
		ctl_reply_printf(w->r, "%s{\"id\":\"%s\",\"from\":", w->first ? "" : ",", h);
		control_json_hex(w->r, b.sender, MU_KEY_BYTES);
		ctl_reply_printf(w->r, ",\"from_name\":");
		control_json_str(w->r, from);
		ctl_reply_printf(w->r, ",\"priority\":\"%s\",\"created\":%" PRIu64 ",\"received\":%" PRIu64
				       ",\"hops\":%u,\"dest\":\"%s\",\"text\":",
				 bundle_prio_name(b.prio), b.created, meta.received, meta.hops,
				 dest_type_name(b.dest_type));
		control_json_str(w->r, (const char *)text + 1);
		control_msg_state(w->n, w->mi, w->r, &b, text[0], w->sent, true);
		ctl_reply_printf(w->r, "}");
	} else {
		ctl_reply_printf(w->r, "%.12s  %-10s %-32.32s %2u hops  %s\n", h, bundle_prio_name(b.prio), from,
				 meta.hops, (const char *)text + 1);
		control_msg_state(w->n, w->mi, w->r, &b, text[0], w->sent, false);
	}
	if (!w->sent)
		receipts_read(w->n, &b);
	w->first = false;
	w->shown++;
}

static int ctl_inbox(struct node *n, const struct ctl_req *req, struct ctl_reply *r, bool sent)
{
	struct inbox_walk w = { .n = n, .r = r, .json = req->flags & CTL_F_JSON, .first = true, .sent = sent };
	const char *lim = control_arg_value(req, "--limit");
	unsigned long limit = lim ? strtoul(lim, NULL, 10) : INBOX_LIMIT_DEFAULT;
	int ret;

	if (!n->user) {
		ctl_reply_printf(r, "no user on this node: set [user] identity and credential in the config\n");
		return MU_E_NOCRED;
	}
	node_commit(n);
	ret = store_scan_time(n->store, 0, NULL, inbox_collect, &w);
	if (!ret && sent)
		ret = control_msg_index(n, &w.mi);
	if (w.json)
		ctl_reply_printf(r, "[");
	/* Newest last, like a conversation; only the last `limit` shown. */
	for (size_t i = 0; !ret && i < w.nids; i++) {
		if (w.nids - i > limit * 4 && !control_arg_flag(req, "--everything"))
			continue; /* older than anything we could show */
		inbox_show(&w, w.ids[i]);
	}
	if (w.json)
		ctl_reply_printf(r, "]\n");
	else if (!w.shown)
		ctl_reply_printf(r, "(no messages)\n");
	control_msg_index_free(w.mi);
	free(w.ids);
	return ret;
}

/* ---- import ---- */

/* Reads one bundle file. The daemon opens it, so it must be a regular file
 * the asking user could read anyway (owned by them or world-readable; root
 * may import anything): the socket must not let its group read the
 * daemon's files. */
static int import_read(const char *path, uid_t uid, uint8_t *buf, size_t cap, size_t *len)
{
	struct stat st;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st))
		ret = -errno;
	else if (!S_ISREG(st.st_mode))
		ret = -EINVAL;
	else if (uid != 0 && st.st_uid != uid && !(st.st_mode & S_IROTH))
		ret = -EACCES;
	else if ((uint64_t)st.st_size > cap)
		ret = MU_E_TOOBIG;
	*len = 0;
	while (!ret && *len < (size_t)st.st_size) {
		got = read(fd, buf + *len, (size_t)st.st_size - *len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			ret = got < 0 ? -errno : MU_E_FORMAT; /* shrank while we read */
		else
			*len += (size_t)got;
	}
	close(fd);
	return ret;
}

/* import FILE...: bundles carried in as files (a CA's revocations, above
 * all), admitted and stored like bundles from a peer, then flooded. */
static int ctl_import(struct node *n, const struct ctl_req *req, struct ctl_reply *r)
{
	static uint8_t enc[BUNDLE_ENC_MAX];
	bool json = req->flags & CTL_F_JSON;
	int ret, first_err = 0, stored = 0;
	size_t len = 0;

	if (req->argc < 2) {
		ctl_reply_printf(r, "usage: muster import FILE...\n");
		return MU_E_FORMAT;
	}
	if (json)
		ctl_reply_printf(r, "[");
	for (int i = 1; i < req->argc; i++) {
		struct bundle b;
		char id[2 * BUNDLE_ID_BYTES + 1] = "";

		ret = import_read(req->argv[i], req->uid, enc, sizeof(enc), &len);
		if (!ret)
			ret = bundle_decode(&b, enc, len);
		if (!ret) {
			hex_encode(id, b.id, BUNDLE_ID_BYTES);
			ret = node_ingest(n, enc, len, 0, NULL);
		}
		if (!ret)
			ret = node_commit(n);
		if (!ret)
			stored++;
		if (json) {
			ctl_reply_printf(r, "%s{\"file\":", i > 1 ? "," : "");
			control_json_str(r, req->argv[i]);
			ctl_reply_printf(r, ",\"id\":\"%s\",\"result\":", id);
			control_json_str(r, ret == 0 ? "stored" : ret == MU_E_EXISTS ? "duplicate" : mu_strerror(ret));
			ctl_reply_printf(r, "}");
		} else if (ret == 0 || ret == MU_E_EXISTS) {
			ctl_reply_printf(r, "%s: %s %s\n", req->argv[i], ret ? "already stored" : "stored", id);
		} else {
			ctl_reply_printf(r, "%s: refused: %s\n", req->argv[i], mu_strerror(ret));
		}
		if (ret && ret != MU_E_EXISTS && !first_err)
			first_err = ret;
	}
	if (json)
		ctl_reply_printf(r, "]\n");
	if (stored)
		log_info(SUB_CTL, "imported %d bundle%s from files", stored, stored == 1 ? "" : "s");
	return first_err;
}

/* ---- dispatch ---- */

static int ctl_dispatch(void *user, const struct ctl_req *req, struct ctl_reply *r)
{
	struct node *n = user;
	const char *cmd = req->argc ? req->argv[0] : "";
	int ret;

	if (!strcmp(cmd, "status"))
		return ctl_status(n, req, r);
	if (!strcmp(cmd, "peers"))
		return ctl_peers(n, req, r);
	if (!strcmp(cmd, "send"))
		return ctl_send(n, req, r);
	if (!strcmp(cmd, "inbox"))
		return ctl_inbox(n, req, r, false);
	if (!strcmp(cmd, "sent"))
		return ctl_inbox(n, req, r, true);
	if (!strcmp(cmd, "import"))
		return ctl_import(n, req, r);
	if (control_incident(n, req, r, &ret))
		return ret;
	if (control_msg(n, req, r, &ret))
		return ret;
	if (control_archive(n, req, r, &ret))
		return ret;
	if (control_attach(n, req, r, &ret))
		return ret;
	if (control_channel(n, req, r, &ret))
		return ret;
	ctl_reply_printf(r, "unknown command '%s'\n", cmd);
	return -EINVAL;
}

int control_open(struct node *n)
{
	const char *path = config_str(n->cfg, "control", "socket", "/run/muster/muster.sock");
	const char *group = config_str(n->cfg, "control", "group", "muster");
	char *dir = strdup(path), *slash;
	int ret;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0755) && errno != EEXIST)
			log_warn(SUB_CTL, "cannot create %s: %s", dir, strerror(errno));
	}
	free(dir);
	if (control_attach_config(n))
		return MU_E_CONFIG;
	ret = ctl_server_open(&n->ctl, n->loop, path, *group ? group : NULL, ctl_dispatch, n);
	if (ret)
		log_err(SUB_CTL, "control socket %s: %s", path, mu_strerror(ret));
	return ret;
}

void control_close(struct node *n)
{
	ctl_server_close(n->ctl);
	n->ctl = NULL;
}

/* The notification hook ([messaging] notify_command): run without a shell,
 * with the sender's name, the priority and the destination in its
 * environment and nothing of the content, so a lock screen or pager shows
 * who and how urgent, never what. musterd ignores SIGCHLD, so children are
 * reaped by the kernel and the loop never waits for them. */
static void run_notify(struct node *n, const struct bundle *b, const char *from)
{
	char sender[160], prio[48], dest[96], chan[2 * BUNDLE_DEST_MAX + 1] = "";
	char *argv[] = { n->notify_cmd, NULL };
	char *envp[] = { sender, prio, dest, "PATH=/usr/bin:/bin", NULL };
	pid_t pid;
	int ret;

	if (b->dest_type == DEST_CHANNEL)
		hex_encode(chan, b->dest, b->dest_len);
	snprintf(sender, sizeof(sender), "MUSTER_SENDER=%s", from);
	snprintf(prio, sizeof(prio), "MUSTER_PRIORITY=%s", bundle_prio_name(b->prio));
	snprintf(dest, sizeof(dest), "MUSTER_DEST=%s%s%s", dest_type_name(b->dest_type), *chan ? ":" : "", chan);
	ret = posix_spawn(&pid, n->notify_cmd, NULL, NULL, argv, envp);
	if (ret)
		log_warn(SUB_MAIN, "notify_command %s: %s", n->notify_cmd, strerror(ret));
}

void node_deliver_notice(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES])
{
	static uint8_t enc[BUNDLE_ENC_MAX];
	struct bundle b;
	size_t len;
	char from[128];

	if (!n->user || store_get(n->store, id, enc, sizeof(enc), &len, NULL) || bundle_decode(&b, enc, len))
		return;
	if (!node_msg_for_user(n, &b) || !memcmp(b.sender, identity_sign_pk(n->user), MU_KEY_BYTES) ||
	    control_attach_is_chunk(&b))
		return;
	/* Sender and priority only: never content, so nothing clinical
	 * reaches a log or a lock screen. */
	log_info(SUB_MAIN, "new %s message for %s from %s", bundle_prio_name(b.prio), n->user_cred.name,
		 control_who(n, b.sender, from, sizeof(from)));
	if (n->notify_cmd)
		run_notify(n, &b, from);
}
