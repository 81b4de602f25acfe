#!/bin/bash
# Benchmark: one command's round trip through the guest agent vs through
# ssh, same guest (the test image under QEMU/TCG, booted by hand with
# images/qemu-boot.sh), same run.  The guest's NIC is QEMU user networking
# with sshd forwarded to 127.0.0.1:2222 inside a network namespace made
# here.  The ssh host key is made by the agent (hostkey) and pinned in a
# known_hosts file of this run: StrictHostKeyChecking=yes.
#   1. agent exec `true` on an open connection (the daemon's case), N runs
#   2. process level, farm-bench pairs: `agent_cli SOCK exec -- true`
#      (connect + handshake + exec) vs `ssh root@VM true` (full handshake)
#   3. the same vs ssh over an open ControlMaster connection
# Output: $BUILD/bench-agent.txt.  Everything started here is stopped by the trap.
set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source-path=SCRIPTDIR source=integration/lib.sh
. tests/integration/lib.sh

N=${N:-200}      # runs of (1)
PAIRS=${PAIRS:-30} # farm-bench runs of (2) and (3)
CLI=$BUILD/tests/agent_cli
KDIR=$IMAGE_CACHE/kernels/debian-cloud-amd64
IDIR=$IMAGE_CACHE/images/debian-bookworm-mini
OUT=$BUILD/bench-agent.txt
T=$(mktemp -d /tmp/banger-agent-bench.XXXXXX)
NS=bgab-${T##*.}
QPID=

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	[ -S "$T/cm" ] && ip netns exec "$NS" ssh -S "$T/cm" -O exit x 2>/dev/null
	if [ -n "$QPID" ]; then
		kill "$QPID" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$QPID" 2>/dev/null
		wait "$QPID" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "$*" | tee -a "$OUT"; }

ip netns add "$NS"
ip -n "$NS" link set lo up
ssh-keygen -q -t ed25519 -N "" -C "" -f "$T/id"
mkdir -p "$T/workroot/.ssh"
cp "$T/id.pub" "$T/workroot/.ssh/authorized_keys"
chmod 700 "$T/workroot/.ssh"
chmod 600 "$T/workroot/.ssh/authorized_keys"
truncate -s 256M "$T/work.ext4"
mkfs.ext4 -q -F -L work -d "$T/workroot" "$T/work.ext4"
cp --sparse=always "$IDIR/rootfs.ext4" "$T/rootfs.ext4"

# user networking lives inside QEMU; its forward listens in $NS only
nsenter --net="/run/netns/$NS" -- env RUNDIR="$T" \
	QEMU_EXTRA="-netdev user,id=n0,hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-net-device,netdev=n0" \
	images/qemu-boot.sh "$KDIR" "$T/rootfs.ext4" "$T/work.ext4" \
	ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off >"$T/qemu.log" 2>&1 &
QPID=$!

for _ in $(seq 1 480); do
	"$CLI" --timeout 500 "$T/agent.sock" ping >/dev/null 2>&1 && break
	kill -0 "$QPID" 2>/dev/null || { echo "qemu exited: $(tail -3 "$T/qemu.log")"; exit 1; }
	sleep 0.5
done
pub=$("$CLI" "$T/agent.sock" hostkey) || { echo "no host key from the agent"; exit 1; }
echo "[127.0.0.1]:2222 $pub" >"$T/known_hosts"
SSH=(ssh -F none -i "$T/id" -p 2222 -o IdentitiesOnly=yes -o BatchMode=yes
	-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/known_hosts" -o ConnectTimeout=10)
for _ in $(seq 1 240); do
	ip netns exec "$NS" "${SSH[@]}" root@127.0.0.1 true 2>/dev/null && break
	sleep 0.5
done
ip netns exec "$NS" "${SSH[@]}" root@127.0.0.1 true || { echo "ssh does not work"; exit 1; }

: >"$OUT"
say "# agent bench $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cpus, load $(cut -d' ' -f1 /proc/loadavg), QEMU TCG"
# 1. on an open connection
"$CLI" "$T/agent.sock" bench "$N" -- true >"$T/b1.txt" || exit 1
say "agent_exec_true_open_connection median_us $(awk '/^median_us/ {print $2}' "$T/b1.txt") runs $N"
"$CLI" "$T/agent.sock" bench "$((N / 4))" --reconnect -- true >"$T/b2.txt" || exit 1
say "agent_exec_true_new_connection median_us $(awk '/^median_us/ {print $2}' "$T/b2.txt") runs $((N / 4))"

# 2. process level, paired: agent_cli vs ssh (new connection each)
say "## farm-bench: A = agent_cli exec -- true (new process, connection, handshake); B = ssh true"
farm-bench -n "$PAIRS" --timeout 900 \
	--vs "ip netns exec $NS ${SSH[*]} root@127.0.0.1 true" \
	-- ip netns exec "$NS" "$CLI" "$T/agent.sock" exec -- true 2>&1 | tee -a "$OUT"

# 3. ssh over an open master connection
ip netns exec "$NS" "${SSH[@]}" -M -S "$T/cm" -o ControlPersist=yes -fN root@127.0.0.1
say "## farm-bench: A = agent_cli exec -- true; B = ssh -S master true (ssh's connection kept open)"
farm-bench -n "$PAIRS" --timeout 900 \
	--vs "ip netns exec $NS ${SSH[*]} -S $T/cm root@127.0.0.1 true" \
	-- ip netns exec "$NS" "$CLI" "$T/agent.sock" exec -- true 2>&1 | tee -a "$OUT"
