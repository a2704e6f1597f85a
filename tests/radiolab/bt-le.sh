#!/bin/bash
# The Bluetooth driver end to end over BlueZ (runs in the radio lab VM):
# two btvirt controllers on one virtual air, bluetoothd on the system D-Bus,
# two musterd nodes with only the bluetooth driver, each on its own
# controller (all in the initial network namespace, where AF_BLUETOOTH is).
# Node 0 has a paramedic, node 2 an AIC (node numbers as in bt-three.sh).
#  1. each registers its LE advertisement and discovers the other through
#     bluetoothd (discovery filter on Muster's UUID, devices by signals); a
#     session comes up over an LE credit-based L2CAP channel; an immediate
#     message from 0 reaches 2's inbox with its text;
#  2. node 2's controller is powered off (mgmt, as `btmgmt power off`):
#     node 2 reports it, its sessions end; a message sent meanwhile is not
#     there; the controller is powered on again and the message arrives,
#     without restarting musterd (not on a 6.1 kernel unless MU_BT_POWER=1:
#     see below);
#  3. clean exits, no sanitizer report.
# Run: tests/radiolab/run -e MU_BUILD_DIR=$PWD/build-asan --suite tests/radiolab/bt-le.sh
. "$RL_LIB"
. "$(dirname "$RL_SCRIPT")/bt-lib.sh"

rl_step "2 btvirt controllers, bluetoothd, a CA, 2 enrolled nodes (0: paramedic, 2: aic)"
T0=$(rl_uptime)
rl_check "CA" wl_ca || rl_finish
WL_ROLE=(paramedic "" aic)
rl_check "2 controllers" rl_bt_controllers 2 || rl_finish
bt_node_bg 0 "hci${RL_BT_INDEX[0]}"
bt_node_bg 2 "hci${RL_BT_INDEX[1]}"
rl_check "bluetoothd up, controllers powered" rl_bluetoothd_start || rl_finish
for i in 0 2; do rl_check "node $i: keys, credentials, config" wl_node_wait $i || rl_finish; done
rl_log "lab ready after $(wl_elapsed "$T0") s"

rl_step "over LE: 0 and 2 find each other and open a session"
T1=$(rl_uptime)
bt_start 0
bt_start 2
for i in 0 2; do
	rl_check "node $i: bluetooth up (advertising, scanning, listening)" rl_wait 60 bt_mode_is $i le
done
rl_check "node 0: session with node 2" rl_wait 90 wl_peers_up 0 1
rl_check "node 2: session with node 0" rl_wait 30 wl_peers_up 2 1
rl_log "session up $(wl_elapsed "$T1") s after start"
for i in 0 2; do rl_log "node $i: $(bt_row $i)"; done
MSG1="LE handover: female 31, anaphylaxis, adrenaline given 14:02 ($RANDOM)"
T2=$(rl_uptime)
rl_check "node 0 sends to role:aic, priority immediate" wl_send 0 "$MSG1"
ID1=$WL_SENT_ID
rl_check "node 2's inbox has it with the exact text" rl_wait 30 wl_inbox_has 2 "$ID1" "$MSG1"
rl_log "delivered $(wl_elapsed "$T2") s after send, $(wl_inbox_hops 2 "$ID1") hop(s)"
rl_check "node 0: bluetooth row: le, 1 link up, bytes both ways" \
	wl_link_ok 0 bluetooth '.mode == "le" and .links_up == 1 and .bytes_in > 0 and .bytes_out > 0 and .peers_seen >= 1'

# Powering a controller off under open LE channels makes musterd close
# their sockets, and on Debian 12's 6.1 kernels (6.1.192) that close can hit
# the kernel's hci_chan_del list corruption (docs/bluetooth.md): the VM
# panics, not every time. So on a 6.1 kernel this part runs only on request
# (MU_BT_POWER=1); on newer kernels (6.12 passed it) it runs unless
# MU_BT_POWER=0.
case "$(uname -r)" in 6.1.*) BT_POWER_DEFAULT=0 ;; *) BT_POWER_DEFAULT=1 ;; esac
if [ "${MU_BT_POWER:-$BT_POWER_DEFAULT}" = 1 ]; then
	rl_step "node 2's controller powered off mid-run, a message meanwhile, powered on"
	IDX2=${RL_BT_INDEX[1]}
	rl_check "hci$IDX2 powered off (mgmt)" bt_power "$IDX2" off
	rl_check "node 2 reports its adapter off" rl_wait 20 bt_mode_is 2 le-off
	rl_check "node 2 logs it" rl_wait 10 wl_log_has 2 'powered off'
	rl_check "node 2: no sessions" rl_wait 60 wl_peers_up 2 0
	rl_check "node 0: no sessions (the channel died with the radio)" rl_wait 60 wl_peers_up 0 0
	MSG3="LE while off: crew 2 redeploy to RVP north ($RANDOM)"
	rl_check "node 0 sends to role:aic while node 2 is off" wl_send 0 "$MSG3"
	ID3=$WL_SENT_ID
	sleep 3
	rl_check "node 2 does not have it yet" wl_inbox_lacks 2 "$ID3"
	T4=$(rl_uptime)
	rl_check "hci$IDX2 powered on (mgmt)" bt_power "$IDX2" on
	rl_check "node 2 is back up (advertising, scanning)" rl_wait 60 bt_mode_is 2 le
	rl_check "node 2 receives the message sent while it was off" rl_wait 120 wl_inbox_has 2 "$ID3" "$MSG3"
	rl_log "delivered $(wl_elapsed "$T4") s after power-on, $(wl_inbox_hops 2 "$ID3") hop(s)"
	rl_check "node 2 has it exactly once" eval '[ "$(wl_inbox_n 2 "$ID3")" = 1 ]'
	rl_check "node 0 and 2: sessions up again" rl_wait 30 eval 'wl_peers_up 0 1 && wl_peers_up 2 1'
else
	rl_log "controller power off/on skipped on kernel $(uname -r) (MU_BT_POWER=1 runs it)"
fi

rl_step "clean stop"
for i in 0 2; do rl_check "node $i exits cleanly on SIGTERM" wl_stop $i; done
for i in 0 2; do rl_check "node $i: no sanitizer report" wl_no_sanitizer "$RL_TMP/n$i.log"; done
rl_check "muster CLI: no sanitizer report" wl_no_sanitizer "$WL_CLI_LOG"
rl_log "script time $(wl_elapsed "$T0") s"
rl_finish
