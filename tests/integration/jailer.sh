#!/bin/bash
# vmm = firecracker through the jailer (docs/firecracker.md "The jailer"),
# against the doubles tests/fc-double/jailer and tests/fc-double/firecracker
# (which boots the guest under QEMU/TCG):
#  (a) bangerd as root runs the jailer itself: boot, console, jail-relative
#      API paths, the jail's layout (FIRECRACKER.md §4), stop, start again,
#      kill, kill -9 of the daemon and re-adoption, Firecracker < 1.14
#      (no --daemonize, serial on stdout, the daemon's child), a jailer
#      that fails (nothing left), delete (the jail goes);
#  (b) bangerd as the user banger-test and bangerd-root (root, capability
#      bounding set cut to the list bangerd-root.service grants) with
#      --jailer/--firecracker: the same boot through JAIL_LAUNCH, Firecracker
#      runs as that user, the user deletes the jail; JAIL_LAUNCH's "stdout"
#      mode (detached, stdout on the jail's console.log);
#  (c) JAIL_LAUNCH attacked over the real socket: refused, logged, the
#      helper keeps answering.
# Everything network-related lives in the test's network namespace.  Needs
# root, $BUILD/bin/bangerd-root and $BUILD/tests/helper_cli.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
FC=$PWD/tests/fc-double/firecracker
JAILER=$PWD/tests/fc-double/jailer
case $BUILD in /*) BDIR=$BUILD ;; *) BDIR=$PWD/$BUILD ;; esac
[ -x "$BANGERD" ] || BANGERD=$BDIR/bin/bangerd
ROOTD=${ROOTD:-$BDIR/bin/bangerd-root}
CLI=${HELPER_CLI:-$BDIR/tests/helper_cli}
USER_NAME=banger-test
# What bangerd-root.service keeps (docs/privileges.md).
CAPS=-all,+net_admin,+chown,+dac_read_search,+dac_override,+fowner,+sys_admin,+sys_chroot,+mknod,+setuid,+setgid,+kill

for f in "$BANGERD" "$ROOTD" "$CLI"; do
	[ -x "$f" ] || { fail "prerequisites: $f is missing (make $f)"; finish; exit 1; }
done
setup
unset FC_DOUBLE_LOG FC_DOUBLE_FAIL FC_DOUBLE_VERSION
ROOTD_PID=
# A jailed Firecracker's command line names /srv/jailer/..., not $T, so
# lib.sh's teardown would not find it: kill what the jails' pid files name
# (when it still is a jailed double), and the helper.
jail_teardown() {
	local f p
	for f in "$T"/state/jail/*/root/*.pid "$T"/ustate/jail/*/root/*.pid; do
		[ -f "$f" ] || continue
		p=$(cat "$f" 2>/dev/null)
		case $p in "" | *[!0-9]*) continue ;; esac
		tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -q ' /srv/jailer/' &&
			kill -KILL "$p" 2>/dev/null
	done
	[ -n "$ROOTD_PID" ] && kill -TERM "$ROOTD_PID" 2>/dev/null
	teardown
}
trap jail_teardown EXIT

# A Firecracker double that says it is 1.13.0 (no PUT /serial).  The jailer
# clears the environment, so FC_DOUBLE_VERSION cannot reach a jailed one.
install -d -m 0755 "$T/fcold"
sed 's/^DEFAULT_VERSION = .*/DEFAULT_VERSION = "1.13.0"/' "$FC" >"$T/fcold/firecracker"
chmod 0755 "$T/fcold/firecracker"

config() { # config FIRECRACKER_BIN
	cat >"$T/cfg/config.toml" <<EOF
firecracker_bin = "$1"
jailer_bin = "$JAILER"
vmm = "firecracker"
EOF
}
wait_file() { # wait_file FILE PATTERN SECONDS
	local _
	for _ in $(seq 1 "$3"); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 1; done
	return 1
}
vm_pid() { awk '$1=="pid"{print $2}' "$FS/vms/$1/status"; }
gone() { # gone PID: not running (a zombie counts as gone)
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null)
	case $st in "" | Z*) return 0 ;; *) return 1 ;; esac
}
# The API calls' paths, as the double logged them.
JAILED_PATHS='[.[] | .body // {} | (.kernel_image_path, .initrd_path, .path_on_host, .log_path, .metrics_path, .serial_out_path, .uds_path) | select(. != null)]'

