#!/bin/bash
# Addresses below are data in a fake tree: no interface, route or packet, so no netns/unshare is needed.
# Unit tests for the banger shim against a FAKE control tree: plain files and
# directories, no daemon, so a write just lands in a file.  The fake tree is
# a copy of tests/golden/tree, a real daemon's tree captured by `make
# golden-tree` (tests/golden/README.md; tests/integration/golden_tree.sh
# fails when the daemon's format drifts from it), with the values each check
# needs set through tests/golden/lib.sh, which refuses a key or file the
# daemon does not have.  The daemon-backed tests live elsewhere.
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

# ---- the fake tree: a copy of the golden tree --------------------------------
GOLDEN_TREE=$(cd "$HERE/../golden/tree" && pwd) || { echo "FAIL golden-tree: tests/golden/tree is missing (make golden-tree)"; exit 1; }
GOLDEN_LIB=$HERE/../golden/lib.sh
export GOLDEN_TREE GOLDEN_LIB # for the stub daemon commands below
# shellcheck source=tests/golden/lib.sh
. "$GOLDEN_LIB"
# fx HELPER ARGS...: a fixture edit; one the daemon's format refuses ends the run
fx() { "$@" || { echo "FAIL fixture: $*"; exit 1; }; }
GOLDEN_MKDIR_ERR=$(cat "$GOLDEN_TREE/err") # the daemon's sentence for mkdir vms/Bad_Name

