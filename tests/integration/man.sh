#!/bin/bash
# The man pages (man/*.scd, built by make into $BUILD/man): each renders
# without a warning at 80 columns, and none can drift from what it
# describes:
#   banger(1)       every command of the shim's table, with its usage and tree column
#   banger-tree(7)  every file, verb, directory and state the code serves
#                   (core/tree.c, core/vmstate.c) is in docs/tree.md, and every
#                   term and errno of docs/tree.md is in the page
#   banger.toml(5)  exactly the keys of core/config.c's tables
#   bangerd(8), bangerd-root(8)  exactly the options of fs/main.c, helper/root_main.c
#   banger-catalog(1)  every usage line of banger-catalog --help, every option
#                   of tools/catalog.c
# A pattern that finds nothing in the code fails too: when the code moves,
# this test is updated with it instead of passing on nothing.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
M=$BUILD/man
PAGES=(banger.1 banger-catalog.1 bangerd.8 bangerd-root.8 banger-tree.7 banger.toml.5)

for p in "${PAGES[@]}"; do
	if [ ! -f "$M/$p" ]; then
		fail "built-$p: $M/$p is missing (make builds it)"
		continue
	fi
	w=$(MANWIDTH=80 man --warnings -l "$M/$p" 2>&1 >/dev/null)
	[ -z "$w" ] && ok "no-warnings-$p" || fail "no-warnings-$p: $w"
done
# render PAGE: plain text, lines unbroken
render() { MANWIDTH=1000 man -E ascii -l "$M/$1" 2>/dev/null; }
# terms PAGE: the first line of each indented entry (7 spaces, then text)
terms() { render "$1" | sed -n 's/^       \([^ ].*\)$/\1/p'; }
# same NAME "A" "B": two newline-separated sets are equal
same() {
	local d
	d=$(diff <(sort -u <<<"$2") <(sort -u <<<"$3"))
	[ -z "$d" ] && ok "$1" || fail "$1: $(tr '\n' ' ' <<<"$d")"
}
# nonempty NAME WHAT LIST: the code pattern found something
nonempty() {
	[ -n "$3" ] && ok "$1" || fail "$1: found no $2 (has the code moved? update tests/integration/man.sh)"
}

# ---- banger(1): the shim's command table --------------------------------
page=$(render banger.1)
table=$(sed -n "/^COMMANDS='/,/'\$/p" shims/banger | sed "s/^COMMANDS='//; s/'\$//")
n=0 bad=
while IFS='|' read -r key args summary tree; do
	n=$((n + 1))
	grep -qF "banger $key${args:+ $args}" <<<"$page" || bad="$bad [$key: usage]"
	grep -qF "$summary." <<<"$page" || bad="$bad [$key: summary]"
	case $tree in "("*) grep -qF "$tree" <<<"$page" ;; *) grep -qF "In the tree: $tree" <<<"$page" ;; esac ||
		bad="$bad [$key: tree]"
done <<<"$table"
nonempty banger1-table "command table in shims/banger" "$table"
[ -z "$bad" ] && ok "banger1-every-command-$n" || fail "banger1-every-command: missing$bad"

# ---- banger-tree(7) -------------------------------------------------------
files=$(grep -hoE '^\s*\{ "[A-Za-z_]+", 0[0-7]{3},' core/tree.c core/treeimg.c | sed -E 's/.*"([^"]+)".*/\1/' | sort -u)
verbs=$(grep -hoE '^\s*\{ [A-Z_]+, "[a-z]+", [0-9]' core/tree.c core/treeimg.c | sed -E 's/.*"([^"]+)".*/\1/' | sort -u)
dirs=$(grep -oE '^\s*\{ "[a-z]+", NK_' core/tree.c | sed -E 's/.*"([^"]+)".*/\1/' | sort -u)
states=$(grep -oE '\[VM_[A-Z]+\] *= *"[a-z]+"' core/vmstate.c | sed -E 's/.*"([^"]+)"/\1/' | sort -u)
nonempty tree-code-files "tree files ({ \"name\", 0644, ...) in core/tree.c" "$files"
nonempty tree-code-verbs "ctl verbs ({ VERB, \"name\", N ...) in core/tree.c" "$verbs"
nonempty tree-code-dirs "subdirectories ({ \"vms\", NK_ ...) in core/tree.c" "$dirs"
nonempty tree-code-states "states ([VM_X] = \"x\") in core/vmstate.c" "$states"
page=$(render banger-tree.7)
for w in $files $verbs $dirs $states; do
	grep -qF "\`$w" docs/tree.md || fail "tree-md-has-$w: docs/tree.md does not mention \`$w\` (served by the code)"
	grep -qw -- "$w" <<<"$page" || fail "tree-man-has-$w: banger-tree(7) does not mention $w"
