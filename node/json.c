#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *json_quote(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(6 * n + 3), *o = out; /* worst case: every byte as \uXXXX */

	if (!out)
		return NULL;
	*o++ = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c < 0x20) {
			o += sprintf(o, "\\u%04x", c);
		} else {
			*o++ = (char)c;
		}
	}
	*o++ = '"';
	*o = 0;
	return out;
}
