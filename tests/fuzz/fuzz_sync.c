/* libFuzzer harness for the sync decoders: one state machine (initiator or
 * responder) is fed a sequence of peer messages, building its own message
 * whenever it is its turn, so every decoder is reached from a valid state.
 *
 * Input: byte 0 — bit 0: 0 initiator / 1 responder; bit 1: 2-bit short
 * ids (collisions, list fallback) instead of 64-bit. Then messages, each a
 * u16 big-endian length and that many bytes. Seeds are real transcripts
 * (tests/fuzz/corpus/fuzz_sync/). The fixed keysets and salt make runs
 * reproducible. The files under test are included so that libFuzzer's
 * coverage instrumentation reaches them. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../node/keyset.c"
#include "../../node/sync.c"
#include "err.h"
#include "keyset.h"
#include "sync.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fuzz_salt[16] = {'m', 'u', 's', 't', 'e', 'r', '-', 'f', 'u', 'z', 'z', 0, 1, 2, 3, 4};

static void fill(struct keyset *ks, uint64_t seed, size_t n, uint64_t t0)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t id[KEYSET_ID_BYTES];
		uint64_t z = seed + i * 0x9e3779b97f4a7c15ull;

		for (int j = 0; j < KEYSET_ID_BYTES; j++) {
			z = z * 6364136223846793005ull + 1442695040888963407ull;
			id[j] = (uint8_t)(z >> 56);
		}
		keyset_add(ks, t0 + i * 7, id);
	}
}

/* The two fixed sets: 60 shared keys, 6 only in A, 5 only in B. */
static void fuzz_sets(struct keyset **a, struct keyset **b)
{
	static struct keyset *sa, *sb;

	if (!sa) {
		if (keyset_new(&sa) || keyset_new(&sb))
			abort();
		fill(sa, 1, 60, 1000);
		fill(sb, 1, 60, 1000);
		fill(sa, 2, 6, 1003);
		fill(sb, 3, 5, 1005);
	}
	*a = sa;
	*b = sb;
}

static void cb_nop(void *user, uint64_t created, const uint8_t id[static KEYSET_ID_BYTES])
{
	(void)created;
	(void)id;
	++*(unsigned *)user;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sync_cb cb = {cb_nop, cb_nop};
	struct keyset *a, *b;
	struct sync *s = NULL;
	struct rd r = rd_make(data, size);
	uint8_t *buf = NULL;
	unsigned calls = 0;
	uint8_t mode;

	fuzz_sets(&a, &b);
	if (rd_u8(&r, &mode))
		return 0;
	if (sync_new(&s, mode & 1 ? b : a, mode & 1 ? SYNC_RESPONDER : SYNC_INITIATOR, &cb, &calls))
		return 0;
	sync_test_set_salt(s, fuzz_salt);
	sync_test_set_sid_bits(s, mode & 2 ? 2 : 64);
	buf = malloc(SYNC_MSG_MAX);
	if (!buf)
		goto out;
	while (r.len >= 2 && !sync_done(s) && !sync_error(s)) {
		const uint8_t *m;
		uint16_t len;
		int ret;

		if (sync_want_send(s)) {
			struct wr w = wr_make(buf, SYNC_MSG_MAX);

			if (sync_build_message(s, &w))
				break;
		}
		rd_u16(&r, &len);
		if (len > r.len)
			len = (uint16_t)r.len;
		rd_slice(&r, len, &m);
		ret = sync_recv_message(s, m, len);
		if (ret && ret != MU_E_MISMATCH && ret != -EAGAIN && !sync_error(s))
			abort(); /* a fatal error must fail the session */
	}
	if (sync_want_send(s)) {
		struct wr w = wr_make(buf, SYNC_MSG_MAX);

		sync_build_message(s, &w);
	}
out:
	free(buf);
	sync_free(s);
	return 0;
}
