/* mu-bench-fill: makes the node data directories tools/bench_node.sh starts
 * musterd on (tools/bench memory, tools/bench startup). The fill is done
 * here, with the store library, so it never counts in what is measured.
 *
 * usage: mu-bench-fill DIR [--n N] [--extra M] [--senders S] [--payload P]
 *
 * DIR/ca.pub         a CA's public key file, as muster-ca init writes it
 * DIR/NAME/node.key  for NAME in full, peer, empty: a node identity wrapped
 * DIR/NAME/node.kf   by its key file, and its node credential from the CA
 * DIR/NAME/node.cred
 * DIR/NAME/store/    full: N bundles — S credential bundles of S enrolled
 *                    senders, then N - S messages from them (payload P bytes,
 *                    created 10 ms apart ending now, expiring in 12 h);
 *                    peer: the same N plus M messages full lacks;
 *                    empty: an empty store.
 * Every bundle is sealed by its sender and stored as ingest would store it
 * (store_put_cred for credentials), in batches of 4096. Prints
 * "fill bundles=N peer_bundles=N+M seconds=T".
 *
 * usage: mu-bench-fill DIR --hospital N --field M [--lack PCT] [--senders S]
 *                      [--payload P]      (tools/bench hospital)
 *
 * DIR/hospital/      a hospital: node identity and credential as above, and
 *                    DIR/hospital/user.{key,kf,cred,key.pub}, the archive
 *                    user (credential role archive); its store holds N
 *                    bundles: the credential bundles of S senders, of the
 *                    archive user and of the field user, messages from the
 *                    S senders (plain payload P, oldest), and the field's
 *                    messages the hospital already has;
 * DIR/field/         a field node whose store holds the two user credential
 *                    bundles and M messages from its user DIR/field/user.*
 *                    (role paramedic), each a real envelope (crypto/
 *                    envelope.h) to the field user and the archive user with
 *                    CONTENT_TEXT content of P bytes, so the hospital
 *                    archives them; of these the hospital lacks PCT %
 *                    (default 100), the newest.
 * Every bundle expires 20 days after the fill, so a cached fill stays
 * usable that long. Prints "fill hospital_bundles=N field_bundles=M+2
 * hospital_lacks=K seconds=T". */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bundle.h"
#include "clock.h"
#include "cred.h"
#include "err.h"
#include "envelope.h"
#include "hex.h"
#include "incident.h"
#include "keystore.h"
#include "store.h"

#define LIFETIME_MS (12ull * 3600 * 1000)
#define FILL_BATCH 4096
#define HOSPITAL_LIFETIME_MS (20ull * 86400 * 1000)

static const char *base;
static const struct store_limits *fill_lim; /* NULL: the store's defaults */

static int pathf(char *buf, size_t cap, const char *name, const char *file)
{
	int n = snprintf(buf, cap, "%s/%s%s%s", base, name, *file ? "/" : "", file);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int write_file(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -errno;
	if (fwrite(p, 1, len, f) != len) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) ? -errno : 0;
}

static int write_pub(const char *path, const struct mu_identity *id)
{
	char s[2 * MU_KEY_BYTES + 1], k[2 * MU_KEY_BYTES + 1], text[200];
	int n;

	hex_encode(s, identity_sign_pk(id), MU_KEY_BYTES);
	hex_encode(k, identity_kx_pk(id), MU_KEY_BYTES);
	n = snprintf(text, sizeof(text), "muster-pub 1\nsign %s\nkx %s\n", s, k);
	return write_file(path, text, (size_t)n);
}

static int issue(uint8_t *out, struct cred *c, const struct mu_identity *holder, const struct mu_identity *ca,
		 uint8_t role, const char *subject, uint64_t now)
{
	*c = (struct cred){.role = role, .valid_from = now - 3600000, .valid_until = now + 30 * 86400000ull};
	snprintf(c->subject, sizeof(c->subject), "%s", subject);
	snprintf(c->name, sizeof(c->name), "Bench %s", subject);
	snprintf(c->org, sizeof(c->org), "Bench Ambulance Service");
	memcpy(c->sign_pk, identity_sign_pk(holder), MU_KEY_BYTES);
	memcpy(c->kx_pk, identity_kx_pk(holder), MU_KEY_BYTES);
	return cred_issue(out, CRED_ENC_MAX, c, ca);
}

