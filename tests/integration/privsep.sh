#!/bin/bash
# Privilege split: bangerd runs as an unprivileged user and still mounts its
# tree and boots a guest with networking, through bangerd-root (root, its
# capability bounding set cut to the documented list) for the mount, the
# bridge, NAT and the tap, which come back as descriptors.  Whatever this
# host's device nodes are, the scenario runs once per device layout, each in
# a private mount namespace with a /dev of its own (the host's nodes are
# never touched):
#   0600   /dev/fuse and /dev/net/tun root-only, no /dev/kvm
#   0666   /dev/fuse and /dev/net/tun open to all, no /dev/kvm
# In each: bangerd refuses a runtime dir it does not own, or a symlink; a
# user daemon without any helper mounts through fusermount3 and says VMs
# get no network; then the full boot through the helper.  Everything
# network-related lives in the test's network namespace.
set -u
cd "$(dirname "$0")/../.." || exit 1

# The outer run: one private mount namespace per layout.
if [ -z "${PRIVSEP_LAYOUT:-}" ]; then
	rc=0
	for layout in 0600 0666; do
		echo "# layout $layout: /dev/fuse and /dev/net/tun $layout, no /dev/kvm"
		PRIVSEP_LAYOUT=$layout unshare --mount --propagation private -- bash "$0" || rc=1
	done
	exit $rc
fi

. tests/integration/lib.sh
ROOTD=${ROOTD:-$BUILD/bin/bangerd-root}
USER_NAME=banger-test
L=$PRIVSEP_LAYOUT
# bangerd-root.service's capabilities (CAP_SYS_ADMIN among them, which --mount needs)
# (docs/privileges.md).
CAPS=-all,+net_admin,+chown,+dac_read_search,+sys_admin,+mknod
id "$USER_NAME" >/dev/null 2>&1 ||
	useradd --system --no-create-home --shell /usr/sbin/nologin "$USER_NAME"

# A /dev with exactly what a guest start needs, fuse and tun at mode $L, no
# kvm.  This process is in a mount namespace of its own (see above).
make_dev() {
	mount -t tmpfs -o mode=0755,size=256k banger-dev /dev || return 1
	mknod -m 0666 /dev/null c 1 3 && mknod -m 0666 /dev/zero c 1 5 &&
		mknod -m 0666 /dev/full c 1 7 && mknod -m 0666 /dev/random c 1 8 &&
		mknod -m 0666 /dev/urandom c 1 9 && mknod -m 0666 /dev/tty c 5 0 &&
		mknod -m "$L" /dev/fuse c 10 229 && mkdir -m 0755 /dev/net &&
		mknod -m "$L" /dev/net/tun c 10 200 || return 1
	mkdir -m 0755 /dev/pts /dev/shm
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts &&
		ln -s pts/ptmx /dev/ptmx && mount -t tmpfs -o mode=1777 shm /dev/shm || return 1
	ln -s /proc/self/fd /dev/fd && ln -s fd/0 /dev/stdin && ln -s fd/1 /dev/stdout &&
		ln -s fd/2 /dev/stderr
}
make_dev || { fail "layout-$L-dev: $(ls -la /dev 2>&1)"; finish; exit 1; }
[ "$(stat -c %a /dev/fuse /dev/net/tun | sort -u)" = "${L#0}" ] && [ ! -e /dev/kvm ] &&
	ok "layout-$L-devices" || fail "layout-$L-devices: $(ls -la /dev /dev/net)"

