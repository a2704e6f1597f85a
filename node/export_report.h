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
 * -ENOMEM, archive errors, out's result. */
int export_report(struct archive *a, const struct export_dir *dir, const char *incident, uint64_t now,
		  export_out_fn out, void *ctx, struct report_result *res);

#endif
