#!/bin/bash
# tests/golden/structure.sh DIR: the structure of a captured tree (DIR/tree
# and DIR/modes, as tests/golden/capture.sh writes them), one line per path,
# for the drift check (tests/integration/golden_tree.sh) to compare:
#
#   d MODE PATH
#   f MODE PATH KIND DETAIL
#
# KIND is how the file is read (golden_kind in tests/golden/lib.sh); DETAIL:
#   kv      the keys in order, each with the shape of its value: key=SHAPE
#   value   the shape of the value (lines=N if it has more than one line)
#   verbs   the verbs (first words) in order
#   doctor  the check names in order (a status other than ok|warn|fail
#           shows as STATUS!NAME)
#   json    empty, or the top-level keys in order
#   prose   empty or text;  stream  the placeholder, or what was found
# SHAPE: empty, dash (-), int, word (no blank), text.  A non-empty file
# without a final newline gets " no-final-newline" (the tree's files end
# in one).  Values are compared after the capture's normalization.
set -u
D=${1:?usage: structure.sh DIR (holding tree/ and modes)}
[ -d "$D/tree" ] && [ -f "$D/modes" ] || {
	echo "structure: $D has no tree/ and modes (tests/golden/capture.sh writes them)" >&2
	exit 2
}
# shellcheck source=tests/golden/lib.sh
. "$(dirname "$0")/lib.sh"

# shape_awk: the awk function shape(v)
shape_awk='function shape(v) {
	if (v == "") return "empty"
	if (v == "-") return "dash"
	if (v ~ /^[0-9]+$/) return "int"
	if (v ~ /[ \t]/) return "text"
	return "word"
}'

detail() { # detail KIND FILE
	case $1 in
	kv) awk "$shape_awk"'{ k = $1; v = substr($0, length($1) + 2); printf "%s%s=%s", (NR > 1 ? " " : ""), k, shape(v) }' "$2" ;;
	value)
		if [ "$(wc -l <"$2")" -gt 1 ]; then
			printf 'lines=%s' "$(wc -l <"$2")"
		else
			awk "$shape_awk"'{ v = $0 } END { printf "%s", shape(NR ? v : "") }' "$2"
		fi
		;;
	verbs) awk '{ printf "%s%s", (NR > 1 ? " " : ""), $1 }' "$2" ;;
	doctor) awk '{ s = $1 ~ /^(ok|warn|fail)$/ ? "" : $1 "!"; printf "%s%s%s", (NR > 1 ? " " : ""), s, $2 }' "$2" ;;
	json)
		if [ ! -s "$2" ]; then
			printf empty
		else
			jq -j 'if type == "object" then keys_unsorted | join(" ") else "not-an-object" end' "$2" 2>/dev/null ||
				printf 'invalid-json'
		fi
		;;
	prose) if [ -s "$2" ]; then printf text; else printf empty; fi ;;
	stream) if [ "$(cat "$2")" = "$GOLDEN_STREAM" ]; then printf '%s' "$GOLDEN_STREAM"; else printf 'not-a-placeholder'; fi ;;
	esac
	if [ -s "$2" ] && [ "$(tail -c 1 "$2" | od -An -c | tr -d ' ')" != '\n' ]; then
		printf ' no-final-newline'
	fi
}

# every path of modes, and every path of tree/ that modes does not list
paths=$(awk '{ print $3 }' "$D/modes")
{
	while read -r type mode rel; do
		p=$D/tree/$rel
		case $type in
		d)
			# git keeps no empty directory: one that modes lists with
			# nothing below it (execs/, snapshots/) may be absent from a clone
			if [ -d "$p" ] || ! awk -v d="$rel/" 'index($0, d) == 1 { found = 1 } END { exit !found }' <<<"$paths"; then
				echo "d $mode $rel"
			else
				echo "d $mode $rel MISSING-IN-TREE"
			fi
			;;
		f)
			if [ -f "$p" ]; then
				k=$(golden_kind "$rel")
				echo "f $mode $rel $k $(detail "$k" "$p")"
			else
				echo "f $mode $rel MISSING-IN-TREE"
			fi
			;;
		*) echo "? $mode $rel BAD-LINE-IN-MODES" ;;
		esac
	done <"$D/modes"
	LC_ALL=C comm -13 <(awk '{ print $3 }' "$D/modes" | LC_ALL=C sort) \
		<(find "$D/tree" -mindepth 1 -printf '%P\n' | LC_ALL=C sort) |
		while read -r rel; do echo "? ---- $rel NOT-IN-MODES"; done
} | LC_ALL=C sort -k3,3 -s
