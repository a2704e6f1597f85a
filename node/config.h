/* Configuration: one INI-style file ("[section]", "key = value", "#"
 * comments), read by a streaming line parser, layered over an embedded
 * default that works with no file at all. Each module reads its own keys,
 * with the default and bounds next to the code that uses them; docs/
 * configuration.md lists every key.
 *
 * Keys may repeat (e.g. "peer = ..." in [tcp]); config_str returns the last,
 * config_each visits all. Keys nobody read are reported by
 * config_warn_unused() so typos are caught at start. */
#ifndef MU_CONFIG_H
#define MU_CONFIG_H

#include <stdint.h>

#define CONFIG_LINE_MAX 1024
#define CONFIG_ENTRIES_MAX 1024

struct config;

/* Loads the embedded default, then path on top (path NULL: default only).
 * MU_E_CONFIG with the file and line logged on a syntax error. */
int config_load(struct config **out, const char *path);
/* Same, from a string (tests). */
int config_parse(struct config **out, const char *text);
void config_free(struct config *c); /* NULL-safe */

/* Returns the value or def; the pointer lives as long as c. */
const char *config_str(const struct config *c, const char *section, const char *key, const char *def);
/* Parses an unsigned integer within [min, max]; MU_E_CONFIG (logged with
 * section and key) when malformed or out of range; def when absent. */
int config_u64(const struct config *c, const char *section, const char *key, uint64_t def, uint64_t min,
	       uint64_t max, uint64_t *out);
/* "yes/no/true/false/1/0/on/off". */
int config_bool(const struct config *c, const char *section, const char *key, int def, int *out);
/* Calls fn for every value of a repeated key, in file order; stops at and
 * returns the first non-zero result. */
int config_each(const struct config *c, const char *section, const char *key,
		int (*fn)(void *ctx, const char *value), void *ctx);
/* Logs a warning for each key that no config_* call has read. Returns the
 * number of such keys. */
int config_warn_unused(const struct config *c);

/* The embedded default text (what `musterd --print-default-config` prints). */
extern const char config_default_text[];

#endif
