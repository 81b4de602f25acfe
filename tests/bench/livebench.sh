#!/bin/bash
# make bench-live: the live tree's figures (issue 14), each against a
# baseline measured in the same run; medians of ROUNDS (or BOOTS) runs.
#   1. stat and open+read+close of vms/X/status vs a plain file (treebench)
#   2. reads of status over 9P (tests/p9/p9c) vs the same on a plain file
#   3. idle wakeups of the daemon over 10 s, no VM
#   4. `cat ready` after readiness vs the shim's former loop (a read of
#      status every 0.2 s), both against the daemon's "ssh ready" log line
#   5. idle wakeups with a booted VM
#   6. the port forward: iperf3 on loopback directly vs through
#      core/portfwd.c (tests/bench/fwdbench); and MB bytes into a sink in
#      the TCG guest, directly vs through vms/X/ports/
# Results go to $BUILD/bench-live.txt; docs/benchmarks.md records them.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ROUNDS=${ROUNDS:-5}
OPS=${OPS:-200}
N=${N:-5000}
BOOTS=${BOOTS:-3}
MB=${MB:-200}
TB=$BUILD/bench/treebench
FB=$BUILD/bench/fwdbench
P9C=$BUILD/tests/p9c
OUT=$BUILD/bench-live.txt
for b in "$TB" "$FB" "$P9C"; do [ -x "$b" ] || { echo "build $b first (make bench-live)"; exit 1; }; done
setup
daemon_start || exit 1
: >"$OUT"
say() { echo "$*" | tee -a "$OUT"; }
med() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3g", a / b; else print "n/a" }'; }
field() { awk -v k="$2" '$1==k{print $2}' "$1"; }
now_ms() { date +%s%3N; }

say "# live tree bench $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cpus, load $(cut -d' ' -f1 /proc/loadavg)"

# 1. stat and read of status: the tree against a plain directory.
mkdir -p "$T/plain"
for k in stat_per_s read_per_s; do : >"$T/tree.$k"; : >"$T/plain.$k"; done
for i in $(seq 1 "$ROUNDS"); do
	"$TB" ops "$FS/vms" "$OPS" >"$T/t.txt" || { echo "treebench failed"; exit 1; }
	"$TB" ops "$T/plain" "$OPS" >"$T/p.txt" || exit 1
	for k in stat_per_s read_per_s; do
		field "$T/t.txt" $k >>"$T/tree.$k"
		field "$T/p.txt" $k >>"$T/plain.$k"
	done
done
for k in stat_per_s read_per_s; do
	a=$(med <"$T/tree.$k"); b=$(med <"$T/plain.$k")
	say "status $k tree $a plain-file $b ratio $(ratio "$a" "$b") (median of $ROUNDS rounds of $((OPS * 20)))"
done

# 2. 9P reads of status against a plain file with the same text.
mkdir "$FS/vms/web"
cat "$FS/vms/web/status" >"$T/plain-status"
in_ns "$P9C" "$T/9p.sock" bench "$N" "$ROUNDS" vms/web/status >"$T/p9.txt" || exit 1
"$P9C" local "$N" "$ROUNDS" "$T/plain-status" >"$T/local.txt" || exit 1
for k in pread0 cat; do
	a=$(field "$T/p9.txt" $k); b=$(field "$T/local.txt" $k)
	say "9p status $k $a/s plain-file $b/s ratio $(ratio "$a" "$b")"
done

