#!/bin/bash
# The Debian package: `make deb` (dpkg-buildpackage -us -uc -b on a copy of
# the tree) builds banger_*.deb, lintian finds no error in it, and in a fresh
# bookworm chroot (mmdebstrap from Debian's mirror, with the package's
# Depends already in it, so the chroot needs no network: it runs in a
# network namespace of its own) the package installs, says how to enable
# it, runs (banger --version, bangerd --help, man -w banger, completion),
# is configured and enabled the way `banger system install` does it, and
# then `dpkg --purge` leaves no file behind: the file systems before the
# install and after the purge are the same, and no path of `dpkg -L` is left.
# The base chroot is cached as a tarball in BANGER_DEB_CACHE (default
# /var/cache/banger/deb-test), keyed by the package list, so reruns are fast.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
T=$(mktemp -d /tmp/banger-deb.XXXXXX)
trap 'rm -rf "$T"' EXIT
CACHE=${BANGER_DEB_CACHE:-/var/cache/banger/deb-test}
V=$(sed -n 's/^VERSION *:= *//p' Makefile)

if out=$(make -s --no-print-directory BUILD="$BUILD" deb 2>&1); then ok make-deb; else
	fail "make-deb: $(tail -20 <<<"$out")"
	finish
	exit 1
fi
DEB=$(find "$BUILD/deb" -maxdepth 1 -name "banger_$V-*_amd64.deb" | head -n 1)
[ -f "$DEB" ] && ok "deb-built-${DEB##*/}" || { fail "deb-built: no banger_$V-*_amd64.deb in $BUILD/deb"; finish; exit 1; }
check deb-version [ "$(dpkg-deb -f "$DEB" Version | sed 's/-[^-]*$//')" = "$V" ]
depends=$(dpkg-deb -f "$DEB" Depends)
# dpkg-shlibdeps: the libraries actually linked are declared
for lib in libfuse3-3 libsqlite3-0 libjansson4 libext2fs2 libssh-4 libcurl4 libnftables1 libsystemd0; do
	grep -q "$lib (>=" <<<"$depends" || fail "shlibdeps-$lib: not in Depends: $depends"
done
ok shlibdeps
check deb-units-not-enabled bash -c "! dpkg-deb -c '$DEB' | grep -q 'wants/'"
for s in debian/banger.postinst debian/banger.prerm debian/banger.postrm; do
	check "shellcheck-$s" shellcheck -s sh "$s"
done
if command -v lintian >/dev/null; then
	out=$(lintian --fail-on error "$BUILD"/deb/banger_"$V"-*_amd64.changes 2>&1)
	rc=$?
	if [ "$rc" = 0 ] && ! grep -q '^E:' <<<"$out"; then
		ok "lintian-no-errors ($(grep -c '^W:' <<<"$out") warnings)"
	else
		fail "lintian-no-errors: $(grep '^E:' <<<"$out" | head -10)"
	fi
else
	fail "lintian: not installed (tests/deps.sh installs it)"
fi

# ---- the base chroot: bookworm + what the package depends on --------------
# shellcheck source=images/common.sh
. images/common.sh
pkgs=$(sed 's/([^)]*)//g; s/|[^,]*//g; s/[[:space:]]//g' <<<"$depends" | tr ',' '\n' | sort -u |
	tr '\n' ',')
pkgs="${pkgs}man-db,passwd,systemd,openssh-server"
key=$(printf 'bookworm apt %s\n' "$pkgs" | sha256sum | cut -c1-16)
BASE=$CACHE/bookworm-$key.tar
if [ ! -f "$BASE" ]; then
	mkdir -p "$CACHE"
	if out=$(mmdebstrap --quiet --variant=apt --mode=root --format=tar --include="$pkgs" \
		bookworm "$BASE.tmp.$$" "$(host_sources)" </dev/null 2>&1); then
		mv -f "$BASE.tmp.$$" "$BASE"
	else
		rm -f "$BASE.tmp.$$"
		fail "mmdebstrap: $(tail -20 <<<"$out")"
		finish
		exit 1
	fi
fi
ok "base-chroot ${BASE##*/}"
R=$T/root
mkdir "$R"
tar -C "$R" -xf "$BASE" && ok base-extracted || fail base-extracted
cp "$DEB" "$R/tmp/banger.deb"
useradd --root "$R" -m tester && ok chroot-user || fail chroot-user
# in_chroot CMD...: in the chroot, with a /proc of its own, no network
in_chroot() {
	unshare --mount --net --pid --fork --kill-child -- sh -c \
		'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$R" env -i \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}
# snapshot: every path but the ones of dpkg's and man-db's bookkeeping,
# the logs and the scratch directories
snapshot() {
	in_chroot find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp -o -path /run \
		-o -path /var/lib/dpkg -o -path /var/log -o -path /var/cache/man \
		-o -path /var/cache/debconf -o -path /var/cache/ldconfig \) -prune -o -printf '%y %p\n' | sort
}
before=$(snapshot)
[ "$(wc -l <<<"$before")" -gt 1000 ] && ok snapshot-before || fail "snapshot-before: $(wc -l <<<"$before") paths"

out=$(in_chroot dpkg -i /tmp/banger.deb 2>&1) && ok dpkg-install || fail "dpkg-install: $out"
grep -qF "banger system install --owner USER" <<<"$out" && ok postinst-says-how ||
	fail "postinst-says-how: $out"
