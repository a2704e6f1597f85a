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

struct sink {
	export_out_fn out;
	void *ctx;
};

static int sink_out(void *ctx, const char *text)
{
	struct sink *k = ctx;

	return k->out(k->ctx, text, strlen(text));
}

static int say(export_out_fn out, void *ctx, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(export_out_fn out, void *ctx, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return MU_E_FORMAT;
	return out(ctx, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

int export_report(struct archive *a, const struct export_dir *dir, const char *incident, uint64_t now,
		  export_out_fn out, void *ctx, struct report_result *res)
{
	struct rw *w = calloc(1, sizeof(*w));
	struct report_result rr = {0};
	struct archive_stat st;
	struct sink k = {out, ctx};
	char t0[48], t1[48], tn[48], head[2 * AUDIT_HASH_BYTES + 1];
	int ret;

	if (!w)
		return -ENOMEM;
	w->a = a;
	w->dir = dir;
	ret = scene_new(&w->s, incident);
	if (!ret)
		ret = archive_stat(a, &st);
	if (!ret)
		ret = archive_audit_scan(a, 0, add_one, w);
	if (ret)
		goto out;
	snprintf(rr.incident, sizeof(rr.incident), "%s", scene_incident(w->s));
	for (size_t i = 0; i < w->n; i++) {
		if (!*rr.incident || strcmp(w->v[i].incident, rr.incident))
			continue;
		if (!rr.records || w->v[i].created < rr.first)
			rr.first = w->v[i].created;
		if (!rr.records || w->v[i].created > rr.last)
			rr.last = w->v[i].created;
		rr.records++;
	}
	hex_encode(head, st.head, AUDIT_HASH_BYTES);
	export_iso_time(tn, now);
	if (!rr.records) {
		ret = say(out, ctx,
			  "No incident records%s%s in the hospital archive (%" PRIu64 " items, %" PRIu64
			  " erased).\n",
			  incident ? " of incident " : "", incident ? incident : "", st.items, st.erased);
		goto out;
	}
	export_iso_time(t0, rr.first);
	export_iso_time(t1, rr.last);
	ret = say(out, ctx,
		  "INCIDENT REPORT %s, from the hospital archive\n"
		  "Exported   %s\n"
		  "Archive    %" PRIu64 " items (%" PRIu64 " erased), audit seq %" PRIu64 ", head %s\n"
		  "Records    %" PRIu64 " incident records of %s, created %s .. %s\n\n",
		  rr.incident, tn, st.items, st.erased, st.last_seq, head, rr.records, rr.incident, t0, t1);
	if (!ret)
		ret = scene_render(w->s, VIEW_REPORT, 0, now, names, (void *)dir, sink_out, &k);
out:
	if (!ret && res)
		*res = rr;
	scene_free(w->s);
	free(w->v);
	free(w);
	return ret;
}
