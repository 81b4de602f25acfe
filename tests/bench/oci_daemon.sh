#!/bin/bash
# OCI import through bangerd (issue 12's benchmark) against what a user
# would script, same registry, same machine, same run:
#   C  echo 'pull-oci REF NAME insecure' > images/ctl until images/NAME is
#      ready, with an empty blob cache (cold): fetch, scan, apply into ext4,
#      banger's init injected, registered
#   W  the same with the blob cache kept (a re-pull: nothing is fetched)
#   B  skopeo copy docker://REF oci:DIR:TAG; umoci unpack; mkfs.ext4 -d of the
#      rootfs into a sparse file of the same size banger picks
# The image is the mmdebstrap Debian rootfs the OCI tests use (one layer,
# gzip), pushed to Debian's docker-registry on 127.0.0.1 in a namespace of
# this script.  C, W and B alternate, RUNS times; medians and the medians
# of the per-round ratios.
#   RUNS=N (default 5)
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
IMAGE_CACHE=${IMAGE_CACHE:-/var/cache/banger/build}
DEB_TAR=${OCI_TEST_CACHE:-$(dirname "$IMAGE_CACHE")/oci-test}/debian-minbase.tar
RUNS=${RUNS:-5}
BANGERD=$BUILD/bin/bangerd
[ -s "$DEB_TAR" ] || { echo "no $DEB_TAR: run tests/integration/oci.sh once"; exit 1; }
T=$(mktemp -d /var/tmp/banger-ocibench.XXXXXX)
NS=bgob-${T##*.}
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	umount -l "$T/d/fs" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
in_ns() { nsenter --net="/run/netns/$NS" -- "$@"; }
ip netns add "$NS"
ip -n "$NS" link set lo up
mkdir -p "$T/reg" "$T/d/empty"
cat >"$T/reg.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $T/reg}}
http: {addr: 127.0.0.1:5000}
EOF
nsenter --net="/run/netns/$NS" -- docker-registry serve "$T/reg.yml" >"$T/reg.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do in_ns curl -sf -o /dev/null http://127.0.0.1:5000/v2/ && break; sleep 0.1; done
REF=127.0.0.1:5000/bench/debian:bookworm
umoci init --layout "$T/lay" && umoci new --image "$T/lay:bookworm" &&
	umoci raw add-layer --image "$T/lay:bookworm" "$DEB_TAR" &&
	in_ns skopeo copy -q --dest-tls-verify=false "oci:$T/lay:bookworm" "docker://$REF" || { echo "push failed"; exit 1; }
: >"$T/d/config.toml"
nsenter --net="/run/netns/$NS" -- "$BANGERD" --foreground --mount "$T/d/fs" --state-dir "$T/d/state" \
	--runtime-dir "$T/d/run" --cache-dir "$T/d/cache" --image-cache "$T/d/empty" \
	--config "$T/d/config.toml" >>"$T/d/daemon.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do [ -f "$T/d/fs/README" ] && break; sleep 0.1; done

ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
med() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ours() { # ours cold|warm
	local d=$T/d/fs/images/deb
	[ ! -d "$d" ] || rmdir "$d" || exit 1
	[ "$1" = warm ] || rm -rf "$T/d/cache/oci"
	echo "pull-oci $REF deb insecure" >"$T/d/fs/images/ctl" || exit 1
	while :; do
		case $(cat "$d/state") in
		ready) return 0 ;;
		failed) cat "$d/err"; exit 1 ;;
		esac
		sleep 0.02
	done
}
SIZE=
base() {
	rm -rf "$T/b"
	mkdir -p "$T/b"
	in_ns skopeo copy -q --src-tls-verify=false "docker://$REF" "oci:$T/b/lay:t" &&
		umoci unpack --image "$T/b/lay:t" "$T/b/bundle" >/dev/null &&
		truncate -s "$SIZE" "$T/b/root.ext4" &&
		mkfs.ext4 -q -F -L rootfs -d "$T/b/bundle/rootfs" "$T/b/root.ext4" && sync "$T/b/root.ext4"
}
ours cold || { echo "warm-up failed"; exit 1; }
SIZE=$(stat -c %s "$T/d/state/images/deb/rootfs.ext4") # the same size banger picked
base || { echo "baseline failed"; exit 1; }
: >"$T/c.ms"; : >"$T/w.ms"; : >"$T/b.ms"; : >"$T/rc"; : >"$T/rw"
for _ in $(seq 1 "$RUNS"); do
	t=$(date +%s%N); ours cold; c=$(ms "$t")
	t=$(date +%s%N); ours warm; w=$(ms "$t")
	t=$(date +%s%N); base || { echo "baseline failed"; exit 1; }; b=$(ms "$t")
	echo "$c" >>"$T/c.ms"; echo "$w" >>"$T/w.ms"; echo "$b" >>"$T/b.ms"
	awk -v a="$c" -v b="$b" 'BEGIN { printf "%.3f\n", a / b }' >>"$T/rc"
	awk -v a="$w" -v b="$b" 'BEGIN { printf "%.3f\n", a / b }' >>"$T/rw"
done
echo "# OCI import through bangerd $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cpus, load $(cut -d' ' -f1 /proc/loadavg)," \
	"$(stat -c %s "$DEB_TAR") bytes of rootfs tar, image $SIZE bytes, $RUNS runs"
echo "cold_ms $(med <"$T/c.ms") warm_ms $(med <"$T/w.ms") baseline_ms $(med <"$T/b.ms")" \
	"ratio_cold $(med <"$T/rc") ratio_warm $(med <"$T/rw")"
echo "# raw: C $(tr '\n' ' ' <"$T/c.ms")| W $(tr '\n' ' ' <"$T/w.ms")| B $(tr '\n' ' ' <"$T/b.ms")"
