#!/bin/bash
# The live tree (issue 14, parts 2-4; docs/tree.md) against a real daemon:
#   vms/clone: the VM lives as long as the open file (FUSE and 9P), "keep",
#     writes are the VM's ctl, a running clone VM is destroyed at close, a
#     clone VM whose daemon died is destroyed by the next daemon;
#   ready, wait, events: blocking reads answered by the change itself, a slow
#     events reader gets "lost N", O_NONBLOCK and poll() on all three, a 9P
#     Tflush cancels a blocked read of each;
#   ports/: mkdir/rmdir forwards, busy ports, PORT-HOSTPORT, bad names, no
#     connection while the VM is down, ssh to the guest through a forward,
#     the forward again after a daemon restart with the VM running.
# One guest is booted (QEMU TCG) and shared; a clone VM is started (not
# waited for) to see it destroyed.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
P9C=$BUILD/tests/p9c
[ -x "$P9C" ] || { echo "build $P9C first (make unit)"; exit 1; }
setup
daemon_start || { fail "daemon-start"; finish; exit 1; }
SOCK=$T/9p.sock
p9() { in_ns "$P9C" "$SOCK" "$@"; }
p9L() { in_ns "$P9C" -L "$SOCK" "$@"; }
expect() { # expect NAME RESULT PATTERN: RESULT contains PATTERN
	case $2 in *$3*) ok "$1" ;; *) fail "$1: got '$2', want '$3'" ;; esac
}
same() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: '$2' differs from '$3'"; fi; }
gone_within() { # gone_within PATH SECONDS
	local _
	for _ in $(seq 1 $(($2 * 10))); do [ -e "$1" ] || return 0; sleep 0.1; done
	return 1
}
# py CODE ARGS...: a Python check (O_NONBLOCK, poll), in the test's namespace
py() { local c=$1; shift; in_ns python3 -c "$c" "$@"; }

# ---- clone over FUSE -----------------------------------------------------------
exec 3<>"$FS/vms/clone"
read -r c1 <&3
check clone-name-is-label bash -c '[[ $1 =~ ^vm-[0-9a-f]{6}$ ]]' _ "$c1"
check clone-vm-exists test -d "$FS/vms/$c1"
same clone-vm-created "$(cat "$FS/vms/$c1/state")" created
r=$( (echo bogus >&3) 2>&1) && fail "clone-write-is-ctl: bogus accepted" || ok clone-write-is-ctl
check clone-write-err grep -q "unknown command 'bogus'" "$FS/vms/$c1/err"
exec 3>&-
gone_within "$FS/vms/$c1" 10 && ok clone-close-destroys || fail "clone-close-destroys: $c1 still there"

exec 3<>"$FS/vms/clone"
read -r c2 <&3
echo keep >&3
exec 3>&-
sleep 0.5
check clone-keep-outlives test -d "$FS/vms/$c2"
check clone-keep-logged grep -q "vm $c2 kept" "$T/daemon.log"
rmdir "$FS/vms/$c2"

# a child holding the descriptor keeps the VM: it goes with the last close
exec 3<>"$FS/vms/clone"
read -r c3 <&3
sleep 30 <&3 &
holder=$!
exec 3>&-
sleep 0.5
check clone-shared-fd-keeps test -d "$FS/vms/$c3"
kill "$holder"; wait "$holder" 2>/dev/null
gone_within "$FS/vms/$c3" 10 && ok clone-last-close-destroys || fail "clone-last-close-destroys"

# ---- clone over 9P (both dialects) ------------------------------------------------
for d in 9P2000 9P2000.L; do
	flag=; [ $d = 9P2000.L ] && flag=-L
	coproc P9CL { in_ns "$P9C" $flag "$SOCK" clone; }
	read -r -t 10 n <&"${P9CL[0]}"
	check "p9-clone-exists-$d" test -d "$FS/vms/$n"
	eval "exec ${P9CL[1]}>&-" # stdin ends: p9c clunks
	wait "$P9CL_PID" 2>/dev/null
	gone_within "$FS/vms/$n" 10 && ok "p9-clone-clunk-destroys-$d" || fail "p9-clone-clunk-destroys-$d: $n"
