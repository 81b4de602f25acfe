#!/bin/bash
# Pull benchmark (issue 11): `banger-catalog pull` of a catalog image from
# nginx on 127.0.0.1 (in a network namespace of its own) vs what a careful
# user runs on the same file from the same server: curl -o, sha256sum,
# zstd -d.  A and B alternate, RUNS times each; medians of the wall times
# and the median of the pairwise ratios A/B are printed.
#   SYNC=1     the pull fsyncs (as bangerd does) and B ends with `sync FILE`
#   IMAGE=NAME which image of IMAGE_CACHE (default debian-bookworm-mini)
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
IMAGE_CACHE=${IMAGE_CACHE:-/var/cache/banger/build}
IMAGE=${IMAGE:-debian-bookworm-mini}
RUNS=${RUNS:-7}
BC=$BUILD/bin/banger-catalog
T=$(mktemp -d /var/tmp/banger-catbench.XXXXXX)
NS=bgcb-${T##*.}
NGINX=
cleanup() {
	[ -n "$NGINX" ] && kill "$NGINX" 2>/dev/null && wait "$NGINX" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
in_ns() { nsenter --net="/run/netns/$NS" -- "$@"; }

ip netns add "$NS"
ip -n "$NS" link set lo up
openssl genpkey -algorithm ed25519 -out "$T/key" 2>/dev/null
openssl pkey -in "$T/key" -pubout -out "$T/key.pub"
"$BC" publish --key "$T/key" --from "$IMAGE_CACHE/images/$IMAGE" "$T/www" >/dev/null 2>&1 ||
	{ echo "publish failed"; exit 1; }
ARCHIVE=$(cd "$T/www" && ls images/"$IMAGE"-*.tar.zst)
mkdir -p "$T/ng"
cat >"$T/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $T/ng/nginx.pid;
error_log $T/ng/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $T/ng;
  proxy_temp_path $T/ng;
  fastcgi_temp_path $T/ng;
  uwsgi_temp_path $T/ng;
  scgi_temp_path $T/ng;
  default_type application/octet-stream;
  server { listen 127.0.0.1:8080; root $T/www; }
}
EOF
nsenter --net="/run/netns/$NS" -- nginx -c "$T/nginx.conf" -p "$T/ng" >/dev/null 2>&1 &
NGINX=$!
for _ in $(seq 1 50); do in_ns curl -sf -o /dev/null http://127.0.0.1:8080/index.json && break; sleep 0.1; done

if [ "${SYNC:-0}" = 1 ]; then nosync=; else nosync=1; fi
run_a() {
	rm -rf "$T/a"
	mkdir -p "$T/a"
	in_ns env BANGER_CATALOG_NO_SYNC="$nosync" "$BC" pull --catalog http://127.0.0.1:8080/ \
		--pubkey "$T/key.pub" --state "$T/state" --cache "$T/a/cache" image "$IMAGE" "$T/a/img" \
		>/dev/null 2>&1
}
run_b() {
	rm -rf "$T/b"
	mkdir -p "$T/b"
	in_ns curl -sf -o "$T/b/b.tar.zst" "http://127.0.0.1:8080/$ARCHIVE" &&
		sha256sum "$T/b/b.tar.zst" >/dev/null &&
		zstd -q -d -f "$T/b/b.tar.zst" -o "$T/b/b.tar" &&
		{ [ "${SYNC:-0}" != 1 ] || sync "$T/b/b.tar"; }
}
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
med() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
run_a && run_b || { echo "warm-up failed"; exit 1; }
: >"$T/a.ms"
: >"$T/b.ms"
: >"$T/ratio"
for _ in $(seq 1 "$RUNS"); do
	t=$(date +%s%N); run_a || { echo "pull failed"; exit 1; }; a=$(ms "$t")
	t=$(date +%s%N); run_b || { echo "baseline failed"; exit 1; }; b=$(ms "$t")
	echo "$a" >>"$T/a.ms"
	echo "$b" >>"$T/b.ms"
	awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f\n", a / b }' >>"$T/ratio"
done
echo "# catalog pull bench $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cpus, load $(cut -d' ' -f1 /proc/loadavg)," \
	"$IMAGE ($(stat -c %s "$T/www/$ARCHIVE") bytes), sync ${SYNC:-0}, $RUNS runs"
echo "pull_ms $(med <"$T/a.ms") baseline_ms $(med <"$T/b.ms") ratio $(med <"$T/ratio")"
