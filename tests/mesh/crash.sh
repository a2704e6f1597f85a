#!/usr/bin/env bash
# Crash safety: s holds N bundles (made by mu-bench-fill, under a second CA
# r trusts) and r, starting empty, syncs them over a capped link. 100 times,
# at a random moment 0-300 ms after a daemon answers on its control socket,
# the daemon is killed with SIGKILL (r in most trials, s in every fifth) in
# the middle of sync and ingest, then started again at once. Checks:
#   - every bundle committed before the kill is still there after it: the
#     committed set is read from the live store (mdb_dump, a consistent
#     LMDB snapshot) just before the kill, and again after; the count r
#     reports in `muster status` (which commits first) never goes down;
#   - after every kill the store opens clean: mdb_stat reads the whole
#     environment before the restart, the daemon restarts and answers, and
#     its log has no store error;
#   - in the end r holds exactly the bundles s holds, each once.
# (There is no custody receipt yet: a bundle is "received" once its batch
# is committed, which is also the moment r first offers it to anyone.)
#
#   s ==== r      (tbf capped)
. "$(dirname "$0")/lib.sh"
mesh_init crash

TRIALS=${MESH_CRASH_TRIALS:-100}
N=${MESH_CRASH_N:-20000}
RATE=${MESH_CRASH_RATE:-16mbit}
for t in mdb_stat mdb_dump; do command -v $t >/dev/null || skip "needs $t (lmdb-utils)"; done
[ -x "$MU_BIN/mu-bench-fill" ] || fail "$MU_BIN/mu-bench-fill not built"

ca_init ca
say "filling s's store with $N bundles from 8 senders"
fill=$MESH_TMP/fill
"$MU_BIN/mu-bench-fill" "$fill" --n "$N" --extra 0 --senders 8 --payload 1500 >/dev/null 2>&1 ||
	fail "mu-bench-fill failed"
node_new s ca
node_new r ca
node_conf s "[node]" "data_dir = $fill/full" "identity = $fill/full/node.key" "keyfile = $fill/full/node.kf" \
	"credential = $fill/full/node.cred" "[trust]" "ca = $fill/ca.pub"
# No rate limits at r: the buckets are in memory and start full at every
# restart anyway; here they would only slow the test.
node_conf r "[node]" "rate_bytes_per_s = 0" "rate_bundles_per_s = 0" "rate_urgent_bytes_per_s = 0" \
	"rate_urgent_bundles_per_s = 0" "[trust]" "ca = $fill/ca.pub"
link_add s r
node_peer r s
node_peer s r
link_cap s r "$RATE"

store_dir() { if [ "$1" = s ]; then echo "$fill/full/store"; else echo "$(node_dir "$1")/store"; fi; }
# committed_ids NODE: ids of the bundles committed in NODE's store, sorted
# (by_time keys are created(8) + id(32); mdb_dump prints each key as hex).
committed_ids() {
	mdb_dump -s by_time "$(store_dir "$1")" 2>/dev/null | grep -E '^ [0-9a-f]{80}$' | cut -c18- | sort
}
store_errors() { log_count "$1" 'musterd\[store\] error |storage failure|cannot open the store|commit of .* failed'; }

node_start s
node_start r
wait_until 20 "s and r to open a session" session_up s r
wait_until 30 "r to start storing" bundles_at_least r 100
mid_checked=0 low_r=0
for i in $(seq "$TRIALS"); do
	victim=r
	[ $((i % 5)) -eq 0 ] && victim=s
	sleep "0.$(printf '%03d' $((RANDOM % 300)))"
	reported=$(store_bundles r)
	committed_ids "$victim" >"$MESH_TMP/before"
	node_stop "$victim" KILL
	if ! out=$(mdb_stat -e -a "$(store_dir "$victim")" 2>&1); then
		fail "trial $i: mdb_stat on $victim's store after SIGKILL: $out"
	fi
	committed_ids "$victim" >"$MESH_TMP/after"
	lost=$(comm -23 "$MESH_TMP/before" "$MESH_TMP/after" | wc -l)
	[ "$lost" -eq 0 ] || fail "trial $i: $lost bundles committed in $victim's store before SIGKILL are gone"
	errs=$(store_errors "$victim")
	node_start "$victim"
	[ "$(store_errors "$victim")" -eq "$errs" ] || fail "trial $i: $victim logged a store error on restart"
	now=$(store_bundles r)
	[ "$now" -ge "${reported:-0}" ] || fail "trial $i: r reported $reported bundles, then $now after $victim's SIGKILL"
	mid_checked=$((mid_checked + 1))
	[ "$now" -lt $((N + 0)) ] && low_r=$((low_r + 1))
	[ $((i % 20)) -eq 0 ] && say "trial $i: r holds $now of $N"
done
say "$mid_checked kills, $low_r of them while r still lacked bundles"
[ "$low_r" -ge $((TRIALS / 2)) ] || fail "only $low_r of $TRIALS kills happened during the transfer: lower RATE"

link_uncap s r
wait_until 120 "r to hold all $N bundles" bundles_at_least r "$N"
committed_ids s >"$MESH_TMP/s.ids"
committed_ids r >"$MESH_TMP/r.ids"
[ "$(wc -l <"$MESH_TMP/s.ids")" -eq "$N" ] || fail "s holds $(wc -l <"$MESH_TMP/s.ids") bundles, want $N"
[ -z "$(uniq -d "$MESH_TMP/r.ids")" ] || fail "r lists a bundle twice"
cmp -s "$MESH_TMP/s.ids" "$MESH_TMP/r.ids" || fail "r's bundles differ from s's"
[ "$(store_bundles r)" -eq "$N" ] || fail "r's status counts $(store_bundles r), want $N"
mesh_pass
