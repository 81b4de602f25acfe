#!/bin/bash
# The shim's side of workspace mode and ssh-config, without a daemon or a
# guest (docs/workspace.md):
#
# - ssh-config --install/--uninstall on files of the test's own HOME, and
#   OpenSSH (ssh -G) reading the result;
# - vm run DIR against a fake tree whose vms/NAME/ctl is a FIFO read by a
#   stand-in that records each write and copies the workspace directory it
#   names; that copy is then written into a fresh work disk by the real
#   writer (workspace_cli: core/workspace.c) and read back (debugfs rdump)
#   and checked against the host: the issue's test repository (nested
#   dirs, a symlink, an exec script, spaces and UTF-8 in a name, an ignored
#   file, an untracked .env, a submodule, 5000 small files, 50 MiB);
# - vm push / vm diff with an ssh stand-in that runs the guest's commands in
#   that read-back tree (the same git and tar, /root/repo mapped to it).
# Booting a guest comes with the daemon side (tests/integration/*.sh).
#
# No network, no addresses: nothing here needs a namespace.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHIM=${SHIM:-$ROOT/shims/banger}
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WSCLI=$BUILD/tests/workspace_cli
SH='sh'
command -v dash >/dev/null 2>&1 && SH=dash
PASS=0 FAIL=0
TMP=$(mktemp -d /tmp/banger-shimws.XXXXXX)
READERS=$TMP/readers
: >"$READERS"
cleanup() {
	local p
	while read -r p; do kill "$p" 2>/dev/null; done <"$READERS"
	rm -rf "$TMP"
}
trap cleanup EXIT
[ -z "${KEEP:-}" ] || trap 'while read -r p; do kill "$p" 2>/dev/null; done <"$READERS"; echo "# kept $TMP"' EXIT

ok() { echo "ok $1"; PASS=$((PASS + 1)); }
fail() { echo "FAIL $1: $2"; FAIL=$((FAIL + 1)); }
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else fail "$name" "$* (stderr: $(head -c 600 "$TMP/err" 2>/dev/null))"; fi
}
run() { # run ARGS...: the shim; sets RC, OUT (stdout file $TMP/out), ERR
	"$SH" "$SHIM" "$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	ERR=$(cat "$TMP/err")
}

[ -x "$WSCLI" ] || { echo "FAIL setup: $WSCLI missing (make unit)"; exit 1; }

# ---- ssh-config -------------------------------------------------------------
H=$TMP/home
mkdir -p "$H"
export HOME=$H
# The shim's workspace directories go here, so the leftover check below sees
# only this test's (other tests may run beside it).
mkdir -p "$TMP/tmpdir"
export TMPDIR=$TMP/tmpdir
unset XDG_CONFIG_HOME BANGER_CONFIG

run ssh-config
check sshc-print [ "$RC" = 0 ] && [ "$(cat "$TMP/out")" = "Include ~/.config/banger/ssh_config" ]

# absent: created 0600 (and ~/.ssh 0700) holding just the block
run ssh-config --install
check sshc-create [ "$RC" = 0 ] && [ "$(stat -c %a "$H/.ssh/config")" = 600 ] && [ "$(stat -c %a "$H/.ssh")" = 700 ]
check sshc-create-content [ "$(cat "$H/.ssh/config")" = "$(printf '# >>> banger >>>\nInclude ~/.config/banger/ssh_config\n# <<< banger <<<')" ]

