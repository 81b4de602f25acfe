/* Private-range addresses here are config values only: nothing is configured
 * or sent, so no netns/unshare is needed. */
/* tests/unit/test_config.c: config.toml mapping and VM sizing
 * (core/config.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "util.h"

#define GiB (1ULL << 30)
#define MiB (1ULL << 20)

static void parse_ok(struct banger_config *c, const char *text)
{
	struct berr err = { 0 };
	int r = config_parse(c, text, strlen(text), "config.toml", &err);
	if (r < 0)
		fail_msg("config [%s] failed: %s", text, err.msg);
}

/* Parse into a fresh config; must fail with -code and a message that
 * starts with "config.toml:line: " and contains want.  The config must
 * keep its defaults. */
static void expect_err(const char *text, int code, int line, const char *want)
{
	struct banger_config c;
	struct berr err = { 0 };
	char prefix[40];

	config_init(&c);
	int r = config_parse(&c, text, strlen(text), "config.toml", &err);
	if (r >= 0)
		fail_msg("config [%s] was accepted, expected errno %d", text, code);
	if (r != -code)
		fail_msg("config [%s]: got %d (%s), expected %d", text, r, err.msg, -code);
	snprintf(prefix, sizeof(prefix), "config.toml:%d: ", line);
	if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
		fail_msg("message '%s' does not start with '%s'", err.msg, prefix);
	if (want && !strstr(err.msg, want))
		fail_msg("message '%s' does not contain '%s'", err.msg, want);
	/* untouched by the failed parse */
	assert_string_equal(c.vmm, "auto");
	assert_string_equal(c.bridge_name, "br-fc");
	assert_int_equal(c.stop_timeout_s, 30);
	assert_int_equal(c.dns_port, 42053);
	assert_false(c.vm_defaults.has_vcpu);
	assert_int_equal(c.n_file_sync, 0);
	config_free(&c);
}

static void test_defaults(void **state)
{
	(void)state;
	struct banger_config c;
	config_init(&c);
	assert_null(c.path);
	assert_null(c.default_image_name);
	assert_null(c.default_kernel_name);
	assert_null(c.ssh_key_path);
	assert_null(c.firecracker_bin);
	assert_string_equal(c.qemu_bin, "qemu-system-x86_64");
	assert_string_equal(c.vmm, "auto");
	assert_string_equal(c.qemu_accel, "auto");
	assert_string_equal(c.disk_clone, "auto");
	assert_string_equal(c.bridge_name, "br-fc");
	assert_string_equal(c.bridge_subnet, "172.16.0.1/24");
	assert_int_equal(c.stop_timeout_s, 30);
	assert_false(c.vm_defaults.has_vcpu);
	assert_false(c.vm_defaults.has_memory_mib);
	assert_false(c.vm_defaults.has_disk_size);
	assert_null(c.file_sync);
	assert_int_equal(c.n_file_sync, 0);
	config_free(&c);
	config_free(&c); /* idempotent */
	config_free(NULL);
}

static const char full_config[] =
	"# banger config\n"
	"default_image_name = \"debian-bookworm\"\n"
	"default_kernel_name = \"cloud-6.1\"\n"
	"ssh_key_path = \"/home/u/.ssh/id_ed25519\"\n"
	"firecracker_bin = \"/usr/local/bin/firecracker\"\n"
	"qemu_bin = \"/usr/bin/qemu-system-x86_64\"\n"
	"vmm = \"qemu\"\n"
	"qemu_accel = \"tcg\"\n"
	"bridge_name = \"br-test_0.a\"\n"
	"bridge_subnet = \"10.20.0.1/16\"\n"
	"stop_timeout_s = 600\n"
	"dns_port = 0\n"
	"\n"
	"[vm_defaults]\n"
	"vcpu = 2\n"
	"memory_mib = 4096\n"
	"disk_size = \"16G\"\n"
	"\n"
	"[[file_sync]]\n"
	"host = \"~/.gitconfig\"\n"
	"guest = \"/root/.gitconfig\"\n"
	"\n"
	"[[file_sync]]\n"
	"host = \"/home/u/.ssh/config\"\n"
	"guest = \"/root/.ssh/config\"\n"
	"mode = \"0600\"\n";