/* A node directory: identity, key file, credential, and an open store. */
static int node_dir(const char *name, const struct mu_identity *ca, uint64_t now, struct store **st)
{
	char dir[4096], key[4096], kf[4096], p[4096];
	struct ks_unlock u = {.wrap = KS_WRAP_KEYFILE, .secret = kf};
	struct mu_identity *id = NULL;
	uint8_t enc[CRED_ENC_MAX];
	struct cred c;
	int ret, len;

	if ((ret = pathf(dir, sizeof(dir), name, "")) || (ret = pathf(key, sizeof(key), name, "node.key")) ||
	    (ret = pathf(kf, sizeof(kf), name, "node.kf")))
		return ret;
	if (mkdir(dir, 0700))
		return -errno;
	if ((ret = identity_generate(&id)) || (ret = keystore_keyfile_create(kf)) || (ret = keystore_save(key, id, &u)))
		goto out;
	if ((len = issue(enc, &c, id, ca, ROLE_NODE, name, now)) < 0) {
		ret = len;
		goto out;
	}
	if ((ret = pathf(p, sizeof(p), name, "node.cred")) || (ret = write_file(p, enc, (size_t)len)) ||
	    (ret = pathf(p, sizeof(p), name, "node.key.pub")) || (ret = write_pub(p, id)) ||
	    (ret = pathf(p, sizeof(p), name, "store")))
		goto out;
	ret = store_open(st, p, fill_lim);
out:
	identity_free(id);
	return ret;
}

/* Puts one sealed bundle into each store given (NULL entries skipped),
 * committing every FILL_BATCH bundles. */
struct filler {
	struct store *st[2];
	struct store_txn *t[2];
	size_t pending;
};

static int fill_put(struct filler *f, const struct bundle *b, const uint8_t *enc, size_t len,
		    const struct cred *c)
{
	struct store_meta meta = {.received = mu_now_ms(), .hops = 1};
	int ret = 0;

	for (int i = 0; i < 2 && !ret; i++) {
		if (!f->st[i])
			continue;
		if (!f->t[i] && (ret = store_write_begin(f->st[i], &f->t[i])))
			break;
		if (c)
			ret = store_put_cred(f->t[i], c);
		if (!ret)
			ret = store_put_bundle(f->t[i], b, enc, len, &meta);
	}
	if (!ret && ++f->pending == FILL_BATCH) {
		for (int i = 0; i < 2 && !ret; i++) {
			if (f->t[i])
				ret = store_write_commit(f->t[i]);
			f->t[i] = NULL;
		}
		f->pending = 0;
	}
	return ret;
}

