/* The FHIR R4 export and the helpers the other exports share (contract in
 * export_fhir.h, mapping in docs/exports.md). Archived content was signed
 * by a sender but is otherwise untrusted bytes: every string goes through
 * export_json_str, which always yields valid JSON. */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../crypto/envelope.h"
#include "attach.h"
#include "err.h"
#include "export_fhir.h"
#include "hex.h"

#define CAT_SYSTEM "http://terminology.hl7.org/CodeSystem/communication-category"
#define SCAN_PAUSE 1 /* a scan callback's "stop here, resume after w->after" */

/* ---- shared helpers ---- */

const struct cred *export_dir_find(const struct export_dir *dir, const uint8_t key[static MU_KEY_BYTES])
{
	for (size_t i = 0; dir && i < dir->n; i++)
		if (!memcmp(dir->c[i].sign_pk, key, MU_KEY_BYTES))
			return &dir->c[i];
	return NULL;
}

void export_iso_time(char out[static 48], uint64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, 48, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

static int digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return MU_E_FORMAT;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

int export_time_parse(const char *s, uint64_t *ms)
{
	size_t len = strlen(s);
	int y, mo, d, h, mi, sec, frac = 0;
	struct tm tm = {0};
	time_t t;

	if (len && len <= 15 && strspn(s, "0123456789") == len) {
		*ms = strtoull(s, NULL, 10);
		return 0;
	}
	if ((len != 20 && len != 24) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[len - 1] != 'Z' || (len == 24 && s[19] != '.'))
		return MU_E_FORMAT;
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) || digits(s + 11, 2, &h) ||
	    digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec) || (len == 24 && digits(s + 20, 3, &frac)))
		return MU_E_FORMAT;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return MU_E_FORMAT;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t < 0)
		return MU_E_FORMAT;
	*ms = (uint64_t)t * 1000 + (uint64_t)frac;
	return 0;
}

void fhir_uuid(char out[static FHIR_UUID_CHARS + 1], const char *kind, const uint8_t *p, size_t n)
{
	static const char tag[] = "muster/fhir-uuid/1:";
	crypto_generichash_state st;
	uint8_t u[16];
	char hx[33];

	crypto_generichash_init(&st, NULL, 0, sizeof(u));
	crypto_generichash_update(&st, (const uint8_t *)tag, sizeof(tag) - 1);
	crypto_generichash_update(&st, (const uint8_t *)kind, strlen(kind));
	crypto_generichash_update(&st, (const uint8_t *)":", 1);
	crypto_generichash_update(&st, p, n);
	crypto_generichash_final(&st, u, sizeof(u));
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x50); /* version 5: name-based */
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	hex_encode(hx, u, sizeof(u));
	snprintf(out, FHIR_UUID_CHARS + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hx, hx + 8, hx + 12, hx + 16,
		 hx + 20);
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629), 0 if none. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int export_json_str(export_out_fn out, void *ctx, const uint8_t *p, size_t n)
{
	char buf[512];
	size_t o = 0, k;
	int ret;

	buf[o++] = '"';
	for (size_t i = 0; i < n; i += k) {
		if (o > sizeof(buf) - 16) {
			ret = out(ctx, buf, o);
			if (ret)
				return ret;
			o = 0;
		}
		k = utf8_seq(p + i, n - i);
		if (!k) {
			memcpy(buf + o, "\xef\xbf\xbd", 3); /* U+FFFD for a byte that is not UTF-8 */
			o += 3;
			k = 1;
		} else if (p[i] == '"' || p[i] == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)p[i];
		} else if (p[i] == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			o += (size_t)snprintf(buf + o, 8, "\\u%04x", p[i]);
		} else {
			memcpy(buf + o, p + i, k);
			o += k;
		}
	}
	buf[o++] = '"';
	return out(ctx, buf, o);
}

static const char *nz(const char *s)
{
	return s && *s ? s : "-";
}

