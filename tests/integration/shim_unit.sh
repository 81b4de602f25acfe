#!/bin/bash
# Unit tests for the banger shim against a FAKE control tree: plain files and
# directories laid out like the daemon's tree (DESIGN §3), no daemon, so a
# write just lands in a file.  The daemon-backed tests live elsewhere.
#
#   tests/integration/shim_unit.sh      (SHIM=path and SH=shell override)
#
# One line per check (ok NAME / FAIL NAME: detail), then "N passed, N failed".

# shellcheck disable=SC2016 # bash -c '...' _ ARGS: expanded by the inner shell
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SHIM=${SHIM:-$HERE/../../shims/banger}
if [ -z "${SH:-}" ]; then
	SH='sh'
	command -v dash >/dev/null 2>&1 && SH=dash # Debian's /bin/sh; catches bashisms
fi
PASS=0 FAIL=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export BANGER_FS=$TMP/fs

ok() { echo "ok $1"; PASS=$((PASS + 1)); }
fail() { echo "FAIL $1: $2"; FAIL=$((FAIL + 1)); }

# run ARGS...: run the shim; sets OUT, ERR, RC
run() {
	"$SH" "$SHIM" "$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

# expect NAME RC [STDOUT]: the last run's exit code (and exact stdout)
expect() {
	if [ "$RC" != "$2" ]; then
		fail "$1" "exit $RC, want $2; stderr: $ERR"
	elif [ $# -ge 3 ] && [ "$OUT" != "$3" ]; then
		fail "$1" "stdout was: $(printf '%q' "$OUT"), want: $(printf '%q' "$3")"
	else
		ok "$1"
	fi
}

# check NAME CONDITION-COMMAND... : ok if the command succeeds
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else fail "$name" "$* (stdout: $OUT; stderr: $ERR)"; fi
}

# ---- the fake tree ------------------------------------------------------
F=$BANGER_FS
mkdir -p "$F/vms" "$F/images/debian-bookworm" "$F/kernels/cloud-6.1"
printf 'import DIR (a bundle directory with manifest.json)\nrescan\n' >"$F/ctl"
echo "banger control tree" >"$F/README"
printf 'ok kvm /dev/kvm usable\nwarn reflink not supported on /var/lib/banger\n' >"$F/doctor"
printf '%s\n' 'vcpu 2 host' 'memory_mib 3072 host' 'disk_size 8G default' \
	'image debian-bookworm builtin' 'kernel cloud-6.1 builtin' 'vmm qemu auto' \
	'accel tcg auto' >"$F/defaults"
: >"$F/err"

# fake_vm NAME STATE IP MEM: a VM directory with every file of the tree
fake_vm() {
	local d=$F/vms/$1
	mkdir -p "$d"
	printf '%s\n' "name $1" "state $2" "ip $3" "mac -" "pid -" "vcpu 2" "memory_mib $4" \
		"disk_size 8G" "image debian-bookworm" "kernel cloud-6.1" "vmm qemu" \
		"accel tcg" "disk_clone copy" "uptime -" >"$d/status"
	printf '%s\n' "vcpu 2" "memory_mib $4" "disk_size 8G" "image debian-bookworm" \
		"kernel cloud-6.1" "vmm default" >"$d/config"
	echo "$2" >"$d/state"
	printf 'start\n' >"$d/ctl"
	printf 'console of %s\nlogin:\n' "$1" >"$d/console"
	: >"$d/log"
	: >"$d/err"
}
fake_vm alpha running 10.77.0.2 4096
fake_vm beta stopped - 3000
printf '%s\n' "name debian-bookworm" "kind image" "state ready" "size 1073741824" \
	"sha256 0123456789abcdef0123456789abcdef" "dir /var/cache/x" >"$F/images/debian-bookworm/status"
printf '%s\n' "name cloud-6.1" "kind kernel" "state ready" "size 31457280" \
	"sha256 fedcba9876543210fedcba9876543210" "dir /var/cache/y" >"$F/kernels/cloud-6.1/status"

# ---- top level ------------------------------------------------------------
run --version
check version grep -qE '^banger [0-9]+\.[0-9]+' <<<"$OUT"

run --help
check help-top bash -c '[ "$1" = 0 ] && grep -q "vm create" <<<"$2"' _ "$RC" "$OUT"

run
check no-args-exit-2 bash -c '[ "$1" = 2 ] && [ -z "$2" ] && grep -q usage <<<"$3"' _ "$RC" "$OUT" "$ERR"

run frobnicate
check unknown-command bash -c '[ "$1" = 2 ] && [ -z "$2" ] && grep -q "^usage: banger" <<<"$3"' _ "$RC" "$OUT" "$ERR"

run vm frobnicate
check unknown-vm-command bash -c '[ "$1" = 2 ] && grep -q "usage: banger vm" <<<"$2"' _ "$RC" "$ERR"

run vm
check vm-no-subcommand bash -c '[ "$1" = 2 ] && grep -q "vm start" <<<"$2"' _ "$RC" "$ERR"

# --help works on every command and needs no tree
for c in "vm create" "vm start" "vm stop" "vm kill" "vm restart" "vm delete" "vm list" \
	"vm show" "vm logs" "image list" "kernel list" doctor completion; do
	# shellcheck disable=SC2086 # split the command words
	BANGER_FS=$TMP/nowhere run $c --help
	check "help-${c// /-}" bash -c '[ "$1" = 0 ] && grep -q "^usage: banger $2" <<<"$3"' _ "$RC" "$c" "$OUT"
done
for g in vm image kernel; do
	run "$g" --help
	check "help-$g" bash -c '[ "$1" = 0 ] && grep -q "^usage: banger $2 COMMAND" <<<"$3"' _ "$RC" "$g" "$OUT"
done

BANGER_FS=$TMP/nowhere run vm list
expect not-mounted 1
check not-mounted-message [ "$ERR" = "banger: the control tree is not mounted at $TMP/nowhere (start bangerd, or set BANGER_FS)" ]
if [ ! -e /run/banger/fs ]; then
	(unset BANGER_FS; "$SH" "$SHIM" doctor) >/dev/null 2>"$TMP/err"
	check not-mounted-default grep -qx "banger: the control tree is not mounted at /run/banger/fs (start bangerd, or set BANGER_FS)" "$TMP/err"
fi

# ---- vm list / show ---------------------------------------------------------
run vm list
expect vm-list-exit 0
check vm-list-header [ "$(head -n1 <<<"$OUT" | tr -s ' ')" = "NAME STATE IP IMAGE VCPU MEM" ]
check vm-list-alpha grep -qx 'alpha running 10.77.0.2 debian-bookworm 2 4G' <(tr -s ' ' <<<"$OUT")
check vm-list-beta grep -qx 'beta stopped - debian-bookworm 2 3000M' <(tr -s ' ' <<<"$OUT")
check vm-list-rows [ "$(wc -l <<<"$OUT")" = 3 ]
# columns line up: every row's second column starts where STATE does
col=$(head -n1 <<<"$OUT" | awk '{ print index($0, "STATE") }')
check vm-list-aligned bash -c '[ "$(awk -v c="$1" "NR > 1 && substr(\$0, c - 2, 3) !~ /^  [a-z]/" <<<"$2")" = "" ]' _ "$col" "$OUT"

run vm list --quiet
expect vm-list-quiet 0 "$(printf 'alpha\nbeta')"

mkdir -p "$TMP/empty/vms"
touch "$TMP/empty/ctl"
BANGER_FS=$TMP/empty run vm list
expect vm-list-empty 0 "NAME  STATE  IP  IMAGE  VCPU  MEM"
BANGER_FS=$TMP/empty run vm list -q
expect vm-list-empty-quiet 0 ""

run vm list extra
expect vm-list-extra-arg 2

run vm show alpha
expect vm-show 0 "$(cat "$F/vms/alpha/status")"

run vm show nosuch
check vm-show-missing bash -c '[ "$1" = 1 ] && grep -q "no VM named .nosuch." <<<"$2"' _ "$RC" "$ERR"

run vm show
expect vm-show-no-name 2

# ---- images, kernels, doctor ------------------------------------------------
run image list
expect image-list 0 "$(printf 'NAME             SIZE  SHA256\ndebian-bookworm  1.0G  0123456789ab')"
run kernel list
expect kernel-list 0 "$(printf 'NAME       SIZE   SHA256\ncloud-6.1  30.0M  fedcba987654')"

run doctor
expect doctor-ok 0 "$(cat "$F/doctor")"
cp "$F/doctor" "$TMP/doctor.ok"
printf 'fail bridge cannot create br0\n' >>"$F/doctor"
run doctor
expect doctor-fail 1 "$(cat "$F/doctor")"
cp "$TMP/doctor.ok" "$F/doctor"

# ---- verbs --------------------------------------------------------------------
run vm stop alpha
expect vm-stop 0 "alpha running"  # the fake tree does not change state
check vm-stop-wrote [ "$(cat "$F/vms/alpha/ctl")" = stop ]

fake_vm broken failed - 1024
rm "$F/vms/broken/ctl"
mkdir "$F/vms/broken/ctl" # a write to it fails, like a refused verb
echo "vm 'broken' cannot start: kernel cloud-6.1 is missing" >"$F/vms/broken/err"
run vm start broken
check vm-start-err bash -c '[ "$1" = 1 ] && [ "$2" = "banger: vm '\''broken'\'' cannot start: kernel cloud-6.1 is missing" ]' _ "$RC" "$ERR"

# ---- delete -------------------------------------------------------------------
mkdir "$F/vms/gone"
run vm delete gone
expect vm-delete 0 ""
check vm-delete-removed [ ! -e "$F/vms/gone" ]

echo "vm 'alpha' is running; stop it before deleting it" >"$F/vms/alpha/err"
run vm delete alpha # rmdir of a non-empty dir fails here, as for a running VM
check vm-delete-refused bash -c '[ "$1" = 1 ] && [ "$2" = "banger: vm '\''alpha'\'' is running; stop it before deleting it" ]' _ "$RC" "$ERR"
check vm-delete-no-kill [ "$(cat "$F/vms/alpha/ctl")" = stop ]
run vm delete --force alpha
check vm-delete-force-kills [ "$(cat "$F/vms/alpha/ctl")" = kill ]
echo stop >"$F/vms/alpha/ctl"
run vm delete alpha -f
check vm-delete-force-after-name [ "$(cat "$F/vms/alpha/ctl")" = kill ]
run vm delete
expect vm-delete-no-name 2
run vm delete --bogus alpha
expect vm-delete-unknown-option 2

# ---- create -------------------------------------------------------------------
run vm create --vcpu 3 --memory=2048 --image debian-bookworm newvm
expect vm-create 0 "spec: vcpu 3 (flag) memory_mib 2048 (flag) disk_size 8G (default)"
check vm-create-files bash -c '[ "$(cat "$1/vcpu")" = 3 ] && [ "$(cat "$1/memory_mib")" = 2048 ] &&
	[ "$(cat "$1/image")" = debian-bookworm ] && [ ! -e "$1/disk_size" ]' _ "$F/vms/newvm"

run vm create plain
expect vm-create-defaults 0 "spec: vcpu 2 (host) memory_mib 3072 (host) disk_size 8G (default)"

run vm create alpha
check vm-create-exists bash -c '[ "$1" = 1 ] && grep -q "already exists" <<<"$2"' _ "$RC" "$ERR"

run vm create --vcpu
expect vm-create-missing-value 2
run vm create --bogus x
expect vm-create-unknown-option 2

# a refused setting: the daemon's mkdir makes the value files; the stubs below
# make vcpu unwritable and let rmdir remove the VM, as the daemon would
mkdir "$TMP/bin"
cat >"$TMP/bin/mkdir" <<'EOF'
#!/bin/sh
/bin/mkdir "$1" && /bin/mkdir "$1/vcpu" && echo "vcpu 99 is more than the host's 2 cpus" >"$1/err"
EOF
printf '#!/bin/sh\nrm -rf "$1"\n' >"$TMP/bin/rmdir"
chmod +x "$TMP/bin/mkdir" "$TMP/bin/rmdir"
PATH=$TMP/bin:$PATH run vm create --vcpu 99 big
check vm-create-refused bash -c '[ "$1" = 1 ] && [ "$2" = "banger: vcpu 99 is more than the host'\''s 2 cpus" ]' _ "$RC" "$ERR"
check vm-create-refused-removed [ ! -e "$F/vms/big" ]

# mkdir refused: the reason is in the top-level err
ln -s nowhere "$F/vms/Bad_Name"
echo "invalid VM name 'Bad_Name': use a DNS label" >"$F/err"
run vm create Bad_Name
check vm-create-mkdir-err bash -c '[ "$1" = 1 ] && [ "$2" = "banger: invalid VM name '\''Bad_Name'\'': use a DNS label" ]' _ "$RC" "$ERR"
rm "$F/vms/Bad_Name"

# ---- logs -----------------------------------------------------------------------
run vm logs alpha
expect vm-logs-running 0 "$(printf 'console of alpha\nlogin:')"
run vm logs beta
expect vm-logs-stopped 0 "$(printf 'console of beta\nlogin:')"
run vm logs -f beta
expect vm-logs-follow 0 "$(printf 'console of beta\nlogin:')"
run vm logs beta --follow
expect vm-logs-follow-after-name 0 "$(printf 'console of beta\nlogin:')"
# the nonblocking read stops at EAGAIN: a FIFO with a writer that stays open
rm "$F/vms/alpha/console"
mkfifo "$F/vms/alpha/console"
exec 7<>"$F/vms/alpha/console"
printf 'live line\n' >&7
run vm logs alpha
expect vm-logs-live-end 0 "live line"
exec 7>&-

# ---- completion -------------------------------------------------------------------
for s in bash zsh fish; do
	BANGER_FS=$TMP/nowhere run completion "$s"
	check "completion-$s" bash -c '[ "$1" = 0 ] && [ -n "$2" ]' _ "$RC" "$OUT"
	printf '%s\n' "$OUT" >"$TMP/completion.$s"
done
check completion-bash-syntax bash -n "$TMP/completion.bash"
if command -v zsh >/dev/null 2>&1; then
	check completion-zsh-syntax zsh -n "$TMP/completion.zsh"
fi
if command -v fish >/dev/null 2>&1; then
	check completion-fish-syntax fish -n "$TMP/completion.fish"
fi
run completion tcsh
expect completion-unknown-shell 2

# the bash completion completes commands and VM names from the tree
complete_words() { bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _banger; echo "${COMPREPLY[*]}"' _ "$TMP/completion.bash" "$@"; }
check completion-bash-vm-names [ "$(complete_words banger vm start "")" = "alpha beta broken newvm plain --help" ]
check completion-bash-commands [ "$(complete_words banger v)" = "vm" ]
check completion-bash-vm-sub [ "$(complete_words banger vm st)" = "start stop" ]
check completion-bash-image [ "$(complete_words banger vm create --image "")" = "debian-bookworm" ]

# ---- lint -----------------------------------------------------------------------
if command -v shellcheck >/dev/null 2>&1; then
	check shellcheck-shim shellcheck -s sh "$SHIM"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
