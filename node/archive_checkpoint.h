/* The hospital's clean-shutdown checkpoint as bytes (docs/archive.md
 * "Start-up"): the value control_archive.c stores under the archive meta
 * name "hospital.clean" at a clean close and takes at the next start.
 * When to write it, whether it still matches the store and the archive
 * user, and the pending list it refills stay in control_archive.c; this
 * is the pure codec: no node, no LMDB, no allocation.
 *
 * Value, big-endian (ARCHIVE_CHECKPOINT_BYTES(count) bytes):
 *   version u8 (ARCHIVE_CHECKPOINT_VERSION), archive user's signing key 32,
 *   store data file: dev u64, ino u64, size u64, mtime s u64, ns u64,
 *   count u32 (<= ARCHIVE_CHECKPOINT_PEND_MAX), then count entries:
 *   attachment id 16, sender 32, manifest bundle id 32, expires u64,
 *   chunks missing u32 (> 0).
 * The decoder rejects any other version, a count over the cap, a length
 * other than ARCHIVE_CHECKPOINT_BYTES(count) (truncated or trailing
 * bytes) and an entry with no chunk missing; the encoder refuses to write
 * what the decoder would reject, so every decoded value re-encodes to the
 * same bytes. Entries are kept in the order given (no sorting, no
 * de-duplication: that is the caller's list's business). */
#ifndef MU_ARCHIVE_CHECKPOINT_H
#define MU_ARCHIVE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "attach.h"
#include "bundle.h"

#define ARCHIVE_CHECKPOINT_VERSION 1
/* More pending attachments than this: no checkpoint, the next start walks. */
#define ARCHIVE_CHECKPOINT_PEND_MAX     4096
#define ARCHIVE_CHECKPOINT_FIXED        (1 + MU_KEY_BYTES + 5 * 8 + 4)                             /* 77 */
#define ARCHIVE_CHECKPOINT_ENTRY        (ATTACH_ID_BYTES + MU_KEY_BYTES + BUNDLE_ID_BYTES + 8 + 4) /* 92 */
#define ARCHIVE_CHECKPOINT_BYTES(count) (ARCHIVE_CHECKPOINT_FIXED + (size_t)(count)*ARCHIVE_CHECKPOINT_ENTRY)
#define ARCHIVE_CHECKPOINT_MAX          ARCHIVE_CHECKPOINT_BYTES(ARCHIVE_CHECKPOINT_PEND_MAX)

/* The store's LMDB data file after its last commit: a store written since
 * without this archive, or restored from a copy, no longer matches. */
struct archive_store_print {
	uint64_t dev, ino, size, sec, nsec;
};

/* One attachment whose manifest is archived but some of whose chunks are
 * not yet. */
struct archive_checkpoint_attach {
	uint8_t aid[ATTACH_ID_BYTES];
	uint8_t sender[MU_KEY_BYTES];
	uint8_t manifest[BUNDLE_ID_BYTES];
	uint64_t expires;
	uint32_t missing; /* > 0 */
};

/* Everything but the entries (the version is implied: only
 * ARCHIVE_CHECKPOINT_VERSION is written or read). */
struct archive_checkpoint {
	uint8_t user[MU_KEY_BYTES]; /* the archive user's signing key */
	struct archive_store_print store;
	uint32_t npend; /* entries that follow, <= ARCHIVE_CHECKPOINT_PEND_MAX */
};

/* Writes ck and its ck->npend entries pend[0..npend) into out (cap bytes,
 * caller-owned; ARCHIVE_CHECKPOINT_BYTES(ck->npend) suffice). Returns the
 * length written; MU_E_TOOBIG if npend is over ARCHIVE_CHECKPOINT_PEND_MAX
 * or cap is short, MU_E_FORMAT if an entry has missing 0. pend may be NULL
 * when npend is 0. */
int archive_checkpoint_encode(uint8_t *out, size_t cap, const struct archive_checkpoint *ck,
			      const struct archive_checkpoint_attach *pend);

/* Parses in[0..len) into *ck and its entries into pend[0..ck->npend)
 * (caller-owned, room for pend_cap entries; nothing points into in).
 * pend_cap >= len / ARCHIVE_CHECKPOINT_ENTRY, or ARCHIVE_CHECKPOINT_PEND_MAX,
 * always suffices. Returns 0; MU_E_VERSION for another version, MU_E_FORMAT
 * if truncated, with trailing bytes, a count over the cap or an entry with
 * missing 0, MU_E_TOOBIG if a well-formed value holds more than pend_cap
 * entries. On error *ck is zeroed and pend holds nothing meaningful.
 * pend may be NULL when pend_cap is 0. */
int archive_checkpoint_decode(struct archive_checkpoint *ck, struct archive_checkpoint_attach *pend,
			      size_t pend_cap, const uint8_t *in, size_t len);

#endif
