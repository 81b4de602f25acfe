#!/bin/sh
# Boot a kernel bundle + root image by hand with the QEMU command line
# banger's qemu driver uses (microvm, TCG, virtio-mmio, serial to a file,
# QMP on a Unix socket).
#
#   images/qemu-boot.sh KERNELDIR ROOTFS WORKDISK [extra kernel args...]
#
# Environment:
#   RUNDIR      where console.log, qmp.sock and agent.sock go (default: a new /tmp dir)
#               agent.sock: the guest agent's virtio-serial port, as the driver makes it
#   QEMU_EXTRA  more QEMU arguments, split on spaces
#   QEMU_ACCEL  tcg (default; KVM here is a PVM nested host, DESIGN §8)
#   QEMU_SMP, QEMU_MEM   2 and 1024 by default
# QEMU runs in the foreground; stdout shows nothing (the console is in
# RUNDIR/console.log: `tail -f` it). Stop the guest cleanly with
#   printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"system_powerdown"}' |
#     socat - UNIX-CONNECT:RUNDIR/qmp.sock
# ROOTFS is used read-write: boot a copy, not the cached image.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"

[ $# -ge 3 ] || die "usage: $PROG KERNELDIR ROOTFS WORKDISK [extra kernel args...]"
kdir=$1
rootfs=$2
work=$3
shift 3
need qemu-system-x86_64
for f in "$kdir/vmlinux" "$kdir/initrd.img" "$rootfs" "$work"; do
	[ -f "$f" ] || die "$f: not a file"
done

# Host TSC frequency in kHz: under TCG about one boot in six hangs
# calibrating the TSC without tsc_early_khz (DESIGN §8).
khz=$(awk -F: '/^cpu MHz/ { printf "%d\n", $2 * 1000; exit }' /proc/cpuinfo)
case "$khz" in
	'' | *[!0-9]*) die "cannot read the host's cpu MHz from /proc/cpuinfo" ;;
esac

rundir=${RUNDIR:-$(mktemp -d /tmp/banger-qemu.XXXXXX)}
mkdir -p "$rundir"
rm -f "$rundir/qmp.sock" "$rundir/agent.sock"
: >"$rundir/console.log"

cmdline="console=ttyS0 root=/dev/vda rw tsc_early_khz=$khz panic=-1"
[ $# -gt 0 ] && cmdline="$cmdline $*"

log "console: $rundir/console.log  qmp: $rundir/qmp.sock"
log "kernel args: $cmdline"
umask 077
set -- qemu-system-x86_64 \
	-M microvm,acpi=on \
	-accel "${QEMU_ACCEL:-tcg}" \
	-cpu max \
	-smp "${QEMU_SMP:-2}" \
	-m "${QEMU_MEM:-1024}" \
	-nodefaults -no-user-config -nographic -no-reboot \
	-kernel "$kdir/vmlinux" \
	-initrd "$kdir/initrd.img" \
	-append "$cmdline" \
	-drive "id=root,file=$rootfs,format=raw,if=none" \
	-device virtio-blk-device,drive=root \
	-drive "id=work,file=$work,format=raw,if=none" \
	-device virtio-blk-device,drive=work \
	-chardev "file,id=con,path=$rundir/console.log" \
	-serial chardev:con \
	-qmp "unix:$rundir/qmp.sock,server=on,wait=off" \
	-device virtio-serial-device \
	-chardev "socket,id=agent,path=$rundir/agent.sock,server=on,wait=off" \
	-device virtserialport,chardev=agent,name=banger.agent
# Extra QEMU arguments (a NIC for a benchmark, for instance).
# shellcheck disable=SC2086 # QEMU_EXTRA is split on purpose
[ -n "${QEMU_EXTRA:-}" ] && set -- "$@" $QEMU_EXTRA
log "exec: $*"
exec "$@"
