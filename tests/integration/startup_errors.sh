#!/bin/bash
# A bundle the daemon cannot import at start (here: its state directory is
# a 100 MiB tmpfs, the image needs more) is not only a line of its log:
# the top err file says it, doctor has a "fail import" line, images/NAME
# is a failed entry whose err says why, a VM's start names it (with the
# import's errno), nothing half-imported is left behind, and once there
# is room "rescan" imports it.  No guest is booted here.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
setup
IMG=debian-bookworm-mini
KERN=debian-cloud-amd64
mkdir -p "$T/state"
mount -t tmpfs -o size=100m,mode=0700 banger-test "$T/state" || { fail "tmpfs"; finish; exit 1; }
# (lazily unmounted before teardown removes $T)
trap 'umount -l "$T/state" 2>/dev/null; teardown' EXIT
cat >"$T/cfg/config.toml" <<CFG
default_image_name = "$IMG"
default_kernel_name = "$KERN"
firecracker_bin = "$T/no-such-firecracker"
CFG
DAEMON_START_WAIT=600 daemon_start || { fail "daemon-start"; finish; exit 1; }
ok daemon-starts-despite-failed-import

check kernel-imported [ "$(cat "$FS/kernels/$KERN/state")" = ready ]
top=$(cat "$FS/err")
case $top in
*"image '$IMG' in the image cache was not imported"*"No space left on device"*) ok top-err-names-it ;;
*) fail "top-err-names-it: '$top'" ;;
esac
doc=$(grep "^fail import image '$IMG'" "$FS/doctor")
case $doc in
*"$T/imgcache/images/$IMG"*"No space left on device"*"rescan"*) ok doctor-fail-import ;;
*) fail "doctor-fail-import: '$doc' in $(cat "$FS/doctor")" ;;
esac
check image-entry-failed [ "$(cat "$FS/images/$IMG/state")" = failed ]
check image-entry-err grep -q "No space left on device" "$FS/images/$IMG/err"
left=$(find "$T/state/images" -mindepth 1 -maxdepth 1 2>/dev/null)
[ -z "$left" ] && ok nothing-half-imported || fail "nothing-half-imported: $left"

mkdir "$FS/vms/box"
r=$(try_write "$FS/vms/box/ctl" start)
case $r in
*"No space left on device"*) ok start-errno-enospc ;;
*) fail "start-errno-enospc: '$r'" ;;
esac
e=$(cat "$FS/vms/box/err")
case $e in
*"image '$IMG' is not registered: importing it from $T/imgcache/images/$IMG failed"*"No space left"*) ok start-err-names-import ;;
*) fail "start-err-names-import: '$e'" ;;
esac
check vm-still-created [ "$(cat "$FS/vms/box/state")" = created ]

# A rescan while there is still no room fails the write and says why.
r=$(try_write "$FS/ctl" rescan)
case $r in *"No space left on device"*) ok rescan-still-fails ;; *) fail "rescan-still-fails: '$r'" ;; esac

# Room made: rescan imports it; the failed entry, the doctor line go.
mount -o remount,size=1g "$T/state" && ok tmpfs-grown || fail tmpfs-grown
r=$(try_write "$FS/ctl" rescan)
[ "$r" = ok ] && ok rescan-imports || fail "rescan-imports: '$r' ($(cat "$FS/err"))"
check image-entry-ready [ "$(cat "$FS/images/$IMG/state")" = ready ]
check doctor-no-fail-import bash -c "! grep -q '^fail import' '$FS/doctor'"
check image-err-cleared [ -z "$(cat "$FS/images/$IMG/err")" ]

daemon_stop
finish
