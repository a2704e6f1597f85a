# tests/mesh/lib.sh: multi-node Muster meshes in network namespaces, for the
# mesh tests (tests/mesh/*.sh) and tools/demo. Bash; root; iproute2, nftables.
#
#   MU_BIN=build-asan                 # directory holding musterd, muster, muster-ca
#   . tests/mesh/lib.sh
#   mesh_init ferry                   # skips (exit 77) unless root with ip netns;
#                                     # makes $MESH_TMP; EXIT trap kills daemons,
#                                     # deletes namespaces and $MESH_TMP
#   ca_init ca                        # a CA in $MESH_TMP/ca (ca_init evil: a second one)
#   node_new a ca aic                 # netns + node key + node credential from CA ca,
#                                     # and a staff user with role aic ("" = relay only)
#   node_new b ca                     # a relay-only node
#   link_add a b                      # veth pair: "tob" in a, "toa" in b, fd00:: ULAs
#   node_beacons a                    # beacons on every veth of a (the discovery path)
#   node_peer a b                     # or: a static peer = b's address on link a-b
#   node_conf a '[node]' 'sync_interval_ms = 1000'   # extra config lines
#   node_start a; node_start b        # musterd in its netns, log in $MESH_TMP/a/log
#   wait_until 20 "a and b linked" session_up a b
#   mu_send a --to role:aic "text"; id=$SENT_ID   # the new bundle's id
#   wait_until 20 "c has the message" inbox_has c "$id"
#   link_down a b / link_up a b       # ip link set down/up on both ends
#   link_drop a b / link_undrop a b   # nftables drop of everything on that link
#   link_reset a b / link_unreset a b # nftables: TCP answered with resets, rest dropped
#   link_heal a b                     # up and undropped, whatever it was
#   link_cap a b 200kbit / link_uncap a b   # tc tbf, both directions
#   node_stop a [TERM|KILL]           # stop (TERM checks a clean exit)
#   mesh_pass                         # fails on any sanitizer report in a log
#
# Other helpers: mu NODE CMD ARGS (muster against NODE's socket), node_key,
# key_short, inbox_ids, inbox_count, store_bundles, store_revoked,
# peers_up, session_up, no_session, log_has, log_count, fail, say, link_addr,
# ns_of, mesh_bg (a background helper's pid, killed at exit).
# Names of nodes: letters and digits, at most 8 characters. Every address is a
# ULA in fd00::/8 or link-local on the namespaces' own veths: nothing here
# sends traffic anywhere else.

set -u -o pipefail

MESH_SKIP=77
MESH_SAN_RE='ERROR: (Address|Leak|Memory|Thread|UndefinedBehavior)Sanitizer|runtime error:'
MU_BIN=${MU_BIN:-}
MESH_NAME=
MESH_TMP=
MESH_ID=
MESH_T0=$SECONDS
MESH_OK=0
declare -a MESH_NS=()        # namespaces created, for cleanup
declare -A NODE_PID=()       # node -> pid of its running musterd
declare -A NODE_CA=()        # node -> CA name
declare -A NODE_USER=()      # node -> user role ("" for relay only)
declare -A NODE_BEACON=()    # node -> 1 when beacons are on
declare -A NODE_EXTRA=()     # node -> extra config text
declare -A NODE_STARTS=()    # node -> how many times started
declare -A LINK_IDX=()       # "a b" (sorted) -> link number
declare -a MESH_BG=()        # background helpers (flappers), killed at exit

say() { printf '[%s +%ds] %s\n' "$MESH_NAME" $((SECONDS - MESH_T0)) "$*" >&2; }

fail() {
	printf '[%s +%ds] FAIL: %s\n' "$MESH_NAME" $((SECONDS - MESH_T0)) "$*" >&2
	exit 1
}

skip() {
	printf '[%s] SKIP: %s\n' "${MESH_NAME:-mesh}" "$*" >&2
	exit $MESH_SKIP
}

