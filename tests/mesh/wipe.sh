#!/usr/bin/env bash
# Remote wipe and revocation everywhere (refused.sh covers one node's view;
# this is the whole line's).
#
#   a --- b --- c --- d          (later also d-a, d-b, c-a, e-a, e-b)
#
#   1. The CA's wipe order for d, imported at a, floods to d: d destroys its
#      keys, its user's keys and its store, logs one line and exits 10; a, b
#      and c run on and hold the revocation.
#   2. An impostor with a copy of d's old key and credential, dialling a, b
#      and c: none gives it a session; each hands it its wipe order, so it
#      wipes itself again.
#   3. The CA revokes c (reason lost): c's session closes, and c, restarted
#      with links to a and b, is refused by both at the handshake.
#   3b. d's old key with a copy of c's store (holding d's order), as if
#      killed between storing its order and acting on it: it wipes at start.
#   4. The CA revokes c's user; the user, now on a fresh node e, writes
#      while e is cut off: when e comes back, a and b both refuse it.
. "$(dirname "$0")/lib.sh"
mesh_init wipe

ca_init ca
node_new a ca aic
node_new b ca
node_new c ca paramedic
node_new d ca paramedic
link_add a b
link_add b c
link_add c d
node_peer b a
node_peer c b
node_peer d c
for n in a b c d; do node_start $n; done
ka=$(node_key a)
kc=$(node_key c)
kd=$(node_key d)
kcu=$(user_key c)
wait_until 20 "a-b, b-c, c-d sessions" eval 'session_up a b && session_up b c && session_up c d'
wait_until 20 "the three users' credentials to reach a" creds_at_least a 3

secret="Wipe test: P1 at bay $RANDOM$RANDOM"
mu_send d --to role:aic --priority urgent "$secret"
wait_until 20 "d's message to reach a" inbox_has a "$SENT_ID"

# ---- 1. the wipe order ----
ddir=$(node_dir d)
mkdir "$MESH_TMP/saved"
cp "$ddir/node.key" "$ddir/node.kf" "$ddir/node.cred" "$MESH_TMP/saved/"
"$MU_BIN/muster-ca" wipe --dir "$MESH_TMP/ca" --passphrase-file "$MESH_TMP/ca.pass" --key "$kd" \
	--out "$MESH_TMP/d.wipe" 2>"$MESH_TMP/ca.err" || fail "muster-ca wipe: $(cat "$MESH_TMP/ca.err")"
"$MU_BIN/muster-ca" wipe --dir "$MESH_TMP/ca" --passphrase-file "$MESH_TMP/ca.pass" --key "$kd" \
	--days 0 --out "$MESH_TMP/x.wipe" 2>/dev/null && fail "muster-ca wipe accepted --days 0"
"$MU_BIN/muster-ca" wipe --dir "$MESH_TMP/ca" --passphrase-file "$MESH_TMP/ca.pass" --key "${kd:0:60}" \
	--out "$MESH_TMP/x.wipe" 2>/dev/null && fail "muster-ca wipe accepted a short key"
[ ! -e "$MESH_TMP/x.wipe" ] || fail "a refused wipe wrote a file"
js=$("$MU_BIN/muster" inspect --json "$MESH_TMP/d.wipe")
for want in '"kind":"revocation"' '"priority":"immediate"' '"reason":4' "\"revokes\":\"$kd\""; do
	grep -qF "$want" <<<"$js" || fail "wipe order lacks $want: $js"
done
created=$(grep -o '"created":[0-9]*' <<<"$js" | cut -d: -f2)
expires=$(grep -o '"expires":[0-9]*' <<<"$js" | cut -d: -f2)
[ $((expires - created)) -eq $((732 * 86400000)) ] || fail "wipe order lifetime $((expires - created)) ms, want 732 days"

dpid=${NODE_PID[d]}
out=$(mu a import "$MESH_TMP/d.wipe") || fail "import of d's wipe order at a: $out"
say "wipe order for d imported at a"
wait_until 30 "d's musterd to exit" eval "! kill -0 $dpid 2>/dev/null"
{ wait "$dpid"; } 2>/dev/null
rc=$?
unset "NODE_PID[d]"
[ "$rc" -eq 10 ] || fail "wiped d exited with status $rc, want 10"
for f in node.key node.kf node.cred node.key.pub user.key user.kf user.cred user.key.pub \
	store/data.mdb store/lock.mdb store; do
	[ ! -e "$ddir/$f" ] || fail "d's $f survived the wipe"
done
[ "$(log_count d 'wiped by CA order: keys and store destroyed')" -eq 1 ] || fail "d's log lacks the one wipe line"
log_has d "could not be destroyed" && fail "d could not destroy everything"
log_has d "exiting:" && fail "d logged the wipe as an error exit"
grep -qF "$secret" "$(node_log d)" && fail "d's log holds message content"
log_has c "closing link .*\(peer $(key_short "$kd")\): peer's credential revoked" ||
	fail "c did not close its link to d on the order"
for n in a b c; do
	node_alive $n
	ge "$(store_revoked $n)" 1 || fail "$n does not hold d's revocation"
done

