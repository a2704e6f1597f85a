/* Attachments in the control API (control_attach.c): `send --attach FILE`
 * splits, encrypts and stores a file as chunk bundles plus a manifest
 * message; `get ID` reports what is held and hands back the verified
 * plaintext chunk by chunk; inbox shows a summary line. Internal to the
 * node core; format and rules in node/attach.h and docs/protocol.md
 * "Attachments". */
#ifndef MU_CONTROL_ATTACH_H
#define MU_CONTROL_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bundle.h"
#include "control_util.h"
#include "ctl.h"
#include "node_int.h"

#define ATTACH_MAX_DEFAULT (16ull << 20) /* [messaging] attach_max_bytes */

/* Reads and checks [messaging] attach_max_bytes (so a bad value stops the
 * daemon at start): 0 or MU_E_CONFIG. */
int control_attach_config(struct node *n);

/* send --attach PATH: b carries dest, priority and hop limit of the
 * manifest message (chunks go bulk with the same dest and hop limit), rs
 * its recipients; caption may be NULL. Opens PATH for req->uid as import
 * does (regular file, O_NOFOLLOW, readable by that uid). Chunks are stored
 * before the manifest, then committed, so on 0 the whole attachment is
 * durable and b->id names the manifest. Bad input (empty, over the limit,
 * bad --mime, caption too long) gets a reply and nothing is stored. */
int control_attach_send(struct node *n, struct bundle *b, struct recipients *rs, const struct ctl_req *req,
			const char *path, const char *caption, uint64_t lifetime_ms, struct ctl_reply *r);

/* Handles `get`: returns 1 with *ret set when req names it, else 0. */
int control_attach(struct node *n, const struct ctl_req *req, struct ctl_reply *r, int *ret);

/* For inbox: replaces the decrypted manifest content (content[0] ==
 * CONTENT_ATTACHMENT, *len bytes, buffer cap bytes) with the content byte
 * and a NUL-terminated one-line summary (name, type, size, chunks held,
 * caption); the chunk key is wiped. MU_E_FORMAT if it is not a manifest. */
int control_attach_summary(struct node *n, const struct bundle *b, uint8_t *content, size_t *len, size_t cap);

/* true if b is an attachment chunk (no notification, no inbox entry). */
bool control_attach_is_chunk(const struct bundle *b);

#endif
