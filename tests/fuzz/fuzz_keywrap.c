/* Key-wrap payload and channel-message decoders (node/channel.h): what
 * decodes must satisfy the documented caps, and opening anything (with a
 * fixed identity and epoch key) must fail cleanly or succeed, never crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mu_identity *id;
static uint8_t out[65536];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t seed[32] = { 7 }, key[CHANNEL_KEY_BYTES] = { 9 };
	uint8_t got[CHANNEL_KEY_BYTES], role, chan[CHANNEL_ID_BYTES] = { 0 };
	unsigned members = 0, archives = 0;
	char name[CHANNEL_NAME_MAX + 1];
	struct keywrap kw;
	uint32_t epoch;
	size_t len;

	if (!id && identity_from_seed(&id, seed))
		abort();
	if (!keywrap_decode(&kw, data, size)) {
		if (kw.nslots == 0 || kw.nslots > KEYWRAP_SLOTS_MAX || kw.name_ct_len < 17 ||
		    kw.name_ct_len > CHANNEL_NAME_MAX + 16)
			abort();
		for (unsigned i = 0; i < kw.nslots; i++) {
			keywrap_slot(&kw, i, &role);
			members += role == KEYWRAP_MEMBER;
			archives += role == KEYWRAP_ARCHIVE;
		}
		if (!members || members > CHANNEL_MEMBERS_MAX || archives > CHANNEL_ARCHIVES_MAX ||
		    members + archives != kw.nslots)
			abort();
		if (!keywrap_open(&kw, id, identity_sign_pk(id), got, name) && strlen(name) > CHANNEL_NAME_MAX)
			abort();
	}
	/* The same bytes as a channel message for the all-zero channel id. */
	if (!chanmsg_epoch(data, size, chan, &epoch) &&
	    !chanmsg_open(out, sizeof(out), &len, data, size, chan, epoch, key, identity_sign_pk(id)) && len > size)
		abort();
	return 0;
}
