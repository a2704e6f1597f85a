#include "testutil.h"

#include <sodium.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "identity.h"
#include "keystore.h"
#include "wire.h"

/* Offsets of the layout in docs/keystore.md, written out independently of
 * keystore.c so a layout change shows up here. */
#define OFF_VERSION  8
#define OFF_WRAP     9
#define KF_OFF_PK    10
#define KF_OFF_NONCE 42
#define KF_OFF_CT    66
#define KF_LEN       178
#define PP_OFF_OPS   10
#define PP_OFF_MEM   18
#define PP_OFF_PK    42
#define PP_LEN       210
#define FILE_CAP     512

/* Cheapest Argon2id the format allows, so the many-load tests stay fast; the
 * default cost is exercised by /keystore/passphrase/roundtrip. */
#define FAST_PASS(p)                                                                                         \
	((struct ks_unlock){.wrap = KS_WRAP_PASSPHRASE, .secret = (p), .opslimit = 1, .memlimit = 8192})
#define KEYFILE(p) ((struct ks_unlock){.wrap = KS_WRAP_KEYFILE, .secret = (p)})

static char *join(const char *dir, const char *name)
{
	char *p = NULL;

	CHECK(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	CHECK(f);
	n = fread(buf, 1, cap, f);
	CHECK(n < cap);
	fclose(f);
	return n;
}

static void spit(const char *path, const uint8_t *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	CHECK(fchmod(fd, mode) == 0);
	CHECK(write(fd, buf, len) == (ssize_t)len);
	CHECK(close(fd) == 0);
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	CHECK(stat(path, &st) == 0);
	return st.st_mode & 07777;
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	CHECK(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* The loaded identity signs, and the signature verifies under the original
 * public key; its key agreement key matches too. */
static void check_same(const struct mu_identity *orig, const struct mu_identity *loaded)
{
	static const uint8_t msg[] = "casualty clearing station at gate B";
	uint8_t sig[MU_SIG_BYTES];

	CHECK(loaded);
	CHECK_OK(identity_sign(loaded, sig, msg, sizeof(msg)));
	CHECK_OK(mu_verify(identity_sign_pk(orig), sig, msg, sizeof(msg)));
	CHECK(memcmp(identity_kx_pk(orig), identity_kx_pk(loaded), MU_KEY_BYTES) == 0);
}

static void test_passphrase_roundtrip(void)
{
	char *dir = test_tmpdir("ks-pp-rt");
	char *path = join(dir, "id.key");
	struct ks_unlock u = {.wrap = KS_WRAP_PASSPHRASE, .secret = "correct horse battery staple"};
	struct mu_identity *id = NULL, *got = NULL;
	uint8_t buf[FILE_CAP];
	uint8_t *secret = NULL;
	uint64_t ops, mem;

	CHECK_OK(identity_generate(&id));
	CHECK_OK(keystore_save(path, id, &u));
	CHECK(mode_of(path) == 0600);
	CHECK(count_entries(dir) == 1); /* the temporary file was renamed */
	CHECK(slurp(path, buf, sizeof(buf)) == PP_LEN);
	ops = get_be64(buf + PP_OFF_OPS);
	mem = get_be64(buf + PP_OFF_MEM);
	CHECK(ops == crypto_pwhash_OPSLIMIT_INTERACTIVE);
	CHECK(mem == crypto_pwhash_MEMLIMIT_INTERACTIVE);
	/* The secret is not stored in clear. */
	secret = sodium_malloc(MU_IDENTITY_SECRET_BYTES);
	CHECK(secret);
	identity_export_secret(id, secret);
	for (size_t i = 0; i + 32 <= PP_LEN; i++)
		CHECK(memcmp(buf + i, secret, 32) != 0 && memcmp(buf + i, secret + 64, 32) != 0);
	sodium_free(secret);
	CHECK_OK(keystore_load(&got, path, &u));
	check_same(id, got);
	identity_free(got);
	identity_free(id);
	free(path);
	free(dir);
}

static void test_passphrase_wrong(void)
{
	char *dir = test_tmpdir("ks-pp-wrong");
	char *path = join(dir, "id.key");
	struct mu_identity *id = NULL, *got = NULL;

	CHECK_OK(identity_generate(&id));
	CHECK_OK(keystore_save(path, id, &FAST_PASS("right")));
	got = (struct mu_identity *)1; /* must be reset to NULL */
	CHECK_RET(keystore_load(&got, path, &FAST_PASS("wrong")), MU_E_PASS);
	CHECK(got == NULL);
	CHECK_RET(keystore_load(&got, path, &FAST_PASS("righ")), MU_E_PASS);
	CHECK_RET(keystore_load(&got, path, &FAST_PASS("")), MU_E_PASS);
	CHECK_OK(keystore_load(&got, path, &FAST_PASS("right")));
	check_same(id, got);
	identity_free(got);
	identity_free(id);
	free(path);
	free(dir);
}

static void test_passphrase_cost_refused(void)
{
	char *dir = test_tmpdir("ks-pp-cost");
	char *path = join(dir, "id.key");
	struct mu_identity *id = NULL;
	struct ks_unlock u = FAST_PASS("x");

	CHECK_OK(identity_generate(&id));
	CHECK_RET(keystore_save(path, id, &FAST_PASS("")), MU_E_CONFIG);
	u.opslimit = KS_OPSLIMIT_MAX + 1;
	CHECK_RET(keystore_save(path, id, &u), MU_E_CONFIG);
	u.opslimit = 1;
	u.memlimit = KS_MEMLIMIT_MAX + 1;
	CHECK_RET(keystore_save(path, id, &u), MU_E_CONFIG);
	u.memlimit = KS_MEMLIMIT_MIN - 1;
	CHECK_RET(keystore_save(path, id, &u), MU_E_CONFIG);
	CHECK(count_entries(dir) == 0);
	identity_free(id);
	free(path);
	free(dir);
}

static void test_keyfile_roundtrip(void)
{
	char *dir = test_tmpdir("ks-kf-rt");
	char *path = join(dir, "id.key");
	char *kf = join(dir, "kek");
	struct mu_identity *id = NULL, *got = NULL;
	uint8_t buf[FILE_CAP];

	CHECK_OK(identity_generate(&id));
	CHECK_OK(keystore_keyfile_create(kf));
	CHECK_OK(keystore_save(path, id, &KEYFILE(kf)));
	CHECK(mode_of(path) == 0600);
	CHECK(count_entries(dir) == 2);
	CHECK(slurp(path, buf, sizeof(buf)) == KF_LEN);
	CHECK(memcmp(buf, "MUSTERSK", 8) == 0);
	CHECK(buf[OFF_VERSION] == 1 && buf[OFF_WRAP] == KS_WRAP_KEYFILE);
	CHECK(memcmp(buf + KF_OFF_PK, identity_sign_pk(id), MU_KEY_BYTES) == 0);
	CHECK_OK(keystore_load(&got, path, &KEYFILE(kf)));
	check_same(id, got);
	identity_free(got);
	identity_free(id);
	free(kf);
	free(path);
	free(dir);
}

static void test_keyfile_wrong(void)
{
	char *dir = test_tmpdir("ks-kf-wrong");
	char *path = join(dir, "id.key");
	char *kf = join(dir, "kek");
	char *other = join(dir, "other");
	struct mu_identity *id = NULL, *got = NULL;

	CHECK_OK(identity_generate(&id));
	CHECK_OK(keystore_keyfile_create(kf));
	CHECK_OK(keystore_keyfile_create(other));
	CHECK_OK(keystore_save(path, id, &KEYFILE(kf)));
	CHECK_RET(keystore_load(&got, path, &KEYFILE(other)), MU_E_PASS);
	CHECK(got == NULL);
	CHECK_RET(keystore_load(&got, path, &KEYFILE("/nonexistent/kek")), -ENOENT);
	identity_free(id);
	free(other);
	free(kf);
	free(path);
	free(dir);
}

static void test_keyfile_mode(void)
{
	static const mode_t bad[] = {0644, 0640, 0604, 0610, 0601, 0620, 0602};
	char *dir = test_tmpdir("ks-kf-mode");
	char *path = join(dir, "id.key");
	char *kf = join(dir, "kek");
	struct mu_identity *id = NULL, *got = NULL;

	CHECK_OK(identity_generate(&id));
	CHECK_OK(keystore_keyfile_create(kf));
	CHECK_OK(keystore_save(path, id, &KEYFILE(kf)));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(chmod(kf, bad[i]) == 0);
		CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_PERM);
		CHECK(got == NULL);
		CHECK_RET(keystore_save(path, id, &KEYFILE(kf)), MU_E_PERM);
	}
	CHECK(chmod(kf, 0400) == 0); /* stricter is fine */
	CHECK_OK(keystore_load(&got, path, &KEYFILE(kf)));
	check_same(id, got);
	identity_free(got);
	got = NULL;
	/* Owned by someone else: only root can set this up. */
	if (geteuid() == 0) {
		CHECK(chmod(kf, 0600) == 0);
		CHECK(chown(kf, 65534, 65534) == 0);
		CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_PERM);
		CHECK(chown(path, 65534, 65534) == 0);
		CHECK(chown(kf, 0, 0) == 0);
		CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_PERM);
		CHECK(chown(path, 0, 0) == 0);
		CHECK_OK(keystore_load(&got, path, &KEYFILE(kf)));
	}
	identity_free(got);
	identity_free(id);
	free(kf);
	free(path);
	free(dir);
}

