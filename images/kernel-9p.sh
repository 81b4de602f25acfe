#!/bin/sh
# Build the kernel bundle "debian-amd64-9p" into OUTDIR: Debian's standard
# kernel (linux-image-amd64), which has the 9p file system and its TCP
# transport that the cloud kernel lacks, for guests that mount the tree's
# 9P export (docs/9p.md).  Its ext4 is a module, so the initramfs loads it
# (and the crc32c it needs) besides the virtio set, then 9p.
#
#   images/kernel-9p.sh OUTDIR
#
# Not part of `make images`: tests/integration/p9_guest.sh builds it into
# its own cache (P9_KERNEL_CACHE, default /var/cache/banger/p9) when absent.
set -eu
KERNEL_NAME=debian-amd64-9p
KERNEL_META=linux-image-amd64
KERNEL_EXTRA_MODULES="crc32c_generic crc32c-intel ext4 9pnet 9pnet_fd 9p"
export KERNEL_NAME KERNEL_META KERNEL_EXTRA_MODULES
exec "$(cd "$(dirname "$0")" && pwd)/kernel.sh" "$@"