setup
uid=$(id -u "$USER_NAME"); gid=$(id -g "$USER_NAME")
as_user() { setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"; }
ROOTD_PID=
privsep_teardown() {
	[ -n "$ROOTD_PID" ] && kill -TERM "$ROOTD_PID" 2>/dev/null && wait "$ROOTD_PID" 2>/dev/null
	teardown
}
trap privsep_teardown EXIT

# The user's directories; the helper's socket dir belongs to root.
chmod 0755 "$T"
install -d -o "$uid" -g "$gid" -m 0700 "$T/state" "$T/cache" "$T/home"
install -d -o "$uid" -g "$gid" -m 0755 "$T/fs" "$T/cfg"
install -d -o "$uid" -g "$gid" -m 0700 "$T/rt"
install -d -o root -g root -m 0755 "$T/root"
chown "$uid:$gid" "$T/cfg/config.toml"

user_daemon() { # user_daemon RUNTIME_DIR [ROOT_SOCKET]: bangerd as the user, in the netns
	exec nsenter --net="/run/netns/$NS" -- setpriv --reuid="$uid" --regid="$gid" --clear-groups -- \
		env HOME="$T/home" "$BANGERD" --foreground --mount "$FS" --state-dir "$T/state" \
		--runtime-dir "$1" --cache-dir "$T/cache" --image-cache "$T/imgcache" \
		--config "$T/cfg/config.toml" --root-socket "${2-$T/root/root.sock}"
}
daemon_up() { # daemon_up NAME: wait for the user's tree
	local _
	for _ in $(seq 1 100); do as_user test -f "$FS/README" && return 0;
		kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
	fail "$1: $(cat "$T/daemon.log")"
	return 1
}

# Runtime dir made by someone else, or a symlink: refused, clearly.
install -d -o root -g root -m 0700 "$T/rt-root"
out=$(timeout 20 bash -c "$(declare -f user_daemon); uid=$uid gid=$gid NS=$NS T=$T FS=$FS BANGERD=$BANGERD user_daemon '$T/rt-root'" 2>&1)
case $out in *"belongs to uid 0, not to us"*) ok runtime-dir-foreign-refused ;; *) fail "runtime-dir-foreign-refused: $out" ;; esac
ln -s "$T/rt" "$T/rt-link"
out=$(timeout 20 bash -c "$(declare -f user_daemon); uid=$uid gid=$gid NS=$NS T=$T FS=$FS BANGERD=$BANGERD user_daemon '$T/rt-link'" 2>&1)
case $out in *"is a symlink; refusing"*) ok runtime-dir-symlink-refused ;; *) fail "runtime-dir-symlink-refused: $out" ;; esac

# No helper at all: the setuid fusermount3 mounts the tree, no network.
# fusermount3 opens /dev/fuse as the user, so with a root-only node
# neither way works: the daemon says so and what to change.
if [ "$L" = 0600 ]; then
	out=$(timeout 30 bash -c "$(declare -f user_daemon); uid=$uid gid=$gid NS=$NS T=$T FS=$FS BANGERD=$BANGERD user_daemon '$T/rt' ''" 2>&1)
	rc=$?
	case $rc:$out in
	1:*"failed to open /dev/fuse: Permission denied (fusermount3 opens /dev/fuse as you: run bangerd-root with --mount"*)
		ok user-daemon-no-way-to-mount-says-why ;;
	*) fail "user-daemon-no-way-to-mount-says-why: rc $rc: $out" ;;
	esac
	grep -q " $FS " /proc/self/mountinfo && fail "nothing-mounted: $(grep " $FS " /proc/self/mountinfo)" ||
		ok nothing-mounted
else
user_daemon "$T/rt" "" >>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
if daemon_up user-daemon-fusermount; then
	ok user-daemon-fusermount
	check doctor-tree-by-fusermount as_user grep -q '^ok tree mounted by fusermount3' "$FS/doctor"
	check doctor-no-helper-warns as_user grep -q '^warn privileges bangerd is not root and bangerd-root is not reachable' "$FS/doctor"
	check doctor-network-off as_user grep -q '^warn network .*VMs get no network' "$FS/doctor"
	check doctor-device-modes as_user grep -q "^ok devices /dev/fuse $L root:root, /dev/net/tun $L root:root, /dev/kvm missing" "$FS/doctor"
	kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
	grep -q " $FS " /proc/self/mountinfo && fail "fusermount-unmounted-at-exit: $(grep " $FS " /proc/self/mountinfo)" ||
		ok fusermount-unmounted-at-exit
fi
fi

nsenter --net="/run/netns/$NS" -- setpriv --inh-caps=-all --bounding-set="$CAPS" -- \
	"$ROOTD" --socket "$T/root/root.sock" --owner "$USER_NAME" \
	--state-dir "$T/state" --runtime-dir "$T/rt" --cache-dir "$T/cache" --mount "$FS" \
	>"$T/rootd.log" 2>&1 &
ROOTD_PID=$!
for _ in $(seq 1 50); do [ -S "$T/root/root.sock" ] && break; sleep 0.1; done
check helper-socket test -S "$T/root/root.sock"

