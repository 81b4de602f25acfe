# shellcheck shell=sh
# Helpers shared by the image recipes. Sourced, not executed.

PROG=${0##*/}

log() {
	printf '%s: %s\n' "$PROG" "$*" >&2
}

die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

need() {
	for _n in "$@"; do
		command -v "$_n" >/dev/null 2>&1 || die "missing tool: $_n"
	done
}

sha256_of() {
	sha256sum "$1" | cut -d' ' -f1
}

now_rfc3339() {
	date -u +%Y-%m-%dT%H:%M:%SZ
}

# The host's apt sources file: used as mmdebstrap's MIRROR argument and as
# the place apt-get resolves packages from, so no host name lives in the repo.
host_sources() {
	for _s in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
		if [ -s "$_s" ]; then
			printf '%s\n' "$_s"
			return 0
		fi
	done
	die "no apt sources file (/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list)"
}

# Replace OUTDIR by the finished temporary directory in one rename. An
# existing OUTDIR is moved aside first and removed after the swap.
publish_dir() {
	_tmp=$1
	_out=$2
	sync -f "$_tmp" 2>/dev/null || sync
	if [ -e "$_out" ]; then
		_old="$_out.old.$$"
		mv -T "$_out" "$_old"
		mv -T "$_tmp" "$_out"
		rm -rf "$_old"
	else
		mv -T "$_tmp" "$_out"
	fi
}

# The guest agent: BANGER_AGENT names the static binary (make builds it as
# build/guest/banger-agent); its sha256 goes into the manifest.
agent_bin() {
	_a=${BANGER_AGENT:-}
	[ -n "$_a" ] && [ -f "$_a" ] ||
		die "BANGER_AGENT must name the static guest agent (run make: build/guest/banger-agent)"
	file -b "$_a" 2>/dev/null | grep -q 'statically linked' ||
		die "$_a is not a statically linked executable"
	printf '%s\n' "$_a"
}

# install_agent TREE RECIPEDIR: /usr/local/sbin/banger-agent and its unit
# (RECIPEDIR/banger-agent.service), enabled.
install_agent() {
	install -D -m 0755 "$(agent_bin)" "$1/usr/local/sbin/banger-agent"
	install -D -m 0644 "$2/banger-agent.service" "$1/etc/systemd/system/banger-agent.service"
	systemctl --root="$1" --quiet enable banger-agent.service
}
