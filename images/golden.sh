#!/bin/sh
# Build the golden root image "debian-bookworm" (the dev sandbox) into OUTDIR.
#
#   images/golden.sh OUTDIR [KERNELDIR]
#
# Same recipe as test-image.sh (minbase, host's apt sources, no host keys,
# /root on the work disk, ip= via networkd) plus a developer tool set
# (git, build-essential, docker, python3, ...), docker by socket activation
# only, and /etc/resolv.conf written at boot from banger.dns=IP[,IP] on the
# kernel command line (banger-resolv.service).
# KERNELDIR is a kernel bundle built by kernel.sh: its modules.tar.gz is
# unpacked into /lib/modules (docker needs overlay, bridge, nf_tables...).
# Output (built in OUTDIR.tmp.PID, renamed into place when complete):
#   rootfs.ext4    sparse ext4, label "rootfs", used + ~1 GiB free
#   manifest.json
# Environment: BANGER_GOLDEN_FREE_MB free space to leave (default 1024).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"

NAME=debian-bookworm
KERNEL=debian-cloud-amd64
SUITE=bookworm
# man-db is left out (slow triggers; man pages are excluded anyway) and so
# is locales (C.UTF-8 is built into libc-bin). apparmor (a Recommends of
# docker.io) is needed: the kernel has AppArmor on, and without
# apparmor_parser dockerd cannot load its docker-default profile and every
# `docker run` fails.
PACKAGES="systemd-sysv,udev,dbus,kmod,iproute2,openssh-server,ca-certificates,less,\
git,curl,jq,build-essential,docker.io,apparmor,iputils-ping,sudo,vim-tiny,procps,\
psmisc,file,unzip,xz-utils,rsync,python3,bash-completion,htop,netcat-openbsd,\
bind9-dnsutils,tmux"
FREE_MB=${BANGER_GOLDEN_FREE_MB:-1024}
HOSTNAME_=banger

case $# in 1 | 2) ;; *) die "usage: $PROG OUTDIR [KERNELDIR]" ;; esac
out=$1
kdir=${2:-}
need file mmdebstrap mkfs.ext4 dumpe2fs systemctl jq sha256sum truncate tar du npm
sources=$(host_sources)
agent=$(agent_bin)
case "$FREE_MB" in
	'' | *[!0-9]*) die "BANGER_GOLDEN_FREE_MB must be a number of MiB" ;;
esac

if [ -n "$kdir" ]; then
	[ -f "$kdir/modules.tar.gz" ] || die "$kdir/modules.tar.gz missing (build the kernel bundle first)"
else
	log "warning: no KERNELDIR: the image gets no /lib/modules (docker will not work)"
fi

tmp="$out.tmp.$$"
tree="$tmp/.tree"
trap 'rm -rf --one-file-system "$tmp"' EXIT
trap 'exit 130' INT TERM
rm -rf "$tmp"
mkdir -p "$tmp"

# 1. Bootstrap. Docs, man pages and translations are left out to keep the
# image small. Recommends are not installed (mmdebstrap's default).
log "mmdebstrap $SUITE minbase (+$PACKAGES) from $sources"
mmdebstrap --quiet --variant=minbase --mode=root --format=directory \
	--include="$PACKAGES" \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	"$SUITE" "$tree" "$sources" </dev/null

# 2. Customize.
log "customizing the tree"
printf '%s\n' "$HOSTNAME_" >"$tree/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
	"$HOSTNAME_" >"$tree/etc/hosts"
printf 'LANG=C.UTF-8\n' >"$tree/etc/default/locale"

# Empty machine-id: systemd generates one at each VM's first boot (and
# commits it, the root being rw). systemd-firstboot would prompt on the
# serial console: mask it.
: >"$tree/etc/machine-id"
rm -f "$tree/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$tree/var/lib/dbus/machine-id"

# /root is the work disk (vdb); banger writes /root/.ssh/authorized_keys
# into it. The image's own /root (dotfiles) is hidden once it is mounted.
cat >"$tree/etc/fstab" <<'EOF'
# <device> <mount point> <type> <options> <dump> <pass>
/dev/vda / ext4 rw,errors=remount-ro 0 1
/dev/vdb /root ext4 defaults,nofail 0 2
EOF
chmod 0700 "$tree/root"

