#!/usr/bin/env bash
# tools/bench_link.sh: link benchmarks of real musterd daemons in network
# namespaces over veth (tests/mesh/lib.sh), each next to a reference
# measured over the same links in the same run. Root, iproute2, tc, python3.
# Run through tools/bench, which builds the default (release) preset:
#   tools/bench goodput [--rates "1mbit 100mbit"] [--seconds S]
#   tools/bench latency [--n N] [--rate R]
# goodput: two daemons, the link capped by tc tbf at each rate both ways; a
#   holds bulk bundles of 60,000-byte payload (mu-bench-fill, one sender), b
#   starts empty. Goodput = bundle encoding bytes b stores per second
#   (`muster status` store bytes, sampled every 100 ms, over the part of the
#   transfer between 10 % and 90 % of the total, so handshake and sync set-up
#   are left out). Reference: one raw TCP stream (python3) of the same bytes
#   through the same shaped link, timed at the receiver the same way.
#   Rate limits are off at b (they would measure the limiter, not the link).
# latency: five daemons in a line (4 hops), every link capped at R (default
#   10mbit). The first node's user sends N (default 50) immediate messages,
#   one every 200 ms, to the last node's user; latency = received - created
#   from the last node's `muster inbox --json` (one machine, one clock). Then
#   again while the first node's store of bulk bundles (60 KB each) streams
#   down the line and saturates every link. Reference: ping RTT across the
#   same 4 hops (IPv6 forwarding on the relays), all links up, then under
#   the bulk load.
# Output, one key=value line per figure (docs/benchmarks.md):
#   goodput cap_mbit=.. mbit=.. ratio=.. target=0.90 met=.. tcp_mbit=.. tcp_ratio=.. of_tcp=..
#   latency load=idle|bulk hops=4 n=.. p50_ms=.. p90_ms=.. max_ms=.. target_p50_ms=50 met=.. ping_rtt_ms=..
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

what=${1:-}
shift || true
rates="1mbit 100mbit"
seconds=10
n=50
lrate=10mbit
while [ $# -gt 0 ]; do
	case "$1" in
	--rates) rates=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--n) n=$2; shift 2 ;;
	--rate) lrate=$2; shift 2 ;;
	*) echo "usage: tools/bench_link.sh {goodput|latency} [--rates R..] [--seconds S] [--n N] [--rate R]" >&2; exit 2 ;;
	esac
done
case "$what" in goodput | latency) ;; *) echo "usage: tools/bench_link.sh {goodput|latency} ..." >&2; exit 2 ;; esac
MU_BIN=${MU_BENCH_BIN:-build}
[ -x "$MU_BIN/mu-bench-fill" ] || { echo "bench_link: $MU_BIN/mu-bench-fill not built" >&2; exit 1; }
MESH_LOG_LINES=20
. tests/mesh/lib.sh
mesh_init "bench-$what"
MESH_SYNC_MS=${BENCH_SYNC_MS:-30000} # the default sync_interval_ms
PAYLOAD=60000

mbit_of() { # tc rate (kbit, mbit, gbit) -> Mbit/s
	case "$1" in
	*gbit) echo "${1%gbit}000" ;;
	*mbit) echo "${1%mbit}" ;;
	*kbit) awk -v k="${1%kbit}" 'BEGIN { print k / 1000 }' ;;
	*) echo "bench_link: rate $1: use kbit, mbit or gbit" >&2; exit 2 ;;
	esac
}

# shape A B RATE: tbf both ways; burst at least 4 ms of the rate (tbf below
# that cannot reach its rate at 100 Mbit/s and more), at least 4 KiB.
shape() {
	local burst
	burst=$(awk -v m="$(mbit_of "$3")" 'BEGIN { b = m * 1e6 / 8 * 0.004; if (b < 4096) b = 4096; printf "%d", b }')
	ip netns exec "$(ns_of "$1")" tc qdisc replace dev "to$2" root tbf rate "$3" burst "$burst" latency 200ms &&
		ip netns exec "$(ns_of "$2")" tc qdisc replace dev "to$1" root tbf rate "$3" burst "$burst" latency 200ms ||
		fail "tc tbf $1-$2 $3"
}

