#!/bin/bash
# Catalogs through the daemon and the tree (issue 11): a catalog made by
# banger-catalog publish from the built kernel and image, served by nginx
# on 127.0.0.1 in the test's network namespace; a daemon configured with it
# (and with bad catalogs beside it) and nothing registered:
#   - images/ and kernels/ list the catalog's entries (available), the
#     recipes' (buildable); images/catalogs says how each catalog is;
#   - `banger vm run` on this fresh host pulls the image and the kernel
#     first, then boots a VM from them (one guest, QEMU TCG);
#   - echo pull returns at once; progress; cancel keeps the partial
#     download and the next pull resumes it (nginx's log: 206 for the rest);
#     kill -9 of bangerd mid-pull, restart: available, never ready with a
#     broken file; the next pull resumes;
#   - every bad catalog and bundle refused with its sentence in err, and
#     nothing registered; directory imports refuse what issue 11 lists;
#   - import FILE.tar.zst on images/ctl; file:// catalogs; ENOSPC while
#     unpacking (state on a small loop filesystem) and while downloading.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
BC=$BUILD/bin/banger-catalog
KERNEL=debian-cloud-amd64
IMAGE=debian-bookworm-mini
for b in "kernels/$KERNEL" "images/$IMAGE"; do
	[ -f "$IMAGE_CACHE/$b/manifest.json" ] || { echo "missing $IMAGE_CACHE/$b (make images)" >&2; exit 1; }
done
setup
MOUNTS=()
NGINX=
cleanup() {
	[ -z "$NGINX" ] || { kill "$NGINX" 2>/dev/null; wait "$NGINX" 2>/dev/null; }
	daemon_stop
	local m
	for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null; done
	teardown
}
trap cleanup EXIT
export BANGER_SSH_TIMEOUT=300
mkdir -p "$T/empty" "$T/src/kernels" "$T/src/images" "$T/www" "$T/ng/tmp"
export TEST_IMAGE_CACHE=$T/empty # a fresh host: nothing to import at start

# ---- a catalog, nginx ---------------------------------------------------------
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
IMG_ARCHIVE=$(ls "$T"/www/cat/images/$IMAGE-*.tar.zst)
S=$(stat -c %s "$IMG_ARCHIVE")
IMG_URI=/cat/images/$(basename "$IMG_ARCHIVE")
IMG_SHA=$(sha256sum "$IMG_ARCHIVE" | cut -d' ' -f1)
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
  server { listen 127.0.0.1:8082; root $T/www; limit_rate 6m; }
}
EOF
nsenter --net="/run/netns/$NS" -- nginx -c "$T/nginx.conf" -p "$T/ng" >"$T/ng/stdout" 2>&1 &
NGINX=$!
for _ in $(seq 1 50); do in_ns curl -sf -o /dev/null http://127.0.0.1:8080/cat/index.json && break; sleep 0.1; done
check nginx-up in_ns curl -sf -o /dev/null http://127.0.0.1:8080/cat/index.json
img_log() { awk -v u="$IMG_URI" '$1 == u { print $2, $3, $4, $5 }' "$T/ng/access.log"; }

# ---- bad catalogs and bundles beside the good one -------------------------------
sign() { openssl pkeyutl -sign -rawin -inkey "$T/key" -in "$1/index.json" -out "$1/index.json.sig"; }
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
bundle("wrong-sha")
bundle("wrong-size")
EOF
truncate -s 10G "$T/bad/sparse/rootfs.ext4"
printf 'bomb' | dd of="$T/bad/sparse/rootfs.ext4" conv=notrunc status=none
printf '{"name":"bad-bomb","kind":"image","files":[{"path":"rootfs.ext4","size":1048576,"sha256":"%s"}]}' \
	"$(printf 'bomb' | sha256sum | cut -d' ' -f1)" >"$T/bad/sparse/manifest.json"
tar -C "$T/bad/sparse" --format=pax --sparse -cf - manifest.json rootfs.ext4 |
	zstd -q -o "$T/www/badb/images/bad-bomb.tar.zst"
