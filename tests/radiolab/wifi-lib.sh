#!/bin/bash
# tests/radiolab/wifi-lib.sh: helpers for the Wi-Fi driver's radio lab
# scripts (wifi-ibss.sh, wifi-mesh.sh), sourced after "$RL_LIB". Not a test
# itself: run directly, it skips. Each node is a musterd with its own data
# directory, CA-issued node credential (and, with WL_ROLE[i], a staff user),
# control socket, running in radio i's network namespace (ns_i), so its
# nl80211 sees only its own phy.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then echo "wifi-lib.sh is sourced by wifi-*.sh"; exit 77; fi
B=${MU_BUILD_DIR:?MU_BUILD_DIR: the build tree with musterd, muster, muster-ca}
for b in musterd muster muster-ca; do [ -x "$B/$b" ] || rl_skip "no $B/$b (build first)"; done
command -v jq > /dev/null || rl_skip "no jq (reads muster's --json output)"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
# Sanitizer reports in a daemon's or the CLI's output fail the script.
WL_SAN_RE='ERROR: (Address|Leak|Memory|Thread|UndefinedBehavior)Sanitizer|runtime error:'
declare -ga WL_PID=() WL_ROLE=() WL_SETUP_PID=()
WL_CLI_LOG=$RL_TMP/cli.log
: >> "$WL_CLI_LOG"

# wl_ca: a CA in $RL_TMP/ca.
wl_ca() {
	echo "radiolab wifi $RANDOM$RANDOM" > "$RL_TMP/ca.pass" && chmod 600 "$RL_TMP/ca.pass" &&
	"$B/muster-ca" init --dir "$RL_TMP/ca" --passphrase-file "$RL_TMP/ca.pass" > /dev/null
}

# wl_node I WIFI-LINES...: node I's keys, credential and config; the [wifi]
# section gets the given lines. With WL_ROLE[I] set (e.g. aic), also a staff
# user of that role ([user]); without, a relay-only node. Beacons every 5 s:
# discovery faster than that comes from the wifi driver's kicks.
wl_node() {
	local i=$1 d=$RL_TMP/n$1 capub role=${WL_ROLE[$1]:-}; shift
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
		printf 'sync_interval_ms = 1000\nsync_timeout_ms = 3000\ndebug = link\n'
		[ -z "$role" ] ||
			printf '[user]\nidentity = %s/user.key\nkeyfile = %s/user.kf\ncredential = %s/user.cred\n' "$d" "$d" "$d"
		printf '[trust]\nca = %s\n[control]\nsocket = %s/ctl.sock\ngroup =\n' "$capub" "$d"
		printf '[tcp]\nlisten = [::]:7420\nbeacon_interval_ms = 5000\nbeacon_interfaces = %s\n' "${WL_IF[i]}"
		printf '[wifi]\nenable = yes\n'
		printf '%s\n' "$@"
	} > "$d/muster.conf"
}
wl_issue() {
	"$B/muster-ca" issue --dir "$RL_TMP/ca" --passphrase-file "$RL_TMP/ca.pass" --pub "$1" \
		--subject "$2" --name "$3" --role "$4" --org NWAS --out "$5" > /dev/null
}

# wl_node_bg I WIFI-LINES... / wl_node_wait I: wl_node in the background (each
# CLI run costs seconds under TCG: enrol the nodes in parallel on the 2 vCPUs).
wl_node_bg() {
	local i=$1
	wl_node "$@" > "$RL_TMP/setup-n$i.log" 2>&1 &
	WL_SETUP_PID[i]=$!
}
wl_node_wait() { wait "${WL_SETUP_PID[$1]}" || { cat "$RL_TMP/setup-n$1.log"; return 1; }; }

# wl_start I: musterd for node I in ns_I (log: $RL_TMP/n$I.log).
wl_start() {
	local i=$1
	rl_bg "n$i" ip netns exec "${RL_WIFI_NS[i]}" "$B/musterd" -c "$RL_TMP/n$i/muster.conf"
	WL_PID[i]=$RL_BG_PID
}

