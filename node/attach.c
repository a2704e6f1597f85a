/* Attachment codec and chunk crypto (attach.h). */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sodium.h>

#include "attach.h"
#include "err.h"
#include "wire.h"

static const uint8_t chunk_magic[2] = { 'M', 'A' };

uint32_t attach_chunks_for(uint64_t size)
{
	uint64_t n = (size + ATTACH_CHUNK_BYTES - 1) / ATTACH_CHUNK_BYTES;

	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

size_t attach_chunk_len(const struct attach_manifest *m, uint32_t index)
{
	if (index >= m->count)
		return 0;
	if (index + 1 < m->count)
		return m->chunk_bytes;
	return (size_t)(m->size - (uint64_t)index * m->chunk_bytes);
}

static int name_byte(unsigned char c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '-' || c == '+';
}

int attach_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > ATTACH_NAME_MAX || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!name_byte((unsigned char)s[i]) || (s[i] & 0x80))
			return 0;
	return 1;
}

void attach_name_sanitise(char out[static ATTACH_NAME_MAX + 1], const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n = 0;

	base = base ? base + 1 : path;
	for (; *base && n < ATTACH_NAME_MAX; base++) {
		unsigned char c = (unsigned char)*base;

		bool keep = c < 0x80 && name_byte(c) && !(n == 0 && c == '.');

		out[n++] = keep ? (char)c : '_';
	}
	out[n] = 0;
	if (!n)
		strcpy(out, "attachment");
}

int attach_mime_ok(const char *s)
{
	size_t n = strlen(s), slash = 0, at = 0;

	if (n < 3 || n > ATTACH_MIME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '/') {
			slash++;
			at = i;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '+' || c == '-')) {
			return 0;
		}
	}
	return slash == 1 && at > 0 && at + 1 < n;
}

