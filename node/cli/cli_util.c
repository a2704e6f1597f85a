#include "cli_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "hex.h"
#include "json.h"

#define PASS_MAX 256

int cli_read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n;
	int ret = 0;

	*out = NULL;
	if (!f)
		return -errno;
	buf = malloc(max + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		ret = -EIO;
		goto out;
	}
	if (n > max) {
		ret = -EFBIG;
		goto out;
	}
	*out = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	fclose(f);
	return ret;
}

int cli_write_file(const char *path, const void *data, size_t len, unsigned mode)
{
	char *tmp = NULL;
	int fd = -1, ret = 0;

	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (write(fd, data, len) != (ssize_t)len || fsync(fd)) {
		ret = -errno ? -errno : -EIO;
		goto out;
	}
	if (close(fd)) {
		fd = -1;
		ret = -errno;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path))
		ret = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (ret)
		unlink(tmp);
	free(tmp);
	return ret;
}

static int read_tty_line(const char *prompt, char *buf, size_t cap)
{
	struct termios old, quiet;
	FILE *tty = fopen("/dev/tty", "r+");
	int ret = 0;

	if (!tty)
		return -ENOTTY;
	fputs(prompt, tty);
	fflush(tty);
	tcgetattr(fileno(tty), &old);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	if (!fgets(buf, (int)cap, tty))
		ret = -EIO;
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	buf[strcspn(buf, "\r\n")] = 0;
	return ret;
}

int cli_unlock_prepare(struct cli_unlock *u, int confirm)
{
	char *again = NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	int ret = 0;

	if (u->keyfile) {
		u->ks = (struct ks_unlock){ .wrap = KS_WRAP_KEYFILE, .secret = u->keyfile };
		return 0;
	}
	u->pass = sodium_malloc(PASS_MAX + 1);
	if (!u->pass)
		return -ENOMEM;
	if (u->passfile) {
		ret = cli_read_file(u->passfile, PASS_MAX, &data, &len);
		if (ret)
			goto out;
		memcpy(u->pass, data, len);
		u->pass[len] = 0;
		u->pass[strcspn(u->pass, "\r\n")] = 0;
	} else {
		ret = read_tty_line("Passphrase: ", u->pass, PASS_MAX + 1);
		if (ret)
			goto out;
		if (confirm) {
			again = sodium_malloc(PASS_MAX + 1);
			if (!again) {
				ret = -ENOMEM;
				goto out;
			}
			ret = read_tty_line("Passphrase again: ", again, PASS_MAX + 1);
			if (!ret && strcmp(again, u->pass))
				ret = MU_E_PASS;
		}
	}
	if (!ret && !*u->pass)
		ret = MU_E_PASS;
	u->ks = (struct ks_unlock){ .wrap = KS_WRAP_PASSPHRASE, .secret = u->pass };
out:
	if (data) {
		sodium_memzero(data, len);
		free(data);
	}
	sodium_free(again);
	return ret;
}

void cli_unlock_free(struct cli_unlock *u)
{
	sodium_free(u->pass);
	u->pass = NULL;
}

int cli_write_pub(const char *path, const struct mu_identity *id)
{
	char s[65], k[65], text[200];
	int n;

	hex_encode(s, identity_sign_pk(id), 32);
	hex_encode(k, identity_kx_pk(id), 32);
	n = snprintf(text, sizeof(text), "muster-pub 1\nsign %s\nkx %s\n", s, k);
	return cli_write_file(path, text, (size_t)n, 0644);
}

int cli_read_pub(const char *path, uint8_t sign_pk[static 32], uint8_t kx_pk[static 32])
{
	uint8_t *data = NULL;
	size_t len;
	char s[65], k[65];
	int ret = cli_read_file(path, 1024, &data, &len);

	if (ret)
		return ret;
	data[len] = 0;
	if (sscanf((char *)data, "muster-pub 1\nsign %64s\nkx %64s", s, k) != 2 ||
	    hex_decode(sign_pk, 32, s) || hex_decode(kx_pk, 32, k))
		ret = MU_E_FORMAT;
	free(data);
	return ret;
}

void json_str(FILE *f, const char *s)
{
	char *q = json_quote(s);

	fputs(q ? q : "null", f);
	free(q);
}

void json_hex(FILE *f, const uint8_t *p, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
	fputc('"', f);
}

const char *cli_fmt_time(char *buf, size_t cap, uint64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char when[32] = "?";

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf, cap, "%llu (%s UTC)", (unsigned long long)ms, when);
	return buf;
}