# ---- 2. an impostor with d's old key ----
cp "$MESH_TMP/saved/"* "$ddir/"
NODE_USER[d]=
link_add d a
link_add d b
node_peer d a
node_peer d b
node_write_config d
echo "===== mesh: impostor with d's saved key =====" >>"$(node_log d)"
ip netns exec "$(ns_of d)" "$MU_BIN/musterd" -c "$ddir/muster.conf" </dev/null >>"$(node_log d)" 2>&1 &
dpid=$!
NODE_PID[d]=$dpid
wait_until 30 "the impostor to be handed its wipe order" eval \
	"grep -qE 'closing link .*\(peer $(key_short "$kd")\): key has been revoked; its wipe order was sent' \
	$(node_log a) $(node_log b) $(node_log c)"
wait_until 20 "the impostor to wipe itself" eval "! kill -0 $dpid 2>/dev/null"
{ wait "$dpid"; } 2>/dev/null
rc=$?
unset "NODE_PID[d]"
[ "$rc" -eq 10 ] || fail "the impostor exited with status $rc, want 10"
[ ! -e "$ddir/node.key" ] || fail "the impostor's copy of d's key survived"
[ "$(log_count d 'wiped by CA order: keys and store destroyed')" -eq 2 ] || fail "the impostor did not log its wipe"
for n in a b; do
	log_has $n "session up with $(key_short "$kd")" && fail "$n gave d's revoked key a session"
done
[ "$(log_count c "session up with $(key_short "$kd")")" -eq 1 ] || fail "c gave d's revoked key a new session"

# ---- 3. a revoked node is refused everywhere ----
ca_revoke ca "$kc" "$MESH_TMP/c.revoke"
out=$(mu a import "$MESH_TMP/c.revoke") || fail "import of c's revocation at a: $out"
wait_until 20 "b to close c's session" log_has b "closing link .*\(peer $(key_short "$kc")\): peer's credential revoked"
node_stop c
link_add c a
node_peer c a
before_a=$(log_count a 'peer unauthenticated\): key has been revoked')
before_b=$(log_count b 'peer unauthenticated\): key has been revoked')
node_start c
wait_until 20 "a to refuse revoked c" eval \
	"[ \$(log_count a 'peer unauthenticated\): key has been revoked') -gt $before_a ]"
wait_until 20 "b to refuse revoked c" eval \
	"[ \$(log_count b 'peer unauthenticated\): key has been revoked') -gt $before_b ]"
log_has a "session up with $(key_short "$kc")" && fail "a gave revoked c a session"
[ "$(log_count b "session up with $(key_short "$kc")")" -eq 1 ] || fail "b gave revoked c a new session"
no_session a c || fail "a lists a session with revoked c"
no_session b c || fail "b lists a session with revoked c"
node_stop c

# ---- 3b. an order already in the store at start-up (killed before acting) ----
# d's old key again, with a copy of c's store, which holds d's wipe order:
# musterd must wipe at once, before it serves anything.
cp "$MESH_TMP/saved/"* "$ddir/"
mkdir -p "$ddir/store"
cp "$(node_dir c)/store/data.mdb" "$ddir/store/"
echo "===== mesh: d's key with a store holding its wipe order =====" >>"$(node_log d)"
rc=0
timeout 30 ip netns exec "$(ns_of d)" "$MU_BIN/musterd" -c "$ddir/muster.conf" </dev/null \
	>>"$(node_log d)" 2>&1 || rc=$?
[ "$rc" -eq 10 ] || fail "musterd with a stored wipe order exited with status $rc, want 10"
[ "$(log_count d 'wiped by CA order: keys and store destroyed')" -eq 3 ] || fail "no wipe line at start-up"
for f in node.key node.kf node.cred store/data.mdb store/lock.mdb store; do
	[ ! -e "$ddir/$f" ] || fail "d's $f survived the start-up wipe"
done
sed -n '/a store holding its wipe order/,$p' "$(node_log d)" | grep -q "ready" &&
	fail "d got ready before wiping"

# ---- 4. a revoked user is refused everywhere ----
node_new e ca
cp "$(node_dir c)/user.key" "$(node_dir c)/user.kf" "$(node_dir c)/user.cred" "$(node_dir e)/"
NODE_USER[e]=paramedic
link_add e a
link_add e b
node_peer e a
node_peer e b
link_drop e a
link_drop e b
node_start e
mu_send e --to role:aic --priority urgent "From a revoked user"
ke=$(key_short "$(node_key e)")
ca_revoke ca "$kcu" "$MESH_TMP/cuser.revoke"
out=$(mu a import "$MESH_TMP/cuser.revoke") || fail "import of c's user's revocation at a: $out"
wait_until 20 "b to hold c's user's revocation" eval 'ge "$(store_revoked b)" 3'
link_undrop e a
link_undrop e b
wait_until 30 "a to refuse the revoked user's bundles from e" \
	log_has a "bundle from $ke refused: key has been revoked"
wait_until 30 "b to refuse the revoked user's bundles from e" \
	log_has b "bundle from $ke refused: key has been revoked"
inbox_has a "$SENT_ID" && fail "a's user can read the revoked user's message"
session_up a e || fail "a dropped e, whose node key is fine"
mesh_pass