static void test_keyfile_create_twice(void)
{
	char *dir = test_tmpdir("ks-kf-twice");
	char *kf = join(dir, "kek");
	uint8_t a[64], b[64];
	mode_t old = umask(0277); /* the mode must not depend on the umask */

	CHECK_OK(keystore_keyfile_create(kf));
	umask(old);
	CHECK(mode_of(kf) == 0600);
	CHECK(slurp(kf, a, sizeof(a)) == KS_KEYFILE_BYTES);
	CHECK_RET(keystore_keyfile_create(kf), -EEXIST);
	/* The existing key was left alone. */
	CHECK(slurp(kf, b, sizeof(b)) == KS_KEYFILE_BYTES);
	CHECK(memcmp(a, b, KS_KEYFILE_BYTES) == 0);
	/* A dangling symlink is not followed. */
	{
		char *link = join(dir, "link");
		char *target = join(dir, "target");

		CHECK(symlink(target, link) == 0);
		CHECK_RET(keystore_keyfile_create(link), -EEXIST);
		CHECK(access(target, F_OK) != 0);
		free(target);
		free(link);
	}
	free(kf);
	free(dir);
}

static void test_keyfile_size(void)
{
	char *dir = test_tmpdir("ks-kf-size");
	char *path = join(dir, "id.key");
	char *kf = join(dir, "kek");
	struct mu_identity *id = NULL, *got = NULL;
	uint8_t key[KS_KEYFILE_BYTES + 1];

	randombytes_buf(key, sizeof(key));
	CHECK_OK(identity_generate(&id));
	spit(kf, key, KS_KEYFILE_BYTES, 0600);
	CHECK_OK(keystore_save(path, id, &KEYFILE(kf)));
	spit(kf, key, KS_KEYFILE_BYTES - 1, 0600);
	CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_FORMAT);
	spit(kf, key, KS_KEYFILE_BYTES + 1, 0600);
	CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_FORMAT);
	spit(kf, key, 0, 0600);
	CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_FORMAT);
	CHECK(got == NULL);
	spit(kf, key, KS_KEYFILE_BYTES, 0600);
	CHECK_OK(keystore_load(&got, path, &KEYFILE(kf)));
	identity_free(got);
	identity_free(id);
	free(kf);
	free(path);
	free(dir);
}

