#!/bin/bash
# The Wi-Fi driver end to end over real nl80211 (runs in the radio lab VM):
# three musterd nodes, one mac80211_hwsim radio each in its own network
# namespace, started at the same moment. The driver does all the radio setup
# from the config file (type, up, JOIN_IBSS on 2412 MHz with a static WEP key
# and the SSID-derived BSSID, so the three land in one cell); the IP driver's
# beacons and TCP sessions run over IPv6 link-local on top. Node 0 has a
# paramedic, node 2 an AIC, node 1 is a relay only.
#  1. an immediate message from node 0's paramedic to role:aic reaches node
#     2's inbox with its exact text; `muster status --json` shows each node's
#     wifi link (ibss, 2412, stations seen) and tcp link (bytes both ways);
#  2. node 2's radio is taken away (the phy leaves its namespace: DEL_INTERFACE
#     / DEL_WIPHY, as a hot-unplug looks from inside); a message sent to the
#     AIC meanwhile is not there, and arrives exactly once when the radio is
#     given back, without restarting musterd (store and forward);
#  3. node 1's radio is rfkill-blocked and unblocked;
#  4. clean leave, clean exits, no sanitizer report anywhere.
# Run: tests/radiolab/run -e MU_BUILD_DIR=$PWD/build-asan --suite tests/radiolab/wifi-ibss.sh
. "$RL_LIB"
. "$(dirname "$RL_SCRIPT")/wifi-lib.sh"
FREQ=2412

rl_step "3 hwsim radios, a CA, 3 enrolled nodes (0: paramedic, 1: relay only, 2: aic)"
rl_check "3 radios in ns_0..2" rl_wifi_radios 3 || rl_finish
declare -ga WL_IF=("${RL_WIFI_DEV[@]}")
WL_ROLE=(paramedic "" aic)
rl_check "CA" wl_ca || rl_finish
for i in 0 1 2; do
	wl_node_bg $i "interface = ${WL_IF[i]}" "ssid = incident-7" "freq_mhz = $FREQ" "key = 0102030405"
done
for i in 0 1 2; do rl_check "node $i: keys, credentials, config" wl_node_wait $i || rl_finish; done

rl_step "start the 3 daemons at once: the driver joins, peers find each other"
T0=$(rl_uptime)
for i in 0 1 2; do wl_start $i; done
for i in 0 1 2; do
	rl_check "node $i: wifi up in IBSS incident-7 @$FREQ" rl_wait 60 wl_wifi_freq_is $i $FREQ
done
rl_log "all joined after $(wl_elapsed "$T0") s"
for i in 0 1 2; do
	rl_check "node $i: 2 peers up (sessions over the cell)" rl_wait 60 wl_peers_up $i 2
done
rl_log "full mesh of sessions after $(wl_elapsed "$T0") s"
B0=$(rl_wifi_bssid 0)
rl_log "BSSIDs: $B0 $(rl_wifi_bssid 1) $(rl_wifi_bssid 2)"
rl_check "one cell: same BSSID on 0, 1 and 2" eval '[ -n "$B0" ] && [ "$(rl_wifi_bssid 1)" = "$B0" ] && [ "$(rl_wifi_bssid 2)" = "$B0" ]'
rl_check "the BSSID is locally administered unicast (derived from the SSID)" \
	eval '(( (0x${B0:0:2} & 3) == 2 ))'
rl_check "node 0 saw 2 stations (NEW_STATION events)" rl_wait 10 wl_link_ok 0 wifi '.peers_seen == 2'
rl_in 0 iw dev "${WL_IF[0]}" info | grep -E 'type|channel|ssid'
# the cell's BSS entry, as radio I's scan results have it, carries the Privacy bit (WEP)
ibss_privacy() {
	rl_in "$1" iw dev "${WL_IF[$1]}" scan dump | tee "$RL_TMP/scan-$1.log" |
		awk -v b="$2" '/^BSS / {inb = index($0, "BSS " b) == 1} inb && /capability:/ && /Privacy/ {f = 1} END {exit !f}'
}
for i in 0 2; do
	rl_check "node $i: cell $B0 has Privacy (the driver set the WEP key)" ibss_privacy $i "$B0"
done
grep -E '^BSS|capability' "$RL_TMP/scan-0.log"

rl_step "a message from the paramedic on node 0 to role:aic, read on node 2"
MSG1="IBSS handover: male 54, chest pain, SpO2 94% \"query STEMI\" -> bay 3 ($RANDOM)"
T1=$(rl_uptime)
rl_check "node 0 sends to role:aic, priority immediate" wl_send 0 "$MSG1"
ID1=$WL_SENT_ID
rl_check "node 2's inbox has it with the exact text" rl_wait 30 wl_inbox_has 2 "$ID1" "$MSG1"
rl_log "delivered $(wl_elapsed "$T1") s after send, $(wl_inbox_hops 2 "$ID1") hop(s)"
rl_check "node 2 has it once" eval '[ "$(wl_inbox_n 2 "$ID1")" = 1 ]'
rl_check "node 0's inbox (a paramedic) does not show it" wl_inbox_lacks 0 "$ID1"