F=$BANGER_FS
mkdir -p "$F/vms"
for f in "$GOLDEN_TREE"/*; do [ ! -f "$f" ] || cp "$f" "$F/"; done # README ctl defaults doctor err
cp -R "$GOLDEN_TREE/images" "$GOLDEN_TREE/kernels" "$F/"
# the catalog's and the OCI image's golden entries are copied by the checks that need them
rm -rf "$F/images/available" "$F/images/failed" "$F/images/oci" "$F/kernels/available"
fx golden_value "$F/err" ""
fx golden_kv "$F/defaults" vcpu "2 host"
fx golden_kv "$F/defaults" memory_mib "3072 host"
fx golden_kv "$F/defaults" disk_size "8G default"
fx golden_kv "$F/defaults" image "debian-bookworm-mini builtin"
# the registered bundles (images/debian-bookworm stays buildable)
fx golden_kv "$F/images/debian-bookworm-mini/status" size 1073741824
fx golden_kv "$F/images/debian-bookworm-mini/status" sha256 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
fx golden_kv "$F/kernels/debian-cloud-amd64/status" size 31457280
fx golden_kv "$F/kernels/debian-cloud-amd64/status" sha256 fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210

mac_of() { # the MAC the daemon derives from a guest address (06:00 + its bytes)
	local IFS=.
	# shellcheck disable=SC2086 # split on the dots
	if [ "$1" = - ]; then echo -; else printf '06:00:%02x:%02x:%02x:%02x\n' $1; fi
}
# fake_vm NAME STATE IP MEM: vms/NAME in $F, the golden VM in STATE with
# these values (2 vCPUs) and a console of two lines
fake_vm() {
	local d=$F/vms/$1 f
	fx golden_vm "$F" "$1" "$2"
	fx golden_kv "$d/status" ip "$3"
	fx golden_value "$d/ip" "$3"
	fx golden_kv "$d/status" mac "$(mac_of "$3")"
	fx golden_value "$d/mac" "$(mac_of "$3")"
	for f in status config; do
		fx golden_kv "$d/$f" vcpu 2
		fx golden_kv "$d/$f" memory_mib "$4"
	done
	fx golden_value "$d/vcpu" 2
	fx golden_value "$d/memory_mib" "$4"
	fx golden_value "$d/err" ""
	fx golden_stream "$d/console" "console of $1
login:
"
}
fake_vm alpha running 192.0.2.2 4096
fake_vm beta stopped - 3000

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
	"vm show" "vm logs" "vm run" "vm ssh" "vm prune" "image list" "image build" "kernel list" \
	"image show" "image pull" "image rm" "image register" "image import" "image pull-oci" \
	"image import-oci" "kernel show" "kernel pull" "kernel rm" "kernel import" "catalog list" \
	"catalog status" "catalog refresh" "catalog publish" \
	doctor completion; do
	# shellcheck disable=SC2086 # split the command words
	BANGER_FS=$TMP/nowhere run $c --help
	check "help-${c// /-}" bash -c '[ "$1" = 0 ] && grep -q "^usage: banger $2" <<<"$3"' _ "$RC" "$c" "$OUT"
done
for g in vm image kernel catalog; do
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
check vm-list-alpha grep -qx 'alpha running 192.0.2.2 debian-bookworm-mini 2 4G' <(tr -s ' ' <<<"$OUT")
check vm-list-beta grep -qx 'beta stopped - debian-bookworm-mini 2 3000M' <(tr -s ' ' <<<"$OUT")
check vm-list-rows [ "$(wc -l <<<"$OUT")" = 3 ]
# columns line up: every row's second column starts where STATE does
col=$(head -n1 <<<"$OUT" | awk '{ print index($0, "STATE") }')
check vm-list-aligned bash -c '[ "$(awk -v c="$1" "NR > 1 && substr(\$0, c - 2, 3) !~ /^  [a-z]/" <<<"$2")" = "" ]' _ "$col" "$OUT"

run vm list --quiet
expect vm-list-quiet 0 "$(printf 'alpha\nbeta')"

mkdir -p "$TMP/empty/vms"
cp "$F/ctl" "$TMP/empty/"
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
# every image of the tree: the registered one, and the one a recipe builds
run image list
expect image-list 0 "$(printf '%-20s  %-9s  %-4s  %s\n' NAME STATE SIZE SHA256 debian-bookworm-mini ready 1.0G \
	0123456789ab debian-bookworm buildable - -)"
run kernel list
expect kernel-list 0 "$(printf '%-18s  %-5s  %-5s  %s\n' NAME STATE SIZE SHA256 debian-cloud-amd64 ready 30.0M fedcba987654)"

run doctor
expect doctor-ok 0 "$(cat "$F/doctor")"
cp "$F/doctor" "$TMP/doctor.ok"
printf 'fail bridge cannot create br0\n' >>"$F/doctor"
run doctor
expect doctor-fail 1 "$(cat "$F/doctor")"
cp "$TMP/doctor.ok" "$F/doctor"

# ---- images, kernels, catalogs (issues 11, 12): the golden entries ------------------
# images/available, kernels/available (a catalog offers them), images/failed (a
# refused pull), images/oci (an OCI image) of the golden tree, copied under
# the names a check needs with golden_entry; a write lands in ctl's file.
mkdir -p "$TMP/swap"
# swap FILE HELPER ARGS...: HELPER edits a copy of FILE, then the copy
# replaces FILE at once (a reader never sees it half written)
swap() {
	local f=$1 h=$2 c
	shift 2
	c=$TMP/swap/$(basename "$f")
	cp "$f" "$c" && "$h" "$c" "$@" && mv -f "$c" "$f"
}
# fake_pull KIND NAME END [ERR]: what bangerd does once KIND NAME/ctl says
# "pull": pulling with a progress line, then END (ready, or failed with ERR)
fake_pull() {
	local d=$F/$1s/$2 end=$3 e=${4:-}
	(
		for _ in $(seq 1 100); do [ "$(cat "$d/ctl" 2>/dev/null)" = pull ] && break; sleep 0.1; done
		cp "$GOLDEN_TREE/images/failed/progress" "$TMP/swap/progress" &&
			golden_kv "$TMP/swap/progress" bytes "500 of 1000 rate 1.0kB/s eta 1s" &&
			golden_kv "$TMP/swap/progress" phase running && mv -f "$TMP/swap/progress" "$d/progress"
		swap "$d/state" golden_value pulling
		sleep 1
		golden_value "$d/err" "$e"
		swap "$d/state" golden_value "$end"
	) &
}
# fake_oci NAME END [ERR]: the same for an OCI build, once images/ctl names NAME
fake_oci() {
	local n=$1 end=$2 e=${3:-}
	(
		for _ in $(seq 1 100); do grep -q " $n\( insecure\)\?\$" "$F/images/ctl" 2>/dev/null && break; sleep 0.1; done
		mkdir -p "$TMP/e.$n/images"
		golden_entry "$TMP/e.$n" image "$n" pulling && golden_value "$TMP/e.$n/images/$n/err" "" &&
			golden_kv "$TMP/e.$n/images/$n/progress" bytes "1 of 2 rate - eta -" &&
			golden_kv "$TMP/e.$n/images/$n/progress" phase fetch &&
			mv "$TMP/e.$n/images/$n" "$F/images/$n"
		sleep 1
		golden_value "$F/images/$n/err" "$e"
		swap "$F/images/$n/state" golden_value "$end"
	) &
}
avail() { # avail KIND NAME [KERNEL]: an entry a catalog offers, of 1000 bytes
	fx golden_entry "$F" "$1" "$2" available
	fx golden_kv "$F/$1s/$2/status" size 1000
	fx golden_kv "$F/$1s/$2/status" url "http://192.0.2.1/cat/$1s/$2-1.tar.zst"
	[ -z "${3:-}" ] || fx golden_kv "$F/$1s/$2/status" kernel "$3"
	cp "$GOLDEN_TREE/images/debian-bookworm-mini/ctl" "$F/$1s/$2/ctl" # no verb yet: the fake daemon waits for "pull"
}

avail image cat-img cat-k
avail kernel cat-k
fake_pull image cat-img ready
fake_pull kernel cat-k ready
run image pull cat-img
wait
check image-pull-ok bash -c '[ "$1" = 0 ] && grep -q "^pulling image cat-img (1000B)$" <<<"$2" && grep -q "^image cat-img: running, 500 of 1000 bytes, rate 1.0kB/s, eta 1s$" <<<"$2" && grep -q "^image cat-img ready$" <<<"$2"' _ "$RC" "$ERR"
check image-pull-its-kernel bash -c 'grep -q "^pulling kernel cat-k" <<<"$1" && grep -q "^kernel cat-k ready$" <<<"$1"' _ "$ERR"
check image-pull-writes-ctl [ "$(cat "$F/images/cat-img/ctl") $(cat "$F/kernels/cat-k/ctl")" = "pull pull" ]
# on a terminal: a bar, redrawn in place (script(1) gives the shim a pty)
avail image tty-img
fake_pull image tty-img ready
script -qec "$SH $SHIM image pull tty-img" /dev/null >"$TMP/tty.out" 2>&1
RC=$?
wait
check image-pull-bar-on-tty bash -c '[ "$1" = 0 ] && grep -q $'"'"'\rtty-img running   \[###############---------------\]  50.0% 1.0kB/s eta 1s'"'"' "$2"' _ "$RC" "$TMP/tty.out"
run image pull cat-img
check image-pull-here-already bash -c '[ "$1" = 0 ] && grep -q "image cat-img is here already" <<<"$2"' _ "$RC" "$ERR"
avail image bad-img
fake_pull image bad-img failed "bundle http://192.0.2.1/x.tar.zst has sha256 00, the catalog says 11"
run image pull bad-img
wait
expect image-pull-failed 1
check image-pull-failed-says-why grep -q "^banger: bundle http://192.0.2.1/x.tar.zst has sha256 00, the catalog says 11$" <<<"$ERR"
run image pull debian-bookworm
check image-pull-buildable bash -c '[ "$1" = 1 ] && grep -q "no catalog offers image .debian-bookworm.: build it with .banger image build debian-bookworm." <<<"$2"' _ "$RC" "$ERR"
run image pull nosuch
check image-pull-unknown bash -c '[ "$1" = 1 ] && grep -q "no image named .nosuch. is registered or offered by a catalog" <<<"$2"' _ "$RC" "$ERR"
run image pull a b
expect image-pull-two-args 2
run kernel pull cat-k
check kernel-pull-here-already bash -c '[ "$1" = 0 ] && grep -q "kernel cat-k is here already" <<<"$2"' _ "$RC" "$ERR"

run image show bad-img
check image-show bash -c '[ "$1" = 0 ] && grep -qx "name bad-img" <<<"$2" && grep -qx "progress bytes 500 of 1000 rate 1.0kB/s eta 1s" <<<"$2" && grep -q "^err bundle http" <<<"$2"' _ "$RC" "$OUT"
fx golden_entry "$F" kernel show-k available
run kernel show show-k
expect kernel-show 0 "$(cat "$F/kernels/show-k/status")"
run image show nosuch
expect image-show-unknown 1

# (a fixture's status keeps the state it was copied with)
run catalog list
check catalog-list [ "$RC $(tr -s ' ' <<<"$OUT" | tr '\n' ';')" = "0 KIND NAME VERSION SIZE STATE;kernel cat-k 1 1000B available;kernel show-k 1 @SIZE@ available;image bad-img 1 1000B available;image cat-img 1 1000B available;image tty-img 1 1000B available;" ]
fx golden_value "$F/images/catalogs" ""
run catalog status
check catalog-status-none bash -c '[ "$1" = 1 ] && grep -q "no catalog is configured" <<<"$2"' _ "$RC" "$ERR"
cp "$GOLDEN_TREE/images/catalogs" "$F/images/catalogs"
run catalog status
expect catalog-status 0 "$(cat "$F/images/catalogs")"
run catalog refresh
check catalog-refresh bash -c '[ "$1" = 0 ] && [ "$(cat "$2")" = refresh ] && grep -q "state ok" <<<"$3"' _ "$RC" "$F/images/ctl" "$OUT"
run catalog publish
check catalog-publish-runs-banger-catalog bash -c '[ "$1" = 2 ] && grep -q "^banger-catalog: publish takes one OUTDIR" <<<"$2"' _ "$RC" "$ERR"

mkdir -p "$TMP/bundle dir" "$TMP/bundles/k1"
(cd "$TMP/bundles" && "$SH" "$SHIM" image register k1 >"$TMP/out" 2>"$TMP/err")
check image-register-absolute [ "$(cat "$F/images/ctl")" = "import $TMP/bundles/k1" ]
run image register "$TMP/bundle dir"
check image-register-blank bash -c '[ "$1" = 1 ] && grep -q "has a blank" <<<"$2"' _ "$RC" "$ERR"
: >"$TMP/bundles/x.tar"
run image register "$TMP/bundles/x.tar"
expect image-register-file 2
run image import "$TMP/bundles/x.tar"
expect image-import-not-zst 2
: >"$TMP/bundles/x.tar.zst"
run image import "$TMP/bundles/x.tar.zst"
check image-import [ "$RC $(cat "$F/images/ctl")" = "0 import $TMP/bundles/x.tar.zst" ]
run kernel import "$TMP/bundles/k1"
check kernel-import [ "$RC $(cat "$F/kernels/ctl")" = "0 import $TMP/bundles/k1" ]
run kernel import "$TMP/nowhere"
check kernel-import-missing bash -c '[ "$1" = 1 ] && grep -q "does not exist" <<<"$2"' _ "$RC" "$ERR"

run image pull-oci docker.io/library/debian:bookworm
expect pull-oci-needs-name 2
run image pull-oci --name x
expect pull-oci-needs-ref 2
fake_oci deb ready
run image pull-oci 192.0.2.1:5000/library/debian:bookworm --name deb --insecure
wait
check pull-oci-writes [ "$RC $(cat "$F/images/ctl")" = "0 pull-oci 192.0.2.1:5000/library/debian:bookworm deb insecure" ]
check pull-oci-progress bash -c 'grep -q "^image deb: fetch, 1 of 2 bytes" <<<"$1" && grep -q "^image deb ready$" <<<"$1"' _ "$ERR"
mkdir -p "$TMP/layout"
fake_oci mine failed "layer sha256:aa: entry '../x' leaves the image (refused)"
(cd "$TMP" && "$SH" "$SHIM" image import-oci layout:v1 --name mine >"$TMP/out" 2>"$TMP/err")
RC=$?
wait
check import-oci-writes [ "$(cat "$F/images/ctl")" = "import-oci $TMP/layout:v1 mine" ]
check import-oci-failed bash -c '[ "$1" = 1 ] && grep -q "^banger: layer sha256:aa: entry .../x. leaves the image (refused)$" "$2"' _ "$RC" "$TMP/err"
run image import-oci "$TMP/nowhere" --name mine
expect import-oci-no-dir 2
run image import-oci "$TMP/layout" --name mine --insecure
expect import-oci-no-insecure 2
rm -rf "$F/images/cat-img" "$F/images/tty-img" "$F/images/bad-img" "$F/images/deb" "$F/images/mine" \
	"$F/kernels/cat-k" "$F/kernels/show-k"
cp "$GOLDEN_TREE/images/ctl" "$F/images/ctl"
cp "$GOLDEN_TREE/kernels/ctl" "$F/kernels/ctl"

# ---- verbs --------------------------------------------------------------------
run vm stop alpha
expect vm-stop 0 "alpha running"  # the fake tree does not change state
check vm-stop-wrote [ "$(cat "$F/vms/alpha/ctl")" = stop ]

fake_vm broken failed 192.0.2.3 1024
rm "$F/vms/broken/ctl"
mkdir "$F/vms/broken/ctl" # a write to it fails, like a refused verb
fx golden_value "$F/vms/broken/err" "vm 'broken' cannot start: kernel debian-cloud-amd64 is missing"
run vm start broken
check vm-start-err bash -c '[ "$1" = 1 ] && [ "$2" = "banger: vm '\''broken'\'' cannot start: kernel debian-cloud-amd64 is missing" ]' _ "$RC" "$ERR"

# ---- delete -------------------------------------------------------------------
mkdir "$F/vms/gone" # empty: a plain rmdir takes it, as the daemon takes a stopped VM
run vm delete gone
expect vm-delete 0 ""
check vm-delete-removed [ ! -e "$F/vms/gone" ]

fx golden_value "$F/vms/alpha/err" "vm 'alpha' is running; stop it before deleting it"
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
run vm create --vcpu 3 --memory=2048 --image debian-bookworm newvm # a plain mkdir: an empty VM
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

# a refused setting: the daemon's mkdir makes the VM's files (the golden
# created VM); the stubs below make vcpu unwritable and let rmdir remove
# the VM, as the daemon would
mkdir "$TMP/bin"
cat >"$TMP/bin/mkdir" <<'EOF'
#!/bin/sh
. "$GOLDEN_LIB"
golden_vm "${1%/vms/*}" "${1##*/}" created && rm "$1/vcpu" && /bin/mkdir "$1/vcpu" &&
	golden_value "$1/err" "vcpu 99 is more than the host's 2 cpus"