static void test_keyfile_not_regular(void)
{
	char *dir = test_tmpdir("ks-kf-nreg");
	char *path = join(dir, "id.key");
	char *kf = join(dir, "kek");
	char *fifo = join(dir, "fifo");
	char *sub = join(dir, "sub");
	struct mu_identity *id = NULL, *got = NULL;

	CHECK_OK(identity_generate(&id));
	CHECK_OK(keystore_keyfile_create(kf));
	CHECK_OK(keystore_save(path, id, &KEYFILE(kf)));
	CHECK(mkfifo(fifo, 0600) == 0);
	CHECK(mkdir(sub, 0700) == 0);
	/* A FIFO must neither block the open nor be accepted. */
	CHECK_RET(keystore_load(&got, path, &KEYFILE(fifo)), MU_E_PERM);
	CHECK_RET(keystore_load(&got, path, &KEYFILE(sub)), MU_E_PERM);
	CHECK_RET(keystore_load(&got, fifo, &KEYFILE(kf)), MU_E_PERM);
	CHECK(got == NULL);
	identity_free(id);
	free(sub);
	free(fifo);
	free(kf);
	free(path);
	free(dir);
}

static void test_file_mode(void)
{
	char *dir = test_tmpdir("ks-file-mode");
	char *path = join(dir, "id.key");
	char *kf = join(dir, "kek");
	struct mu_identity *id = NULL, *got = NULL;
	uint8_t pk[MU_KEY_BYTES];

	CHECK_OK(identity_generate(&id));
	CHECK_OK(keystore_keyfile_create(kf));
	CHECK_OK(keystore_save(path, id, &KEYFILE(kf)));
	CHECK(chmod(path, 0644) == 0);
	CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_PERM);
	CHECK(got == NULL);
	CHECK(chmod(path, 0640) == 0);
	CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_PERM);
	CHECK(chmod(path, 0602) == 0);
	CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_PERM);
	/* The public key is not secret: peeking works whatever the mode. */
	CHECK(chmod(path, 0644) == 0);
	CHECK_OK(keystore_peek_pk(path, pk));
	CHECK(memcmp(pk, identity_sign_pk(id), MU_KEY_BYTES) == 0);
	/* Saving again replaces the file with a fresh 0600 one. */
	CHECK_OK(keystore_save(path, id, &KEYFILE(kf)));
	CHECK(mode_of(path) == 0600);
	CHECK_OK(keystore_load(&got, path, &KEYFILE(kf)));
	check_same(id, got);
	identity_free(got);
	identity_free(id);
	free(kf);
	free(path);
	free(dir);
}

