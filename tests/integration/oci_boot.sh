#!/bin/bash
# tests/integration/oci_boot.sh: container images made bootable (part 3 of
# OCI import): a busybox image without sshd and the mmdebstrap Debian image
# with its own are imported with banger's init and sshd injected
# (build/guest/inject), then booted under QEMU (TCG) with the test kernel,
# the way banger's qemu driver boots (microvm, ACPI, virtio disks: the
# image and a work disk holding /.ssh/authorized_keys), plus a NIC on
# QEMU's user network, whose only port is forwarded to 127.0.0.1 in a
# network namespace this test creates, and the virtio-serial port of
# banger's guest agent (the qemu driver's three arguments) on a Unix socket.
# For each: the image's manifest records the injected agent's sha256, the
# agent (started by the init) answers on the port, runs commands with their
# output, stderr and exit status (through "init run" too) and is restarted
# by the init when killed; ssh in as root with the key, the hostname and
# network come from the kernel command line, PID 1 is banger's init, the
# exit status of a command comes back, orphans are reaped, and the ACPI
# power button powers the guest off cleanly.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
OCI=$BUILD/bin/banger-oci
INJECT=$BUILD/guest/inject
CLI=$BUILD/tests/agent_cli
H=$PWD/tests/integration/oci-helper.py
KDIR=$IMAGE_CACHE/kernels/debian-cloud-amd64
DEB_TAR=${OCI_TEST_CACHE:-$(dirname "$IMAGE_CACHE")/oci-test}/debian-minbase.tar
T=$(mktemp -d /tmp/banger-ociboot.XXXXXX)
NS=bgb-${T##*.}
QPID=

cleanup() {
	if [ -n "$QPID" ]; then
		kill "$QPID" 2>/dev/null
		wait "$QPID" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	if [ -n "${KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
for f in "$KDIR/vmlinux" "$KDIR/initrd.img" "$INJECT/init" "$INJECT/agent" "$INJECT/ssh/sshd" "$CLI"; do
	[ -e "$f" ] || { echo "missing $f (make images; make; make unit)" >&2; exit 1; }
done
ip netns add "$NS" && ip -n "$NS" link set lo up || exit 1
in_ns() { nsenter --net="/run/netns/$NS" -- "$@"; }
mkdir -p "$T/b" && ssh-keygen -q -t ed25519 -N "" -f "$T/key" || exit 1
SSH=(ssh -i "$T/key" -p 2222 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	-o ConnectTimeout=5 -o BatchMode=yes -o LogLevel=ERROR root@127.0.0.1)

# The images: busybox (no sshd) and Debian (its own sshd).
mkdir -p "$T/src/bb"/{bin,etc,root,tmp,dev,proc,sys,run,srv,home/app}
cp /bin/busybox "$T/src/bb/bin/"
for a in $(busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$T/src/bb/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' >"$T/src/bb/etc/passwd"
printf 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n' >"$T/src/bb/etc/group"
chmod 1777 "$T/src/bb/tmp"
chown 1000:1000 "$T/src/bb/home/app"
tar --numeric-owner -C "$T/src/bb" -cf "$T/src/bb.tar" . && gzip "$T/src/bb.tar" &&
	python3 "$H" layout "$T/lay/busybox" latest --run \
		'{"Env":["PATH=/bin","GREETING=hello world"],"WorkingDir":"/srv","User":"app","Cmd":["sh"]}' \
		"$T/src/bb.tar.gz" || exit 1
if [ -s "$DEB_TAR" ]; then
	umoci init --layout "$T/lay/debian" && umoci new --image "$T/lay/debian:bookworm" &&
		umoci raw add-layer --image "$T/lay/debian:bookworm" "$DEB_TAR" || exit 1
fi

boot() { # boot NAME BUNDLE: boot a copy of the image; sets QPID
	local run=$T/run-$1 khz
	mkdir -p "$run/work/.ssh"
	cp --sparse=always "$2/rootfs.ext4" "$run/root.ext4"
	cp "$T/key.pub" "$run/work/.ssh/authorized_keys"
	chmod 700 "$run/work" "$run/work/.ssh"
	chmod 600 "$run/work/.ssh/authorized_keys"
	truncate -s 256M "$run/work.ext4" && mkfs.ext4 -q -d "$run/work" "$run/work.ext4"
	khz=$(awk -F: '/^cpu MHz/ { printf "%d\n", $2 * 1000; exit }' /proc/cpuinfo)
	nsenter --net="/run/netns/$NS" -- qemu-system-x86_64 -M microvm,acpi=on -accel tcg -cpu max \
		-smp 2 -m 512 -nodefaults -no-user-config -nographic -no-reboot \
		-kernel "$KDIR/vmlinux" -initrd "$KDIR/initrd.img" \
		-append "console=ttyS0 root=/dev/vda rw tsc_early_khz=$khz panic=-1 init=$(jq -r .init "$2/manifest.json") ip=10.0.2.15::10.0.2.2:255.255.255.0:$1-vm:eth0:off banger.dns=10.0.2.3" \
		-drive "id=root,file=$run/root.ext4,format=raw,if=none" -device virtio-blk-device,drive=root \
		-drive "id=work,file=$run/work.ext4,format=raw,if=none" -device virtio-blk-device,drive=work \
		-netdev user,id=n0,hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-net-device,netdev=n0 \
		-device virtio-serial-device -chardev "socket,id=agent,path=$run/agent.sock,server=on,wait=off" \
		-device virtserialport,chardev=agent,name=banger.agent \
		-chardev "file,id=con,path=$run/console.log" -serial chardev:con \
		-qmp "unix:$run/qmp.sock,server=on,wait=off" >"$run/qemu.out" 2>&1 &
	QPID=$!
}

# cli NAME ARGS...: agent_cli on NAME's agent socket
cli() { "$CLI" --timeout 20000 "$T/run-$1/agent.sock" "${@:2}"; }
agent_up() { # agent_up NAME SECONDS: the agent answers a ping within SECONDS
	local _
	for _ in $(seq 1 "$2"); do
		"$CLI" --timeout 2000 "$T/run-$1/agent.sock" ping >/dev/null 2>&1 && return 0
		kill -0 "$QPID" 2>/dev/null || return 1
		sleep 1
	done
	return 1
}
# the pids of the guest's agent processes, through the agent
agent_pids() { cli "$1" exec -- /bin/sh -c 'for p in /proc/[0-9]*; do [ "$(readlink "$p/exe")" = /.banger/agent ] && echo "${p#/proc/}"; done' | sort -n | tr '\n' ' '; }

check_agent() { # check_agent NAME: the guest agent the init runs
	local run=$T/run-$1 t0 out err rc pids
	t0=$(date +%s)
	if ! agent_up "$1" 180; then
		fail "$1-agent-ready: no answer after $(($(date +%s) - t0)) s; console: $(grep -i agent "$run/console.log" | tail -3)"
		return
	fi
	ok "$1-agent-ready (about $(($(date +%s) - t0)) s after QEMU started)"
	out=$(cli "$1" exec -- /bin/sh -c 'echo hi; echo oops >&2; cat /proc/$PPID/cmdline | tr "\0" " "; exit 3' 2>"$T/err")
	rc=$?
	err=$(cat "$T/err")
	[ "$out" = "$(printf 'hi\n/.banger/agent ')" ] && [ "$err" = oops ] && [ "$rc" = 3 ] &&
		ok "$1-agent-exec-output-status" || fail "$1-agent-exec-output-status: rc $rc, out '$out', err '$err'"
	out=$(cli "$1" exec -- /bin/sh -c 'pwd; grep -c " /root " /proc/mounts')
	[ "$out" = "$(printf '/root\n1')" ] && ok "$1-agent-exec-in-root-on-work-disk" ||
		fail "$1-agent-exec-in-root-on-work-disk: $out"
	if [ "$1" = busybox ]; then
		# through the init, as banger vm run does: the image's Env, WorkingDir and User
		out=$(cli "$1" exec -- /.banger/init run -- sh -c 'echo "$GREETING"; pwd; id -u; exit 4')
		rc=$?
		[ "$out" = "$(printf 'hello world\n/srv\n1000')" ] && [ "$rc" = 4 ] &&
			ok "$1-agent-exec-through-init-run" || fail "$1-agent-exec-through-init-run: rc $rc: $out"
	fi
	# killed, the agent is started again by the init (at most once a second);
	# killed a second after this client left (a command of a client that
	# is still there would be killed with its session)
	pids=$(agent_pids "$1")
	cli "$1" exec -- /bin/sh -c "setsid sh -c 'sleep 1; kill -KILL $pids' </dev/null >/dev/null 2>&1 &"
	sleep 2
	if agent_up "$1" 30 && out=$(agent_pids "$1") && [ -n "$out" ] && [ "$out" != "$pids" ] &&
		grep -q 'banger-init: the guest agent exited' "$run/console.log"; then
		ok "$1-agent-restarted-after-kill (was $pids, now $out)"
	else
		fail "$1-agent-restarted-after-kill: before '$pids', after '$out'; $(grep -i agent "$run/console.log" | tail -3)"
	fi
}

check_guest() { # check_guest NAME
	local run=$T/run-$1 _ t0 out
	t0=$(date +%s)
	for _ in $(seq 1 120); do
		in_ns "${SSH[@]}" true 2>/dev/null && break
		kill -0 "$QPID" 2>/dev/null || break
		sleep 1
	done
	if ! in_ns "${SSH[@]}" true 2>/dev/null; then
		fail "$1-ssh: no ssh after $(($(date +%s) - t0)) s; console: $(tail -5 "$run/console.log")"
		return
	fi
	ok "$1-ssh (about $(($(date +%s) - t0)) s after QEMU started)"
	out=$(in_ns "${SSH[@]}" 'cat /proc/1/cmdline | tr "\0" " "; echo; hostname; cat /etc/resolv.conf; grep -c " /root " /proc/mounts')
	[ "$(sed -n 1p <<<"$out")" = "/.banger/init " ] && ok "$1-pid1-is-banger-init" || fail "$1-pid1-is-banger-init: $out"
	[ "$1" = debian ] || { [ "$(sed -n 2p <<<"$out")" = "$1-vm" ] && ok "$1-hostname-from-ip" || fail "$1-hostname-from-ip: $out"; }
	grep -q '^nameserver 10.0.2.3$' <<<"$out" && ok "$1-resolv-conf" || fail "$1-resolv-conf: $out"
	[ "$(tail -1 <<<"$out")" = 1 ] && ok "$1-work-disk-at-root" || fail "$1-work-disk-at-root: $out"
	in_ns "${SSH[@]}" 'exit 7'
	[ $? = 7 ] && ok "$1-exit-status-propagates" || fail "$1-exit-status-propagates"
	if [ "$1" = busybox ]; then
		# the image's Env, WorkingDir and User apply to a command run through the init
		out=$(in_ns "${SSH[@]}" "/.banger/init run -- sh -c 'echo \"\$GREETING\"; pwd; id -u; id -G; echo \"\$HOME\"; exit 5'")
		rc=$?
		[ "$out" = "$(printf 'hello world\n/srv\n1000\n1000 2000\n/home/app')" ] && [ "$rc" = 5 ] &&
			ok "$1-run-applies-env-workdir-user" || fail "$1-run-applies-env-workdir-user: rc $rc: $out"
	fi
	# an orphan (its parent exits at once) is reaped by PID 1: no zombie stays
	in_ns "${SSH[@]}" 'sh -c "sleep 1 &"; sleep 3; for s in /proc/[0-9]*/stat; do read -r l <"$s" && echo "${l##*) }"; done | grep -c "^Z"' >"$T/z" 2>&1
	[ "$(tail -1 "$T/z")" = 0 ] && ok "$1-orphans-reaped" || fail "$1-orphans-reaped: $(cat "$T/z")"
	t0=$(date +%s)
	printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"system_powerdown"}' |
		socat -t 2 - "UNIX-CONNECT:$run/qmp.sock" >/dev/null
	for _ in $(seq 1 60); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.5; done
	if kill -0 "$QPID" 2>/dev/null; then
		fail "$1-power-button-powers-off: still running; $(tail -3 "$run/console.log")"
		kill "$QPID"
	elif grep -q 'reboot: Power down' "$run/console.log"; then
		ok "$1-power-button-powers-off ($(($(date +%s) - t0)) s)"
	else
		fail "$1-power-button-powers-off: $(tail -3 "$run/console.log")"
	fi
	wait "$QPID" 2>/dev/null
	QPID=
	e2fsck -fn "$run/root.ext4" >/dev/null 2>&1 && ok "$1-rootfs-clean-after-poweroff" ||
		fail "$1-rootfs-clean-after-poweroff"
}

for img in busybox:latest debian:bookworm; do
	name=${img%%:*}
	[ -d "$T/lay/$name" ] || { echo "no $DEB_TAR: run tests/integration/oci.sh first; skipping $name"; continue; }
	if "$OCI" import --quiet --cache "$T/cache" --inject "$INJECT" "$T/lay/$img" "$T/b/$name" >"$T/out" 2>&1 &&
		[ "$(jq -r .init "$T/b/$name/manifest.json")" = /.banger/init ]; then
		ok "$name-import-with-init"
	else
		fail "$name-import-with-init: $(cat "$T/out")"
		continue
	fi
	# the manifest names the agent put in the image, as banger's images do
	sha=$(sha256sum <"$INJECT/agent" | cut -d' ' -f1)
	[ "$(jq -r .agent_sha256 "$T/b/$name/manifest.json")" = "$sha" ] &&
		[ "$("$OCI" ls "$T/b/$name/rootfs.ext4" | awk '$1 == "/.banger/agent" { print $2, $3, $7 }')" = "f 0755 $sha" ] &&
		ok "$name-manifest-agent-sha256" ||
		fail "$name-manifest-agent-sha256: $(jq -r .agent_sha256 "$T/b/$name/manifest.json") vs $sha; $("$OCI" ls "$T/b/$name/rootfs.ext4" | grep '^/.banger/agent ')"
	boot "$name" "$T/b/$name"
	check_agent "$name"
	check_guest "$name"
done

finish
