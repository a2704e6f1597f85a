/* The hospital archive: every message the hospital's archive user can
 * read, kept with its original signed bundle and its decrypted content, in
 * its own LMDB environment (not the store: the store forgets bundles when
 * they expire, the archive keeps them). Every change appends a signed,
 * hash-chained audit entry (audit.h) in the same transaction.
 *
 * Databases (docs/archive.md): "items" (bundle id -> record), "audit"
 * (seq u64 BE -> audit entry), "meta" (sealed data key, counters, receipt
 * cursor). A random 32-byte archive data key is stored in "meta" sealed
 * (crypto_box_seal) to an archive key identity kept in a keystore file
 * (key_path, e.g. data_dir/archive.key) wrapped by the node's key file: a
 * copy of the LMDB alone reveals no content.
 *
 * Per-item keys (crypto-shredding): each item has its own random 32-byte
 * key, kept in a second, small LMDB environment next to the archive
 * (dir + ARCHIVE_KEYS_SUFFIX, e.g. data_dir/archive-keys) sealed under the
 * data key (XChaCha20-Poly1305, item id as associated data). The item's
 * content and its original signed bundle are both sealed under its key.
 * Erasure deletes the key and then compacts the keys environment so no
 * freed page keeps it: every copy of the archive environment (a backup)
 * loses the item, while the small keys environment is the only thing
 * that needs a short backup retention.
 *
 * Record (items value), big-endian: version u8, flags u8 (ARCHIVE_F_*),
 * seq u64 (the item's latest audit entry), archived u64, created u64,
 * expires u64, prio u8, kind u8, sender 32, dest_type u8, dest lv8, bundle
 * lv32, sealed lv32 (nonce 24 || ciphertext of the content).
 *   version 2 (ARCHIVE_VERSION): bundle is nonce 24 || ciphertext of the
 *     original signed encoding; both under the item key, associated data
 *     id || 1 (bundle) or id || 2 (content).
 *   version 1 (ARCHIVE_VERSION_LEGACY, read and erased, never written):
 *     bundle is the signed encoding in clear, content sealed under the
 *     data key with the id as associated data. Not shreddable.
 * An erased item keeps everything but bundle and sealed, which are empty;
 * a version 2 stub also carries ARCHIVE_F_SHREDDED (its key is gone).
 *
 * Threading and ownership: one thread. At most one batch is open
 * (archive_begin .. archive_commit); writes made outside a batch commit at
 * once, each on its own. Nothing returned points into LMDB memory. A
 * struct archive borrows the signer identity passed to archive_open, which
 * must outlive it.
 *
 * Errors: 0, -errno, MU_E_STORE (LMDB failure, logged), MU_E_QUOTA (map
 * full: the put or the batch is lost, nothing already committed is),
 * MU_E_EXISTS, MU_E_NOTFOUND, MU_E_FORMAT (a damaged record), MU_E_PASS /
 * MU_E_PERM / MU_E_FORMAT from the key files. An archive whose last audit
 * entry does not decode opens for reading and verification only: writes
 * return MU_E_MISMATCH (appending would chain to a hash no one can check). */
#ifndef MU_ARCHIVE_H
#define MU_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "bundle.h"

#define ARCHIVE_MAP_DEFAULT    (4ull << 30) /* config: [archive] map_bytes */
#define ARCHIVE_CONTENT_MAX    BUNDLE_PAYLOAD_MAX
#define ARCHIVE_SEALED_MAX     (24 + ARCHIVE_CONTENT_MAX + 16)
#define ARCHIVE_BSEALED_MAX    (24 + BUNDLE_ENC_MAX + 16) /* a version 2 record's sealed bundle */
#define ARCHIVE_REC_FIXED      (1 + 1 + 8 + 8 + 8 + 8 + 1 + 1 + MU_KEY_BYTES + 1 + 1 + 4 + 4)
#define ARCHIVE_REC_MAX        (ARCHIVE_REC_FIXED + BUNDLE_DEST_MAX + ARCHIVE_BSEALED_MAX + ARCHIVE_SEALED_MAX)
#define ARCHIVE_VERSION        2
#define ARCHIVE_VERSION_LEGACY 1 /* archived before per-item keys */
#define ARCHIVE_F_ERASED       1
#define ARCHIVE_F_SHREDDED     2 /* erased and its item key destroyed (version 2 only) */