/* Every proper prefix of a valid file, for both wraps, fails to load and to
 * peek (the parser must check each length, not trust the file). */
static void test_file_truncated(void)
{
	char *dir = test_tmpdir("ks-trunc");
	char *path = join(dir, "id.key");
	char *cut = join(dir, "cut.key");
	char *kf = join(dir, "kek");
	struct mu_identity *id = NULL, *got = NULL;
	struct ks_unlock unlocks[2];
	uint8_t buf[FILE_CAP], pk[MU_KEY_BYTES];
	size_t len;

	unlocks[0] = FAST_PASS("pw");
	unlocks[1] = KEYFILE(kf);
	CHECK_OK(identity_generate(&id));
	CHECK_OK(keystore_keyfile_create(kf));
	for (size_t w = 0; w < 2; w++) {
		CHECK_OK(keystore_save(path, id, &unlocks[w]));
		len = slurp(path, buf, sizeof(buf));
		CHECK(len == (w == 0 ? PP_LEN : KF_LEN));
		for (size_t n = 0; n < len; n++) {
			spit(cut, buf, n, 0600);
			got = (struct mu_identity *)1; /* must be reset to NULL */
			CHECK(keystore_load(&got, cut, &unlocks[w]) != 0);
			CHECK(got == NULL);
			CHECK(keystore_peek_pk(cut, pk) != 0);
		}
		/* One byte too many is as bad as one too few. */
		buf[len] = 0;
		spit(cut, buf, len + 1, 0600);
		CHECK_RET(keystore_load(&got, cut, &unlocks[w]), MU_E_FORMAT);
		CHECK_RET(keystore_peek_pk(cut, pk), MU_E_FORMAT);
		/* The untouched bytes load. */
		spit(cut, buf, len, 0600);
		CHECK_OK(keystore_load(&got, cut, &unlocks[w]));
		identity_free(got);
		got = NULL;
	}
	identity_free(id);
	free(kf);
	free(cut);
	free(path);
	free(dir);
}

/* Any single flipped bit in header, public key, nonce, ciphertext or tag is
 * refused: the header and key are associated data of the AEAD. */
