#!/bin/bash
# vmm = firecracker through the tree, against the Firecracker API double
# (tests/fc-double/firecracker, which boots the guest under QEMU/TCG):
# mkdir -> start -> console -> stop; kill -9 of the daemon, restart,
# adoption, stop; start -> kill; and a refused API call (error injection)
# that leaves the reason in err and nothing running.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
DOUBLE=$PWD/tests/fc-double/firecracker
setup
# The double reads its test hooks from the environment the daemon passes on.
export FC_DOUBLE_LOG=$T/fc-requests.jsonl
unset FC_DOUBLE_FAIL FC_DOUBLE_VERSION
cat >"$T/cfg/config.toml" <<EOF
firecracker_bin = "$DOUBLE"
vmm = "firecracker"
EOF
daemon_start || { fail "daemon-start"; finish; exit 1; }

check defaults-vmm grep -Eq '^vmm firecracker' "$FS/defaults"
check mkdir mkdir "$FS/vms/fc"
check set-vcpu bash -c "echo 2 > '$FS/vms/fc/vcpu'"
check set-memory bash -c "echo 1024 > '$FS/vms/fc/memory_mib'"

t0=$(date +%s%N)
check start bash -c "echo start > '$FS/vms/fc/ctl'"
t1=$(date +%s%N)
echo "# start returned after $(( (t1 - t0) / 1000000 )) ms"
cat "$FS/vms/fc/console" > "$T/follow.txt" &
FOLLOWER=$!
check state-running grep -qx running "$FS/vms/fc/state"
check status-pid grep -Eq '^pid [0-9]+$' "$FS/vms/fc/status"
check status-vmm grep -qx 'vmm firecracker' "$FS/vms/fc/status"
check log-has-exec grep -q 'banger: exec .*fc-double/firecracker --api-sock .*/fc.sock --id fc' "$FS/vms/fc/log"
# The driver's calls, in order, all accepted.
calls=$(jq -r '"\(.method) \(.path) \(.status)"' "$FC_DOUBLE_LOG" 2>/dev/null | grep -v '^GET /version' | tr '\n' ',')
# The daemon runs as root in the test's network namespace, so the VM has a tap.
want="PUT /logger 204,PUT /metrics 204,PUT /boot-source 204,PUT /machine-config 204,PUT /drives/rootfs 204,PUT /drives/work 204,PUT /network-interfaces/eth0 204,PUT /vsock 204,PUT /serial 204,PUT /actions 204,"
[ "$calls" = "$want" ] && ok api-call-order || fail "api-call-order: $calls"
check boot-args jq -e -s 'map(select(.path=="/boot-source")) | length == 1 and (.[0].body.boot_args | startswith("console=ttyS0 reboot=k panic=1 pci=off root=/dev/vda rw"))' "$FC_DOUBLE_LOG"
check no-unknown-fields jq -e -s 'all(.status < 400)' "$FC_DOUBLE_LOG"

for _ in $(seq 1 240); do grep -q 'login:' "$T/follow.txt" && break; sleep 1; done
if grep -q 'login:' "$T/follow.txt"; then
	ok console-login-prompt
else
	fail "console-login-prompt: no login prompt within 240 s"
fi
check console-kernel-banner grep -q 'Linux version' "$FS/vms/fc/console"
kill "$FOLLOWER" 2>/dev/null; wait "$FOLLOWER" 2>/dev/null
# The tap and MAC the daemon handed to Firecracker, and a guest reachable over them.
mac=$(cat "$FS/vms/fc/mac")
# shellcheck disable=SC2016  # $mac is a jq variable
check net-iface-body jq -e -s --arg mac "$mac" 'map(select(.path=="/network-interfaces/eth0"))[0].body | .iface_id == "eth0" and (.host_dev_name | startswith("bn-")) and .guest_mac == $mac' "$FC_DOUBLE_LOG"
for _ in $(seq 1 120); do grep -Eq '^ssh (ready|failed)' "$FS/vms/fc/status" && break; sleep 1; done
check ssh-ready-through-tap grep -qx 'ssh ready' "$FS/vms/fc/status"

