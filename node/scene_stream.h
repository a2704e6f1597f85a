/* A text view of a scene rendered in steps (the incident report of a
 * large incident goes out through a streaming control reply this way).
 * The bytes are those scene_render writes for the same view, flags and
 * now; implemented in scene_render.c. */
#ifndef MU_SCENE_STREAM_H
#define MU_SCENE_STREAM_H

#include "incident.h"

struct scene_stream;

/* Derives the view from s now (memory proportional to s's records) and
 * starts before its first line. s must stay unchanged and alive until
 * scene_stream_free; names/names_ctx as for scene_render. Text only:
 * -EINVAL with SCENE_F_JSON; MU_E_NOTFOUND for an unknown view; -ENOMEM.
 * *out is the caller's (scene_stream_free). */
int scene_stream_new(struct scene_stream **out, const struct scene *s, enum scene_view view, unsigned flags,
		     uint64_t now, scene_name_fn names, void *names_ctx);
/* Renders whole units (a section head or one row) through out(ctx, text)
 * until at least budget bytes went out in this call or the view is
 * complete; one unit may take it past budget (a row is short, except a
 * conflict listing many concurrent updates). Returns 1 if more follows,
 * 0 when complete, or an error (out's non-zero result, -ENOMEM), after
 * which every step returns that error. */
int scene_stream_step(struct scene_stream *st, size_t budget, scene_out_fn out, void *ctx);
void scene_stream_free(struct scene_stream *st); /* NULL-safe */

#endif
