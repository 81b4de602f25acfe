#!/bin/bash
# The daemon's lifetime, both ways it runs (the README's detached daemon and
# --foreground): SIGTERM ends it within 2 s whatever its VMs are doing (a VM
# killed mid-boot, one whose readiness wait is under way, one running),
# unmounts the tree and leaves the VMs running; after a kill -9 and a
# restart, running VMs are adopted and their readiness is seen by the new
# daemon (its threads start after it detached), and NAME.vm answers.
# Everything network-related lives in the test's network namespace.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
setup

# The daemon, detached (no --foreground): the process that serves is the
# forked child, found by its mount point.
detached_start() {
	nsenter --net="/run/netns/$NS" -- "$BANGERD" --mount "$FS" --state-dir "$T/state" \
		--runtime-dir "$T/run" --cache-dir "$T/cache" --image-cache "$T/imgcache" \
		--config "$T/cfg/config.toml" >>"$T/daemon.log" 2>&1
	local rc=$? _
	[ "$rc" -eq 0 ] || return 1
	# It returned: the tree is there already (it detaches once mounted).
	[ -f "$FS/README" ] || return 1
	DAEMON_PID=$(pgrep -f -- "bangerd --mount $FS " | head -1)
	[ -n "$DAEMON_PID" ]
}
# Exited: gone, or a zombie (a detached daemon is not our child; its new
# parent reaps it when it gets to it).
gone() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null); case $st in "" | Z*) return 0 ;; esac; return 1; }
# SIGTERM; ok NAME when it is gone within 2 s and the mount with it.
term_within() { # term_within NAME
	local t0 ms _
	t0=$(date +%s%N)
	kill -TERM "$DAEMON_PID"
	for _ in $(seq 1 100); do gone "$DAEMON_PID" && break; sleep 0.02; done
	ms=$((($(date +%s%N) - t0) / 1000000))
	if ! gone "$DAEMON_PID"; then
		fail "$1: still running ${ms} ms after SIGTERM"
		kill -KILL "$DAEMON_PID"
	elif [ "$ms" -gt 2000 ]; then
		fail "$1: exited after ${ms} ms"
	else
		ok "$1"
		echo "# $1: exited ${ms} ms after SIGTERM"
	fi
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
	grep -q " $FS " /proc/self/mountinfo && fail "$1-unmounted: $(grep " $FS " /proc/self/mountinfo)" ||
		ok "$1-unmounted"
}
vmm_pid() { awk '$1=="pid"{print $2}' "$FS/vms/$1/status"; }
wait_ssh() { # wait_ssh VM SECONDS: ssh ready (0) or not
	local _
	for _ in $(seq 1 "$(($2 * 5))"); do
		grep -qx 'ssh ready' "$FS/vms/$1/status" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}
dq() { in_ns dig +short +time=2 +tries=1 -p 42053 @172.16.0.1 "$1"; }

for mode in detached foreground; do
	if [ "$mode" = detached ]; then detached_start; else daemon_start; fi ||
		{ fail "$mode-start: $(tail -5 "$T/daemon.log")"; finish; exit 1; }
	ok "$mode-start"
	# A VM killed a second into its boot (the readiness wait had begun).
	mkdir "$FS/vms/k-$mode"
	echo start >"$FS/vms/k-$mode/ctl" && ok "$mode-start-k" || fail "$mode-start-k"
	sleep 1
	echo kill >"$FS/vms/k-$mode/ctl" && ok "$mode-kill-k" || fail "$mode-kill-k"
	check "$mode-k-stopped" grep -qx stopped "$FS/vms/k-$mode/state"
	# A VM whose VMM dies under the daemon mid-boot.
	mkdir "$FS/vms/d-$mode"
	echo start >"$FS/vms/d-$mode/ctl"
	sleep 1
	kill -KILL "$(vmm_pid "d-$mode")"
	wait_state "d-$mode" failed 10 && ok "$mode-vmm-died-failed" ||
		fail "$mode-vmm-died-failed: $(cat "$FS/vms/d-$mode/state")"
	# One booting right now: its readiness wait is under way at SIGTERM.
	mkdir "$FS/vms/b-$mode"
	echo start >"$FS/vms/b-$mode/ctl"
	sleep 1
	grep -qx 'ssh waiting' "$FS/vms/b-$mode/status" && ok "$mode-b-waiting" ||
		fail "$mode-b-waiting: $(grep ssh "$FS/vms/b-$mode/status")"
	bpid=$(vmm_pid "b-$mode")
	term_within "$mode-sigterm-while-booting"
	kill -0 "$bpid" 2>/dev/null && ok "$mode-vm-left-running" || fail "$mode-vm-left-running"

	# kill -9 and a restart (the other way), with b booted meanwhile: it is
	# adopted, and the new daemon sees its sshd ready.
	if [ "$mode" = detached ]; then daemon_start; else detached_start; fi ||
		{ fail "$mode-restart: $(tail -5 "$T/daemon.log")"; finish; exit 1; }
	check "$mode-b-adopted" grep -qx running "$FS/vms/b-$mode/state"
	[ "$(vmm_pid "b-$mode")" = "$bpid" ] && ok "$mode-b-same-vmm" || fail "$mode-b-same-vmm"
	wait_ssh "b-$mode" 240 && ok "$mode-b-ssh-ready-after-restart" ||
		fail "$mode-b-ssh-ready-after-restart: $(grep ssh "$FS/vms/b-$mode/status")"
	ip=$(cat "$FS/vms/b-$mode/ip")
	[ "$(dq "b-$mode.vm")" = "$ip" ] && ok "$mode-dns" || fail "$mode-dns: '$(dq "b-$mode.vm")' want $ip"
	kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=
	if [ "$mode" = detached ]; then detached_start; else daemon_start; fi ||
		{ fail "$mode-restart-after-kill9: $(tail -5 "$T/daemon.log")"; finish; exit 1; }
	check "$mode-b-adopted-after-kill9" grep -qx running "$FS/vms/b-$mode/state"
	wait_ssh "b-$mode" 60 && ok "$mode-b-ssh-ready-after-kill9" ||
		fail "$mode-b-ssh-ready-after-kill9: $(grep ssh "$FS/vms/b-$mode/status")"
	[ "$(dq "b-$mode.vm")" = "$ip" ] && ok "$mode-dns-after-kill9" || fail "$mode-dns-after-kill9"
	term_within "$mode-sigterm-with-running-vm"
	kill -0 "$bpid" 2>/dev/null && ok "$mode-running-vm-kept" || fail "$mode-running-vm-kept"
	kill -KILL "$bpid" 2>/dev/null
done
finish
