#!/bin/bash
# The Wi-Fi driver in 802.11s mode over real nl80211 (radio lab VM): three
# nodes configured by phy, not interface, so the driver creates "muster0" on
# each radio (NEW_INTERFACE, type mesh point), joins mesh "muster-mesh" on
# 2412 MHz (an open mesh, allowed explicitly: the kernel alone has no mesh
# security) and sessions form over it. Node 0 has a paramedic, node 2 an
# AIC, node 1 is a relay only. Then the mesh is made a line 0 - 1 - 2: the
# peer link between 0 and 2 is blocked on both ends (plink_action block), so
# 0 cannot hear 2 directly:
#  A. radio-layer relay: node 0's path to node 2 goes through node 1 (HWMP);
#     an immediate message from 0 to role:aic reaches 2 over the two radio hops;
#  B. Muster relay: node 1 stops forwarding mesh frames (mesh_fwding 0), so
#     no frame gets from 0 to 2 at all; a second message reaches 2 by store
#     and forward through node 1's musterd (2 Muster hops).
# On stop each node leaves and deletes the interface it made.
# Run: tests/radiolab/run -e MU_BUILD_DIR=$PWD/build-asan --suite tests/radiolab/wifi-mesh.sh
. "$RL_LIB"
. "$(dirname "$RL_SCRIPT")/wifi-lib.sh"
FREQ=2412

rl_step "3 hwsim radios, 3 nodes configured by phy (0: paramedic, 1: relay only, 2: aic)"
rl_check "3 radios in ns_0..2" rl_wifi_radios 3 || rl_finish
declare -ga WL_IF=(muster0 muster0 muster0)
WL_ROLE=(paramedic "" aic)
rl_check "CA" wl_ca || rl_finish
for i in 0 1 2; do
	wl_node_bg $i "phy = ${RL_WIFI_PHY[i]}" "mode = mesh" "mesh_id = muster-mesh" "allow_open = yes"
done
for i in 0 1 2; do rl_check "node $i: keys, credentials, config" wl_node_wait $i || rl_finish; done

rl_step "start the 3 daemons: each creates muster0 and joins the mesh"
T0=$(rl_uptime)
for i in 0 1 2; do wl_start $i; done
for i in 0 1 2; do
	rl_check "node $i: muster0 created, mesh up @$FREQ" rl_wait 60 wl_wifi_freq_is $i $FREQ
done
rl_in 0 iw dev | grep -E 'Interface|type'
rl_check "muster0 is a mesh point" eval 'rl_in 0 iw dev muster0 info | grep -q "type mesh point"'
for i in 0 1 2; do
	rl_check "node $i: 2 peers up over the mesh" rl_wait 60 wl_peers_up $i 2
done
rl_log "sessions over 802.11s after $(wl_elapsed "$T0") s"
declare -a MAC=()
for i in 0 1 2; do MAC[i]=$(rl_in $i cat /sys/class/net/muster0/address); done
rl_log "muster0 addresses: ${MAC[*]}"

rl_step "make a line 0 - 1 - 2: block the peer link between 0 and 2"
# plink_action needs the station entry: wait until each end has the other.
mesh_sta() { rl_in "$1" iw dev muster0 station get "$2" > /dev/null 2>&1; }
mesh_plink() { rl_in "$1" iw dev muster0 station get "$2" 2>/dev/null | awk -F'\t+' '/mesh plink:/{print $NF}'; }
mesh_plink_is() { [ "$(mesh_plink "$1" "$2")" = "$3" ]; }
rl_check "node 0 has station node 2" rl_wait 20 mesh_sta 0 "${MAC[2]}"
rl_check "node 2 has station node 0" rl_wait 20 mesh_sta 2 "${MAC[0]}"
rl_check "block 0 -> 2" rl_in 0 iw dev muster0 station set "${MAC[2]}" plink_action block
rl_check "block 2 -> 0" rl_in 2 iw dev muster0 station set "${MAC[0]}" plink_action block
rl_check "node 0: peer link to node 2 BLOCKED" rl_wait 10 mesh_plink_is 0 "${MAC[2]}" BLOCKED
rl_check "node 2: peer link to node 0 BLOCKED" rl_wait 10 mesh_plink_is 2 "${MAC[0]}" BLOCKED
rl_check "node 1: peer links to 0 and 2 ESTAB" \
	eval 'mesh_plink_is 1 "${MAC[0]}" ESTAB && mesh_plink_is 1 "${MAC[2]}" ESTAB'

