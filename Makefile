# banger: plain Makefile, explicit source lists, pkg-config.
#
#   make            build build/bin/bangerd and the shim
#   make deps       apt-get install every build, test and runtime package
#   make images     build the kernel bundle and the test image (cached outside the checkout)
#   make test       everything: unit, fuzz smoke, shellcheck, integration (real guests)
#   make check-asan the same with ASan+UBSan builds
#   make bench      benchmarks; figures go to docs/benchmarks.md
#   make fuzz       longer libFuzzer runs

VERSION    := 0.1.0
CC         ?= gcc
BUILD      ?= build
PKGS       := fuse3 sqlite3 jansson ext2fs com_err libcrypto libssh libcurl \
              libnl-3.0 libnl-route-3.0 libnftables libsystemd mount
PKGS       += libarchive
PKGS       += devmapper
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA     := $(shell pkg-config --cflags --libs cmocka 2>/dev/null)
WARN       := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wmissing-prototypes \
              -Wstrict-prototypes -Wno-unused-parameter
SAN        ?=
CFLAGS     ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(SAN) -Icore -Ifs -Ihelper -DBANGER_VERSION='"$(VERSION)"' \
              $(PKG_CFLAGS) -pthread
LDLIBS     := $(PKG_LIBS) -pthread
IMAGE_CACHE ?= $(or $(BANGER_IMAGE_CACHE),/var/cache/banger/build)

CORE_SRCS := core/err.c core/util.c core/toml.c core/config.c core/store.c \
             core/vmstate.c core/ctl.c core/disk.c core/workdisk.c core/proc.c \
             core/accel.c core/qmp.c core/vmm_qemu.c core/catalog.c core/vm.c \
             core/doctor.c core/tree.c core/banger.c core/vmnet.c core/sshkeys.c \
             core/knownhosts.c helper/net.c helper/netaddr.c helper/nat.c core/fc_api.c core/vmm_firecracker.c \
             core/vmmselect.c core/vmm_common.c helper/proto.c core/rootc.c helper/resolved.c
CORE_SRCS += core/dns.c core/dnsd.c core/hostnet.c
CORE_SRCS += core/log.c core/vmfiles.c core/netplan.c core/monitor.c core/sshready.c \
             core/vmssh.c core/vmdisk.c core/vmroot.c
CORE_SRCS += helper/jail.c helper/paths.c
CORE_SRCS += core/priv.c core/priv_local.c core/priv_helper.c helper/fusemount.c
CORE_SRCS += core/hostarch.c core/defaults.c
CORE_SRCS += core/wddir.c
CORE_SRCS += core/workspace.c core/filesync.c
CORE_SRCS += core/digest.c core/manifest.c core/catindex.c core/bundle.c core/pull.c \
             core/pull_http.c core/pull_unpack.c core/pull_fetch.c core/catsync.c
CORE_SRCS += core/ext4img.c
# the live tree (issue 14): change log, render cache, nodes and access, blocking files, ports
CORE_SRCS += core/events.c core/treecache.c core/treenode.c core/treeattr.c core/treebase.c core/treelive.c
CORE_SRCS += core/portfwd.c core/vmports.c core/portname.c
FS_SRCS   := fs/fs.c fs/main.c
# the 9P export (p9/, docs/9p.md): a second adapter over core/tree.h
P9_SRCS   := p9/codec.c p9/addr.c p9/node.c p9/ops.c p9/conn.c p9/work.c p9/listen.c
P9_SRCS   += p9/reader.c
FS_SRCS   += $(P9_SRCS)
ALL_CFLAGS += -Ip9
HELPER_SRCS := core/err.c core/util.c helper/net.c helper/netaddr.c helper/nat.c helper/proto.c \
               helper/paths.c helper/ops.c helper/root_main.c helper/resolved.c
HELPER_SRCS += helper/jail.c helper/fusemount.c
HELPER_SRCS += helper/fdstore.c
HELPER_SRCS += helper/dmclone.c
CORE_SRCS += helper/dmclone.c
HELPER_OBJS := $(HELPER_SRCS:%.c=$(BUILD)/obj/%.o)
CATALOG_SRCS := core/err.c core/util.c core/digest.c core/manifest.c core/catindex.c core/bundle.c \
                core/pull.c core/pull_http.c core/pull_unpack.c core/pull_fetch.c core/catsync.c \
                core/publish.c tools/catalog.c
CATALOG_OBJS := $(CATALOG_SRCS:%.c=$(BUILD)/obj/%.o)
CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/obj/%.o)
FS_OBJS   := $(FS_SRCS:%.c=$(BUILD)/obj/%.o)

