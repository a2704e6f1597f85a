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
 * "fill bundles=N peer_bundles=N+M seconds=T". */
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
#include "hex.h"
#include "keystore.h"
#include "store.h"

#define LIFETIME_MS (12ull * 3600 * 1000)
#define FILL_BATCH 4096

static const char *base;

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
	ret = store_open(st, p, NULL);
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

int main(int argc, char **argv)
{
	size_t n = 100000, extra = 100, senders = 8, payload = 200;
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
		else
			goto usage;
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
	fprintf(stderr, "usage: mu-bench-fill DIR [--n N] [--extra M] [--senders S] [--payload BYTES]\n");
	return 2;
}
