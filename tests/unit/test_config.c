#include "testutil.h"

#include <errno.h>
#include <unistd.h>

#include "config.h"

/* Runs fn with stderr captured to a temp file; returns what was logged
 * (caller frees). */
static char *capture_stderr(int (*fn)(void *), void *arg, int *ret)
{
	FILE *tmp = tmpfile();
	int saved = dup(2);
	char *buf = calloc(1, 8192);
	size_t n;

	CHECK(tmp && saved >= 0 && buf);
	fflush(stderr);
	CHECK(dup2(fileno(tmp), 2) == 2);
	*ret = fn(arg);
	fflush(stderr);
	CHECK(dup2(saved, 2) == 2);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, 8191, tmp);
	buf[n] = 0;
	fclose(tmp);
	return buf;
}

static char *dirname_of(const char *file)
{
	static char dir[4096];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", file);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		strcpy(dir, ".");
	return dir;
}

struct parse_arg {
	const char *text;
	struct config *c;
};

static int do_parse(void *p)
{
	struct parse_arg *a = p;

	return config_parse(&a->c, a->text);
}

/* Expects text to fail with MU_E_CONFIG and a message naming line and
 * containing what. */
static void expect_error(const char *text, unsigned line, const char *what)
{
	struct parse_arg a = {.text = text};
	char where[32];
	char *log;
	int ret;

	log = capture_stderr(do_parse, &a, &ret);
	snprintf(where, sizeof(where), "<string>:%u:", line);
	if (ret != MU_E_CONFIG || !strstr(log, where) || !strstr(log, what)) {
		fprintf(stderr, "for %s\nret %d, log: %s\n", text, ret, log);
		CHECK(0);
	}
	CHECK(a.c == NULL);
	free(log);
}

static void test_default_parses(void)
{
	struct config *c = NULL;
	uint64_t v;

	CHECK_OK(config_load(&c, NULL));
	CHECK(!strcmp(config_str(c, "node", "data_dir", NULL), "/var/lib/muster"));
	CHECK(!strcmp(config_str(c, "node", "role", NULL), "field"));
	CHECK(!strcmp(config_str(c, "node", "debug", "x"), ""));
	CHECK(!strcmp(config_str(c, "tcp", "listen", NULL), "[::]:7420"));
	CHECK(!strcmp(config_str(c, "control", "socket", NULL), "/run/muster/muster.sock"));
	CHECK_OK(config_u64(c, "store", "quota_bytes", 1, 0, UINT64_MAX, &v));
	CHECK(v == 256ull << 20);
	CHECK_OK(config_u64(c, "store", "map_bytes", 1, 0, UINT64_MAX, &v));
	CHECK(v == 1ull << 30);
	CHECK_OK(config_u64(c, "tcp", "beacon_interval_ms", 1, 0, UINT64_MAX, &v));
	CHECK(v == 2000);
	CHECK(config_str(c, "trust", "ca", NULL) == NULL);
	CHECK(config_str(c, "nosuch", "key", "dflt")[0] == 'd');
	/* Default keys nobody read are not typos. */
	CHECK(config_warn_unused(c) == 0);
	config_free(c);
	CHECK(strstr(config_default_text, "[node]"));
}

/* docs/configuration.md shows the default verbatim and has a table row for
 * every key in it. */
static void test_default_documented(void)
{
	char *path = NULL, *doc = calloc(1, 65536), *start, *end;
	const char *p = config_default_text;
	FILE *f;

	CHECK(asprintf(&path, "%s/../../docs/configuration.md", dirname_of(__FILE__)) > 0);
	f = fopen(path, "r");
	CHECK(f);
	CHECK(fread(doc, 1, 65535, f) < 65535);
	fclose(f);
	start = strstr(doc, "```ini\n");
	CHECK(start);
	start += 7;
	end = strstr(start, "```");
	CHECK(end);
	*end = 0;
	CHECK(!strcmp(start, config_default_text));
	*end = '`';
	while (*p) {
		const char *nl = strchr(p, '\n'), *eq;
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char row[128];

		eq = memchr(p, '=', len);
		if (*p != '#' && *p != '[' && eq) {
			int klen = (int)(eq - p);

			while (klen && p[klen - 1] == ' ')
				klen--;
			snprintf(row, sizeof(row), "| `%.*s` |", klen, p);
			if (!strstr(doc, row)) {
				fprintf(stderr, "undocumented: %s\n", row);
				CHECK(0);
			}
		}
		p += len + (nl ? 1 : 0);
	}
	free(doc);
	free(path);
}