# unit tests: name -> the core sources it links
UNIT_TESTS := test_toml test_config test_store test_disk test_vmm_qemu test_vmstate test_ctl \
              test_net test_ssh test_vmm_firecracker test_helper
UNIT_TESTS += test_dns
test_dns_SRCS := core/err.c core/util.c core/dns.c core/dnsd.c
UNIT_TESTS += test_workspace
test_workspace_SRCS := core/err.c core/util.c core/toml.c core/config.c helper/netaddr.c \
                       core/disk.c core/workdisk.c core/ext4img.c core/workspace.c core/filesync.c
test_toml_SRCS     := core/err.c core/util.c core/toml.c
test_config_SRCS   := core/err.c core/util.c core/toml.c core/config.c helper/netaddr.c
test_store_SRCS    := core/err.c core/util.c core/store.c
test_disk_SRCS     := core/err.c core/util.c core/disk.c core/workdisk.c
test_disk_SRCS     += core/ext4img.c
test_disk_SRCS     += core/wddir.c core/vmroot.c core/vmfiles.c core/log.c
test_workspace_SRCS += core/wddir.c
test_vmm_qemu_SRCS := core/err.c core/util.c core/proc.c core/accel.c core/qmp.c core/vmm_qemu.c \
                      core/vmm_common.c core/log.c
test_vmstate_SRCS  := core/err.c core/util.c core/vmstate.c
test_ctl_SRCS      := core/err.c core/util.c core/ctl.c
test_net_SRCS      := core/err.c core/util.c helper/net.c helper/netaddr.c helper/nat.c
test_ssh_SRCS      := core/err.c core/util.c core/sshkeys.c core/knownhosts.c core/sshready.c
test_vmm_firecracker_SRCS := core/err.c core/util.c core/proc.c core/fc_api.c core/vmm_firecracker.c \
                             core/vmm_common.c core/log.c
test_vmm_firecracker_SRCS += core/disk.c helper/jail.c helper/paths.c core/rootc.c helper/proto.c \
                             core/priv.c core/priv_local.c core/priv_helper.c helper/fusemount.c \
                             helper/net.c helper/netaddr.c helper/nat.c helper/resolved.c
test_helper_SRCS   := core/err.c core/util.c helper/net.c helper/netaddr.c helper/nat.c helper/proto.c \
                      helper/paths.c helper/ops.c helper/resolved.c
test_helper_SRCS   += helper/jail.c helper/fusemount.c
test_helper_SRCS   += helper/dmclone.c
UNIT_TESTS += test_dmclone
test_dmclone_SRCS := $(test_helper_SRCS)
test_vmm_firecracker_SRCS += helper/dmclone.c
UNIT_TESTS += test_p9codec
test_p9codec_SRCS := core/err.c core/util.c p9/codec.c p9/addr.c
UNIT_TESTS += test_resolved
test_resolved_SRCS := $(test_helper_SRCS)
UNIT_TESTS += test_hostarch
test_hostarch_SRCS := core/hostarch.c

UNIT_TESTS += test_catindex test_manifest test_bundle test_pull
CATALOG_LIB_SRCS := core/err.c core/util.c core/digest.c core/manifest.c core/catindex.c \
                    core/bundle.c core/pull.c core/pull_http.c core/pull_unpack.c \
                    core/pull_fetch.c core/catsync.c core/publish.c
test_catindex_SRCS := $(CATALOG_LIB_SRCS)
test_manifest_SRCS := $(CATALOG_LIB_SRCS)
test_bundle_SRCS   := $(CATALOG_LIB_SRCS)
test_pull_SRCS     := $(CATALOG_LIB_SRCS)

FUZZERS := fuzz_toml fuzz_ctl fuzz_fc_api fuzz_knownhosts fuzz_helper_proto
fuzz_toml_SRCS := core/err.c core/util.c core/toml.c core/config.c helper/netaddr.c
fuzz_ctl_SRCS  := core/err.c core/util.c core/ctl.c
fuzz_fc_api_SRCS := core/err.c core/util.c core/fc_api.c
fuzz_knownhosts_SRCS := core/err.c core/util.c core/sshkeys.c core/knownhosts.c
fuzz_helper_proto_SRCS := core/err.c core/util.c helper/proto.c helper/paths.c
FUZZERS += fuzz_p9
fuzz_p9_SRCS := core/err.c core/util.c p9/codec.c
FUZZERS += fuzz_dns
fuzz_dns_SRCS := core/err.c core/util.c core/dns.c
FUZZERS += fuzz_wslist
fuzz_wslist_SRCS := core/err.c core/util.c core/workspace.c core/workdisk.c core/ext4img.c
fuzz_wslist_SRCS += core/wddir.c

