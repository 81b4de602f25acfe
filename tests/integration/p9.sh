#!/bin/bash
# The 9P export (docs/9p.md) against a real daemon: diod's diodcat and
# diodls (9P2000.L clients the project did not write) over the Unix socket
# and over the TCP listener on the test namespace's loopback, and the
# in-tree client (tests/p9/p9c) for 9P2000, ORCLOSE, errors and flush, and
# random hostile traffic (tests/p9/chaos.py).
# One guest is started (QEMU, not waited for) for the blocking console read.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
P9C=$BUILD/tests/p9c
[ -x "$P9C" ] || { echo "build $P9C first (make unit)"; exit 1; }
setup
PORT=5640
daemon_start --9p-listen "tcp!127.0.0.1!$PORT" || { fail "daemon-start"; finish; exit 1; }
SOCK=$T/9p.sock
p9() { in_ns "$P9C" "$SOCK" "$@"; }          # 9P2000
p9L() { in_ns "$P9C" -L "$SOCK" "$@"; }       # 9P2000.L
dcat() { in_ns diodcat -t 10 -s "$SOCK" -a / "$@"; }
dls() { in_ns diodls -t 10 -s "$SOCK" -a / "$@"; }

expect() { # expect NAME RESULT PATTERN: RESULT contains PATTERN
	case $2 in
	*$3*) ok "$1" ;;
	*) fail "$1: got '$2', want '$3'" ;;
	esac
}
same() { # same NAME A B
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: '$2' differs from '$3'"; fi
}

# The socket: beside the mount point, 0600, ours.
check socket-exists test -S "$SOCK"
same socket-mode "$(stat -c '%a %u' "$SOCK")" "600 $(id -u)"

# diod's clients, Unix socket and TCP.
same diodcat-readme "$(dcat README)" "$(cat "$FS/README")"
same diodcat-tcp "$(in_ns diodcat -t 10 -s "127.0.0.1:$PORT" -a / README)" "$(cat "$FS/README")"
mkdir "$FS/vms/web"
p9L mkdir vms/db >/dev/null
same diodls-vms "$(dls vms | grep -v '^vms:' | sort | tr '\n' ' ')" "clone db web "
same diodls-root "$(dls / | sort | tr '\n' ' ')" "$(find "$FS" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' ')"
same diodcat-status "$(dcat vms/web/status)" "$(cat "$FS/vms/web/status")"
size=$(dls -l vms/web | awk '$NF == "status" {print $5}')
same diodls-size "$size" "$(stat -c %s "$FS/vms/web/status")"
r=$(dcat nosuch 2>&1); expect diodcat-enoent "$r" "No such file or directory"
r=$(dcat vms/nosuch/state 2>&1); expect diodcat-enoent-vm "$r" "No such file or directory"
r=$(in_ns diodcat -t 10 -u 4242 -s "$SOCK" -a / README 2>&1); expect diodcat-other-uid "$r" "Permission denied"
r=$(in_ns diodcat -t 10 -s "$SOCK" -a /elsewhere README 2>&1); expect diodcat-aname "$r" "No such file or directory"

# 9P2000 through the in-tree client: the err files' sentences as Rerror.
same p9-version "$(p9 version)" "9P2000 65536"
same p9-read "$(p9 read vms/web/state)" "created"
same p9-ls "$(p9 ls vms | tr '\n' ' ')" "clone db web "
check p9-create p9 mkdir vms/box
check p9-create-visible test -d "$FS/vms/box"
r=$(p9 write vms/box/ctl bogus 2>&1); expect p9-ctl-unknown "$r" "unknown command 'bogus'"
check p9-ctl-errfile grep -q "unknown command 'bogus'" "$FS/vms/box/err"
r=$(p9 write vms/box/vcpu 0 2>&1); expect p9-vcpu-range "$r" "between 1 and 32"
r=$(p9 write vms/box/ctl stop 2>&1); expect p9-stop-created "$r" "is created: cannot stop"
r=$(p9 mkdir vms/Bad_Name 2>&1); expect p9-bad-name "$r" "lower case"
r=$(p9 mkdir vms/box 2>&1); expect p9-exists "$r" "box"
r=$(p9 mkdir images/x 2>&1); expect p9-mkdir-images "$r" "imported"
r=$(p9 write vms/box/state x 2>&1); expect p9-readonly "$r" "Permission denied"
r=$(p9 rm vms/box/state 2>&1); expect p9-rm-file "$r" "Operation not permitted"
r=$(p9 rm vms 2>&1); expect p9-rm-collection "$r" "busy"
check p9-write p9 write vms/box/vcpu 2
same p9-write-visible "$(cat "$FS/vms/box/vcpu")" "2"
check p9-remove p9 rm vms/box
check p9-remove-gone test ! -e "$FS/vms/box"
same p9-stat "$(p9 stat vms/web/ctl)" "ctl 600 $(stat -c %s "$FS/vms/web/ctl")"

