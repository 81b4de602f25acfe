#!/bin/bash
# The test harness behind `make test`: unit tests (cmocka), fuzz smoke
# runs, shellcheck, integration tests against a real daemon and real QEMU
# guests.  Ends with one line: "N passed, N failed[, N skipped]".
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
IMAGE_CACHE=${IMAGE_CACHE:-/var/cache/banger/build}
export BUILD IMAGE_CACHE
LOG=$BUILD/test-logs
mkdir -p "$LOG"
PASS=0 FAIL=0 SKIP=0
FAILED=()

count() { # count STATUS NAME
	case $1 in
	pass) PASS=$((PASS + 1)) ;;
	skip) SKIP=$((SKIP + 1)) ;;
	*) FAIL=$((FAIL + 1)); FAILED+=("$2") ;;
	esac
}

echo "== images"
if ! images/build.sh "$IMAGE_CACHE" >"$LOG/images.log" 2>&1; then
	tail -30 "$LOG/images.log"
	echo "images could not be built; integration tests will fail"
fi

echo "== unit tests"
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	"$t" >"$LOG/$name.log" 2>&1
	rc=$?
	p=$(grep -c '^\[       OK \]' "$LOG/$name.log")
	s=$(grep -c '^\[  SKIPPED \]' "$LOG/$name.log")
	f=$(grep -E '^\[  FAILED  \] [a-z_0-9]+$' "$LOG/$name.log" | grep -vc 'test(s)')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed
	PASS=$((PASS + p)); SKIP=$((SKIP + s)); FAIL=$((FAIL + f))
	[ "$f" -gt 0 ] && FAILED+=("$name")
	printf '%-24s %3d passed %3d failed %3d skipped\n' "$name" "$p" "$f" "$s"
	[ "$f" -gt 0 ] && tail -20 "$LOG/$name.log"
done

echo "== fuzz smoke (corpus replay + 10 s each)"
for fz in "$BUILD"/fuzz/fuzz_*; do
	[ -x "$fz" ] || continue
	name=$(basename "$fz"); corpus=tests/fuzz/corpus/${name#fuzz_}
	work=$(mktemp -d)
	if "$fz" -runs=0 "$corpus" >"$LOG/$name.log" 2>&1 &&
	   "$fz" -max_total_time=10 "$work" "$corpus" >>"$LOG/$name.log" 2>&1; then
		count pass "$name"; echo "$name ok"
	else
		count fail "$name"; echo "$name FAILED"; tail -20 "$LOG/$name.log"
	fi
	rm -rf "$work"
done

echo "== shellcheck"
for f in shims/banger tests/*.sh tests/integration/*.sh tests/golden/*.sh tests/guesthost/*.sh tests/kvmhost/*.sh images/*.sh .ci/run; do
	[ -f "$f" ] || continue
	if shellcheck -x "$f" >"$LOG/shellcheck.log" 2>&1; then
		count pass "shellcheck $f"
	else
		count fail "shellcheck $f"; cat "$LOG/shellcheck.log"
	fi
done
echo "shellcheck done"

echo "== integration"
# Every test stops what it started, also when it fails: after each one, a
# daemon, helper, QEMU or Firecracker double of this run is a failure of
# that test (and is killed).  A process is this run's when it carries the
# run's mark in its environment, or (a jailed VMM gets an empty one) names
# or works in a temp dir a test of this run registered (lib.sh setup).
# Anything else on the machine is left alone.
export BANGER_TEST_RUN=banger-test-run-$$
export BANGER_TEST_TMPDIRS=$PWD/$LOG/tmpdirs
: >"$BANGER_TEST_TMPDIRS"
ours() { # ours PID
	local cmd cwd d
	tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -qx "BANGER_TEST_RUN=$BANGER_TEST_RUN" &&
		return 0
	cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)
	cwd=$(readlink "/proc/$1/cwd" 2>/dev/null)
	while read -r d; do
		[ -n "$d" ] || continue
		case "$cmd $cwd/" in *"$d"/*) return 0 ;; esac
	done <"$BANGER_TEST_TMPDIRS"
	return 1
}
procs() {
	local p
	for p in $(pgrep -f '(^|/)(bangerd|bangerd-root|qemu-system-x86_64)( |$)|tests/fc-double/(firecracker|jailer)'); do
		ours "$p" && echo "$p"
	done
}
for t in tests/integration/*.sh; do
	case $t in */lib.sh) continue ;; esac
	name=$(basename "$t" .sh)
	echo "-- $name"
	timeout 1200 bash "$t" >"$LOG/it-$name.log" 2>&1
	rc=$?
	p=$(grep -c '^ok ' "$LOG/it-$name.log")
	f=$(grep -c '^FAIL ' "$LOG/it-$name.log")
	s=$(grep -c '^SKIP ' "$LOG/it-$name.log")
	SKIP=$((SKIP + s))
	grep -E '^(FAIL|SKIP|# )' "$LOG/it-$name.log"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1; echo "$name exited $rc"; tail -20 "$LOG/it-$name.log"
	fi
	PASS=$((PASS + p)); FAIL=$((FAIL + f))
	[ "$f" -gt 0 ] && FAILED+=("$name")
	sleep 0.5 # a SIGTERMed process may still be on its way out
	left=$(procs)
	if [ -n "$left" ]; then
		echo "FAIL $name-left-processes:"
		for p in $left; do ps -o pid=,args= -p "$p" | cut -c1-160; done
		for p in $left; do kill -KILL "$p" 2>/dev/null; done
		count fail "$name-left-processes"
	else
		count pass "$name-left-processes"
	fi
done

[ ${#FAILED[@]} -gt 0 ] && echo "failed: ${FAILED[*]}"
if [ "$SKIP" -gt 0 ]; then
	echo "$PASS passed, $FAIL failed, $SKIP skipped"
else
	echo "$PASS passed, $FAIL failed"
fi
[ "$FAIL" -eq 0 ]
