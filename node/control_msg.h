/* Control commands and views for receipts and alerts (control_msg.c):
 * `ack`, `alerts`, and the per-recipient state that `sent` and `inbox`
 * show. Internal to the node core. */
#ifndef MU_CONTROL_MSG_H
#define MU_CONTROL_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "bundle.h"
#include "ctl.h"
#include "node_int.h"

/* Handles `ack` and `alerts`: returns 1 with *ret set (0 or a negative
 * error) when req names one of them, else 0. */
int control_msg(struct node *n, const struct ctl_req *req, struct ctl_reply *r, int *ret);

/* The receipts addressed to the user, gathered by one walk of the store.
 * *out is owned by the caller (control_msg_index_free, NULL-safe); on
 * failure (-ENOMEM, store errors) *out is NULL and views show no receipts. */
struct msg_index;
int control_msg_index(struct node *n, struct msg_index **out);
void control_msg_index_free(struct msg_index *mi);

/* Appends what receipts say of message b (content: its content byte) to the
 * entry being rendered: for a sent message (sent, mi from
 * control_msg_index) each intended recipient's delivered / read /
 * acknowledged times; for a received alert whether the user acknowledged.
 * JSON: more members of the open object (call before its closing brace);
 * text: a line of its own (call after the entry's line). */
void control_msg_state(struct node *n, const struct msg_index *mi, struct ctl_reply *r, const struct bundle *b,
		       uint8_t content, bool sent, bool json);

#endif
