#!/bin/bash
# make bench-p9: reads of a VM's `status` through the 9P export (the in-tree
# client, tests/p9/p9c, over the Unix socket) against the same reads of a
# plain file holding the same text, and of the FUSE mount, in one run.
#   pread0: one open file/fid, a read at offset 0 each time (renders anew)
#   cat:    walk/open (or open(2)), read to EOF, clunk/close each time
# Medians of ROUNDS rounds of N reads; ratios are 9P / plain file.  README
# (static text) shows the adapter's own cost apart from the rendering.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
N=${N:-5000}
ROUNDS=${ROUNDS:-5}
P9C=$BUILD/tests/p9c
OUT=$BUILD/bench-p9.txt
setup
daemon_start || exit 1
mkdir "$FS/vms/web"
cat "$FS/vms/web/status" > "$T/plain-status"
: > "$OUT"
say() { echo "$*" | tee -a "$OUT"; }
field() { awk -v k="$2" '$1==k{print $2}' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3g", a / b; else print "n/a" }'; }

say "# 9P bench $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cpus, load $(cut -d' ' -f1 /proc/loadavg), N=$N ROUNDS=$ROUNDS"
in_ns "$P9C" "$T/9p.sock" bench "$N" "$ROUNDS" vms/web/status > "$T/p9-status.txt" || exit 1
in_ns "$P9C" "$T/9p.sock" bench "$N" "$ROUNDS" README > "$T/p9-readme.txt" || exit 1
"$P9C" local "$N" "$ROUNDS" "$T/plain-status" > "$T/plain.txt" || exit 1
"$P9C" local "$N" "$ROUNDS" "$FS/vms/web/status" > "$T/fuse.txt" || exit 1
for k in pread0 cat; do
	p=$(field "$T/plain.txt" $k)
	for src in p9-status p9-readme fuse; do
		v=$(field "$T/$src.txt" $k)
		say "$k $src $v/s plain-file $p/s ratio $(ratio "$v" "$p")"
	done
done
