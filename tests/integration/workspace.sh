#!/bin/bash
# Workspace mode end to end (docs/workspace.md), on a real daemon and real
# QEMU/TCG guests in the test's network namespace:
#
# - banger vm run ./repo -- CMD with the issue's test repository (nested
#   dirs, symlinks, an exec script, spaces and UTF-8 in a name, an ignored
#   file, an untracked .env, a submodule, 5000 small files, 50 MiB): in the
#   guest, git ls-files equals the host's list; type, mode, mtime and sha256
#   of every file, and symlink targets, equal the host's; .env absent;
#   git status clean; CMD's exit status is vm run's; --dry-run's list is the
#   one used and it creates nothing;
# - --include-untracked with --branch, and --from, in two more guests (one
#   boot time: they start together);
# - vm push after edits, deletions, additions and a mode change on the host;
#   vm diff round-trips guest changes with git apply; vm pull;
# - [[file_sync]] from the test's HOME (modes, a nested symlink skipped, an
#   escaping symlink skipped, a missing path a warning);
# - ssh-config --install with the test's own HOME, then plain `ssh NAME.vm`;
# - hostile input: a tracked symlink to /etc/shadow arrives as a symlink;
#   crafted lists with "..", a newline or an absolute path are refused by the
#   tree (EINVAL + err); a repository larger than the disk is refused with
#   both sizes, leaves no work disk and the VM takes a workspace afterwards;
#   a file the calling user cannot read, with a second, unprivileged user
#   running its own daemon (through bangerd-root, as `system install --owner`
#   sets it up): refused by git in the shim, and by the daemon (EACCES)
#   when git's stat cache lets the shim list it.
#
# Boots: w1 (most checks), then w2 and w3 at once.  The guest image is
# debian-bookworm-mini plus git (tests/ws-image.sh, cached).
# shellcheck disable=SC2016 # single-quoted scripts run by the guest's shell
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
WSIMG=$(tests/ws-image.sh) || { echo "FAIL ws-image: tests/ws-image.sh failed"; exit 1; }
ROOTD=${ROOTD:-$BUILD/bin/bangerd-root}
UNAME=banger-wstest
setup
# only the kernel and this image: each import hashes the whole image
rm "$T/imgcache/images/debian-bookworm-mini"
ln -s "$WSIMG" "$T/imgcache/images/"
UD_PID='' ROOTD_PID=''
ws_teardown() {
	[ -z "$UD_PID" ] || { kill -TERM "$UD_PID" 2>/dev/null; wait "$UD_PID" 2>/dev/null; }
	[ -z "$ROOTD_PID" ] || { kill -TERM "$ROOTD_PID" 2>/dev/null; wait "$ROOTD_PID" 2>/dev/null; }
	umount -l "$T/ufs" 2>/dev/null
	[ -z "${UNS:-}" ] || ip netns del "$UNS" 2>/dev/null
	teardown
}
trap ws_teardown EXIT
T_START=$(date +%s)
umask 022
export BANGER_SSH_TIMEOUT=300 LC_ALL=C.UTF-8
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.invalid
export GIT_CONFIG_GLOBAL=$T/gitconfig
git config --global init.defaultBranch main
git config --global protocol.file.allow always
# The shim's temporary directories go here: "nothing left" is checkable.
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"

# ---- the test's HOME and config: file_sync entries ---------------------------
H=$T/home
mkdir -p "$H/.aws/sub" "$H/dotfiles"
printf '[user]\n\tname = wstest\n\temail = wstest@example.invalid\n' >"$H/dotfiles/gitconfig"
ln -s dotfiles/gitconfig "$H/.gitconfig"                # a top-level link inside HOME: followed
printf '[default]\nkey = 1\n' >"$H/.aws/credentials"
echo region >"$H/.aws/sub/config"
ln -s /etc/passwd "$H/.aws/passwd-link"                 # nested: skipped
printf '#!/bin/sh\necho tool\n' >"$H/tool.sh"
ln -s /etc/hostname "$H/escape"                         # resolves outside HOME: skipped
cat >"$T/cfg/config.toml" <<EOF
default_image_name = "debian-bookworm-git"
[vm_defaults]
memory_mib = 1024
disk_size = "2G"
[[file_sync]]
host = "~/.gitconfig"
guest = "~/.gitconfig"
[[file_sync]]
host = "~/.aws"
guest = "~/.aws"
mode = "0640"
[[file_sync]]
host = "~/tool.sh"
guest = "~/bin/tool.sh"
mode = "0755"
[[file_sync]]
host = "~/escape"
guest = "~/escape"
[[file_sync]]
host = "~/missing"
guest = "~/missing"
EOF
HOME=$H DAEMON_START_WAIT=900 daemon_start || { fail daemon-start; finish; exit 1; }