# an existing config with Host * first and no final newline
printf '# my config\nHost *\n  ServerAliveInterval 30\n  IdentityFile ~/.ssh/id_rsa\n\nHost work\n  User me\n  Port 2222' >"$H/.ssh/config"
chmod 0640 "$H/.ssh/config"
cp "$H/.ssh/config" "$TMP/orig"
run ssh-config --install
cp "$H/.ssh/config" "$TMP/once"
run ssh-config --install
check sshc-install-twice-is-once cmp -s "$TMP/once" "$H/.ssh/config"
check sshc-one-block [ "$(grep -c '^# >>> banger >>>$' "$H/.ssh/config")" = 1 ]
check sshc-before-host [ "$(grep -n -m1 -E '^(Include|Host|Match)' "$H/.ssh/config" | cut -d: -f2-)" = "Include ~/.config/banger/ssh_config" ]
check sshc-keeps-mode [ "$(stat -c %a "$H/.ssh/config")" = 640 ]
check sshc-other-bytes-kept cmp -s <(sed '1,3d' "$H/.ssh/config") "$TMP/orig"
run ssh-config --uninstall
check sshc-uninstall-byte-for-byte cmp -s "$TMP/orig" "$H/.ssh/config"
run ssh-config --uninstall
check sshc-uninstall-nothing [ "$RC" = 0 ] && grep -q 'no banger block' "$TMP/out" && cmp -s "$TMP/orig" "$H/.ssh/config"
run ssh-config --install --uninstall
check sshc-both-flags [ "$RC" = 2 ]

# a symlinked config is edited at its target; the link stays a link
mkdir -p "$H/dotfiles"
mv "$H/.ssh/config" "$H/dotfiles/ssh_config"
ln -s ../dotfiles/ssh_config "$H/.ssh/config"
run ssh-config --install
check sshc-symlink-kept [ -L "$H/.ssh/config" ] && [ "$(readlink "$H/.ssh/config")" = ../dotfiles/ssh_config ]
check sshc-symlink-target-edited grep -qx 'Include ~/.config/banger/ssh_config' "$H/dotfiles/ssh_config"
run ssh-config --uninstall
check sshc-symlink-restored cmp -s "$TMP/orig" "$H/dotfiles/ssh_config"

# OpenSSH sees banger's entries even with "Host *" first.  OpenSSH expands
# ~ from the password database, not $HOME: point the include outside HOME.
if command -v ssh >/dev/null 2>&1; then
	mkdir -p "$TMP/etc/banger"
	printf 'Host otter.vm\n  HostName 192.0.2.7\n  User root\n  Port 2200\n' >"$TMP/etc/banger/ssh_config"
	BANGER_CONFIG=$TMP/etc/banger/config.toml run ssh-config --install
	check sshc-abs-include grep -qx "Include $TMP/etc/banger/ssh_config" "$H/dotfiles/ssh_config"
	g=$(ssh -F "$H/.ssh/config" -G otter.vm 2>&1)
	check sshc-ssh-applies bash -c 'grep -qx "hostname 192.0.2.7" <<<"$1" && grep -qx "port 2200" <<<"$1" && grep -qx "serveraliveinterval 30" <<<"$1"' _ "$g"
	BANGER_CONFIG=$TMP/etc/banger/config.toml run ssh-config --uninstall
	check sshc-abs-restored cmp -s "$TMP/orig" "$H/dotfiles/ssh_config"
fi

# ---- the test repository ----------------------------------------------------
R="$TMP/src/my repo"
mkdir -p "$R" "$TMP/sub"
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.invalid
git config --global init.defaultBranch main 2>/dev/null
git config --global protocol.file.allow always
(cd "$TMP/sub" && git init -q && echo sub >s.txt && git add s.txt && git commit -qm sub)
(
	cd "$R" || exit 1
	git init -q
	mkdir -p src/deep/er docs many
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
	git submodule -q add ../../sub sub 2>/dev/null
	git commit -qm one
	git tag v1
	echo 'changed after v1' >>src/deep/er/main.c
	git commit -qam two
	echo 'uncommitted' >>docs/"a file with spaces é ü.txt"
	echo 'SECRET=1' >.env
	echo ignored >debug.log
	mkdir build && echo out >build/out.o
) || { echo "FAIL setup: cannot build the test repository"; exit 1; }

