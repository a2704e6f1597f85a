/* Subject access and erasure over the archive (contract in gdpr.h). The
 * matching works on bytes, in ASCII case folding only: tags and hospital
 * numbers are ASCII, and a locale must not change what an erasure
 * reaches. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "attach.h"
#include "err.h"
#include "gdpr.h"
#include "incident.h"
#include "text.h"

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

static bool alnum(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int gdpr_subject_set(struct gdpr_subject *s, uint8_t kind, const char *text)
{
	size_t n = text ? strlen(text) : 0;
	bool any = false;

	memset(s, 0, sizeof(*s));
	if ((kind != GDPR_TAG && kind != GDPR_REF) || n < GDPR_SUBJECT_MIN || n > GDPR_SUBJECT_MAX ||
	    !mu_text_valid((const uint8_t *)text, n))
		return MU_E_FORMAT;
	for (size_t i = 0; i < n; i++)
		any |= alnum((uint8_t)text[i]);
	if (!any)
		return MU_E_FORMAT;
	s->kind = kind;
	memcpy(s->text, text, n);
	return 0;
}

static bool same(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

/* s as a whole word anywhere in p[0..n). */
static bool has_word(const struct gdpr_subject *s, const uint8_t *p, size_t n)
{
	const uint8_t *w = (const uint8_t *)s->text;
	size_t wn = strlen(s->text);

	for (size_t i = 0; wn <= n && i <= n - wn; i++)
		if (same(p + i, w, wn) && (i == 0 || !alnum(p[i - 1])) && (i + wn == n || !alnum(p[i + wn])))
			return true;
	return false;
}

static bool has_word_str(const struct gdpr_subject *s, const char *t)
{
	return has_word(s, (const uint8_t *)t, strlen(t));
}

static bool record_matches(const struct gdpr_subject *s, const struct inc_record *r)
{
	const char *f[8] = {0};

	switch ((enum inc_type)r->type) {
	case INC_METHANE:
		f[0] = r->u.methane.location, f[1] = r->u.methane.type, f[2] = r->u.methane.hazards;
		f[3] = r->u.methane.access, f[4] = r->u.methane.casualty_note, f[5] = r->u.methane.services;
		break;
	case INC_CHECKIN:
		f[0] = r->u.checkin.callsign, f[1] = r->u.checkin.vehicle, f[2] = r->u.checkin.location;
		break;
	case INC_ASSIGN:
		f[0] = r->u.assign.callsign, f[1] = r->u.assign.function, f[2] = r->u.assign.sector;
		f[3] = r->u.assign.note;
		break;
	case INC_ASSIGN_ACK:
		f[0] = r->u.ack.callsign;
		break;
	case INC_REQUEST:
		f[0] = r->u.request.sector, f[1] = r->u.request.note;
		break;
	case INC_RESPONSE:
		f[0] = r->u.response.callsign;
		break;
	case INC_TRIAGE:
		f[0] = r->u.triage.ccs;
		break;
	case INC_CASUALTY:
		if (strlen(r->u.casualty.tag) == strlen(s->text) &&
		    same((const uint8_t *)r->u.casualty.tag, (const uint8_t *)s->text, strlen(s->text)))
			return true;
		f[0] = r->u.casualty.destination, f[1] = r->u.casualty.note;
		break;
	}
	for (int i = 0; i < 8 && f[i]; i++)
		if (has_word_str(s, f[i]))
			return true;
	return false;
}

bool gdpr_matches(const struct gdpr_subject *s, const uint8_t *content, size_t len)
{
	static struct inc_record rec;
	struct attach_manifest m;

	if (!len || !s->kind || content[0] == ARCHIVE_CONTENT_CHUNK)
		return false; /* a file's bytes: reached through its manifest */
	switch (content[0]) {
	case CONTENT_TEXT:
	case CONTENT_ALERT:
		return has_word(s, content + 1, len - 1);
	case CONTENT_INCIDENT:
		return !inc_decode(&rec, content + 1, len - 1) && record_matches(s, &rec);
	case CONTENT_ATTACHMENT:
		return !attach_manifest_decode(&m, content + 1, len - 1) &&
		       (has_word_str(s, m.name) || has_word(s, m.caption, m.caption_len));
	default:
		/* Content this version cannot decode: search its bytes, so an
		 * erasure errs towards reaching an item rather than missing it. */
		return has_word(s, content + 1, len - 1);
	}
}

void gdpr_subject_digest(uint8_t out[static 32], const struct gdpr_subject *s)
{
	static const char tag[] = "muster/gdpr-subject/1:";
	crypto_generichash_state st;
	uint8_t k[2] = {s->kind, ':'};

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)tag, sizeof(tag) - 1);
	crypto_generichash_update(&st, k, sizeof(k));
	for (size_t i = 0; s->text[i]; i++) {
		uint8_t c = lower((uint8_t)s->text[i]);

		crypto_generichash_update(&st, &c, 1);
	}
	crypto_generichash_final(&st, out, 32);
}

struct walk {
	struct archive *a;
	const struct gdpr_subject *s;
	gdpr_fn fn;
	void *ctx;
	uint64_t upto, last;
	bool past; /* reached an entry after upto */
	uint8_t content[ARCHIVE_CONTENT_MAX];
};