# sb ARGS...: the shim in the namespace, stdin closed; $T/out, $T/err, RC.
sb() {
	in_ns "$SHIM" "$@" </dev/null >"$T/out" 2>"$T/err"
	RC=$?
}
# g VM SCRIPT [ARGS]: a shell script in the guest (stdin: this function's).
g() {
	local vm=$1
	shift
	in_ns "$SHIM" vm ssh "$vm" -- sh -c "$@"
}
same() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi; }
same_file() { # same_file NAME GOT WANT
	if cmp -s "$2" "$3"; then ok "$1"; else fail "$1: $(diff "$3" "$2" | head -8 | tr '\n' '|')"; fi
}
expect_in() { if grep -Eq -- "$3" "$2"; then ok "$1"; else fail "$1: no '$3' in: $(head -c 600 "$2")"; fi; }
# the VMs: directories of vms/ (vms/clone is a file)
vms() { find "$FS/vms" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tr '\n' ' '; }
took() { echo "# $1: $(($(date +%s) - $2)) s"; }

# SNAP (sh, run on the host and in the guest): for the NUL-separated paths
# on stdin, relative to the current directory: type, mode, mtime and path;
# each symlink's target; sha256 of each regular file.
SNAP='set -e
l=$(mktemp)
cat >"$l"
xargs -0 stat -c "%F %a %Y %n" <"$l"
xargs -0 sh -c '"'"'for f; do if [ -L "$f" ]; then printf "%s -> %s\n" "$f" "$(readlink "$f")"; fi; done'"'"' sh <"$l"
xargs -0 sh -c '"'"'for f; do [ -L "$f" ] || printf "%s\0" "$f"; done'"'"' sh <"$l" | xargs -0 sha256sum
rm -f "$l"'
host_snap() { # host_snap DIR LISTFILE OUT
	(cd "$1" && sh -c "$SNAP" <"$2") >"$3"
}
guest_snap() { # guest_snap VM OUT: the guest's git ls-files
	g "$1" 'cd /root/repo && git ls-files -z | sh -c "$1"' sh "$SNAP" </dev/null >"$2"
}

# ---- the test repository -----------------------------------------------------
R="$T/src/my repo"
mkdir -p "$R" "$T/sub"
(cd "$T/sub" && git init -q && echo sub >s.txt && git add s.txt && git commit -qm sub) || exit 1
(
	cd "$R" || exit 1
	git init -q
	mkdir -p src/deep/er "docs" many
	echo 'int main(void) { return 0; }' >src/deep/er/main.c
	printf '#!/bin/sh\necho test ok\n' >run-tests.sh && chmod 0755 run-tests.sh
	echo notes >"docs/a file with spaces é ü.txt"
	ln -s src/deep/er/main.c main-link
	ln -s /etc/shadow shadow-link
	printf 'build/\n*.log\n' >.gitignore
	echo '[tools]' >.mise.toml
	for d in $(seq -w 0 49); do
		mkdir "many/$d"
		for f in $(seq -w 0 99); do echo "file $d/$f" >"many/$d/$f.txt"; done
	done
	head -c $((50 << 20)) /dev/urandom >big.bin
	git add -A
	git submodule -q add ../../sub sub
	git commit -qm one
	git tag v1
	echo 'changed after v1' >>src/deep/er/main.c
	echo 'after v1' >after-v1.txt
	git add after-v1.txt
	git commit -qam two
	echo 'uncommitted' >>"docs/a file with spaces é ü.txt"
	echo 'SECRET=1' >.env
	echo ignored >debug.log
	mkdir build && echo out >build/out.o
) || { fail "test-repository"; finish; exit 1; }
# What the guest must get: git's list less the submodule (NUL-separated).
# (the index's files less those deleted in the work tree; docs/workspace.md)
expected() {
	git -C "$R" ls-files -z --deleted | LC_ALL=C sort -z >"$T/deleted"
	git -C "$R" ls-files -z | grep -zvx sub | LC_ALL=C sort -z | LC_ALL=C comm -z -23 - "$T/deleted"
}
expected >"$T/list.host"
check repo-shape [ "$(tr -cd '\0' <"$T/list.host" | wc -c)" = 5010 ]

