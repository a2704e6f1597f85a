/* Attachments in the control API (control_attach.h).
 *
 * Where chunks are found: chunk i of a manifest created at T is a bundle
 * by the same sender created at T - count + i (docs/protocol.md
 * "Attachments"), so the store's time index finds every copy of a chunk
 * with one short range scan instead of a walk of the store. Any bundle at
 * that time that is not the listed chunk (another attachment's, or a
 * tampered copy signed by the sender) is passed over; a copy that claims
 * the chunk's place but does not hash to the manifest entry is counted as
 * rejected. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach.h"
#include "clock.h"
#include "config.h"
#include "channel.h"
#include "control_attach.h"
#include "err.h"
#include "hex.h"
#include "incident.h"
#include "log.h"

int control_attach_config(struct node *n)
{
	uint64_t v;

	return config_u64(n->cfg, "messaging", "attach_max_bytes", ATTACH_MAX_DEFAULT, 1, ATTACH_BYTES_MAX, &v);
}

static uint64_t attach_max(struct node *n)
{
	uint64_t v = ATTACH_MAX_DEFAULT;

	if (config_u64(n->cfg, "messaging", "attach_max_bytes", ATTACH_MAX_DEFAULT, 1, ATTACH_BYTES_MAX, &v))
		v = ATTACH_MAX_DEFAULT; /* refused at start; not reached */
	return v;
}

bool control_attach_is_chunk(const struct bundle *b)
{
	uint8_t id[ATTACH_ID_BYTES];
	uint32_t index, count;

	return b->kind == BK_MESSAGE && !attach_chunk_header(b->payload, b->payload_len, id, &index, &count);
}

/* ---- send ---- */

/* Opens path as the asking user could (see import in control.c): a
 * regular file, not a symlink, owned by uid or world-readable (root may
 * read anything). Returns the fd or -errno. */
static int attach_open(const char *path, uid_t uid, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, st))
		ret = -errno;
	else if (!S_ISREG(st->st_mode))
		ret = -EINVAL;
	else if (uid != 0 && st->st_uid != uid && !(st->st_mode & S_IROTH))
		ret = -EACCES;
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

static int read_full(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = read(fd, buf + got, n - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : MU_E_FORMAT; /* shrank while we read */
		got += (size_t)k;
	}
	return 0;
}

static void add_user(struct node *n, struct recipients *rs)
{
	for (unsigned i = 0; i < rs->n; i++)
		if (!memcmp(rs->r[i].key, n->user_cred.sign_pk, MU_KEY_BYTES))
			return;
	if (rs->n == ENVELOPE_RECIPIENTS_MAX) {
		rs->overflow = true;
		return;
	}
	memcpy(rs->r[rs->n].key, n->user_cred.sign_pk, MU_KEY_BYTES);
	memcpy(rs->r[rs->n].kx_pk, n->user_cred.kx_pk, MU_KEY_BYTES);
	rs->n++;
}

/* Seals one chunk of the open file into a bulk bundle and ingests it. */
static int store_chunk(struct node *n, const struct bundle *tmpl, const struct attach_manifest *m, int fd,
		       uint32_t i, uint64_t created, uint8_t hash[static ATTACH_HASH_BYTES])
{
	static uint8_t plain[ATTACH_CHUNK_BYTES], payload[ATTACH_CHUNK_PAYLOAD_MAX], enc[BUNDLE_ENC_MAX];
	struct bundle cb = *tmpl;
	size_t len = attach_chunk_len(m, i);
	int ret = read_full(fd, plain, len), plen;

	if (ret)
		return ret;
	plen = attach_chunk_seal(payload, sizeof(payload), hash, m->id, m->key, i, m->count, plain, len);
	sodium_memzero(plain, len);
	if (plen < 0)
		return plen;
	cb.kind = BK_MESSAGE;
	cb.prio = PRIO_BULK; /* never ahead of anything a person is waiting for */
	cb.created = created;
	cb.payload = payload;
	cb.payload_len = (size_t)plen;
	ret = bundle_seal(enc, sizeof(enc), &cb, n->user);
	return ret < 0 ? ret : node_ingest(n, enc, (size_t)ret, 0, NULL);
}

