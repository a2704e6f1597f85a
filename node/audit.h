/* The hospital archive's audit entries: one per thing done to the archive
 * (an item archived or erased, the log exported or verified), chained by
 * hash and signed by the hospital node's key, so that a removed, inserted,
 * reordered or edited entry, or an edited archived record, is detected by
 * archive_audit_verify (archive.h).
 *
 * Entry encoding (docs/archive.md "Audit entry"), 114 bytes of body then
 * the 64-byte signature:
 *   version u8 (=1), event u8, seq u64, time u64 (Unix ms), bundle id 32
 *   (zero when the event is about no item), digest 32 (what the event is
 *   about: the archived record, the erased stub, the exported range), prev
 *   32 (hash of entry seq-1; zero for seq 1), sig 64.
 * Entry hash = BLAKE2b-256("muster/audit/1:" || body): the next entry's
 * prev. sig = Ed25519 by the node key over "muster/audit-sig/1:" || hash.
 * Integers are big-endian.
 *
 * Pure functions: no I/O, no allocation. */
#ifndef MU_AUDIT_H
#define MU_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/identity.h"

#define AUDIT_VERSION     1
#define AUDIT_HASH_BYTES  32
#define AUDIT_BODY_BYTES  (1 + 1 + 8 + 8 + 32 + AUDIT_HASH_BYTES + AUDIT_HASH_BYTES)
#define AUDIT_ENTRY_BYTES (AUDIT_BODY_BYTES + MU_SIG_BYTES)

/* Events; the numbers are part of the signed encoding. */
enum audit_event {
	AUDIT_ARCHIVED = 1, /* digest: the item's record as stored */
	AUDIT_ERASED = 2,   /* digest: the item's stub after erasure */
	AUDIT_EXPORTED = 3, /* digest: BLAKE2b-256 of the exported text */
	AUDIT_VERIFIED = 4, /* digest: the head hash that was verified */
};

struct audit_entry {
	uint8_t event;
	uint64_t seq; /* 1, 2, 3 ... */
	uint64_t time;
	uint8_t id[32];
	uint8_t digest[AUDIT_HASH_BYTES];
	uint8_t prev[AUDIT_HASH_BYTES];
	uint8_t sig[MU_SIG_BYTES];
};

/* "archived", "erased", "exported", "verified"; NULL for other values. */
const char *audit_event_name(uint8_t event);

/* Writes the 178-byte encoding of e (including e->sig). */
void audit_entry_encode(uint8_t out[static AUDIT_ENTRY_BYTES], const struct audit_entry *e);
/* Parses an encoding: MU_E_FORMAT for a wrong length, seq 0 or an unknown
 * event, MU_E_VERSION for another version. *e is zeroed first and on
 * failure. The signature is not checked. */
int audit_entry_decode(struct audit_entry *e, const uint8_t *in, size_t len);
/* The entry's hash (over the body, not the signature). */
void audit_entry_hash(uint8_t out[static AUDIT_HASH_BYTES], const struct audit_entry *e);
/* Signs e (fills e->sig) with id; 0 or MU_E_CRYPTO. */
int audit_entry_sign(struct audit_entry *e, const struct mu_identity *id);
/* 0 if e->sig is pk's signature over e, MU_E_SIG otherwise. */
int audit_entry_check(const struct audit_entry *e, const uint8_t pk[static MU_KEY_BYTES])
    __attribute__((warn_unused_result));

#endif
