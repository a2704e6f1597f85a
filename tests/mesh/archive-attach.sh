#!/usr/bin/env bash
# Attachments in the hospital archive (docs/archive.md "Attachments") and
# streamed exports (docs/exports.md): a paramedic p sends files to all; the
# hospital h archives each verified chunk as an item of its own, exactly
# once, across a restart in the middle of a transfer and across a restart
# that turns a node holding the chunks into a hospital (chunks taken from
# the store); custody receipts name the chunks and p deletes them; FHIR
# has a small file inline; `export attachment`, `export subject --json`
# (several MiB, over the control socket's 1 MiB queue) and `export audit`
# stream; erasure removes the file with its manifest.
. "$(dirname "$0")/lib.sh"
mesh_init archive-attach
command -v jq >/dev/null 2>&1 || skip "needs jq"

ca_init ca
node_new h ca archive
node_new p ca paramedic
link_add p h
node_peer p h
node_conf p '[node]' 'custody_grace_ms = 1000' '[messaging]' 'attach_max_bytes = 4M'
node_start h # not a hospital yet: it only stores
node_start p
wait_until 20 "p-h session" session_up p h
wait_until 30 "both user credentials at p" creds_at_least p 2

an() { mu h archive --json | jq -r ".$1"; }
an_at_least() { ge "$(an "$1")" "$2"; }

# 1. A file stored before h was a hospital: at start the archive takes the
# manifest from the store and its chunks by the time index.
head -c 100000 /dev/urandom >"$MESH_TMP/wound.jpg"
mu_send p --to all --attach "$MESH_TMP/wound.jpg" "wound of T0042, left arm"
small=$SENT_ID
wait_until 20 "h to store the manifest and 3 chunks" bundles_at_least h 4
sleep 1
node_stop h
node_conf h '[node]' 'role = hospital' 'custody_grace_ms = 0' '[archive]' 'receipt_interval_ms = 300'
node_start h
wait_until 20 "h to archive the file" an_at_least attachment_chunks 3
[ "$(an items)" -eq 4 ] || fail "archived $(an items) items, want the manifest and 3 chunks"
[ "$(an unreadable)" -eq 0 ] || fail "chunks counted as unreadable: $(an unreadable)"
mu h export fhir >"$MESH_TMP/fhir.json" || fail "export fhir"
jq -r --arg id "$small" '.entry[].resource | select(.id == $id) | .payload[0].contentAttachment.data' \
	"$MESH_TMP/fhir.json" | base64 -d | cmp -s - "$MESH_TMP/wound.jpg" || fail "FHIR data differs from the file"

# 2. 3 MiB over a capped link; h restarts mid-transfer and is cut off a
# while; every chunk is archived once, and p deletes its copies.
link_cap p h 8mbit
head -c $((3 << 20)) /dev/urandom >"$MESH_TMP/scan.bin"
mu_send p --to all --attach "$MESH_TMP/scan.bin" "CT scan T0042"
big=$SENT_ID
wait_until 30 "some chunks of the scan archived" an_at_least attachment_chunks 8
node_stop h
link_drop p h
node_start h
[ "$(an attachments_pending)" -eq 1 ] || fail "the restart lost the pending attachment: $(mu h archive --json)"
sleep 2
link_undrop p h
link_uncap p h
want=$((2 + 3 + 64))
wait_until 60 "all 64 chunks of the scan archived" an_at_least items "$want"
sleep 2 # nothing more arrives: exactly once
[ "$(an items)" -eq "$want" ] || fail "archived $(an items) items, want $want"
[ "$(an attachments_pending)" -eq 0 ] || fail "an attachment is still pending"
[ "$(an chunks_refused)" -eq 0 ] || fail "good chunks refused"
mu h audit verify >/dev/null || fail "audit chain does not verify"
wait_until 30 "every item receipted" eval '[ "$(an receipts_pending)" -eq 0 ]'
wait_until 30 "p to delete its copies of the chunks" eval '[ "$(status_num p tombstones)" -ge 67 ]'

# 3. Exports stream: the file, a subject access export of several MiB,
# the audit log.
mu h export attachment "$big" --out "$MESH_TMP/got.bin" || fail "export attachment"
cmp -s "$MESH_TMP/got.bin" "$MESH_TMP/scan.bin" || fail "the exported file differs"
[ "$(stat -c %a "$MESH_TMP/got.bin")" = 600 ] || fail "the exported file is not 0600"
mu h export subject --tag T0042 --json >"$MESH_TMP/sar.json" || fail "export subject"
size=$(stat -c %s "$MESH_TMP/sar.json")
[ "$size" -gt $((1 << 22)) ] || fail "subject export is only $size bytes"
[ "$(jq -r .count "$MESH_TMP/sar.json")" -eq 2 ] || fail "subject export lists $(jq -r .count "$MESH_TMP/sar.json") items"
jq -r --arg id "$big" '.items[] | select(.id == $id) | .file.data' "$MESH_TMP/sar.json" | base64 -d |
	cmp -s - "$MESH_TMP/scan.bin" || fail "the subject export's file differs"
mu h export audit | jq -c . >/dev/null || fail "audit export is not JSON Lines"
log_has h "stream step made no progress" && fail "a stream stalled"

# 4. Erasure takes the file with the manifest.
mu h erase --tag T0042 --confirm | grep -q "^69 erased: 69 crypto-shredded, 0 deleted only" || fail "erase: $(mu h archive --json)"
out=$(mu h export attachment "$big" --out "$MESH_TMP/again.bin" 2>&1) && fail "an erased file exported"
grep -q "erased" <<<"$out" || fail "no clear message for an erased file: $out"
[ ! -e "$MESH_TMP/again.bin" ] || fail "a failed export left a file"
mu h export fhir | jq -e '[.entry[].resource | select(.resourceType == "Communication")] | length == 0' \
	>/dev/null || fail "erased attachments still in the FHIR export"
mu h audit verify >/dev/null || fail "audit chain does not verify after erasure"
mesh_pass