void export_record_line(char *out, size_t cap, const struct inc_record *r)
{
	char t[48];

	switch ((enum inc_type)r->type) {
	case INC_METHANE: {
		const struct inc_methane *m = &r->u.methane;

		snprintf(out, cap,
			 "M/ETHANE (%s) incident %s: location %s; type %s; hazards %s; access %s; casualties "
			 "P1 %u "
			 "P2 %u P3 %u dead %u%s%s; services %s",
			 inc_declared_name(m->declared), r->incident, m->location, m->type, nz(m->hazards),
			 nz(m->access), m->casualties[0], m->casualties[1], m->casualties[2],
			 m->casualties[3], *m->casualty_note ? ", " : "", m->casualty_note, m->services);
		return;
	}
	case INC_CHECKIN:
		snprintf(out, cap, "Crew %s %s (vehicle %s, location %s, %u members) incident %s",
			 r->u.checkin.callsign, inc_crew_status_name(r->u.checkin.status),
			 nz(r->u.checkin.vehicle), nz(r->u.checkin.location), r->u.checkin.n_members,
			 r->incident);
		return;
	case INC_ASSIGN:
		snprintf(out, cap, "Crew %s assigned to %s, sector %s%s%s, incident %s", r->u.assign.callsign,
			 r->u.assign.function, nz(r->u.assign.sector), *r->u.assign.note ? ": " : "",
			 r->u.assign.note, r->incident);
		return;
	case INC_ASSIGN_ACK:
		snprintf(out, cap, "Crew %s acknowledged its assignment, incident %s", r->u.ack.callsign,
			 r->incident);
		return;
	case INC_REQUEST:
		snprintf(out, cap, "Staffing request%s: %u x %s for sector %s%s%s, incident %s",
			 r->u.request.cancelled ? " cancelled" : "", r->u.request.count,
			 inc_skill_name(r->u.request.skill), r->u.request.sector,
			 *r->u.request.note ? ": " : "", r->u.request.note, r->incident);
		return;
	case INC_RESPONSE:
		snprintf(out, cap, "Crew %s %s a staffing request (%u people), incident %s",
			 r->u.response.callsign, r->u.response.accept ? "accepted" : "declined",
			 r->u.response.count, r->incident);
		return;
	case INC_TRIAGE:
		export_iso_time(t, r->u.triage.at);
		snprintf(out, cap, "Triage at %s at %s: P1 %u P2 %u P3 %u dead %u, incident %s",
			 r->u.triage.ccs, t, r->u.triage.count[0], r->u.triage.count[1], r->u.triage.count[2],
			 r->u.triage.count[3], r->incident);
		return;
	case INC_CASUALTY:
		if (r->u.casualty.departed)
			export_iso_time(t, r->u.casualty.departed);
		else
			strcpy(t, "not yet");
		snprintf(out, cap, "Casualty %s %s to %s, departed %s%s%s, incident %s", r->u.casualty.tag,
			 inc_triage_name(r->u.casualty.priority), r->u.casualty.destination, t,
			 *r->u.casualty.note ? ": " : "", r->u.casualty.note, r->incident);
		return;
	}
	snprintf(out, cap, "Incident record of unknown type %u, incident %s", r->type, r->incident);
}

void export_content_kind(char *out, size_t cap, const uint8_t *content, size_t len)
{
	static struct inc_record rec;

	if (len && content[0] == CONTENT_TEXT)
		snprintf(out, cap, "text");
	else if (len && content[0] == CONTENT_ALERT)
		snprintf(out, cap, "alert");
	else if (len && content[0] == CONTENT_ATTACHMENT)
		snprintf(out, cap, "attachment");
	else if (len && content[0] == CONTENT_INCIDENT && !inc_decode(&rec, content + 1, len - 1))
		snprintf(out, cap, "incident:%s", inc_type_name(rec.type));
	else
		snprintf(out, cap, "unknown");
}

/* ---- the Bundle writer ---- */

enum fw_phase { FW_HEADER, FW_ITEMS, FW_KNOWN, FW_UNKNOWN, FW_END, FW_DONE };

