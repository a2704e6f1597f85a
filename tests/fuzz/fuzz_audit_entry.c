/* Audit entry decoder: any input either fails to decode or decodes to an
 * entry that re-encodes to exactly the same bytes, with a named event and a
 * non-zero seq. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[AUDIT_ENTRY_BYTES], h[AUDIT_HASH_BYTES];
	struct audit_entry e;

	if (audit_entry_decode(&e, data, size))
		return 0;
	if (size != AUDIT_ENTRY_BYTES || !audit_event_name(e.event) || e.seq == 0)
		abort();
	audit_entry_encode(out, &e);
	if (memcmp(out, data, size))
		abort();
	audit_entry_hash(h, &e);
	return 0;
}
