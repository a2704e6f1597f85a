/* Streaming INI parser and the layered key store behind config.h.
 *
 * Entries are kept in one array in the order they were read (default text
 * first, then the file), which is the order config_each promises. A file
 * entry removes every default entry of the same section and key as it is
 * added, so "file values for a key replace all default values of that key"
 * holds for single and repeated keys alike. Lookups are linear: at most
 * CONFIG_ENTRIES_MAX entries, read once at start. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "log.h"

#define ORIGIN_DEFAULT "<default>"
#define ORIGIN_STRING  "<string>"

struct entry {
	const char *origin; /* points at a static name or config.path */
	unsigned line;
	bool from_default;
	bool used;
	char *section; /* one allocation: section, key, value */
	char *key;
	char *value;
};

struct config {
	struct entry *e;
	size_t n;
	char *path; /* the user file, for messages */
};

/* A line source: a FILE (read with fgets) or a NUL-terminated string. */
struct src {
	FILE *f;
	const char *text;
	size_t pos;
};

enum line_res { LINE_OK, LINE_EOF, LINE_TOO_LONG, LINE_NUL };

/* Reads one line into buf (CONFIG_LINE_MAX + 1 bytes) without its newline.
 * A line holds at most CONFIG_LINE_MAX - 1 characters besides the newline.
 * Returns a line_res, or -errno on a read error. */
static int src_line(struct src *s, char *buf)
{
	size_t len;

	if (!s->f) {
		const char *p = s->text + s->pos;
		const char *nl;

		if (!*p)
			return LINE_EOF;
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		s->pos += len + (nl ? 1 : 0);
		if (len > CONFIG_LINE_MAX - 1)
			return LINE_TOO_LONG;
		memcpy(buf, p, len);
		buf[len] = 0;
		return LINE_OK;
	}
	errno = 0;
	if (!fgets(buf, CONFIG_LINE_MAX + 1, s->f)) {
		if (ferror(s->f))
			return errno ? -errno : -EIO;
		return LINE_EOF;
	}
	len = strlen(buf);
	if (len && buf[len - 1] == '\n') {
		buf[len - 1] = 0;
		return LINE_OK;
	}
	if (len == CONFIG_LINE_MAX)
		return LINE_TOO_LONG;
	/* fgets stopped short of a newline without reaching the end of the
	 * file: a NUL byte hid the rest of the line. */
	if (!feof(s->f))
		return LINE_NUL;
	return LINE_OK;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = 0;
	return s;
}

static bool valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

static void entry_drop(struct config *c, size_t i)
{
	free(c->e[i].section);
	memmove(&c->e[i], &c->e[i + 1], (c->n - i - 1) * sizeof(c->e[0]));
	c->n--;
}

static int entry_add(struct config *c, const char *origin, unsigned line, bool from_default,
		     const char *section, const char *key, const char *value)
{
	size_t ls = strlen(section) + 1, lk = strlen(key) + 1, lv = strlen(value) + 1;
	struct entry *e;
	char *mem;

	if (!from_default)
		for (size_t i = c->n; i-- > 0;)
			if (c->e[i].from_default && !strcmp(c->e[i].section, section) &&
			    !strcmp(c->e[i].key, key))
				entry_drop(c, i);
	if (c->n >= CONFIG_ENTRIES_MAX) {
		log_err(SUB_MAIN, "%s:%u: too many entries (at most %d)", origin, line, CONFIG_ENTRIES_MAX);
		return MU_E_CONFIG;
	}
	if (!c->e) {
		c->e = calloc(CONFIG_ENTRIES_MAX, sizeof(*c->e));
		if (!c->e)
			return -ENOMEM;
	}
	mem = malloc(ls + lk + lv);
	if (!mem)
		return -ENOMEM;
	e = &c->e[c->n++];
	*e = (struct entry){.origin = origin, .line = line, .from_default = from_default};
	e->section = memcpy(mem, section, ls);
	e->key = memcpy(mem + ls, key, lk);
	e->value = memcpy(mem + ls + lk, value, lv);
	return 0;
}