static void test_full_config(void **state)
{
	(void)state;
	struct banger_config c;
	config_init(&c);
	parse_ok(&c, full_config);
	assert_string_equal(c.default_image_name, "debian-bookworm");
	assert_string_equal(c.default_kernel_name, "cloud-6.1");
	assert_string_equal(c.ssh_key_path, "/home/u/.ssh/id_ed25519");
	assert_string_equal(c.firecracker_bin, "/usr/local/bin/firecracker");
	assert_string_equal(c.qemu_bin, "/usr/bin/qemu-system-x86_64");
	assert_string_equal(c.vmm, "qemu");
	assert_string_equal(c.qemu_accel, "tcg");
	assert_string_equal(c.bridge_name, "br-test_0.a");
	assert_string_equal(c.bridge_subnet, "10.20.0.1/16");
	assert_int_equal(c.stop_timeout_s, 600);
	assert_int_equal(c.dns_port, 0);
	assert_true(c.vm_defaults.has_vcpu);
	assert_int_equal(c.vm_defaults.vcpu, 2);
	assert_true(c.vm_defaults.has_memory_mib);
	assert_int_equal(c.vm_defaults.memory_mib, 4096);
	assert_true(c.vm_defaults.has_disk_size);
	assert_true(c.vm_defaults.disk_size == 16 * GiB);
	assert_int_equal(c.n_file_sync, 2);
	assert_string_equal(c.file_sync[0].host, "~/.gitconfig");
	assert_string_equal(c.file_sync[0].guest, "/root/.gitconfig");
	assert_null(c.file_sync[0].mode);
	assert_int_equal(c.file_sync[0].line, 19);
	assert_string_equal(c.file_sync[1].mode, "0600");
	assert_int_equal(c.file_sync[1].line, 23);
	assert_null(c.path);
	config_free(&c);
}

static void test_partial_overrides(void **state)
{
	(void)state;
	struct banger_config c;
	config_init(&c);
	parse_ok(&c, "vmm = \"firecracker\"\nvm_defaults.vcpu = 3\n");
	assert_string_equal(c.vmm, "firecracker");
	assert_int_equal(c.vm_defaults.vcpu, 3);
	assert_false(c.vm_defaults.has_memory_mib);
	assert_string_equal(c.qemu_bin, "qemu-system-x86_64");
	assert_string_equal(c.qemu_accel, "auto");
	/* a second layer keeps what it does not mention */
	parse_ok(&c, "qemu_accel = \"kvm\"\n");
	assert_string_equal(c.vmm, "firecracker");
	assert_string_equal(c.qemu_accel, "kvm");
	assert_int_equal(c.vm_defaults.vcpu, 3);
	/* a failed layer changes nothing */
	struct berr err = { 0 };
	const char *bad = "vmm = \"qemu\"\n[[file_sync]]\nhost = \"~/a\"\nguest = \"/root/a\"\n"
			  "[[file_sync]]\nhost = \"~/b\"\nguest = \"/etc/b\"\n";
	assert_int_equal(config_parse(&c, bad, strlen(bad), "config.toml", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "config.toml:7:"));
	assert_string_equal(c.vmm, "firecracker");
	assert_int_equal(c.n_file_sync, 0);
	/* empty text is a valid, empty config */
	parse_ok(&c, "");
	assert_string_equal(c.vmm, "firecracker");
	config_free(&c);
}