static void test_file_flipped(void)
{
	char *dir = test_tmpdir("ks-flip");
	char *path = join(dir, "id.key");
	char *bad = join(dir, "bad.key");
	char *kf = join(dir, "kek");
	struct mu_identity *id = NULL, *got = NULL;
	struct ks_unlock unlocks[2];
	uint8_t buf[FILE_CAP];
	size_t len;

	unlocks[0] = FAST_PASS("pw");
	unlocks[1] = KEYFILE(kf);
	CHECK_OK(identity_generate(&id));
	CHECK_OK(keystore_keyfile_create(kf));
	for (size_t w = 0; w < 2; w++) {
		CHECK_OK(keystore_save(path, id, &unlocks[w]));
		len = slurp(path, buf, sizeof(buf));
		for (size_t i = 0; i < len; i++) {
			for (unsigned bit = 0; bit < 8; bit++) {
				uint64_t mem;

				buf[i] ^= (uint8_t)(1u << bit);
				mem = get_be64(buf + PP_OFF_MEM);
				spit(bad, buf, len, 0600);
				buf[i] ^= (uint8_t)(1u << bit);
				/* A flip to another in-bounds memlimit is refused by the
				 * AEAD after an Argon2 run; spare the test the large
				 * ones (up to 512 MiB). */
				if (w == 0 && i >= PP_OFF_MEM && i < PP_OFF_MEM + 8 && mem > (1u << 20) &&
				    mem <= KS_MEMLIMIT_MAX)
					continue;
				CHECK(keystore_load(&got, bad, &unlocks[w]) != 0);
				CHECK(got == NULL);
			}
		}
	}
	identity_free(id);
	free(kf);
	free(bad);
	free(path);
	free(dir);
}

static void test_file_version(void)
{
	char *dir = test_tmpdir("ks-version");
	char *path = join(dir, "id.key");
	char *kf = join(dir, "kek");
	struct mu_identity *id = NULL, *got = NULL;
	uint8_t buf[FILE_CAP], pk[MU_KEY_BYTES];
	size_t len;

	CHECK_OK(identity_generate(&id));
	CHECK_OK(keystore_keyfile_create(kf));
	CHECK_OK(keystore_save(path, id, &KEYFILE(kf)));
	len = slurp(path, buf, sizeof(buf));
	buf[OFF_VERSION] = 2;
	spit(path, buf, len, 0600);
	CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_VERSION);
	CHECK_RET(keystore_peek_pk(path, pk), MU_E_VERSION);
	buf[OFF_VERSION] = 1;
	buf[OFF_WRAP] = 3;
	spit(path, buf, len, 0600);
	CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_FORMAT);
	buf[OFF_WRAP] = 0;
	spit(path, buf, len, 0600);
	CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_FORMAT);
	buf[0] = 'N';
	buf[OFF_WRAP] = KS_WRAP_KEYFILE;
	spit(path, buf, len, 0600);
	CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_FORMAT);
	CHECK(got == NULL);
	identity_free(id);
	free(kf);
	free(path);
	free(dir);
}

static void test_wrap_mismatch(void)
{
	char *dir = test_tmpdir("ks-mismatch");
	char *pp = join(dir, "pp.key");
	char *kfid = join(dir, "kf.key");
	char *kf = join(dir, "kek");
	struct mu_identity *id = NULL, *got = NULL;

	CHECK_OK(identity_generate(&id));
	CHECK_OK(keystore_keyfile_create(kf));
	CHECK_OK(keystore_save(pp, id, &FAST_PASS("pw")));
	CHECK_OK(keystore_save(kfid, id, &KEYFILE(kf)));
	CHECK_RET(keystore_load(&got, pp, &KEYFILE(kf)), MU_E_MISMATCH);
	CHECK_RET(keystore_load(&got, kfid, &FAST_PASS("pw")), MU_E_MISMATCH);
	CHECK(got == NULL);
	identity_free(id);
	free(kf);
	free(kfid);
	free(pp);
	free(dir);
}

/* A crafted cost is refused while parsing, before any Argon2 run or
 * allocation. The in-bounds edge (1 GiB) is checked with peek and a
 * mismatched unlock, so no gigabyte is ever allocated here. */
