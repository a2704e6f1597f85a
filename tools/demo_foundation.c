/* The foundation part of the demo: given a CA and two enrolled staff made
 * by muster-ca and muster (see tools/demo), publish both credentials as
 * bundles, send a sealed message from one to the other, store everything in
 * LMDB, reopen the store, read the message back, verify it as a relay would,
 * and open it with the recipient's key. A tampered copy is refused.
 *
 * usage: muster-demo-foundation DEMO-DIR
 * DEMO-DIR holds ca/ca.pub, staff1.key(.pub) staff1.cred staff1.kf, staff2.* */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "cli_util.h"
#include "clock.h"
#include "cred.h"
#include "err.h"
#include "hex.h"
#include "keystore.h"
#include "store.h"
#include "verify.h"

#define MSG_LIFETIME_MS (12ull * 3600 * 1000)

struct staff {
	struct mu_identity *id;
	struct cred cred;
	uint8_t cred_enc[CRED_ENC_MAX];
	size_t cred_len;
};

static const char *demo_dir;

static int path_in(char *buf, size_t cap, const char *name)
{
	return snprintf(buf, cap, "%s/%s", demo_dir, name) >= (int)cap ? -ENAMETOOLONG : 0;
}

static int load_staff(struct staff *s, const char *tag)
{
	char key[512], kf[512], cr[512], name[64];
	struct ks_unlock u = { .wrap = KS_WRAP_KEYFILE, .secret = kf };
	uint8_t *data = NULL;
	size_t len = 0;
	int ret;

	snprintf(name, sizeof(name), "%s.key", tag);
	ret = path_in(key, sizeof(key), name);
	snprintf(name, sizeof(name), "%s.kf", tag);
	ret = ret ? ret : path_in(kf, sizeof(kf), name);
	snprintf(name, sizeof(name), "%s.cred", tag);
	ret = ret ? ret : path_in(cr, sizeof(cr), name);
	if (!ret)
		ret = keystore_load(&s->id, key, &u);
	if (!ret)
		ret = cli_read_file(cr, CRED_ENC_MAX, &data, &len);
	if (!ret)
		ret = cred_decode(&s->cred, data, len);
	if (!ret) {
		memcpy(s->cred_enc, data, len);
		s->cred_len = len;
	}
	free(data);
	return ret;
}

/* A credential travels as a bundle signed by its holder. */
static int seal_cred_bundle(const struct staff *s, uint8_t *out, size_t cap, struct bundle *b)
{
	*b = (struct bundle){
		.kind = BK_CREDENTIAL,
		.prio = PRIO_URGENT,
		.hop_limit = BUNDLE_HOPS_MAX,
		.created = mu_now_ms(),
		.expires = s->cred.valid_until,
		.dest_type = DEST_ALL,
		.payload = s->cred_enc,
		.payload_len = s->cred_len,
	};
	return bundle_seal(out, cap, b, s->id);
}

static int admit_and_store(struct store *st, const struct verify_ctx *v, const uint8_t *enc, size_t len,
			   struct bundle *b)
{
	struct store_txn *t = NULL;
	struct store_meta meta = { .received = v->now, .hops = 0, .flags = STORE_F_LOCAL };
	struct cred c;
	int ret = bundle_decode(b, enc, len);

	if (!ret)
		ret = bundle_admit(v, b, enc, len, 0, &c);
	if (!ret)
		ret = store_write_begin(st, &t);
	if (!ret && b->kind == BK_CREDENTIAL)
		ret = store_put_cred(t, &c);
	if (!ret)
		ret = store_put_bundle(t, b, enc, len, &meta);
	if (ret) {
		store_write_abort(t);
		return ret;
	}
	return store_write_commit(t);
}

