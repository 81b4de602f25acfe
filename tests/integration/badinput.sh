#!/bin/bash
# Bad input gets the right errno and a clear sentence in err; the daemon
# never dies and never loses a record.  No guest is booted here.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
setup
# vmm = auto must pick QEMU here whatever this host has installed: the
# Firecracker it would look for does not exist.
echo "firecracker_bin = \"$T/no-such-firecracker\"" >"$T/cfg/config.toml"
daemon_start || { fail "daemon-start"; finish; exit 1; }

expect() { # expect NAME RESULT PATTERN [ERRFILE ERRPATTERN]
	local name=$1 res=$2 pat=$3
	case $res in
	*$pat*) ;;
	*) fail "$name: got '$res', want '$pat'"; return ;;
	esac
	if [ $# -ge 5 ] && ! grep -q -- "$5" "$4"; then
		fail "$name: $4 says '$(cat "$4")', want '$5'"
		return
	fi
	ok "$name"
}

r=$(mkdir "$FS/vms/Bad_Name" 2>&1); expect mkdir-invalid-name "$r" "Invalid argument" "$FS/err" "lower case"
r=$(mkdir "$FS/vms/-x" 2>&1); expect mkdir-leading-dash "$r" "Invalid argument" "$FS/err" "start or end"
long=$(printf 'a%.0s' $(seq 1 64))
r=$(mkdir "$FS/vms/$long" 2>&1); expect mkdir-too-long "$r" "Invalid argument" "$FS/err" "limit is 63"
r=$(mkdir "$FS/images/x" 2>&1); expect mkdir-images "$r" "Operation not permitted" "$FS/err" "imported"
mkdir "$FS/vms/box"
r=$(mkdir "$FS/vms/box" 2>&1); expect mkdir-exists "$r" "File exists"
r=$(try_write "$FS/vms/box/ctl" bogus); expect ctl-unknown "$r" "Invalid argument" "$FS/vms/box/err" "unknown command 'bogus'"
r=$(try_write "$FS/vms/box/ctl" "start now"); expect ctl-extra-arg "$r" "Invalid argument" "$FS/vms/box/err" "usage: start"
r=$(try_write "$FS/vms/box/ctl" stop); expect ctl-stop-created "$r" "busy" "$FS/vms/box/err" "is created: cannot stop"
# One 5000-byte write(2) (bash itself would split it into 4096-byte writes).
r=$(head -c 5000 /dev/zero | tr '\0' a | dd of="$FS/vms/box/ctl" bs=8192 count=1 iflag=fullblock 2>&1); expect ctl-oversized "$r" "too large" "$FS/vms/box/err" "4096-byte limit"
r=$(try_write "$FS/vms/box/state" running); expect write-readonly "$r" "Permission denied"
r=$(try_write "$FS/vms/box/vcpu" 0); expect vcpu-zero "$r" "out of range" "$FS/vms/box/err" "between 1 and 32"
r=$(try_write "$FS/vms/box/memory_mib" lots); expect memory-lots "$r" "Invalid argument" "$FS/vms/box/err" "whole number"
r=$(try_write "$FS/vms/box/disk_size" 8Q); expect disk-junk "$r" "Invalid argument" "$FS/vms/box/err" "size like 8G"
r=$(try_write "$FS/vms/box/image" nosuch); expect image-unknown "$r" "No such file" "$FS/vms/box/err" "no image named 'nosuch'"
r=$(try_write "$FS/vms/box/config" "vcpus 2"); expect config-unknown-key "$r" "Invalid argument" "$FS/vms/box/err" "unknown setting 'vcpus'"
r=$(try_write "$FS/vms/box/config" "vcpu"); expect config-no-value "$r" "Invalid argument" "$FS/vms/box/err" "key value"
# One write(2) of several lines applies every line or none: a bad third
# line leaves the first two unapplied.  (cat writes a small file in one
# call; bash's printf builtin writes line by line, i.e. three writes.)
try_write1() { # try_write1 FILE DATA: DATA in one write(2)
	local out
	printf '%s\n' "$2" >"$T/one-write"
	if out=$( (cat "$T/one-write" >"$1") 2>&1); then echo ok; else echo "$out"; fi
}
before=$(cat "$FS/vms/box/config")
r=$(try_write1 "$FS/vms/box/config" "$(printf 'vcpu 3\nmemory_mib 1024\ndisk_size lots')")
expect config-atomic-refused "$r" "Invalid argument" "$FS/vms/box/err" "line 3 (nothing was changed)"
[ "$(cat "$FS/vms/box/config")" = "$before" ] && ok config-atomic-nothing-applied ||
	fail "config-atomic-nothing-applied: $(cat "$FS/vms/box/config")"