/* The keys environment: dir + this suffix; its map is half the archive's
 * (an item costs 32 + 72 bytes there, several hundred in the archive, so
 * the archive fills first). Each value is nonce 24 || sealed key 32 + 16. */
#define ARCHIVE_KEYS_SUFFIX  "-keys"
#define ARCHIVE_KEYS_MAP(m)  ((m) / 2)
#define ARCHIVE_KEYREC_BYTES (24 + 32 + 16)

/* Attachments (docs/archive.md "Attachments"): each verified chunk of an
 * attachment whose manifest is archived becomes an item of its own, keyed
 * by the chunk bundle's id, whose content is the archive's chunk record
 * (never an envelope content byte, which are small numbers, incident.h):
 *   ARCHIVE_CONTENT_CHUNK, manifest bundle id 32, index u32, count u32,
 *   the chunk's plaintext. */
#define ARCHIVE_CONTENT_CHUNK 0xc0
#define ARCHIVE_CHUNK_HDR     (1 + BUNDLE_ID_BYTES + 4 + 4)

struct archive;

/* An item's metadata (the record without its bundle and content). */
struct archive_item {
	uint8_t id[BUNDLE_ID_BYTES];
	uint8_t version;                     /* ARCHIVE_VERSION or ARCHIVE_VERSION_LEGACY */
	uint8_t flags;                       /* ARCHIVE_F_* */
	uint64_t seq;                        /* audit seq of the item's latest entry */
	uint64_t archived, created, expires; /* Unix ms */
	uint8_t prio, kind;
	uint8_t sender[MU_KEY_BYTES];
	uint8_t dest_type, dest_len;
	uint8_t dest[BUNDLE_DEST_MAX];
};

struct archive_stat {
	uint64_t items; /* ever archived, erased ones included */
	uint64_t erased;
	uint64_t shredded;       /* erased ones whose item key was destroyed */
	uint64_t bytes;          /* sum of record sizes */
	uint64_t receipted;      /* items listed in a custody receipt so far */
	uint64_t receipt_cursor; /* audit seq up to which receipts are issued */
	uint64_t last_seq;       /* audit head */
	uint8_t head[AUDIT_HASH_BYTES];
};

/* Opens (creating on first use, 0700) the LMDB environment in dir, the
 * keys environment in dir + ARCHIVE_KEYS_SUFFIX, and the data key:
 * key_path is a keystore identity file wrapped by keyfile (created with a
 * fresh data key on first use; if the LMDB already holds a sealed data
 * key, a missing key_path is MU_E_PASS rather than a new key). Once an
 * archive has had a keys environment, a missing one is MU_E_PASS too (a
 * restore that forgot it; docs/operations.md). An erasure a crash
 * interrupted is completed here (stubs and 'erased' entries for items
 * whose keys are already gone, then compaction of the keys environment).
 * signer signs audit entries; borrowed. *out is set only on success. */
int archive_open(struct archive **out, const char *dir, const char *key_path, const char *keyfile,
		 const struct mu_identity *signer, uint64_t map_bytes);
/* Aborts an open batch and closes; NULL-safe. */
void archive_close(struct archive *a);

/* Batches: puts between begin and commit share one LMDB transaction and
 * become durable together (synchronous commit). -EBUSY if one is open. A
 * failing put inside a batch changes nothing and the batch stays usable.
 * The keys environment has its own transaction alongside; commit writes
 * it first (new keys, destroyed keys), then the archive, then, if the
 * batch erased a shreddable item, compacts the keys environment once
 * (a compaction failure is logged and retried at the next open; the
 * commit still returns 0, the erasure having committed). */
int archive_begin(struct archive *a);
int archive_commit(struct archive *a);
void archive_abort(struct archive *a); /* no-op without a batch */
bool archive_in_batch(const struct archive *a);

/* Archives one bundle: enc is its signed encoding (decoded again here for
 * the metadata), content the plaintext the archive user opened from it
 * (<= ARCHIVE_CONTENT_MAX). Appends an 'archived' audit entry at time now.
 * MU_E_EXISTS if the id was archived before (nothing changes), MU_E_FORMAT
 * for an encoding that does not decode, MU_E_TOOBIG for oversized content. */