static int run(void)
{
	static uint8_t enc[BUNDLE_ENC_MAX], back[BUNDLE_ENC_MAX];
	static const char text[] = "METHANE: major incident declared, Exact location TQ 30560 80480";
	uint8_t sealed[sizeof(text) + MU_SEAL_OVERHEAD], opened[sizeof(text)];
	struct staff s1 = { 0 }, s2 = { 0 };
	struct trust trust = { 0 };
	struct store *st = NULL;
	struct store_stat stat;
	struct store_meta meta;
	struct bundle b, rb;
	uint8_t ca_sign[32], ca_kx[32], msg_id[32];
	char path[512], store_dir[512], hex[65];
	size_t blen = 0;
	int ret, len;

	ret = path_in(path, sizeof(path), "ca/ca.pub");
	if (!ret)
		ret = cli_read_pub(path, ca_sign, ca_kx);
	if (!ret)
		ret = trust_add(&trust, ca_sign);
	if (!ret)
		ret = load_staff(&s1, "staff1");
	if (!ret)
		ret = load_staff(&s2, "staff2");
	if (ret) {
		fprintf(stderr, "demo: loading CA and staff: %s\n", mu_strerror(ret));
		goto out;
	}
	ret = path_in(path, sizeof(path), "store");
	if (!ret)
		ret = store_open(&st, path, NULL);
	strcpy(store_dir, path);
	if (ret) {
		fprintf(stderr, "demo: opening store: %s\n", mu_strerror(ret));
		goto out;
	}
	struct verify_ctx v = {
		.trust = &trust,
		.now = mu_now_ms(),
		.skew_ms = VERIFY_SKEW_MS_DEFAULT,
		.lookup = store_cred_lookup,
		.is_revoked = store_is_revoked,
		.ctx = st,
	};

	/* 1. Both staff publish their credentials; the store verifies the CA chain. */
	for (int i = 0; i < 2; i++) {
		struct staff *s = i ? &s2 : &s1;

		len = seal_cred_bundle(s, enc, sizeof(enc), &b);
		ret = len < 0 ? len : admit_and_store(st, &v, enc, (size_t)len, &b);
		if (ret) {
			fprintf(stderr, "demo: credential of %s: %s\n", s->cred.name, mu_strerror(ret));
			goto out;
		}
		hex_encode(hex, b.id, 32);
		printf("  stored credential bundle of %-22s %s %s\n", s->cred.name, role_name(s->cred.role), hex);
	}

	/* 2. A message from staff1 to staff2, sealed to staff2's X25519 key. */
	ret = mu_seal(sealed, (const uint8_t *)text, sizeof(text), s2.cred.kx_pk);
	if (ret)
		goto out;
	b = (struct bundle){
		.kind = BK_MESSAGE,
		.prio = PRIO_IMMEDIATE,
		.hop_limit = 8,
		.created = mu_now_ms(),
		.expires = mu_now_ms() + MSG_LIFETIME_MS,
		.dest_type = DEST_PERSON,
		.dest_len = 32,
		.payload = sealed,
		.payload_len = sizeof(sealed),
	};
	memcpy(b.dest, s2.cred.sign_pk, 32);
	len = bundle_seal(enc, sizeof(enc), &b, s1.id);
	ret = len < 0 ? len : admit_and_store(st, &v, enc, (size_t)len, &b);
	if (ret) {
		fprintf(stderr, "demo: message: %s\n", mu_strerror(ret));
		goto out;
	}
	memcpy(msg_id, b.id, 32);
	ret = path_in(path, sizeof(path), "message.bundle");
	if (!ret)
		ret = cli_write_file(path, enc, (size_t)len, 0644);
	if (ret)
		goto out;
	hex_encode(hex, msg_id, 32);
	printf("  %s signed an immediate message to %s; stored as %s (%d bytes, payload sealed)\n",
	       s1.cred.name, s2.cred.name, hex, len);

	/* 3. A relay must refuse a tampered copy: flip one payload byte. */
	enc[len - MU_SIG_BYTES - 1] ^= 1;
	ret = admit_and_store(st, &v, enc, (size_t)len, &rb);
	printf("  tampered copy refused: %s\n", mu_strerror(ret));
	if (ret != MU_E_SIG) {
		ret = MU_E_MISMATCH;
		goto out;
	}

	/* 4. Close, reopen, read back, verify again, open with staff2's key. */
	store_close(st);
	st = NULL;
	ret = store_open(&st, store_dir, NULL);
	v.ctx = st;
	if (!ret)
		ret = store_get(st, msg_id, back, sizeof(back), &blen, &meta);
	if (!ret)
		ret = bundle_decode(&rb, back, blen);
	if (!ret)
		ret = bundle_admit(&v, &rb, back, blen, 0, NULL);
	if (!ret)
		ret = memcmp(rb.id, msg_id, 32) ? MU_E_MISMATCH : 0;
	if (!ret)
		ret = rb.payload_len == sizeof(sealed) ? identity_unseal(s2.id, opened, rb.payload, rb.payload_len)
						       : MU_E_FORMAT;
	if (ret) {
		fprintf(stderr, "demo: read back: %s\n", mu_strerror(ret));
		goto out;
	}
	printf("  after reopening the store: signature and credential verified; %s reads: \"%s\"\n",
	       s2.cred.name, (const char *)opened);
	ret = identity_unseal(s1.id, opened, rb.payload, rb.payload_len);
	printf("  anyone else (even the sender's key) cannot open it: %s\n", mu_strerror(ret));
	if (ret == 0) {
		ret = MU_E_MISMATCH;
		goto out;
	}
	ret = store_stat(st, &stat);
	if (!ret)
		printf("  store: %llu bundles, %llu bytes, %llu credentials\n", (unsigned long long)stat.count,
		       (unsigned long long)stat.bytes, (unsigned long long)stat.creds);
out:
	store_close(st);
	identity_free(s1.id);
	identity_free(s2.id);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: muster-demo-foundation DEMO-DIR\n");
		return 2;
	}
	demo_dir = argv[1];
	if (mu_crypto_init())
		return 1;
	return run() ? 1 : 0;
}
