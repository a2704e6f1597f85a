#!/usr/bin/env bash
# Pager-grade alerts: an incident commander (a) alerts role:paramedic, held
# by two users on two nodes (p1, p2). Both nodes re-alert (the notify hook
# runs again, with no content) until their user runs `muster ack`; a's
# `muster alerts` shows who acknowledged after how long and who has not yet.
# The node that acknowledged stops re-alerting; the other still re-alerts
# after a restart (the outstanding alert is rebuilt from the store) until it
# acknowledges too.
. "$(dirname "$0")/lib.sh"
mesh_init alerts

ca_init ca
node_new a ca aic
node_new p1 ca paramedic
node_new p2 ca paramedic
link_add a p1
link_add a p2
node_peer p1 a
node_peer p2 a
for n in p1 p2; do
	cat >"$MESH_TMP/hook-$n.sh" <<HOOK
#!/bin/sh
{ env | grep '^MUSTER_' | sort; echo --; } >> "$MESH_TMP/notified-$n"
HOOK
	chmod 755 "$MESH_TMP/hook-$n.sh"
	node_conf "$n" '[messaging]' "notify_command = $MESH_TMP/hook-$n.sh" 'realert_interval_ms = 700'
done
for n in a p1 p2; do node_start "$n"; done
# last_start_has NODE ERE: the log of NODE's latest start matches.
last_start_has() {
	awk '/^===== mesh: start / { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$(node_log "$1")" |
		grep -qE -- "$2"
}
wait_until 20 "p1-a session" session_up p1 a
wait_until 20 "p2-a session" session_up p2 a
wait_until 30 "every credential to reach a" creds_at_least a 3
for n in p1 p2; do wait_until 30 "a's credential to reach $n" creds_at_least "$n" 2; done
k1=$(user_key p1)
k2=$(user_key p2)

realerts() { grep -c '^MUSTER_ALERT=unacknowledged$' "$MESH_TMP/notified-$1" 2>/dev/null; }
realerts_over() { ge "$(realerts "$1")" "$2"; }
# alert_field KEY FIELD: FIELD of KEY's row in a's `alerts --json`.
alert_field() {
	mu a alerts --json | grep -o "{\"key\":\"$1\"[^}]*" | head -n1 | grep -o "\"$2\":[0-9a-z]*" | cut -d: -f2
}
acked() { [[ "$(alert_field "$1" ack_after_ms)" =~ ^[0-9]+$ ]]; }

out=$(mu a send --alert --to all "everyone" 2>&1) && fail "an alert to all was accepted"
grep -q "person:KEYID or role:NAME" <<<"$out" || fail "alert to all: unclear refusal: $out"
out=$(mu a send --alert --priority routine --to role:paramedic "x" 2>&1) && fail "a routine alert was accepted"

secret="Tag 0093 arrested in sector B"
mu_send a --alert --to role:paramedic "$secret"
id=$SENT_ID
for n in p1 p2; do wait_until 20 "$n to re-alert twice" realerts_over "$n" 2; done
grep -q "Tag 0093\|arrested" "$MESH_TMP"/notified-* && fail "alert content reached a notify hook"
for n in p1 p2; do
	log_has "$n" "alert from Staff a \(aic\) unacknowledged for [0-9]+ s" || fail "$n did not log the re-alert"
	log_has "$n" "arrested" && fail "alert content reached $n's log"
	mu "$n" inbox --json | grep -q "\"id\":\"$id\".*\"priority\":\"immediate\".*\"alert\":true,\"acknowledged\":null" ||
		fail "$n's inbox does not show an unacknowledged alert: $(mu "$n" inbox --json)"
done
mu p1 inbox | grep -q "ALERT, not acknowledged: muster ack ${id:0:12}" || fail "p1's inbox text: $(mu p1 inbox)"
[ "$(alert_field "$k1" acknowledged)" = null ] || fail "p1 shown acknowledged before acking"

out=$(mu p1 ack deadbeef00 2>&1) && fail "ack of an unknown id succeeded"
mu p1 ack "${id:0:12}" | grep -q "^acknowledged ${id:0:12} from Staff a" || fail "p1's ack failed"
wait_until 20 "p1's ack to reach a" acked "$k1"
json=$(mu a alerts --json)
grep -q "\"id\":\"$id\".*\"to\":2,\"acknowledged\":1,\"outstanding\":1" <<<"$json" ||
	fail "a's alerts: want one acknowledged, one outstanding: $json"
[ "$(alert_field "$k2" acknowledged)" = null ] || fail "p2 shown acknowledged: $json"
[[ "$(alert_field "$k2" waiting_ms)" =~ ^[0-9]+$ ]] || fail "p2's wait not shown: $json"
mu a alerts | grep -q "1/2 acknowledged" || fail "a's alerts text: $(mu a alerts)"
mu p1 inbox --json | grep -q "\"alert\":true,\"acknowledged\":[0-9]" || fail "p1's inbox still unacknowledged"
log_has a "alert ${id:0:12} acknowledged by Staff p1" || fail "a did not log p1's ack"

# p1 stopped re-alerting; p2 goes on, also across a restart.
n1=$(realerts p1)
n2=$(realerts p2)
sleep 2.5
[ "$(realerts p1)" -eq "$n1" ] || fail "p1 re-alerted after acknowledging"
ge "$(realerts p2)" $((n2 + 2)) || fail "p2 stopped re-alerting before acknowledging"
node_stop p2
n2=$(realerts p2)
node_start p2
log_has p2 "1 alert unacknowledged" || fail "p2 forgot its alert across the restart"
# A clean stop leaves complete notes: the start reads them, walks nothing.
last_start_has p2 "walked the store once" && fail "p2 walked its store after a clean stop"
wait_until 20 "p2 to re-alert after its restart" realerts_over p2 $((n2 + 2))
# A crash: the notes are not trusted, the start walks once and keeps the alert.
node_stop p2 KILL
n2=$(realerts p2)
node_start p2
last_start_has p2 "notes not closed cleanly: walked the store once" || fail "p2 trusted its notes after a crash"
last_start_has p2 "1 alert unacknowledged" || fail "p2 forgot its alert across a crash"
wait_until 20 "p2 to re-alert after the crash" realerts_over p2 $((n2 + 2))

mu p2 ack "$id" | grep -q "^acknowledged" || fail "p2's ack failed"
wait_until 20 "p2's ack to reach a" acked "$k2"
json=$(mu a alerts --json)
grep -q "\"to\":2,\"acknowledged\":2,\"outstanding\":0" <<<"$json" || fail "a's alerts after both acks: $json"
mu p2 ack "$id" | grep -q "^already acknowledged" || fail "a second ack was not recognised"
n2=$(realerts p2)
sleep 2
[ "$(realerts p2)" -eq "$n2" ] || fail "p2 re-alerted after acknowledging"
# The ack took the alert's note with it: a restart does not re-alert.
node_stop p2
node_start p2
last_start_has p2 "alerts? unacknowledged" && fail "p2 took up an acknowledged alert at restart"
last_start_has p2 "walked the store once" && fail "p2 walked its store after a clean stop"
sleep 2
[ "$(realerts p2)" -eq "$n2" ] || fail "p2 re-alerted after acknowledging and a restart"
mu a sent --json | grep -q "\"id\":\"$id\".*\"alert\":true,\"to\":2,\"delivered\":2,\"read\":2,\"acknowledged\":2" ||
	fail "a's sent view of the alert: $(mu a sent --json)"
mesh_pass
