#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"

static enum log_level max_level = LOG_INFO;
static unsigned debug_mask;

static const char *const sub_names[SUB_COUNT] = {
	[SUB_MAIN] = "main",   [SUB_CRYPTO] = "crypto", [SUB_BUNDLE] = "bundle",
	[SUB_STORE] = "store", [SUB_SYNC] = "sync",     [SUB_LINK] = "link",
	[SUB_CTL] = "ctl",
};

static const char *const level_names[] = {
	[LOG_ERR] = "error", [LOG_WARN] = "warn", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void log_set_level(enum log_level max)
{
	max_level = max;
}

int log_enable_debug(const char *list)
{
	char buf[256];
	unsigned mask = 0;

	if (strlen(list) >= sizeof(buf))
		return MU_E_CONFIG;
	strcpy(buf, list);
	for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
	     tok = strtok_r(NULL, ", ", &save)) {
		int found = 0;

		if (!strcmp(tok, "all")) {
			mask = ~0u;
			continue;
		}
		for (int i = 0; i < SUB_COUNT; i++) {
			if (!strcmp(tok, sub_names[i])) {
				mask |= 1u << i;
				found = 1;
			}
		}
		if (!found)
			return MU_E_CONFIG;
	}
	debug_mask = mask;
	return 0;
}

int log_debug_on(enum log_sub sub)
{
	return (debug_mask >> sub) & 1;
}

void log_msg(enum log_level lvl, enum log_sub sub, const char *func, const char *fmt, ...)
{
	va_list ap;

	if (lvl > max_level && !(lvl == LOG_DEBUG && log_debug_on(sub)))
		return;
	fprintf(stderr, "musterd[%s] %s %s: ", sub_names[sub], level_names[lvl], func);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
