#!/bin/sh
# Build the kernel bundle "debian-cloud-amd64" into OUTDIR.
#
#   images/kernel.sh OUTDIR
#
# Downloads Debian's cloud kernel package (never installs it on the host),
# extracts the ELF vmlinux from its LZ4 (or XZ) bzImage, and builds a busybox
# initramfs that loads the virtio modules and switch_roots to /dev/vda.
# Another flavour (images/kernel-9p.sh) sets KERNEL_NAME, KERNEL_META (the
# meta package) and KERNEL_EXTRA_MODULES (loaded by the initramfs too).
# Output (built in OUTDIR.tmp.PID, renamed into place when complete):
#   vmlinux        uncompressed ELF kernel (has the PVH note: boots directly)
#   initrd.img     gzip newc cpio: busybox-static, virtio modules, /init
#   config         the kernel's build config
#   modules.tar.gz lib/modules/VER of the package, depmod'ed (copied into images)
#   manifest.json
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"

NAME=${KERNEL_NAME:-debian-cloud-amd64}
META=${KERNEL_META:-linux-image-cloud-amd64}
# Load order that works (DESIGN §8), plus the ACPI power button and evdev
# (clean shutdown through system_powerdown) and virtio_console (agent channel).
MODULES="virtio_ring virtio virtio_mmio virtio_blk failover net_failover virtio_net
vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport virtio-rng
virtio_console button evdev ${KERNEL_EXTRA_MODULES:-}"

[ $# -eq 1 ] || die "usage: $PROG OUTDIR"
out=$1
need apt-cache apt-get dpkg-deb lz4 xz od depmod modprobe cpio gzip jq sha256sum
if ! [ -x /bin/busybox ] || ! /bin/busybox --list | grep -qx switch_root; then
	die "busybox-static is needed (apt-get install busybox-static)"
fi
if ldd /bin/busybox >/dev/null 2>&1; then
	die "/bin/busybox is not static (apt-get install busybox-static)"
fi

tmp="$out.tmp.$$"
work="$tmp/.work"
trap 'rm -rf --one-file-system "$tmp"' EXIT
trap 'exit 130' INT TERM
rm -rf "$tmp"
mkdir -p "$work"

# 1. Resolve the versioned package behind the meta package, and fetch it.
resolve() {
	apt-cache depends "$META" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1
}
pkg=$(resolve)
if [ -z "$pkg" ]; then
	log "no apt lists for $META; running apt-get update"
	apt-get update -qq >&2
	pkg=$(resolve)
fi
[ -n "$pkg" ] || die "cannot resolve $META to a versioned package"
log "kernel package: $pkg"
fetch() {
	(cd "$work" && apt-get download -q "$pkg" >&2 2>"$work/apt.err")
}
if ! fetch; then
	cat "$work/apt.err" >&2
	log "apt-get download failed; running apt-get update and retrying"
	apt-get update -qq >&2
	fetch || { cat "$work/apt.err" >&2; die "apt-get download $pkg failed"; }
fi
deb=$(find "$work" -maxdepth 1 -name "${pkg}_*.deb" | head -n1)
[ -n "$deb" ] || die "downloaded package not found"
debname=${deb##*/}
debver=$(dpkg-deb -f "$deb" Version)
log "unpacking $debname"
dpkg-deb -x "$deb" "$work/pkg"

kver=${pkg#linux-image-}
vmlinuz="$work/pkg/boot/vmlinuz-$kver"
[ -f "$vmlinuz" ] || die "no /boot/vmlinuz-$kver in $debname"
cp "$work/pkg/boot/config-$kver" "$tmp/config"

# 2. vmlinux: the bzImage setup header gives the payload's offset and
# length; the payload is a legacy LZ4 stream (cloud) or an XZ stream
# (standard kernel) followed by a 4-byte LE word holding the decompressed
# size.
u_at() { od -An -t "u$2" -j "$1" -N "$2" "$vmlinuz" | tr -d ' '; }
setup_sects=$(u_at 497 1)
[ "$setup_sects" -eq 0 ] && setup_sects=4
payload_off=$(( (setup_sects + 1) * 512 + $(u_at 584 4) ))
payload_len=$(u_at 588 4)
magic=$(od -An -tx1 -j "$payload_off" -N 4 "$vmlinuz" | tr -d ' ')
case $magic in
02214c18) unpack="lz4 -dc" ;;
fd377a58) unpack="xz -dc --single-stream" ;;
*) die "payload at $payload_off is neither LZ4 nor XZ (magic $magic)" ;;
esac
want=$(u_at $((payload_off + payload_len - 4)) 4)
log "extracting vmlinux (${unpack%% *} payload at $payload_off, $payload_len bytes -> $want)"
# lz4 exits 1 on the trailing size word; the check below is what counts.
tail -c +$((payload_off + 1)) "$vmlinuz" | head -c "$payload_len" |
	$unpack >"$tmp/vmlinux" 2>/dev/null || true
