#!/bin/bash
# `banger system install|status|uninstall` from a checkout, into a fake root
# (BANGER_SYSROOT): the build is copied where it should go, the units and
# their drop-ins are complete and pass `systemd-analyze verify`, uninstall
# removes them (and --purge the state).  An installed banger (make install)
# is tests/integration/install.sh.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
BUILD=${BUILD:-build}
T=$(mktemp -d /tmp/banger-sys.XXXXXX)
register_tmp "$T"
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
for f in usr/local/bin/bangerd usr/local/libexec/banger/bangerd-root usr/local/bin/banger \
	etc/systemd/system/bangerd.service etc/systemd/system/bangerd-root.service \
	etc/systemd/system/bangerd.service.d/owner.conf etc/banger/install.env; do
	[ -e "$R/$f" ] || fail "installed-$f"
done
ok installed-files
check units-substituted bash -c "! grep -q '@[A-Z]*@' '$R'/etc/systemd/system/*.service"
check unit-owner grep -qx 'User=banger-test' "$R/etc/systemd/system/bangerd.service.d/owner.conf"
check unit-group grep -qx 'Group=banger-test' "$R/etc/systemd/system/bangerd.service.d/owner.conf"
check unit-no-user-in-unit bash -c "! grep -q '^User=' '$R/etc/systemd/system/bangerd.service'"
check helper-env-file grep -qx 'EnvironmentFile=/etc/banger/install.env' "$R/etc/systemd/system/bangerd-root.service"
check helper-owner-from-env grep -q -- '--owner ${BANGER_OWNER} ' "$R/etc/systemd/system/bangerd-root.service"
check helper-in-libexec grep -q '^ExecStart=/usr/local/libexec/banger/bangerd-root ' "$R/etc/systemd/system/bangerd-root.service"
for k in BANGER_OWNER=banger-test BANGER_GROUP=banger-test BANGER_BRIDGE=br-fc \
	BANGER_SUBNET=172.16.0.1/24 BANGER_LAYOUT=copied; do
	check "install-env-$k" grep -qx "$k" "$R/etc/banger/install.env"
done
# The copied shim knows where it is (an installed banger) and its version.
V=$(sed -n 's/^VERSION *:= *//p' Makefile)
check copied-shim-version [ "$("$R/usr/local/bin/banger" --version)" = "banger $V" ]
check copied-shim-paths grep -qx 'INST_HELPERDIR=/usr/local/libexec/banger *# bangerd-root' "$R/usr/local/bin/banger"
check helper-caps grep -q '^CapabilityBoundingSet=CAP_NET_ADMIN CAP_CHOWN CAP_DAC_READ_SEARCH CAP_SYS_ADMIN CAP_MKNOD$' "$R/etc/systemd/system/bangerd-root.service"
[ "$(grep -c '^CapabilityBoundingSet=' "$R/etc/systemd/system/bangerd-root.service")" = 1 ] &&
	ok helper-caps-only-those || fail "helper-caps-only-those: $(grep '^CapabilityBoundingSet=' "$R/etc/systemd/system/bangerd-root.service")"
check no-jailer-dropin test ! -e "$R/etc/systemd/system/bangerd-root.service.d/jailer.conf"
# (a checkout's install has no man pages; install.sh checks them)
units_verify units-verify "$R" /etc/systemd/system
# With the jailer: a drop-in adds its capabilities and arguments, and only it.
JL=$PWD/tests/fc-double/jailer FC=$PWD/tests/fc-double/firecracker
out=$(shims/banger system install --owner banger-test --jailer "$JL" 2>&1) &&
	fail "jailer-needs-firecracker: accepted" || ok jailer-needs-firecracker
out=$(shims/banger system install --owner banger-test --jailer "$JL" --firecracker /nonexistent 2>&1) &&
	fail "jailer-missing-binary: accepted" || ok jailer-missing-binary
out=$(shims/banger system install --owner banger-test --jailer "$JL" --firecracker "$FC" 2>&1) &&
	ok install-jailer || fail "install-jailer: $out"
D=$R/etc/systemd/system/bangerd-root.service.d/jailer.conf
check jailer-dropin-args grep -qx "Environment=\"JAILER_ARGS=--jailer $JL --firecracker $FC\"" "$D"
check jailer-dropin-caps grep -q '^CapabilityBoundingSet=CAP_SYS_ADMIN CAP_SYS_CHROOT CAP_MKNOD CAP_SETUID CAP_SETGID CAP_DAC_OVERRIDE CAP_FOWNER CAP_KILL$' "$D"
units_verify units-verify-jailer "$R" /etc/systemd/system
out=$(shims/banger system status 2>&1)
case $out in *"jailer $JL"*) ok status-jailer ;; *) fail "status-jailer: $out" ;; esac
check reinstall-without-jailer shims/banger system install --owner banger-test
check jailer-dropin-gone test ! -e "$D"
out=$(shims/banger system status 2>&1)
case $out in *"installed 0.1.0 for banger-test in /usr/local"*) ok status ;; *) fail "status: $out" ;; esac
check uninstall shims/banger system uninstall
check uninstalled bash -c "[ ! -e '$R/usr/local/bin/bangerd' ] && [ ! -e '$R/etc/systemd/system/bangerd.service' ] && [ -d '$R/var/lib/banger' ]"
check uninstalled-all bash -c "[ -z \"\$(find '$R' -type f -not -path '$R/var/*')\" ]"
check reinstall shims/banger system install --owner banger-test --jailer "$JL" --firecracker "$FC"
# --purge also removes the network bangerd-root made; run it in a namespace
# of this test's that holds such a network next to things that are not ours.
NS=bgt-sys-${T##*.}
ip netns add "$NS"
trap 'ip netns del "$NS" 2>/dev/null; rm -rf "$T"' EXIT
ip -n "$NS" link add br-fc type bridge
ip -n "$NS" tuntap add bn-7 mode tap
ip -n "$NS" tuntap add bn-keep mode tap
ip -n "$NS" tuntap add other0 mode tap
ip netns exec "$NS" nft add table inet banger
ip netns exec "$NS" nft add table inet other
out=$(ip netns exec "$NS" shims/banger system uninstall --purge 2>&1) && ok purge || fail "purge: $out"
check purged test ! -e "$R/var/lib/banger"
check purged-dropin test ! -e "$D"
case $out in *"removed tap bn-7"*"removed bridge br-fc"*"removed nftables table inet banger"*) ok purge-says-network ;;
*) fail "purge-says-network: $out" ;; esac
links=$(ip -n "$NS" -o link | awk -F': ' '{ print $2 }' | sort | tr '\n' ' ')
[ "$links" = "bn-keep lo other0 " ] && ok purge-network-only-ours || fail "purge-network-only-ours: $links"
tables=$(ip netns exec "$NS" nft list tables | tr '\n' ' ')
[ "$tables" = "table inet other " ] && ok purge-nat-table-only-ours || fail "purge-nat-table-only-ours: $tables"
finish
