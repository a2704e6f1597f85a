#!/usr/bin/env bash
# Hospital exports and GDPR (docs/exports.md): a hospital (h, archive user)
# and two field nodes (paramedic p, commander c). The field sends a text
# naming casualty T0042, a METHANE, a casualty movement for T0042 and an
# unrelated text. On the hospital: `muster export fhir` is a FHIR R4
# collection Bundle with one Communication per archived message, mapped
# priorities and references that resolve; `export report` holds the
# METHANE and the casualty; `export subject --tag T0042` finds exactly the
# two items; `erase --tag T0042` lists them, then with --confirm erases
# them, reporting each as crypto-shredded (text and --json, per item and
# in total): subject access finds nothing, the audit chain verifies and
# shows the erasures, and a compacted copy of the archive (mdb_copy -c)
# holds no byte of their sealed content while it still holds the other
# items'.
. "$(dirname "$0")/lib.sh"
mesh_init export
for t in mdb_dump mdb_copy jq python3; do command -v $t >/dev/null 2>&1 || skip "needs $t"; done

ca_init ca
node_new h ca archive
node_new p ca paramedic
node_new c ca aic
node_conf h '[node]' 'role = hospital' '[archive]' 'receipt_interval_ms = 300'
for n in p c; do
	link_add "$n" h
	node_peer "$n" h
done
for n in h p c; do node_start "$n"; done
for n in p c; do wait_until 20 "$n to reach the hospital" session_up "$n" h; done
for n in p c; do wait_until 30 "all three user credentials at $n" creds_at_least "$n" 3; done

archive_num() { mu h archive --json | jq -r ".$1"; }
archive_at_least() { ge "$(archive_num "$1")" "$2"; }
rec() { # NODE ARGS...: an incident record; its id in REC
	local node=$1 out
	shift
	out=$(mu "$node" "$@" --json) || fail "muster $* on $node: $out"
	REC=$(jq -er .id <<<"$out") || fail "muster $* on $node printed no id: $out"
}

INC=INC-EXPORT-1
mu_send p --to role:aic "Casualty T0042 trapped under debris, needs HART"
T1=$SENT_ID
rec c methane send --declared --location "Victoria Station concourse" --type "Structural collapse" \
	--services "Fire, police, HART" --incident "$INC"
M1=$REC
rec p casualty send --tag T0042 --priority P1 --destination "Royal Infirmary" --departed now --incident "$INC"
C1=$REC
mu_send c --to all --priority immediate "Second RVP open at Buckingham Palace Road"
T2=$SENT_ID
wait_until 30 "the hospital to archive 4 messages" archive_at_least items 4
[ "$(archive_num unreadable)" -eq 0 ] || fail "the archive could not open some messages"

# ---- FHIR ----
fhir=$MESH_TMP/fhir.json
mu h export fhir >"$fhir" || fail "export fhir failed: $(head -c 300 "$fhir")"
jq -e . "$fhir" >/dev/null || fail "export fhir is not JSON"
chk() { jq -e "$1" "$fhir" >/dev/null || fail "FHIR check failed: $1"; }
chk '.resourceType == "Bundle" and .type == "collection" and (.timestamp | test("^[0-9-]{10}T[0-9:]{8}\\.[0-9]{3}Z$"))'
chk '[.entry[] | select(.resource.resourceType == "Communication")] | length == 4'
chk '[.entry[].fullUrl | test("^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")] | all'
chk '([.entry[].fullUrl] | length) == ([.entry[].fullUrl] | unique | length)'
chk '[.entry[].resource | select(.resourceType == "Communication") | .status == "completed" and
	(.sent | test("Z$")) and (.received | test("Z$"))] | all'
chk '([.entry[] | select(.resource.resourceType == "Practitioner") | .fullUrl]) as $p |
	[.entry[].resource | select(.resourceType == "Communication") | (.sender.reference, .recipient[]?.reference) |
	 IN($p[])] | all'
chk ".entry[].resource | select(.id == \"$M1\") | .priority == \"stat\" and .about[0].identifier.value == \"$INC\""
chk ".entry[].resource | select(.id == \"$C1\") | .priority == \"asap\" and (.payload[0].contentString | test(\"T0042 P1 to Royal Infirmary\"))"
chk ".entry[].resource | select(.id == \"$T1\") | .priority == \"routine\" and .payload[0].contentString == \"Casualty T0042 trapped under debris, needs HART\""
chk ".entry[].resource | select(.id == \"$T2\") | .priority == \"stat\""
chk '[.entry[].resource | select(.resourceType == "Practitioner") | .identifier[] | select(.system == "urn:muster:key")] | length >= 2'
chk '[.entry[].resource | select(.resourceType == "Practitioner") | .name[0].text] | index("Staff p") != null'
chk '[.entry[].resource | select(.resourceType == "Communication") | keys[] |
	IN("resourceType","id","identifier","status","priority","sent","received","sender","recipient",
	   "category","about","payload","note") ] | all'

# ---- incident report ----
rep=$(mu h export report --incident "$INC") || fail "export report failed: $rep"
grep -q "^INCIDENT REPORT $INC, from the hospital archive" <<<"$rep" || fail "report header: $rep"
grep -q "Victoria Station concourse" <<<"$rep" || fail "report lacks the METHANE: $rep"
grep -q "T0042" <<<"$rep" || fail "report lacks the casualty: $rep"