# sshd: root by key only. The host keys are removed; each VM makes its own
# ed25519 key at first boot (only ed25519: RSA keygen is slow under TCG).
# Debian's sshd_config includes sshd_config.d/*.conf first: these win.
cat >"$tree/etc/ssh/sshd_config.d/banger.conf" <<'EOF'
# banger: key-only root login
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile /root/.ssh/authorized_keys
StrictModes yes
HostKey /etc/ssh/ssh_host_ed25519_key
EOF
rm -f "$tree"/etc/ssh/ssh_host_*
mkdir -p "$tree/etc/systemd/system/ssh.service.d"
# banger's key lives on the work disk (/root): start sshd after it is
# mounted (ordering only: a VM without a work disk still gets sshd).
cat >"$tree/etc/systemd/system/ssh.service.d/banger-root.conf" <<'EOF'
[Unit]
After=root.mount
EOF
cat >"$tree/etc/systemd/system/ssh.service.d/banger-hostkey.conf" <<'EOF'
# banger: host keys are generated per VM at first boot, not baked in.
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c 'test -s /etc/ssh/ssh_host_ed25519_key || /usr/bin/ssh-keygen -q -t ed25519 -N "" -C "" -f /etc/ssh/ssh_host_ed25519_key'
ExecStartPre=/usr/sbin/sshd -t
EOF

# DNS: /etc/resolv.conf is a regular file rewritten at each boot from
# banger.dns=IP[,IP] on the kernel command line (no systemd-resolved).
cat >"$tree/usr/local/sbin/banger-resolv" <<'EOF'
#!/bin/sh
# banger-resolv: write /etc/resolv.conf from banger.dns=IP[,IP...] on the
# kernel command line (run at boot by banger-resolv.service). Without
# banger.dns= the file gets no nameserver line. A symlinked resolv.conf
# (e.g. systemd-resolved installed by the user) is left alone.
set -eu
conf=/etc/resolv.conf
if [ -L "$conf" ]; then
	echo "banger-resolv: $conf is a symlink: left alone" >&2
	exit 0
fi
set -f
read -r cmdline </proc/cmdline || true
dns=
for arg in $cmdline; do
	case "$arg" in
		banger.dns=*) dns=${arg#banger.dns=} ;;
	esac
done
tmp=/etc/.resolv.conf.banger.$$
trap 'rm -f "$tmp"' EXIT
{
	echo "# managed by banger: written at boot by banger-resolv.service"
	echo "# from banger.dns=IP[,IP] on the kernel command line."
	n=0
	IFS=,
	for ip in $dns; do
		case "$ip" in
			'' | *[!0-9A-Fa-f.:]*)
				echo "banger-resolv: ignoring bad address '$ip'" >&2
				continue
				;;
		esac
		if [ "$n" -ge 3 ]; then
			echo "banger-resolv: more than 3 servers, ignoring '$ip'" >&2
			continue
		fi
		echo "nameserver $ip"
		n=$((n + 1))
	done
} >"$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$conf"
EOF
chmod 0755 "$tree/usr/local/sbin/banger-resolv"
cat >"$tree/etc/systemd/system/banger-resolv.service" <<'EOF'
[Unit]
Description=banger: /etc/resolv.conf from banger.dns= on the kernel command line
DefaultDependencies=no
After=local-fs.target
Before=sysinit.target network-pre.target nss-lookup.target shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/banger-resolv

[Install]
WantedBy=sysinit.target
EOF
cat >"$tree/etc/resolv.conf" <<'EOF'
# managed by banger: banger-resolv.service rewrites this file at each boot
# from banger.dns=IP[,IP] on the kernel command line. No banger.dns=, no
# resolver.
EOF

# Units: trim boot, keep serial-getty@ttyS0 (started by the getty generator
# from console=ttyS0); networkd + network-generator turn ip= into a network.
systemctl --root="$tree" --quiet mask \
	systemd-firstboot.service getty@tty1.service \
	apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
	e2scrub_all.timer e2scrub_reap.service fstrim.timer
systemctl --root="$tree" --quiet enable systemd-networkd.service \
	systemd-network-generator.service banger-resolv.service

