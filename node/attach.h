/* Attachments (docs/protocol.md "Attachments"): a file split into chunks,
 * each encrypted with a per-attachment random key and carried in a bulk
 * BK_MESSAGE bundle of its own; a manifest, sent as the envelope content of
 * an ordinary message (content byte CONTENT_ATTACHMENT), names the file,
 * holds the key and lists the BLAKE2b-256 hash of every chunk payload. The
 * manifest bundle is signed by the sender, so the chunk list is
 * authenticated; a chunk whose payload does not hash to its entry is
 * refused whoever carried it, and a good copy is still taken later.
 *
 * Chunk payload (the bundle payload, not an envelope):
 *   'M' 'A' version(1) attachment-id(16) index(u32) count(u32) ciphertext
 * ciphertext = XChaCha20-Poly1305(key, nonce = 20 zero bytes || index u32,
 *   ad = attachment-id || index u32 || count u32) of the chunk's plaintext.
 *
 * Manifest (the envelope content after the content byte):
 *   version(1) attachment-id(16) size(u64) chunk_bytes(u32) count(u32)
 *   key(32) name(u8 len, 1..128) mime(u8 len, 1..64)
 *   caption(u16 len, 0..1024) count x chunk hash(32)
 *
 * Pure codec and crypto: no store, no node. All integers big-endian. */
#ifndef MU_ATTACH_H
#define MU_ATTACH_H

#include <stddef.h>
#include <stdint.h>

#define ATTACH_VERSION 1
#define ATTACH_ID_BYTES 16
#define ATTACH_KEY_BYTES 32
#define ATTACH_HASH_BYTES 32
#define ATTACH_TAG_BYTES 16
#define ATTACH_CHUNK_BYTES (48u * 1024) /* plaintext per chunk; the last may be shorter */
#define ATTACH_CHUNK_HDR_BYTES (2 + 1 + ATTACH_ID_BYTES + 4 + 4)
#define ATTACH_CHUNK_PAYLOAD_MAX (ATTACH_CHUNK_HDR_BYTES + ATTACH_CHUNK_BYTES + ATTACH_TAG_BYTES)
/* The manifest must fit one envelope for 64 recipients (~57 KB of
 * content): 1024 hashes are 32 KiB, so 1024 chunks = 48 MiB is the hard cap
 * on a file ([messaging] attach_max_bytes may only lower it). */
#define ATTACH_CHUNKS_MAX 1024u
#define ATTACH_BYTES_MAX ((uint64_t)ATTACH_CHUNKS_MAX * ATTACH_CHUNK_BYTES)
#define ATTACH_NAME_MAX 128
#define ATTACH_MIME_MAX 64
#define ATTACH_CAPTION_MAX 1024
#define ATTACH_MANIFEST_FIXED (1 + ATTACH_ID_BYTES + 8 + 4 + 4 + ATTACH_KEY_BYTES + 1 + 1 + 2)
#define ATTACH_MANIFEST_MAX                                                                               \
	(ATTACH_MANIFEST_FIXED + ATTACH_NAME_MAX + ATTACH_MIME_MAX + ATTACH_CAPTION_MAX +                   \
	 (size_t)ATTACH_CHUNKS_MAX * ATTACH_HASH_BYTES)

struct attach_manifest {
	uint8_t id[ATTACH_ID_BYTES];
	uint64_t size;        /* file bytes, 1..ATTACH_BYTES_MAX (empty files are refused) */
	uint32_t chunk_bytes; /* ATTACH_CHUNK_BYTES in version 1 */
	uint32_t count;       /* ceil(size / chunk_bytes) */
	uint8_t key[ATTACH_KEY_BYTES];
	char name[ATTACH_NAME_MAX + 1]; /* attach_name_ok() */
	char mime[ATTACH_MIME_MAX + 1]; /* attach_mime_ok() */
	const uint8_t *caption;         /* caption_len bytes, no NUL; points into the decoded input */
	size_t caption_len;
	const uint8_t *hashes; /* count x ATTACH_HASH_BYTES; points into the decoded input (or the encoder's) */
};

/* Chunks needed for size bytes (0 for 0). */
uint32_t attach_chunks_for(uint64_t size);
/* Plaintext bytes of chunk index of m (0 if index >= m->count). */
size_t attach_chunk_len(const struct attach_manifest *m, uint32_t index);

/* A file name fit to show and to save under: 1..ATTACH_NAME_MAX bytes of
 * [A-Za-z0-9._+-], not starting with '.'. */
int attach_name_ok(const char *s);
/* The last path component of path with every other byte replaced by '_',
 * a leading '.' replaced too, cut to ATTACH_NAME_MAX bytes; "attachment"
 * if nothing is left. out has ATTACH_NAME_MAX + 1 bytes. */
void attach_name_sanitise(char out[static ATTACH_NAME_MAX + 1], const char *path);
/* type/subtype, 3..ATTACH_MIME_MAX bytes of [a-z0-9.+-] with one '/'
 * (lower case: callers lower it first). */
int attach_mime_ok(const char *s);
/* A MIME type from the name's extension (a small table; never the file's
 * bytes); "application/octet-stream" when unknown. Static string. */
const char *attach_mime_guess(const char *name);

/* Encodes m (hashes: m->count entries) to out; returns the length, or
 * MU_E_TOOBIG if cap is too small, MU_E_FORMAT for fields the decoder
 * would refuse. */
int attach_manifest_encode(uint8_t *out, size_t cap, const struct attach_manifest *m);
/* Decodes a manifest (the bytes after the content byte) into m; caption
 * and hashes point into in. MU_E_FORMAT (truncated, trailing bytes, a
 * count that does not match size, bad name or type), MU_E_VERSION,
 * MU_E_TOOBIG (size or count over the caps). m is zeroed on failure. */
int attach_manifest_decode(struct attach_manifest *m, const uint8_t *in, size_t len);

/* Encrypts chunk index (plain: attach_chunk_len bytes) of attachment id /
 * key into a chunk payload at out; hash gets BLAKE2b-256 of that payload.
 * Returns the payload length or MU_E_TOOBIG / MU_E_FORMAT. */
int attach_chunk_seal(uint8_t *out, size_t cap, uint8_t hash[static ATTACH_HASH_BYTES],
		      const uint8_t id[static ATTACH_ID_BYTES], const uint8_t key[static ATTACH_KEY_BYTES],
		      uint32_t index, uint32_t count, const uint8_t *plain, size_t len);
/* Parses a chunk payload's header: 0, or MU_E_FORMAT if p is not a chunk
 * (wrong magic, short, index >= count, count 0 or over the cap),
 * MU_E_VERSION. Cheap: use it to tell chunks from envelopes. */
int attach_chunk_header(const uint8_t *p, size_t len, uint8_t id[static ATTACH_ID_BYTES], uint32_t *index,
			uint32_t *count);
/* Checks a chunk payload against entry index of m: header for m's id,
 * index and count, and hash equal to the manifest's (MU_E_MISMATCH if
 * not: a tampered or foreign copy). 0 if it is the chunk the sender
 * listed. */
int attach_chunk_check(const struct attach_manifest *m, uint32_t index, const uint8_t *p, size_t len);
/* attach_chunk_check, then decrypts into out (cap >= attach_chunk_len):
 * *len gets the plaintext length. MU_E_SIG if the AEAD fails (a sender
 * that listed a chunk it did not encrypt with this key). out is zeroed on
 * failure. */
int attach_chunk_open(uint8_t *out, size_t cap, size_t *len, const struct attach_manifest *m, uint32_t index,
		      const uint8_t *p, size_t plen) __attribute__((warn_unused_result));

#endif
