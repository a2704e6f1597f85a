/* Fuzzes the INI parser (config_parse, layered over the embedded default)
 * with arbitrary text, then reads a few keys through every accessor so the
 * layering, lookup and number parsing run on whatever parsed. Seeds in
 * corpus/fuzz_config/. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count(void *ctx, const char *value)
{
	size_t *n = ctx;

	*n += strlen(value) + 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[][2] = {
	    {"node", "role"}, {"store", "quota_bytes"},      {"tcp", "peer"}, {"trust", "ca"},
	    {"a", "b"},       {"tcp", "beacon_interval_ms"},
	};
	struct config *c = NULL;
	char *text;
	int ret;

	/* log.c writes through stdio's stderr; point it at /dev/null so the
	 * parser's messages do not drown the run. libFuzzer and the
	 * sanitizers write to fd 2 directly and still report. */
	static FILE *null;
	if (!null) {
		null = fopen("/dev/null", "w");
		if (null)
			stderr = null;
	}
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	ret = config_parse(&c, text);
	free(text);
	if (ret) {
		if (ret != MU_E_CONFIG || c)
			abort();
		return 0;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *s = config_str(c, keys[i][0], keys[i][1], NULL);
		uint64_t v;
		size_t n = 0;
		int b;

		if (s && strlen(s) >= CONFIG_LINE_MAX)
			abort();
		ret = config_u64(c, keys[i][0], keys[i][1], 7, 1, 1u << 20, &v);
		if ((ret && ret != MU_E_CONFIG) || (!ret && v != 7 && (v < 1 || v > 1u << 20)))
			abort();
		ret = config_bool(c, keys[i][0], keys[i][1], 0, &b);
		if ((ret && ret != MU_E_CONFIG) || (b != 0 && b != 1))
			abort();
		config_each(c, keys[i][0], keys[i][1], count, &n);
	}
	if (config_warn_unused(c) < 0)
		abort();
	config_free(c);
	return 0;
}
