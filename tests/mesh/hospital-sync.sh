#!/usr/bin/env bash
# What an uplink costs (issue 8, docs/sync.md "Uplink"): a field node that
# reaches the hospital tells it only what it holds and has no custody
# receipt for, and the hospital sends down only credentials, receipts and
# what arrived in its relay window — never its history.
#
# h: hospital (relay_window_ms 3 s). a: a field node that fills the
# hospital with a history of HIST messages and leaves. b: a field node with
# a backlog of BACK messages made while cut off; d: a field node next to b
# that copies b's backlog and reaches the hospital only later.
# Asserts:
# - b reconnects: it tells its BACK message keys (and a few receipts), the
#   hospital takes them, archives each once, and b receives from h no more than the few
#   credentials and custody receipts (none of a's history);
# - relay: while b is connected, a message a new field node c sends
#   reaches b through h;
# - d, holding copies h archived and receipted before d connected, tells
#   the BACK keys, h takes none and issues the receipt again, and d deletes
#   its copies after its grace;
# - a sync round between them reconciles credentials only (small).
# Rounds every 60 s only: everything here must move on events (a new
# bundle, a receipt, an arrival at the hospital), not on periodic rounds.
MESH_SYNC_MS=60000
. "$(dirname "$0")/lib.sh"
mesh_init hospital-sync
command -v jq >/dev/null 2>&1 || skip "needs jq"
HIST=150
BACK=120

ca_init ca
node_new h ca archive
node_new a ca paramedic
node_new b ca aic
node_new c ca doctor
node_new d ca paramedic
node_conf h '[node]' 'role = hospital' 'relay_window_ms = 3000' 'debug = sync' '[archive]' \
	'receipt_interval_ms = 300'
for n in a b c d; do node_conf "$n" '[node]' 'custody_grace_ms = 1000' 'debug = sync'; done
# d walks its keyset 16 keys a loop turn: the walk must resume by itself.
node_conf d '[node]' 'uplink_walk_step = 16'
link_add a h
link_add b h
link_add c h
link_add b d
link_add d h
node_peer a h
node_peer b h
node_peer c h
node_peer d h
node_peer d b
node_start h
node_start a
wait_until 20 "a to reach h" session_up a h

archive_num() { mu "$1" archive --json | jq -r ".$2"; }
archive_at_least() { ge "$(archive_num "$1" "$2")" "$3"; }

# The hospital's history: a's messages, archived, receipted, gone from a.
for i in $(seq 1 $HIST); do mu "a" send --to all "history $i" >/dev/null || fail "send on a"; done
wait_until 60 "h to archive a's history" archive_at_least h items $HIST
wait_until 30 "a's copies deleted after custody" eval "[ \"\$(status_num a unarchived)\" = 0 ]"
node_stop a

