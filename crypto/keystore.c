#include "keystore.h"

#include <sodium.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "wire.h"

/* File layout (docs/keystore.md):
 *   "MUSTERSK" | version u8 | wrap u8 |
 *   [wrap 1: opslimit u64 | memlimit u64 | salt 16] |
 *   sign_pk 32 | nonce 24 | XChaCha20-Poly1305(secret 96) + tag 16
 * Everything before the nonce is the associated data. */
#define KS_MAGIC         "MUSTERSK"
#define KS_MAGIC_BYTES   8
#define KS_VERSION       1
#define KS_SALT_BYTES    crypto_pwhash_SALTBYTES
#define KS_NONCE_BYTES   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define KS_KEK_BYTES     crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define KS_CT_BYTES      (MU_IDENTITY_SECRET_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define KS_AD_KEYFILE    (KS_MAGIC_BYTES + 2 + MU_KEY_BYTES)
#define KS_AD_PASSPHRASE (KS_MAGIC_BYTES + 2 + 8 + 8 + KS_SALT_BYTES + MU_KEY_BYTES)
#define KS_FILE_MAX      (KS_AD_PASSPHRASE + KS_NONCE_BYTES + KS_CT_BYTES)

_Static_assert(KS_KEK_BYTES == KS_KEYFILE_BYTES, "key file holds the KEK");
_Static_assert(KS_SALT_BYTES == 16, "salt size is part of the format");
_Static_assert(KS_NONCE_BYTES == 24, "nonce size is part of the format");
_Static_assert(KS_FILE_MAX == 210, "file size");
_Static_assert(KS_MEMLIMIT_MAX <= SIZE_MAX, "memlimit fits size_t");
_Static_assert(KS_MEMLIMIT_MIN >= crypto_pwhash_argon2id_MEMLIMIT_MIN, "memlimit min");
_Static_assert(KS_OPSLIMIT_MIN >= crypto_pwhash_argon2id_OPSLIMIT_MIN, "opslimit min");

/* A parsed identity file. The pointers point into the parsed buffer and live
 * as long as it does; the associated data is buf[0..ad_len). */
struct ks_file {
	uint8_t wrap;
	uint64_t opslimit;
	uint64_t memlimit;
	const uint8_t *salt; /* NULL unless wrap is KS_WRAP_PASSPHRASE */
	const uint8_t *pk;
	const uint8_t *nonce;
	const uint8_t *ct;
	size_t ad_len;
};

static int ks_parse(struct ks_file *f, const uint8_t *buf, size_t len)
{
	struct rd rd = rd_make(buf, len);
	const uint8_t *magic;
	uint8_t version;
	int ret;

	memset(f, 0, sizeof(*f));
	if ((ret = rd_slice(&rd, KS_MAGIC_BYTES, &magic)))
		goto out;
	if (memcmp(magic, KS_MAGIC, KS_MAGIC_BYTES)) {
		ret = MU_E_FORMAT;
		goto out;
	}
	if ((ret = rd_u8(&rd, &version)))
		goto out;
	if (version != KS_VERSION) {
		ret = MU_E_VERSION;
		goto out;
	}
	if ((ret = rd_u8(&rd, &f->wrap)))
		goto out;
	switch (f->wrap) {
	case KS_WRAP_PASSPHRASE:
		if ((ret = rd_u64(&rd, &f->opslimit)) || (ret = rd_u64(&rd, &f->memlimit)) ||
		    (ret = rd_slice(&rd, KS_SALT_BYTES, &f->salt)))
			goto out;
		/* Bounded before any Argon2 run: a crafted file must not make us
		 * allocate gigabytes or spin for minutes. */
		if (f->opslimit < KS_OPSLIMIT_MIN || f->opslimit > KS_OPSLIMIT_MAX ||
		    f->memlimit < KS_MEMLIMIT_MIN || f->memlimit > KS_MEMLIMIT_MAX) {
			ret = MU_E_FORMAT;
			goto out;
		}
		break;
	case KS_WRAP_KEYFILE:
		break;
	default:
		ret = MU_E_FORMAT;
		goto out;
	}
	if ((ret = rd_slice(&rd, MU_KEY_BYTES, &f->pk)))
		goto out;
	f->ad_len = len - rd.len;
	if ((ret = rd_slice(&rd, KS_NONCE_BYTES, &f->nonce)) || (ret = rd_slice(&rd, KS_CT_BYTES, &f->ct)) ||
	    (ret = rd_end(&rd)))
		goto out;
out:
	if (ret)
		memset(f, 0, sizeof(*f));
	return ret;
}

