#!/bin/bash
# Workspace benchmark (docs/benchmarks.md, "Workspace"), on a real daemon and
# a real QEMU/TCG guest in a network namespace of its own:
#
#   1. banger vm run DIR: from the command to the repository in the new VM's
#      work disk (the shim's git ls-files, the guest's .git: hash, commit,
#      pack; the daemon's copy into a fresh work disk, file_sync), before
#      boot; against the baseline the issue names, in the same run:
#        tar -C DIR -cf - . | ssh VM 'tar -C /root/x -xf -'
#      into an already-running guest (DIR's .git included, as the guest gets
#      one from banger too).  Goal: baseline / banger >= 3.
#   2. banger vm push of a one-file change on the large tree (through the
#      agent, and over ssh), against a bare `ssh VM true` and the slow way
#      (no push cache).  Goal: < 1 s.
#
#   tests/bench/workspace.sh             (RUNS=3; make bench-workspace)
#   ONLY=push tests/bench/workspace.sh   (the push figures only)
#
# Trees: the issue's test repository (5000 small files in 50 directories,
# one 50 MiB file, a few others) and a larger real one (this checkout,
# /usr/share/doc, /usr/include and /usr/share/man: tens of thousands of
# files), each a git repository with one commit, packed (as a clone is).
# A vm run is timed from its start until the daemon logs the finished copy;
# the VM (its QEMU just started) is then interrupted and deleted.  The daemon's
# own figure for the copy is in the same log line.  Medians in ms.
# Results: printed and written to $BUILD/bench-workspace.txt.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
RUNS=${RUNS:-3}
OUT=$BUILD/bench-workspace.txt
WSIMG=$(tests/ws-image.sh) || { echo "tests/ws-image.sh failed"; exit 1; }
setup
# only the kernel and this image: each import hashes the whole image
rm "$T/imgcache/images/debian-bookworm-mini"
ln -s "$WSIMG" "$T/imgcache/images/"
printf 'default_image_name = "debian-bookworm-git"\n[vm_defaults]\nmemory_mib = 1024\ndisk_size = "8G"\n' >"$T/cfg/config.toml"
DAEMON_START_WAIT=900 daemon_start || exit 1
export BANGER_SSH_TIMEOUT=600 TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
: >"$OUT"
say() { echo "$*" | tee -a "$OUT"; }
med() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3g", a / b; else print "n/a" }'; }
now() { date +%s%N; }
ms() { echo $((($(now) - $1) / 1000000)); }
say "# banger workspace bench $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cpus, load $(cut -d' ' -f1 /proc/loadavg), $RUNS runs"
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@example.invalid GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@example.invalid
export GIT_CONFIG_GLOBAL=$T/gitconfig
git config --global init.defaultBranch main
commit_all() { (cd "$1" && git init -q && git add -A && git -c gc.auto=0 commit -qm one && git gc -q); }

# The test repository.
R=$T/repo
mkdir -p "$R/src/deep" "$R/many"
(
	cd "$R" || exit 1
	for d in $(seq -w 0 49); do
		mkdir "many/$d"
		for f in $(seq -w 0 99); do echo "file $d/$f" >"many/$d/$f.txt"; done
	done
	head -c $((50 << 20)) /dev/urandom >big.bin
	echo 'int main(void) { return 0; }' >src/deep/main.c
	printf '#!/bin/sh\n' >run.sh && chmod +x run.sh
	ln -s src/deep/main.c link
)
commit_all "$R"
# The larger tree.
L=$T/large
mkdir -p "$L"
git ls-files -z | tar --null -T - -cf - | tar -C "$L" -xf -
cp -a /usr/share/doc "$L/usr-share-doc"
cp -a /usr/include "$L/usr-include"
cp -a /usr/share/man "$L/usr-share-man"
echo 0 >"$L/bench-edit.txt"
commit_all "$L"
for t in repo large; do
	d=$R
	[ $t = large ] && d=$L
	n=$(git -C "$d" ls-files | wc -l)
	b=$(du -sb --apparent-size --exclude=.git "$d" | cut -f1)
	g=$(du -sb --apparent-size "$d/.git" | cut -f1)
	say "# tree $t: $n files, $((b >> 20)) MiB, .git $((g >> 20)) MiB"
done

# The running guest: made by vm run from the large tree (the push target).
t0=$(now)
in_ns "$SHIM" vm run --name g "$L" -- true </dev/null >"$T/g.out" 2>&1 ||
	{ cat "$T/g.out"; echo "vm run g failed"; exit 1; }
say "# vm run g (the large tree, then boot and ssh): $(ms "$t0") ms"
sshg() { in_ns ssh -F "$T/cfg/ssh_config" g.vm "$@"; }

