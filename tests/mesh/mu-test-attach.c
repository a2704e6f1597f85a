/* muster-test-attach: seals a chunk bundle that claims a place in an
 * attachment (its id, index and count, at the chunk's created time) but
 * whose bytes are not the ones the manifest lists: validly signed by the
 * given staff identity, encrypted under a random key. For
 * tests/mesh/attach.sh only; stored with `muster import`.
 *
 *   muster-test-attach --key USER.key --keyfile USER.kf --out FILE
 *       --attachment HEX32 --index I --count N --created MS --expires MS --role ROLE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "attach.h"
#include "bundle.h"
#include "cred.h"
#include "err.h"
#include "hex.h"
#include "identity.h"
#include "keystore.h"

static uint8_t plain[ATTACH_CHUNK_BYTES], payload[ATTACH_CHUNK_PAYLOAD_MAX], enc[BUNDLE_ENC_MAX];

static int usage(void)
{
	fprintf(stderr, "usage: muster-test-attach --key FILE --keyfile FILE --out FILE --attachment HEX "
			"--index I --count N --created MS --expires MS --role ROLE\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *key = NULL, *kf = NULL, *out = NULL, *att = NULL, *role = NULL;
	unsigned long long index = 0, count = 0, created = 0, expires = 0;
	uint8_t id[ATTACH_ID_BYTES], k[ATTACH_KEY_BYTES], hash[ATTACH_HASH_BYTES];
	struct bundle b = { .kind = BK_MESSAGE, .prio = PRIO_BULK, .hop_limit = 16, .dest_type = DEST_ROLE,
			    .dest_len = 1 };
	struct mu_identity *ident = NULL;
	int plen, len;
	FILE *f;

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *o = argv[i], *v = argv[i + 1];

		if (!strcmp(o, "--key"))
			key = v;
		else if (!strcmp(o, "--keyfile"))
			kf = v;
		else if (!strcmp(o, "--out"))
			out = v;
		else if (!strcmp(o, "--attachment"))
			att = v;
		else if (!strcmp(o, "--role"))
			role = v;
		else if (!strcmp(o, "--index"))
			index = strtoull(v, NULL, 10);
		else if (!strcmp(o, "--count"))
			count = strtoull(v, NULL, 10);
		else if (!strcmp(o, "--created"))
			created = strtoull(v, NULL, 10);
		else if (!strcmp(o, "--expires"))
			expires = strtoull(v, NULL, 10);
		else
			return usage();
	}
	if (!key || !kf || !out || !att || !role || !count || index >= count || count > ATTACH_CHUNKS_MAX ||
	    !created || expires <= created || hex_decode(id, sizeof(id), att) || role_parse(role, &b.dest[0]))
		return usage();
	if (mu_crypto_init() ||
	    keystore_load(&ident, key, &(struct ks_unlock){ .wrap = KS_WRAP_KEYFILE, .secret = kf })) {
		fprintf(stderr, "muster-test-attach: cannot load %s\n", key);
		return 1;
	}
	randombytes_buf(k, sizeof(k));
	randombytes_buf(plain, sizeof(plain));
	plen = attach_chunk_seal(payload, sizeof(payload), hash, id, k, (uint32_t)index, (uint32_t)count, plain,
				 sizeof(plain));
	b.created = created;
	b.expires = expires;
	b.payload = payload;
	b.payload_len = plen > 0 ? (size_t)plen : 0;
	len = plen < 0 ? plen : bundle_seal(enc, sizeof(enc), &b, ident);
	identity_free(ident);
	if (len < 0 || !(f = fopen(out, "wb")) || fwrite(enc, 1, (size_t)len, f) != (size_t)len || fclose(f)) {
		fprintf(stderr, "muster-test-attach: %s\n", len < 0 ? mu_strerror(len) : "cannot write");
		return 1;
	}
	return 0;
}