user_daemon "$T/rt" >>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
daemon_up user-daemon-mounted || { finish; exit 1; }
ok user-daemon-mounted
[ "$(ps -o user= -p "$DAEMON_PID")" = "$USER_NAME" ] && ok daemon-runs-as-user || fail "daemon-runs-as-user: $(ps -o user= -p "$DAEMON_PID")"
# The layout is real: with 0600 the user cannot open the nodes the daemon
# holds descriptors of; with 0666 it could, and still goes through the helper.
if as_user sh -c 'exec 3<>/dev/fuse 4<>/dev/net/tun' 2>/dev/null; then opened=yes; else opened=no; fi
case $L:$opened in 0600:no | 0666:yes) ok "user-open-devices-$opened" ;; *) fail "user-open-devices: $opened with $L" ;; esac
check doctor-tree-by-helper as_user grep -q '^ok tree mounted by bangerd-root' "$FS/doctor"
check doctor-privileges-via-helper as_user grep -q '^ok privileges through bangerd-root' "$FS/doctor"
check doctor-network-via-helper as_user grep -q '^ok network .*through bangerd-root' "$FS/doctor"
check doctor-kvm-missing as_user grep -q '^warn kvm /dev/kvm missing' "$FS/doctor"
# Firecracker opens its tap by name: unjailed, the owner needs the node.
if [ "$L" = 0600 ]; then
	check doctor-firecracker-tap-warns as_user grep -q '^warn firecracker-tap unjailed firecracker' "$FS/doctor"
else
	check doctor-firecracker-tap-quiet bash -c "! setpriv --reuid=$uid --regid=$gid --clear-groups -- grep -q '^warn firecracker-tap' '$FS/doctor'"
fi

as_user mkdir "$FS/vms/p1"
check start as_user sh -c "echo start > '$FS/vms/p1/ctl'"
pid=$(as_user awk '$1=="pid"{print $2}' "$FS/vms/p1/status")
[ "$(ps -o user= -p "$pid")" = "$USER_NAME" ] && ok vmm-runs-as-user || fail "vmm-runs-as-user"
tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- '-netdev tap,id=n0,fd=3 ' && ok vmm-tap-by-descriptor ||
	fail "vmm-tap-by-descriptor: $(tr '\0' ' ' <"/proc/$pid/cmdline")"
tapo=$(in_ns ip -d link show bn-1 2>/dev/null)
grep -q "master br-fc" <<<"$tapo" && grep -q "vnet_hdr on persist off" <<<"$tapo" &&
	ok tap-on-bridge-not-persistent || fail "tap-on-bridge-not-persistent: $tapo"
for _ in $(seq 1 240); do as_user grep -Eq '^ssh (ready|failed)' "$FS/vms/p1/status" && break; sleep 1; done
check ssh-ready-unprivileged as_user grep -qx 'ssh ready' "$FS/vms/p1/status"
ip=$(as_user cat "$FS/vms/p1/ip")
out=$(in_ns setpriv --reuid="$uid" --regid="$gid" --clear-groups -- env HOME="$T/home" \
	sh -c "$(as_user cat "$FS/vms/p1/ssh") 'id -un; hostname'" 2>&1)
case $out in *root*p1*) ok ssh-as-user-into-guest ;; *) fail "ssh-as-user-into-guest: $out" ;; esac
echo "# guest $ip reached by ssh as $USER_NAME (layout $L)"
check stop as_user sh -c "echo stop > '$FS/vms/p1/ctl'"
check stopped as_user grep -qx stopped "$FS/vms/p1/state"
check tap-removed bash -c "! nsenter --net=/run/netns/$NS ip link show bn-1 2>/dev/null"
check rmdir as_user rmdir "$FS/vms/p1"

# A kill -9 leaves a stale tree; the next daemon has the helper take it
# away and mount afresh.
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
grep -q " $FS .* - fuse.banger " /proc/self/mountinfo && ok stale-tree-after-kill ||
	fail "stale-tree-after-kill"
user_daemon "$T/rt" >>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
daemon_up user-daemon-remounted && ok user-daemon-remounted
[ "$(grep -c " $FS .* - fuse.banger " /proc/self/mountinfo)" = 1 ] && ok one-tree-mounted ||
	fail "one-tree-mounted: $(grep " $FS " /proc/self/mountinfo)"
grep -q 'rejected' "$T/rootd.log" && fail "helper-rejected-something: $(grep rejected "$T/rootd.log")" || ok helper-no-rejections

# SIGTERM: the daemon has the helper unmount its tree, then the helper goes.
kill -TERM "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
grep -q " $FS " /proc/self/mountinfo && fail "tree-unmounted-at-exit: $(grep " $FS " /proc/self/mountinfo)" ||
	ok tree-unmounted-at-exit
grep -q "priv operation FUSE_UNMOUNT $FS from uid $uid" "$T/rootd.log" && ok unmount-through-helper ||
	fail "unmount-through-helper: $(tail -5 "$T/rootd.log")"
kill -TERM "$ROOTD_PID" 2>/dev/null; wait "$ROOTD_PID" 2>/dev/null; ROOTD_PID=
check helper-socket-removed test ! -e "$T/root/root.sock"
finish
