/* Channels: a named group (an incident channel, a team, a sector) whose
 * messages are encrypted with a per-channel epoch key, and the key-wrap
 * bundles (kind BK_KEYWRAP) that hand that key to the members.
 * docs/protocol.md "Channels and key-wrap bundles" has the byte layouts.
 *
 * A channel is (creator key, name); its 16-byte id is
 * BLAKE2b-128("muster/channel/2:" || creator key id || name), so a
 * key-wrap bundle signed by anyone but the creator names a different
 * channel and is ignored (keywrap_open: MU_E_MISMATCH).
 *
 * Key-wrap payload: version u8 (=1), channel id 16, epoch u32, nonce 24,
 * sealed name lv8 (XChaCha20-Poly1305 of the name under the epoch key, AD =
 * channel id || epoch || creator key id), slot count u8, count x (key id 32,
 * role u8 (KEYWRAP_MEMBER / KEYWRAP_ARCHIVE), epoch key sealed with
 * crypto_box_seal to the holder's X25519 key, 32+48).
 *
 * Channel message: a content envelope (crypto/envelope.h, same layout and
 * version) whose first slot is the channel slot: key id field = channel id
 * 16 || epoch u32 || 12 bytes 0xFF (never a valid Ed25519 key encoding),
 * sealed field = nonce 24 || XChaCha20-Poly1305 of the content key under
 * the epoch key (AD = channel id || epoch || sender key id) 48 || 8 zero
 * bytes. The other slots are ordinary recipients (the sender and each
 * hospital archive), so envelope_open works for them unchanged.
 *
 * The codec functions below are pure (no node, no store); they never keep
 * secrets beyond the call. */
#ifndef MU_CHANNEL_H
#define MU_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../crypto/envelope.h"
#include "../crypto/identity.h"

#define CHANNEL_ID_BYTES 16
#define CHANNEL_NAME_MAX 64
#define CHANNEL_KEY_BYTES 32
#define CHANNEL_MEMBERS_MAX 64 /* members (creator included) in one epoch */
#define CHANNEL_ARCHIVES_MAX 8 /* hospital archive keys wrapped to */
#define KEYWRAP_VERSION 1
#define KEYWRAP_SLOTS_MAX (CHANNEL_MEMBERS_MAX + CHANNEL_ARCHIVES_MAX)
#define KEYWRAP_SLOT_BYTES (MU_KEY_BYTES + 1 + CHANNEL_KEY_BYTES + MU_SEAL_OVERHEAD)
#define KEYWRAP_FIXED_BYTES (1 + CHANNEL_ID_BYTES + 4 + 24 + 1 + 1)
#define KEYWRAP_MAX (KEYWRAP_FIXED_BYTES + CHANNEL_NAME_MAX + 16 + KEYWRAP_SLOTS_MAX * KEYWRAP_SLOT_BYTES)
/* Extra envelope bytes of a channel message over a plain envelope with
 * the same ordinary recipients: the channel slot. */
#define CHANMSG_OVERHEAD(n) ENVELOPE_OVERHEAD((n) + 1)

enum keywrap_role { KEYWRAP_MEMBER = 1, KEYWRAP_ARCHIVE = 2 };

/* The channel id of (creator, name); name is len bytes (1..CHANNEL_NAME_MAX,
 * not checked here). */
void channel_id(uint8_t out[static CHANNEL_ID_BYTES], const uint8_t creator[static MU_KEY_BYTES], const char *name,
		size_t len);

/* One holder of the epoch key, for keywrap_seal. */
struct keywrap_holder {
	uint8_t key[MU_KEY_BYTES];   /* signing key id */
	uint8_t kx_pk[MU_KEY_BYTES]; /* X25519 key from their credential */
	uint8_t role;                /* enum keywrap_role */
};

/* Writes a key-wrap payload for epoch of channel (creator, name) holding
 * key, wrapped to the n holders. Returns its length; MU_E_FORMAT for a bad
 * name, role, duplicate holder, no member, or over CHANNEL_MEMBERS_MAX
 * members / CHANNEL_ARCHIVES_MAX archives; MU_E_TOOBIG if cap is short. */
int keywrap_seal(uint8_t *out, size_t cap, const uint8_t creator[static MU_KEY_BYTES], const char *name,
		 uint32_t epoch, const uint8_t key[static CHANNEL_KEY_BYTES], const struct keywrap_holder *h,
		 unsigned n);

/* A decoded key-wrap payload; pointers point into the input and live as
 * long as it does. */
struct keywrap {
	uint8_t chan[CHANNEL_ID_BYTES];
	uint32_t epoch;
	const uint8_t *nonce, *name_ct;
	size_t name_ct_len;
	unsigned nslots;
	const uint8_t *slots; /* nslots x KEYWRAP_SLOT_BYTES */
};

/* Structure only, strictly: version (MU_E_VERSION), lengths, slot count
 * 1..KEYWRAP_SLOTS_MAX with at least one member, at most the member and
 * archive caps, known roles, no key id twice, no trailing bytes
 * (MU_E_FORMAT otherwise). *kw is zeroed on failure. */