# The files the guest must get: git's list less the submodule.
expected() { git -C "$R" -c core.quotepath=false ls-files | grep -vx sub; }

# ---- the fake tree: ctl is a FIFO read by a stand-in daemon ----------------
F=$TMP/fs
export BANGER_FS=$F
mkdir -p "$F/vms" "$F/images/debian-bookworm" "$F/kernels/k"
printf 'import DIR\n' >"$F/ctl"
printf '%s\n' 'vcpu 2 host' 'memory_mib 1024 host' 'disk_size 8G default' 'image debian-bookworm builtin' >"$F/defaults"
: >"$F/err"
mkdir "$TMP/bin"
cat >"$TMP/bin/mkdir" <<'STUB'
#!/bin/sh
/bin/mkdir "$@" || exit 1
for d; do :; done
case $d in "$BANGER_FS"/vms/*) ;; *) exit 0 ;; esac
printf '%s\n' "state running" "ip 192.0.2.9" "ssh ready" >"$d/status"
echo running >"$d/state"
printf "ssh -F '%s' %s.vm\n" "$FAKE_CFG" "${d##*/}" >"$d/ssh"
: >"$d/err"
mkfifo "$d/ctl"
(
	while [ -p "$d/ctl" ]; do
		while IFS= read -r l; do printf '%s\n' "$l" >>"$d/ctl.log"; done <"$d/ctl"
	done
) </dev/null >/dev/null 2>&1 &
echo $! >>"$READERS"
STUB
cat >"$TMP/bin/ssh" <<'STUB'
#!/bin/sh
# Records its arguments; with FAKE_GUEST, runs the remote command in that
# directory standing for the guest's / (only /root/repo is mapped).
printf '%s\0' "$@" >>"$FAKE_SSH_LOG"
for a; do
	last=$a
	case $a in *.vm) vm=${a%.vm} ;; esac
done
# A FIFO write returns before its reader is done with it: the copy of the
# workspace directory (which the daemon makes before its ctl write returns)
# is taken here, before the shim can remove it.
v=$BANGER_FS/vms/${vm:-none}
if [ -p "$v/ctl" ] && [ ! -e "$v/ws-copy" ]; then
	for _ in $(seq 50); do grep -q '^start$' "$v/ctl.log" 2>/dev/null && break; sleep 0.1; done
	ws=$(sed -n 's/^workspace //p' "$v/ctl.log" | head -n 1)
	[ -z "$ws" ] || cp -a "$ws" "$v/ws-copy"
fi
[ -n "${FAKE_GUEST:-}" ] || exit 0
cmd=$(printf '%s' "$last" | sed "s|/root/repo|$FAKE_GUEST/root/repo|g")
exec sh -c "$cmd"
STUB
chmod +x "$TMP/bin/"*
export FAKE_CFG=$TMP/cfg/ssh_config FAKE_SSH_LOG=$TMP/ssh.log READERS
srun() { PATH=$TMP/bin:$PATH run "$@"; }
ssh_last() {
	local -a a
	mapfile -d '' a <"$FAKE_SSH_LOG"
	printf '%s' "${a[-1]}"
}

