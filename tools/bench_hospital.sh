#!/usr/bin/env bash
# tools/bench_hospital.sh: a field node with a backlog reconnects to the
# hospital (issue 8). Run through tools/bench, which builds the default
# preset; needs root (two network namespaces and a veth pair, no cap):
#   tools/bench hospital [--hospital-n N] [--field-n M] [--lack PCT] [--timeout S]
#                        [--sync-timeout-ms MS]
# Defaults N = 5,000,000, M = 50,000, PCT = 100 (the hospital lacks that
# share of the field's messages, the newest). Quick run: --hospital-n 200000.
#
# The fill (mu-bench-fill --hospital, not timed) is cached under
# ${MU_BENCH_HOSPITAL_DIR:-/var/tmp/muster-bench-hospital}/hN-fM-lPCT-p201/
# and reused while younger than 15 days (its bundles live 20); it is made in
# a .partial directory and renamed when complete, so an interrupted fill is
# started again, never used. Each run copies the stores out of the cache.
# The hospital at N = 5,000,000 is ~5.5 GB of LMDB (two copies on disk
# during a run). The last converged run's daemon logs are left beside the
# cache (field.log, hospital.log) for a look at its sync sessions.
#
# Two runs, the reference first: the same field node against an empty
# hospital (same identities, empty store), then against the hospital holding
# N. Each: the hospital starts on its store and is ready (hospital_ready_s,
# not in the figures), then the field node starts with the hospital as its
# static peer; t0 = the field's exec. Until the hospital has received every
# bundle it lacked (wall_s_to_synced) and `muster archive --json` counts all
# M messages (wall_s_to_archived). Then:
#   sync_bytes        sync messages, both directions, as the sync engine
#                     counts them (docs/sync.md "Round trips, defined"), summed
#                     over the sessions the field node finished by then (its
#                     "sync with .. done" debug lines), plus the uplink's OFFER
#                     and TAKE frames (its "uplink to .. told" lines)
#   sync_round_trips  the same sessions' messages, ceil(msgs / 2) per session,
#                     plus the uplink's windows of OFFERs (docs/sync.md "Uplink")
#   uplink_keys_told  keys the field node told the hospital; uplink_bytes
#                     their OFFER and TAKE frames (part of sync_bytes)
#   sync_sessions     those sessions; key_lists = how many fell back to lists
#   link_bytes        the field's TCP driver byte counters, in + out
#                     (everything on the wire above TCP: framing, session
#                     encryption, sync, bundles)
#   transfer_bytes    link_bytes - sync_bytes
#   field_received    bundles the field node took from the hospital
# Output: one "hospital_ref ..." and one "hospital ..." key=value line. A
# run that has not archived all M after --timeout (900 s), or whose daemon
# logged over 512 MB, prints "converged=no" with how far it got (archived,
# received, log sizes) and exits 1.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

bin=${MU_BENCH_BIN:-build}
hn=5000000
fm=50000
lack=100
timeout=900
sync_timeout= # [node] sync_timeout_ms on both nodes; empty = the default (5000)
LOG_MAX=$((512 << 20)) # a daemon's log past this stops the run (a log flood)
usage() {
	echo "usage: tools/bench hospital [--hospital-n N] [--field-n M] [--lack PCT] [--timeout S]" \
		"[--sync-timeout-ms MS]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case "$1" in
	--hospital-n) hn=$2; shift 2 ;;
	--field-n) fm=$2; shift 2 ;;
	--lack) lack=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--sync-timeout-ms) sync_timeout=$2; shift 2 ;;
	*) usage ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench_hospital: needs root (network namespaces)" >&2; exit 1; }
for b in musterd muster mu-bench-fill; do
	[ -x "$bin/$b" ] || { echo "bench_hospital: $bin/$b not built" >&2; exit 1; }
done
bin=$(cd "$bin" && pwd)
say() { printf '  %s\n' "$*" >&2; }

# ---- the cached fill ----
cache_root=${MU_BENCH_HOSPITAL_DIR:-/var/tmp/muster-bench-hospital}
cache=$cache_root/h$hn-f$fm-l$lack-p201
mkdir -p "$cache_root"
if [ -d "$cache" ] && [ -z "$(find "$cache" -maxdepth 0 -mtime -15)" ]; then
	say "cached fill $cache is 15 days old or more: filling again"
	rm -rf "$cache"
fi
if [ ! -d "$cache" ]; then
	rm -rf "$cache.partial"
	say "filling $cache (not timed)"
	"$bin/mu-bench-fill" "$cache.partial" --hospital "$hn" --field "$fm" --lack "$lack" | tee "$cache.fill" >&2
	mv "$cache.partial" "$cache"