done
ok "tree-code-in-docs-and-man-$(wc -w <<<"$files $verbs $dirs $states")"
# every term of docs/tree.md's tables (their first column) is a term of the page
mdterms=$(grep -E '^\| ' docs/tree.md | grep -vE '^\|[ -]*\|' | awk -F'|' '{ gsub(/^ +| +$/, "", $2); print $2 }' |
	grep -vxE 'errno|file|verb|op|flag|capability' | tr -d '`')
nonempty tree-md-terms "table rows in docs/tree.md" "$mdterms"
same tree-md-terms-in-man "$mdterms" "$(terms banger-tree.7 | grep -xF -f <(echo "$mdterms"))"
errnos=$(grep -oE '\bE[A-Z]{3,}\b' docs/tree.md | sort -u)
nonempty tree-md-errnos "errnos in docs/tree.md" "$errnos"
same tree-errnos-in-man "$errnos" "$(render banger-tree.7 | grep -oE '\bE[A-Z]{3,}\b' | grep -xF -f <(echo "$errnos"))"

# ---- banger.toml(5): core/config.c's keys ---------------------------------
keys=$(grep -oE '^\s*\{ "[a-z_]+", K_[A-Z]+' core/config.c | sed -E 's/.*"([^"]+)".*/\1/')
sync=$(sed -n '/^static int apply_file_sync_entry/,/^}/p' core/config.c | grep -oE 'strcmp\(k, "[a-z_]+"\)' |
	sed -E 's/.*"([^"]+)".*/\1/')
tables=$(sed -n '/^static int apply_root/,/^}/p' core/config.c | grep -oE 'strcmp\(k, "[a-z_]+"\)' |
	sed -E 's/.*"([^"]+)".*/\1/')
nonempty toml-code-keys "key tables ({ \"name\", K_...) in core/config.c" "$keys"
nonempty toml-code-file-sync "[[file_sync]] keys in core/config.c" "$sync"
nonempty toml-code-tables "tables (vm_defaults, file_sync) in core/config.c" "$tables"
same toml-keys-are-config-c "$keys
$sync" "$(terms banger.toml.5 | sed -n 's/^\([a-z_]*\) = .*/\1/p')"
for t in $tables; do
	terms banger.toml.5 | grep -qxE "\[{1,2}$t\]{1,2}" ||
		render banger.toml.5 | grep -qE "^   \[{1,2}$t\]{1,2}$" || fail "toml-table-$t: no [$t] section"
done
ok "toml-tables-$(wc -w <<<"$tables")"

# ---- bangerd(8), bangerd-root(8): the options --------------------------------
opts() { grep -oE '\{ ?"[a-z0-9][a-z0-9-]*", (required|no)_argument' "$1" | sed -E 's/.*"([^"]+)".*/--\1/'; }
d=$(opts fs/main.c)
r=$(opts helper/root_main.c)
nonempty bangerd-code-options "long options in fs/main.c" "$d"
nonempty bangerd-root-code-options "long options in helper/root_main.c" "$r"
manopts() { sed -n '/^OPTIONS$/,/^[A-Z]/p' <(render "$1") | grep -E '^       --' | grep -oE -- '--[a-z0-9][a-z0-9-]*'; }
same bangerd8-options "$d" "$(manopts bangerd.8)"
same bangerd-root8-options "$r" "$(manopts bangerd-root.8)"

# ---- banger-catalog(1): its commands and options --------------------------
usage=$("$BUILD/bin/banger-catalog" --help | sed -n 's/^  //p')
nonempty catalog-usage "usage lines of banger-catalog --help" "$usage"
syn=$(sed -n '/^SYNOPSIS$/,/^DESCRIPTION$/p' <(render banger-catalog.1) | sed 's/^ *//')
miss=
while IFS= read -r u; do grep -qxF -- "$u" <<<"$syn" || miss="$miss [$u]"; done <<<"$usage"
[ -z "$miss" ] && ok "catalog1-synopsis-$(wc -l <<<"$usage")" || fail "catalog1-synopsis: not in the page:$miss"
c=$(opts tools/catalog.c | sort -u)
nonempty catalog-code-options "long options in tools/catalog.c" "$c"
miss=
for o in $c; do render banger-catalog.1 | grep -q -- "$o" || miss="$miss $o"; done
[ -z "$miss" ] && ok "catalog1-options-$(wc -w <<<"$c")" || fail "catalog1-options: not in the page:$miss"
finish
