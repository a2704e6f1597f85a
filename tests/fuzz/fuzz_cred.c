/* Credential decoder: any input either fails to decode or decodes to fields
 * that re-encode to exactly the same bytes, with text that is NUL-terminated,
 * within its cap and free of control bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cred.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((uint8_t)s[i] < 0x20 || (uint8_t)s[i] == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[CRED_ENC_MAX];
	struct cred c;
	int n;

	if (cred_decode(&c, data, size))
		return 0;
	n = cred_encode(out, sizeof(out), &c);
	if (n < 0 || (size_t)n != size || memcmp(out, data, size))
		abort();
	check_text(c.subject, CRED_TEXT_MAX);
	check_text(c.name, CRED_TEXT_MAX);
	check_text(c.org, CRED_TEXT_MAX);
	check_text(c.reg, CRED_REG_MAX);
	if (!c.subject[0] || !c.name[0] || !c.org[0] || c.role < 1 || c.role > ROLE_MAX ||
	    c.valid_until <= c.valid_from)
		abort();
	return 0;
}
