/* Pieces the control handlers share (control.c: send, inbox;
 * control_incident.c: incident records): request arguments, JSON
 * fragments, staff names, message recipients, the identifier check, and
 * sealing a message and storing it durably. Internal to the node core. */
#ifndef MU_CONTROL_UTIL_H
#define MU_CONTROL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../crypto/envelope.h"
#include "ctl.h"
#include "node_int.h"

#define CONTROL_CONTENT_MAX  8192 /* envelope content control_seal_store takes */
#define CONTROL_HOPS_DEFAULT 16

/* The value after option name in argv[1..] (first occurrence), or NULL.
 * Points into req. */
const char *control_arg_value(const struct ctl_req *req, const char *name);
/* true if argv[1..] holds name. */
bool control_arg_flag(const struct ctl_req *req, const char *name);

/* Appends s as a quoted JSON string ("null" when out of memory). */
void control_json_str(struct ctl_reply *r, const char *s);
/* Appends n bytes as a quoted hex string (n <= 64). */
void control_json_hex(struct ctl_reply *r, const uint8_t *p, size_t n);

/* "Name (role)" from the key's credential, else the key's first 16 hex
 * digits, written to buf; returns buf. */
const char *control_who(struct node *n, const uint8_t key[static MU_KEY_BYTES], char *buf, size_t cap);

/* Whom a message is encrypted to. role 0 with archive_only false: every
 * staff credential (dest all). overflow: more than the envelope holds. */
struct recipients {
	struct envelope_recipient r[ENVELOPE_RECIPIENTS_MAX];
	unsigned n;
	bool overflow;
	uint8_t role;
	bool archive_only;
};

/* Parses a destination (all, role:NAME, person:KEYID, channel:NAME) into
 * b's dest fields and collects its recipients (always with the hospital
 * archive). Bad input gets a one-line reply and MU_E_FORMAT (MU_E_NOCRED
 * for an unknown person); store errors are passed through. */
int control_parse_dest(struct node *n, const char *to, struct bundle *b, struct recipients *rs,
		       struct ctl_reply *r);

/* Patient-identifier minimisation ([messaging] nhs_number): 0 if text may
 * go; else a reply explaining why not and MU_E_IDENTIFIER. */
int control_check_identifiers(struct node *n, const char *text, bool confirmed, struct ctl_reply *r);

/* Adds the user (who reads their own messages) to rs, encrypts content
 * (len <= CONTROL_CONTENT_MAX) to rs, signs it as the user into b (kind,
 * prio, hop_limit and dest set by the caller; created and expires = now +
 * lifetime_ms set here), stores it and commits, so on 0 it is durable and
 * b->id names it. Needs n->user. On failure it replies with the reason
 * and nothing is stored: MU_E_TOOBIG (too many recipients or too long),
 * or the seal/store error. */
int control_seal_store(struct node *n, struct bundle *b, struct recipients *rs, const uint8_t *content,
		       size_t len, uint64_t lifetime_ms, struct ctl_reply *r);

#endif