# ======================================================================
# (a) bangerd as root
# ======================================================================
config "$FC"
daemon_start || { fail "daemon-start"; finish; exit 1; }
check doctor-jailer grep -q "^ok jailer $JAILER (in-process: bangerd is root), jails in $T/state/jail" "$FS/doctor"
check mkdir mkdir "$FS/vms/j1"
check start bash -c "echo start > '$FS/vms/j1/ctl'"
JR=$T/state/jail/j1/root
REQ=$JR/run/firecracker.socket.requests.jsonl
pid=$(vm_pid j1)
check state-running grep -qx running "$FS/vms/j1/state"
check status-jail grep -qx "jail $JR" "$FS/vms/j1/status"
check log-jailed grep -q "banger: jailed in $JR through $JAILER (firecracker 1.16.1, serial via PUT /serial, --daemonize)" "$FS/vms/j1/log"

# The API calls: the usual ones, in order, every path relative to the jail.
calls=$(jq -r '"\(.method) \(.path) \(.status)"' "$REQ" 2>/dev/null | grep -v '^GET /version' | tr '\n' ',')
want="PUT /logger 204,PUT /metrics 204,PUT /boot-source 204,PUT /machine-config 204,PUT /drives/rootfs 204,PUT /drives/work 204,PUT /network-interfaces/eth0 204,PUT /vsock 204,PUT /serial 204,PUT /actions 204,"
[ "$calls" = "$want" ] && ok api-call-order || fail "api-call-order: $calls"
got=$(jq -c -s "$JAILED_PATHS" "$REQ" 2>/dev/null)
[ "$got" = '["/fc.log","/fc.metrics","/vmlinux","/initrd.img","/rootfs.ext4","/work.ext4","/run/vsock.sock","/console.log"]' ] &&
	ok api-paths-jail-relative || fail "api-paths-jail-relative: $got"
grep -q "$T" "$REQ" && fail "api-no-host-path: $(grep "$T" "$REQ" | head -2)" || ok api-no-host-path

# The jail, as §4 lays it out.
[ -f "$JR/firecracker" ] && [ "$(stat -c %h "$JR/firecracker")" = 1 ] && cmp -s "$JR/firecracker" "$FC" &&
	[ "$(stat -c %i "$JR/firecracker")" != "$(stat -c %i "$FC")" ] &&
	ok jail-exec-copied || fail "jail-exec-copied: $(ls -li "$JR/firecracker" "$FC")"
[ "$(cat "$JR/firecracker.pid")" = "$pid" ] && [ "$(tail -c 1 "$JR/firecracker.pid" | od -An -c | tr -d ' ')" != '\n' ] &&
	ok jail-pid-file || fail "jail-pid-file: '$(cat "$JR/firecracker.pid")' vs $pid"
[ "$(stat -c '%U' "$JR/firecracker.pid")" = root ] && ok jail-pid-file-root || fail "jail-pid-file-root: $(stat -c '%U' "$JR/firecracker.pid")"
nodes=$(for n in dev/kvm dev/net/tun dev/urandom; do stat -c '%n %F %t:%T %a' "$JR/$n"; done 2>&1 | sed "s|$JR/||" | tr '\n' ';')
[ "$nodes" = "dev/kvm character special file a:e8 600;dev/net/tun character special file a:c8 600;dev/urandom character special file 1:9 600;" ] &&
	ok jail-dev-nodes || fail "jail-dev-nodes: $nodes"
if grep -q userfaultfd /proc/misc; then
	[ -c "$JR/dev/userfaultfd" ] && ok jail-dev-userfaultfd || fail jail-dev-userfaultfd
