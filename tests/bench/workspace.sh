#!/bin/bash
# Workspace copy before boot (core/workspace.c through workspace_cli) vs a
# rough stand-in for copying into a running guest: tar -C repo -cf - . |
# tar -C dir -xf - onto a loop-mounted ext4, then syncfs (the writer
# fsyncs its image too).  The real baseline, tar over ssh into a running
# guest, needs the daemon side wired (docs/benchmarks.md says so).
#
#   tests/bench/workspace.sh          (RUNS=5, BUILD=build; root: loop mount)
#
# Trees: the issue's test repository (5000 small files in 50 directories,
# one 50 MiB file, a few others) and a larger real tree (this checkout plus
# /usr/share/doc and /usr/include).  Each run writes into a fresh 8 GiB work disk (its
# creation included) / a fresh directory.  Also: the shim's preparation of
# vm run DIR (file list and guest .git with git) on the test repository.
# Medians in ms; ratio = workspace / tar.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUNS=${RUNS:-5}
W=$BUILD/tests/workspace_cli
[ -x "$W" ] || { echo "missing $W (make unit)"; exit 1; }
T=$(mktemp -d /tmp/banger-wsbench.XXXXXX)
MNT=$T/mnt
cleanup() {
	umount "$MNT" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

med() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s%N; }
ms() { echo $((($(now) - $1) / 1000000)); }

# The test repository.
R=$T/repo
mkdir -p "$R/src/deep" "$R/many"
(
	cd "$R" || exit 1
	git init -q
	for d in $(seq -w 0 49); do
		mkdir "many/$d"
		for f in $(seq -w 0 99); do echo "file $d/$f" >"many/$d/$f.txt"; done
	done
	head -c $((50 << 20)) /dev/urandom >big.bin
	echo 'int main(void) { return 0; }' >src/deep/main.c
	printf '#!/bin/sh\n' >run.sh && chmod +x run.sh
	ln -s src/deep/main.c link
	git add -A && git -c user.name=b -c user.email=b@example.invalid commit -qm one
	git gc -q # packed, as a clone is
)
# The larger tree: this checkout (no build outputs), /usr/share/doc and
# /usr/include.
L=$T/large
mkdir -p "$L"
git ls-files -z | tar --null -T - -cf - | tar -C "$L" -xf -
cp -a /usr/share/doc "$L/usr-share-doc"
cp -a /usr/include "$L/usr-include"

wsdir() { # wsdir TREE DIR: a workspace directory listing every file and symlink of TREE
	mkdir -p "$2"
	ln -s "$1" "$2/repo"
	(cd "$1" && find . -path ./.git -prune -o \( -type f -o -type l \) -printf '%P\0') >"$2/list"
}
wsdir "$R" "$T/ws-repo"
wsdir "$L" "$T/ws-large"
for t in repo large; do
	n=$(tr -cd '\0' <"$T/ws-$t/list" | wc -c)
	b=$(du -sb --apparent-size --exclude=.git "$([ $t = repo ] && echo "$R" || echo "$L")" | cut -f1)
	echo "# tree $t: $n files and symlinks, $((b >> 20)) MiB"
done

truncate -s 8G "$T/loop.img"
mkfs.ext4 -q -F "$T/loop.img"
mkdir -p "$MNT"
mount -o loop "$T/loop.img" "$MNT" || { echo "cannot loop-mount an ext4 image (root needed)"; exit 1; }

bench_tree() { # bench_tree NAME SRC WSDIR
	local a=() b=() i t0
	for i in $(seq "$RUNS"); do
		rm -f "$T/w.img"
		sync
		t0=$(now)
		"$W" create "$T/w.img" 8G && "$W" write "$T/w.img" "$3" >/dev/null 2>"$T/w.err" ||
			{ cat "$T/w.err"; exit 1; }
		a+=("$(ms "$t0")")
		rm -rf "$MNT/dst"
		mkdir "$MNT/dst"
		sync
		t0=$(now)
		tar -C "$2" --exclude=./.git -cf - . | tar -C "$MNT/dst" -xf - && sync -f "$MNT"
		b+=("$(ms "$t0")")
	done
	local ma mb
	ma=$(printf '%s\n' "${a[@]}" | med)
	mb=$(printf '%s\n' "${b[@]}" | med)
	echo "workspace_copy_$1_ms $ma tar_loop_ext4_ms $mb ratio $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.2f", a / b }')"
}
bench_tree repo "$R" "$T/ws-repo"
bench_tree large "$L" "$T/ws-large"

# The shim's side of vm run DIR on the test repository: git ls-files, the
# guest .git (hash, commit, pack), against a fake tree whose ssh is a no-op.
F=$T/fs
mkdir -p "$F/vms" "$T/bin"
printf 'import DIR\n' >"$F/ctl"
cat >"$T/bin/mkdir" <<'STUB'
#!/bin/sh
/bin/mkdir "$@" || exit 1
for d; do :; done
case $d in "$BANGER_FS"/vms/*) ;; *) exit 0 ;; esac
printf '%s\n' "state running" "ip 192.0.2.9" "ssh ready" >"$d/status"
printf "ssh %s.vm\n" "${d##*/}" >"$d/ssh"
: >"$d/ctl"
: >"$d/err"
STUB
printf '#!/bin/sh\nexit 0\n' >"$T/bin/ssh"
printf '#!/bin/sh\nrm -rf "$1"\n' >"$T/bin/rmdir"
chmod +x "$T/bin/"*
c=()
for i in $(seq "$RUNS"); do
	t0=$(now)
	BANGER_FS=$F PATH=$T/bin:$PATH sh shims/banger vm run --rm --name "b$i" "$R" -- true >/dev/null 2>&1 ||
		{ echo "shim vm run failed"; exit 1; }
	c+=("$(ms "$t0")")
done
echo "shim_prepare_repo_ms $(printf '%s\n' "${c[@]}" | med) (list + guest .git + ctl writes, no daemon)"