static int parse(struct config *c, struct src *s, const char *origin, bool from_default)
{
	char *buf = malloc(CONFIG_LINE_MAX + 1);
	char section[CONFIG_LINE_MAX] = "";
	bool have_section = false;
	unsigned line = 0;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		char *p, *eq, *key, *value;
		int r = src_line(s, buf);

		line++;
		if (r < 0) {
			log_err(SUB_MAIN, "%s: read error: %s", origin, mu_strerror(r));
			ret = r;
			goto out;
		}
		if (r == LINE_EOF)
			break;
		if (r == LINE_TOO_LONG) {
			log_err(SUB_MAIN, "%s:%u: line too long (at most %d characters)", origin, line,
				CONFIG_LINE_MAX - 1);
			ret = MU_E_CONFIG;
			goto out;
		}
		if (r == LINE_NUL) {
			log_err(SUB_MAIN, "%s:%u: NUL byte in line", origin, line);
			ret = MU_E_CONFIG;
			goto out;
		}
		p = trim(buf);
		if (!*p || *p == '#' || *p == ';')
			continue;
		if (*p == '[') {
			size_t len = strlen(p);
			char *name;

			if (p[len - 1] != ']') {
				log_err(SUB_MAIN, "%s:%u: bad section header (no closing ']')", origin, line);
				ret = MU_E_CONFIG;
				goto out;
			}
			p[len - 1] = 0;
			name = trim(p + 1);
			if (!valid_name(name)) {
				log_err(SUB_MAIN, "%s:%u: bad section header (name: letters, digits, _ - .)",
					origin, line);
				ret = MU_E_CONFIG;
				goto out;
			}
			strcpy(section, name);
			have_section = true;
			continue;
		}
		eq = strchr(p, '=');
		if (!eq) {
			log_err(SUB_MAIN, "%s:%u: missing '=' (expected key = value)", origin, line);
			ret = MU_E_CONFIG;
			goto out;
		}
		*eq = 0;
		key = trim(p);
		value = trim(eq + 1);
		if (!valid_name(key)) {
			log_err(SUB_MAIN, "%s:%u: bad key name '%s' (letters, digits, _ - .)", origin, line,
				key);
			ret = MU_E_CONFIG;
			goto out;
		}
		if (!have_section) {
			log_err(SUB_MAIN, "%s:%u: key '%s' outside a section", origin, line, key);
			ret = MU_E_CONFIG;
			goto out;
		}
		ret = entry_add(c, origin, line, from_default, section, key, value);
		if (ret)
			goto out;
	}
out:
	free(buf);
	return ret;
}

static int load(struct config **out, const char *path, const char *text)
{
	struct config *c = calloc(1, sizeof(*c));
	struct src s = {.text = config_default_text};
	FILE *f = NULL;
	int ret;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	ret = parse(c, &s, ORIGIN_DEFAULT, true);
	if (ret)
		goto out;
	if (path) {
		c->path = strdup(path);
		if (!c->path) {
			ret = -ENOMEM;
			goto out;
		}
		f = fopen(path, "re");
		if (!f) {
			ret = -errno;
			/* A missing file is the caller's call (musterd runs on
			 * the default); anything else deserves a word. */
			if (ret != -ENOENT)
				log_err(SUB_MAIN, "%s: %s", path, mu_strerror(ret));
			goto out;
		}
		s = (struct src){.f = f};
		ret = parse(c, &s, c->path, false);
	} else if (text) {
		s = (struct src){.text = text};
		ret = parse(c, &s, ORIGIN_STRING, false);
	}
out:
	if (f)
		fclose(f);
	if (ret)
		config_free(c);
	else
		*out = c;
	return ret;
}

int config_load(struct config **out, const char *path)
{
	return load(out, path, NULL);
}

