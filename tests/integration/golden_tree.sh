#!/bin/bash
# The drift check of the golden control tree (tests/golden/README.md): a
# fresh capture from a real bangerd (tests/golden/capture.sh) must have the
# structure of the checked-in one, tests/golden/tree, which the shim's unit
# tests build their fixture from.  Structure: the directories and files,
# their modes, the ordered keys of key-value files, the shape of one-value
# files (tests/golden/structure.sh).  When the daemon's format changes on
# purpose, `make golden-tree` refreshes the capture.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

G=tests/golden
W=$(mktemp -d /tmp/banger-golden.XXXXXX)
register_tmp "$W"
trap 'rm -rf "$W"' EXIT
trap 'exit 130' INT TERM HUP

# The checked-in capture is whole: every path has its mode, every mode its path.
if [ ! -d "$G/tree" ] || [ ! -f "$G/modes" ]; then
	fail "golden-checked-in: $G/tree or $G/modes is missing (make golden-tree)"
	finish
	exit 1
fi
"$G/structure.sh" "$G" >"$W/golden.structure"
bad=$(grep -E 'MISSING-IN-TREE|NOT-IN-MODES|BAD-LINE-IN-MODES' "$W/golden.structure")
[ -z "$bad" ] && ok golden-checked-in-whole || fail "golden-checked-in-whole: $bad"

# The comparison sees a change of format: a renamed key, a dropped file, a
# value of another shape, a new mode, each in a copy of the golden tree.
mutate() { # mutate NAME SED-SCRIPT FILE | mutate NAME rm FILE
	rm -rf "$W/m" && mkdir -p "$W/m" && cp -R "$G/tree" "$G/modes" "$W/m/"
	if [ "$2" = rm ]; then rm "$W/m/tree/$3"; else sed -i "$2" "$W/m/$3"; fi
	if "$G/structure.sh" "$W/m" | cmp -s - "$W/golden.structure"; then
		fail "golden-drift-detects-$1: the structure did not change"
	else
		ok "golden-drift-detects-$1"
	fi
}
mutate renamed-key 's/^ssh /ssh_state /' tree/vms/running/status
mutate dropped-file rm vms/stopped/hostkey
mutate value-shape 's/^512$/512M/' tree/vms/created/memory_mib
mutate mode 's/^f 0444 vms\/failed\/err$/f 0644 vms\/failed\/err/' modes

# A fresh capture from the daemon of this build.
if tests/golden/capture.sh "$W/fresh" >"$W/capture.log" 2>&1; then
	ok golden-capture
else
	fail "golden-capture: $(tail -5 "$W/capture.log")"
	finish
	exit 1
fi
"$G/structure.sh" "$W/fresh" >"$W/fresh.structure"
if diff -u --label "checked in ($G)" --label "captured now" \
	"$W/golden.structure" "$W/fresh.structure" >"$W/diff"; then
	ok golden-tree-format
	# Values may differ (the host's doctor lines, a rebuilt image's
	# versions): said, not failed.
	n=$(diff -rq "$G/tree" "$W/fresh/tree" 2>/dev/null | wc -l)
	[ "$n" -eq 0 ] || echo "# $n files differ from $G/tree in their values only; make golden-tree refreshes them"
else
	fail "golden-tree-format: the daemon's tree no longer has the format of $G/tree:"
	cat "$W/diff"
	echo "# if the change is meant, run 'make golden-tree' and commit $G (the shim's tests use it)"
fi
finish
