#!/usr/bin/env bash
# tools/bench_startup_user.sh: start-to-ready of musterd WITH a staff user
# (docs/benchmarks.md "startup", "with a user"), on the field store that
# `mu-bench-fill DIR --hospital 10 --field N` makes: N messages from the
# field user (DEST_ALL, envelopes to the user and the archive user), so
# every message is the user's. Run as root (drops the page cache).
#   tools/bench_startup_user.sh [--n N] [--runs R] [--bin DIR]
# The fill is cached in ${MU_BENCH_CACHE:-/var/tmp}/mu-bench-user.N (not
# timed) and copied fresh for each run of this script, so its first start
# is that of a store written by the fill (a store made before the notes
# database: with this build, the one full walk). Then R warm starts (a
# restart) and R cold ones (`echo 3 > /proc/sys/vm/drop_caches` before each).
# ready = `muster status` answers on the control socket, timed from just
# before exec; log_ready = musterd's "ready" line read from its stderr.
# Output: "startup_user bundles=N cache=first|warm|cold ready_ms=best
#          ready_ms_worst=.. log_ready_ms=best".
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

bin=${MU_BENCH_BIN:-build}
n=100000
runs=5
while [ $# -gt 0 ]; do
	case "$1" in
	--n) n=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--bin) bin=$2; shift 2 ;;
	*) echo "usage: tools/bench_startup_user.sh [--n N] [--runs R] [--bin DIR]" >&2; exit 2 ;;
	esac
done
for b in musterd muster mu-bench-fill; do
	[ -x "$bin/$b" ] || { echo "bench_startup_user: $bin/$b not built" >&2; exit 1; }
done
bin=$(cd "$bin" && pwd)
[ "$(id -u)" = 0 ] || { echo "bench_startup_user: run as root (drop_caches)" >&2; exit 1; }

cache=${MU_BENCH_CACHE:-/var/tmp}/mu-bench-user.$n
if [ ! -d "$cache" ]; then
	echo "  filling $cache (not timed)" >&2
	rm -rf "$cache.partial"
	"$bin/mu-bench-fill" "$cache.partial" --hospital 10 --field "$n" >&2
	mv "$cache.partial" "$cache"
fi

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/mu-bench-user.XXXXXX")
pid=
cleanup() {
	[ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

cp -a "$cache/field" "$tmp/field"
d=$tmp/field
port=$((20000 + RANDOM % 20000))
{
	printf '[node]\ndata_dir = %s\nlog_level = info\n' "$d"
	printf 'identity = %s/node.key\nkeyfile = %s/node.kf\ncredential = %s/node.cred\n' "$d" "$d" "$d"
	printf '[user]\nidentity = %s/user.key\nkeyfile = %s/user.kf\ncredential = %s/user.cred\n' "$d" "$d" "$d"
	printf '[tcp]\nlisten = 127.0.0.1:%s\nbeacon_interfaces =\n' "$port"
	printf '[control]\nsocket = %s/node.sock\ngroup =\n' "$tmp"
	printf '[trust]\nca = %s/ca.pub\n' "$cache"
} >"$tmp/node.conf"

ms_since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }'; }

# one_start: prints "ready_ms log_ready_ms" for one start, then stops it.
one_start() {
	local t0 ms t deadline=$((SECONDS + 120))
	rm -f "$tmp/node.sock"
	t0=$EPOCHREALTIME
	"$bin/musterd" -c "$tmp/node.conf" 2> >(while IFS= read -r l; do
		printf '%s %s\n' "$EPOCHREALTIME" "$l"
	done >"$tmp/node.log") &
	pid=$!
	until "$bin/muster" status --socket "$tmp/node.sock" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || { cat "$tmp/node.log" >&2; echo "bench_startup_user: musterd died" >&2; exit 1; }
		[ $SECONDS -lt $deadline ] || { echo "bench_startup_user: not ready in 120 s" >&2; exit 1; }
	done
	ms=$(ms_since "$t0" "$EPOCHREALTIME")
	for _ in $(seq 100); do
		t=$(awk '/\] info main: ready$/ { print $1; exit }' "$tmp/node.log" 2>/dev/null || true)
		[ -n "$t" ] && break
		sleep 0.01
	done
	kill -TERM "$pid"
	wait "$pid" || { echo "bench_startup_user: musterd exited with $?" >&2; tail "$tmp/node.log" >&2; exit 1; }
	pid=
	echo "$ms $( [ -n "$t" ] && ms_since "$t0" "$t" || echo nan)"
}

report() { # report MODE FILE
	sort -g "$2" | awk -v n="$n" -v m="$1" 'NR == 1 { lo = $1; ll = $2 } { hi = $1; if ($2 < ll) ll = $2 }
		END { printf "startup_user bundles=%s cache=%s ready_ms=%s ready_ms_worst=%s log_ready_ms=%s\n", n, m, lo, hi, ll }'
}

sync
echo 3 >/proc/sys/vm/drop_caches
one_start >"$tmp/first"
report first "$tmp/first"
for mode in warm cold; do
	: >"$tmp/$mode"
	for r in $(seq "$runs"); do
		if [ "$mode" = cold ]; then
			sync
			echo 3 >/proc/sys/vm/drop_caches
		fi
		one_start >>"$tmp/$mode"
		echo "  $mode run $r: $(tail -n 1 "$tmp/$mode")" >&2
	done
	report "$mode" "$tmp/$mode"
done
