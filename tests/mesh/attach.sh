#!/usr/bin/env bash
# Attachments (node/attach.h, docs/operations.md "Attachments"): a 3 MiB
# photo from a paramedic on a to the commander on c over a capped path
# a - b - c; an immediate message sent after it overtakes it; b - c is cut
# mid-transfer, c holds some chunks, a forged chunk (validly signed by the
# sender, bytes not in the manifest) is refused and `muster get` outputs
# nothing; c resumes through the other path a - d - c (d took the chunks
# from a meanwhile) and the file comes out byte-identical. Also: over-limit
# and empty files refused with nothing stored, a modified bundle file
# refused, no notification per chunk.
. "$(dirname "$0")/lib.sh"
mesh_init attach

ca_init ca
node_new a ca paramedic
node_new b ca
node_new c ca aic
node_new d ca
link_add a b
link_add b c
link_add a d
link_add d c
node_peer a b
node_peer b c
node_peer a d
node_peer c d   # c dials d: after its restart it tries at once
link_drop d c   # the second path is closed until c resumes
node_conf a '[messaging]' 'attach_max_bytes = 4M'
for n in a b c d; do node_conf "$n" '[node]' 'sync_interval_ms = 1000'; done
for n in a b c d; do node_start "$n"; done
wait_until 20 "a-b, b-c and a-d sessions" eval 'session_up a b && session_up b c && session_up a d'
wait_until 20 "c's user credential to reach a" creds_at_least a 2

# Limits: nothing is stored for a refused file.
head -c $((5 << 20)) /dev/urandom > "$MESH_TMP/big.bin"
: > "$MESH_TMP/empty.txt"
before=$(store_bundles a)
out=$(mu a send --to role:aic --attach "$MESH_TMP/big.bin" 2>&1) && fail "a 5 MiB file went out over a 4M limit"
grep -q "limited to 4194304 bytes" <<<"$out" || fail "no clear limit message: $out"
out=$(mu a send --to role:aic --attach "$MESH_TMP/empty.txt" 2>&1) && fail "an empty file went out"
grep -q "empty" <<<"$out" || fail "no clear message for an empty file: $out"
[ "$(store_bundles a)" -eq "$before" ] || fail "a refused attachment left bundles behind"

link_cap b c 2mbit
head -c $((3 << 20)) /dev/urandom > "$MESH_TMP/photo.jpg"
want=$(sha256sum < "$MESH_TMP/photo.jpg" | cut -d' ' -f1)
mu_send a --to role:aic --attach "$MESH_TMP/photo.jpg" "scene photo, vehicle 2"
att=$SENT_ID
mu_send a --to role:aic --priority immediate "Need a second crew at vehicle 2"
txt=$SENT_ID

st() { mu c get "$att" --status --json 2>/dev/null; }
stnum() { st | grep -o "\"$1\":[0-9a-z]*" | cut -d: -f2; }
wait_until 20 "the immediate message to reach c" inbox_has c "$txt"
[ "$(stnum complete)" != true ] || fail "the immediate message waited for the whole attachment"
wait_until 20 "the manifest to reach c" inbox_has c "$att"
count=$(stnum chunks)
[ "$count" -eq 64 ] || fail "3 MiB should be 64 chunks of 48 KiB, status says $count"
wait_until 30 "c to hold some chunks" eval 'ge "$(stnum have)" 4'
link_drop b c
sleep 2
have=$(stnum have)
[ "$have" -ge 4 ] && [ "$have" -lt "$count" ] || fail "c holds $have of $count chunks after the cut"
say "cut b-c with $have/$count chunks at c"
mu c inbox | grep -q "\[attachment\] photo.jpg image/jpeg 3145728 bytes, $have/64 chunks: scene photo" ||
	fail "inbox lacks the attachment line: $(mu c inbox)"
out=$(mu c get "$att" --out "$MESH_TMP/early.jpg" 2>&1); rc=$?
[ "$rc" -eq 3 ] && grep -q "incomplete" <<<"$out" || fail "get of an incomplete attachment: rc $rc: $out"
[ ! -e "$MESH_TMP/early.jpg" ] || fail "an incomplete attachment was written"

# A forged chunk for a place c still lacks: signed by a's user, not the
# listed bytes. It is stored (it is a valid bundle) but refused as the chunk.
json=$(st)
map=$(grep -o '"map":"[^"]*"' <<<"$json" | cut -d'"' -f4)
rest=${map%%-*}
idx=${#rest}
aid=$(grep -o '"attachment":"[0-9a-f]*"' <<<"$json" | cut -d'"' -f4)
created=$(grep -o '"created":[0-9]*' <<<"$json" | cut -d: -f2)
expires=$(grep -o '"expires":[0-9]*' <<<"$json" | cut -d: -f2)
"$MU_BIN/muster-test-attach" --key "$(node_dir a)/user.key" --keyfile "$(node_dir a)/user.kf" \
	--out "$MESH_TMP/forged.bundle" --attachment "$aid" --index "$idx" --count "$count" \
	--created $((created - count + idx)) --expires "$expires" --role aic || fail "muster-test-attach"
# the same file with one byte changed no longer verifies
cp "$MESH_TMP/forged.bundle" "$MESH_TMP/modified.bundle"
printf '\x55' | dd of="$MESH_TMP/modified.bundle" bs=1 seek=200 conv=notrunc status=none
out=$(mu c import "$MESH_TMP/modified.bundle" 2>&1) && fail "a modified bundle was imported: $out"
grep -q "refused" <<<"$out" || fail "modified bundle: $out"
mu c import "$MESH_TMP/forged.bundle" >/dev/null || fail "the forged chunk (a valid bundle) was not stored"
[ "$(stnum bad)" -eq 1 ] || fail "the forged chunk was not reported: $(st)"
st | grep -q "\"map\":\"[^\"]\{$idx\}x" || fail "chunk $idx not marked refused: $(st)"
[ "$(stnum have)" -eq "$have" ] || fail "the forged chunk counted as held"
out=$(mu c get "$att" --status 2>&1)
grep -q "do not match the manifest" <<<"$out" || fail "get --status does not report the bad copy: $out"

# Resume through d, which took every chunk from a meanwhile.
bundles_at_least d "$count" || fail "d holds only $(store_bundles d) bundles"
node_stop c
link_undrop d c
node_start c
wait_until 60 "c to complete the attachment through d" eval 'test "$(stnum complete)" = true'
[ "$(stnum bad)" -eq 0 ] || fail "the good copy of chunk $idx did not replace the forged one"
mu c get "$att" --out "$MESH_TMP/got.jpg" || fail "muster get failed"
got=$(sha256sum < "$MESH_TMP/got.jpg" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "the received file differs from the one sent"
got=$(mu c get "$att" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "get to stdout differs from the file sent"
mu c get "$att" --wait --timeout 5 --out - | cmp -s - "$MESH_TMP/photo.jpg" || fail "get --wait differs"
# the sender reads their own attachment too
got=$(mu a get "$att" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "the sender's copy differs"
! log_has c "new bulk message" || fail "a chunk raised a notification"
mesh_pass