got=$(stat -c %s "$tmp/vmlinux")
[ "$got" -eq "$want" ] || die "vmlinux is $got bytes, expected $want"
[ "$(od -An -c -N 4 "$tmp/vmlinux" | tr -d ' ')" = '177ELF' ] || die "vmlinux is not ELF"

# 3. Modules: depmod the unpacked tree, then resolve dependencies in order.
log "depmod $kver"
depmod -b "$work/pkg" "$kver"
moddir="$work/pkg/lib/modules/$kver"
ird="$work/initrd"
mkdir -p "$ird/bin" "$ird/etc" "$ird/lib/modules/$kver" "$ird/dev" "$ird/proc" "$ird/sys" "$ird/newroot"
: >"$ird/etc/modules.order"
for m in $MODULES; do
	modprobe -d "$work/pkg" -S "$kver" --show-depends "$m" >>"$work/deps" ||
		die "module $m not found in $kver"
done
sed -n 's/^insmod \([^ ]*\) *$/\1/p' "$work/deps" | while read -r path; do
	rel=${path#"$moddir/"}
	grep -qxF "$rel" "$ird/etc/modules.order" && continue
	mkdir -p "$ird/lib/modules/$kver/${rel%/*}"
	cp "$path" "$ird/lib/modules/$kver/$rel"
	printf '%s\n' "$rel" >>"$ird/etc/modules.order"
done
[ -s "$ird/etc/modules.order" ] || die "no modules resolved"
log "initramfs modules: $(sed 's|.*/||; s|\.ko$||' "$ird/etc/modules.order" | tr '\n' ' ')"

# 4. initramfs: busybox-static + modules + /init, newc cpio, gzip.
cp /bin/busybox "$ird/bin/busybox"
cp "$here/initramfs-init" "$ird/init"
chmod 0755 "$ird/init" "$ird/bin/busybox"
(cd "$ird" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9n >"$tmp/initrd.img"

# 5. Modules for root images (the image recipe copies them into /lib/modules).
tar -C "$work/pkg" -czf "$tmp/modules.tar.gz" --owner=0 --group=0 "lib/modules/$kver"

# 6. Manifest.
jq -n \
	--arg name "$NAME" \
	--arg kver "$kver" \
	--arg sha "$(sha256_of "$tmp/vmlinux")" \
	--arg isha "$(sha256_of "$tmp/initrd.img")" \
	--arg msha "$(sha256_of "$tmp/modules.tar.gz")" \
	--arg deb "$debname" \
	--arg ver "$debver" \
	--arg pkg "$pkg" \
	--arg at "$(now_rfc3339)" \
	'{name: $name, kind: "kernel", distro: "debian-bookworm", arch: "x86_64",
	  kernel_version: $kver, sha256: $sha, initrd_sha256: $isha,
	  modules_sha256: $msha,
	  source: {package: $pkg, deb: $deb, version: $ver},
	  built_at: $at}' >"$tmp/manifest.json"

rm -rf "$work"
publish_dir "$tmp" "$out"
trap - EXIT
log "kernel bundle $NAME ($kver) in $out"