# mesh_init NAME: checks for what the tests need (skips without it), makes
# the temporary directory and installs the cleanup trap.
mesh_init() {
	MESH_NAME=$1
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
	for t in ip nft tc; do
		command -v $t >/dev/null 2>&1 || skip "needs $t"
	done
	[ -n "$MU_BIN" ] || fail "MU_BIN (the build directory) is not set"
	for b in musterd muster muster-ca; do
		[ -x "$MU_BIN/$b" ] || fail "$MU_BIN/$b not built"
	done
	MU_BIN=$(cd "$MU_BIN" && pwd)
	# Short and unique: namespaces are global, several runs may coexist.
	MESH_ID="mu$$"
	ip netns add "$MESH_ID-probe" 2>/dev/null || skip "ip netns unavailable here"
	ip netns del "$MESH_ID-probe"
	MESH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mesh-$MESH_NAME.XXXXXX")
	trap mesh_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	# Sanitizer settings for the daemons unless the caller chose some.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	say "temporary directory $MESH_TMP"
}

mesh_cleanup() {
	local rc=$? n pid i
	trap - EXIT INT TERM
	if [ "$rc" -ne 0 ] && [ "$rc" -ne $MESH_SKIP ]; then
		for n in "${!NODE_PID[@]}"; do
			echo "----- $n: muster status; muster peers -----" >&2
			timeout 5 "$MU_BIN/muster" status --socket "$(node_sock "$n")" >&2 2>&1
			timeout 5 "$MU_BIN/muster" peers --socket "$(node_sock "$n")" >&2 2>&1
		done
	fi
	for pid in "${MESH_BG[@]}"; do
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for n in "${!NODE_PID[@]}"; do
		pid=${NODE_PID[$n]}
		kill -TERM "$pid" 2>/dev/null
	done
	{
		for n in "${!NODE_PID[@]}"; do
			pid=${NODE_PID[$n]}
			for i in $(seq 50); do
				kill -0 "$pid" || break
				sleep 0.1
			done
			kill -KILL "$pid"
			wait "$pid"
		done
	} 2>/dev/null
	if [ "$rc" -ne 0 ] && [ "$rc" -ne $MESH_SKIP ] && [ -n "$MESH_TMP" ]; then
		for f in "$MESH_TMP"/*/log; do
			[ -f "$f" ] || continue
			echo "----- last lines of $f (message notices left out) -----" >&2
			grep -v 'node_deliver_notice' "$f" | tail -n "${MESH_LOG_LINES:-60}" >&2
		done
		grep -nE -A20 "$MESH_SAN_RE" "$MESH_TMP"/*/log >&2 2>/dev/null
	fi
	for n in "${MESH_NS[@]}"; do
		ip netns del "$n" 2>/dev/null
	done
	if [ -n "$MESH_TMP" ] && [ -d "$MESH_TMP" ]; then
		if [ -n "${MESH_KEEP:-}" ]; then
			echo "[$MESH_NAME] kept $MESH_TMP" >&2
		else
			rm -rf "$MESH_TMP"
		fi
	fi
	if [ "$rc" -eq 0 ] && [ "$MESH_OK" != 1 ]; then
		rc=1
		echo "[$MESH_NAME] FAIL: script ended without mesh_pass" >&2
	fi
	exit "$rc"
}

# wait_until TIMEOUT_S DESCRIPTION CMD [ARGS...]: runs CMD every 0.2 s until
# it succeeds; fails the test naming DESCRIPTION (and CMD's last output) if
# TIMEOUT_S pass first.
wait_until() {
	local timeout=$1 desc=$2 out deadline t0=$SECONDS
	shift 2
	deadline=$((SECONDS + timeout))
	while :; do
		if out=$("$@" 2>&1); then
			[ $((SECONDS - t0)) -lt 5 ] || say "waited $((SECONDS - t0)) s for: $desc"
			return 0
		fi
		[ $SECONDS -ge $deadline ] && break
		sleep 0.2
	done
	fail "timed out after ${timeout}s waiting for: $desc (last check: $* -> ${out:-no output})"
}

# ---- CA, enrolment, configuration ----

# ca_init NAME: a CA in $MESH_TMP/NAME (passphrase in $MESH_TMP/NAME.pass).
ca_init() {
	local ca=$MESH_TMP/$1
	echo "mesh test passphrase $1 $RANDOM$RANDOM" >"$ca.pass"
	chmod 600 "$ca.pass"
	"$MU_BIN/muster-ca" init --dir "$ca" --passphrase-file "$ca.pass" >/dev/null 2>"$ca.err" ||
		fail "muster-ca init $1: $(cat "$ca.err")"
}

