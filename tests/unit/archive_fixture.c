#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../crypto/keystore.h"
#include "archive_fixture.h"
#include "testutil.h"

void fixture_open(struct fixture *f, const char *tag)
{
	memset(f, 0, sizeof(*f));
	CHECK_OK(mu_crypto_init());
	f->dir = test_tmpdir(tag);
	CHECK(asprintf(&f->arch_dir, "%s/archive", f->dir) > 0);
	CHECK(asprintf(&f->key_path, "%s/archive.key", f->dir) > 0);
	CHECK(asprintf(&f->keyfile, "%s/node.kf", f->dir) > 0);
	CHECK_OK(keystore_keyfile_create(f->keyfile));
	CHECK_OK(identity_generate(&f->node));
	CHECK_OK(identity_generate(&f->sender));
	CHECK_OK(archive_open(&f->a, f->arch_dir, f->key_path, f->keyfile, f->node, 64ull << 20));
}

void fixture_reopen(struct fixture *f)
{
	archive_close(f->a);
	f->a = NULL;
	CHECK_OK(archive_open(&f->a, f->arch_dir, f->key_path, f->keyfile, f->node, 64ull << 20));
}

void fixture_close(struct fixture *f)
{
	archive_close(f->a);
	identity_free(f->node);
	identity_free(f->sender);
	free(f->dir);
	free(f->arch_dir);
	free(f->key_path);
	free(f->keyfile);
}

size_t fixture_bundle(struct fixture *f, unsigned i, uint8_t *enc, size_t cap,
		      uint8_t id[static BUNDLE_ID_BYTES])
{
	/* The payload stands in for an envelope: the archive stores the
	 * bundle as signed and never parses its payload. */
	char payload[64];
	struct bundle b = {
	    .kind = BK_MESSAGE,
	    .prio = PRIO_ROUTINE,
	    .hop_limit = 8,
	    .created = 1700000000000ull + i,
	    .expires = 1700000000000ull + 3600000 + i,
	    .dest_type = DEST_ALL,
	};
	int len;

	snprintf(payload, sizeof(payload), "opaque envelope %u", i);
	b.payload = (const uint8_t *)payload;
	b.payload_len = strlen(payload);
	len = CHECK_LEN(bundle_seal(enc, cap, &b, f->sender));
	memcpy(id, b.id, BUNDLE_ID_BYTES);
	return (size_t)len;
}

void fixture_put(struct fixture *f, unsigned i, uint8_t id[static BUNDLE_ID_BYTES])
{
	uint8_t enc[512];
	char content[64];
	size_t len = fixture_bundle(f, i, enc, sizeof(enc), id);

	snprintf(content, sizeof(content), "content %u", i);
	CHECK_OK(
	    archive_put(f->a, enc, len, (const uint8_t *)content, strlen(content), 1800000000000ull + i));
}
