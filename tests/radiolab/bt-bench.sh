#!/bin/bash
# Bluetooth benchmark (radio lab VM; run by `tools/bench bluetooth`, not by
# tools/test): two btvirt controllers, bluetoothd, two musterd nodes over
# LE CoC. Prints key=value lines (docs/benchmarks.md):
#   bt_bulk     goodput of BT_BULK_N bulk bundles (BT_BULK_TEXT bytes of
#               text each) that node A holds and node B lacks, from B's
#               session coming up to B having them all (store bytes / time);
#   bt_latency  an immediate bundle sent by A while the bulk transfer runs
#               (send to B's inbox), and the same with the link idle (the
#               reference measured in the same run), plus how many bulk
#               bundles were still to go when it was sent and when it arrived.
# Latency is `received` - `created` of the bundle in B's inbox (both nodes
# run in one VM: one clock, milliseconds). Goodput is timed by polling B's
# store with the CLI (~0.1 s a call under TCG), from the first bulk bundle
# seen to the last.
. "$RL_LIB"
. "$(dirname "$RL_SCRIPT")/bt-lib.sh"
N=${BT_BULK_N:-1000}
TEXT=${BT_BULK_TEXT:-4000}
MTU=2048
QB=${BT_QUEUE_BYTES:-4096} # [bluetooth] queue_bytes: what the core keeps queued per link
now() { rl_uptime; }
ms_since() { awk -v a="$1" -v b="$(rl_uptime)" 'BEGIN{printf "%d", (b-a)*1000}'; }

rl_check "CA" wl_ca || rl_finish
WL_ROLE=(paramedic aic)
rl_check "2 controllers" rl_bt_controllers 2 || rl_finish
for i in 0 1; do bt_node_bg $i "hci${RL_BT_INDEX[i]}" "mtu = $MTU" "queue_bytes = $QB" "[node]" "debug =" "sync_interval_ms = 30000"; done
rl_check "bluetoothd" rl_bluetoothd_start || rl_finish
for i in 0 1; do rl_check "node $i set up" wl_node_wait $i || rl_finish; done

rl_step "node A (0) alone: $N bulk bundles of $TEXT bytes"
bt_start 0
rl_check "A up" rl_wait 60 bt_mode_is 0 le
BODY=$(head -c $((TEXT / 2)) /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c "$TEXT")
T=$(now)
for k in $(seq "$N"); do
	wl_mu 0 send --to role:aic --priority bulk "$k $BODY" > /dev/null || { rl_log "send $k failed: $(tail -1 "$WL_CLI_LOG")"; break; }
done
rl_log "created in $(ms_since "$T") ms"
A_BUNDLES=$(wl_mu 0 status --json | jq .store.bundles)

rl_step "node B (1) starts: bulk transfer over LE, an immediate bundle as soon as it flows"
b_count() { wl_mu 1 status --json | jq .store.bundles; }
b_bytes() { wl_mu 1 status --json | jq .store.bytes; }
has_id() { [ "$(wl_inbox_n 1 "$ID")" -ge 1 ]; }
# lat_of ID: received - created (ms) of bundle ID in B's inbox.
lat_of() { wl_inbox 1 | jq -r --arg id "$1" '.[] | select(.id == $id) | .received - .created'; }
bt_start 1
# B's store before the session (its control socket answers long before the
# LE session is up); the transfer itself takes seconds.
rl_check "B answers" rl_wait 30 b_count
# B ends with A's bundles, its own user's credential and the immediate one.
TARGET=$((A_BUNDLES + 2))
A_BYTES=$(wl_mu 0 status --json | jq .store.bytes)
BYTES0=$(b_bytes)
# B's store count moves in commits, so progress is read from the link: the
# bytes B's bluetooth link has received (live driver counters). Polled as
# fast as the CLI answers (~0.1 s): the clock starts when more than the
# session handshake and first sync have arrived (32 KB), the immediate
# bundle is sent when a quarter of A's store bytes have, and the clock stops
# when the link goes quiet with everything stored.
b_in() { wl_mu 1 status --json | jq '[.links[] | select(.driver == "bluetooth") | .bytes_in] | add // 0'; }
T0= T1= LAT= ID= IN_AT_SEND= LAST_IN=0 END=$(awk -v t="$(rl_uptime)" 'BEGIN{print t+600}')
while :; do
	in=$(b_in)
	[ -n "$in" ] || in=0
	if [ -z "$T0" ] && [ "$in" -gt 32768 ]; then T0=$(now); IN0=$in; fi
	if [ -n "$T0" ] && [ -z "$ID" ] && [ "$in" -gt $((A_BYTES / 4)) ]; then
		IN_AT_SEND=$in
		wl_send 0 "immediate during bulk $RANDOM" > /dev/null
		ID=$WL_SENT_ID
	fi
	if [ "$in" -gt "$LAST_IN" ]; then LAST_IN=$in; T1=$(now); fi
	if [ -n "$ID" ] && [ -z "$LAT" ] && has_id; then LAT=$(lat_of "$ID"); fi
	[ -n "$LAT" ] && [ "$(b_count)" -ge "$TARGET" ] && break
	awk -v t="$(rl_uptime)" -v e="$END" 'BEGIN{exit !(t>=e)}' && break
done
ELAPSED=$(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%d", (b-a)*1000}')
rl_check "session up" wl_peers_up 1 1
rl_check "all bulk bundles arrived" eval '[ "$(b_count)" -ge "$TARGET" ]'
rl_check "the immediate bundle arrived" test -n "$LAT"
BYTES=$(( $(b_bytes) - BYTES0 ))
LINK=$((LAST_IN - IN0))
echo "bt_bulk bundles=$N text_bytes=$TEXT store_bytes=$BYTES link_bytes=$LINK ms=$ELAPSED goodput_kBps=$(awk -v b=$BYTES -v t=$ELAPSED 'BEGIN{printf "%.1f", b/t}') link_kBps=$(awk -v b=$LINK -v t=$ELAPSED 'BEGIN{printf "%.1f", b/t}')"

rl_step "reference: an immediate bundle on the idle link"
sleep 2
wl_send 0 "immediate idle $RANDOM"
ID=$WL_SENT_ID
rl_wait 60 has_id
IDLE=$(lat_of "$ID")
echo "bt_latency queue_bytes=$QB during_bulk_ms=$LAT sent_at_link_bytes=$IN_AT_SEND of_bytes=$LAST_IN idle_ms=$IDLE"
wl_links_json 0 | sed 's/^/  A: /'
for i in 0 1; do wl_stop $i; done
rl_finish
