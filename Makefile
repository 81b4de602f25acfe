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
              libnl-3.0 libnl-route-3.0 libnftables libsystemd
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
             core/vmmselect.c core/vmm_common.c helper/proto.c helper/client.c helper/resolved.c
CORE_SRCS += core/dns.c core/dnsd.c core/vmdns.c
CORE_SRCS += helper/jail.c helper/paths.c
CORE_SRCS += core/ext4img.c
FS_SRCS   := fs/fs.c fs/main.c
HELPER_SRCS := core/err.c core/util.c helper/net.c helper/netaddr.c helper/nat.c helper/proto.c \
               helper/paths.c helper/ops.c helper/root_main.c helper/resolved.c
HELPER_SRCS += helper/jail.c
HELPER_OBJS := $(HELPER_SRCS:%.c=$(BUILD)/obj/%.o)
CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/obj/%.o)
FS_OBJS   := $(FS_SRCS:%.c=$(BUILD)/obj/%.o)

# unit tests: name -> the core sources it links
UNIT_TESTS := test_toml test_config test_store test_disk test_vmm_qemu test_vmstate test_ctl \
              test_net test_ssh test_vmm_firecracker test_helper
UNIT_TESTS += test_dns
test_dns_SRCS := core/err.c core/util.c core/dns.c core/dnsd.c
test_toml_SRCS     := core/err.c core/util.c core/toml.c
test_config_SRCS   := core/err.c core/util.c core/toml.c core/config.c helper/netaddr.c
test_store_SRCS    := core/err.c core/util.c core/store.c
test_disk_SRCS     := core/err.c core/util.c core/disk.c core/workdisk.c
test_disk_SRCS     += core/ext4img.c
test_vmm_qemu_SRCS := core/err.c core/util.c core/proc.c core/accel.c core/qmp.c core/vmm_qemu.c \
                      core/vmm_common.c
test_vmstate_SRCS  := core/err.c core/util.c core/vmstate.c
test_ctl_SRCS      := core/err.c core/util.c core/ctl.c
test_net_SRCS      := core/err.c core/util.c helper/net.c helper/netaddr.c helper/nat.c
test_ssh_SRCS      := core/err.c core/util.c core/sshkeys.c core/knownhosts.c
test_vmm_firecracker_SRCS := core/err.c core/util.c core/proc.c core/fc_api.c core/vmm_firecracker.c \
                             core/vmm_common.c
test_vmm_firecracker_SRCS += core/disk.c helper/jail.c helper/paths.c helper/client.c helper/proto.c
test_helper_SRCS   := core/err.c core/util.c helper/net.c helper/netaddr.c helper/nat.c helper/proto.c \
                      helper/paths.c helper/ops.c helper/resolved.c
test_helper_SRCS   += helper/jail.c
UNIT_TESTS += test_resolved
test_resolved_SRCS := $(test_helper_SRCS)

FUZZERS := fuzz_toml fuzz_ctl fuzz_fc_api fuzz_knownhosts fuzz_helper_proto
fuzz_toml_SRCS := core/err.c core/util.c core/toml.c core/config.c helper/netaddr.c
fuzz_ctl_SRCS  := core/err.c core/util.c core/ctl.c
fuzz_fc_api_SRCS := core/err.c core/util.c core/fc_api.c
fuzz_knownhosts_SRCS := core/err.c core/util.c core/sshkeys.c core/knownhosts.c
fuzz_helper_proto_SRCS := core/err.c core/util.c helper/proto.c helper/paths.c
FUZZERS += fuzz_dns
fuzz_dns_SRCS := core/err.c core/util.c core/dns.c

.PHONY: all deps images test check-asan bench fuzz clean format unit fuzzers
all: $(BUILD)/bin/bangerd $(BUILD)/bin/banger $(BUILD)/bin/bangerd-root

$(BUILD)/obj/%.o: %.c $(wildcard core/*.h fs/*.h helper/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/bin/bangerd: $(CORE_OBJS) $(FS_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/bangerd-root: $(HELPER_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/helper_cli: $(BUILD)/obj/core/err.o $(BUILD)/obj/core/util.o \
		$(BUILD)/obj/helper/proto.o $(BUILD)/obj/helper/client.o tests/unit/helper_cli.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ -pthread

$(BUILD)/bin/banger: shims/banger
	@mkdir -p $(dir $@)
	install -m 0755 $< $@

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

images:
	images/build.sh $(IMAGE_CACHE)

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
# the directory the OCI builder injects into images as /.banger: the init
# and the host's sshd with its libraries (guest/mkinject.sh).
INIT_CC ?= musl-gcc
$(BUILD)/guest/banger-init: guest/init.c
	@mkdir -p $(dir $@) $(BUILD)/musl-include
	@command -v $(INIT_CC) >/dev/null || { echo "$(INIT_CC) missing: make deps (musl-tools)"; exit 1; }
	ln -sfn /usr/include/linux $(BUILD)/musl-include/linux
	ln -sfn /usr/include/x86_64-linux-gnu/asm $(BUILD)/musl-include/asm
	ln -sfn /usr/include/asm-generic $(BUILD)/musl-include/asm-generic
	$(INIT_CC) -std=gnu11 -static -Os -Wall -Wextra -Werror -Wno-unused-parameter \
		-I$(BUILD)/musl-include -o $@ $<
$(BUILD)/guest/inject: $(BUILD)/guest/banger-init guest/mkinject.sh
	guest/mkinject.sh $@ $(BUILD)/guest/banger-init
all: $(BUILD)/guest/inject