# ---- --dry-run: the list, and nothing made -----------------------------------
ls -A "$T/state/vms" >"$T/state-before" 2>/dev/null
sb vm run --dry-run "$R"
same dry-run-exit "$RC" 0
tr '\n' '\0' <"$T/out" >"$T/list.dry"
same_file dry-run-list-is-git-list "$T/list.dry" "$T/list.host"
expect_in dry-run-total "$T/err" '^5010 files, [0-9.]+M \([0-9]+ bytes\) from '
same dry-run-no-vm "$(vms)" ""
same dry-run-no-tmp "$(ls -A "$TMPDIR")" ""
same dry-run-no-state "$(ls -A "$T/state/vms" 2>/dev/null)" "$(cat "$T/state-before")"

# ---- w1: vm run ./repo -- CMD -----------------------------------------------
t=$(date +%s)
sb vm run --name w1 "$R" -- sh -c './run-tests.sh; exit 7'
took "vm run w1 (copy, boot, ssh)" "$t"
same run-exit-status-propagates "$RC" 7
same run-cmd-stdout "$(cat "$T/out")" "test ok"
expect_in run-submodule-warning "$T/err" '^banger: skipped sub: a submodule'
expect_in run-mise-warning-only "$T/err" 'warning: mise is not installed in the guest'
same run-no-tmp-left "$(ls -A "$TMPDIR")" ""
# vm run's command went through the guest agent, which answers before
# ssh does: the checks below use ssh, so wait for it (ready blocks)
if [ "$(timeout 300 cat "$FS/vms/w1/ready" 2>/dev/null)" != ready ]; then
	fail "w1-ssh-ready: $(tail -n 3 "$T/err") $(cat "$FS/vms/w1/err" 2>/dev/null); console: $(tail -c 600 "$T/state/vms/w1/console.log" 2>/dev/null)"
	finish
	exit 1
fi
expect_in daemon-logged-copy "$FS/vms/w1/log" '^banger: workspace: [0-9]+ files, [0-9]+ directories, 2 symlinks, [0-9.]+ MiB of data, 0 skipped'

g w1 'cd /root/repo && git ls-files -z' </dev/null >"$T/list.guest"
same_file guest-git-ls-files "$T/list.guest" "$T/list.host"
same_file guest-git-ls-files-is-dry-run "$T/list.guest" "$T/list.dry"
g w1 'cd /root/repo && find . -path ./.git -prune -o ! -type d -printf "%P\0" | LC_ALL=C sort -z' </dev/null >"$T/find.guest"
same_file guest-no-other-files "$T/find.guest" "$T/list.host"
host_snap "$R" "$T/list.host" "$T/snap.host"
guest_snap w1 "$T/snap.guest"
same_file guest-types-modes-mtimes-sha256-links "$T/snap.guest" "$T/snap.host"
check snap-has-content grep -q '^-*[0-9a-f]\{64\}  big.bin$' "$T/snap.host"
g w1 'cd /root/repo && [ -L shadow-link ] && readlink shadow-link && stat -c %a run-tests.sh big.bin src && stat -c %U:%G big.bin' </dev/null >"$T/out" 2>&1
same guest-shadow-symlink-modes-owner "$(tr '\n' ' ' <"$T/out")" "/etc/shadow 755 644 755 root:root "
g w1 'cd /root/repo && ls -a; [ ! -e .env ] && [ ! -e debug.log ] && [ ! -e build ] && [ ! -e sub ] && echo absent' </dev/null >"$T/out" 2>&1
same guest-env-ignored-submodule-absent "$(tail -n 1 "$T/out")" absent
g w1 'cd /root/repo && git status --porcelain && git symbolic-ref --short HEAD && git rev-list --count HEAD && git fsck --no-progress 2>&1 | head -3' </dev/null >"$T/out" 2>&1
same guest-git-clean-branch-one-commit "$(tr '\n' ' ' <"$T/out")" "main 1 "

