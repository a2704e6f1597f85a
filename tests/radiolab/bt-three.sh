#!/bin/bash
# Three musterd nodes over Bluetooth LE only (radio lab VM): three btvirt
# controllers, bluetoothd, three nodes each on its own controller in the
# initial network namespace, started together. Node 0 has a paramedic,
# node 2 an AIC, node 1 is a relay only.
#  1. every node discovers the others through bluetoothd and has at least
#     one session (a full mesh when the controllers allow it: a connected LE
#     peripheral may stop advertising, so the topology can be a line);
#  2. a message from node 0's paramedic to role:aic reaches node 2 once, and
#     the relay node 1 stores it too;
#  3. clean exits, no sanitizer report.
# Run: tests/radiolab/run -e MU_BUILD_DIR=$PWD/build-asan --suite tests/radiolab/bt-three.sh
. "$RL_LIB"
. "$(dirname "$RL_SCRIPT")/bt-lib.sh"
# On Debian 12's 6.1.192 kernel three LE nodes dialling each other produce
# failed LE connection attempts, and closing such a socket hits the kernel's
# hci_chan_del list corruption (docs/bluetooth.md): the VM panics (status
# 125). So on a 6.1 kernel this script skips unless asked for
# (MU_BT_THREE=1); on newer kernels it runs unless MU_BT_THREE=0. Not in
# radiolab-bt: on 6.12 it does not panic but fails 3 runs in 7 (btvirt
# reports a second LE connection with a handle still in use: docs/radiolab.md).
case "$(uname -r)" in
6.1.*) [ "${MU_BT_THREE:-0}" = 1 ] || rl_skip "kernel $(uname -r) panics on failed LE connections; MU_BT_THREE=1 runs it anyway" ;;
*) [ "${MU_BT_THREE:-1}" = 1 ] || rl_skip "MU_BT_THREE=0" ;;
esac

rl_step "3 btvirt controllers, bluetoothd, a CA, 3 enrolled nodes (0: paramedic, 1: relay, 2: aic)"
T0=$(rl_uptime)
rl_check "CA" wl_ca || rl_finish
WL_ROLE=(paramedic "" aic)
rl_check "3 controllers" rl_bt_controllers 3 || rl_finish
for i in 0 1 2; do bt_node_bg $i "hci${RL_BT_INDEX[i]}"; done
rl_check "bluetoothd up, controllers powered" rl_bluetoothd_start || rl_finish
for i in 0 1 2; do rl_check "node $i: keys, credentials, config" wl_node_wait $i || rl_finish; done

rl_step "three nodes start together"
T1=$(rl_uptime)
for i in 0 1 2; do bt_start $i; done
for i in 0 1 2; do
	rl_check "node $i: bluetooth up" rl_wait 60 bt_mode_is $i le
done
up_any() { ! wl_peers_up "$1" 0; }
for i in 0 1 2; do
	rl_check "node $i: at least one session" rl_wait 120 up_any $i
done
rl_log "sessions after $(wl_elapsed "$T1") s"
for i in 0 1 2; do rl_log "node $i: $(bt_row $i)"; wl_mu $i peers | sed "s/^/  node $i: /"; done

rl_step "a message from node 0 to role:aic reaches node 2"
MSG="LE three nodes: RTC A59, 3 casualties, one trapped ($RANDOM)"
T2=$(rl_uptime)
rl_check "node 0 sends to role:aic, priority immediate" wl_send 0 "$MSG"
ID=$WL_SENT_ID
rl_check "node 2's inbox has it with the exact text" rl_wait 90 wl_inbox_has 2 "$ID" "$MSG"
rl_log "delivered $(wl_elapsed "$T2") s after send, $(wl_inbox_hops 2 "$ID") hop(s)"
rl_check "node 2 has it once" eval '[ "$(wl_inbox_n 2 "$ID")" = 1 ]'
rl_check "node 1 (a relay) stores it and both staff credentials" rl_wait 60 wl_jq 1 '.store.bundles >= 3'

rl_step "clean stop"
for i in 0 1 2; do rl_check "node $i exits cleanly on SIGTERM" wl_stop $i; done
for i in 0 1 2; do rl_check "node $i: no sanitizer report" wl_no_sanitizer "$RL_TMP/n$i.log"; done
rl_check "muster CLI: no sanitizer report" wl_no_sanitizer "$WL_CLI_LOG"
rl_log "script time $(wl_elapsed "$T0") s"
rl_finish
