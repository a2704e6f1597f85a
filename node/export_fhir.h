/* Exports of the hospital archive for the patient record (docs/exports.md):
 * a FHIR R4 Bundle of Communication resources, and the pieces the other
 * exports (incident report, subject access) share: the credential
 * directory, the output sink, JSON strings from untrusted bytes, times.
 *
 * Pure code over the archive API (archive.h): no node, no store. The
 * caller passes the credentials it knows (the store's) as a directory.
 * Nothing returned points into the archive. One thread, like the archive. */
#ifndef MU_EXPORT_FHIR_H
#define MU_EXPORT_FHIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../crypto/cred.h"
#include "archive.h"
#include "incident.h"

#define FHIR_UUID_CHARS 36    /* 8-4-4-4-12 */
#define EXPORT_LINE_MAX 1536  /* one-line rendering of an incident record */
#define EXPORT_DIR_MAX  65536 /* credentials a directory holds (more: the rest are unnamed) */

/* The credentials known to the exporter, one per signing key. Borrowed. */
struct export_dir {
	const struct cred *c;
	size_t n;
};

/* Where text goes: called with pieces in order; a non-zero return stops
 * the export and is returned. */
typedef int (*export_out_fn)(void *ctx, const char *text, size_t len);

/* The credential of key in dir, or NULL. */
const struct cred *export_dir_find(const struct export_dir *dir, const uint8_t key[static MU_KEY_BYTES]);

/* ISO 8601 UTC with milliseconds: "2026-11-22T16:03:31.294Z". */
void export_iso_time(char out[static 48], uint64_t ms);
/* Parses a time given as Unix ms digits or "YYYY-MM-DDTHH:MM:SS[.mmm]Z";
 * MU_E_FORMAT otherwise. */
int export_time_parse(const char *s, uint64_t *ms);

/* A deterministic RFC 4122-shaped UUID (version 5 and variant bits set,
 * the other 122 bits from BLAKE2b-128("muster/fhir-uuid/1:" || kind ||
 * ':' || p)), so the same key or bundle always gets the same
 * urn:uuid in every export. out gets 36 characters and a NUL. */
void fhir_uuid(char out[static FHIR_UUID_CHARS + 1], const char *kind, const uint8_t *p, size_t n);

/* Writes n bytes of untrusted text as a quoted JSON string through out:
 * quote, backslash and control bytes escaped, invalid UTF-8 replaced by
 * U+FFFD, so the result is always valid JSON. Returns out's result. */
int export_json_str(export_out_fn out, void *ctx, const uint8_t *p, size_t n);

/* A readable one-line rendering of an incident record ("Casualty T0042
 * P1 to Royal Infirmary, departed 2026-...Z"); truncated to fit cap
 * (cap >= 1). */
void export_record_line(char *out, size_t cap, const struct inc_record *r);

/* What an archived item's content is: "text", "alert", "attachment",
 * "incident:<type>" (written to out, cap >= 32) or "unknown". */
void export_content_kind(char *out, size_t cap, const uint8_t *content, size_t len);

struct fhir_opts {
	const char *incident; /* only incident records of this incident (others kept); NULL: all */
	uint64_t since;       /* only items created at or after (Unix ms); 0: all */
	uint64_t now;         /* Bundle.timestamp */
};

struct fhir_result {
	uint64_t communications; /* entries written */
	uint64_t practitioners;
	uint64_t erased;    /* erased items left out */
	uint64_t skipped;   /* left out by --incident / --since */
	uint64_t chunks;    /* attachment chunk items (part of their manifest's Communication) */
	uint8_t digest[32]; /* BLAKE2b-256 of the exported bytes (for the audit entry) */
};

/* Attachments (docs/exports.md): a file of at most FHIR_INLINE_MAX bytes
 * whose chunks are all archived is written inline as Attachment.data
 * (base64); a larger or incomplete one as Attachment.url
 * FHIR_ATTACH_URL_PREFIX + the manifest's bundle id in hex (the hospital
 * serves it with `muster export attachment ID --out FILE`). */
#define FHIR_INLINE_MAX        (256u << 10)
#define FHIR_ATTACH_URL_PREFIX "urn:muster:attachment:"

/* The same export in steps, for a streaming reply: fhir_stream_step writes
 * until it has passed at least budget bytes to out (or the Bundle ends)
 * and returns 1 while more is due, 0 at the end (*res filled when res is
 * not NULL), or an error (the output is then incomplete). Each step walks
 * the archive in its own read transaction; the items are those archived
 * when fhir_stream_new ran (later ones wait for the next export). dir
 * and o are borrowed until fhir_stream_free (NULL-safe). One step writes
 * at most budget + one Communication (with inline data at most about
 * 4/3 FHIR_INLINE_MAX + 64 KiB). */
struct fhir_stream;
int fhir_stream_new(struct fhir_stream **out, struct archive *a, const struct export_dir *dir,
		    const struct fhir_opts *o, export_out_fn fn, void *ctx);
int fhir_stream_step(struct fhir_stream *s, size_t budget, struct fhir_result *res);
void fhir_stream_free(struct fhir_stream *s);

/* Writes one FHIR R4 Bundle (type "collection") to out: a Communication
 * per live archived message in archive order, then a Practitioner per
 * sender or recipient they reference (docs/exports.md has the mapping).
 * Reads the archive only (the caller records the export). res may be
 * NULL. Returns 0, -ENOMEM, an archive error, or out's non-zero result;
 * on error the output is incomplete and must be discarded. */
int fhir_export(struct archive *a, const struct export_dir *dir, const struct fhir_opts *o, export_out_fn out,
		void *ctx, struct fhir_result *res);

#endif
