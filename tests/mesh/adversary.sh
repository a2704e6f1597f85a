#!/usr/bin/env bash
# Adversaries at the daemon level (the rows of docs/security.md that unit
# tests cannot show end to end). g is the node under attack.
#   garbage     a TCP client sends random bytes to g's port 7420: g closes it
#               with a log line and keeps its session with p and its CLI;
#   silent      a TCP client connects and says nothing: closed at the
#               handshake deadline;
#   skew        k's clock runs 10 min ahead (beyond the 5 min tolerance):
#               what k's user signs is refused by g as not yet valid and never
#               stored; s's clock runs 2 min behind (within it): stored;
#   expired     s offers a message that had already expired when g saw it:
#               refused as expired, never stored;
#   replay      the same bundle imported twice is stored once;
#   disk-full   q's store holds 10 bundles: full of immediate traffic, a bulk
#               message is refused with a logged reason, nothing stored is
#               lost, and q keeps serving.
#
#   p --- g --- k        q (alone)
#         |
#         s
. "$(dirname "$0")/lib.sh"
mesh_init adversary
command -v python3 >/dev/null || skip "needs python3"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
ca_init ca
# Credentials start an hour back, so s's slow clock sees them valid.
for n in g:aic p:paramedic k:paramedic s:paramedic q:aic; do
	MUSTER_FAKE_NOW_MS=$(($(now_ms) - 3600000)) node_new "${n%:*}" ca "${n#*:}"
done
for n in p k s; do
	link_add g $n
	node_peer $n g
done
node_conf q "[store]" "quota_count = 10"

# Clocks are pinned by MUSTER_FAKE_NOW_MS (tests only): k 10 min ahead, s
# 2 min behind.
for n in g p q; do node_start $n; done
MUSTER_FAKE_NOW_MS=$(($(now_ms) + 600000)) node_start k
MUSTER_FAKE_NOW_MS=$(($(now_ms) - 120000)) node_start s
for n in p k s; do wait_until 20 "g and $n to open a session" session_up g $n; done
ks=$(key_short "$(node_key k)")
ss=$(key_short "$(node_key s)")

# ---- garbage and silence on the session port ----
gaddr=$(link_addr p g) # what p dials
paddr=$(link_addr g p) # where g sees p's connections come from
probe() { # probe MODE: connects from p's namespace to g; prints seconds until g closed it
	ip netns exec "$(ns_of p)" python3 - "$gaddr" "$1" <<-'EOF'
		import os, socket, sys, time
		s = socket.create_connection((sys.argv[1], 7420), timeout=20)
		t = time.monotonic()
		if sys.argv[2] == "garbage":
		    try:
		        s.sendall(os.urandom(8192))
		    except OSError:
		        pass
		try:
		    while s.recv(65536):
		        pass
		except OSError:
		    pass
		print("%.1f" % (time.monotonic() - t))
	EOF
}
before=$(log_count g "closing link \[$paddr\]:[0-9]+ \(peer unauthenticated\)")
took=$(probe garbage) || fail "garbage probe: no connection to g"
say "garbage: g closed the connection after ${took} s"
wait_until 5 "g to log the garbage connection's close" \
	ge "$(log_count g "closing link \[$paddr\]:[0-9]+ \(peer unauthenticated\)")" $((before + 1))
took=$(probe silent) || fail "silent probe: no connection to g"
say "silent: g closed the connection after ${took} s (handshake_timeout_ms 3000)"
awk -v t="$took" 'BEGIN { exit !(t >= 2.5 && t <= 8) }' || fail "silent client closed after ${took} s, not ~3 s"
log_has g "closing link \[$paddr\]:[0-9]+ \(peer unauthenticated\): handshake timed out" ||
	fail "g did not log the handshake timeout"
node_alive g
session_up g p || fail "g's session with p did not survive the probes"
mu_send p --to role:aic --priority immediate "after the probes"
wait_until 20 "p's message to reach g after the probes" inbox_has g "$SENT_ID"

# ---- clock skew beyond tolerance; within tolerance; expired on arrival ----
mu_send k --to all --priority immediate "from 10 minutes in the future" # k's own store takes it
future=$SENT_ID
mu_send s --to all --priority immediate "from 2 minutes in the past"
past=$SENT_ID
mu_send s --to all --priority immediate --expires-min 1 "expired a minute before g sees it"
stale=$SENT_ID
wait_until 20 "g to refuse k's bundles as not yet valid" log_has g "bundle from $ks refused: not yet valid"
wait_until 20 "g to refuse s's stale message as expired" log_has g "bundle from $ss refused: expired"
wait_until 20 "s's message from within the skew to reach g" inbox_has g "$past"
inbox_has g "$future" && fail "g stored a bundle created beyond the clock-skew tolerance"
inbox_has g "$stale" && fail "g stored a bundle that had expired"
session_up g k || fail "g closed k's session (its node credential is fine, only its clock is off)"

# ---- replay: the same bundle twice ----
ca_revoke ca "$(node_key q)" "$MESH_TMP/q.revoke" # any signed bundle will do
out=$(mu g import --json "$MESH_TMP/q.revoke") || fail "import: $out"
echo "$out" | grep -q '"result":"stored"' || fail "first import not stored: $out"
n1=$(store_bundles g)
out=$(mu g import --json "$MESH_TMP/q.revoke") || fail "replayed import: $out"
echo "$out" | grep -q '"result":"duplicate"' || fail "replayed import not a duplicate: $out"
[ "$(store_bundles g)" -eq "$n1" ] || fail "a replayed bundle changed g's count"

# ---- disk full: q's store of 10 bundles, full of immediate traffic ----
q_ids=()
for i in $(seq 12); do
	mu_send q --to role:aic --priority immediate "immediate $i"
	q_ids+=("$SENT_ID")
done
full=$(store_bundles q)
[ "$full" -le 10 ] || fail "q stores $full bundles with quota_count 10"
held=$(inbox_ids q | sort)
out=$(mu q send --to role:aic --priority bulk "bulk into a full store" 2>&1) &&
	fail "q stored bulk in a store full of immediate traffic: $out"
echo "$out" | grep -q "storage quota full" || fail "q refused bulk, but not for the quota: $out"
log_has q "store full of higher-priority bundles; bulk bundle refused" || fail "q did not log the refusal"
[ "$(inbox_ids q | sort)" = "$held" ] || fail "q lost stored messages refusing bulk"
[ "$(store_bundles q)" -eq "$full" ] || fail "q's count changed refusing bulk"
inbox_has q "${q_ids[11]}" || fail "q lacks its newest immediate message"
mu_send q --to role:aic --priority immediate "immediate still accepted"
inbox_has q "$SENT_ID" || fail "q stopped taking immediate traffic"
mesh_pass
