#!/bin/bash
# OCI images through the daemon and the tree (issue 12): Debian's
# docker-registry on 127.0.0.1 in the test's network namespace, images
# built here and pushed with skopeo (a busybox-style image without sshd,
# with a user, Env and WorkingDir; the mmdebstrap Debian image with its own
# sshd), and a daemon with only the test kernel registered:
#   - banger image pull-oci (echo pull-oci > images/ctl): progress per
#     layer, images/NAME shows the reference, digest, layers, size, init;
#   - the image carries banger's guest agent (manifest agent_sha256, as
#     banger's images): banger vm run --image NAME -- CMD boots it with
#     init=/.banger/init, waits for the agent and runs CMD through it and
#     /.banger/init run (the image's Env, WorkingDir and User), its exit
#     status back; on the image without sshd and on Debian; execs/ runs
#     commands in such a VM; its VMs take no snapshots (the log says why, the
#     snapshot verb is refused), so none is ever restored with a snapshot's
#     identity;
#   - import-oci of a local layout; bad references, names and registries
#     refused with a sentence in err and nothing registered; rmdir cancels a
#     pull (a slow scripted registry); kill -9 of bangerd mid-pull leaves
#     nothing after a restart; two pulls sharing a layer fetch it once.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
H=$PWD/tests/integration/oci-helper.py
KERNEL=debian-cloud-amd64
DEB_TAR=${OCI_TEST_CACHE:-$(dirname "$IMAGE_CACHE")/oci-test}/debian-minbase.tar
[ -f "$IMAGE_CACHE/kernels/$KERNEL/manifest.json" ] || { echo "missing the kernel (make images)" >&2; exit 1; }
[ -x "$BUILD/guest/inject/init" ] || { echo "missing $BUILD/guest/inject (make)" >&2; exit 1; }
setup
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	teardown
}
trap cleanup EXIT
export BANGER_SSH_TIMEOUT=300
mkdir -p "$T/kcache/kernels" "$T/lay" "$T/src"
ln -s "$IMAGE_CACHE/kernels/$KERNEL" "$T/kcache/kernels/"
export TEST_IMAGE_CACHE=$T/kcache # the kernel only: the images come from the registry
start() { # start LOGNAME CMD...: in the namespace, in the background
	local log=$1
	shift
	nsenter --net="/run/netns/$NS" -- "$@" >>"$T/$log.log" 2>&1 &
	PIDS+=("$!")
}
wait_port() {
	local _
	for _ in $(seq 1 150); do
		in_ns bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# ---- the registry and the images ------------------------------------------------
mkdir -p "$T/reg"
cat >"$T/reg.yml" <<EOF
version: 0.1
log: {level: info, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $T/reg}, delete: {enabled: true}}
http: {addr: 127.0.0.1:5000}
EOF
start reg docker-registry serve "$T/reg.yml"
wait_port 5000 && ok registry-up || { fail registry-up; finish; exit 1; }
push() { # push LAYOUT:TAG REF
	in_ns skopeo copy -q --dest-tls-verify=false "oci:$1" "docker://$2" >>"$T/skopeo.log" 2>&1
}
# busybox-style: no sshd, a user, Env and WorkingDir (as oci_boot.sh)
mkbb() { # mkbb NAME [EXTRA-BYTES]: a busybox layout at $T/lay/NAME (tag latest)
	local r=$T/src/$1
	mkdir -p "$r"/{bin,etc,root,tmp,dev,proc,sys,run,srv,home/app}
	cp /bin/busybox "$r/bin/"
	for a in $(busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
	printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' >"$r/etc/passwd"
	printf 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n' >"$r/etc/group"
	printf 'NAME="banger busybox"\nID=bbtest\nVERSION_ID=1\n' >"$r/etc/os-release"
	chmod 1777 "$r/tmp"
	chown 1000:1000 "$r/home/app"
	[ -z "${2:-}" ] || head -c "$2" /dev/urandom >"$r/srv/pad"
	tar --numeric-owner -C "$r" -cf "$T/src/$1.tar" . && gzip -f "$T/src/$1.tar" &&
		python3 "$H" layout "$T/lay/$1" latest --run \
			'{"Env":["PATH=/bin","GREETING=hello world"],"WorkingDir":"/srv","User":"app","Cmd":["sh"]}' \
			"$T/src/$1.tar.gz"
}
mkbb busybox && push "$T/lay/busybox:latest" 127.0.0.1:5000/test/busybox:latest &&
	push "$T/lay/busybox:latest" 127.0.0.1:5000/test/busybox2:latest && ok push-busybox || fail push-busybox
if [ ! -s "$DEB_TAR" ]; then
	mkdir -p "$(dirname "$DEB_TAR")"
	sources=
	for s in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do [ -s "$s" ] && { sources=$s; break; }; done
	mmdebstrap --quiet --variant=minbase --mode=root --format=tar \
		--include=openssh-server,iproute2,iputils-ping,kmod,ca-certificates,less \
		bookworm "$DEB_TAR.tmp.$$" "$sources" </dev/null >"$T/mmdebstrap.log" 2>&1 &&
		mv "$DEB_TAR.tmp.$$" "$DEB_TAR" || rm -f "$DEB_TAR.tmp.$$"
fi
umoci init --layout "$T/lay/debian" && umoci new --image "$T/lay/debian:bookworm" &&
	umoci raw add-layer --image "$T/lay/debian:bookworm" "$DEB_TAR" &&
	push "$T/lay/debian:bookworm" 127.0.0.1:5000/test/debian:bookworm && ok push-debian || fail push-debian
BB_DIGEST=$(in_ns skopeo inspect --tls-verify=false --format '{{.Digest}}' docker://127.0.0.1:5000/test/busybox:latest 2>/dev/null)
BB_LAYER=$(in_ns skopeo inspect --tls-verify=false --format '{{index .Layers 0}}' docker://127.0.0.1:5000/test/busybox:latest 2>/dev/null)

# banger's init and sshd: the build's (a sanitizer build of bangerd has none next to it)
printf 'oci_inject_dir = "%s"\n' "$BUILD/guest/inject" >"$T/cfg/config.toml"
daemon_start || { fail daemon-start; finish; exit 1; }
sb() { # the shim in the namespace, stdin closed; output in $T/out, $T/err
	in_ns "$SHIM" "$@" </dev/null >"$T/out" 2>"$T/err"
	RC=$?
}
st() { cat "$FS/images/$1/state" 2>/dev/null; }
wait_st() { # wait_st NAME WANT SECONDS
	local _
	for _ in $(seq 1 $(($3 * 10))); do [ "$(st "$1")" = "$2" ] && return 0; sleep 0.1; done
	return 1
}
stv() { awk -v k="$2" '$1 == k { sub(/^[^ ]+ /, ""); print; exit }' "$FS/images/$1/status"; }

# ---- pull-oci: busybox, no sshd -------------------------------------------------
sb image pull-oci 127.0.0.1:5000/test/busybox:latest --name bb --insecure
[ "$RC" = 0 ] && [ "$(st bb)" = ready ] && grep -q '^image bb ready$' "$T/err" && ok pull-oci-busybox ||
	fail "pull-oci-busybox: rc $RC $(st bb): $(cat "$T/err") $(cat "$FS/images/bb/err")"
[ "$(stv bb source)" = oci ] && [ "$(stv bb reference)" = 127.0.0.1:5000/test/busybox:latest ] &&
	[ "$(stv bb digest)" = "$BB_DIGEST" ] && [ "$(stv bb layers)" = 1 ] && [ "$(stv bb size)" -gt 0 ] &&
	[ "$(stv bb init)" = /.banger/init ] && [ "$(stv bb run)" = "/.banger/init run --" ] &&
	ok "status-shows-oci-source ($BB_DIGEST)" || fail "status-shows-oci-source: $(cat "$FS/images/bb/status")"
[ "$(jq -r .oci.layers[0].digest "$FS/images/bb/manifest")" = "$BB_LAYER" ] && ok manifest-lists-layers ||
	fail "manifest-lists-layers: $(head -c 400 "$FS/images/bb/manifest")"
[ "$(jq -r .agent_sha256 "$FS/images/bb/manifest")" = "$(sha256sum <"$BUILD/guest/inject/agent" | cut -d' ' -f1)" ] &&
	ok manifest-names-agent || fail "manifest-names-agent: $(jq -r .agent_sha256 "$FS/images/bb/manifest")"
check registered-dir test -f "$T/state/images/bb/rootfs.ext4"

t0=$(date +%s)
# the command's parent is the guest agent (over ssh it would be sshd)
sb vm run --name o1 --image bb --memory 512 -- sh -c 'cat /etc/os-release; id -u; id -G; pwd; echo "$GREETING"; cat /proc/$PPID/comm; exit 3'
want=$(printf 'NAME="banger busybox"\nID=bbtest\nVERSION_ID=1\n1000\n1000 2000\n/srv\nhello world\nagent')
if [ "$RC" = 3 ] && [ "$(cat "$T/out")" = "$want" ]; then
	ok "run-busybox-through-agent-and-init ($(($(date +%s) - t0)) s)"
else
	fail "run-busybox-through-agent-and-init: rc $RC, out: $(cat "$T/out"); err: $(tail -5 "$T/err")"
fi
grep -q "init=/.banger/init" "$FS/vms/o1/log" && ok vm-cmdline-has-init || fail "vm-cmdline-has-init: $(grep -o "append '[^']*'" "$FS/vms/o1/log" | head -1)"
[ "$(timeout 10 cat "$FS/vms/o1/agent")" = ready ] && grep -q 'timing: agent ready' "$FS/vms/o1/log" &&
	ok vm-agent-ready || fail "vm-agent-ready: $(timeout 2 cat "$FS/vms/o1/agent"); $(grep agent "$FS/vms/o1/log")"
# execs/ (docs/agent.md): a command with stdin, its output, stderr and status
x=$FS/execs/oci1
if mkdir "$x" && printf '%s\0' sh -c 'read l; echo "got $l in $(pwd)"; echo e >&2; exit 6' >"$x/argv" &&
	echo "run o1 stdin" >"$x/ctl"; then
	echo hello >"$x/stdin" && echo eof >"$x/ctl"
	out=$(timeout 60 cat "$x/stdout") err=$(timeout 60 cat "$x/stderr") rc=$(timeout 60 cat "$x/status")
	[ "$out" = "got hello in /root" ] && [ "$err" = e ] && [ "$rc" = 6 ] && ok execs-in-oci-vm ||
		fail "execs-in-oci-vm: rc '$rc' out '$out' err '$err' $(cat "$x/err")"
else
	fail "execs-in-oci-vm: $(cat "$x/err" "$FS/err" 2>/dev/null)"
fi
rmdir "$x" 2>/dev/null
# no snapshot of a container image: said in the log, the verb refused, none made
grep -q "snapshot: image bb takes no snapshots: it is a container image booted by banger's init" "$FS/vms/o1/log" &&
	ok oci-vm-no-auto-snapshot-logged || fail "oci-vm-no-auto-snapshot-logged: $(grep snapshot "$FS/vms/o1/log")"
r=$(try_write "$FS/vms/o1/ctl" snapshot)
[ "$r" != ok ] && grep -q "image bb takes no snapshots" "$FS/vms/o1/err" && [ -z "$(ls -A "$FS/snapshots" 2>/dev/null)" ] &&
	[ -z "$(ls -A "$T/state/snapshots" 2>/dev/null)" ] && ok oci-vm-snapshot-refused ||
	fail "oci-vm-snapshot-refused: $r, $(cat "$FS/vms/o1/err"), $(ls -A "$FS/snapshots" "$T/state/snapshots" 2>&1)"
if ! rmdir "$FS/images/bb" 2>/dev/null && grep -q "is used by vm o1" "$FS/err"; then
	ok rmdir-used-image-refused
else
	fail "rmdir-used-image-refused: $(cat "$FS/err")"
fi
sb vm delete --force o1

# ---- Debian (its own sshd) -----------------------------------------------------------
echo 'pull-oci 127.0.0.1:5000/test/debian:bookworm deb insecure' >"$FS/images/ctl" && [ "$(st deb)" = pulling ] &&
	ok pull-oci-through-tree-at-once || fail "pull-oci-through-tree-at-once: $(st deb) $(cat "$FS/err")"
seen=
for _ in $(seq 1 1200); do
	p=$(cat "$FS/images/deb/progress" 2>/dev/null)
	grep -q '^layer 1/1 sha256:[0-9a-f]\{64\} \(fetch\|scan\|apply\) [0-9]* of [0-9]*' <<<"$p" && seen=$p
	[ "$(st deb)" = pulling ] || break
	sleep 0.1
done
[ -n "$seen" ] && ok "progress-per-layer ($(sed -n 3p <<<"$seen"))" || fail "progress-per-layer: $(cat "$FS/images/deb/progress")"
[ "$(st deb)" = ready ] && ok pull-oci-debian || fail "pull-oci-debian: $(st deb) $(cat "$FS/images/deb/err")"
t0=$(date +%s)
sb vm run --rm --name o2 --image deb --memory 1024 -- sh -c 'cat /etc/os-release; cat /proc/$PPID/comm'
if [ "$RC" = 0 ] && grep -q 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' "$T/out" && [ "$(tail -1 "$T/out")" = agent ]; then
	ok "run-debian-through-agent-and-init ($(($(date +%s) - t0)) s)"
else
	fail "run-debian-through-agent-and-init: rc $RC, $(tail -2 "$T/out"), $(tail -5 "$T/err")"
fi

# ---- a local layout through the tree --------------------------------------------------
r=$(try_write "$FS/images/ctl" "import-oci $T/lay/busybox:latest bb2")
wait_st bb2 ready 120
[ "$r" = ok ] && [ "$(st bb2)" = ready ] && [ "$(stv bb2 reference)" = "oci:$T/lay/busybox:latest" ] &&
	ok import-oci-layout || fail "import-oci-layout: $r $(st bb2) $(cat "$FS/images/bb2/err")"

# ---- refused, nothing registered ------------------------------------------------------
refused_write() { # refused_write NAME DATA SENTENCE
	local r
	r=$(try_write "$FS/images/ctl" "$2")
	if [ "$r" != ok ] && grep -qF -- "$3" "$FS/err"; then ok "$1: $(cat "$FS/err")"; else fail "$1: $r, $(cat "$FS/err")"; fi
}
refused_write name-reserved "pull-oci 127.0.0.1:5000/test/busybox:latest ctl insecure" "cannot name an image"
refused_write name-taken "pull-oci 127.0.0.1:5000/test/busybox:latest bb insecure" "image 'bb' is already registered"
refused_write name-bad "pull-oci 127.0.0.1:5000/test/busybox:latest Bad insecure" "may only use"
refused_write layout-relative "import-oci lay/busybox x1" "absolute layout path"
refused_write bad-flag "pull-oci 127.0.0.1:5000/test/busybox:latest x1 yes" "usage: pull-oci REF NAME [insecure]"
failed_pull() { # failed_pull NAME WRITE SENTENCE
	local r
	r=$(try_write "$FS/images/ctl" "$2")
	wait_st "$1" failed 60
	if [ "$r" = ok ] && [ "$(st "$1")" = failed ] && grep -qi -- "$3" "$FS/images/$1/err" &&
		[ ! -e "$T/state/images/$1" ] && [ -z "$(find "$T/state/images" -mindepth 1 -maxdepth 1 -name '.*')" ]; then
		ok "$1: $(cat "$FS/images/$1/err")"
	else
		fail "$1: $r $(st "$1"), $(cat "$FS/images/$1/err"), left: $(ls -a "$T/state/images")"
	fi
}
failed_pull gone "pull-oci 127.0.0.1:5000/test/nosuch:latest gone insecure" "127.0.0.1:5000"
failed_pull nottls "pull-oci 127.0.0.1:5000/test/busybox:latest nottls" "127.0.0.1:5000"
rmdir "$FS/images/gone" && [ ! -e "$FS/images/gone" ] && ok rmdir-forgets-failed || fail "rmdir-forgets-failed: $(st gone)"
sb image pull-oci 127.0.0.1:5000/test/nosuch:v9 --name gone2 --insecure
[ "$RC" = 1 ] && grep -q "^banger: .*127.0.0.1:5000" "$T/err" && ok shim-says-why || fail "shim-says-why: $RC $(cat "$T/err")"

# ---- two pulls sharing a layer: one transfer ---------------------------------------
rm -rf "$T/cache/oci"
before=$(grep -c "GET /v2/test/busybox2\?/blobs/$BB_LAYER" "$T/reg.log")
echo "pull-oci 127.0.0.1:5000/test/busybox:latest x1 insecure" >"$FS/images/ctl"
echo "pull-oci 127.0.0.1:5000/test/busybox2:latest x2 insecure" >"$FS/images/ctl"
wait_st x1 ready 120
wait_st x2 ready 120
after=$(grep -c "GET /v2/test/busybox2\?/blobs/$BB_LAYER" "$T/reg.log")
[ "$(st x1) $(st x2)" = "ready ready" ] && [ $((after - before)) = 1 ] && ok "shared-layer-fetched-once" ||
	fail "shared-layer-fetched-once: $(st x1) $(st x2), $((after - before)) GETs"

# ---- a slow registry: rmdir cancels; kill -9 of the daemon mid-pull ----------------------
mkbb slow 3000000
start slowreg python3 "$H" registry 5016 "$T/lay/slow" "$T/slowreg-req.log" --slow
wait_port 5016 || fail slow-registry-up
echo "pull-oci 127.0.0.1:5016/x/slow:latest s1 insecure" >"$FS/images/ctl"
for _ in $(seq 1 100); do grep -q "fetch [1-9][0-9]* of" "$FS/images/s1/progress" 2>/dev/null && break; sleep 0.1; done
if rmdir "$FS/images/s1" && [ ! -e "$FS/images/s1" ]; then ok rmdir-cancels-pull; else fail "rmdir-cancels-pull: $(st s1) $(cat "$FS/err")"; fi
for _ in $(seq 1 100); do [ -z "$(find "$T/state/images" -mindepth 1 -maxdepth 1 -name '.oci-s1*')" ] && break; sleep 0.1; done
check cancelled-leaves-nothing test -z "$(find "$T/state/images" -mindepth 1 -maxdepth 1 -name '*s1*')"
echo "pull-oci 127.0.0.1:5016/x/slow:latest s2 insecure" >"$FS/images/ctl"
for _ in $(seq 1 100); do grep -q "fetch [1-9][0-9]* of" "$FS/images/s2/progress" 2>/dev/null && break; sleep 0.1; done
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
umount -l "$FS" 2>/dev/null
daemon_start || { fail daemon-restart; finish; exit 1; }
if [ ! -e "$FS/images/s2" ] && [ -z "$(find "$T/state/images" -mindepth 1 -maxdepth 1 -name '*s2*')" ] &&
	[ "$(st bb)" = ready ] && [ "$(st deb)" = ready ]; then
	ok kill9-mid-pull-nothing-after-restart
else
	fail "kill9-mid-pull-nothing-after-restart: $(ls "$FS/images") $(ls -a "$T/state/images")"
fi

finish
