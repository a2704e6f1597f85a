/* The hospital's exports and erasure (control_export.h): FHIR R4, the
 * incident report, subject access, attachment files and erasure, each
 * recorded in the audit chain. Content comes from the archive
 * (export_fhir.h, export_report.h, gdpr.h); this file adds the node:
 * credentials from the store, the control reply, the hospital store's own
 * copies.
 *
 * export fhir, report, subject and attachment stream (ctl_reply_stream):
 * each step writes about EXPORT_STEP_BYTES as the CLI drains the socket, so
 * an export has no size limit and the daemon holds little of it (the
 * report: its incident's scene, export_report.h). The audit entry is
 * written when the last step has been queued; an export the client
 * abandons is not recorded (nothing complete was handed out). */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "archive.h"
#include "attach.h"
#include "clock.h"
#include "control_export.h"
#include "control_util.h"
#include "err.h"
#include "export_fhir.h"
#include "export_report.h"
#include "gdpr.h"
#include "hex.h"
#include "log.h"

/* Items a confirmed erasure lists one by one (each line is under 128
 * bytes, text or JSON); the totals count all of them. */
#define ERASE_LIST_MAX 4096
_Static_assert(ERASE_LIST_MAX * 128 <= CTL_OUT_MAX / 2, "erase listing fits a reply");

struct dirbuf {
	struct cred *c;
	size_t n, cap;
};

static int dir_add(void *ctx, const struct cred *c)
{
	struct dirbuf *d = ctx;
	void *p;

	if (d->n == EXPORT_DIR_MAX)
		return 0; /* beyond the cap senders show as unknown keys */
	p = mu_grow(d->c, &d->cap, d->n, sizeof(*d->c), 64);
	if (!p)
		return -ENOMEM;
	d->c = p;
	d->c[d->n++] = *c;
	return 0;
}

static int dir_load(struct node *n, struct dirbuf *d, struct export_dir *dir)
{
	int ret;

	memset(d, 0, sizeof(*d));
	ret = store_scan_creds(n->store, dir_add, d);
	if (ret) {
		free(d->c);
		d->c = NULL;
		d->n = 0;
	}
	dir->c = d->c;
	dir->n = d->n;
	return ret;
}

static void note(struct archive *a, const uint8_t digest[static AUDIT_HASH_BYTES], const char *what)
{
	int ret = archive_audit_note(a, AUDIT_EXPORTED, digest, mu_now_ms(), NULL);

	if (ret)
		log_err(SUB_STORE, "%s export not recorded in the audit log: %s", what, mu_strerror(ret));
}

/* ---- export fhir / report ---- */

static int incident_opt(const struct ctl_req *req, struct ctl_reply *r, const char **out)
{
	const char *v = control_arg_value(req, "--incident");

	*out = v;
	if (v && (!*v || strlen(v) > INC_NAME_MAX)) {
		ctl_reply_printf(r, "--incident wants an incident name of 1..%d bytes\n", INC_NAME_MAX);
		return MU_E_FORMAT;
	}
	return 0;
}

struct fhir_job {
	struct archive *a;
	struct ctl_reply *r; /* of the step running */
	struct dirbuf d;
	struct export_dir dir;
	struct fhir_opts o;
	struct fhir_stream *fs;
};

static int job_out(void *ctx, const char *text, size_t len)
{
	struct fhir_job *j = ctx;

	ctl_reply_write(j->r, text, len);
	return 0;
}

static void fhir_job_free(void *state)
{
	struct fhir_job *j = state;

	if (!j)
		return;
	if (j->fs && j->r)
		log_info(SUB_CTL, "FHIR export abandoned by the client: not recorded");
	fhir_stream_free(j->fs);
	free(j->d.c);
	free(j);
}

static int fhir_job_step(void *state, struct ctl_reply *r)
{
	struct fhir_job *j = state;
	struct fhir_result res;
	int ret;

	j->r = r;
	ret = fhir_stream_step(j->fs, EXPORT_STEP_BYTES, &res);
	if (ret == 1)
		return CTL_STREAM_MORE;
	fhir_stream_free(j->fs);
	j->fs = NULL;
	if (ret) {
		log_err(SUB_STORE, "FHIR export stopped: %s", mu_strerror(ret));
		return ret;
	}
	note(j->a, res.digest, "FHIR");
	log_info(SUB_CTL,
		 "FHIR export: %" PRIu64 " communications, %" PRIu64 " practitioners, %" PRIu64
		 " attachment chunks, %" PRIu64 " erased and %" PRIu64 " filtered out",
		 res.communications, res.practitioners, res.chunks, res.erased, res.skipped);
	return 0;
}