EOF
printf '#!/bin/sh\nrm -rf "$1"\n' >"$TMP/bin/rmdir"
chmod +x "$TMP/bin/mkdir" "$TMP/bin/rmdir"
PATH=$TMP/bin:$PATH run vm create --vcpu 99 big
check vm-create-refused bash -c '[ "$1" = 1 ] && [ "$2" = "banger: vcpu 99 is more than the host'\''s 2 cpus" ]' _ "$RC" "$ERR"
check vm-create-refused-removed [ ! -e "$F/vms/big" ]

# mkdir refused: the reason is in the top-level err
ln -s nowhere "$F/vms/Bad_Name"
fx golden_value "$F/err" "$GOLDEN_MKDIR_ERR"
run vm create Bad_Name
check vm-create-mkdir-err bash -c '[ "$1" = 1 ] && [ "$2" = "banger: $3" ]' _ "$RC" "$ERR" "$GOLDEN_MKDIR_ERR"
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

# ---- vm run, vm ssh (stubs: a fake daemon's mkdir, ssh, rmdir) --------------------
# A stub recipe (images/build.sh) and cache: nothing real is ever built here.
# Like the real one it makes debian-bookworm with --golden, else
# debian-bookworm-mini, and the kernel.
R=$TMP/recipes
mkdir -p "$R"
cat >"$R/build.sh" <<'STUB'
#!/bin/sh
printf '%s\n' "$@" >"$FAKE_BUILD_LOG"
[ -z "${FAKE_BUILD_FAIL:-}" ] || { echo "build.sh: error: no mirror" >&2; exit 1; }
for c; do cache=$c; done
name=debian-bookworm-mini
[ "$1" != --golden ] || name=debian-bookworm
/bin/mkdir -p "$cache/images/$name" "$cache/kernels/debian-cloud-amd64"
[ -n "${FAKE_BUILD_EMPTY:-}" ] ||
	printf '{\n  "name": "%s",\n  "kernel": "debian-cloud-amd64"\n}\n' "$name" >"$cache/images/$name/manifest.json"
