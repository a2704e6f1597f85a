/* Replayed bundles, through the same steps node_ingest takes (decode, the
 * store's duplicate check, bundle_admit against the store's credentials,
 * store_put_bundle): a bundle delivered again is a duplicate and stored
 * once; delivered again after it expired and was purged, it is refused as
 * expired, never stored afresh. docs/security.md maps these. */
#include <string.h>

#include "bundle.h"
#include "cred.h"
#include "identity.h"
#include "store.h"
#include "testutil.h"
#include "verify.h"

#define T_FROM 1767225600000ull /* 2026-01-01 */
#define T_UNTIL 1798761600000ull
#define T_NOW 1780315200000ull /* 2026-06-01T12:00:00Z */
#define MIN_MS 60000ull

struct fx {
	struct mu_identity *ca, *para;
	struct trust trust;
	struct cred cred;
	struct store *st;
	char *dir;
};

static struct mu_identity *seeded(uint8_t fill)
{
	struct mu_identity *id = NULL;
	uint8_t seed[32];

	memset(seed, fill, sizeof(seed));
	CHECK_OK(identity_from_seed(&id, seed));
	return id;
}

static void fx_init(struct fx *f)
{
	uint8_t enc[CRED_ENC_MAX];
	struct store_txn *t = NULL;

	memset(f, 0, sizeof(*f));
	f->ca = seeded(1);
	f->para = seeded(2);
	CHECK_OK(trust_add(&f->trust, identity_sign_pk(f->ca)));
	f->cred = (struct cred){ .role = ROLE_PARAMEDIC, .valid_from = T_FROM, .valid_until = T_UNTIL };
	strcpy(f->cred.subject, "EAS-1");
	strcpy(f->cred.name, "Alex");
	strcpy(f->cred.org, "EAS");
	memcpy(f->cred.sign_pk, identity_sign_pk(f->para), MU_KEY_BYTES);
	memcpy(f->cred.kx_pk, identity_kx_pk(f->para), MU_KEY_BYTES);
	CHECK_LEN(cred_issue(enc, sizeof(enc), &f->cred, f->ca));
	f->dir = test_tmpdir("replay");
	CHECK_OK(store_open(&f->st, f->dir, NULL));
	CHECK_OK(store_write_begin(f->st, &t));
	CHECK_OK(store_put_cred(t, &f->cred));
	CHECK_OK(store_write_commit(t));
}

static void fx_free(struct fx *f)
{
	store_close(f->st);
	identity_free(f->ca);
	identity_free(f->para);
	free(f->dir);
}

/* node_ingest's steps for a bundle from a peer, at now; commits at once. */
static int ingest(struct fx *f, const uint8_t *enc, size_t len, uint64_t now)
{
	struct verify_ctx v = { .trust = &f->trust, .now = now, .skew_ms = VERIFY_SKEW_MS_DEFAULT,
				.lookup = store_cred_lookup, .is_revoked = store_is_revoked, .ctx = f->st };
	struct store_meta meta = { .received = now, .hops = 1 };
	struct store_txn *t = NULL;
	struct bundle b;
	int ret = bundle_decode(&b, enc, len);

	if (ret)
		return ret;
	ret = store_has(f->st, b.id);
	if (ret)
		return ret == 1 ? MU_E_EXISTS : ret;
	ret = bundle_admit(&v, &b, enc, len, 1, NULL);
	if (ret)
		return ret;
	CHECK_OK(store_write_begin(f->st, &t));
	ret = store_put_bundle(t, &b, enc, len, &meta);
	if (ret) {
		store_write_abort(t);
		return ret;
	}
	return store_write_commit(t);
}

static size_t seal_message(struct fx *f, uint8_t *enc, uint64_t created, uint64_t expires)
{
	static const uint8_t payload[] = "ciphertext stand-in";
	struct bundle b = { .kind = BK_MESSAGE, .prio = PRIO_IMMEDIATE, .hop_limit = 8, .created = created,
			    .expires = expires, .dest_type = DEST_ALL, .payload = payload,
			    .payload_len = sizeof(payload) };

	return (size_t)CHECK_LEN(bundle_seal(enc, BUNDLE_ENC_MAX, &b, f->para));
}

static uint64_t count(struct fx *f)
{
	struct store_stat s;

	CHECK_OK(store_stat(f->st, &s));
	return s.count;
}

/* The same bytes twice (a peer resending, an attacker replaying a
 * recorded transfer): stored once, the second is MU_E_EXISTS. */
static void test_duplicate(void)
{
	static uint8_t enc[BUNDLE_ENC_MAX];
	struct fx f;
	size_t n;

	fx_init(&f);
	n = seal_message(&f, enc, T_NOW - MIN_MS, T_NOW + 60 * MIN_MS);
	CHECK_OK(ingest(&f, enc, n, T_NOW));
	CHECK(count(&f) == 1);
	for (int i = 0; i < 5; i++)
		CHECK_RET(ingest(&f, enc, n, T_NOW + (uint64_t)i * MIN_MS), MU_E_EXISTS);
	CHECK(count(&f) == 1);
	fx_free(&f);
}

/* Replayed once it has expired: before the purge the store still holds it
 * (a duplicate); after the purge admission refuses it as expired. Never
 * stored twice, never stored after its expiry. */
static void test_after_expiry(void)
{
	static uint8_t enc[BUNDLE_ENC_MAX];
	uint64_t removed = 0;
	struct fx f;
	size_t n;

	fx_init(&f);
	n = seal_message(&f, enc, T_NOW - MIN_MS, T_NOW + MIN_MS);
	CHECK_OK(ingest(&f, enc, n, T_NOW));
	CHECK_RET(ingest(&f, enc, n, T_NOW + 2 * MIN_MS), MU_E_EXISTS);
	CHECK_OK(store_purge_expired(f.st, T_NOW + 2 * MIN_MS, &removed));
	CHECK(removed == 1 && count(&f) == 0);
	CHECK_RET(ingest(&f, enc, n, T_NOW + 2 * MIN_MS), MU_E_EXPIRED);
	CHECK_RET(ingest(&f, enc, n, T_NOW + MIN_MS), MU_E_EXPIRED); /* expires is exclusive */
	CHECK(count(&f) == 0);
	/* A bundle that arrives already expired was never stored anywhere. */
	n = seal_message(&f, enc, T_NOW - 10 * MIN_MS, T_NOW - 5 * MIN_MS);
	CHECK_RET(ingest(&f, enc, n, T_NOW), MU_E_EXPIRED);
	CHECK(count(&f) == 0);
	fx_free(&f);
}

/* Clock skew: created up to clock_skew_ms ahead of our clock is admitted,
 * one millisecond more is refused as not yet valid. */
static void test_skew(void)
{
	static uint8_t enc[BUNDLE_ENC_MAX];
	struct fx f;
	size_t n;

	fx_init(&f);
	n = seal_message(&f, enc, T_NOW + VERIFY_SKEW_MS_DEFAULT + 1, T_NOW + 60 * MIN_MS);
	CHECK_RET(ingest(&f, enc, n, T_NOW), MU_E_NOTYET);
	n = seal_message(&f, enc, T_NOW + VERIFY_SKEW_MS_DEFAULT, T_NOW + 60 * MIN_MS);
	CHECK_OK(ingest(&f, enc, n, T_NOW));
	CHECK(count(&f) == 1);
	fx_free(&f);
}

static const struct test tests[] = {
	{ "/replay/duplicate-stored-once", test_duplicate },
	{ "/replay/after-expiry-refused", test_after_expiry },
	{ "/replay/skew-boundary", test_skew },
};

TEST_MAIN(tests)
