#!/bin/bash
# Privilege split: bangerd runs as an unprivileged user and still boots a
# guest with networking, through bangerd-root (root) for the bridge, NAT and
# taps.  Also: bangerd refuses a runtime dir it does not own, or a symlink.
# Everything network-related lives in the test's network namespace.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ROOTD=${ROOTD:-$BUILD/bin/bangerd-root}
USER_NAME=banger-test
id "$USER_NAME" >/dev/null 2>&1 ||
	useradd --system --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
setup
uid=$(id -u "$USER_NAME"); gid=$(id -g "$USER_NAME")
as_user() { setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"; }

# The user's directories; the helper's socket dir belongs to root.
chmod 0755 "$T"
install -d -o "$uid" -g "$gid" -m 0700 "$T/state" "$T/cache" "$T/home"
install -d -o "$uid" -g "$gid" -m 0755 "$T/fs" "$T/cfg"
install -d -o "$uid" -g "$gid" -m 0700 "$T/rt"
install -d -o root -g root -m 0755 "$T/root"
chown "$uid:$gid" "$T/cfg/config.toml"

nsenter --net="/run/netns/$NS" -- "$ROOTD" --socket "$T/root/root.sock" --owner "$USER_NAME" \
	--state-dir "$T/state" --runtime-dir "$T/rt" --cache-dir "$T/cache" \
	>"$T/rootd.log" 2>&1 &
ROOTD_PID=$!
for _ in $(seq 1 50); do [ -S "$T/root/root.sock" ] && break; sleep 0.1; done
check helper-socket test -S "$T/root/root.sock"

user_daemon() { # user_daemon RUNTIME_DIR: bangerd as the user, in the netns
	exec nsenter --net="/run/netns/$NS" -- setpriv --reuid="$uid" --regid="$gid" --clear-groups -- \
		env HOME="$T/home" "$BANGERD" --foreground --mount "$FS" --state-dir "$T/state" \
		--runtime-dir "$1" --cache-dir "$T/cache" --image-cache "$T/imgcache" \
		--config "$T/cfg/config.toml" --root-socket "$T/root/root.sock"
}

# Runtime dir made by someone else, or a symlink: refused, clearly.
install -d -o root -g root -m 0700 "$T/rt-root"
out=$(timeout 20 bash -c "$(declare -f user_daemon); uid=$uid gid=$gid NS=$NS T=$T FS=$FS BANGERD=$BANGERD user_daemon '$T/rt-root'" 2>&1)
case $out in *"belongs to uid 0, not to us"*) ok runtime-dir-foreign-refused ;; *) fail "runtime-dir-foreign-refused: $out" ;; esac
ln -s "$T/rt" "$T/rt-link"
out=$(timeout 20 bash -c "$(declare -f user_daemon); uid=$uid gid=$gid NS=$NS T=$T FS=$FS BANGERD=$BANGERD user_daemon '$T/rt-link'" 2>&1)
case $out in *"is a symlink; refusing"*) ok runtime-dir-symlink-refused ;; *) fail "runtime-dir-symlink-refused: $out" ;; esac

user_daemon "$T/rt" >>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 100); do as_user test -f "$FS/README" && break; sleep 0.1; done
as_user test -f "$FS/README" && ok user-daemon-mounted || { fail "user-daemon-mounted: $(cat "$T/daemon.log")"; finish; exit 1; }
[ "$(ps -o user= -p "$DAEMON_PID")" = "$USER_NAME" ] && ok daemon-runs-as-user || fail "daemon-runs-as-user: $(ps -o user= -p "$DAEMON_PID")"
check doctor-network-via-helper as_user grep -q '^ok network .*through bangerd-root' "$FS/doctor"

as_user mkdir "$FS/vms/p1"
check start as_user sh -c "echo start > '$FS/vms/p1/ctl'"
pid=$(as_user awk '$1=="pid"{print $2}' "$FS/vms/p1/status")
[ "$(ps -o user= -p "$pid")" = "$USER_NAME" ] && ok vmm-runs-as-user || fail "vmm-runs-as-user"
for _ in $(seq 1 240); do as_user grep -Eq '^ssh (ready|failed)' "$FS/vms/p1/status" && break; sleep 1; done
check ssh-ready-unprivileged as_user grep -qx 'ssh ready' "$FS/vms/p1/status"
ip=$(as_user cat "$FS/vms/p1/ip")
out=$(in_ns setpriv --reuid="$uid" --regid="$gid" --clear-groups -- env HOME="$T/home" \
	sh -c "$(as_user cat "$FS/vms/p1/ssh") 'id -un; hostname'" 2>&1)
case $out in *root*p1*) ok ssh-as-user-into-guest ;; *) fail "ssh-as-user-into-guest: $out" ;; esac
echo "# guest $ip reached by ssh as $USER_NAME"
tapo=$(in_ns ip -d link show bn-1 2>/dev/null)
case $tapo in *"user $USER_NAME"*|*"user $uid"*) ok tap-owned-by-user ;; *) fail "tap-owned-by-user: $tapo" ;; esac
check stop as_user sh -c "echo stop > '$FS/vms/p1/ctl'"
check stopped as_user grep -qx stopped "$FS/vms/p1/state"
check tap-removed bash -c "! nsenter --net=/run/netns/$NS ip link show bn-1 2>/dev/null"
check rmdir as_user rmdir "$FS/vms/p1"
grep -q 'rejected' "$T/rootd.log" && fail "helper-rejected-something: $(grep rejected "$T/rootd.log")" || ok helper-no-rejections

# Teardown: the user's mount, then the helper.
kill -TERM "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
kill -TERM "$ROOTD_PID" 2>/dev/null; wait "$ROOTD_PID" 2>/dev/null
check helper-socket-removed test ! -e "$T/root/root.sock"
finish