fi
dirs=$(stat -c '%a' "$JR" "$JR/dev" "$JR/dev/net" "$JR/run" | tr '\n' ' ')
[ "$dirs" = "700 700 700 700 " ] && ok jail-dirs-0700 || fail "jail-dirs-0700: $dirs"
for f in rootfs.ext4 work.ext4 console.log; do
	src=$T/state/vms/j1/$f
	[ "$(stat -c %i "$JR/$f")" = "$(stat -c %i "$src")" ] && ok "jail-hardlink-$f" || fail "jail-hardlink-$f"
done
[ "$(stat -L -c %i "/proc/$pid/cwd")" = "$(stat -c %i "$JR")" ] && ok vmm-cwd-jail-root || fail "vmm-cwd-jail-root"
envs=$(tr '\0' '\n' <"/proc/$pid/environ")
[ "$envs" = "FC_DOUBLE_JAIL_ROOT=/srv/jailer/firecracker/j1/root" ] && ok vmm-env-cleared || fail "vmm-env-cleared: $envs"
findmnt -n /srv/jailer >/dev/null 2>&1 && fail "host-srv-untouched: $(findmnt /srv/jailer)" || ok host-srv-untouched

check console-login wait_file "$T/state/vms/j1/console.log" 'login:' 240
check console-kernel-banner grep -q 'Linux version' "$FS/vms/j1/console"
for _ in $(seq 1 120); do grep -Eq '^ssh (ready|failed)' "$FS/vms/j1/status" && break; sleep 1; done
check ssh-ready-through-tap grep -qx 'ssh ready' "$FS/vms/j1/status"

# Stop: SendCtrlAltDel through the jailed API.
check stop bash -c "echo stop > '$FS/vms/j1/ctl'"
check stopped grep -qx stopped "$FS/vms/j1/state"
check stop-sent-cad jq -e -s 'any(.path=="/actions" and .body.action_type=="SendCtrlAltDel" and .status==204)' "$REQ"
gone "$pid" && ok stop-vmm-gone || fail "stop-vmm-gone: $pid $(ps -o stat= -p "$pid")"

# Start again (a fresh jail: the old pid file would make the jailer fail),
# then kill.
check start-again bash -c "echo start > '$FS/vms/j1/ctl'"
pid2=$(vm_pid j1)
[ -n "$pid2" ] && [ "$pid2" != "$pid" ] && [ "$(cat "$JR/firecracker.pid")" = "$pid2" ] && ok start-again-new-pid || fail "start-again-new-pid: $pid2"
check kill bash -c "echo kill > '$FS/vms/j1/ctl'"
check killed-stopped grep -qx stopped "$FS/vms/j1/state"
sleep 0.5
gone "$pid2" && ok killed-vmm-gone || fail "killed-vmm-gone: $pid2"
[ ! -e "$JR/run/firecracker.socket" ] && ok kill-removes-api-socket || fail kill-removes-api-socket

# kill -9 the daemon: the jailed Firecracker keeps running, a new daemon
# adopts it and can stop it.
check start-3 bash -c "echo start > '$FS/vms/j1/ctl'"
pid3=$(vm_pid j1)
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
umount -l "$FS" 2>/dev/null
sleep 0.5
gone "$pid3" && fail vm-survives-daemon-kill || ok vm-survives-daemon-kill
daemon_start && ok daemon-restart || fail daemon-restart
check adopted-running grep -qx running "$FS/vms/j1/state"
check adopted-same-pid grep -qx "pid $pid3" "$FS/vms/j1/status"
check adopted-jail grep -qx "jail $JR" "$FS/vms/j1/status"
check adopted-logged grep -q 'adopted firecracker' "$FS/vms/j1/log"
check adopted-kill bash -c "echo kill > '$FS/vms/j1/ctl'"
sleep 0.5
gone "$pid3" && ok adopted-vmm-gone || fail "adopted-vmm-gone: $pid3"

