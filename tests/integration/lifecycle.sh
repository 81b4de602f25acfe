#!/bin/bash
# The walking skeleton, end to end: mkdir -> start -> console -> stop ->
# rmdir on a real daemon, a real mount and a real QEMU guest; then kill -9
# of the daemon with the VM running, restart, adoption, stop.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
setup
daemon_start || { fail "daemon-start"; finish; exit 1; }

# The tree documents itself.
missing=
for f in README ctl doctor defaults err vms images kernels; do
	[ -e "$FS/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] && ok tree-layout || fail "tree-layout: missing$missing"
check defaults-provenance grep -Eq '^vcpu [0-9]+ (floor|host|config)$' "$FS/defaults"
check images-imported test -d "$FS/images/debian-bookworm-mini"
check kernels-imported test -d "$FS/kernels/debian-cloud-amd64"
check image-manifest grep -q '"kind": "image"' "$FS/images/debian-bookworm-mini/manifest"
check doctor-lines bash -c "grep -Evq '^(ok|warn|fail) ' '$FS/doctor' && exit 1 || exit 0"
# The accelerator this host allows (hosts of this kind differ): KVM only
# where /dev/kvm opens and is not a PVM host, where standard kernels hang.
if exec 9<>/dev/kvm 2>/dev/null && [ ! -e /sys/module/kvm_pvm ]; then want_accel=kvm; else want_accel=tcg; fi
exec 9>&- 2>/dev/null
check "doctor-accel-$want_accel" grep -q "^ok accel $want_accel" "$FS/doctor"

# Create.
check mkdir mkdir "$FS/vms/sandbox"
check state-created grep -qx created "$FS/vms/sandbox/state"
check ctl-lists-verbs grep -qx start "$FS/vms/sandbox/ctl"
check ls-vms bash -c "ls '$FS/vms' | grep -qx sandbox"
check set-vcpu bash -c "echo 2 > '$FS/vms/sandbox/vcpu'"
check set-memory bash -c "echo 1024 > '$FS/vms/sandbox/memory_mib'"
check config-shows grep -qx 'vcpu 2' "$FS/vms/sandbox/config"
check config-write bash -c "printf 'memory_mib 768\ndisk_size 2G\n' > '$FS/vms/sandbox/config'"
check config-applied grep -qx 'disk_size 2G' "$FS/vms/sandbox/config"

# Start: the write returns once the VMM runs.
t0=$(date +%s%N)
check start bash -c "echo start > '$FS/vms/sandbox/ctl'"
t1=$(date +%s%N)
# A follower started now receives the boot live (the prompt has no newline,
# so watch what the follower wrote rather than grepping the stream).
cat "$FS/vms/sandbox/console" > "$T/follow.txt" &
FOLLOWER=$!
echo "# start returned after $(( (t1 - t0) / 1000000 )) ms"
check state-running grep -qx running "$FS/vms/sandbox/state"
check status-pid grep -Eq '^pid [0-9]+$' "$FS/vms/sandbox/status"
check status-vcpu grep -qx 'vcpu 2' "$FS/vms/sandbox/status"
check log-has-argv grep -q 'banger: exec .*qemu-system-x86_64' "$FS/vms/sandbox/log"

for _ in $(seq 1 240); do grep -q 'login:' "$T/follow.txt" && break; sleep 1; done
if grep -q 'login:' "$T/follow.txt"; then
	ok console-login-prompt
else
	fail "console-login-prompt: no login prompt within 240 s"
fi
kill -0 "$FOLLOWER" 2>/dev/null && ok console-follower-still-waiting || fail console-follower-still-waiting
check console-kernel-banner grep -q 'Linux version' "$FS/vms/sandbox/console"
# Two readers see the same bytes.
a=$(head -c 4096 "$FS/vms/sandbox/console" | sha256sum)
b=$(head -c 4096 "$FS/vms/sandbox/console" | sha256sum)
[ "$a" = "$b" ] && ok console-two-readers || fail "console-two-readers: differ"
# A reader at EOF blocks while the VM runs (tail -f semantics).
timeout 2 cat "$FS/vms/sandbox/console" >/dev/null
[ $? -eq 124 ] && ok console-blocks-at-eof || fail "console-blocks-at-eof: cat returned"
# poll(): tail -f style readers through select/poll.  Drained to EOF, a
# poll blocks (no event within 300 ms); new console output (the guest
# writes a line to its serial port, over ssh) wakes it with POLLIN, and
# the read returns that line.
for _ in $(seq 1 240); do grep -qx 'ssh ready' "$FS/vms/sandbox/status" && break; sleep 1; done
python3 - "$FS/vms/sandbox/console" "$T/poll.ready" <<'PY' &
import os, select, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
while True:  # drain to EOF
    try:
        if not os.read(fd, 65536): sys.exit(2)   # EOF means "not live": wrong
    except BlockingIOError:
        break
p = select.poll(); p.register(fd, select.POLLIN)
if p.poll(300): sys.exit(3)                      # nothing new yet: it must block
open(sys.argv[2], "w").close()                   # tell the shell to make output
ev = p.poll(30000)
if not ev or not ev[0][1] & select.POLLIN: sys.exit(4)
data = b""
deadline = time.time() + 10
while b"banger-poll-marker" not in data and time.time() < deadline:
    try:
        data += os.read(fd, 65536)
    except BlockingIOError:
        p.poll(1000)
sys.exit(0 if b"banger-poll-marker" in data else 5)
PY
POLLER=$!
for _ in $(seq 1 50); do [ -e "$T/poll.ready" ] && break; sleep 0.1; done
in_ns sh -c "$(cat "$FS/vms/sandbox/ssh") 'echo banger-poll-marker > /dev/ttyS0'" >/dev/null 2>&1
wait "$POLLER"
rc=$?
[ "$rc" -eq 0 ] && ok console-poll-wakes-on-output || fail "console-poll-wakes-on-output: exit $rc"

# Running VMs refuse changes and deletion, with reasons in err.
r=$(try_write "$FS/vms/sandbox/vcpu" 1)
case $r in *busy*) ok running-config-ebusy ;; *) fail "running-config-ebusy: $r" ;; esac
check running-config-err grep -q 'stop it to change vcpu' "$FS/vms/sandbox/err"
r=$(rmdir "$FS/vms/sandbox" 2>&1) && fail "rmdir-running: succeeded" || {
	case $r in *busy*) ok rmdir-running-ebusy ;; *) fail "rmdir-running-ebusy: $r" ;; esac
}
r=$(try_write "$FS/vms/sandbox/ctl" start)
case $r in *busy*) ok start-twice-ebusy ;; *) fail "start-twice-ebusy: $r" ;; esac