python3 - "$T/www/badb" <<'EOF'
import hashlib, json, os, sys
out = sys.argv[1]
entries = []
for f in sorted(os.listdir(os.path.join(out, "images"))):
    data = open(os.path.join(out, "images", f), "rb").read()
    e = {"name": f[:-8], "kind": "image", "version": "1", "arch": os.uname().machine,
         "url": "images/" + f, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
         "unpacked_size": 20 << 30, "min_disk_size": 4096}
    if e["name"] == "wrong-sha":
        e["sha256"] = "0" * 64
    if e["name"] == "wrong-size":
        e["size"] += 1
    entries.append(e)
json.dump({"format_version": 1, "entries": entries}, open(os.path.join(out, "index.json"), "w"))
EOF
sign "$T/www/badb"
# catalogs that must not be used at all, each listing a name of its own
evil() { # evil NAME: a catalog whose one entry is image NAME (a good bundle's archive)
	mkdir -p "$T/www/$1/images"
	cp "$T/www/badb/images/wrong-sha.tar.zst" "$T/www/$1/images/$1.tar.zst"
	python3 -c 'import hashlib, json, os, sys
d, n = sys.argv[1], sys.argv[2]
data = open(os.path.join(d, "images", n + ".tar.zst"), "rb").read()
json.dump({"format_version": 1, "entries": [{"name": n, "kind": "image", "version": "1",
    "arch": os.uname().machine, "url": "images/" + n + ".tar.zst", "size": len(data),
    "sha256": hashlib.sha256(data).hexdigest(), "unpacked_size": 1 << 20, "min_disk_size": 4096}]},
    open(os.path.join(d, "index.json"), "w"))' "$T/www/$1" "$1"
	sign "$T/www/$1"
}
evil evil-sig
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[5]^=1; open(p,"wb").write(b)' \
	"$T/www/evil-sig/index.json.sig"
evil evil-nosig
rm "$T/www/evil-nosig/index.json.sig"
evil evil-trunc
head -c 100 "$T/www/evil-trunc/index.json" >"$T/x" && mv "$T/x" "$T/www/evil-trunc/index.json" && sign "$T/www/evil-trunc"

H=http://127.0.0.1:8080
config() { # config URL...: the daemon's catalogs
	local u list=
	for u; do list="$list${list:+, }\"$u\""; done
	printf 'catalog_url = [%s]\ncatalog_pubkey = "%s"\n' "$list" "$T/key.pub" >"$T/cfg/config.toml"
}
config "$H/cat/" "$H/badb/" "$H/evil-sig/" "$H/evil-nosig/" "$H/evil-trunc/"
daemon_start || { fail daemon-start; finish; exit 1; }
sb() { # the shim in the namespace (guests live there), stdin closed
	in_ns "$SHIM" "$@" </dev/null >"$T/out" 2>"$T/err"
	RC=$?
}
st() { cat "$FS/$1/state" 2>/dev/null; }
wait_st() { # wait_st ENTRY WANT SECONDS
	local _
	for _ in $(seq 1 $(($3 * 10))); do [ "$(st "$1")" = "$2" ] && return 0; sleep 0.1; done
	return 1
}
registered() { find "$T/state/$1" -mindepth 1 -maxdepth 1 ! -name '.*' | grep -c .; }

# ---- what the tree shows --------------------------------------------------------
grep -q "^$H/cat/index.json state ok entries 2 age [0-9]*s signed yes$" "$FS/images/catalogs" &&
	ok catalogs-good-ok || fail "catalogs-good-ok: $(cat "$FS/images/catalogs")"