static void test_parse_ok(void)
{
	struct config *c = NULL;
	const char *text = "# comment\n"
			   "; also a comment\n"
			   "   \n"
			   "[ node ]\n"
			   "  role   =   hospital  \r\n"
			   "[x.y-z_1]\n"
			   "motd = hello world = yes ; not a comment\n"
			   "empty =\n"
			   "\t# indented comment\n"
			   "last = no newline";

	CHECK_OK(config_parse(&c, text));
	CHECK(!strcmp(config_str(c, "node", "role", NULL), "hospital"));
	CHECK(!strcmp(config_str(c, "x.y-z_1", "motd", NULL), "hello world = yes ; not a comment"));
	CHECK(!strcmp(config_str(c, "x.y-z_1", "empty", "d"), ""));
	CHECK(!strcmp(config_str(c, "x.y-z_1", "last", NULL), "no newline"));
	CHECK(config_warn_unused(c) == 0);
	config_free(c);
}

static void test_errors(void)
{
	char *long_line = malloc(CONFIG_LINE_MAX + 32);

	expect_error("[node]\nrole\n", 2, "missing '='");
	expect_error("# c\nrole = field\n", 2, "outside a section");
	expect_error("[node\n", 1, "bad section header");
	expect_error("[node]]\n", 1, "bad section header");
	expect_error("[]\n", 1, "bad section header");
	expect_error("[a b]\n", 1, "bad section header");
	expect_error("[node]\n= value\n", 2, "bad key name");
	expect_error("[node]\nbad key = value\n", 2, "bad key name");

	/* Longest allowed line: CONFIG_LINE_MAX - 1 characters. */
	memcpy(long_line, "[n]\nk=", 6);
	memset(long_line + 6, 'v', CONFIG_LINE_MAX - 1 - 2);
	long_line[6 + CONFIG_LINE_MAX - 3] = '\n';
	long_line[6 + CONFIG_LINE_MAX - 2] = 0;
	{
		struct config *c = NULL;

		CHECK_OK(config_parse(&c, long_line));
		CHECK(strlen(config_str(c, "n", "k", "")) == CONFIG_LINE_MAX - 3);
		config_free(c);
	}
	memset(long_line + 6, 'v', CONFIG_LINE_MAX - 1 - 1);
	strcpy(long_line + 6 + CONFIG_LINE_MAX - 2, "\n");
	expect_error(long_line, 2, "line too long");
	free(long_line);
}

/* Entries in the embedded default, counted independently of the parser. */
static int default_entries(void)
{
	const char *p = config_default_text;
	int n = 0;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (*p != '#' && *p != '[' && memchr(p, '=', len))
			n++;
		p += len + (nl ? 1 : 0);
	}
	return n;
}

static void test_too_many_entries(void)
{
	size_t cap = 16 * (CONFIG_ENTRIES_MAX + 10);
	char *text = malloc(cap);
	size_t len = 0;
	struct config *c = NULL;

	len += (size_t)snprintf(text + len, cap - len, "[bulk]\n");
	/* The default holds some entries too; the cap counts them all. */
	for (int i = 0; i < CONFIG_ENTRIES_MAX; i++)
		len += (size_t)snprintf(text + len, cap - len, "k%d = %d\n", i, i);
	expect_error(text, 1 + (unsigned)(CONFIG_ENTRIES_MAX - default_entries()) + 1, "too many entries");
	/* Fewer lines than the cap minus the default's entries parse. */
	len = (size_t)snprintf(text, cap, "[bulk]\n");
	for (int i = 0; i < CONFIG_ENTRIES_MAX / 2; i++)
		len += (size_t)snprintf(text + len, cap - len, "k%d = %d\n", i, i);
	CHECK_OK(config_parse(&c, text));
	config_free(c);
	free(text);
}

static int collect(void *ctx, const char *value)
{
	char *acc = ctx;

	strcat(acc, value);
	strcat(acc, "|");
	return !strcmp(value, "stop") ? 42 : 0;
}

static void test_repeated_keys(void)
{
	struct config *c = NULL;
	char acc[256] = "";

	CHECK_OK(
	    config_parse(&c, "[trust]\nca = /a.pub\nca = /b.pub\n[tcp]\npeer = x:1\n[trust]\nca = /c.pub\n"));
	CHECK_OK(config_each(c, "trust", "ca", collect, acc));
	CHECK(!strcmp(acc, "/a.pub|/b.pub|/c.pub|"));
	CHECK(!strcmp(config_str(c, "trust", "ca", NULL), "/c.pub"));
	acc[0] = 0;
	CHECK_OK(config_each(c, "trust", "none", collect, acc));
	CHECK(acc[0] == 0);
	config_free(c);

	CHECK_OK(config_parse(&c, "[t]\nv = a\nv = stop\nv = never\n"));
	CHECK(config_each(c, "t", "v", collect, acc) == 42);
	CHECK(!strcmp(acc, "a|stop|"));
	config_free(c);
}

