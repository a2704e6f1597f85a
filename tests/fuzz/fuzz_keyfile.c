/* Fuzzes the identity file parser (ks_parse) and, for inputs that parse, the
 * unwrap and key checks (ks_unwrap) under a fixed key-encryption key. No
 * Argon2 runs here: it would make each input cost milliseconds to seconds,
 * and the bounds on its cost are what the parser must get right.
 *
 * The seeds in corpus/fuzz_keyfile/ named *-v1 are valid files wrapped under
 * FUZZ_KEK (for a passphrase file, as if Argon2 had produced it), so the
 * fuzzer starts past the AEAD and reaches the key checks. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../crypto/keystore.c"

#define FUZZ_KEK_BYTE 0x4b /* FUZZ_KEK is 32 bytes of this */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *kek;
	struct mu_identity *id = NULL;
	uint8_t hdr[KS_FILE_MAX];
	struct ks_file f;
	struct wr wr;
	int ret;

	if (!kek) {
		if (mu_crypto_init())
			abort();
		kek = sodium_malloc(KS_KEK_BYTES);
		if (!kek)
			abort();
		memset(kek, FUZZ_KEK_BYTE, KS_KEK_BYTES);
	}
	ret = ks_parse(&f, data, size);
	if (ret) {
		if (ret != MU_E_FORMAT && ret != MU_E_VERSION)
			abort();
		return 0;
	}

	/* Whatever parsed has the documented size, in-bounds cost, and
	 * re-encodes to exactly the bytes it came from. */
	switch ((enum ks_wrap)f.wrap) {
	case KS_WRAP_PASSPHRASE:
		if (size != KS_FILE_MAX || !f.salt || f.ad_len != KS_AD_PASSPHRASE)
			abort();
		if (f.opslimit < KS_OPSLIMIT_MIN || f.opslimit > KS_OPSLIMIT_MAX ||
		    f.memlimit < KS_MEMLIMIT_MIN || f.memlimit > KS_MEMLIMIT_MAX)
			abort();
		break;
	case KS_WRAP_KEYFILE:
		if (size != KS_AD_KEYFILE + KS_NONCE_BYTES + KS_CT_BYTES || f.salt ||
		    f.ad_len != KS_AD_KEYFILE)
			abort();
		break;
	default:
		abort();
	}
	if (f.pk != data + f.ad_len - MU_KEY_BYTES || f.nonce != data + f.ad_len ||
	    f.ct != f.nonce + KS_NONCE_BYTES || f.ct + KS_CT_BYTES != data + size)
		abort();
	wr = wr_make(hdr, sizeof(hdr));
	ks_write_header(&wr, &f);
	if (wr_finish(&wr) != (int)f.ad_len || memcmp(hdr, data, f.ad_len))
		abort();

	ret = ks_unwrap(&id, &f, data, kek);
	if (ret == 0) {
		if (!id || memcmp(identity_sign_pk(id), f.pk, MU_KEY_BYTES))
			abort();
		identity_free(id);
	} else if (id || (ret != MU_E_PASS && ret != MU_E_FORMAT)) {
		abort();
	}
	return 0;
}