const char *attach_mime_guess(const char *name)
{
	static const struct {
		const char *ext, *mime;
	} table[] = {
		{ "jpg", "image/jpeg" },	{ "jpeg", "image/jpeg" },  { "png", "image/png" },
		{ "gif", "image/gif" },		{ "webp", "image/webp" },  { "heic", "image/heic" },
		{ "pdf", "application/pdf" },	{ "txt", "text/plain" },   { "csv", "text/csv" },
		{ "json", "application/json" }, { "ogg", "audio/ogg" },    { "opus", "audio/ogg" },
		{ "m4a", "audio/mp4" },		{ "mp3", "audio/mpeg" },   { "wav", "audio/wav" },
		{ "amr", "audio/amr" },		{ "mp4", "video/mp4" },	   { "doc", "application/msword" },
		{ "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
		{ "odt", "application/vnd.oasis.opendocument.text" },
	};
	const char *dot = strrchr(name, '.');

	if (dot && dot != name)
		for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
			if (!strcasecmp(dot + 1, table[i].ext))
				return table[i].mime;
	return "application/octet-stream";
}

/* ---- manifest ---- */

static int manifest_fields_ok(const struct attach_manifest *m)
{
	if (!m->size || m->chunk_bytes != ATTACH_CHUNK_BYTES || m->count != attach_chunks_for(m->size))
		return MU_E_FORMAT;
	if (m->size > ATTACH_BYTES_MAX || m->count > ATTACH_CHUNKS_MAX)
		return MU_E_TOOBIG;
	if (!attach_name_ok(m->name) || !attach_mime_ok(m->mime) || m->caption_len > ATTACH_CAPTION_MAX ||
	    (m->caption_len && memchr(m->caption, 0, m->caption_len)))
		return MU_E_FORMAT;
	return 0;
}

int attach_manifest_encode(uint8_t *out, size_t cap, const struct attach_manifest *m)
{
	struct wr wr = wr_make(out, cap);
	int ret = manifest_fields_ok(m);

	if (ret)
		return ret;
	wr_u8(&wr, ATTACH_VERSION);
	wr_bytes(&wr, m->id, ATTACH_ID_BYTES);
	wr_u64(&wr, m->size);
	wr_u32(&wr, m->chunk_bytes);
	wr_u32(&wr, m->count);
	wr_bytes(&wr, m->key, ATTACH_KEY_BYTES);
	wr_lv8(&wr, m->name, strlen(m->name), ATTACH_NAME_MAX);
	wr_lv8(&wr, m->mime, strlen(m->mime), ATTACH_MIME_MAX);
	wr_u16(&wr, (uint16_t)m->caption_len);
	if (m->caption_len)
		wr_bytes(&wr, m->caption, m->caption_len);
	wr_bytes(&wr, m->hashes, (size_t)m->count * ATTACH_HASH_BYTES);
	ret = wr_finish(&wr);
	return ret < 0 ? MU_E_TOOBIG : ret;
}

int attach_manifest_decode(struct attach_manifest *m, const uint8_t *in, size_t len)
{
	struct rd rd = rd_make(in, len);
	const uint8_t *name, *mime;
	size_t nlen, mlen;
	uint16_t clen;
	uint8_t version;
	int ret;

	memset(m, 0, sizeof(*m));
	if (rd_u8(&rd, &version))
		return MU_E_FORMAT;
	if (version != ATTACH_VERSION)
		return MU_E_VERSION;
	ret = rd_bytes(&rd, m->id, ATTACH_ID_BYTES) || rd_u64(&rd, &m->size) || rd_u32(&rd, &m->chunk_bytes) ||
	      rd_u32(&rd, &m->count) || rd_bytes(&rd, m->key, ATTACH_KEY_BYTES) ||
	      rd_lv8(&rd, ATTACH_NAME_MAX, &name, &nlen) || rd_lv8(&rd, ATTACH_MIME_MAX, &mime, &mlen) ||
	      rd_u16(&rd, &clen) || clen > ATTACH_CAPTION_MAX || rd_slice(&rd, clen, &m->caption)
		      ? MU_E_FORMAT
		      : 0;
	if (!ret && (m->size > ATTACH_BYTES_MAX || m->count > ATTACH_CHUNKS_MAX))
		ret = MU_E_TOOBIG;
	if (!ret && (rd_slice(&rd, (size_t)m->count * ATTACH_HASH_BYTES, &m->hashes) || rd.len))
		ret = MU_E_FORMAT;
	if (!ret) {
		memcpy(m->name, name, nlen);
		memcpy(m->mime, mime, mlen);
		m->caption_len = clen;
		/* an embedded NUL would make the name shorter than sent */
		ret = strlen(m->name) != nlen || strlen(m->mime) != mlen ? MU_E_FORMAT : manifest_fields_ok(m);
	}
	if (ret)
		sodium_memzero(m, sizeof(*m));
	return ret;
}

/* ---- chunks ---- */

static void chunk_nonce_ad(uint8_t nonce[static crypto_aead_xchacha20poly1305_ietf_NPUBBYTES],
			   uint8_t ad[static ATTACH_ID_BYTES + 8], const uint8_t id[static ATTACH_ID_BYTES],
			   uint32_t index, uint32_t count)
{
	struct wr wr = wr_make(ad, ATTACH_ID_BYTES + 8);

	/* The key is fresh for each attachment, so the index alone is a
	 * unique nonce under it. */
	memset(nonce, 0, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	put_be64(nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES - 8, index);
	wr_bytes(&wr, id, ATTACH_ID_BYTES);
	wr_u32(&wr, index);
	wr_u32(&wr, count);
}

int attach_chunk_seal(uint8_t *out, size_t cap, uint8_t hash[static ATTACH_HASH_BYTES],
		      const uint8_t id[static ATTACH_ID_BYTES], const uint8_t key[static ATTACH_KEY_BYTES],
		      uint32_t index, uint32_t count, const uint8_t *plain, size_t len)
{
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES], ad[ATTACH_ID_BYTES + 8];
	struct wr wr = wr_make(out, cap);
	unsigned long long clen;

	if (!count || index >= count || count > ATTACH_CHUNKS_MAX || len > ATTACH_CHUNK_BYTES)
		return MU_E_FORMAT;
	if (cap < ATTACH_CHUNK_HDR_BYTES + len + ATTACH_TAG_BYTES)
		return MU_E_TOOBIG;
	wr_bytes(&wr, chunk_magic, 2);
	wr_u8(&wr, ATTACH_VERSION);
	wr_bytes(&wr, id, ATTACH_ID_BYTES);
	wr_u32(&wr, index);
	wr_u32(&wr, count);
	if (wr_finish(&wr) != ATTACH_CHUNK_HDR_BYTES)
		return MU_E_TOOBIG;
	chunk_nonce_ad(nonce, ad, id, index, count);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + ATTACH_CHUNK_HDR_BYTES, &clen, plain, len, ad, sizeof(ad),
						   NULL, nonce, key);
	crypto_generichash(hash, ATTACH_HASH_BYTES, out, ATTACH_CHUNK_HDR_BYTES + (size_t)clen, NULL, 0);
	return (int)(ATTACH_CHUNK_HDR_BYTES + clen);
}