done
n=$(p9 clone keep </dev/null | head -1)
check p9-clone-keep test -d "$FS/vms/$n"
rmdir "$FS/vms/$n"
# a connection that dies destroys its clone VMs too
coproc P9CL { in_ns "$P9C" "$SOCK" clone; }
read -r -t 10 n <&"${P9CL[0]}"
kill "$P9CL_PID" 2>/dev/null; wait "$P9CL_PID" 2>/dev/null
gone_within "$FS/vms/$n" 10 && ok p9-clone-hangup-destroys || fail "p9-clone-hangup-destroys: $n"

# ---- events --------------------------------------------------------------------
timeout 20 cat "$FS/events" >"$T/events.txt" &
evr=$!
sleep 0.5
mkdir "$FS/vms/ev1"
rmdir "$FS/vms/ev1"
for _ in $(seq 1 50); do grep -q 'ev1 deleted' "$T/events.txt" && break; sleep 0.1; done
kill "$evr" 2>/dev/null; wait "$evr" 2>/dev/null
same events-lines "$(grep ev1 "$T/events.txt" | tr '\n' ' ')" "ev1 created ev1 deleted "
# a reader that does not read loses lines, and is told how many
exec 4<"$FS/events"
for i in $(seq 1 300); do mkdir "$FS/vms/lost$i" && rmdir "$FS/vms/lost$i"; done
first=$(timeout 5 head -c 4096 <&4 | head -1)
exec 4<&-
expect events-lost "$first" "lost "
lostn=${first#lost }
check events-lost-count bash -c '[ "$1" -ge 88 ] && [ "$1" -le 600 ]' _ "$lostn"
# O_NONBLOCK: nothing new is EAGAIN; poll() wakes when a line comes
r=$(py '
import os, sys, errno
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
try:
    os.read(fd, 4096); print("data")
except BlockingIOError: print("EAGAIN")' "$FS/events")
same events-nonblock "$r" EAGAIN
py '
import os, sys, select, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
p = select.poll(); p.register(fd, select.POLLIN)
if p.poll(300): sys.exit(3)          # nothing yet
open(sys.argv[2], "w").close()       # tell the shell to make a change
if not p.poll(10000): sys.exit(4)
sys.exit(0 if b"pollme" in os.read(fd, 4096) else 5)' "$FS/events" "$T/poll.go" &
pp=$!
for _ in $(seq 1 50); do [ -e "$T/poll.go" ] && break; sleep 0.1; done
mkdir "$FS/vms/pollme"
wait "$pp"; rc=$?
[ "$rc" = 0 ] && ok events-poll || fail "events-poll: exit $rc"
rmdir "$FS/vms/pollme"
same p9-flush-events "$(p9 flush events 2>&1)" flushed
same p9L-flush-events "$(p9L flush events 2>&1)" flushed

# ---- ports, no guest yet ----------------------------------------------------------
mkdir "$FS/vms/web"
echo 512 > "$FS/vms/web/memory_mib"
mkdir "$FS/vms/web/ports/8080"
same port-addr "$(cat "$FS/vms/web/ports/8080/addr")" "127.0.0.1:8080"
same port-listed "$(ls "$FS/vms/web/ports")" 8080
# a taken port: PORT picks another, PORT-HOSTPORT refuses
in_ns python3 -c 'import socket, time, sys
s = socket.socket(); s.bind(("127.0.0.1", 8081)); s.listen(); open(sys.argv[1], "w").close(); time.sleep(60)' "$T/busy.ready" &
busy=$!
for _ in $(seq 1 50); do [ -e "$T/busy.ready" ] && break; sleep 0.1; done
mkdir "$FS/vms/web/ports/8081"
a=$(cat "$FS/vms/web/ports/8081/addr")
check port-busy-picks-another bash -c '[[ $1 =~ ^127\.0\.0\.1:[0-9]+$ ]] && [ "$1" != 127.0.0.1:8081 ]' _ "$a"
r=$(mkdir "$FS/vms/web/ports/80-8081" 2>&1) && fail "port-hostport-busy: accepted" ||
	expect port-hostport-busy "$r" "Address already in use"
check port-hostport-busy-err grep -q "8081 is in use" "$FS/vms/web/err"
kill "$busy"; wait "$busy" 2>/dev/null
mkdir "$FS/vms/web/ports/22-18022"
same port-hostport-addr "$(cat "$FS/vms/web/ports/22-18022/addr")" "127.0.0.1:18022"
for bad in 0 08080 70000 abc 22-0 22- -22 1-2-3; do
	r=$(mkdir "$FS/vms/web/ports/$bad" 2>&1) && fail "port-bad-$bad: accepted" ||
		expect "port-bad-$bad" "$r" "Invalid argument"
done
check port-bad-err grep -q "PORT or PORT-HOSTPORT" "$FS/vms/web/err"
# the VM does not run: a connection is closed at once
r=$(in_ns python3 -c 'import socket
s = socket.create_connection(("127.0.0.1", 8080), 5); s.settimeout(5)
print("closed" if s.recv(16) == b"" else "data")' 2>&1)
same port-vm-down-closed "$r" closed
rmdir "$FS/vms/web/ports/8080"
check port-rmdir-gone test ! -e "$FS/vms/web/ports/8080"
r=$(in_ns python3 -c 'import socket
try: socket.create_connection(("127.0.0.1", 8080), 5); print("connected")
except ConnectionRefusedError: print("refused")' 2>&1)
same port-rmdir-stops "$r" refused
rmdir "$FS/vms/web/ports/8081"
# over 9P too
p9L mkdir vms/web/ports/9090 >/dev/null
same p9-port-addr "$(p9 read vms/web/ports/9090/addr)" "127.0.0.1:9090"
p9L rm vms/web/ports/9090 >/dev/null
check p9-port-rm test ! -e "$FS/vms/web/ports/9090"

# ---- wait and ready with the guest ----------------------------------------------------
r=$(py '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
try:
    os.read(fd, 64); print("data")
except BlockingIOError: print("EAGAIN")' "$FS/vms/web/wait")
same wait-nonblock "$r" EAGAIN
same p9-flush-wait "$(p9 flush vms/web/wait 2>&1)" flushed
same ready-created "$(cat "$FS/vms/web/ready")" "vm 'web' is created"
timeout 120 cat "$FS/vms/web/wait" >"$T/wait1.txt" &
w1=$!
timeout 400 cat "$FS/events" >"$T/events2.txt" &
ev2=$!
sleep 0.3
if ! echo start > "$FS/vms/web/ctl"; then
	fail "start: $(cat "$FS/vms/web/err")"
	finish
	exit 1
fi
ok start
wait "$w1"
same wait-next-state "$(cat "$T/wait1.txt")" starting
# ready blocks until ssh is ready (the guest boots: tens of seconds here)
r=$(py '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
try:
    d = os.read(fd, 64); print("data:" + d.decode().strip())
except BlockingIOError: print("EAGAIN")' "$FS/vms/web/ready")
case $r in EAGAIN | "data:ready") ok ready-nonblock ;; *) fail "ready-nonblock: $r" ;; esac
if [ "$r" = EAGAIN ]; then
	same p9-flush-ready "$(p9 flush vms/web/ready 2>&1)" flushed
	py '
import os, sys, select
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
p = select.poll(); p.register(fd, select.POLLIN)
if not p.poll(400000): sys.exit(4)
sys.exit(0 if os.read(fd, 64) == b"ready\n" else 5)' "$FS/vms/web/ready" &
	rp=$!
fi
r=$(timeout 400 cat "$FS/vms/web/ready")
same ready-ready "$r" ready
same ready-status-agrees "$(awk '$1 == "ssh" { print $2 }' "$FS/vms/web/status")" ready
if [ -n "${rp:-}" ]; then wait "$rp"; rc=$?; [ "$rc" = 0 ] && ok ready-poll || fail "ready-poll: exit $rc"; fi
same ready-again-at-once "$(timeout 5 cat "$FS/vms/web/ready")" ready
sleep 0.2
kill "$ev2" 2>/dev/null; wait "$ev2" 2>/dev/null
same events-lifecycle "$(grep '^web ' "$T/events2.txt" | tr '\n' ' ')" "web starting web running web ready "
SSHCF=$T/cfg/ssh_config
check ssh-direct in_ns ssh -F "$SSHCF" -o ConnectTimeout=10 web.vm true

# ---- ports with the guest ----------------------------------------------------------
check port-ssh-through in_ns ssh -F "$SSHCF" -o HostName=127.0.0.1 -o Port=18022 \
	-o ConnectTimeout=10 web.vm true
r=$(in_ns ssh -F "$SSHCF" -o HostName=127.0.0.1 -o Port=18022 web.vm 'head -c 3000000 /dev/zero' | wc -c)
same port-bulk-bytes "$r" 3000000
# the daemon stops (the VM runs on) and starts again: the forward is made again
daemon_stop
r=$(in_ns python3 -c 'import socket
try: socket.create_connection(("127.0.0.1", 18022), 3); print("connected")
except ConnectionRefusedError: print("refused")' 2>&1)
same port-gone-without-daemon "$r" refused
daemon_start || fail daemon-restart
same port-addr-after-restart "$(cat "$FS/vms/web/ports/22-18022/addr")" "127.0.0.1:18022"
check port-ssh-after-restart in_ns ssh -F "$SSHCF" -o HostName=127.0.0.1 -o Port=18022 \
	-o ConnectTimeout=10 web.vm true
same state-after-restart "$(cat "$FS/vms/web/state")" running

# ---- a running clone VM is destroyed at close; one whose daemon died, at the next start
exec 3<>"$FS/vms/clone"
read -r c4 <&3
echo 512 > "$FS/vms/$c4/memory_mib"
echo start >&3
same clone-started "$(cat "$FS/vms/$c4/state")" running
pid=$(awk '$1 == "pid" { print $2 }' "$FS/vms/$c4/status")
exec 3>&-
gone_within "$FS/vms/$c4" 30 && ok clone-running-destroyed || fail "clone-running-destroyed: $c4"
sleep 1
kill -0 "$pid" 2>/dev/null && fail "clone-vmm-gone: pid $pid lives" || ok clone-vmm-gone
exec 3<>"$FS/vms/clone"
read -r c5 <&3
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
exec 3>&- 2>/dev/null
daemon_start || fail daemon-restart-2
check clone-orphan-reaped test ! -e "$FS/vms/$c5"
check clone-orphan-logged grep -q "vm $c5 destroyed: its clone file was closed when the daemon stopped" "$T/daemon.log"

# ---- wait sees stopping; ready of a stopped VM says why -------------------------------
timeout 60 cat "$FS/vms/web/wait" >"$T/wait2.txt" &
w2=$!
sleep 0.3
echo kill > "$FS/vms/web/ctl"
wait "$w2"
same wait-stopping "$(cat "$T/wait2.txt")" stopping
same ready-stopped "$(cat "$FS/vms/web/ready")" "vm 'web' is stopped"
timeout 10 cat "$FS/vms/web/wait" >"$T/wait3.txt" &
w3=$!
sleep 0.3
rmdir "$FS/vms/web"
wait "$w3"
same wait-deleted "$(cat "$T/wait3.txt")" deleted
finish
