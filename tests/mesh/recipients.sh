#!/usr/bin/env bash
# Who can read what: a paramedic (p), an incident commander (c) and a doctor
# (d) on three nodes in a triangle of static peers. Each destination form is
# sent once and every inbox is checked: a message is readable exactly by
# its recipients, and everyone else's node stores it without being able to
# open it. Bad destinations are refused with a clear error.
. "$(dirname "$0")/lib.sh"
mesh_init recipients

ca_init ca
node_new p ca paramedic
node_new c ca aic
node_new d ca doctor
link_add p c
link_add c d
link_add p d
node_peer p c
node_peer p d
node_peer c d
# Receipts off: this test counts bundles exactly (receipts.sh covers them).
for n in p c d; do
	node_conf "$n" '[node]' 'sync_interval_ms = 1000' '[messaging]' 'delivery_receipts = no' 'read_receipts = no'
done
for n in p c d; do node_start "$n"; done
wait_until 20 "p to reach c and d" session_up p c
wait_until 20 "p and d to meet" session_up p d
wait_until 20 "every credential to reach p" creds_at_least p 3

sent=()
mu_send p --to role:aic --priority immediate "to the commander role"
role_id=$SENT_ID
mu_send p --to person:"$(user_key d)" "to the doctor by key"
person_id=$SENT_ID
mu p channel create sector-b --member "$(user_key d)" >/dev/null || fail "channel create failed"
mu_send p --to channel:sector-b "to channel sector-b"
chan_id=$SENT_ID
mu_send p --to all --priority urgent "to everyone"
all_id=$SENT_ID
for n in c d; do wait_until 20 "$n to store a key-wrap, all four messages and 3 credentials" bundles_at_least "$n" 8; done

expect() { # expect NODE ID yes|no
	if inbox_has "$1" "$2"; then
		[ "$3" = yes ] || fail "$1 can read $2 but is not a recipient"
	else
		[ "$3" = no ] || fail "$1 cannot read $2 but is a recipient"
	fi
}
expect c "$role_id" yes
expect d "$role_id" no
expect c "$person_id" no
expect d "$person_id" yes
expect c "$chan_id" no  # not a member of sector-b
expect d "$chan_id" yes
expect c "$all_id" yes
expect d "$all_id" yes
[ "$(mu p sent --json --limit 100 | grep -o '"id":"[0-9a-f]\{64\}"' | wc -l)" -eq 4 ] ||
	fail "the sender cannot read all four of its own messages"
json=$(mu d inbox --json)
grep -q '"text":"to the doctor by key"' <<<"$json" || fail "d's text: $json"
grep -q '"dest":"channel"' <<<"$json" || fail "d's channel message lacks its destination type: $json"

out=$(mu p send --to role:surgeon "x" 2>&1) && fail "unknown role accepted"
grep -q "unknown role" <<<"$out" || fail "unknown role message: $out"
out=$(mu p send --to person:abcd "x" 2>&1) && fail "short key accepted"
grep -q "64-digit" <<<"$out" || fail "short key message: $out"
out=$(mu p send --to "person:$(printf '0%.0s' {1..64})" "x" 2>&1) && fail "unknown person accepted"
grep -q "no credential known" <<<"$out" || fail "unknown person message: $out"
out=$(mu p send --to channel: "x" 2>&1) && fail "empty channel accepted"
out=$(mu p send --to somewhere "x" 2>&1) && fail "bad destination accepted"
grep -q "channel:NAME" <<<"$out" || fail "bad destination message: $out"
out=$(mu p send --priority soon "x" 2>&1) && fail "bad priority accepted"
big=$(head -c 5000 /dev/zero | tr '\0' a)
out=$(mu p send "$big" 2>&1) && fail "5000-byte text accepted"
grep -q "limited to 4096" <<<"$out" || fail "size limit message: $out"
[ "$(store_bundles p)" -eq 8 ] || fail "refused sends stored something: $(store_bundles p)"
mesh_pass