# ---- file_sync ------------------------------------------------------------------
g w1 'cd /root && stat -c "%a %U %n" .gitconfig .aws .aws/credentials .aws/sub .aws/sub/config bin bin/tool.sh; cat .gitconfig; ls -A .aws; [ ! -e escape ] && [ ! -e missing ] && echo none' </dev/null >"$T/out" 2>&1
printf '%s\n' '600 root .gitconfig' '750 root .aws' '640 root .aws/credentials' '750 root .aws/sub' \
	'640 root .aws/sub/config' '700 root bin' '755 root bin/tool.sh' '[user]' '	name = wstest' \
	'	email = wstest@example.invalid' \
	'credentials' 'sub' 'none' >"$T/want"
same_file file-sync-modes-and-content "$T/out" "$T/want"
expect_in file-sync-nested-link-warned "$FS/vms/w1/log" 'file_sync.*~/\.aws.*passwd-link.*symlink'
expect_in file-sync-escape-warned "$FS/vms/w1/log" 'file_sync.*~/escape'
expect_in file-sync-missing-warned "$FS/vms/w1/log" 'file_sync.*~/missing'

# ---- ssh-config --install, then plain ssh NAME.vm -----------------------------
# OpenSSH reads ~/.ssh/config from the password database's home (/root),
# not $HOME: in a mount namespace of its own, /root is the test's HOME.
in_ns env HOME="$H" BANGER_CONFIG="$T/cfg/config.toml" "$SHIM" ssh-config --install >"$T/out" 2>&1
expect_in ssh-config-installed "$T/out" "^created $H/.ssh/config"
plain_ssh() {
	in_ns unshare --mount --propagation private -- sh -c 'mount --bind "$1" /root && shift && exec "$@"' \
		sh "$H" env HOME=/root ssh -o BatchMode=yes "$@" </dev/null
}
same plain-ssh-name-vm "$(plain_ssh w1.vm cat /etc/hostname 2>&1)" w1
in_ns env HOME="$H" BANGER_CONFIG="$T/cfg/config.toml" "$SHIM" ssh-config --uninstall >/dev/null 2>&1
plain_ssh -o ConnectTimeout=5 w1.vm true >/dev/null 2>&1 && fail "plain-ssh-after-uninstall: still works" ||
	ok plain-ssh-after-uninstall-fails

# ---- vm push: host edits, deletions, additions, a mode change ------------------
echo 'host edit' >>"$R/src/deep/er/main.c"
rm "$R/many/00/00.txt"
git -C "$R" rm -q many/00/01.txt
echo added >"$R/added file é.txt" && git -C "$R" add "added file é.txt"
chmod +x "$R/docs/a file with spaces é ü.txt"
ln -sfn run-tests.sh "$R/main-link"
head -c 100000 /dev/urandom >"$R/many/49/99.txt"
t=$(date +%s%N)
sb vm push w1 "$R"
echo "# vm push w1: $((($(date +%s%N) - t) / 1000000)) ms"
same push-exit "$RC" 0
expect_in push-summary "$T/out" '^w1: 5 changed, 2 deleted$'
expected >"$T/list.host"
g w1 'cd /root/repo && git ls-files -z' </dev/null >"$T/list.guest"
same_file push-list "$T/list.guest" "$T/list.host"
host_snap "$R" "$T/list.host" "$T/snap.host"
guest_snap w1 "$T/snap.guest"
same_file push-guest-matches "$T/snap.guest" "$T/snap.host"
g w1 'cd /root/repo && git status --porcelain; git rev-list --count HEAD; [ "$(git rev-parse HEAD)" = "$(git rev-parse refs/banger/base)" ] && echo at-base' </dev/null >"$T/out" 2>&1
same push-clean-two-commits-at-base "$(tr '\n' ' ' <"$T/out")" "2 at-base "
# the fast way (the push cache knew the base vm run made): the host made
# the new base commit, and the cache now holds it
g w1 'cd /root/repo && git rev-parse refs/banger/base' </dev/null >"$T/out" 2>&1
check push-cache-holds-new-base test -d "$XDG_CACHE_HOME/banger/push/$(cat "$T/out")/git/objects/pack"
sb vm push w1 "$R"
expect_in push-again-up-to-date "$T/out" 'up to date'

