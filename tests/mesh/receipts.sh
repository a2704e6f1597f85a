#!/usr/bin/env bash
# Receipts across three hops: a paramedic (a) and a doctor (d) at the ends of
# a line a - b - c - d whose middle nodes are relays without users. a sends
# to d; d's node seals a delivered receipt that crosses the three hops back,
# `muster inbox` on d seals one read receipt (never a second, also not after
# a restart), and a's `muster sent` shows delivered, then read, for d with
# times. With [messaging] read_receipts = no, d still confirms delivery but
# never reading.
. "$(dirname "$0")/lib.sh"
mesh_init receipts

ca_init ca
node_new a ca paramedic
node_new b ca
node_new c ca
node_new d ca doctor
link_add a b
link_add b c
link_add c d
node_peer a b
node_peer b c
node_peer c d
for n in a b c d; do node_start "$n"; done
wait_until 20 "a-b session" session_up a b
wait_until 20 "b-c session" session_up b c
wait_until 20 "c-d session" session_up c d
wait_until 30 "d's credential to reach a" creds_at_least a 2
wait_until 30 "a's credential to reach d" creds_at_least d 2
dkey=$(user_key d)

# sent_field NODE MSG KEY FIELD: FIELD of KEY's row for MSG in NODE's
# `sent --json` ("null", a number, or empty when there is no such row).
sent_field() {
	mu "$1" sent --json --limit 1000 | grep -o "{\"id\":\"$2\".*" | grep -o "{\"key\":\"$3\"[^}]*" |
		head -n1 | grep -o "\"$4\":[0-9a-z]*" | cut -d: -f2
}
has_time() { [[ "$(sent_field "$@")" =~ ^[0-9]+$ ]]; }

mu_send a --to person:"$dkey" "Bed 4 at Royal Bolton is yours, tag 0117"
id=$SENT_ID
wait_until 30 "d's delivered receipt to cross three hops back to a" has_time a "$id" "$dkey" delivered
[ "$(sent_field a "$id" "$dkey" read)" = null ] || fail "read before d ran muster inbox"
json=$(mu a sent --json)
grep -q "\"id\":\"$id\".*\"to\":1,\"delivered\":1,\"read\":0" <<<"$json" ||
	fail "a's sent counts: want to 1, delivered 1, read 0: $json"
mu a sent | grep -q "to 1: 1 delivered, 0 read" || fail "a's sent text: $(mu a sent)"
delivered=$(sent_field a "$id" "$dkey" delivered)

# The relays have no user: they carried the receipt and sent none.
for n in b c; do log_has "$n" "receipt .* not stored" && fail "$n tried to seal a receipt"; done

mu d inbox | grep -q "tag 0117" || fail "d's inbox lacks the message"
wait_until 30 "d's read receipt to reach a" has_time a "$id" "$dkey" read
read_at=$(sent_field a "$id" "$dkey" read)
[ "$read_at" -ge "$delivered" ] || fail "read at $read_at before delivered at $delivered"
mu a sent | grep -q "to 1: 1 delivered, 1 read" || fail "a's sent text after reading: $(mu a sent)"

# Showing it again seals nothing more, before or after a restart (the record
# of sent read receipts is rebuilt from the store).
before=$(store_bundles d)
mu d inbox >/dev/null
sleep 1
[ "$(store_bundles d)" -eq "$before" ] || fail "a second inbox sealed another read receipt"
node_stop d
node_start d
wait_until 20 "c-d session again" session_up c d
mu d inbox >/dev/null
sleep 1
[ "$(store_bundles d)" -eq "$before" ] || fail "inbox after a restart sealed another read receipt"
grep -c "walked the store once" "$(node_log d)" | grep -qx 1 || fail "d walked its store after a clean stop"
# After a crash the record is rebuilt by a walk: still nothing sealed twice.
node_stop d KILL
node_start d
wait_until 20 "c-d session again" session_up c d
log_has d "notes not closed cleanly: walked the store once" || fail "d trusted its notes after a crash"
mu d inbox >/dev/null
sleep 1
[ "$(store_bundles d)" -eq "$before" ] || fail "inbox after a crash sealed another read receipt"

# Read receipts off: delivered still confirmed, read never.
node_stop d
node_conf d '[messaging]' 'read_receipts = no'
node_start d
wait_until 20 "c-d session again" session_up c d
mu_send a --to person:"$dkey" --priority urgent "Second: tag 0118 to resus"
id2=$SENT_ID
wait_until 30 "the second delivered receipt" has_time a "$id2" "$dkey" delivered
mu d inbox | grep -q "tag 0118" || fail "d's inbox lacks the second message"
sleep 3
[ "$(sent_field a "$id2" "$dkey" read)" = null ] || fail "a read receipt went out with read_receipts = no"
has_time a "$id" "$dkey" read || fail "the first message lost its read time"
mesh_pass