static void test_valid_values(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		uint64_t disk;
	} disks[] = {
		{ "[vm_defaults]\ndisk_size = \"8G\"\n", 8 * GiB },
		{ "[vm_defaults]\ndisk_size = \"512M\"\n", 512 * MiB },
		{ "[vm_defaults]\ndisk_size = \"8GiB\"\n", 8 * GiB },
		{ "[vm_defaults]\ndisk_size = \"64M\"\n", 64 * MiB },
		{ "[vm_defaults]\ndisk_size = 67108864\n", 64 * MiB },
		{ "[vm_defaults]\ndisk_size = 0x40000000\n", GiB },
		{ "[vm_defaults]\ndisk_size = \"16T\"\n", 16ULL << 40 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(disks); i++) {
		struct banger_config c;
		config_init(&c);
		parse_ok(&c, disks[i].text);
		assert_true(c.vm_defaults.has_disk_size);
		assert_true(c.vm_defaults.disk_size == disks[i].disk);
		config_free(&c);
	}
	static const char *const ok[] = {
		"vmm = \"auto\"\n", "vmm = \"firecracker\"\n", "qemu_accel = \"kvm\"\n",
		"qemu_accel = \"auto\"\n", "bridge_name = \"b\"\n",
		"disk_clone = \"auto\"\n", "disk_clone = \"reflink\"\n",
		"disk_clone = \"dm-snapshot\"\n", "disk_clone = \"sparse-copy\"\n",
		"bridge_name = \"abcdefghijklmno\"\n", "bridge_subnet = \"192.168.100.1/30\"\n",
		"bridge_subnet = \"10.0.255.254/16\"\n", "bridge_subnet = \"172.16.0.9/29\"\n",
		"stop_timeout_s = 1\n", "[vm_defaults]\nvcpu = 1\nmemory_mib = 128\n",
		"[vm_defaults]\nvcpu = 32\nmemory_mib = 1048576\n",
		"default_image_name = \"alpine:3\"\n", "file_sync = []\n",
		"[[file_sync]]\nhost = \"~/x\"\nguest = \"/root/a/b c\"\nmode = \"644\"\n",
		"[[file_sync]]\nhost = \"~/x\"\nguest = \"/root/.x\"\nmode = \"0000\"\n",
		"[[file_sync]]\nhost = \"~/x\"\nguest = \"/root/...\"\nmode = \"0777\"\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		struct banger_config c;
		config_init(&c);
		parse_ok(&c, ok[i]);
		config_free(&c);
	}
}

static void test_wrong_types(void **state)
{
	(void)state;
	expect_err("\n\n[vm_defaults]\nvcpu = \"2\"\n", EINVAL, 4, "vcpu must be an integer, got string");
	expect_err("memory = 1\n[vm_defaults]\n", EINVAL, 1, "unknown key 'memory'");
	expect_err("[vm_defaults]\nmemory_mib = true\n", EINVAL, 2,
		   "memory_mib must be an integer, got boolean");
	expect_err("[vm_defaults]\ndisk_size = [1]\n", EINVAL, 2,
		   "disk_size must be a size string or an integer, got array");
	expect_err("vmm = 1\n", EINVAL, 1, "vmm must be a string, got integer");
	expect_err("qemu_bin = [\"a\"]\n", EINVAL, 1, "qemu_bin must be a string, got array");
	expect_err("stop_timeout_s = \"30\"\n", EINVAL, 1, "stop_timeout_s must be an integer, got string");
	expect_err("default_image_name = true\n", EINVAL, 1, "must be a string, got boolean");
	expect_err("vm_defaults = 3\n", EINVAL, 1, "vm_defaults must be a table, got integer");
	expect_err("file_sync = \"x\"\n", EINVAL, 1, "file_sync must be an array of tables");
	expect_err("[file_sync]\nhost = \"~/a\"\n", EINVAL, 1, "file_sync must be an array of tables");
	expect_err("file_sync = [1]\n", EINVAL, 1, "array holding integer");
	expect_err("[vm_defaults.x]\n", EINVAL, 1, "unknown key 'x' in [vm_defaults]");
	expect_err("[[file_sync]]\nhost = 1\nguest = \"/root/a\"\n", EINVAL, 2,
		   "file_sync host must be a string, got integer");
	expect_err("[[file_sync]]\nhost = \"~/a\"\nguest = \"/root/a\"\nmode = 0o600\n", EINVAL, 4,
		   "file_sync mode must be a string, got integer");
	expect_err("[[file_sync]]\nhost = \"~/a\"\nguest = \"/root/a\"\nmode = 0600\n", EINVAL, 4,
		   "leading zeros");
}

