#!/bin/bash
# The dev sandbox through the shim, on a real daemon and real guests:
# vm run (--rm, exit status, spec line; CMD through the guest agent, on
# VMs restored from the snapshot the first run makes), two VMs at once and guest to guest
# traffic, outbound NAT, host-key pinning and the MITM refusal, a kill -9
# of the daemon with VMs running, vm prune, and bad input that must leave
# nothing behind.  Guests live in the test's network namespace $NS, so the
# shim (whose ssh talks to them) runs there too: in_ns "$SHIM" ...
#
# Boots are what cost time (~20-40 s each under TCG on 2 cores): this
# script boots four guests, two of them at once, and re-uses them.
# shellcheck disable=SC2016 # '$HOME', '$SOCAT_PEERADDR': for the guest or socat to expand
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
setup
OUT=$NS-out # "the outside" for the NAT test; removed at exit
SERVER=
cleanup() {
	[ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null
	ip netns del "$OUT" 2>/dev/null
	teardown
}
trap cleanup EXIT
resolved_double_start && ok resolved-double-up || fail resolved-double-up
daemon_start || { fail "daemon-start"; finish; exit 1; }

export BANGER_SSH_TIMEOUT=240
KH=$T/state/ssh/known_hosts
T_START=$(date +%s)
MEM=1024 # MiB per guest (the host default would be a third of RAM each)

# sb ARGS...: the shim in the test's namespace, stdin closed; output in
# $T/out and $T/err, exit status in RC.
sb() {
	in_ns "$SHIM" "$@" </dev/null >"$T/out" 2>"$T/err"
	RC=$?
}
# expect_in NAME FILE PATTERN: ok if FILE has PATTERN (grep -E)
expect_in() {
	if grep -Eq -- "$3" "$2"; then ok "$1"; else fail "$1: no '$3' in: $(head -c 600 "$2")"; fi
}
st() { awk -v k="$2" '$1 == k { print $2 }' "$FS/vms/$1/status" 2>/dev/null; } # st VM KEY
taps() { in_ns ip -o link | awk -F': ' '$2 ~ /^bn-/ { print $2 }' | sort; }
ntaps() { taps | grep -c .; }
tap_of() { grep -o 'network: tap bn-[0-9]*' "$FS/vms/$1/log" 2>/dev/null | tail -n 1 | cut -d' ' -f3; }
# the VMs: directories of vms/ (vms/clone is a file)
vms() { find "$FS/vms" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tr '\n' ' '; }
wait_ssh_state() { # wait_ssh_state VM WANT SECONDS
	local _
	for _ in $(seq 1 "$3"); do
		[ "$(st "$1" ssh)" = "$2" ] && return 0
		sleep 1
	done
	return 1
}
took() { echo "# $1: $(($(date +%s) - $2)) s"; }

# ---- vm run --rm: exit status, spec line, nothing left ------------------------
t=$(date +%s)
sb vm run --rm --memory "$MEM" -- sh -c 'echo to-stdout; echo to-stderr >&2; exit 7'
took "vm run --rm" "$t"
[ "$RC" = 7 ] && ok run-rm-exit-status || fail "run-rm-exit-status: $RC, want 7; stderr: $(cat "$T/err")"
expect_in run-rm-spec-line "$T/err" '^spec: vcpu [0-9]+ \([a-z]+\) memory_mib 1024 \(flag\) disk_size [0-9]+[MGT] \([a-z]+\)$'
expect_in run-rm-generated-name "$T/err" '^creating sandbox-[a-z]+ '
[ "$(cat "$T/out")" = to-stdout ] && ok run-rm-stdout-is-the-commands ||
	fail "run-rm-stdout-is-the-commands: $(cat "$T/out")"
expect_in run-rm-stderr-passed "$T/err" '^to-stderr$'
[ -z "$(vms)" ] && ok run-rm-no-vm || fail "run-rm-no-vm: $(vms)"
n=$(in_ns ip -o link | grep -c bn-)
[ "$n" = 0 ] && ok run-rm-no-tap || fail "run-rm-no-tap: $n taps"
[ -z "$(ls -A "$T/state/vms" 2>/dev/null)" ] && ok run-rm-no-disks || fail "run-rm-no-disks: $(ls "$T/state/vms")"
check run-rm-no-known-host bash -c "! grep -q 'sandbox-' '$KH'"

# ---- two VMs at once ----------------------------------------------------------
t=$(date +%s)
in_ns "$SHIM" vm run --name a --memory "$MEM" -- true </dev/null >"$T/a.out" 2>&1 &
pa=$!
in_ns "$SHIM" vm run --name b --memory "$MEM" -- true </dev/null >"$T/b.out" 2>&1 &
pb=$!
wait "$pa"; ra=$?
wait "$pb"; rb=$?
took "two vm runs at once" "$t"
[ "$ra" = 0 ] && [ "$rb" = 0 ] && ok run-two-at-once ||
	fail "run-two-at-once: a $ra ($(tail -n 3 "$T/a.out")), b $rb ($(tail -n 3 "$T/b.out"))"
check run-leaves-a-running grep -qx running "$FS/vms/a/state"
check run-leaves-b-running grep -qx running "$FS/vms/b/state"
ipa=$(cat "$FS/vms/a/ip") ipb=$(cat "$FS/vms/b/ip")
case $ipa$ipb in
*-* | '') fail "distinct-addresses: a '$ipa' b '$ipb'" ;;
*) [ "$ipa" != "$ipb" ] && ok distinct-addresses || fail "distinct-addresses: both $ipa" ;;
esac
sb vm list
tr -s ' ' <"$T/out" >"$T/list"
expect_in vm-list-header "$T/list" '^NAME STATE IP IMAGE VCPU MEM$'
expect_in vm-list-a "$T/list" "^a running $ipa debian-bookworm-mini [0-9]+ 1G$"
expect_in vm-list-b "$T/list" "^b running $ipb debian-bookworm-mini [0-9]+ 1G$"
# ---- NAME.vm: the daemon's DNS responder on the bridge gateway (docs/dns.md) ----
dq() { in_ns dig +tries=1 +time=3 @172.16.0.1 -p 42053 "$@" 2>&1; }
[ "$(dq +short a.vm)" = "$ipa" ] && ok dns-a || fail "dns-a: $(dq a.vm)"
[ "$(dq +short B.Vm)" = "$ipb" ] && ok dns-b-any-case || fail "dns-b-any-case: $(dq B.Vm)"
[ "$(dq +short -x "$ipb")" = "b.vm." ] && ok dns-reverse || fail "dns-reverse: $(dq -x "$ipb")"
dq nosuch.vm >"$T/dns"
expect_in dns-nxdomain "$T/dns" 'status: NXDOMAIN'
expect_in dns-authoritative "$T/dns" 'flags: qr aa'
dq +short AAAA a.vm >"$T/dns"
[ ! -s "$T/dns" ] && ok dns-no-aaaa || fail "dns-no-aaaa: $(cat "$T/dns")"
dq example.com >"$T/dns"
expect_in dns-not-recursive "$T/dns" 'status: REFUSED'
expect_in dns-doctor "$FS/doctor" '^ok dns NAME.vm answered on 172.16.0.1:42053; systemd-resolved routes ~vm there$'
# ... because the daemon told (the stand-in for) systemd-resolved, about the
# bridge of this namespace: only ~vm, only to the responder, no default route.
brx=$(in_ns ip -o link show br-fc | cut -d: -f1)
want="{\"method\":\"SetLinkDefaultRoute\",\"args\":[$brx,false]}
{\"method\":\"SetLinkDomains\",\"args\":[$brx,[[\"vm\",true]]]}
{\"method\":\"SetLinkDNSEx\",\"args\":[$brx,[[2,[172,16,0,1],42053,\"\"]]]}"
[ "$(cat "$T/resolve1.jsonl")" = "$want" ] && ok dns-resolved-wired ||
	fail "dns-resolved-wired: got '$(cat "$T/resolve1.jsonl")', want '$want'"

sb vm ssh a -- bash -c "echo > /dev/tcp/$ipb/22"
[ "$RC" = 0 ] && ok a-reaches-b || fail "a-reaches-b: $RC $(cat "$T/err")"
sb vm ssh a -- cat /etc/hostname
[ "$RC" = 0 ] && [ "$(cat "$T/out")" = a ] && ok vm-ssh-runs-command || fail "vm-ssh-runs-command: $RC $(cat "$T/out" "$T/err")"
# arguments arrive as given (quoted for the guest's shell)
sb vm ssh a -- printf '<%s>' 'two words' "it's" '$HOME' ''
[ "$(cat "$T/out")" = "<two words><it's><\$HOME><>" ] && ok vm-ssh-quoting || fail "vm-ssh-quoting: $(cat "$T/out")"
sb vm ssh a -- sh -c 'exit 3'
[ "$RC" = 3 ] && ok vm-ssh-exit-status || fail "vm-ssh-exit-status: $RC"

# ---- outbound NAT: a guest reaches "the outside" from the namespace's address ----
ip netns add "$OUT"
ip -n "$OUT" link set lo up
ip -n "$NS" link add bt-nat type veth peer name bt-out netns "$OUT"
ip -n "$NS" addr add 198.51.100.1/24 dev bt-nat
ip -n "$NS" link set bt-nat up
ip -n "$OUT" addr add 198.51.100.2/24 dev bt-out
ip -n "$OUT" link set bt-out up
ip -n "$NS" route add default via 198.51.100.2
# One connection: record the peer's address and what it sent.
ip netns exec "$OUT" socat -u TCP-LISTEN:8080,bind=198.51.100.2,reuseaddr \
	SYSTEM:'echo "peer $SOCAT_PEERADDR"; cat' >"$T/nat.txt" 2>&1 &
SERVER=$!
for _ in $(seq 1 50); do ip netns exec "$OUT" ss -ltn | grep -q ':8080' && break; sleep 0.1; done
sb vm ssh a -- bash -c 'echo hi > /dev/tcp/198.51.100.2/8080'
[ "$RC" = 0 ] && ok nat-connect || fail "nat-connect: $RC $(cat "$T/err")"
for _ in $(seq 1 30); do grep -qx hi "$T/nat.txt" && break; sleep 0.1; done
expect_in nat-masqueraded "$T/nat.txt" '^peer 198\.51\.100\.1$'
expect_in nat-data "$T/nat.txt" '^hi$'
kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; SERVER=

# ---- host-key pinning ----------------------------------------------------------
hk=$(cat "$FS/vms/b/hostkey")
[ -n "$hk" ] && ok hostkey-pinned || fail "hostkey-pinned: empty"
kh=$(ssh-keygen -F b.vm -f "$KH" 2>/dev/null | grep -v '^#' | awk '{ print $2, $3 }')
[ -n "$hk" ] && [ "$hk" = "$kh" ] && ok hostkey-equals-known-hosts || fail "hostkey-equals-known-hosts: '$hk' vs '$kh'"
sb vm ssh b -- cat /etc/ssh/ssh_host_ed25519_key.pub
[ -n "$hk" ] && [ "$(awk '{ print $1, $2 }' "$T/out")" = "$hk" ] && ok hostkey-is-the-guests || fail "hostkey-is-the-guests: $(cat "$T/out")"
# A new host key in the guest (the image makes its key at first boot in
# ExecStartPre of ssh.service; a restart keeps the open session).
sb vm ssh b -- sh -c 'rm -f /etc/ssh/ssh_host_* && ssh-keygen -q -t ed25519 -N "" -C "" -f /etc/ssh/ssh_host_ed25519_key && systemctl restart ssh'
[ "$RC" = 0 ] && ok guest-key-replaced || fail "guest-key-replaced: $RC $(cat "$T/err")"
sb vm ssh b -- true
[ "$RC" = 255 ] && ok changed-key-refused-by-ssh || fail "changed-key-refused-by-ssh: $RC"
expect_in changed-key-message "$T/err" 'Host key verification failed|HOST IDENTIFICATION HAS CHANGED'

# ---- ssh never ready: with --rm the VM is kept for inspection -------------------
# --ssh: CMD would otherwise run through the guest agent, which ssh's bound
# does not concern (docs/agent.md).  k is restored from the snapshot the
# first run made, and ssh waits for the agent's identity work (seconds):
# a bound of 0 s is never met.
t=$(date +%s)
BANGER_SSH_TIMEOUT=0 sb vm run --rm --ssh --name k --memory "$MEM" -- true
took "vm run with a 0 s ssh bound" "$t"
[ "$RC" = 1 ] && ok not-ready-exit-1 || fail "not-ready-exit-1: $RC"
expect_in not-ready-reason "$T/err" 'ssh to k \([0-9.]+\) was not ready after 0 s'
expect_in not-ready-kept "$T/err" '^kept k for inspection: banger vm logs k; banger vm delete k$'
check not-ready-vm-kept test -d "$FS/vms/k"

# ---- bad input through vm run: a clear message, nothing left behind -------------
before_vms=$(vms) before_taps=$(taps)
bad() { # bad NAME PATTERN ARGS...: vm run ARGS fails with PATTERN, leaves nothing
	local name=$1 pat=$2
	shift 2
	sb vm run "$@" -- true
	if [ "$RC" = 0 ]; then
		fail "$name: exit 0"
	elif ! grep -Eq -- "$pat" "$T/err"; then
		fail "$name: no '$pat' in: $(cat "$T/err")"
	elif [ "$(vms)" != "$before_vms" ]; then
		fail "$name: VMs now '$(vms)', were '$before_vms'"
	elif [ "$(taps)" != "$before_taps" ]; then
		fail "$name: taps now '$(taps)', were '$before_taps'"
	else
		ok "$name"
	fi
}
bad bad-image "no image named 'nosuch'" --name x1 --image nosuch
bad bad-taken-name "a VM named 'a' already exists" --name a
bad bad-name-case "invalid VM name 'Bad_Name': use lower case" --name Bad_Name
bad bad-name-dash "bad VM name '-x'" --name -x
bad bad-vcpu-zero 'vcpu must be between 1 and [0-9]+, not 0' --name x2 --vcpu 0
bad bad-memory-words "memory_mib must be a whole number, not 'lots'" --name x3 --memory lots
bad bad-option 'unknown option --bogus' --bogus
[ ! -e "$T/state/vms/x1" ] && [ ! -e "$T/state/vms/x2" ] && [ ! -e "$T/state/vms/x3" ] &&
	ok bad-no-disk-dirs || fail "bad-no-disk-dirs: $(ls "$T/state/vms")"

# ---- kill -9 of the daemon with VMs running ------------------------------------
t=$(date +%s)
pida=$(st a pid) tapa=$(tap_of a) tapk=$(tap_of k) pidk=$(st k pid)
[ -n "$tapa" ] && [ -n "$tapk" ] && taps | grep -qx "$tapa" && taps | grep -qx "$tapk" &&
	ok taps-before-restart || fail "taps-before-restart: a '$tapa' k '$tapk' have '$(taps)'"
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
: >"$T/resolve1.jsonl"
# k's VMM dies while the daemon is down: the new daemon must find it stopped
[ -n "$pidk" ] && kill -KILL "$pidk" 2>/dev/null
daemon_start && ok daemon-restart || fail daemon-restart
check restart-a-running grep -qx running "$FS/vms/a/state"
[ "$(st a pid)" = "$pida" ] && ok restart-a-same-vmm || fail "restart-a-same-vmm: $(st a pid) vs $pida"
[ "$(cat "$FS/vms/a/ip")" = "$ipa" ] && ok restart-a-same-ip || fail "restart-a-same-ip: $(cat "$FS/vms/a/ip")"
[ "$(cat "$FS/vms/b/ip")" = "$ipb" ] && ok restart-b-same-ip || fail "restart-b-same-ip: $(cat "$FS/vms/b/ip")"
check restart-bridge in_ns ip link show br-fc
# the bridge was there at start, so the new daemon serves .vm at once
[ "$(dq +short a.vm)" = "$ipa" ] && ok restart-dns || fail "restart-dns: $(dq a.vm)"
[ "$(grep -c '"method"' "$T/resolve1.jsonl")" = 3 ] && ok restart-dns-rewired ||
	fail "restart-dns-rewired: $(cat "$T/resolve1.jsonl")"
taps | grep -qx "$tapa" && ok restart-a-tap-kept || fail "restart-a-tap-kept: $tapa not in '$(taps)'"
check restart-k-stopped grep -qx stopped "$FS/vms/k/state"
taps | grep -qx "$tapk" && fail "restart-k-tap-gone: $tapk still there" || ok restart-k-tap-gone
wait_ssh_state a ready 60 && ok restart-a-ssh-ready || fail "restart-a-ssh-ready: $(st a ssh) $(cat "$FS/vms/a/err")"
sb vm ssh a -- true
[ "$RC" = 0 ] && ok restart-a-ssh-works || fail "restart-a-ssh-works: $RC $(cat "$T/err")"
# b's guest changed its key: the new daemon's first contact is refused
wait_ssh_state b failed 60 && ok mitm-ssh-failed || fail "mitm-ssh-failed: ssh $(st b ssh)"
expect_in mitm-err "$FS/vms/b/err" '^possible MITM: the host key of b\.vm'
sb vm ssh b -- true
[ "$RC" = 1 ] && ok mitm-vm-ssh-refuses || fail "mitm-vm-ssh-refuses: $RC"
expect_in mitm-vm-ssh-message "$T/err" '^banger: possible MITM'
[ "$(cat "$FS/vms/b/hostkey")" = "$hk" ] && ok mitm-pin-unchanged || fail "mitm-pin-unchanged"
took "daemon restart checks" "$t"

# ---- vm prune: only what is not running -----------------------------------------
sb vm prune --dry-run
[ "$RC" = 0 ] && [ "$(cat "$T/out")" = k ] && [ -d "$FS/vms/k" ] && ok prune-dry-run || fail "prune-dry-run: $RC $(cat "$T/out" "$T/err")"
sb vm prune
[ "$RC" = 0 ] && [ "$(cat "$T/out")" = k ] && ok prune-prints || fail "prune-prints: $RC $(cat "$T/out" "$T/err")"
[ "$(vms)" = "a b " ] && ok prune-kept-running || fail "prune-kept-running: $(vms)"

# ---- delete forgets the key; the same name pins afresh --------------------------
t=$(date +%s)
sb vm delete --force b
[ "$RC" = 0 ] && ok delete-b || fail "delete-b: $(cat "$T/err")"
ssh-keygen -F b.vm -f "$KH" >/dev/null 2>&1 && fail "delete-forgets-key: b.vm still in known_hosts" || ok delete-forgets-key
taps | grep -c . | grep -qx 1 && ok delete-removes-tap || fail "delete-removes-tap: $(taps)"
# --ssh: the shim waits for ssh ready (through the agent it returns once the
# command ran, maybe before ssh is ready)
sb vm run --ssh --name b --memory "$MEM" -- true
took "vm run b again" "$t"
[ "$RC" = 0 ] && ok repin-run || fail "repin-run: $RC $(tail -n 3 "$T/err")"
[ "$(st b ssh)" = ready ] && ok repin-ssh-ready || fail "repin-ssh-ready: $(st b ssh)"
hk2=$(cat "$FS/vms/b/hostkey")
[ -n "$hk2" ] && [ "$hk2" != "$hk" ] && ok repin-new-key || fail "repin-new-key: '$hk2'"
ipb2=$(cat "$FS/vms/b/ip")
[ -n "$ipb2" ] && [ "$ipb2" != - ] && [ "$ipb2" != "$ipa" ] && ok new-vm-other-address || fail "new-vm-other-address: $ipb2 (a has $ipa)"

# ---- clean up through the shim ----------------------------------------------------
sb vm delete --force a
sb vm delete --force b
[ -z "$(vms)" ] && ok all-deleted || fail "all-deleted: $(vms)"
[ "$(ntaps)" = 0 ] && ok no-taps-left || fail "no-taps-left: $(taps)"
! grep -qv '^#' "$KH" 2>/dev/null && ok known-hosts-empty || fail "known-hosts-empty: $(cat "$KH")"
# a clean stop takes the ~vm route back (resolved would ask a closed port)
daemon_stop
[ "$(tail -n 1 "$T/resolve1.jsonl")" = "{\"method\":\"RevertLink\",\"args\":[$brx]}" ] &&
	ok dns-reverted-at-stop || fail "dns-reverted-at-stop: $(tail -n 2 "$T/resolve1.jsonl")"
echo "# total $(($(date +%s) - T_START)) s"
finish