# ca_issue CA PUBFILE SUBJECT NAME ROLE OUT
ca_issue() {
	local ca=$MESH_TMP/$1
	"$MU_BIN/muster-ca" issue --dir "$ca" --passphrase-file "$ca.pass" --pub "$2" --subject "$3" \
		--name "$4" --role "$5" --org "NWAS" --out "$6" 2>"$ca.err" ||
		fail "muster-ca issue $3: $(cat "$ca.err")"
}

# ca_revoke CA KEYHEX OUT: a revocation bundle for KEYHEX.
ca_revoke() {
	local ca=$MESH_TMP/$1
	"$MU_BIN/muster-ca" revoke --dir "$ca" --passphrase-file "$ca.pass" --key "$2" --reason lost \
		--out "$3" 2>"$ca.err" || fail "muster-ca revoke: $(cat "$ca.err")"
}

ns_of() { echo "$MESH_ID-$1"; }
node_dir() { echo "$MESH_TMP/$1"; }
node_sock() { echo "$MESH_TMP/$1/ctl.sock"; }
node_log() { echo "$MESH_TMP/$1/log"; }

# keygen FILE: an identity wrapped by the key file FILE.kf.
keygen() {
	"$MU_BIN/muster" keygen --out "$1" --keyfile "${1%.key}.kf" >/dev/null 2>"$1.err" ||
		fail "muster keygen $1: $(cat "$1.err")"
}

# node_new NODE CA [USER_ROLE [NAME]]: its namespace (lo up, no DAD so
# addresses work at once), a node identity and credential issued by CA, and,
# with USER_ROLE, a staff user of that role (display name NAME, default
# "Staff NODE").
node_new() {
	local node=$1 ca=$2 role=${3:-} name=${4:-"Staff $1"} dir ns
	dir=$(node_dir "$node")
	ns=$(ns_of "$node")
	mkdir -p "$dir"
	ip netns add "$ns" || fail "ip netns add $ns"
	MESH_NS+=("$ns")
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		>/dev/null || fail "sysctl in $ns"
	keygen "$dir/node.key"
	ca_issue "$ca" "$dir/node.key.pub" "NODE-$node" "Node $node" node "$dir/node.cred"
	if [ -n "$role" ]; then
		keygen "$dir/user.key"
		ca_issue "$ca" "$dir/user.key.pub" "STAFF-$node" "$name" "$role" "$dir/user.cred"
	fi
	NODE_CA[$node]=$ca
	NODE_USER[$node]=$role
	NODE_BEACON[$node]=0
	NODE_EXTRA[$node]=
	NODE_STARTS[$node]=0
}

# node_conf NODE LINE...: extra configuration lines, layered over the
# generated file (a later single-valued key wins).
node_conf() {
	local node=$1
	shift
	local l
	for l in "$@"; do
		NODE_EXTRA[$node]+="$l"$'\n'
	done
}

node_beacons() { NODE_BEACON[$1]=1; }

# node_peer NODE OTHER: OTHER as a static peer of NODE (its ULA on their link).
node_peer() { node_conf "$1" "[tcp]" "peer = [$(link_addr "$1" "$2")]:7420"; }