for c in evil-sig:"is badly signed: signature does not match catalog_pubkey" \
	evil-nosig:"is unsigned (no $H/evil-nosig/index.json.sig)" evil-trunc:"catalog index:.*invalid JSON"; do
	n=${c%%:*} want=${c#*:}
	line=$(grep "^$H/$n/index.json " "$FS/images/catalogs")
	if grep -q "state failed entries 0 age - signed - error .*$want" <<<"$line" && [ ! -e "$FS/images/$n" ]; then
		ok "catalog-$n-refused: ${line#* error }"
	else
		fail "catalog-$n-refused: '$line'; images/$n: $(st "images/$n")"
	fi
done
[ "$(st images/$IMAGE)" = available ] && [ "$(st kernels/$KERNEL)" = available ] &&
	[ "$(st images/debian-bookworm)" = buildable ] && ok tree-lists-catalog-entries ||
	fail "tree-lists-catalog-entries: $(ls "$FS/images" "$FS/kernels")"
grep -qx "sha256 $IMG_SHA" "$FS/images/$IMAGE/status" && grep -qx "size $S" "$FS/images/$IMAGE/status" &&
	grep -qx "kernel $KERNEL" "$FS/images/$IMAGE/status" && ok status-of-available ||
	fail "status-of-available: $(cat "$FS/images/$IMAGE/status")"
[ "$(jq -r .sha256 "$FS/images/$IMAGE/manifest")" = "$IMG_SHA" ] && ok manifest-of-available ||
	fail "manifest-of-available: $(cat "$FS/images/$IMAGE/manifest")"
[ "$(cat "$FS/images/$IMAGE/ctl")" = pull ] && ok ctl-lists-pull || fail "ctl-lists-pull: $(cat "$FS/images/$IMAGE/ctl")"
grep -qx "image $IMAGE catalog" "$FS/defaults" && ok defaults-from-catalog || fail "defaults-from-catalog: $(cat "$FS/defaults")"
# the same over 9P (the collection's own files too)
P9C=$BUILD/tests/p9c
if [ -x "$P9C" ] && [ -S "$T/9p.sock" ]; then
	l=$(in_ns "$P9C" "$T/9p.sock" ls images 2>&1)
	grep -qx ctl <<<"$l" && grep -qx catalogs <<<"$l" && grep -qx "$IMAGE" <<<"$l" && ok "9p-lists-images" ||
		fail "9p-lists-images: $l"
	[ "$(in_ns "$P9C" "$T/9p.sock" read images/catalogs)" = "$(cat "$FS/images/catalogs")" ] &&
		[ "$(in_ns "$P9C" -L "$T/9p.sock" read "images/$IMAGE/state")" = available ] && ok 9p-reads-entries ||
		fail "9p-reads-entries: $(in_ns "$P9C" "$T/9p.sock" read images/catalogs 2>&1)"
else
	fail "9p: no $P9C (make unit) or no $T/9p.sock"
fi
r=$(try_write "$FS/images/ctl" refresh)
if [ "$r" != ok ] && grep -q "catalog refresh failed: $H/evil-sig/index.json: .*the last good index stays in use" "$FS/err"; then
	ok "refresh-names-failed-catalogs ($r)"
else
	fail "refresh-names-failed-catalogs: $r, $(cat "$FS/err")"
fi

# ---- a fresh host: vm run pulls the image and its kernel, then boots ---------------
: >"$T/ng/access.log"
t0=$(date +%s)
sb vm run --rm --name c1 --memory 1024 -- cat /etc/os-release
if [ "$RC" = 0 ] && grep -q 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' "$T/out"; then
	ok "run-fresh-host-pulls-and-boots ($(($(date +%s) - t0)) s)"
else
	fail "run-fresh-host-pulls-and-boots: rc $RC; $(tail -5 "$T/err")"
fi
grep -q "^pulling image $IMAGE" "$T/err" && grep -q "^pulling kernel $KERNEL" "$T/err" &&
	grep -q "^image $IMAGE ready$" "$T/err" && ok run-said-what-it-pulled || fail "run-said-what-it-pulled: $(head -8 "$T/err")"
[ "$(st "images/$IMAGE")" = ready ] && [ "$(st "kernels/$KERNEL")" = ready ] && ok pulled-registered ||
	fail "pulled-registered: $(st "images/$IMAGE") $(st "kernels/$KERNEL")"
check pulled-one-request test "$(img_log | wc -l)" = 1
check pulled-image-verifies "$BC" verify "$T/state/images/$IMAGE"
check pulled-kernel-verifies "$BC" verify "$T/state/kernels/$KERNEL"
cmp -s "$T/state/kernels/$KERNEL/vmlinux" "$IMAGE_CACHE/kernels/$KERNEL/vmlinux" && ok pulled-vmlinux-same || fail pulled-vmlinux-same
grep -qx "from $H/cat/images/$(basename "$IMG_ARCHIVE")" "$FS/images/$IMAGE/status" && ok status-names-source ||
	fail "status-names-source: $(cat "$FS/images/$IMAGE/status")"
check no-blob-left test -z "$(find "$T/cache/blobs" -type f 2>/dev/null)"
check no-vm-left test -z "$(ls "$FS/vms")"

# ---- bad bundles: each refused with its sentence, nothing registered --------------
bad_pull() { # bad_pull NAME SENTENCE
	local r
	r=$(try_write "$FS/images/$1/ctl" pull)
	if [ "$r" != ok ]; then
		fail "bundle-$1: the write failed ($r): $(cat "$FS/images/$1/err")"
		return
	fi
	wait_st "images/$1" failed 60
	if [ "$(st "images/$1")" = failed ] && grep -qF -- "$2" "$FS/images/$1/err" && [ ! -e "$T/state/images/$1" ] &&
		[ -z "$(find "$T/state/images" -mindepth 1 -maxdepth 1 -name '.*')" ]; then
		ok "bundle-$1: $(cat "$FS/images/$1/err")"
	else
		fail "bundle-$1: state $(st "images/$1"), err '$(cat "$FS/images/$1/err")', left: $(ls -a "$T/state/images")"
	fi
}
bad_pull bad-dotdot "bundle archive entry refused: path '../x' contains '..'"
bad_pull bad-absolute "bundle archive entry refused: path '/etc/cron.d/x' is absolute"
bad_pull bad-symlink "manifest.json: symlink 'passwd' points outside the bundle"
bad_pull bad-hardlink "bundle archive entry 'h' is a hard link to '../../etc/passwd', outside the bundle"
bad_pull bad-device "bundle archive entry 'null' is a character device (refused)"
bad_pull bad-fifo "bundle archive entry 'fifo' is a fifo (refused)"
bad_pull bad-bomb "bundle archive entry 'rootfs.ext4' holds 10737418240 bytes, the manifest says 1048576 (refused)"
bad_pull bad-absent "manifest.json names 'initrd.img', which is absent from the archive"
bad_pull bad-nosha "manifest.json: file 'rootfs.ext4' has no sha256"
bad_pull wrong-sha ", the catalog says $(printf '0%.0s' $(seq 64))"
bad_pull wrong-size "bytes, the catalog says"
check bad-none-registered test "$(registered images)" = 1
[ "$(cat "$FS/images/bad-dotdot/ctl")" = pull ] && ok failed-can-pull-again || fail "failed-can-pull-again: $(cat "$FS/images/bad-dotdot/ctl")"
rmdir "$FS/images/wrong-sha" && [ "$(st images/wrong-sha)" = available ] && [ -z "$(cat "$FS/images/wrong-sha/err")" ] &&
	ok rmdir-forgets-failed || fail "rmdir-forgets-failed: $(st images/wrong-sha)"
r=$(try_write "$FS/images/evil-sig/ctl" pull)
[ "$r" != ok ] && ok evil-not-pullable || fail "evil-not-pullable: $r"

# ---- import on images/ctl: archives, directories ----------------------------------
KARCH=$(ls "$T"/www/cat/kernels/$KERNEL-*.tar.zst)
rmdir "$FS/kernels/$KERNEL" && [ "$(st "kernels/$KERNEL")" = available ] && ok rmdir-registered-kernel ||
	fail "rmdir-registered-kernel: $(cat "$FS/err")"
r=$(try_write "$FS/kernels/ctl" "import $KARCH")
[ "$r" = ok ] && [ "$(st "kernels/$KERNEL")" = ready ] && "$BC" verify "$T/state/kernels/$KERNEL" >/dev/null &&
	ok import-archive || fail "import-archive: $r, $(cat "$FS/err")"
r=$(try_write "$FS/images/ctl" "import $T/www/badb/images/bad-hardlink.tar.zst")
if [ "$r" != ok ] && grep -q "is a hard link to '../../etc/passwd', outside the bundle" "$FS/err" &&
	[ "$(st images/bad-hardlink)" != ready ] && [ ! -e "$T/state/images/bad-hardlink" ]; then
	ok "import-bad-archive-refused ($r)"
else
	fail "import-bad-archive-refused: $r, $(cat "$FS/err")"
fi
# directory bundles: the gaps issue 11 lists
mkdir -p "$T/dirs"
mkbundle() { # mkbundle DIR KIND NAME JSON-EXTRA: a legacy directory bundle
	mkdir -p "$T/dirs/$1"
	printf '{"name":"%s","kind":"%s"%s}\n' "$3" "$2" "$4" >"$T/dirs/$1/manifest.json"
}
dir_refused() { # dir_refused NAME DIR SENTENCE
	local r
	r=$(try_write "$FS/ctl" "import $T/dirs/$2")
	if [ "$r" != ok ] && grep -qF -- "$3" "$FS/err" && [ -z "$(find "$T/state/images" "$T/state/kernels" -mindepth 1 -maxdepth 1 -name '.*')" ]; then
		ok "$1: $(cat "$FS/err")"
	else
		fail "$1: $r, $(cat "$FS/err")"
	fi
}
head -c 8192 /dev/urandom >"$T/dirs/blob"
SUM=$(sha256sum "$T/dirs/blob" | cut -d' ' -f1)
mkbundle nosha image d-nosha ""
cp "$T/dirs/blob" "$T/dirs/nosha/rootfs.ext4"
dir_refused dir-no-sha256-refused nosha "nor a sha256 of rootfs.ext4"
mkbundle symroot image d-sym ",\"sha256\":\"$SUM\""
ln -s "$T/dirs/blob" "$T/dirs/symroot/rootfs.ext4"
dir_refused dir-symlinked-rootfs-refused symroot "symlink"
mkbundle badinitrd kernel d-k1 ",\"sha256\":\"$SUM\",\"initrd_sha256\":\"$(printf '1%.0s' $(seq 64))\""
cp "$T/dirs/blob" "$T/dirs/badinitrd/vmlinux" && cp "$T/dirs/blob" "$T/dirs/badinitrd/initrd.img"
dir_refused dir-initrd-sum-checked badinitrd "initrd.img"
mkbundle nomodsum kernel d-k2 ",\"sha256\":\"$SUM\""
cp "$T/dirs/blob" "$T/dirs/nomodsum/vmlinux" && cp "$T/dirs/blob" "$T/dirs/nomodsum/modules.tar.gz"
dir_refused dir-modules-without-sum-refused nomodsum "modules.tar.gz has no sum in manifest.json"
mkbundle good kernel d-good ",\"sha256\":\"$SUM\",\"initrd_sha256\":\"$SUM\""
cp "$T/dirs/blob" "$T/dirs/good/vmlinux" && cp "$T/dirs/blob" "$T/dirs/good/initrd.img" && : >"$T/dirs/good/.recipe"
r=$(try_write "$FS/ctl" "import $T/dirs/good")
[ "$r" = ok ] && [ "$(st kernels/d-good)" = ready ] && [ -f "$T/state/kernels/d-good/initrd.img" ] &&
	[ ! -e "$T/state/kernels/d-good/.recipe" ] && ok dir-import-good || fail "dir-import-good: $r, $(cat "$FS/err")"
check dir-refused-none-registered test ! -e "$FS/kernels/d-k1" -a ! -e "$FS/kernels/d-k2" -a ! -e "$FS/images/d-sym" -a ! -e "$FS/images/d-nosha"

# ---- pull from a slow server: at once, progress, cancel, resume, kill -9 -----------------
daemon_stop
config http://127.0.0.1:8082/cat/
daemon_start || { fail daemon-restart; finish; exit 1; }
rmdir "$FS/images/$IMAGE" && [ "$(st "images/$IMAGE")" = available ] && ok rmdir-registered-image ||
	fail "rmdir-registered-image: $(cat "$FS/err")"
: >"$T/ng/access.log"
PART=$T/cache/blobs/sha256/$IMG_SHA.part
r=$(try_write "$FS/images/$IMAGE/ctl" pull)
s1=$(st "images/$IMAGE")
[ "$r" = ok ] && [ "$s1" = pulling ] && ok pull-returns-at-once-pulling || fail "pull-returns-at-once-pulling: $r $s1"
[ "$(cat "$FS/images/$IMAGE/ctl")" = cancel ] && ok ctl-lists-cancel || fail "ctl-lists-cancel: $(cat "$FS/images/$IMAGE/ctl")"
for _ in $(seq 1 100); do [ "$(stat -c %s "$PART" 2>/dev/null || echo 0)" -ge $((S / 10)) ] && break; sleep 0.1; done
sleep 1
p=$(head -n 1 "$FS/images/$IMAGE/progress")
[[ $p =~ ^bytes\ [0-9]+\ of\ $S\ rate\ [0-9.]+[kMG]?B/s\ eta\ [0-9]+s$ ]] && ok "progress-line ($p)" || fail "progress-line: '$p'"
check tree-answers-during-pull grep -q '^vcpu ' "$FS/defaults"
r=$(try_write "$FS/images/$IMAGE/ctl" pull)
[ "$r" = ok ] && [ "$(img_log | wc -l)" -le 1 ] && ok second-pull-joins || fail "second-pull-joins: $r"
r=$(try_write "$FS/images/$IMAGE/ctl" cancel)
wait_st "images/$IMAGE" available 20
P1=$(stat -c %s "$PART" 2>/dev/null || echo 0)
if [ "$r" = ok ] && [ "$(st "images/$IMAGE")" = available ] && [ "$P1" -gt 0 ] &&
	grep -q "cancelled" "$FS/images/$IMAGE/err" && [ ! -e "$T/state/images/$IMAGE" ]; then
	ok "cancel-keeps-partial ($P1 bytes)"
else
	fail "cancel-keeps-partial: $r $(st "images/$IMAGE") part $P1 err $(cat "$FS/images/$IMAGE/err")"
fi
# pull again (resumed), then kill -9 the daemon in the middle
r=$(try_write "$FS/images/$IMAGE/ctl" pull)
for _ in $(seq 1 300); do [ "$(stat -c %s "$PART" 2>/dev/null || echo 0)" -ge $((P1 + S / 5)) ] && break; sleep 0.1; done
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
umount -l "$FS" 2>/dev/null
# (nginx logs a request when it ends: the resumed one ended with the kill)
for _ in $(seq 1 50); do [ "$(img_log | wc -l)" -ge 2 ] && break; sleep 0.1; done
[ "$(img_log | sed -n 2p | cut -d' ' -f1,3)" = "206 \"bytes=$P1-\"" ] && ok "after-cancel-resumed ($(img_log | sed -n 2p))" ||
	fail "after-cancel-resumed: $(img_log | tr '\n' ';')"
P2=$(stat -c %s "$PART" 2>/dev/null || echo 0)
daemon_start || { fail daemon-restart-after-kill; finish; exit 1; }
s2=$(st "images/$IMAGE")
if [ "$s2" = available ] && [ ! -e "$T/state/images/$IMAGE" ] &&
	[ -z "$(find "$T/state/images" -mindepth 1 -maxdepth 1 -name '.*')" ] && [ "$P2" -gt "$P1" ]; then
	ok "kill9-restart-available-nothing-half ($P2 of $S bytes kept)"
else
	fail "kill9-restart-available-nothing-half: state $s2, $(ls -a "$T/state/images"), part $P2"
fi
r=$(try_write "$FS/images/$IMAGE/ctl" pull)
wait_st "images/$IMAGE" ready 120
last=$(img_log | tail -1 | cut -d' ' -f1,3)
P3=$(cut -d' ' -f4 <<<"$(img_log | tail -1)")
if [ "$(st "images/$IMAGE")" = ready ] && [[ $last =~ ^206\ \"bytes=[0-9]+-\"$ ]] &&
	"$BC" verify "$T/state/images/$IMAGE" >/dev/null; then
	ok "kill9-next-pull-resumes ($last)"
else
	fail "kill9-next-pull-resumes: $(st "images/$IMAGE"), $(img_log | tr '\n' ';') $(cat "$FS/images/$IMAGE/err")"
fi
: "$P3"
check progress-empty-when-ready test -z "$(cat "$FS/images/$IMAGE/progress")"

# ---- file:// --------------------------------------------------------------------
daemon_stop
config "file://$T/www/cat/"
daemon_start || { fail daemon-restart-file; finish; exit 1; }
rmdir "$FS/kernels/$KERNEL"
r=$(try_write "$FS/kernels/$KERNEL/ctl" pull)
wait_st "kernels/$KERNEL" ready 60
[ "$(st "kernels/$KERNEL")" = ready ] && grep -q "^from file://$T/www/cat/kernels/" "$FS/kernels/$KERNEL/status" &&
	ok pull-file-url || fail "pull-file-url: $(st "kernels/$KERNEL") $(cat "$FS/kernels/$KERNEL/err")"
daemon_stop

# ---- ENOSPC ---------------------------------------------------------------------------
small_fs() { # small_fs NAME MiB: an ext4 filesystem on a loop device at $T/NAME
	truncate -s "$2M" "$T/$1.img"
	mkfs.ext4 -q -F "$T/$1.img"
	mkdir -p "$T/$1"
	mount -o loop "$T/$1.img" "$T/$1" && MOUNTS+=("$T/$1")
}
enospc() { # enospc NAME STATE CACHE WANT
	local keep_state=$T/state keep_cache=$T/cache
	config "$H/cat/"
	nsenter --net="/run/netns/$NS" -- "$BANGERD" --foreground --mount "$FS" --state-dir "$2" \
		--runtime-dir "$T/run" --cache-dir "$3" --image-cache "$T/empty" \
		--config "$T/cfg/config.toml" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 1 100); do [ -f "$FS/README" ] && break; sleep 0.1; done
	wait_st "images/$IMAGE" available 20
	r=$(try_write "$FS/images/$IMAGE/ctl" pull)
	wait_st "images/$IMAGE" failed 120
	if [ "$(st "images/$IMAGE")" = failed ] && grep -q "$4" "$FS/images/$IMAGE/err" &&
		[ -z "$(ls -A "$2/images")" ] && [ -z "$(find "$2" "$3" -name manifest.json)" ]; then
		ok "$1: $(cat "$FS/images/$IMAGE/err")"
	else
		fail "$1: $r $(st "images/$IMAGE"), $(cat "$FS/images/$IMAGE/err"), left: $(ls -A "$2/images")"
	fi
	daemon_stop
	: "$keep_state" "$keep_cache"
}
if small_fs small 200; then
	enospc enospc-unpacking "$T/small/state" "$T/small/cache" "No space left on device"
else
	fail "enospc-unpacking: cannot mount a loop filesystem"
fi
if small_fs tiny 24; then
	enospc enospc-downloading "$T/state2" "$T/tiny/cache" "No space left on device"
else
	fail "enospc-downloading: cannot mount a loop filesystem"
fi

finish