static int seal_manifest(struct node *n, struct bundle *b, struct recipients *rs, const struct attach_manifest *m,
			 struct ctl_reply *r)
{
	static uint8_t content[1 + ATTACH_MANIFEST_MAX];
	static uint8_t env[ENVELOPE_OVERHEAD(ENVELOPE_RECIPIENTS_MAX) + 1 + ATTACH_MANIFEST_MAX];
	static uint8_t enc[BUNDLE_ENC_MAX];
	int len = attach_manifest_encode(content + 1, sizeof(content) - 1, m), elen, ret;

	if (len < 0)
		return len;
	content[0] = CONTENT_ATTACHMENT;
	/* A channel's manifest is sealed under the channel's epoch key like
	 * any channel message (channel.h); the chunks need no such step: their
	 * key is in the manifest. */
	if (b->dest_type == DEST_CHANNEL)
		elen = channel_seal(n, b, env, sizeof(env), content, 1 + (size_t)len, rs, r);
	else
		elen = envelope_seal(env, sizeof(env), content, 1 + (size_t)len, rs->r, rs->n,
				     identity_sign_pk(n->user));
	sodium_memzero(content, sizeof(content)); /* it held the chunk key */
	if (elen < 0)
		return elen;
	b->payload = env;
	b->payload_len = (size_t)elen;
	ret = bundle_seal(enc, sizeof(enc), b, n->user);
	b->payload = NULL;
	if (ret >= 0)
		ret = node_ingest(n, enc, (size_t)ret, 0, NULL);
	return ret;
}

int control_attach_send(struct node *n, struct bundle *b, struct recipients *rs, const struct ctl_req *req,
			const char *path, const char *caption, uint64_t lifetime_ms, struct ctl_reply *r)
{
	static uint8_t hashes[ATTACH_CHUNKS_MAX][ATTACH_HASH_BYTES];
	const char *mime = control_arg_value(req, "--mime");
	struct attach_manifest m = { .chunk_bytes = ATTACH_CHUNK_BYTES };
	uint64_t max = attach_max(n), t;
	struct stat st;
	int fd = -1, ret;

	if (*path != '/') {
		ctl_reply_printf(r, "--attach wants an absolute path (the muster CLI sends one)\n");
		return MU_E_FORMAT;
	}
	if (caption && strlen(caption) > ATTACH_CAPTION_MAX) {
		ctl_reply_printf(r, "an attachment's caption is limited to %d bytes\n", ATTACH_CAPTION_MAX);
		return MU_E_TOOBIG;
	}
	attach_name_sanitise(m.name, path);
	if (mime) {
		size_t i;

		for (i = 0; mime[i] && i < ATTACH_MIME_MAX; i++)
			m.mime[i] = (char)tolower((unsigned char)mime[i]);
		m.mime[i] = 0;
		if (mime[i] || !attach_mime_ok(m.mime)) {
			ctl_reply_printf(r, "--mime wants type/subtype (e.g. image/jpeg), at most %d bytes\n",
					 ATTACH_MIME_MAX);
			return MU_E_FORMAT;
		}
	} else {
		snprintf(m.mime, sizeof(m.mime), "%s", attach_mime_guess(m.name));
	}
	fd = attach_open(path, req->uid, &st);
	if (fd < 0) {
		ctl_reply_printf(r, "%s: %s\n", path, mu_strerror(fd));
		return fd;
	}
	if (st.st_size == 0 || (uint64_t)st.st_size > max) {
		if (st.st_size == 0)
			ctl_reply_printf(r, "%s is empty: nothing to attach\n", path);
		else
			ctl_reply_printf(r,
					 "%s is %" PRIu64 " bytes; attachments are limited to %" PRIu64
					 " bytes on this node ([messaging] attach_max_bytes)\n",
					 path, (uint64_t)st.st_size, max);
		close(fd);
		return st.st_size == 0 ? MU_E_FORMAT : MU_E_TOOBIG;
	}
	add_user(n, rs); /* the sender reads their own sent attachments */
	if (rs->overflow) {
		close(fd);
		ctl_reply_printf(r, "more than %d recipients: use a channel\n", ENVELOPE_RECIPIENTS_MAX);
		return MU_E_TOOBIG;
	}
	m.size = (uint64_t)st.st_size;
	m.count = attach_chunks_for(m.size);
	m.hashes = &hashes[0][0];
	if (caption) {
		m.caption = (const uint8_t *)caption;
		m.caption_len = strlen(caption);
	}
	randombytes_buf(m.id, sizeof(m.id));
	crypto_aead_xchacha20poly1305_ietf_keygen(m.key);
	t = mu_now_ms();
	b->created = t;
	b->expires = t + lifetime_ms;
	/* Chunks first: a manifest is never stored without its chunks here. */
	ret = 0;
	for (uint32_t i = 0; !ret && i < m.count; i++)
		ret = store_chunk(n, b, &m, fd, i, t - m.count + i, hashes[i]);
	close(fd);
	if (!ret)
		ret = seal_manifest(n, b, rs, &m, r);
	if (!ret)
		ret = node_commit(n); /* "sent" means stored durably */
	sodium_memzero(m.key, sizeof(m.key));
	if (ret) {
		/* Chunks already committed stay until they expire (bulk, so
		 * first to be evicted); without a manifest no one can read them. */
		ctl_reply_printf(r, "not stored: %s\n", mu_strerror(ret));
		return ret;
	}
	log_info(SUB_CTL, "attachment stored: %" PRIu32 " chunks, %" PRIu64 " bytes", m.count, m.size);
	return 0;
}

