#!/usr/bin/env bash
# tools/bench_bt.sh: the Bluetooth benchmark, run through tools/bench
# (`tools/bench bluetooth`), which builds the default (release) preset. It
# boots the radio lab (root; docs/radiolab.md) and runs
# tests/radiolab/bt-bench.sh there with this build's binaries: goodput of a
# bulk bundle transfer between two musterd nodes over a virtual LE link, and
# the latency of an immediate bundle during that transfer and on the idle
# link (the reference, same run).
#   tools/bench bluetooth [--n N] [--text BYTES] [--queue-bytes Q]
# (--queue-bytes: [bluetooth] queue_bytes of both nodes, default 4096; a
# large value shows what the core's 256 KiB default would do.)
# Prints the key=value lines (bt_bulk, bt_latency; docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
n=1000
text=4000
qb=4096
while [ $# -gt 0 ]; do
	case "$1" in
	--n) n=$2; shift 2 ;;
	--text) text=$2; shift 2 ;;
	--queue-bytes) qb=$2; shift 2 ;;
	*) echo "usage: tools/bench bluetooth [--n N] [--text BYTES] [--queue-bytes Q]" >&2; exit 2 ;;
	esac
done
# Not root: say so and succeed, so `tools/bench all` goes on.
[ "$(id -u)" -eq 0 ] || { echo "bt_skipped reason=needs-root-for-the-radio-lab"; exit 0; }
bin=$(cd "${MU_BENCH_BIN:-build}" && pwd)
tests/radiolab/setup >&2
out=$(mktemp -d "${TMPDIR:-/tmp}/mu-bench-bt.XXXXXX")
trap 'rm -rf "$out"' EXIT
set +e
tests/radiolab/run -t 900 -T 850 -o "$out" -e MU_BUILD_DIR="$bin" -e BT_BULK_N="$n" -e BT_BULK_TEXT="$text" -e BT_QUEUE_BYTES="$qb" \
	--suite tests/radiolab/bt-bench.sh > "$out/log" 2>&1
rc=$?
set -e
grep -E '^bt_(bulk|latency) ' "$out/log" || { tail -40 "$out/log" >&2; exit 1; }
exit $rc