static void test_bad_values(void **state)
{
	(void)state;
	expect_err("vmm = \"kvm\"\n", EINVAL, 1, "vmm must be auto, firecracker or qemu, got 'kvm'");
	expect_err("qemu_accel = \"hvf\"\n", EINVAL, 1, "qemu_accel must be auto, kvm or tcg");
	expect_err("vmm = \"\"\n", EINVAL, 1, "vmm must not be empty");
	expect_err("ssh_key_path = \"\"\n", EINVAL, 1, "must not be empty");
	expect_err("ssh_key_path = \"a\\nb\"\n", EINVAL, 1, "control character");
	expect_err("default_image_name = \"../etc\"\n", EINVAL, 1, "must be a name, not a path");
	expect_err("default_kernel_name = \"..\"\n", EINVAL, 1, "must be a name");
	expect_err("bridge_name = \"abcdefghijklmnop\"\n", EINVAL, 1, "at most 15 bytes");
	expect_err("bridge_name = \"br 0\"\n", EINVAL, 1, "may only contain");
	expect_err("bridge_name = \"br/0\"\n", EINVAL, 1, "may only contain");
	expect_err("bridge_name = \"..\"\n", EINVAL, 1, "not a valid interface name");
	expect_err("bridge_name = \"\"\n", EINVAL, 1, "must not be empty");
	static const char *const subnets[] = {
		"10.0.0.1", "10.0.0.1/", "10.0.0/24", "10.0.0.1.1/24", "256.0.0.1/24",
		"01.0.0.1/24", "10.0.0.1/024", "a.b.c.d/24", "10.0.0.1/24x", " 10.0.0.1/24",
		"10.0.0.1/-24", "1000.0.0.1/24",
	};
	for (size_t i = 0; i < ARRAY_SIZE(subnets); i++) {
		char text[128];
		snprintf(text, sizeof(text), "bridge_subnet = \"%s\"\n", subnets[i]);
		expect_err(text, EINVAL, 1, "is not an IPv4 address with a prefix");
	}
	expect_err("bridge_subnet = \"10.0.0.1/15\"\n", EINVAL, 1, "between 16 and 30");
	expect_err("bridge_subnet = \"10.0.0.1/31\"\n", EINVAL, 1, "between 16 and 30");
	expect_err("bridge_subnet = \"10.0.0.0/24\"\n", EINVAL, 1, "network address");
	expect_err("bridge_subnet = \"10.0.255.255/16\"\n", EINVAL, 1, "broadcast address");
	expect_err("stop_timeout_s = 0\n", EINVAL, 1, "between 1 and 600, got 0");
	expect_err("stop_timeout_s = 601\n", EINVAL, 1, "between 1 and 600");
	expect_err("stop_timeout_s = -5\n", EINVAL, 1, "between 1 and 600");
	expect_err("dns_port = 65536\n", EINVAL, 1, "between 0 and 65535");
	expect_err("disk_clone = \"zfs\"\n", EINVAL, 1,
		   "disk_clone must be auto, reflink, dm-snapshot or sparse-copy, got 'zfs'");
	expect_err("disk_clone = 1\n", EINVAL, 1, "disk_clone must be a string, got integer");
	expect_err("[vm_defaults]\nvcpu = 0\n", EINVAL, 2, "vcpu must be between 1 and 32");
	expect_err("[vm_defaults]\nvcpu = 33\n", EINVAL, 2, "vcpu must be between 1 and 32");
	expect_err("[vm_defaults]\nmemory_mib = 127\n", EINVAL, 2, "between 128 and 1048576");
	expect_err("[vm_defaults]\nmemory_mib = 1048577\n", EINVAL, 2, "between 128 and 1048576");
	expect_err("[vm_defaults]\ndisk_size = \"63M\"\n", EINVAL, 2, "at least 64M");
	expect_err("[vm_defaults]\ndisk_size = 67108863\n", EINVAL, 2, "at least 64M");
	expect_err("[vm_defaults]\ndisk_size = -1\n", EINVAL, 2, "must not be negative");
	expect_err("[vm_defaults]\ndisk_size = \"8X\"\n", EINVAL, 2, "'8X' is not a size");
	expect_err("[vm_defaults]\ndisk_size = \"\"\n", EINVAL, 2, "is not a size");
	expect_err("[vm_defaults]\ndisk_size = \"-8G\"\n", EINVAL, 2, "is not a size");
	expect_err("[vm_defaults]\ndisk_size = \"17T\"\n", EINVAL, 2, "at most 16T");
	expect_err("[vm_defaults]\ndisk_size = \"99999999999999999999\"\n", EINVAL, 2, "is not a size");
}

