/* Logging to stderr (journald captures it under systemd).
 *
 * Four levels; debug output is enabled per subsystem with log_enable_debug()
 * (config key "debug = store,sync" or MUSTER_DEBUG). A log call never returns
 * from its caller and never logs secrets: pass key ids, not keys. */
#ifndef MU_LOG_H
#define MU_LOG_H

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

enum log_sub {
	SUB_MAIN,
	SUB_CRYPTO,
	SUB_BUNDLE,
	SUB_STORE,
	SUB_SYNC,
	SUB_LINK,
	SUB_CTL,
	SUB_COUNT,
};

void log_set_level(enum log_level max);
/* Comma-separated subsystem names ("store,sync", "all"); unknown names are
 * reported as MU_E_CONFIG. */
int log_enable_debug(const char *list);
int log_debug_on(enum log_sub sub);
void log_msg(enum log_level lvl, enum log_sub sub, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_err(sub, ...) log_msg(LOG_ERR, sub, __func__, __VA_ARGS__)
#define log_warn(sub, ...) log_msg(LOG_WARN, sub, __func__, __VA_ARGS__)
#define log_info(sub, ...) log_msg(LOG_INFO, sub, __func__, __VA_ARGS__)
#define log_debug(sub, ...)                                                  \
	do {                                                                   \
		if (log_debug_on(sub))                                         \
			log_msg(LOG_DEBUG, sub, __func__, __VA_ARGS__);        \
	} while (0)

#endif