# ---- vm diff: guest changes round-trip with git apply; vm pull -----------------
g w1 'cd /root/repo && echo "made in the guest" >guest-new.txt && echo "guest edit" >>run-tests.sh &&
	rm many/02/05.txt && head -c 3000 /dev/urandom >guest.bin && chmod +x src/deep/er/main.c &&
	git add guest.bin && git commit -qm "a guest commit" && echo after-commit >>after-v1.txt' </dev/null
sb vm diff w1
cp "$T/out" "$T/guest.patch"
same diff-exit "$RC" 0
expect_in diff-binary "$T/guest.patch" '^GIT binary patch$'
cp -a "$R" "$T/clone" # the host's repository as pushed
rm -f "$T/clone/.env"
if git -C "$T/clone" apply "$T/guest.patch" 2>"$T/err"; then ok diff-applies; else fail "diff-applies: $(cat "$T/err")"; fi
g w1 'cd /root/repo && git add -A && git ls-files -z' </dev/null | LC_ALL=C sort -z >"$T/list.guest"
g w1 'cd /root/repo && git reset -q' </dev/null
(cd "$T/clone" && git add -A && git ls-files -z | grep -zvx sub | LC_ALL=C sort -z) >"$T/list.clone"
same_file diff-roundtrip-list "$T/list.clone" "$T/list.guest"
host_snap "$T/clone" "$T/list.guest" "$T/snap.host"
# (the guest's git ls-files is the index: compare on the same list)
g w1 'cd /root/repo && cat >/tmp/l && sh -c "$1" </tmp/l' sh "$SNAP" <"$T/list.guest" >"$T/snap.guest"
sed -E 's/^([a-z ]+ [0-7]+) [0-9]+ /\1 /' "$T/snap.host" >"$T/snap.host.nomtime"
sed -E 's/^([a-z ]+ [0-7]+) [0-9]+ /\1 /' "$T/snap.guest" >"$T/snap.guest.nomtime"
same_file diff-roundtrip-content-modes "$T/snap.host.nomtime" "$T/snap.guest.nomtime"
# vm pull: the same changes into the host work tree with git apply --3way
sb vm pull w1 "$R"
same pull-exit "$RC $(cat "$T/err")" "0 "
same pull-new-file "$(cat "$R/guest-new.txt" 2>/dev/null)" "made in the guest"
check pull-binary cmp -s "$R/guest.bin" "$T/clone/guest.bin"
check pull-deleted test ! -e "$R/many/02/05.txt"
check pull-exec-bit test -x "$R/src/deep/er/main.c"
# the pulled state pushed back becomes the guest's base: nothing to diff
# (the guest's own commit stays on its branch: push leaves it alone)
git -C "$R" add -A -- . ':!.env'
sb vm push w1 "$R"
same pull-then-push-exit "$RC" 0
sb vm diff w1
same pull-then-push-no-diff "$RC $(head -c 300 "$T/out")" "0 "
g w1 'cd /root/repo && git log --format=%s -3 | cut -c1-21 | tr "\n" "|"' </dev/null >"$T/out" 2>&1
same pull-then-push-guest-commit-kept "$(cat "$T/out")" "a guest commit|banger: vm push|banger: the work tree|"

