/* Channel ids, key-wrap payloads and channel messages (node/channel.h). */
#include <sodium.h>
#include <string.h>

#include "channel.h"
#include "testutil.h"

enum { CREATOR, MEMBER, ARCHIVE, OUTSIDER, N_IDS };
static struct mu_identity *ids[N_IDS];
static uint8_t key1[CHANNEL_KEY_BYTES], key2[CHANNEL_KEY_BYTES];

static void setup(void)
{
	for (int i = 0; i < N_IDS; i++)
		if (!ids[i])
			CHECK_OK(identity_generate(&ids[i]));
	memset(key1, 0x11, sizeof(key1));
	memset(key2, 0x22, sizeof(key2));
}

static void holder(struct keywrap_holder *h, int who, uint8_t role)
{
	memcpy(h->key, identity_sign_pk(ids[who]), MU_KEY_BYTES);
	memcpy(h->kx_pk, identity_kx_pk(ids[who]), MU_KEY_BYTES);
	h->role = role;
}

/* A wrap of key for epoch of the creator's channel "sector-2" to the
 * creator, the member and the archive. */
static int make_wrap(uint8_t *out, size_t cap, uint32_t epoch, const uint8_t *key)
{
	struct keywrap_holder h[3];

	holder(&h[0], CREATOR, KEYWRAP_MEMBER);
	holder(&h[1], MEMBER, KEYWRAP_MEMBER);
	holder(&h[2], ARCHIVE, KEYWRAP_ARCHIVE);
	return keywrap_seal(out, cap, identity_sign_pk(ids[CREATOR]), "sector-2", epoch, key, h, 3);
}

static void test_wrap_roundtrip(void)
{
	static uint8_t buf[KEYWRAP_MAX];
	uint8_t got[CHANNEL_KEY_BYTES], chan[CHANNEL_ID_BYTES], role;
	char name[CHANNEL_NAME_MAX + 1];
	struct keywrap kw;
	int n;

	setup();
	n = CHECK_LEN(make_wrap(buf, sizeof(buf), 7, key1));
	CHECK((size_t)n == KEYWRAP_FIXED_BYTES + strlen("sector-2") + 16 + 3 * KEYWRAP_SLOT_BYTES);
	CHECK_OK(keywrap_decode(&kw, buf, (size_t)n));
	channel_id(chan, identity_sign_pk(ids[CREATOR]), "sector-2", 8);
	CHECK(!memcmp(kw.chan, chan, sizeof(chan)) && kw.epoch == 7 && kw.nslots == 3);
	CHECK(!memcmp(keywrap_slot(&kw, 2, &role), identity_sign_pk(ids[ARCHIVE]), MU_KEY_BYTES) &&
	      role == KEYWRAP_ARCHIVE);
	CHECK(keywrap_role_of(&kw, identity_sign_pk(ids[MEMBER])) == KEYWRAP_MEMBER);
	CHECK(keywrap_role_of(&kw, identity_sign_pk(ids[OUTSIDER])) == 0);
	/* Every holder gets the key and the name. */
	for (int who = CREATOR; who <= ARCHIVE; who++) {
		memset(got, 0, sizeof(got));
		CHECK_OK(keywrap_open(&kw, ids[who], identity_sign_pk(ids[CREATOR]), got, name));
		CHECK(!memcmp(got, key1, sizeof(got)) && !strcmp(name, "sector-2"));
	}
	/* A non-member cannot unwrap. */
	CHECK_RET(keywrap_open(&kw, ids[OUTSIDER], identity_sign_pk(ids[CREATOR]), got, name), MU_E_NOTFOUND);
	/* Presented as signed by someone else: the creator's key is in the
	 * name's associated data, so nothing opens. */
	CHECK_RET(keywrap_open(&kw, ids[MEMBER], identity_sign_pk(ids[MEMBER]), got, name), MU_E_SIG);
	/* The channel id is bound to the creator even for a holder who
	 * re-seals the name: a member making a wrap of the same name under
	 * their own key gets a different id. */
	{
		struct keywrap_holder h[1];
		uint8_t other[CHANNEL_ID_BYTES];

		holder(&h[0], MEMBER, KEYWRAP_MEMBER);
		n = CHECK_LEN(keywrap_seal(buf, sizeof(buf), identity_sign_pk(ids[MEMBER]), "sector-2", 7, key1, h, 1));
		CHECK_OK(keywrap_decode(&kw, buf, (size_t)n));
		CHECK(memcmp(kw.chan, chan, sizeof(chan)));
		channel_id(other, identity_sign_pk(ids[MEMBER]), "sector-2", 8);
		CHECK(!memcmp(kw.chan, other, sizeof(other)));
		/* Claiming the creator's channel id with the member's signature. */
		memcpy(buf + 1, chan, CHANNEL_ID_BYTES);
		CHECK_OK(keywrap_decode(&kw, buf, (size_t)n));
		CHECK_RET(keywrap_open(&kw, ids[MEMBER], identity_sign_pk(ids[MEMBER]), got, name), MU_E_SIG);
		CHECK_RET(keywrap_open(&kw, ids[MEMBER], identity_sign_pk(ids[CREATOR]), got, name), MU_E_SIG);
	}
	/* A tampered sealed key does not open. */
	n = CHECK_LEN(make_wrap(buf, sizeof(buf), 7, key1));
	buf[n - 1] ^= 1;
	CHECK_OK(keywrap_decode(&kw, buf, (size_t)n));
	CHECK_RET(keywrap_open(&kw, ids[ARCHIVE], identity_sign_pk(ids[CREATOR]), got, name), MU_E_SIG);
	CHECK(got[0] == 0 && name[0] == 0); /* wiped on failure */
}

