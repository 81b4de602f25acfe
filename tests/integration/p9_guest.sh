#!/bin/bash
# The 9P export mounted by the Linux kernel's v9fs (a client the project did
# not write) from inside a banger guest, over trans=tcp to the bridge
# gateway in the test's namespace: mkdir, echo, cat, rmdir, and the errnos.
#
# The guest runs Debian's standard kernel (the cloud kernel has no 9p): the
# bundle images/kernel-9p.sh builds, kept in its own cache
# (P9_KERNEL_CACHE, default /var/cache/banger/p9; built there when absent,
# about a minute). One guest is booted (TCG: 20-40 s).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
KCACHE=${P9_KERNEL_CACHE:-/var/cache/banger/p9}
KDIR=$KCACHE/kernels/debian-amd64-9p
if [ ! -f "$KDIR/manifest.json" ]; then
	mkdir -p "$KCACHE/kernels"
	if ! images/kernel-9p.sh "$KDIR" >"$KCACHE/build.log" 2>&1; then
		tail -20 "$KCACHE/build.log"
		fail "kernel-9p-bundle: images/kernel-9p.sh failed"
		finish
		exit 1
	fi
fi
setup
ln -s "$KDIR" "$T/imgcache/kernels/"
PORT=5640
# Every address of this namespace (its loopback, and the bridge once the
# first VM starts): the namespace is the test's own.
daemon_start --9p-listen "tcp!0.0.0.0!$PORT" || { fail "daemon-start"; finish; exit 1; }
export BANGER_SSH_TIMEOUT=240

check kernel-registered test -d "$FS/kernels/debian-amd64-9p"
mkdir "$FS/vms/g"
echo debian-amd64-9p > "$FS/vms/g/kernel"
echo 1024 > "$FS/vms/g/memory_mib"
if ! echo start > "$FS/vms/g/ctl"; then
	fail "guest-start: $(cat "$FS/vms/g/err")"
	finish
	exit 1
fi
st() { awk -v k="$1" '$1 == k { print $2 }' "$FS/vms/g/status"; }
for _ in $(seq 1 240); do
	case $(st ssh) in ready | failed) break ;; esac
	sleep 1
done
if [ "$(st ssh)" != ready ]; then
	fail "guest-ssh-ready: ssh $(st ssh); $(cat "$FS/vms/g/err"); console: $(tail -c 1500 "$T/state/vms/g/console.log")"
	finish
	exit 1
fi
ok guest-ssh-ready
# g CMD: a shell command in the guest; output in $T/out (stdout and stderr).
g() { in_ns "$SHIM" vm ssh g -- sh -c "$1" </dev/null >"$T/out" 2>&1; }
out() { cat "$T/out"; }
same() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: '$2', want '$3'"; fi; }
has() { case $2 in *$3*) ok "$1" ;; *) fail "$1: '$2' lacks '$3'" ;; esac; }

g 'uname -r' && has guest-standard-kernel "$(out)" "-amd64"
gw=$(in_ns ip -4 -o addr show | awk '$2 !~ /^(lo|bn-)/ && $4 ~ /^172\./ { sub("/.*", "", $4); print $4; exit }')
if g "mkdir -p /mnt/b && mount -t 9p -o trans=tcp,port=$PORT,version=9p2000.L,uname=root $gw /mnt/b"; then
	ok v9fs-mount
else
	fail "v9fs-mount: $(out)"
	finish
	exit 1
fi
g 'head -n 1 /mnt/b/README' && same v9fs-cat-readme "$(out)" "banger control tree"
g 'cat /mnt/b/vms/g/state' && same v9fs-cat-state "$(out)" "running"
g 'ls /mnt/b/vms' && same v9fs-ls-vms "$(out)" "$(printf 'clone\ng')" # vms/clone is a file of vms/
g 'grep "^state " /mnt/b/vms/g/status' && same v9fs-cat-status "$(out)" "state running"
# A stream (size 0 in getattr) is read by offset: the guest reads its own
# serial console through the export.
g 'head -c 64 /mnt/b/vms/g/console | wc -c' && same v9fs-console "$(out)" "64"
g 'mkdir /mnt/b/vms/v9' && ok v9fs-mkdir || fail "v9fs-mkdir: $(out)"
check v9fs-mkdir-on-host test -d "$FS/vms/v9"
g 'echo 2 > /mnt/b/vms/v9/vcpu' && ok v9fs-echo || fail "v9fs-echo: $(out)"
same v9fs-echo-on-host "$(cat "$FS/vms/v9/vcpu")" "2"
g 'cat /mnt/b/vms/v9/vcpu' && same v9fs-cat-back "$(out)" "2"
# A refused write: the server answers Rlerror ERANGE / EINVAL (p9.sh checks
# the errnos with the in-tree client), which Linux 6.1's v9fs hands to the
# writer as EIO; the reason is in the err file, as over FUSE.
g 'echo 0 > /mnt/b/vms/v9/vcpu' && fail "v9fs-write-refused: the write succeeded" || ok v9fs-write-refused
g 'cat /mnt/b/vms/v9/err' && has v9fs-err-file "$(out)" "between 1 and 32"
g 'echo bogus > /mnt/b/vms/v9/ctl' && fail "v9fs-ctl-refused: the write succeeded" || ok v9fs-ctl-refused
g 'cat /mnt/b/vms/v9/err' && has v9fs-ctl-err-file "$(out)" "unknown command 'bogus'"
g 'mkdir /mnt/b/vms/Bad_Name'; has v9fs-bad-name "$(out)" "Invalid argument"
g 'echo x > /mnt/b/vms/v9/state'; has v9fs-readonly "$(out)" "Permission denied"
g 'rmdir /mnt/b/vms/g'; has v9fs-rmdir-running "$(out)" "busy"
g 'rmdir /mnt/b/vms/v9' && ok v9fs-rmdir || fail "v9fs-rmdir: $(out)"
check v9fs-rmdir-on-host test ! -e "$FS/vms/v9"
g 'umount /mnt/b' && ok v9fs-umount || fail "v9fs-umount: $(out)"
echo kill > "$FS/vms/g/ctl"
finish