# ---- vm push the slow way: a broken push cache, then none, over ssh ------------
# The guest then lists its base and commits itself (its own commit stays
# on its branch, HEAD is not at the base).
for f in "$XDG_CACHE_HOME"/banger/push/*/git/objects/pack/*.pack; do : >"$f"; done
echo 'slow edit' >>"$R/run-tests.sh"
sb vm push w1 "$R"
same push-broken-cache-exit "$RC $(cat "$T/err")" "0 "
expect_in push-broken-cache-summary "$T/out" '^w1: 1 changed, 0 deleted$'
rm -rf "$XDG_CACHE_HOME/banger/push"
rm "$R/many/03/00.txt"
sb vm push --ssh w1 "$R"
same push-no-cache-ssh-exit "$RC $(cat "$T/err")" "0 "
expect_in push-no-cache-ssh-summary "$T/out" '^w1: 0 changed, 1 deleted$'
g w1 'cd /root/repo && tail -n 1 run-tests.sh; test -e many/03/00.txt || echo gone; git log -1 --format=%s refs/banger/base; git log -1 --format=%s HEAD; git diff --stat refs/banger/base -- run-tests.sh many | wc -l' </dev/null >"$T/out" 2>&1
same push-slow-arrived "$(tr '\n' '|' <"$T/out")" "slow edit|gone|banger: vm push|a guest commit|0|"

# ---- w2 (--include-untracked --branch) and w3 (--from) boot together ----------
expected >"$T/list.tracked"
{ cat "$T/list.tracked"; git -C "$R" ls-files -z --others --exclude-standard; } | LC_ALL=C sort -z -u >"$T/list.untracked"
git -C "$R" ls-tree -r -z --name-only v1 | grep -zvx sub | LC_ALL=C sort -z >"$T/list.v1"
CHECK='git status --porcelain; git symbolic-ref --short HEAD; git config banger.untracked; git ls-files -z >/tmp/l; sha256sum </tmp/l; cat src/deep/er/main.c; ls -a | tr "\n" " "'
t=$(date +%s)
in_ns "$SHIM" vm run --rm --name w2 --include-untracked --branch fix-42 "$R" -- sh -c "$CHECK" </dev/null >"$T/w2.out" 2>"$T/w2.err" &
p2=$!
in_ns "$SHIM" vm run --rm --name w3 --from v1 "$R" -- sh -c "$CHECK" </dev/null >"$T/w3.out" 2>"$T/w3.err" &
p3=$!
wait "$p2"; r2=$?
wait "$p3"; r3=$?
took "vm run w2 and w3 at once" "$t"
same w2-exit "$r2" 0
same w3-exit "$r3" 0
printf '%s\n' fix-42 true "$(sha256sum <"$T/list.untracked")" 'int main(void) { return 0; }' 'changed after v1' 'host edit' >"$T/want"
sed -n '1,6p' "$T/w2.out" >"$T/got"
same_file untracked-branch-clean-list "$T/got" "$T/want"
check untracked-env-present grep -q ' \.env ' "$T/w2.out"
check untracked-ignored-absent bash -c '! grep -Eq " (debug\.log|build) " "$1"' _ "$T/w2.out"
printf '%s\n' workspace false "$(sha256sum <"$T/list.v1")" 'int main(void) { return 0; }' >"$T/want"
sed -n '1,4p' "$T/w3.out" >"$T/got"
same_file from-v1-clean-list-content "$T/got" "$T/want"
check from-v1-no-later-file bash -c '! grep -q " after-v1.txt " "$1"' _ "$T/w3.out"
same rm-vms-gone "$(vms)" "w1 "

# ---- hostile: crafted lists, refused by the tree -------------------------------
mkdir "$FS/vms/h1"
d=$(mktemp -d "$T/wsd.XXXXXX")
ln -s "$R" "$d/repo"
bad_list() { # bad_list NAME PATTERN: the list in $d/list is refused with EINVAL, nothing written
	local out
	out=$(try_write "$FS/vms/h1/ctl" "workspace $d")
	if [ "$out" = ok ]; then
		fail "$1: accepted"
	elif ! grep -q 'Invalid argument' <<<"$out"; then
		fail "$1: $out"
	elif ! grep -Eq -- "$2" "$FS/vms/h1/err"; then
		fail "$1: err is '$(cat "$FS/vms/h1/err")'"
	elif [ -e "$T/state/vms/h1/work.ext4" ] || [ -e "$T/state/vms/h1/work.ext4.tmp" ]; then
		fail "$1: a work disk was left"
	else
		ok "$1"
	fi
}
printf 'run-tests.sh\0../../../etc/passwd\0' >"$d/list"
bad_list list-dotdot-refused 'entry 2 .*has a "\." or "\.\." component'
printf 'run-tests.sh\0src/../../x\0' >"$d/list"
bad_list list-inner-dotdot-refused 'entry 2 .*"\." or "\.\." component'
printf 'a\nb\0' >"$d/list"
bad_list list-newline-refused 'entry 1 .*control character'
printf '/etc/shadow\0' >"$d/list"
bad_list list-absolute-refused 'entry 1 .*absolute path'
printf 'src/.git/config\0' >"$d/list"
bad_list list-dotgit-refused '\.git'
same hostile-vm-still-created "$(cat "$FS/vms/h1/state")" created

# ---- a repository larger than the disk -------------------------------------------
sb vm run --name big --disk 64M "$R" -- true
same too-big-fails "$RC" 1
expect_in too-big-both-sizes "$T/err" 'the repository needs [0-9.]+ MiB and [0-9]+ inodes .* but the work disk has [0-9.]+ MiB free and [0-9]+ inodes free: give the VM a larger disk_size \(big was removed again\)'
same too-big-vm-removed "$(vms)" "h1 w1 "
check too-big-no-disk-dir test ! -e "$T/state/vms/big"
# Through the tree: the VM stays, without a work disk, and takes a
# workspace afterwards.
echo 64M >"$FS/vms/h1/disk_size"
expected >"$d/list"
out=$(try_write "$FS/vms/h1/ctl" "workspace $d")
case $out in *'No space left on device'*) ok too-big-enospc ;; *) fail "too-big-enospc: $out" ;; esac
expect_in too-big-err-sizes "$FS/vms/h1/err" 'needs [0-9.]+ MiB .* has [0-9.]+ MiB free'
same too-big-no-work-disk "$(find "$T/state/vms/h1" -name 'work*')" ""
same too-big-still-created "$(cat "$FS/vms/h1/state")" created
printf 'run-tests.sh\0src/deep/er/main.c\0' >"$d/list"
same too-big-then-small-ok "$(try_write "$FS/vms/h1/ctl" "workspace $d")" ok
debugfs -R 'ls -l /repo' "$T/state/vms/h1/work.ext4" 2>/dev/null >"$T/out"
expect_in too-big-then-written "$T/out" 'run-tests.sh'
rmdir "$FS/vms/h1" && ok hostile-vm-deleted || fail "hostile-vm-deleted: $(cat "$FS/err")"

# ---- a file the calling user cannot read: a second user with its own daemon ---
# As `banger system install --owner U` sets it up: bangerd-root (root) mounts
# the tree for U, bangerd runs as U, and U's shim talks to U's tree (FUSE
# without allow_other: nobody else may).  U's repository has a tracked file
# that root made unreadable to U.
id "$UNAME" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$UNAME"
uid=$(id -u "$UNAME") gid=$(id -g "$UNAME")
as_user() { setpriv --reuid="$uid" --regid="$gid" --clear-groups -- env HOME="$T/uhome" XDG_CACHE_HOME="$T/uhome/.cache" GIT_CONFIG_GLOBAL="$T/uhome/.gitconfig" TMPDIR="$T/utmp" "$@"; }
chmod 0755 "$T"
install -d -o "$uid" -g "$gid" -m 0700 "$T/ustate" "$T/ucache" "$T/uhome" "$T/urt" "$T/utmp"
install -d -o "$uid" -g "$gid" -m 0755 "$T/ufs" "$T/ucfg" "$T/urepo"
install -d -o root -g root -m 0755 "$T/uroot"
printf 'default_image_name = "debian-bookworm-git"\n' >"$T/ucfg/config.toml"
chown "$uid:$gid" "$T/ucfg/config.toml"
mkdir -p "$T/uimg/kernels" "$T/uimg/images"
ln -s "$IMAGE_CACHE/kernels/debian-cloud-amd64" "$T/uimg/kernels/"
ln -s "$WSIMG" "$T/uimg/images/"
chmod -R a+rX "$T/uimg"
# its own network namespace: the two daemons' bridges and responders stay apart
UNS=$NS-u
ip netns add "$UNS"
# (nsenter itself, not a function run with &: $! must be the process's own pid)
nsenter --net="/run/netns/$UNS" -- setpriv --inh-caps=-all --bounding-set=-all,+net_admin,+chown,+dac_read_search,+sys_admin -- \
	"$ROOTD" --socket "$T/uroot/root.sock" --owner "$UNAME" --state-dir "$T/ustate" \
	--runtime-dir "$T/urt" --cache-dir "$T/ucache" --mount "$T/ufs" >"$T/rootd.log" 2>&1 &
ROOTD_PID=$!
for _ in $(seq 1 50); do [ -S "$T/uroot/root.sock" ] && break; sleep 0.1; done
nsenter --net="/run/netns/$UNS" -- setpriv --reuid="$uid" --regid="$gid" --clear-groups -- env HOME="$T/uhome" "$BANGERD" --foreground \
	--mount "$T/ufs" --state-dir "$T/ustate" --runtime-dir "$T/urt" --cache-dir "$T/ucache" \
	--image-cache "$T/uimg" --config "$T/ucfg/config.toml" --root-socket "$T/uroot/root.sock" \
	>"$T/udaemon.log" 2>&1 &
UD_PID=$!
for _ in $(seq 1 900); do as_user test -f "$T/ufs/README" && break; sleep 0.1; done
if as_user test -f "$T/ufs/README"; then ok user-daemon-up; else fail "user-daemon-up: $(tail -5 "$T/udaemon.log") $(tail -5 "$T/rootd.log")"; fi
test -r "$T/ufs/README" 2>/dev/null && fail "tree-only-for-its-owner: root reads U's tree" || ok tree-only-for-its-owner
UR=$T/urepo
# (mtimes an hour back: git trusts its stat cache only for entries older
# than the index, not "racily clean" ones)
as_user sh -c "cd '$UR' && git init -q && echo mine >mine.txt && echo secret >secret.txt &&
	touch -d '1 hour ago' mine.txt secret.txt && git add -A && git commit -qm one" ||
	fail "user-repo"
chown root:root "$UR/secret.txt" && chmod 0600 "$UR/secret.txt"
usb() { as_user env BANGER_FS="$T/ufs" "$SHIM" "$@" </dev/null >"$T/out" 2>"$T/err"; RC=$?; }
# git itself cannot read it: the shim stops before any VM is made
usb vm run --name u1 "$UR" -- true
same unreadable-git-fails "$RC" 1
expect_in unreadable-git-says-file "$T/err" 'secret\.txt.*Permission denied'
same unreadable-git-no-vm "$(as_user find "$T/ufs/vms" -mindepth 1 -maxdepth 1 -type d)" ""
# with git trusting its stat cache (mtime and size only), the shim lists
# the file and the daemon refuses it as the caller
as_user git config --global core.trustctime false
as_user git config --global core.checkStat minimal
usb vm run --name u1 "$UR" -- true
same unreadable-daemon-fails "$RC" 1
expect_in unreadable-daemon-says-why "$T/err" "secret\.txt may not be read by uid $uid .*\(u1 was removed again\)"
same unreadable-daemon-no-vm "$(as_user find "$T/ufs/vms" -mindepth 1 -maxdepth 1 -type d)" ""
same unreadable-no-state-left "$(ls "$T/ustate/vms" 2>/dev/null)" ""
# a list made by hand: the tree says EACCES and err names the file
as_user mkdir "$T/ufs/vms/u2"
as_user sh -c "d=\$(mktemp -d) && ln -s '$UR' \$d/repo && git -C '$UR' ls-files -z >\$d/list && echo \$d" >"$T/ud"
out=$(as_user bash -c "echo 'workspace $(cat "$T/ud")' >'$T/ufs/vms/u2/ctl'" 2>&1)
case $out in *'Permission denied'*) ok unreadable-tree-eacces ;; *) fail "unreadable-tree-eacces: $out" ;; esac
as_user cat "$T/ufs/vms/u2/err" >"$T/out"
expect_in unreadable-tree-err "$T/out" "secret\.txt may not be read by uid $uid"
same unreadable-tree-no-disk "$(find "$T/ustate/vms" -name 'work*')" ""
as_user rmdir "$T/ufs/vms/u2"
kill -TERM "$UD_PID" 2>/dev/null; wait "$UD_PID" 2>/dev/null; UD_PID=
kill -TERM "$ROOTD_PID" 2>/dev/null; wait "$ROOTD_PID" 2>/dev/null; ROOTD_PID=

# ---- clean up -------------------------------------------------------------------
sb vm delete --force w1
same w1-deleted "$(vms)" ""
echo "# total $(($(date +%s) - T_START)) s"
finish
