# shellcheck shell=sh
# tests/golden/lib.sh: the golden control tree (tests/golden/README.md).
# POSIX sh, sourced by tests/golden/structure.sh, the drift check and the
# shim's unit tests (tests/integration/shim_unit.sh and the stub daemon
# commands they write, which run under dash).
#
# The caller sets GOLDEN_TREE to the captured tree (tests/golden/tree).

# The placeholder a stream file is captured as (console, console.log, log, agent;
# wait, events and clone, whose reads wait or make a VM; ready while the
# guest boots).
# shellcheck disable=SC2034 # used by the scripts that source this file
GOLDEN_STREAM='@STREAM@'

# golden_kind PATH: how a file of the tree is read (docs/tree.md):
#   prose   README: free text
#   doctor  "ok|warn|fail NAME DETAIL" lines
#   json    a bundle's manifest (empty while the image is only buildable)
#   stream  console, console.log, log, agent, wait, events, clone: captured as
#           $GOLDEN_STREAM
#   verbs   ctl: one verb (with its usage) per line
#   kv      "key value" lines (progress too: "bytes ...", "phase P")
#   value   one value (maybe empty, maybe a sentence: err)
golden_kind() {
	case ${1##*/} in
	README) echo prose ;;
	doctor) echo doctor ;;
	manifest) echo json ;;
	console | console.log | log | agent | wait | events | clone) echo stream ;;
	ctl) echo verbs ;;
	defaults | status | config | progress) echo kv ;;
	*) echo value ;;
	esac
}

# golden_refuse MESSAGE: a fixture edit the daemon's format does not allow.
golden_refuse() {
	printf 'golden fixture: %s\n' "$1" >&2
	return 1
}

# golden_kv FILE KEY VALUE: set the value of KEY (its first line) in the
# "key value" file FILE.  Refused if FILE has no such key: a fixture
# only ever holds the keys a real daemon wrote.
golden_kv() {
	[ "$(golden_kind "$1")" = kv ] || golden_refuse "$1 is not a key-value file" || return 1
	[ -f "$1" ] || golden_refuse "$1 does not exist in the golden tree" || return 1
	case $3 in
	'' | *'
'*) golden_refuse "$1: the value of $2 must be one non-empty line (the daemon writes - for none)" || return 1 ;;
	esac
	awk -v k="$2" '$1 == k { f = 1 } END { exit !f }' "$1" ||
		golden_refuse "$1 has no key '$2' (the daemon's file has: $(awk '{ printf "%s ", $1 }' "$1"))" ||
		return 1
	awk -v k="$2" -v v="$3" '!done && $1 == k { print k " " v; done = 1; next } { print }' \
		"$1" >"$1.golden-tmp" && mv -f "$1.golden-tmp" "$1"
}

# golden_value FILE VALUE: set a one-value file (empty VALUE: an empty
# file, as the daemon serves err and hostkey when there is nothing).
golden_value() {
	[ "$(golden_kind "$1")" = value ] || golden_refuse "$1 is not a one-value file" || return 1
	[ -f "$1" ] || golden_refuse "$1 does not exist in the golden tree" || return 1
	case $2 in *'
'*) golden_refuse "$1: a one-value file holds one line" || return 1 ;; esac
	if [ -n "$2" ]; then printf '%s\n' "$2" >"$1"; else : >"$1"; fi
}

# golden_stream FILE TEXT: the content of a stream file (console, log, ...).
golden_stream() {
	[ "$(golden_kind "$1")" = stream ] || golden_refuse "$1 is not a stream file" || return 1
	[ -f "$1" ] || golden_refuse "$1 does not exist in the golden tree" || return 1
	printf '%s' "$2" >"$1"
}

# golden_entry FS KIND NAME STATE: FS/KINDs/NAME, a copy of the golden
# entry in STATE (tests/golden/capture.sh: images/debian-bookworm-mini is
# ready, images/debian-bookworm buildable, images/available and
# kernels/available available, images/failed failed, images/oci a ready
# OCI image; pulling, which a capture cannot hold still: the failed one,
# whose progress it has) with its name and state set.
golden_entry() {
	case $2/$4 in
	image/ready) _ge_src=debian-bookworm-mini ;;
	kernel/ready) _ge_src=debian-cloud-amd64 ;;
	image/oci) _ge_src=oci ;;
	image/buildable) _ge_src=debian-bookworm ;;
	*/available) _ge_src=available ;;
	image/failed | image/pulling) _ge_src=failed ;;
	*) golden_refuse "no golden $2 in state '$4'" || return 1 ;;
	esac
	_ge_st=$4
	[ "$_ge_st" != oci ] || _ge_st=ready
	[ -d "$GOLDEN_TREE/$2s/$_ge_src" ] || golden_refuse "no golden $2s/$_ge_src" || return 1
	[ ! -e "$1/$2s/$3" ] || golden_refuse "$1/$2s/$3 exists already" || return 1
	cp -R "$GOLDEN_TREE/$2s/$_ge_src" "$1/$2s/$3" &&
		golden_kv "$1/$2s/$3/status" name "$3" &&
		golden_kv "$1/$2s/$3/status" state "$_ge_st" &&
		golden_value "$1/$2s/$3/state" "$_ge_st"
}

# golden_vm FS NAME STATE: FS/vms/NAME, a copy of the golden VM in STATE
# (starting and stopping, which a capture cannot hold still: the running
# one) with its name and state set.  The golden VMs are named after their
# state (tests/golden/capture.sh).
golden_vm() {
	case $3 in starting | stopping) _gv_src=running ;; *) _gv_src=$3 ;; esac
	[ -d "$GOLDEN_TREE/vms/$_gv_src" ] || golden_refuse "no golden VM in state '$3'" || return 1
	[ ! -e "$1/vms/$2" ] || golden_refuse "$1/vms/$2 exists already" || return 1
	cp -R "$GOLDEN_TREE/vms/$_gv_src" "$1/vms/$2" &&
		golden_kv "$1/vms/$2/status" name "$2" &&
		golden_kv "$1/vms/$2/status" state "$3" &&
		golden_value "$1/vms/$2/state" "$3" || return 1
	# the ssh command names the VM (NAME.vm): empty before a first start
	_gv_ssh=$(cat "$1/vms/$2/ssh")
	case $_gv_ssh in
	'') ;;
	*" $_gv_src.vm") golden_value "$1/vms/$2/ssh" "${_gv_ssh% "$_gv_src".vm} $2.vm" ;;
	*) golden_refuse "the golden vms/$_gv_src/ssh does not end in '$_gv_src.vm': $_gv_ssh" ;;
	esac
}