static int ctl_export_fhir(struct node *n, struct archive *a, const struct ctl_req *req, struct ctl_reply *r)
{
	const char *since = control_arg_value(req, "--since");
	struct fhir_job *j = calloc(1, sizeof(*j));
	int ret = j ? 0 : -ENOMEM;

	if (!ret) {
		j->a = a;
		j->o.now = mu_now_ms();
		ret = incident_opt(req, r, &j->o.incident);
	}
	if (!ret && since && export_time_parse(since, &j->o.since)) {
		ctl_reply_printf(r, "--since wants Unix ms or YYYY-MM-DDTHH:MM:SS[.mmm]Z\n");
		ret = MU_E_FORMAT;
	}
	if (!ret)
		ret = dir_load(n, &j->d, &j->dir);
	if (!ret)
		ret = fhir_stream_new(&j->fs, a, &j->dir, &j->o, job_out, j);
	if (ret) {
		fhir_job_free(j);
		return ret;
	}
	ctl_reply_stream(r, fhir_job_step, fhir_job_free, j);
	return CTL_DEFER;
}

struct report_job {
	struct archive *a;
	struct ctl_reply *r; /* of the step running */
	struct dirbuf d;
	struct export_dir dir;
	struct report_stream *rs;
	crypto_generichash_state h;
	bool done;
};

static int report_job_out(void *ctx, const char *text, size_t len)
{
	struct report_job *j = ctx;

	crypto_generichash_update(&j->h, (const uint8_t *)text, len);
	ctl_reply_write(j->r, text, len);
	return 0;
}

static void report_job_free(void *state)
{
	struct report_job *j = state;

	if (!j)
		return;
	if (!j->done && j->r)
		log_info(SUB_CTL, "incident report abandoned by the client: not recorded");
	report_stream_free(j->rs);
	free(j->d.c);
	free(j);
}

static int report_job_step(void *state, struct ctl_reply *r)
{
	struct report_job *j = state;
	uint8_t digest[AUDIT_HASH_BYTES];
	struct report_result res;
	int ret;

	j->r = r;
	ret = report_stream_step(j->rs, EXPORT_STEP_BYTES, &res);
	if (ret == 1)
		return CTL_STREAM_MORE;
	j->done = true;
	if (ret) {
		log_err(SUB_STORE, "incident report stopped: %s", mu_strerror(ret));
		return ret;
	}
	crypto_generichash_final(&j->h, digest, sizeof(digest));
	note(j->a, digest, "incident report");
	log_info(SUB_CTL, "incident report of %s: %" PRIu64 " records", *res.incident ? res.incident : "-",
		 res.records);
	return 0;
}

static int ctl_export_report(struct node *n, struct archive *a, const struct ctl_req *req,
			     struct ctl_reply *r)
{
	struct report_job *j = calloc(1, sizeof(*j));
	const char *incident = NULL;
	int ret = j ? incident_opt(req, r, &incident) : -ENOMEM;

	if (!ret) {
		j->a = a;
		crypto_generichash_init(&j->h, NULL, 0, AUDIT_HASH_BYTES);
		ret = dir_load(n, &j->d, &j->dir);
	}
	if (!ret)
		ret = report_stream_new(&j->rs, a, &j->dir, incident, mu_now_ms(), report_job_out, j);
	if (ret == MU_E_TOOBIG)
		ctl_reply_printf(r, "the report covers at most %d incident records and the archive holds more%s\n",
				 SCENE_RECORDS_MAX, incident ? " of that incident" : "; name one with --incident");
	if (ret) {
		report_job_free(j);
		return ret;
	}
	ctl_reply_stream(r, report_job_step, report_job_free, j);
	return CTL_DEFER;
}

/* ---- subject access ---- */

static int subject_opt(const struct ctl_req *req, struct ctl_reply *r, struct gdpr_subject *s)
{
	const char *tag = control_arg_value(req, "--tag"), *ref = control_arg_value(req, "--ref");

	if (!tag == !ref) {
		ctl_reply_printf(r, "name the subject with --tag TAG or --ref TEXT (one of them)\n");
		return MU_E_FORMAT;
	}
	if (gdpr_subject_set(s, tag ? GDPR_TAG : GDPR_REF, tag ? tag : ref)) {
		ctl_reply_printf(r, "%s wants %d..%d bytes of printable text with a letter or digit\n",
				 tag ? "--tag" : "--ref", GDPR_SUBJECT_MIN, GDPR_SUBJECT_MAX);
		return MU_E_FORMAT;
	}
	return 0;
}

/* The item's content as one readable string (for text, the text). */
static void content_text(char *out, size_t cap, const uint8_t *c, size_t len)
{
	static struct inc_record rec;
	struct attach_manifest m;

	if (len && (c[0] == CONTENT_TEXT || c[0] == CONTENT_ALERT))
		snprintf(out, cap, "%.*s", (int)(len - 1), (const char *)c + 1);
	else if (len && c[0] == CONTENT_INCIDENT && !inc_decode(&rec, c + 1, len - 1))
		export_record_line(out, cap, &rec);
	else if (len && c[0] == CONTENT_ATTACHMENT && !attach_manifest_decode(&m, c + 1, len - 1))
		snprintf(out, cap, "attachment %s (%s, %" PRIu64 " bytes)%s%.*s", m.name, m.mime, m.size,
			 m.caption_len ? ": " : "", (int)m.caption_len, (const char *)m.caption);
	else
		snprintf(out, cap, "(content of a type this version cannot read, %zu bytes)", len);
}