# kill -9 the daemon: firecracker keeps running; a new daemon adopts it.
pid=$(awk '$1=="pid"{print $2}' "$FS/vms/fc/status")
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
sleep 0.5
kill -0 "$pid" 2>/dev/null && ok vm-survives-daemon-kill || fail "vm-survives-daemon-kill"
daemon_start && ok daemon-restart || fail daemon-restart
check adopted-running grep -qx running "$FS/vms/fc/state"
check adopted-same-pid grep -qx "pid $pid" "$FS/vms/fc/status"
check adopted-logged grep -q 'adopted firecracker' "$FS/vms/fc/log"

# Stop: SendCtrlAltDel, the VMM exits 0, the write returns when stopped.
t0=$(date +%s%N)
check stop bash -c "echo stop > '$FS/vms/fc/ctl'"
t1=$(date +%s%N)
echo "# stop took $(( (t1 - t0) / 1000000 )) ms"
check state-stopped grep -qx stopped "$FS/vms/fc/state"
check stop-sent-cad jq -e -s 'any(.path=="/actions" and .body.action_type=="SendCtrlAltDel" and .status==204)' "$FC_DOUBLE_LOG"
check no-kill-needed bash -c "! grep -q 'killing' '$FS/vms/fc/log'"
st=$(ps -o stat= -p "$pid" 2>/dev/null)
case $st in ""|Z*) ok vmm-gone ;; *) fail "vmm-gone: pid $pid is $st" ;; esac

# Start again, then kill: nothing left running, sockets removed.
check start-again bash -c "echo start > '$FS/vms/fc/ctl'"
pid=$(awk '$1=="pid"{print $2}' "$FS/vms/fc/status")
api=$(find "$T/run" -name fc.sock 2>/dev/null | head -1)
[ -n "$api" ] && ok api-socket-exists || fail "api-socket-exists"
check kill bash -c "echo kill > '$FS/vms/fc/ctl'"
check killed-stopped grep -qx stopped "$FS/vms/fc/state"
sleep 0.5
kill -0 "$pid" 2>/dev/null && fail "killed-vmm-gone: $pid alive" || ok killed-vmm-gone
[ -n "$api" ] && [ ! -e "$api" ] && ok kill-removes-api-socket || fail "kill-removes-api-socket"
pgrep -f "$T/state/vms/fc/" >/dev/null && fail "no-qemu-left" || ok no-qemu-left

# Error injection: the double refuses PUT /drives/work.
daemon_stop
export FC_DOUBLE_FAIL="PUT /drives/work"
daemon_start || fail daemon-start-fail-injection
r=$(try_write "$FS/vms/fc/ctl" start)
[ "$r" != ok ] && ok refused-start-fails || fail "refused-start-fails: $r"
check refused-state-failed grep -qx failed "$FS/vms/fc/state"
check refused-err-has-fault grep -q 'firecracker refused PUT /drives/work: fc-double: injected failure' "$FS/vms/fc/err"
echo "# err: $(cat "$FS/vms/fc/err")"
pgrep -f -- "--api-sock $T/" >/dev/null && fail "refused-nothing-running" || ok refused-nothing-running
[ "$(in_ns ip -o link show | grep -c ' bn-')" = 0 ] && ok refused-no-tap || fail "refused-no-tap: $(in_ns ip -o link show | grep ' bn-')"
check refused-rmdir-removes-disks bash -c "rmdir '$FS/vms/fc' && [ ! -e '$T/state/vms/fc' ]"
[ -z "$(find "$T/run" -name '*.sock' 2>/dev/null)" ] && ok refused-no-sockets || fail "refused-no-sockets: $(find "$T/run" -name '*.sock')"
unset FC_DOUBLE_FAIL

# With vmm = auto, a Firecracker binary is not enough: KVM here cannot boot a
# standard guest (PVM), so auto picks QEMU and says why.
daemon_stop
cat >"$T/cfg/config.toml" <<EOF
firecracker_bin = "$DOUBLE"
vmm = "auto"
EOF
daemon_start || fail daemon-start-auto
check auto-defaults-qemu grep -qx 'vmm qemu auto' "$FS/defaults"
check auto-doctor-why grep -q '^ok vmm qemu (auto: firecracker found, but KVM cannot boot a standard guest' "$FS/doctor"
mkdir "$FS/vms/auto"
check auto-status-qemu grep -qx 'vmm qemu' "$FS/vms/auto/status"
finish