/* ---- finding chunks ---- */

struct manifest_ctx {
	struct bundle b; /* the manifest bundle (payload not kept) */
	struct attach_manifest m;
};

/* Loads and opens manifest id for the user. The manifest's caption and
 * hashes point into a static buffer valid until the next call. */
static int manifest_load(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES], struct manifest_ctx *mc)
{
	static uint8_t enc[BUNDLE_ENC_MAX], content[BUNDLE_PAYLOAD_MAX];
	size_t len, clen;
	int ret;

	ret = store_get(n->store, id, enc, sizeof(enc), &len, NULL);
	if (!ret)
		ret = bundle_decode(&mc->b, enc, len);
	if (!ret)
		ret = node_msg_content(n, &mc->b, content, sizeof(content), &clen);
	if (!ret && content[0] != CONTENT_ATTACHMENT)
		ret = MU_E_NOTFOUND;
	if (!ret)
		ret = attach_manifest_decode(&mc->m, content + 1, clen - 1);
	mc->b.payload = NULL;
	if (!ret && mc->b.created < mc->m.count)
		ret = MU_E_FORMAT;
	return ret;
}

struct chunk_find {
	struct node *n;
	const struct manifest_ctx *mc;
	uint64_t at;
	uint32_t index;
	uint8_t *out; /* non-NULL: decrypt into it */
	size_t out_len;
	int found; /* 0, or the error of the last copy refused */
	bool have;
	unsigned bad;
};

static int find_cb(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES])
{
	static uint8_t enc[BUNDLE_ENC_MAX];
	struct chunk_find *f = ctx;
	uint8_t aid[ATTACH_ID_BYTES];
	uint32_t index, count;
	struct store_info info;
	struct bundle b;
	size_t len;
	int ret;

	if (created != f->at)
		return 1;
	if (store_peek(f->n->store, id, &info) || info.kind != BK_MESSAGE || info.prio != PRIO_BULK)
		return 0;
	if (store_get(f->n->store, id, enc, sizeof(enc), &len, NULL) || bundle_decode(&b, enc, len) ||
	    memcmp(b.sender, f->mc->b.sender, MU_KEY_BYTES) ||
	    attach_chunk_header(b.payload, b.payload_len, aid, &index, &count) ||
	    memcmp(aid, f->mc->m.id, ATTACH_ID_BYTES) || index != f->index)
		return 0; /* not this chunk at all */
	if (f->out)
		ret = attach_chunk_open(f->out, ATTACH_CHUNK_BYTES, &f->out_len, &f->mc->m, f->index, b.payload,
					b.payload_len);
	else
		ret = attach_chunk_check(&f->mc->m, f->index, b.payload, b.payload_len);
	if (!ret) {
		f->have = true;
		return 1;
	}
	f->bad++;
	f->found = ret;
	return 0;
}

