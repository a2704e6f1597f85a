#!/usr/bin/env bash
# REFUSED frames (docs/protocol.md "Peer frames", node/refused.c): q's store
# holds 10 bundles and is full of immediate traffic, so it refuses a's bulk
# messages (storage quota full) and says so in a REFUSED frame. a then
# stops sending them: over several 1 s sync rounds a's bundles_out to q and
# q's refusals stay flat (without REFUSED, every round re-sends them). After
# refused_retry_full_ms (10 s here) a offers them once more, and q refuses
# them again.
#
#   a --- q
. "$(dirname "$0")/lib.sh"
mesh_init refusedf
command -v python3 >/dev/null || skip "needs python3"

ca_init ca
node_new a ca paramedic
node_new q ca aic
link_add a q
node_peer a q
for n in a q; do
	node_conf $n "[node]" "sync_interval_ms = 1000" "[messaging]" "delivery_receipts = no" "read_receipts = no"
done
node_conf a "[node]" "refused_retry_full_ms = 10000"
node_conf q "[store]" "quota_count = 10"
for n in a q; do node_start $n; done

# peer_num NODE PEER FIELD: FIELD of NODE's conn with PEER in `peers --json`
peer_num() {
	mu "$1" peers --json | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p["peer"] == sys.argv[1]:
        print(p[sys.argv[2]])
        break
else:
    print(-1)' "$(node_key "$2")" "$3"
}

wait_until 20 "a and q to open a session" session_up a q
wait_until 20 "q to hold both users' credentials" creds_at_least q 2
# Fill q: credentials are never evicted, immediate messages push out only
# older immediate ones, so bulk finds no room.
for i in $(seq 8); do mu_send q --to role:aic --priority immediate "immediate $i"; done
[ "$(store_bundles q)" -le 10 ] || fail "q stores more than quota_count 10"
full=$(store_bundles q)

for i in $(seq 5); do mu_send a --to role:aic --priority bulk "bulk chunk $i"; done
wait_until 20 "q to refuse a's 5 bulk messages in REFUSED frames" eval 'ge "$(peer_num a q refused_by_peer)" 5'
log_has q "bundle from .* refused: storage quota full" || fail "q did not log its refusals"
[ "$(store_bundles q)" -eq "$full" ] || fail "q's store changed refusing bulk"
sent=$(peer_num q a refused_to_peer)
ge "$sent" 5 || fail "q counts $sent refusals sent to a"

# Several sync rounds: nothing re-sent.
out1=$(peer_num a q bundles_out)
ref1=$(peer_num q a refused_to_peer)
syncs1=$(peer_num a q syncs)
sleep 5
syncs2=$(peer_num a q syncs)
ge "$syncs2" $((syncs1 + 3)) || fail "only $((syncs2 - syncs1)) sync rounds in 5 s"
out2=$(peer_num a q bundles_out)
ref2=$(peer_num q a refused_to_peer)
[ "$out2" -eq "$out1" ] || fail "a sent $((out2 - out1)) bundles again to q within its retry time"
[ "$ref2" -eq "$ref1" ] || fail "q refused $((ref2 - ref1)) bundles again within a's retry time"
say "$((syncs2 - syncs1)) sync rounds, bundles_out stayed at $out1, refusals at $ref1"

# After the retry time: offered (and refused) once more.
wait_until 20 "a to offer the bulk messages again after refused_retry_full_ms" \
	eval 'ge "$(peer_num q a refused_to_peer)" $((ref1 + 5))'
ge "$(peer_num a q bundles_out)" $((out1 + 5)) || fail "q refused again, but a's bundles_out did not grow"
ge "$(peer_num a q refused_by_peer)" 10 || fail "a did not count the second refusals"
session_up a q || fail "the session dropped"
mesh_pass