# wl_stop I: SIGTERM; status 0 when musterd exits by itself within 15 s with
# status 0 (a clean exit: no leak report either), else 1 (KILLed if it hangs).
wl_stop() {
	local pid=${WL_PID[$1]} rc k
	kill -TERM "$pid" 2>/dev/null || { rl_log "musterd $1 was not running"; return 1; }
	for k in $(seq 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"; wait "$pid" 2>/dev/null
		rl_log "musterd $1 did not exit within 15 s of SIGTERM"; return 1
	fi
	wait "$pid"; rc=$?
	[ "$rc" -eq 0 ] || rl_log "musterd $1 exited with status $rc"
	return "$rc"
}
# wl_mu I CMD ARGS...: the muster CLI against node I (its stderr to cli.log).
wl_mu() { local i=$1 c=$2; shift 2; "$B/muster" "$c" --socket "$RL_TMP/n$i/ctl.sock" "$@" 2>> "$WL_CLI_LOG"; }
wl_status() { wl_mu "$1" status; }
wl_peers_up() { wl_status "$1" | grep -q "^peers *$2 up"; }
# wl_wifi_row I: node I's "wifi" row of muster status.
wl_wifi_row() { wl_status "$1" | awk '$1 == "wifi"'; }
wl_wifi_freq_is() { [ "$(wl_wifi_row "$1" | awk '{print $4}')" = "$2" ]; }
wl_log_has() { grep -qE "$2" "$RL_TMP/n$1.log"; }
wl_log_count() { grep -cE "$2" "$RL_TMP/n$1.log"; }

# wl_send I TEXT [ARGS...]: node I's user sends TEXT to role:aic, priority
# immediate (ARGS override); the bundle id is left in WL_SENT_ID.
WL_SENT_ID=
wl_send() {
	local i=$1 text=$2 out; shift 2
	out=$(wl_mu "$i" send --json --to role:aic --priority immediate "$@" "$text") || { rl_log "send: $out"; return 1; }
	WL_SENT_ID=$(jq -r '.id // empty' <<<"$out")
	[[ "$WL_SENT_ID" =~ ^[0-9a-f]{64}$ ]] || { rl_log "send printed no id: $out"; return 1; }
	rl_log "node $i sent ${WL_SENT_ID:0:16}: $text"
}
wl_inbox() { wl_mu "$1" inbox --json --limit 1000 --everything; }
# wl_inbox_n I ID: how many times bundle ID is in node I's inbox.
wl_inbox_n() { wl_inbox "$1" | jq --arg id "$2" '[.[] | select(.id == $id)] | length'; }
# wl_inbox_has I ID TEXT: node I's user can read ID, and its text is exactly TEXT.
wl_inbox_has() { wl_inbox "$1" | jq -e --arg id "$2" --arg t "$3" 'any(.[]; .id == $id and .text == $t)' > /dev/null; }
wl_inbox_lacks() { [ "$(wl_inbox_n "$1" "$2")" = 0 ]; }
# wl_inbox_hops I ID: hops of bundle ID when node I received it (1 = straight from the sender).
wl_inbox_hops() { wl_inbox "$1" | jq -r --arg id "$2" '.[] | select(.id == $id) | .hops'; }
# wl_jq I FILTER [jq args]: node I's `status --json` satisfies FILTER (jq -e).
wl_jq() { local i=$1; shift; wl_mu "$i" status --json | jq -e "$@" > /dev/null; }
# wl_links_json I: node I's link rows (for the log).
wl_links_json() { wl_mu "$1" status --json | jq -c '.links[]'; }
# wl_link_ok I DRIVER FILTER [JQ-ARGS...]: node I's status has exactly one
# link row of DRIVER, and it satisfies FILTER.
wl_link_ok() {
	local i=$1 d=$2 f=$3; shift 3
	wl_jq "$i" --arg d "$d" "$@" "[.links[] | select(.driver == \$d)] | length == 1 and (.[0] | $f)"
}
# wl_conn I SUBJECT FIELD: FIELD (bundles_in, bundles_out, ...) of node I's
# session with the node whose credential subject is SUBJECT (e.g. NODE-2).
wl_conn() {
	wl_mu "$1" peers --json | jq -r --arg s "$2" --arg f "$3" \
		'[.[] | select(.subject == $s and .state == "up")] | if length == 1 then .[0][$f] else "none" end'
}
# wl_no_sanitizer FILE...: no sanitizer report in any FILE.
wl_no_sanitizer() {
	! grep -qE "$WL_SAN_RE" "$@" || { grep -E -A12 "$WL_SAN_RE" "$@" | head -40; return 1; }
}
# wl_rfkill I 0|1: soft-unblock / block radio I's rfkill switch (named after
# its phy). Read inside ns_I: a phy's sysfs device shows only in its netns.
wl_rfkill() {
	rl_in "$1" sh -c 'for r in /sys/class/rfkill/rfkill*; do
		[ "$(cat "$r/name" 2>/dev/null)" = "$1" ] && { echo "$2" > "$r/soft"; exit; }; done; exit 1' \
		sh "${RL_WIFI_PHY[$1]}" "$2"
}
# wl_elapsed T0: seconds since uptime T0.
wl_elapsed() { awk -v a="$1" -v b="$(rl_uptime)" 'BEGIN{printf "%.1f", b-a}'; }
