#!/bin/bash
# Catalogs end to end (docs/catalog.md, issue 11): a catalog made by
# `banger-catalog publish` from the built kernel and image, served by nginx
# on 127.0.0.1 inside a network namespace this test creates, pulled over
# http and file:// with the libraries bangerd uses; resume after the
# connection is cut at ~30 % and ~60 % (a cutting proxy) and after kill -9
# (nginx limit_rate), proven by nginx's access log; every bad catalog and
# bundle of the issue refused with its sentence and nothing published;
# ENOSPC on small loop-mounted filesystems.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
BC=$BUILD/bin/banger-catalog
T=$(mktemp -d /tmp/banger-cat.XXXXXX)
NS=bgc-${T##*.}
PIDS=()
MOUNTS=()
KERNEL=debian-cloud-amd64
IMAGE=debian-bookworm-mini

cleanup() {
	local p m
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	if [ -n "${KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
in_ns() { nsenter --net="/run/netns/$NS" -- "$@"; }

for b in "kernels/$KERNEL" "images/$IMAGE"; do
	if [ ! -f "$IMAGE_CACHE/$b/manifest.json" ]; then
		fail "bundles: $IMAGE_CACHE/$b is missing (make images)"
		finish
		exit 1
	fi
done
ip netns add "$NS"
ip -n "$NS" link set lo up

# ---- publish ----------------------------------------------------------------
mkdir -p "$T/src/kernels" "$T/src/images" "$T/www" "$T/ng/tmp" "$T/dest/kernels" "$T/dest/images"
ln -s "$IMAGE_CACHE/kernels/$KERNEL" "$T/src/kernels/"
ln -s "$IMAGE_CACHE/images/$IMAGE" "$T/src/images/"
openssl genpkey -algorithm ed25519 -out "$T/key" 2>/dev/null
openssl pkey -in "$T/key" -pubout -out "$T/key.pub"
if "$BC" publish --key "$T/key" --level 3 --from "$T/src" "$T/www/cat" >"$T/publish.log" 2>&1; then
	ok publish
else
	fail "publish: $(tail -3 "$T/publish.log")"
	finish
	exit 1
fi
check publish-signature-openssl openssl pkeyutl -verify -pubin -inkey "$T/key.pub" -rawin \
	-in "$T/www/cat/index.json" -sigfile "$T/www/cat/index.json.sig"
IMG_ARCHIVE=$(ls "$T"/www/cat/images/$IMAGE-*.tar.zst)
S=$(stat -c %s "$IMG_ARCHIVE")
IMG_URI=/cat/images/$(basename "$IMG_ARCHIVE")

# ---- nginx in the namespace ------------------------------------------------
cat >"$T/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $T/ng/nginx.pid;
error_log $T/ng/error.log;
events { worker_connections 64; }
http {
  log_format bc '\$uri \$status \$body_bytes_sent "\$http_range" "\$http_if_range"';
  access_log $T/ng/access.log bc;
  client_body_temp_path $T/ng/tmp;
  proxy_temp_path $T/ng/tmp;
  fastcgi_temp_path $T/ng/tmp;
  uwsgi_temp_path $T/ng/tmp;
  scgi_temp_path $T/ng/tmp;
  default_type application/octet-stream;
  server { listen 127.0.0.1:8080; root $T/www; }
  server { listen 127.0.0.1:8082; root $T/www; limit_rate 12m; }
}
EOF
nsenter --net="/run/netns/$NS" -- nginx -c "$T/nginx.conf" -p "$T/ng" >"$T/ng/stdout" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do
	in_ns curl -sf -o /dev/null http://127.0.0.1:8080/cat/index.json && break
	sleep 0.1
done
check nginx-up in_ns curl -sf -o /dev/null http://127.0.0.1:8080/cat/index.json
HTTP=http://127.0.0.1:8080/cat/

# bc [--state DIR] ...: banger-catalog in the namespace, no fsync unless asked
bc_() { in_ns env BANGER_CATALOG_NO_SYNC="${SYNC_OFF-1}" "$BC" "$@"; }
pull() { # pull CATALOG KIND NAME DEST [args]: output in $T/out, status returned
	local cat=$1
	shift
	bc_ pull --catalog "$cat" --pubkey "$T/key.pub" --state "${STATE:-$T/state}" \
		--cache "${CACHE:-$T/cache}" "$@" >"$T/out" 2>&1
}
# the image's requests in nginx's log, one "status bytes range if-range" per line
img_log() { awk -v u="$IMG_URI" '$1 == u { print $2, $3, $4, $5 }' "$T/ng/access.log"; }
nothing_left() { # nothing_left DIR: DIR is empty (or absent)
	[ -z "$(find "$1" -mindepth 1 -maxdepth 1 2>/dev/null | head -1)" ]
}
no_tmp() { # no_tmp DIR: no unpacking directory (.pull-*) left in DIR
	[ -z "$(find "$1" -mindepth 1 -maxdepth 1 -name '.pull-*' 2>/dev/null | head -1)" ]
}

# ---- list, pull over http and file:// -----------------------------------------
if bc_ list --catalog "$HTTP" --pubkey "$T/key.pub" --state "$T/st-list" >"$T/out" 2>&1 &&
	grep -q "^kernel $KERNEL " "$T/out" && grep -q "^image $IMAGE " "$T/out" &&
	grep -q "state ok entries 2 age 0s signed yes" "$T/out"; then
	ok list-http
else
	fail "list-http: $(cat "$T/out")"
fi

if pull "$HTTP" kernel "$KERNEL" "$T/dest/kernels/$KERNEL" &&
	"$BC" verify "$T/dest/kernels/$KERNEL" >/dev/null &&
	cmp -s "$T/dest/kernels/$KERNEL/vmlinux" "$IMAGE_CACHE/kernels/$KERNEL/vmlinux" &&
	cmp -s "$T/dest/kernels/$KERNEL/initrd.img" "$IMAGE_CACHE/kernels/$KERNEL/initrd.img"; then
	ok pull-kernel-http
else
	fail "pull-kernel-http: $(tail -3 "$T/out")"
fi

# the image with fsync on, as bangerd does it
if SYNC_OFF='' pull "$HTTP" image "$IMAGE" "$T/dest/images/$IMAGE" &&
	"$BC" verify "$T/dest/images/$IMAGE" >/dev/null; then
	ok pull-image-http
else
	fail "pull-image-http: $(tail -3 "$T/out")"
fi
src_kb=$(du -k "$IMAGE_CACHE/images/$IMAGE/rootfs.ext4" | cut -f1)
got_kb=$(du -k "$T/dest/images/$IMAGE/rootfs.ext4" | cut -f1)
if [ "$(stat -c %s "$T/dest/images/$IMAGE/rootfs.ext4")" = \
	"$(stat -c %s "$IMAGE_CACHE/images/$IMAGE/rootfs.ext4")" ] &&
	[ "$got_kb" -le $((src_kb * 11 / 10)) ]; then
	ok "pull-image-sparse ($got_kb KiB allocated, source $src_kb KiB)"
else
	fail "pull-image-sparse: $got_kb KiB allocated, source $src_kb KiB"
fi
check pull-image-one-request test "$(img_log | wc -l)" = 1
check pull-no-blob-left nothing_left "$T/cache/blobs/sha256"
rm -rf "$T/dest/images/$IMAGE"

if pull "file://$T/www/cat/index.json" image "$IMAGE" "$T/dest/images/$IMAGE" &&
	"$BC" verify "$T/dest/images/$IMAGE" >/dev/null; then
	ok pull-image-file-url
else
	fail "pull-image-file-url: $(tail -3 "$T/out")"
fi
rm -rf "$T/dest/images/$IMAGE"

# unsigned: only file:// with --insecure
mkdir -p "$T/www/unsigned"
cp -al "$T/www/cat/images" "$T/www/cat/kernels" "$T/www/unsigned/"
cp "$T/www/cat/index.json" "$T/www/unsigned/"
if STATE=$T/st-u1 pull "file://$T/www/unsigned/index.json" kernel "$KERNEL" "$T/dest/u" --insecure &&
	grep -q "signed no" "$T/out"; then
	ok unsigned-file-insecure-accepted
else
	fail "unsigned-file-insecure-accepted: $(tail -3 "$T/out")"
fi
rm -rf "$T/dest/u"
refused() { # refused NAME SENTENCE DEST: the last pull failed with SENTENCE, nothing at DEST
	local name=$1 want=$2 dest=$3 rc=$4
	if [ "$rc" -ne 0 ] && grep -qF -- "$want" "$T/out" && [ ! -e "$dest" ] &&
		no_tmp "$(dirname "$dest")"; then
		ok "$name"
	else
		fail "$name (rc $rc): wanted '$want', got: $(grep banger-catalog: "$T/out" | tail -1)"
	fi
}
STATE=$T/st-u2 pull "file://$T/www/unsigned/index.json" kernel "$KERNEL" "$T/dest/u"
refused unsigned-file-refused "is unsigned (no file://$T/www/unsigned/index.json.sig)" "$T/dest/u" $?
STATE=$T/st-u3 pull "http://127.0.0.1:8080/unsigned/" kernel "$KERNEL" "$T/dest/u" --insecure
refused unsigned-http-refused "is unsigned (no http://127.0.0.1:8080/unsigned/index.json.sig)" "$T/dest/u" $?

# ---- resume -----------------------------------------------------------------
C30=$((S * 3 / 10))
proxy_start() { # proxy_start CUT...: the cutting proxy on 8081, in front of nginx
	nsenter --net="/run/netns/$NS" -- python3 tests/integration/cutproxy.py 8081 8080 "$@" \
		>"$T/proxy.out" 2>&1 &
	PROXY=$!
	PIDS+=("$PROXY")
	for _ in $(seq 1 50); do grep -q ready "$T/proxy.out" && return 0; sleep 0.1; done
	return 1
}
proxy_stop() { kill "$PROXY" 2>/dev/null; wait "$PROXY" 2>/dev/null; }
IMG_SHA=$(python3 -c 'import json, sys
for e in json.load(open(sys.argv[1]))["entries"]:
    if e["name"] == sys.argv[2]: print(e["sha256"])' "$T/www/cat/index.json" "$IMAGE")
PART=$T/cache/blobs/sha256/$IMG_SHA.part

# cut at 30 %, no retry: the pull fails and keeps 30 %
proxy_start "$C30"
: >"$T/ng/access.log"
pull http://127.0.0.1:8081/cat/ image "$IMAGE" "$T/dest/images/$IMAGE" --retries 0
rc=$?
if [ "$rc" -ne 0 ] && grep -q "giving up after 1 attempts" "$T/out" &&
	[ "$(stat -c %s "$PART" 2>/dev/null)" = "$C30" ] && [ ! -e "$T/dest/images/$IMAGE" ]; then
	ok "resume-cut-30-fails-keeps-part ($C30 of $S bytes)"
else
	fail "resume-cut-30-fails-keeps-part: rc $rc, part $(stat -c %s "$PART" 2>/dev/null), $(tail -2 "$T/out")"
fi
# the next pull transfers only the rest
pull http://127.0.0.1:8081/cat/ image "$IMAGE" "$T/dest/images/$IMAGE"
rc=$?
last=$(img_log | tail -1)
if [ "$rc" -eq 0 ] && [ "$(img_log | wc -l)" = 2 ] &&
	[ "$(echo "$last" | cut -d' ' -f1-3)" = "206 $((S - C30)) \"bytes=$C30-\"" ] &&
	[ "$(echo "$last" | cut -d' ' -f4)" != '"-"' ]; then
	ok "resume-next-pull-206-rest-only ($last)"
else
	fail "resume-next-pull-206-rest-only: rc $rc, log: $(img_log | tr '\n' ';') $(tail -2 "$T/out")"
fi
check resume-verified "$BC" verify "$T/dest/images/$IMAGE"
proxy_stop
rm -rf "$T/dest/images/$IMAGE"

# cut at 30 % and again at 60 %: one pull, three requests, each for the rest
proxy_start "$C30" "$C30"
: >"$T/ng/access.log"
pull http://127.0.0.1:8081/cat/ image "$IMAGE" "$T/dest/images/$IMAGE"
rc=$?
log=$(img_log | cut -d" " -f1,3 | tr '\n' ';')
if [ "$rc" -eq 0 ] && [ "$log" = "200 \"-\";206 \"bytes=$C30-\";206 \"bytes=$((2 * C30))-\";" ] &&
	[ "$(img_log | tail -1 | cut -d' ' -f2)" = "$((S - 2 * C30))" ] &&
	"$BC" verify "$T/dest/images/$IMAGE" >/dev/null; then
	ok "resume-cut-30-60-one-pull ($log)"
else
	fail "resume-cut-30-60-one-pull: rc $rc, log: $log $(tail -2 "$T/out")"
fi
proxy_stop
rm -rf "$T/dest/images/$IMAGE"

# kill -9 mid-pull (nginx limit_rate), then pull again: resumed, never half there
: >"$T/ng/access.log"
nsenter --net="/run/netns/$NS" -- env BANGER_CATALOG_NO_SYNC=1 "$BC" pull \
	--catalog http://127.0.0.1:8082/cat/ --pubkey "$T/key.pub" --state "$T/state" \
	--cache "$T/cache" image "$IMAGE" "$T/dest/images/$IMAGE" >"$T/out" 2>&1 &
victim=$!
PIDS+=("$victim")
for _ in $(seq 1 300); do
	[ "$(stat -c %s "$PART" 2>/dev/null || echo 0)" -ge $((S / 5)) ] && break
	sleep 0.1
done
kill -KILL "$victim"
wait "$victim" 2>/dev/null
P=$(stat -c %s "$PART" 2>/dev/null || echo 0)
if [ "$P" -ge $((S / 5)) ] && [ "$P" -lt "$S" ] && [ ! -e "$T/dest/images/$IMAGE" ]; then
	ok "kill9-nothing-published ($P of $S bytes kept)"
else
	fail "kill9-nothing-published: part $P of $S, dest $(ls "$T/dest/images")"
fi
pull http://127.0.0.1:8082/cat/ image "$IMAGE" "$T/dest/images/$IMAGE"
rc=$?
last=$(img_log | tail -1 | cut -d' ' -f1-3)
if [ "$rc" -eq 0 ] && [ "$last" = "206 $((S - P)) \"bytes=$P-\"" ] &&
	"$BC" verify "$T/dest/images/$IMAGE" >/dev/null &&
	[ "$(find "$T/dest/images" -mindepth 1 -maxdepth 1 | wc -l)" = 1 ]; then
	ok "kill9-resumed-and-swept ($last)"
else
	fail "kill9-resumed-and-swept: rc $rc, log: $(img_log | tr '\n' ';') $(ls -a "$T/dest/images")"
fi
rm -rf "$T/dest/images/$IMAGE"

# ---- bad catalogs -------------------------------------------------------------
sign() { openssl pkeyutl -sign -rawin -inkey "$T/key" -in "$1/index.json" -out "$1/index.json.sig"; }
badcat() { # badcat NAME: a copy of the catalog to spoil
	mkdir -p "$T/www/$1"
	cp -al "$T/www/cat/images" "$T/www/cat/kernels" "$T/www/$1/"
	cp "$T/www/cat/index.json" "$T/www/cat/index.json.sig" "$T/www/$1/"
}
edit_index() { # edit_index NAME PYTHON-EXPR-ON-e: change the image entry, re-sign
	python3 - "$T/www/$1/index.json" "$2" <<'EOF'
import json, sys
path, expr = sys.argv[1], sys.argv[2]
doc = json.load(open(path))
for e in doc["entries"]:
    if e["kind"] == "image":
        exec(expr)
open(path, "w").write(json.dumps(doc, indent=2))
EOF
	sign "$T/www/$1"
}
n=0
try_bad() { # try_bad TESTNAME CATALOG SENTENCE
	n=$((n + 1))
	STATE=$T/st-bad$n pull "$2" image "$IMAGE" "$T/dest/images/$IMAGE"
	refused "$1" "$3" "$T/dest/images/$IMAGE" $?
}
badcat badsig
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[5]^=1; open(p,"wb").write(b)' \
	"$T/www/badsig/index.json.sig"
try_bad bad-signature http://127.0.0.1:8080/badsig/ \
	"catalog index http://127.0.0.1:8080/badsig/index.json is badly signed: signature does not match catalog_pubkey"
badcat nosig
rm "$T/www/nosig/index.json.sig"
try_bad unsigned http://127.0.0.1:8080/nosig/ "is unsigned (no http://127.0.0.1:8080/nosig/index.json.sig)"
badcat trunc
head -c 300 "$T/www/cat/index.json" >"$T/www/trunc/index.json"
sign "$T/www/trunc"
try_bad truncated-json http://127.0.0.1:8080/trunc/ "catalog index:"
grep -q "invalid JSON" "$T/out" || fail "truncated-json: no 'invalid JSON' in $(tail -1 "$T/out")"
badcat wrongsha
edit_index wrongsha 'e["sha256"] = "0" * 64'
try_bad wrong-sha256 http://127.0.0.1:8080/wrongsha/ ", the catalog says $(printf '0%.0s' $(seq 64))"
check wrong-sha256-no-part test ! -e "$T/cache/blobs/sha256/$(printf '0%.0s' $(seq 64)).part"
badcat wrongsize
edit_index wrongsize 'e["size"] += 1'
try_bad wrong-size http://127.0.0.1:8080/wrongsize/ "has $S bytes, the catalog says $((S + 1))"

# ---- bad bundles --------------------------------------------------------------
mkdir -p "$T/bad/sparse" "$T/www/badb/images"
head -c 4096 /dev/urandom >"$T/bad/rootfs.ext4"
python3 - "$T/bad" "$T/www/badb" <<'EOF'
import hashlib, io, json, os, subprocess, sys, tarfile
src, out = sys.argv[1], sys.argv[2]
root = open(os.path.join(src, "rootfs.ext4"), "rb").read()
rsum = hashlib.sha256(root).hexdigest()

def manifest(name, extra=(), sha=True):
    f = {"path": "rootfs.ext4", "size": len(root)}
    if sha:
        f["sha256"] = rsum
    return json.dumps({"name": name, "kind": "image", "files": [f] + list(extra)}).encode()

def member(tf, name, data=None, **kw):
    ti = tarfile.TarInfo(name)
    for k, v in kw.items():
        setattr(ti, k, v)
    if data is not None:
        ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data) if data is not None else None)

def bundle(name, extra_members=(), extra_files=(), sha=True):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        member(tf, "manifest.json", manifest(name, extra_files, sha))
        member(tf, "rootfs.ext4", root)
        for m in extra_members:
            member(tf, **m)
    path = os.path.join(out, "images", name + ".tar.zst")
    subprocess.run(["zstd", "-q", "-f", "-o", path], input=buf.getvalue(), check=True)

bundle("bad-dotdot", [dict(name="../x", data=b"x")])
bundle("bad-absolute", [dict(name="/etc/cron.d/x", data=b"x")])
bundle("bad-symlink", [dict(name="passwd", type=tarfile.SYMTYPE, linkname="/etc/passwd")],
       [{"path": "passwd", "symlink": "/etc/passwd"}])
bundle("bad-hardlink", [dict(name="h", type=tarfile.LNKTYPE, linkname="../../etc/passwd")])
bundle("bad-device", [dict(name="null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)])
bundle("bad-fifo", [dict(name="fifo", type=tarfile.FIFOTYPE)])
bundle("bad-absent", [], [{"path": "initrd.img", "size": 1, "sha256": "0" * 64}])
bundle("bad-nosha", sha=False)
EOF
# the sparse bomb: 10 GiB apparent (GNU tar --sparse), claimed as 1 MiB
truncate -s 10G "$T/bad/sparse/rootfs.ext4"
printf 'bomb' | dd of="$T/bad/sparse/rootfs.ext4" conv=notrunc status=none
printf '{"name":"bad-bomb","kind":"image","files":[{"path":"rootfs.ext4","size":1048576,"sha256":"%s"}]}' \
	"$(printf 'bomb' | sha256sum | cut -d' ' -f1)" >"$T/bad/sparse/manifest.json"
tar -C "$T/bad/sparse" --format=pax --sparse -cf - manifest.json rootfs.ext4 |
	zstd -q -o "$T/www/badb/images/bad-bomb.tar.zst"
check bomb-is-small test "$(stat -c %s "$T/www/badb/images/bad-bomb.tar.zst")" -lt 100000
python3 - "$T/www/badb" <<'EOF'
import hashlib, json, os, sys
out = sys.argv[1]
entries = []
for f in sorted(os.listdir(os.path.join(out, "images"))):
    data = open(os.path.join(out, "images", f), "rb").read()
    entries.append({"name": f[:-8], "kind": "image", "version": "1", "arch": os.uname().machine,
                    "url": "images/" + f, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                    "unpacked_size": 20 << 30, "min_disk_size": 4096})
json.dump({"format_version": 1, "entries": entries}, open(os.path.join(out, "index.json"), "w"))
EOF
sign "$T/www/badb"
bad_bundle() { # bad_bundle NAME SENTENCE
	STATE=$T/st-badb pull http://127.0.0.1:8080/badb/ image "$1" "$T/dest/images/$1"
	refused "bundle-$1" "$2" "$T/dest/images/$1" $?
}
bad_bundle bad-dotdot "bundle archive entry refused: path '../x' contains '..'"
bad_bundle bad-absolute "bundle archive entry refused: path '/etc/cron.d/x' is absolute"
bad_bundle bad-symlink "manifest.json: symlink 'passwd' points outside the bundle"
bad_bundle bad-hardlink "bundle archive entry 'h' is a hard link to '../../etc/passwd', outside the bundle"
bad_bundle bad-device "bundle archive entry 'null' is a character device (refused)"
bad_bundle bad-fifo "bundle archive entry 'fifo' is a fifo (refused)"
bad_bundle bad-bomb "bundle archive entry 'rootfs.ext4' holds 10737418240 bytes, the manifest says 1048576 (refused)"
bad_bundle bad-absent "manifest.json names 'initrd.img', which is absent from the archive"
bad_bundle bad-nosha "manifest.json: file 'rootfs.ext4' has no sha256"
if [ -z "$(find "$T/cache/blobs/sha256" -name '*.part' -size +0)" ]; then
	ok bad-bundles-no-partial-left
else
	fail "bad-bundles-no-partial-left: $(ls "$T/cache/blobs/sha256")"
fi

# ---- ENOSPC -------------------------------------------------------------------
small_fs() { # small_fs NAME MiB: an ext4 filesystem on a loop device at $T/NAME
	truncate -s "$2M" "$T/$1.img"
	mkfs.ext4 -q -F "$T/$1.img"
	mkdir -p "$T/$1"
	mount -o loop "$T/$1.img" "$T/$1" && MOUNTS+=("$T/$1")
}
# room for the download (~75 MB) but not for the unpacked image (~330 MB)
if small_fs small 160; then
	mkdir -p "$T/small/images"
	CACHE=$T/small/cache pull "$HTTP" image "$IMAGE" "$T/small/images/$IMAGE"
	rc=$?
	if [ "$rc" -ne 0 ] && grep -q "No space left on device" "$T/out" &&
		[ ! -e "$T/small/images/$IMAGE" ] && nothing_left "$T/small/images" &&
		[ -z "$(find "$T/small" -name manifest.json)" ]; then
		ok "enospc-unpacking: $(grep banger-catalog: "$T/out" | tail -1)"
	else
		fail "enospc-unpacking: rc $rc, $(tail -2 "$T/out"), left: $(find "$T/small" -maxdepth 3)"
	fi
else
	fail "enospc-unpacking: cannot mount a loop filesystem"
fi
# no room even for the download
if small_fs tiny 24; then
	mkdir -p "$T/tiny/images"
	CACHE=$T/tiny/cache pull "$HTTP" image "$IMAGE" "$T/tiny/images/$IMAGE"
	rc=$?
	if [ "$rc" -ne 0 ] && grep -q "writing the download to $T/tiny/cache/blobs/sha256 failed: No space left on device" "$T/out" &&
		nothing_left "$T/tiny/images" && [ -z "$(find "$T/tiny" -name manifest.json)" ]; then
		ok enospc-downloading
	else
		fail "enospc-downloading: rc $rc, $(tail -2 "$T/out")"
	fi
else
	fail "enospc-downloading: cannot mount a loop filesystem"
fi

finish
