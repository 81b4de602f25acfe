#!/bin/sh
# Boot test and benchmark baseline for a kernel bundle + root image.
#
#   images/boot-test.sh [-n RUNS] KERNELDIR IMAGEDIR
#
# For each run: copies rootfs.ext4 (sparse) and makes a fresh 1 GiB ext4
# work disk in a temp dir, boots with qemu-boot.sh, waits for "login:" on
# the serial console, asks for a clean shutdown through QMP
# (system_powerdown) and waits for QEMU to exit by itself. Prints one line
# per run on stdout:
#   run=N login_s=S powerdown_s=S clean=yes|no
# Exits non-zero if any run fails to reach login or to power down cleanly.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"

LOGIN_TIMEOUT=${LOGIN_TIMEOUT:-180}
DOWN_TIMEOUT=${DOWN_TIMEOUT:-60}

runs=1
if [ "${1:-}" = -n ]; then
	runs=$2
	shift 2
fi
[ $# -eq 2 ] || die "usage: $PROG [-n RUNS] KERNELDIR IMAGEDIR"
kdir=$1
idir=$2
need socat mkfs.ext4 cp truncate date
[ -f "$idir/rootfs.ext4" ] || die "$idir/rootfs.ext4 missing"

base=$(mktemp -d /tmp/banger-boot-test.XXXXXX)
qpid=
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill "$qpid" 2>/dev/null || true
		wait "$qpid" 2>/dev/null || true
	fi
	rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

qmp() {
	printf '%s\n' '{"execute":"qmp_capabilities"}' "$1" |
		socat -t 2 - "UNIX-CONNECT:$2" >/dev/null
}

failed=0
i=1
while [ "$i" -le "$runs" ]; do
	rd="$base/run$i"
	mkdir -p "$rd"
	cp --sparse=always "$idir/rootfs.ext4" "$rd/rootfs.ext4"
	truncate -s 1G "$rd/work.ext4"
	mkfs.ext4 -q -F -L work "$rd/work.ext4"

	t0=$(now)
	RUNDIR=$rd "$here/qemu-boot.sh" "$kdir" "$rd/rootfs.ext4" "$rd/work.ext4" \
		>"$rd/qemu.out" 2>&1 &
	qpid=$!

	login=
	while :; do
		if grep -q 'login:' "$rd/console.log" 2>/dev/null; then
			login=$(elapsed "$t0" "$(now)")
			break
		fi
		kill -0 "$qpid" 2>/dev/null || break
		[ "$(elapsed "$t0" "$(now)" | cut -d. -f1)" -ge "$LOGIN_TIMEOUT" ] && break
		sleep 0.1
	done
	if [ -z "$login" ]; then
		log "run $i: no login prompt (console: $rd/console.log)"
		tail -n 30 "$rd/console.log" >&2 || true
		printf 'run=%d login_s=- powerdown_s=- clean=no\n' "$i"
		failed=1
		kill "$qpid" 2>/dev/null || true
		wait "$qpid" 2>/dev/null || true
		qpid=
		i=$((i + 1))
		continue
	fi

	t1=$(now)
	qmp '{"execute":"system_powerdown"}' "$rd/qmp.sock" || log "run $i: QMP failed"
	down=
	while :; do
		if ! kill -0 "$qpid" 2>/dev/null; then
			down=$(elapsed "$t1" "$(now)")
			break
		fi
		[ "$(elapsed "$t1" "$(now)" | cut -d. -f1)" -ge "$DOWN_TIMEOUT" ] && break
		sleep 0.1
	done
	clean=no
	if [ -n "$down" ]; then
		wait "$qpid" 2>/dev/null || true
		grep -q 'reboot: Power down' "$rd/console.log" && clean=yes
	else
		log "run $i: guest did not power off within ${DOWN_TIMEOUT}s"
		kill "$qpid" 2>/dev/null || true
		wait "$qpid" 2>/dev/null || true
		down=-
	fi
	qpid=
	[ "$clean" = yes ] || failed=1
	[ -n "${KEEP_CONSOLE:-}" ] && cp "$rd/console.log" "$KEEP_CONSOLE.$i"
	printf 'run=%d login_s=%s powerdown_s=%s clean=%s\n' "$i" "$login" "$down" "$clean"
	rm -rf "$rd"
	i=$((i + 1))
done
exit "$failed"
