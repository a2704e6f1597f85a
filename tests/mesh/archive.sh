#!/usr/bin/env bash
# The hospital archive: a hospital node (h, user with role archive) and
# three field nodes (paramedic p, commander c, doctor d), each linked only
# to the hospital by a static peer. The field nodes learn the archive's
# credential, are cut off, send messages, and reconnect one at a time.
# Every message is archived exactly once (also across a hospital restart),
# custody receipts flow back to every field node, the audit chain verifies,
# `muster export audit` is JSON Lines that match it, and after the
# archive's LMDB is edited offline (mdb_dump / mdb_load) verification fails
# naming the bad seq; an archive whose LMDB is lost is rebuilt from the
# store. A field node refuses the archive commands.
. "$(dirname "$0")/lib.sh"
mesh_init archive
for t in mdb_dump mdb_load jq; do command -v $t >/dev/null 2>&1 || skip "needs $t (lmdb-utils, jq)"; done

ca_init ca
node_new h ca archive
node_new p ca paramedic
node_new c ca aic
node_new d ca doctor
node_conf h '[node]' 'role = hospital' '[archive]' 'receipt_interval_ms = 300'
for n in p c d; do
	link_add "$n" h
	node_peer "$n" h
done
for n in h p c d; do node_start "$n"; done
for n in p c d; do wait_until 20 "$n to reach the hospital" session_up "$n" h; done
# Every user's credential (the archive's above all) everywhere, so each
# message is encrypted to the archive too.
for n in p c d; do wait_until 30 "all four user credentials at $n" creds_at_least "$n" 4; done

archive_num() { mu "$1" archive --json | jq -r ".$2"; }
archive_at_least() { ge "$(archive_num "$1" "$2")" "$3"; } # NODE FIELD N
custody_records() { mu "$1" status --json | jq -r '.custody.records'; }
custody_at_least() { ge "$(custody_records "$1")" "$2"; }

# Cut the field off the hospital and send while partitioned.
# A TCP reset plus drop, so the sessions really end.
for n in p c d; do link_reset "$n" h; done
for n in p c d; do wait_until 20 "$n to lose the hospital" no_session "$n" h; done
declare -A SENT_BY=()
ids=()
for i in 1 2 3 4 5; do
	mu_send p --to all "paramedic report $i"
	ids+=("$SENT_ID")
done
SENT_BY[p]=5
for i in 1 2 3; do
	mu_send c --to role:paramedic --priority urgent "commander tasking $i"
	ids+=("$SENT_ID")
done
SENT_BY[c]=3
for i in 1 2; do
	mu_send d --to "person:$(user_key p)" "doctor to paramedic $i"
	ids+=("$SENT_ID")
done
SENT_BY[d]=2
total=${#ids[@]}
[ "$(archive_num h items)" -eq 0 ] || fail "the hospital archived something while partitioned"

# Reconnect one at a time; each brings its own messages.
expect_items=0
for n in p c d; do
	link_unreset "$n" h
	expect_items=$((expect_items + SENT_BY[$n]))
	wait_until 30 "hospital to archive $expect_items messages after $n reconnects" \
		archive_at_least h items "$expect_items"
done
sleep 3 # field nodes now relay each other's messages through h: nothing is archived twice
[ "$(archive_num h items)" -eq "$total" ] || fail "archived $(archive_num h items) items, sent $total"
[ "$(archive_num h last_seq)" -eq "$total" ] || fail "audit seq $(archive_num h last_seq), want $total"
[ "$(archive_num h unreadable)" -eq 0 ] || fail "the archive could not open $(archive_num h unreadable) messages"

# Custody receipts: issued for everything, and back at every field node.
wait_until 20 "every item receipted" archive_at_least h receipted "$total"
[ "$(archive_num h receipts_pending)" -eq 0 ] || fail "receipts still pending"
for n in p c d; do
	wait_until 30 "custody receipts to reach $n" custody_at_least "$n" "$total"
done
mu h status | grep -q '^archive ' || fail "muster status on the hospital has no archive line"

# A restart archives nothing twice and issues no receipt again.
node_stop h
node_start h
for n in p c d; do wait_until 45 "$n to reach the restarted hospital" session_up "$n" h; done
sleep 3
[ "$(archive_num h items)" -eq "$total" ] || fail "after restart: $(archive_num h items) items"
[ "$(archive_num h last_seq)" -eq "$total" ] || fail "after restart: audit seq $(archive_num h last_seq)"

# Verify (recorded as one entry), then export (recorded after the export).
out=$(mu h audit verify) || fail "audit verify failed: $out"
grep -q "^OK: $total entries, head [0-9a-f]\{64\}$" <<<"$out" || fail "audit verify said: $out"
exp=$MESH_TMP/audit.jsonl
mu h export audit >"$exp" || fail "export audit failed"
[ "$(wc -l <"$exp")" -eq $((total + 1)) ] || fail "export has $(wc -l <"$exp") lines, want $((total + 1))"
jq -e . "$exp" >/dev/null || fail "export is not JSON Lines"
[ "$(jq -r 'select(.event == "archived") | .bundle' "$exp" | sort | tr '\n' ' ')" = \
	"$(printf '%s\n' "${ids[@]}" | sort | tr '\n' ' ')" ] || fail "exported bundle ids differ from those sent"
[ "$(jq -s '[.[].seq] == [range(1; length + 1)]' "$exp")" = true ] || fail "export seqs are not 1..n"
[ "$(jq -s '[range(1; length) as $i | .[$i].prev == .[$i - 1].hash] | all' "$exp")" = true ] ||
	fail "export's prev hashes do not chain"
bad=$(jq -s '[.[] | select(.event == "archived") | select(.sender_name == null or .sender == null or
	(.time | test("^[0-9-]{10}T[0-9:]{8}\\.[0-9]{3}Z$") | not))] | length' "$exp")
