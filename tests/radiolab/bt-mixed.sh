#!/bin/bash
# A mixed mesh (radio lab VM): A and B share only Bluetooth, B and C only
# Wi-Fi, and a bundle crosses from A to C through B.
#   A (node 0): bluetooth only, on its btvirt controller; a paramedic.
#   B (node 1): bluetooth on its own controller, and Wi-Fi (IBSS on an
#       hwsim radio, with the IP driver's beacons and sessions over it); a
#       relay. B stays in the initial network namespace (AF_BLUETOOTH exists
#       only there), so its hwsim radio is moved back there.
#   C (node 2): Wi-Fi only, in its own namespace; an AIC.
#  1. B has a bluetooth session with A and a tcp session with C; A and C
#     have no session with each other;
#  2. an immediate message from A's paramedic to role:aic reaches C's inbox
#     with its exact text, 2 hops;
#  3. clean exits, no sanitizer report.
# Run: tests/radiolab/run -e MU_BUILD_DIR=$PWD/build-asan --suite tests/radiolab/bt-mixed.sh
. "$RL_LIB"
. "$(dirname "$RL_SCRIPT")/bt-lib.sh"
FREQ=2412

rl_step "2 hwsim radios (B's back in the initial namespace), 2 btvirt controllers, bluetoothd, CA, 3 nodes"
T0=$(rl_uptime)
rl_check "CA" wl_ca || rl_finish
WL_ROLE=(paramedic "" aic)
rl_check "2 hwsim radios" rl_wifi_radios 2 || rl_finish
rl_check "radio 0 moved to the initial namespace (for B)" rl_in 0 iw phy "${RL_WIFI_PHY[0]}" set netns 1
B_IF=$(iw phy "${RL_WIFI_PHY[0]}" info > /dev/null 2>&1 && iw dev | awk -v p="${RL_WIFI_PHY[0]#phy}" '
	/^phy#/ {cur = substr($1, 5)} /Interface/ && cur == p {print $2; exit}')
rl_check "B's Wi-Fi interface: $B_IF" test -n "$B_IF"
C_IF=${RL_WIFI_DEV[1]}
rl_check "2 controllers" rl_bt_controllers 2 || rl_finish
bt_node_bg 0 "hci${RL_BT_INDEX[0]}"
declare -ga WL_IF=("" "$B_IF" "$C_IF")
wl_node_bg 1 "interface = $B_IF" "ssid = incident-9" "freq_mhz = $FREQ" "key = 0102030405" \
	"[bluetooth]" "enable = yes" "adapter = hci${RL_BT_INDEX[1]}" "retry_ms = 2000"
wl_node_bg 2 "interface = $C_IF" "ssid = incident-9" "freq_mhz = $FREQ" "key = 0102030405"
rl_check "bluetoothd up, controllers powered" rl_bluetoothd_start || rl_finish
for i in 0 1 2; do rl_check "node $i: keys, credentials, config" wl_node_wait $i || rl_finish; done

rl_step "start A, B, C"
T1=$(rl_uptime)
bt_start 0
bt_start 1
bt_start 2 "${RL_WIFI_NS[1]}"
for i in 1 2; do rl_check "node $i: wifi up @$FREQ" rl_wait 60 wl_wifi_freq_is $i $FREQ; done
for i in 0 1; do rl_check "node $i: bluetooth up" rl_wait 60 bt_mode_is $i le; done
rl_check "B: sessions with A and C" rl_wait 120 wl_peers_up 1 2
rl_log "B has both sessions $(wl_elapsed "$T1") s after start"
wl_mu 1 peers | sed 's/^/  B: /'
drv_of() { wl_mu "$1" peers --json | jq -r --arg s "$2" '.[] | select(.subject == $s and .state == "up") | .driver'; }
rl_check "B reaches A over bluetooth" eval '[ "$(drv_of 1 NODE-0)" = bluetooth ]'
rl_check "B reaches C over tcp (Wi-Fi)" eval '[ "$(drv_of 1 NODE-2)" = tcp ]'
rl_check "A: one session (B)" wl_peers_up 0 1
rl_check "C: one session (B)" wl_peers_up 2 1

rl_step "a message from A (Bluetooth only) to role:aic on C (Wi-Fi only)"
MSG="Mixed mesh: casualty clearing station moved to car park B ($RANDOM)"
T2=$(rl_uptime)
rl_check "A sends to role:aic, priority immediate" wl_send 0 "$MSG"
ID=$WL_SENT_ID
rl_check "C's inbox has it with the exact text" rl_wait 60 wl_inbox_has 2 "$ID" "$MSG"
rl_log "delivered $(wl_elapsed "$T2") s after send, $(wl_inbox_hops 2 "$ID") hop(s)"
rl_check "it crossed B: 2 hops" eval '[ "$(wl_inbox_hops 2 "$ID")" = 2 ]'
rl_check "C has it once" eval '[ "$(wl_inbox_n 2 "$ID")" = 1 ]'

rl_step "clean stop"
for i in 0 1 2; do rl_check "node $i exits cleanly on SIGTERM" wl_stop $i; done
for i in 0 1 2; do rl_check "node $i: no sanitizer report" wl_no_sanitizer "$RL_TMP/n$i.log"; done
rl_check "muster CLI: no sanitizer report" wl_no_sanitizer "$WL_CLI_LOG"
rl_log "script time $(wl_elapsed "$T0") s"
rl_finish
