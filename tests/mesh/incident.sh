#!/usr/bin/env bash
# Incident coordination over a real mesh: a commander (cmd, role aic), a
# paramedic crew (p), a HART crew (h) and a relay with no user, in a line
# p - cmd - relay - h. The commander declares a METHANE; crews check in,
# are assigned and acknowledge; a staffing request is accepted and filled;
# a triage tally and a casualty movement are sent; a METHANE update
# supersedes the first. Then the line is cut between cmd and relay, both
# sides update the same crew's status and the METHANE, the cut heals, and
# every node that can read the records must show byte-identical views with
# the conflicts in them. The relay stores everything and reads nothing;
# bad arguments store nothing.
. "$(dirname "$0")/lib.sh"
mesh_init incident
command -v jq >/dev/null 2>&1 || skip "needs jq"

ca_init ca
node_new cmd ca aic
node_new p ca paramedic
node_new h ca hart
node_new relay ca
link_add p cmd
link_add cmd relay
link_add relay h
node_peer p cmd
node_peer cmd relay
node_peer relay h
for n in p cmd relay h; do node_start "$n"; done
wait_until 20 "p and cmd linked" session_up p cmd
wait_until 20 "cmd and relay linked" session_up cmd relay
wait_until 20 "relay and h linked" session_up relay h
# The 3 staff credentials (they travel as bundles): records are encrypted to the staff known.
for n in p cmd relay h; do wait_until 30 "$n to know every staff credential" creds_at_least "$n" 3; done

USERS=(cmd p h)
ALL=(cmd p h relay)
INC=INC-2026-0412

# synced N: every node stores exactly N bundles.
synced() {
	local n
	for n in "${ALL[@]}"; do
		[ "$(store_bundles "$n")" = "$1" ] || return 1
	done
}
wait_until 20 "every node to hold the credentials alone" synced "$(store_bundles cmd)"
BASE=$(store_bundles cmd)
NREC=0

# rec NODE ARGS...: creates a record, leaves its id in REC.
REC=
rec() {
	local node=$1 out
	shift
	out=$(mu "$node" "$@" --json 2>&1) || fail "muster $* on $node failed: $out"
	REC=$(jq -er .id <<<"$out") || fail "muster $* on $node printed no id: $out"
	NREC=$((NREC + 1))
}
# wait_synced: every node holds every record made so far.
wait_synced() { wait_until 30 "every node to hold all $NREC records" synced $((BASE + NREC)); }

view() { mu "$1" "$2" --json; }

# ---- a relay reads nothing; with no incident yet, a record needs --incident ----
out=$(mu relay roster 2>&1) && fail "a relay-only node showed the roster: $out"
grep -q "no user on this node" <<<"$out" || fail "unclear relay error: $out"
out=$(mu p checkin --callsign MEDIC1 --skills paramedic 2>&1) && fail "a record without any incident was stored"
grep -q -- "--incident NAME" <<<"$out" || fail "no pointer to --incident: $out"

# ---- the first METHANE ----
rec cmd methane send --declared --location "SJ 838 980" --grid --type "Train derailment, two carriages" \
	--hazards "Overhead lines down" --access "RVP Station Road north" --p1 3 --p2 5 --p3 10 --dead 1 \
	--services "Fire, police, HART, MERIT requested" --incident "$INC"
M1=$REC
wait_synced

# ---- crews check in, are assigned and acknowledge ----
rec p checkin --callsign MEDIC1 --skills paramedic --vehicle "RRV 12"
rec h checkin --callsign HART1 --skills hart,paramedic --vehicle "HART 3" --member "$(user_key h)"
wait_synced
rec cmd assign --callsign HART1 --function "forward command" --sector Alpha
A1=$REC
rec cmd assign --callsign MEDIC1 --function triage --sector Bravo
A2=$REC
wait_synced
rec h acknowledge "${A1:0:12}"
rec p acknowledge "$A2" --callsign MEDIC1

# ---- a staffing request, accepted and filled; a decline does not count ----
rec cmd request send --need 2 --skill paramedic --sector Alpha --note "two more for CCS Alpha"
R1=$REC
wait_synced
rec p request accept "$R1" --callsign MEDIC1 --count 2
rec h request decline "$R1" --callsign HART1

# ---- triage and a casualty movement; the METHANE update ----
rec p triage send --ccs CCS-A --p1 2 --p2 4 --p3 7 --dead 0
rec p casualty send --tag T0042 --priority P1 --destination "Royal Infirmary" --departed now
rec cmd methane send --declared --p1 4 --p2 6
M2=$REC
wait_synced

for n in "${USERS[@]}"; do
	m=$(view "$n" methane)
	jq -e --arg m1 "$M1" --arg m2 "$M2" '
		.incident == "INC-2026-0412" and .shown.id == $m2 and .shown.prev == $m1 and
		.shown.casualties == {"P1":4,"P2":6,"P3":10,"dead":1} and .shown.location == "SJ 838 980" and
		.shown.loc_kind == "grid" and .shown.declared == "declared" and
		(.history | length) == 2 and
		(.history[] | select(.record.id == $m1) | .superseded) == true and
		(.history[] | select(.record.id == $m2) | .superseded) == false and .conflicts == []' \
		<<<"$m" >/dev/null || fail "$n: METHANE view: $m"
	ro=$(view "$n" roster)
	jq -e --arg a1 "$A1" '
		(.crews | length) == 2 and
		(.crews[] | select(.callsign == "HART1") |
			.checkin.status == "available" and .checkin.skills == ["paramedic","hart"] and
			.assignment.id == $a1 and .assignment.function == "forward command" and
			.acknowledged.callsign == "HART1") and
		(.crews[] | select(.callsign == "MEDIC1") | .assignment.sector == "Bravo" and .acknowledged != null)' \
		<<<"$ro" >/dev/null || fail "$n: roster view: $ro"
	rq=$(view "$n" requests)
	jq -e --arg r1 "$R1" '
		(.requests | length) == 1 and .requests[0].id == $r1 and .requests[0].status == "filled" and
		.requests[0].needed == 2 and .requests[0].accepted == 2 and .requests[0].over_filled == false' \
		<<<"$rq" >/dev/null || fail "$n: requests view: $rq"
	tr=$(view "$n" triage)
	jq -e '
		.totals == {"P1":2,"P2":4,"P3":7,"dead":0} and .ccs[0].ccs == "CCS-A" and
		(.casualties | length) == 1 and .casualties[0].movement.tag == "T0042" and
		.casualties[0].movement.priority == "P1" and .casualties[0].movement.departed > 0 and
		.casualties[0].movement.destination == "Royal Infirmary"' \
		<<<"$tr" >/dev/null || fail "$n: triage view: $tr"