struct fw {
	enum fw_phase phase;
	uint64_t after, upto; /* entries walked so far; the head at the start */
	size_t next;          /* FW_KNOWN / FW_UNKNOWN: the next directory index */
	size_t step_bytes, budget;
	uint8_t head[AUDIT_HASH_BYTES];
	struct archive *a;
	const struct export_dir *dir;
	const struct fhir_opts *o;
	export_out_fn out;
	void *ctx;
	crypto_generichash_state hash;
	struct fhir_result res;
	bool first;                       /* no entry written yet */
	bool *used;                       /* dir->n: a Practitioner entry is due */
	uint8_t (*unknown)[MU_KEY_BYTES]; /* senders without a credential */
	size_t n_unknown, cap_unknown;
	uint8_t content[ARCHIVE_CONTENT_MAX];
	uint8_t chunk[ARCHIVE_CONTENT_MAX]; /* one chunk item of an inline attachment */
	char b64[ARCHIVE_CONTENT_MAX / 3 * 4 + 8];
	uint8_t enc[BUNDLE_ENC_MAX];
	struct inc_record rec;
	struct attach_manifest man;
};

static int emit(void *ctx, const char *s, size_t n)
{
	struct fw *w = ctx;

	crypto_generichash_update(&w->hash, (const uint8_t *)s, n);
	w->step_bytes += n;
	return w->out(w->ctx, s, n);
}

static int puts_(struct fw *w, const char *s)
{
	return emit(w, s, strlen(s));
}

