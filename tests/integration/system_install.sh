#!/bin/bash
# `banger system install|status|uninstall` into a fake root (BANGER_SYSROOT):
# files land where they should, the units are complete and pass
# `systemd-analyze verify`, uninstall removes them (and --purge the state).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
BUILD=${BUILD:-build}
T=$(mktemp -d /tmp/banger-sys.XXXXXX)
trap 'rm -rf "$T"' EXIT
R=$T/root
id banger-test >/dev/null 2>&1 ||
	useradd --system --no-create-home --shell /usr/sbin/nologin banger-test
export BANGER_SYSROOT=$R BUILD

out=$(shims/banger system install 2>&1); rc=$?
[ $rc -ne 0 ] && case $out in *"--owner USER is required"*) true ;; *) false ;; esac &&
	ok install-needs-owner || fail "install-needs-owner: $rc $out"
out=$(shims/banger system install --owner 'x;y' 2>&1) && fail "install-junk-owner: accepted" ||
	ok install-junk-owner
out=$(shims/banger system install --owner banger-test 2>&1) && ok install || fail "install: $out"
for f in usr/local/bin/bangerd usr/local/bin/bangerd-root usr/local/bin/banger \
	etc/systemd/system/bangerd.service etc/systemd/system/bangerd-root.service \
	etc/banger/install.env; do
	[ -e "$R/$f" ] || fail "installed-$f"
done
ok installed-files
check units-substituted bash -c "! grep -q '@[A-Z]*@' '$R'/etc/systemd/system/*.service"
check unit-owner grep -q '^User=banger-test$' "$R/etc/systemd/system/bangerd.service"
check helper-caps grep -q '^CapabilityBoundingSet=CAP_NET_ADMIN CAP_CHOWN CAP_DAC_READ_SEARCH$' "$R/etc/systemd/system/bangerd-root.service"
# Verify copies whose binary paths point into the fake root.
mkdir -p "$T/verify"
for u in bangerd bangerd-root; do
	sed "s|/usr/local/bin/|$R/usr/local/bin/|g" "$R/etc/systemd/system/$u.service" >"$T/verify/$u.service"
done
if command -v systemd-analyze >/dev/null; then
	out=$(cd "$T/verify" && systemd-analyze verify ./bangerd-root.service ./bangerd.service 2>&1)
	[ -z "$out" ] && ok units-verify || fail "units-verify: $out"
else
	fail "units-verify: systemd-analyze is missing"
fi
out=$(shims/banger system status 2>&1)
case $out in *"installed 0.1.0 for banger-test in /usr/local"*) ok status ;; *) fail "status: $out" ;; esac
check uninstall shims/banger system uninstall
check uninstalled bash -c "[ ! -e '$R/usr/local/bin/bangerd' ] && [ ! -e '$R/etc/systemd/system/bangerd.service' ] && [ -d '$R/var/lib/banger' ]"
check reinstall shims/banger system install --owner banger-test
check purge shims/banger system uninstall --purge
check purged test ! -e "$R/var/lib/banger"
finish
