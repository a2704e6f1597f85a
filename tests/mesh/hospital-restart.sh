#!/usr/bin/env bash
# Hospital start-up (docs/archive.md "Start-up"): a clean stop leaves a
# checkpoint in the archive's meta, so the next start skips the catch-up
# walk of the whole store and audit chain, and still knows the attachment
# whose chunks were arriving (which then completes); a kill -9 leaves
# none, so the next start walks, and archives nothing twice; a store
# changed after the clean stop makes the start walk too.
#
#   p ==== h      (tbf capped while the attachment moves)
. "$(dirname "$0")/lib.sh"
mesh_init hospital-restart
command -v jq >/dev/null 2>&1 || skip "needs jq"

ca_init ca
node_new h ca archive
node_new p ca paramedic
link_add p h
node_peer p h
node_conf p '[node]' 'custody_grace_ms = 1000' '[messaging]' 'attach_max_bytes = 4M'
node_conf h '[node]' 'role = hospital' '[archive]' 'receipt_interval_ms = 300'
node_start h
node_start p
wait_until 20 "p-h session" session_up p h
wait_until 30 "both user credentials at p" creds_at_least p 2
log_count h "archive: catch-up walk after an unclean stop" | grep -qx 1 || fail "first start did not walk"

an() { mu h archive --json | jq -r ".$1"; }
an_at_least() { ge "$(an "$1")" "$2"; }
walks() { log_count h "archive: catch-up walk after an unclean stop"; }
cleans() { log_count h "archive: clean shutdown, no catch-up walk"; }

for i in 1 2 3 4 5; do mu_send p --to all "sector C update $i"; done
wait_until 20 "h to archive 5 messages" an_at_least items 5

# An attachment cut mid-transfer: 3 MiB (64 chunks) over a slow link,
# dropped once a few chunks are archived.
link_cap p h 2mbit
head -c $((3 << 20)) /dev/urandom >"$MESH_TMP/scan.bin"
mu_send p --to all --attach "$MESH_TMP/scan.bin" "CT scan T0042"
big=$SENT_ID
wait_until 30 "some chunks of the scan archived" an_at_least attachment_chunks 4
link_drop p h
sleep 1
[ "$(an attachments_pending)" -eq 1 ] || fail "no pending attachment before the stop: $(mu h archive --json)"
got=$(an attachment_chunks)
[ "$got" -lt 64 ] || fail "the whole scan arrived before the cut"

# 1. Clean stop: the next start takes the checkpoint, walks nothing, and
# still tracks the attachment.
node_stop h TERM
log_has h "clean-shutdown checkpoint written, 1 attachments await chunks" || fail "no checkpoint at clean stop"
node_start h
[ "$(cleans)" -eq 1 ] || fail "clean stop not recognised at start"
[ "$(walks)" -eq 1 ] || fail "walked after a clean stop"
[ "$(an attachments_pending)" -eq 1 ] || fail "the restart lost the pending attachment: $(mu h archive --json)"
link_undrop p h
link_uncap p h
want=$((5 + 1 + 64))
wait_until 60 "all 64 chunks of the scan archived" an_at_least items "$want"
sleep 2 # nothing more arrives: exactly once
[ "$(an items)" -eq "$want" ] || fail "archived $(an items) items, want $want"
[ "$(an attachments_pending)" -eq 0 ] || fail "an attachment is still pending"
mu h export attachment "$big" --out "$MESH_TMP/got.bin" || fail "export attachment"
cmp -s "$MESH_TMP/got.bin" "$MESH_TMP/scan.bin" || fail "the file archived across the restart differs"
wait_until 30 "every item receipted" eval '[ "$(an receipts_pending)" -eq 0 ]'

# 2. kill -9: no checkpoint, so the next start walks; nothing is archived
# twice (no new item, no new audit entry).
items=$(an items)
seq=$(an last_seq)
node_stop h KILL
node_start h
[ "$(walks)" -eq 2 ] || fail "no catch-up walk after kill -9"
[ "$(cleans)" -eq 1 ] || fail "took a checkpoint after kill -9"
[ "$(an items)" -eq "$items" ] || fail "items $items -> $(an items) after the walk"
[ "$(an last_seq)" -eq "$seq" ] || fail "audit last_seq $seq -> $(an last_seq) after the walk"

# 3. The checkpoint is deleted at start, not only made stale by new store
# writes: with p stopped, clean stop, start (clean), kill -9, start: walks.
node_stop p TERM
sleep 1
node_stop h TERM
node_start h
[ "$(cleans)" -eq 2 ] || fail "second clean stop not recognised"
before=$(stat -c %y "$(node_dir h)/store/data.mdb")
sleep 1
node_stop h KILL
after=$(stat -c %y "$(node_dir h)/store/data.mdb")
[ "$before" = "$after" ] || say "note: h's store changed while it ran ($before -> $after)"
node_start h
[ "$(walks)" -eq 3 ] || fail "no catch-up walk after kill -9 following a clean start"
[ "$(an items)" -eq "$items" ] || fail "items $items -> $(an items) after the last walk"
[ "$(an last_seq)" -eq "$seq" ] || fail "audit last_seq $seq -> $(an last_seq) after the last walk"

# 4. A store written (here: touched) after the clean stop, as by a run
# without the archive: the checkpoint is not used, and it is gone after.
node_stop h TERM
touch "$(node_dir h)/store/data.mdb"
node_start h
log_has h "checkpoint not used: the store or the archive user changed since" || fail "stale checkpoint not noticed"
[ "$(walks)" -eq 4 ] || fail "no catch-up walk after the store changed"
[ "$(cleans)" -eq 2 ] || fail "took a checkpoint from before the store changed"
node_stop h KILL
node_start h
[ "$(walks)" -eq 5 ] || fail "no catch-up walk after kill -9"
[ "$(an items)" -eq "$items" ] || fail "items $items -> $(an items) after the walks"
mu h audit verify >/dev/null || fail "audit chain does not verify"
mesh_pass