int config_parse(struct config **out, const char *text)
{
	return load(out, NULL, text);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->e[i].section);
	free(c->e);
	free(c->path);
	free(c);
}

/* Marks every value of section/key used and returns the last one. */
static struct entry *lookup(const struct config *c, const char *section, const char *key)
{
	struct entry *last = NULL;

	for (size_t i = 0; i < c->n; i++) {
		struct entry *e = &c->e[i];

		if (!strcmp(e->section, section) && !strcmp(e->key, key)) {
			e->used = true;
			last = e;
		}
	}
	return last;
}

const char *config_str(const struct config *c, const char *section, const char *key, const char *def)
{
	struct entry *e = lookup(c, section, key);

	return e ? e->value : def;
}

/* Decimal digits with an optional binary suffix K, M, G or T. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned shift = 0;

	if (!isdigit((unsigned char)*s))
		return MU_E_CONFIG;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return MU_E_CONFIG;
		v = v * 10 + d;
	}
	switch (*s) {
	case 'k':
	case 'K':
		shift = 10;
		s++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		s++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		s++;
		break;
	case 't':
	case 'T':
		shift = 40;
		s++;
		break;
	default:
		break;
	}
	if (*s)
		return MU_E_CONFIG;
	if (shift && v > (UINT64_MAX >> shift))
		return MU_E_CONFIG;
	*out = v << shift;
	return 0;
}

int config_u64(const struct config *c, const char *section, const char *key, uint64_t def, uint64_t min,
	       uint64_t max, uint64_t *out)
{
	const struct entry *e = lookup(c, section, key);
	uint64_t v;

	*out = def;
	if (!e || !*e->value)
		return 0;
	if (parse_u64(e->value, &v)) {
		log_err(SUB_MAIN, "%s:%u: [%s] %s = %s: not a number (digits, optional K/M/G/T)", e->origin,
			e->line, section, key, e->value);
		return MU_E_CONFIG;
	}
	if (v < min || v > max) {
		log_err(SUB_MAIN, "%s:%u: [%s] %s = %s: out of range %" PRIu64 "..%" PRIu64, e->origin,
			e->line, section, key, e->value, min, max);
		return MU_E_CONFIG;
	}
	*out = v;
	return 0;
}

int config_bool(const struct config *c, const char *section, const char *key, int def, int *out)
{
	static const char *const yes[] = {"yes", "true", "1", "on"};
	static const char *const no[] = {"no", "false", "0", "off"};
	const struct entry *e = lookup(c, section, key);

	*out = def;
	if (!e || !*e->value)
		return 0;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(e->value, yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(e->value, no[i])) {
			*out = 0;
			return 0;
		}
	}
	log_err(SUB_MAIN, "%s:%u: [%s] %s = %s: expected yes/no, true/false, on/off or 1/0", e->origin,
		e->line, section, key, e->value);
	return MU_E_CONFIG;
}

int config_each(const struct config *c, const char *section, const char *key,
		int (*fn)(void *ctx, const char *value), void *ctx)
{
	lookup(c, section, key);
	for (size_t i = 0; i < c->n; i++) {
		const struct entry *e = &c->e[i];
		int ret;

		if (strcmp(e->section, section) || strcmp(e->key, key))
			continue;
		ret = fn(ctx, e->value);
		if (ret)
			return ret;
	}
	return 0;
}

int config_warn_unused(const struct config *c)
{
	int n = 0;

	/* Only the user's entries: a default key nobody reads belongs to a
	 * module this build lacks, not to a typo. */
	for (size_t i = 0; i < c->n; i++) {
		const struct entry *e = &c->e[i];

		if (e->used || e->from_default)
			continue;
		log_warn(SUB_MAIN, "%s:%u: unknown key '%s' in [%s] (ignored)", e->origin, e->line, e->key,
			 e->section);
		n++;
	}
	return n;
}