rl_step "A: the message crosses 2 radio hops (HWMP forwards it through node 1)"
# node 2's IPv6 link-local address on muster0 (its sessions run over it: DAD is done)
LL2=$(rl_in 2 ip -6 -o addr show dev muster0 scope link | awk '{sub("/.*", "", $4); print $4; exit}')
rl_check "node 2 has a link-local address on muster0 ($LL2)" eval '[[ "$LL2" == fe80:* ]]'
# the path to node 2 as node 0 has it: next hop node 1 (HWMP finds it on traffic)
mpath_via() { [ "$(rl_in "$1" iw dev muster0 mpath get "$2" 2>/dev/null | awk -v d="$2" '$1 == d {print $2}')" = "$3" ]; }
rl_check "node 0 pings node 2 over the line" rl_wait 20 rl_in 0 ping -6 -c 1 -W 1 "$LL2%muster0"
rl_check "node 0's mesh path to node 2: next hop node 1" rl_wait 20 mpath_via 0 "${MAC[2]}" "${MAC[1]}"
rl_check "node 2's mesh path to node 0: next hop node 1" rl_wait 20 mpath_via 2 "${MAC[0]}" "${MAC[1]}"
rl_in 0 iw dev muster0 mpath dump
IN20=$(wl_conn 2 NODE-0 bundles_in)
rl_check "node 2 has a session with node 0 (over node 1's radio)" eval '[[ "$IN20" =~ ^[0-9]+$ ]]'
MSG1="802.11s A: cardiac arrest, ROSC achieved, ETA 9 min, \"cath lab\" please ($RANDOM)"
T1=$(rl_uptime)
rl_check "node 0 sends to role:aic, priority immediate" wl_send 0 "$MSG1"
ID1=$WL_SENT_ID
rl_check "node 2's inbox has it with the exact text" rl_wait 30 wl_inbox_has 2 "$ID1" "$MSG1"
H1=$(wl_inbox_hops 2 "$ID1")
rl_log "delivered $(wl_elapsed "$T1") s after send, $H1 Muster hop(s)"
rl_check "hops 1 (straight over the 2-hop radio path) or 2 (via node 1's musterd)" eval '[ "$H1" = 1 ] || [ "$H1" = 2 ]'
rl_check "node 2 got bundles over its session with node 0 (was $IN20)" \
	rl_wait 10 eval '[ "$(wl_conn 2 NODE-0 bundles_in)" -gt "$IN20" ]'
rl_check "node 0's path to node 2 still via node 1" mpath_via 0 "${MAC[2]}" "${MAC[1]}"
rl_check "node 0 - node 2 peer link still BLOCKED" mesh_plink_is 0 "${MAC[2]}" BLOCKED

rl_step "B: node 1 stops forwarding mesh frames: only Muster can carry it"
rl_check "node 1: mesh_fwding 0" rl_in 1 iw dev muster0 set mesh_param mesh_fwding 0
rl_check "node 1 reports mesh_fwding = 0" eval 'rl_in 1 iw dev muster0 get mesh_param mesh_fwding | grep -qx "0"'
rl_check "node 0 can no longer reach node 2 at all (ping $LL2 fails)" \
	eval '[[ "$LL2" == fe80:* ]] && ! rl_in 0 ping -6 -c 2 -W 1 "$LL2%muster0" > /dev/null 2>&1'
R1=$(wl_mu 1 status --json | jq .bundles_received)
MSG2="802.11s B: relay via node 1, paediatric burns 15%, request HEMS ($RANDOM)"
T2=$(rl_uptime)
rl_check "node 0 sends to role:aic, priority immediate" wl_send 0 "$MSG2"
ID2=$WL_SENT_ID
rl_check "node 2's inbox has it with the exact text" rl_wait 40 wl_inbox_has 2 "$ID2" "$MSG2"
rl_log "delivered $(wl_elapsed "$T2") s after send"
rl_check "it came through node 1's musterd: 2 hops" eval '[ "$(wl_inbox_hops 2 "$ID2")" = 2 ]'
rl_check "node 1 received it (bundles_received $R1 before)" wl_jq 1 ".bundles_received > $R1"
sleep 2
rl_check "node 2's inbox: exactly the 2 messages, each once" \
	eval '[ "$(wl_inbox 2 | jq -c "[.[].id] | sort")" = "$(jq -nc --arg a "$ID1" --arg b "$ID2" "[\$a, \$b] | sort")" ]'

rl_step "muster status --json: each link"
for i in 0 1 2; do
	wl_links_json $i | sed "s/^/  node $i: /"
	rl_check "node $i: wifi link muster0, mesh, $FREQ MHz, stations seen, bytes both ways" \
		wl_link_ok $i wifi ".interface == \"muster0\" and .mode == \"mesh\" and .freq_mhz == $FREQ
			and .peers_seen >= 1 and .links_up == 0 and .bytes_in > 0 and .bytes_out > 0"
	rl_check "node $i: tcp link: up, bytes in and out" \
		wl_link_ok $i tcp '.mode == "ip" and .links_up >= 1 and .bytes_in > 0 and .bytes_out > 0'
done

rl_step "clean stop removes the interface the driver made"
for i in 0 1 2; do rl_check "node $i exits cleanly on SIGTERM" wl_stop $i; done
rl_check "muster0 gone from ns_0" eval '! rl_in 0 ip link show muster0 >/dev/null 2>&1'
rl_check "node 0 logged leave and removal" wl_log_has 0 'left muster0 and removed it'
for i in 0 1 2; do
	rl_check "node $i: no sanitizer report in its log" wl_no_sanitizer "$RL_TMP/n$i.log"
done
rl_check "muster, muster-ca: no sanitizer report" wl_no_sanitizer "$WL_CLI_LOG" "$RL_TMP"/setup-n*.log
rl_log "script time $(wl_elapsed "$T0") s since the daemons started"
rl_finish
