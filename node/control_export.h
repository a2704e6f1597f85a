/* The hospital's export and erasure commands (docs/exports.md): export
 * fhir, export report, export subject, erase. control_archive.c checks
 * that the node has an archive and hands these commands over. Internal to
 * the node core. */
#ifndef MU_CONTROL_EXPORT_H
#define MU_CONTROL_EXPORT_H

#include "ctl.h"
#include "node_int.h"

#define EXPORT_STEP_BYTES (64u << 10) /* a streamed export's output per step (ctl_reply_stream) */

/* 1 if req is one of the commands (with *ret its result), else 0. Needs
 * n->hosp. */
int control_export(struct node *n, const struct ctl_req *req, struct ctl_reply *r, int *ret);

#endif
