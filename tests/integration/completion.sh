#!/bin/bash
# Shell completion (shims/completions/*, answered by `banger __complete` from
# the shim's own command table) against a fake tree of plain directories, no
# daemon.  bash: the completion function driven with COMP_WORDS/COMP_CWORD,
# over every command and option of the table (so commands added later are
# covered without a new line here); zsh: its real completion system in a pty
# (tests/completion/zsh-complete.zsh); fish: `complete -C`.  The shim runs
# under dash, Debian's /bin/sh.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
T=$(mktemp -d /tmp/banger-comp.XXXXXX)
trap 'rm -rf "$T"' EXIT
SHIM=$PWD/shims/banger
SH='sh'
command -v dash >/dev/null && SH=dash
mkdir -p "$T/bin"
printf '#!/bin/sh\nexec %s %s "$@"\n' "$SH" "$SHIM" >"$T/bin/banger"
chmod +x "$T/bin/banger"
export PATH=$T/bin:$PATH BANGER_FS=$T/fs
mkdir -p "$T/fs/vms/alpha" "$T/fs/vms/beta" "$T/fs/images/debian-bookworm" \
	"$T/fs/images/img-two" "$T/fs/kernels/debian-cloud-amd64"
: >"$T/fs/ctl"
banger completion bash >"$T/c.bash" && banger completion zsh >"$T/_banger" &&
	banger completion fish >"$T/c.fish" && ok completion-scripts || fail completion-scripts

command -v shellcheck >/dev/null && check shellcheck-bash-completion shellcheck -s bash shims/completions/banger.bash

# bc WORD...: what the bash completion offers for the last WORD
bc() {
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _banger; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$T/c.bash" banger "$@"
}
# expect_bc NAME "WANT (space separated)" WORD...
expect_bc() {
	local name=$1 want=$2 got
	shift 2
	got=$(bc "$@" | tr '\n' ' ' | sed 's/ $//')
	[ "$got" = "$want" ] && ok "bash-$name" || fail "bash-$name: got '$got', want '$want'"
}
# has_bc NAME WORD-WANTED WORD...: the offer includes WORD-WANTED
has_bc() {
	local name=$1 w=$2
	shift 2
	bc "$@" | grep -qxF -- "$w" && ok "bash-$name" || fail "bash-$name: '$w' not offered for '$*'"
}

