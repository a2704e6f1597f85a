/* Incident records: decoding arbitrary bytes fails cleanly or yields a
 * record that re-encodes to exactly the input (one encoding per value),
 * and every decoded record renders in every view without fault. */
#include <stdlib.h>
#include <string.h>

#include "incident.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(void *ctx, const char *text)
{
	(void)ctx;
	(void)text;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inc_record r;
	uint8_t out[INC_ENC_MAX];
	uint8_t id[BUNDLE_ID_BYTES] = { 0 }, sender[MU_KEY_BYTES] = { 0 };
	struct scene *s;
	int n;

	if (inc_decode(&r, data, size))
		return 0;
	n = inc_encode(out, sizeof(out), &r);
	if (n < 0 || (size_t)n != size || memcmp(out, data, size))
		abort();
	/* The record twice (as itself and as an update of itself) and its
	 * own prev/ref targets exercise grouping, heads and answers. */
	if (scene_new(&s, NULL))
		abort();
	memcpy(id, r.prev, sizeof(id));
	if (scene_add(s, id, sender, "fuzz", 1, &r))
		abort();
	memcpy(id, r.ref, sizeof(id));
	id[31] ^= 0x55;
	if (scene_add(s, id, sender, "fuzz", 2, &r))
		abort();
	for (int v = VIEW_METHANE; v <= VIEW_REPORT; v++)
		for (unsigned f = 0; f < 4; f++)
			if (scene_render(s, (enum scene_view)v, f, 3, NULL, NULL, sink, NULL))
				abort();
	scene_free(s);
	return 0;
}
