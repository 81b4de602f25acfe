#!/bin/bash
# Integration: the guest agent in the daemon and snapshots (issue 13,
# docs/snapshots.md, docs/agent.md), on a real daemon with QEMU/TCG guests
# in the test's network namespace.
#
#   1. a cold boot makes the snapshot of its kind before it is ready; the
#      VM it was made of goes on (ssh, agent, /root, its address);
#   2. three VMs restored from it at once: each its own address, MAC,
#      hostname, machine-id, SSH host key (pinned, checked by ssh) and RNG
#      stream; each reachable by ssh and by agent exec;
#   3. vm run -- CMD through the agent (output, status, stdin) and --ssh;
#   4. the agent killed in a guest: the next exec connects again;
#   5. a daemon restart: restored VMs adopted, their agents reached again;
#   6. fallbacks: another memory size (the reason names it), a truncated
#      snapshot (refused, removed, err says why, cold boot), a restored VM
#      cannot be snapshotted, a manual snapshot, rmdir of a snapshot.
# Boots cost time under TCG: one cold boot to ready; the other cold boots
# are killed as soon as their reason is checked.
# shellcheck disable=SC2016 # guest-side $ expansions
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source-path=SCRIPTDIR source=lib.sh
. tests/integration/lib.sh
setup
resolved_double_start && ok resolved-double-up || fail resolved-double-up
daemon_start || { fail daemon-start; finish; exit 1; }

KH=$T/state/ssh/known_hosts
MEM=1024
READY_S=${READY_S:-900}
export BANGER_SSH_TIMEOUT=600

