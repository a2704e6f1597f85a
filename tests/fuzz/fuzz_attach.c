/* Attachment decoders (node/attach.h): the manifest (decode, re-encode,
 * compare: the encoding is canonical) and the chunk header, checked
 * against a manifest made from the input. The first input byte picks which. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[ATTACH_MANIFEST_MAX];
static uint8_t plain[ATTACH_CHUNK_BYTES];

static void manifest(const uint8_t *data, size_t size)
{
	struct attach_manifest m;
	int len;

	if (attach_manifest_decode(&m, data, size))
		return;
	if (!m.count || m.count > ATTACH_CHUNKS_MAX || !attach_name_ok(m.name) || !attach_mime_ok(m.mime) ||
	    attach_chunk_len(&m, m.count - 1) == 0 || attach_chunk_len(&m, m.count - 1) > ATTACH_CHUNK_BYTES)
		abort();
	len = attach_manifest_encode(out, sizeof(out), &m);
	if (len < 0 || (size_t)len != size || memcmp(out, data, size))
		abort();
}

static void chunk(const uint8_t *data, size_t size)
{
	struct attach_manifest m = { .chunk_bytes = ATTACH_CHUNK_BYTES };
	uint8_t hashes[ATTACH_HASH_BYTES * 2] = { 0 };
	uint32_t index, count;
	size_t len;

	if (attach_chunk_header(data, size, m.id, &index, &count))
		return;
	if (!count || index >= count || count > ATTACH_CHUNKS_MAX || size < ATTACH_CHUNK_HDR_BYTES + 16)
		abort();
	/* a manifest that could hold it: the open must refuse (the hash is
	 * not the listed one) without writing out of bounds */
	m.count = count < 2 ? count : 2;
	m.size = (uint64_t)m.count * ATTACH_CHUNK_BYTES;
	m.hashes = hashes;
	if (attach_chunk_open(plain, sizeof(plain), &len, &m, index < m.count ? index : 0, data, size) == 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	if (data[0] & 1)
		chunk(data + 1, size - 1);
	else
		manifest(data + 1, size - 1);
	return 0;
}
