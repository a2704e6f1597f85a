# tests/radiolab/guest-lib.sh: helpers for radio lab test scripts.  Runs INSIDE
# the VM (as root); source it first:   . "$RL_LIB"
# (RL_LIB, RL_HOME, RL_OUT, MU_SOURCE_DIR and MU_* from the host are exported
# by the lab.)  Bash only.  See docs/radiolab.md for the full API.
#
# general   rl_log MSG | rl_step TITLE | rl_check DESC CMD... | rl_wait SECS CMD...
#           rl_bg NAME CMD... (log: $RL_TMP/NAME.log) | rl_skip MSG | rl_finish
# Wi-Fi     rl_wifi_radios N        -> RL_WIFI_NS[i]=ns_i, RL_WIFI_DEV[i], RL_WIFI_PHY[i]
#           rl_in I CMD...          run CMD in radio I's network namespace
#           rl_wifi_ibss I SSID FREQ [BSSID] | rl_wifi_ibss_wait I SSID FREQ [BSSID]
#           rl_wifi_mesh I MESHID FREQ | rl_wifi_bssid I
#           rl_ll6 I                print radio I's IPv6 link-local address (after DAD)
# Bluetooth rl_bt_controllers [N]   -> RL_BT_INDEX[i] (mgmt index), RL_BT_ADDR[i]
#           rl_btmgmt ARGS...  |  rl_bluetoothctl ARGS...  (stdin kept open)
#           rl_bluetoothd_start     dbus + bluetoothd, controllers powered by it
[ -n "${RL_LIB_LOADED:-}" ] && return 0
RL_LIB_LOADED=1
RL_FAILS=0
RL_CHECKS=0
RL_TMP=${RL_TMP:-$(mktemp -d /tmp/rl.XXXXXX)}
RL_OUT=${RL_OUT:-$RL_TMP/out}
mkdir -p "$RL_OUT"
declare -ga RL_WIFI_NS=() RL_WIFI_DEV=() RL_WIFI_PHY=() RL_BT_INDEX=() RL_BT_ADDR=()

# --- general --------------------------------------------------------------------
rl_uptime() { cut -d' ' -f1 /proc/uptime; }
rl_log() { printf '[%7s] %s\n' "$(rl_uptime)" "$*"; }
rl_step() { echo; rl_log "=== $*"; }
rl_skip() { rl_log "SKIP: $*"; exit 77; }

# rl_check DESC CMD...: run CMD, print PASS/FAIL DESC, count failures.
rl_check() {
	local desc=$1; shift
	RL_CHECKS=$((RL_CHECKS + 1))
	if "$@"; then rl_log "PASS: $desc"; return 0; fi
	rl_log "FAIL: $desc  (command: $*)"
	RL_FAILS=$((RL_FAILS + 1))
	return 1
}

# rl_wait SECS CMD...: poll CMD (quietly) every 0.2 s until it succeeds;
# returns 1 if it did not within SECS.  CMD is re-run each time: put tests
# that need $(...) in a function (arguments are expanded only once).
rl_wait() {
	local end
	end=$(awk -v t="$(rl_uptime)" -v s="$1" 'BEGIN{print t+s}'); shift
	until "$@" >/dev/null 2>&1; do
		awk -v t="$(rl_uptime)" -v e="$end" 'BEGIN{exit !(t>=e)}' && return 1
		sleep 0.2
	done
}

# rl_bg NAME CMD...: start CMD in the background, output to $RL_TMP/NAME.log;
# its pid is in $RL_BG_PID.  Everything a script starts is killed when it ends.
rl_bg() {
	local name=$1; shift
	"$@" > "$RL_TMP/$name.log" 2>&1 &
	RL_BG_PID=$!
}

