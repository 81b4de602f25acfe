#!/bin/sh
# mise for the golden image: the prebuilt binary shipped in the npm package
# @jdxcode/mise-linux-x64 (Debian has no mise package), fetched with the npm
# client, checked against a pinned sha256, installed as DESTDIR/mise.
#
#   images/mise.sh DESTDIR          e.g. "$tree/usr/local/bin" from golden.sh
#   images/mise.sh --check          fetch and verify only (prints the version)
#
# The checked tarball is kept in $BANGER_MISE_CACHE (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/banger/mise) so a rebuild does not fetch it
# again.  To move to another version: npm view @jdxcode/mise-linux-x64
# version, npm pack it, and put its sha256 below.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"

MISE_PKG=@jdxcode/mise-linux-x64
MISE_VERSION=2026.9.15
MISE_SHA256=b51f2463bc4fcdc3b0959b1454792f64be3612e73d856cbca4a062e39e070e74

[ $# -eq 1 ] || die "usage: $PROG DESTDIR | --check"
need npm sha256sum tar
cache=${BANGER_MISE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/banger/mise}
tgz=$cache/jdxcode-mise-linux-x64-$MISE_VERSION.tgz
mkdir -p "$cache"

if [ ! -f "$tgz" ] || [ "$(sha256_of "$tgz")" != "$MISE_SHA256" ]; then
	tmp=$(mktemp -d "$cache/fetch.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	log "npm pack $MISE_PKG@$MISE_VERSION"
	(cd "$tmp" && npm pack --silent "$MISE_PKG@$MISE_VERSION" >/dev/null) ||
		die "npm pack $MISE_PKG@$MISE_VERSION failed"
	got=$(sha256_of "$tmp/jdxcode-mise-linux-x64-$MISE_VERSION.tgz")
	[ "$got" = "$MISE_SHA256" ] ||
		die "$MISE_PKG@$MISE_VERSION has sha256 $got, expected $MISE_SHA256: refusing it"
	mv -f "$tmp/jdxcode-mise-linux-x64-$MISE_VERSION.tgz" "$tgz"
	rm -rf "$tmp"
	trap - EXIT
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
tar -C "$out" -xzf "$tgz" package/bin/mise
[ -x "$out/package/bin/mise" ] || die "$tgz holds no package/bin/mise"
if [ "$1" = --check ]; then
	log "sha256 ok; $("$out/package/bin/mise" --version)"
	exit 0
fi
[ -d "$1" ] || die "$1 is not a directory"
install -m 0755 "$out/package/bin/mise" "$1/mise"
log "installed mise $MISE_VERSION as $1/mise"