r=$(try_write1 "$FS/vms/box/config" "$(printf 'vcpu 3\nmemory_mib 1024')")
[ "$r" = ok ] && grep -qx 'vcpu 3' "$FS/vms/box/config" && grep -qx 'memory_mib 1024' "$FS/vms/box/config" &&
	ok config-atomic-all-applied || fail "config-atomic-all-applied: $r $(cat "$FS/vms/box/config")"
r=$(try_write1 "$FS/vms/box/config" "$(printf 'vcpu default\nmemory_mib default')")
[ "$r" = ok ] && ok config-back-to-defaults || fail "config-back-to-defaults: $r"
r=$(touch "$FS/vms/box/newfile" 2>&1); expect create-file "$r" "Permission denied"
r=$(rm "$FS/vms/box/state" 2>&1); expect unlink "$r" "not permitted"
r=$(try_write "$FS/ctl" "import relative/dir"); expect import-relative "$r" "Invalid argument" "$FS/err" "absolute path"
r=$(try_write "$FS/ctl" "import /nonexistent"); expect import-missing "$r" "No such file" "$FS/err" "cannot open bundle directory /nonexistent"
# A broken bundle: bad sha256 -> nothing registered.
mkdir -p "$T/bad/x"; echo junk > "$T/bad/x/rootfs.ext4"
printf '{"name":"broken","kind":"image","sha256":"%064d"}' 0 > "$T/bad/x/manifest.json"
r=$(try_write "$FS/ctl" "import $T/bad/x"); expect import-bad-sha "$r" "Bad message" "$FS/err" "sha256"
check import-left-nothing bash -c "[ ! -e '$FS/images/broken' ] && [ -z \"\$(ls -A '$T/state/images' | grep broken)\" ]"

# vmm auto without a Firecracker: QEMU, and the tree says why.
check vmm-auto-doctor grep -q '^ok vmm qemu (auto: firecracker is not installed)' "$FS/doctor"
check vmm-auto-status grep -qx 'vmm qemu' "$FS/vms/box/status"
check vmm-auto-reason grep -qx 'vmm_reason auto: firecracker is not installed' "$FS/vms/box/status"

# The record survived all of that, and the daemon is alive.
check record-intact grep -qx created "$FS/vms/box/state"
kill -0 "$DAEMON_PID" && ok daemon-alive || fail daemon-alive

# Start without any image: a daemon whose image cache is empty.
daemon_stop
rm -rf "$T/state"
TEST_IMAGE_CACHE=$T/empty-cache daemon_start || fail daemon-start-empty
mkdir "$FS/vms/noimg"
r=$(try_write "$FS/vms/noimg/ctl" start); expect start-without-image "$r" "No such file" "$FS/vms/noimg/err" "not built yet: run 'banger image build debian-bookworm'"
# The daemon says what makes the missing images (the shim only runs it).
check defaults-image-recipe grep -qx 'image debian-bookworm recipe' "$FS/defaults"
check images-lists-buildable test "$(cat "$FS/images/debian-bookworm/state")" = buildable
check images-buildable-recipe grep -qx 'build images/build.sh --golden' "$FS/images/debian-bookworm/status"
check images-buildable-kernel grep -qx 'kernel debian-cloud-amd64' "$FS/images/debian-bookworm-mini/status"
check buildable-not-deletable bash -c "! rmdir '$FS/images/debian-bookworm' 2>/dev/null"
check noimg-not-failed grep -qx created "$FS/vms/noimg/state"
check doctor-says-no-images grep -q '^fail images none registered' "$FS/doctor"
finish
