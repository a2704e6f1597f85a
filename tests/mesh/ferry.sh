#!/usr/bin/env bash
# Ferry: A and C are never connected; B meets C, then A, then C again, and
# carries A's message to C. Discovery by IPv6 beacons on the veths only.
#
#   a --- b --- c      (a-b and b-c are never up at the same time)
#
# C's user credential rides with B to A first (A encrypts to the staff it
# knows of), then A's message rides back to C. Checks: C reads it, two hops
# away, exactly once; A and C never had a session. Links cut by ip link
# down and nftables; every meeting is a fresh session found by beacons.
. "$(dirname "$0")/lib.sh"
mesh_init ferry

ca_init ca
node_new a ca paramedic
node_new b ca              # relay only: no user
node_new c ca aic
link_add a b
link_add b c
for n in a b c; do node_beacons $n; done
link_down a b              # B starts out at C's end of the scene

for n in a b c; do node_start $n; done
wait_until 20 "b and c to open a session" session_up b c
wait_until 20 "c's user credential to reach b" creds_at_least b 1

# Leaving is an nftables TCP reset plus drop, so the sessions really end
# (a plain cut would leave TCP waiting out its timeouts) and meeting again
# means rediscovery by beacons and a new session.
say "b leaves c and meets a (ip link up)"
link_reset b c
wait_until 20 "b's session with c to end" no_session b c
link_up a b
wait_until 30 "a and b to open a session" session_up a b
wait_until 20 "c's user credential to reach a via b" creds_at_least a 2

mu_send a --to role:aic --priority immediate "Ferry test: 2 P1 to Royal Bolton, ETA 20"
id=$SENT_ID
say "a sent $id"
wait_until 20 "b to store a's message" bundles_at_least b 3

say "b leaves a (ip link down) and meets c again"
link_reset a b
wait_until 20 "b's session with a to end" no_session b a
link_down a b
inbox_has c "$id" && fail "c has the message before b came back"
link_unreset b c
wait_until 30 "b and c to meet again" session_up b c
say "b and c met again"
wait_until 30 "the message to reach c's inbox" inbox_has c "$id"

json=$(mu c inbox --json)
echo "$json" | grep -q "\"id\":\"$id\",[^}]*\"hops\":2," || fail "c's copy should have travelled 2 hops: $json"
echo "$json" | grep -q '"text":"Ferry test: 2 P1 to Royal Bolton, ETA 20"' || fail "c cannot read the text: $json"
[ "$(inbox_count c)" -eq 1 ] || fail "c has $(inbox_count c) messages, want 1"
[ "$(log_count c 'new immediate message for')" -eq 1 ] || fail "c was told of the message other than once"

ka=$(key_short "$(node_key a)")
kc=$(key_short "$(node_key c)")
log_has a "session up with $kc" && fail "a and c had a session: not a ferry"
log_has c "session up with $ka" && fail "a and c had a session: not a ferry"
log_has b "session up with $ka" || fail "b's log shows no session with a"
ge "$(log_count c "session up with $(key_short "$(node_key b)")")" 2 || fail "c met b only once"
mesh_pass