static int chunk_find(struct node *n, const struct manifest_ctx *mc, uint32_t i, uint8_t *out,
		      struct chunk_find *f)
{
	int ret;

	*f = (struct chunk_find){ .n = n, .mc = mc, .index = i, .out = out };
	f->at = mc->b.created - mc->m.count + i;
	ret = store_scan_time(n->store, f->at, NULL, find_cb, f);
	return ret < 0 ? ret : 0;
}

struct held {
	uint32_t have, bad_chunks, first_bad;
	uint64_t have_bytes;
};

/* Walks every chunk; map (count + 1 bytes, or NULL) gets 'h' held, 'x'
 * only refused copies, '-' missing. */
static int held_scan(struct node *n, const struct manifest_ctx *mc, struct held *h, char *map)
{
	*h = (struct held){ .first_bad = UINT32_MAX };
	for (uint32_t i = 0; i < mc->m.count; i++) {
		struct chunk_find f;
		int ret = chunk_find(n, mc, i, NULL, &f);

		if (ret)
			return ret;
		if (f.have) {
			h->have++;
			h->have_bytes += attach_chunk_len(&mc->m, i);
		} else if (f.bad) {
			h->bad_chunks++;
			if (h->first_bad == UINT32_MAX)
				h->first_bad = i;
		}
		if (map)
			map[i] = f.have ? 'h' : f.bad ? 'x' : '-';
	}
	if (map)
		map[mc->m.count] = 0;
	return 0;
}

/* ---- get ---- */

static int get_status(struct node *n, const struct manifest_ctx *mc, const char *idhex, bool json,
		      struct ctl_reply *r)
{
	static char map[ATTACH_CHUNKS_MAX + 1];
	char aid[2 * ATTACH_ID_BYTES + 1], from[128];
	struct held h;
	int ret = held_scan(n, mc, &h, map);

	if (ret) {
		ctl_reply_printf(r, "cannot read the store: %s\n", mu_strerror(ret));
		return ret;
	}
	hex_encode(aid, mc->m.id, ATTACH_ID_BYTES);
	control_who(n, mc->b.sender, from, sizeof(from));
	if (json) {
		ctl_reply_printf(r, "{\"id\":\"%s\",\"attachment\":\"%s\",\"from\":", idhex, aid);
		control_json_str(r, from);
		ctl_reply_printf(r, ",\"name\":");
		control_json_str(r, mc->m.name);
		ctl_reply_printf(r, ",\"mime\":");
		control_json_str(r, mc->m.mime);
		ctl_reply_printf(r,
				 ",\"size\":%" PRIu64 ",\"chunk_bytes\":%" PRIu32 ",\"chunks\":%" PRIu32
				 ",\"have\":%" PRIu32 ",\"have_bytes\":%" PRIu64 ",\"bad\":%" PRIu32
				 ",\"complete\":%s,\"created\":%" PRIu64 ",\"expires\":%" PRIu64 ",\"map\":\"%s\"}\n",
				 mc->m.size, mc->m.chunk_bytes, mc->m.count, h.have, h.have_bytes, h.bad_chunks,
				 h.have == mc->m.count ? "true" : "false", mc->b.created, mc->b.expires, map);
	} else {
		ctl_reply_printf(r, "%s  %s  %" PRIu64 " bytes from %s\n%" PRIu32 "/%" PRIu32 " chunks held (%" PRIu64
				    "/%" PRIu64 " bytes)%s\n",
				 mc->m.name, mc->m.mime, mc->m.size, from, h.have, mc->m.count, h.have_bytes,
				 mc->m.size, h.have == mc->m.count ? ", complete" : "");
		if (h.bad_chunks)
			ctl_reply_printf(r,
					 "%" PRIu32 " chunk%s (first: %" PRIu32
					 ") only held as copies that do not match the manifest: refused, waiting for a "
					 "good copy\n",
					 h.bad_chunks, h.bad_chunks == 1 ? "" : "s", h.first_bad);
	}
	return 0;
}