static int walk_one(void *ctx, const struct audit_entry *e)
{
	struct walk *w = ctx;
	struct archive_item it;
	size_t clen = 0;
	int ret;

	if (e->seq > w->upto) {
		w->past = true;
		return 1;
	}
	w->last = e->seq;
	if (e->event != AUDIT_ARCHIVED)
		return 0;
	ret = archive_get(w->a, e->id, &it, w->content, sizeof(w->content), &clen, NULL, 0, NULL);
	if (!ret && !(it.flags & ARCHIVE_F_ERASED) && gdpr_matches(w->s, w->content, clen))
		ret = w->fn(w->ctx, &it, w->content, clen);
	sodium_memzero(w->content, clen);
	return ret;
}

struct ids {
	uint8_t (*v)[BUNDLE_ID_BYTES];
	size_t n, cap;
};

static int collect_one(void *ctx, const struct archive_item *it, const uint8_t *content, size_t len)
{
	struct ids *l = ctx;
	void *p;

	(void)content;
	(void)len;
	if (l->n == GDPR_MATCH_MAX)
		return MU_E_TOOBIG;
	p = mu_grow(l->v, &l->cap, l->n, sizeof(*l->v), 16);
	if (!p)
		return -ENOMEM;
	l->v = p;
	memcpy(l->v[l->n++], it->id, BUNDLE_ID_BYTES);
	return 0;
}

int gdpr_scan_from(struct archive *a, const struct gdpr_subject *s, uint64_t after, uint64_t upto, gdpr_fn fn,
		   void *ctx, uint64_t *last)
{
	struct walk *w = malloc(sizeof(*w));
	int ret;

	*last = after;
	if (!w)
		return -ENOMEM;
	*w = (struct walk){.a = a, .s = s, .fn = fn, .ctx = ctx, .upto = upto, .last = after};
	ret = archive_audit_scan(a, after, walk_one, w);
	if (w->past && ret == 1)
		ret = 0;
	*last = w->last;
	free(w);
	return ret;
}

int gdpr_scan(struct archive *a, const struct gdpr_subject *s, gdpr_fn fn, void *ctx)
{
	uint64_t last;

	return gdpr_scan_from(a, s, 0, UINT64_MAX, fn, ctx, &last);
}

int gdpr_add_chunks(struct archive *a, uint8_t (**ids)[BUNDLE_ID_BYTES], size_t *n)
{
	struct ids l = {.v = *ids, .n = *n, .cap = *n};
	uint8_t *content = malloc(ARCHIVE_CONTENT_MAX), cid[BUNDLE_ID_BYTES];
	struct attach_manifest m;
	struct archive_item it;
	size_t orig = *n, clen;
	int ret = content ? 0 : -ENOMEM;

	for (size_t i = 0; !ret && i < orig; i++) {
		ret = archive_get(a, l.v[i], &it, content, ARCHIVE_CONTENT_MAX, &clen, NULL, 0, NULL);
		if (ret || !clen || content[0] != CONTENT_ATTACHMENT ||
		    attach_manifest_decode(&m, content + 1, clen - 1)) {
			sodium_memzero(content, clen);
			continue; /* erased, or not a manifest */
		}
		for (uint32_t k = 0; !ret && k < m.count; k++) {
			ret = archive_chunk_id(a, l.v[i], k, cid);
			if (ret == MU_E_NOTFOUND) {
				ret = 0;
				continue;
			}
			it = (struct archive_item){0};
			memcpy(it.id, cid, BUNDLE_ID_BYTES);
			if (!ret)
				ret = collect_one(&l, &it, NULL, 0);
		}
		sodium_memzero(content, clen);
	}
	free(content);
	*ids = l.v;
	*n = l.n;
	return ret;
}

int gdpr_collect(struct archive *a, const struct gdpr_subject *s, uint8_t (**ids)[BUNDLE_ID_BYTES], size_t *n)
{
	struct ids l = {0};
	int ret = gdpr_scan(a, s, collect_one, &l);

	*ids = NULL;
	*n = 0;
	if (ret) {
		free(l.v);
		return ret;
	}
	*ids = l.v;
	*n = l.n;
	return 0;
}

int gdpr_erase_ex(struct archive *a, const uint8_t (*ids)[BUNDLE_ID_BYTES], size_t n, uint64_t now,
		  uint8_t *what, struct gdpr_erase_result *res)
{
	struct gdpr_erase_result done = {0};
	bool shredded;
	int ret;

	*res = done;
	if (what)
		memset(what, GDPR_SKIPPED, n);
	ret = archive_begin(a);
	if (ret)
		return ret;
	for (size_t i = 0; i < n && !ret; i++) {
		ret = archive_erase_ex(a, ids[i], now, &shredded);
		if (ret == MU_E_EXISTS) {
			ret = 0; /* erased before: nothing left to erase */
			continue;
		}
		if (ret)
			break;
		done.erased++;
		done.shredded += shredded;
		if (what)
			what[i] = shredded ? GDPR_SHREDDED : GDPR_DELETED;
	}
	if (!ret)
		ret = archive_commit(a);
	else
		archive_abort(a);
	if (ret) {
		if (what)
			memset(what, GDPR_SKIPPED, n);
		return ret;
	}
	*res = done;
	return 0;
}

int gdpr_erase(struct archive *a, const uint8_t (*ids)[BUNDLE_ID_BYTES], size_t n, uint64_t now,
	       size_t *erased)
{
	struct gdpr_erase_result res;
	int ret = gdpr_erase_ex(a, ids, n, now, NULL, &res);

	*erased = res.erased;
	return ret;
}
