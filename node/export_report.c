/* The incident report from the archive (export_report.h). The scene is
 * built from the archive's decrypted content, not from the store: the
 * store forgets records when they expire, the archive keeps them. */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "err.h"
#include "export_report.h"
#include "hex.h"
#include "scene_stream.h"

/* What export_report renders ahead of writing it out. */
#define REPORT_STEP (64u << 10)

struct seen {
	char incident[INC_NAME_MAX + 1];
	uint64_t created;
};

struct rw {
	struct archive *a;
	const struct export_dir *dir;
	struct scene *s;
	struct seen *v;
	size_t n, cap;
	uint64_t erased;
	uint8_t content[ARCHIVE_CONTENT_MAX];
	struct inc_record rec;
};

static void who(const struct export_dir *dir, const uint8_t key[static MU_KEY_BYTES], char *buf, size_t cap)
{
	const struct cred *c = export_dir_find(dir, key);
	char hx[17];

	if (c) {
		snprintf(buf, cap, "%s (%s)", c->name, role_name(c->role) ? role_name(c->role) : "?");
	} else {
		hex_encode(hx, key, 8);
		snprintf(buf, cap, "%s", hx);
	}
}

static int names(void *ctx, const uint8_t key[static MU_KEY_BYTES], char *buf, size_t cap)
{
	if (!export_dir_find(ctx, key))
		return -1;
	who(ctx, key, buf, cap);
	return 0;
}

static int add_one(void *ctx, const struct audit_entry *e)
{
	struct rw *w = ctx;
	struct archive_item it;
	size_t clen = 0;
	char name[160];
	void *p;
	int ret;

	if (e->event != AUDIT_ARCHIVED)
		return 0;
	ret = archive_get(w->a, e->id, &it, w->content, sizeof(w->content), &clen, NULL, 0, NULL);
	if (ret)
		return ret;
	if (it.flags & ARCHIVE_F_ERASED) {
		w->erased++;
		return 0;
	}
	if (clen < 1 || w->content[0] != CONTENT_INCIDENT || inc_decode(&w->rec, w->content + 1, clen - 1))
		goto done; /* not a record, or one this version cannot read */
	p = mu_grow(w->v, &w->cap, w->n, sizeof(*w->v), 64);
	if (!p) {
		ret = -ENOMEM;
		goto done;
	}
	w->v = p;
	memcpy(w->v[w->n].incident, w->rec.incident, sizeof(w->rec.incident));
	w->v[w->n++].created = it.created;
	who(w->dir, it.sender, name, sizeof(name));
	ret = scene_add(w->s, e->id, it.sender, name, it.created, &w->rec);
done:
	sodium_memzero(w->content, clen);
	return ret;
}

struct report_stream {
	const struct export_dir *dir;
	export_out_fn out;
	void *ctx;
	struct scene *s;
	struct scene_stream *ss; /* NULL once every line is rendered */
	char *pend;              /* rendered, not yet written: pend[off..len) */
	size_t off, len, cap;
	struct report_result rr;
	int err; /* sticky */
};

static int pend_add(struct report_stream *rs, const char *text, size_t n)
{
	size_t need = rs->len + n;

	if (need < n)
		return -ENOMEM;
	if (need > rs->cap) {
		size_t cap = rs->cap ? rs->cap : 4096;
		char *p;

		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : 2 * cap;
		if (!(p = realloc(rs->pend, cap)))
			return -ENOMEM;
		rs->pend = p;
		rs->cap = cap;
	}
	memcpy(rs->pend + rs->len, text, n);
	rs->len = need;
	return 0;
}

static int pend_text(void *ctx, const char *text)
{
	return pend_add(ctx, text, strlen(text));
}