# 1. vm run DIR up to the copy in the work disk, vs tar over ssh.
ws_run() { # ws_run DIR NAME [--keep]: sets A (ms to the copy) and B (the daemon's ms)
	local log=$T/state/vms/$2/vmm.log t0 p line rm=(--rm)
	[ "${3:-}" != --keep ] || rm=()
	t0=$(now)
	nsenter --net="/run/netns/$NS" -- "$SHIM" vm run "${rm[@]}" --name "$2" "$1" -- true </dev/null >/dev/null 2>"$T/a.err" &
	p=$!
	until line=$(grep -m1 '^banger: workspace: ' "$log" 2>/dev/null); do
		kill -0 "$p" 2>/dev/null || { cat "$T/a.err"; echo "vm run $2 ended early"; exit 1; }
		sleep 0.01
	done
	A=$(ms "$t0")
	B=$(sed -n 's/.* in \([0-9]*\) ms$/\1/p' <<<"$line")
	kill -TERM "$p"
	wait "$p"
	[ -n "${3:-}" ] || [ ! -e "$FS/vms/$2" ] || in_ns "$SHIM" vm delete --force "$2" >/dev/null 2>&1
}
tar_ssh() { # tar_ssh DIR N: sets C
	local t0
	t0=$(now)
	tar -C "$1" -cf - . | sshg "mkdir /root/b$2 && tar -C /root/b$2 -xf -" || { echo "tar over ssh failed"; exit 1; }
	C=$(ms "$t0")
	sshg "rm -rf /root/b$2"
}
bench_tree() { # bench_tree NAME DIR
	local a=() b=() c=() i ma mb mc
	for i in $(seq "$RUNS"); do
		ws_run "$2" "w$1$i"
		tar_ssh "$2" "$i"
		a+=("$A") b+=("$B") c+=("$C")
		echo "# $1 run $i: vm run to copy $A ms (daemon $B ms), tar over ssh $C ms"
	done
	ma=$(printf '%s\n' "${a[@]}" | med)
	mb=$(printf '%s\n' "${b[@]}" | med)
	mc=$(printf '%s\n' "${c[@]}" | med)
	say "workspace_$1_vmrun_to_copy_ms $ma tar_ssh_ms $mc speedup $(ratio "$mc" "$ma") (daemon copy $mb ms, speedup $(ratio "$mc" "$mb"))"
}
if [ "${ONLY:-}" != push ]; then
	bench_tree repo "$R"
	bench_tree large "$L"
fi

# 2. vm push of a one-file change on the large tree: through the guest
#    agent (the default) and over ssh (--ssh), both the fast way (the push
#    cache knows the guest's base: the host makes the new base commit);
#    against a bare `ssh VM true` and against the slow way (the cache
#    removed first: the guest lists its base with git ls-tree and commits
#    itself, as every push did before the cache), all in this run.
push_once() { # push_once TEXT [--ssh]: one push of a one-file change; sets P (ms)
	local t0
	echo "$1" >"$L/bench-edit.txt"
	t0=$(now)
	in_ns "$SHIM" vm push ${2:+"$2"} g "$L" </dev/null >"$T/push.out" 2>&1 || { cat "$T/push.out"; exit 1; }
	P=$(ms "$t0")
	grep -q '^g: 1 changed, 0 deleted$' "$T/push.out" || { cat "$T/push.out"; echo "push sent more than the one file"; exit 1; }
}
p=() q=() s=() w=()
for i in $(seq "$RUNS"); do
	push_once "a$i"
	p+=("$P")
	push_once "s$i" --ssh
	q+=("$P")
	t0=$(now)
	sshg true </dev/null
	s+=("$(ms "$t0")")
	echo "# push run $i: agent ${p[-1]} ms, --ssh ${q[-1]} ms, ssh true ${s[-1]} ms"
done
sshg "cat /root/repo/bench-edit.txt" | grep -qx "s$RUNS" || { echo "the guest did not get the last push"; exit 1; }
for i in $(seq "$RUNS"); do
	rm -rf "$XDG_CACHE_HOME/banger/push"
	push_once "w$i"
	w+=("$P")
	echo "# slow push run $i: ${w[-1]} ms"
done
sshg "cd /root/repo && cat bench-edit.txt && git status --porcelain" | grep -qx "w$RUNS" || { echo "the slow push did not arrive, or git status is not clean"; exit 1; }
mp=$(printf '%s\n' "${p[@]}" | med)
mq=$(printf '%s\n' "${q[@]}" | med)
ms_=$(printf '%s\n' "${s[@]}" | med)
mw=$(printf '%s\n' "${w[@]}" | med)
say "vm_push_one_file_large_ms $mp (min $(printf '%s\n' "${p[@]}" | sort -n | head -1), max $(printf '%s\n' "${p[@]}" | sort -n | tail -1)) ssh_ms $mq ssh_true_ms $ms_ slow_way_ms $mw slow/fast $(ratio "$mw" "$mp") load $(cut -d' ' -f1 /proc/loadavg)"
in_ns "$SHIM" vm delete --force g >/dev/null 2>&1