done
text=$(mu cmd methane)
grep -q "Train derailment" <<<"$text" || fail "the METHANE text view lacks the incident type: $text"
mu cmd incident-report --json | jq -e '.timeline | length >= 12' >/dev/null ||
	fail "incident report: $(mu cmd incident-report --json)"

# ---- bad arguments store nothing ----
before=$(store_bundles cmd)
bad() { # bad NODE PATTERN ARGS...: refused with a message matching PATTERN
	local node=$1 pat=$2 out
	shift 2
	out=$(mu "$node" "$@" 2>&1) && fail "accepted: muster $*"
	grep -q -- "$pat" <<<"$out" || fail "unclear error for muster $*: $out"
}
bad cmd "--p1 must be a whole number 0..65535" methane send --p1 70000
bad cmd "--p2 must be a whole number" methane send --p2 -1
bad cmd "give only one of" methane send --declared --standby
bad cmd "unknown option --colour" roster --colour
bad cmd "--need must be a whole number 1..99" request send --need 0 --skill hart --sector A
bad cmd "--skill is required" request send --need 1 --skill plumber --sector A
bad cmd "--incident must be 1..32 bytes" roster --incident "$(printf 'x%.0s' {1..33})"
bad cmd "--location must be 1..64 bytes" methane send --location "$(printf 'y%.0s' {1..65})"
bad cmd "--callsign is required" checkin --skills hart
bad cmd "--skills is a comma-separated list" checkin --callsign X1 --skills hart,plumber
bad cmd "--status must be available" checkin --callsign HART1 --status resting
bad cmd "has not checked in" assign --callsign GHOST9 --function triage
bad cmd "has not checked in" checkout --callsign GHOST9
bad cmd "--priority must be P1, P2 or P3" casualty send --tag T1 --priority dead --destination X
bad cmd "--at must be" triage send --ccs CCS-A --p1 1 --p2 1 --p3 1 --dead 0 --at 25:00
bad cmd "looks like an NHS number" casualty send --tag T2 --priority P2 --destination X --note "NHS 943 476 5919"
bad cmd "ASSIGNMENT-ID must be a record id" acknowledge 12ab
bad cmd "is a methane record" acknowledge "$M1"
bad cmd "no incident record with that id" request accept 00000000 --callsign HART1
bad p "only an incident commander" assign --callsign HART1 --function triage
bad p "only the person who made" request cancel "$R1"
[ "$(store_bundles cmd)" -eq "$before" ] || fail "refused commands stored bundles: $before -> $(store_bundles cmd)"
out=$(mu relay methane --json 2>&1) && fail "the relay read the METHANE"
grep -q "no user on this node" <<<"$out" || fail "unclear relay error: $out"

# ---- partition: both sides update the same crew and the METHANE ----
link_drop cmd relay
rec cmd checkin --callsign HART1 --status committed
rec h checkin --callsign HART1 --status transporting --location "en route Royal Infirmary"
rec cmd methane send --standby
rec h methane send --p3 12 --hazards "Overhead lines down; diesel leak"
link_undrop cmd relay
wait_synced

ref=
for n in "${USERS[@]}"; do
	for v in roster methane requests triage; do
		out=$(view "$n" $v) || fail "$n $v failed: $out"
		printf '%s\n' "$out" >"$MESH_TMP/$n.$v.json"
		jq -e . "$MESH_TMP/$n.$v.json" >/dev/null || fail "$n $v is not JSON: $out"
	done
done
for n in p h; do
	for v in roster methane requests triage; do
		cmp -s "$MESH_TMP/cmd.$v.json" "$MESH_TMP/$n.$v.json" ||
			fail "$v differs between cmd and $n: $(diff "$MESH_TMP/cmd.$v.json" "$MESH_TMP/$n.$v.json")"
	done
done
jq -e '(.conflicts | length) == 1 and (.history | length) == 4 and
	([.shown.declared, .conflicts[0].declared] | sort) == ["declared","standby"]' \
	"$MESH_TMP/cmd.methane.json" >/dev/null || fail "METHANE conflict not shown: $(cat "$MESH_TMP/cmd.methane.json")"
jq -e '.crews[] | select(.callsign == "HART1") | (.checkin_conflicts | length) == 1 and
	([.checkin.status, .checkin_conflicts[0].status] | sort) == ["committed","transporting"]' \
	"$MESH_TMP/cmd.roster.json" >/dev/null || fail "crew status conflict not shown: $(cat "$MESH_TMP/cmd.roster.json")"
out=$(mu relay requests 2>&1) && fail "the relay read the requests"
mesh_pass
