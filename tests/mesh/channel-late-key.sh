#!/usr/bin/env bash
# A channel message that reaches a member before the key-wrap of its epoch
# (docs/operations.md "Channels"): the member's node stores it but cannot
# open it, so it announces nothing; when the wrap arrives (here after a
# restart, which must not lose it) the message is announced once, as if it
# had just arrived: the notify hook runs and a delivered receipt is sealed.
# Another restart announces nothing again.
#
# How the wrap is held back: p limits the urgent bytes it takes from each
# sender to a 128K burst refilled at 1 byte/s; a (the channel's creator)
# spends that budget first, so p refuses a's wrap (urgent) while it takes
# s's message. p restarts with the default limits and then takes the wrap.
. "$(dirname "$0")/lib.sh"
mesh_init channel-late-key

ca_init ca
node_new r ca
node_new a ca aic
node_new s ca paramedic
node_new p ca paramedic
for n in a s p; do
	link_add "$n" r
	node_peer "$n" r
done
cat >"$MESH_TMP/hook-p.sh" <<HOOK
#!/bin/sh
{ env | grep '^MUSTER_' | sort; echo --; } >> "$MESH_TMP/notified-p"
HOOK
chmod 755 "$MESH_TMP/hook-p.sh"
node_conf p '[messaging]' "notify_command = $MESH_TMP/hook-p.sh"
P_CONF=${NODE_EXTRA[p]}
node_conf p '[node]' 'rate_urgent_bytes_per_s = 1' 'rate_urgent_burst_bytes = 128K'
for n in r a s p; do node_start "$n"; done
for n in a s p; do wait_until 20 "$n linked to r" session_up "$n" r; done
for n in a s p; do wait_until 30 "credentials to reach $n" creds_at_least "$n" 3; done
S=$(user_key s)
P=$(user_key p)

chan_notes() { cat "$MESH_TMP/notified-p" 2>/dev/null | grep -c '^MUSTER_DEST=channel:'; }
rate_limited() { ge "$(status_num p rate_limited)" 1; }
epoch_is() { [ "$(mu "$1" channel show incident --json 2>/dev/null | grep -o '"epoch":[0-9]*' | cut -d: -f2)" = "$2" ]; }
local_over() { ge "$(status_num p bundles_local)" "$1"; }

# ---- a spends its urgent budget at p ----
filler=$(head -c 3000 /dev/zero | tr '\0' x)
for i in $(seq 1 50); do mu_send a --priority urgent --to role:aic "$i $filler"; done
# short ones drain what is left below the size of a wrap
for i in $(seq 1 20); do mu_send a --priority urgent --to role:aic "$i"; done
wait_until 30 "p to refuse a's bundles over its rate" rate_limited

# ---- the channel: s gets the wrap, p does not ----
out=$(mu a channel create incident --member "$S" --member "$P") || fail "create: $out"
wait_until 20 "s to hold epoch 1" epoch_is s 1
text="Channel: casualty clearing at the north gate"
mu_send s --to channel:incident "$text"
m=$SENT_ID
wait_until 30 "p to store m without its key" log_has p "channel message ${m:0:12} waits for its key-wrap"
mu p channel list | grep -q "no channels" || fail "p holds the key already: $(mu p channel list)"
inbox_has p "$m" && fail "p reads m without the key"
[ "$(chan_notes)" = 0 ] || fail "p announced a message it cannot open"
log_has p "new [a-z]+ message for .* from Staff s" && fail "p logged a new message it cannot open"

# last_start_has NODE ERE: the log of NODE's latest start matches.
last_start_has() {
	awk '/^===== mesh: start / { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$(node_log "$1")" |
		grep -qE -- "$2"
}
# ---- restart p (nothing lost), with the default limits: the wrap arrives ----
node_stop p
NODE_EXTRA[p]=$P_CONF
node_start p
last_start_has p "1 channel message wait for a key-wrap" || fail "p forgot the waiting message at restart"
last_start_has p "walked the store once" && fail "p walked its store after a clean stop"
notes_are() { [ "$(chan_notes)" = "$1" ]; }
wait_until 30 "p's notify hook for m once the wrap arrives" notes_are 1
log_count p "new [a-z]+ message for .* from Staff s" | grep -qx 1 || fail "p did not log m's arrival once"
# p's own bundles since start: only the delivered receipt (no inbox yet,
# so no read receipt; nothing else makes any on p).
wait_until 10 "p's delivered receipt for m" local_over 1
[ "$(status_num p bundles_local)" = 1 ] || fail "p made $(status_num p bundles_local) bundles, want 1 receipt"
inbox_has p "$m" || fail "p cannot read m with the wrap"

# ---- another restart: nothing announced twice ----
node_stop p
node_start p
wait_until 20 "p linked to r again" session_up p r
sleep 3
[ "$(chan_notes)" = 1 ] || fail "p announced m again after a restart: $(chan_notes) notifications"
[ "$(status_num p bundles_local)" = 0 ] || fail "p sealed receipts again after a restart"
log_has p "channel messages? wait for a key-wrap" && [ "$(log_count p 'channel messages? wait for a key-wrap')" != 1 ] &&
	fail "p still holds m as waiting after it opened"
inbox_has p "$m" || fail "p lost m at the second restart"
last_start_has p "walked the store once" && fail "p walked its store after a clean stop"

# ---- a crash: the notes are not trusted, the walk announces nothing again ----
node_stop p KILL
node_start p
wait_until 20 "p linked to r again" session_up p r
sleep 2
last_start_has p "notes not closed cleanly: walked the store once" || fail "p trusted its notes after a crash"
[ "$(chan_notes)" = 1 ] || fail "p announced m again after a crash: $(chan_notes) notifications"
[ "$(status_num p bundles_local)" = 0 ] || fail "p sealed receipts again after a crash"
last_start_has p "channel messages? wait for a key-wrap" && fail "p holds m as waiting after a crash"
mesh_pass