node_write_config() {
	local node=$1 dir ifs="" ca
	dir=$(node_dir "$node")
	if [ "${NODE_BEACON[$node]}" = 1 ]; then
		ifs=$(ip -n "$(ns_of "$node")" -o link show type veth | sed -n 's/^[0-9]*: \([^@:]*\).*/\1/p' |
			paste -sd, -)
	fi
	ca=$MESH_TMP/${NODE_CA[$node]}
	{
		echo "[node]"
		echo "data_dir = $dir"
		echo "sync_interval_ms = ${MESH_SYNC_MS:-1000}"
		echo "sync_timeout_ms = 3000"
		echo "handshake_timeout_ms = 3000"
		echo "identity = $dir/node.key"
		echo "keyfile = $dir/node.kf"
		echo "credential = $dir/node.cred"
		if [ -n "${NODE_USER[$node]}" ]; then
			echo "[user]"
			echo "identity = $dir/user.key"
			echo "keyfile = $dir/user.kf"
			echo "credential = $dir/user.cred"
		fi
		echo "[tcp]"
		echo "listen = [::]:7420"
		echo "beacon_interfaces = $ifs"
		echo "beacon_interval_ms = 500"
		echo "static_interval_ms = 500"
		echo "connect_timeout_ms = 2000"
		echo "[control]"
		echo "socket = $(node_sock "$node")"
		echo "group ="
		echo "[trust]"
		echo "ca = $ca/ca.pub"
		printf '%s' "${NODE_EXTRA[$node]}"
	} >"$dir/muster.conf"
}

# ---- daemons ----

# node_start NODE: writes its config, starts musterd in NODE's namespace
# (stderr appended to its log) and waits for its control socket.
node_start() {
	local node=$1 ns log pid
	[ -z "${NODE_PID[$node]:-}" ] || fail "node_start $node: already running"
	ns=$(ns_of "$node")
	log=$(node_log "$node")
	node_write_config "$node"
	NODE_STARTS[$node]=$((NODE_STARTS[$node] + 1))
	echo "===== mesh: start ${NODE_STARTS[$node]} of $node =====" >>"$log"
	# ip netns exec execs musterd in place: $! is musterd's pid.
	ip netns exec "$ns" "$MU_BIN/musterd" -c "$(node_dir "$node")/muster.conf" </dev/null >>"$log" 2>&1 &
	pid=$!
	NODE_PID[$node]=$pid
	wait_until 20 "musterd $node to answer on its control socket" node_answers "$node"
}

node_answers() {
	kill -0 "${NODE_PID[$1]}" 2>/dev/null || { echo "musterd $1 exited"; return 2; }
	mu "$1" status >/dev/null
}

# node_stop NODE [SIGNAL]: TERM (default) must end musterd cleanly within
# 15 s with status 0; KILL just ends it.
node_stop() {
	local node=$1 sig=${2:-TERM} pid rc i
	pid=${NODE_PID[$node]:-}
	[ -n "$pid" ] || fail "node_stop $node: not running"
	kill -"$sig" "$pid" 2>/dev/null || fail "node_stop $node: musterd (pid $pid) already gone"
	# (braces: bash's "Killed" job notice goes to /dev/null, not the output)
	{
		for i in $(seq 150); do
			kill -0 "$pid" || break
			sleep 0.1
		done
	} 2>/dev/null
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null
		unset "NODE_PID[$node]"
		fail "musterd $node did not exit within 15 s of SIG$sig"
	fi
	{ wait "$pid"; } 2>/dev/null
	rc=$?
	unset "NODE_PID[$node]"
	echo "===== mesh: SIG$sig, exit status $rc =====" >>"$(node_log "$node")"
	if [ "$sig" = TERM ] && [ "$rc" -ne 0 ]; then
		fail "musterd $node exited with status $rc after SIGTERM"
	fi
	return 0
}

# node_running NODE: musterd NODE is still alive (a crash fails the test).
node_alive() {
	kill -0 "${NODE_PID[$1]}" 2>/dev/null || fail "musterd $1 died (see its log above)"
}

# ---- the CLI ----

# mu NODE CMD [ARGS...]: muster CMD against NODE's daemon.
mu() {
	local node=$1 cmd=$2
	shift 2
	"$MU_BIN/muster" "$cmd" --socket "$(node_sock "$node")" "$@"
}

# mu_send NODE ARGS... TEXT: sends; the new bundle's id is left in SENT_ID
# (a global, so a failure here ends the test rather than a subshell).
SENT_ID=
mu_send() {
	local node=$1 out
	shift
	out=$(mu "$node" send --json "$@") || fail "muster send on $node failed: $out"
	SENT_ID=$(printf '%s' "$out" | grep -o '"id":"[0-9a-f]\{64\}"' | cut -d'"' -f4)
	[ -n "$SENT_ID" ] || fail "muster send on $node printed no id: $out"
}