# ---- --dry-run --------------------------------------------------------------
srun vm run --dry-run "$R"
check dry-run-exit [ "$RC" = 0 ]
check dry-run-list-is-git-list cmp -s <(LC_ALL=C sort "$TMP/out") <(expected | LC_ALL=C sort)
check dry-run-no-env bash -c '! grep -qx .env "$1" && ! grep -qx debug.log "$1"' _ "$TMP/out"
check dry-run-size grep -q '^5009 files, 50.1M' "$TMP/err"
check dry-run-submodule-warning grep -q 'skipped sub: a submodule' "$TMP/err"
check dry-run-creates-no-vm [ -z "$(ls "$F/vms")" ]
check dry-run-no-tmp-left bash -c '! ls -d "$TMPDIR"/banger-ws.* 2>/dev/null | grep -q .'
srun vm run --dry-run --include-untracked "$R"
check dry-run-untracked bash -c 'grep -qx .env "$1" && ! grep -qx debug.log "$1" && ! grep -q "^build/" "$1"' _ "$TMP/out"
srun vm run --dry-run --from v1 "$R"
check dry-run-from cmp -s <(LC_ALL=C sort "$TMP/out") <(git -C "$R" -c core.quotepath=false ls-tree -r --name-only v1 | grep -vx sub | LC_ALL=C sort)
srun vm run --include-untracked -- true
check flags-need-dir [ "$RC" = 2 ]
srun vm run --dry-run "$TMP/nowhere"
check dir-missing bash -c '[ "$1" = 2 ] && grep -q "is not a directory" <<<"$2"' _ "$RC" "$ERR"
mkdir -p "$TMP/plain"
srun vm run --dry-run "$TMP/plain"
check not-git bash -c '[ "$1" = 1 ] && grep -q "not in a git work tree" <<<"$2"' _ "$RC" "$ERR"

# ---- vm run DIR: what the daemon is handed -----------------------------------
: >"$FAKE_SSH_LOG"
objects_before=$(git -C "$R" count-objects) head_before=$(git -C "$R" rev-parse HEAD)
srun vm run --name ws1 "$R" -- ./run-tests.sh
V=$F/vms/ws1
check run-exit [ "$RC" = 0 ]
check run-ctl-order bash -c 'sed "s, .*,," "$1" | tr "\n" " " | grep -qx "workspace start "' _ "$V/ctl.log"
check run-ctl-workspace-word grep -qE '^workspace /[A-Za-z0-9_./-]+$' "$V/ctl.log"
check run-ws-copied [ -f "$V/ws-copy/list" ] && [ -L "$V/ws-copy/repo" ] && [ -f "$V/ws-copy/git.list" ]
check run-ws-removed bash -c '! [ -e "$(sed -n "s/^workspace //p" "$1")" ]' _ "$V/ctl.log"
check run-cmd-in-repo [ "$(ssh_last)" = "cd /root/repo && './run-tests.sh'" ]
check run-mise-attempted bash -c 'tr "\0" "\n" <"$1" | grep -q "mise install"' _ "$FAKE_SSH_LOG"

# The real writer on what the daemon got, then read back.
IMG=$TMP/work.img
"$WSCLI" create "$IMG" 1G
"$WSCLI" write "$IMG" "$V/ws-copy" >"$TMP/ws.out" 2>"$TMP/ws.err"
wrc=$?
nfiles=$(($(expected | wc -l) - 2 + $(tr -cd '\0' <"$V/ws-copy/git.list" | wc -c)))
check write-ok bash -c '[ "$1" = 0 ] && grep -q "^files $2 dirs [0-9]* symlinks 2 " "$3"' _ "$wrc" "$nfiles" "$TMP/ws.out"
check write-fsck e2fsck -fn "$IMG" >/dev/null 2>&1
G=$TMP/guest
mkdir -p "$G/root"
debugfs -R "rdump /repo $G/root" "$IMG" >/dev/null 2>&1
GR=$G/root/repo
check guest-files-equal cmp -s <(cd "$GR" && find . -path ./.git -prune -o \( -type f -o -type l \) -printf '%P\n' | LC_ALL=C sort) <(expected | LC_ALL=C sort)
bad=0
while IFS= read -r f; do
	if [ -L "$R/$f" ]; then
		[ -L "$GR/$f" ] && [ "$(readlink "$GR/$f")" = "$(readlink "$R/$f")" ] || { bad=1; echo "# symlink $f"; }
		continue
	fi
	[ "$(sha256sum <"$R/$f")" = "$(sha256sum <"$GR/$f")" ] || { bad=1; echo "# content $f"; }
