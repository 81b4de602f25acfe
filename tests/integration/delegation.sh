#!/bin/bash
# Delegation by permissions (issue 14 part 5; docs/tree.md "Owners and
# modes") with two real users made for the test (and removed by it), both
# in the configured vm_group: the tree mounted allow_other, each user's VMs
# theirs (owner, group, mode 0700), chown/chmod on vms/NAME, the kernel's
# default_permissions and the daemon's own check, and the same rules over
# 9P for the attach uid (the daemon's check alone: no kernel in the way).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
P9C=$BUILD/tests/p9c
[ -x "$P9C" ] || { echo "build $P9C first (make unit)"; exit 1; }
setup
suf=$(tr '[:upper:]' '[:lower:]' <<<"${T##*.}")
A=alice-$suf B=bob-$suf G=bgvm-$suf C=carol-$suf
cleanup() {
	teardown
	for u in "$A" "$B" "$C"; do userdel "$u" 2>/dev/null; done
	groupdel "$G" 2>/dev/null
}
trap cleanup EXIT
groupadd "$G" && useradd -M -N -s /bin/sh -G "$G" "$A" && useradd -M -N -s /bin/sh -G "$G" "$B" &&
	useradd -M -N -s /bin/sh "$C" || { fail "users: cannot make $A $B $C"; finish; exit 1; }
chmod 0755 "$T" # the users walk to the mount point
cat >"$T/cfg/config.toml" <<EOF
allow_other = true
vm_group = "$G"
EOF
daemon_start || { fail "daemon-start"; finish; exit 1; }
SOCK=$T/9p.sock
as() { local u=$1; shift; setpriv --reuid "$u" --regid "$(id -g "$u")" --init-groups "$@"; }
# try USER CMD...: "ok" or the error text
try() { local u=$1 out; shift; if out=$(as "$u" "$@" 2>&1); then echo ok; else echo "$out"; fi; }
expect() { case $2 in *$3*) ok "$1" ;; *) fail "$1: got '$2', want '$3'" ;; esac; }
same() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: '$2' differs from '$3'"; fi; }

check mount-allow-other bash -c "grep ' $FS ' /proc/self/mountinfo | grep -q allow_other"
same vms-dir-mode "$(stat -c '%a %G' "$FS/vms")" "1775 $G"
same socket-mode-shared "$(stat -c %a "$SOCK")" 666

# each makes a VM: theirs, private
same alice-mkdir "$(try "$A" mkdir "$FS/vms/a1")" ok
same bob-mkdir "$(try "$B" mkdir "$FS/vms/b1")" ok
same alice-owns "$(stat -c '%U %G %a' "$FS/vms/a1")" "$A $(id -gn "$A") 700"
same bob-owns "$(stat -c '%U %G %a' "$FS/vms/b1")" "$B $(id -gn "$B") 700"
same files-follow "$(stat -c '%U %a' "$FS/vms/a1/ctl" "$FS/vms/a1/status" | tr '\n' ' ')" "$A 600 $A 400 "
expect carol-no-mkdir "$(try "$C" mkdir "$FS/vms/c1")" "Permission denied"
check carol-no-vm test ! -e "$FS/vms/c1"
expect carol-no-clone "$(try "$C" sh -c "exec 3<>'$FS/vms/clone'")" "Permission denied"

# alice controls her VM
same alice-reads-status "$(try "$A" grep -qx 'state created' "$FS/vms/a1/status")" ok
same alice-sets-vcpu "$(try "$A" sh -c "echo 1 > '$FS/vms/a1/vcpu'")" ok
same alice-sets-memory "$(try "$A" sh -c "echo 512 > '$FS/vms/a1/memory_mib'")" ok
same alice-starts "$(try "$A" sh -c "echo start > '$FS/vms/a1/ctl'")" ok
same alice-running "$(cat "$FS/vms/a1/state")" running
same alice-reads-console "$(try "$A" sh -c "head -c 1 '$FS/vms/a1/console.log' >/dev/null")" ok
same alice-kills "$(try "$A" sh -c "echo kill > '$FS/vms/a1/ctl'")" ok
same alice-stopped "$(cat "$FS/vms/a1/state")" stopped
same alice-clone "$(as "$A" sh -c "exec 3<>'$FS/vms/clone'; read -r n <&3; stat -c %U \"$FS/vms/\$n\"" 2>&1)" "$A"