rl_step "muster status --json: each link"
for i in 0 1 2; do
	wl_links_json $i | sed "s/^/  node $i: /"
	rl_check "node $i: wifi link ${WL_IF[i]}, ibss, $FREQ MHz, stations seen, bytes both ways" \
		wl_link_ok $i wifi ".interface == \$ifname and .mode == \"ibss\" and .freq_mhz == $FREQ and .peers_seen >= 1
			and .links_up == 0 and .bytes_in > 0 and .bytes_out > 0" --arg ifname "${WL_IF[i]}"
	rl_check "node $i: tcp link: 2 up, bytes in and out" \
		wl_link_ok $i tcp '.mode == "ip" and .links_up >= 2 and .bytes_in > 0 and .bytes_out > 0'
	rl_check "node $i: peers_up 2" wl_jq $i '.peers_up == 2'
done

rl_step "hot-unplug: node 2's phy leaves its namespace; a message for node 2 meanwhile"
PHY2=${RL_WIFI_PHY[2]}
rl_check "phy $PHY2 moved out of ns_2" rl_in 2 iw phy "$PHY2" set netns 1
rl_check "node 2 notices the radio is gone" rl_wait 20 wl_log_has 2 'our radio is gone|was removed'
rl_check "node 2 reports wifi down (freq -)" rl_wait 20 wl_wifi_freq_is 2 -
rl_check "node 2's status --json: wifi freq 0" wl_link_ok 2 wifi '.freq_mhz == 0'
MSG2="IBSS while away: RTC on M62 J12, 2 patients, need HART ($RANDOM)"
rl_check "node 0 sends to role:aic while node 2 has no radio" wl_send 0 "$MSG2"
ID2=$WL_SENT_ID
sleep 3
rl_check "node 2 does not have it yet" wl_inbox_lacks 2 "$ID2"
T2=$(rl_uptime)
rl_check "phy $PHY2 back into ns_2" iw phy "$PHY2" set netns name ns_2
rl_check "node 2 rejoins without a restart" rl_wait 60 wl_wifi_freq_is 2 $FREQ
rl_check "node 2 receives the message sent while it was away" rl_wait 60 wl_inbox_has 2 "$ID2" "$MSG2"
rl_log "delivered $(wl_elapsed "$T2") s after the radio returned, $(wl_inbox_hops 2 "$ID2") hop(s)"
rl_check "node 2: 2 peers up again" rl_wait 60 wl_peers_up 2 2
rl_log "node 2 back in the mesh $(wl_elapsed "$T2") s after its radio returned"
sleep 2   # more offers of the same bundle (from node 0 and node 1) would land by now
rl_check "node 2 has it exactly once" eval '[ "$(wl_inbox_n 2 "$ID2")" = 1 ]'
rl_check "node 2's inbox: exactly the 2 messages, each once" \
	eval '[ "$(wl_inbox 2 | jq -c "[.[].id] | sort")" = "$(jq -nc --arg a "$ID1" --arg b "$ID2" "[\$a, \$b] | sort")" ]'

rl_step "rfkill: node 1's radio blocked, then unblocked"
PHY1=${RL_WIFI_PHY[1]}
rl_check "rfkill block $PHY1" wl_rfkill 1 1
rl_check "node 1 reports wifi down" rl_wait 20 wl_wifi_freq_is 1 -
rl_check "node 1 logs the block" rl_wait 20 wl_log_has 1 'blocked by rfkill'
T3=$(rl_uptime)
rl_check "rfkill unblock $PHY1" wl_rfkill 1 0
rl_check "node 1 rejoins" rl_wait 60 wl_wifi_freq_is 1 $FREQ
rl_check "node 1: 2 peers up again" rl_wait 90 wl_peers_up 1 2
rl_log "node 1 back $(wl_elapsed "$T3") s after unblock"

rl_step "clean stop: node 0 leaves the cell"
rl_check "node 0 exits cleanly on SIGTERM" wl_stop 0
rl_check "node 0 logged its leave" wl_log_has 0 'wifi: left'
rl_check "${WL_IF[0]} is no longer in a cell" eval '! rl_in 0 iw dev "${WL_IF[0]}" link | grep -q "Joined IBSS"'
for i in 1 2; do rl_check "node $i exits cleanly on SIGTERM" wl_stop $i; done
for i in 0 1 2; do
	rl_check "node $i: no sanitizer report in its log" wl_no_sanitizer "$RL_TMP/n$i.log"
done
rl_check "muster, muster-ca: no sanitizer report" wl_no_sanitizer "$WL_CLI_LOG" "$RL_TMP"/setup-n*.log
rl_log "script time $(wl_elapsed "$T0") s since the daemons started"
rl_finish