/* A wrap whose channel id was computed from another name: the name opens
 * (same key) but the binding check fails. */
static void test_wrong_binding(void)
{
	static uint8_t buf[KEYWRAP_MAX];
	uint8_t got[CHANNEL_KEY_BYTES];
	char name[CHANNEL_NAME_MAX + 1];
	struct keywrap kw;
	int n;

	setup();
	n = CHECK_LEN(make_wrap(buf, sizeof(buf), 1, key1));
	CHECK_OK(keywrap_decode(&kw, buf, (size_t)n));
	/* The AD covers the id, so changing it breaks the name's seal. */
	kw.chan[0] ^= 1;
	CHECK_RET(keywrap_open(&kw, ids[MEMBER], identity_sign_pk(ids[CREATOR]), got, name), MU_E_SIG);
}

static void test_wrap_strict(void)
{
	static uint8_t buf[KEYWRAP_MAX + 1], big[KEYWRAP_MAX + 64];
	static struct keywrap_holder many[KEYWRAP_SLOTS_MAX + 1];
	static struct mu_identity *extra[KEYWRAP_SLOTS_MAX + 1];
	struct keywrap_holder h[3];
	struct keywrap kw;
	char longname[CHANNEL_NAME_MAX + 2];
	int n;

	setup();
	n = CHECK_LEN(make_wrap(buf, sizeof(buf), 1, key1));
	/* Every truncation and a trailing byte are refused. */
	for (int i = 0; i < n; i++)
		CHECK_RET(keywrap_decode(&kw, buf, (size_t)i), MU_E_FORMAT);
	buf[n] = 0;
	CHECK_RET(keywrap_decode(&kw, buf, (size_t)n + 1), MU_E_FORMAT);
	/* Version. */
	buf[0] = 2;
	CHECK_RET(keywrap_decode(&kw, buf, (size_t)n), MU_E_VERSION);
	buf[0] = KEYWRAP_VERSION;
	/* Slot role: the first slot's role byte. */
	{
		size_t at = KEYWRAP_FIXED_BYTES + 8 + 16 + MU_KEY_BYTES;

		buf[at] = 3;
		CHECK_RET(keywrap_decode(&kw, buf, (size_t)n), MU_E_FORMAT);
		buf[at] = KEYWRAP_ARCHIVE; /* then no member is left but the second */
		CHECK_OK(keywrap_decode(&kw, buf, (size_t)n));
		buf[at] = KEYWRAP_MEMBER;
	}
	/* A key id twice. */
	holder(&h[0], CREATOR, KEYWRAP_MEMBER);
	holder(&h[1], MEMBER, KEYWRAP_MEMBER);
	holder(&h[2], MEMBER, KEYWRAP_ARCHIVE);
	CHECK_RET(keywrap_seal(buf, sizeof(buf), identity_sign_pk(ids[CREATOR]), "x", 1, key1, h, 3), MU_E_FORMAT);
	/* No member at all. */
	holder(&h[0], ARCHIVE, KEYWRAP_ARCHIVE);
	CHECK_RET(keywrap_seal(buf, sizeof(buf), identity_sign_pk(ids[CREATOR]), "x", 1, key1, h, 1), MU_E_FORMAT);
	CHECK_RET(keywrap_seal(buf, sizeof(buf), identity_sign_pk(ids[CREATOR]), "x", 1, key1, h, 0), MU_E_FORMAT);
	/* Names: 1..CHANNEL_NAME_MAX bytes. */
	holder(&h[0], CREATOR, KEYWRAP_MEMBER);
	memset(longname, 'n', sizeof(longname));
	longname[CHANNEL_NAME_MAX] = 0;
	CHECK_LEN(keywrap_seal(buf, sizeof(buf), identity_sign_pk(ids[CREATOR]), longname, 1, key1, h, 1));
	longname[CHANNEL_NAME_MAX] = 'n';
	longname[CHANNEL_NAME_MAX + 1] = 0;
	CHECK_RET(keywrap_seal(buf, sizeof(buf), identity_sign_pk(ids[CREATOR]), longname, 1, key1, h, 1), MU_E_FORMAT);
	CHECK_RET(keywrap_seal(buf, sizeof(buf), identity_sign_pk(ids[CREATOR]), "", 1, key1, h, 1), MU_E_FORMAT);
	/* Caps: CHANNEL_MEMBERS_MAX members and CHANNEL_ARCHIVES_MAX archives
	 * fit exactly in KEYWRAP_MAX; one more of either is refused. */
	for (int i = 0; i <= KEYWRAP_SLOTS_MAX; i++) {
		if (!extra[i])
			CHECK_OK(identity_generate(&extra[i]));
		memcpy(many[i].key, identity_sign_pk(extra[i]), MU_KEY_BYTES);
		memcpy(many[i].kx_pk, identity_kx_pk(extra[i]), MU_KEY_BYTES);
		many[i].role = i < CHANNEL_MEMBERS_MAX ? KEYWRAP_MEMBER : KEYWRAP_ARCHIVE;
	}
	memset(longname, 'n', CHANNEL_NAME_MAX);
	longname[CHANNEL_NAME_MAX] = 0;
	n = CHECK_LEN(keywrap_seal(big, sizeof(big), identity_sign_pk(ids[CREATOR]), longname, 1, key1, many,
				   KEYWRAP_SLOTS_MAX));
	CHECK(n == KEYWRAP_MAX);
	CHECK_OK(keywrap_decode(&kw, big, (size_t)n));
	CHECK_RET(keywrap_seal(big, sizeof(big), identity_sign_pk(ids[CREATOR]), longname, 1, key1, many,
			       KEYWRAP_SLOTS_MAX + 1), MU_E_FORMAT);
	many[CHANNEL_MEMBERS_MAX].role = KEYWRAP_MEMBER; /* 65 members, 7 archives */
	CHECK_RET(keywrap_seal(big, sizeof(big), identity_sign_pk(ids[CREATOR]), longname, 1, key1, many,
			       KEYWRAP_SLOTS_MAX), MU_E_FORMAT);
	many[CHANNEL_MEMBERS_MAX].role = KEYWRAP_ARCHIVE;
	/* The decoder enforces the same caps: raise the count byte. */
	big[KEYWRAP_FIXED_BYTES - 1 + CHANNEL_NAME_MAX + 16] = KEYWRAP_SLOTS_MAX + 1;
	CHECK_RET(keywrap_decode(&kw, big, (size_t)n), MU_E_FORMAT);
	big[KEYWRAP_FIXED_BYTES - 1 + CHANNEL_NAME_MAX + 16] = 0;
	CHECK_RET(keywrap_decode(&kw, big, (size_t)n), MU_E_FORMAT);
	/* Too small an output buffer. */
	CHECK_RET(keywrap_seal(big, (size_t)n - 1, identity_sign_pk(ids[CREATOR]), longname, 1, key1, many,
			       KEYWRAP_SLOTS_MAX), MU_E_TOOBIG);
	for (int i = 0; i <= KEYWRAP_SLOTS_MAX; i++) {
		identity_free(extra[i]);
		extra[i] = NULL;
	}
}

