#!/usr/bin/env bash
# Lock-screen safety and patient-identifier minimisation, between two real
# daemons: the notification hook learns who and how urgent, never what; a
# message holding a valid NHS number is held back (warn: until confirmed;
# block: always), one with an invalid check digit is not.
. "$(dirname "$0")/lib.sh"
mesh_init messaging

ca_init ca
node_new p ca paramedic
node_new c ca aic
link_add p c
node_peer p c
hook=$MESH_TMP/notify.sh
seen=$MESH_TMP/notified
cat > "$hook" <<HOOK
#!/bin/sh
# what a lock-screen integration would get: its environment and arguments
{ echo "args=\$*"; env | grep '^MUSTER_' | sort; echo --; } >> "$seen"
HOOK
chmod 755 "$hook"
node_conf c '[messaging]' "notify_command = $hook"
for n in p c; do node_conf "$n" '[node]' 'sync_interval_ms = 1000'; done
node_start p
node_start c
wait_until 20 "p and c to open a session" session_up p c
wait_until 20 "c's credential to reach p" creds_at_least p 2

secret="Casualty tag 0042 has crush injury, left leg"
mu_send p --to role:aic --priority immediate "$secret"
first=$SENT_ID
wait_until 20 "c to read the first message" inbox_has c "$first"
wait_until 10 "the hook to run" test -s "$seen"
grep -qx "MUSTER_PRIORITY=immediate" "$seen" || fail "hook lacks the priority: $(cat "$seen")"
grep -qx "MUSTER_SENDER=Staff p (paramedic)" "$seen" || fail "hook lacks the sender: $(cat "$seen")"
grep -qx "MUSTER_DEST=role" "$seen" || fail "hook lacks the destination: $(cat "$seen")"
grep -q "crush\|0042\|Casualty" "$seen" && fail "content reached the hook: $(cat "$seen")"
log_has c "crush" && fail "content reached c's log"

before=$(store_bundles p)
out=$(mu p send --to role:aic "NHS 943 476 5919 to resus" 2>&1) && fail "an NHS number went out unconfirmed"
grep -q "looks like an NHS number" <<<"$out" || fail "no clear warning: $out"
grep -q "triage tag" <<<"$out" || fail "no pointer to the casualty tag: $out"
grep -q -- "--confirm-identifier" <<<"$out" || fail "warn mode does not say how to confirm: $out"
[ "$(store_bundles p)" -eq "$before" ] || fail "the refused message was stored"
mu_send p --to role:aic "9434765918 is only a phone extension"   # invalid check digit: not an NHS number
mu_send p --to role:aic --confirm-identifier "NHS 943 476 5919 to resus"
confirmed=$SENT_ID
wait_until 20 "the confirmed message to arrive" inbox_has c "$confirmed"
wait_until 10 "the hook to run three times" eval 'test "$(grep -c "^--\$" "$seen")" -eq 3'

node_stop p
node_conf p '[messaging]' 'nhs_number = block'
node_start p
out=$(mu p send --to role:aic --confirm-identifier "NHS 9434765919" 2>&1) && fail "block mode let one through"
grep -q "configured to block" <<<"$out" || fail "block message: $out"
[ "$(inbox_count c)" -eq 3 ] || fail "c has $(inbox_count c) messages, want 3"
mesh_pass