# ... and nothing of bob's
expect alice-no-console "$(try "$A" cat "$FS/vms/b1/console")" "Permission denied"
expect alice-no-status "$(try "$A" cat "$FS/vms/b1/status")" "Permission denied"
expect alice-no-start "$(try "$A" sh -c "echo start > '$FS/vms/b1/ctl'")" "Permission denied"
expect alice-no-rmdir "$(try "$A" rmdir "$FS/vms/b1")" "Operation not permitted"
expect alice-no-chown-bobs "$(try "$A" chown "$A" "$FS/vms/b1")" "Operation not permitted"
expect alice-no-chown-to-bob "$(try "$A" chown "$B" "$FS/vms/a1")" "Operation not permitted"
expect alice-no-chmod-bobs "$(try "$A" chmod 777 "$FS/vms/b1")" "Operation not permitted"
same bob-still-created "$(cat "$FS/vms/b1/state")" created
same a1-still-alices "$(stat -c %U "$FS/vms/a1")" "$A"

# bob shares his VM with the group, read-only, then read-write
same bob-chgrp "$(try "$B" chgrp "$G" "$FS/vms/b1")" ok
same bob-chmod-750 "$(try "$B" chmod 750 "$FS/vms/b1")" ok
same bob-shared-mode "$(stat -c '%G %a' "$FS/vms/b1" "$FS/vms/b1/ctl" | tr '\n' ' ')" "$G 750 $G 640 "
same alice-reads-shared "$(try "$A" grep -qx 'state created' "$FS/vms/b1/status")" ok
expect alice-no-write-ro-share "$(try "$A" sh -c "echo 1 > '$FS/vms/b1/vcpu'")" "Permission denied"
same bob-chmod-770 "$(try "$B" chmod 770 "$FS/vms/b1")" ok
same alice-writes-rw-share "$(try "$A" sh -c "echo 2 > '$FS/vms/b1/vcpu'")" ok
expect alice-no-rmdir-shared "$(try "$A" rmdir "$FS/vms/b1")" "Operation not permitted"
expect carol-not-in-group "$(try "$C" cat "$FS/vms/b1/status")" "Permission denied"
expect bob-no-chgrp-foreign "$(try "$B" chgrp root "$FS/vms/b1")" "Operation not permitted"

# root gives a VM away; the store keeps it over a daemon restart
same root-chown "$(try root chown "$B" "$FS/vms/a1")" ok
expect alice-lost-a1 "$(try "$A" cat "$FS/vms/a1/status")" "Permission denied"
daemon_stop
daemon_start || fail daemon-restart
same owner-persists "$(stat -c '%U %a' "$FS/vms/a1" "$FS/vms/b1" | tr '\n' ' ')" "$B 700 $B 770 "

# 9P: the same rules for the attach uid, checked by the daemon alone
p9as() { local u=$1; shift; as "$u" "$P9C" "$SOCK" "$@" 2>&1; }
mkdir "$FS/vms/r1" && chown "$A" "$FS/vms/r1"
same p9-alice-reads-own "$(p9as "$A" read vms/r1/state)" created
# (a walk into a1 stops at a1: a walk's later element fails with a short
# Rwalk, which p9c reports as "does not exist"; the listing shows the errno)
expect p9-alice-no-bob-list "$(p9as "$A" ls vms/a1)" "Permission denied"
expect p9-alice-no-bob-console "$(p9as "$A" read vms/a1/console)" "does not exist"
expect p9-alice-no-bob-start "$(p9as "$A" write vms/a1/ctl start)" "does not exist"
same p9-bob-not-started "$(cat "$FS/vms/a1/state")" stopped
expect p9-alice-no-bob-rm "$(p9as "$A" rm vms/a1)" "not yours to delete"
expect p9-carol-no-mkdir "$(p9as "$C" mkdir vms/c9)" "may not make VMs"
same p9-alice-mkdir "$(p9as "$A" mkdir vms/a9 && stat -c %U "$FS/vms/a9")" "$A"
expect p9-attach-as-other "$(as "$A" "$P9C" -u "$B" "$SOCK" read README 2>&1)" "attach refused"
same p9-alice-writes-own "$(p9as "$A" write vms/r1/vcpu 2 && cat "$FS/vms/r1/vcpu")" 2
expect p9-alice-no-chown-to-bob "$(p9as "$A" chown vms/r1 "$B")" "only root gives a VM"
expect p9L-alice-no-chown-bobs "$(as "$A" "$P9C" -L "$SOCK" chown vms/a1 "$(id -u "$A")" 2>&1)" \
	"Operation not permitted"
expect p9-alice-no-chmod-bobs "$(p9as "$A" chmod vms/a1 777)" "changed by its owner"
same p9-alice-chmod-own "$(p9as "$A" chmod vms/r1 750 && stat -c %a "$FS/vms/r1")" 750
same p9-root-chown "$("$P9C" "$SOCK" chown vms/r1 "$C" && stat -c %U "$FS/vms/r1")" "$C"
same p9-alice-rm-own "$(p9as "$A" rm vms/a9; test -e "$FS/vms/a9" || echo gone)" gone
finish