echo "build.sh: done" >&2
STUB
chmod +x "$R/build.sh"
export BANGER_IMAGES_DIR=$R BANGER_IMAGE_CACHE=$TMP/cache FAKE_BUILD_LOG=$TMP/build.args
vms_before=$(ls "$F/vms")
# The stub mkdir makes a VM (the golden one in $FAKE_STATE, default
# running) sized by the defaults, with "ssh $FAKE_SSH" in its status,
# address $FAKE_IP, err $FAKE_ERR and agent $FAKE_AGENT (default none: an
# image without the guest agent, so vm run -- CMD goes over ssh); the stub
# ssh records its arguments (NUL-separated) and exits $FAKE_SSH_RC.  An
# exec (execs/X) is made with $FAKE_EXEC_OUT on stdout, $FAKE_EXEC_ERR on
# stderr and status $FAKE_EXEC_STATUS, as the daemon's reads give them
# once the command ended; the stub rmdir keeps its argv and cwd.
mkdir "$TMP/runbin"
cat >"$TMP/runbin/mkdir" <<'STUB'
#!/bin/sh
case $1 in
*/execs/*)
	/bin/mkdir "$1" || exit 1
	printf '%s' "${FAKE_EXEC_OUT:-}" >"$1/stdout"
	printf '%s' "${FAKE_EXEC_ERR:-}" >"$1/stderr"
	if [ -n "${FAKE_EXEC_STATUS:-}" ]; then printf '%s\n' "$FAKE_EXEC_STATUS" >"$1/status"; else : >"$1/status"; fi
	printf 'state exited\n' >"$1/state"
	if [ -n "${FAKE_EXEC_RUN_ERR:-}" ]; then printf '%s\n' "$FAKE_EXEC_RUN_ERR" >"$1/err"; else : >"$1/err"; fi
	exit 0
	;;
*/vms/*) ;;
*) exec /bin/mkdir "$@" ;;
esac
. "$GOLDEN_LIB"
d=$1 n=${1##*/} ip=${FAKE_IP:-192.0.2.9}
golden_vm "${1%/vms/*}" "$n" "${FAKE_STATE:-running}" || exit 1
for k in vcpu memory_mib; do # the effective sizing: the defaults
	v=$(awk -v k="$k" '$1 == k { print $2 }' "${1%/vms/*}/defaults")
	golden_value "$d/$k" "$v" && golden_kv "$d/config" "$k" "$v" && golden_kv "$d/status" "$k" "$v" || exit 1
