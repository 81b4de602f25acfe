#!/bin/bash
# make bench: banger's figures against baselines measured in the same run.
#   1. tree operations (mkdir/rmdir latency, stat/read rates) vs a plain directory
#   2. `echo start` -> VMM running (control plane) vs spawning the same QEMU
#      command line by hand and waiting for its QMP socket
#   3. boot to the login prompt through banger vs the same QEMU command line by hand
#   4. `vm run -- true`, cold, and warm start-to-ssh vs QEMU + ssh by hand
#   5. a NAME.vm query to the daemon's DNS responder vs a bare UDP echo round trip
#   6. idle wakeups: context switches of every daemon thread over 10 s, idle
#      with no VM and with a booted VM (goal 0: the daemon sleeps on events)
# Medians; ratios are banger / baseline.  Results are printed and written
# to $BUILD/bench.txt; docs/benchmarks.md records them.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/integration/lib.sh
RUNS=${RUNS:-3}
OPS=${OPS:-200}
TB=$BUILD/bench/treebench # lib.sh made $BUILD absolute
DB=$BUILD/bench/dnsbench
OUT=$BUILD/bench.txt
setup
daemon_start || exit 1
: > "$OUT"
say() { echo "$*" | tee -a "$OUT"; }
med() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3g", a / b; else print "n/a" }'; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

say "# banger bench $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cpus, load $(cut -d' ' -f1 /proc/loadavg)"

# 1. Tree operations.
mkdir -p "$T/plain"
"$TB" ops "$FS/vms" "$OPS" > "$T/tree.txt" || { echo "tree ops failed"; exit 1; }
"$TB" ops "$T/plain" "$OPS" > "$T/plain.txt" || exit 1
for k in mkdir_us rmdir_us stat_per_s read_per_s; do
	a=$(awk -v k=$k '$1==k{print $2}' "$T/tree.txt")
	b=$(awk -v k=$k '$1==k{print $2}' "$T/plain.txt")
	say "tree $k banger $a plain-dir $b ratio $(ratio "$a" "$b")"
done

