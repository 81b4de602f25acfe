#!/bin/bash
# tests/golden/capture.sh [OUTDIR]: capture the control tree of a real
# bangerd into OUTDIR/tree (every file, normalized) and OUTDIR/modes (the
# type and mode of every path, which git does not keep).  OUTDIR defaults
# to tests/golden; `make golden-tree` refreshes the checked-in capture,
# tests/integration/golden_tree.sh captures into a temp dir and compares.
# What is captured and how it is normalized: tests/golden/README.md.
#
# The daemon runs as the integration tests run it (tests/integration/lib.sh):
# in a network namespace of its own, on a temp dir, its bridge on a
# documentation range (198.51.100.0/24), so no private address is ever
# captured.  No guest boots: every VM is captured before its guest gets
# anywhere, then killed.  Seconds, and nothing it starts survives it.
set -u
cd "$(dirname "$0")/../.." || exit 1
OUT=${1:-tests/golden}
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
# shellcheck source=tests/golden/lib.sh
. tests/golden/lib.sh

die() {
	echo "capture: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (a network namespace, FUSE), like the integration tests"
[ -x "$BANGERD" ] || die "$BANGERD is missing (make all)"
for b in kernels/debian-cloud-amd64 images/debian-bookworm-mini; do
	[ -f "$IMAGE_CACHE/$b/manifest.json" ] || die "$IMAGE_CACHE/$b is missing (make images)"
done

setup # trap teardown EXIT: the VMMs, the daemon, the namespace, $T
trap 'exit 130' INT TERM HUP # ... also on a signal
# Sizing, VMM and accelerator pinned, so the capture is the same on any
# host (with the host's heuristics the numbers would follow the machine).
# A signed file:// catalog (docs/catalog.md) offering an image and a kernel
# named "available" and an image named "failed" whose index claims a wrong
# sha256 (its pull fails), and a tiny OCI image layout for "oci".
BC=$BUILD/bin/banger-catalog
[ -x "$BC" ] || die "$BC is missing (make all)"
[ -x "$BUILD/guest/inject/init" ] || die "$BUILD/guest/inject is missing (make all)"
mkdir -p "$T/src/images/available" "$T/src/images/failed" "$T/src/kernels/available"
for b in images/available images/failed kernels/available; do
	main=rootfs.ext4
	[ "${b%%/*}" = kernels ] && main=vmlinux
	head -c 65536 /dev/zero >"$T/src/$b/$main"
	extra=
	[ "${b%%/*}" = images ] && extra=', "kernel": "debian-cloud-amd64"'
	printf '{"name": "%s", "kind": "%s", "version": "1", "description": "golden %s", "sha256": "%s"%s}\n' \
		"${b#*/}" "$([ "${b%%/*}" = kernels ] && echo kernel || echo image)" "${b#*/}" \
		"$(sha256sum "$T/src/$b/$main" | cut -d' ' -f1)" "$extra" >"$T/src/$b/manifest.json"
	touch -d '2026-01-01 00:00:00Z' "$T/src/$b"/*
done
openssl genpkey -algorithm ed25519 -out "$T/cat.key" 2>/dev/null && openssl pkey -in "$T/cat.key" -pubout -out "$T/cat.pub" ||
	die "cannot make a key"
"$BC" publish --key "$T/cat.key" --level 3 --threads 1 --from "$T/src" "$T/cat" >"$T/publish.log" 2>&1 ||
	die "publish: $(tail -2 "$T/publish.log")"
jq '(.entries[] | select(.name == "failed") | .sha256) |= "'"$(printf '0%.0s' $(seq 64))"'"' "$T/cat/index.json" >"$T/index.json" &&
	mv "$T/index.json" "$T/cat/index.json" &&
	openssl pkeyutl -sign -rawin -inkey "$T/cat.key" -in "$T/cat/index.json" -out "$T/cat/index.json.sig" ||
	die "cannot re-sign the index"
mkdir -p "$T/oci/etc"
printf 'NAME=golden\n' >"$T/oci/etc/os-release"
tar --numeric-owner --mtime='2026-01-01 00:00:00Z' -C "$T/oci" -cf "$T/oci.tar" etc &&
	python3 tests/integration/oci-helper.py layout "$T/lay" latest --run '{"Env":["PATH=/bin"],"WorkingDir":"/","Cmd":["sh"]}' \
		"$T/oci.tar" >/dev/null || die "cannot make the OCI layout"
cat >"$T/cfg/config.toml" <<EOF
bridge_subnet = "198.51.100.1/24"
vmm = "qemu"
qemu_accel = "tcg"
disk_clone = "sparse-copy"
catalog_url = "file://$T/cat/"
catalog_pubkey = "$T/cat.pub"
oci_inject_dir = "$BUILD/guest/inject"
[vm_defaults]
vcpu = 1
memory_mib = 512
EOF
daemon_start || die "bangerd did not start"

vmdir() { echo "$FS/vms/$1"; }
# the VMM of a VM of this capture: its pid (from status), checked to be a
# process of this capture (its command line names our temp dir)
vmm_pid() {
	local pid
	pid=$(awk '$1 == "pid" { print $2 }' "$(vmdir "$1")/status")
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$T/" || return 1
	echo "$pid"
}
start() { # start NAME: returns when the VMM runs (the guest does not boot yet)
	printf 'start\n' >"$(vmdir "$1")/ctl" || die "start $1 failed: $(cat "$(vmdir "$1")/err")"
	[ "$(cat "$(vmdir "$1")/state")" = running ] || die "$1 is $(cat "$(vmdir "$1")/state") after start"
}

# The top-level err holds the sentence of a refused mkdir.
mkdir "$FS/vms/Bad_Name" 2>/dev/null && die "mkdir vms/Bad_Name was accepted"
[ -s "$FS/err" ] || die "a refused mkdir left no sentence in err"

# One VM per state a capture can hold still, each named after its state.
for v in created stopped failed running; do
	mkdir "$(vmdir "$v")" || die "mkdir vms/$v: $(cat "$FS/err")"
done
start stopped
printf 'kill\n' >"$(vmdir stopped)/ctl" || die "kill stopped: $(cat "$(vmdir stopped)/err")"
wait_state stopped stopped 10 || die "stopped is $(cat "$(vmdir stopped)/state") after kill"
start failed # its VMM dies under it: failed, with the reason in err
pid=$(vmm_pid failed) || die "no VMM pid for vms/failed"
kill -KILL "$pid"
wait_state failed failed 10 || die "failed is $(cat "$(vmdir failed)/state") after its VMM was killed"
start running # captured right away, while its guest boots
# A forward (docs/tree.md, "Ports"): the daemon listens in the capture's
# namespace, where 8080 is free.
mkdir "$(vmdir created)/ports/8080" || die "mkdir vms/created/ports/8080: $(cat "$(vmdir created)/err")"

# images/failed: a pull refused (its archive's sha256 is not the index's);
# images/oci: an OCI image layout made into an image (ready).
printf 'pull\n' >"$FS/images/failed/ctl" || die "pull failed: $(cat "$FS/images/failed/err")"
printf 'import-oci %s:latest oci\n' "$T/lay" >"$FS/images/ctl" || die "import-oci: $(cat "$FS/err")"
for _ in $(seq 1 300); do
	[ "$(cat "$FS/images/failed/state")" = failed ] && [ "$(cat "$FS/images/oci/state")" = ready ] && break
	sleep 0.1
done
[ "$(cat "$FS/images/failed/state")" = failed ] || die "images/failed is $(cat "$FS/images/failed/state")"
[ "$(cat "$FS/images/oci/state")" = ready ] || die "images/oci is $(cat "$FS/images/oci/state"): $(cat "$FS/images/oci/err")"

# ---- the capture ---------------------------------------------------------
C=$T/capture
mkdir -p "$C/tree"
# Stream files: their content is the guest's or the VMM's output (console,
# console.log, log), a read of console at its end blocks while the VM runs,
# wait and events block until something changes, agent while the guest
# agent is awaited (docs/agent.md), and an open of vms/clone makes a VM:
# none is read.  ready is read without waiting (below).
STREAMS=' console console.log log agent wait events clone '
# READ_NOW FILE TOKEN (python3): FILE's text, or TOKEN when a read would
# wait (O_NONBLOCK: ready while the guest boots).
READ_NOW='
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
out = b""
try:
    while True:
        d = os.read(fd, 65536)
        if not d:
            break
        out += d
except BlockingIOError:
    out = (sys.argv[2] + "\n").encode()
sys.stdout.buffer.write(out)'
# Normalizations (tests/golden/README.md): what differs between two runs
# on the same machine becomes a fixed token.  Anchored, so a format change
# (say "pid 123 (qemu)") is left alone and shows in the drift check.
NORM=(
	-e "s|$(printf '%s' "$T" | sed 's/[.[\*^$|]/\\&/g')|@T@|g"  # the temp dir
	-e 's/^pid [0-9]+$/pid @PID@/'                             # status: the VMM's pid
	-e 's/^uptime [0-9]+d[0-9]{2}h[0-9]{2}m[0-9]{2}s$/uptime @UPTIME@/'
	-e 's/^sha256 [0-9a-f]{64}$/sha256 @SHA256@/'              # status of a bundle
	-e 's/^size [0-9]+$/size @SIZE@/'                          # its size on disk
	-e 's/^ok tsc [0-9]+ kHz /ok tsc @KHZ@ kHz /'              # doctor: measured TSC
	-e "s/^ok oci-inject [^ ]+ \\(/ok oci-inject @INJECT@ (/"      # doctor: the checkout's build
	# manifests: every *sha256, *_at (build and import times), size, disk_usage
	-e 's/^( *"[a-z_]*sha256": )"[0-9a-f]{64}"/\1"@SHA256@"/'
	-e 's/^( *"[a-z_]*_at": )("[^"]*"|[0-9]+)/\1"@TIME@"/'
	-e 's/^( *"(size|disk_usage)": )[0-9]+/\1"@SIZE@"/'
	# images/ and kernels/ beyond registered bundles: catalogs, pulls, OCI images
	-e 's/ age [0-9]+s / age @AGE@s /'                              # catalogs
	-e 's/^bytes [0-9]+ of [0-9]+ rate [^ ]+ eta [^ ]+$/bytes @SIZE@ of @SIZE@ rate @RATE@ eta @ETA@/'
	-e 's/(has sha256 )[0-9a-f]{64}(, the catalog says )/\1@SHA256@\2/' # a refused pull's err
	-e 's/^digest sha256:[0-9a-f]{64}$/digest sha256:@SHA256@/'    # an OCI image's status
	-e 's/^content_bytes [0-9]+$/content_bytes @SIZE@/'
	-e 's/^( *"(digest|config|diff_id)": )"sha256:[0-9a-f]{64}"/\1"sha256:@SHA256@"/'
	-e 's/^( *"content_bytes": )[0-9]+/\1"@SIZE@"/'
)
: >"$C/modes.unsorted"
while read -r type mode rel; do
	p=$FS/$rel
	case $type in
	d)
		mkdir -p "$C/tree/$rel"
		printf 'd %04o %s\n' "0$mode" "$rel" >>"$C/modes.unsorted"
		continue
		;;
	f) printf 'f %04o %s\n' "0$mode" "$rel" >>"$C/modes.unsorted" ;;
	*) die "$rel is neither a file nor a directory (find says $type)" ;;
	esac
	case $STREAMS in
	*" ${rel##*/} "*)
		printf '%s\n' "$GOLDEN_STREAM" >"$C/tree/$rel"
		continue
		;;
	esac
	if [ "${rel##*/}" = ready ]; then
		timeout 5 python3 -c "$READ_NOW" "$p" "$GOLDEN_STREAM" >"$C/raw" 2>"$C/err" &&
			sed -E "${NORM[@]}" "$C/raw" >"$C/tree/$rel" 2>"$C/err"
	else
		timeout 5 sed -E "${NORM[@]}" "$p" >"$C/tree/$rel" 2>"$C/err"
	fi
	rc=$?
	[ "$rc" -ne 124 ] || die "reading $rel blocked: a new stream file? (add it to STREAMS in $0)"
	[ "$rc" -eq 0 ] || die "reading $rel failed: $(cat "$C/err")"