static int say(struct report_stream *rs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int say(struct report_stream *rs, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return MU_E_FORMAT;
	return pend_add(rs, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Reads the incident's records into rs->s and fills rs->rr. */
static int collect(struct report_stream *rs, struct archive *a, struct archive_stat *st)
{
	struct rw *w = calloc(1, sizeof(*w));
	struct report_result *rr = &rs->rr;
	int ret;

	if (!w)
		return -ENOMEM;
	w->a = a;
	w->dir = rs->dir;
	w->s = rs->s;
	ret = archive_stat(a, st);
	if (!ret)
		ret = archive_audit_scan(a, 0, add_one, w);
	if (ret)
		goto out;
	snprintf(rr->incident, sizeof(rr->incident), "%s", scene_incident(w->s));
	for (size_t i = 0; i < w->n; i++) {
		if (!*rr->incident || strcmp(w->v[i].incident, rr->incident))
			continue;
		if (!rr->records || w->v[i].created < rr->first)
			rr->first = w->v[i].created;
		if (!rr->records || w->v[i].created > rr->last)
			rr->last = w->v[i].created;
		rr->records++;
	}
out:
	free(w->v);
	sodium_memzero(&w->rec, sizeof(w->rec));
	free(w);
	return ret;
}

int report_stream_new(struct report_stream **out, struct archive *a, const struct export_dir *dir,
		      const char *incident, uint64_t now, export_out_fn fn, void *ctx)
{
	struct report_stream *rs = calloc(1, sizeof(*rs));
	struct report_result *rr;
	struct archive_stat st;
	char t0[48], t1[48], tn[48], head[2 * AUDIT_HASH_BYTES + 1];
	int ret;

	*out = NULL;
	if (!rs)
		return -ENOMEM;
	rs->dir = dir;
	rs->out = fn;
	rs->ctx = ctx;
	rr = &rs->rr;
	ret = scene_new(&rs->s, incident);
	if (!ret)
		ret = collect(rs, a, &st);
	if (ret)
		goto out;
	hex_encode(head, st.head, AUDIT_HASH_BYTES);
	export_iso_time(tn, now);
	if (!rr->records) {
		ret = say(rs,
			  "No incident records%s%s in the hospital archive (%" PRIu64 " items, %" PRIu64
			  " erased).\n",
			  incident ? " of incident " : "", incident ? incident : "", st.items, st.erased);
		goto out;
	}
	export_iso_time(t0, rr->first);
	export_iso_time(t1, rr->last);
	ret =
	    say(rs,
		"INCIDENT REPORT %s, from the hospital archive\n"
		"Exported   %s\n"
		"Archive    %" PRIu64 " items (%" PRIu64 " erased), audit seq %" PRIu64 ", head %s\n"
		"Records    %" PRIu64 " incident records of %s, created %s .. %s\n\n",
		rr->incident, tn, st.items, st.erased, st.last_seq, head, rr->records, rr->incident, t0, t1);
	if (!ret)
		ret = scene_stream_new(&rs->ss, rs->s, VIEW_REPORT, 0, now, names, (void *)dir);
out:
	if (ret) {
		report_stream_free(rs);
		return ret;
	}
	*out = rs;
	return 0;
}

int report_stream_step(struct report_stream *rs, size_t max, struct report_result *res)
{
	size_t n;
	int ret;

	if (!rs->err && !max)
		rs->err = -EINVAL;
	while (!rs->err && rs->ss && rs->len - rs->off < max) {
		ret = scene_stream_step(rs->ss, max - (rs->len - rs->off), pend_text, rs);
		if (ret < 0)
			rs->err = ret;
		if (!ret) {
			scene_stream_free(rs->ss);
			rs->ss = NULL;
		}
	}
	if (rs->err)
		return rs->err;
	n = rs->len - rs->off < max ? rs->len - rs->off : max;
	if (n && (ret = rs->out(rs->ctx, rs->pend + rs->off, n)))
		return rs->err = ret;
	rs->off += n;
	/* Move the rest to the front once it is at most as long as what went
	 * out, so each byte is moved a bounded number of times. */
	if (rs->off && rs->len - rs->off <= rs->off) {
		memmove(rs->pend, rs->pend + rs->off, rs->len - rs->off);
		rs->len -= rs->off;
		rs->off = 0;
	}
	if (rs->ss || rs->len)
		return 1;
	if (res)
		*res = rs->rr;
	return 0;
}

void report_stream_free(struct report_stream *rs)
{
	if (!rs)
		return;
	scene_stream_free(rs->ss);
	scene_free(rs->s);
	free(rs->pend);
	free(rs);
}

int export_report(struct archive *a, const struct export_dir *dir, const char *incident, uint64_t now,
		  export_out_fn out, void *ctx, struct report_result *res)
{
	struct report_stream *rs;
	int ret = report_stream_new(&rs, a, dir, incident, now, out, ctx);

	if (ret)
		return ret;
	while ((ret = report_stream_step(rs, REPORT_STEP, res)) == 1)
		;
	report_stream_free(rs);
	return ret;
}