static void test_unknown_keys(void **state)
{
	(void)state;
	expect_err("vmm = \"qemu\"\n\n[vm_defaults]\nvcpu = 1\nvcpus = 2\n", EINVAL, 5,
		   "unknown key 'vcpus' in [vm_defaults]");
	expect_err("a = 1\n", EINVAL, 1, "unknown key 'a'");
	expect_err("\n[network]\nx = 1\n", EINVAL, 2, "unknown table [network]");
	expect_err("[[file_sync]]\nhost = \"~/a\"\nguest = \"/root/a\"\nowner = \"me\"\n", EINVAL, 4,
		   "unknown key 'owner' in [[file_sync]]");
	expect_err("[[extra]]\n", EINVAL, 1, "unknown key 'extra'");
	/* key text in messages is made printable */
	struct banger_config c;
	struct berr err = { 0 };
	const char *t = "\"a\\nb\" = 1\n";
	config_init(&c);
	assert_int_equal(config_parse(&c, t, strlen(t), "config.toml", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown key 'a?b'"));
	config_free(&c);
}

static void test_file_sync_rules(void **state)
{
	(void)state;
	expect_err("[[file_sync]]\nguest = \"/root/a\"\n", EINVAL, 1, "entry is missing 'host'");
	expect_err("\n[[file_sync]]\nhost = \"~/a\"\n", EINVAL, 2, "entry is missing 'guest'");
	expect_err("[[file_sync]]\nhost = \"\"\nguest = \"/root/a\"\n", EINVAL, 2,
		   "file_sync host must not be empty");
	static const char *const bad_guest[] = {
		"/etc/passwd", "root/a", "/root", "/root/", "/rootx/a", "a", "/root/a/../../etc",
		"/root/../etc", "/root//a", "/root/./a", "/root/a/", "/root/a/..", "/ROOT/a",
		"~", "~/", "~/../etc", "~//a", "~/a/", "~root/a",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad_guest); i++) {
		char text[128];
		snprintf(text, sizeof(text), "[[file_sync]]\nhost = \"~/a\"\nguest = \"%s\"\n", bad_guest[i]);
		expect_err(text, EINVAL, 3, "file_sync guest path");
	}
	static const char *const bad_mode[] = {
		"0800", "600a", "12345", "1777", "4755", "60", "", "0o600", "+600", " 600",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad_mode); i++) {
		char text[128];
		snprintf(text, sizeof(text), "[[file_sync]]\nhost = \"~/a\"\nguest = \"/root/a\"\nmode = \"%s\"\n",
			 bad_mode[i]);
		expect_err(text, EINVAL, 4, "file_sync mode");
	}
	/* more than 256 entries */
	struct sbuf s;
	sbuf_init(&s);
	for (int i = 0; i < 257; i++)
		sbuf_printf(&s, "[[file_sync]]\nhost = \"~/h%d\"\nguest = \"/root/g%d\"\n", i, i);
	expect_err(s.buf, EINVAL, 1, "more than 256 [[file_sync]] entries");
	sbuf_free(&s);
}

/* "~/" in paths: file_sync guests mean /root; ssh_key_path uses $HOME;
 * relative paths are refused. */
