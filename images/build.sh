#!/bin/sh
# Build the kernel bundle and the test image into a cache directory.
#
#   images/build.sh [--force] [--golden] [CACHEDIR]
#
# CACHEDIR defaults to ${BANGER_IMAGE_CACHE:-/var/cache/banger/build}.
# BANGER_AGENT names the static guest agent to install (default
# build/guest/banger-agent, or $BUILD/guest/banger-agent; make builds it).
# Layout:
#   CACHEDIR/kernels/debian-cloud-amd64/{vmlinux,initrd.img,config,modules.tar.gz,manifest.json}
#   CACHEDIR/images/debian-bookworm-mini/{rootfs.ext4,manifest.json}
#   CACHEDIR/images/debian-bookworm/{rootfs.ext4,manifest.json}   (--golden only)
# A bundle whose manifest.json exists is kept unless --force. The images
# embed the kernel's modules, so a rebuilt kernel forces rebuilt images.
# --golden also builds the golden image (golden.sh: several minutes, not
# part of the default build).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"

force=0
golden=0
while [ $# -gt 0 ]; do
	case $1 in
		--force) force=1 ;;
		--golden) golden=1 ;;
		--) shift; break ;;
		-*) die "usage: $PROG [--force] [--golden] [CACHEDIR]" ;;
		*) break ;;
	esac
	shift
done
case $# in
	0) cache=${BANGER_IMAGE_CACHE:-/var/cache/banger/build} ;;
	1) cache=$1 ;;
	*) die "usage: $PROG [--force] [--golden] [CACHEDIR]" ;;
esac

# The static guest agent baked into the images (make builds it).
BANGER_AGENT=${BANGER_AGENT:-$here/../${BUILD:-build}/guest/banger-agent}
case $BANGER_AGENT in /*) ;; *) BANGER_AGENT=$PWD/$BANGER_AGENT ;; esac
export BANGER_AGENT
agent_bin >/dev/null

kdir="$cache/kernels/debian-cloud-amd64"
idir="$cache/images/debian-bookworm-mini"
mkdir -p "$cache/kernels" "$cache/images"

# A bundle is reused only if it was built by the recipe as it is now: each
# bundle records the sha256 of its recipe files in .recipe.
recipe_sum() { (cd "$here" && cat "$@") | sha256sum | cut -d' ' -f1; }
fresh() { # fresh DIR SUM: the bundle exists and came from this recipe
	[ -f "$1/manifest.json" ] && [ "$(cat "$1/.recipe" 2>/dev/null)" = "$2" ]
}
ksum=$(recipe_sum kernel.sh common.sh initramfs-init)
# the agent's bytes are part of the image recipe
asum=$(sha256_of "$BANGER_AGENT")
isum=$( (recipe_sum test-image.sh common.sh banger-agent.service; echo "$asum") | sha256sum | cut -d' ' -f1)
gsum=$( (recipe_sum golden.sh common.sh banger-agent.service; echo "$asum") | sha256sum | cut -d' ' -f1)

kernel_built=0
if [ "$force" -eq 0 ] && fresh "$kdir" "$ksum"; then
	log "kernel debian-cloud-amd64: cached ($kdir)"
else
	log "kernel debian-cloud-amd64: building"
	start=$(date +%s)
	"$here/kernel.sh" "$kdir"
	echo "$ksum" >"$kdir/.recipe"
	log "kernel debian-cloud-amd64: built in $(($(date +%s) - start)) s"
	kernel_built=1
fi

if [ "$force" -eq 0 ] && [ "$kernel_built" -eq 0 ] && fresh "$idir" "$isum"; then
	log "image debian-bookworm-mini: cached ($idir)"
else
	log "image debian-bookworm-mini: building"
	start=$(date +%s)
	"$here/test-image.sh" "$idir" "$kdir"
	echo "$isum" >"$idir/.recipe"
	log "image debian-bookworm-mini: built in $(($(date +%s) - start)) s"
fi

if [ "$golden" -eq 1 ]; then
	gdir="$cache/images/debian-bookworm"
	if [ "$force" -eq 0 ] && [ "$kernel_built" -eq 0 ] && fresh "$gdir" "$gsum"; then
		log "image debian-bookworm: cached ($gdir)"
	else
		log "image debian-bookworm: building"
		start=$(date +%s)
		"$here/golden.sh" "$gdir" "$kdir"
		echo "$gsum" >"$gdir/.recipe"
		log "image debian-bookworm: built in $(($(date +%s) - start)) s"
	fi
fi
log "done: $cache"