int attach_chunk_header(const uint8_t *p, size_t len, uint8_t id[static ATTACH_ID_BYTES], uint32_t *index,
			uint32_t *count)
{
	struct rd rd = rd_make(p, len);
	uint8_t magic[2], version;

	if (rd_bytes(&rd, magic, 2) || memcmp(magic, chunk_magic, 2) || rd_u8(&rd, &version))
		return MU_E_FORMAT;
	if (version != ATTACH_VERSION)
		return MU_E_VERSION;
	if (rd_bytes(&rd, id, ATTACH_ID_BYTES) || rd_u32(&rd, index) || rd_u32(&rd, count) || !*count ||
	    *count > ATTACH_CHUNKS_MAX || *index >= *count || rd.len < ATTACH_TAG_BYTES ||
	    rd.len > ATTACH_CHUNK_BYTES + ATTACH_TAG_BYTES)
		return MU_E_FORMAT;
	return 0;
}

int attach_chunk_check(const struct attach_manifest *m, uint32_t index, const uint8_t *p, size_t len)
{
	uint8_t id[ATTACH_ID_BYTES], hash[ATTACH_HASH_BYTES];
	uint32_t i, count;
	int ret = attach_chunk_header(p, len, id, &i, &count);

	if (ret)
		return ret;
	if (index >= m->count || i != index || count != m->count || memcmp(id, m->id, ATTACH_ID_BYTES))
		return MU_E_MISMATCH;
	crypto_generichash(hash, sizeof(hash), p, len, NULL, 0);
	if (sodium_memcmp(hash, m->hashes + (size_t)index * ATTACH_HASH_BYTES, ATTACH_HASH_BYTES))
		return MU_E_MISMATCH;
	return 0;
}

int attach_chunk_open(uint8_t *out, size_t cap, size_t *len, const struct attach_manifest *m, uint32_t index,
		      const uint8_t *p, size_t plen)
{
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES], ad[ATTACH_ID_BYTES + 8];
	size_t want = attach_chunk_len(m, index);
	unsigned long long got = 0;
	int ret = attach_chunk_check(m, index, p, plen);

	*len = 0;
	if (ret)
		return ret;
	if (plen != ATTACH_CHUNK_HDR_BYTES + want + ATTACH_TAG_BYTES)
		return MU_E_MISMATCH;
	if (cap < want)
		return MU_E_TOOBIG;
	chunk_nonce_ad(nonce, ad, m->id, index, m->count);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &got, NULL, p + ATTACH_CHUNK_HDR_BYTES,
						       plen - ATTACH_CHUNK_HDR_BYTES, ad, sizeof(ad), nonce,
						       m->key)) {
		sodium_memzero(out, want);
		return MU_E_SIG;
	}
	*len = (size_t)got;
	return 0;
}
