# shellcheck shell=bash
# tests/integration/lib.sh: shared by the integration tests (bash).
#
# Each test runs its own daemon on a temp dir: mount, state, runtime and
# config all live under $T, so tests never touch a user's banger.
# Results are printed as "ok NAME" / "FAIL NAME: detail" lines; the
# harness (tests/run.sh) counts them.

BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac # absolute: tests cd and nsenter
IMAGE_CACHE=${IMAGE_CACHE:-/var/cache/banger/build}
BANGERD=${BANGERD:-$BUILD/bin/bangerd}
SHIM=${SHIM:-$PWD/shims/banger}
PASS=0
FAIL=0

ok() { echo "ok $*"; PASS=$((PASS + 1)); }
fail() { echo "FAIL $*"; FAIL=$((FAIL + 1)); }
check() { # check NAME CMD...: ok if CMD succeeds
	local name=$1; shift
	if "$@" >/dev/null 2>&1; then ok "$name"; else fail "$name: '$*' failed"; fi
}

# Start a test environment in a fresh temp dir.  The daemon runs in a
# network namespace of its own (NS): the bridge, taps, guest addresses and
# NAT it creates never touch the host's namespace.  in_ns runs a command
# there (ssh to guests, for instance).
# Tell tests/run.sh about a temp dir of this test: a process that names it
# or works in it is this run's (see its leftover check).
register_tmp() {
	[ -n "${BANGER_TEST_TMPDIRS:-}" ] && echo "$1" >>"$BANGER_TEST_TMPDIRS"
	return 0
}

