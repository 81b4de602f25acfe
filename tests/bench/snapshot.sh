#!/bin/bash
# Benchmark: `banger vm run --rm -- true` restored from a snapshot, against
# the bare floor (the same QEMU restore by hand plus one agent exec round
# trip), same run, pair by pair; and the agent exec round trip through the
# daemon's tree (docs/snapshots.md, docs/benchmarks.md).
#
#   0. a daemon in a test namespace; a first cold boot makes the snapshot
#      (its time is printed; it is not the figure)
#   1. PAIRS pairs in turn (A B A B ...), wall time, medians, the ratio
#      taken pair by pair:
#      A: banger vm run --rm --memory M --vcpu 2 -- true   (the shim, in the namespace)
#      B: the floor: QEMU with the snapshot's memory file (share=off), the
#         root disk copy-on-write in QEMU (-drive snapshot=on: no copy),
#         -incoming defer, QMP migrate-incoming + cont, one agent exec of
#         `true` over a new connection, quit.  No identity, no disks made.
#   2. agent exec `true` round trip, N runs each, medians: through the
#      daemon's execs/ (tests/bench/execbench.c: mkdir, argv, run, status,
#      rmdir; no host process started) on a restored VM, and straight on an
#      open agent connection (agent_cli bench) to a VM restored by hand;
#      that restored VM's `timing:` lines (the identity's jobs among them)
# Output: $BUILD/bench-snapshot.txt.  Everything started here is stopped by
# the traps (lib.sh's teardown and ours).
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh
. tests/integration/lib.sh

PAIRS=${PAIRS:-10}
N=${N:-50}
MEM=${MEM:-1024}
OUT=$BUILD/bench-snapshot.txt
CLI=$BUILD/tests/agent_cli
KDIR=$IMAGE_CACHE/kernels/debian-cloud-amd64
setup
bench_cleanup() { teardown; }
trap bench_cleanup EXIT
say() { echo "$*" | tee -a "$OUT"; }
: >"$OUT"
resolved_double_start || { echo "resolved double did not start" >&2; exit 1; }
daemon_start || exit 1
say "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}') TCG, $MEM MiB, 2 vCPUs"

# ---- 0. the snapshot ---------------------------------------------------------------
t0=$(date +%s%N)
mkdir "$FS/vms/src" && echo "$MEM" >"$FS/vms/src/memory_mib" && echo 2 >"$FS/vms/src/vcpu"
echo start >"$FS/vms/src/ctl"
[ "$(timeout 900 cat "$FS/vms/src/agent")" = ready ] || { echo "src not ready" >&2; exit 1; }
SNAP=$(ls "$FS/snapshots")
[ -n "$SNAP" ] || { echo "no snapshot was made" >&2; exit 1; }
say "cold boot to agent ready, snapshot included: $(( ($(date +%s%N) - t0) / 1000000 )) ms ($(grep -o 'snapshot .* made: .*' "$FS/vms/src/log"))"
echo kill >"$FS/vms/src/ctl"
rmdir "$FS/vms/src"
S=$T/state/snapshots/$SNAP

# ---- 1. vm run --rm -- true vs the floor ---------------------------------------------
# The floor's tap, in the namespace (the snapshot's machine has a NIC).
in_ns ip tuntap add bnfloor mode tap
cat >"$T/floor.py" <<'EOF'
import json, os, socket, subprocess, sys, time
S, RUN, KDIR, MEM, CLI = sys.argv[1:6]
KEEP = len(sys.argv) > 6  # leave it running (its pid in RUN/pid)
for f in ("qmp.sock", "agent.sock"):
    try: os.unlink(os.path.join(RUN, f))
    except OSError: pass
khz = [l for l in open("/proc/cpuinfo") if l.startswith("cpu MHz")][0].split(":")[1]
argv = ["qemu-system-x86_64", "-M", "microvm,acpi=on,memory-backend=microvm.ram",
        "-object", "memory-backend-file,id=microvm.ram,size=%sM,mem-path=%s/mem,share=off" % (MEM, S),
        "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", MEM + "M", "-nodefaults", "-no-user-config",
        "-nographic", "-no-reboot", "-kernel", KDIR + "/vmlinux", "-initrd", KDIR + "/initrd.img",
        "-append", "console=ttyS0 root=/dev/vda rw panic=-1 reboot=k tsc_early_khz=%d" % int(float(khz) * 1000),
        "-drive", "id=root,file=%s/rootfs.ext4,format=raw,if=none,snapshot=on" % S,
        "-device", "virtio-blk-device,drive=root",
        "-drive", "id=work,file=%s/work.ext4,format=raw,if=none,snapshot=on" % RUN,
        "-device", "virtio-blk-device,drive=work",
        "-netdev", "tap,id=n0,ifname=bnfloor,script=no,downscript=no",
        "-device", "virtio-net-device,netdev=n0,mac=06:00:ac:10:00:fe",
        "-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-device,rng=rng0",
        "-chardev", "null,id=con", "-serial", "chardev:con",
        "-chardev", "socket,id=qmp,path=%s/qmp.sock,server=on,wait=off" % RUN, "-mon", "chardev=qmp,mode=control",
        "-device", "virtio-serial-device",
        "-chardev", "socket,id=agent,path=%s/agent.sock,server=on,wait=off" % RUN,
        "-device", "virtserialport,chardev=agent,name=banger.agent", "-incoming", "defer"]
q = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=KEEP)
if KEEP:
    open(os.path.join(RUN, "pid"), "w").write(str(q.pid))
sock = os.path.join(RUN, "qmp.sock")
while True:
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(sock); break
    except OSError:
        s.close(); time.sleep(0.002)
f = s.makefile("rw"); f.readline()
def call(cmd, args=None):
    f.write(json.dumps({"execute": cmd, **({"arguments": args} if args else {})}) + "\n"); f.flush()
    while True:
        m = json.loads(f.readline())
        if "return" in m or "error" in m: return m
call("qmp_capabilities")
call("migrate-set-capabilities", {"capabilities": [{"capability": "x-ignore-shared", "state": True}]})
call("migrate-incoming", {"uri": "exec:cat '%s/state'" % S})
while call("query-status")["return"]["status"] == "inmigrate": time.sleep(0.002)
call("cont")
if KEEP:
    sys.exit(0)
rc = subprocess.call([CLI, "--timeout", "20000", os.path.join(RUN, "agent.sock"), "exec", "--", "true"])
call("quit")
q.wait()
sys.exit(rc)
EOF
mkdir -p "$T/floor"
# the work disk the floor's guest sees (unmounted in the snapshot; any of the right size)
truncate -s "$(awk '$1 == "work_size" { print $2 }' "$FS/snapshots/$SNAP/key")" "$T/floor/work.ext4"
# check both once
in_ns python3 "$T/floor.py" "$S" "$T/floor" "$KDIR" "$MEM" "$CLI" || { echo "the floor does not work" >&2; exit 1; }
in_ns "$SHIM" vm run --rm --memory "$MEM" --vcpu 2 -- true </dev/null || { echo "vm run does not work" >&2; exit 1; }
say ""
# A and B in turn, pair by pair (the machine's speed drifts: the ratio is
# taken within each pair); wall-clock ms, medians.
ms() { local a b; a=$(date +%s%N); "$@" </dev/null >/dev/null 2>&1; b=$(date +%s%N); echo $(((b - a) / 1000000)); }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
: >"$T/a.ms"
: >"$T/b.ms"
: >"$T/ratio"
for _ in $(seq 1 "$PAIRS"); do
	a=$(ms in_ns "$SHIM" vm run --rm --memory "$MEM" --vcpu 2 -- true)
	b=$(ms in_ns python3 "$T/floor.py" "$S" "$T/floor" "$KDIR" "$MEM" "$CLI")
	echo "$a" >>"$T/a.ms"
	echo "$b" >>"$T/b.ms"
	awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f\n", a / b }' >>"$T/ratio"
done
say "## vm run --rm -- true (A) vs the floor (B), $PAIRS pairs in turn, wall ms"
say "A median $(median <"$T/a.ms") (min $(sort -n "$T/a.ms" | head -1), max $(sort -n "$T/a.ms" | tail -1))"
say "B median $(median <"$T/b.ms") (min $(sort -n "$T/b.ms" | head -1), max $(sort -n "$T/b.ms" | tail -1))"
say "A/B median of the pairs' ratios $(median <"$T/ratio")"

# ---- 2. agent exec round trip: through the tree, and straight ----------------------
mkdir "$FS/vms/rt" && echo "$MEM" >"$FS/vms/rt/memory_mib" && echo 2 >"$FS/vms/rt/vcpu" && echo start >"$FS/vms/rt/ctl"
[ "$(timeout 300 cat "$FS/vms/rt/agent")" = ready ] || { echo "rt not ready" >&2; exit 1; }
say ""
say "## a restored VM's own timing (rt's log, restored alone)"
grep -o 'timing: .*' "$FS/vms/rt/log" | while IFS= read -r l; do say "$l"; done
in_ns python3 "$T/floor.py" "$S" "$T/floor" "$KDIR" "$MEM" "$CLI" keep
HANDPID=$(cat "$T/floor/pid")
trap 'kill "$HANDPID" 2>/dev/null; bench_cleanup' EXIT
"$CLI" --timeout 30000 "$T/floor/agent.sock" exec -- true || { echo "the hand-restored VM does not answer" >&2; exit 1; }
"$BUILD/bench/execbench" "$FS" rt 3 >/dev/null || { echo "execbench does not work" >&2; exit 1; }
tree=$("$BUILD/bench/execbench" "$FS" rt "$N" | awk '/^median_us/ { print $2 }')
raw=$("$CLI" --timeout 30000 "$T/floor/agent.sock" bench "$N" -- true | awk '/^median_us/ { print $2 }')
say ""
say "## agent exec \`true\` round trip, $N runs each (medians)"
say "through execs/ (execbench: mkdir, argv, run, status, rmdir): $((tree / 1000)).$(( (tree % 1000) / 100 )) ms"
say "straight, on an open connection (agent_cli bench, a VM restored by hand): $((raw / 1000)).$(( (raw % 1000) / 100 )) ms"
say "ratio tree/straight: $(awk -v a="$tree" -v b="$raw" 'BEGIN { printf "%.2f", a / b }')"
say "# done, load $(cut -d' ' -f1-3 /proc/loadavg)"