static void test_home_paths(void **state)
{
	struct banger_config c;
	_cleanup_free_ char *old = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
	(void)state;

	config_init(&c);
	parse_ok(&c, "[[file_sync]]\nhost = \"~/.aws\"\nguest = \"~/.aws\"\n"
		     "[[file_sync]]\nhost = \"/home/u/x\"\nguest = \"~/a/b\"\nmode = \"0644\"\n"
		     "[[file_sync]]\nhost = \"~\"\nguest = \"/root/home\"\n");
	assert_int_equal(c.n_file_sync, 3);
	assert_string_equal(c.file_sync[0].host, "~/.aws");
	assert_string_equal(c.file_sync[0].guest, "/root/.aws");
	assert_string_equal(c.file_sync[1].guest, "/root/a/b");
	assert_string_equal(c.file_sync[2].host, "~");
	config_free(&c);
	static const char *const bad_host[] = { "a", ".aws", "./a", "~a", "../x", "~root/x" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_host); i++) {
		char text[128];
		snprintf(text, sizeof(text), "[[file_sync]]\nhost = \"%s\"\nguest = \"/root/a\"\n",
			 bad_host[i]);
		expect_err(text, EINVAL, 2, "must be absolute or start with ~/");
	}

	setenv("HOME", "/home/tester", 1);
	config_init(&c);
	parse_ok(&c, "ssh_key_path = \"~/.ssh/id_ed25519\"\n");
	assert_string_equal(c.ssh_key_path, "/home/tester/.ssh/id_ed25519");
	parse_ok(&c, "ssh_key_path = \"/etc/banger/key\"\n");
	assert_string_equal(c.ssh_key_path, "/etc/banger/key");
	config_free(&c);
	static const char *const bad_key[] = { "id_ed25519", ".ssh/id", "~", "~/", "~me/id", "./k" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_key); i++) {
		char text[128];
		snprintf(text, sizeof(text), "ssh_key_path = \"%s\"\n", bad_key[i]);
		expect_err(text, EINVAL, 1, "must be an absolute path or start with ~/");
	}
	if (old)
		setenv("HOME", old, 1);
	else
		unsetenv("HOME");
}

static void test_toml_errors_pass_through(void **state)
{
	(void)state;
	expect_err("vmm = \"qemu\"\nvmm = \"auto\"\n", EINVAL, 2, "duplicate key 'vmm'");
	expect_err("stop_timeout_s = 1.5\n", ENOTSUP, 1, "floats are not supported");
	expect_err("[vm_defaults]\nvcpu = 99999999999999999999\n", ERANGE, 2, "out of range");
	expect_err("vmm = \"qemu\n", EINVAL, 1, "unterminated string");
}

static char *make_tmpdir(void)
{
	char tmpl[] = "/tmp/banger-test-config-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return xstrdup(d);
}

static void write_text(const char *path, const char *text)
{
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static void test_load(void **state)
{
	(void)state;
	_cleanup_free_ char *dir = make_tmpdir();
	_cleanup_free_ char *missing = path_join(dir, "missing.toml");
	_cleanup_free_ char *good = path_join(dir, "config.toml");
	_cleanup_free_ char *bad = path_join(dir, "bad.toml");
	_cleanup_free_ char *big = path_join(dir, "big.toml");
	struct banger_config c;
	struct berr err = { 0 };

	config_init(&c);
	assert_int_equal(config_load(&c, missing, false, &err), 0);
	assert_string_equal(c.vmm, "auto");
	assert_null(c.path);
	assert_int_equal(config_load(&c, missing, true, &err), -ENOENT);
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, missing));

	write_text(good, full_config);
	assert_int_equal(config_load(&c, good, true, &err), 0);
	assert_string_equal(c.path, good);
	assert_string_equal(c.vmm, "qemu");
	assert_int_equal(c.n_file_sync, 2);

	write_text(bad, "vmm = \"qemu\"\n[vm_defaults]\nvcpus = 2\n");
	assert_int_equal(config_load(&c, bad, false, &err), -EINVAL);
	char want[512];
	snprintf(want, sizeof(want), "%s:3: unknown key 'vcpus' in [vm_defaults]", bad);
	assert_string_equal(err.msg, want);
	assert_string_equal(c.path, good); /* unchanged */

	/* a directory is not a config file */
	assert_true(config_load(&c, dir, false, &err) < 0);
	assert_non_null(strstr(err.msg, dir));

	/* larger than 1 MiB */
	size_t n = (1u << 20) + 10;
	char *text = xmalloc(n + 1);
	memset(text, '\n', n);
	text[n] = '\0';
	write_text(big, text);
	free(text);
	assert_int_equal(config_load(&c, big, false, &err), -EFBIG);
	assert_non_null(strstr(err.msg, big));
	config_free(&c);

	assert_int_equal(rm_rf(dir), 0);
}

