/* muster-test-receipt: seals a receipt bundle for tests, signed by a staff
 * identity (role "archive" for a custody receipt a field node honours),
 * to be stored with `muster import`. Built for tests only; a real hospital
 * issues custody receipts from its archive (docs/operations.md "Custody").
 *
 *   muster-test-receipt --key USER.key --keyfile USER.kf --out FILE
 *                       [--type custody|delivered|read|ack] ID...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "clock.h"
#include "err.h"
#include "hex.h"
#include "identity.h"
#include "keystore.h"
#include "receipt.h"

#define RECEIPT_LIFE_MS (7ull * 86400000)

static uint8_t ids[RECEIPT_IDS_MAX][BUNDLE_ID_BYTES];
static uint8_t payload[RECEIPT_ENC_MAX];
static uint8_t enc[BUNDLE_ENC_MAX];

static int usage(void)
{
	fprintf(stderr, "usage: muster-test-receipt --key FILE --keyfile FILE --out FILE "
			"[--type custody|delivered|read|ack] ID...\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *key = NULL, *kf = NULL, *out = NULL;
	struct mu_identity *id = NULL;
	uint8_t type = RECEIPT_CUSTODY;
	struct bundle b = { .kind = BK_RECEIPT, .prio = PRIO_ROUTINE, .hop_limit = BUNDLE_HOPS_MAX,
			    .dest_type = DEST_ALL };
	size_t n = 0;
	int plen, len, ret = 1;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "--key"))
			key = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--keyfile"))
			kf = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--out"))
			out = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--type")) {
			i++;
			for (type = 1; receipt_type_name(type) && strcmp(receipt_type_name(type), argv[i]); type++)
				;
			if (!receipt_type_name(type))
				return usage();
		} else if (n < RECEIPT_IDS_MAX && strlen(argv[i]) == 2 * BUNDLE_ID_BYTES &&
			   !hex_decode(ids[n], BUNDLE_ID_BYTES, argv[i]))
			n++;
		else
			return usage();
	}
	if (!key || !kf || !out || !n)
		return usage();
	ret = keystore_load(&id, key, &(struct ks_unlock){ .wrap = KS_WRAP_KEYFILE, .secret = kf });
	if (ret) {
		fprintf(stderr, "muster-test-receipt: %s: %s\n", key, mu_strerror(ret));
		return 1;
	}
	plen = receipt_encode(payload, sizeof(payload), type, (const uint8_t(*)[BUNDLE_ID_BYTES])ids, n);
	b.created = mu_now_ms();
	b.expires = b.created + RECEIPT_LIFE_MS;
	b.payload = payload;
	b.payload_len = plen > 0 ? (size_t)plen : 0;
	len = plen < 0 ? plen : bundle_seal(enc, sizeof(enc), &b, id);
	identity_free(id);
	if (len < 0) {
		fprintf(stderr, "muster-test-receipt: %s\n", mu_strerror(len));
		return 1;
	}
	f = fopen(out, "wb");
	if (!f || fwrite(enc, 1, (size_t)len, f) != (size_t)len || fclose(f)) {
		perror(out);
		return 1;
	}
	return 0;
}