# 9P2000.L through the in-tree client: errnos.
r=$(p9L write vms/web/vcpu 0 2>&1); expect p9L-vcpu-range "$r" "Numerical result out of range"
r=$(p9L mkdir vms/web 2>&1); expect p9L-exists "$r" "File exists"
r=$(p9L rm vms/nosuch 2>&1); expect p9L-rm-enoent "$r" "No such file or directory"
r=$(p9L rm vms/web/state 2>&1); expect p9L-rmdir-file "$r" "Not a directory"
same p9L-stat "$(p9L stat vms/web/status)" "100400 $(stat -c %s "$FS/vms/web/status")"
check p9L-rmdir p9L rm vms/db
check p9L-rmdir-gone test ! -e "$FS/vms/db"

# ORCLOSE: the VM lives as long as the fid (the base for `clone`).
check p9-orclose p9 orclose vms/tmp
check p9-orclose-gone test ! -e "$FS/vms/tmp"

# Only the owner attaches.
r=$(p9 -u nobody read README 2>&1); expect p9-attach-uname "$r" "attach refused"
r=$(in_ns "$P9C" -L -n 4242 "$SOCK" read README 2>&1); expect p9L-attach-nuname "$r" "Permission denied"

# Garbage on the socket ends that connection only.
in_ns bash -c "printf '\x05\x00\x00\x00\x64junkjunk' | socat -t 2 - UNIX-CONNECT:$SOCK" >/dev/null 2>&1
in_ns bash -c "head -c 100 /dev/urandom | socat -t 2 - UNIX-CONNECT:$SOCK" >/dev/null 2>&1
same garbage-survived "$(p9 read vms/web/state)" "created"

# A second daemon on the same socket is refused; the first keeps it.
mkdir -p "$T/fs2"
r=$(in_ns "$BANGERD" --foreground --mount "$T/fs2" --state-dir "$T/state2" --runtime-dir "$T/run2" \
	--cache-dir "$T/cache2" --image-cache "$T/imgcache" --config "$T/cfg/config.toml" \
	--9p-socket "$SOCK" 2>&1)
expect second-daemon-refused "$r" "another server answers on $SOCK"
same first-keeps-socket "$(p9 read vms/web/state)" "created"

# kill -9 leaves a stale socket; the next daemon replaces it.
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
check stale-socket-left test -S "$SOCK"
daemon_start --9p-listen "tcp!127.0.0.1!$PORT" || fail "daemon-restart"
same stale-socket-replaced "$(p9 read vms/web/state)" "created"

# One guest: a read at the end of its console blocks, gets the output as
# it comes, and a Tflush cancels a blocked read (both dialects).
echo 512 > "$FS/vms/web/memory_mib"
if p9 write vms/web/ctl start; then
	ok p9-start
	off=$(stat -c %s "$T/state/vms/web/console.log" 2>/dev/null || echo 0)
	n=$(timeout 60 "$P9C" "$SOCK" wait vms/web/console "$off" 2>&1)
	if [ "${n:-0}" -gt 0 ] 2>/dev/null; then ok p9-console-follows; else fail "p9-console-follows: '$n'"; fi
	same p9-flush "$(p9 flush vms/web/console 2>&1)" "flushed"
	same p9L-flush "$(p9L flush vms/web/console 2>&1)" "flushed"
	# A client that dies with a read parked: the daemon carries on.
	in_ns "$P9C" "$SOCK" wait vms/web/console 1099511627776 >/dev/null 2>&1 &
	w=$!
	sleep 0.5
	kill "$w" 2>/dev/null; wait "$w" 2>/dev/null
	same parked-client-gone "$(p9 read vms/web/state)" "running"
	r=$(p9 rm vms/web 2>&1); expect p9-rm-running "$r" "is running"
	# Tflush of a write being carried out (kill waits for QEMU): the write's
	# reply comes first, then Rflush.
	same p9-flush-busy-write "$(p9 flushwrite vms/web/ctl kill 2>&1)" "written, then flushed"
	same p9-killed "$(p9 read vms/web/state)" "stopped"
	# A stopped VM's console is not live: a read at its end is EOF at once.
	same p9-console-eof "$(timeout 10 "$P9C" "$SOCK" wait vms/web/console 1099511627776)" "0"
else
	fail "p9-start: $(cat "$FS/vms/web/err")"
fi
check p9L-rmdir-web p9L rm vms/web

# Hostile traffic: random types, fids, tags, bodies and sizes (tests/p9/chaos.py).
mkdir "$FS/vms/chaos"
check p9-chaos in_ns python3 tests/p9/chaos.py "$SOCK" 2000 7
same p9-after-chaos "$(p9 read README | head -1)" "banger control tree"
kill -0 "$DAEMON_PID" && ok daemon-alive || fail daemon-alive

# SIGTERM with a client still connected: the 9P side ends the connection
# and removes its socket before the domain closes.
in_ns socat -u "UNIX-CONNECT:$SOCK" - >/dev/null 2>&1 &
idle=$!
sleep 0.3
daemon_stop
kill "$idle" 2>/dev/null; wait "$idle" 2>/dev/null
check socket-removed-at-stop test ! -e "$SOCK"
finish
