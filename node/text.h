/* Text rules shared by every encoding that carries human-readable text
 * (credentials, incident records), so all of them accept the same bytes. */
#ifndef MU_TEXT_H
#define MU_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* 1 if s[0..n) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF) with no C0 control bytes and no DEL,
 * so it can be shown on a terminal or a screen without escaping; else 0.
 * The empty string is valid. */
int mu_text_valid(const uint8_t *s, size_t n);

#endif
