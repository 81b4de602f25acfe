#!/bin/bash
# make install / make uninstall into a DESTDIR, and `banger system install`
# of that installed banger (BANGER_SYSROOT): every file where PREFIX, BINDIR,
# LIBEXECDIR, MANDIR, SYSTEMDUNITDIR and the completion dirs say; the
# installed shim knows its paths and version; system install copies nothing
# and only configures (install.env, the owner's drop-in); the shipped units
# with that configuration pass `systemd-analyze verify` (man pages found);
# make uninstall leaves no file.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
T=$(mktemp -d /tmp/banger-inst.XXXXXX)
trap 'rm -rf "$T"' EXIT
R=$T/root
V=$(sed -n 's/^VERSION *:= *//p' Makefile)
id banger-test >/dev/null 2>&1 ||
	useradd --system --no-create-home --shell /usr/sbin/nologin banger-test
MK=(make -s --no-print-directory BUILD="$BUILD" DESTDIR="$R")

# One version, the Makefile's, in every program as built.
check build-banger-version [ "$("$BUILD/bin/banger" --version)" = "banger $V" ]
check build-bangerd-version [ "$("$BUILD/bin/bangerd" --version)" = "bangerd $V" ]
check build-banger-catalog-version [ "$("$BUILD/bin/banger-catalog" --version)" = "banger-catalog $V" ]
check build-bangerd-root-version [ "$("$BUILD/bin/bangerd-root" --version)" = "bangerd-root $V" ]
check checkout-shim-version [ "$(shims/banger --version)" = "banger $V" ]
check man-version grep -q "banger $V" "$BUILD/man/banger.1"

# ---- the defaults: PREFIX=/usr/local ------------------------------------
if out=$("${MK[@]}" install 2>&1); then ok install-default; else fail "install-default: $out"; fi
want='usr/local/bin/banger
usr/local/bin/banger-catalog
usr/local/bin/bangerd
usr/local/lib/systemd/system/bangerd-root.service
usr/local/lib/systemd/system/bangerd.service
usr/local/libexec/banger/banger-agent
usr/local/libexec/banger/bangerd-root
usr/local/libexec/banger/inject/agent
usr/local/libexec/banger/inject/init
usr/local/libexec/banger/inject/ssh/ld-linux-x86-64.so.2
usr/local/libexec/banger/inject/ssh/ssh-keygen
usr/local/libexec/banger/inject/ssh/sshd
usr/local/share/banger/images/build.sh
usr/local/share/banger/images/common.sh
usr/local/share/banger/images/golden.sh
usr/local/share/banger/images/initramfs-init
usr/local/share/banger/images/kernel.sh
usr/local/share/banger/images/test-image.sh
usr/local/share/banger/units/bangerd-root-jailer.conf.in
usr/local/share/bash-completion/completions/banger
usr/local/share/fish/vendor_completions.d/banger.fish
usr/local/share/man/man1/banger-catalog.1
usr/local/share/man/man1/banger.1
usr/local/share/man/man5/banger.toml.5
usr/local/share/man/man7/banger-tree.7
usr/local/share/man/man8/bangerd-root.8
usr/local/share/man/man8/bangerd.8
usr/local/share/zsh/site-functions/_banger'
# inject/ssh/lib/ holds the host sshd's libraries (guest/mkinject.sh): as many as ldd says
got=$(cd "$R" && find . -type f | sed 's|^\./||' | grep -v '^usr/local/libexec/banger/inject/ssh/lib/' | sort)
[ "$got" = "$want" ] && ok install-default-files || fail "install-default-files: $(diff <(echo "$want") <(echo "$got"))"
check install-default-inject-libs bash -c "ls '$R/usr/local/libexec/banger/inject/ssh/lib/' | grep -q '^libc\.so'"
check install-default-modes bash -c "[ -x '$R/usr/local/bin/banger' ] && [ -x '$R/usr/local/bin/bangerd' ] && [ -x '$R/usr/local/libexec/banger/bangerd-root' ] && [ ! -x '$R/usr/local/lib/systemd/system/bangerd.service' ]"
check uninstall-default "${MK[@]}" uninstall
left=$(find "$R" -type f)
[ -z "$left" ] && ok uninstall-default-no-file || fail "uninstall-default-no-file: $left"
left=$(cd "$R" && find . -path '*banger*')
[ -z "$left" ] && ok uninstall-default-no-banger-dir || fail "uninstall-default-no-banger-dir: $left"
rm -rf "$R"

# ---- every directory set -------------------------------------------------
DIRS=(PREFIX=/opt/b BINDIR=/opt/bin LIBEXECDIR=/opt/lx MANDIR=/opt/man SYSTEMDUNITDIR=/opt/units
	BASHCOMPDIR=/opt/bash ZSHCOMPDIR=/opt/zsh FISHCOMPDIR=/opt/fish)
check install-dirs "${MK[@]}" "${DIRS[@]}" install
for f in opt/bin/banger opt/bin/bangerd opt/lx/banger/bangerd-root opt/man/man1/banger.1 \
	opt/bin/banger-catalog opt/lx/banger/banger-agent opt/lx/banger/inject/init \
	opt/man/man8/bangerd.8 opt/units/bangerd.service opt/units/bangerd-root.service \
	opt/bash/banger opt/zsh/_banger opt/fish/banger.fish opt/b/share/banger/images/build.sh \
	opt/b/share/banger/units/bangerd-root-jailer.conf.in; do
	[ -f "$R/$f" ] || fail "install-dirs-$f: missing"