/* Catalogs and OCI images: catalog_url as one URL or a list, the key,
 * the flags, the sizes; bad values name the key and the line. */
static void test_catalog_keys(void **state)
{
	(void)state;
	struct banger_config c;
	config_init(&c);
	assert_int_equal(c.n_catalog_urls, 0);
	assert_null(c.catalog_pubkey);
	assert_false(c.catalog_insecure);
	assert_int_equal(c.catalog_ttl, 3600);
	assert_int_equal(c.oci_headroom, 512 * MiB);
	assert_null(c.docker_config);
	assert_null(c.oci_inject_dir);
	parse_ok(&c, "catalog_url = \"https://files.example.org/banger/\"\n");
	assert_int_equal(c.n_catalog_urls, 1);
	assert_string_equal(c.catalog_urls[0], "https://files.example.org/banger/");
	parse_ok(&c, "catalog_url = [\"http://127.0.0.1:8080/cat/\", \"file:///mnt/m/index.json\"]\n"
		     "catalog_pubkey = \"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA\\n-----END PUBLIC KEY-----\\n\"\n"
		     "catalog_insecure = true\ncatalog_ttl = 60\noci_headroom = \"0\"\n"
		     "docker_config = \"/etc/banger/docker.json\"\noci_inject_dir = \"/opt/inject\"\n");
	assert_int_equal(c.n_catalog_urls, 2);
	assert_string_equal(c.catalog_urls[1], "file:///mnt/m/index.json");
	assert_non_null(strchr(c.catalog_pubkey, '\n'));
	assert_true(c.catalog_insecure);
	assert_int_equal(c.catalog_ttl, 60);
	assert_int_equal(c.oci_headroom, 0);
	assert_string_equal(c.docker_config, "/etc/banger/docker.json");
	assert_string_equal(c.oci_inject_dir, "/opt/inject");
	parse_ok(&c, "oci_headroom = \"1G\"\n");
	assert_int_equal(c.oci_headroom, GiB);
	/* a copy survives a failed parse */
	struct berr err = { 0 };
	assert_true(config_parse(&c, "catalog_url = 3\n", 13, "x", &err) < 0);
	assert_int_equal(c.n_catalog_urls, 2);
	config_free(&c);

	expect_err("catalog_url = \"ftp://x/\"\n", EINVAL, 1, "must start with https://");
	expect_err("catalog_url = []\n", EINVAL, 1, "at least one URL");
	expect_err("catalog_url = [\"http://a/\", 3]\n", EINVAL, 1, "catalog_url must be a string");
	expect_err("catalog_url = \"http://a b/\"\n", EINVAL, 1, "spaces");
	expect_err("\ncatalog_url = 1\n", EINVAL, 2, "string or an array of strings");
	expect_err("catalog_insecure = \"yes\"\n", EINVAL, 1, "true or false");
	expect_err("catalog_ttl = 0\n", EINVAL, 1, "between 1 and");
	expect_err("catalog_pubkey = \"\"\n", EINVAL, 1, "must not be empty");
	expect_err("catalog_pubkey = \"a\\u0001b\"\n", EINVAL, 1, "control character");
	expect_err("oci_headroom = \"lots\"\n", EINVAL, 1, "is not a size");
	expect_err("oci_headroom = \"2T\"\n", EINVAL, 1, "at most 1T");
	expect_err("docker_config = \"rel/path\"\n", EINVAL, 1, "absolute path");
}

static void test_prov_name(void **state)
{
	(void)state;
	assert_string_equal(prov_name(PROV_FLOOR), "floor");
	assert_string_equal(prov_name(PROV_DEFAULT), "default");
	assert_string_equal(prov_name(PROV_HOST), "host");
	assert_string_equal(prov_name(PROV_CONFIG), "config");
	assert_string_equal(prov_name(PROV_VM), "vm");
	assert_string_equal(prov_name((enum prov)99), "unknown");
}

