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

/* Every slot of env as the iterator yields it; the count, -1 on error. */
static int walk(const uint8_t *env, size_t len, struct envelope_slot out[ENVELOPE_RECIPIENTS_MAX + 1])
{
	struct envelope_slots it;
	struct envelope_slot s;
	int n = 0, ret = envelope_slots_init(&it, env, len);

	if (ret) {
		CHECK(envelope_slot_next(&it, &s) == 0 && !s.key && !s.sealed);
		return -1;
	}
	while (n <= ENVELOPE_RECIPIENTS_MAX && envelope_slot_next(&it, &out[n]) == 1)
		n++;
	CHECK(n == (int)it.count);
	/* Exhausted stays exhausted. */
	CHECK(envelope_slot_next(&it, &s) == 0 && !s.key);
	return n;
}

static void test_slots(void)
{
	static const char msg[] = "triage sieve: 3 P1, 7 P2";
	const size_t head = 2 + 3 * ENVELOPE_SLOT_BYTES;
	struct envelope_slot sl[ENVELOPE_RECIPIENTS_MAX + 1];
	struct envelope_slots it;
	uint8_t env[1024];
	int n;

	setup();
	n = CHECK_LEN(envelope_seal(env, sizeof(env) - 8, (const uint8_t *)msg, sizeof(msg), rs, 3,
				    identity_sign_pk(ids[0])));
	/* In envelope order, pointing into env, nothing copied. */
	CHECK(walk(env, (size_t)n, sl) == 3);
	for (int i = 0; i < 3; i++) {
		CHECK(sl[i].key == env + 2 + (size_t)i * ENVELOPE_SLOT_BYTES);
		CHECK(sl[i].sealed == sl[i].key + MU_KEY_BYTES);
		CHECK(!memcmp(sl[i].key, rs[i].key, MU_KEY_BYTES));
	}
	CHECK_OK(envelope_slots_init(&it, env, (size_t)n));
	CHECK(it.count == 3 && it.rest == env + head && it.rest_len == (size_t)n - head);
	/* Every truncation inside the header or the slots yields no slot at
	 * all; past them the slots are all there and only rest shrinks. */
	for (size_t i = 0; i < (size_t)n; i++) {
		int got = walk(env, i, sl);

		CHECK(got == (i < head ? -1 : 3));
		if (i < head)
			CHECK_RET(envelope_slots_init(&it, env, i), MU_E_FORMAT);
		else
			CHECK_OK(envelope_slots_init(&it, env, i));
		CHECK(i < head || it.rest_len == i - head);
	}
	/* Trailing bytes are rest, not slots: the iterator leaves them to the
	 * opener, which still accepts or rejects the content as before. */
	memset(env + n, 0xab, 8);
	CHECK(walk(env, (size_t)n + 8, sl) == 3);
	CHECK_OK(envelope_slots_init(&it, env, (size_t)n + 8));
	CHECK(it.rest_len == (size_t)n + 8 - head);
	/* Only a nonce and a tag short of a whole envelope: the slots are
	 * fine, opening is not. */
	CHECK(walk(env, head + 39, sl) == 3);
	CHECK_RET(envelope_has_recipient(env, head + 39, rs[0].key), MU_E_FORMAT);
	CHECK(envelope_has_recipient(env, head + 40, rs[0].key) == 1);
	/* Version: checked once both header bytes are there. */
	env[0] = ENVELOPE_VERSION + 1;
	CHECK_RET(envelope_slots_init(&it, env, (size_t)n), MU_E_VERSION);
	CHECK_RET(envelope_slots_init(&it, env, 1), MU_E_FORMAT);
	CHECK(envelope_slot_next(&it, &sl[0]) == 0);
	CHECK_RET(envelope_has_recipient(env, (size_t)n, rs[0].key), MU_E_VERSION);
	env[0] = ENVELOPE_VERSION;
	/* A count of 0 or over the cap is malformed even with bytes enough. */
	env[1] = 0;
	CHECK_RET(envelope_slots_init(&it, env, (size_t)n), MU_E_FORMAT);
	env[1] = 3;
}

static void test_slots_cap(void)
{
	static uint8_t env[2 + (ENVELOPE_RECIPIENTS_MAX + 1) * ENVELOPE_SLOT_BYTES + 40];
	struct envelope_slot sl[ENVELOPE_RECIPIENTS_MAX + 1];
	struct envelope_slots it;

	for (size_t i = 0; i < sizeof(env); i++)
		env[i] = (uint8_t)(i * 7);
	env[0] = ENVELOPE_VERSION;
	env[1] = ENVELOPE_RECIPIENTS_MAX;
	CHECK(walk(env, sizeof(env), sl) == ENVELOPE_RECIPIENTS_MAX);
	CHECK(sl[ENVELOPE_RECIPIENTS_MAX - 1].key == env + 2 + (ENVELOPE_RECIPIENTS_MAX - 1) * ENVELOPE_SLOT_BYTES);
	env[1] = ENVELOPE_RECIPIENTS_MAX + 1;
	CHECK_RET(envelope_slots_init(&it, env, sizeof(env)), MU_E_FORMAT);
	CHECK(walk(env, sizeof(env), sl) == -1);
	CHECK_RET(envelope_has_recipient(env, sizeof(env), env + 2), MU_E_FORMAT);
	env[1] = 255;
	CHECK_RET(envelope_slots_init(&it, env, sizeof(env)), MU_E_FORMAT);
}

static const struct test tests[] = {
	{ "/envelope/slots/walk", test_slots },
	{ "/envelope/slots/cap", test_slots_cap },
	{ "/envelope/roundtrip", test_roundtrip },
	{ "/envelope/limits", test_limits },
};

TEST_MAIN(tests)