done < <(expected | grep -v '^many/')
check guest-sha256-and-symlinks [ "$bad" = 0 ]
check guest-many-sha256 [ "$(cd "$R" && cat many/*/* | sha256sum)" = "$(cd "$GR" && cat many/*/* | sha256sum)" ]
mode_of() { debugfs -R "stat /repo/$1" "$IMG" 2>/dev/null | sed -n 's/.*Mode: *\([0-7]*\).*/\1/p'; }
check guest-exec-mode [ "$(mode_of run-tests.sh)" = 0755 ]
check guest-plain-mode [ "$(mode_of big.bin)" = 0644 ]
check guest-shadow-is-symlink bash -c 'debugfs -R "stat /repo/shadow-link" "$1" 2>/dev/null | grep -q "Type: symlink" && [ "$(readlink "$2/shadow-link")" = /etc/shadow ]' _ "$IMG" "$GR"
check guest-no-env-no-ignored bash -c '[ -d "$1/many" ] && ! [ -e "$1/.env" ] && ! [ -e "$1/debug.log" ] && ! [ -e "$1/build" ]' _ "$GR"
check guest-mtime [ "$(stat -c %Y "$R/big.bin")" = "$(debugfs -R 'stat /repo/big.bin' "$IMG" 2>/dev/null | sed -n 's/^ mtime: 0x\([0-9a-f]*\).*/\1/p' | xargs -I{} printf '%d' 0x{})" ]

# The guest's git: one commit, the host's branch, status clean, our list.
check guest-git-status-clean bash -c '[ -d "$1/.git" ] && [ -z "$(git -C "$1" status --porcelain)" ]' _ "$GR"
check guest-git-ls-files cmp -s <(git -C "$GR" -c core.quotepath=false ls-files | LC_ALL=C sort) <(expected | LC_ALL=C sort)
check guest-git-branch [ "$(git -C "$GR" symbolic-ref --short HEAD)" = main ]
check guest-git-one-commit [ "$(git -C "$GR" rev-list --count HEAD)" = 1 ]
check guest-git-fsck git -C "$GR" fsck --no-progress
check guest-git-no-alternates [ ! -e "$GR/.git/objects/info/alternates" ]
check guest-git-checkstat [ "$(git -C "$GR" config core.checkStat)" = minimal ]
echo 'guest edit' >>"$GR/src/deep/er/main.c"
check guest-git-diff-shows-edit bash -c 'git -C "$1" diff | grep -q "^+guest edit"' _ "$GR"
check host-repo-untouched bash -c '[ "$(git -C "$1" -c core.quotepath=false status --porcelain | sort)" = "$(printf "%s\n" " M \"docs/a file with spaces é ü.txt\"" "?? .env" | sort)" ] && [ "$(git -C "$1" count-objects)" = "$2" ] && [ "$(git -C "$1" rev-parse HEAD)" = "$3" ]' _ "$R" "$objects_before" "$head_before"

# ---- vm diff, vm push (the ssh stand-in runs the guest side in $G) -----------
export FAKE_GUEST=$G
srun vm diff ws1
cp "$TMP/out" "$TMP/guest.patch"
check diff-has-guest-edit grep -q '^+guest edit' "$TMP/guest.patch"
check diff-applies git -C "$R" apply --check "$TMP/guest.patch"
echo new >"$GR/guest-new.txt"
srun vm diff ws1
check diff-untracked-in-guest grep -q '^+++ b/guest-new.txt' "$TMP/out"
rm -f "$GR/guest-new.txt"

