#!/usr/bin/env bash
# Custody receipts remove field copies: messages sent on field node a reach
# b and the hospital h (a - b - h). A custody receipt from h's archive user
# (sealed by muster-test-receipt, imported on h) names two of three; after
# custody_grace_ms (2 s) a's and b's copies of those two are gone (inbox,
# store, status), the third stays, the hospital keeps all three, the
# deleted ids are not fetched again over later sync rounds, and a field node
# c that meets the hospital afterwards ends up holding only the third too.
. "$(dirname "$0")/lib.sh"
mesh_init custody
[ -x "$MU_BIN/muster-test-receipt" ] || fail "$MU_BIN/muster-test-receipt not built"

ca_init ca
node_new a ca paramedic
node_new b ca aic
node_new h ca archive
node_new c ca aic
link_add a b
link_add b h
link_add h c
node_peer a b
node_peer b h
node_peer c h
for n in a b c; do node_conf "$n" '[node]' 'custody_grace_ms = 2000'; done
node_conf h '[node]' 'role = hospital' 'custody_grace_ms = 0'
node_start a
node_start b
node_start h
wait_until 20 "a-b and b-h sessions" eval 'session_up a b && session_up b h'
wait_until 20 "credentials everywhere" eval 'creds_at_least a 3 && creds_at_least h 3'

mu_send a --to all "casualty 1 handed to resus"
m1=$SENT_ID
mu_send a --to all "casualty 2 to theatre"
m2=$SENT_ID
mu_send a --to all "casualty 3 walking wounded"
m3=$SENT_ID
for m in $m1 $m2 $m3; do
	wait_until 20 "b to hold $m" inbox_has b "$m"
	wait_until 20 "h to hold $m" inbox_has h "$m"
done

# A hospital with the archive (node/archive.c) issues its own custody
# receipts for everything it archives; without it, the hospital's archive
# user seals one for m1 and m2 with the test tool.
if mu h status --json | grep -q '"archive":{'; then
	say "the hospital archives and issues receipts itself"
	gone=3 kept=0
else
	gone=2 kept=1
	dir=$(node_dir h)
	"$MU_BIN/muster-test-receipt" --key "$dir/user.key" --keyfile "$dir/user.kf" \
		--out "$MESH_TMP/receipt.bin" --type custody "$m1" "$m2" || fail "muster-test-receipt"
	mu h import "$MESH_TMP/receipt.bin" >/dev/null || fail "import of the receipt on h"
fi

for n in a b; do
	wait_until 20 "$n to delete the archived copies" eval "[ \"\$(status_num $n tombstones)\" = $gone ]"
	inbox_has $n "$m1" && fail "$n still shows m1"
	inbox_has $n "$m2" && fail "$n still shows m2"
	[ $kept = 0 ] || inbox_has $n "$m3" || fail "$n lost m3, which was not archived"
	[ "$(status_num $n unarchived)" -eq $kept ] || fail "$n: $(status_num $n unarchived) not archived, want $kept"
	[ "$(status_num $n awaiting_deletion)" -eq 0 ] || fail "$n: archived copies still awaiting deletion"
	log_has $n "deleted the content of [0-9]+ archived messages" || fail "$n did not log the deletion"
done
for m in $m1 $m2 $m3; do inbox_has h "$m" || fail "the hospital lost $m"; done
[ "$(status_num h tombstones)" -eq 0 ] || fail "the hospital deleted something"

# Tombstones keep the ids in sync: nothing is sent again over many rounds.
ra=$(status_num a bundles_received); rb=$(status_num b bundles_received)
sa=$(store_bundles a); sb=$(store_bundles b)
da=$(status_num a bundles_duplicate); db=$(status_num b bundles_duplicate)
sleep 6
[ "$(status_num a bundles_received)" -eq "$ra" ] || fail "a received bundles again: $ra -> $(status_num a bundles_received)"
[ "$(status_num b bundles_received)" -eq "$rb" ] || fail "b received bundles again: $rb -> $(status_num b bundles_received)"
[ "$(store_bundles a)" -eq "$sa" ] && [ "$(store_bundles b)" -eq "$sb" ] || fail "store counts moved"
[ "$(status_num a bundles_duplicate)" -eq "$da" ] && [ "$(status_num b bundles_duplicate)" -eq "$db" ] ||
	fail "deleted ids were sent again (duplicates: a $da -> $(status_num a bundles_duplicate), b $db -> $(status_num b bundles_duplicate))"

# A field node meeting the hospital later gets the copies and the receipt,
# and deletes the archived two after its grace.
node_start c
wait_until 20 "c-h session" session_up c h
# (c's user joined after the messages were sealed, so c relays them but
# cannot read them: its status, not its inbox, shows what it holds.)
wait_until 20 "c to delete the archived copies" eval "[ \"\$(status_num c tombstones)\" = $gone ]"
[ "$(status_num c unarchived)" -eq $kept ] || fail "c: $(status_num c unarchived) not archived, want $kept"
rc=$(status_num c bundles_received)
sleep 4
[ "$(status_num c bundles_received)" -eq "$rc" ] || fail "c received bundles again"
mesh_pass
