#!/bin/sh
# Install every build, test and runtime package banger needs (Debian).
# Does nothing (and needs no network) when they are all present already.
set -eu
PKGS="gcc make pkg-config clang libclang-rt-14-dev
libfuse3-dev fuse3 libsqlite3-dev sqlite3 libjansson-dev libcmocka-dev
libext2fs-dev comerr-dev e2fsprogs libssl-dev
qemu-system-x86 qemu-utils mmdebstrap busybox-static lz4 cpio kmod zstd jq
iproute2 shellcheck dash xfsprogs socat util-linux procps psmisc
libssh-dev openssh-client openssh-server libcurl4-openssl-dev
libnl-3-dev libnl-route-3-dev libnftables-dev nftables python3
libsystemd-dev libmount-dev libdevmapper-dev dbus-daemon python3-dbus python3-gi bind9-dnsutils systemd
git diod xz-utils musl-tools file libarchive-dev nginx openssl curl tar
libisal-dev libzstd-dev docker-registry skopeo umoci apache2-utils gzip"
# the live tree (issue 14): a file manager in a terminal, a throughput tool
PKGS="$PKGS mc tmux iperf3"
# man pages, the Debian package and its test, the completion tests
PKGS="$PKGS scdoc man-db debhelper dpkg-dev fakeroot lintian zsh fish"
missing=""
# npm (the golden image's mise): any npm will do; Debian's package
# conflicts with a Node.js installed from elsewhere.
command -v npm >/dev/null 2>&1 || missing=" npm"
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi
echo "deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