static void test_msg_roundtrip(void)
{
	static const char text[] = "\x01" "crew 4 to sector 2 forward command";
	uint8_t env[1024], out[1024], chan[CHANNEL_ID_BYTES], other[CHANNEL_ID_BYTES];
	struct envelope_recipient r[2];
	const uint8_t *sender = identity_sign_pk(ids[MEMBER]);
	uint32_t epoch;
	size_t len;
	int n;

	setup();
	channel_id(chan, identity_sign_pk(ids[CREATOR]), "sector-2", 8);
	channel_id(other, identity_sign_pk(ids[CREATOR]), "sector-3", 8);
	memcpy(r[0].key, sender, MU_KEY_BYTES);
	memcpy(r[0].kx_pk, identity_kx_pk(ids[MEMBER]), MU_KEY_BYTES);
	memcpy(r[1].key, identity_sign_pk(ids[ARCHIVE]), MU_KEY_BYTES);
	memcpy(r[1].kx_pk, identity_kx_pk(ids[ARCHIVE]), MU_KEY_BYTES);
	n = CHECK_LEN(chanmsg_seal(env, sizeof(env), (const uint8_t *)text, sizeof(text), chan, 2, key2, r, 2, sender));
	CHECK((size_t)n == CHANMSG_OVERHEAD(2) + sizeof(text));
	CHECK_OK(chanmsg_epoch(env, (size_t)n, chan, &epoch));
	CHECK(epoch == 2);
	CHECK_RET(chanmsg_epoch(env, (size_t)n, other, &epoch), MU_E_NOTFOUND);
	/* A holder of the epoch key reads it. */
	CHECK_OK(chanmsg_open(out, sizeof(out), &len, env, (size_t)n, chan, 2, key2, sender));
	CHECK(len == sizeof(text) && !memcmp(out, text, len));
	/* The sender and the archive read it as an ordinary envelope; the
	 * creator (a member, holding no slot of its own) does not. */
	CHECK_OK(envelope_open(out, sizeof(out), &len, env, (size_t)n, ids[MEMBER], sender));
	CHECK(len == sizeof(text) && !memcmp(out, text, len));
	CHECK_OK(envelope_open(out, sizeof(out), &len, env, (size_t)n, ids[ARCHIVE], sender));
	CHECK_RET(envelope_open(out, sizeof(out), &len, env, (size_t)n, ids[CREATOR], sender), MU_E_NOTFOUND);
	/* Epoch selection: the previous epoch's key (all a removed member
	 * holds) does not open it, under either epoch number. */
	CHECK_RET(chanmsg_open(out, sizeof(out), &len, env, (size_t)n, chan, 2, key1, sender), MU_E_SIG);
	CHECK_RET(chanmsg_open(out, sizeof(out), &len, env, (size_t)n, chan, 1, key1, sender), MU_E_NOTFOUND);
	CHECK_RET(chanmsg_open(out, sizeof(out), &len, env, (size_t)n, other, 2, key2, sender), MU_E_NOTFOUND);
	/* Lifted into a bundle signed by someone else. */
	CHECK_RET(chanmsg_open(out, sizeof(out), &len, env, (size_t)n, chan, 2, key2, identity_sign_pk(ids[CREATOR])),
		  MU_E_SIG);
	/* Altered ciphertext; altered channel slot padding. */
	env[n - 1] ^= 1;
	CHECK_RET(chanmsg_open(out, sizeof(out), &len, env, (size_t)n, chan, 2, key2, sender), MU_E_SIG);
	env[n - 1] ^= 1;
	env[2 + MU_KEY_BYTES + 79] = 1;
	CHECK_RET(chanmsg_open(out, sizeof(out), &len, env, (size_t)n, chan, 2, key2, sender), MU_E_SIG);
	env[2 + MU_KEY_BYTES + 79] = 0;
	CHECK_OK(chanmsg_open(out, sizeof(out), &len, env, (size_t)n, chan, 2, key2, sender));
	/* Truncations fail cleanly; output too small. */
	for (int i = 0; i < n; i++)
		CHECK(chanmsg_open(out, sizeof(out), &len, env, (size_t)i, chan, 2, key2, sender) != 0);
	CHECK_RET(chanmsg_open(out, 10, &len, env, (size_t)n, chan, 2, key2, sender), MU_E_TOOBIG);
	/* Recipient cap: the channel slot takes one of the envelope's. */
	{
		static struct envelope_recipient many[ENVELOPE_RECIPIENTS_MAX];
		static uint8_t huge[ENVELOPE_OVERHEAD(ENVELOPE_RECIPIENTS_MAX + 1) + 64];

		for (int i = 0; i < ENVELOPE_RECIPIENTS_MAX; i++)
			many[i] = r[1];
		CHECK_RET(chanmsg_seal(huge, sizeof(huge), (const uint8_t *)text, sizeof(text), chan, 2, key2, many,
				       ENVELOPE_RECIPIENTS_MAX, sender), MU_E_TOOBIG);
		CHECK_LEN(chanmsg_seal(huge, sizeof(huge), (const uint8_t *)text, sizeof(text), chan, 2, key2, many,
				       ENVELOPE_RECIPIENTS_MAX - 1, sender));
	}
}

static void teardown(void)
{
	for (int i = 0; i < N_IDS; i++) {
		identity_free(ids[i]);
		ids[i] = NULL;
	}
}

static void test_end(void)
{
	teardown();
}

static const struct test tests[] = {
	{ "/channel/keywrap/roundtrip", test_wrap_roundtrip },
	{ "/channel/keywrap/binding", test_wrong_binding },
	{ "/channel/keywrap/strict", test_wrap_strict },
	{ "/channel/msg/roundtrip", test_msg_roundtrip },
	{ "/channel/zz-teardown", test_end },
};

TEST_MAIN(tests)
