#!/usr/bin/env bash
# Flood: f is a compromised but credentialed node whose store holds
# thousands of bundles from one enrolled sender (made by mu-bench-fill, all
# four priorities, under a second CA that r and t trust). h is an honest
# paramedic sending immediate METHANE reports to t's commander while f
# floods r. Per-sender rate limits (small ones here) must
#   - get every METHANE report to t's inbox within METHANE_MAX_S,
#   - keep what r and t store of the flood within burst + rate x time,
#   - count the refusals in status (rate_limited) and log them at most
#     once per sender per 10 s, and tell f (REFUSED) so it does not offer
#     a refused bundle again,
#   - store nothing twice, and keep every daemon serving.
#
#   f ---\
#         r --- t
#   h ---/
. "$(dirname "$0")/lib.sh"
mesh_init flood

N=${MESH_FLOOD_N:-3000}
REPORTS=${MESH_FLOOD_REPORTS:-10}
METHANE_MAX_S=5
# Budgets at r and t (per sender): routine/bulk 20/s burst 100,
# immediate/urgent 5/s burst 20.
B_RATE=20 B_BURST=100 U_RATE=5 U_BURST=20
[ -x "$MU_BIN/mu-bench-fill" ] || fail "$MU_BIN/mu-bench-fill not built"

ca_init ca
say "filling f's store with $N bundles from one sender"
"$MU_BIN/mu-bench-fill" "$MESH_TMP/fill" --n "$N" --extra 0 --senders 1 --payload 1000 >/dev/null 2>&1 ||
	fail "mu-bench-fill failed"
fill=$MESH_TMP/fill
node_new f ca
node_new r ca
node_new t ca aic
node_new h ca paramedic
# f offers a bundle r refused for its rate again after 15 s (default 60 s),
# so the back-pressure phase at the end is seen within the test.
node_conf f "[node]" "refused_retry_rate_ms = 15000" "data_dir = $fill/full" "identity = $fill/full/node.key" "keyfile = $fill/full/node.kf" \
	"credential = $fill/full/node.cred" "[trust]" "ca = $fill/ca.pub"
for n in r t; do
	node_conf $n "[node]" "rate_bundles_per_s = $B_RATE" "rate_burst_bundles = $B_BURST" \
		"rate_urgent_bundles_per_s = $U_RATE" "rate_urgent_burst_bundles = $U_BURST" \
		"[trust]" "ca = $fill/ca.pub"
done
link_add f r
link_add h r
link_add r t
node_peer f r
node_peer h r
node_peer t r

for n in r t h; do node_start $n; done
wait_until 20 "h and r to open a session" session_up h r
wait_until 20 "t and r to open a session" session_up t r
wait_until 20 "t's commander's credential to reach h" creds_at_least h 2

t0=$SECONDS
node_start f
wait_until 20 "f and r to open a session" session_up f r
wait_until 20 "the flood to reach r's rate limit" eval 'ge "$(status_num r rate_limited)" 1'
say "flood under way: r stores $(store_bundles r), rate-limited $(status_num r rate_limited)"

worst=0
ids=()
for i in $(seq "$REPORTS"); do
	s=$(date +%s%N)
	mu_send h --to role:aic --priority immediate "METHANE $i: major incident declared, Exact location M61 J3"
	ids+=("$SENT_ID")
	wait_until $METHANE_MAX_S "METHANE report $i to reach t's inbox through the flood" inbox_has t "$SENT_ID"
	ms=$((($(date +%s%N) - s) / 1000000))
	[ $ms -gt $worst ] && worst=$ms
	sleep 0.3
done
node_alive r
node_alive t
elapsed=$((SECONDS - t0 + 1))
# What the flood may have put into r: r also stores both users' credentials
# and h's reports, which are not the flooder's.
limit=$((B_BURST + U_BURST + (B_RATE + U_RATE) * elapsed))
flood_r=$(($(store_bundles r) - 2 - REPORTS))
flood_t=$(($(store_bundles t) - 2 - REPORTS))
limited=$(status_num r rate_limited)
say "METHANE worst ${worst} ms; in ${elapsed} s r stored $flood_r of $N flood bundles, t $flood_t" \
	"(bound $limit); r rate-limited $limited"
[ "$flood_r" -le "$limit" ] || fail "r stored $flood_r flood bundles in ${elapsed} s, over the bound $limit"
[ "$flood_t" -le "$limit" ] || fail "t stored $flood_t flood bundles in ${elapsed} s, over the bound $limit"
[ "$flood_r" -ge $((B_BURST + U_BURST)) ] || fail "r stored only $flood_r flood bundles: did the flood flow?"
[ "$flood_r" -lt "$N" ] || fail "the whole flood got through r"
# Every flood bundle reached r at least once and was stored or refused; r
# told f which it refused (REFUSED, reason rate), so f offers none of them
# again within refused_retry_rate_ms (15 s here): each is refused once at most.
ge $((limited + flood_r)) "$N" || fail "r refused $limited and stored $flood_r of the $N flood bundles"
[ "$limited" -le "$N" ] || fail "r refused $limited bundles: f offered refused ones again"
# (f counts them as REFUSED frames arrive; the last may still be on the way.)
f_refused() { mu f peers --json | jq -r '[.[].refused_by_peer] | add'; }
wait_until 10 "f to count r's $limited refusals" eval 'ge "$(f_refused)" $((limited * 9 / 10))' 
# One warning per sender per 10 s (the flood has one sender at r and t).
# (conn.c's on_bundle also logs each refusal at info level, "refused:
# sender over its rate limit", until it learns to skip MU_E_RATE as it skips
# duplicates; that line is not what is counted here.)
logged=$(log_count r "over its rate limit: ")
[ "$logged" -ge 1 ] || fail "r never logged the rate limit"
[ "$logged" -le $((elapsed / 10 + 1)) ] || fail "r logged the rate limit $logged times in ${elapsed} s"
[ "$(status_num h rate_limited)" -eq 0 ] || fail "h rate-limited something, though only t's user talks to it"
for id in "${ids[@]}"; do
	[ "$(inbox_ids t | grep -cx "$id")" -eq 1 ] || fail "t's inbox lists $id other than once"
done

# The back-pressure keeps working: refused bundles come again at a sync
# after f's retry time and the rate lets more of them in.
before=$(store_bundles r)
wait_until 40 "r to admit more of the flood at its rate" bundles_at_least r $((before + B_RATE))
mesh_pass
