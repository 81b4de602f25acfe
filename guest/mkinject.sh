#!/bin/sh
# guest/mkinject.sh OUTDIR INIT AGENT: the directory the OCI builder copies
# into a container image as /.banger: banger's init, banger's guest agent
# (static; the init runs it, and the image's manifest records its sha256),
# and the host's sshd and ssh-keygen (Debian's openssh-server) with the
# shared libraries and the loader they need, for images that have no sshd
# of their own.
#   OUTDIR/init
#   OUTDIR/agent
#   OUTDIR/ssh/{sshd,ssh-keygen,ld-linux-x86-64.so.2}
#   OUTDIR/ssh/lib/*.so*
# Built in OUTDIR.tmp.PID and renamed into place.
set -eu
[ $# -eq 3 ] || { echo "usage: $0 OUTDIR INIT AGENT" >&2; exit 2; }
out=$1
init=$2
agent=$3
[ -f "$init" ] && [ -x "$init" ] || { echo "$0: $init is not an executable file" >&2; exit 1; }
[ -f "$agent" ] && [ -x "$agent" ] || { echo "$0: $agent is not an executable file" >&2; exit 1; }
tmp=$out.tmp.$$
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
mkdir -p "$tmp/ssh/lib"
install -m 0755 "$init" "$tmp/init"
install -m 0755 "$agent" "$tmp/agent"
for bin in /usr/sbin/sshd /usr/bin/ssh-keygen; do
	[ -x "$bin" ] || { echo "$0: $bin missing (openssh-server, openssh-client)" >&2; exit 1; }
	install -m 0755 "$bin" "$tmp/ssh/$(basename "$bin")"
	# "libx.so.N => /path (addr)" and the loader "/lib64/ld-linux-x86-64.so.2 (addr)"
	ldd "$bin" | while read -r a b c _; do
		case "$b" in
		'=>') [ -f "$c" ] && cp -L "$c" "$tmp/ssh/lib/" ;;
		*) case "$a" in
			/*ld-linux*) cp -L "$a" "$tmp/ssh/ld-linux-x86-64.so.2" ;;
			esac ;;
		esac
	done
done
[ -x "$tmp/ssh/ld-linux-x86-64.so.2" ] || { echo "$0: no loader found by ldd" >&2; exit 1; }
chmod 0644 "$tmp"/ssh/lib/*
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