node_key() { "$MU_BIN/muster" pubkey "$(node_dir "$1")/node.key"; }
user_key() { "$MU_BIN/muster" pubkey "$(node_dir "$1")/user.key"; }
key_short() { echo "${1:0:16}"; }

# inbox_ids NODE: ids of the messages NODE's user can read, one a line.
inbox_ids() {
	mu "$1" inbox --json --limit 1000000 --everything | grep -o '"id":"[0-9a-f]\{64\}"' | cut -d'"' -f4
}
inbox_count() { inbox_ids "$1" | wc -l; }
inbox_has() { inbox_ids "$1" | grep -qx "$2"; }

status_num() { mu "$1" status --json | grep -o "\"$2\":[0-9]*" | head -n1 | cut -d: -f2; }
store_bundles() { status_num "$1" bundles; }
store_creds() { status_num "$1" credentials; }
store_revoked() { status_num "$1" revoked; }
# ge A B: numeric A >= B (for wait_until with command substitutions).
ge() { [ "${1:-0}" -ge "$2" ]; }
bundles_at_least() { ge "$(store_bundles "$1")" "$2"; }
creds_at_least() { ge "$(store_creds "$1")" "$2"; }

peers_up() { mu "$1" peers --json | grep -o '"state":"up"' | wc -l; }
# session_up NODE OTHER: NODE has an authenticated session with OTHER.
session_up() { mu "$1" peers --json | grep -q "\"peer\":\"$(node_key "$2")\",[^}]*\"state\":\"up\""; }
no_session() { ! session_up "$@"; }

# log_has NODE PATTERN (grep -E) / log_count NODE PATTERN
log_has() { grep -qE -- "$2" "$(node_log "$1")"; }
log_count() { grep -cE -- "$2" "$(node_log "$1")"; }

# ---- links ----

link_key() { if [[ "$1" < "$2" ]]; then echo "$1 $2"; else echo "$2 $1"; fi; }