# Firecracker 1.13: no PUT /serial, so no --daemonize: stdout is the
# console, and Firecracker is the daemon's own child.
daemon_stop
config "$T/fcold/firecracker"
daemon_start || fail daemon-start-old
check old-start bash -c "echo start > '$FS/vms/j1/ctl'"
pid4=$(vm_pid j1)
check old-log grep -q 'serial on stdout)' "$FS/vms/j1/log"
[ "$(ps -o ppid= -p "$pid4" | tr -d ' ')" = "$DAEMON_PID" ] && ok old-vmm-is-daemon-child || fail "old-vmm-is-daemon-child: ppid $(ps -o ppid= -p "$pid4")"
jq -e -s 'any(.path=="/serial") | not' "$JR/run/firecracker.socket.requests.jsonl" >/dev/null && ok old-no-put-serial || fail old-no-put-serial
check old-console-boots wait_file "$T/state/vms/j1/console.log" 'Linux version' 120
check old-kill bash -c "echo kill > '$FS/vms/j1/ctl'"
sleep 0.5
gone "$pid4" && ok old-vmm-gone || fail "old-vmm-gone: $pid4"
check old-exit-seen grep -q 'vmm was killed by signal 9' "$FS/vms/j1/log"

# A jailer that gives up: start fails with its words, nothing is left,
# with --daemonize (its stderr is read until it daemonizes) and without
# (its stderr is the VM log).
daemon_stop
config "$FC"
printf '#!/bin/sh\necho "Jailer error: refusing on purpose" >&2\nexit 1\n' >"$T/badjailer"
chmod 0755 "$T/badjailer"
sed -i "s|^jailer_bin = .*|jailer_bin = \"$T/badjailer\"|" "$T/cfg/config.toml"
daemon_start || fail daemon-start-badjailer
r=$(try_write "$FS/vms/j1/ctl" start)
[ "$r" != ok ] && ok bad-jailer-start-fails || fail "bad-jailer-start-fails: $r"
check bad-jailer-failed grep -qx failed "$FS/vms/j1/state"
check bad-jailer-err grep -q 'the jailer exited with status 1: Jailer error: refusing on purpose' "$FS/vms/j1/err"
[ ! -e "$T/state/jail/j1" ] && ok bad-jailer-no-jail-left || fail "bad-jailer-no-jail-left: $(ls -la "$T/state/jail/j1")"
daemon_stop
config "$T/fcold/firecracker"
sed -i "s|^jailer_bin = .*|jailer_bin = \"$T/badjailer\"|" "$T/cfg/config.toml"
daemon_start || fail daemon-start-badjailer-old
r=$(try_write "$FS/vms/j1/ctl" start)
[ "$r" != ok ] && ok bad-jailer-old-start-fails || fail "bad-jailer-old-start-fails: $r"
check bad-jailer-old-err grep -q 'the jailer exited with status 1: Jailer error: refusing on purpose' "$FS/vms/j1/err"
[ ! -e "$T/state/jail/j1" ] && ok bad-jailer-old-no-jail-left || fail "bad-jailer-old-no-jail-left: $(ls -la "$T/state/jail/j1")"

# Delete: the jail goes with the VM.
daemon_stop
config "$FC"
daemon_start || fail daemon-start-delete
check start-for-delete bash -c "echo start > '$FS/vms/j1/ctl'"
check kill-for-delete bash -c "echo kill > '$FS/vms/j1/ctl'"
[ -d "$T/state/jail/j1/root" ] && ok jail-kept-while-stopped || fail jail-kept-while-stopped
check rmdir rmdir "$FS/vms/j1"
[ ! -e "$T/state/jail/j1" ] && ok delete-removes-jail || fail "delete-removes-jail: $(ls -la "$T/state/jail")"
daemon_stop

# ======================================================================
# (b) bangerd as banger-test, bangerd-root with --jailer/--firecracker
# ======================================================================
id "$USER_NAME" >/dev/null 2>&1 ||
	useradd --system --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