# guest agent: the shared frame codec, the host client, the agent itself
CORE_SRCS += core/agent_proto.c core/agent_client.c
UNIT_TESTS += test_agent_proto
test_agent_proto_SRCS := core/err.c core/util.c core/agent_proto.c
FUZZERS += fuzz_agent_proto
fuzz_agent_proto_SRCS := core/err.c core/util.c core/agent_proto.c
# The agent itself, static with musl (small), with fixed flags of its own so
# every build dir makes the same bytes: the images record its sha256.
AGENT_SRCS := guest/agent.c guest/agent_session.c guest/agent_sys.c guest/agent_hostkey.c \
              core/agent_proto.c core/err.c core/util.c
# Monocypher 4.0.3 (guest/monocypher/README.md): the host key's ed25519
AGENT_SRCS += guest/monocypher/monocypher.c guest/monocypher/monocypher-ed25519.c
AGENT_CC ?= musl-gcc
AGENT_CFLAGS := -std=gnu11 $(WARN) -Os -static -s -ffunction-sections -fdata-sections \
                -Wl,--gc-sections -Icore -Iguest/monocypher -I$(BUILD)/musl-include \
                -DBANGER_VERSION='"$(VERSION)"'
all: $(BUILD)/guest/banger-agent
$(BUILD)/guest/banger-agent: $(AGENT_SRCS) guest/agent.h core/agent_proto.h core/util.h core/err.h \
		guest/monocypher/monocypher.h guest/monocypher/monocypher-ed25519.h
	@mkdir -p $(dir $@) $(BUILD)/musl-include
	@command -v $(AGENT_CC) >/dev/null || { echo "$(AGENT_CC) missing: make deps (musl-tools)"; exit 1; }
	ln -sfn /usr/include/linux $(BUILD)/musl-include/linux
	ln -sfn /usr/include/x86_64-linux-gnu/asm $(BUILD)/musl-include/asm
	ln -sfn /usr/include/asm-generic $(BUILD)/musl-include/asm-generic
	$(AGENT_CC) $(AGENT_CFLAGS) -o $@ $(AGENT_SRCS)
