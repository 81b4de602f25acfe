#!/bin/bash
# What the build machines cannot prove (docs/firecracker.md, "What is not
# proven here"): the real Firecracker, under the units' sandboxes, boots a
# guest; jailed, the real jailer's mount namespace, pivot_root and chroot
# work under bangerd-root.service with its jailer drop-in.  For a host with
# a usable /dev/kvm, Firecracker and its jailer, and banger installed as a
# service:
#
#   sudo banger system install --owner "$USER" \
#        [--jailer /usr/local/bin/jailer --firecracker /usr/local/bin/firecracker]
#   # the owner's ~/.config/banger/config.toml: vmm = "firecracker",
#   # firecracker_bin = the same Firecracker, jailer_bin = the jailer (or unset)
#   sudo tests/kvmhost/firecracker-service.sh --owner "$USER"
#
# Runs as root (it reads the journal and the processes' status); every VM
# operation goes through the tree as the owner.  It makes one VM
# ("fc-check"), boots it, waits for banger's ssh readiness, runs a command
# in it, stops and deletes it, then looks for what a sandbox would have
# refused: seccomp kills (SIGSYS, audit type 1326) in the kernel log,
# "Operation not permitted"/"Bad system call" from Firecracker or the
# jailer in the units' journals and the VM's log.  Prints "ok NAME" /
# "FAIL NAME: why" lines and "N passed, N failed"; exits 1 on a failure.
# Nothing here runs in make test (no KVM there).
set -u
OWNER=
while [ $# -gt 0 ]; do
	case $1 in
	--owner) OWNER=${2:-}; shift ;;
	*) echo "usage: $0 --owner USER" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$OWNER" ] || { echo "usage: $0 --owner USER" >&2; exit 2; }
PASS=0 FAIL=0
ok() { echo "ok $*"; PASS=$((PASS + 1)); }
fail() { echo "FAIL $*"; FAIL=$((FAIL + 1)); }
finish() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ]; }
as_owner() { runuser -u "$OWNER" -- "$@"; }
FS=/run/banger/fs
VM=fc-check

[ "$(id -u)" -eq 0 ] || { fail "root: run it with sudo"; finish; exit 1; }
[ -d /run/systemd/system ] || { fail "systemd: not PID 1 here"; finish; exit 1; }
[ -c /dev/kvm ] && ok kvm-present || fail "kvm-present: no /dev/kvm"
for u in bangerd-root bangerd; do
	s=$(systemctl is-active "$u.service")
	[ "$s" = active ] && ok "$u-active" || fail "$u-active: $s"
done
doctor=$(as_owner cat "$FS/doctor" 2>&1) || { fail "tree: $doctor"; finish; exit 1; }
grep -q '^ok kvm ' <<<"$doctor" && ok doctor-kvm || fail "doctor-kvm: $(grep '^[a-z]* kvm ' <<<"$doctor")"
vmm=$(grep '^ok vmm ' <<<"$doctor")
case $vmm in *"ok vmm firecracker"*) ok doctor-vmm ;; *) fail "doctor-vmm: '$vmm' (set vmm = \"firecracker\")" ;; esac
jailer=$(grep ' jailer ' <<<"$doctor")
echo "# $jailer"
since=$(date '+%Y-%m-%d %H:%M:%S')

as_owner rmdir "$FS/vms/$VM" 2>/dev/null
if as_owner mkdir "$FS/vms/$VM" && as_owner sh -c "echo firecracker > $FS/vms/$VM/vmm"; then
	ok vm-create
else
	fail "vm-create"; finish; exit 1
fi
if as_owner sh -c "echo start > $FS/vms/$VM/ctl"; then ok vm-start; else
	fail "vm-start: $(as_owner cat "$FS/vms/$VM/err")"
fi
st() { as_owner awk -v k="$1" '$1 == k { print $2 }' "$FS/vms/$VM/status"; }
for _ in $(seq 1 120); do
	case $(st ssh) in ready | failed) break ;; esac
	sleep 1
done
[ "$(st ssh)" = ready ] && ok guest-ssh-ready || fail "guest-ssh-ready: $(st ssh); $(as_owner tail -c 800 "$FS/vms/$VM/console")"
pid=$(st pid)
if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
	# Seccomp_filters counts the unit's filter and Firecracker's own.
	grep -E '^(Name|Uid|NoNewPrivs|Seccomp|Seccomp_filters|CapEff):' "/proc/$pid/status" |
		tr -s '\t' ' ' | sed 's/^/# firecracker /'
	[ "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")" = "$(id -u "$OWNER")" ] &&
		ok firecracker-runs-as-owner || fail "firecracker-runs-as-owner"
	case $jailer in *"jailer none"*) ;; *)
		root=$(readlink "/proc/$pid/root")
		[ "$root" != / ] && ok "jailed-chroot ($root)" || fail "jailed-chroot: / is the host's" ;;
	esac
fi
out=$(as_owner banger vm ssh "$VM" -- uname -r 2>&1) && ok "guest-command ($out)" ||
	fail "guest-command: $out"
as_owner sh -c "echo stop > $FS/vms/$VM/ctl" && ok vm-stop || fail "vm-stop: $(as_owner cat "$FS/vms/$VM/err")"
log=$(as_owner cat "$FS/vms/$VM/log" 2>&1)
as_owner rmdir "$FS/vms/$VM" && ok vm-delete || fail vm-delete

k=$(journalctl -k --since "$since" --no-pager 2>/dev/null | grep -iE 'audit.*(type=1326|seccomp)|firecracker.*(SIGSYS|signal 31)')
[ -z "$k" ] && ok no-seccomp-kill-in-kernel-log || fail "no-seccomp-kill-in-kernel-log: $k"
j=$(journalctl -u bangerd.service -u bangerd-root.service --since "$since" --no-pager 2>/dev/null |
	grep -iE 'bad system call|SIGSYS|seccomp|operation not permitted|permission denied')
[ -z "$j" ] && ok no-denial-in-journals || fail "no-denial-in-journals: $j"
l=$(grep -iE 'bad system call|SIGSYS|seccomp|operation not permitted|permission denied' <<<"$log")
[ -z "$l" ] && ok no-denial-in-vm-log || fail "no-denial-in-vm-log: $l"
finish