[ "$bad" -eq 0 ] || fail "$bad archived lines lack their sender or an ISO time"
[ "$(jq -r 'select(.event == "verified") | .seq' "$exp")" -eq $((total + 1)) ] || fail "no verified entry"
grep -q "Staff p" "$exp" || { head -n 2 "$exp" >&2; fail "the paramedic's name is not in the export"; }
since=$(mu h export audit --since "$total" | wc -l)
[ "$since" -eq 2 ] || fail "export --since $total gave $since lines, want 2 (verified, exported)"
[ "$(archive_num h last_seq)" -eq $((total + 3)) ] || fail "exports were not recorded in the chain"

# A field node has no archive.
out=$(mu p archive 2>&1) && fail "a field node answered muster archive"
grep -q "field node" <<<"$out" || fail "field node's refusal: $out"
mu p audit verify >/dev/null 2>&1 && fail "a field node verified an audit chain"

# Offline tampering: flip one byte of audit entry 3's time.
node_stop h
adir=$(node_dir h)/archive
mdb_dump -s audit "$adir" >"$MESH_TMP/audit.dump" || fail "mdb_dump"
python3 - "$MESH_TMP/audit.dump" <<'EOF' || fail "editing the dump"
import sys
p = sys.argv[1]
lines = open(p).read().split('\n')
i = lines.index(' 0000000000000003')
v = bytearray.fromhex(lines[i + 1].strip())
v[17] ^= 1  # low byte of the entry's time
lines[i + 1] = ' ' + v.hex()
open(p, 'w').write('\n'.join(lines))
EOF
mdb_load -s audit -f "$MESH_TMP/audit.dump" "$adir" || fail "mdb_load"
node_start h
out=$(mu h audit verify 2>&1) && fail "verify passed a tampered chain: $out"
grep -q "FAILED at seq 3:" <<<"$out" || fail "verify of the tampered chain said: $out"
[ "$(mu h audit verify --json | jq -r '.bad_seq')" = 3 ] || fail "json verify does not name seq 3"

# Undo it, then edit an archived item's record instead (the 6th item).
node_stop h
python3 - "$MESH_TMP/audit.dump" <<'EOF'
import sys
p = sys.argv[1]
lines = open(p).read().split('\n')
i = lines.index(' 0000000000000003')
v = bytearray.fromhex(lines[i + 1].strip())
v[17] ^= 1
lines[i + 1] = ' ' + v.hex()
open(p, 'w').write('\n'.join(lines))
EOF
mdb_load -s audit -f "$MESH_TMP/audit.dump" "$adir" || fail "mdb_load (undo)"
item6=$(jq -r 'select(.seq == 6) | .bundle' "$exp")
mdb_dump -s items "$adir" >"$MESH_TMP/items.dump" || fail "mdb_dump items"
python3 - "$MESH_TMP/items.dump" "$item6" <<'EOF' || fail "editing the items dump"
import sys
p, key = sys.argv[1], sys.argv[2]
lines = open(p).read().split('\n')
i = lines.index(' ' + key)
v = bytearray.fromhex(lines[i + 1].strip())
v[-1] ^= 1  # last byte of the sealed content
lines[i + 1] = ' ' + v.hex()
open(p, 'w').write('\n'.join(lines))
EOF
mdb_load -s items -f "$MESH_TMP/items.dump" "$adir" || fail "mdb_load items"
node_start h
out=$(mu h audit verify 2>&1) && fail "verify passed an edited record: $out"
grep -q "FAILED at seq 6:" <<<"$out" || fail "verify of the edited record said: $out"

# An archive that lost a batch (here: all of it) is rebuilt at start from
# what the store holds, each message once.
node_stop h
mv "$adir" "$adir.tampered"
node_start h
wait_until 30 "the archive to be rebuilt from the store" archive_at_least h items "$total"
sleep 1
[ "$(archive_num h items)" -eq "$total" ] || fail "rebuilt archive has $(archive_num h items) items"
out=$(mu h audit verify) || fail "rebuilt archive does not verify: $out"
mesh_pass
