/* tests/unit/test_snapshot.c: a snapshot's meta.json (core/snapmeta.c),
 * its checksum, and the snapshot store (core/snapshot.c): making one with a
 * stand-in driver, finding it by key, refusing and removing a truncated or
 * corrupted one, one of another image, rmdir while in use. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "disk.h"
#include "snapmeta.h"
#include "snapshot.h"
#include "testutil.h"
#include "util.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/banger-snap-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(dir);
	return 0;
}

static void write_bytes(const char *path, off_t at, const void *data, size_t len, off_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	assert_int_equal(pwrite(fd, data, len, at), (ssize_t)len);
	close(fd);
}

/* ---- meta.json ------------------------------------------------------------ */

static void fill_meta(struct snap_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->key_text = xstrdup("image img abc\nvcpu 2\n");
	snap_key(m->key_text, m->key);
	snap_name("img", m->key, m->name);
	m->cmdline = xstrdup("ip=172.16.0.2::172.16.0.1:255.255.255.0:a:eth0:off");
	snprintf(m->image, sizeof(m->image), "img");
	snprintf(m->kernel, sizeof(m->kernel), "k");
	snprintf(m->vmm, sizeof(m->vmm), "qemu");
	snprintf(m->source_vm, sizeof(m->source_vm), "a");
	m->vcpu = 2;
	m->memory_mib = 1024;
	m->work_size = 8ULL << 30;
	m->created_ms = 1700000000000;
	const char *names[] = { "state", "mem", "rootfs.ext4" };
	for (int i = 0; i < 3; i++) {
		snprintf(m->files[i].name, sizeof(m->files[i].name), "%s", names[i]);
		m->files[i].size = 4096 * (i + 1);
		memset(m->files[i].sha256, 'a' + i, 64);
		m->files[i].sha256[64] = 0;
	}
	m->n_files = 3;
}

static void test_meta_round_trip(void **state)
{
	(void)state;
	struct snap_meta m, back;
	struct berr err = { 0 };
	fill_meta(&m);
	char *text = snap_meta_format(&m);
	assert_int_equal(snap_meta_parse(text, strlen(text), &back, &err), 0);
	assert_string_equal(back.name, m.name);
	assert_string_equal(back.key, m.key);
	assert_string_equal(back.key_text, m.key_text);
	assert_string_equal(back.cmdline, m.cmdline);
	assert_int_equal(back.vcpu, 2);
	assert_int_equal(back.work_size, 8ULL << 30);
	assert_int_equal(back.n_files, 3);
	assert_string_equal(back.files[1].name, "mem");
	char *again = snap_meta_format(&back);
	assert_string_equal(again, text);
	free(again);
	free(text);
	snap_meta_clear(&back);
	snap_meta_clear(&m);
	assert_true(strncmp(m.name, "", 1) == 0);
}