static int printf_(struct fw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int printf_(struct fw *w, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return MU_E_TOOBIG; /* only fixed-size fields go through here */
	return emit(w, buf, (size_t)n);
}

static int str(struct fw *w, const char *s)
{
	return export_json_str(emit, w, (const uint8_t *)s, strlen(s));
}

/* A Reference to key's Practitioner, and marks its entry as due. */
static int ref_key(struct fw *w, const uint8_t key[static MU_KEY_BYTES])
{
	const struct cred *c = export_dir_find(w->dir, key);
	char u[FHIR_UUID_CHARS + 1], hx[17];
	int ret;

	fhir_uuid(u, "key", key, MU_KEY_BYTES);
	if (c) {
		w->used[c - w->dir->c] = true;
	} else {
		size_t i;

		for (i = 0; i < w->n_unknown && memcmp(w->unknown[i], key, MU_KEY_BYTES); i++)
			;
		if (i == w->n_unknown) {
			if (w->n_unknown == w->cap_unknown) {
				size_t cap = w->cap_unknown ? 2 * w->cap_unknown : 16;
				void *p = realloc(w->unknown, cap * sizeof(*w->unknown));

				if (!p)
					return -ENOMEM;
				w->unknown = p;
				w->cap_unknown = cap;
			}
			memcpy(w->unknown[w->n_unknown++], key, MU_KEY_BYTES);
		}
	}
	ret = printf_(w, "{\"reference\":\"urn:uuid:%s\",\"display\":", u);
	if (!ret && c)
		ret = str(w, c->name);
	else if (!ret) {
		hex_encode(hx, key, 8);
		ret = printf_(w, "\"unknown sender %s\"", hx);
	}
	return ret ? ret : puts_(w, "}");
}

static const char *fhir_priority(uint8_t prio)
{
	switch ((enum bundle_prio)prio) {
	case PRIO_IMMEDIATE:
		return "stat";
	case PRIO_URGENT:
		return "asap";
	case PRIO_ROUTINE:
	case PRIO_BULK:
		return "routine";
	}
	return "routine";
}

/* The recipients named in the envelope that hold a credential, other than
 * the sender (who always encrypts to themselves) and archive identities
 * (the record itself is not a recipient). */
static int recipients(struct fw *w, const struct archive_item *it, size_t elen)
{
	struct bundle b;
	bool any = false;
	int ret = 0;

	if (bundle_decode(&b, w->enc, elen))
		return 0; /* an archived bundle always decodes; nothing to name otherwise */
	for (size_t i = 0; i < w->dir->n && !ret; i++) {
		const struct cred *c = &w->dir->c[i];

		if (c->role == ROLE_HOSPITAL_ARCHIVE || c->role == ROLE_NODE ||
		    !memcmp(c->sign_pk, it->sender, MU_KEY_BYTES) ||
		    envelope_has_recipient(b.payload, b.payload_len, c->sign_pk) != 1)
			continue;
		ret = puts_(w, any ? "," : ",\"recipient\":[");
		if (!ret)
			ret = ref_key(w, c->sign_pk);
		any = true;
	}
	if (!ret && any)
		ret = puts_(w, "]");
	return ret;
}

static int category(struct fw *w, const char *fhir_code, const char *muster_code)
{
	return printf_(w,
		       ",\"category\":[{\"coding\":[{\"system\":\"" CAT_SYSTEM "\",\"code\":\"%s\"},"
		       "{\"system\":\"urn:muster:content\",\"code\":\"%s\"}]}]",
		       fhir_code, muster_code);
}

/* category, about and payload from the decrypted content, then the notes:
 * the Muster destination always, and the record type or the attachment's
 * caption. */
/* How many of the manifest's chunks are archived and live. */
static int chunks_held(struct fw *w, const uint8_t id[static BUNDLE_ID_BYTES], uint32_t *have)
{
	uint8_t cid[BUNDLE_ID_BYTES];
	struct archive_item it;

	*have = 0;
	for (uint32_t i = 0; i < w->man.count; i++) {
		int ret = archive_chunk_id(w->a, id, i, cid);

		if (ret == MU_E_NOTFOUND)
			continue;
		if (!ret)
			ret = archive_get(w->a, cid, &it, NULL, 0, NULL, NULL, 0, NULL);
		if (ret)
			return ret;
		if (!(it.flags & ARCHIVE_F_ERASED))
			(*have)++;
	}
	return 0;
}

/* Attachment.data (the file, base64, chunk by chunk: a whole chunk is a
 * multiple of 3 bytes, so the pieces join into one valid base64 text) for
 * a complete file up to FHIR_INLINE_MAX, else Attachment.url. */
static int file_ref(struct fw *w, const uint8_t id[static BUNDLE_ID_BYTES], uint32_t *have)
{
	char hx[2 * BUNDLE_ID_BYTES + 1];
	int ret = chunks_held(w, id, have);

	if (ret)
		return ret;
	if (*have < w->man.count || w->man.size > FHIR_INLINE_MAX) {
		hex_encode(hx, id, BUNDLE_ID_BYTES);
		return printf_(w, ",\"url\":\"" FHIR_ATTACH_URL_PREFIX "%s\"", hx);
	}
	ret = puts_(w, ",\"data\":\"");
	for (uint32_t i = 0; !ret && i < w->man.count; i++) {
		uint8_t cid[BUNDLE_ID_BYTES];
		size_t clen = 0, plen;

		ret = archive_chunk_id(w->a, id, i, cid);
		if (!ret)
			ret = archive_get(w->a, cid, NULL, w->chunk, sizeof(w->chunk), &clen, NULL, 0, NULL);
		plen = clen > ARCHIVE_CHUNK_HDR ? clen - ARCHIVE_CHUNK_HDR : 0;
		if (!ret && (plen != attach_chunk_len(&w->man, i) || w->chunk[0] != ARCHIVE_CONTENT_CHUNK ||
			     memcmp(w->chunk + 1, id, BUNDLE_ID_BYTES)))
			ret = MU_E_FORMAT; /* not the chunk the link says */
		if (!ret) {
			sodium_bin2base64(w->b64, sizeof(w->b64), w->chunk + ARCHIVE_CHUNK_HDR, plen,
					  sodium_base64_VARIANT_ORIGINAL);
			ret = emit(w, w->b64, strlen(w->b64));
			sodium_memzero(w->b64, strlen(w->b64));
		}
		sodium_memzero(w->chunk, clen);
	}
	return ret ? ret : puts_(w, "\"");
}

static int payload(struct fw *w, const uint8_t id[static BUNDLE_ID_BYTES], const uint8_t *c, size_t len,
		   const char *dest)
{
	char line[EXPORT_LINE_MAX], note[96];
	const char *extra2 = NULL;
	uint32_t have = 0;
	const uint8_t *extra = NULL;
	size_t extra_len = 0;
	int ret;

	if (len && (c[0] == CONTENT_TEXT || c[0] == CONTENT_ALERT)) {
		ret = category(w, c[0] == CONTENT_ALERT ? "alert" : "notification",
			       c[0] == CONTENT_ALERT ? "alert" : "text");
		if (!ret)
			ret = puts_(w, ",\"payload\":[{\"contentString\":");
		if (!ret)
			ret = export_json_str(emit, w, c + 1, len - 1);
		if (!ret)
			ret = puts_(w, "}]");
	} else if (len && c[0] == CONTENT_INCIDENT && !inc_decode(&w->rec, c + 1, len - 1)) {
		export_record_line(line, sizeof(line), &w->rec);
		snprintf(note, sizeof(note), "Muster incident record: %s", inc_type_name(w->rec.type));
		extra = (const uint8_t *)note;
		extra_len = strlen(note);
		ret = category(w, "notification", "incident-record");
		if (!ret)
			ret = puts_(
			    w, ",\"about\":[{\"identifier\":{\"system\":\"urn:muster:incident\",\"value\":");
		if (!ret)
			ret = str(w, w->rec.incident);
		if (!ret)
			ret = puts_(w, "},\"display\":");
		if (!ret)
			ret = str(w, w->rec.incident);
		if (!ret)
			ret = puts_(w, "}],\"payload\":[{\"contentString\":");
		if (!ret)
			ret = str(w, line);
		if (!ret)
			ret = puts_(w, "}]");
	} else if (len && c[0] == CONTENT_ATTACHMENT && !attach_manifest_decode(&w->man, c + 1, len - 1)) {
		extra = w->man.caption;
		extra_len = w->man.caption_len;
		ret = category(w, "notification", "attachment");
		if (!ret)
			ret = puts_(w, ",\"payload\":[{\"contentAttachment\":{\"contentType\":");
		if (!ret)
			ret = str(w, w->man.mime);
		if (!ret)
			ret = puts_(w, ",\"title\":");
		if (!ret)
			ret = str(w, w->man.name);
		if (!ret)
			ret = printf_(w, ",\"size\":%" PRIu64, w->man.size);
		if (!ret)
			ret = file_ref(w, id, &have);
		if (!ret)
			ret = puts_(w, "}}]");
		if (!ret && have < w->man.count) {
			snprintf(note, sizeof(note), "attachment incomplete in the archive: %" PRIu32 " of %" PRIu32
				 " chunks", have, w->man.count);
			extra2 = note;
		}
	} else {
		/* Content this version cannot read is kept as a Communication
		 * without a payload, so the export still accounts for every
		 * message. */
		static const char unread[] = "content of a type this exporter cannot read";

		extra = (const uint8_t *)unread;
		extra_len = sizeof(unread) - 1;
		ret = category(w, "notification", "unknown");
	}
	if (!ret)
		ret = puts_(w, ",\"note\":[{\"text\":");
	if (!ret)
		ret = str(w, dest);
	if (!ret && extra_len) {
		ret = puts_(w, "},{\"text\":");
		if (!ret)
			ret = export_json_str(emit, w, extra, extra_len);
	}
	if (!ret && extra2) {
		ret = puts_(w, "},{\"text\":");
		if (!ret)
			ret = str(w, extra2);
	}
	return ret ? ret : puts_(w, "}]");
}

static int communication(struct fw *w, const struct archive_item *it, size_t clen, size_t elen)
{
	char hx[2 * BUNDLE_ID_BYTES + 1], u[FHIR_UUID_CHARS + 1], sent[48], recv[48], dest[80];
	const char *dn = dest_type_name(it->dest_type);
	int ret;

	/* An incident record of another incident is left out before anything
	 * is written. */
	if (w->o->incident && clen && w->content[0] == CONTENT_INCIDENT &&
	    !inc_decode(&w->rec, w->content + 1, clen - 1) && strcmp(w->o->incident, w->rec.incident)) {
		w->res.skipped++;
		return 0;
	}
	hex_encode(hx, it->id, BUNDLE_ID_BYTES);
	fhir_uuid(u, "bundle", it->id, BUNDLE_ID_BYTES);
	export_iso_time(sent, it->created);
	export_iso_time(recv, it->archived);
	if (it->dest_type == DEST_ROLE && it->dest_len == 1 && role_name(it->dest[0]))
		snprintf(dest, sizeof(dest), "Muster destination: role %s", role_name(it->dest[0]));
	else
		snprintf(dest, sizeof(dest), "Muster destination: %s", dn ? dn : "unknown");
	ret = printf_(w,
		      "%s{\"fullUrl\":\"urn:uuid:%s\",\"resource\":{\"resourceType\":\"Communication\","
		      "\"id\":\"%s\",\"identifier\":[{\"system\":\"urn:muster:bundle\",\"value\":\"%s\"}],"
		      "\"status\":\"completed\",\"priority\":\"%s\",\"sent\":\"%s\",\"received\":\"%s\","
		      "\"sender\":",
		      w->first ? "" : ",", u, hx, hx, fhir_priority(it->prio), sent, recv);
	if (!ret)
		ret = ref_key(w, it->sender);
	if (!ret)
		ret = recipients(w, it, elen);
	if (!ret)
		ret = payload(w, it->id, w->content, clen, dest);
	if (!ret)
		ret = puts_(w, "}}");
	w->first = false;
	w->res.communications++;
	return ret;
}

static int scan_item(void *ctx, const struct audit_entry *e)
{
	struct fw *w = ctx;
	struct archive_item it;
	size_t clen = 0, elen = 0;
	int ret;

	if (e->seq > w->upto)
		return SCAN_PAUSE; /* archived after the export began */
	if (w->step_bytes >= w->budget)
		return SCAN_PAUSE; /* e is walked by the next step */
	w->after = e->seq;
	if (e->event != AUDIT_ARCHIVED)
		return 0;
	ret = archive_get(w->a, e->id, &it, w->content, sizeof(w->content), &clen, w->enc, sizeof(w->enc),
			  &elen);
	if (ret)
		return ret;
	if (it.flags & ARCHIVE_F_ERASED) {
		w->res.erased++;
		return 0;
	}
	if (clen && w->content[0] == ARCHIVE_CONTENT_CHUNK) {
		w->res.chunks++; /* in its manifest's Communication */
		ret = 0;
	} else if (it.kind != BK_MESSAGE || it.created < w->o->since) {
		w->res.skipped++;
		ret = 0;
	} else {
		ret = communication(w, &it, clen, elen);
	}
	sodium_memzero(w->content, clen);
	return ret;
}

static int practitioner(struct fw *w, const uint8_t key[static MU_KEY_BYTES], const struct cred *c)
{
	char u[FHIR_UUID_CHARS + 1], hx[2 * MU_KEY_BYTES + 1];
	int ret;

	fhir_uuid(u, "key", key, MU_KEY_BYTES);
	hex_encode(hx, key, MU_KEY_BYTES);
	ret = printf_(w,
		      "%s{\"fullUrl\":\"urn:uuid:%s\",\"resource\":{\"resourceType\":\"Practitioner\","
		      "\"id\":\"%s\",\"identifier\":[",
		      w->first ? "" : ",", u, u);
	if (!ret && c && *c->reg) {
		ret = puts_(w, "{\"system\":\"urn:muster:registration\",\"value\":");
		if (!ret)
			ret = str(w, c->reg);
		if (!ret)
			ret = puts_(w, "},");
	}
	if (!ret && c && *c->subject) {
		ret = puts_(w, "{\"system\":\"urn:muster:staff-id\",\"value\":");
		if (!ret)
			ret = str(w, c->subject);
		if (!ret)
			ret = puts_(w, "},");
	}
	if (!ret)
		ret = printf_(w, "{\"system\":\"urn:muster:key\",\"value\":\"%s\"}]", hx);
	if (!ret && c) {
		ret = puts_(w, ",\"name\":[{\"text\":");
		if (!ret)
			ret = str(w, c->name);
		if (!ret)
			ret = puts_(w, "}],\"qualification\":[{\"code\":{\"text\":");
		if (!ret)
			ret = str(w, role_name(c->role) ? role_name(c->role) : "unknown");
		if (!ret)
			ret = puts_(w, "},\"issuer\":{\"display\":");
		if (!ret)
			ret = str(w, c->org);
		if (!ret)
			ret = puts_(w, "}}]");
	}
	if (!ret)
		ret = puts_(w, "}}");
	w->first = false;
	w->res.practitioners++;
	return ret;
}

void fhir_stream_free(struct fhir_stream *s)
{
	struct fw *w = (struct fw *)s;

	if (!w)
		return;
	free(w->used);
	free(w->unknown);
	sodium_memzero(w->content, sizeof(w->content));
	free(w);
}

int fhir_stream_new(struct fhir_stream **out, struct archive *a, const struct export_dir *dir,
		    const struct fhir_opts *o, export_out_fn fn, void *ctx)
{
	static const struct export_dir none;
	struct archive_stat st;
	struct fw *w = calloc(1, sizeof(*w));
	int ret;

	*out = NULL;
	if (!dir)
		dir = &none;
	if (!w || !(w->used = calloc(dir->n ? dir->n : 1, sizeof(bool)))) {
		free(w);
		return -ENOMEM;
	}
	w->a = a;
	w->dir = dir;
	w->o = o;
	w->out = fn;
	w->ctx = ctx;
	w->first = true;
	crypto_generichash_init(&w->hash, NULL, 0, sizeof(w->res.digest));
	ret = archive_stat(a, &st);
	if (ret) {
		fhir_stream_free((struct fhir_stream *)w);
		return ret;
	}
	w->upto = st.last_seq;
	memcpy(w->head, st.head, AUDIT_HASH_BYTES);
	*out = (struct fhir_stream *)w;
	return 0;
}

static int header(struct fw *w)
{
	char now[48], u[FHIR_UUID_CHARS + 1];
	uint8_t seed[AUDIT_HASH_BYTES + 8];

	/* The Bundle's id names this export: the audit head it saw and when. */
	memcpy(seed, w->head, AUDIT_HASH_BYTES);
	for (int i = 0; i < 8; i++)
		seed[AUDIT_HASH_BYTES + i] = (uint8_t)(w->o->now >> (56 - 8 * i));
	fhir_uuid(u, "export", seed, sizeof(seed));
	export_iso_time(now, w->o->now);
	return printf_(w,
		       "{\"resourceType\":\"Bundle\",\"id\":\"%s\",\"identifier\":{\"system\":"
		       "\"urn:muster:export\",\"value\":\"urn:uuid:%s\"},\"type\":\"collection\","
		       "\"timestamp\":\"%s\",\"entry\":[",
		       u, u, now);
}

int fhir_stream_step(struct fhir_stream *s, size_t budget, struct fhir_result *res)
{
	struct fw *w = (struct fw *)s;
	int ret = 0;

	w->step_bytes = 0;
	w->budget = budget;
	while (!ret && w->phase != FW_DONE && w->step_bytes < budget) {
		switch (w->phase) {
		case FW_HEADER:
			ret = header(w);
			w->phase = FW_ITEMS;
			break;
		case FW_ITEMS:
			ret = archive_audit_scan(w->a, w->after, scan_item, w);
			if (ret == SCAN_PAUSE && w->after < w->upto && w->step_bytes >= budget)
				ret = 0; /* more items next step */
			else if (!ret || ret == SCAN_PAUSE) {
				ret = 0;
				w->phase = FW_KNOWN;
			}
			break;
		case FW_KNOWN:
			if (w->next == w->dir->n) {
				w->phase = FW_UNKNOWN;
				w->next = 0;
			} else if (w->used[w->next++]) {
				ret = practitioner(w, w->dir->c[w->next - 1].sign_pk, &w->dir->c[w->next - 1]);
			}
			break;
		case FW_UNKNOWN:
			if (w->next == w->n_unknown)
				w->phase = FW_END;
			else
				ret = practitioner(w, w->unknown[w->next++], NULL);
			break;
		case FW_END:
			ret = puts_(w, "]}\n");
			crypto_generichash_final(&w->hash, w->res.digest, sizeof(w->res.digest));
			w->phase = FW_DONE;
			break;
		case FW_DONE:
			break;
		}
	}
	if (ret)
		return ret;
	if (w->phase != FW_DONE)
		return 1;
	if (res)
		*res = w->res;
	return 0;
}

int fhir_export(struct archive *a, const struct export_dir *dir, const struct fhir_opts *o, export_out_fn out,
		void *ctx, struct fhir_result *res)
{
	struct fhir_stream *s = NULL;
	int ret = fhir_stream_new(&s, a, dir, o, out, ctx);

	while (!ret && (ret = fhir_stream_step(s, SIZE_MAX, res)) == 1)
		;
	fhir_stream_free(s);
	return ret;
}
