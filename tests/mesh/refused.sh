#!/usr/bin/env bash
# Refusals: g (trusting only CA "ca") must refuse
#   f  a node whose credential a different CA ("evil") signed,
#   r  a node whose credential "ca" revoked (revocation imported at g while
#      r's session is up: the session closes and r's redials are refused),
#   x  a node that is fine, but whose user "ca" revoked: x's session stays
#      up, the user's messages from before the revocation stay readable,
#      the one sent after it is refused by g; the revocation floods to x,
#      which then refuses to store anything new from that user.
# Each refusal must be in g's log and no session with f or r may come up.
#
#   f --- g --- r
#         |
#         x
. "$(dirname "$0")/lib.sh"
mesh_init refused

ca_init ca
ca_init evil
node_new g ca aic
node_new f evil
node_new r ca
node_new x ca paramedic
for n in f r x; do
	link_add g $n
	node_peer $n g
done
# f trusts both CAs, so the refusal it meets is g's alone.
node_conf f "[trust]" "ca = $MESH_TMP/ca/ca.pub"

for n in g f r x; do node_start $n; done
kf=$(key_short "$(node_key f)")
kr=$(key_short "$(node_key r)")
kx=$(key_short "$(node_key x)")

# ---- forged: another CA's credential ----
wait_until 20 "g to refuse f's credential (issuer is not a trusted CA)" \
	log_has g "closing link .*\(peer unauthenticated\): issuer is not a trusted CA"

# ---- a node and a user that are fine, for now ----
wait_until 20 "g and r to open a session" session_up g r
wait_until 20 "g and x to open a session" session_up g x
wait_until 20 "g and x to know both users' credentials" creds_at_least x 2
mu_send x --to role:aic --priority urgent "Before revocation: crew 3 at sector B"
before=$SENT_ID
wait_until 20 "x's first message to reach g's inbox" inbox_has g "$before"

# ---- the import command itself ----
ca_revoke ca "$(node_key r)" "$MESH_TMP/r.revoke"
ca_revoke ca "$(user_key x)" "$MESH_TMP/xuser.revoke"
head -c 100 /dev/urandom >"$MESH_TMP/junk.bundle"
out=$(mu g import "$MESH_TMP/junk.bundle" 2>&1) && fail "import of junk succeeded: $out"
echo "$out" | grep -q "refused" || fail "import of junk: no refusal in: $out"
[ "$(store_revoked g)" -eq 0 ] || fail "junk import changed g's store"

# ---- revoked node: its live session closes, its redials are refused ----
out=$(mu g import "$MESH_TMP/r.revoke") || fail "import of r's revocation: $out"
echo "$out" | grep -q "stored" || fail "import of r's revocation: $out"
out=$(mu g import --json "$MESH_TMP/r.revoke") || fail "second import of r's revocation: $out"
echo "$out" | grep -q '"result":"duplicate"' || fail "second import should be a duplicate: $out"
wait_until 10 "g to close r's session" log_has g "closing link .*\(peer $kr\): peer's credential revoked"
wait_until 20 "g to refuse r's redial (key has been revoked)" \
	log_has g "closing link .*\(peer unauthenticated\): key has been revoked"

# ---- revoked user: x is cut off, the user writes, the CA revokes ----
link_drop g x
mu_send x --to role:aic --priority urgent "After revocation: should never be read"
after=$SENT_ID
out=$(mu g import "$MESH_TMP/xuser.revoke") || fail "import of x's user's revocation: $out"
link_undrop g x
wait_until 30 "g to refuse the revoked user's message" \
	log_has g "bundle from $kx refused: key has been revoked"
wait_until 20 "the user's revocation to flood to x" eval 'ge "$(store_revoked x)" 2'
# x still has a session with g: the node is fine, only its user is not.
session_up g x || fail "g dropped x's session for its user's revocation"
out=$(mu x send --to role:aic "After x learnt of it" 2>&1) && fail "x stored a revoked user's message: $out"
echo "$out" | grep -q "key has been revoked" || fail "x refused the message but not as revoked: $out"

# ---- what g ended up with ----
sleep 2 # let f and r redial at least once more
inbox_has g "$before" || fail "the message from before the revocation is gone from g"
inbox_has g "$after" && fail "g's user can read the revoked user's message"
mu g status --json | grep -q "\"bundles\":" || fail "g status broken"
log_has g "session up with $kf" && fail "a session with forged f came up"
[ "$(log_count g "session up with $kr")" -eq 1 ] || fail "a session with revoked r came up again"
no_session g f || fail "g lists a session with f"
no_session g r || fail "g lists a session with r"
ge "$(log_count g 'issuer is not a trusted CA')" 2 || fail "f redialled, but g logged only one refusal"
mesh_pass
