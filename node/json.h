/* JSON string quoting shared by the CLI and the control API, so both
 * escape text the same way. */
#ifndef MU_JSON_H
#define MU_JSON_H

/* Returns s as a quoted JSON string (quote, backslash and control
 * characters escaped) in a malloc'd buffer the caller frees; NULL if out
 * of memory. */
char *json_quote(const char *s);

#endif