# docker: socket activation only. The package enables docker.service and
# containerd.service at boot (seconds under TCG); the first use of
# /run/docker.sock starts dockerd, which pulls in containerd.
systemctl --root="$tree" --quiet disable docker.service containerd.service
systemctl --root="$tree" --quiet enable docker.socket
# The guest agent (docs/agent.md), started right after the local filesystems.
install_agent "$tree" "$here"
# apparmor.service loads /etc/apparmor.d at boot, before sysinit.target:
# ~3.5 s under TCG for profiles a sandbox does not need (lsb_release,
# nvidia_modprobe). dockerd loads its own docker-default profile when it
# starts, so containers stay confined without it.
systemctl --root="$tree" --quiet disable apparmor.service
# dockerd wants network-online.target: with networkd's default (all links
# configured) a VM without ip= would wait 2 minutes. Any routable link is
# enough here, and never more than 20 s.
mkdir -p "$tree/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat >"$tree/etc/systemd/system/systemd-networkd-wait-online.service.d/banger.conf" <<'EOF'
# banger: one link is enough; never block long.
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=20
EOF

# Kernel modules from the bundle, for udev after switch_root and for
# docker (overlay, bridge, veth, nf_tables...).
if [ -n "$kdir" ]; then
	log "adding modules from $kdir"
	tar -C "$tree" -xzf "$kdir/modules.tar.gz" --no-same-owner
fi
# udev would load these for `-cpu max` (nested KVM, AMD P-states): useless in
# a microVM and they cost boot time under TCG.
cat >"$tree/etc/modprobe.d/banger.conf" <<'EOF'
# banger: not useful in a microVM
blacklist kvm
blacklist kvm_amd
blacklist kvm_intel
blacklist powernow_k8
blacklist acpi_cpufreq
EOF

# mise (for `banger vm run DIR` with .mise.toml/.tool-versions): the npm
# package's binary, sha256-checked (images/mise.sh).
"$here/mise.sh" "$tree/usr/local/bin"

# Cached package lists and archives are already cleaned by mmdebstrap.
rm -rf "$tree/var/cache/apt/"*.bin "$tree/var/log/"*.log "$tree/tmp/"* 2>/dev/null || true

# 3. Filesystem image: what the tree uses, +10% for ext4 metadata (inode
# tables, journal), + FREE_MB, rounded up to 64 MiB.
used_mb=$(du -sxm "$tree" | cut -f1)
size_mb=$(((used_mb + used_mb / 10 + FREE_MB + 63) / 64 * 64))
log "mkfs.ext4 -d (tree ${used_mb} MiB, image ${size_mb} MiB, sparse)"
truncate -s "${size_mb}M" "$tmp/rootfs.ext4"
mkfs.ext4 -q -F -L rootfs -d "$tree" "$tmp/rootfs.ext4"
rm -rf "$tree"
free_mb=$(dumpe2fs -h "$tmp/rootfs.ext4" 2>/dev/null | awk -F: '
	/^Free blocks:/ { f = $2 } /^Block size:/ { b = $2 }
	END { printf "%d\n", f * b / 1048576 }')
log "free space in the image: $free_mb MiB"

size=$(stat -c %s "$tmp/rootfs.ext4")
used=$(du -B1 "$tmp/rootfs.ext4" | cut -f1)
jq -n \
	--arg name "$NAME" \
	--arg sha "$(sha256_of "$tmp/rootfs.ext4")" \
	--argjson size "$size" \
	--argjson used "$used" \
	--arg kernel "$KERNEL" \
	--arg pkgs "$PACKAGES" \
	--arg at "$(now_rfc3339)" \
	--arg agent "$(sha256_of "$agent")" \
	'{name: $name, kind: "image", distro: "debian-bookworm", arch: "x86_64",
	  sha256: $sha, size: $size, disk_usage: $used, kernel: $kernel,
	  source: "mmdebstrap bookworm minbase", packages: ($pkgs | split(",")),
	  built_at: $at, agent_sha256: $agent}' >"$tmp/manifest.json"

publish_dir "$tmp" "$out"
trap - EXIT
log "image $NAME in $out ($size bytes, $used on disk)"