static int get_chunk(struct node *n, const struct manifest_ctx *mc, const char *which, struct ctl_reply *r)
{
	static uint8_t plain[ATTACH_CHUNK_BYTES];
	char *end;
	unsigned long i = strtoul(which, &end, 10);
	struct chunk_find f;
	int ret;

	if (!*which || *end || i >= mc->m.count) {
		ctl_reply_printf(r, "--chunk wants 0..%" PRIu32 "\n", mc->m.count - 1);
		return MU_E_FORMAT;
	}
	ret = chunk_find(n, mc, (uint32_t)i, plain, &f);
	if (!ret && !f.have)
		ret = f.bad ? MU_E_MISMATCH : MU_E_NOTFOUND;
	if (ret) {
		if (ret == MU_E_MISMATCH || ret == MU_E_SIG)
			ctl_reply_printf(r, "chunk %lu: the copies held here do not match the signed manifest; refused\n",
					 i);
		else
			ctl_reply_printf(r, "chunk %lu: %s\n", i, ret == MU_E_NOTFOUND ? "not here yet" : mu_strerror(ret));
		return ret;
	}
	ctl_reply_write(r, plain, f.out_len);
	sodium_memzero(plain, f.out_len);
	return 0;
}

static int ctl_get(struct node *n, const struct ctl_req *req, struct ctl_reply *r)
{
	static struct manifest_ctx mc;
	const char *chunk = control_arg_value(req, "--chunk");
	uint8_t id[BUNDLE_ID_BYTES];
	int ret;

	if (!n->user) {
		ctl_reply_printf(r, "no user on this node: set [user] identity and credential in the config\n");
		return MU_E_NOCRED;
	}
	if (req->argc < 2 || strlen(req->argv[1]) != 2 * BUNDLE_ID_BYTES ||
	    hex_decode(id, BUNDLE_ID_BYTES, req->argv[1])) {
		ctl_reply_printf(r, "usage: muster get ID [--status] [--chunk N]  (ID: the message's 64 hex digits)\n");
		return MU_E_FORMAT;
	}
	node_commit(n);
	ret = manifest_load(n, id, &mc);
	if (ret) {
		ctl_reply_printf(r, "%s\n", ret == MU_E_NOTFOUND ? "no attachment with that id here for you"
								: "that attachment's manifest is unreadable");
		return ret;
	}
	if (chunk)
		ret = get_chunk(n, &mc, chunk, r);
	else
		ret = get_status(n, &mc, req->argv[1], req->flags & CTL_F_JSON, r);
	sodium_memzero(&mc, sizeof(mc));
	return ret;
}

int control_attach(struct node *n, const struct ctl_req *req, struct ctl_reply *r, int *ret)
{
	if (req->argc < 1 || strcmp(req->argv[0], "get"))
		return 0;
	*ret = ctl_get(n, req, r);
	return 1;
}

/* ---- inbox ---- */

int control_attach_summary(struct node *n, const struct bundle *b, uint8_t *content, size_t *len, size_t cap)
{
	static char line[ATTACH_NAME_MAX + ATTACH_MIME_MAX + ATTACH_CAPTION_MAX + 128];
	struct manifest_ctx mc = { .b = *b };
	struct held h = { 0 };
	int ret;

	if (*len < 1 || content[0] != CONTENT_ATTACHMENT)
		return MU_E_FORMAT;
	ret = attach_manifest_decode(&mc.m, content + 1, *len - 1);
	if (!ret && b->created < mc.m.count)
		ret = MU_E_FORMAT;
	if (ret)
		return ret;
	if (held_scan(n, &mc, &h, NULL))
		h.have = 0;
	snprintf(line, sizeof(line), "[attachment] %s %s %" PRIu64 " bytes, %" PRIu32 "/%" PRIu32 " chunks%s%s%.*s",
		 mc.m.name, mc.m.mime, mc.m.size, h.have, mc.m.count, h.have == mc.m.count ? " (muster get)" : "",
		 mc.m.caption_len ? ": " : "", (int)mc.m.caption_len, (const char *)mc.m.caption);
	sodium_memzero(content, *len);
	sodium_memzero(&mc, sizeof(mc));
	*len = 1 + strlen(line);
	if (*len + 1 > cap)
		*len = cap - 1;
	content[0] = CONTENT_ATTACHMENT;
	memcpy(content + 1, line, *len - 1);
	content[*len] = 0;
	return 0;
}