setup() {
	T=$(mktemp -d /tmp/banger-it.XXXXXX)
	register_tmp "$T"
	FS=$T/fs
	NS=bgt-${T##*.}
	export BANGER_FS=$FS
	# the shim's own cache (vm push: ~/.cache/banger/push) stays in $T
	export XDG_CACHE_HOME=$T/xdg-cache
	mkdir -p "$T/cfg"
	: > "$T/cfg/config.toml"
	trap teardown EXIT
	# The daemon imports the image cache at start: give it exactly the test
	# kernel and the small image, whatever else this machine has built.
	mkdir -p "$T/imgcache/kernels" "$T/imgcache/images"
	ln -s "$IMAGE_CACHE/kernels/debian-cloud-amd64" "$T/imgcache/kernels/"
	ln -s "$IMAGE_CACHE/images/debian-bookworm-mini" "$T/imgcache/images/"
	ip netns add "$NS"
	ip -n "$NS" link set lo up
	# The daemon tells systemd-resolved about the bridge (docs/dns.md) with
	# the bridge's index in the test's namespace: never let that reach a
	# real resolved on this host's bus.  Nothing listens here unless a test
	# starts the double (resolved_double_start).
	export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/system_bus"
}
in_ns() { nsenter --net="/run/netns/$NS" -- "$@"; }

# A private bus at $DBUS_SYSTEM_BUS_ADDRESS (a unix:path= address), in the
# test's namespace; sets BUS_PID.
bus_start() {
	local sock=${DBUS_SYSTEM_BUS_ADDRESS#unix:path=} _
	# (nsenter, not in_ns: a function run with & is a subshell, and $!
	# would be that shell's pid.)
	nsenter --net="/run/netns/$NS" -- dbus-daemon --config-file="$PWD/tests/resolved-double/bus.conf" \
		--address="$DBUS_SYSTEM_BUS_ADDRESS" --nofork --nopidfile >>"$T/bus.log" 2>&1 &
	BUS_PID=$!
	for _ in $(seq 1 50); do [ -S "$sock" ] && return 0; sleep 0.1; done
	cat "$T/bus.log" >&2
	return 1
}

# tests/resolved-double/resolve1.py (a stand-in for systemd-resolved) on
# that bus, in the namespace (it checks link indexes there, as resolved
# does in its own); every call it receives is a JSON line in
# $T/resolve1.jsonl.  Sets RESOLVE1_PID.
resolve1_start() {
	local _
	nsenter --net="/run/netns/$NS" -- env RESOLVE1_DOUBLE_LOG="$T/resolve1.jsonl" \
		RESOLVE1_DOUBLE_READY="$T/resolve1.ready" tests/resolved-double/resolve1.py \
		>>"$T/resolve1.log" 2>&1 &
	RESOLVE1_PID=$!
	for _ in $(seq 1 100); do [ -e "$T/resolve1.ready" ] && return 0; sleep 0.1; done
	cat "$T/bus.log" "$T/resolve1.log" >&2
	return 1
}

# Both, for a daemon test; stopped by teardown.
resolved_double_start() { bus_start && resolve1_start; }

daemon_start() { # daemon_start [extra bangerd args]
	nsenter --net="/run/netns/$NS" -- "$BANGERD" --foreground --mount "$FS" --state-dir "$T/state" \
		--runtime-dir "$T/run" --cache-dir "$T/cache" \
		--image-cache "${TEST_IMAGE_CACHE:-$T/imgcache}" \
		--config "$T/cfg/config.toml" "$@" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	local _
	# (DAEMON_START_WAIT: tenths of a second; the daemon hashes every image
	# it imports first, which a loaded machine makes slow)
	for _ in $(seq 1 "${DAEMON_START_WAIT:-100}"); do
		[ -f "$FS/README" ] && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "daemon did not come up; its log:" >&2
	cat "$T/daemon.log" >&2
	return 1
}

daemon_stop() {
	[ -n "${DAEMON_PID:-}" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	local _
	for _ in $(seq 1 100); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	umount -l "$FS" 2>/dev/null || true
	# The daemon logs an illegal state transition as an internal error.
	if grep -q 'internal error:' "$T/daemon.log" 2>/dev/null; then
		fail "daemon-no-internal-errors: $(grep 'internal error:' "$T/daemon.log" | head -3)"
	fi
	# Sanitizer builds (make check-asan): any report from the daemon fails.
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/daemon.log" 2>/dev/null; then
		fail "daemon-sanitizer-clean: see below"
		grep -A30 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/daemon.log" | head -60
		: > "$T/daemon.log"
	fi
}

teardown() {
	# Kill every VMM this test started (they outlive the daemon by design).
	if [ -n "${T:-}" ] && [ -d "$T/state/vms" ]; then
		pkill -KILL -f "$T/state/vms/" 2>/dev/null || true
	fi
	daemon_stop
	# A detached daemon of this test that a failed check left behind.
	[ -n "${FS:-}" ] && pkill -KILL -f -- "bangerd --mount $FS " 2>/dev/null && umount -l "$FS" 2>/dev/null
	local p
	for p in ${RESOLVE1_PID:-} ${BUS_PID:-}; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	[ -n "${NS:-}" ] && ip netns del "$NS" 2>/dev/null
	if [ -n "${KEEP:-}" ]; then
		echo "kept $T" >&2
	else
		rm -rf "$T"
	fi
}

# Wait until FILE's content equals WANT (bounded, seconds).
wait_state() { # wait_state VM WANT SECONDS
	local _
	for _ in $(seq 1 $(($3 * 10))); do
		[ "$(cat "$FS/vms/$1/state" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# Write to a tree file; print the error text (strerror) or "ok".
try_write() { # try_write FILE DATA
	local out
	if out=$( (printf '%s\n' "$2" > "$1") 2>&1); then
		echo ok
	else
		echo "$out"
	fi
}

finish() {
	echo "# $(basename "$0"): $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
}

# units_verify NAME ROOT UNITDIR [MANPATH]: ok NAME if `systemd-analyze
# verify` accepts banger's two units as installed under ROOT (in UNITDIR,
# with the drop-ins written to ROOT/etc/systemd/system), their ExecStart=
# binaries taken from ROOT.  Without MANPATH the Documentation= pages are
# not looked up (--man=no).
units_verify() {
	local name=$1 root=$2 unitdir=$3 man=${4:-} v=$T/verify.$1 u out
	if ! command -v systemd-analyze >/dev/null; then
		fail "$name: systemd-analyze is missing"
		return
	fi
	mkdir -p "$v"
	for u in bangerd bangerd-root; do
		# Every Exec*= program installed under ROOT is taken from there
		# (ExecStart, and bangerd.service's ExecStartPre=+/ExecStopPost=-+
		# of bangerd-root); the system's own (/usr/bin/install) stay.
		local line prog pre
		while IFS= read -r line; do
			if [[ $line =~ ^(Exec[A-Za-z]*=[-+!@:]*)(/[^ ]*)(.*)$ ]]; then
				pre=${BASH_REMATCH[1]} prog=${BASH_REMATCH[2]}
				[ -e "$root$prog" ] && line="$pre$root$prog${BASH_REMATCH[3]}"
			fi
			printf '%s\n' "$line"
		done <"$root$unitdir/$u.service" >"$v/$u.service"
		if [ -d "$root/etc/systemd/system/$u.service.d" ]; then
			mkdir -p "$v/$u.service.d"
			cp "$root/etc/systemd/system/$u.service.d"/*.conf "$v/$u.service.d/"
		fi
	done
	local flags=(--man=no)
	[ -z "$man" ] || flags=()
	out=$(cd "$v" && MANPATH=$man SYSTEMD_UNIT_PATH="$v:" systemd-analyze verify \
		"${flags[@]}" ./bangerd-root.service ./bangerd.service 2>&1)
	[ -z "$out" ] && ok "$name" || fail "$name: $out"
}