static void test_kdf_bounds(void)
{
	static const struct {
		uint64_t ops, mem;
		int want;
	} cases[] = {
	    {2, 1ull << 40, MU_E_FORMAT},
	    {2, UINT64_MAX, MU_E_FORMAT},
	    {2, (1ull << 30) + 1, MU_E_FORMAT},
	    {2, 8191, MU_E_FORMAT},
	    {2, 0, MU_E_FORMAT},
	    {33, 8192, MU_E_FORMAT},
	    {UINT64_MAX, 8192, MU_E_FORMAT},
	    {0, 8192, MU_E_FORMAT},
	    {32, 1ull << 30, 0},
	    {1, 8192, 0},
	};
	char *dir = test_tmpdir("ks-kdf");
	char *path = join(dir, "id.key");
	char *kf = join(dir, "kek");
	struct mu_identity *id = NULL, *got = NULL;
	uint8_t buf[FILE_CAP], pk[MU_KEY_BYTES];
	size_t len;

	CHECK_OK(identity_generate(&id));
	CHECK_OK(keystore_keyfile_create(kf));
	CHECK_OK(keystore_save(path, id, &FAST_PASS("pw")));
	len = slurp(path, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put_be64(buf + PP_OFF_OPS, cases[i].ops);
		put_be64(buf + PP_OFF_MEM, cases[i].mem);
		spit(path, buf, len, 0600);
		CHECK_RET(keystore_peek_pk(path, pk), cases[i].want);
		if (cases[i].want) {
			CHECK_RET(keystore_load(&got, path, &FAST_PASS("pw")), cases[i].want);
		} else {
			CHECK(memcmp(pk, identity_sign_pk(id), MU_KEY_BYTES) == 0);
			CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_MISMATCH);
		}
		CHECK(got == NULL);
	}
	/* Changing the stored cost to another in-bounds value derives another
	 * key: the header is bound to the ciphertext. */
	put_be64(buf + PP_OFF_OPS, 2);
	put_be64(buf + PP_OFF_MEM, 8192);
	spit(path, buf, len, 0600);
	CHECK_RET(keystore_load(&got, path, &FAST_PASS("pw")), MU_E_PASS);
	identity_free(id);
	free(kf);
	free(path);
	free(dir);
}

/* Re-wraps secret under the key file's key with the stored public key
 * replaced by pk, as someone holding the key file could. */
static void forge_ad(const char *path, const char *kf, const uint8_t *secret, const uint8_t *pk,
		     int bind_header)
{
	uint8_t buf[FILE_CAP], kek[KS_KEYFILE_BYTES + 1];
	size_t len = slurp(path, buf, sizeof(buf));

	CHECK(len == KF_LEN);
	CHECK(slurp(kf, kek, sizeof(kek)) == KS_KEYFILE_BYTES);
	memcpy(buf + KF_OFF_PK, pk, MU_KEY_BYTES);
	CHECK(crypto_aead_xchacha20poly1305_ietf_encrypt(
		  buf + KF_OFF_CT, NULL, secret, MU_IDENTITY_SECRET_BYTES, bind_header ? buf : NULL,
		  bind_header ? KF_OFF_NONCE : 0, NULL, buf + KF_OFF_NONCE, kek) == 0);
	sodium_memzero(kek, sizeof(kek));
	spit(path, buf, len, 0600);
}

static void forge(const char *path, const char *kf, const uint8_t *secret, const uint8_t *pk)
{
	forge_ad(path, kf, secret, pk, 1);
}

static void test_pk_mismatch(void)
{
	char *dir = test_tmpdir("ks-pk");
	char *path = join(dir, "id.key");
	char *kf = join(dir, "kek");
	struct mu_identity *id = NULL, *other = NULL, *got = NULL;
	uint8_t *secret = sodium_malloc(MU_IDENTITY_SECRET_BYTES);

	CHECK(secret);
	CHECK_OK(identity_generate(&id));
	CHECK_OK(identity_generate(&other));
	CHECK_OK(keystore_keyfile_create(kf));
	CHECK_OK(keystore_save(path, id, &KEYFILE(kf)));
	identity_export_secret(id, secret);

	/* The forgery itself is well-formed: the unchanged key loads. */
	forge(path, kf, secret, identity_sign_pk(id));
	CHECK_OK(keystore_load(&got, path, &KEYFILE(kf)));
	identity_free(got);
	got = NULL;

	/* Wrapped without the header and public key as associated data. */
	forge_ad(path, kf, secret, identity_sign_pk(id), 0);
	CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_PASS);
	CHECK(got == NULL);

	/* Stored public key belongs to someone else. */
	forge(path, kf, secret, identity_sign_pk(other));
	CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_FORMAT);
	CHECK(got == NULL);

	/* Ed25519 secret key whose public half disagrees with its seed, with
	 * the stored key matching the seed, then matching the public half. */
	memcpy(secret + 32, identity_sign_pk(other), MU_KEY_BYTES);
	forge(path, kf, secret, identity_sign_pk(id));
	CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_FORMAT);
	CHECK(got == NULL);
	forge(path, kf, secret, identity_sign_pk(other));
	CHECK_RET(keystore_load(&got, path, &KEYFILE(kf)), MU_E_FORMAT);
	CHECK(got == NULL);

	sodium_free(secret);
	identity_free(other);
	identity_free(id);
	free(kf);
	free(path);
	free(dir);
}

