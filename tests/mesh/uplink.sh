#!/usr/bin/env bash
# The hospital uplink (issue 8): a hospital h (archive user) and four field
# nodes f1..f4, each with a user and its own link to h. Every field node
# names two hospital addresses ([tcp] peer twice): first one nobody answers
# at, then h's. The uplinks go down (sessions reset, then the interfaces
# and so the routes go away), every field node sends while cut off, and the
# uplinks come back one at a time. Asserts: each field node dials h again
# by itself (no restart, outbound session), dialled both configured
# addresses, dials at once when its route returns, h holds sessions with all four at once, every message is
# archived exactly once, and f4, whose messages h mostly holds already,
# syncs with a small sketch (no key lists) when it comes back.
. "$(dirname "$0")/lib.sh"
mesh_init uplink
command -v jq >/dev/null 2>&1 || skip "needs jq"

FIELD=(f1 f2 f3 f4)
ca_init ca
node_new h ca archive
node_conf h '[node]' 'role = hospital' '[archive]' 'receipt_interval_ms = 300'
for n in "${FIELD[@]}"; do
	node_new "$n" ca paramedic
	link_add "$n" h
	# An address on the uplink's subnet that no one holds, then the hospital.
	dead=$(link_addr "$n" h)
	dead=${dead%::*}::99
	node_conf "$n" '[node]' 'debug = sync,link' '[tcp]' "peer = [$dead]:7420"
	node_peer "$n" h
done
node_start h
for n in "${FIELD[@]}"; do node_start "$n"; done
for n in "${FIELD[@]}"; do wait_until 20 "$n to reach the hospital" session_up "$n" h; done
# Every user's credential (the archive's above all) at every field node.
for n in "${FIELD[@]}"; do wait_until 30 "five user credentials at $n" creds_at_least "$n" 5; done
for n in "${FIELD[@]}"; do
	dead=$(link_addr "$n" h)
	log_has "$n" "connecting to \[${dead%::*}::99\]:7420" || fail "$n never dialled its first hospital address"
done

archive_num() { mu "$1" archive --json | jq -r ".$2"; }
archive_at_least() { ge "$(archive_num "$1" "$2")" "$3"; }
hospital_sessions() { mu h peers --json | jq '[.[] | select(.state == "up" and .role == "field")] | length'; }
sessions_at_least() { ge "$(hospital_sessions)" "$1"; }
outbound_up() { # NODE: its session with h is up and it dialled it
	mu "$1" peers --json | jq -e --arg k "$(node_key h)" \
		'[.[] | select(.peer == $k and .state == "up" and .inbound == false)] | length == 1' >/dev/null
}
wait_until 10 "h to hold sessions with all four" sessions_at_least 4

# f4's history reaches h while connected: later it is what h already has.
total=0
for i in $(seq 40); do mu_send f4 --to all "f4 earlier report $i"; done
total=40
wait_until 30 "h to archive f4's earlier reports" archive_at_least h items "$total"

# Cut every uplink: resets end the sessions at once, then the interfaces go
# down, so the route to the hospital is gone and dials fail.
for n in "${FIELD[@]}"; do link_reset "$n" h; done
for n in "${FIELD[@]}"; do wait_until 20 "$n to lose the hospital" no_session "$n" h; done
for n in "${FIELD[@]}"; do
	link_down "$n" h
	link_unreset "$n" h
done
declare -A SENT=([f1]=4 [f2]=3 [f3]=2 [f4]=2)
for n in "${FIELD[@]}"; do
	for i in $(seq "${SENT[$n]}"); do mu_send "$n" --to all "$n report $i from the scene"; done
done
# Long enough for the dial back-off to grow past 8 s.
sleep 10
[ "$(archive_num h items)" -eq "$total" ] || fail "h archived something while cut off"
f4_syncs_before=$(log_count f4 'sync with [0-9a-f]+ done')

# The uplinks return one at a time; each field node finds h by itself, at
# once: the route's return resets its back-off (node/route_watch.h), which
# by now would wait 8 s or more (0.5, 1, 2, 4, 8, 16 s after each failure).
for n in "${FIELD[@]}"; do
	link_up "$n" h
	t_up=$SECONDS
	total=$((total + SENT[$n]))
	wait_until 45 "$n to dial the hospital again" outbound_up "$n"
	[ $((SECONDS - t_up)) -le 4 ] || fail "$n took $((SECONDS - t_up)) s to dial the hospital after its route returned"
	log_has "$n" 'routes changed: static peers tried again' || fail "$n logged no route change"
	wait_until 30 "h to archive $total messages after $n returned" archive_at_least h items "$total"
done
wait_until 10 "h to hold sessions with all four again" sessions_at_least 4
for n in "${FIELD[@]}"; do
	[ "${NODE_STARTS[$n]}" -eq 1 ] || fail "$n was restarted"
done

# Exactly once: field nodes relay one another's messages through h.
sleep 3
[ "$(archive_num h items)" -eq "$total" ] || fail "archived $(archive_num h items) items, sent $total"
[ "$(archive_num h last_seq)" -eq "$total" ] || fail "audit seq $(archive_num h last_seq), want $total"
[ "$(archive_num h unreadable)" -eq 0 ] || fail "h could not open $(archive_num h unreadable) messages"

# f4's first sync after its return: h held all but a few of f4's bundles,
# so a sketch of a few KB, not key lists (those would be 40 bytes a key,
# over 4 KB for f4's 40-odd messages each way).
line=$(grep -E 'sync with [0-9a-f]+ done' "$(node_log f4)" | sed -n "$((f4_syncs_before + 1))p")
[ -n "$line" ] || fail "f4 logged no sync after its return"
say "f4 after its return: ${line#*: }"
grep -q 'key lists' <<<"$line" && fail "f4's return sync fell back to key lists: $line"
bytes=$(sed -n 's/.*done: \([0-9]*\)+\([0-9]*\) bytes.*/\1 \2/p' <<<"$line" | awk '{ print $1 + $2 }')
[ "${bytes:-999999}" -le 4000 ] || fail "f4's return sync took $bytes bytes"
mesh_pass
