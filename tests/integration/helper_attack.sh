#!/bin/bash
# bangerd-root under attack: every request an owner (or a stranger) could
# forge is refused with the right errno and sentence, the refusal is
# logged with the caller's uid, and the helper keeps answering after each
# one.  Then the happy path: bridge + NAT, a tap owned by the owner, list,
# delete.  Builds nothing: uses $BUILD/bin/bangerd-root and
# $BUILD/tests/helper_cli.
#
# The helper runs as root inside a private network namespace (every bridge,
# tap, address and nftables table is created there; the namespace is
# deleted at the end), with its capability bounding set cut to the list
# bangerd-root.service grants (CAP_NET_ADMIN CAP_CHOWN CAP_DAC_READ_SEARCH
# CAP_SYS_ADMIN CAP_MKNOD), so the happy path also proves that list is enough (the
# dm-snapshot operations' happy path needs device-mapper, which these hosts
# lack: tests/guesthost/run.sh runs it under the real unit).  The owner is a
# dedicated system user "banger-test" (created when missing, never deleted:
# other runs reuse it); the stranger is "nobody".  Needs root.
#
# The systemd-resolved operations talk to a private dbus-daemon
# (tests/resolved-double/bus.conf, socket $T/bus) where the test double
# tests/resolved-double/resolve1.py plays org.freedesktop.resolve1 inside
# the namespace; DBUS_SYSTEM_BUS_ADDRESS points everything here at it, so
# the host's system bus is never touched.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

HELPER=${HELPER:-$BUILD/bin/bangerd-root}
CLI=${HELPER_CLI:-$BUILD/tests/helper_cli}
OWNER=banger-test
BR=br-t
GW=172.30.99.1/24
CAPS=-all,+net_admin,+chown,+dac_read_search,+sys_admin,+mknod

