#!/bin/bash
# The tree in a file manager and in tools that walk it (issue 14 part 6;
# docs/tree.md "Caching"): Midnight Commander (mc) in tmux browses the tree,
# views status and console.log, and the files that stream or wait
# (console, wait, ready, events), and comes back to its panel every time,
# never hanging; `find -exec cat` of every status and `ls -lR` finish;
# streams show size 0, console.log the console's; stat and read are never
# stale after a change.  One guest is started (not waited for: its console
# fills while the checks run).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
for t in mc tmux; do command -v $t >/dev/null || { echo "$t is missing (tests/deps.sh)"; exit 1; }; done
setup
TMUX_SOCK=bgt-fm-${T##*.}
cleanup() { tmux -L "$TMUX_SOCK" kill-server 2>/dev/null; teardown; }
trap cleanup EXIT
daemon_start || { fail "daemon-start"; finish; exit 1; }
same() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: '$2' differs from '$3'"; fi; }

mkdir "$FS/vms/web" "$FS/vms/web/ports/8080"
echo 512 > "$FS/vms/web/memory_mib"
echo start > "$FS/vms/web/ctl" || fail "start: $(cat "$FS/vms/web/err")"
for _ in $(seq 1 100); do [ "$(stat -c %s "$FS/vms/web/console.log")" -gt 2000 ] && break; sleep 0.1; done

# ---- sizes: streams are 0, console.log is the console so far -----------------------
for f in vms/web/console vms/web/wait vms/web/ready events vms/clone; do
	same "size0-${f##*/}" "$(stat -c %s "$FS/$f")" 0
done
n=$(stat -c %s "$FS/vms/web/console.log")
check console-log-size [ "$n" -gt 2000 ]
check console-log-eof timeout 10 cat "$FS/vms/web/console.log"
check console-log-content grep -q 'Linux version' "$FS/vms/web/console.log"
same status-size "$(stat -c %s "$FS/vms/web/status")" "$(wc -c <"$FS/vms/web/status")"

# ---- never stale: a change is seen by the next stat and read -------------------------
mkdir "$FS/vms/st"
for v in 2 3 12; do
	echo "$v" > "$FS/vms/st/vcpu"
	same "fresh-read-$v" "$(cat "$FS/vms/st/vcpu")" "$v"
	same "fresh-size-$v" "$(stat -c %s "$FS/vms/st/vcpu")" "$((${#v} + 1))"
	same "fresh-config-$v" "$(sed -n 's/^vcpu //p' "$FS/vms/st/config")" "$v"
done
rmdir "$FS/vms/st"
check deleted-not-stale test ! -e "$FS/vms/st/status"
mkdir "$FS/vms/st" # the same name again: a new VM, not the old inode
same recreated-fresh "$(cat "$FS/vms/st/vcpu")" "$(sed -n 's/^vcpu \([0-9]*\).*/\1/p' "$FS/defaults")"
rmdir "$FS/vms/st"

# ---- what previewers ask first: file(1) says "empty" from the size, reads nothing
for f in vms/web/console vms/web/wait vms/web/ready events vms/clone; do
	same "mime-${f##*/}" "$(timeout 10 file -b --mime-type "$FS/$f")" inode/x-empty
done
same mime-status "$(timeout 10 file -b --mime-type "$FS/vms/web/status")" text/plain
# a read-only open of clone (a viewer's) makes no VM
before=$(find "$FS/vms" -mindepth 1 -maxdepth 1 | wc -l)
r=$(cat "$FS/vms/clone" 2>&1) && fail "clone-read-only: '$r'" || ok clone-read-only-refused
same clone-read-only-no-vm "$(find "$FS/vms" -mindepth 1 -maxdepth 1 | wc -l)" "$before"
check clone-read-only-err grep -q 'opened read-write' "$FS/err"

# ---- tools that walk everything ------------------------------------------------------
out=$(timeout 60 find "$FS" -type f -name status -exec cat {} + 2>&1)
rc=$?
same find-exec-cat-rc "$rc" 0
case $out in *"name web"*"name debian-bookworm-mini"* | *"name debian-bookworm-mini"*"name web"*) ok find-exec-cat-content ;;
*) fail "find-exec-cat-content: $(head -c 300 <<<"$out")" ;; esac
check ls-lR timeout 60 ls -lR "$FS"

# ---- mc in tmux ---------------------------------------------------------------------
export HOME=$T/mchome
mkdir -p "$HOME"
tm() { tmux -L "$TMUX_SOCK" "$@"; }
pane() { tm capture-pane -p -t fm 2>/dev/null; }
# shows NAME PATTERN: the pane shows PATTERN within 10 s (mc never hangs)
shows() {
	local _
	for _ in $(seq 1 100); do pane | grep -q -- "$2" && { ok "$1"; return 0; }; sleep 0.1; done
	fail "$1: '$2' not on the screen after 10 s; it shows: $(pane | head -5 | tr '\n' '|')"
	return 1
}
# go NAME: the cursor to NAME (quick search); enter DIR: into DIR (Enter
# ends the search and opens the directory)
go() { tm send-keys -t fm Home; sleep 0.2; tm send-keys -t fm C-s "$1"; sleep 0.3; }
enter() { go "$1"; tm send-keys -t fm Enter; sleep 0.2; }
up() { tm send-keys -t fm Home; sleep 0.2; tm send-keys -t fm Enter; }
panel() { shows "$1" 'Name .*| Size'; }
view() { # view FILE WANT: F3 on FILE shows WANT (or returns at once), q, the panel again
	go "$1"
	tm send-keys -t fm Escape 3
	[ -z "$2" ] || shows "mc-view-$1" "$2"
	sleep 0.5
	pane | grep -q 'Name .*| Size' || tm send-keys -t fm q
	panel "mc-back-from-$1"
}
tm new-session -d -s fm -x 132 -y 45 "cd '$FS' && mc -a -u"
panel mc-starts
shows mc-root-listing '/vms '
enter vms
shows mc-in-vms ' clone '
enter web
shows mc-in-web ' console.log '
enter ports
shows mc-in-ports '/8080 '
up
shows mc-up-to-web ' status'
view status 'name web'
view console.log 'Linux version'
view console 'Linux version' # its first page (reading on to its end would wait)
up
up
shows mc-up-to-root ' README'
view README 'banger control tree'
tm send-keys -t fm Escape 0
sleep 0.5
tm send-keys -t fm Enter 2>/dev/null # "Do you really want to quit?"
for _ in $(seq 1 50); do tm has-session -t fm 2>/dev/null || break; sleep 0.1; done
tm has-session -t fm 2>/dev/null && fail "mc-quits: still running" || ok mc-quits

echo kill > "$FS/vms/web/ctl"
finish