st() { awk -v k="$2" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$FS/vms/$1/status" 2>/dev/null; }
vmlog() { cat "$FS/vms/$1/log" 2>/dev/null; }
mkvm() { mkdir "$FS/vms/$1" && echo "$MEM" >"$FS/vms/$1/memory_mib" && echo 2 >"$FS/vms/$1/vcpu"; }
# agent_ready VM: cat blocks until the agent is ready or failed (bounded)
agent_ready() { [ "$(timeout "$READY_S" cat "$FS/vms/$1/agent" 2>/dev/null)" = ready ]; }
# gx VM CMD...: run CMD in VM through execs/, stdout to stdout; GX_RC its status
N=0
gx() {
	local vm=$1 x
	shift
	N=$((N + 1))
	x=$FS/execs/t$N
	GX_RC=255
	mkdir "$x" || return 1
	printf '%s\0' "$@" >"$x/argv" || return 1
	echo "run $vm" >"$x/ctl" || { cat "$x/err" >&2; rmdir "$x"; return 1; }
	timeout 120 cat "$x/stdout"
	GX_RC=$(timeout 120 cat "$x/status")
	rmdir "$x"
}
sshv() { in_ns ssh -F "$T/cfg/ssh_config" -o ConnectTimeout=30 "$1.vm" "${@:2}"; }
took() { echo "# $1: $(($(date +%s) - $2)) s"; }

# ---- 1. the first cold boot makes the snapshot --------------------------------
t=$(date +%s)
mkvm src && echo start >"$FS/vms/src/ctl" && ok src-started || fail "src-started: $(cat "$FS/vms/src/err")"
agent_ready src && ok src-agent-ready || fail "src-agent-ready: $(st src agent); $(vmlog src | tail -5)"
took "cold boot + snapshot" "$t"
SNAP=$(ls "$FS/snapshots")
[ "$(echo "$SNAP" | wc -w)" = 1 ] && ok snapshot-made || fail "snapshot-made: '$SNAP'; $(vmlog src | grep snapshot)"
vmlog src | grep -q "snapshot: made $SNAP" && ok snapshot-made-logged || fail "snapshot-made-logged"
grep -q "^$SNAP qemu vcpu 2 memory_mib $MEM " "$FS/images/debian-bookworm-mini/snapshots" &&
	ok image-lists-snapshot || fail "image-lists-snapshot: $(cat "$FS/images/debian-bookworm-mini/snapshots")"
grep -qx "from src" "$FS/snapshots/$SNAP/status" && grep -qx "memory_mib $MEM" "$FS/snapshots/$SNAP/status" &&
	ok snapshot-status || fail "snapshot-status: $(cat "$FS/snapshots/$SNAP/status")"
grep -q "^ok snapshot restore possible with qemu: 1 snapshot .*; a restored VM's root disk is a qcow2 overlay of the snapshot's (qemu-img)" "$FS/doctor" && ok doctor-snapshot ||
	fail "doctor-snapshot: $(grep snapshot "$FS/doctor")"
m=$(stat -c %a "$T/state/snapshots/$SNAP/mem")
[ "$m" = 400 ] && ok snapshot-mem-read-only || fail "snapshot-mem-read-only: mode $m"
# the VM it was made of goes on
out=$(gx src sh -c 'hostname; findmnt -n -o TARGET /root; ip -4 -o addr show dev eth0 | wc -l')
[ "$out" = "src
/root
1" ] && ok src-whole-after-snapshot || fail "src-whole-after-snapshot: '$out'"
SRC_IP=$(st src ip)
[ "$(sshv src hostname 2>&1)" = src ] && ok src-ssh || fail "src-ssh: $(sshv src hostname 2>&1)"
SRC_KEY=$(cat "$FS/vms/src/hostkey")

# ---- 2. three restores at once -------------------------------------------------
t=$(date +%s)
for v in r1 r2 r3; do mkvm $v; done
pids=()
for v in r1 r2 r3; do
	(echo start >"$FS/vms/$v/ctl") &
	pids+=($!)
done
wait "${pids[@]}" # (not a bare wait: the daemon is a child too)
for v in r1 r2 r3; do
	agent_ready $v && ok "$v-agent-ready" || fail "$v-agent-ready: $(st $v agent) $(cat "$FS/vms/$v/err")"
	[ "$(st $v boot)" = "restored $SNAP" ] && ok "$v-restored" || fail "$v-restored: $(st $v boot); $(vmlog $v | grep snapshot)"
done
took "three restores" "$t"
for v in r1 r2 r3; do vmlog $v | grep -E 'timing: (restore|identity|agent ready)' | sed "s/^/# $v: /"; done
declare -A IP KEY MID RND
for v in r1 r2 r3; do
	IP[$v]=$(st $v ip)
	out=$(gx $v sh -c 'hostname; cat /etc/machine-id; head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n"; echo;
		ip -4 -o addr show dev eth0 | awk "{print \$4}"; cat /sys/class/net/eth0/address; cat /etc/ssh/ssh_host_ed25519_key.pub')
	hn=$(sed -n 1p <<<"$out")
	MID[$v]=$(sed -n 2p <<<"$out")
	RND[$v]=$(sed -n 3p <<<"$out")
	addr=$(sed -n 4p <<<"$out")
	mac=$(sed -n 5p <<<"$out")
	gkey=$(sed -n 6p <<<"$out" | awk '{print $1" "$2}')
	KEY[$v]=$(awk '{print $1" "$2}' "$FS/vms/$v/hostkey")
	[ "$hn" = "$v" ] && ok "$v-hostname" || fail "$v-hostname: '$hn'"
	[ "$addr" = "${IP[$v]}/24" ] && ok "$v-address" || fail "$v-address: '$addr' want ${IP[$v]}/24"
	[ "$mac" = "$(st $v mac)" ] && ok "$v-mac" || fail "$v-mac: '$mac' want $(st $v mac)"
	[ -n "${KEY[$v]}" ] && [ "$gkey" = "${KEY[$v]}" ] && ok "$v-hostkey-pinned-is-the-guests" ||
		fail "$v-hostkey-pinned-is-the-guests: guest '$gkey' pinned '${KEY[$v]}'"
	grep -q "^$v.vm,${IP[$v]} ${KEY[$v]}" "$KH" && ok "$v-known-hosts" || fail "$v-known-hosts: $(grep "$v.vm" "$KH")"
	[ "$(sshv $v hostname 2>&1)" = "$v" ] && ok "$v-ssh" || fail "$v-ssh: $(sshv $v hostname 2>&1)"
done
gx r1 sh -c 'exit 7' >/dev/null
[ "$GX_RC" = 7 ] && ok exec-status || fail "exec-status: '$GX_RC'"
[ "$(printf '%s\n' "${IP[@]}" "$SRC_IP" | sort -u | wc -l)" = 4 ] && ok addresses-differ || fail "addresses-differ: ${IP[*]} $SRC_IP"
[ "$(printf '%s\n' "${KEY[@]}" "$SRC_KEY" | awk '{print $2}' | sort -u | wc -l)" = 4 ] && ok host-keys-differ ||
	fail "host-keys-differ: ${KEY[*]} / $SRC_KEY"
[ "$(printf '%s\n' "${MID[@]}" | sort -u | wc -l)" = 3 ] && ok machine-ids-differ || fail "machine-ids-differ: ${MID[*]}"
[ "$(printf '%s\n' "${RND[@]}" | sort -u | wc -l)" = 3 ] && [ "${#RND[r1]}" = 32 ] && ok urandom-differs ||
	fail "urandom-differs: ${RND[*]}"
# Under QEMU a restore's root disk is a qcow2 overlay over the snapshot's,
# which it holds by a hard link (rootfs.base: the same inode), not a copy.
SI=$(stat -c %i "$T/state/snapshots/$SNAP/rootfs.ext4")
for v in r1 r2 r3; do
	d=$T/state/vms/$v
	[ -f "$d/rootfs.qcow2" ] && [ ! -e "$d/rootfs.ext4" ] && [ "$(stat -c %i "$d/rootfs.base")" = "$SI" ] &&
		vmlog $v | grep -q "root disk: an overlay of snapshot $SNAP's" && ok "$v-root-overlay" ||
		fail "$v-root-overlay: $(ls -i "$d") $SI $(vmlog $v | grep 'root disk')"
done
[ "$(stat -c %h "$T/state/snapshots/$SNAP/rootfs.ext4")" = 4 ] && ok snapshot-root-linked-thrice ||
	fail "snapshot-root-linked-thrice: $(stat -c %h "$T/state/snapshots/$SNAP/rootfs.ext4")"

# ---- 3. vm run through the agent ------------------------------------------------
sb() { in_ns "$SHIM" "$@" >"$T/out" 2>"$T/err"; RC=$?; }
t=$(date +%s)
sb vm run --rm --memory $MEM --vcpu 2 -- sh -c 'echo hi; echo to-err >&2; exit 3' </dev/null
took "vm run --rm (restored)" "$t"
[ "$RC" = 3 ] && [ "$(cat "$T/out")" = hi ] && ok run-agent-output-status || fail "run-agent-output-status: rc=$RC out=$(cat "$T/out") err=$(cat "$T/err")"
grep -qx to-err "$T/err" && ok run-agent-stderr || fail "run-agent-stderr: $(cat "$T/err")"
head -c 3000000 /dev/urandom >"$T/blob"
want=$(sha256sum <"$T/blob" | cut -d' ' -f1)
in_ns "$SHIM" vm run --name rs --memory $MEM --vcpu 2 -- sha256sum <"$T/blob" >"$T/out" 2>"$T/err"
got=$(cut -d' ' -f1 "$T/out")
[ "$got" = "$want" ] && ok run-agent-stdin-3MB || fail "run-agent-stdin-3MB: '$got' $(cat "$T/err")"
[ "$(st rs boot)" = "restored $SNAP" ] && ok run-was-restored || fail "run-was-restored: $(st rs boot)"
out=$(printf 'abc\n' | in_ns "$SHIM" vm run --rm --memory $MEM --vcpu 2 -- tr a-z A-Z 2>/dev/null)
[ "$out" = ABC ] && ok run-agent-stdin || fail "run-agent-stdin: '$out'"
sb vm run --rm --ssh --memory $MEM --vcpu 2 -- sh -c 'echo via-ssh; exit 4' </dev/null
[ "$RC" = 4 ] && [ "$(cat "$T/out")" = via-ssh ] && ok run-ssh-flag || fail "run-ssh-flag: rc=$RC $(cat "$T/out" "$T/err")"
[ -z "$(ls "$FS/execs")" ] && ok execs-cleaned || fail "execs-cleaned: $(ls "$FS/execs")"

# ---- 4. the agent killed in the guest: the next exec connects again ----------------
gx r2 sh -c '(sleep 1; kill -KILL $(pidof banger-agent)) >/dev/null 2>&1 &' >/dev/null
sleep 4 # systemd starts it again after a second
out=$(gx r2 echo again)
[ "$out" = again ] && ok agent-reconnect || fail "agent-reconnect: '$out' $(vmlog r2 | grep agent: | tail -3)"

# ---- 5. a daemon restart: the restored VMs are adopted and reached again -------------
daemon_stop
daemon_start || fail daemon-restart
for v in r1 r3; do
	agent_ready $v && [ "$(gx $v hostname)" = $v ] && ok "$v-after-restart" || fail "$v-after-restart: $(st $v agent)"
done

# ---- 6. fallbacks and refusals ----------------------------------------------------------
# another memory size: a cold boot, and the reason says which setting
mkdir "$FS/vms/m" && echo 768 >"$FS/vms/m/memory_mib" && echo 2 >"$FS/vms/m/vcpu" && echo start >"$FS/vms/m/ctl"
vmlog m | grep -q "snapshot: snapshot $SNAP of image debian-bookworm-mini does not match this VM: memory_mib is 768 here, $MEM in the snapshot; cold boot" &&
	[ "$(st m boot)" = cold ] && ok fallback-memory-differs || fail "fallback-memory-differs: $(vmlog m | grep snapshot:)"
echo kill >"$FS/vms/m/ctl"
# a restored VM cannot be snapshotted: its memory is the snapshot's
r=$(try_write "$FS/vms/r1/ctl" snapshot)
[ "$r" != ok ] && grep -q "only a VM that booted can be snapshotted" "$FS/vms/r1/err" && ok restored-not-snapshotted ||
	fail "restored-not-snapshotted: $r $(cat "$FS/vms/r1/err")"
# a truncated snapshot: refused, removed, the reason in err and the log, a cold boot
chmod u+w "$T/state/snapshots/$SNAP/mem" && truncate -s 4096 "$T/state/snapshots/$SNAP/mem"
mkvm c && echo start >"$FS/vms/c/ctl"
grep -q "mem is 4096 bytes, not .* (truncated or replaced).*refused and removed" "$FS/vms/c/err" && ok corrupt-refused-err ||
	fail "corrupt-refused-err: $(cat "$FS/vms/c/err")"
vmlog c | grep -q "refused and removed; cold boot" && ok corrupt-refused-log || fail "corrupt-refused-log: $(vmlog c | grep snapshot)"
[ -z "$(ls "$FS/snapshots")" ] && [ ! -e "$T/state/snapshots/$SNAP" ] && ok corrupt-removed || fail "corrupt-removed: $(ls "$FS/snapshots")"
[ "$(st c boot)" = cold ] && ok corrupt-cold-boot || fail "corrupt-cold-boot: $(st c boot)"
echo kill >"$FS/vms/c/ctl"
# by hand, from the VM that booted
agent_ready src || fail "src-agent-after-restart"
t=$(date +%s)
r=$(try_write "$FS/vms/src/ctl" snapshot)
took "manual snapshot" "$t"
NEW=$(ls "$FS/snapshots")
[ "$r" = ok ] && [ "$NEW" = "$SNAP" ] && ok manual-snapshot || fail "manual-snapshot: $r '$NEW' $(cat "$FS/vms/src/err")"
[ "$(gx src hostname)" = src ] && [ "$(sshv src hostname 2>&1)" = src ] && ok src-whole-after-manual || fail "src-whole-after-manual"
r=$(try_write "$FS/vms/src/ctl" snapshot)
[ "$r" != ok ] && grep -q "exists already" "$FS/vms/src/err" && ok manual-snapshot-exists || fail "manual-snapshot-exists: $r"
# A VM restored from it (o1) outlives it: its root disk's base is a link of
# its own.  A write lands in its overlay; after a kill, its next start (a
# cold boot) boots from that overlay, the write in it.
mkvm o1 && echo start >"$FS/vms/o1/ctl" && agent_ready o1 && [ "$(st o1 boot)" = "restored $NEW" ] &&
	ok o1-restored || fail "o1-restored: $(st o1 boot) $(cat "$FS/vms/o1/err")"
rmdir "$FS/snapshots/$NEW" && [ -z "$(ls "$FS/snapshots")" ] && ok snapshot-rmdir || fail "snapshot-rmdir"
[ "$(gx o1 sh -c 'echo kept >/var/tmp/overlay-check && sync && cat /etc/hostname')" = o1 ] &&
	[ -f "$T/state/vms/o1/rootfs.base" ] && ok overlay-outlives-snapshot || fail "overlay-outlives-snapshot: $GX_RC"
echo kill >"$FS/vms/o1/ctl" && wait_state o1 stopped 60 && echo start >"$FS/vms/o1/ctl" && agent_ready o1 &&
	[ "$(st o1 boot)" = cold ] && [ "$(gx o1 cat /var/tmp/overlay-check)" = kept ] && [ "$(gx o1 hostname)" = o1 ] &&
	[ -f "$T/state/vms/o1/rootfs.qcow2" ] && [ ! -e "$T/state/vms/o1/rootfs.ext4" ] && ok overlay-cold-boot ||
	fail "overlay-cold-boot: $(st o1 boot) $(cat "$FS/vms/o1/err") $(vmlog o1 | tail -3)"
echo kill >"$FS/vms/o1/ctl"
r=$( (mkdir "$FS/snapshots/x") 2>&1) && fail "snapshot-mkdir-refused" || ok snapshot-mkdir-refused
# bad input to execs/: the right errno, a sentence in err, nothing left behind
r=$( (mkdir "$FS/execs/Bad_Name") 2>&1) && fail "exec-bad-name" || ok exec-bad-name
mkdir "$FS/execs/h" || fail "exec-mkdir"
r=$(try_write "$FS/execs/h/ctl" "run nosuch")
[ "$r" != ok ] && grep -q "no VM named 'nosuch'" "$FS/execs/h/err" && ok exec-no-such-vm || fail "exec-no-such-vm: $r $(cat "$FS/execs/h/err")"
r=$(try_write "$FS/execs/h/ctl" "run r1 bogus")
[ "$r" != ok ] && grep -q "run takes a VM and optionally 'stdin'" "$FS/execs/h/err" && ok exec-bad-run || fail "exec-bad-run: $r"
r=$(try_write "$FS/execs/h/ctl" "run r1")
[ "$r" != ok ] && grep -q "has no arguments" "$FS/execs/h/err" && ok exec-no-argv || fail "exec-no-argv: $r"
head -c 70000 /dev/zero | tr '\0' a >"$T/big"
r=$( (cat "$T/big" >"$FS/execs/h/argv") 2>&1) && fail "exec-argv-too-big" ||
	{ grep -q "over 65536 bytes" "$FS/execs/h/err" && ok exec-argv-too-big || fail "exec-argv-too-big: $(cat "$FS/execs/h/err")"; }
r=$(try_write "$FS/execs/h/ctl" "kill WHAT")
[ "$r" != ok ] && grep -q "is not a signal" "$FS/execs/h/err" && ok exec-bad-signal || fail "exec-bad-signal: $r"
rmdir "$FS/execs/h" && [ ! -e "$T/state/execs/h" ] && ok exec-rmdir || fail exec-rmdir
kill -0 "$DAEMON_PID" && ok daemon-alive || fail daemon-alive

finish