# fill_node NODE COUNT: NODE runs on a mu-bench-fill store of COUNT bulk-size
# bundles from one sender (the fill's own CA, which every node trusts).
FILL=$MESH_TMP/fill
fill_node() {
	local node=$1 dir=$MESH_TMP/fill-$1
	"$MU_BIN/mu-bench-fill" "$dir" --n "$2" --extra 0 --senders 1 --payload $PAYLOAD >/dev/null 2>&1 ||
		fail "mu-bench-fill $2"
	node_conf "$node" "[node]" "data_dir = $dir/full" "identity = $dir/full/node.key" \
		"keyfile = $dir/full/node.kf" "credential = $dir/full/node.cred" "[trust]" "ca = $dir/ca.pub"
	FILL=$dir
}
no_limits() {
	node_conf "$1" "[node]" "rate_bytes_per_s = 0" "rate_bundles_per_s = 0" "rate_urgent_bytes_per_s = 0" \
		"rate_urgent_bundles_per_s = 0"
}

# steady_rate FILE TOTAL: FILE has "seconds bytes" samples; prints Mbit/s
# between the first samples at or past 10 % and 90 % of TOTAL.
steady_rate() {
	awk -v tot="$2" '
		!t1 && $2 >= 0.1 * tot { t1 = $1; b1 = $2 }
		t1 && !t2 && $2 >= 0.9 * tot { t2 = $1; b2 = $2 }
		END { if (t2 > t1) printf "%.2f", (b2 - b1) * 8 / (t2 - t1) / 1e6; else print "nan" }' "$1"
}

now_s() { echo "$EPOCHREALTIME"; }

# A raw TCP stream of BYTES from A to B, sampled at the receiver.
raw_tcp() { # raw_tcp A B BYTES OUT
	local addr
	addr=$(link_addr "$1" "$2")
	ip netns exec "$(ns_of "$2")" python3 - "$3" "$4" <<-'EOF' &
		import socket, sys, time
		total, out = int(sys.argv[1]), sys.argv[2]
		ls = socket.socket(socket.AF_INET6); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		ls.bind(("::", 7499)); ls.listen(1)
		c, _ = ls.accept(); got = 0; last = 0; rows = []
		while got < total:
		    d = c.recv(1 << 20)
		    if not d: break
		    got += len(d); t = time.monotonic()
		    if t - last >= 0.05: rows.append("%.3f %d" % (t, got)); last = t
		rows.append("%.3f %d" % (time.monotonic(), got))
		open(out, "w").write("\n".join(rows) + "\n")
	EOF
	local srv=$!
	sleep 0.5
	ip netns exec "$(ns_of "$1")" python3 - "$addr" "$3" <<-'EOF'
		import socket, sys
		s = socket.create_connection((sys.argv[1], 7499)); left = int(sys.argv[2]); buf = b"\0" * 65536
		while left > 0:
		    left -= s.send(buf[:min(left, len(buf))])
		s.shutdown(socket.SHUT_WR); s.recv(1)
	EOF
	wait $srv
}

bench_goodput() {
	local rate cap count total t0 bytes ratio tcp ratio_tcp met dups mbit
	ca_init ca
	for rate in $rates; do
		cap=$(mbit_of "$rate")
		# Enough bundles for --seconds at the cap (at least 12).
		count=$(awk -v m="$cap" -v s="$seconds" -v p=$PAYLOAD 'BEGIN { c = int(m * 1e6 / 8 * s / (p + 124)) + 2; if (c < 12) c = 12; print c }')
		for x in a b; do node_new "$x$cap" ca; done
		local a=a$cap b=b$cap
		fill_node $a "$count"
		node_conf $b "[trust]" "ca = $FILL/ca.pub"
		no_limits $b
		[ -n "${BENCH_DEBUG:-}" ] && node_conf $a "[node]" "debug = $BENCH_DEBUG" && node_conf $b "[node]" "debug = $BENCH_DEBUG"
		link_add $a $b
		node_peer $b $a
		shape $a $b "$rate"
		node_start $a
		total=$(status_num $a bytes)
		node_start $b
		: >"$MESH_TMP/samples"
		t0=$SECONDS
		while :; do
			bytes=$(status_num $b bytes)
			echo "$(now_s) ${bytes:-0}" >>"$MESH_TMP/samples"
			[ "${bytes:-0}" -ge "$total" ] && break
			[ $((SECONDS - t0)) -gt $((seconds * 4 + 30)) ] && fail "goodput $rate: b holds $bytes of $total bytes"
			sleep 0.1
		done
		mbit=$(steady_rate "$MESH_TMP/samples" "$total")
		dups=$(status_num $b bundles_duplicate)
		node_stop $b TERM
		node_stop $a TERM
		raw_tcp $a $b "$total" "$MESH_TMP/tcp"
		tcp=$(steady_rate "$MESH_TMP/tcp" "$total")
		ratio=$(awk -v g="$mbit" -v c="$cap" 'BEGIN { printf "%.3f", g / c }')
		ratio_tcp=$(awk -v g="$mbit" -v t="$tcp" 'BEGIN { printf "%.3f", g / t }')
		met=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.90 ? "yes" : "no") }')
		echo "goodput cap_mbit=$cap mbit=$mbit ratio=$ratio target=0.90 met=$met tcp_mbit=$tcp" \
			"tcp_ratio=$(awk -v t="$tcp" -v c="$cap" 'BEGIN { printf "%.3f", t / c }') of_tcp=$ratio_tcp" \
			"bundles=$count bytes=$total duplicates=$dups"
	done
}

