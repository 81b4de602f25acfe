#!/bin/bash
# doctor against a real daemon (no VM is booted): the host's architecture
# is checked (x86_64 passes; under `setarch i686`, the real uname(2) path,
# it fails with a sentence and `banger doctor` exits 1), and the defaults
# are printed with their provenance, line for line the tree's defaults file.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
setup
REAL_BANGERD=$BANGERD

daemon_start || { fail daemon-start; finish; exit 1; }
doc=$(cat "$FS/doctor")
grep -qx 'ok arch x86_64' <<<"$doc" && ok arch-x86_64 || fail "arch-x86_64: $(grep arch <<<"$doc")"
# every line of defaults ("key value provenance") is a doctor line
# "ok defaults key value (provenance: why)", and there are no others
n=0 bad=
while read -r k v p; do
	n=$((n + 1))
	grep -qE "^(ok|warn) defaults $k $v \\($p: .+\\)$" <<<"$doc" || bad="$bad $k"
done <"$FS/defaults"
[ "$n" -ge 7 ] && [ -z "$bad" ] && ok "defaults-in-doctor-$n" || fail "defaults-in-doctor: $n lines, missing:$bad; $(grep defaults <<<"$doc")"
[ "$(grep -c '^[a-z]* defaults ' <<<"$doc")" = "$n" ] && ok defaults-no-extra || fail "defaults-no-extra: $(grep defaults <<<"$doc")"
grep -qE '^ok defaults vcpu [0-9]+ \((host: host CPUs [0-9]+ / 4, capped at 4|floor: host CPUs [0-9]+ / 4 is below the floor of 1)\)$' <<<"$doc" &&
	ok defaults-vcpu-host || fail "defaults-vcpu-host: $(grep 'defaults vcpu' <<<"$doc")"
grep -qE '^ok defaults image debian-bookworm-mini \(builtin: ' <<<"$doc" &&
	ok defaults-image-builtin || fail "defaults-image-builtin: $(grep 'defaults image' <<<"$doc")"
daemon_stop

# a value from config.toml says so
printf '[vm_defaults]\nvcpu = 3\n' >"$T/cfg/config.toml"
daemon_start || { fail daemon-start-config; finish; exit 1; }
grep -qxF "ok defaults vcpu 3 (config: [vm_defaults] in $T/cfg/config.toml)" "$FS/doctor" &&
	ok defaults-vcpu-config || fail "defaults-vcpu-config: $(grep 'defaults vcpu' "$FS/doctor")"
daemon_stop
: >"$T/cfg/config.toml"

# another architecture: the daemon sees it through uname(2)
printf '#!/bin/sh\nexec setarch i686 %s "$@"\n' "$REAL_BANGERD" >"$T/bangerd-i686"
chmod +x "$T/bangerd-i686"
BANGERD=$T/bangerd-i686
daemon_start || { fail daemon-start-i686; finish; exit 1; }
line=$(grep '^[a-z]* arch ' "$FS/doctor")
[ "$line" = "fail arch this host is i686, but banger's kernels and images are built for x86_64 (amd64) only: no VM can start here" ] &&
	ok arch-i686-fails || fail "arch-i686-fails: $line"
out=$("$SHIM" doctor 2>&1)
rc=$?
[ "$rc" = 1 ] && grep -qF "$line" <<<"$out" && ok shim-doctor-exit-1 || fail "shim-doctor-exit-1: rc $rc"
daemon_stop
BANGERD=$REAL_BANGERD
finish