static void test_layering(void)
{
	char *dir = test_tmpdir("config");
	char *path = NULL;
	struct config *c = NULL;
	uint64_t v;
	FILE *f;

	CHECK(asprintf(&path, "%s/muster.conf", dir) > 0);
	f = fopen(path, "w");
	CHECK(f);
	fputs("[node]\nrole = hospital\n[store]\nquota_count = 5000\n[tcp]\npeer = a:1\npeer = b:2\n", f);
	fclose(f);
	CHECK_OK(config_load(&c, path));
	CHECK(!strcmp(config_str(c, "node", "role", NULL), "hospital"));
	/* Untouched defaults survive. */
	CHECK(!strcmp(config_str(c, "node", "data_dir", NULL), "/var/lib/muster"));
	CHECK_OK(config_u64(c, "store", "quota_count", 0, 1, UINT64_MAX, &v));
	CHECK(v == 5000);
	config_free(c);

	/* A key repeated in the file keeps all its values (and the default's
	 * value is gone). */
	CHECK_OK(config_parse(&c, "[node]\ndata_dir = /srv/muster\ndata_dir = /srv/muster2\n"));
	CHECK(!strcmp(config_str(c, "node", "data_dir", NULL), "/srv/muster2"));
	{
		char acc[256] = "";

		CHECK_OK(config_each(c, "node", "data_dir", collect, acc));
		CHECK(!strcmp(acc, "/srv/muster|/srv/muster2|"));
	}
	config_free(c);

	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}

struct load_arg {
	const char *path;
	struct config *c;
};

static int do_load(void *p)
{
	struct load_arg *a = p;

	return config_load(&a->c, a->path);
}

/* The fgets path: longest line, a line one longer, a NUL byte, a directory. */
static void test_file_errors(void)
{
	char *dir = test_tmpdir("config");
	char *path = NULL, *log, *want = NULL;
	struct load_arg a = {0};
	FILE *f;
	int ret;

	CHECK(asprintf(&path, "%s/c.conf", dir) > 0);
	a.path = path;
	for (int extra = 0; extra < 2; extra++) {
		f = fopen(path, "w");
		CHECK(f);
		fputs("[n]\nk=", f);
		for (int i = 0; i < CONFIG_LINE_MAX - 3 + extra; i++)
			fputc('v', f);
		fputs("\nz = 1\n", f);
		fclose(f);
		log = capture_stderr(do_load, &a, &ret);
		if (!extra) {
			CHECK(ret == 0);
			CHECK(strlen(config_str(a.c, "n", "k", "")) == CONFIG_LINE_MAX - 3);
			config_free(a.c);
		} else {
			CHECK(ret == MU_E_CONFIG && a.c == NULL);
			free(want);
			CHECK(asprintf(&want, "%s:2: line too long", path) > 0);
			CHECK(strstr(log, want));
		}
		free(log);
	}
	/* Last line at the cap, no newline. */
	f = fopen(path, "w");
	CHECK(f);
	fputs("[n]\nk=", f);
	for (int i = 0; i < CONFIG_LINE_MAX - 2; i++)
		fputc('v', f);
	fclose(f);
	log = capture_stderr(do_load, &a, &ret);
	CHECK(ret == MU_E_CONFIG);
	free(log);

	f = fopen(path, "w");
	CHECK(f);
	{
		static const char nul[] = "[n]\nk = a\0b\nj = 1\n";

		fwrite(nul, 1, sizeof(nul) - 1, f);
	}
	fclose(f);
	log = capture_stderr(do_load, &a, &ret);
	CHECK(ret == MU_E_CONFIG);
	free(want);
	CHECK(asprintf(&want, "%s:2: NUL byte", path) > 0);
	CHECK(strstr(log, want));
	free(log);

	a.path = dir;
	log = capture_stderr(do_load, &a, &ret);
	CHECK(ret == -EISDIR && a.c == NULL);
	free(log);

	free(want);
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}

static void test_missing_file(void)
{
	struct config *c = (struct config *)1;

	CHECK_RET(config_load(&c, "/nonexistent/muster/muster.conf"), -ENOENT);
	CHECK(c == NULL);
}

struct u64_arg {
	struct config *c;
	const char *key;
	uint64_t min, max, v;
	int ret;
};

static int do_u64(void *p)
{
	struct u64_arg *a = p;

	return config_u64(a->c, "s", a->key, 99, a->min, a->max, &a->v);
}