done
ok install-dirs-files
check install-dirs-unit-paths grep -q '^ExecStart=/opt/lx/banger/bangerd-root ' "$R/opt/units/bangerd-root.service"
check install-dirs-unit-bindir grep -q '^ExecStart=/opt/bin/bangerd ' "$R/opt/units/bangerd.service"
check install-dirs-no-placeholder bash -c "! grep -l '@[A-Z]*@' '$R'/opt/units/*.service && ! grep -E '^(INST_.*|BANGER_VERSION)=@' '$R/opt/bin/banger'"
# The installed shim: its version, and its completions found where they went.
check shim-version [ "$("$R/opt/bin/banger" --version)" = "banger $V" ]
check bangerd-version [ "$("$R/opt/bin/bangerd" --version)" = "bangerd $V" ]
check bangerd-root-version [ "$("$R/opt/lx/banger/bangerd-root" --version)" = "bangerd-root $V" ]
# (completion reads INST_*COMPDIR, the real paths, so point them into the root)
sed -i "s|^INST_BASHCOMPDIR=/opt/bash INST_ZSHCOMPDIR=/opt/zsh INST_FISHCOMPDIR=/opt/fish|INST_BASHCOMPDIR=$R/opt/bash INST_ZSHCOMPDIR=$R/opt/zsh INST_FISHCOMPDIR=$R/opt/fish|" "$R/opt/bin/banger"
for s in bash zsh fish; do
	f=$R/opt/bash/banger
	case $s in zsh) f=$R/opt/zsh/_banger ;; fish) f=$R/opt/fish/banger.fish ;; esac
	check "shim-completion-$s" cmp -s <("$R/opt/bin/banger" completion "$s") "$f"
done
check uninstall-dirs "${MK[@]}" "${DIRS[@]}" uninstall
left=$(find "$R" -type f)
[ -z "$left" ] && ok uninstall-dirs-no-file || fail "uninstall-dirs-no-file: $left"
rm -rf "$R"

# ---- PREFIX=/usr, then banger system install of it ------------------------
check install-usr "${MK[@]}" PREFIX=/usr install
before=$(cd "$R" && find . | sort)
export BANGER_SYSROOT=$R
out=$("$R/usr/bin/banger" system install --owner banger-test --prefix /opt 2>&1) &&
	fail "sys-installed-no-prefix: accepted" || case $out in
	*"--prefix is for a checkout"*) ok sys-installed-no-prefix ;;
	*) fail "sys-installed-no-prefix: $out" ;;
	esac
out=$("$R/usr/bin/banger" system install --owner banger-test 2>&1) && ok sys-install || fail "sys-install: $out"
case $out in *"configured banger $V for banger-test: /usr/bin/bangerd, /usr/libexec/banger/bangerd-root"*) ok sys-install-says ;;
*) fail "sys-install-says: $out" ;; esac
after=$(cd "$R" && find . | sort)
added=$(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')
[ "$added" = "./etc ./etc/banger ./etc/banger/install.env ./etc/systemd ./etc/systemd/system ./etc/systemd/system/bangerd.service.d ./etc/systemd/system/bangerd.service.d/owner.conf ./var ./var/cache ./var/cache/banger ./var/lib ./var/lib/banger " ] &&
	ok sys-install-copies-nothing || fail "sys-install-copies-nothing: added $added"
check sys-install-layout grep -qx 'BANGER_LAYOUT=installed' "$R/etc/banger/install.env"
check sys-install-owner grep -qx 'User=banger-test' "$R/etc/systemd/system/bangerd.service.d/owner.conf"
out=$("$R/usr/bin/banger" system status 2>&1)
case $out in *"installed $V for banger-test in /usr (bridge br-fc, subnet 172.16.0.1/24; units in /usr/lib/systemd/system)"*) ok sys-status ;;
*) fail "sys-status: $out" ;; esac
# The shipped units with the owner's drop-in, as systemd would load them;
# their Documentation= man pages are found in the installed MANDIR.
units_verify sys-units-verify "$R" /usr/lib/systemd/system "$R/usr/share/man"
# The jailer's drop-in comes from the installed template.
JL=$PWD/tests/fc-double/jailer FC=$PWD/tests/fc-double/firecracker
check sys-install-jailer "$R/usr/bin/banger" system install --owner banger-test --jailer "$JL" --firecracker "$FC"
check sys-jailer-dropin grep -qx "Environment=\"JAILER_ARGS=--jailer $JL --firecracker $FC\"" \
	"$R/etc/systemd/system/bangerd-root.service.d/jailer.conf"
out=$("$R/usr/bin/banger" system uninstall 2>&1) && ok sys-uninstall || fail "sys-uninstall: $out"
case $out in *"banger stays installed in /usr"*) ok sys-uninstall-says ;; *) fail "sys-uninstall-says: $out" ;; esac
now=$(cd "$R" && find . -not -path './var*' -not -path './etc*' | sort)
[ "$now" = "$before" ] && [ -z "$(find "$R/etc" -type f)" ] && ok sys-uninstall-keeps-installed ||
	fail "sys-uninstall-keeps-installed: $(diff <(echo "$before") <(echo "$now"))"
unset BANGER_SYSROOT
check uninstall-usr "${MK[@]}" PREFIX=/usr uninstall
left=$(find "$R" -type f)
[ -z "$left" ] && ok uninstall-usr-no-file || fail "uninstall-usr-no-file: $left"
finish
