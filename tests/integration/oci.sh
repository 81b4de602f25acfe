#!/bin/bash
# tests/integration/oci.sh: OCI image import (core/oci*.c, through
# build/bin/banger-oci) against real components, in a network namespace
# of its own (every server listens on its loopback):
#   - Debian's docker-registry three times: anonymous, htpasswd (Basic)
#     auth, and token auth with a small token server (oci-helper.py token);
#   - images built here and pushed with skopeo: a Debian rootfs made with
#     mmdebstrap, a busybox image, and layers that exercise every rule of
#     applying layers (oci-helper.py rules);
#   - umoci unpack of the same images as the reference: every path's type,
#     mode, owner, size, sha256, symlink target, device numbers, xattrs and
#     hard link group must match what the ext4 holds (banger-oci ls), and
#     e2fsck -fn must find nothing;
#   - a scripted registry (oci-helper.py registry) for what a real one does
#     not do: wrong bytes for a digest, a 50 MiB manifest, 1000 layers,
#     redirects to another origin, slow blobs (kill -9, cancel);
#   - local layout import, concurrent pulls sharing layers, a full host, a
#     truncated gzip, traversal, a sparse 1 TB file, 1 million empty files.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
OCI=$BUILD/bin/banger-oci
H=$PWD/tests/integration/oci-helper.py
T=$(mktemp -d /tmp/banger-oci.XXXXXX)
NS=bgo-${T##*.}
PIDS=()
MNTS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for p in "${MNTS[@]}"; do umount -l "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	if [ -n "${KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
ip netns add "$NS" && ip -n "$NS" link set lo up || exit 1

in_ns() { nsenter --net="/run/netns/$NS" -- "$@"; }
start() { # start LOGNAME CMD...: in the namespace, in the background
	local log=$1
	shift
	nsenter --net="/run/netns/$NS" -- "$@" >>"$T/$log.log" 2>&1 &
	PIDS+=("$!")
}
wait_port() {
	local _
	for _ in $(seq 1 150); do
		in_ns bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on port $1" >&2
	return 1
}
# oci ARGS...: banger-oci in the namespace; output in $T/out, status returned
oci() { in_ns "$OCI" "$@" >"$T/out" 2>&1; }
pull() { oci pull --insecure --cache "${CACHE:-$T/cache}" "$@"; }
listing() { "$OCI" ls "$1" | grep -v '^/lost+found'; }
same_as_umoci() { # same_as_umoci NAME BUNDLE LAYOUT:TAG
	rm -rf "$T/u-$1"
	if ! umoci unpack --image "$3" "$T/u-$1" >"$T/umoci-$1.log" 2>&1; then
		fail "$1-vs-umoci: umoci unpack failed: $(tail -1 "$T/umoci-$1.log")"
		return
	fi
	listing "$2/rootfs.ext4" >"$T/$1.ours"
	"$OCI" ls-dir "$T/u-$1/rootfs" >"$T/$1.umoci"
	if diff "$T/$1.ours" "$T/$1.umoci" >"$T/$1.diff"; then
		ok "$1-vs-umoci ($(wc -l <"$T/$1.ours") paths)"
	else
		fail "$1-vs-umoci: $(head -6 "$T/$1.diff")"
	fi
	rm -rf "$T/u-$1"
}
fsck_ok() { check "$1-e2fsck" e2fsck -fn "$2/rootfs.ext4"; }
refused() { # refused NAME BUNDLE WORDS: the last command failed with WORDS, left nothing
	if [ -e "$2" ] || compgen -G "$2.tmp-*" >/dev/null; then
		fail "$1: a bundle or a temporary directory was left: $(ls -d "$2"*)"
	elif ! grep -q -- "$3" "$T/out"; then
		fail "$1: expected \"$3\", got: $(cat "$T/out")"
	else
		ok "$1: $(tail -1 "$T/out" | cut -c1-160)"
	fi
}
push() { # push LAYOUT:TAG REF [skopeo args]: to a registry in the namespace
	local src=$1 dst=$2
	shift 2
	in_ns skopeo copy -q --dest-tls-verify=false "$@" "oci:$src" "docker://$dst" >>"$T/skopeo.log" 2>&1 ||
		{ echo "skopeo copy $src failed:" >&2; tail -5 "$T/skopeo.log" >&2; return 1; }
}
blob_gets() { grep -c "GET /v2/$2/blobs/$3" "$T/$1.log"; }

mkdir -p "$T/b" "$T/lay" "$T/src"

# --- registries ---
registry_conf() { # registry_conf PORT DIR [auth yaml]
	mkdir -p "$T/reg$1"
	cat >"$T/reg$1.yml" <<EOF
version: 0.1
log: {level: info, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $T/reg$1}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$1}
${2:-}
EOF
}
registry_conf 5000
htpasswd -Bbn tester secret >"$T/htpasswd" 2>/dev/null
registry_conf 5001 "auth: {htpasswd: {realm: banger-test, path: $T/htpasswd}}"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/token.key" -out "$T/token.crt" -days 2 \
	-subj /CN=banger-test-token >/dev/null 2>&1
registry_conf 5002 "auth: {token: {realm: 'http://127.0.0.1:5003/token', service: banger-test, issuer: banger-test-issuer, rootcertbundle: $T/token.crt}}"
for p in 5000 5001 5002; do start "reg$p" docker-registry serve "$T/reg$p.yml"; done
start token python3 "$H" token 5003 "$T/token.key" "$T/token.crt" banger-test-issuer banger-test "$T/token-requests.log"
for p in 5000 5001 5002 5003; do wait_port "$p" || exit 1; done
mkdir -p "$T/docker"
printf '{"auths":{"127.0.0.1:5001":{"auth":"%s"},"127.0.0.1:5021":{"auth":"%s"}}}\n' \
	"$(printf tester:secret | base64)" "$(printf tester:secret | base64)" >"$T/docker/config.json"

# --- images ---
# A Debian rootfs made with mmdebstrap, cached between runs next to the
# image cache (a minute to build; only Debian's mirror is used).
DEB_TAR=${OCI_TEST_CACHE:-$(dirname "$IMAGE_CACHE")/oci-test}/debian-minbase.tar
if [ ! -s "$DEB_TAR" ]; then
	mkdir -p "$(dirname "$DEB_TAR")"
	sources=
	for s in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
		[ -s "$s" ] && { sources=$s; break; }
	done
	echo "building $DEB_TAR with mmdebstrap" >&2
	mmdebstrap --quiet --variant=minbase --mode=root --format=tar \
		--include=openssh-server,iproute2,iputils-ping,kmod,ca-certificates,less \
		bookworm "$DEB_TAR.tmp.$$" "$sources" </dev/null >"$T/mmdebstrap.log" 2>&1 &&
		mv "$DEB_TAR.tmp.$$" "$DEB_TAR" || { tail "$T/mmdebstrap.log"; rm -f "$DEB_TAR.tmp.$$"; exit 1; }
fi
umoci init --layout "$T/lay/debian" && umoci new --image "$T/lay/debian:bookworm" &&
	umoci raw add-layer --image "$T/lay/debian:bookworm" "$DEB_TAR" || exit 1
cp -a "$T/lay/debian" "$T/lay/debplus"
mkdir -p "$T/src/extra/etc" && echo extra >"$T/src/extra/etc/extra" &&
	tar --numeric-owner -C "$T/src/extra" -cf "$T/src/extra.tar" etc &&
	umoci raw add-layer --image "$T/lay/debplus:bookworm" "$T/src/extra.tar" || exit 1

# busybox: the static binary and its applets as symlinks, no sshd.
bb=$T/src/bb
mkdir -p "$bb"/{bin,etc,root,tmp,dev,proc,sys,run}
cp /bin/busybox "$bb/bin/busybox"
for a in $(busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$bb/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$bb/etc/passwd"
printf 'root:x:0:\n' >"$bb/etc/group"
chmod 1777 "$bb/tmp"
chmod 700 "$bb/root"
tar --numeric-owner -C "$bb" -cf "$T/src/bb.tar" . && gzip -k "$T/src/bb.tar" || exit 1
python3 "$H" layout "$T/lay/busybox" latest "$T/src/bb.tar.gz" || exit 1

# Layers for every rule: gzip, and the same as zstd.
python3 "$H" rules "$T/src" || exit 1
for i in 1 2 3; do
	gzip -k "$T/src/rules$i.tar" && zstd -q -k "$T/src/rules$i.tar" || exit 1
done
python3 "$H" layout "$T/lay/rules" v1 "$T"/src/rules{1,2,3}.tar.gz || exit 1
python3 "$H" layout "$T/lay/rules-zstd" v1 "$T"/src/rules{1,2,3}.tar.zst || exit 1

push "$T/lay/debian:bookworm" 127.0.0.1:5000/library/debian:bookworm || exit 1
push "$T/lay/debplus:bookworm" 127.0.0.1:5000/library/debian:plus || exit 1
push "$T/lay/busybox:latest" 127.0.0.1:5000/tools/busybox:latest || exit 1
push "$T/lay/rules:v1" 127.0.0.1:5000/test/rules:v1 || exit 1
push "$T/lay/rules-zstd:v1" 127.0.0.1:5000/test/rules:zstd || exit 1
push "$T/lay/busybox:latest" 127.0.0.1:5001/private/busybox:latest --dest-creds tester:secret || exit 1
push "$T/lay/busybox:latest" 127.0.0.1:5002/tokened/busybox:latest || exit 1
DEB_LAYER=$(jq -r '.layers[0].digest' "$T/lay/debian/blobs/sha256/$(jq -r '.manifests[0].digest' "$T/lay/debian/index.json" | cut -d: -f2)")

# --- pulls compared with umoci ---
if pull 127.0.0.1:5000/library/debian:bookworm "$T/b/deb"; then
	ok "pull-debian"
	fsck_ok debian "$T/b/deb"
	same_as_umoci debian "$T/b/deb" "$T/lay/debian:bookworm"
	check manifest-json jq -e '.kind == "image" and .name == "deb" and (.oci.digest | startswith("sha256:")) and (.oci.layers | length) == 1 and .size > 0' "$T/b/deb/manifest.json"
	grep -q '^/usr/bin/ping f .*security.capability=' "$T/debian.ours" && ok "ping-keeps-cap_net_raw" ||
		fail "ping-keeps-cap_net_raw: $(grep '^/usr/bin/ping ' "$T/debian.ours")"
else
	fail "pull-debian: $(cat "$T/out")"
fi
digest=$(jq -r .oci.digest "$T/b/deb/manifest.json" 2>/dev/null)
if pull "127.0.0.1:5000/library/debian@$digest" "$T/b/deb-digest" &&
	[ "$(listing "$T/b/deb-digest/rootfs.ext4" | sha256sum)" = "$(sha256sum <"$T/debian.ours")" ]; then
	ok "pull-by-digest"
else
	fail "pull-by-digest: $(cat "$T/out")"
fi
gets=$(blob_gets reg5000 library/debian "$DEB_LAYER")
if pull 127.0.0.1:5000/library/debian:bookworm "$T/b/deb-warm" && grep -q 'cached' "$T/out" &&
	[ "$(blob_gets reg5000 library/debian "$DEB_LAYER")" = "$gets" ]; then
	ok "warm-re-pull-fetches-no-layer"
else
	fail "warm-re-pull-fetches-no-layer: $(cat "$T/out")"
fi
oci pull --cache "$T/cache" 127.0.0.1:5000/library/debian:bookworm "$T/b/deb-tls"
refused "plain-http-needs-insecure" "$T/b/deb-tls" "https://127.0.0.1:5000"

for img in busybox:tools/busybox:latest rules:test/rules:v1; do
	IFS=: read -r name repo tag <<<"$img"
	if pull "127.0.0.1:5000/$repo:$tag" "$T/b/$name"; then
		ok "pull-$name"
		fsck_ok "$name" "$T/b/$name"
		same_as_umoci "$name" "$T/b/$name" "$T/lay/$name:$tag"
	else
		fail "pull-$name: $(cat "$T/out")"
	fi
done
if pull 127.0.0.1:5000/test/rules:zstd "$T/b/rules-zstd" && grep -q tar+zstd "$T/lay/rules-zstd/blobs/sha256/"* &&
	listing "$T/b/rules-zstd/rootfs.ext4" | diff -q - "$T/rules.ours" >/dev/null; then
	ok "pull-zstd-layers-same-tree"
else
	fail "pull-zstd-layers-same-tree: $(cat "$T/out")"
fi
if oci import --cache "$T/cache" "$T/lay/rules:v1" "$T/b/rules-local" &&
	listing "$T/b/rules-local/rootfs.ext4" | diff -q - "$T/rules.ours" >/dev/null; then
	ok "import-local-layout-same-tree"
else
	fail "import-local-layout-same-tree: $(cat "$T/out")"
fi
oci import --cache "$T/cache" "$T/lay/rules:nope" "$T/b/nope"
refused "import-unknown-tag" "$T/b/nope" 'no image tagged "nope" (tags: v1)'

# --- authentication ---
DOCKER_CONFIG=$T/nowhere pull 127.0.0.1:5001/private/busybox:latest "$T/b/basic-anon"
refused "basic-auth-without-credentials" "$T/b/basic-anon" "refused access"
if DOCKER_CONFIG=$T/docker pull 127.0.0.1:5001/private/busybox:latest "$T/b/basic"; then
	ok "basic-auth-with-docker-config"
else
	fail "basic-auth-with-docker-config: $(cat "$T/out")"
fi
if pull 127.0.0.1:5002/tokened/busybox:latest "$T/b/token" &&
	grep -q 'scope=repository%3Atokened%2Fbusybox%3Apull anon' "$T/token-requests.log"; then
	ok "bearer-token-flow"
else
	fail "bearer-token-flow: $(cat "$T/out")"
fi

# --- concurrent pulls sharing a layer: one transfer ---
gets=$(blob_gets reg5000 library/debian "$DEB_LAYER")
# (nsenter execs the command: $! is banger-oci itself)
nsenter --net="/run/netns/$NS" -- "$OCI" pull --insecure --quiet --cache "$T/cache2" \
	127.0.0.1:5000/library/debian:bookworm "$T/b/c1" >"$T/c1.out" 2>&1 &
c1=$!
nsenter --net="/run/netns/$NS" -- "$OCI" pull --insecure --quiet --cache "$T/cache2" \
	127.0.0.1:5000/library/debian:plus "$T/b/c2" >"$T/c2.out" 2>&1 &
c2=$!
wait "$c1"; r1=$?
wait "$c2"; r2=$?
now=$(blob_gets reg5000 library/debian "$DEB_LAYER")
if [ "$r1" = 0 ] && [ "$r2" = 0 ] && [ "$((now - gets))" = 1 ] && [ -s "$T/b/c2/rootfs.ext4" ]; then
	ok "concurrent-pulls-share-the-layer"
else
	fail "concurrent-pulls-share-the-layer: $r1 $r2 $((now - gets)) GETs $(cat "$T/c1.out" "$T/c2.out")"
fi

# --- hostile registries and layers ---
scripted() { # scripted PORT LAYOUT [options]: a scripted registry
	local port=$1
	shift
	start "scripted$port" python3 "$H" registry "$port" "$@"
	wait_port "$port"
}
# a registry that sends wrong bytes for the layer's digest
BB_LAYER=$(jq -r '.layers[0].digest' "$T/lay/busybox/blobs/sha256/$(jq -r '.manifests[0].digest' "$T/lay/busybox/index.json" | cut -d: -f2)")
# (each with a cache of its own: the layer is in $T/cache already)
scripted 5010 "$T/lay/busybox" "$T/scripted5010-req.log" --bad-content "$BB_LAYER"
CACHE=$T/cache-bad pull 127.0.0.1:5010/x/busybox:latest "$T/b/bad-digest"
refused "wrong-digest-refused" "$T/b/bad-digest" "has the wrong content"
[ -z "$(find "$T/cache-bad/oci/blobs/sha256" -name "*${BB_LAYER#sha256:}*")" ] &&
	ok "wrong-digest-leaves-no-blob" || fail "wrong-digest-leaves-no-blob: $(find "$T/cache-bad/oci/blobs")"
# a 50 MiB manifest, a manifest of 1000 layers
python3 "$H" layout "$T/lay/bigman" t --pad 52428800 "$T/src/bb.tar.gz"
scripted 5013 "$T/lay/bigman" "$T/scripted5013-req.log"
pull 127.0.0.1:5013/x/big:t "$T/b/bigman"
refused "50MiB-manifest-refused" "$T/b/bigman" "larger than 4194304 bytes"
python3 "$H" layout "$T/lay/many" t --repeat 1000 "$T/src/extra.tar"
scripted 5014 "$T/lay/many" "$T/scripted5014-req.log"
pull 127.0.0.1:5014/x/many:t "$T/b/many"
refused "1000-layers-refused" "$T/b/many" "1000 layers, more than the limit of 128"
# redirects to another origin: the Authorization header must stay home
scripted 5021 "$T/lay/busybox" "$T/redirect.log" --basic tester:secret --redirect 5022
if DOCKER_CONFIG=$T/docker CACHE=$T/cache-redirect pull 127.0.0.1:5021/x/busybox:latest "$T/b/redirected" &&
	grep -q '^cdn ' "$T/redirect.log" && ! grep -q LEAKED "$T/redirect.log" &&
	grep -q "GET /v2/x/busybox/blobs/.* auth=yes" "$T/redirect.log"; then
	ok "redirect-followed-without-authorization"
else
	fail "redirect-followed-without-authorization: $(cat "$T/out" "$T/redirect.log" | tail -5)"
fi
# layers that are broken or hostile, from a local layout
head -c $(($(stat -c %s "$T/src/bb.tar.gz") / 2)) "$T/src/bb.tar.gz" >"$T/src/cut.tar.gz"
python3 "$H" layout "$T/lay/cut" t "$T/src/cut.tar.gz"
scripted 5015 "$T/lay/cut" "$T/scripted5015-req.log"
pull 127.0.0.1:5015/x/cut:t "$T/b/cut"
refused "truncated-gzip-refused" "$T/b/cut" "truncated gzip input"
python3 - "$T/src" <<'EOF'
import io, sys, tarfile
def t(path, entries):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, link in entries:
            ti = tarfile.TarInfo(name)
            if link:
                ti.type, ti.linkname = tarfile.LNKTYPE, link
                tar.addfile(ti)
            else:
                ti.size = 1
                tar.addfile(ti, io.BytesIO(b"x"))
t(sys.argv[1] + "/evil.tar", [("etc/ok", None), ("../../etc/evil", None)])
t(sys.argv[1] + "/early.tar", [("early", "late"), ("late", None)])
EOF
for case in "evil:\"..\" component is refused" "early:hard link target \"late\" does not exist (yet)"; do
	name=${case%%:*}
	python3 "$H" layout "$T/lay/$name" t "$T/src/$name.tar"
	oci import --cache "$T/cache" "$T/lay/$name:t" "$T/b/$name"
	refused "$name-layer-refused" "$T/b/$name" "${case#*:}"
	grep -q 'layer sha256:[0-9a-f]\{64\}: entry' "$T/out" && ok "$name-names-layer-and-entry" ||
		fail "$name-names-layer-and-entry: $(cat "$T/out")"
done

# kill -9 mid-pull, then a cancel, then the pull that finishes
scripted 5016 "$T/lay/busybox" "$T/scripted5016-req.log" --slow
partial=$T/cache3/oci/blobs/sha256/.${BB_LAYER#sha256:}.partial
nsenter --net="/run/netns/$NS" -- "$OCI" pull --insecure --quiet --cache "$T/cache3" \
	127.0.0.1:5016/x/busybox:latest "$T/b/killed" >"$T/out" 2>&1 &
victim=$!
for _ in $(seq 1 100); do [ -s "$partial" ] && break; sleep 0.1; done
kill -KILL "$victim"
wait "$victim" 2>/dev/null
if [ -s "$partial" ] && [ ! -e "$T/b/killed" ] && ! compgen -G "$T/b/killed.tmp-*" >/dev/null &&
	! kill -0 "$victim" 2>/dev/null; then
	ok "kill-9-mid-pull-registers-nothing"
else
	fail "kill-9-mid-pull-registers-nothing: $(find "$T/b" "$partial" -maxdepth 1 2>&1 | tail -3)"
fi
nsenter --net="/run/netns/$NS" -- "$OCI" pull --insecure --quiet --cache "$T/cache3" \
	127.0.0.1:5016/x/busybox:latest "$T/b/cancelled" >"$T/out" 2>&1 &
victim=$!
sleep 1
kill -TERM "$victim"
wait "$victim"
rc=$?
refused "cancel-mid-pull" "$T/b/cancelled" "cancelled"
[ "$rc" != 0 ] && [ ! -e "$partial" ] && ok "cancel-removes-its-partial-blob" ||
	fail "cancel-removes-its-partial-blob: rc $rc, $(ls -la "$partial" 2>&1)"
if CACHE=$T/cache3 pull 127.0.0.1:5000/tools/busybox:latest "$T/b/after-kill" &&
	! compgen -G "$T/cache3/oci/blobs/sha256/.*" >/dev/null; then
	ok "pull-after-kill-completes"
else
	fail "pull-after-kill-completes: $(cat "$T/out")"
fi

# a full host: the blob cache on a small tmpfs, then the bundle on one
mkdir -p "$T/small1" "$T/small2"
mount -t tmpfs -o size=32m tmpfs "$T/small1" && MNTS+=("$T/small1")
mount -t tmpfs -o size=100m tmpfs "$T/small2" && MNTS+=("$T/small2")
CACHE=$T/small1/cache pull 127.0.0.1:5000/library/debian:bookworm "$T/small1/deb"
refused "full-host-while-fetching" "$T/small1/deb" "No space left on device"
pull 127.0.0.1:5000/library/debian:bookworm "$T/small2/deb"
refused "full-host-while-building" "$T/small2/deb" "no space left on the host"
[ -z "$(ls -A "$T/small2")" ] && ok "full-host-leaves-nothing" || fail "full-host-leaves-nothing: $(ls -A "$T/small2")"

# a tar bomb: a sparse file claiming 1 TB
mkdir -p "$T/src/bomb"
truncate -s 1T "$T/src/bomb/huge" && printf tail | dd of="$T/src/bomb/huge" bs=1 seek=$((1024 ** 4 - 4)) conv=notrunc 2>/dev/null
tar --sparse --format=posix -C "$T/src/bomb" -cf "$T/src/bomb.tar" huge && zstd -q "$T/src/bomb.tar"
python3 "$H" layout "$T/lay/bomb" t "$T/src/bomb.tar.zst"
if oci import --cache "$T/cache" "$T/lay/bomb:t" "$T/b/bomb" &&
	listing "$T/b/bomb/rootfs.ext4" | grep -q '^/huge f 0644 0 0 1099511627776 ' &&
	[ "$(stat -c %s "$T/b/bomb/rootfs.ext4")" -lt $((1024 ** 3)) ] && e2fsck -fn "$T/b/bomb/rootfs.ext4" >/dev/null 2>&1; then
	ok "sparse-1TB-file-stays-sparse ($(du -h "$T/b/bomb/rootfs.ext4" | cut -f1) on disk)"
else
	fail "sparse-1TB-file-stays-sparse: $(cat "$T/out")"
fi

# one million empty files
python3 "$H" files "$T/src/files.tar" 1000000 && zstd -q --rm -1 "$T/src/files.tar" &&
	python3 "$H" layout "$T/lay/files" t "$T/src/files.tar.zst"
t0=$(date +%s%N)
if oci import --cache "$T/cache" "$T/lay/files:t" "$T/b/files"; then
	ms=$((($(date +%s%N) - t0) / 1000000))
	n=$("$OCI" ls "$T/b/files/rootfs.ext4" | grep -c ' f 0644 ')
	[ "$n" = 1000000 ] && ok "one-million-empty-files ($ms ms)" || fail "one-million-empty-files: $n files"
	fsck_ok files "$T/b/files"
else
	fail "one-million-empty-files: $(cat "$T/out")"
fi

finish