static void test_bounds(void)
{
	struct config *c = NULL;
	struct u64_arg a;
	char *log;
	int ret, b;

	CHECK_OK(config_parse(&c, "[s]\nzero = 0\nbig = 18446744073709551615\nover = 18446744073709551616\n"
				  "k = 4k\nm = 3M\ng = 2G\nt = 1T\nneg = -1\nhex = 0x10\nspace = 1 2\n"
				  "huge = 17179869184G\nempty =\nyes = Yes\noff = off\nbad = maybe\n"));
	a = (struct u64_arg){.c = c, .key = "zero", .min = 0, .max = 10};
	CHECK_OK(do_u64(&a));
	CHECK(a.v == 0);
	a = (struct u64_arg){.c = c, .key = "big", .min = 0, .max = UINT64_MAX};
	CHECK_OK(do_u64(&a));
	CHECK(a.v == UINT64_MAX);
	a.key = "k";
	CHECK_OK(do_u64(&a));
	CHECK(a.v == 4096);
	a.key = "m";
	CHECK_OK(do_u64(&a));
	CHECK(a.v == 3ull << 20);
	a.key = "g";
	CHECK_OK(do_u64(&a));
	CHECK(a.v == 2ull << 30);
	a.key = "t";
	CHECK_OK(do_u64(&a));
	CHECK(a.v == 1ull << 40);
	a.key = "absent";
	CHECK_OK(do_u64(&a));
	CHECK(a.v == 99);
	a.key = "empty";
	CHECK_OK(do_u64(&a));
	CHECK(a.v == 99);

	static const char *const malformed[] = {"over", "neg", "hex", "space", "huge", "bad"};
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		a.key = malformed[i];
		log = capture_stderr(do_u64, &a, &ret);
		CHECK(ret == MU_E_CONFIG);
		CHECK(strstr(log, "not a number") && strstr(log, malformed[i]));
		free(log);
	}
	a = (struct u64_arg){.c = c, .key = "m", .min = 1, .max = 1024};
	log = capture_stderr(do_u64, &a, &ret);
	CHECK(ret == MU_E_CONFIG);
	CHECK(strstr(log, "[s] m = 3M: out of range 1..1024") && strstr(log, "<string>:"));
	free(log);
	a = (struct u64_arg){.c = c, .key = "zero", .min = 1, .max = 10};
	log = capture_stderr(do_u64, &a, &ret);
	CHECK(ret == MU_E_CONFIG);
	free(log);

	CHECK_OK(config_bool(c, "s", "yes", 0, &b));
	CHECK(b == 1);
	CHECK_OK(config_bool(c, "s", "off", 1, &b));
	CHECK(b == 0);
	CHECK_OK(config_bool(c, "s", "absent", 1, &b));
	CHECK(b == 1);
	CHECK_OK(config_bool(c, "s", "zero", 1, &b));
	CHECK(b == 0);
	CHECK_RET(config_bool(c, "s", "bad", 0, &b), MU_E_CONFIG);
	CHECK_RET(config_bool(c, "s", "big", 0, &b), MU_E_CONFIG);
	config_free(c);
}

static int do_warn(void *p)
{
	return config_warn_unused(p);
}

static void test_unused(void)
{
	struct config *c = NULL;
	char *log;
	int n;

	CHECK_OK(config_parse(&c, "[node]\nrole = field\nrloe = typo\n[store]\nquota_count = 10\n"
				  "[trust]\nca = /a\nca = /b\n"));
	CHECK(config_str(c, "node", "role", NULL));
	log = capture_stderr(do_warn, c, &n);
	CHECK(n == 4); /* rloe, quota_count, ca twice */
	CHECK(strstr(log, "<string>:3: unknown key 'rloe' in [node]"));
	free(log);
	{
		char acc[64] = "";
		uint64_t v;

		CHECK_OK(config_each(c, "trust", "ca", collect, acc));
		CHECK_OK(config_u64(c, "store", "quota_count", 0, 0, 100, &v));
	}
	log = capture_stderr(do_warn, c, &n);
	CHECK(n == 1);
	free(log);
	config_free(c);
	config_free(NULL);
}

static const struct test tests[] = {
	{ "/config/default", test_default_parses },
	{ "/config/default/documented", test_default_documented },
	{ "/config/parse/ok", test_parse_ok },
	{ "/config/parse/errors", test_errors },
	{ "/config/parse/too-many-entries", test_too_many_entries },
	{ "/config/repeated", test_repeated_keys },
	{ "/config/layering", test_layering },
	{ "/config/load/missing", test_missing_file },
	{ "/config/load/file-errors", test_file_errors },
	{ "/config/bounds", test_bounds },
	{ "/config/unused", test_unused },
};

TEST_MAIN(tests)
