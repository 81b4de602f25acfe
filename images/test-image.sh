#!/bin/sh
# Build the root image "debian-bookworm-mini" into OUTDIR.
#
#   images/test-image.sh OUTDIR [KERNELDIR]
#
# KERNELDIR is a kernel bundle built by kernel.sh: its modules.tar.gz is
# unpacked into the image's /lib/modules so udev can load what the guest
# needs after switch_root. Without it the guest only has the modules the
# initramfs loaded (a warning says so).
# Output (built in OUTDIR.tmp.PID, renamed into place when complete):
#   rootfs.ext4    sparse ext4, label "rootfs", ~1.5 GiB apparent size
#   manifest.json
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"

NAME=debian-bookworm-mini
KERNEL=debian-cloud-amd64
SUITE=bookworm
PACKAGES="systemd-sysv,udev,dbus,kmod,iproute2,openssh-server,ca-certificates,less"
SIZE=${BANGER_IMAGE_SIZE:-1536M}
HOSTNAME_=banger

case $# in 1 | 2) ;; *) die "usage: $PROG OUTDIR [KERNELDIR]" ;; esac
out=$1
kdir=${2:-}
need file mmdebstrap mkfs.ext4 systemctl jq sha256sum truncate tar
sources=$(host_sources)
agent=$(agent_bin)

if [ -n "$kdir" ]; then
	[ -f "$kdir/modules.tar.gz" ] || die "$kdir/modules.tar.gz missing (build the kernel bundle first)"
else
	log "warning: no KERNELDIR: the image gets no /lib/modules (only initramfs modules will be loaded)"
fi

tmp="$out.tmp.$$"
tree="$tmp/.tree"
trap 'rm -rf --one-file-system "$tmp"' EXIT
trap 'exit 130' INT TERM
rm -rf "$tmp"
mkdir -p "$tmp"

# 1. Bootstrap. Docs, man pages and translations are left out to keep the
# image small.
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
# mmdebstrap copied the host's resolv.conf: replace it. banger's network
# setup writes the real one; until then the guest has no resolver.
printf '# managed by banger\n' >"$tree/etc/resolv.conf"

# Empty machine-id: systemd generates one at each VM's first boot (and
# commits it, the root being rw). systemd-firstboot would prompt on the
# serial console: mask it.
: >"$tree/etc/machine-id"
rm -f "$tree/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$tree/var/lib/dbus/machine-id"

cat >"$tree/etc/fstab" <<'EOF'
# <device> <mount point> <type> <options> <dump> <pass>
/dev/vda / ext4 rw,errors=remount-ro 0 1
/dev/vdb /root ext4 defaults,nofail 0 2
EOF
chmod 0700 "$tree/root"

# sshd: root by key only. The host keys are removed; each VM makes its own
# ed25519 key at first boot (only ed25519: RSA keygen is slow under TCG).
cat >"$tree/etc/ssh/sshd_config.d/banger.conf" <<'EOF'
# banger: key-only root login
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
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

# Units: trim boot, keep serial-getty@ttyS0 (started by the getty generator
# from console=ttyS0); networkd + network-generator turn ip= into a network.
systemctl --root="$tree" --quiet mask \
	systemd-firstboot.service getty@tty1.service \
	apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
	e2scrub_all.timer e2scrub_reap.service fstrim.timer
systemctl --root="$tree" --quiet enable systemd-networkd.service systemd-network-generator.service
# The guest agent (docs/agent.md), started right after the local filesystems.
install_agent "$tree" "$here"

# Kernel modules from the bundle, for udev after switch_root (evdev and
# button for the ACPI power button are also in the initramfs).
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

# Cached package lists and archives are already cleaned by mmdebstrap.
rm -rf "$tree/var/cache/apt/"*.bin "$tree/var/log/"*.log "$tree/tmp/"* 2>/dev/null || true

# 3. Filesystem image.
log "mkfs.ext4 -d ($SIZE, sparse)"
truncate -s "$SIZE" "$tmp/rootfs.ext4"
mkfs.ext4 -q -F -L rootfs -d "$tree" "$tmp/rootfs.ext4"
rm -rf "$tree"

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
