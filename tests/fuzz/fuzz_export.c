/* The exports' readers of untrusted archived content: subject matching
 * (gdpr_matches), the content kind, the JSON string writer (always valid
 * JSON: balanced quotes, no raw control bytes, valid UTF-8) and the time
 * parser. Input: one byte choosing the subject, then content. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export_fhir.h"
#include "gdpr.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
	uint8_t buf[8 * ARCHIVE_CONTENT_MAX + 2];
	size_t n;
};

static int collect(void *ctx, const char *s, size_t n)
{
	struct out *o = ctx;

	if (o->n + n > sizeof(o->buf))
		abort();
	memcpy(o->buf + o->n, s, n);
	o->n += n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const subjects[] = {"T0042", "t0042", "Royal Infirmary", "RI-123", "ab c"};
	static struct out o;
	struct gdpr_subject s;
	char kind[48], t[32];
	uint64_t ms;

	if (!size || size > ARCHIVE_CONTENT_MAX)
		return 0;
	if (gdpr_subject_set(&s, (data[0] & 1) ? GDPR_TAG : GDPR_REF, subjects[(data[0] >> 1) % 5]))
		abort();
	(void)gdpr_matches(&s, data + 1, size - 1);
	export_content_kind(kind, sizeof(kind), data + 1, size - 1);
	o.n = 0;
	if (export_json_str(collect, &o, data + 1, size - 1) || o.n < 2 || o.buf[0] != '"' ||
	    o.buf[o.n - 1] != '"')
		abort();
	for (size_t i = 0; i < o.n; i++)
		if (o.buf[i] < 0x20 || o.buf[i] == 0x7f)
			abort();
	/* every quote inside is escaped */
	for (size_t i = 1; i + 1 < o.n; i++)
		if (o.buf[i] == '"' && o.buf[i - 1] != '\\')
			abort();
	if (!mu_text_valid(o.buf, o.n))
		abort();
	if (size - 1 < sizeof(t)) {
		memcpy(t, data + 1, size - 1);
		t[size - 1] = 0;
		(void)export_time_parse(t, &ms);
	}
	return 0;
}
