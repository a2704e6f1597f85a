/* GDPR subject access and erasure over the hospital archive
 * (docs/exports.md "Subject access" and "Erasure").
 *
 * A subject is a casualty's triage tag ("T0042") or another patient
 * reference (a hospital number). An archived item refers to it when its
 * decrypted content does: an incident record whose casualty tag equals it
 * (ASCII case-insensitive), or any text — a message, an alert, an
 * attachment's name or caption, a record's free-text fields — that holds
 * it as a whole word (case-insensitive; the characters either side are
 * not letters or digits). Both kinds match the same way; the kind is part
 * of the subject digest only.
 *
 * Pure code over the archive API; one thread, like the archive. */
#ifndef MU_GDPR_H
#define MU_GDPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive.h"

#define GDPR_SUBJECT_MIN 3 /* shorter would match half the archive */
#define GDPR_SUBJECT_MAX 64
#define GDPR_MATCH_MAX   100000 /* items one erasure may name */

enum gdpr_kind { GDPR_TAG = 1, GDPR_REF = 2 };

struct gdpr_subject {
	uint8_t kind; /* enum gdpr_kind */
	char text[GDPR_SUBJECT_MAX + 1];
};

/* Sets s: text of GDPR_SUBJECT_MIN..GDPR_SUBJECT_MAX bytes, valid UTF-8
 * without control characters, with at least one letter or digit.
 * MU_E_FORMAT otherwise (s is then zeroed). */
int gdpr_subject_set(struct gdpr_subject *s, uint8_t kind, const char *text);

/* Whether decrypted content (content byte first) refers to s. */
bool gdpr_matches(const struct gdpr_subject *s, const uint8_t *content, size_t len);

/* BLAKE2b-256("muster/gdpr-subject/1:" || kind || ':' || text in ASCII
 * lower case): what the audit chain records of a subject access export,
 * so the chain never holds the subject itself. */
void gdpr_subject_digest(uint8_t out[static 32], const struct gdpr_subject *s);

/* Calls fn for each live (not erased) archived message that refers to s,
 * in archive order, with its metadata and decrypted content (valid during
 * the call; wiped after). fn must not write to the archive; a non-zero
 * return stops the walk and is returned. */
typedef int (*gdpr_fn)(void *ctx, const struct archive_item *it, const uint8_t *content, size_t len);
int gdpr_scan(struct archive *a, const struct gdpr_subject *s, gdpr_fn fn, void *ctx);

/* gdpr_scan over the entries with after < seq <= upto, in steps: a
 * positive return from fn pauses the walk (returned as is) after that
 * item; *last gets the seq of the last entry walked, to pass as after to
 * the next call. 0 when the range is done. */
int gdpr_scan_from(struct archive *a, const struct gdpr_subject *s, uint64_t after, uint64_t upto, gdpr_fn fn,
		   void *ctx, uint64_t *last);

/* Attachment content: a manifest refers to the subject by its name or
 * caption (above); its file is the chunk items linked to it
 * (archive_chunk_id), which gdpr_collect adds after their manifest, so
 * erasure removes the file with the message. Chunk items themselves are
 * never matched on their bytes. */

/* The ids gdpr_scan would visit, in a malloc'd array the caller frees
 * (*ids NULL when *n is 0). MU_E_TOOBIG beyond GDPR_MATCH_MAX. */
int gdpr_collect(struct archive *a, const struct gdpr_subject *s, uint8_t (**ids)[BUNDLE_ID_BYTES],
		 size_t *n);

/* Appends to the malloc'd list *ids (*n entries) the archived chunk items
 * of every attachment manifest in it (those not in it already). -ENOMEM,
 * MU_E_TOOBIG beyond GDPR_MATCH_MAX, archive errors. */
int gdpr_add_chunks(struct archive *a, uint8_t (**ids)[BUNDLE_ID_BYTES], size_t *n);

/* What gdpr_erase_ex did with one id. */
enum gdpr_erased {
	GDPR_SKIPPED = 0,  /* erased before: nothing left to erase */
	GDPR_DELETED = 1,  /* deletion only: archived before per-item keys (record version 1) */
	GDPR_SHREDDED = 2, /* crypto-shredded: its item key destroyed */
};

struct gdpr_erase_result {
	size_t erased;   /* GDPR_DELETED + GDPR_SHREDDED */
	size_t shredded; /* GDPR_SHREDDED */
};

/* Erases each id (archive_erase_ex: stub plus 'erased' audit entry, the
 * item key destroyed for items that have one) in one archive batch, so
 * all or none are erased; ids already erased are skipped. what (n bytes,
 * may be NULL) gets an enum gdpr_erased per id, res the totals; both are
 * zeroed on entry and filled only once the batch has committed. -EBUSY if
 * a batch is open (commit it first), else archive_erase's errors (the
 * batch is then aborted and nothing is erased). */
int gdpr_erase_ex(struct archive *a, const uint8_t (*ids)[BUNDLE_ID_BYTES], size_t n, uint64_t now,
		  uint8_t *what, struct gdpr_erase_result *res);
/* gdpr_erase_ex without the detail: *erased gets res.erased. */
int gdpr_erase(struct archive *a, const uint8_t (*ids)[BUNDLE_ID_BYTES], size_t n, uint64_t now,
	       size_t *erased);

#endif