static void test_sizing(void **state)
{
	(void)state;
	struct banger_config c;
	struct sizing s;
	struct hostinfo small = { .cpus = 2, .ram_bytes = 24 * GiB };
	struct hostinfo large = { .cpus = 32, .ram_bytes = 128 * GiB };
	struct hostinfo mid = { .cpus = 8, .ram_bytes = 16 * GiB };
	struct hostinfo tiny = { .cpus = 1, .ram_bytes = 2 * GiB };
	struct hostinfo unknown = { 0 };

	config_init(&c);
	sizing_resolve(&c, &small, &s);
	assert_int_equal(s.vcpu, 1);
	assert_int_equal(s.vcpu_prov, PROV_FLOOR);
	assert_int_equal(s.memory_mib, 3072);
	assert_int_equal(s.memory_prov, PROV_HOST);
	assert_true(s.disk_size == 8 * GiB);
	assert_int_equal(s.disk_prov, PROV_DEFAULT);

	sizing_resolve(&c, &large, &s);
	assert_int_equal(s.vcpu, 4);
	assert_int_equal(s.vcpu_prov, PROV_HOST);
	assert_int_equal(s.memory_mib, 8192);
	assert_int_equal(s.memory_prov, PROV_HOST);

	sizing_resolve(&c, &mid, &s);
	assert_int_equal(s.vcpu, 2);
	assert_int_equal(s.vcpu_prov, PROV_HOST);
	assert_int_equal(s.memory_mib, 2048);
	assert_int_equal(s.memory_prov, PROV_HOST);

	sizing_resolve(&c, &tiny, &s);
	assert_int_equal(s.vcpu, SIZING_FLOOR_VCPU);
	assert_int_equal(s.vcpu_prov, PROV_FLOOR);
	assert_int_equal(s.memory_mib, SIZING_FLOOR_MEMORY_MIB);
	assert_int_equal(s.memory_prov, PROV_FLOOR);

	sizing_resolve(&c, &unknown, &s);
	assert_int_equal(s.vcpu_prov, PROV_FLOOR);
	assert_int_equal(s.memory_prov, PROV_FLOOR);
	sizing_resolve(NULL, NULL, &s);
	assert_int_equal(s.vcpu, 1);
	assert_int_equal(s.memory_mib, 512);
	assert_int_equal(s.disk_prov, PROV_DEFAULT);

	parse_ok(&c, "[vm_defaults]\nvcpu = 6\nmemory_mib = 256\ndisk_size = \"20G\"\n");
	sizing_resolve(&c, &small, &s);
	assert_int_equal(s.vcpu, 6);
	assert_int_equal(s.vcpu_prov, PROV_CONFIG);
	assert_int_equal(s.memory_mib, 256); /* config wins even below the floor */
	assert_int_equal(s.memory_prov, PROV_CONFIG);
	assert_true(s.disk_size == 20 * GiB);
	assert_int_equal(s.disk_prov, PROV_CONFIG);
	config_free(&c);

	config_init(&c);
	parse_ok(&c, "[vm_defaults]\nmemory_mib = 1024\n");
	sizing_resolve(&c, &large, &s);
	assert_int_equal(s.vcpu, 4);
	assert_int_equal(s.vcpu_prov, PROV_HOST);
	assert_int_equal(s.memory_mib, 1024);
	assert_int_equal(s.memory_prov, PROV_CONFIG);
	config_free(&c);
}

static void test_hostinfo_read(void **state)
{
	(void)state;
	struct hostinfo h = { .cpus = -1, .ram_bytes = 1 };
	assert_int_equal(hostinfo_read(&h), 0);
	assert_true(h.cpus >= 1);
	assert_true(h.cpus == sysconf(_SC_NPROCESSORS_ONLN));
	assert_true(h.ram_bytes >= 64 * MiB);
	assert_true(h.ram_bytes % 1024 == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_partial_overrides),
		cmocka_unit_test(test_valid_values),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_file_sync_rules),
		cmocka_unit_test(test_home_paths),
		cmocka_unit_test(test_toml_errors_pass_through),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_catalog_keys),
		cmocka_unit_test(test_prov_name),
		cmocka_unit_test(test_sizing),
		cmocka_unit_test(test_hostinfo_read),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
