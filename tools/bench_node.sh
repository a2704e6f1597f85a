#!/usr/bin/env bash
# tools/bench_node.sh: the real musterd on a store of N bundles, next to the
# same daemon on an empty store (the reference), measured the same way in
# the same run. Run through tools/bench, which builds the default preset:
#   tools/bench startup [--n N] [--runs R] [--cold]
#   tools/bench memory  [--n N] [--extra M]
# startup: R rounds (default 5), each starting the empty node then the full
#   one; ready = `muster status` answers on the control socket, timed from
#   just before exec (EPOCHREALTIME, polled without sleeping). Also the time
#   musterd's own "ready" log line was read. Best and worst of R. One line
#   with the page cache warm (a restart), one cold: the node's data.mdb
#   dropped from the page cache before each start (dd iflag=nocache count=0,
#   that file only), as after a reboot. --cold: the cold line only.
# memory: VmHWM / RssAnon / RssFile (/proc/PID/status) of the full node once
#   ready, and again after it synced over loopback TCP with a second daemon
#   (static peer) holding the same N bundles plus M others, once both hold
#   all N + M; RssAnon is also sampled every ~20 ms during the sync for its
#   peak. The empty node, once ready, is the reference.
# The fill (mu-bench-fill) is done before anything is timed. Data lives in a
# fresh directory under ${TMPDIR:-/var/tmp} (a disk), removed at exit.
# Output, one key=value line per figure (docs/benchmarks.md):
#   startup bundles=N ready_ms=.. ready_ms_worst=.. log_ready_ms=.. target_ms=100 met=..
#           ref_bundles=0 ref_ready_ms=.. ref_ready_ms_worst=.. ref_log_ready_ms=..
#   memory bundles=N rss_kb=.. anon_kb=.. anon_peak_kb=.. file_kb=.. target_kb=16384 met=..
#          ref_bundles=0 ref_rss_kb=.. ref_anon_kb=.. (and detail lines)
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

bin=${MU_BENCH_BIN:-build}
what=${1:-}
shift || true
n=100000
extra=100
runs=5
cold=0
while [ $# -gt 0 ]; do
	case "$1" in
	--n) n=$2; shift 2 ;;
	--extra) extra=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--cold) cold=1; shift ;;
	*) echo "usage: tools/bench_node.sh {startup|memory} [--n N] [--extra M] [--runs R] [--cold]" >&2; exit 2 ;;
	esac
done
case "$what" in startup | memory) ;; *) echo "usage: tools/bench_node.sh {startup|memory} ..." >&2; exit 2 ;; esac
for b in musterd muster mu-bench-fill; do
	[ -x "$bin/$b" ] || { echo "bench_node: $bin/$b not built" >&2; exit 1; }
done
bin=$(cd "$bin" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/mu-bench-node.XXXXXX")
declare -A PID=() T0=()
cleanup() {
	local p
	for p in "${PID[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true # daemons and their log readers
	rm -rf "$tmp"
}
trap cleanup EXIT

say() { printf '  %s\n' "$*" >&2; }

# A free loopback TCP port.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
	done
}

# conf NAME DATADIR PORT [PEERPORT]
conf() {
	{
		printf '[node]\ndata_dir = %s\nlog_level = info\n' "$2"
		printf '[control]\nsocket = %s/%s.sock\ngroup =\n' "$tmp" "$1"
		printf '[tcp]\nlisten = 127.0.0.1:%s\n' "$3"
		[ -z "${4:-}" ] || printf 'peer = 127.0.0.1:%s\n' "$4"
		printf '[trust]\nca = %s/data/ca.pub\n' "$tmp"
	} >"$tmp/$1.conf"
}

# start NAME: execs musterd; its stderr lines get arrival timestamps.
start() {
	local name=$1
	rm -f "$tmp/$name.sock"
	T0[$name]=$EPOCHREALTIME
	"$bin/musterd" -c "$tmp/$name.conf" 2> >(while IFS= read -r l; do
		printf '%s %s\n' "$EPOCHREALTIME" "$l"
	done >"$tmp/$name.log") &
	PID[$name]=$!
}

ms_since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }'; }

# wait_ready NAME: prints ms from exec to the first answered `muster status`.
wait_ready() {
	local name=$1 deadline=$((SECONDS + 60))
	until "$bin/muster" status --socket "$tmp/$name.sock" >/dev/null 2>&1; do
		kill -0 "${PID[$name]}" 2>/dev/null || { cat "$tmp/$name.log" >&2; echo "bench_node: musterd $name died" >&2; exit 1; }
		[ $SECONDS -lt $deadline ] || { echo "bench_node: $name not ready in 60 s" >&2; exit 1; }
	done
	ms_since "${T0[$name]}" "$EPOCHREALTIME"
}

# log_ready NAME: ms from exec to the arrival of musterd's "ready" line.
log_ready() {
	local name=$1 t i
	for i in $(seq 100); do
		t=$(awk '/\] info main: ready$/ { print $1; exit }' "$tmp/$name.log" 2>/dev/null || true)
		[ -n "$t" ] && { ms_since "${T0[$name]}" "$t"; return; }
		sleep 0.01
	done
	echo nan
}