# route_line: IPv6 forwarding on the relays and routes to every link's /64,
# so ping crosses the 4 hops the bundles do.
route_line() {
	local i j via
	for i in 2 3 4; do
		ip netns exec "$(ns_of n$i)" sysctl -qw net.ipv6.conf.all.forwarding=1 >/dev/null
	done
	for i in 1 2 3 4 5; do
		for j in 1 2 3 4; do # link j joins n$j and n$((j+1))
			[ $j -eq $i ] || [ $j -eq $((i - 1)) ] && continue
			if [ $j -gt $i ]; then via=$(link_addr n$i n$((i + 1))); else via=$(link_addr n$i n$((i - 1))); fi
			ip -n "$(ns_of n$i)" -6 route replace "fd00:0:0:$j::/64" via "$via" || fail "route on n$i"
		done
	done
}

# latency_run LOAD: N immediate messages n1 -> n5, one per 200 ms; prints the line.
latency_run() {
	local load=$1 i ids=() ping_ms
	ip netns exec "$(ns_of n1)" ping -6 -q -c 20 -i 0.2 "$(link_addr n4 n5)" >"$MESH_TMP/ping" 2>&1 &
	local pp=$!
	for i in $(seq "$n"); do
		mu_send n1 --to role:aic --priority immediate "latency $load $i"
		ids+=("$SENT_ID")
		sleep 0.2
	done
	wait $pp
	for i in "${ids[@]}"; do
		wait_until 60 "message $i at n5" inbox_has n5 "$i"
	done
	ping_ms=$(sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p' "$MESH_TMP/ping")
	mu n5 inbox --json --limit 1000000 --everything |
		grep -o '"id":"[0-9a-f]*"[^}]*"created":[0-9]*,"received":[0-9]*' >"$MESH_TMP/inbox"
	printf '%s\n' "${ids[@]}" | while read -r id; do
		grep "\"id\":\"$id\"" "$MESH_TMP/inbox" | sed 's/.*"created":\([0-9]*\),"received":\([0-9]*\)/\1 \2/'
	done | awk '{ print $2 - $1 }' | sort -n | awk -v load="$load" -v ping="${ping_ms:-nan}" '
		{ v[NR] = $1 }
		END {
			p50 = v[int((NR + 1) * 0.5)]; p90 = v[int(NR * 0.9 + 0.5)]
			printf "latency load=%s hops=4 n=%d p50_ms=%d p90_ms=%d max_ms=%d target_p50_ms=50 met=%s ping_rtt_ms=%s\n",
				load, NR, p50, p90, v[NR], p50 <= 50 ? "yes" : "no", ping
		}'
}

bench_latency() {
	local i count
	ca_init ca
	node_new n1 ca paramedic
	for i in 2 3 4; do node_new n$i ca; done
	node_new n5 ca aic
	node_new src ca # the bulk load, linked to n1 only for the second run
	for i in 1 2 3 4; do
		link_add n$i n$((i + 1))
		node_peer n$((i + 1)) n$i
	done
	link_add src n1
	node_peer src n1
	route_line
	for i in 1 2 3 4; do shape n$i n$((i + 1)) "$lrate"; done
	# About a minute of bulk at the link rate.
	count=$(awk -v m="$(mbit_of "$lrate")" -v p=$PAYLOAD 'BEGIN { print int(m * 1e6 / 8 * 60 / (p + 124)) + 2 }')
	fill_node src "$count"
	for i in 1 2 3 4 5; do
		no_limits n$i
		node_conf n$i "[trust]" "ca = $FILL/ca.pub"
	done
	for i in 1 2 3 4 5; do node_start n$i; done
	for i in 1 2 3 4; do wait_until 30 "n$i and n$((i + 1)) to meet" session_up n$i n$((i + 1)); done
	wait_until 30 "n5's user credential to reach n1" creds_at_least n1 2
	latency_run idle
	node_start src
	wait_until 30 "src and n1 to meet" session_up src n1
	wait_until 60 "the bulk load to reach n5" bundles_at_least n5 10
	latency_run bulk
	say "n5 holds $(store_bundles n5) bundles of the $count bulk ones at the end"
}

case "$what" in
goodput) bench_goodput ;;
latency) bench_latency ;;
esac
mesh_pass
