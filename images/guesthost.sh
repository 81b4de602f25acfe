#!/bin/sh
# Build the "guesthost" image into OUTDIR: a Debian bookworm guest that
# serves as a test host for what the build machines lack (systemd as
# PID 1, device-mapper, systemd-resolved).  tests/guesthost/run.sh boots
# it and installs a fresh build of banger into it; see docs/guesthost.md.
#
#   images/guesthost.sh OUTDIR KERNELDIR
#
# KERNELDIR is a kernel bundle built by kernel.sh: the guest boots that
# kernel, and its modules.tar.gz goes into /lib/modules (dm-snapshot, loop,
# tun, bridge, nf_tables and fuse are modules of Debian's cloud kernel).
# The image has banger's runtime libraries, systemd-resolved, dmsetup,
# QEMU and Python (for the Firecracker double), and no banger: a run
# copies the build in (tests/guesthost/).  Two users: root and "bgowner"
# (uid 1000), the owner the services are installed for.  At boot,
# guesthost-payload.service mounts the second disk (/dev/vdb, label
# "payload") read-only at /mnt/payload and copies authorized_keys from it
# to root's and bgowner's ~/.ssh, so the run's key is never baked in.
# Output (built in OUTDIR.tmp.PID, renamed into place when complete):
#   rootfs.ext4        sparse ext4, label "rootfs"
#   ssh_host_ed25519_key.pub   the image's host key (the runs pin it)
#   manifest.json
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"

NAME=guesthost
SUITE=bookworm
# The base system, the libraries bangerd and bangerd-root link (what
# dpkg-shlibdeps finds for them, see debian/control), and what the checks
# run: dmsetup, QEMU + Python (the Firecracker double), e2fsprogs.
PACKAGES="systemd-sysv,udev,dbus,kmod,iproute2,openssh-server,openssh-client,ca-certificates,
systemd-resolved,libnss-resolve,fuse3,libfuse3-3,libsqlite3-0,libjansson4,libext2fs2,
libcom-err2,libssl3,libssh-4,libcurl4,libnl-3-200,libnl-route-3-200,libnftables1,nftables,
libsystemd0,libmount1,libarchive13,libisal2,libzstd1,libdevmapper1.02.1,dmsetup,
qemu-system-x86,python3-minimal,python3,e2fsprogs,util-linux,procps,psmisc,jq,less"
PACKAGES=$(printf '%s' "$PACKAGES" | tr -d '\n')
SIZE=${BANGER_GUESTHOST_SIZE:-6G}
OWNER=bgowner

[ $# -eq 2 ] || die "usage: $PROG OUTDIR KERNELDIR"
out=$1
kdir=$2
need mmdebstrap mkfs.ext4 systemctl jq sha256sum truncate tar
sources=$(host_sources)
[ -f "$kdir/modules.tar.gz" ] || die "$kdir/modules.tar.gz missing (build the kernel bundle first)"

tmp="$out.tmp.$$"
tree="$tmp/.tree"
trap 'rm -rf --one-file-system "$tmp"' EXIT
trap 'exit 130' INT TERM
rm -rf "$tmp"
mkdir -p "$tmp"

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

log "customizing the tree"
printf '%s\n' "$NAME" >"$tree/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
	"$NAME" >"$tree/etc/hosts"
# systemd-resolved's package points /etc/resolv.conf at its stub: keep it.
: >"$tree/etc/machine-id"
rm -f "$tree/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$tree/var/lib/dbus/machine-id"
cat >"$tree/etc/fstab" <<'EOF'
# <device> <mount point> <type> <options> <dump> <pass>
/dev/vda / ext4 rw,errors=remount-ro 0 1
EOF

# The owner of the services, with a home (ProtectHome=read-only is checked
# against it) and a login shell (the tree is used from an ssh login).
chroot "$tree" useradd --create-home --uid 1000 --user-group --shell /bin/bash "$OWNER"
chmod 0700 "$tree/root" "$tree/home/$OWNER"

# sshd: keys only.  One host key, made here and pinned by the runs.
cat >"$tree/etc/ssh/sshd_config.d/guesthost.conf" <<'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
HostKey /etc/ssh/ssh_host_ed25519_key
MaxSessions 64
MaxStartups 64
EOF
rm -f "$tree"/etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N '' -C "$NAME" -f "$tree/etc/ssh/ssh_host_ed25519_key"
cp "$tree/etc/ssh/ssh_host_ed25519_key.pub" "$tmp/ssh_host_ed25519_key.pub"

# The run's key and nothing else: copied from the payload disk at boot.
install -D -m 0755 /dev/stdin "$tree/usr/local/sbin/guesthost-payload" <<EOF
#!/bin/sh
# guesthost-payload: mount the run's payload disk and install its key.
set -eu
mkdir -p /mnt/payload
mount -o ro /dev/vdb /mnt/payload
for h in /root /home/$OWNER; do
	u=\$(stat -c %U "\$h")
	install -d -m 0700 -o "\$u" -g "\$u" "\$h/.ssh"
	install -m 0600 -o "\$u" -g "\$u" /mnt/payload/authorized_keys "\$h/.ssh/authorized_keys"
done
EOF
cat >"$tree/etc/systemd/system/guesthost-payload.service" <<'EOF'
[Unit]
Description=guesthost: the run's payload disk and ssh key
After=local-fs.target dev-vdb.device
Wants=dev-vdb.device
Before=ssh.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/guesthost-payload

[Install]
WantedBy=multi-user.target
EOF
systemctl --root="$tree" --quiet enable guesthost-payload.service

systemctl --root="$tree" --quiet mask \
	systemd-firstboot.service getty@tty1.service serial-getty@ttyS0.service \
	apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
	e2scrub_all.timer e2scrub_reap.service fstrim.timer man-db.timer \
	systemd-timesyncd.service
systemctl --root="$tree" --quiet enable systemd-networkd.service \
	systemd-network-generator.service systemd-resolved.service

# Modules: the bundle's, and the ones banger uses loaded at boot.
log "adding modules from $kdir"
tar -C "$tree" -xzf "$kdir/modules.tar.gz" --no-same-owner
cat >"$tree/etc/modules-load.d/guesthost.conf" <<'EOF'
# banger's host side: the tree, taps, the bridge, NAT, COW clones
fuse
tun
bridge
nf_tables
loop
dm_mod
dm_snapshot
EOF
cat >"$tree/etc/modprobe.d/guesthost.conf" <<'EOF'
blacklist kvm
blacklist kvm_amd
blacklist kvm_intel
blacklist powernow_k8
blacklist acpi_cpufreq
EOF

rm -rf "$tree/var/cache/apt/"*.bin "$tree/var/log/"*.log "$tree/tmp/"* 2>/dev/null || true

log "mkfs.ext4 -d ($SIZE, sparse)"
truncate -s "$SIZE" "$tmp/rootfs.ext4"
mkfs.ext4 -q -F -L rootfs -d "$tree" "$tmp/rootfs.ext4"
rm -rf "$tree"

jq -n --arg name "$NAME" --arg pkgs "$PACKAGES" --arg at "$(now_rfc3339)" \
	--arg kernel "$(jq -r .kernel_version "$kdir/manifest.json")" \
	--arg sha "$(sha256_of "$tmp/rootfs.ext4")" \
	'{name: $name, kind: "test-host", distro: "debian-bookworm", arch: "x86_64",
	  sha256: $sha, kernel_version: $kernel, packages: ($pkgs | split(",")),
	  built_at: $at}' >"$tmp/manifest.json"

publish_dir "$tmp" "$out"
trap - EXIT
log "guest host image in $out"