done < <(find "$FS" -mindepth 1 -printf '%y %m %P\n')
LC_ALL=C sort -k3 "$C/modes.unsorted" >"$C/modes"
rm -f "$C/modes.unsorted" "$C/err" "$C/raw"

# Leftovers of the temp dir that no rule caught would make every refresh
# differ: refuse them.
if grep -rl "/tmp/banger-it\." "$C/tree" >/dev/null; then
	die "unnormalized temp paths in $(grep -rl "/tmp/banger-it\." "$C/tree" | tr '\n' ' ')"
fi
# A private-range address must never land in a checked-in file.
if grep -rEl '(^|[^0-9.])(10\.[0-9]+|172\.(1[6-9]|2[0-9]|3[01])|192\.168)\.[0-9]+\.[0-9]+' "$C/tree" >/dev/null; then
	die "a private-range address in $(grep -rEl '(^|[^0-9.])(10\.[0-9]+|172\.(1[6-9]|2[0-9]|3[01])|192\.168)\.[0-9]+\.[0-9]+' "$C/tree" | tr '\n' ' ')"
fi

# Done with the daemon: kill the running VM and stop it here, so its log
# is checked (lib.sh: internal errors, sanitizer reports) before we write.
printf 'kill\n' >"$(vmdir running)/ctl" 2>/dev/null
daemon_stop
[ "$FAIL" -eq 0 ] || die "the daemon reported errors (above)"

# Replace OUTDIR/tree and OUTDIR/modes: build the new ones next to the old
# and rename them over, so a failed capture leaves the old ones whole.
mkdir -p "$OUT"
rm -rf "$OUT/tree.new" "$OUT/modes.new"
cp -R "$C/tree" "$OUT/tree.new" && cp "$C/modes" "$OUT/modes.new" || die "cannot write $OUT"
rm -rf "$OUT/tree.old"
[ ! -e "$OUT/tree" ] || mv "$OUT/tree" "$OUT/tree.old"
mv "$OUT/tree.new" "$OUT/tree" && mv -f "$OUT/modes.new" "$OUT/modes" || die "cannot rename into $OUT"
rm -rf "$OUT/tree.old"
echo "captured $(grep -c '^f ' "$OUT/modes") files in $(grep -c '^d ' "$OUT/modes") directories into $OUT/tree"