# kill -9 the daemon: the VM keeps running; a new daemon adopts it.
pid=$(awk '$1=="pid"{print $2}' "$FS/vms/sandbox/status")
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
sleep 0.5
kill -0 "$pid" 2>/dev/null && ok vm-survives-daemon-kill || fail "vm-survives-daemon-kill"
daemon_start && ok daemon-restart-stale-mount || fail daemon-restart-stale-mount
check adopted-running grep -qx running "$FS/vms/sandbox/state"
check adopted-same-pid grep -qx "pid $pid" "$FS/vms/sandbox/status"
check adopted-logged grep -q 'adopted' "$FS/vms/sandbox/log"

# Stop: a clean guest shutdown, the write returns when stopped.
cat "$FS/vms/sandbox/console" > "$T/follow2.txt" &
FOLLOWER=$!
t0=$(date +%s%N)
check stop bash -c "echo stop > '$FS/vms/sandbox/ctl'"
t1=$(date +%s%N)
echo "# stop took $(( (t1 - t0) / 1000000 )) ms"
check state-stopped grep -qx stopped "$FS/vms/sandbox/state"
check clean-poweroff grep -q 'reboot: Power down' "$FS/vms/sandbox/console"
check no-kill-needed bash -c "! grep -q 'killing' '$FS/vms/sandbox/log'"
# Gone, or a zombie waiting for init (it was adopted, so not our child).
st=$(ps -o stat= -p "$pid" 2>/dev/null)
case $st in ""|Z*) ok vmm-gone ;; *) fail "vmm-gone: pid $pid is $st" ;; esac
for _ in $(seq 1 50); do kill -0 "$FOLLOWER" 2>/dev/null || break; sleep 0.1; done
kill -0 "$FOLLOWER" 2>/dev/null && fail "console-follower-ends-at-stop" || ok console-follower-ends-at-stop
check follower-saw-poweroff grep -q 'reboot: Power down' "$T/follow2.txt"
check console-eof-after-stop timeout 5 cat "$FS/vms/sandbox/console"

# Restart from stopped (reuses the disks), then kill.
check start-again bash -c "echo start > '$FS/vms/sandbox/ctl'"
check kill bash -c "echo kill > '$FS/vms/sandbox/ctl'"
check killed-stopped grep -qx stopped "$FS/vms/sandbox/state"

# SIGTERM unmounts cleanly.
daemon_stop
mountpoint -q "$FS" && fail "sigterm-unmounts" || ok sigterm-unmounts
daemon_start || fail daemon-start-2
check rmdir rmdir "$FS/vms/sandbox"
check rmdir-gone bash -c "[ \"\$(ls '$FS/vms')\" = clone ]"
check rmdir-disks-gone test ! -e "$T/state/vms/sandbox"
finish