# rl_finish: final verdict; exit status 0 if no rl_check failed, else 1.
rl_finish() {
	cp -a "$RL_TMP"/*.log "$RL_OUT/" 2>/dev/null
	if [ "$RL_FAILS" -eq 0 ]; then
		rl_log "RESULT: PASS ($RL_CHECKS checks)"; exit 0
	fi
	rl_log "RESULT: FAIL ($RL_FAILS of $RL_CHECKS checks failed)"; exit 1
}

# --- Wi-Fi: mac80211_hwsim ---------------------------------------------------------
# rl_wifi_radios N: N virtual radios that hear each other; radio i's phy is
# moved into network namespace ns_i (lo up there).
rl_wifi_radios() {
	local n=$1 i p before after
	before=$(ls /sys/class/ieee80211 2>/dev/null)
	modprobe mac80211_hwsim radios="$n" || { rl_log "modprobe mac80211_hwsim failed"; return 1; }
	rl_wait 10 rl__nphys_ge "$n" || { rl_log "hwsim phys missing"; return 1; }
	# phy numbers keep growing across module reloads: take the new ones, in order
	after=$(ls /sys/class/ieee80211 | sort -V)
	RL_WIFI_PHY=() RL_WIFI_NS=() RL_WIFI_DEV=()
	for p in $after; do
		grep -qx "$p" <<<"$before" || RL_WIFI_PHY+=("$p")
	done
	[ ${#RL_WIFI_PHY[@]} -eq "$n" ] || { rl_log "expected $n new phys, got ${RL_WIFI_PHY[*]}"; return 1; }
	for i in $(seq 0 $((n - 1))); do
		RL_WIFI_NS[i]=ns_$i
		ip netns add "ns_$i" || return 1
		ip -n "ns_$i" link set lo up
		iw phy "${RL_WIFI_PHY[i]}" set netns name "ns_$i" || return 1
		RL_WIFI_DEV[i]=$(ip netns exec "ns_$i" iw dev | awk '/Interface/{print $2; exit}')
		[ -n "${RL_WIFI_DEV[i]}" ] || { rl_log "no interface on ${RL_WIFI_PHY[i]}"; return 1; }
	done
	rl_log "hwsim: $n radios: $(for i in "${!RL_WIFI_NS[@]}"; do printf '%s=%s/%s ' "${RL_WIFI_NS[i]}" "${RL_WIFI_PHY[i]}" "${RL_WIFI_DEV[i]}"; done)"
}

rl__nphys_ge() { [ "$(ls /sys/class/ieee80211 | wc -l)" -ge "$1" ]; }

# rl_in I CMD...: run CMD in radio I's namespace.
rl_in() { local i=$1; shift; ip netns exec "${RL_WIFI_NS[i]}" "$@"; }

# rl_wifi_ibss I SSID FREQ [BSSID]: radio I joins IBSS (ad-hoc) SSID on FREQ
# MHz (with BSSID: fixed-freq + that BSSID, which skips the IBSS scan).
rl_wifi_ibss() {
	local i=$1 dev=${RL_WIFI_DEV[$1]}
	rl_in "$i" iw dev "$dev" set type ibss &&
	rl_in "$i" ip link set "$dev" up &&
	rl_in "$i" iw dev "$dev" ibss join "$2" "$3" ${4:+fixed-freq "$4"}
}

# rl_wifi_bssid I: the BSSID radio I is joined to (empty if none).
rl_wifi_bssid() {
	rl_in "$1" iw dev "${RL_WIFI_DEV[$1]}" link | awk '/^Joined IBSS|^Connected to/{print $3; exit}'
}

# rl_wifi_ibss_wait I SSID FREQ [BSSID]: rl_wifi_ibss, then wait (up to 30 s)
# until radio I has found or created the cell.  Join radios one after the
# other with this: under mac80211_hwsim, radios that scan at the same moment
# each create their own cell (same SSID, different BSSID) and -- all hwsim
# radios sharing one TSF clock -- the cells never merge.
rl_wifi_ibss_wait() {
	rl_wifi_ibss "$@" && rl_wait 30 rl__ibss_joined "$1"
}
rl__ibss_joined() { [ -n "$(rl_wifi_bssid "$1")" ]; }

# rl_wifi_mesh I MESHID FREQ: radio I joins 802.11s mesh MESHID on FREQ MHz.
rl_wifi_mesh() {
	local i=$1 dev=${RL_WIFI_DEV[$1]}
	rl_in "$i" ip link set "$dev" down
	rl_in "$i" iw dev "$dev" set type mp &&
	rl_in "$i" ip link set "$dev" up &&
	rl_in "$i" iw dev "$dev" mesh join "$2" freq "$3"
}

# rl_ll6 I: IPv6 link-local address of radio I, once the link is up and
# duplicate address detection has finished (waits up to 30 s: a fresh IBSS
# scans for ~7 s under TCG before it creates the network).
rl_ll6() {
	local i=$1 dev=${RL_WIFI_DEV[$1]} a=
	rl_wait 30 rl__ll6_ready "$i" || { rl_log "no usable link-local address on ${RL_WIFI_NS[i]}/$dev"; return 1; }
	a=$(rl_in "$i" ip -6 -o addr show dev "$dev" scope link | awk '{sub("/.*","",$4); print $4; exit}')
	echo "$a"
}
rl__ll6_ready() {
	local out
	out=$(rl_in "$1" ip -6 -o addr show dev "${RL_WIFI_DEV[$1]}" scope link) || return 1
	[ -n "$out" ] && ! grep -q tentative <<<"$out"
}

# --- Bluetooth: hci_vhci + btvirt, bluetoothd ----------------------------------------
# btmgmt and bluetoothctl quit at once when stdin is at EOF: keep it open.
# (A FIFO opened read-write never reports EOF and never blocks.)
[ -p "$RL_TMP/stdin" ] || mkfifo "$RL_TMP/stdin"
rl_btmgmt() { timeout 20 btmgmt "$@" 0<>"$RL_TMP/stdin" 2>&1; }
rl_bluetoothctl() {
	timeout 20 bluetoothctl "$@" 0<>"$RL_TMP/stdin" 2>&1 | sed 's/\x1b\[[0-9;]*[a-zA-Z]//g' | tr -d '\r'
}
rl__hcis() { ls /sys/class/bluetooth 2>/dev/null | grep -E '^hci[0-9]+$' | sort -V; }
rl__nhcis_ge() { [ "$(rl__hcis | wc -l)" -ge "$1" ]; }
rl__nhcis_le() { [ "$(rl__hcis | wc -l)" -le "$1" ]; }

# rl_bt_controllers [N]: N (default 2) emulated controllers on one shared
# virtual air (btvirt -lN).  Sets RL_BT_INDEX[i] (mgmt index: --index / hciX)
# and RL_BT_ADDR[i] (public address).  Controllers are left powered off.
rl_bt_controllers() {
	local n=${1:-2} attempt i h addr
	modprobe hci_vhci || { rl_log "modprobe hci_vhci failed"; return 1; }
	# btvirt's controllers do LE crypto over AF_ALG; if these get auto-loaded
	# while the kernel initialises a controller, HCI_Reset times out under TCG.
	modprobe -a af_alg algif_hash algif_skcipher ecb cmac || return 1
	for attempt in 1 2 3 4; do
		btvirt -l"$n" > "$RL_TMP/btvirt.log" 2>&1 &
		RL_BTVIRT_PID=$!
		rl_wait 15 rl__nhcis_ge "$n"
		sleep 1
		RL_BT_INDEX=() RL_BT_ADDR=()
		for h in $(rl__hcis); do
			addr=$(rl_btmgmt --index "${h#hci}" info | awk '$1=="addr"{print $2; exit}')
			[ -n "$addr" ] && [ "$addr" != 00:00:00:00:00:00 ] || continue
			RL_BT_INDEX+=("${h#hci}"); RL_BT_ADDR+=("$addr")
		done
		[ ${#RL_BT_INDEX[@]} -eq "$n" ] && break
		# Under TCG the kernel's 2 s HCI command timeout can fire while btvirt
		# is still creating controllers; one then never gets a mgmt index.
		rl_log "btvirt attempt $attempt: ${#RL_BT_INDEX[@]} of $n controllers usable; restarting btvirt"
		dmesg | grep -i 'hci.*\(fail\|timeout\)' | tail -2
		kill "$RL_BTVIRT_PID" 2>/dev/null; wait "$RL_BTVIRT_PID" 2>/dev/null
		rl_wait 10 rl__nhcis_le 0
	done
	[ ${#RL_BT_INDEX[@]} -eq "$n" ] || { rl_log "btvirt: controllers never came up"; return 1; }
	rl_log "btvirt: $n controllers: $(for i in "${!RL_BT_INDEX[@]}"; do printf 'hci%s=%s ' "${RL_BT_INDEX[i]}" "${RL_BT_ADDR[i]}"; done)"
}

# rl_bluetoothd_start: system D-Bus + bluetoothd managing all controllers.
# Controllers are powered off first and bluetoothd powers them on itself
# (otherwise it leaves LE off on these dual-mode controllers).
rl_bluetoothd_start() {
	local i
	for i in "${RL_BT_INDEX[@]}"; do rl_btmgmt --index "$i" power off > /dev/null; done
	if ! busctl --system status > /dev/null 2>&1; then
		rm -f /run/dbus/pid /run/dbus/system_bus_socket
		mkdir -p /run/dbus
		dbus-daemon --system --fork || { rl_log "dbus-daemon failed"; return 1; }
	fi
	rl_bg bluetoothd /usr/libexec/bluetooth/bluetoothd -n -d
	RL_BLUETOOTHD_PID=$RL_BG_PID
	rl_wait 15 rl__bus_has org.bluez || { rl_log "bluetoothd did not appear on D-Bus"; return 1; }
	for i in "${RL_BT_INDEX[@]}"; do
		rl_wait 15 rl__powered "$i" || { rl_log "bluetoothd did not power hci$i"; return 1; }
	done
	rl_log "bluetoothd up (pid $RL_BLUETOOTHD_PID), controllers powered"
}
rl__bus_has() { busctl --system list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }
rl__powered() { rl_btmgmt --index "$1" info | grep -q 'current settings: powered'; }