int archive_put(struct archive *a, const uint8_t *enc, size_t len, const uint8_t *content, size_t clen,
		uint64_t now);

/* Archives one attachment chunk as archive_put does (content starts with
 * the chunk header above, whose manifest id and index must match) and, in
 * the same transaction, links it as chunk index of manifest's attachment.
 * MU_E_NOTFOUND if manifest is not archived, MU_E_EXISTS if it was erased
 * or the chunk (or another item for that index) is archived already,
 * MU_E_FORMAT for a header that does not match. */
int archive_put_chunk(struct archive *a, const uint8_t manifest[static BUNDLE_ID_BYTES], uint32_t index,
		      const uint8_t *enc, size_t len, const uint8_t *content, size_t clen, uint64_t now);
/* The item id of chunk index of manifest's attachment: 0, MU_E_NOTFOUND
 * if that chunk is not archived, or a storage error. */
int archive_chunk_id(struct archive *a, const uint8_t manifest[static BUNDLE_ID_BYTES], uint32_t index,
		     uint8_t id[static BUNDLE_ID_BYTES]);

/* Looks an item up. item may be NULL. content (cap ccap, length to *clen)
 * and enc (cap ecap, length to *elen) may be NULL to skip them; an erased
 * item gives length 0 for both. MU_E_NOTFOUND if never archived,
 * MU_E_TOOBIG if a buffer is short (ARCHIVE_CONTENT_MAX and BUNDLE_ENC_MAX
 * always suffice), MU_E_SIG if the sealed content or bundle fails to open
 * (altered), MU_E_PASS if the item's key is not in the keys environment
 * or does not open under the data key (the item was crypto-shredded: a
 * backup of the archive restored without the key; or its erasure was
 * interrupted and the next open completes it), MU_E_FORMAT for a damaged
 * record. With content and enc both NULL no key is needed. */
int archive_get(struct archive *a, const uint8_t id[static BUNDLE_ID_BYTES], struct archive_item *item,
		uint8_t *content, size_t ccap, size_t *clen, uint8_t *enc, size_t ecap, size_t *elen);

/* Erases one item's content and bundle, keeping a metadata stub, and
 * appends an 'erased' audit entry. A version 2 item is also shredded: its
 * key is deleted from the keys environment (committed before the stub,
 * so a crash never leaves the audit saying erased while the key lives),
 * its stub carries ARCHIVE_F_SHREDDED (so the entry's digest covers it)
 * and the keys environment is compacted after the commit (at once
 * outside a batch, else by archive_commit). A version 1 item is deleted
 * only: copies made before stay readable; *shredded (may be NULL) says
 * which. MU_E_NOTFOUND if never archived, MU_E_EXISTS if already erased. */
int archive_erase(struct archive *a, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t now);
int archive_erase_ex(struct archive *a, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t now,
		     bool *shredded);

/* Calls fn for each audit entry with seq > after, in order; a non-zero
 * return from fn stops the walk and is returned. Archive order of items is
 * the order of their 'archived' entries. The entry is valid during the
 * call only. Runs in a read transaction (or the open batch); fn may read
 * the archive (archive_get, archive_stat) but must not write to it. */
typedef int (*archive_audit_fn)(void *ctx, const struct audit_entry *e);
int archive_audit_scan(struct archive *a, uint64_t after, archive_audit_fn fn, void *ctx);

/* Appends an entry about no item (AUDIT_EXPORTED, AUDIT_VERIFIED) with the
 * given digest; the new entry is copied to *out when out is not NULL. */
int archive_audit_note(struct archive *a, uint8_t event, const uint8_t digest[static AUDIT_HASH_BYTES],
		       uint64_t now, struct audit_entry *out);