for f in "$HELPER" "$CLI"; do
	[ -x "$f" ] || { fail "prerequisites: $f is missing (make $f)"; finish; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { fail "prerequisites: needs root"; finish; exit 1; }
getent passwd "$OWNER" >/dev/null ||
	useradd --system --no-create-home --shell /usr/sbin/nologin "$OWNER" ||
	{ fail "prerequisites: useradd $OWNER"; finish; exit 1; }
OU=$(id -u "$OWNER") OG=$(id -g "$OWNER")
NU=$(id -u nobody) NG=$(id -g nobody)

T=$(mktemp -d /tmp/banger-ha.XXXXXX)
register_tmp "$T"
NS=bgh-${T##*.}
SOCK=$T/sock/root.sock
LOG=$T/helper.log
HPID=
BUS_PID=
RESOLVE1_PID=
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/bus"

cleanup() {
	if [ -n "$HPID" ]; then
		kill -TERM "$HPID" 2>/dev/null
		wait "$HPID" 2>/dev/null
	fi
	for p in $RESOLVE1_PID $BUS_PID; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ip netns del "$NS" 2>/dev/null
	umount -l "$T/fs" 2>/dev/null
	if [ -n "${KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT

chmod 0755 "$T"
for d in state run cache; do
	install -d -o "$OU" -g "$OG" -m 0700 "$T/$d"
done
ip netns add "$NS"
ip -n "$NS" link set lo up

as_owner() { setpriv --reuid="$OU" --regid="$OG" --clear-groups -- "$@"; }
as_nobody() { setpriv --reuid="$NU" --regid="$NG" --clear-groups -- "$@"; }
cli() { as_owner "$CLI" "$@"; } # cli [--forge ...] SOCKET OP ARGS

helper_start() { # helper_start [extra args]: in the namespace, with cut capabilities
	nsenter --net="/run/netns/$NS" -- setpriv --inh-caps=-all --bounding-set="$CAPS" -- \
		"$HELPER" --owner "$OWNER" --socket "$SOCK" --state-dir "$T/state" \
		--runtime-dir "$T/run" --cache-dir "$T/cache" --bridge "$BR" --subnet "$GW" \
		"$@" >>"$LOG" 2>&1 &
	HPID=$!
	local _
	for _ in $(seq 1 50); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$HPID" 2>/dev/null || break
		sleep 0.1
	done
	echo "helper did not come up; its log:" >&2
	cat "$LOG" >&2
	return 1
}

# The helper is still there and still answers its owner.
alive() {
	kill -0 "$HPID" 2>/dev/null && cli "$SOCK" PING 2>&1 | grep -q '^status 0:'
}

# expect NAME STATUS PATTERN LOGPATTERN -- CMD...: CMD's output has
# "status STATUS:" and PATTERN, the helper logged LOGPATTERN (since the
# call; "-" for no check) and is alive afterwards.
expect() {
	local name=$1 want=$2 pat=$3 logpat=$4 out before
	shift 5
	before=$(wc -l <"$LOG")
	out=$("$@" 2>&1)
	if ! grep -q "^status $want:" <<<"$out" || ! grep -qF -- "$pat" <<<"$out"; then
		fail "$name: got '$(tr '\n' ' ' <<<"$out")', want status $want and '$pat'"
		return
	fi
	if [ "$logpat" != - ] && ! tail -n +"$((before + 1))" "$LOG" | grep -qF -- "$logpat"; then
		fail "$name: the log lacks '$logpat': $(tail -n +"$((before + 1))" "$LOG" | tr '\n' ' ')"
		return
	fi
	alive || { fail "$name: the helper is gone or does not answer"; return; }
	ok "$name"
}

REJ="rejected priv operation"

# ---- start-up refusals (the helper exits before it listens) ----

startup_refused() { # startup_refused NAME PATTERN ARGS...: exit 1 with PATTERN on stderr
	local name=$1 pat=$2 out rc
	shift 2
	out=$("$HELPER" "$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 1 ] && grep -qF -- "$pat" <<<"$out"; then ok "$name"; else
		fail "$name: rc $rc, '$out' (want '$pat')"; fi
}
COMMON=(--state-dir "$T/state" --runtime-dir "$T/run" --cache-dir "$T/cache")
mkdir "$T/elsewhere"
ln -s "$T/elsewhere" "$T/sock-link"
startup_refused startup-socket-dir-symlink "is a symlink" --owner "$OWNER" \
	--socket "$T/sock-link/root.sock" "${COMMON[@]}"
install -d -o "$OU" -m 0755 "$T/sock-owned"
startup_refused startup-socket-dir-foreign "owned by uid $OU, not root" --owner "$OWNER" \
	--socket "$T/sock-owned/root.sock" "${COMMON[@]}"
ln -s "$T/run" "$T/run-link"
startup_refused startup-root-symlink "is a symlink" --owner "$OWNER" --socket "$SOCK" \
	--state-dir "$T/state" --runtime-dir "$T/run-link" --cache-dir "$T/cache"
startup_refused startup-owner-root "must not be root" --owner root --socket "$SOCK" "${COMMON[@]}"
startup_refused startup-owner-junk "no user named" --owner "12abc" --socket "$SOCK" "${COMMON[@]}"
startup_refused startup-bad-subnet "not an IPv4" --owner "$OWNER" --socket "$SOCK" \
	--subnet 172.30.99.1 "${COMMON[@]}"
[ ! -e "$SOCK" ] && ok startup-refusals-leave-no-socket || fail "startup-refusals-leave-no-socket"

helper_start || { fail "helper-start"; finish; exit 1; }
ok helper-start
grep -q 'CapEff:.*0000000008201005' "/proc/$HPID/status" && ok helper-capabilities-cut ||
	fail "helper-capabilities-cut: $(grep CapEff "/proc/$HPID/status")"

# ---- the socket ----

perm=$(stat -c '%a %U' "$SOCK") dperm=$(stat -c '%a %U' "$T/sock")
[ "$perm" = "600 $OWNER" ] && [ "$dperm" = "755 root" ] && ok socket-perms ||
	fail "socket-perms: socket $perm, directory $dperm"
expect ping 0 "ok" - -- cli "$SOCK" PING

# A stranger cannot even connect: the socket is 0600 and the owner's.
out=$(as_nobody "$CLI" "$SOCK" PING 2>&1)
grep -q 'Permission denied' <<<"$out" && alive && ok foreign-uid-socket-perms ||
	fail "foreign-uid-socket-perms: $out"
# SO_PEERCRED: root gets past the file permissions and is still turned away,
# as is a stranger when the socket is opened up by mistake.
expect foreign-uid-peercred-root -1 "uid 0 is not the owner" "rejected connection from uid 0" \
	-- "$CLI" "$SOCK" PING
chmod 0666 "$SOCK"
expect foreign-uid-peercred-nobody -1 "uid $NU is not the owner" \
	"rejected connection from uid $NU" -- as_nobody "$CLI" "$SOCK" PING
chmod 0600 "$SOCK"

# ---- malformed messages: an error reply, then the connection is closed ----

expect oversized-message -90 "longer than 4096" "rejected message from uid $OU" \
	-- cli --forge --pad 5000 "$SOCK" PING
expect truncated-message -74 "header says 15 payload bytes" "rejected message" \
	-- cli --forge --cut 3 "$SOCK" TAP_DELETE bn-attack1234
expect truncated-header -74 "shorter than the 12-byte header" "rejected message" \
	-- cli --raw 424752510001 "$SOCK"
expect unknown-op -95 "unknown operation 42" "rejected message" \
	-- cli --forge --op 42 "$SOCK" PING
expect wrong-version -71 "version 2 is not supported" "rejected message" \
	-- cli --forge --version 2 "$SOCK" PING
expect bad-magic -74 "bad magic" "rejected message" \
	-- cli --forge --magic 0xdeadbeef "$SOCK" PING
expect trailing-bytes -74 "trailing bytes" "rejected message" \
	-- cli --forge --pad 3 "$SOCK" TAP_DELETE bn-x
expect wrong-arg-count -74 "length cut off" "rejected message" \
	-- cli --forge "$SOCK" TAP_CREATE bn-x
expect nul-in-argument -74 "NUL byte" "rejected message" \
	-- cli --raw 42475251000100040000000600046e620031 "$SOCK"
expect length-lie -74 "header says" "rejected message" \
	-- cli --forge --len 4000 "$SOCK" PING
out=$(cli --forge --version 2 "$SOCK" PING 2>&1)
grep -q '^after: closed' <<<"$out" && ok malformed-closes-connection ||
	fail "malformed-closes-connection: $out"

# ---- well-formed but not allowed ----

expect tap-without-prefix -22 'does not start with "bn-"' "$REJ TAP_CREATE from uid $OU" \
	-- cli "$SOCK" TAP_CREATE eth0 "$BR"
expect tap-delete-lo -22 'does not start with "bn-"' "$REJ TAP_DELETE from uid $OU" \
	-- cli "$SOCK" TAP_DELETE lo
expect tap-bad-name -22 "may only contain" "$REJ TAP_CREATE" \
	-- cli "$SOCK" TAP_CREATE 'bn-a;reboot' "$BR"
expect tap-other-bridge -1 "not the bridge this helper manages" "$REJ TAP_CREATE" \
	-- cli "$SOCK" TAP_CREATE bn-x br-evil
expect net-other-bridge -1 "not the bridge this helper manages" "$REJ NET_ENSURE" \
	-- cli "$SOCK" NET_ENSURE br-evil "$GW"
expect net-other-subnet -1 "not the subnet this helper manages" "$REJ NET_ENSURE" \
	-- cli "$SOCK" NET_ENSURE "$BR" 10.99.0.1/24
ip -n "$NS" link show br-evil >/dev/null 2>&1 && fail "no-foreign-bridge: br-evil exists" ||
	ok no-foreign-bridge

# RESOLVED_LINK: the configured bridge, its gateway address, a port 1..65535.
GWA=${GW%/*}
expect resolved-other-bridge -1 "not the bridge this helper manages" \
	"$REJ RESOLVED_LINK from uid $OU" -- cli "$SOCK" RESOLVED_LINK br-evil "$GWA:42053"
expect resolved-other-address -1 "not the gateway address" "$REJ RESOLVED_LINK" \
	-- cli "$SOCK" RESOLVED_LINK "$BR" 10.99.0.1:42053
expect resolved-guest-address -1 "not the gateway address" "$REJ RESOLVED_LINK" \
	-- cli "$SOCK" RESOLVED_LINK "$BR" "${GWA%.*}.2:42053"
expect resolved-port-zero -22 "from 1 to 65535" "$REJ RESOLVED_LINK" \
	-- cli "$SOCK" RESOLVED_LINK "$BR" "$GWA:0"
expect resolved-port-too-big -22 "from 1 to 65535" "$REJ RESOLVED_LINK" \
	-- cli "$SOCK" RESOLVED_LINK "$BR" "$GWA:65536"
expect resolved-port-junk -22 "from 1 to 65535" "$REJ RESOLVED_LINK" \
	-- cli "$SOCK" RESOLVED_LINK "$BR" "$GWA:12x"
expect resolved-port-sign -22 "from 1 to 65535" "$REJ RESOLVED_LINK" \
	-- cli "$SOCK" RESOLVED_LINK "$BR" "$GWA:+53"
expect resolved-no-port -22 "is not ADDRESS:PORT" "$REJ RESOLVED_LINK" \
	-- cli "$SOCK" RESOLVED_LINK "$BR" "$GWA"
expect resolved-revert-other-bridge -1 "not the bridge this helper manages" \
	"$REJ RESOLVED_REVERT from uid $OU" -- cli "$SOCK" RESOLVED_REVERT br-evil
expect resolved-one-argument -74 "length cut off" "rejected message" \
	-- cli --forge "$SOCK" RESOLVED_LINK "$BR"
# Allowed, but there is no bridge yet: a failure, not a rejection; and
# nothing to revert.
expect resolved-no-bridge-yet -19 "no such interface" \
	"priv operation RESOLVED_LINK from uid $OU failed" \
	-- cli "$SOCK" RESOLVED_LINK "$BR" "$GWA:42053"
expect resolved-revert-no-bridge 0 "ok" - -- cli "$SOCK" RESOLVED_REVERT "$BR"

# ---- paths (CHOWN_TO_OWNER: below the runtime root only) ----

install -d -o "$OU" -g "$OG" -m 0700 "$T/run/vm"
ln -s /etc/shadow "$T/run/vm/shadow"
expect symlinked-leaf -40 "is a symlink" "$REJ CHOWN_TO_OWNER from uid $OU" \
	-- cli "$SOCK" CHOWN_TO_OWNER "$T/run/vm/shadow"
ln -s /etc "$T/run/etc"
expect symlinked-dir -40 "$T/run/etc is a symlink" "$REJ CHOWN_TO_OWNER from uid $OU" \
	-- cli "$SOCK" CHOWN_TO_OWNER "$T/run/etc/shadow"
expect dotdot-escape -22 'has a ".." component' "$REJ CHOWN_TO_OWNER" \
	-- cli "$SOCK" CHOWN_TO_OWNER "$T/run/../../etc/shadow"
expect outside-roots -1 "not below a managed root" "$REJ CHOWN_TO_OWNER" \
	-- cli "$SOCK" CHOWN_TO_OWNER /etc/shadow
touch "$T/state/db"
expect state-root-not-chownable -1 "not below a managed root" "$REJ CHOWN_TO_OWNER" \
	-- cli "$SOCK" CHOWN_TO_OWNER "$T/state/db"
expect relative-path -22 "not absolute" "$REJ CHOWN_TO_OWNER" \
	-- cli "$SOCK" CHOWN_TO_OWNER run/vm/x
expect directory-refused -1 "not a socket or a regular file" "$REJ CHOWN_TO_OWNER" \
	-- cli "$SOCK" CHOWN_TO_OWNER "$T/run/vm"
ln /etc/passwd "$T/run/vm/passwd" # root can; protected_hardlinks stops the owner
expect hardlink-refused -1 "hard links" "$REJ CHOWN_TO_OWNER" \
	-- cli "$SOCK" CHOWN_TO_OWNER "$T/run/vm/passwd"
rm -f "$T/run/vm/passwd"
[ "$(stat -c %U /etc/shadow /etc/passwd | sort -u)" = root ] && ok system-files-untouched ||
	fail "system-files-untouched: $(stat -c '%n %U' /etc/shadow /etc/passwd)"
# A missing leaf passes the path check and fails in the op: ENOENT, logged
# as a failure, not as a rejection.
expect missing-leaf -2 "does not exist" "priv operation CHOWN_TO_OWNER from uid $OU failed" \
	-- cli "$SOCK" CHOWN_TO_OWNER "$T/run/vm/later.sock"
expect missing-dir -2 "directory $T/run/nope does not exist" "$REJ CHOWN_TO_OWNER" \
	-- cli "$SOCK" CHOWN_TO_OWNER "$T/run/nope/x.sock"
# What the op is for: a file another uid (root here, a jailed VMM later)
# made in the runtime dir becomes the owner's.
touch "$T/run/vm/console.log"
expect chown-file 0 "ok" "priv operation CHOWN_TO_OWNER $T/run/vm/console.log from uid $OU" \
	-- cli "$SOCK" CHOWN_TO_OWNER "$T/run/vm/console.log"
[ "$(stat -c %U "$T/run/vm/console.log")" = "$OWNER" ] && ok chown-file-owner ||
	fail "chown-file-owner: $(stat -c %U "$T/run/vm/console.log")"
if command -v python3 >/dev/null; then
	python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
		"$T/run/vm/api.sock"
	expect chown-socket 0 "ok" - -- cli "$SOCK" CHOWN_TO_OWNER "$T/run/vm/api.sock"
	[ "$(stat -c %U "$T/run/vm/api.sock")" = "$OWNER" ] && ok chown-socket-owner ||
		fail "chown-socket-owner"
fi

# ---- DM_CLONE, DM_REMOVE, DM_LIST: every refusal comes before
# device-mapper; this host has none, so an allowed request then fails
# (ENODEV) without touching anything.  The devices themselves are made in
# the guest test host (tests/guesthost/run.sh), under the real unit. ----

IMGP=$T/state/images/i/rootfs.ext4
install -d -o "$OU" -g "$OG" -m 0700 "$T/state/images" "$T/state/images/i" "$T/state/vms" \
	"$T/state/vms/v1"
install -o "$OU" -g "$OG" -m 0644 /dev/null "$IMGP"
truncate -s 1M "$IMGP"
expect dm-bad-name -22 "is not a VM name" "$REJ DM_CLONE from uid $OU" \
	-- cli "$SOCK" DM_CLONE 'v1;reboot' "$IMGP"
expect dm-dotdot-name -22 "is not a VM name" "$REJ DM_CLONE" -- cli "$SOCK" DM_CLONE .. "$IMGP"
expect dm-image-outside -1 "not below a managed root" "$REJ DM_CLONE" \
	-- cli "$SOCK" DM_CLONE v1 /etc/shadow
ln -s /etc/shadow "$T/state/images/shadow.ext4"
expect dm-image-symlink -40 "is a symlink" "$REJ DM_CLONE" \
	-- cli "$SOCK" DM_CLONE v1 "$T/state/images/shadow.ext4"
expect dm-image-dotdot -22 'has a ".." component' "$REJ DM_CLONE" \
	-- cli "$SOCK" DM_CLONE v1 "$T/state/images/../images/i/rootfs.ext4"
install -m 0600 /dev/null "$T/cache/root.img"
truncate -s 1M "$T/cache/root.img"
expect dm-image-unreadable -1 "not readable by uid $OU" "$REJ DM_CLONE" \
	-- cli "$SOCK" DM_CLONE v1 "$T/cache/root.img"
expect dm-cow-missing -2 "does not exist" "priv operation DM_CLONE from uid $OU failed" \
	-- cli "$SOCK" DM_CLONE v1 "$IMGP"
ln -s /etc/shadow "$T/state/vms/v1/rootfs.cow"
expect dm-cow-symlink -40 "is a symlink" "$REJ DM_CLONE" -- cli "$SOCK" DM_CLONE v1 "$IMGP"
rm "$T/state/vms/v1/rootfs.cow"
ln /etc/passwd "$T/state/vms/v1/rootfs.cow" # root can; protected_hardlinks stops the owner
expect dm-cow-hardlink -1 "links" "$REJ DM_CLONE" -- cli "$SOCK" DM_CLONE v1 "$IMGP"
rm "$T/state/vms/v1/rootfs.cow"
[ "$(stat -c '%U %a' /etc/passwd)" = "root 644" ] && ok dm-system-files-untouched ||
	fail "dm-system-files-untouched: $(stat -c '%U %a' /etc/passwd)"
install -o "$OU" -g "$OG" -m 0600 /dev/null "$T/state/vms/v1/rootfs.cow"
truncate -s 1M "$T/state/vms/v1/rootfs.cow"
expect dm-cow-too-small -22 "needs at least" "$REJ DM_CLONE" -- cli "$SOCK" DM_CLONE v1 "$IMGP"
truncate -s 6M "$T/state/vms/v1/rootfs.cow"
expect dm-no-device-mapper -19 "no device-mapper" "priv operation DM_CLONE from uid $OU failed" \
	-- cli "$SOCK" DM_CLONE v1 "$IMGP"
[ "$(stat -c %U "$T/state/vms/v1/rootfs.cow")" = "$OWNER" ] && ok dm-cow-not-taken-on-failure ||
	fail "dm-cow-not-taken-on-failure: $(stat -c %U "$T/state/vms/v1/rootfs.cow")"
expect dm-remove-bad-name -22 "is not a VM name" "$REJ DM_REMOVE from uid $OU" \
	-- cli "$SOCK" DM_REMOVE 'x/../y'
expect dm-remove-nothing 0 "ok" - -- cli "$SOCK" DM_REMOVE v1
expect dm-list-no-device-mapper -19 "no device-mapper" - -- cli "$SOCK" DM_LIST
expect dm-clone-one-argument -74 "length cut off" "rejected message" \
	-- cli --forge "$SOCK" DM_CLONE v1

# ---- the happy path ----

in_ns() { nsenter --net="/run/netns/$NS" -- "$@"; }
expect net-ensure 0 "ok" "priv operation NET_ENSURE $BR from uid $OU" \
	-- cli "$SOCK" NET_ENSURE "$BR" "$GW"
ip -n "$NS" addr show "$BR" 2>/dev/null | grep -q "inet $GW" && ok bridge-address ||
	fail "bridge-address: $(ip -n "$NS" addr show "$BR" 2>&1)"
in_ns nft list table inet banger 2>/dev/null | grep -q 'masquerade' && ok nat-table ||
	fail "nat-table"
expect net-ensure-again 0 "ok" - -- cli "$SOCK" NET_ENSURE "$BR" "$GW"
expect tap-create 0 "ok" "priv operation TAP_CREATE bn-ha1 from uid $OU" \
	-- cli "$SOCK" TAP_CREATE bn-ha1 "$BR"
info=$(ip -n "$NS" -d link show bn-ha1 2>&1)
grep -q "master $BR" <<<"$info" && grep -q "tap .*user $OWNER" <<<"$info" &&
	ok tap-owned-by-owner || fail "tap-owned-by-owner: $info"
expect tap-list 0 "bn-ha1" - -- cli "$SOCK" TAP_LIST
expect tap-delete 0 "ok" "priv operation TAP_DELETE bn-ha1 from uid $OU" \
	-- cli "$SOCK" TAP_DELETE bn-ha1
ip -n "$NS" link show bn-ha1 >/dev/null 2>&1 && fail "tap-gone: bn-ha1 is still there" ||
	ok tap-gone
out=$(cli "$SOCK" TAP_LIST 2>&1)
grep -q bn-ha1 <<<"$out" && fail "tap-list-empty: $out" || ok tap-list-empty
expect tap-delete-again 0 "ok" - -- cli "$SOCK" TAP_DELETE bn-ha1

# TAP_OPEN: the tap comes back as a descriptor (QEMU's -netdev tap,fd=N)
# and lives as long as it is open; the refusals are TAP_CREATE's.
expect tap-open-not-prefixed -22 "bn-" "$REJ TAP_OPEN from uid $OU" \
	-- cli "$SOCK" TAP_OPEN eth0 "$BR"
expect tap-open-other-bridge -1 "not the bridge this helper manages" "$REJ TAP_OPEN" \
	-- cli "$SOCK" TAP_OPEN bn-x br-evil
expect tap-open-one-argument -74 "length cut off" "rejected message" \
	-- cli --forge "$SOCK" TAP_OPEN bn-x
expect tap-open 0 "fd tap bn-ho1 vnet_hdr cloexec" "priv operation TAP_OPEN bn-ho1 from uid $OU" \
	-- cli "$SOCK" TAP_OPEN bn-ho1 "$BR"
ip -n "$NS" link show bn-ho1 >/dev/null 2>&1 && fail "tap-open-gone-with-fd: bn-ho1 stayed" ||
	ok tap-open-gone-with-fd
HELPER_CLI_HOLD=3 cli "$SOCK" TAP_OPEN bn-ho2 "$BR" >"$T/hold.out" 2>&1 &
held=$!
for _ in $(seq 1 20); do ip -n "$NS" link show bn-ho2 >/dev/null 2>&1 && break; sleep 0.1; done
info=$(ip -n "$NS" -d link show bn-ho2 2>&1)
grep -q "master $BR" <<<"$info" && grep -q "state UP\|,UP" <<<"$info" && ! grep -q "persist on" <<<"$info" && grep -q "vnet_hdr on" <<<"$info" &&
	ok tap-open-on-bridge-while-held || fail "tap-open-on-bridge-while-held: $info"
wait "$held"
ip -n "$NS" link show bn-ho2 >/dev/null 2>&1 && fail "tap-open-released: bn-ho2 stayed" ||
	ok tap-open-released
# FUSE_MOUNT is not offered without --mount: a failure, not a rejection.
expect fuse-mount-not-offered -95 "without --mount" \
	"priv operation FUSE_MOUNT from uid $OU failed" -- cli "$SOCK" FUSE_MOUNT "$T/fs"

# systemd-resolved wiring.  No bus listens at $T/bus yet, then one does
# but nobody owns org.freedesktop.resolve1: failures that say so.
expect resolved-no-bus -107 "systemd-resolved is not reachable on the system bus" \
	"priv operation RESOLVED_LINK from uid $OU failed" \
	-- cli "$SOCK" RESOLVED_LINK "$BR" "$GWA:42053"
bus_start || fail "bus-up: $(cat "$T/bus.log")"
expect resolved-not-running -3 "systemd-resolved is not running" \
	"priv operation RESOLVED_LINK from uid $OU failed" \
	-- cli "$SOCK" RESOLVED_LINK "$BR" "$GWA:42053"
resolve1_start && ok resolve1-double-up || fail "resolve1-double-up"
IDX=$(ip -n "$NS" -o link show "$BR" | cut -d: -f1)
expect resolved-link 0 "ok" \
	"priv operation RESOLVED_LINK $BR from uid $OU: systemd-resolved sends ~vm queries on $BR to $GWA:42053" \
	-- cli "$SOCK" RESOLVED_LINK "$BR" "$GWA:42053"
want="{\"method\":\"SetLinkDefaultRoute\",\"args\":[$IDX,false]}
{\"method\":\"SetLinkDomains\",\"args\":[$IDX,[[\"vm\",true]]]}
{\"method\":\"SetLinkDNSEx\",\"args\":[$IDX,[[2,[${GWA//./,}],42053,\"\"]]]}"
got=$(cat "$T/resolve1.jsonl" 2>&1)
[ "$got" = "$want" ] && ok resolved-link-calls ||
	fail "resolved-link-calls: got '$got', want '$want'"
expect resolved-revert 0 "ok" "priv operation RESOLVED_REVERT $BR from uid $OU" \
	-- cli "$SOCK" RESOLVED_REVERT "$BR"
got=$(tail -n 1 "$T/resolve1.jsonl" 2>&1)
[ "$got" = "{\"method\":\"RevertLink\",\"args\":[$IDX]}" ] && ok resolved-revert-call ||
	fail "resolved-revert-call: got '$got'"

# Nothing leaked into the host's namespace.
if ip addr | grep -q '172\.30\.99\.' || ip link show "$BR" >/dev/null 2>&1; then
	fail "root-namespace-clean: $(ip -br addr | grep -E "172\.30\.99|$BR")"
else
	ok root-namespace-clean
fi

# ---- FUSE_MOUNT: a helper started with --mount (and CAP_SYS_ADMIN) ----
kill -TERM "$HPID"; wait "$HPID" 2>/dev/null; HPID=
CAPS=$CAPS,+sys_admin
install -d -o "$OU" -g "$OG" -m 0755 "$T/fs"
helper_start --mount "$T/fs" && ok helper-start-with-mount || fail "helper-start-with-mount"
expect fuse-mount-other-path -1 "not the mount point this helper manages" "$REJ FUSE_MOUNT" \
	-- cli "$SOCK" FUSE_MOUNT /etc
expect fuse-mount-dotdot -1 "not the mount point" "$REJ FUSE_MOUNT" \
	-- cli "$SOCK" FUSE_MOUNT "$T/fs/../fs"
expect fuse-unmount-other-path -1 "not the mount point" "$REJ FUSE_UNMOUNT" \
	-- cli "$SOCK" FUSE_UNMOUNT /proc
# The owner swaps the mount point for a symlink to a directory of its own
# elsewhere, then for root's directory: both refused.
mv "$T/fs" "$T/fs.real"
ln -s "$T/fs.real" "$T/fs"
expect fuse-mount-symlink -40 "a symlink is on the way" "$REJ FUSE_MOUNT" \
	-- cli "$SOCK" FUSE_MOUNT "$T/fs"
rm "$T/fs"
install -d -o root -g root -m 0755 "$T/fs"
expect fuse-mount-foreign-dir -1 "belongs to uid 0" "$REJ FUSE_MOUNT" \
	-- cli "$SOCK" FUSE_MOUNT "$T/fs"
rmdir "$T/fs"; mv "$T/fs.real" "$T/fs"
expect fuse-mount 0 "fd /dev/fuse cloexec" "priv operation FUSE_MOUNT $T/fs from uid $OU" \
	-- cli "$SOCK" FUSE_MOUNT "$T/fs"
mi=$(grep " $T/fs " /proc/self/mountinfo)
grep -q "nosuid,nodev.* - fuse.banger banger .*user_id=$OU,group_id=$OG,default_permissions" <<<"$mi" &&
	! grep -q allow_other <<<"$mi" && ok fuse-mount-options || fail "fuse-mount-options: $mi"
# helper_cli exited, so nobody serves it: a stale tree, as after kill -9.
expect fuse-mount-busy -16 "already mounted" - -- cli "$SOCK" FUSE_MOUNT "$T/fs"
expect fuse-unmount 0 "ok" "priv operation FUSE_UNMOUNT $T/fs from uid $OU" \
	-- cli "$SOCK" FUSE_UNMOUNT "$T/fs"
grep -q " $T/fs " /proc/self/mountinfo && fail "fuse-unmounted: $(grep " $T/fs " /proc/self/mountinfo)" ||
	ok fuse-unmounted
expect fuse-unmount-nothing 0 "ok" - -- cli "$SOCK" FUSE_UNMOUNT "$T/fs"
mount -t tmpfs -o size=64k tmpfs "$T/fs"
expect fuse-unmount-not-a-tree -1 "not a banger tree" "$REJ FUSE_UNMOUNT" \
	-- cli "$SOCK" FUSE_UNMOUNT "$T/fs"
grep -q " $T/fs .* - tmpfs " /proc/self/mountinfo && ok foreign-mount-kept || fail "foreign-mount-kept"
umount -l "$T/fs"

# ---- clean exit ----
kill -TERM "$HPID"
for _ in $(seq 1 30); do kill -0 "$HPID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$HPID" 2>/dev/null; then
	fail "sigterm: the helper is still running"
else
	wait "$HPID"
	rc=$?
	HPID=
	[ "$rc" -eq 0 ] && [ ! -e "$SOCK" ] && ok sigterm || fail "sigterm: rc $rc, socket left: $(ls "$SOCK" 2>&1)"
fi
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG"; then
	fail "helper-sanitizer-clean: see $LOG"
	grep -A30 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG" | head -60
fi
finish