stop() {
	local name=$1
	kill -TERM "${PID[$name]}"
	wait "${PID[$name]}" || { echo "bench_node: musterd $name exited with $?" >&2; tail "$tmp/$name.log" >&2; exit 1; }
	unset "PID[$name]"
}

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/${PID[$1]}/status"; }

bundles() {
	"$bin/muster" status --json --socket "$tmp/$1.sock" 2>/dev/null | grep -o '"bundles":[0-9]*' | cut -d: -f2
}

min_max() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s %s\n", lo, hi }'; }

say "filling stores (not timed)"
fill=$("$bin/mu-bench-fill" "$tmp/data" --n "$n" --extra "$extra")
say "$fill"
port_full=$(free_port)
port_empty=$(free_port)
conf empty "$tmp/data/empty" "$port_empty"
conf full "$tmp/data/full" "$port_full"

if [ "$what" = startup ]; then
	modes="warm cold"
	[ "$cold" = 0 ] || modes=cold
	for mode in $modes; do
		for f in r.empty r.full l.empty l.full; do
			: >"$tmp/$f"
		done
		for r in $(seq "$runs"); do
			for name in empty full; do
				[ "$mode" = warm ] ||
					dd if="$tmp/data/$name/store/data.mdb" iflag=nocache count=0 status=none
				start "$name"
				ms=$(wait_ready "$name")
				echo "$ms" >>"$tmp/r.$name"
				log_ready "$name" >>"$tmp/l.$name"
				stop "$name"
				say "$mode run $r $name: ready after $ms ms"
			done
		done
		read -r best worst < <(min_max <"$tmp/r.full")
		read -r rbest rworst < <(min_max <"$tmp/r.empty")
		read -r lbest _ < <(min_max <"$tmp/l.full")
		read -r rlbest _ < <(min_max <"$tmp/l.empty")
		met=$(awk -v v="$best" 'BEGIN { print v <= 100 ? "yes" : "no" }')
		echo "startup bundles=$n runs=$runs cache=$mode ready_ms=$best ready_ms_worst=$worst" \
			"log_ready_ms=$lbest target_ms=100 met=$met ref_bundles=0 ref_ready_ms=$rbest" \
			"ref_ready_ms_worst=$rworst ref_log_ready_ms=$rlbest"
	done
	exit 0
fi

# memory
start empty
wait_ready empty >/dev/null
ref_hwm=$(status_kb empty VmHWM)
ref_anon=$(status_kb empty RssAnon)
ref_file=$(status_kb empty RssFile)
stop empty
echo "memory_detail node=empty bundles=0 phase=ready vmhwm_kb=$ref_hwm rss_anon_kb=$ref_anon rss_file_kb=$ref_file"

start full
wait_ready full >/dev/null
echo "memory_detail node=full bundles=$n phase=ready vmhwm_kb=$(status_kb full VmHWM)" \
	"rss_anon_kb=$(status_kb full RssAnon) rss_file_kb=$(status_kb full RssFile)"

# The peer dials the full node (static peer); sync starts when the link is up.
port_peer=$(free_port)
conf peer "$tmp/data/peer" "$port_peer" "$port_full"
start peer
wait_ready peer >/dev/null
want=$((n + extra))
peak=0
t_sync=$EPOCHREALTIME
deadline=$((SECONDS + 120))
while :; do
	a=$(status_kb full RssAnon)
	[ "$a" -gt "$peak" ] && peak=$a
	[ "$(bundles full)" = "$want" ] && [ "$(bundles peer)" = "$want" ] && break
	[ $SECONDS -lt $deadline ] || { echo "bench_node: nodes did not converge to $want bundles" >&2; tail "$tmp"/*.log >&2; exit 1; }
	sleep 0.02
done
sync_ms=$(ms_since "$t_sync" "$EPOCHREALTIME")
# let the session settle (outqueues drain, sync rounds end) before reading
for i in $(seq 25); do
	a=$(status_kb full RssAnon)
	[ "$a" -gt "$peak" ] && peak=$a
	sleep 0.02
done
hwm=$(status_kb full VmHWM)
anon=$(status_kb full RssAnon)
file=$(status_kb full RssFile)
echo "memory_detail node=full bundles=$want phase=synced vmhwm_kb=$hwm rss_anon_kb=$anon rss_anon_peak_kb=$peak" \
	"rss_file_kb=$file sync_ms=$sync_ms"
echo "memory_detail node=peer bundles=$want phase=synced vmhwm_kb=$(status_kb peer VmHWM)" \
	"rss_anon_kb=$(status_kb peer RssAnon) rss_file_kb=$(status_kb peer RssFile)"
stop peer
stop full
met=$([ "$peak" -le 16384 ] && echo yes || echo no)
echo "memory bundles=$n rss_kb=$hwm anon_kb=$anon anon_peak_kb=$peak file_kb=$file target_kb=16384 met=$met" \
	"ref_bundles=0 ref_rss_kb=$ref_hwm ref_anon_kb=$ref_anon"