check installed-version [ "$(in_chroot banger --version)" = "banger $V" ]
check installed-bangerd-version [ "$(in_chroot bangerd --version)" = "bangerd $V" ]
out=$(in_chroot bangerd --help 2>&1) && grep -q '^usage: bangerd' <<<"$out" && ok bangerd-help ||
	fail "bangerd-help: $out"
check installed-helper-version [ "$(in_chroot /usr/libexec/banger/bangerd-root --version)" = "bangerd-root $V" ]
for p in "1 banger" "1 banger-catalog" "8 bangerd" "8 bangerd-root" "7 banger-tree" "5 banger.toml"; do
	# shellcheck disable=SC2086 # section and page
	set -- $p
	got=$(in_chroot man -w "$1" "$2" 2>&1)
	[ "$got" = "/usr/share/man/man$1/$2.$1.gz" ] && ok "man-w-$2" || fail "man-w-$2: $got"
	w=$(in_chroot env MANWIDTH=80 man --warnings "$1" "$2" 2>&1 >/dev/null)
	[ -z "$w" ] && ok "man-clean-$2" || fail "man-clean-$2: $w"
done
got=$(in_chroot bash -c '. /usr/share/bash-completion/completions/banger; COMP_WORDS=(banger system ""); COMP_CWORD=2; _banger; echo "${COMPREPLY[*]}"')
[ "$got" = "install status restart uninstall --help" ] && ok installed-completion || fail "installed-completion: $got"
# inject/ is built by postinst from the chroot's sshd, not shipped; a
# package that updates /usr/sbin/sshd triggers a rebuild
check deb-ships-no-sshd bash -c "! dpkg-deb -c '$DEB' | grep -q 'inject/'"
check postinst-built-inject bash -c "[ -x '$R/var/lib/banger/inject/init' ] && cmp -s '$R/usr/libexec/banger/banger-agent' '$R/var/lib/banger/inject/agent' && [ -x '$R/var/lib/banger/inject/ssh/sshd' ] && cmp -s '$R/usr/sbin/sshd' '$R/var/lib/banger/inject/ssh/sshd' && ls '$R/var/lib/banger/inject/ssh/lib' | grep -q '^libc\.so'"
rm -rf "$R/var/lib/banger/inject"
out=$(in_chroot sh -c 'dpkg-trigger --no-await /usr/sbin/sshd && dpkg --triggers-only --pending' 2>&1) &&
	[ -x "$R/var/lib/banger/inject/ssh/sshd" ] && ok sshd-trigger-rebuilds-inject ||
	fail "sshd-trigger-rebuilds-inject: $out"
check units-shipped-disabled bash -c "[ -f '$R/lib/systemd/system/bangerd.service' ] && [ ! -e '$R/etc/systemd/system/multi-user.target.wants/bangerd.service' ]"

# configured as on a host: system install (installed layout: nothing
# copied), then enabled as it does with systemd running
out=$(in_chroot banger system install --owner tester 2>&1) && ok system-install || fail "system-install: $out"
grep -qx 'BANGER_LAYOUT=installed' "$R/etc/banger/install.env" && ok system-install-installed-layout ||
	fail system-install-installed-layout
out=$(in_chroot systemctl enable bangerd-root.service bangerd.service 2>&1) &&
	[ -L "$R/etc/systemd/system/multi-user.target.wants/bangerd.service" ] && ok enabled || fail "enabled: $out"

files=$(in_chroot dpkg -L banger)
out=$(in_chroot dpkg --purge banger 2>&1) && ok dpkg-purge || fail "dpkg-purge: $out"
after=$(snapshot)
# the owner's ~/.config/banger is the owner's (system install makes it as
# the owner, for the daemon's ssh_config): a package never touches /home
owned=$(in_chroot stat -c '%U %a' /home/tester/.config/banger 2>/dev/null)
case $owned in "" | "tester "*) ok "owner-config-is-the-owners ${owned:-absent}" ;; *) fail "owner-config-is-the-owners: $owned" ;; esac
added=$(comm -13 <(echo "$before") <(echo "$after") | grep -vxE 'd /home/tester/\.config(/banger)?')
removed=$(comm -23 <(echo "$before") <(echo "$after"))
[ -z "$added" ] && ok purge-leaves-nothing || fail "purge-leaves-nothing: $(head -20 <<<"$added" | tr '\n' ' ')"
[ -z "$removed" ] && ok purge-takes-nothing-else || fail "purge-takes-nothing-else: $(head -20 <<<"$removed" | tr '\n' ' ')"
# (what existed before, the directories /usr and the like, stays)
left=
paths=$(cut -d' ' -f2- <<<"$before")
while IFS= read -r f; do
	[ -e "$R$f" ] || [ -L "$R$f" ] || continue
	c=$(realpath -m "$R$f") # /lib/x is /usr/lib/x (merged /usr)
	c=${c#"$R"}
	grep -qxF -- "${c:-/}" <<<"$paths" || left="$left $f"
done <<<"$files"
[ -z "$left" ] && ok "dpkg-L-all-gone-$(wc -l <<<"$files")" || fail "dpkg-L-all-gone: left$left"
finish