/* Writes everything up to and including the public key (the associated
 * data). The caller checks wr_finish(). */
static void ks_write_header(struct wr *wr, const struct ks_file *f)
{
	wr_bytes(wr, KS_MAGIC, KS_MAGIC_BYTES);
	wr_u8(wr, KS_VERSION);
	wr_u8(wr, f->wrap);
	if (f->wrap == KS_WRAP_PASSPHRASE) {
		wr_u64(wr, f->opslimit);
		wr_u64(wr, f->memlimit);
		wr_bytes(wr, f->salt, KS_SALT_BYTES);
	}
	wr_bytes(wr, f->pk, MU_KEY_BYTES);
}

static int read_all(int fd, uint8_t *buf, size_t cap, size_t *n)
{
	*n = 0;
	while (*n < cap) {
		ssize_t r = read(fd, buf + *n, cap - *n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		*n += (size_t)r;
	}
	return 0;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Opens a file for reading and checks it is a regular file; with secret set,
 * also that it is owned by us or by root (only root could have made it so)
 * and that group/other have no access. The check is on the opened
 * descriptor (no race with the path) and on st_mode, so it holds for root
 * too, who would never see EACCES. O_NONBLOCK keeps a FIFO planted at the
 * path from blocking the open. */
static int open_checked(const char *path, int secret, int *fd_out)
{
	struct stat st;
	int fd = -1;
	int ret = 0;

	*fd_out = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = MU_E_PERM;
		goto out;
	}
	if (secret && ((st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & 077))) {
		ret = MU_E_PERM;
		goto out;
	}
	*fd_out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Reads a whole identity file (at most cap bytes are looked at; a longer
 * file fails to parse). */
static int read_identity_file(const char *path, int secret, uint8_t *buf, size_t cap, size_t *n)
{
	int fd = -1;
	int ret;

	*n = 0;
	if ((ret = open_checked(path, secret, &fd)))
		goto out;
	ret = read_all(fd, buf, cap, n);
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Reads a key file into kek (KS_KEK_BYTES of sodium_malloc'd memory). */
static int read_keyfile(const char *path, uint8_t *kek)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	int fd = -1;
	int ret;

	if ((ret = open_checked(path, 1, &fd)))
		goto out;
	/* One byte more than needed, to tell a longer file from an exact one. */
	buf = sodium_malloc(KS_KEYFILE_BYTES + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	if ((ret = read_all(fd, buf, KS_KEYFILE_BYTES + 1, &n)))
		goto out;
	if (n != KS_KEYFILE_BYTES) {
		ret = MU_E_FORMAT;
		goto out;
	}
	memcpy(kek, buf, KS_KEK_BYTES);
out:
	sodium_free(buf); /* wipes; NULL is fine */
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Derives the key-encryption key for f from u into kek (sodium_malloc'd). */
static int ks_derive_kek(uint8_t *kek, const struct ks_file *f, const struct ks_unlock *u)
{
	switch ((enum ks_wrap)f->wrap) {
	case KS_WRAP_PASSPHRASE:
		if (crypto_pwhash(kek, KS_KEK_BYTES, u->secret, strlen(u->secret), f->salt, f->opslimit,
				  (size_t)f->memlimit, crypto_pwhash_ALG_ARGON2ID13))
			return MU_E_CRYPTO; /* out of memory: the bounds are checked already */
		return 0;
	case KS_WRAP_KEYFILE:
		return read_keyfile(u->secret, kek);
	}
	return MU_E_FORMAT;
}

/* Unwraps a parsed file (buf is the buffer f was parsed from) with kek and
 * checks that the keys belong to the stored public key. *out is set only on
 * success. */
static int ks_unwrap(struct mu_identity **out, const struct ks_file *f, const uint8_t *buf,
		     const uint8_t *kek)
{
	struct mu_identity *id = NULL;
	uint8_t *secret = NULL;
	uint8_t *sk = NULL;
	uint8_t pk[MU_KEY_BYTES];
	unsigned long long n = 0;
	int ret = 0;

	*out = NULL;
	secret = sodium_malloc(MU_IDENTITY_SECRET_BYTES);
	sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (!secret || !sk) {
		ret = -ENOMEM;
		goto out;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(secret, &n, NULL, f->ct, KS_CT_BYTES, buf, f->ad_len,
						       f->nonce, kek) ||
	    n != MU_IDENTITY_SECRET_BYTES) {
		ret = MU_E_PASS;
		goto out;
	}
	/* An Ed25519 secret key carries its public half; rebuild the whole key
	 * from the seed so that both the stored public key and the secret key's
	 * own public half must match it. A key whose halves disagree could leak
	 * the secret key through its signatures. */
	crypto_sign_seed_keypair(pk, sk, secret);
	if (sodium_memcmp(pk, f->pk, MU_KEY_BYTES) || sodium_memcmp(sk, secret, crypto_sign_SECRETKEYBYTES)) {
		ret = MU_E_FORMAT;
		goto out;
	}
	if ((ret = identity_import_secret(&id, secret)))
		goto out;
	*out = id;
	id = NULL;
out:
	identity_free(id);
	sodium_free(sk);
	sodium_free(secret);
	return ret;
}

static int fsync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = NULL;
	int fd = -1;
	int ret = 0;

	if (!slash)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (!dir) {
		ret = -ENOMEM;
		goto out;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		ret = -errno;
out:
	if (fd >= 0)
		close(fd);
	free(dir);
	return ret;
}

int keystore_keyfile_create(const char *path)
{
	uint8_t *key = NULL;
	int created = 0;
	int fd = -1;
	int ret = 0;

	if ((ret = mu_crypto_init()))
		goto out;
	key = sodium_malloc(KS_KEYFILE_BYTES);
	if (!key) {
		ret = -ENOMEM;
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	created = 1;
	/* The umask can only remove bits; fchmod makes the mode exactly 0600
	 * so the owner can always read the key back. */
	if (fchmod(fd, 0600)) {
		ret = -errno;
		goto out;
	}
	randombytes_buf(key, KS_KEYFILE_BYTES);
	if ((ret = write_all(fd, key, KS_KEYFILE_BYTES)))
		goto out;
	if (fsync(fd)) {
		ret = -errno;
		goto out;
	}
	ret = close(fd) ? -errno : 0;
	fd = -1;
	if (ret)
		goto out;
	ret = fsync_dir_of(path);
out:
	if (fd >= 0)
		close(fd);
	if (ret && created)
		unlink(path);
	sodium_free(key);
	return ret;
}

int keystore_save(const char *path, const struct mu_identity *id, const struct ks_unlock *u)
{
	uint8_t file[KS_FILE_MAX];
	uint8_t salt[KS_SALT_BYTES];
	uint8_t nonce[KS_NONCE_BYTES];
	struct ks_file f = {0};
	struct wr wr;
	uint8_t *kek = NULL;
	uint8_t *secret = NULL;
	char *tmp = NULL;
	int fd = -1;
	int len;
	int ret = 0;

	if (!path || !id || !u || !u->secret) {
		ret = -EINVAL;
		goto out;
	}
	if ((ret = mu_crypto_init()))
		goto out;
	f.wrap = (uint8_t)u->wrap;
	f.pk = identity_sign_pk(id);
	switch (u->wrap) {
	case KS_WRAP_PASSPHRASE:
		f.opslimit = u->opslimit ? u->opslimit : crypto_pwhash_OPSLIMIT_INTERACTIVE;
		f.memlimit = u->memlimit ? u->memlimit : crypto_pwhash_MEMLIMIT_INTERACTIVE;
		if (!*u->secret || f.opslimit < KS_OPSLIMIT_MIN || f.opslimit > KS_OPSLIMIT_MAX ||
		    f.memlimit < KS_MEMLIMIT_MIN || f.memlimit > KS_MEMLIMIT_MAX) {
			ret = MU_E_CONFIG;
			goto out;
		}
		randombytes_buf(salt, sizeof(salt));
		f.salt = salt;
		break;
	case KS_WRAP_KEYFILE:
		break;
	default:
		ret = -EINVAL;
		goto out;
	}
	kek = sodium_malloc(KS_KEK_BYTES);
	secret = sodium_malloc(MU_IDENTITY_SECRET_BYTES);
	if (!kek || !secret) {
		ret = -ENOMEM;
		goto out;
	}
	if ((ret = ks_derive_kek(kek, &f, u)))
		goto out;

	wr = wr_make(file, sizeof(file));
	ks_write_header(&wr, &f);
	f.ad_len = wr.len;
	randombytes_buf(nonce, sizeof(nonce));
	wr_bytes(&wr, nonce, sizeof(nonce));
	if ((len = wr_finish(&wr)) < 0 || (size_t)len + KS_CT_BYTES > sizeof(file)) {
		ret = len < 0 ? len : MU_E_TOOBIG;
		goto out;
	}
	identity_export_secret(id, secret);
	crypto_aead_xchacha20poly1305_ietf_encrypt(file + len, NULL, secret, MU_IDENTITY_SECRET_BYTES, file,
						   f.ad_len, NULL, nonce, kek);
	len += KS_CT_BYTES;

	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0) {
		tmp = NULL;
		ret = -ENOMEM;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, 0600)) {
		ret = -errno;
		goto out;
	}
	if ((ret = write_all(fd, file, (size_t)len)))
		goto out;
	if (fsync(fd)) {
		ret = -errno;
		goto out;
	}
	ret = close(fd) ? -errno : 0;
	fd = -1;
	if (ret)
		goto out;
	if (rename(tmp, path)) {
		ret = -errno;
		goto out;
	}
	free(tmp);
	tmp = NULL; /* renamed: nothing to clean up */
	ret = fsync_dir_of(path);
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	sodium_free(secret);
	sodium_free(kek);
	sodium_memzero(file, sizeof(file));
	return ret;
}

int keystore_load(struct mu_identity **out, const char *path, const struct ks_unlock *u)
{
	uint8_t file[KS_FILE_MAX + 1];
	struct ks_file f;
	uint8_t *kek = NULL;
	size_t n = 0;
	int ret = 0;

	*out = NULL;
	if (!path || !u || !u->secret) {
		ret = -EINVAL;
		goto out;
	}
	if ((ret = mu_crypto_init()))
		goto out;
	if ((ret = read_identity_file(path, 1, file, sizeof(file), &n)) || (ret = ks_parse(&f, file, n)))
		goto out;
	if (f.wrap != u->wrap) {
		ret = MU_E_MISMATCH;
		goto out;
	}
	kek = sodium_malloc(KS_KEK_BYTES);
	if (!kek) {
		ret = -ENOMEM;
		goto out;
	}
	if ((ret = ks_derive_kek(kek, &f, u)))
		goto out;
	ret = ks_unwrap(out, &f, file, kek);
out:
	sodium_free(kek);
	return ret;
}

int keystore_peek_pk(const char *path, uint8_t pk[static MU_KEY_BYTES])
{
	uint8_t file[KS_FILE_MAX + 1];
	struct ks_file f;
	size_t n = 0;
	int ret;

	memset(pk, 0, MU_KEY_BYTES);
	if ((ret = read_identity_file(path, 0, file, sizeof(file), &n)) || (ret = ks_parse(&f, file, n)))
		goto out;
	memcpy(pk, f.pk, MU_KEY_BYTES);
out:
	return ret;
}