# link_add A B: a veth pair between A's and B's namespaces: "toB" in A and
# "toA" in B, addresses fd00:0:0:N::1 (smaller name) and ::2 /64, up.
link_add() {
	local a=$1 b=$2 k n
	k=$(link_key "$a" "$b")
	[ -z "${LINK_IDX[$k]:-}" ] || fail "link $a-$b exists"
	n=$((${#LINK_IDX[@]} + 1))
	LINK_IDX[$k]=$n
	ip link add "to$b" netns "$(ns_of "$a")" type veth peer name "to$a" netns "$(ns_of "$b")" ||
		fail "ip link add veth $a-$b"
	ip -n "$(ns_of "$a")" addr add "$(link_addr "$b" "$a")/64" dev "to$b" nodad
	ip -n "$(ns_of "$b")" addr add "$(link_addr "$a" "$b")/64" dev "to$a" nodad
	ip -n "$(ns_of "$a")" link set "to$b" up
	ip -n "$(ns_of "$b")" link set "to$a" up
}

# link_addr A B: B's ULA on the link A-B (what A dials to reach B).
link_addr() {
	local k n
	k=$(link_key "$1" "$2")
	n=${LINK_IDX[$k]:-}
	[ -n "$n" ] || fail "no link $1-$2"
	if [[ "$2" < "$1" ]]; then echo "fd00:0:0:$n::1"; else echo "fd00:0:0:$n::2"; fi
}

# link_down A B / link_up A B: administrative down/up of both ends.
link_down() {
	ip -n "$(ns_of "$1")" link set "to$2" down && ip -n "$(ns_of "$2")" link set "to$1" down ||
		fail "link_down $1 $2"
}
link_up() {
	ip -n "$(ns_of "$1")" link set "to$2" up && ip -n "$(ns_of "$2")" link set "to$1" up ||
		fail "link_up $1 $2"
	# Addresses removed with the link come back (the ULA is re-added).
	ip -n "$(ns_of "$1")" addr replace "$(link_addr "$2" "$1")/64" dev "to$2" nodad
	ip -n "$(ns_of "$2")" addr replace "$(link_addr "$1" "$2")/64" dev "to$1" nodad
}

# nft_setup NODE: table "mesh" with set "cut" of interfaces whose traffic is
# dropped both ways, and set "reset" whose TCP is answered with resets (and
# everything else dropped): sets "cut" and "rst".
nft_setup() {
	local ns
	ns=$(ns_of "$1")
	ip netns exec "$ns" nft list table inet mesh >/dev/null 2>&1 && return 0
	ip netns exec "$ns" nft -f - <<-'EOF' || fail "nft setup in $1"
		table inet mesh {
			set cut { type ifname; }
			set rst { type ifname; }
			chain in {
				type filter hook input priority 0;
				iifname @cut drop
				iifname @rst meta l4proto tcp reject with tcp reset
				iifname @rst drop
			}
			chain out {
				type filter hook output priority 0;
				oifname @cut drop
				oifname @rst meta l4proto tcp reject with tcp reset
				oifname @rst drop
			}
		}
	EOF
}

nft_elem() { # nft_elem add|delete SET A B
	ip netns exec "$(ns_of "$3")" nft "$1" element inet mesh "$2" "{ \"to$4\" }"
}

# link_drop A B / link_undrop A B: nftables drops every packet on the link
# (the interfaces stay up: a radio link that goes silent; TCP notices only
# by its own timeouts).
link_drop() {
	nft_setup "$1" && nft_setup "$2"
	nft_elem add cut "$1" "$2" && nft_elem add cut "$2" "$1" || fail "link_drop $1 $2"
}
link_undrop() {
	nft_elem delete cut "$1" "$2" && nft_elem delete cut "$2" "$1" || fail "link_undrop $1 $2"
}

# link_reset A B / link_unreset A B: like link_drop, but TCP segments are
# answered with resets, so sessions on the link end at once and must be
# re-established when it returns.
link_reset() {
	nft_setup "$1" && nft_setup "$2"
	nft_elem add rst "$1" "$2" && nft_elem add rst "$2" "$1" || fail "link_reset $1 $2"
}
link_unreset() {
	nft_elem delete rst "$1" "$2" && nft_elem delete rst "$2" "$1" || fail "link_unreset $1 $2"
}

# link_heal A B: up, not dropped, whatever state the link was left in.
link_heal() {
	local set
	link_up "$1" "$2"
	for set in cut rst; do
		nft_elem delete $set "$1" "$2" 2>/dev/null
		nft_elem delete $set "$2" "$1" 2>/dev/null
	done
	return 0
}

# mesh_bg PID: a background helper of the test, killed at exit.
mesh_bg() { MESH_BG+=("$1"); }

# link_cap A B RATE: a tc tbf cap of RATE (tc syntax: 200kbit) each way.
link_cap() {
	local a=$1 b=$2 rate=$3
	ip netns exec "$(ns_of "$a")" tc qdisc replace dev "to$b" root tbf rate "$rate" burst 4kb latency 500ms &&
		ip netns exec "$(ns_of "$b")" tc qdisc replace dev "to$a" root tbf rate "$rate" burst 4kb latency 500ms ||
		fail "link_cap $a $b $rate"
}
link_uncap() {
	ip netns exec "$(ns_of "$1")" tc qdisc del dev "to$2" root 2>/dev/null
	ip netns exec "$(ns_of "$2")" tc qdisc del dev "to$1" root 2>/dev/null
	return 0
}

# ---- the end ----

# mesh_check_logs: fails on a sanitizer report in any daemon log.
mesh_check_logs() {
	local f bad=0
	for f in "$MESH_TMP"/*/log; do
		[ -f "$f" ] || continue
		if grep -qE "$MESH_SAN_RE" "$f"; then
			echo "sanitizer report in $f:" >&2
			grep -nE -A30 "$MESH_SAN_RE" "$f" | head -n 60 >&2
			bad=1
		fi
	done
	[ $bad -eq 0 ] || fail "sanitizer reports in daemon logs"
}

# mesh_pass: stops every daemon (TERM: clean exit required), checks the logs
# and ends the script with success.
mesh_pass() {
	local n
	for n in "${!NODE_PID[@]}"; do
		node_stop "$n" TERM
	done
	mesh_check_logs
	MESH_OK=1
	say "PASS ($((SECONDS - MESH_T0)) s)"
	exit 0
}
