#include <sodium.h>
#include <string.h>

#include "envelope.h"
#include "testutil.h"

static struct mu_identity *ids[3];
static struct envelope_recipient rs[3];

static void setup(void)
{
	for (int i = 0; i < 3; i++) {
		if (!ids[i])
			CHECK_OK(identity_generate(&ids[i]));
		memcpy(rs[i].key, identity_sign_pk(ids[i]), 32);
		memcpy(rs[i].kx_pk, identity_kx_pk(ids[i]), 32);
	}
}

static void test_roundtrip(void)
{
	static const char msg[] = "P1 casualty, tag 0042, to Royal Infirmary";
	uint8_t env[1024], out[1024];
	size_t len;
	int n;

	setup();
	n = CHECK_LEN(envelope_seal(env, sizeof(env), (const uint8_t *)msg, sizeof(msg), rs, 2,
				    identity_sign_pk(ids[2])));
	CHECK((size_t)n == ENVELOPE_OVERHEAD(2) + sizeof(msg));
	for (int i = 0; i < 2; i++) {
		CHECK_OK(envelope_open(out, sizeof(out), &len, env, (size_t)n, ids[i], identity_sign_pk(ids[2])));
		CHECK(len == sizeof(msg) && !memcmp(out, msg, len));
		CHECK(envelope_has_recipient(env, (size_t)n, rs[i].key) == 1);
	}
	/* Not a recipient. */
	CHECK_RET(envelope_open(out, sizeof(out), &len, env, (size_t)n, ids[2], identity_sign_pk(ids[2])),
		  MU_E_NOTFOUND);
	CHECK(envelope_has_recipient(env, (size_t)n, rs[2].key) == 0);
	/* Lifted into a bundle from another sender: associated data differs. */
	CHECK_RET(envelope_open(out, sizeof(out), &len, env, (size_t)n, ids[0], identity_sign_pk(ids[1])),
		  MU_E_SIG);
	/* Ciphertext altered. */
	env[n - 1] ^= 1;
	CHECK_RET(envelope_open(out, sizeof(out), &len, env, (size_t)n, ids[0], identity_sign_pk(ids[2])),
		  MU_E_SIG);
	env[n - 1] ^= 1;
	/* Every truncation fails cleanly. */
	for (int i = 0; i < n; i++)
		CHECK(envelope_open(out, sizeof(out), &len, env, (size_t)i, ids[0], identity_sign_pk(ids[2])) != 0);
}

static void test_limits(void)
{
	static struct envelope_recipient many[ENVELOPE_RECIPIENTS_MAX + 1];
	static uint8_t env[ENVELOPE_OVERHEAD(ENVELOPE_RECIPIENTS_MAX + 1) + 8];
	uint8_t small[16];

	setup();
	for (int i = 0; i <= ENVELOPE_RECIPIENTS_MAX; i++)
		many[i] = rs[i % 3];
	CHECK_RET(envelope_seal(env, sizeof(env), (const uint8_t *)"x", 1, many, ENVELOPE_RECIPIENTS_MAX + 1,
				rs[0].key),
		  MU_E_TOOBIG);
	CHECK(envelope_seal(env, sizeof(env), (const uint8_t *)"x", 1, many, ENVELOPE_RECIPIENTS_MAX, rs[0].key) > 0);
	CHECK_RET(envelope_seal(small, sizeof(small), (const uint8_t *)"x", 1, rs, 1, rs[0].key), MU_E_TOOBIG);
	CHECK_RET(envelope_seal(env, sizeof(env), (const uint8_t *)"x", 1, rs, 0, rs[0].key), MU_E_TOOBIG);
	for (int i = 0; i < 3; i++)
		identity_free(ids[i]);
}

static const struct test tests[] = {
	{ "/envelope/roundtrip", test_roundtrip },
	{ "/envelope/limits", test_limits },
};

TEST_MAIN(tests)