/* Replace the first "from" in text by "to" and parse: must fail saying why. */
static void refused(const char *text, const char *from, const char *to, const char *why)
{
	struct snap_meta m;
	struct berr err = { 0 };
	char *p = strstr(text, from);
	assert_non_null(p);
	char *t = xasprintf("%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
	int r = snap_meta_parse(t, strlen(t), &m, &err);
	if (r == 0 || !strstr(err.msg, why))
		fail_msg("'%s' -> '%s': r=%d msg='%s', wanted '%s'", from, to, r, err.msg, why);
	free(t);
}

static void test_meta_refusals(void **state)
{
	(void)state;
	struct snap_meta m;
	struct berr err = { 0 };
	fill_meta(&m);
	char *text = snap_meta_format(&m);
	snap_meta_clear(&m);
	refused(text, "\"version\": 1", "\"version\": 2", "version 2");
	refused(text, "\"vcpu\": 2", "\"vcpu\": 0", "vcpu");
	refused(text, "\"vcpu\": 2", "\"vcpu\": \"2\"", "vcpu");
	refused(text, "\"vcpu\": 2", "\"vcpu\": 2, \"extra\": 1", "unknown key");
	refused(text, "\"image\": \"img\"", "\"image\": \"\"", "image");
	refused(text, "vcpu 2\\n", "vcpu 3\\n", "key does not match");
	refused(text, "\"name\": \"mem\"", "\"name\": \"state\"", "listed twice");
	refused(text, "\"name\": \"mem\"", "\"name\": \"../etc\"", "not a snapshot file");
	refused(text, "\"name\": \"img-", "\"name\": \".img-", "not a snapshot name");
	refused(text, "aaaaaaaa", "aaaaaaaZ", "sha256");
	refused(text, "\"cmdline\": \"ip", "\"cmdline\": \"\\u0001ip", "cmdline");
	refused(text, "\"key_text\": \"image", "\"key_text\": \"\\u0000image", "not JSON");
	refused(text, "\"key_text\": \"image", "\"key_text\": \"\\u0007image", "key_text");
	assert_int_equal(snap_meta_parse("[1]", 3, &m, &err), -EINVAL);
	assert_int_equal(snap_meta_parse("{", 1, &m, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not JSON"));
	free(text);
}

static void test_names(void **state)
{
	(void)state;
	char key[65], name[SNAP_NAME_MAX];
	snap_key("x", key);
	snap_name("debian-bookworm-mini", key, name);
	assert_int_equal(strncmp(name, "debian-bookworm-mini-", 21), 0);
	assert_int_equal(strlen(name), 21 + 12);
	assert_true(snap_name_valid(name));
	snap_name("Weird/Name", key, name);
	assert_true(snap_name_valid(name));
	assert_null(strchr(name, '/'));
	snap_name(".hidden", key, name);
	assert_true(snap_name_valid(name));
	assert_false(snap_name_valid(""));
	assert_false(snap_name_valid("-x"));
	assert_false(snap_name_valid(".tmp-x"));
	assert_false(snap_name_valid("a/b"));
}

/* The checksum does not depend on holes: the same bytes written densely
 * and sparsely sum the same; any changed byte changes it. */
static void test_file_hash(void **state)
{
	(void)state;
	char a[65], b[65], c[65];
	uint64_t sz;
	struct berr err = { 0 };
	char *dense = p("%s/dense", dir), *sparse = p("%s/sparse", dir);
	char *buf = xcalloc(1, 1 << 20);
	memcpy(buf + 5000, "hello", 5);
	memcpy(buf + 700000, "world", 5);
	write_bytes(dense, 0, buf, 1 << 20, 1 << 20);
	write_bytes(sparse, 5000, "hello", 5, 1 << 20);
	write_bytes(sparse, 700000, "world", 5, 1 << 20);
	assert_int_equal(snap_file_hash(dense, a, &sz, &err), 0);
	assert_int_equal(sz, 1 << 20);
	assert_int_equal(snap_file_hash(sparse, b, &sz, &err), 0);
	assert_string_equal(a, b);
	write_bytes(sparse, 700004, "x", 1, 1 << 20);
	assert_int_equal(snap_file_hash(sparse, c, &sz, &err), 0);
	assert_string_not_equal(a, c);
	/* the size counts too */
	write_bytes(dense, 0, buf, 1, (1 << 20) + 4096);
	assert_int_equal(snap_file_hash(dense, c, &sz, &err), 0);
	assert_string_not_equal(a, c);
	assert_int_equal(snap_file_hash(p("%s/none", dir), c, &sz, &err), -ENOENT);
	free(buf);
}

/* ---- the store, with a stand-in driver ---------------------------------------- */

static int fake_calls;
static char calls[256];

static void called(const char *what)
{
	strncat(calls, what, sizeof(calls) - strlen(calls) - 1);
	strncat(calls, " ", sizeof(calls) - strlen(calls) - 1);
	fake_calls++;
}

static int f_pause(const struct vmm_host *h, const struct vmm_proc *pr, struct berr *err)
{
	(void)h, (void)pr, (void)err;
	called("pause");
	return 0;
}

static int f_resume(const struct vmm_host *h, const struct vmm_proc *pr, struct berr *err)
{
	(void)h, (void)pr, (void)err;
	called("resume");
	return 0;
}

static bool save_fails;

static int f_save(const struct vmm_host *h, const struct vmm_proc *pr, const struct vmm_spec *s,
		  const struct vmm_snap *sn, struct berr *err)
{
	(void)h, (void)pr, (void)s;
	called("save");
	if (save_fails)
		return berr_set(err, EIO, "the stand-in refuses");
	write_bytes(sn->state, 0, "device state", 12, 12);
	write_bytes(sn->mem, 1 << 16, "memory", 6, 1 << 20);
	return 0;
}

static int f_restore(const struct vmm_host *h, const struct vmm_spec *s, const struct vmm_snap *sn,
		     struct vmm_proc *ret, struct berr *err)
{
	(void)h, (void)s, (void)sn, (void)ret, (void)err;
	return 0;
}

static const struct vmm_driver fake = { .name = "fake", .pause = f_pause, .resume = f_resume,
					.snap_save = f_save, .restore = f_restore };

static int g_quiesce(void *ctx, struct berr *err)
{
	(void)ctx, (void)err;
	called("quiesce");
	return 0;
}

static int g_thaw(void *ctx, struct berr *err)
{
	(void)ctx, (void)err;
	called("thaw");
	return 0;
}

static void make_one(struct snapstore *ss, const char *image, const char *key_text, char *name,
		     int want)
{
	char *root = p("%s/vm-rootfs.ext4", dir);
	write_bytes(root, 1 << 20, "rootfs data", 11, 4 << 20);
	struct vmm_spec spec = { .name = "a", .rootfs = root, .vcpu = 2, .memory_mib = 512 };
	struct vmm_proc proc = { .pid = 1 };
	struct snap_source src = { .drv = &fake, .proc = &proc, .spec = &spec,
				   .key_text = key_text, .image = image, .kernel = "k", .vm = "a",
				   .cmdline = "", .work_size = 1 << 20, .state_dir = dir,
				   .guest_quiesce = g_quiesce, .guest_thaw = g_thaw };
	struct berr err = { 0 };
	calls[0] = 0;
	int r = snapstore_create(ss, &src, name, &err);
	if (r != want)
		fail_msg("snapstore_create: %d (%s), wanted %d", r, err.msg, want);
}

static void test_store(void **state)
{
	(void)state;
	struct snapstore *ss;
	struct berr err = { 0 };
	char sd[128];
	snprintf(sd, sizeof(sd), "%s/snapshots", dir);
	char name[SNAP_NAME_MAX], key[65];
	struct snap_use u;

	assert_int_equal(mkdir(p("%s/vms", dir), 0700), 0);
	assert_int_equal(mkdir(p("%s/vms/a", dir), 0700), 0);
	/* leftovers of an interrupted snapshot go at open */
	assert_int_equal(mkdir(sd, 0700), 0);
	assert_int_equal(mkdir(p("%s/.tmp-x-1", sd), 0700), 0);
	assert_int_equal(snapstore_new(sd, &ss, &err), 0);
	assert_int_equal(access(p("%s/.tmp-x-1", sd), F_OK), -1);

	snap_key("kt1\n", key);
	assert_int_equal(snapstore_find(ss, key, &u, &err), -ENOENT);
	make_one(ss, "img", "kt1\n", name, 0);
	assert_string_equal(calls, "quiesce pause save resume thaw ");
	assert_true(snapstore_has(ss, key));
	/* the same key again: exists */
	make_one(ss, "img", "kt1\n", name, -EEXIST);
	/* a failed save leaves nothing, and the VM runs again */
	save_fails = true;
	make_one(ss, "other", "kt2\n", name, -EIO);
	save_fails = false;
	assert_string_equal(calls, "quiesce pause save resume thaw ");
	assert_int_equal(snapstore_count(ss), 1);

	/* found, files read-only, in use: rmdir waits */
	assert_int_equal(snapstore_find(ss, key, &u, &err), 0);
	struct stat st;
	assert_int_equal(stat(u.mem, &st), 0);
	assert_int_equal(st.st_mode & 0777, geteuid() == 0 ? 0400 : 0600);
	assert_int_equal(stat(u.rootfs, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0400);
	char nm[SNAP_NAME_MAX];
	snprintf(nm, sizeof(nm), "%s", u.meta.name);
	assert_int_equal(snapstore_remove(ss, nm, &err), -EBUSY);
	snapstore_release(ss, &u);

	struct snap_info *all;
	size_t n;
	assert_int_equal(snapstore_list(ss, &all, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(all[0].meta.image, "img");
	snap_info_array_free(all, n);

	/* truncated: refused, removed, the reason says so */
	chmod(p("%s/%s/mem", sd, nm), 0600);
	assert_int_equal(truncate(p("%s/%s/mem", sd, nm), 4096), 0);
	assert_true(snapstore_find(ss, key, &u, &err) < 0);
	assert_non_null(strstr(err.msg, "truncated"));
	assert_non_null(strstr(err.msg, "removed"));
	assert_int_equal(access(p("%s/%s", sd, nm), F_OK), -1);
	assert_false(snapstore_has(ss, key));

	/* corrupt (same size, another byte): the checksum finds it */
	make_one(ss, "img", "kt1\n", name, 0);
	char rp[256];
	snprintf(rp, sizeof(rp), "%s/%s/rootfs.ext4", sd, name);
	chmod(rp, 0600);
	write_bytes(rp, (1 << 20) + 3, "X", 1, 4 << 20);
	assert_true(snapstore_find(ss, key, &u, &err) < 0);
	assert_non_null(strstr(err.msg, "checksum"));
	assert_int_equal(access(p("%s/%s", sd, name), F_OK), -1);

	/* another image's snapshot does not answer for this key; a meta.json
	 * claiming this key but with another key_text is refused */
	make_one(ss, "other", "kt2\n", name, 0);
	assert_int_equal(snapstore_find(ss, key, &u, &err), -ENOENT);
	char key2[65];
	snap_key("kt2\n", key2);
	assert_int_equal(snapstore_find(ss, key2, &u, &err), 0);
	snapstore_release(ss, &u);
	char mp[256];
	snprintf(mp, sizeof(mp), "%s/%s/meta.json", sd, name);
	char *text = NULL;
	assert_int_equal(read_file(mp, 1 << 20, &text, NULL), 0);
	char *kt = strstr(text, "kt2");
	assert_non_null(kt);
	kt[2] = '3';
	chmod(mp, 0600);
	assert_int_equal(write_file_atomic(mp, text, strlen(text), 0600), 0);
	free(text);
	assert_true(snapstore_find(ss, key2, &u, &err) < 0);
	assert_non_null(strstr(err.msg, "key does not match"));

	assert_int_equal(snapstore_remove(ss, "nope", &err), -ENOENT);
	assert_int_equal(snapstore_remove(ss, "../x", &err), -ENOENT);
	snapstore_free(ss);
}

/* A VM restored under QEMU has a qcow2 overlay as its root disk
 * (core/vmdisk.h); a snapshot of it holds one raw file: the base with the
 * overlay's writes (qemu-io: QEMU's block layer). */
static void test_store_overlay_root(void **state)
{
	(void)state;
	struct snapstore *ss;
	struct berr err = { 0 };
	char sd[128], name[SNAP_NAME_MAX], key[65];
	struct snap_use u;
	snprintf(sd, sizeof(sd), "%s/snapshots", dir);
	assert_int_equal(mkdir(sd, 0700), 0);
	assert_int_equal(snapstore_new(sd, &ss, &err), 0);

	char *base = p("%s/vm-rootfs.base", dir);
	write_bytes(base, 1 << 20, "rootfs data", 11, 4 << 20);
	char *ov = p("%s/vm-rootfs.qcow2", dir);
	if (disk_overlay(ov, "vm-rootfs.base", 4 << 20, &err) < 0)
		fail_msg("disk_overlay: %s (make deps: qemu-utils)", err.msg);
	char *io = p("qemu-io -f qcow2 -c 'write -P 0x51 8k 4k' %s >/dev/null", ov);
	assert_int_equal(system(io), 0);
	struct vmm_spec spec = { .name = "a", .rootfs = ov, .vcpu = 2, .memory_mib = 512 };
	struct vmm_proc proc = { .pid = 1 };
	struct snap_source src = { .drv = &fake, .proc = &proc, .spec = &spec,
				   .key_text = "kt-ov\n", .image = "ovl", .kernel = "k", .vm = "a",
				   .cmdline = "", .work_size = 1 << 20, .state_dir = dir,
				   .guest_quiesce = g_quiesce, .guest_thaw = g_thaw };
	calls[0] = 0;
	if (snapstore_create(ss, &src, name, &err) < 0)
		fail_msg("snapstore_create: %s", err.msg);
	snap_key("kt-ov\n", key);
	assert_int_equal(snapstore_find(ss, key, &u, &err), 0);
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(read_file(u.rootfs, 8 << 20, &text, &len), 0);
	assert_int_equal(len, 4 << 20);
	for (size_t i = 8192; i < 12288; i++)
		assert_int_equal(text[i], 0x51);
	assert_int_equal(text[8191], 0);
	assert_memory_equal(text + (1 << 20), "rootfs data", 11);
	free(text);
	snapstore_release(ss, &u);
	snapstore_free(ss);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meta_round_trip),
		cmocka_unit_test(test_meta_refusals),
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_file_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_overlay_root, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