# b and d meet the hospital once (the archive's credential: without it a
# sender cannot seal a message to the archive), after the history left
# h's relay window; then they are together, cut off from the hospital.
sleep 4
node_start b
node_start d
wait_until 20 "b and d to reach h" eval 'session_up b h && session_up d h'
wait_until 30 "the archive's credential at b and d" eval 'creds_at_least b 4 && creds_at_least d 4'
[ "$(status_num b bundles_received)" -le 6 ] || fail "b received $(status_num b bundles_received) bundles from h"
link_reset b h
link_reset d h
wait_until 20 "b and d cut off from h" eval 'no_session b h && no_session d h'
wait_until 20 "b-d session" session_up b d
for i in $(seq 1 $BACK); do mu "b" send --to all "backlog $i" >/dev/null || fail "send on b"; done
wait_until 60 "d to hold b's backlog" eval "ge \$(status_num d unarchived) $BACK"
link_reset b d
wait_until 20 "b and d apart" no_session b d
# b reaches the hospital.
before=$(archive_num h items)
recv_b=$(status_num b bundles_received)
link_unreset b h
wait_until 30 "b to reach h" session_up b h
wait_until 60 "h to archive b's backlog" archive_at_least h items $((before + BACK))
wait_until 30 "b's backlog receipted and deleted" eval "[ \"\$(status_num b unarchived)\" = 0 ]"
line=$(grep -E "uplink to [0-9a-f]+ told:" "$(node_log b)" | head -n1)
[ -n "$line" ] || fail "b logged no uplink pass"
say "b: $line"
[[ "$line" =~ told:\ ([0-9]+)\ keys.*\ ([0-9]+)\ taken ]] || fail "cannot read b's uplink line: $line"
# Its BACK messages and the receipts d sent it (delivered and read, batched
# as they come: their number varies); never anything near a's HIST.
told=${BASH_REMATCH[1]} taken=${BASH_REMATCH[2]}
[ "$told" -ge $BACK ] && [ "$told" -le $((2 * BACK)) ] || fail "b told $told keys, it holds $BACK messages"
[ "$taken" -ge $BACK ] && [ "$taken" -le "$told" ] || fail "h took $taken of b's $told keys"
up=$(mu b peers --json | jq -c '.[] | select(.role == "hospital") | .uplink')
[ "$(jq -r .keys_told <<<"$up")" -eq "$told" ] || fail "muster peers on b: uplink $up, told $told"
[ "$(mu h peers --json | jq -r '[.[] | select(.role == "field") | .uplink.keys_answered] | add')" -ge "$told" ] ||
	fail "muster peers on h: $(mu h peers --json)"
got=$(($(status_num b bundles_received) - recv_b))
# a's and h's user credentials and the receipts (BACK ids: one receipt,
# possibly split by the timer) are all b may get: not a's history.
[ "$got" -le 8 ] || fail "b received $got bundles from h; the history ($HIST) flowed down?"
sleep 2
[ "$(archive_num h items)" -eq $((before + BACK)) ] || fail "archived $(archive_num h items), want $((before + BACK))"
[ "$(archive_num h last_seq)" -eq $((HIST + BACK)) ] || fail "audit seq $(archive_num h last_seq)"
# Rounds between b and h reconcile credentials and revocations only.
grep -E "sync with [0-9a-f]+ done: [0-9]+\+[0-9]+ bytes" "$(node_log b)" | tail -n 3 | while read -r l; do
	[[ "$l" =~ done:\ ([0-9]+)\+([0-9]+)\ bytes ]] && [ $((BASH_REMATCH[1] + BASH_REMATCH[2])) -lt 4096 ] ||
		fail "a sync round between b and h was large: $l"
done

# Relay: c's message reaches b through h.
node_start c
wait_until 20 "c to reach h" session_up c h
wait_until 30 "c's credential at b" eval "ge \$(store_creds b) 5"
mu_send c --to all "ED resus ready for two P1"
relay_id=$SENT_ID
wait_until 30 "c's message at b through h" inbox_has b "$relay_id"

# d holds copies the hospital archived and receipted before d arrived.
[ "$(status_num d unarchived)" -ge $BACK ] || fail "d holds $(status_num d unarchived) unarchived, want $BACK"
link_unreset d h
wait_until 30 "d to reach h" session_up d h
wait_until 30 "d's copies deleted after the receipt again" eval "[ \"\$(status_num d unarchived)\" = 0 ]"
line=$(grep -E "uplink to [0-9a-f]+ told:" "$(node_log d)" | tail -n1)
say "d: $line"
[[ "$line" =~ told:\ ([0-9]+)\ keys.*\ ([0-9]+)\ taken ]] || fail "cannot read d's uplink line: $line"
[ "${BASH_REMATCH[1]}" -ge $BACK ] || fail "d told ${BASH_REMATCH[1]} keys, it held $BACK"
[ "${BASH_REMATCH[2]}" -eq 0 ] || fail "h took ${BASH_REMATCH[2]} of d's keys, it had them all"
[ "$(archive_num h items)" -eq $((before + BACK + 1)) ] || fail "archived $(archive_num h items) after d"
out=$(mu h audit verify) || fail "audit verify: $out"
mesh_pass