static int fill_flush(struct filler *f)
{
	int ret = 0, r;

	for (int i = 0; i < 2; i++) {
		if (f->t[i] && (r = store_write_commit(f->t[i])) && !ret)
			ret = r;
		f->t[i] = NULL;
	}
	f->pending = 0;
	return ret;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- tools/bench hospital ---- */

/* A user of node NAME: NAME/user.key (wrapped by NAME/user.kf), .key.pub
 * and .cred; *id and *c are the caller's, *blen/benc its credential bundle. */
static int user_files(const char *name, const struct mu_identity *ca, uint8_t role, uint64_t now,
		      struct mu_identity **id, struct cred *c, uint8_t *benc, int *blen)
{
	char key[4096], kf[4096], p[4096];
	struct ks_unlock u = {.wrap = KS_WRAP_KEYFILE, .secret = kf};
	uint8_t enc[CRED_ENC_MAX];
	char subject[40];
	struct bundle b = {.kind = BK_CREDENTIAL, .prio = PRIO_URGENT, .hop_limit = BUNDLE_HOPS_MAX,
			   .created = now - 1000, .dest_type = DEST_ALL};
	int ret, len;

	snprintf(subject, sizeof(subject), "USER-%s", name);
	if ((ret = pathf(key, sizeof(key), name, "user.key")) || (ret = pathf(kf, sizeof(kf), name, "user.kf")) ||
	    (ret = identity_generate(id)) || (ret = keystore_keyfile_create(kf)) ||
	    (ret = keystore_save(key, *id, &u)))
		return ret;
	if ((len = issue(enc, c, *id, ca, role, subject, now)) < 0)
		return len;
	if ((ret = pathf(p, sizeof(p), name, "user.cred")) || (ret = write_file(p, enc, (size_t)len)) ||
	    (ret = pathf(p, sizeof(p), name, "user.key.pub")) || (ret = write_pub(p, *id)))
		return ret;
	b.expires = c->valid_until;
	b.payload = enc;
	b.payload_len = (size_t)len;
	*blen = bundle_seal(benc, BUNDLE_ENC_MAX, &b, *id);
	return *blen < 0 ? *blen : 0;
}

/* The field user's message i: CONTENT_TEXT content of payload bytes in an
 * envelope to the user and the archive user. */
static int field_message(uint8_t *enc, size_t i, size_t payload, uint64_t created, const struct mu_identity *user,
			 const struct mu_identity *archive)
{
	static uint8_t content[BUNDLE_PAYLOAD_MAX], env[BUNDLE_PAYLOAD_MAX];
	struct envelope_recipient r[2];
	struct bundle b = {.kind = BK_MESSAGE, .prio = PRIO_ROUTINE, .hop_limit = 16, .created = created,
			   .expires = created + HOSPITAL_LIFETIME_MS, .dest_type = DEST_ALL};
	int n, elen;

	memset(content, 'x', payload);
	content[0] = CONTENT_TEXT;
	n = snprintf((char *)content + 1, payload - 1, "bench field report %zu ", i);
	if (n > 0 && (size_t)n < payload - 1)
		content[1 + n] = 'x'; /* snprintf's NUL: keep it text */
	memcpy(r[0].key, identity_sign_pk(user), MU_KEY_BYTES);
	memcpy(r[0].kx_pk, identity_kx_pk(user), MU_KEY_BYTES);
	memcpy(r[1].key, identity_sign_pk(archive), MU_KEY_BYTES);
	memcpy(r[1].kx_pk, identity_kx_pk(archive), MU_KEY_BYTES);
	elen = envelope_seal(env, sizeof(env), content, payload, r, 2, identity_sign_pk(user));
	if (elen < 0)
		return elen;
	b.payload = env;
	b.payload_len = (size_t)elen;
	return bundle_seal(enc, BUNDLE_ENC_MAX, &b, user);
}

static int hospital_fill(size_t hn, size_t fm, unsigned lack_pct, size_t senders, size_t payload)
{
	struct store_limits big = {.map_bytes = 1ull << 40, .quota_bytes = 1ull << 39, .quota_count = 100000000};
	struct mu_identity *ca = NULL, *arch = NULL, *user = NULL, **ids = NULL;
	struct store *hosp = NULL, *field = NULL;
	struct filler f = {0};
	struct cred ac, uc;
	static uint8_t enc[BUNDLE_ENC_MAX], aenc[BUNDLE_ENC_MAX], uenc[BUNDLE_ENC_MAX];
	uint8_t *pay = NULL;
	size_t lack = fm * lack_pct / 100, shared = fm - lack, plain;
	uint64_t now = mu_now_ms(), t_field;
	double t0 = now_s();
	char p[4096];
	int ret, alen, ulen, blen;

	if (hn < senders + 2 + shared)
		return -EINVAL;
	plain = hn - senders - 2 - shared;
	t_field = now - fm * 10; /* the field's messages: the newest, 10 ms apart */
	ids = calloc(senders, sizeof(*ids));
	pay = malloc(payload);
	if (!ids || !pay) {
		ret = -ENOMEM;
		goto out;
	}
	if (mkdir(base, 0700)) {
		ret = -errno;
		goto out;
	}
	fill_lim = &big;
	if ((ret = identity_generate(&ca)) || (ret = pathf(p, sizeof(p), "ca.pub", "")) || (ret = write_pub(p, ca)) ||
	    (ret = node_dir("hospital", ca, now, &hosp)) || (ret = node_dir("field", ca, now, &field)) ||
	    (ret = user_files("hospital", ca, ROLE_HOSPITAL_ARCHIVE, now, &arch, &ac, aenc, &alen)) ||
	    (ret = user_files("field", ca, ROLE_PARAMEDIC, now, &user, &uc, uenc, &ulen)))
		goto out;
	/* Both users' credentials everywhere, as after a first meeting. */
	f.st[0] = hosp;
	f.st[1] = field;
	{
		struct bundle b;

		if ((ret = bundle_decode(&b, aenc, (size_t)alen)) || (ret = fill_put(&f, &b, aenc, (size_t)alen, &ac)) ||
		    (ret = bundle_decode(&b, uenc, (size_t)ulen)) || (ret = fill_put(&f, &b, uenc, (size_t)ulen, &uc)))
			goto out;
	}
	/* The hospital's own: S senders' credentials, then plain messages. */
	f.st[1] = NULL;
	for (size_t s = 0; s < senders; s++) {
		uint8_t cenc[CRED_ENC_MAX];
		char subject[32];
		struct cred c;
		struct bundle b = {.kind = BK_CREDENTIAL, .prio = PRIO_URGENT, .hop_limit = BUNDLE_HOPS_MAX,
				   .created = t_field - plain * 10 - 1000 + s, .dest_type = DEST_ALL};
		int clen;

		snprintf(subject, sizeof(subject), "SENDER-%zu", s);
		if ((ret = identity_generate(&ids[s])))
			goto out;
		if ((clen = issue(cenc, &c, ids[s], ca, ROLE_PARAMEDIC, subject, now)) < 0) {
			ret = clen;
			goto out;
		}
		b.expires = c.valid_until;
		b.payload = cenc;
		b.payload_len = (size_t)clen;
		if ((blen = bundle_seal(enc, sizeof(enc), &b, ids[s])) < 0) {
			ret = blen;
			goto out;
		}
		if ((ret = fill_put(&f, &b, enc, (size_t)blen, &c)))
			goto out;
	}
	randombytes_buf(pay, payload);
	for (size_t i = 0; i < plain; i++) {
		struct bundle b = {.kind = BK_MESSAGE, .prio = (uint8_t)(i % 4), .hop_limit = 16,
				   .created = t_field - (plain - i) * 10, .dest_type = DEST_ALL,
				   .payload = pay, .payload_len = payload};

		b.expires = b.created + HOSPITAL_LIFETIME_MS;
		memcpy(pay, &i, sizeof(i));
		if ((blen = bundle_seal(enc, sizeof(enc), &b, ids[i % senders])) < 0) {
			ret = blen;
			goto out;
		}
		if ((ret = fill_put(&f, &b, enc, (size_t)blen, NULL)))
			goto out;
		if (i % 500000 == 499999)
			fprintf(stderr, "  hospital: %zu of %zu plain bundles, %.0f s\n", i + 1, plain, now_s() - t0);
	}
	/* The field's messages: the oldest `shared` the hospital has too. */
	f.st[1] = field;
	for (size_t i = 0; i < fm; i++) {
		struct bundle b;

		if (i == shared) {
			if ((ret = fill_flush(&f)))
				goto out;
			f.st[0] = NULL;
		}
		if ((blen = field_message(enc, i, payload, t_field + i * 10, user, arch)) < 0) {
			ret = blen;
			goto out;
		}
		if ((ret = bundle_decode(&b, enc, (size_t)blen)) || (ret = fill_put(&f, &b, enc, (size_t)blen, NULL)))
			goto out;
	}
	if ((ret = fill_flush(&f)))
		goto out;
	printf("fill hospital_bundles=%zu field_bundles=%zu hospital_lacks=%zu seconds=%.1f\n", hn, fm + 2, lack,
	       now_s() - t0);
out:
	fill_flush(&f);
	store_close(hosp);
	store_close(field);
	for (size_t s = 0; ids && s < senders; s++)
		identity_free(ids[s]);
	free(ids);
	free(pay);
	identity_free(ca);
	identity_free(arch);
	identity_free(user);
	return ret;
}

int main(int argc, char **argv)
{
	size_t n = 100000, extra = 100, senders = 8, payload = 200, hospital = 0, field = 0;
	unsigned lack = 100;
	struct mu_identity *ca = NULL, **ids = NULL;
	struct store *full = NULL, *peer = NULL, *empty = NULL;
	struct filler f = {0};
	uint8_t *pay = NULL, enc[BUNDLE_ENC_MAX];
	char p[4096];
	uint64_t now;
	double t0 = now_s();
	int ret = 1;

	if (argc < 2 || argv[1][0] == '-')
		goto usage;
	base = argv[1];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--n") && i + 1 < argc)
			n = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--extra") && i + 1 < argc)
			extra = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--senders") && i + 1 < argc)
			senders = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--payload") && i + 1 < argc)
			payload = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--hospital") && i + 1 < argc)
			hospital = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--field") && i + 1 < argc)
			field = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--lack") && i + 1 < argc)
			lack = (unsigned)strtoul(argv[++i], NULL, 10);
		else
			goto usage;
	}
	if (hospital || field) {
		if (!hospital || !field || lack > 100 || !senders || payload < 64 || payload > 4096)
			goto usage;
		if (mu_crypto_init())
			return 1;
		if ((ret = hospital_fill(hospital, field, lack, senders, payload))) {
			fprintf(stderr, "mu-bench-fill: %s\n", mu_strerror(ret));
			return 1;
		}
		return 0;
	}
	if (!senders || n < senders || payload < 8 || payload > BUNDLE_PAYLOAD_MAX)
		goto usage;
	if (mu_crypto_init())
		return 1;
	now = mu_now_ms();
	ids = calloc(senders, sizeof(*ids));
	pay = malloc(payload);
	if (!ids || !pay || mkdir(base, 0700)) {
		perror("mu-bench-fill");
		goto out;
	}
	if ((ret = identity_generate(&ca)) || (ret = pathf(p, sizeof(p), "ca.pub", "")) || (ret = write_pub(p, ca)) ||
	    (ret = node_dir("full", ca, now, &full)) || (ret = node_dir("peer", ca, now, &peer)) ||
	    (ret = node_dir("empty", ca, now, &empty)))
		goto fail;
	f.st[0] = full;
	f.st[1] = peer;
	for (size_t s = 0; s < senders; s++) {
		uint8_t cenc[CRED_ENC_MAX];
		char subject[32];
		struct cred c;
		struct bundle b = {.kind = BK_CREDENTIAL, .prio = PRIO_URGENT, .hop_limit = BUNDLE_HOPS_MAX,
				   .created = now - n * 10 + s * 10, .dest_type = DEST_ALL};
		int clen, blen;

		snprintf(subject, sizeof(subject), "SENDER-%zu", s);
		if ((ret = identity_generate(&ids[s])))
			goto fail;
		if ((clen = issue(cenc, &c, ids[s], ca, ROLE_PARAMEDIC, subject, now)) < 0) {
			ret = clen;
			goto fail;
		}
		b.expires = c.valid_until;
		b.payload = cenc;
		b.payload_len = (size_t)clen;
		if ((blen = bundle_seal(enc, sizeof(enc), &b, ids[s])) < 0) {
			ret = blen;
			goto fail;
		}
		if ((ret = fill_put(&f, &b, enc, (size_t)blen, &c)))
			goto fail;
	}
	randombytes_buf(pay, payload);
	for (size_t i = senders; i < n + extra; i++) {
		struct bundle b = {.kind = BK_MESSAGE, .prio = (uint8_t)(i % 4), .hop_limit = 16,
				   .created = now - n * 10 + i * 10, .expires = now + LIFETIME_MS,
				   .dest_type = DEST_ALL, .payload = pay, .payload_len = payload};
		int blen;

		if (i == n) { /* the rest only the peer holds; newest, as fresh news would be */
			if ((ret = fill_flush(&f)))
				goto fail;
			f.st[0] = NULL;
		}
		memcpy(pay, &i, sizeof(i));
		if ((blen = bundle_seal(enc, sizeof(enc), &b, ids[i % senders])) < 0) {
			ret = blen;
			goto fail;
		}
		if ((ret = fill_put(&f, &b, enc, (size_t)blen, NULL)))
			goto fail;
	}
	if ((ret = fill_flush(&f)))
		goto fail;
	printf("fill bundles=%zu peer_bundles=%zu seconds=%.1f\n", n, n + extra, now_s() - t0);
	ret = 0;
	goto out;
fail:
	fprintf(stderr, "mu-bench-fill: %s\n", mu_strerror(ret));
	ret = 1;
out:
	fill_flush(&f);
	store_close(full);
	store_close(peer);
	store_close(empty);
	for (size_t s = 0; ids && s < senders; s++)
		identity_free(ids[s]);
	free(ids);
	free(pay);
	identity_free(ca);
	return ret;
usage:
	fprintf(stderr, "usage: mu-bench-fill DIR [--n N] [--extra M] [--senders S] [--payload BYTES]\n"
			"       mu-bench-fill DIR --hospital N --field M [--lack PCT] [--senders S] [--payload BYTES]\n");
	return 2;
}