static void test_peek(void)
{
	char *dir = test_tmpdir("ks-peek");
	char *pp = join(dir, "pp.key");
	char *kfid = join(dir, "kf.key");
	char *kf = join(dir, "kek");
	struct mu_identity *id = NULL;
	uint8_t pk[MU_KEY_BYTES];
	uint8_t zero[MU_KEY_BYTES] = {0};

	CHECK_OK(identity_generate(&id));
	CHECK_OK(keystore_keyfile_create(kf));
	CHECK_OK(keystore_save(pp, id, &FAST_PASS("pw")));
	CHECK_OK(keystore_save(kfid, id, &KEYFILE(kf)));
	CHECK_OK(keystore_peek_pk(pp, pk));
	CHECK(memcmp(pk, identity_sign_pk(id), MU_KEY_BYTES) == 0);
	memset(pk, 0, sizeof(pk));
	CHECK_OK(keystore_peek_pk(kfid, pk));
	CHECK(memcmp(pk, identity_sign_pk(id), MU_KEY_BYTES) == 0);
	CHECK_RET(keystore_peek_pk(kf, pk), MU_E_FORMAT); /* a key file is not an identity file */
	CHECK(memcmp(pk, zero, MU_KEY_BYTES) == 0);
	CHECK_RET(keystore_peek_pk(dir, pk), MU_E_PERM);
	free(kf);
	kf = join(dir, "missing");
	CHECK_RET(keystore_peek_pk(kf, pk), -ENOENT);
	identity_free(id);
	free(kf);
	free(kfid);
	free(pp);
	free(dir);
}

static void test_save_replaces(void)
{
	char *dir = test_tmpdir("ks-replace");
	char *path = join(dir, "id.key");
	struct mu_identity *a = NULL, *b = NULL, *got = NULL;

	CHECK_OK(identity_generate(&a));
	CHECK_OK(identity_generate(&b));
	CHECK_OK(keystore_save(path, a, &FAST_PASS("pw")));
	CHECK_OK(keystore_save(path, b, &FAST_PASS("pw2")));
	CHECK(count_entries(dir) == 1);
	CHECK_RET(keystore_load(&got, path, &FAST_PASS("pw")), MU_E_PASS);
	CHECK_OK(keystore_load(&got, path, &FAST_PASS("pw2")));
	check_same(b, got);
	identity_free(got);
	identity_free(b);
	identity_free(a);
	free(path);
	free(dir);
}

static const struct test tests[] = {
    {"/keystore/passphrase/roundtrip", test_passphrase_roundtrip},
    {"/keystore/passphrase/wrong", test_passphrase_wrong},
    {"/keystore/passphrase/cost-refused", test_passphrase_cost_refused},
    {"/keystore/keyfile/roundtrip", test_keyfile_roundtrip},
    {"/keystore/keyfile/wrong", test_keyfile_wrong},
    {"/keystore/keyfile/mode", test_keyfile_mode},
    {"/keystore/keyfile/create-twice", test_keyfile_create_twice},
    {"/keystore/keyfile/size", test_keyfile_size},
    {"/keystore/keyfile/not-regular", test_keyfile_not_regular},
    {"/keystore/file/mode", test_file_mode},
    {"/keystore/kdf/bounds", test_kdf_bounds},
    {"/keystore/file/truncated", test_file_truncated},
    {"/keystore/file/flipped", test_file_flipped},
    {"/keystore/file/version", test_file_version},
    {"/keystore/file/wrap-mismatch", test_wrap_mismatch},
    {"/keystore/file/pk-mismatch", test_pk_mismatch},
    {"/keystore/peek/matches", test_peek},
    {"/keystore/save/replaces", test_save_replaces},
};

TEST_MAIN(tests)
