/* The incident report export (docs/exports.md "Incident report"): the
 * archived incident records of one incident rendered as the plain-text
 * VIEW_REPORT timeline (incident.h), under a header with the archive's
 * counts, audit head and the records' time range. Pure code over the
 * archive API, like export_fhir.h. */
#ifndef MU_EXPORT_REPORT_H
#define MU_EXPORT_REPORT_H

#include "export_fhir.h"

struct report_result {
	uint64_t records;                /* records of the incident shown */
	uint64_t first, last;            /* their created times (Unix ms) */
	char incident[INC_NAME_MAX + 1]; /* "" when there were none */
};

/* Writes the report of incident (NULL: the most recently created one in
 * the archive) through out. Erased items are left out. A report with no
 * records says so and returns 0 with res->records = 0. res may be NULL.
 * The same bytes as the report_stream steps; errors as there, and out's
 * result. */
int export_report(struct archive *a, const struct export_dir *dir, const char *incident, uint64_t now,
		  export_out_fn out, void *ctx, struct report_result *res);

/* The same report in steps, for a streaming reply.
 *
 * report_stream_new reads the archive and builds the incident's scene at
 * once (one read transaction, every archived item decrypted once): the
 * header needs the whole record set. It holds the scene and its derived
 * view until report_stream_free: memory proportional to the incident, at
 * most SCENE_RECORDS_MAX incident records (of the incident named, or of
 * every incident when incident is NULL); more are refused with
 * MU_E_TOOBIG before anything is written. Each report_stream_step then
 * renders a few sections' rows and writes at most max bytes through out
 * (rendered text beyond max waits in the stream: under max plus one row,
 * and a row is short except a conflict line that lists many concurrent
 * updates). Returns 1 while more follows (having written at least one
 * byte), 0 when the report is complete (res, which may be NULL, filled),
 * or an error (-EINVAL for max 0, -ENOMEM, out's result), after which
 * every step returns it. dir is borrowed until report_stream_free (names
 * are looked up while rendering); out/ctx are called only from
 * report_stream_step. *rs is the caller's; new fails with -ENOMEM,
 * MU_E_TOOBIG or an archive error. */
struct report_stream;
int report_stream_new(struct report_stream **rs, struct archive *a, const struct export_dir *dir,
		      const char *incident, uint64_t now, export_out_fn out, void *ctx);
int report_stream_step(struct report_stream *rs, size_t max, struct report_result *res);
void report_stream_free(struct report_stream *rs); /* NULL-safe */

#endif