# ---- subject access ----
sar=$(mu h export subject --tag T0042 --json) || fail "subject export failed: $sar"
[ "$(jq -r .count <<<"$sar")" -eq 2 ] || fail "subject export found $(jq -r .count <<<"$sar") items, want 2: $sar"
[ "$(jq -r '[.items[].id] | sort | join(" ")' <<<"$sar")" = "$(printf '%s\n' "$T1" "$C1" | sort | paste -sd' ')" ] ||
	fail "subject export found the wrong items: $sar"
digest=$(jq -r .subject.digest <<<"$sar")
mu h export audit | jq -e "select(.event == \"exported\" and .digest == \"$digest\")" >/dev/null ||
	fail "the subject export is not in the audit chain by its digest"
mu h export audit | grep -q T0042 && fail "the audit export names the tag"
out=$(mu h export subject --tag T0 2>&1) && fail "a 2-character subject was accepted: $out"

# Sealed bytes of every item before erasure, to look for afterwards.
adir=$(node_dir h)/archive
mdb_dump -s items "$adir" >"$MESH_TMP/items.dump" || fail "mdb_dump items"
tail_of() { python3 - "$MESH_TMP/items.dump" "$1" <<'PY'
import sys
lines = open(sys.argv[1]).read().split('\n')
i = lines.index(' ' + sys.argv[2])
print(lines[i + 1].strip()[-64:])
PY
}
for id in "$T1" "$C1" "$T2" "$M1"; do declare "TAIL_$id=$(tail_of "$id")" || fail "no record for $id"; done

# ---- erasure ----
out=$(mu h erase --tag T0042) || fail "erase (dry run) failed: $out"
grep -q "^2 items would be erased" <<<"$out" || fail "dry run said: $out"
[ "$(archive_num erased)" -eq 0 ] || fail "the dry run erased something"
out=$(mu h erase --tag T0042 --confirm --json) || fail "erase failed: $out"
jq -e '.erased == 2 and .shredded == 2 and .deleted_only == 0 and .skipped == 0 and .count == 2 and
	.listed == 2 and ([.items[].result] | all(. == "shredded")) and .audit_last == .audit_first + 1' \
	<<<"$out" >/dev/null || fail "erase --json said: $out"
[ "$(jq -r '[.items[].id] | sort | join(" ")' <<<"$out")" = "$(printf '%s\n' "$T1" "$C1" | sort | paste -sd' ')" ] ||
	fail "erase --json listed the wrong items: $out"
[ "$(archive_num erased)" -eq 2 ] || fail "archive counts $(archive_num erased) erased"
sar=$(mu h export subject --tag T0042 --json) || fail "subject export after erasure failed"
[ "$(jq -r .count <<<"$sar")" -eq 0 ] || fail "after erasure the subject export still finds: $sar"
out=$(mu h audit verify) || fail "audit verify after erasure: $out"
grep -q "^OK: " <<<"$out" || fail "audit verify said: $out"
[ "$(mu h export audit | jq -r 'select(.event == "erased") | .bundle' | sort | paste -sd' ')" = \
	"$(printf '%s\n' "$T1" "$C1" | sort | paste -sd' ')" ] || fail "the audit chain does not show both erasures"
mu h export fhir | jq -e '[.entry[] | select(.resource.resourceType == "Communication")] | length == 2' >/dev/null ||
	fail "the FHIR export still has erased items"
mu h export report --incident "$INC" | grep -q T0042 && fail "the report still shows the erased casualty"
out=$(mu h erase --id "${C1:0:12}" --confirm) || fail "erase --id of an erased item: $out"
grep -q "erased before" <<<"$out" || fail "erase --id of an erased item said: $out"
grep -q "^$C1  already erased$" <<<"$out" || fail "erase --id of an erased item listed: $out"
# Text output, per item and in total: T2 was archived with a per-item key.
out=$(mu h erase --id "$T2" --confirm) || fail "erase --id $T2: $out"
grep -q "^$T2  crypto-shredded$" <<<"$out" || fail "erase --id said per item: $out"
grep -q "^1 erased: 1 crypto-shredded, 0 deleted only (archived before per-item keys); audit seq " <<<"$out" ||
	fail "erase --id said in total: $out"
grep -q "compacted" <<<"$out" && fail "erase asks to compact with nothing deleted only: $out"
[ "$(archive_num erased)" -eq 3 ] || fail "archive counts $(archive_num erased) erased, want 3"
out=$(mu p erase --tag T0042 2>&1) && fail "a field node erased: $out"

# ---- nothing readable left: a compacted copy of the archive ----
node_stop h
mdb_copy -c "$adir" "$MESH_TMP/compact" 2>/dev/null || { mkdir -p "$MESH_TMP/compact" && mdb_copy -c "$adir" "$MESH_TMP/compact"; } ||
	fail "mdb_copy -c"
has_bytes() { python3 -c 'import sys; sys.exit(0 if bytes.fromhex(sys.argv[2]) in open(sys.argv[1], "rb").read() else 1)' "$1" "$2"; }
f=$MESH_TMP/compact/data.mdb
for id in "$T1" "$C1" "$T2"; do
	v=TAIL_$id
	has_bytes "$f" "${!v}" && fail "erased item $id's sealed bytes are in the compacted archive"
done
for id in "$M1"; do
	v=TAIL_$id
	has_bytes "$f" "${!v}" || fail "live item $id's sealed bytes are missing: the search does not work"
done
grep -q "trapped under debris" "$f" && fail "message text in the compacted archive"
grep -rq "trapped under debris" "$(node_dir h)" && fail "message text somewhere in the hospital's data"
mesh_pass
