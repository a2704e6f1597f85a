#!/usr/bin/env bash
# Channels with epoch keys (docs/operations.md "Channels"): four staff
# nodes around a relay. The commander (a) makes a channel with two
# paramedics (p1, p2); members read its messages, the HART operative (h)
# and the relay (r) store them but cannot. Removing p2 rotates the epoch:
# p2 keeps the bundles but cannot read new messages. Adding h gives h the
# current epoch only. Revoking p1's credential makes a's node rotate by
# itself; p1's node, still syncing, cannot read what follows.
. "$(dirname "$0")/lib.sh"
mesh_init channel

ca_init ca
node_new r ca
node_new a ca aic
node_new p1 ca paramedic
node_new p2 ca paramedic
node_new h ca hart
for n in a p1 p2 h; do
	link_add "$n" r
	node_peer "$n" r
	# Receipts off: every node then holds exactly the bundles a holds.
	node_conf "$n" '[messaging]' 'read_receipts = false' 'delivery_receipts = false'
done
for n in r a p1 p2 h; do node_start "$n"; done
for n in a p1 p2 h; do wait_until 20 "$n linked to r" session_up "$n" r; done
for n in a p1 p2 h; do wait_until 20 "credentials to reach $n" creds_at_least "$n" 4; done
P1=$(user_key p1)
P2=$(user_key p2)
H=$(user_key h)

same_store() { # every node holds as many bundles as a
	local want n
	want=$(store_bundles a)
	for n in r p1 p2 h; do [ "$(store_bundles "$n")" = "$want" ] || return 1; done
}
chan_epoch() { mu "$1" channel show incident --json | grep -o '"epoch":[0-9]*' | cut -d: -f2; }
epoch_is() { [ "$(chan_epoch "$1" 2>/dev/null)" = "$2" ]; }
no_plaintext() { # NODE TEXT: nowhere in NODE's data directory
	! grep -rqa -- "$2" "$(node_dir "$1")" || fail "$1 stores '$2' in the clear"
}

# ---- create: a, p1, p2 ----
out=$(mu a channel create incident --member "$P1" --member "$P2") || fail "create: $out"
grep -q "3 members" <<<"$out" || fail "create: $out"
out=$(mu a channel create incident 2>&1) && fail "a second channel of the same name: $out"
wait_until 20 "the key-wrap to reach everyone" same_store
for n in p1 p2; do epoch_is "$n" 1 || fail "$n does not hold epoch 1"; done
mu h channel list | grep -q "no channels" || fail "h holds a channel key: $(mu h channel list)"
out=$(mu h send --to channel:incident "let me in" 2>&1) && fail "h sent to a channel it holds no key for"

text1="Forward command moves to the car park, over"
mu_send a --to channel:incident "$text1"
m1=$SENT_ID
wait_until 20 "m1 to reach everyone" same_store
for n in p1 p2; do inbox_has "$n" "$m1" || fail "$n cannot read m1"; done
inbox_has h "$m1" && fail "h (not a member) reads m1"
mu h inbox | grep -q "car park" && fail "h's inbox shows m1's text"
mu_send p1 --to channel:incident "p1 at the car park"
m2=$SENT_ID
wait_until 20 "m2 to reach everyone" same_store
for n in a p2; do inbox_has "$n" "$m2" || fail "$n cannot read p1's m2"; done
inbox_has h "$m2" && fail "h reads m2"
for n in r h; do no_plaintext "$n" "car park"; done

# ---- remove p2: epoch 2 without p2 ----
out=$(mu a channel remove incident "$P2") || fail "remove: $out"
grep -q "new epoch 2" <<<"$out" || fail "remove: $out"
wait_until 20 "epoch 2 to reach everyone" same_store
epoch_is p1 2 || fail "p1 does not hold epoch 2"
mu p2 channel list | grep -q "removed" || fail "p2 does not see it was removed: $(mu p2 channel list)"
text3="p2 has left: casualty clearing moves north"
mu_send a --to channel:incident "$text3"
m3=$SENT_ID
wait_until 20 "m3 to reach everyone" same_store
inbox_has p1 "$m3" || fail "p1 cannot read m3"
inbox_has p2 "$m3" && fail "removed p2 reads m3"
inbox_has p2 "$m1" || fail "p2 lost m1 (epoch 1, which it was given)"
no_plaintext p2 "moves north"
out=$(mu p2 send --to channel:incident "still here?" 2>&1) && fail "removed p2 sent into the channel: $out"

# ---- add h: epoch 2 only ----
out=$(mu a channel add incident "$H") || fail "add: $out"
grep -q "added to epoch 2" <<<"$out" || fail "add: $out"
wait_until 20 "h's wrap to reach everyone" same_store
inbox_has h "$m3" || fail "h cannot read m3 (epoch 2, which it was given)"
inbox_has h "$m1" && fail "h reads m1 from epoch 1"
mu_send h --to channel:incident "HART team at the north entrance"
m4=$SENT_ID
wait_until 20 "m4 to reach everyone" same_store
for n in a p1; do inbox_has "$n" "$m4" || fail "$n cannot read h's m4"; done
inbox_has p2 "$m4" && fail "removed p2 reads m4"

# ---- revoke p1's credential: a's node rotates by itself ----
ca_revoke ca "$P1" "$MESH_TMP/p1.revoke"
out=$(mu a import --json "$MESH_TMP/p1.revoke") || fail "import: $out"
wait_until 20 "a to rotate to epoch 3" epoch_is a 3
log_has a "member's key was revoked; new epoch" || fail "a did not log the rotation"
wait_until 20 "epoch 3 to reach everyone" same_store
epoch_is h 3 || fail "h does not hold epoch 3"
mu_send a --to channel:incident "p1's key is revoked: use the new radio net"
m5=$SENT_ID
wait_until 20 "m5 to reach everyone, p1's node included" same_store
inbox_has h "$m5" || fail "h cannot read m5"
inbox_has p1 "$m5" && fail "revoked p1 reads m5"
inbox_has p1 "$m4" || fail "p1 lost m4 (epoch 2)"
no_plaintext p1 "new radio net"
mu a channel show incident | grep -q "$(key_short "$P1")" && fail "p1 still holds epoch 3"

# ---- an attachment in the channel: its manifest is sealed under the epoch key ----
head -c 120000 /dev/urandom >"$MESH_TMP/scene.jpg"
out=$(mu h send --attach "$MESH_TMP/scene.jpg" --to channel:incident --json "north entrance") ||
	fail "attachment to the channel: $out"
att=$(grep -o '"id":"[0-9a-f]\{64\}"' <<<"$out" | cut -d'"' -f4)
wait_until 20 "the attachment to reach everyone" same_store
complete() { mu "$1" get "$att" --status --json 2>/dev/null | grep -q '"complete":true'; }
complete a || fail "member a cannot open the channel attachment: $(mu a get "$att" --status 2>&1)"
mu a get "$att" --out "$MESH_TMP/got.jpg" >/dev/null || fail "a: get failed"
cmp -s "$MESH_TMP/scene.jpg" "$MESH_TMP/got.jpg" || fail "a got a different file"
for n in p1 p2 r; do complete "$n" && fail "$n (not in epoch 3) opens the channel attachment"; done
mesh_pass
