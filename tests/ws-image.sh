#!/bin/bash
# tests/ws-image.sh: the image the workspace test and benchmark boot:
# debian-bookworm-mini (IMAGE_CACHE, built by images/build.sh) plus git,
# which vm run DIR's guest side needs (git status, vm push, vm diff).  The
# golden image has git too, but it is not part of the default build.
#
#   tests/ws-image.sh        prints the bundle's directory, building it when
#                            absent or made from another base (about a minute:
#                            apt-get from Debian's mirror into a copy)
#
# The bundle lives in WS_IMAGE_CACHE (default /var/cache/banger/ws-test):
#   images/debian-bookworm-git/{rootfs.ext4,manifest.json,.recipe}
# .recipe is the sha256 of this script and of the base's manifest: a rebuilt
# base or a changed recipe makes a new bundle.  Built under a temporary name
# in a private mount namespace, renamed into place when complete.
set -eu
cd "$(dirname "$0")/.." || exit 1
IMAGE_CACHE=${IMAGE_CACHE:-/var/cache/banger/build}
CACHE=${WS_IMAGE_CACHE:-/var/cache/banger/ws-test}
NAME=debian-bookworm-git
base=$IMAGE_CACHE/images/debian-bookworm-mini
out=$CACHE/images/$NAME
die() { echo "ws-image: $*" >&2; exit 1; }
[ -f "$base/manifest.json" ] || die "$base is missing (make images)"
sum=$(cat "$0" "$base/manifest.json" | sha256sum | cut -d' ' -f1)
if [ -f "$out/manifest.json" ] && [ "$(cat "$out/.recipe" 2>/dev/null)" = "$sum" ]; then
	echo "$out"
	exit 0
fi

# Inside a mount namespace of our own: the loop mount and the binds vanish
# with it, whatever happens.
if [ -z "${WS_IMAGE_INNER:-}" ]; then
	mkdir -p "$CACHE/images"
	tmp=$out.tmp.$$
	rm -rf "$tmp"
	mkdir "$tmp"
	trap 'rm -rf "$tmp"' EXIT
	cp --sparse=always "$base/rootfs.ext4" "$tmp/rootfs.ext4"
	WS_IMAGE_INNER=1 unshare --mount --propagation private -- bash "$0" "$tmp" >"$tmp/build.log" 2>&1 ||
		{ tail -20 "$tmp/build.log" >&2; die "installing git into a copy of $base failed"; }
	e2fsck -fy "$tmp/rootfs.ext4" >/dev/null 2>&1 || [ $? -le 1 ] || die "e2fsck of the new image failed"
	sha=$(sha256sum "$tmp/rootfs.ext4" | cut -d' ' -f1)
	size=$(stat -c %s "$tmp/rootfs.ext4")
	used=$(($(stat -c %b "$tmp/rootfs.ext4") * 512))
	jq --arg n "$NAME" --arg s "$sha" --argjson z "$size" --argjson u "$used" \
		'.name = $n | .sha256 = $s | .size = $z | .disk_usage = $u | .packages += ["git"] |
		 .source += " + git (tests/ws-image.sh)"' "$base/manifest.json" >"$tmp/manifest.json"
	echo "$sum" >"$tmp/.recipe"
	rm -rf "${tmp:?}/build.log" "${tmp:?}/mnt" "${tmp:?}/resolv.conf"
	rm -rf "$out"
	mv "$tmp" "$out"
	trap - EXIT
	echo "$out"
	exit 0
fi

# The inner part: $1 holds rootfs.ext4, mounted read-write at $1/mnt.
m=$1/mnt
mkdir "$m"
mount -o loop "$1/rootfs.ext4" "$m"
mount --bind /proc "$m/proc"
mount --bind /dev "$m/dev"
cp "$m/etc/resolv.conf" "$1/resolv.conf"
cat /etc/resolv.conf >"$m/etc/resolv.conf"
chroot "$m" env DEBIAN_FRONTEND=noninteractive apt-get -q update
chroot "$m" env DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends git
chroot "$m" apt-get clean
rm -rf "$m"/var/lib/apt/lists/*
cat "$1/resolv.conf" >"$m/etc/resolv.conf"
chroot "$m" git --version
umount "$m/dev" "$m/proc"
umount "$m"