int keywrap_decode(struct keywrap *kw, const uint8_t *in, size_t len);

/* Slot i (< kw->nslots): its key id (points into the input) and role. */
const uint8_t *keywrap_slot(const struct keywrap *kw, unsigned i, uint8_t *role);
/* The role of key in kw, 0 if it holds no slot. */
uint8_t keywrap_role_of(const struct keywrap *kw, const uint8_t key[static MU_KEY_BYTES]);

/* Unwraps the epoch key for id and checks that creator (the bundle's
 * signer) made this channel: writes the key (out_key: 32 bytes, ideally
 * sodium_malloc'd) and the NUL-terminated name. MU_E_NOTFOUND if id holds
 * no slot, MU_E_SIG if a sealed part does not open, MU_E_MISMATCH if the
 * channel id is not (creator, name). out_key is wiped on failure. */
int keywrap_open(const struct keywrap *kw, const struct mu_identity *id, const uint8_t creator[static MU_KEY_BYTES],
		 uint8_t out_key[static CHANNEL_KEY_BYTES], char name[static CHANNEL_NAME_MAX + 1])
	__attribute__((warn_unused_result));

/* Encrypts content for channel chan at epoch under key, plus the n
 * ordinary recipients r (n + 1 <= ENVELOPE_RECIPIENTS_MAX), bound to sender.
 * Returns the length or MU_E_TOOBIG. */
int chanmsg_seal(uint8_t *out, size_t cap, const uint8_t *content, size_t len, const uint8_t chan[static CHANNEL_ID_BYTES],
		 uint32_t epoch, const uint8_t key[static CHANNEL_KEY_BYTES], const struct envelope_recipient *r,
		 unsigned n, const uint8_t sender[static MU_KEY_BYTES]);

/* The epoch of a channel message for chan: 0 and *epoch, MU_E_NOTFOUND if
 * it has no channel slot for chan, MU_E_FORMAT / MU_E_VERSION if it is not
 * an envelope. */
int chanmsg_epoch(const uint8_t *env, size_t len, const uint8_t chan[static CHANNEL_ID_BYTES], uint32_t *epoch);

/* Opens a channel message with the epoch key (cap >= env_len). MU_E_NOTFOUND
 * without a channel slot for (chan, epoch), MU_E_SIG if anything was
 * altered or the key is wrong. */
int chanmsg_open(uint8_t *out, size_t cap, size_t *len, const uint8_t *env, size_t env_len,
		 const uint8_t chan[static CHANNEL_ID_BYTES], uint32_t epoch, const uint8_t key[static CHANNEL_KEY_BYTES],
		 const uint8_t sender[static MU_KEY_BYTES]) __attribute__((warn_unused_result));

/* ---- node side (node/control_channel.c) ---- */

struct node;
struct bundle;
struct fresh;
struct ctl_req;
struct ctl_reply;
struct recipients;

/* The wrap bundles' lifetime: an epoch key lives until the last wrap of
 * its epoch expires; channel messages are clamped to expire by then. */
#define CHANNEL_WRAP_LIFETIME_MS (8ull * 24 * 3600 * 1000)

/* Whether the user holds a key (any unexpired epoch) for b's channel. */
bool channel_msg_for_user(const struct node *n, const struct bundle *b);
/* Opens a channel message for the user: through an ordinary slot (the
 * sender's own, an archive's), else with the epoch key, accepted only
 * from a member of that epoch who had not been removed when it was
 * created. MU_E_NOTFOUND if the user holds no key for it, MU_E_UNTRUSTED
 * for a sender who is not a member, else chanmsg_open's errors. */
int channel_msg_content(const struct node *n, const struct bundle *b, uint8_t *out, size_t cap, size_t *len);
/* `--to channel:NAME` (or channel:32-hex-id): fills b's dest from the
 * channels the user holds keys for. One-line reply and MU_E_NOTFOUND /
 * MU_E_FORMAT / -EEXIST (ambiguous name) on failure. */
int channel_resolve(struct node *n, const char *name, struct bundle *b, struct ctl_reply *r);
/* Seals content for b's channel with the current epoch key, plus rs (the
 * archives and the user), and lowers b->expires to the epoch's end (b->created
 * and b->expires set by the caller). Length, or a reply and MU_E_NOTFOUND
 * (no key; removed from the channel), MU_E_EXPIRED (the epoch ends within a
 * minute: rotate), MU_E_TOOBIG. */
int channel_seal(struct node *n, struct bundle *b, uint8_t *out, size_t cap, const uint8_t *content, size_t len,
		 const struct recipients *rs, struct ctl_reply *r);
/* Called by node_stored: a key-wrap refreshes what the node knows; a
 * revocation makes the user's node rotate (next turn) every channel the
 * user created whose current epoch holds the revoked key. */
void channel_stored(struct node *n, const struct fresh *f);
/* `channel create|add|remove|rotate|list|show`: returns 1 with *ret set
 * when req names it, else 0. */
int control_channel(struct node *n, const struct ctl_req *req, struct ctl_reply *r, int *ret);

#endif