# host: edit, delete, add; then push
echo 'host edit' >>"$R/src/deep/er/main.c"
rm "$R/many/00/00.txt"
git -C "$R" rm -q --cached many/00/01.txt && rm "$R/many/00/01.txt"
echo added >"$R/added.txt" && git -C "$R" add added.txt
chmod +x "$R/docs/a file with spaces é ü.txt"
srun vm push ws1 "$R"
sed "s/^/# push: /" "$TMP/out"
check push-exit bash -c '[ "$1" = 0 ] && grep -q "ws1: 3 changed, 2 deleted" "$2"' _ "$RC" "$TMP/out"
check push-added [ "$(cat "$GR/added.txt" 2>/dev/null)" = added ]
check push-deleted bash -c '[ -d "$1/many/00" ] && ! [ -e "$1/many/00/00.txt" ] && ! [ -e "$1/many/00/01.txt" ]' _ "$GR"
check push-edited cmp -s "$R/src/deep/er/main.c" "$GR/src/deep/er/main.c"
check push-exec-bit [ -x "$GR/docs/a file with spaces é ü.txt" ]
check push-base-moved bash -c '[ "$(git -C "$1" rev-parse HEAD)" = "$(git -C "$1" rev-parse refs/banger/base)" ] && [ "$(git -C "$1" rev-list --count HEAD)" = 2 ]' _ "$GR"
check push-status-clean bash -c '[ -d "$1/.git" ] && [ -z "$(git -C "$1" status --porcelain)" ]' _ "$GR"
srun vm push ws1 "$R"
check push-again-nothing grep -q 'up to date' "$TMP/out"
# a guest change round-trips with git apply
echo 'made in the guest' >"$GR/guest-file.txt"
srun vm diff ws1
check diff-roundtrip bash -c 'git -C "$1" apply "$2" && [ "$(cat "$1/guest-file.txt")" = "made in the guest" ]' _ "$R" "$TMP/out"
unset FAKE_GUEST

# ---- --branch, --from --------------------------------------------------------
srun vm run --name ws2 --branch fix-42 "$R" -- true
"$WSCLI" create "$TMP/w2.img" 1G
"$WSCLI" write "$TMP/w2.img" "$F/vms/ws2/ws-copy" >/dev/null 2>&1
mkdir -p "$TMP/g2/root" && debugfs -R "rdump /repo $TMP/g2/root" "$TMP/w2.img" >/dev/null 2>&1
check branch-checked-out [ "$(git -C "$TMP/g2/root/repo" symbolic-ref --short HEAD)" = fix-42 ]
check branch-clean bash -c '[ -d "$1/.git" ] && [ -z "$(git -C "$1" status --porcelain)" ]' _ "$TMP/g2/root/repo"

srun vm run --name ws3 --from v1 "$R" -- true
"$WSCLI" create "$TMP/w3.img" 1G
"$WSCLI" write "$TMP/w3.img" "$F/vms/ws3/ws-copy" >/dev/null 2>&1
mkdir -p "$TMP/g3/root" && debugfs -R "rdump /repo $TMP/g3/root" "$TMP/w3.img" >/dev/null 2>&1
check from-content [ "$(cat "$TMP/g3/root/repo/src/deep/er/main.c")" = 'int main(void) { return 0; }' ]
check from-no-later-files bash -c '[ -d "$1/many" ] && ! [ -e "$1/added.txt" ]' _ "$TMP/g3/root/repo"
check from-clean bash -c '[ -d "$1/.git" ] && [ -z "$(git -C "$1" status --porcelain)" ]' _ "$TMP/g3/root/repo"
check from-tree-equals-v1 [ "$(git -C "$TMP/g3/root/repo" rev-parse 'HEAD^{tree}')" = "$(git -C "$R" ls-tree v1 | grep -v '	sub$' | git -C "$R" mktree)" ]

# ---- names the daemon would refuse are refused first ------------------------
N=$TMP/nl
mkdir -p "$N" && git -C "$N" init -q && touch "$N/$(printf 'bad\nname')" && git -C "$N" add -A
srun vm run --name ws4 "$N" -- true
check newline-name-refused bash -c '[ "$1" = 1 ] && grep -q "control character" <<<"$2"' _ "$RC" "$ERR"
check newline-no-vm [ ! -e "$F/vms/ws4" ]

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