# The same sources built for this host with the build's flags (sanitizers
# too): the unit tests run it as a child on a socketpair.
AGENT_HOST_OBJS := $(AGENT_SRCS:%.c=$(BUILD)/obj/%.o)
$(AGENT_HOST_OBJS): guest/agent.h core/agent_proto.h
$(AGENT_HOST_OBJS): ALL_CFLAGS += -Iguest/monocypher
$(AGENT_HOST_OBJS) $(BUILD)/guest/banger-agent: guest/agent_session.h guest/agent_sys.h
$(BUILD)/tests/banger-agent-host: $(AGENT_HOST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ -pthread
unit: $(BUILD)/tests/banger-agent-host
UNIT_TESTS += test_agent
test_agent_SRCS := core/err.c core/util.c core/agent_proto.c core/agent_client.c
# a command-line client: the integration test and the benchmark use it
$(BUILD)/tests/agent_cli: $(BUILD)/obj/core/err.o $(BUILD)/obj/core/util.o \
		$(BUILD)/obj/core/agent_proto.o $(BUILD)/obj/core/agent_client.o tests/unit/agent_cli.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ -pthread
unit: $(BUILD)/tests/agent_cli
# a static vsock client the integration test runs inside the guest
$(BUILD)/tests/agent_vsock_probe: tests/integration/agent_vsock_probe.c $(BUILD)/guest/banger-agent
	@mkdir -p $(dir $@)
	$(AGENT_CC) $(AGENT_CFLAGS) -o $@ $<
unit: $(BUILD)/tests/agent_vsock_probe
FUZZERS += fuzz_catindex fuzz_manifest fuzz_bundle
fuzz_catindex_SRCS := core/err.c core/util.c core/digest.c core/manifest.c core/catindex.c
fuzz_manifest_SRCS := core/err.c core/util.c core/digest.c core/manifest.c
fuzz_bundle_SRCS   := core/err.c core/util.c core/digest.c core/manifest.c core/bundle.c
# the live tree (issue 14): port names, the change log and render cache, the forwarder
FUZZERS += fuzz_portname
fuzz_portname_SRCS := core/portname.c
UNIT_TESTS += test_events test_portfwd
test_events_SRCS := core/err.c core/util.c core/events.c core/treecache.c
test_portfwd_SRCS := core/err.c core/util.c core/log.c core/portfwd.c core/portname.c

.PHONY: all deps images test check-asan bench fuzz clean format unit fuzzers catalog
all: $(BUILD)/bin/bangerd $(BUILD)/bin/banger $(BUILD)/bin/bangerd-root
all: $(BUILD)/bin/banger-catalog

$(BUILD)/obj/%.o: %.c $(wildcard core/*.h fs/*.h helper/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/bin/bangerd: $(CORE_OBJS) $(FS_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/bangerd-root: $(HELPER_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/banger-catalog: $(CATALOG_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/helper_cli: $(BUILD)/obj/core/err.o $(BUILD)/obj/core/util.o \
		$(BUILD)/obj/helper/proto.o $(BUILD)/obj/core/rootc.o tests/unit/helper_cli.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ -pthread

WS_SRCS := core/err.c core/util.c core/toml.c core/config.c helper/netaddr.c core/disk.c \
           core/workdisk.c core/ext4img.c core/workspace.c core/filesync.c
WS_SRCS += core/wddir.c
$(BUILD)/tests/workspace_cli: $(WS_SRCS:%.c=$(BUILD)/obj/%.o) tests/unit/workspace_cli.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)
unit: $(BUILD)/tests/workspace_cli

$(BUILD)/bin/banger: shims/banger
	@mkdir -p $(dir $@)
	sed 's/^BANGER_VERSION=@VERSION@$$/BANGER_VERSION=$(VERSION)/' $< >$@.tmp
	chmod 0755 $@.tmp && mv -f $@.tmp $@

define unit_rule
$(BUILD)/tests/$(1): $$(patsubst %.c,$(BUILD)/obj/%.o,$$($(1)_SRCS)) tests/unit/$(1).c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_CFLAGS) -o $$@ $$^ $$(LDLIBS) $$(CMOCKA)
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call unit_rule,$(t))))

unit: $(UNIT_TESTS:%=$(BUILD)/tests/%) $(BUILD)/tests/helper_cli

# libFuzzer targets need clang; they are always built with ASan+UBSan.
FUZZ_CFLAGS := -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Icore -Ihelper $(PKG_CFLAGS)
define fuzz_rule
$(BUILD)/fuzz/$(1): $$($(1)_SRCS) tests/fuzz/$(1).c
	@mkdir -p $$(dir $$@)
	clang $$(FUZZ_CFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach f,$(FUZZERS),$(eval $(call fuzz_rule,$(f))))

fuzzers: $(FUZZERS:%=$(BUILD)/fuzz/%)

deps:
	tests/deps.sh

images: $(BUILD)/guest/banger-agent
	BANGER_AGENT=$(BUILD)/guest/banger-agent images/build.sh $(IMAGE_CACHE)

# A catalog of the bundles in IMAGE_CACHE (docs/catalog.md).  Without
# CATALOG_KEY a development key is made in $(BUILD) once.
CATALOG_DIR ?= $(BUILD)/catalog
CATALOG_KEY ?= $(BUILD)/catalog.key
catalog: $(BUILD)/bin/banger-catalog
	@test -f $(CATALOG_KEY) || (umask 077 && openssl genpkey -algorithm ed25519 -out $(CATALOG_KEY))
	openssl pkey -in $(CATALOG_KEY) -pubout -out $(CATALOG_DIR).pub
	$(BUILD)/bin/banger-catalog publish --key $(CATALOG_KEY) --from $(IMAGE_CACHE) $(CATALOG_DIR)
	@echo "catalog in $(CATALOG_DIR); its public key (catalog_pubkey) is $(CATALOG_DIR).pub"

# deps first (a fresh machine has no -dev packages yet), then a fresh make
# so pkg-config sees them.
test:
	tests/deps.sh
	$(MAKE) all unit fuzzers
	BUILD=$(BUILD) IMAGE_CACHE=$(IMAGE_CACHE) tests/run.sh

check-asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

bench: all $(BUILD)/bench/treebench $(BUILD)/bench/dnsbench
	BUILD=$(BUILD) IMAGE_CACHE=$(IMAGE_CACHE) tests/bench.sh

$(BUILD)/bench/treebench: tests/bench/treebench.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< -lm

$(BUILD)/bench/dnsbench: tests/bench/dnsbench.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< -pthread

fuzz: fuzzers
	@for f in $(FUZZERS); do n=$${f#fuzz_}; mkdir -p $(BUILD)/corpus/$$n; \
	  $(BUILD)/fuzz/$$f -max_total_time=$${FUZZ_SECONDS:-60} $(BUILD)/corpus/$$n tests/fuzz/corpus/$$n || exit 1; done

format:
	clang-format -i core/*.c core/*.h fs/*.c fs/*.h helper/*.c 2>/dev/null || true

clean:
	rm -rf build build-asan

# ---- install, man pages, Debian package (docs/install.md) -----------------
# make install [PREFIX=/usr/local] [DESTDIR=] [BINDIR=...] [LIBEXECDIR=...]
# [MANDIR=...] [SYSTEMDUNITDIR=...] [BASHCOMPDIR=...] [ZSHCOMPDIR=...]
# [FISHCOMPDIR=...]; make uninstall with the same; make deb.
PREFIX         ?= /usr/local
BINDIR         ?= $(PREFIX)/bin
LIBEXECDIR     ?= $(PREFIX)/libexec
DATADIR        ?= $(PREFIX)/share
MANDIR         ?= $(DATADIR)/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR    ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR     ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR    ?= $(DATADIR)/fish/vendor_completions.d
HELPERDIR      := $(LIBEXECDIR)/banger
# Distribution builds (debian/rules) pass their hardening flags this way.
ALL_CFLAGS     += $(CPPFLAGS)
LDLIBS         += $(LDFLAGS)

MANPAGES := banger.1 banger-catalog.1 bangerd.8 bangerd-root.8 banger-tree.7 banger.toml.5
MAN_OUT  := $(MANPAGES:%=$(BUILD)/man/%)
# The image recipes banger image build runs (not the boot test tools).
IMAGE_RECIPES := images/build.sh images/kernel.sh images/test-image.sh images/golden.sh
IMAGE_FILES := $(IMAGE_RECIPES) images/common.sh images/initramfs-init

.PHONY: man install uninstall deb
all: man
man: $(MAN_OUT)

# The shim as built: the version set once, above.
$(BUILD)/bin/banger: Makefile

# Man pages: scdoc sources in man/; banger(1) gets the shim's command table
# and banger-tree(7) is docs/tree.md (tests/integration/man.sh checks both
# against the code).
$(BUILD)/man/%: $(BUILD)/man/%.scd
	scdoc <$< >$@.tmp && mv $@.tmp $@
$(BUILD)/man/%.scd: man/%.scd Makefile
	@mkdir -p $(dir $@)
	sed 's/@VERSION@/$(VERSION)/g' $< >$@
$(BUILD)/man/banger.1.scd: man/banger.1.scd.in man/commands.awk shims/banger Makefile
	@mkdir -p $(dir $@)
	awk -f man/commands.awk shims/banger >$@.part
	awk 'FNR == NR { t = t $$0 "\n"; next } /^@COMMANDS@$$/ { printf "%s", t; next } { print }' \
		$@.part $< | sed 's/@VERSION@/$(VERSION)/g' >$@
	rm -f $@.part
$(BUILD)/man/banger-tree.7.scd: man/banger-tree.7.scd.in man/md2scd.awk docs/tree.md Makefile
	@mkdir -p $(dir $@)
	awk -f man/md2scd.awk docs/tree.md >$@.part
	awk 'FNR == NR { t = t $$0 "\n"; next } /^@TREE@$$/ { printf "%s", t; next } { print }' \
		$@.part $< | sed 's/@VERSION@/$(VERSION)/g' >$@
	rm -f $@.part

# What make install substitutes in the shim and the units.
INSTALL_SED := -e 's|^INST_BINDIR=@BINDIR@|INST_BINDIR=$(BINDIR)|' \
	-e 's|^INST_HELPERDIR=@HELPERDIR@|INST_HELPERDIR=$(HELPERDIR)|' \
	-e 's|^INST_DATADIR=@DATADIR@|INST_DATADIR=$(DATADIR)|' \
	-e 's|^INST_UNITDIR=@SYSTEMDUNITDIR@|INST_UNITDIR=$(SYSTEMDUNITDIR)|' \
	-e 's|^INST_BASHCOMPDIR=@BASHCOMPDIR@ INST_ZSHCOMPDIR=@ZSHCOMPDIR@ INST_FISHCOMPDIR=@FISHCOMPDIR@|INST_BASHCOMPDIR=$(BASHCOMPDIR) INST_ZSHCOMPDIR=$(ZSHCOMPDIR) INST_FISHCOMPDIR=$(FISHCOMPDIR)|' \
	-e 's|@BINDIR@|$(BINDIR)|g' -e 's|@HELPERDIR@|$(HELPERDIR)|g'
D := $(DESTDIR)

install: all
	install -d $(D)$(BINDIR) $(D)$(HELPERDIR) $(D)$(SYSTEMDUNITDIR) $(D)$(DATADIR)/banger/units \
		$(D)$(DATADIR)/banger/images $(D)$(MANDIR)/man1 $(D)$(MANDIR)/man5 $(D)$(MANDIR)/man7 \
		$(D)$(MANDIR)/man8 $(D)$(BASHCOMPDIR) $(D)$(ZSHCOMPDIR) $(D)$(FISHCOMPDIR)
	sed $(INSTALL_SED) $(BUILD)/bin/banger >$(D)$(BINDIR)/banger.tmp
	chmod 0755 $(D)$(BINDIR)/banger.tmp && mv -f $(D)$(BINDIR)/banger.tmp $(D)$(BINDIR)/banger
	install -m 0755 $(BUILD)/bin/bangerd $(D)$(BINDIR)/bangerd
	install -m 0755 $(BUILD)/bin/bangerd-root $(D)$(HELPERDIR)/bangerd-root
	install -m 0755 $(BUILD)/bin/banger-catalog $(D)$(BINDIR)/banger-catalog
	install -m 0755 $(BUILD)/guest/banger-agent $(D)$(HELPERDIR)/banger-agent
	rm -rf $(D)$(HELPERDIR)/inject.tmp && cp -R $(BUILD)/guest/inject $(D)$(HELPERDIR)/inject.tmp && \
		rm -rf $(D)$(HELPERDIR)/inject && mv $(D)$(HELPERDIR)/inject.tmp $(D)$(HELPERDIR)/inject
	for u in bangerd bangerd-root; do \
		sed $(INSTALL_SED) units/$$u.service.in >$(D)$(SYSTEMDUNITDIR)/$$u.service.tmp && \
		chmod 0644 $(D)$(SYSTEMDUNITDIR)/$$u.service.tmp && \
		mv -f $(D)$(SYSTEMDUNITDIR)/$$u.service.tmp $(D)$(SYSTEMDUNITDIR)/$$u.service || exit 1; \
	done
	install -m 0644 units/bangerd-root-jailer.conf.in $(D)$(DATADIR)/banger/units/
	install -m 0644 $(IMAGE_FILES) $(D)$(DATADIR)/banger/images/
	chmod 0755 $(patsubst images/%,$(D)$(DATADIR)/banger/images/%,$(IMAGE_RECIPES))
	for m in $(MANPAGES); do install -m 0644 $(BUILD)/man/$$m $(D)$(MANDIR)/man$${m##*.}/$$m || exit 1; done
	install -m 0644 shims/completions/banger.bash $(D)$(BASHCOMPDIR)/banger
	install -m 0644 shims/completions/_banger $(D)$(ZSHCOMPDIR)/_banger
	install -m 0644 shims/completions/banger.fish $(D)$(FISHCOMPDIR)/banger.fish

# Removes what install wrote, and the directories only banger uses.
uninstall:
	rm -f $(D)$(BINDIR)/banger $(D)$(BINDIR)/bangerd $(D)$(HELPERDIR)/bangerd-root \
		$(D)$(BINDIR)/banger-catalog $(D)$(HELPERDIR)/banger-agent \
		$(D)$(SYSTEMDUNITDIR)/bangerd.service $(D)$(SYSTEMDUNITDIR)/bangerd-root.service \
		$(D)$(DATADIR)/banger/units/bangerd-root-jailer.conf.in \
		$(patsubst images/%,$(D)$(DATADIR)/banger/images/%,$(IMAGE_FILES)) \
		$(foreach m,$(MANPAGES),$(D)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(m)) \
		$(D)$(BASHCOMPDIR)/banger $(D)$(ZSHCOMPDIR)/_banger $(D)$(FISHCOMPDIR)/banger.fish
	rm -rf $(D)$(HELPERDIR)/inject
	-rmdir $(D)$(HELPERDIR) $(D)$(DATADIR)/banger/units $(D)$(DATADIR)/banger/images \
		$(D)$(DATADIR)/banger 2>/dev/null

# The Debian package, built from a copy of this tree in $(BUILD)/deb (so the
# checkout gets no debian/ build files): $(BUILD)/deb/banger_*.deb.
deb:
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/src
	tar -C . --exclude=./.git --exclude='./build*' -cf - . | tar -C $(BUILD)/deb/src -xf -
	# a release build with Debian's flags (dpkg-buildflags), whatever
	# CFLAGS, SAN or make flags the caller has (make check-asan sets them)
	cd $(BUILD)/deb/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CFLAGS -u CPPFLAGS -u LDFLAGS -u SAN \
		BUILD=build dpkg-buildpackage -us -uc -b
	@ls $(BUILD)/deb/*.deb
# Workspace: vm run DIR's copy before boot vs tar over ssh into a running
# guest, vm push (a real daemon and a QEMU guest; docs/benchmarks.md).
.PHONY: bench-workspace
bench-workspace: all
	BUILD=$(BUILD) IMAGE_CACHE=$(IMAGE_CACHE) tests/bench/workspace.sh
bench: bench-workspace
# the in-tree 9P client (tests/p9/p9c.c): integration checks of 9P2000 and flush, benchmark
$(BUILD)/tests/p9c: $(BUILD)/obj/core/err.o $(BUILD)/obj/core/util.o $(BUILD)/obj/p9/codec.o \
		$(BUILD)/obj/p9/addr.o tests/p9/p9c.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^
unit: $(BUILD)/tests/p9c
$(P9_SRCS:%.c=$(BUILD)/obj/%.o): $(wildcard p9/*.h)
FUZZ_CFLAGS += -Ip9
bench-p9: all $(BUILD)/tests/p9c
	BUILD=$(BUILD) IMAGE_CACHE=$(IMAGE_CACHE) tests/bench/p9bench.sh
.PHONY: bench-p9
# OCI images -> bundles (core/oci*.c; docs/oci.md) and their driver.
OCI_SRCS := core/err.c core/util.c core/ext4img.c core/ocimeta.c core/ociblob.c core/ocitar.c \
            core/ocilayer.c core/ocifs.c core/ocinode.c core/ociapply.c core/ociregistry.c core/oci.c
LDLIBS += $(shell pkg-config --libs libarchive libisal libzstd 2>/dev/null)
all: $(BUILD)/bin/banger-oci
$(BUILD)/bin/banger-oci: $(patsubst %.c,$(BUILD)/obj/%.o,$(OCI_SRCS)) tools/banger-oci.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)
UNIT_TESTS += test_oci_meta
test_oci_meta_SRCS := $(OCI_SRCS)
$(eval $(call unit_rule,test_oci_meta))
unit: $(BUILD)/tests/test_oci_meta
UNIT_TESTS += test_oci_fs
test_oci_fs_SRCS := $(OCI_SRCS)
$(eval $(call unit_rule,test_oci_fs))
unit: $(BUILD)/tests/test_oci_fs
FUZZERS += fuzz_oci_meta fuzz_oci_layer
fuzz_oci_meta_SRCS := $(OCI_SRCS)
fuzz_oci_layer_SRCS := $(OCI_SRCS)
$(eval $(call fuzz_rule,fuzz_oci_meta))
$(eval $(call fuzz_rule,fuzz_oci_layer))
fuzzers: $(BUILD)/fuzz/fuzz_oci_meta $(BUILD)/fuzz/fuzz_oci_layer

# banger's init for container images (guest/init.c), static with musl, and
# the directory the OCI builder injects into images as /.banger: the init,
# the guest agent and the host's sshd with its libraries (guest/mkinject.sh).
INIT_CC ?= musl-gcc
$(BUILD)/guest/banger-init: guest/init.c
	@mkdir -p $(dir $@) $(BUILD)/musl-include
	@command -v $(INIT_CC) >/dev/null || { echo "$(INIT_CC) missing: make deps (musl-tools)"; exit 1; }
	ln -sfn /usr/include/linux $(BUILD)/musl-include/linux
	ln -sfn /usr/include/x86_64-linux-gnu/asm $(BUILD)/musl-include/asm
	ln -sfn /usr/include/asm-generic $(BUILD)/musl-include/asm-generic
	$(INIT_CC) -std=gnu11 -static -Os -Wall -Wextra -Werror -Wno-unused-parameter \
		-I$(BUILD)/musl-include -o $@ $<
$(BUILD)/guest/inject: $(BUILD)/guest/banger-init $(BUILD)/guest/banger-agent guest/mkinject.sh
	guest/mkinject.sh $@ $(BUILD)/guest/banger-init $(BUILD)/guest/banger-agent
all: $(BUILD)/guest/inject
# issue 13: the guest agent in the daemon (core/vmagent.c, core/vmexec.c,
# the tree's execs/), snapshots (core/snapmeta.c, core/snapshot.c,
# core/vmsnap.c, core/vmm_qemu_snap.c); docs/snapshots.md
CORE_SRCS += core/vmagent.c core/vmexec.c core/tree_agent.c
CORE_SRCS += core/snapmeta.c core/snapshot.c core/vmsnap.c core/vmm_qemu_snap.c
$(BUILD)/tests/test_vmm_qemu: $(BUILD)/obj/core/vmm_qemu_snap.o $(BUILD)/obj/core/disk.o
ISSUE13_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,core/agent_proto.c core/agent_client.c \
	core/vmagent.c core/vmexec.c core/tree_agent.c core/snapmeta.c core/snapshot.c \
	core/vmsnap.c core/vmm_qemu_snap.c core/digest.c)
$(BUILD)/bin/bangerd: $(ISSUE13_OBJS)
UNIT_TESTS += test_snapshot
test_snapshot_SRCS := core/err.c core/util.c core/digest.c core/snapmeta.c core/snapshot.c \
                      core/disk.c core/log.c core/vmfiles.c
$(eval $(call unit_rule,test_snapshot))
unit: $(BUILD)/tests/test_snapshot
FUZZERS += fuzz_snapmeta
fuzz_snapmeta_SRCS := core/err.c core/util.c core/digest.c core/snapmeta.c
$(eval $(call fuzz_rule,fuzz_snapmeta))
fuzzers: $(BUILD)/fuzz/fuzz_snapmeta
UNIT_TESTS += test_vmagent
test_vmagent_SRCS := core/err.c core/util.c core/agent_proto.c core/agent_client.c core/qmp.c \
                     core/log.c core/vmfiles.c core/vmagent.c core/vmexec.c
$(eval $(call unit_rule,test_vmagent))
unit: $(BUILD)/tests/test_vmagent
# snapshot restore and agent exec figures (tests/bench/snapshot.sh, docs/benchmarks.md)
$(BUILD)/bench/execbench: tests/bench/execbench.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $<
bench-snapshot: all unit $(BUILD)/bench/execbench
	BUILD=$(BUILD) IMAGE_CACHE=$(IMAGE_CACHE) tests/bench/snapshot.sh
.PHONY: bench-snapshot
# banger as a service in a guest that has systemd as PID 1, device-mapper and
# systemd-resolved (tests/guesthost/run.sh, docs/guesthost.md); make test runs
# it through tests/integration/guesthost.sh.
.PHONY: check-guesthost
check-guesthost: all $(BUILD)/tests/helper_cli
	BUILD=$(BUILD) IMAGE_CACHE=$(IMAGE_CACHE) tests/guesthost/run.sh
# The live tree's figures (issue 14; docs/benchmarks.md): stat/read of status,
# 9P reads, `cat ready` after readiness, idle wakeups, the port forward.
$(BUILD)/bench/fwdbench: $(BUILD)/obj/core/err.o $(BUILD)/obj/core/util.o $(BUILD)/obj/core/log.o \
		$(BUILD)/obj/core/portfwd.o tests/bench/fwdbench.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ -pthread
bench-live: all $(BUILD)/bench/treebench $(BUILD)/bench/fwdbench $(BUILD)/tests/p9c
	BUILD=$(BUILD) IMAGE_CACHE=$(IMAGE_CACHE) tests/bench/livebench.sh
.PHONY: bench-live
# images/ and kernels/ through the daemon: catalogs, pulls, OCI builds (docs/tree.md)
CATD_SRCS := core/catjobs.c core/catview.c core/catpull.c core/catoci.c core/treeimg.c \
             core/ocimeta.c core/ociblob.c core/ocitar.c core/ocilayer.c core/ocifs.c \
             core/ocinode.c core/ociapply.c core/ociregistry.c core/oci.c
CORE_SRCS += $(CATD_SRCS)
$(BUILD)/bin/bangerd: $(CATD_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_TESTS += test_catview
test_catview_SRCS := $(CATALOG_LIB_SRCS) core/store.c core/catalog.c core/catjobs.c core/catview.c \
                     core/catpull.c core/disk.c core/log.c $(filter-out core/err.c core/util.c,$(OCI_SRCS))
$(eval $(call unit_rule,test_catview))
unit: $(BUILD)/tests/test_catview
# Pulls and OCI imports through bangerd vs what a user scripts (docs/benchmarks.md)
.PHONY: bench-pull bench-oci
bench-pull: all
	BUILD=$(BUILD) IMAGE_CACHE=$(IMAGE_CACHE) tests/bench/pull_daemon.sh
bench-oci: all
	BUILD=$(BUILD) IMAGE_CACHE=$(IMAGE_CACHE) tests/bench/oci_daemon.sh
# The golden control tree: a real daemon's tree, captured and normalized;
# the shim's unit tests build their fixture from it and `make test` checks
# it still has the daemon's format (tests/golden/README.md).
.PHONY: golden-tree
golden-tree: $(BUILD)/bin/bangerd
	BUILD=$(BUILD) IMAGE_CACHE=$(IMAGE_CACHE) tests/golden/capture.sh tests/golden
