#!/usr/bin/env bash
# Restart mid-sync: s holds 300 messages for r's user; the link is capped by
# tc tbf so the transfer takes seconds; r is stopped with SIGTERM, then with
# SIGKILL, and then s with SIGKILL, each in the middle of the transfer, and
# restarted. In the end r's user reads each of the 300 exactly once and
# nothing else: no loss, no duplicate. Static peers both ways (the other
# discovery path; the tests with beacons are ferry and line-flap).
#
#   s ==== r      (tbf capped)
. "$(dirname "$0")/lib.sh"
mesh_init restart

N=${MESH_RESTART_N:-300}
RATE=${MESH_RESTART_RATE:-256kbit}
ca_init ca
node_new s ca paramedic
node_new r ca aic
link_add s r
node_peer s r
node_peer r s
# Link and sync debug lines: if this ever fails, the log tails say why.
# Receipts off: this test counts bundles exactly (receipts.sh covers them).
for n in s r; do node_conf $n "[node]" "debug = link,sync" '[messaging]' 'delivery_receipts = no' 'read_receipts = no'; done
node_start s
node_start r
wait_until 20 "s and r to open a session" session_up s r
wait_until 20 "r's user credential to reach s" creds_at_least s 2
node_stop r TERM

say "sending $N messages from s while r is down"
pad=$(printf 'Casualty update, sector C: %0500d' 0)
prios=(immediate urgent routine bulk)
for i in $(seq $N); do
	echo "--priority ${prios[i % 4]} \"#$i $pad\"" # xargs honours the quotes
done | xargs -P 4 -L 1 "$MU_BIN/muster" send --socket "$(node_sock s)" --json --to role:aic \
	>"$MESH_TMP/sent.json" || fail "muster send failed"
grep -o '"id":"[0-9a-f]\{64\}"' "$MESH_TMP/sent.json" | cut -d'"' -f4 | sort >"$MESH_TMP/sent.ids"
[ "$(sort -u "$MESH_TMP/sent.ids" | wc -l)" -eq $N ] || fail "s did not store $N distinct messages"
say "s stores $(store_bundles s) bundles, $(status_num s bytes) bytes; capping the link at $RATE"
link_cap s r "$RATE"

count() { inbox_count r; }
got_at_least() { ge "$(count)" "$1"; }
# interrupt NODE SIGNAL AT: once r holds AT messages, stop NODE with SIGNAL
# (which must come before the transfer ends) and start it again.
interrupt() {
	local node=$1 sig=$2 at=$3 c
	wait_until 60 "r to hold $at of $N messages" got_at_least "$at"
	c=$(count)
	[ "$c" -lt $N ] || fail "the transfer ended before SIG$sig could interrupt it: lower RATE ($RATE)"
	node_stop "$node" "$sig"
	say "SIG$sig to $node with r holding $c of $N messages; restarting $node"
	node_start "$node"
}

node_start r
interrupt r TERM $((N / 5))
interrupt r KILL $((N / 2))
interrupt s KILL $((N * 3 / 4))
wait_until 60 "r to hold all $N messages" got_at_least $N

inbox_ids r | sort >"$MESH_TMP/got.ids"
dups=$(uniq -d "$MESH_TMP/got.ids")
[ -z "$dups" ] || fail "r's inbox lists duplicates: $dups"
missing=$(comm -23 "$MESH_TMP/sent.ids" "$MESH_TMP/got.ids")
[ -z "$missing" ] || fail "r lacks $(echo "$missing" | wc -l) messages"
extra=$(comm -13 "$MESH_TMP/sent.ids" "$MESH_TMP/got.ids")
[ -z "$extra" ] || fail "r holds messages nobody sent: $extra"
[ "$(store_bundles r)" -eq $((N + 2)) ] || fail "r stores $(store_bundles r) bundles, want $((N + 2))"
# Each message is announced once, after its commit; a SIGKILL landing
# between a commit and its announcement may swallow a few announcements
# (never the messages), so allow that, but never more than N.
told=$(log_count r 'new [a-z]+ message for')
[ "$told" -le $N ] || fail "r announced $told new messages for $N: some were stored twice"
[ "$told" -ge $((N - 4)) ] || fail "r announced only $told of $N messages"
mesh_pass