enum sar_phase { SAR_ITEMS, SAR_FILE, SAR_END };

struct sar {
	struct node *n;
	struct archive *a;
	struct ctl_reply *r; /* of the step running */
	crypto_generichash_state h;
	struct gdpr_subject s;
	uint8_t sd[AUDIT_HASH_BYTES];
	enum sar_phase phase;
	bool json, done;
	uint64_t count, after, upto;
	size_t step_bytes;
	/* SAR_FILE: the file of the manifest just written (JSON data) */
	uint8_t file[BUNDLE_ID_BYTES];
	uint32_t next, chunks;
	char *text; /* ARCHIVE_CONTENT_MAX + 1 */
	uint8_t *chunk; /* ARCHIVE_CONTENT_MAX */
	char *b64;
};

#define SAR_B64_MAX (ARCHIVE_CONTENT_MAX / 3 * 4 + 8)

static int sar_out(void *ctx, const char *s, size_t len)
{
	struct sar *w = ctx;

	crypto_generichash_update(&w->h, (const uint8_t *)s, len);
	ctl_reply_write(w->r, s, len);
	w->step_bytes += len;
	return 0;
}

static int sar_printf(struct sar *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sar_printf(struct sar *w, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (len < 0)
		return MU_E_FORMAT;
	return sar_out(w, buf, (size_t)len < sizeof(buf) ? (size_t)len : sizeof(buf) - 1);
}

static int sar_str(struct sar *w, const char *s)
{
	return export_json_str(sar_out, w, (const uint8_t *)s, strlen(s));
}

/* How many chunks of manifest id are archived (erased ones not). */
static uint32_t chunks_archived(struct archive *a, const uint8_t id[static BUNDLE_ID_BYTES], uint32_t count)
{
	uint8_t cid[BUNDLE_ID_BYTES];
	struct archive_item it;
	uint32_t have = 0;

	for (uint32_t k = 0; k < count; k++)
		if (!archive_chunk_id(a, id, k, cid) && !archive_get(a, cid, &it, NULL, 0, NULL, NULL, 0, NULL) &&
		    !(it.flags & ARCHIVE_F_ERASED))
			have++;
	return have;
}

/* The attachment's file after its manifest: how much of it the archive
 * holds and, in JSON, the bytes (base64, streamed by the SAR_FILE steps)
 * when it is complete. 1 when SAR_FILE is to follow. */
static int sar_file(struct sar *w, const struct archive_item *it, const uint8_t *content, size_t len)
{
	struct attach_manifest m;
	char id[2 * BUNDLE_ID_BYTES + 1];
	uint32_t have;
	int ret;

	if (!len || content[0] != CONTENT_ATTACHMENT || attach_manifest_decode(&m, content + 1, len - 1))
		return w->json ? sar_out(w, "}", 1) : 0;
	have = chunks_archived(w->a, it->id, m.count);
	hex_encode(id, it->id, BUNDLE_ID_BYTES);
	if (!w->json) {
		ret = sar_printf(w,
				 "    file: %" PRIu64 " bytes, %" PRIu32 " of %" PRIu32
				 " chunks archived; the file itself: muster export attachment %s --out FILE\n",
				 m.size, have, m.count, id);
		sodium_memzero(&m, sizeof(m));
		return ret;
	}
	ret = sar_printf(w, ",\"file\":{\"size\":%" PRIu64 ",\"chunks\":%" PRIu32 ",\"archived\":%" PRIu32
			    ",\"data\":",
			 m.size, m.count, have);
	if (!ret && have < m.count)
		ret = sar_out(w, "null}}", 6);
	else if (!ret) {
		ret = sar_out(w, "\"", 1);
		memcpy(w->file, it->id, BUNDLE_ID_BYTES);
		w->next = 0;
		w->chunks = m.count;
		w->phase = SAR_FILE;
		if (!ret)
			ret = 1;
	}
	sodium_memzero(&m, sizeof(m));
	return ret;
}

/* One chunk of the file as base64 (whole chunks are multiples of 3 bytes:
 * the pieces join into one base64 text). */
static int sar_file_step(struct sar *w)
{
	uint8_t cid[BUNDLE_ID_BYTES];
	size_t clen = 0;
	int ret;

	if (w->next == w->chunks) {
		w->phase = SAR_ITEMS;
		return sar_out(w, "\"}}", 3);
	}
	ret = archive_chunk_id(w->a, w->file, w->next, cid);
	if (!ret)
		ret = archive_get(w->a, cid, NULL, w->chunk, ARCHIVE_CONTENT_MAX, &clen, NULL, 0, NULL);
	if (!ret && (clen <= ARCHIVE_CHUNK_HDR || w->chunk[0] != ARCHIVE_CONTENT_CHUNK))
		ret = MU_E_FORMAT; /* erased since the manifest was written */
	if (!ret) {
		sodium_bin2base64(w->b64, SAR_B64_MAX, w->chunk + ARCHIVE_CHUNK_HDR, clen - ARCHIVE_CHUNK_HDR,
				  sodium_base64_VARIANT_ORIGINAL);
		ret = sar_out(w, w->b64, strlen(w->b64));
		sodium_memzero(w->b64, strlen(w->b64));
	}
	sodium_memzero(w->chunk, clen);
	w->next++;
	return ret;
}

static int sar_item(void *ctx, const struct archive_item *it, const uint8_t *content, size_t len)
{
	struct sar *w = ctx;
	struct cred c;
	bool known = !store_cred_lookup(w->n->store, it->sender, &c);
	char id[2 * BUNDLE_ID_BYTES + 1], key[2 * MU_KEY_BYTES + 1], t[48], ta[48], kind[48];
	int ret;

	hex_encode(id, it->id, BUNDLE_ID_BYTES);
	hex_encode(key, it->sender, MU_KEY_BYTES);
	export_iso_time(t, it->created);
	export_iso_time(ta, it->archived);
	export_content_kind(kind, sizeof(kind), content, len);
	content_text(w->text, ARCHIVE_CONTENT_MAX + 1, content, len);
	if (!w->json) {
		ret = sar_printf(w, "\n[%" PRIu64 "] %s  %s  from %s%s%s%s\n    id %s, archived %s\n    ",
				 w->count + 1, t, kind, known ? c.name : key, known ? " (" : "",
				 known ? (role_name(c.role) ? role_name(c.role) : "?") : "", known ? ")" : "",
				 id, ta);
		if (!ret && known && *c.reg)
			ret = sar_printf(w, "registration %s, %s\n    ", c.reg, c.org);
		if (!ret)
			ret = sar_out(w, w->text, strlen(w->text));
		if (!ret)
			ret = sar_out(w, "\n", 1);
	} else {
		ret = sar_printf(w,
				 "%s{\"id\":\"%s\",\"time\":\"%s\",\"archived\":\"%s\",\"type\":\"%s\","
				 "\"sender\":{\"key\":\"%s\",\"name\":",
				 w->count ? "," : "", id, t, ta, kind, key);
		if (!ret)
			ret = known ? sar_str(w, c.name) : sar_out(w, "null", 4);
		if (!ret)
			ret = sar_out(w, ",\"role\":", 8);
		if (!ret)
			ret = known && role_name(c.role) ? sar_str(w, role_name(c.role))
							 : sar_out(w, "null", 4);
		if (!ret)
			ret = sar_out(w, ",\"registration\":", 16);
		if (!ret)
			ret = known ? sar_str(w, c.reg) : sar_out(w, "null", 4);
		if (!ret)
			ret = sar_out(w, ",\"org\":", 7);
		if (!ret)
			ret = known ? sar_str(w, c.org) : sar_out(w, "null", 4);
		if (!ret)
			ret = sar_out(w, "},\"content\":", 12);
		if (!ret)
			ret = export_json_str(sar_out, w, (const uint8_t *)w->text, strlen(w->text));
	}
	sodium_memzero(w->text, strlen(w->text));
	w->count++;
	if (!ret)
		ret = sar_file(w, it, content, len);
	if (!ret && w->step_bytes >= EXPORT_STEP_BYTES)
		ret = 1; /* pause: the rest in the next step */
	return ret;
}

static void sar_free(void *state)
{
	struct sar *w = state;

	if (!w)
		return;
	if (!w->done && w->r)
		log_info(SUB_CTL, "subject access export abandoned by the client: not recorded");
	free(w->text);
	free(w->chunk);
	free(w->b64);
	sodium_memzero(w, sizeof(*w));
	free(w);
}

static int sar_step(void *state, struct ctl_reply *r)
{
	struct sar *w = state;
	char sdh[2 * AUDIT_HASH_BYTES + 1];
	int ret = 0;

	w->r = r;
	w->step_bytes = 0;
	while (!ret && w->step_bytes < EXPORT_STEP_BYTES) {
		if (w->phase == SAR_FILE) {
			ret = sar_file_step(w);
			continue;
		}
		if (w->phase == SAR_END)
			break;
		ret = gdpr_scan_from(w->a, &w->s, w->after, w->upto, sar_item, w, &w->after);
		if (ret == 1)
			ret = 0; /* paused: go on (maybe with a file) */
		else if (!ret)
			w->phase = SAR_END;
	}
	if (ret)
		return ret;
	if (w->phase != SAR_END)
		return CTL_STREAM_MORE;
	ret = w->json ? sar_printf(w, "],\"count\":%" PRIu64 "}\n", w->count)
		      : sar_printf(w, "\n%" PRIu64 " items refer to this subject.\n", w->count);
	if (ret)
		return ret;
	w->done = true;
	/* The chain names the subject by digest only: an audit log that listed
	 * tags and hospital numbers would itself be a patient index. */
	note(w->a, w->sd, "subject access");
	hex_encode(sdh, w->sd, sizeof(w->sd));
	log_info(SUB_CTL, "subject access export: %" PRIu64 " items (subject digest %.16s)", w->count, sdh);
	return 0;
}

static int ctl_export_subject(struct node *n, struct archive *a, const struct ctl_req *req,
			      struct ctl_reply *r)
{
	struct sar *w = calloc(1, sizeof(*w));
	struct archive_stat st;
	char sdh[2 * AUDIT_HASH_BYTES + 1];
	int ret = w ? subject_opt(req, r, &w->s) : -ENOMEM;

	if (!ret) {
		w->n = n;
		w->a = a;
		w->r = NULL;
		w->json = req->flags & CTL_F_JSON;
		w->text = malloc(ARCHIVE_CONTENT_MAX + 1);
		w->chunk = malloc(ARCHIVE_CONTENT_MAX);
		w->b64 = malloc(SAR_B64_MAX);
		if (!w->text || !w->chunk || !w->b64)
			ret = -ENOMEM;
	}
	if (!ret)
		ret = archive_stat(a, &st);
	if (ret) {
		sar_free(w);
		return ret;
	}
	w->upto = st.last_seq; /* what was archived when asked */
	gdpr_subject_digest(w->sd, &w->s);
	hex_encode(sdh, w->sd, sizeof(w->sd));
	crypto_generichash_init(&w->h, NULL, 0, AUDIT_HASH_BYTES);
	w->r = r;
	if (w->json) {
		ret = sar_printf(w, "{\"subject\":{\"kind\":\"%s\",\"text\":",
				 w->s.kind == GDPR_TAG ? "tag" : "ref");
		if (!ret)
			ret = sar_str(w, w->s.text);
		if (!ret)
			ret = sar_printf(w, ",\"digest\":\"%s\"},\"items\":[", sdh);
	} else {
		ret = sar_printf(
		    w,
		    "SUBJECT ACCESS EXPORT from the hospital archive\n"
		    "Subject   %s %s\nDigest    %s (the audit chain records this, not the subject)\n",
		    w->s.kind == GDPR_TAG ? "tag" : "reference", w->s.text, sdh);
	}
	w->r = NULL;
	if (ret) {
		sar_free(w);
		return ret;
	}
	ctl_reply_stream(r, sar_step, sar_free, w);
	return CTL_DEFER;
}

/* ---- export attachment: one archived file ---- */

struct file_job {
	struct archive *a;
	uint8_t manifest[BUNDLE_ID_BYTES];
	uint32_t next, count;
	uint64_t size, sent;
	crypto_generichash_state h;
	uint8_t *chunk; /* ARCHIVE_CONTENT_MAX */
};

static void file_job_free(void *state)
{
	struct file_job *j = state;

	if (!j)
		return;
	if (j->chunk)
		sodium_memzero(j->chunk, ARCHIVE_CONTENT_MAX);
	free(j->chunk);
	free(j);
}

static int file_job_step(void *state, struct ctl_reply *r)
{
	struct file_job *j = state;
	uint8_t cid[BUNDLE_ID_BYTES], digest[AUDIT_HASH_BYTES];
	size_t clen = 0;
	int ret;

	if (j->next == j->count) {
		crypto_generichash_final(&j->h, digest, sizeof(digest));
		note(j->a, digest, "attachment");
		log_info(SUB_CTL, "attachment exported: %" PRIu64 " bytes", j->sent);
		return 0;
	}
	ret = archive_chunk_id(j->a, j->manifest, j->next, cid);
	if (!ret)
		ret = archive_get(j->a, cid, NULL, j->chunk, ARCHIVE_CONTENT_MAX, &clen, NULL, 0, NULL);
	if (!ret && (clen <= ARCHIVE_CHUNK_HDR || j->chunk[0] != ARCHIVE_CONTENT_CHUNK ||
		     memcmp(j->chunk + 1, j->manifest, BUNDLE_ID_BYTES)))
		ret = MU_E_FORMAT; /* erased meanwhile, or not this file's */
	if (ret) {
		log_err(SUB_STORE, "attachment export stopped at chunk %" PRIu32 ": %s", j->next,
			mu_strerror(ret));
		return ret;
	}
	crypto_generichash_update(&j->h, j->chunk + ARCHIVE_CHUNK_HDR, clen - ARCHIVE_CHUNK_HDR);
	ctl_reply_write(r, j->chunk + ARCHIVE_CHUNK_HDR, clen - ARCHIVE_CHUNK_HDR);
	j->sent += clen - ARCHIVE_CHUNK_HDR;
	sodium_memzero(j->chunk, clen);
	j->next++;
	return CTL_STREAM_MORE;
}

static int id_opt(struct archive *a, const char *v, struct ctl_reply *r, uint8_t id[static BUNDLE_ID_BYTES]);

static int ctl_export_attachment(struct archive *a, const struct ctl_req *req, struct ctl_reply *r)
{
	struct file_job *j = NULL;
	struct attach_manifest m;
	struct archive_item it;
	uint8_t *content = NULL, id[BUNDLE_ID_BYTES];
	size_t clen = 0;
	uint32_t have;
	int ret;

	if (req->argc < 3 || req->argv[2][0] == '-') {
		ctl_reply_printf(r, "usage: muster export attachment ID --out FILE  (ID: the manifest's bundle "
				    "id, 8..64 hex digits)\n");
		return MU_E_FORMAT;
	}
	ret = id_opt(a, req->argv[2], r, id);
	if (!ret && !(content = malloc(ARCHIVE_CONTENT_MAX)))
		ret = -ENOMEM;
	if (!ret)
		ret = archive_get(a, id, &it, content, ARCHIVE_CONTENT_MAX, &clen, NULL, 0, NULL);
	if (!ret && (it.flags & ARCHIVE_F_ERASED || !clen || content[0] != CONTENT_ATTACHMENT ||
		     attach_manifest_decode(&m, content + 1, clen - 1))) {
		ctl_reply_printf(r, "%s is not an archived attachment%s\n", req->argv[2],
				 it.flags & ARCHIVE_F_ERASED ? " (it was erased)" : "");
		ret = MU_E_NOTFOUND;
	}
	if (!ret && (have = chunks_archived(a, id, m.count)) < m.count) {
		ctl_reply_printf(r, "the archive holds %" PRIu32 " of its %" PRIu32 " chunks: incomplete\n", have,
				 m.count);
		ret = MU_E_NOTFOUND;
	}
	if (!ret && !(j = calloc(1, sizeof(*j))))
		ret = -ENOMEM;
	if (!ret && !(j->chunk = malloc(ARCHIVE_CONTENT_MAX)))
		ret = -ENOMEM;
	if (content)
		sodium_memzero(content, clen);
	free(content);
	if (ret) {
		file_job_free(j);
		return ret;
	}
	j->a = a;
	memcpy(j->manifest, id, BUNDLE_ID_BYTES);
	j->count = m.count;
	j->size = m.size;
	crypto_generichash_init(&j->h, NULL, 0, AUDIT_HASH_BYTES);
	sodium_memzero(&m, sizeof(m));
	ctl_reply_stream(r, file_job_step, file_job_free, j);
	return CTL_DEFER;
}

/* ---- erase ---- */

struct find_id {
	char prefix[2 * BUNDLE_ID_BYTES + 1];
	size_t hits;
	uint8_t id[BUNDLE_ID_BYTES];
};

static int find_one(void *ctx, const struct audit_entry *e)
{
	struct find_id *f = ctx;
	char h[2 * BUNDLE_ID_BYTES + 1];

	if (e->event != AUDIT_ARCHIVED)
		return 0;
	hex_encode(h, e->id, BUNDLE_ID_BYTES);
	if (!strncmp(h, f->prefix, strlen(f->prefix))) {
		f->hits++;
		memcpy(f->id, e->id, BUNDLE_ID_BYTES);
	}
	return 0;
}

static int id_opt(struct archive *a, const char *v, struct ctl_reply *r, uint8_t id[static BUNDLE_ID_BYTES])
{
	struct find_id f = {0};
	size_t len = strlen(v);
	int ret;

	if (len < 8 || len > 2 * BUNDLE_ID_BYTES || strspn(v, "0123456789abcdefABCDEF") != len) {
		ctl_reply_printf(r, "--id wants an archived bundle id: 8..64 hex digits\n");
		return MU_E_FORMAT;
	}
	for (size_t i = 0; i < len; i++)
		f.prefix[i] = (char)(v[i] >= 'A' && v[i] <= 'F' ? v[i] + 32 : v[i]);
	ret = archive_audit_scan(a, 0, find_one, &f);
	if (ret)
		return ret;
	if (f.hits != 1) {
		ctl_reply_printf(r,
				 f.hits ? "--id %s matches %zu items: give more digits\n"
					: "--id %s: no archived item has that id\n",
				 f.prefix, f.hits);
		return f.hits ? MU_E_FORMAT : MU_E_NOTFOUND;
	}
	memcpy(id, f.id, BUNDLE_ID_BYTES);
	return 0;
}

/* The hospital store's own copies become tombstones: their content
 * (which the archive user can still open) is gone, the id stays known so
 * sync does not fetch them again from the field. */
static size_t tombstone_copies(struct node *n, const uint8_t (*ids)[BUNDLE_ID_BYTES], size_t cnt)
{
	struct store_txn *t = NULL;
	size_t done = 0;
	int ret = node_commit(n);

	if (!ret)
		ret = store_write_begin(n->store, &t);
	for (size_t i = 0; !ret && i < cnt; i++) {
		struct store_info info;

		if (store_peek(n->store, ids[i], &info))
			continue; /* not held, or a tombstone already */
		ret = store_tombstone(t, ids[i]);
		if (!ret)
			done++;
	}
	if (!ret)
		ret = store_write_commit(t);
	else
		store_write_abort(t);
	if (ret) {
		log_err(SUB_STORE, "erasure: the store's copies were not deleted: %s", mu_strerror(ret));
		return 0;
	}
	return done;
}

static const char *erased_word(uint8_t what)
{
	switch ((enum gdpr_erased)what) {
	case GDPR_SKIPPED:
		return "already erased";
	case GDPR_DELETED:
		return "deleted only (archived before per-item keys)";
	case GDPR_SHREDDED:
		return "crypto-shredded";
	}
	return "?";
}

static const char *erased_json(uint8_t what)
{
	switch ((enum gdpr_erased)what) {
	case GDPR_SKIPPED:
		return "already_erased";
	case GDPR_DELETED:
		return "deleted_only";
	case GDPR_SHREDDED:
		return "shredded";
	}
	return "?";
}

/* The result of an erasure that committed: per item (up to
 * ERASE_LIST_MAX, so the reply stays within CTL_OUT_MAX; the audit export
 * lists every one), then the totals. */
static void erase_report(struct ctl_reply *r, bool json, bool by_id, const uint8_t (*ids)[BUNDLE_ID_BYTES],
			 const uint8_t *what, size_t cnt, const struct gdpr_erase_result *res,
			 const struct archive_stat *before, const struct archive_stat *after, size_t copies)
{
	size_t listed = cnt < ERASE_LIST_MAX ? cnt : ERASE_LIST_MAX, deleted = res->erased - res->shredded;
	char h[2 * BUNDLE_ID_BYTES + 1];

	if (json)
		ctl_reply_printf(r, "{\"items\":[");
	for (size_t i = 0; i < listed; i++) {
		hex_encode(h, ids[i], BUNDLE_ID_BYTES);
		if (json)
			ctl_reply_printf(r, "%s{\"id\":\"%s\",\"result\":\"%s\"}", i ? "," : "", h,
					 erased_json(what[i]));
		else
			ctl_reply_printf(r, "%s  %s\n", h, erased_word(what[i]));
	}
	if (json) {
		ctl_reply_printf(r,
				 "],\"listed\":%zu,\"count\":%zu,\"erased\":%zu,\"shredded\":%zu,"
				 "\"deleted_only\":%zu,\"skipped\":%zu,\"audit_first\":%" PRIu64
				 ",\"audit_last\":%" PRIu64 ",\"store_copies_deleted\":%zu}\n",
				 listed, cnt, res->erased, res->shredded, deleted, cnt - res->erased,
				 res->erased ? before->last_seq + 1 : 0, res->erased ? after->last_seq : 0,
				 copies);
		return;
	}
	if (listed < cnt)
		ctl_reply_printf(r, "... and %zu more (muster export audit lists every erasure)\n",
				 cnt - listed);
	if (!res->erased) {
		ctl_reply_printf(r, by_id ? "that item was erased before\n" : "nothing to erase\n");
		return;
	}
	ctl_reply_printf(r,
			 "%zu erased: %zu crypto-shredded, %zu deleted only (archived before per-item keys); "
			 "audit seq %" PRIu64 "..%" PRIu64 "; %zu copies in this node's store deleted.\n",
			 res->erased, res->shredded, deleted, before->last_seq + 1, after->last_seq, copies);
	if (deleted)
		ctl_reply_printf(r,
				 "Items deleted only keep old bytes in free pages of the archive file and in "
				 "its backups until it is compacted (docs/exports.md \"Erasure\").\n");
}

static int ctl_erase(struct node *n, struct archive *a, const struct ctl_req *req, struct ctl_reply *r)
{
	const char *idv = control_arg_value(req, "--id");
	bool confirm = control_arg_flag(req, "--confirm"), json = req->flags & CTL_F_JSON;
	uint8_t(*ids)[BUNDLE_ID_BYTES] = NULL, one[BUNDLE_ID_BYTES], *content = NULL, *what = NULL;
	struct archive_stat before, after;
	struct gdpr_erase_result res;
	struct archive_item it;
	struct gdpr_subject s;
	size_t cnt = 0, clen, copies;
	char line[EXPORT_LINE_MAX], kind[48], t[48], h[2 * BUNDLE_ID_BYTES + 1];
	int ret;

	if (idv && (control_arg_value(req, "--tag") || control_arg_value(req, "--ref"))) {
		ctl_reply_printf(r, "name what to erase with one of --tag, --ref or --id\n");
		return MU_E_FORMAT;
	}
	if (idv) {
		ret = id_opt(a, idv, r, one);
		if (!ret && !(ids = malloc(sizeof(*ids))))
			ret = -ENOMEM;
		if (!ret) {
			memcpy(ids[0], one, BUNDLE_ID_BYTES);
			cnt = 1;
		}
	} else {
		ret = subject_opt(req, r, &s);
		if (!ret)
			ret = gdpr_collect(a, &s, &ids, &cnt);
	}
	/* An attachment's file goes with its manifest. */
	if (!ret)
		ret = gdpr_add_chunks(a, &ids, &cnt);
	if (!ret && !(content = malloc(ARCHIVE_CONTENT_MAX)))
		ret = -ENOMEM;
	if (!ret && !(what = calloc(cnt ? cnt : 1, 1)))
		ret = -ENOMEM;
	if (ret)
		goto out;
	if (!confirm) {
		for (size_t i = 0; i < cnt && !ret; i++) {
			ret = archive_get(a, ids[i], &it, content, ARCHIVE_CONTENT_MAX, &clen, NULL, 0, NULL);
			if (ret)
				break;
			hex_encode(h, ids[i], BUNDLE_ID_BYTES);
			export_iso_time(t, it.created);
			if (it.flags & ARCHIVE_F_ERASED) {
				ctl_reply_printf(r, "%s  %s  (already erased)\n", h, t);
				continue;
			}
			if (clen && content[0] == ARCHIVE_CONTENT_CHUNK) {
				sodium_memzero(content, clen);
				ctl_reply_printf(r, "%s  %s  attachment file chunk%s\n", h, t,
						 it.version == ARCHIVE_VERSION_LEGACY ? " (deletion only)"
										      : "");
				continue;
			}
			export_content_kind(kind, sizeof(kind), content, clen);
			content_text(line, sizeof(line), content, clen);
			sodium_memzero(content, clen);
			ctl_reply_printf(r, "%s  %s  %s%s\n    %s\n", h, t, kind,
					 it.version == ARCHIVE_VERSION_LEGACY
					     ? " (archived before per-item keys: deletion only)"
					     : "",
					 line);
		}
		if (!ret)
			ctl_reply_printf(
			    r,
			    "%zu items would be erased (content and original bundle; a stub and an "
			    "audit entry stay). Run again with --confirm to erase.\n",
			    cnt);
		goto out;
	}
	ret = archive_stat(a, &before);
	if (!ret)
		ret = gdpr_erase_ex(a, (const uint8_t(*)[BUNDLE_ID_BYTES])ids, cnt, mu_now_ms(), what, &res);
	if (!ret)
		ret = archive_stat(a, &after);
	if (ret == MU_E_NOTFOUND && idv)
		ctl_reply_printf(r, "no archived item has that id\n");
	if (ret) {
		ctl_reply_printf(r, "nothing erased: %s\n", mu_strerror(ret));
		goto out;
	}
	copies = tombstone_copies(n, (const uint8_t(*)[BUNDLE_ID_BYTES])ids, cnt);
	erase_report(r, json, idv != NULL, (const uint8_t(*)[BUNDLE_ID_BYTES])ids, what, cnt, &res, &before,
		     &after, copies);
	if (res.erased)
		log_info(
		    SUB_CTL,
		    "erasure: %zu archived items erased (%zu crypto-shredded, %zu deleted only), %zu store "
		    "copies deleted",
		    res.erased, res.shredded, res.erased - res.shredded, copies);
out:
	free(ids);
	free(content);
	free(what);
	return ret;
}

int control_export(struct node *n, const struct ctl_req *req, struct ctl_reply *r, int *ret)
{
	const char *cmd = req->argc ? req->argv[0] : "";
	const char *sub = req->argc > 1 ? req->argv[1] : "";
	struct archive *a = hospital_archive(n);

	if (!a)
		return 0;
	if (!strcmp(cmd, "erase"))
		*ret = ctl_erase(n, a, req, r);
	else if (strcmp(cmd, "export"))
		return 0;
	else if (!strcmp(sub, "fhir"))
		*ret = ctl_export_fhir(n, a, req, r);
	else if (!strcmp(sub, "report"))
		*ret = ctl_export_report(n, a, req, r);
	else if (!strcmp(sub, "subject"))
		*ret = ctl_export_subject(n, a, req, r);
	else if (!strcmp(sub, "attachment"))
		*ret = ctl_export_attachment(a, req, r);
	else
		return 0;
	return 1;
}
