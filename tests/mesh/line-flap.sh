#!/usr/bin/env bash
# A line of five nodes, discovery by IPv6 beacons, links flapping (ip link
# down/up, nftables drops and nftables TCP resets, chosen at random) while
# both ends send.
#
#   n1 --- n2 --- n3 --- n4 --- n5
#
# n1's user (paramedic) sends 40 messages to role:aic (n5's user) and n5's
# user sends 40 to role:paramedic, mixed priorities, while links flap. Once
# every link is healed: each end reads exactly the other's 40 (no loss, no
# duplicate), was told of each exactly once, and every node stores all 80
# messages plus the two credentials.
. "$(dirname "$0")/lib.sh"
mesh_init line-flap

N=40
nodes=(n1 n2 n3 n4 n5)
links=("n1 n2" "n2 n3" "n3 n4" "n4 n5")
ca_init ca
node_new n1 ca paramedic
for n in n2 n3 n4; do node_new $n ca; done
node_new n5 ca aic
# Receipts off: this test counts bundles exactly (receipts.sh covers them).
for n in n1 n5; do node_conf $n '[messaging]' 'delivery_receipts = no' 'read_receipts = no'; done
for l in "${links[@]}"; do link_add $l; done
# Link and sync debug lines: if this ever fails, the log tails say why.
for n in "${nodes[@]}"; do node_conf $n "[node]" "debug = link,sync"; done
for n in "${nodes[@]}"; do
	node_beacons $n
	node_start $n
done
for l in "${links[@]}"; do
	set -- $l
	wait_until 20 "$1 and $2 to open a session" session_up $1 $2
done
wait_until 20 "n5's user credential to reach n1" creds_at_least n1 2
wait_until 20 "n1's user credential to reach n5" creds_at_least n5 2

# The flapper: every 0.3-1.2 s one random link changes; a cut lasts up to
# a few seconds and is, at random, an ip link down, an nftables drop (TCP
# rides it out) or an nftables TCP reset (sessions end and are redialled).
(
	declare -A state=()
	trap 'exit 0' TERM
	while :; do
		l=${links[RANDOM % ${#links[@]}]}
		set -- $l
		case "${state[$l]:-ok}" in
		ok)
			case $((RANDOM % 3)) in
			0) link_down $1 $2; state[$l]=down ;;
			1) link_drop $1 $2; state[$l]=drop ;;
			2) link_reset $1 $2; state[$l]=reset ;;
			esac ;;
		down) link_up $1 $2; state[$l]=ok ;;
		drop) link_undrop $1 $2; state[$l]=ok ;;
		reset) link_unreset $1 $2; state[$l]=ok ;;
		esac
		echo "flap: $l ${state[$l]}" >>"$MESH_TMP/flaps"
		sleep 0.$((3 + RANDOM % 10))
	done
) &
flapper=$!
mesh_bg $flapper

prios=(immediate urgent routine bulk)
from1=() from5=()
for i in $(seq $N); do
	mu_send n1 --to role:aic --priority ${prios[i % 4]} "n1 to aic #$i"
	from1+=("$SENT_ID")
	mu_send n5 --to role:paramedic --priority ${prios[(i + 1) % 4]} "n5 to paramedic #$i"
	from5+=("$SENT_ID")
	sleep 0.1
done
sleep 2
kill -TERM $flapper 2>/dev/null || fail "the flapper died early (see above)"
wait $flapper || fail "the flapper failed"
say "$(wc -l <"$MESH_TMP/flaps") link changes while sending; healing every link"
for l in "${links[@]}"; do link_heal $l; done

want=$((2 * N + 2))
for n in "${nodes[@]}"; do
	wait_until 60 "$n to store all $want bundles" bundles_at_least $n $want
done
for n in "${nodes[@]}"; do
	node_alive $n
	[ "$(store_bundles $n)" -eq $want ] || fail "$n stores $(store_bundles $n) bundles, want $want"
done

# check_inbox NODE IDS...: exactly these ids, each once, each notified once.
check_inbox() {
	local node=$1 got dups missing
	shift
	got=$(inbox_ids $node | sort)
	dups=$(echo "$got" | uniq -d)
	[ -z "$dups" ] || fail "$node's inbox lists duplicates: $dups"
	missing=$(comm -23 <(printf '%s\n' "$@" | sort) <(echo "$got"))
	[ -z "$missing" ] || fail "$node lacks $(echo "$missing" | wc -l) messages: $missing"
	[ "$(echo "$got" | wc -l)" -eq $# ] || fail "$node's inbox has $(echo "$got" | wc -l) messages, want $#"
	[ "$(log_count $node 'new [a-z]+ message for')" -eq $# ] ||
		fail "$node was told of $(log_count $node 'new [a-z]+ message for') new messages, want $#"
}
check_inbox n5 "${from1[@]}"
check_inbox n1 "${from5[@]}"
mesh_pass
