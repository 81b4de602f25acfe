#!/bin/bash
# Pulls through bangerd (issue 11's benchmark), in one run, against what a
# careful user runs on the same file from the same server, and the tree's
# latency while a pull runs:
#   A  echo pull > images/IMAGE/ctl until state is ready, on a daemon whose
#      catalog is signed: the archive's sha256 proves every byte, files are
#      not hashed again (the default)
#   S  the same on a daemon with catalog_insecure = true: every file's sha256
#      is computed and checked as well
#   B  curl -o, sha256sum, zstd -d, sync of the same archive from the same server
#   stat  median latency of stat(2) of vms/x/status and images/IMAGE/state on
#      daemon A, idle and while a pull runs (alternating rounds)
# A, S and B alternate, RUNS times each; medians and the medians of the
# per-round ratios are printed.  nginx serves from the same 2 CPUs, at
# niceness 10 like the daemon's pull threads (a catalog server is
# elsewhere in real use).
#   RUNS=N (default 5)   IMAGE=NAME (default debian-bookworm-mini)   LEVEL=N (zstd, default 9)
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
IMAGE_CACHE=${IMAGE_CACHE:-/var/cache/banger/build}
IMAGE=${IMAGE:-debian-bookworm-mini}
RUNS=${RUNS:-5}
LEVEL=${LEVEL:-9}
BC=$BUILD/bin/banger-catalog
BANGERD=$BUILD/bin/bangerd
T=$(mktemp -d /var/tmp/banger-pullbench.XXXXXX)
NS=bgpb-${T##*.}
NGINX=
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ -n "$NGINX" ] && kill "$NGINX" 2>/dev/null && wait "$NGINX" 2>/dev/null
	umount -l "$T/a/fs" "$T/s/fs" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
in_ns() { nsenter --net="/run/netns/$NS" -- "$@"; }
ip netns add "$NS"
ip -n "$NS" link set lo up
openssl genpkey -algorithm ed25519 -out "$T/key" 2>/dev/null
openssl pkey -in "$T/key" -pubout -out "$T/key.pub"
"$BC" publish --key "$T/key" --level "$LEVEL" --from "$IMAGE_CACHE/images/$IMAGE" "$T/www" >/dev/null 2>&1 ||
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
nsenter --net="/run/netns/$NS" -- nice -n 10 nginx -c "$T/nginx.conf" -p "$T/ng" >/dev/null 2>&1 &
NGINX=$!
for _ in $(seq 1 50); do in_ns curl -sf -o /dev/null http://127.0.0.1:8080/index.json && break; sleep 0.1; done

daemon() { # daemon DIR INSECURE
	mkdir -p "$1/empty"
	printf 'catalog_url = "http://127.0.0.1:8080/"\ncatalog_pubkey = "%s"\ncatalog_insecure = %s\n' \
		"$T/key.pub" "$2" >"$1/config.toml"
	nsenter --net="/run/netns/$NS" -- "$BANGERD" --foreground --mount "$1/fs" --state-dir "$1/state" \
		--runtime-dir "$1/run" --cache-dir "$1/cache" --image-cache "$1/empty" \
		--config "$1/config.toml" >>"$1/daemon.log" 2>&1 &
	PIDS+=("$!")
	for _ in $(seq 1 100); do [ "$(cat "$1/fs/images/$IMAGE/state" 2>/dev/null)" = available ] && return 0; sleep 0.1; done
	echo "daemon in $1 did not list $IMAGE"; cat "$1/daemon.log"; exit 1
}
daemon "$T/a" false
daemon "$T/s" true

ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
med() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
pull() { # pull DIR: from available to ready
	local d=$1/fs/images/$IMAGE
	[ "$(cat "$d/state")" != ready ] || rmdir "$d" || exit 1
	rm -rf "$1/cache/blobs"
	echo pull >"$d/ctl" || exit 1
	while :; do
		case $(cat "$d/state") in
		ready) return 0 ;;
		failed) cat "$d/err"; exit 1 ;;
		esac
		sleep 0.02
	done
}
run_b() {
	rm -rf "$T/b"
	mkdir -p "$T/b"
	in_ns curl -sf -o "$T/b/b.tar.zst" "http://127.0.0.1:8080/$ARCHIVE" &&
		sha256sum "$T/b/b.tar.zst" >/dev/null &&
		zstd -q -d -f "$T/b/b.tar.zst" -o "$T/b/b.tar" && sync "$T/b/b.tar"
}
pull "$T/a" && pull "$T/s" && run_b || { echo "warm-up failed"; exit 1; }
: >"$T/a.ms"; : >"$T/s.ms"; : >"$T/b.ms"; : >"$T/ra"; : >"$T/rs"
for _ in $(seq 1 "$RUNS"); do
	t=$(date +%s%N); pull "$T/a"; a=$(ms "$t")
	t=$(date +%s%N); pull "$T/s"; s=$(ms "$t")
	t=$(date +%s%N); run_b || { echo "baseline failed"; exit 1; }; b=$(ms "$t")
	echo "$a" >>"$T/a.ms"; echo "$s" >>"$T/s.ms"; echo "$b" >>"$T/b.ms"
	awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f\n", a / b }' >>"$T/ra"
	awk -v a="$s" -v b="$b" 'BEGIN { printf "%.3f\n", a / b }' >>"$T/rs"