# ---- every command and option of the table --------------------------------
table=$(sed -n "/^COMMANDS='/,/'\$/p" "$SHIM" | sed "s/^COMMANDS='//; s/'\$//")
n=0
while IFS='|' read -r key args _; do
	first=${key%% *}
	has_bc "top-$first" "$first" "${first:0:1}"
	if [ "$key" != "$first" ]; then
		sub=${key#* }
		has_bc "sub-${key// /-}" "$sub" "$first" "${sub:0:1}"
		words=("$first" "$sub")
	else
		words=("$first")
	fi
	for o in $(grep -oE -- '(^|[ [])--?[a-z][a-z-]*' <<<"$args" | tr -d ' ['); do
		has_bc "opt-${key// /-}$o" "$o" "${words[@]}" -
	done
	has_bc "help-${key// /-}" --help "${words[@]}" -
	n=$((n + 1))
done <<<"$table"
[ "$n" -ge 20 ] && ok "table-read-$n-commands" || fail "table-read: only $n commands"
# The top level is every command group of the table, in its order.
groups=$(cut -d'|' -f1 <<<"$table" | cut -d' ' -f1 | awk '!seen[$0]++' | tr '\n' ' ')
expect_bc top-level "${groups}help --help --version" ""
expect_bc system-subcommands "install status restart uninstall --help" system ""
expect_bc system-install-options "--owner --bridge --subnet --prefix --jailer --firecracker --help --allow-other --no-allow-other" system install --

# ---- live names from the tree and the other sources -----------------------
expect_bc vm-names "alpha beta --help" vm start ""
expect_bc vm-name-prefix "alpha" vm stop a
expect_bc vm-logs-after-flag "alpha beta --help -f" vm logs -f ""
expect_bc vm-delete "alpha beta --help --force" vm delete ""
expect_bc image-names "debian-bookworm img-two" vm create --image ""
expect_bc image-names-run "img-two" vm run --image i
expect_bc kernel-names "debian-cloud-amd64" vm run --kernel ""
expect_bc new-name-options-only "--image --kernel --vcpu --memory --disk --help" vm create ""
expect_bc value-skipped "--image --kernel --vcpu --memory --disk --help" vm create --image debian-bookworm -
expect_bc after-dashdash "" vm run --rm -- ""
expect_bc ssh-second-arg "--help" vm ssh alpha ""
expect_bc image-recipes "debian-bookworm debian-bookworm-mini --help" image build ""
expect_bc image-list-no-args "--help" image list ""
expect_bc shells "bash zsh fish --help" completion ""
expect_bc unknown-command "" frobnicate ""
expect_bc unknown-subcommand "" vm frobnicate ""
mkdir "$T/fs/vms/gamma"
expect_bc live-new-vm "alpha beta gamma --help" vm kill ""
rmdir "$T/fs/vms/gamma"
mkdir -p "$T/dirs/usr-a" "$T/dirs/usr-b"
: >"$T/dirs/usr-file"
got=$(bc system install --prefix "$T/dirs/usr-" | sort | tr '\n' ' ')
[ "$got" = "$T/dirs/usr-a $T/dirs/usr-b " ] && ok bash-prefix-dirs || fail "bash-prefix-dirs: $got"
got=$(bc system install --jailer "$T/dirs/usr-" | sort | tr '\n' ' ')
[ "$got" = "$T/dirs/usr-a $T/dirs/usr-b $T/dirs/usr-file " ] && ok bash-jailer-files || fail "bash-jailer-files: $got"
got=$(BANGER_FS=$T/nowhere bc vm start "" 2>&1 | tr '\n' ' ')
[ "$got" = "--help " ] && ok bash-no-tree || fail "bash-no-tree: '$got'"
out=$(banger __complete vm st)
[ "$out" = "$(printf 'start\tboot a VM; returns once it is running\nstop\tshut a VM down; returns once it is stopped')" ] &&
	ok complete-descriptions || fail "complete-descriptions: $out"

# ---- zsh: its own completion system --------------------------------------
if command -v zsh >/dev/null; then
	check zsh-syntax zsh -n "$T/_banger"
	zc() { timeout 30 zsh tests/completion/zsh-complete.zsh "$T/_banger" "$1" | tr '\n' ' ' | sed 's/ $//'; }
	expect_zc() {
		local got
		got=$(zc "$2")
		[ "$got" = "$3" ] && ok "zsh-$1" || fail "zsh-$1: got '$got', want '$3'"
	}
	expect_zc top "banger " "$(printf '%s help --help --version' "$groups" | tr ' ' '\n' | sed '/^$/d' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
	expect_zc sub "banger vm st" "start stop"
	expect_zc system "banger system " "--help install restart status uninstall"
	expect_zc vm-names "banger vm start " "--help alpha beta"
	expect_zc image-names "banger vm create --image d" "debian-bookworm"
	expect_zc shells "banger completion z" "zsh"
else
	fail "zsh: not installed (tests/deps.sh installs it)"
fi

# ---- fish: complete -C ---------------------------------------------------
if command -v fish >/dev/null; then
	check fish-syntax fish -n "$T/c.fish"
	fc() { fish -c "source $T/c.fish; complete -C '$1'" | cut -f1 | tr '\n' ' ' | sed 's/ $//'; }
	expect_fc() {
		local got
		got=$(fc "$2")
		[ "$got" = "$3" ] && ok "fish-$1" || fail "fish-$1: got '$got', want '$3'"
	}
	expect_fc sub "banger vm st" "start stop"
	expect_fc system "banger system " "install restart status uninstall --help"
	expect_fc vm-names "banger vm start " "alpha beta --help"
	expect_fc kernel-names "banger vm run --kernel " "debian-cloud-amd64"
	fish -c "source $T/c.fish; complete -C 'banger vm st'" | grep -qx "$(printf 'start\tboot a VM; returns once it is running')" &&
		ok fish-descriptions || fail fish-descriptions
else
	fail "fish: not installed (tests/deps.sh installs it)"
fi
finish