# 3. and 5. idle wakeups: every thread's context switches over 10 s.
csw() {
	local t=0 v f
	for f in /proc/"$DAEMON_PID"/task/*/status; do
		v=$(awk '/ctxt_switches/ { s += $2 } END { print s + 0 }' "$f" 2>/dev/null)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
idle_wakeups() { local a; a=$(csw); sleep 10; echo $(($(csw) - a)); }
w0=$(idle_wakeups)
say "idle_wakeups_10s no-vm $w0 threads $(find /proc/"$DAEMON_PID"/task -mindepth 1 -maxdepth 1 | wc -l) (goal 0)"

# 4. ready: the moment of readiness is the daemon's log line "vm web: ssh
#    ready at ..." (ms); `cat ready` and a loop reading status every 0.2 s
#    (the shim before) both start at the start write.
echo 512 >"$FS/vms/web/memory_mib"
lat_r=() lat_p=()
for i in $(seq 1 "$BOOTS"); do
	before=$(grep -c 'vm web: ssh ready at' "$T/daemon.log")
	echo start >"$FS/vms/web/ctl" || { echo "start failed: $(cat "$FS/vms/web/err")"; exit 1; }
	(timeout 400 cat "$FS/vms/web/ready" >"$T/ready.out"; now_ms >"$T/ready.t") &
	rp=$!
	(for _ in $(seq 1 2000); do grep -qx 'ssh ready' "$FS/vms/web/status" && break; sleep 0.2; done
	 now_ms >"$T/poll.t") &
	pp=$!
	wait "$rp" "$pp"
	[ "$(cat "$T/ready.out")" = ready ] || { echo "ready said: $(cat "$T/ready.out")"; exit 1; }
	line=$(grep 'vm web: ssh ready at' "$T/daemon.log" | sed -n "$((before + 1))p")
	t_ready=$(date -d "${line%% *}" +%s%3N)
	lat_r+=("$(($(cat "$T/ready.t") - t_ready))")
	lat_p+=("$(($(cat "$T/poll.t") - t_ready))")
	echo "# boot $i: cat ready returned ${lat_r[-1]} ms after readiness, the 0.2 s loop ${lat_p[-1]} ms"
	[ "$i" = "$BOOTS" ] || echo kill >"$FS/vms/web/ctl"
done
a=$(printf '%s\n' "${lat_r[@]}" | med); b=$(printf '%s\n' "${lat_p[@]}" | med)
say "ready_latency_ms cat-ready $a status-every-0.2s $b (median of $BOOTS boots; goal: cat ready <= 10 ms)"

sleep 5 # the guest settles
w1=$(idle_wakeups)
say "idle_wakeups_10s one-booted-vm $w1 threads $(find /proc/"$DAEMON_PID"/task -mindepth 1 -maxdepth 1 | wc -l) (goal 0)"

# 6. the forward.  On loopback: iperf3 directly and through the forwarder.
PORT_S=25201 PORT_F=25202
in_ns iperf3 -s -p "$PORT_S" -D --logfile "$T/iperf3.log" || exit 1
sleep 0.5
coproc FWD { in_ns "$FB" "$PORT_F" "$PORT_S"; }
read -r -t 5 bound <&"${FWD[0]}"
[ "$bound" = "$PORT_F" ] || { echo "fwdbench did not start"; exit 1; }
bps() { in_ns iperf3 -c 127.0.0.1 -p "$1" -t "${IPERF_S:-5}" -J | jq '.end.sum_received.bits_per_second / 1e9'; }
d=() f=()
for i in $(seq 1 "$ROUNDS"); do
	d+=("$(bps "$PORT_S")")
	f+=("$(bps "$PORT_F")")
	echo "# iperf3 round $i: direct ${d[-1]} Gbit/s, forwarded ${f[-1]} Gbit/s"
done
eval "exec ${FWD[1]}>&-"
wait "$FWD_PID" 2>/dev/null
pkill -f -- "iperf3 -s -p $PORT_S" 2>/dev/null
a=$(printf '%s\n' "${d[@]}" | med); b=$(printf '%s\n' "${f[@]}" | med)
say "forward_loopback_gbit_s forwarded $b direct $a ratio $(ratio "$b" "$a") (iperf3, median of $ROUNDS; goal >= 0.8)"

# Into the guest: a Perl sink on 5001, MB bytes directly and through ports/.
SSHCF=$T/cfg/ssh_config
in_ns ssh -F "$SSHCF" web.vm "nohup perl -MIO::Socket::INET -e '\$s = IO::Socket::INET->new(LocalPort => 5001, Listen => 5, ReuseAddr => 1) or die; while (\$c = \$s->accept) { my \$b; while (sysread(\$c, \$b, 1 << 16)) {} close \$c }' >/dev/null 2>&1 &" || exit 1
sleep 2
mkdir "$FS/vms/web/ports/5001-15001"
IP=$(cat "$FS/vms/web/ip")
send() { # send HOST PORT: seconds to push MB MiB
	local t0
	t0=$(now_ms)
	head -c "${MB}M" /dev/zero | in_ns socat -u - "TCP:$1:$2" || return 1
	awk -v ms=$(($(now_ms) - t0)) -v mb="$MB" 'BEGIN { printf "%.1f\n", mb / (ms / 1000) }'
}
d=() f=()
for i in $(seq 1 "$ROUNDS"); do
	d+=("$(send "$IP" 5001)")
	f+=("$(send 127.0.0.1 15001)")
	echo "# guest round $i: direct ${d[-1]} MiB/s, forwarded ${f[-1]} MiB/s"
done
a=$(printf '%s\n' "${d[@]}" | med); b=$(printf '%s\n' "${f[@]}" | med)
say "forward_guest_mib_s forwarded $b direct $a ratio $(ratio "$b" "$a") ($MB MiB into a Perl sink in the TCG guest, median of $ROUNDS)"
echo kill >"$FS/vms/web/ctl"