done
rm -rf "$T/b"

# stat latency: idle vs during a pull, alternating rounds on daemon A
mkdir "$T/a/fs/vms/x"
statlat() { # statlat SECONDS [WHILE-STATE]: median stat(2) latency in microseconds
	python3 - "$T/a/fs/vms/x/status" "$T/a/fs/images/$IMAGE/state" "$1" "${2:-}" <<'EOF'
import os, sys, time
a, b, secs, want = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
lat, end = [], time.monotonic() + secs
while time.monotonic() < end:
    for p in (a, b):
        t = time.perf_counter_ns(); os.stat(p); lat.append(time.perf_counter_ns() - t)
    if want and len(lat) % 50 == 0 and open(b).read().strip() != want:
        break
lat.sort()
print("%.1f %d" % (lat[len(lat) // 2] / 1000, len(lat)))
EOF
}
: >"$T/idle"; : >"$T/busy"; : >"$T/rstat"
for _ in $(seq 1 "$RUNS"); do
	d=$T/a/fs/images/$IMAGE
	[ "$(cat "$d/state")" != ready ] || rmdir "$d"
	rm -rf "$T/a/cache/blobs"
	i=$(statlat 2 | cut -d' ' -f1)
	echo pull >"$d/ctl"
	sleep 0.3
	b=$(statlat 30 pulling)
	while [ "$(cat "$d/state")" = pulling ]; do sleep 0.1; done
	echo "$i" >>"$T/idle"; echo "${b% *}" >>"$T/busy"
	awk -v a="${b% *}" -v b="$i" 'BEGIN { printf "%.3f\n", a / b }' >>"$T/rstat"
done

echo "# pull through bangerd $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cpus, load $(cut -d' ' -f1 /proc/loadavg)," \
	"$IMAGE ($(stat -c %s "$T/www/$ARCHIVE") bytes, zstd level $LEVEL), $RUNS runs"
echo "pull_ms $(med <"$T/a.ms") pull_filesums_ms $(med <"$T/s.ms") baseline_ms $(med <"$T/b.ms")" \
	"ratio $(med <"$T/ra") ratio_filesums $(med <"$T/rs")"
echo "stat_idle_us $(med <"$T/idle") stat_pulling_us $(med <"$T/busy") ratio $(med <"$T/rstat")"
echo "# raw: A $(tr '\n' ' ' <"$T/a.ms")| S $(tr '\n' ' ' <"$T/s.ms")| B $(tr '\n' ' ' <"$T/b.ms")| idle $(tr '\n' ' ' <"$T/idle")| busy $(tr '\n' ' ' <"$T/busy")"