struct archive_verify {
	uint64_t entries; /* entries checked and good */
	uint64_t bad_seq; /* first bad entry's seq; 0 when all is good */
	const char *why;  /* static text; NULL when all is good */
	uint8_t head[AUDIT_HASH_BYTES];
};
/* Walks the whole chain: seq continuity from 1, prev hashes, signatures by
 * pk, and each item's record against the digest of its latest entry; then
 * every item against the chain (an item no entry accounts for is found)
 * and the head against the counters in meta (a truncated tail is found).
 * Returns 0 if all is good, MU_E_MISMATCH (or MU_E_SIG for a bad signature)
 * with res->bad_seq and res->why set, or a storage error. */
int archive_audit_verify(struct archive *a, const uint8_t pk[static MU_KEY_BYTES],
			 struct archive_verify *res);

/* Custody receipts. archive_receipt_pending lists up to max ids archived
 * since the receipt cursor, in archive order, with *upto the seq to pass to
 * archive_receipt_done once they are receipted and *expires_max the latest
 * expiry among them. *upto = 0 when no entry follows the cursor; *n = 0
 * with *upto set when only entries about no item do. */
int archive_receipt_pending(struct archive *a, uint8_t (*ids)[BUNDLE_ID_BYTES], size_t max, size_t *n,
			    uint64_t *upto, uint64_t *expires_max);
/* Moves the cursor to upto and counts n more items receipted. */
int archive_receipt_done(struct archive *a, uint64_t upto, size_t n);

int archive_stat(struct archive *a, struct archive_stat *st);

/* Record codec (exposed for the fuzzer and tests). decode: MU_E_FORMAT /
 * MU_E_TOOBIG / MU_E_VERSION; *bundle and *sealed point into in (for
 * version 2, *bundle is the sealed bundle). */
int archive_record_decode(struct archive_item *item, const uint8_t **bundle, size_t *blen,
			  const uint8_t **sealed, size_t *slen, const uint8_t *in, size_t len);

/* Test only: raw access to one database ("items", "audit", "meta")
 * bypassing every check, to simulate tampering. get copies into buf. */
int archive_test_raw_get(struct archive *a, const char *db, const void *key, size_t klen, uint8_t *buf,
			 size_t cap, size_t *len);
int archive_test_raw_put(struct archive *a, const char *db, const void *key, size_t klen, const void *val,
			 size_t vlen);
int archive_test_raw_del(struct archive *a, const char *db, const void *key, size_t klen);
/* Test only: the stored (sealed) key record of id, as its bytes sit in the
 * keys environment's file; MU_E_NOTFOUND once it is deleted. */
int archive_test_key_record(struct archive *a, const uint8_t id[static BUNDLE_ID_BYTES],
			    uint8_t out[static ARCHIVE_KEYREC_BYTES]);
/* Test only: write version 1 records (as before per-item keys). */
void archive_test_set_legacy(struct archive *a, bool on);
/* Test only: the next archive_commit stops as a crash would: stage 1 after
 * the keys environment committed (the archive's transaction is aborted,
 * MU_E_STORE returned), stage 2 after the archive committed but before
 * the compaction (returns 0). Reopen to see recovery. */
void archive_test_crash_commit(struct archive *a, int stage);

/* Named values in "meta" for the archive's users (the hospital's
 * clean-shutdown checkpoint, control_archive.c). A name is 3 to
 * ARCHIVE_META_NAME_MAX bytes of [a-z0-9_.] with a '.' inside it, which
 * none of the archive's own entries (data_key, items, cursor, ...) has:
 * any other name is -EINVAL, so a caller cannot touch them. A value is 0
 * to ARCHIVE_META_BLOB_MAX bytes (more: MU_E_TOOBIG). Values are not
 * audited, sealed or signed: no content belongs there.
 * get copies the value into buf (cap bytes) and its length to *len;
 * MU_E_NOTFOUND if absent, MU_E_TOOBIG if cap is short (*len then says
 * how much is needed). put and del are writes like any other: inside an
 * open batch they become durable with it, else each commits at once,
 * durably. del: MU_E_NOTFOUND if absent. */
#define ARCHIVE_META_NAME_MAX 32
#define ARCHIVE_META_BLOB_MAX (1u << 20)
int archive_meta_get_blob(struct archive *a, const char *name, uint8_t *buf, size_t cap, size_t *len);
int archive_meta_put_blob(struct archive *a, const char *name, const uint8_t *val, size_t len);
int archive_meta_del(struct archive *a, const char *name);

#endif