# 2 and 3 need a VM; the first start clones the image and creates the work disk.
mkdir "$FS/vms/bench"
first=$("$TB" write "$FS/vms/bench/ctl" start)
say "start_first_ms $first (includes the root clone and work disk)"
wait_login() { # wait_login FILE TIMEOUT_S -> 0 when login: appears
	local _
	for _ in $(seq 1 $(($2 * 20))); do
		grep -q 'login:' "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
CONSOLE=$T/state/vms/bench/console.log
wait_login "$CONSOLE" 300 || { echo "first boot did not reach login"; exit 1; }
echo kill > "$FS/vms/bench/ctl"
line=$(grep -m1 '^banger: exec ' "$FS/vms/bench/log")
eval "ARGV=( ${line#banger: exec } )"
# banger hands QEMU its tap as descriptor 3; by hand, QEMU opens a tap of
# the same name that the bench makes (argv_tap_by_name VM: edits ARGV).
argv_tap_by_name() {
	local k
	HTAP=$(grep -o 'network: tap bn-[0-9]*' "$FS/vms/$1/log" | tail -n 1 | cut -d' ' -f3)
	for k in "${!ARGV[@]}"; do
		[ "${ARGV[$k]}" = tap,id=n0,fd=3 ] && ARGV[k]="tap,id=n0,ifname=$HTAP,script=no,downscript=no"
	done
}
argv_tap_by_name bench
QMP=$(printf '%s\n' "${ARGV[@]}" | sed -n 's/^socket,id=qmp,path=\(.*\),server=on,wait=off$/\1/p' | sed 's/,,/,/g')
[ -n "$QMP" ] || QMP=$T/run/vms/bench/qmp.sock

hand_start() { # start QEMU by hand with banger's argv; sets HPID
	rm -f "$QMP" "$T/run/vms/bench/agent.sock"
	in_ns ip tuntap add dev "$HTAP" mode tap
	in_ns ip link set "$HTAP" master br-fc up
	# nsenter itself (not in_ns &): $! must be QEMU's pid.
	nsenter --net="/run/netns/$NS" -- "${ARGV[@]}" >>"$T/hand.log" 2>&1 &
	HPID=$!
}
hand_kill() { kill -KILL "$HPID" 2>/dev/null; wait "$HPID" 2>/dev/null; in_ns ip link del "$HTAP" 2>/dev/null; }

b_start=() h_start=() b_boot=() h_boot=()
for i in $(seq 1 "$RUNS"); do
	# banger: control plane, then boot to login.
	t0=$(date +%s%N)
	"$TB" write "$FS/vms/bench/ctl" start > "$T/w.txt" || exit 1
	b_start+=("$(cat "$T/w.txt")")
	wait_login "$CONSOLE" 300 && b_boot+=("$(ms "$t0")")
	echo kill > "$FS/vms/bench/ctl"
	# by hand: same command line, same disks.
	t0=$(date +%s%N)
	hand_start
	until socat -u OPEN:/dev/null "UNIX-CONNECT:$QMP" 2>/dev/null; do sleep 0.002; done
	h_start+=("$(ms "$t0")")
	wait_login "$CONSOLE" 300 && h_boot+=("$(ms "$t0")")
	hand_kill
	echo "# run $i: banger start ${b_start[-1]} ms boot ${b_boot[-1]:-?} ms; hand start ${h_start[-1]} ms boot ${h_boot[-1]:-?} ms"
done
bs=$(printf '%s\n' "${b_start[@]}" | med); hs=$(printf '%s\n' "${h_start[@]}" | med)
bb=$(printf '%s\n' "${b_boot[@]}" | med); hb=$(printf '%s\n' "${h_boot[@]}" | med)
say "start_to_vmm_ready_ms banger $bs by-hand $hs ratio $(ratio "$bs" "$hs") (median of $RUNS)"
say "boot_to_login_ms banger $bb by-hand $hb ratio $(ratio "$bb" "$hb") (median of $RUNS)"
rmdir "$FS/vms/bench"

# 4. The main job: `banger vm run -- true` (cold: clone, first boot, ssh,
#    teardown) with its breakdown, and a warm start-to-ssh comparison against
#    the same QEMU command line run by hand plus a plain ssh loop.
SHIM=$PWD/shims/banger
run_ms=() del_ms=() warm_b=() warm_h=()
for i in $(seq 1 "$RUNS"); do
	t0=$(date +%s%N)
	in_ns "$SHIM" vm run --name "run$i" -- true 2>/dev/null || { echo "vm run failed"; exit 1; }
	run_ms+=("$(ms "$t0")")
	grep '^banger: timing' "$FS/vms/run$i/log" | sed "s/^/# run$i /"
	echo stop > "$FS/vms/run$i/ctl"
	# warm, through banger: start until `vm ssh -- true` succeeds
	t0=$(date +%s%N)
	echo start > "$FS/vms/run$i/ctl"
	in_ns "$SHIM" vm ssh "run$i" -- true 2>/dev/null && warm_b+=("$(ms "$t0")")
	echo stop > "$FS/vms/run$i/ctl"
	# warm, by hand: the same argv, the same tap name, plain ssh in a loop
	line=$(grep '^banger: exec ' "$FS/vms/run$i/log" | tail -1)
	eval "ARGV=( ${line#banger: exec } )"
	argv_tap_by_name "run$i"
	tap=$HTAP
	in_ns ip tuntap add dev "$tap" mode tap
	in_ns ip link set "$tap" master br-fc up
	rm -f "$T/run/vms/run$i/"*.sock
	t0=$(date +%s%N)
	# nsenter itself, not in_ns: a function run with & is a subshell, and
	# killing that would leave this QEMU running through the next runs.
	nsenter --net="/run/netns/$NS" -- "${ARGV[@]}" >>"$T/hand.log" 2>&1 &
	HPID=$!
	until in_ns ssh -F "$T/cfg/ssh_config" -o ConnectTimeout=2 "run$i.vm" true 2>/dev/null; do
		sleep 0.2
	done
	warm_h+=("$(ms "$t0")")
	kill -KILL "$HPID"; wait "$HPID" 2>/dev/null
	in_ns ip link del "$tap"
	t0=$(date +%s%N)
	in_ns "$SHIM" vm delete "run$i" >/dev/null 2>&1
	del_ms+=("$(ms "$t0")")
	echo "# run $i: vm run ${run_ms[-1]} ms, delete ${del_ms[-1]} ms; warm start-to-ssh banger ${warm_b[-1]:-?} ms, by hand ${warm_h[-1]:-?} ms"
done
rm_=$(printf '%s\n' "${run_ms[@]}" | med); dm=$(printf '%s\n' "${del_ms[@]}" | med)
wb=$(printf '%s\n' "${warm_b[@]}" | med); wh=$(printf '%s\n' "${warm_h[@]}" | med)
say "vm_run_true_ms $rm_ (cold: clone, first boot, ssh ready, run) + delete $dm (median of $RUNS)"
say "warm_start_to_ssh_true_ms banger $wb by-hand $wh ratio $(ratio "$wb" "$wh") (median of $RUNS)"

# 5. The .vm responder: one A query at a time (each one reads the database)
#    against the same datagram bounced by a UDP echo thread.  The VM needs
#    an address, which its first start gives it; it need not run.
DNSQ=${DNSQ:-2000}
mkdir "$FS/vms/dnsq"
echo start > "$FS/vms/dnsq/ctl" && echo kill > "$FS/vms/dnsq/ctl"
d_b=() d_e=()
for i in $(seq 1 "$RUNS"); do
	line=$(in_ns "$DB" 172.16.0.1 42053 dnsq.vm "$DNSQ") || { echo "dns bench failed: $line"; exit 1; }
	d_b+=("$(echo "$line" | awk '{ print $2 }')")
	echo "# dns run $i: $line"
	line=$(in_ns "$DB" --echo dnsq.vm "$DNSQ") || { echo "echo bench failed: $line"; exit 1; }
	d_e+=("$(echo "$line" | awk '{ print $2 }')")
	echo "# echo run $i: $line"
done
rmdir "$FS/vms/dnsq"
db=$(printf '%s
' "${d_b[@]}" | med); de=$(printf '%s
' "${d_e[@]}" | med)
say "dns_query_us banger $db udp-echo $de ratio $(ratio "$db" "$de") (median of $RUNS runs of $DNSQ queries)"

# 6. Idle wakeups: every thread's context switches over 10 s (the monitor,
#    the responder and the FUSE workers sleep until something happens).
csw() { # the daemon's context switches so far, all threads
	local t=0 v f
	for f in /proc/"$DAEMON_PID"/task/*/status; do
		v=$(awk '/ctxt_switches/ { s += $2 } END { print s + 0 }' "$f" 2>/dev/null)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
idle_wakeups() { local a; a=$(csw); sleep 10; echo $(($(csw) - a)); }
w0=$(idle_wakeups)
mkdir "$FS/vms/idle"
echo start > "$FS/vms/idle/ctl"
for _ in $(seq 1 300); do grep -qx 'ssh ready' "$FS/vms/idle/status" && break; sleep 1; done
sleep 5 # the guest settles (its sshd, systemd)
w1=$(idle_wakeups)
echo kill > "$FS/vms/idle/ctl"
rmdir "$FS/vms/idle"
say "idle_wakeups_10s no-vm $w0 one-booted-vm $w1 threads $(find /proc/"$DAEMON_PID"/task -mindepth 1 -maxdepth 1 | wc -l) (goal 0)"