else
	say "reusing $cache ($(cat "$cache.fill" 2>/dev/null || echo 'fill line lost'))"
fi
want_lack=$((fm * lack / 100))

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/mu-bench-hospital.XXXXXX")
nsh=mu-bh-$$-h
nsf=mu-bh-$$-f
declare -A PID=()
cleanup() {
	local p
	for p in "${PID[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	ip netns del "$nsh" 2>/dev/null || true
	ip netns del "$nsf" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# Two namespaces joined by one veth pair, ULAs fd00:0:0:b0::1 (hospital)
# and ::2 (field): traffic stays inside the pair.
for ns in "$nsh" "$nsf"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 >/dev/null
done
ip link add tofield netns "$nsh" type veth peer name tohosp netns "$nsf"
ip -n "$nsh" addr add fd00:0:0:b0::1/64 dev tofield nodad
ip -n "$nsf" addr add fd00:0:0:b0::2/64 dev tohosp nodad
ip -n "$nsh" link set tofield up
ip -n "$nsf" link set tohosp up

# conf NAME DIR: musterd's configuration; rate limits off (a benchmark of
# the uplink, not of the per-sender budgets: docs/configuration.md), store
# quotas above the fill.
conf() {
	local name=$1 dir=$2
	{
		# The hospital logs errors only: with a full send queue to the
		# field, conn_offer warns once per bundle it cannot queue (millions
		# a round at N = 5,000,000), which alone stalls the daemon.
		if [ "$name" = hospital ]; then
			printf '[node]\ndata_dir = %s\nlog_level = error\n' "$dir"
		else
			printf '[node]\ndata_dir = %s\nlog_level = info\ndebug = sync\n' "$dir"
		fi
		printf 'identity = %s/node.key\nkeyfile = %s/node.kf\ncredential = %s/node.cred\n' "$dir" "$dir" "$dir"
		printf 'rate_bytes_per_s = 0\nrate_bundles_per_s = 0\n'
		[ -z "$sync_timeout" ] || printf 'sync_timeout_ms = %s\n' "$sync_timeout"
		printf 'rate_urgent_bytes_per_s = 0\nrate_urgent_bundles_per_s = 0\n'
		if [ "$name" = hospital ]; then
			printf 'role = hospital\n'
			printf '[user]\nidentity = %s/user.key\nkeyfile = %s/user.kf\ncredential = %s/user.cred\n' \
				"$dir" "$dir" "$dir"
			printf '[archive]\nmap_bytes = 16G\n'
		fi
		printf '[store]\nmap_bytes = 64G\nquota_bytes = 30G\nquota_count = 100000000\n'
		printf '[tcp]\nlisten = [::]:7420\nbeacon_interfaces =\nstatic_interval_ms = 200\n'
		[ "$name" = hospital ] || printf 'peer = [fd00:0:0:b0::1]:7420\n'
		printf '[control]\nsocket = %s/%s.sock\ngroup =\n' "$tmp" "$name"
		printf '[trust]\nca = %s/ca.pub\n' "$cache"
	} >"$tmp/$name.conf"
}

start() { # start NAME NS
	rm -f "$tmp/$1.sock"
	ip netns exec "$2" "$bin/musterd" -c "$tmp/$1.conf" </dev/null >>"$tmp/$1.log" 2>&1 &
	PID[$1]=$!
}

stop() {
	kill -TERM "${PID[$1]}" 2>/dev/null || true
	wait "${PID[$1]}" 2>/dev/null || true
	unset "PID[$1]"
}

mu() { "$bin/muster" "${@:2}" --socket "$tmp/$1.sock"; }
num() { grep -o "\"$2\":[0-9]*" <<<"$1" | head -n1 | cut -d: -f2; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", b - a }'; }

wait_ready() { # NAME LIMIT_S
	local deadline=$((SECONDS + $2))
	until mu "$1" status >/dev/null 2>&1; do
		kill -0 "${PID[$1]}" 2>/dev/null || { tail "$tmp/$1.log" >&2; echo "bench_hospital: musterd $1 died" >&2; exit 1; }
		[ $SECONDS -lt $deadline ] || { echo "bench_hospital: $1 not ready in $2 s" >&2; exit 1; }
		sleep 0.05
	done
}

# run LABEL HOSPITAL_STORE(full|empty)
run() {
	local label=$1 kind=$2 hdir=$tmp/hospital fdir=$tmp/field t_h t0 t_sync="" t_arch="" st ar
	local converged=yes recv items deadline sb=0 rt=0 sess=0 lists=0 lb fr want=$want_lack
	local hb=$hn
	[ "$kind" = full ] || { want=$fm; hb=0; }
	rm -rf "$hdir" "$fdir" "$tmp"/*.log
	say "$label: copying stores from the cache"
	cp -a "$cache/field" "$fdir"
	if [ "$kind" = full ]; then
		cp -a "$cache/hospital" "$hdir"
	else
		mkdir "$hdir"
		cp -a "$cache/hospital"/node.* "$cache/hospital"/user.* "$hdir"
	fi
	conf hospital "$hdir"
	conf field "$fdir"
	t_h=$EPOCHREALTIME
	start hospital "$nsh"
	wait_ready hospital 1800
	# Ready includes the archive's catch-up over the whole store (hospital_open).
	local h_ready
	h_ready=$(secs "$t_h" "$EPOCHREALTIME")
	ar=$(mu hospital archive --json)
	local items0
	items0=$(num "$ar" items)
	say "$label: hospital ready after $h_ready s, archive items $items0"
	t0=$EPOCHREALTIME
	start field "$nsf"
	deadline=$((SECONDS + timeout))
	while :; do
		st=$(mu hospital status --json 2>/dev/null) || st=
		ar=$(mu hospital archive --json 2>/dev/null) || ar=
		recv=$(num "$st" bundles_received)
		items=$(num "$ar" items)
		[ -n "$t_sync" ] || [ "${recv:-0}" -lt "$want" ] || t_sync=$EPOCHREALTIME
		if [ "${items:-0}" -ge "$fm" ]; then
			t_arch=$EPOCHREALTIME
			[ -n "$t_sync" ] || t_sync=$t_arch
			break
		fi
		if [ $SECONDS -ge $deadline ] || [ "$(stat -c %s "$tmp/hospital.log")" -gt $LOG_MAX ] ||
			[ "$(stat -c %s "$tmp/field.log")" -gt $LOG_MAX ]; then
			converged=no
			break
		fi
		sleep 0.1
	done
	if [ "$converged" = no ]; then
		# Not converged: say how far it got and why it was stopped.
		{ grep -v 'send queue .* full' "$tmp/hospital.log" | tail -n 4 >&2; } || true
		tail -n 4 "$tmp/field.log" >&2 || true
		echo "$label hospital_bundles=$hb field_bundles=$fm hospital_lacked=$want converged=no" \
			"after_s=$(secs "$t0" "$EPOCHREALTIME") archived=$((${items:-0} - items0)) received=${recv:-0}" \
			"hospital_log_bytes=$(stat -c %s "$tmp/hospital.log") field_log_bytes=$(stat -c %s "$tmp/field.log")" \
			"hospital_ready_s=$h_ready"
		exit 1
	fi
	st=$(mu field status --json)
	lb=$(grep -o '"bytes_\(in\|out\)":[0-9]*' <<<"$st" | awk -F: '{ s += $2 } END { printf "%d\n", s }')
	fr=$(num "$st" bundles_received)
	# "sync with KEY done: SENT+RECV bytes, N messages[, key lists]"
	read -r sess sb _ rt lists < <(sed -n 's/.*sync with [0-9a-f]* done: \([0-9]*\)+\([0-9]*\) bytes, \([0-9]*\) messages\(.*\)/\1 \2 \3 \4/p' \
		"$tmp/field.log" | awk '{ s++; b += $1 + $2; m += $3; r += int(($3 + 1) / 2); l += ($4 != "") }
			END { printf "%d %d %d %d %d\n", s, b, m, r, l }')
	# "uplink to KEY told: K keys in O offers, T taken, B bytes, R round trips"
	local uk ub ur
	read -r uk ub ur < <(sed -n 's/.*uplink to [0-9a-f]* told: \([0-9]*\) keys in [0-9]* offers, [0-9]* taken, \([0-9]*\) bytes, \([0-9]*\) round trips.*/\1 \2 \3/p' \
		"$tmp/field.log" | awk '{ k += $1; b += $2; r += $3 } END { printf "%d %d %d\n", k, b, r }')
	sb=$((sb + ub))
	rt=$((rt + ur))
	echo "$label hospital_bundles=$hb field_bundles=$fm" \
		"hospital_lacked=$want sync_bytes=$sb sync_round_trips=$rt sync_sessions=$sess key_lists=$lists" \
		"uplink_keys_told=$uk uplink_bytes=$ub" \
		"link_bytes=$lb transfer_bytes=$((lb - sb)) wall_s_to_synced=$(secs "$t0" "$t_sync")" \
		"wall_s_to_archived=$(secs "$t0" "$t_arch") field_received=$fr hospital_ready_s=$h_ready"
	stop field
	stop hospital
	cp "$tmp/field.log" "$tmp/hospital.log" "$cache_root/" 2>/dev/null || true
}

run hospital_ref empty
run hospital full