done
[ -z "${FAKE_IMAGE:-}" ] || golden_kv "$d/status" image "$FAKE_IMAGE" || exit 1
golden_kv "$d/status" ip "$ip" && golden_value "$d/ip" "$ip" &&
	golden_kv "$d/status" ssh "${FAKE_SSH:-ready}" &&
	golden_value "$d/err" "${FAKE_ERR:-}" &&
	golden_stream "$d/agent" "${FAKE_AGENT:-none}
" || exit 1
if [ "$ip" = - ]; then
	golden_value "$d/ssh" ""
else
	golden_value "$d/ssh" "ssh -F '$FAKE_CFG' $n.vm"
fi || exit 1
echo "$n" >>"$FAKE_MKDIR_LOG"
STUB
cat >"$TMP/runbin/ssh" <<'STUB'
#!/bin/sh
printf '%s\0' "$@" >"$FAKE_SSH_LOG"
exit "${FAKE_SSH_RC:-0}"
STUB
cat >"$TMP/runbin/rmdir" <<'STUB'
#!/bin/sh
case $1 in */execs/*) cp "$1/argv" "$FAKE_ARGV_LOG" && { cp "$1/cwd" "$FAKE_CWD_LOG" 2>/dev/null || :; } ;; esac
rm -rf "$1"
STUB
chmod +x "$TMP/runbin/"*
export FAKE_CFG="$TMP/cfg dir/ssh_config" FAKE_SSH_LOG=$TMP/ssh.args FAKE_MKDIR_LOG=$TMP/mkdir.log
export FAKE_ARGV_LOG=$TMP/exec.argv FAKE_CWD_LOG=$TMP/exec.cwd
: >"$FAKE_MKDIR_LOG"
srun() { PATH=$TMP/runbin:$PATH run "$@"; }
ssh_args() { # the stub ssh's arguments, one per line (for comparisons)
	tr '\0' '\n' <"$FAKE_SSH_LOG"
}
ssh_last() { # the stub ssh's last argument (the remote command)
	local -a a
	mapfile -d '' a <"$FAKE_SSH_LOG"
	printf '%s' "${a[-1]}"
}
dns_label() { [[ $1 =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]]; }

rm -f "$FAKE_SSH_LOG"
rm -f "$FAKE_BUILD_LOG"
FAKE_SSH_RC=7 srun vm run -- sh -c 'exit 7'
gen=$(tail -n 1 "$FAKE_MKDIR_LOG")
expect run-exit-status 7 ""
check run-registered-image-not-built [ ! -e "$FAKE_BUILD_LOG" ]
check run-generated-name bash -c '[[ $1 =~ ^sandbox-[a-z]+$ ]]' _ "$gen"
check run-spec-on-stderr grep -q '^spec: vcpu 2 (host) memory_mib 3072 (host) disk_size 8G (default)$' <<<"$ERR"
check run-started [ "$(cat "$F/vms/$gen/ctl")" = start ]
check run-ssh-args [ "$(ssh_args)" = "$(printf '%s\n' -F "$FAKE_CFG" "$gen.vm" -- "'sh' '-c' 'exit 7'")" ]
check run-kept-without-rm [ -d "$F/vms/$gen" ]

# the remote command is the arguments, each quoted for the guest's shell
args=(printf '<%s>' "it's" 'a  b' '$HOME' '' 'x"y' '*')
srun vm run --name q1 -- "${args[@]}"
expect run-quoting-exit 0
check run-quoting bash -c 'want=$2 n=$3; eval "set -- $1"; [ "$*" = "$want" ] && [ $# = "$n" ]' _ "$(ssh_last)" "${args[*]}" "${#args[@]}"

srun vm run --name i1
check run-interactive bash -c '[ "$1" = 0 ] && [ "$2" = "$3" ]' _ "$RC" "$(ssh_args)" \
	"$(printf '%s\n' -F "$FAKE_CFG" i1.vm -t)"
check run-interactive-hint grep -q '^i1 is still running: banger vm ssh i1; banger vm delete --force i1$' <<<"$ERR"

FAKE_SSH_RC=3 srun vm run --rm --name r1 --vcpu 1 --memory=512 --disk 2G -- false
expect run-rm-exit-status 3 ""
check run-rm-deleted [ ! -e "$F/vms/r1" ]
check run-rm-spec grep -q '^spec: vcpu 1 (flag) memory_mib 512 (flag) disk_size 2G (flag)$' <<<"$ERR"

FAKE_SSH=failed FAKE_ERR="possible MITM: the host key of f1.vm (192.0.2.9) changed" srun vm run --rm --name f1 -- true
check run-ssh-failed-exit [ "$RC" = 1 ]
check run-ssh-failed-reason grep -q '^banger: possible MITM: the host key of f1.vm' <<<"$ERR"
check run-ssh-failed-kept grep -qx 'kept f1 for inspection: banger vm logs f1; banger vm delete f1' <<<"$ERR"
check run-ssh-failed-vm-stays [ -d "$F/vms/f1" ]

FAKE_SSH=waiting BANGER_SSH_TIMEOUT=0 srun vm run --rm --name w1 -- true
check run-timeout-exit [ "$RC" = 1 ]
check run-timeout-reason grep -q "^banger: ssh to w1 (192.0.2.9) was not ready after 0 s" <<<"$ERR"
check run-timeout-kept grep -qx 'kept w1 for inspection: banger vm logs w1; banger vm delete w1' <<<"$ERR"

FAKE_IP=- FAKE_SSH=- srun vm run --name n1 -- true
check run-no-address bash -c '[ "$1" = 1 ] && grep -q "has no network address" <<<"$2"' _ "$RC" "$ERR"

FAKE_STATE=failed FAKE_SSH=- FAKE_ERR="the VMM exited unexpectedly" srun vm run --name d1 -- true
check run-vm-failed bash -c '[ "$1" = 1 ] && grep -q "VM .d1. is failed: the VMM exited unexpectedly" <<<"$2"' _ "$RC" "$ERR"

BANGER_SSH_TIMEOUT=soon srun vm run --name t1 -- true
check run-bad-timeout bash -c '[ "$1" = 1 ] && grep -q "BANGER_SSH_TIMEOUT must be a whole number" <<<"$2"' _ "$RC" "$ERR"

# CMD through the guest agent (docs/agent.md): an exec with the arguments
# NUL-separated, its output and exit status passed through; --ssh, or an
# agent that failed
mkdir -p "$F/execs"
rm -f "$FAKE_SSH_LOG" "$FAKE_ARGV_LOG"
args=(printf '<%s>' "it's" 'a  b' '$HOME' '' 'x"y' '*')
FAKE_AGENT=ready FAKE_EXEC_OUT=out-text FAKE_EXEC_ERR=err-text FAKE_EXEC_STATUS=6 srun vm run --rm --name a1 -- "${args[@]}"
check run-agent-status-output bash -c '[ "$1" = 6 ] && [ "$2" = out-text ] && grep -qx err-text <<<"$3"' _ "$RC" "$OUT" "$ERR"
check run-agent-argv bash -c 'mapfile -d "" a <"$1"; shift; [ "${#a[@]}" = $# ] && for i in "${!a[@]}"; do [ "${a[$i]}" = "${@:$((i + 1)):1}" ] || exit 1; done' _ "$FAKE_ARGV_LOG" "${args[@]}"
check run-agent-no-ssh [ ! -e "$FAKE_SSH_LOG" ]
check run-agent-exec-removed [ -z "$(ls "$F/execs")" ]
check run-agent-rm [ ! -e "$F/vms/a1" ]
FAKE_AGENT=ready FAKE_SSH_RC=4 srun vm run --rm --ssh --name a2 -- true
check run-agent-ssh-flag bash -c '[ "$1" = 4 ] && [ -e "$2" ]' _ "$RC" "$FAKE_SSH_LOG"
FAKE_AGENT=ready FAKE_EXEC_STATUS=error FAKE_EXEC_RUN_ERR="the guest agent of a3 went away" srun vm run --name a3 -- true
check run-agent-no-status bash -c '[ "$1" = 255 ] && grep -q "^banger: the command in a3 did not finish: the guest agent of a3 went away" <<<"$2"' _ "$RC" "$ERR"
FAKE_AGENT=failed FAKE_ERR="the agent did not answer within 60 s" srun vm run --name a4 -- true
check run-agent-failed bash -c '[ "$1" = 1 ] && grep -q "^banger: the guest agent of a4 failed: the agent did not answer within 60 s" <<<"$2"' _ "$RC" "$ERR"

# names: always DNS labels; all words taken -> a numbered one
words=$(sed -n "/^WORDS='/,/'$/p" "$SHIM" | tr -d "'" | sed 's/^WORDS=//')
bad_names=
for _ in 1 2 3 4 5 6 7 8; do
	srun vm run -- true
	n=$(tail -n 1 "$FAKE_MKDIR_LOG")
	dns_label "$n" && [[ $n == sandbox-* ]] || bad_names="$bad_names $n"
done
check run-names-valid [ -z "$bad_names" ]
for w in $words; do dns_label "sandbox-$w" || bad_names="$bad_names sandbox-$w"; done
check run-words-valid [ -z "$bad_names" ]
mkdir -p "$TMP/full/vms" && cp "$F/ctl" "$F/defaults" "$TMP/full/" && cp -R "$F/images" "$F/kernels" "$TMP/full/"
for w in $words; do /bin/mkdir "$TMP/full/vms/sandbox-$w"; done
BANGER_FS=$TMP/full srun vm run -- true
n=$(tail -n 1 "$FAKE_MKDIR_LOG")
check run-name-collisions bash -c '[ "$1" = 0 ] && [[ $2 =~ ^sandbox-[a-z]+-2$ ]]' _ "$RC" "$n"

# bad command lines: exit 2, nothing created
: >"$FAKE_MKDIR_LOG"
srun vm run --vcpu
expect run-missing-value 2
srun vm run --bogus
expect run-unknown-option 2
srun vm run stray
check run-stray-arg bash -c '[ "$1" = 2 ] && grep -q "the command goes after --" <<<"$2"' _ "$RC" "$ERR"
srun vm run --name -x -- true
check run-bad-name bash -c '[ "$1" = 2 ] && grep -q "bad VM name .-x." <<<"$2"' _ "$RC" "$ERR"
srun vm run --name alpha -- true
check run-taken-name bash -c '[ "$1" = 1 ] && grep -q "a VM named .alpha. already exists" <<<"$2"' _ "$RC" "$ERR"
check run-bad-created-nothing [ ! -s "$FAKE_MKDIR_LOG" ]

# vm ssh
FAKE_SSH_RC=5 srun vm ssh q1 -- ls -l "/a b"
expect vm-ssh-exit-status 5 ""
check vm-ssh-args [ "$(ssh_args)" = "$(printf '%s\n' -F "$FAKE_CFG" q1.vm -- "'ls' '-l' '/a b'")" ]
srun vm ssh q1 uname
check vm-ssh-without-dashes [ "$(ssh_last)" = "'uname'" ]
srun vm ssh q1
check vm-ssh-interactive [ "$(ssh_args | tail -n 1)" = -t ]
srun vm ssh beta -- true
check vm-ssh-stopped bash -c '[ "$1" = 1 ] && grep -q "VM .beta. is stopped" <<<"$2"' _ "$RC" "$ERR"
srun vm ssh f1 -- true
check vm-ssh-failed bash -c '[ "$1" = 1 ] && grep -q "^banger: possible MITM" <<<"$2"' _ "$RC" "$ERR"
srun vm ssh
expect vm-ssh-no-name 2
srun vm ssh nosuch
expect vm-ssh-missing 1

# ---- vm prune: stopped, failed and created go; the rest stays ----------------------
P=$TMP/prune
mkdir -p "$P/vms"
cp "$F/ctl" "$F/defaults" "$P/"
cp -R "$F/images" "$F/kernels" "$P/"
for v in run1:running stop1:stopped fail1:failed new1:created start1:starting halt1:stopping; do
	F=$P fake_vm "${v%%:*}" "${v#*:}" - 1024
done
BANGER_FS=$P run vm prune --dry-run
expect prune-dry-run 0 "$(printf 'fail1\nnew1\nstop1')"
check prune-dry-run-kept [ -d "$P/vms/stop1" ]
fx golden_value "$P/vms/fail1/err" "vm 'fail1': something is holding it"
BANGER_FS=$P run vm prune # rmdir of a non-empty directory fails: like a refusal
check prune-refused bash -c '[ "$1" = 1 ] && grep -qx "banger: vm .fail1.: something is holding it" <<<"$2"' _ "$RC" "$ERR"
BANGER_FS=$P srun vm prune
expect prune 0 "$(printf 'fail1\nnew1\nstop1')"
check prune-left [ "$(find "$P/vms" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' ')" = "halt1 run1 start1 " ]
BANGER_FS=$P run vm prune extra
expect prune-extra-arg 2

# ---- image build: what images/NAME says (state buildable, status build and kernel)
# debian-bookworm is buildable in the golden tree: "build images/build.sh
# --golden", "kernel debian-cloud-amd64" (registered here)
rm -f "$FAKE_BUILD_LOG"
run image build debian-bookworm
expect image-build 0 "registered $TMP/cache/images/debian-bookworm"
check image-build-args [ "$(tr '\n' ' ' <"$FAKE_BUILD_LOG")" = "--golden $TMP/cache " ]
check image-build-imports [ "$(cat "$F/ctl")" = "import $TMP/cache/images/debian-bookworm" ]
check image-build-recipe-output grep -q 'build.sh: done' <<<"$ERR"
# its kernel not registered: imported first
mv "$F/kernels/debian-cloud-amd64" "$TMP/kernel.saved"
run image build debian-bookworm
expect image-build-kernel-first 0 "$(printf 'registered %s\nregistered %s' "$TMP/cache/kernels/debian-cloud-amd64" "$TMP/cache/images/debian-bookworm")"
mv "$TMP/kernel.saved" "$F/kernels/debian-cloud-amd64"
# a recipe without flags: the status's build line as the daemon writes it
# for debian-bookworm-mini (the golden buildable image, renamed)
mv "$F/images/debian-bookworm-mini" "$TMP/mini.saved"
cp -R "$GOLDEN_TREE/images/debian-bookworm" "$F/images/debian-bookworm-mini"
fx golden_kv "$F/images/debian-bookworm-mini/status" name debian-bookworm-mini
fx golden_kv "$F/images/debian-bookworm-mini/status" build images/build.sh
run image build debian-bookworm-mini
expect image-build-mini 0 "registered $TMP/cache/images/debian-bookworm-mini"
check image-build-mini-args [ "$(cat "$FAKE_BUILD_LOG")" = "$TMP/cache" ]
rm -rf "$F/images/debian-bookworm-mini"
mv "$TMP/mini.saved" "$F/images/debian-bookworm-mini"
# a registered image is not built again
rm -f "$FAKE_BUILD_LOG"
run image build debian-bookworm-mini
expect image-build-registered 0 "image debian-bookworm-mini is already registered (rmdir images/debian-bookworm-mini first to replace it)"
check image-build-registered-no-recipe [ ! -e "$FAKE_BUILD_LOG" ]
# no NAME: the image defaults names (with none registered: the recipe's)
fx golden_kv "$F/defaults" image "debian-bookworm recipe"
run image build
expect image-build-default 0 "registered $TMP/cache/images/debian-bookworm"
check image-build-default-args [ "$(tr '\n' ' ' <"$FAKE_BUILD_LOG")" = "--golden $TMP/cache " ]
fx golden_kv "$F/defaults" image "debian-bookworm-mini builtin"
FAKE_BUILD_FAIL=1 run image build debian-bookworm
check image-build-fails bash -c '[ "$1" = 1 ] && grep -q "no mirror" <<<"$2" && grep -q "^banger: .*build.sh .* failed" <<<"$2"' _ "$RC" "$ERR"
rm -rf "$TMP/cache"
FAKE_BUILD_EMPTY=1 run image build debian-bookworm
check image-build-no-bundle bash -c '[ "$1" = 1 ] && grep -q "debian-bookworm/manifest.json is missing after the build" <<<"$2"' _ "$RC" "$ERR"
run image build nosuch
check image-build-unknown bash -c '[ "$1" = 1 ] && grep -q "no image named .nosuch. is registered or known" <<<"$2"' _ "$RC" "$ERR"
run image build a b
expect image-build-two-args 2
BANGER_IMAGES_DIR='' run image build --golden
expect image-build-option 2

# vm run with an image the daemon says is buildable: built first, then set
srun vm run --name b1 --image debian-bookworm -- true
check run-builds-image bash -c '[ "$1" = 0 ] && grep -q "^building debian-bookworm (first use, several minutes)" <<<"$2"' _ "$RC" "$ERR"
check run-built-image-set [ "$(cat "$F/vms/b1/image")" = debian-bookworm ]
FAKE_BUILD_FAIL=1 srun vm run --name b2 --image debian-bookworm -- true
check run-build-fails bash -c '[ "$1" = 1 ] && grep -q "building debian-bookworm failed" <<<"$2"' _ "$RC" "$ERR"
check run-build-fails-removed [ ! -e "$F/vms/b2" ]
# the default image, buildable: built, and the VM keeps its default
fx golden_kv "$F/defaults" image "debian-bookworm recipe"
srun vm run --name b3 -- true
check run-builds-default-image bash -c '[ "$1" = 0 ] && grep -q "^building debian-bookworm (first use" <<<"$2"' _ "$RC" "$ERR"
check run-default-image-not-set [ "$(cat "$F/vms/b3/image")" = "$(cat "$GOLDEN_TREE/vms/running/image")" ]
fx golden_kv "$F/defaults" image "debian-bookworm-mini builtin"

# vm run with an image a catalog offers: pulled (with its kernel), then set
avail image pimg pk
avail kernel pk
fake_pull image pimg ready
fake_pull kernel pk ready
srun vm run --name p1 --image pimg -- true
wait
check run-pulls-image bash -c '[ "$1" = 0 ] && grep -q "^pulling image pimg" <<<"$2" && grep -q "^pulling kernel pk" <<<"$2"' _ "$RC" "$ERR"
check run-pulled-image-set [ "$(cat "$F/vms/p1/image")" = pimg ]
# a container image: the command goes through its init (images/NAME/status "run")
fx golden_entry "$F" image oimg oci
FAKE_IMAGE=oimg srun vm run --name o1 --image oimg -- cat /etc/os-release
check run-oci-through-init [ "$RC $(ssh_last)" = "0 /.banger/init run -- 'cat' '/etc/os-release'" ]
srun vm run --name u1 --image nosuch -- true
check run-unknown-image bash -c '[ "$1" = 1 ] && grep -q "no image named .nosuch. is registered or offered: .*banger image pull-oci REF --name nosuch" <<<"$2"' _ "$RC" "$ERR"
check run-unknown-image-no-vm [ ! -e "$F/vms/u1" ]
rm -rf "$F/images/pimg" "$F/images/oimg" "$F/kernels/pk"
unset BANGER_IMAGES_DIR BANGER_IMAGE_CACHE
for v in "$F"/vms/*; do # the VMs made above go again
	grep -qx "${v##*/}" <<<"$vms_before" || rm -rf "$v"
done

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

# the bash completion completes commands and VM names from the tree (it asks
# the banger on PATH: this shim, under $SH; tests/integration/completion.sh
# has the rest)
mkdir -p "$TMP/bin"
printf '#!/bin/sh\nexec %s %s "$@"\n' "$SH" "$SHIM" >"$TMP/bin/banger"
chmod +x "$TMP/bin/banger"
complete_words() { PATH=$TMP/bin:$PATH bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _banger; echo "${COMPREPLY[*]}"' _ "$TMP/completion.bash" "$@"; }
check completion-bash-vm-names [ "$(complete_words banger vm start "")" = "alpha beta broken newvm plain --help" ]
check completion-bash-commands [ "$(complete_words banger v)" = "vm" ]
check completion-bash-vm-sub [ "$(complete_words banger vm st)" = "start stop" ]
check completion-bash-image [ "$(complete_words banger vm create --image "")" = "debian-bookworm-mini debian-bookworm" ]

# ---- lint -----------------------------------------------------------------------
if command -v shellcheck >/dev/null 2>&1; then
	check shellcheck-shim shellcheck -s sh "$SHIM"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