uid=$(id -u "$USER_NAME"); gid=$(id -g "$USER_NAME")
as_user() { setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"; }
chmod 0755 "$T"
rm -rf "$T/state" "$T/run"
install -d -o "$uid" -g "$gid" -m 0700 "$T/ustate" "$T/ucache" "$T/home" "$T/rt"
install -d -o "$uid" -g "$gid" -m 0755 "$T/cfg" "$T/fs"
install -d -o root -g root -m 0755 "$T/root"
chown "$uid:$gid" "$T/cfg/config.toml"
SOCK=$T/root/root.sock
RLOG=$T/rootd.log

helper_start() { # helper_start FIRECRACKER
	nsenter --net="/run/netns/$NS" -- setpriv --inh-caps=-all --bounding-set="$CAPS" -- \
		"$ROOTD" --socket "$SOCK" --owner "$USER_NAME" --state-dir "$T/ustate" \
		--runtime-dir "$T/rt" --cache-dir "$T/ucache" --jailer "$JAILER" --firecracker "$1" \
		--mount "$FS" \
		>>"$RLOG" 2>&1 &
	ROOTD_PID=$!
	local _
	for _ in $(seq 1 50); do [ -S "$SOCK" ] && return 0; sleep 0.1; done
	return 1
}
helper_stop() {
	kill -TERM "$ROOTD_PID" 2>/dev/null; wait "$ROOTD_PID" 2>/dev/null
}
user_daemon_start() {
	nsenter --net="/run/netns/$NS" -- setpriv --reuid="$uid" --regid="$gid" --clear-groups -- \
		env HOME="$T/home" "$BANGERD" --foreground --mount "$FS" --state-dir "$T/ustate" \
		--runtime-dir "$T/rt" --cache-dir "$T/ucache" --image-cache "$T/imgcache" \
		--config "$T/cfg/config.toml" --root-socket "$SOCK" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	local _
	for _ in $(seq 1 100); do as_user test -f "$FS/README" && return 0; sleep 0.1; done
	return 1
}
user_daemon_stop() {
	kill -TERM "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
	umount -l "$FS" 2>/dev/null
}

config "$FC"
check helper-start helper_start "$FC"
check helper-says-jailer grep -q "JAIL_LAUNCH runs $JAILER on $FC, jails in $T/ustate/jail" "$RLOG"
user_daemon_start && ok user-daemon-start || { fail "user-daemon-start: $(tail -5 "$T/daemon.log")"; finish; exit 1; }
check u-doctor-jailer as_user grep -q '^ok jailer through bangerd-root' "$FS/doctor"
as_user mkdir "$FS/vms/u1"
check u-start as_user sh -c "echo start > '$FS/vms/u1/ctl'"
UJR=$T/ustate/jail/u1/root
upid=$(as_user awk '$1=="pid"{print $2}' "$FS/vms/u1/status")
check u-status-jail as_user grep -qx "jail $UJR" "$FS/vms/u1/status"
[ "$(ps -o user= -p "$upid")" = "$USER_NAME" ] && ok u-vmm-runs-as-user || fail "u-vmm-runs-as-user: $(ps -o user= -p "$upid")"
[ "$(ps -o ppid= -p "$upid" | tr -d ' ')" != "$ROOTD_PID" ] && ok u-vmm-not-helper-child || fail u-vmm-not-helper-child
check u-helper-logged grep -q "priv operation JAIL_LAUNCH u1 from uid $uid: firecracker pid $upid runs as uid $uid" "$RLOG"
[ "$(stat -c '%U' "$UJR/firecracker" "$UJR/dev/kvm" "$UJR/dev/net/tun" "$UJR/run" "$UJR/dev" | sort -u)" = "$USER_NAME" ] &&
	ok u-jail-owned-by-user || fail "u-jail-owned-by-user: $(stat -c '%n %U' "$UJR/firecracker" "$UJR/dev/kvm" "$UJR/run")"
[ "$(stat -c %U "$UJR/firecracker.pid")" = root ] && ok u-pid-file-root || fail u-pid-file-root
UREQ=$UJR/run/firecracker.socket.requests.jsonl
got=$(jq -c -s "$JAILED_PATHS" "$UREQ" 2>/dev/null)
[ "$got" = '["/fc.log","/fc.metrics","/vmlinux","/initrd.img","/rootfs.ext4","/work.ext4","/run/vsock.sock","/console.log"]' ] &&
	ok u-api-paths-jail-relative || fail "u-api-paths-jail-relative: $got"
check u-console-login wait_file "$T/ustate/vms/u1/console.log" 'login:' 240
for _ in $(seq 1 120); do as_user grep -Eq '^ssh (ready|failed)' "$FS/vms/u1/status" && break; sleep 1; done
check u-ssh-ready as_user grep -qx 'ssh ready' "$FS/vms/u1/status"
check u-stop as_user sh -c "echo stop > '$FS/vms/u1/ctl'"
check u-stopped as_user grep -qx stopped "$FS/vms/u1/state"
gone "$upid" && ok u-vmm-gone || fail "u-vmm-gone: $upid"
check u-rmdir as_user rmdir "$FS/vms/u1"
[ ! -e "$T/ustate/jail/u1" ] && ok u-delete-removes-jail || fail "u-delete-removes-jail: $(find "$T/ustate/jail" | head)"
grep -q 'rejected' "$RLOG" && fail "u-helper-no-rejections: $(grep rejected "$RLOG")" || ok u-helper-no-rejections
user_daemon_stop

# Firecracker 1.13 through bangerd-root: no --daemonize; the helper opens
# the jail's console.log and vmm.log (links of the VM's) for stdout and
# stderr and detaches the jailer, so init, not the helper, reaps it.
helper_stop
check helper-start-old helper_start "$T/fcold/firecracker"
config "$T/fcold/firecracker"
user_daemon_start && ok user-daemon-start-old || fail "user-daemon-start-old: $(tail -5 "$T/daemon.log")"
as_user mkdir "$FS/vms/u2"
check u-old-start as_user sh -c "echo start > '$FS/vms/u2/ctl'"
upid=$(as_user awk '$1=="pid"{print $2}' "$FS/vms/u2/status")
check u-old-log as_user grep -q 'serial on stdout)' "$FS/vms/u2/log"
[ "$(stat -c %i "$T/ustate/jail/u2/root/vmm.log")" = "$(stat -c %i "$T/ustate/vms/u2/vmm.log")" ] &&
	ok u-old-vmm-log-linked || fail u-old-vmm-log-linked
[ "$(ps -o user= -p "$upid")" = "$USER_NAME" ] && ok u-old-vmm-runs-as-user || fail "u-old-vmm-runs-as-user: $(ps -o user= -p "$upid")"
[ "$(ps -o ppid= -p "$upid" | tr -d ' ')" != "$ROOTD_PID" ] && ok u-old-vmm-not-helper-child || fail u-old-vmm-not-helper-child
check u-old-console-boots wait_file "$T/ustate/vms/u2/console.log" 'Linux version' 120
check u-old-kill as_user sh -c "echo kill > '$FS/vms/u2/ctl'"
sleep 0.5
gone "$upid" && ok u-old-vmm-gone || fail "u-old-vmm-gone: $upid"
check u-old-rmdir as_user rmdir "$FS/vms/u2"
[ ! -e "$T/ustate/jail/u2" ] && ok u-old-delete-removes-jail || fail u-old-delete-removes-jail
user_daemon_stop
helper_stop
check helper-restart helper_start "$FC"

# ======================================================================
# (c) JAIL_LAUNCH over the real socket, as the owner
# ======================================================================
cli() { as_user "$CLI" "$SOCK" "$@"; }
alive() { kill -0 "$ROOTD_PID" 2>/dev/null && cli PING 2>&1 | grep -q '^status 0:'; }
expect() { # expect NAME STATUS PATTERN LOGPATTERN -- CMD...
	local name=$1 want=$2 pat=$3 logpat=$4 out before
	shift 5
	before=$(wc -l <"$RLOG")
	out=$("$@" 2>&1)
	if ! grep -q "^status $want:" <<<"$out" || ! grep -qF -- "$pat" <<<"$out"; then
		fail "$name: got '$(tr '\n' ' ' <<<"$out")', want status $want and '$pat'"
		return
	fi
	if [ "$logpat" != - ] && ! tail -n +"$((before + 1))" "$RLOG" | grep -qF -- "$logpat"; then
		fail "$name: the log lacks '$logpat': $(tail -n +"$((before + 1))" "$RLOG" | tr '\n' ' ')"
		return
	fi
	alive || { fail "$name: the helper is gone or does not answer"; return; }
	ok "$name"
}
REJ="rejected priv operation JAIL_LAUNCH from uid $uid"
J=$T/ustate/jail
as_user mkdir -p "$J"
mkjail() { as_user mkdir -p "$J/$1/root"; } # a jail root as bangerd makes it

expect jl-id-slash -22 "may contain only letters" "$REJ" -- cli JAIL_LAUNCH 'a/b' api
expect jl-id-dotdot -22 "may contain only letters" "$REJ" -- cli JAIL_LAUNCH '..' api
expect jl-id-65 -22 "longer than 64" "$REJ" -- cli JAIL_LAUNCH "$(printf 'a%.0s' $(seq 1 65))" api
expect jl-id-empty -22 "empty jail id" "$REJ" -- cli JAIL_LAUNCH '' api
expect jl-bad-mode -22 "neither api nor stdout" "$REJ" -- cli JAIL_LAUNCH ok bogus
expect jl-root-missing -2 "the jail root must exist" "$REJ" -- cli JAIL_LAUNCH nojail api
as_user mkdir -p "$J/lnk"
as_user ln -s /etc "$J/lnk/root"
expect jl-root-symlink -40 "is a symlink" "$REJ" -- cli JAIL_LAUNCH lnk api
mkjail real
as_user ln -s "$J/real" "$J/lnkid"
expect jl-id-dir-symlink -40 "is a symlink" "$REJ" -- cli JAIL_LAUNCH lnkid api
install -d -o root -g root -m 0755 "$J/other" "$J/other/root"
expect jl-root-foreign -1 "owned by uid 0, not by uid $uid" "$REJ" -- cli JAIL_LAUNCH other api
as_user mkdir -p "$J/filer"
as_user touch "$J/filer/root"
expect jl-root-not-dir -20 "not a directory" "$REJ" -- cli JAIL_LAUNCH filer api
mkjail pf
echo victim >"$T/victim"
as_user ln -s "$T/victim" "$J/pf/root/firecracker.pid"
expect jl-pidfile-symlink -17 "already exists; the jailer writes the pid file itself" "$REJ" -- cli JAIL_LAUNCH pf api
[ "$(cat "$T/victim")" = victim ] && ok jl-pidfile-victim-untouched || fail jl-pidfile-victim-untouched
# The exec file's destination: the jailer refuses a symlink or a hard link
# there (§4), so root writes nothing through it.
mkjail xs
as_user ln -s "$T/victim" "$J/xs/root/firecracker"
expect jl-exec-dest-symlink -10 "Failed to copy" "priv operation JAIL_LAUNCH from uid $uid failed" -- cli JAIL_LAUNCH xs api
[ "$(cat "$T/victim")" = victim ] && ok jl-exec-dest-symlink-victim-untouched || fail jl-exec-dest-symlink-victim-untouched
mkjail xh
as_user sh -c "echo mine > '$J/mine' && ln '$J/mine' '$J/xh/root/firecracker'"
expect jl-exec-dest-hardlink -10 "Failed to copy" "priv operation JAIL_LAUNCH from uid $uid failed" -- cli JAIL_LAUNCH xh api
[ "$(cat "$J/mine")" = mine ] && ok jl-exec-dest-hardlink-untouched || fail jl-exec-dest-hardlink-untouched
# stdout mode wants console.log and vmm.log of the owner in the jail.
mkjail so
as_user touch "$J/so/root/console.log"
as_user ln -s /etc/shadow "$J/so/root/vmm.log"
expect jl-stdout-log-symlink -40 "symlink" "$REJ" -- cli JAIL_LAUNCH so stdout
as_user rm -f "$J/so/root/vmm.log"
touch "$J/so/root/vmm.log" # root's, not the owner's
expect jl-stdout-log-foreign -1 "not a plain regular file owned by uid $uid" "$REJ" -- cli JAIL_LAUNCH so stdout
rm -f "$J/so/root/vmm.log"

# The happy paths through the CLI.  api: daemonized, the pid is answered.
mkjail ok1
out=$(cli JAIL_LAUNCH ok1 api 2>&1)
cpid=$(sed -n 2p <<<"$out")
if grep -q '^status 0:' <<<"$out" && [ "$(ps -o user= -p "$cpid")" = "$USER_NAME" ]; then ok jl-launch-api; else fail "jl-launch-api: $out"; fi
# A resend (lost reply) is refused: the pid file exists.
expect jl-resend-refused -17 "already exists" "$REJ" -- cli JAIL_LAUNCH ok1 api
kill -KILL "$cpid" 2>/dev/null
# stdout: not daemonized; bangerd-root detaches it (init reaps it), stdout
# and stderr go to the jail's console.log and vmm.log.
mkjail ok2
as_user touch "$J/ok2/root/console.log" "$J/ok2/root/vmm.log"
out=$(cli JAIL_LAUNCH ok2 stdout 2>&1)
cpid=$(sed -n 2p <<<"$out")
if grep -q '^status 0:' <<<"$out" && [ "$(ps -o user= -p "$cpid")" = "$USER_NAME" ]; then
	ok jl-launch-stdout; else fail "jl-launch-stdout: $out"; fi
[ "$(ps -o ppid= -p "$cpid" | tr -d ' ')" != "$ROOTD_PID" ] && ok jl-stdout-detached || fail jl-stdout-detached
check jl-stdout-on-console wait_file "$J/ok2/root/console.log" 'Running Firecracker v' 10
kill -KILL "$cpid" 2>/dev/null
sleep 0.3
[ -z "$(ps -o pid= --ppid "$ROOTD_PID")" ] && ok jl-helper-no-children || fail "jl-helper-no-children: $(ps -o pid,stat,args --ppid "$ROOTD_PID")"

# A helper without --jailer offers no JAIL_LAUNCH.
helper_stop
nsenter --net="/run/netns/$NS" -- "$ROOTD" --socket "$SOCK" --owner "$USER_NAME" --state-dir "$T/ustate" \
	--runtime-dir "$T/rt" --cache-dir "$T/ucache" >>"$RLOG" 2>&1 &
ROOTD_PID=$!
for _ in $(seq 1 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
mkjail nj
expect jl-no-jailer -95 "started without --jailer" - -- cli JAIL_LAUNCH nj api
helper_stop
out=$("$ROOTD" --socket "$SOCK" --owner "$USER_NAME" --state-dir "$T/ustate" --runtime-dir "$T/rt" \
	--cache-dir "$T/ucache" --jailer "$JAILER" --firecracker "$J/mine" 2>&1)
case $out in *"is not an executable regular file"* | *"must be owned by root"*) ok helper-refuses-owner-binary ;; *) fail "helper-refuses-owner-binary: $out" ;; esac
# Sanitizer builds: any report from the helper fails (lib.sh checks the daemon's log).
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$RLOG"; then
	fail "helper-sanitizer-clean: $(grep -A20 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$RLOG" | head -30)"
else
	ok helper-sanitizer-clean
fi
finish
