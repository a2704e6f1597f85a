#!/bin/bash
# tests/radiolab/bt-lib.sh: helpers for the Bluetooth driver's radio lab
# scripts (bt-*.sh), sourced after "$RL_LIB". Not a test itself: run
# directly, it skips. Builds on wifi-lib.sh (CA, enrolment, the CLI helpers
# wl_mu / wl_send / wl_inbox_* / wl_peers_up / wl_stop, which work on node
# directories $RL_TMP/nI whatever the radio). Bluetooth nodes run in the
# initial network namespace (AF_BLUETOOTH exists only there); each binds its
# own btvirt controller (hciN).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then echo "bt-lib.sh is sourced by bt-*.sh"; exit 77; fi
. "$(dirname "${BASH_SOURCE[0]}")/wifi-lib.sh"
# Logs come back even when the suite's time limit ends the script.
trap 'cp -a "$RL_TMP"/*.log "$RL_OUT/" 2>/dev/null' EXIT

# bt_node I HCI [LINES...]: node I's keys, credential (a staff user too when
# WL_ROLE[I] is set) and a config with only the bluetooth driver on
# controller HCI (e.g. hci1); LINES are appended (more sections may follow).
bt_node() {
	local i=$1 hci=$2 d=$RL_TMP/n$1 capub role=${WL_ROLE[$1]:-}; shift 2
	mkdir -p "$d"
	"$B/muster" keygen --out "$d/node.key" --keyfile "$d/node.kf" > /dev/null || return 1
	wl_issue "$d/node.key.pub" "NODE-$i" "Node $i" node "$d/node.cred" || return 1
	if [ -n "$role" ]; then
		"$B/muster" keygen --out "$d/user.key" --keyfile "$d/user.kf" > /dev/null || return 1
		wl_issue "$d/user.key.pub" "STAFF-$i" "Staff $i" "$role" "$d/user.cred" || return 1
	fi
	capub=$(ls "$RL_TMP"/ca/*.pub | head -1)
	{
		printf '[node]\ndata_dir = %s\nidentity = %s/node.key\nkeyfile = %s/node.kf\ncredential = %s/node.cred\n' \
			"$d" "$d" "$d" "$d"
		printf 'sync_interval_ms = 1000\nsync_timeout_ms = 5000\ndebug = link\n'
		[ -z "$role" ] ||
			printf '[user]\nidentity = %s/user.key\nkeyfile = %s/user.kf\ncredential = %s/user.cred\n' "$d" "$d" "$d"
		printf '[trust]\nca = %s\n[control]\nsocket = %s/ctl.sock\ngroup =\n' "$capub" "$d"
		printf '[tcp]\nenable = no\n'
		printf '[bluetooth]\nenable = yes\nadapter = %s\nretry_ms = 2000\n' "$hci"
		printf '%s\n' "$@"
	} > "$d/muster.conf"
}
bt_node_bg() {
	local i=$1
	bt_node "$@" > "$RL_TMP/setup-n$i.log" 2>&1 &
	WL_SETUP_PID[i]=$!
}

# bt_start I [NETNS]: musterd for node I (in NETNS if given; Bluetooth
# nodes must stay in the initial namespace).
bt_start() {
	local i=$1 ns=${2:-}
	if [ -n "$ns" ]; then
		rl_bg "n$i" ip netns exec "$ns" "$B/musterd" -c "$RL_TMP/n$i/muster.conf"
	else
		rl_bg "n$i" "$B/musterd" -c "$RL_TMP/n$i/muster.conf"
	fi
	WL_PID[i]=$RL_BG_PID
}

# bt_row I: node I's bluetooth link row (status --json), compact.
bt_row() { wl_mu "$1" status --json | jq -c '.links[] | select(.driver == "bluetooth")'; }
# bt_mode_is I MODE: node I's bluetooth row shows MODE (le, le-off, le-setup).
bt_mode_is() { [ "$(wl_mu "$1" status --json | jq -r '.links[] | select(.driver == "bluetooth") | .mode')" = "$2" ]; }
# bt_power IDX on|off: power controller IDX (mgmt index) through mgmt, as
# an operator's `btmgmt power off` or a dying radio would.
bt_power() { rl_btmgmt --index "$1" power "$2" > /dev/null; }
bt_powered() { rl_btmgmt --index "$1" info | grep -q 'current settings: powered'; }
# bt_peer_subject_up I SUBJECT: node I has a session up with SUBJECT.
bt_session_up() { [ "$(wl_conn "$1" "$2" state 2>/dev/null)" != none ]; }
