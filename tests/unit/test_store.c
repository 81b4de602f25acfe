/* tests/unit/test_store.c: core/store.c against real SQLite files. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

struct fx {
	char dir[64];
	char *db;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/banger-store-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->db = path_join(f->dir, "state.db");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	rm_rf(f->dir);
	free(f->db);
	free(f);
	return 0;
}

static struct store *open_ok(const char *path)
{
	struct berr err = { 0 };
	struct store *s = NULL;
	int r = store_open(&s, path, &err);

	if (r < 0)
		print_error("store_open: %s\n", err.msg);
	assert_int_equal(r, 0);
	assert_non_null(s);
	return s;
}

static int64_t add_vm(struct store *s, const char *name)
{
	struct vm_rec r = { 0 };
	struct berr err = { 0 };
	int ret;

	snprintf(r.name, sizeof(r.name), "%s", name);
	ret = store_vm_insert(s, &r, &err);
	if (ret < 0)
		print_error("insert %s: %s\n", name, err.msg);
	assert_int_equal(ret, 0);
	return r.id;
}

/* Raw SQLite access for checks the store API does not expose. */
static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 NULL), SQLITE_OK);
	return db;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

static void assert_integrity(const char *path)
{
	sqlite3 *db = raw_open(path);
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* ---- open, modes, migrations ---- */

static void assert_fds_cloexec(const char *dir)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int seen = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char link[300], target[512], info[300], line[128];
		ssize_t n;
		FILE *fi;

		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, dir, strlen(dir)) != 0)
			continue;
		snprintf(info, sizeof(info), "/proc/self/fdinfo/%s", e->d_name);
		fi = fopen(info, "re");
		assert_non_null(fi);
		while (fgets(line, sizeof(line), fi)) {
			unsigned long flags;
			if (sscanf(line, "flags: %lo", &flags) == 1) {
				if (!(flags & O_CLOEXEC))
					print_error("%s is not O_CLOEXEC\n", target);
				assert_true(flags & O_CLOEXEC);
				seen++;
			}
		}
		fclose(fi);
	}
	closedir(d);
	assert_true(seen >= 2); /* the database and at least its -wal/-shm */
}

static void test_open_creates_private_wal(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f->db);
	char *wal = xasprintf("%s-wal", f->db);
	struct stat st;

	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	add_vm(s, "a");
	assert_int_equal(stat(f->db, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(wal, &st), 0); /* WAL mode is on */
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_fds_cloexec(f->dir);
	store_close(s);
	free(wal);

	sqlite3 *db = raw_open(f->db);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	sqlite3_stmt *q = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static void test_reopen_keeps_records(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f->db);
	struct vm_rec v = { 0 };
	struct berr err = { 0 };
	int64_t id;

	id = add_vm(s, "keeper");
	store_close(s);
	s = open_ok(f->db);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	assert_int_equal(store_vm_get(s, id, &v, &err), 0);
	assert_string_equal(v.name, "keeper");
	assert_string_equal(v.state, "created");
	vm_rec_clear(&v);
	store_close(s);
}

static void test_open_refuses_non_database(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct berr err = { 0 };
	char junk[4096];
	int fd;

	memset(junk, 'x', sizeof(junk));
	fd = open(f->db, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	assert_true(store_open(&s, f->db, &err) < 0);
	assert_null(s);
	assert_true(err.msg[0] != '\0');

	/* A symlink is not followed. */
	char *link = path_join(f->dir, "link.db");
	char *target = path_join(f->dir, "other.db");
	assert_int_equal(symlink(target, link), 0);
	berr_clear(&err);
	assert_int_equal(store_open(&s, link, &err), -ELOOP);
	assert_int_equal(access(target, F_OK), -1);
	free(link);
	free(target);
}

static void test_migrate_empty_file(void **state)
{
	struct fx *f = *state;
	struct store *s;
	int fd = open(f->db, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	close(fd);
	s = open_ok(f->db);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	add_vm(s, "x");
	store_close(s);
}

static void test_migrate_v0_database(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = raw_open(f->db);
	struct store *s;

	/* A real, empty database in rollback-journal mode at version 0. */
	raw_exec(db, "PRAGMA journal_mode = DELETE; PRAGMA user_version = 0; VACUUM");
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema"), 0);
	sqlite3_close(db);

	s = open_ok(f->db);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	add_vm(s, "x");
	store_close(s);

	db = raw_open(f->db);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
				 "AND name IN ('vms', 'images')"), 2);
	sqlite3_close(db);
}

static void test_newer_database_refused(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = raw_open(f->db);
	struct store *s = NULL;
	struct berr err = { 0 };

	raw_exec(db, "PRAGMA user_version = 99; CREATE TABLE future (x)");
	sqlite3_close(db);

	assert_int_equal(store_open(&s, f->db, &err), -EPROTO);
	assert_null(s);
	assert_non_null(strstr(err.msg, "schema version 99"));

	db = raw_open(f->db);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 99);
	sqlite3_close(db);
}

static void test_failed_migration_rolls_back(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		"CREATE TABLE a (x INTEGER)",
		"CREATE TABLE b (x INTEGER); INSERT INTO b VALUES (1); INSERT INTO nosuch VALUES (1)",
	};
	static const char *const good[] = {
		"CREATE TABLE a (x INTEGER)",
		"CREATE TABLE b (x INTEGER); INSERT INTO b VALUES (1)",
		"ALTER TABLE b ADD COLUMN y TEXT NOT NULL DEFAULT 'z'",
	};
	struct store *s = NULL;
	struct berr err = { 0 };
	sqlite3 *db;

	assert_true(store_open_migrations(&s, f->db, bad, 2, &err) < 0);
	assert_null(s);
	assert_non_null(strstr(err.msg, "schema version 2"));

	db = raw_open(f->db);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'a'"), 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'b'"), 0);
	sqlite3_close(db);

	/* The fixed list picks up at version 1 and applies two more steps. */
	assert_int_equal(store_open_migrations(&s, f->db, good, 3, &err), 0);
	assert_int_equal(store_schema_version(s), 3);
	store_close(s);
	db = raw_open(f->db);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM b WHERE y = 'z'"), 1);
	sqlite3_close(db);
}

static void test_real_migration_rolls_back(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = raw_open(f->db);
	struct store *s = NULL;
	struct berr err = { 0 };

	/* "images" is in the way: step 1 fails after creating "vms". */
	raw_exec(db, "CREATE TABLE images (x)");
	sqlite3_close(db);
	assert_true(store_open(&s, f->db, &err) < 0);
	assert_null(s);

	db = raw_open(f->db);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 0);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'vms'"), 0);
	sqlite3_close(db);
}

/* ---- VMs ---- */

static void test_vm_crud(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f->db);
	struct vm_rec v = { 0 }, w = { 0 }, *list = NULL;
	struct berr err = { 0 };
	size_t n = 0;
	int64_t before = now_ms();

	strcpy(v.name, "beta");
	strcpy(v.image, "debian-bookworm");
	strcpy(v.vmm, "qemu");
	v.vcpu = 2;
	v.memory_mib = 1024;
	v.disk_size = 8LL << 30;
	v.runtime = xstrdup("{\"qmp\":\"/run/x\"}");
	assert_int_equal(store_vm_insert(s, &v, &err), 0);
	assert_true(v.id > 0);
	assert_true(v.created_at >= before);
	assert_string_equal(v.state, "created");
	add_vm(s, "gamma");
	add_vm(s, "alpha");

	assert_int_equal(store_vm_get(s, v.id, &w, &err), 0);
	assert_string_equal(w.name, "beta");
	assert_string_equal(w.image, "debian-bookworm");
	assert_string_equal(w.kernel, "");
	assert_string_equal(w.vmm, "qemu");
	assert_int_equal(w.vcpu, 2);
	assert_int_equal(w.memory_mib, 1024);
	assert_int_equal(w.disk_size, 8LL << 30);
	assert_int_equal(w.created_at, v.created_at);
	assert_null(w.last_error);
	assert_string_equal(w.runtime, "{\"qmp\":\"/run/x\"}");
	assert_true(w.runtime != v.runtime);
	vm_rec_clear(&w);

	assert_int_equal(store_vm_list(s, &list, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].name, "alpha");
	assert_string_equal(list[1].name, "beta");
	assert_string_equal(list[2].name, "gamma");
	assert_string_equal(list[1].runtime, "{\"qmp\":\"/run/x\"}");
	vm_rec_array_free(list, n);

	/* Update writes every mutable column. */
	strcpy(v.state, "running");
	strcpy(v.kernel, "cloud");
	v.pid = 4242;
	v.pid_start = 777;
	v.started_at = 1000;
	v.stopped_at = 2000;
	v.memory_mib = 2048;
	free(v.runtime);
	v.runtime = NULL;
	v.last_error = xstrdup("boom");
	assert_int_equal(store_vm_update(s, &v, &err), 0);
	assert_int_equal(store_vm_get_by_name(s, "beta", &w, &err), 0);
	assert_int_equal(w.id, v.id);
	assert_string_equal(w.state, "running");
	assert_string_equal(w.kernel, "cloud");
	assert_int_equal(w.pid, 4242);
	assert_int_equal(w.pid_start, 777);
	assert_int_equal(w.started_at, 1000);
	assert_int_equal(w.stopped_at, 2000);
	assert_int_equal(w.memory_mib, 2048);
	assert_null(w.runtime);
	assert_string_equal(w.last_error, "boom");
	vm_rec_clear(&w);

	/* The name is not mutable; an invalid state is refused by the schema. */
	strcpy(v.name, "delta");
	assert_int_equal(store_vm_update(s, &v, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'beta' cannot be renamed"));
	strcpy(v.name, "beta");
	strcpy(v.state, "exploded");
	assert_int_equal(store_vm_update(s, &v, &err), -EINVAL);
	strcpy(v.state, "running");
	v.vcpu = -1;
	assert_int_equal(store_vm_update(s, &v, &err), -EINVAL);
	v.vcpu = 2;

	assert_int_equal(store_vm_delete(s, v.id, &err), 0);
	assert_int_equal(store_vm_get(s, v.id, &w, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "does not exist"));
	assert_int_equal(store_vm_get_by_name(s, "beta", &w, &err), -ENOENT);
	assert_string_equal(err.msg, "vm 'beta' does not exist");
	assert_int_equal(store_vm_delete(s, v.id, &err), -ENOENT);
	assert_int_equal(store_vm_update(s, &v, &err), -ENOENT);

	/* Ids are never reused. */
	int64_t again = add_vm(s, "beta");
	assert_true(again > v.id);
	vm_rec_clear(&v);
	store_close(s);
}

static void test_vm_insert_invalid(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f->db);
	struct vm_rec v = { 0 };
	struct berr err = { 0 };

	assert_int_equal(store_vm_insert(s, &v, &err), -EINVAL); /* empty name */
	memset(v.name, 'a', sizeof(v.name));                      /* unterminated */
	assert_int_equal(store_vm_insert(s, &v, &err), -EINVAL);
	strcpy(v.name, "ok");
	strcpy(v.state, "bogus");
	assert_int_equal(store_vm_insert(s, &v, &err), -EINVAL);
	strcpy(v.state, "created");
	v.memory_mib = -5;
	assert_int_equal(store_vm_insert(s, &v, &err), -EINVAL);

	struct vm_rec *list = NULL;
	size_t n = 99;
	assert_int_equal(store_vm_list(s, &list, &n, &err), 0);
	assert_int_equal(n, 0);
	vm_rec_array_free(list, n);
	store_close(s);
}

static void test_vm_duplicate_name(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f->db);
	struct vm_rec v = { 0 };
	struct berr err = { 0 };

	add_vm(s, "sandbox");
	strcpy(v.name, "sandbox");
	assert_int_equal(store_vm_insert(s, &v, &err), -EEXIST);
	assert_int_equal(err.code, EEXIST);
	assert_string_equal(err.msg, "vm 'sandbox' already exists");
	store_close(s);
}

static void test_vm_set_state(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f->db);
	struct vm_rec v = { 0 };
	struct berr err = { 0 };
	int64_t id = add_vm(s, "x");

	assert_int_equal(store_vm_set_state(s, id, "created", "starting", &err), 0);
	assert_int_equal(store_vm_set_state(s, id, "starting", "running", &err), 0);
	assert_int_equal(store_vm_set_state(s, id, "stopped", "starting", &err), -EBUSY);
	assert_string_equal(err.msg, "vm 'x' is running, not stopped");
	assert_int_equal(store_vm_get(s, id, &v, &err), 0);
	assert_string_equal(v.state, "running");
	vm_rec_clear(&v);

	assert_int_equal(store_vm_set_state(s, id + 100, "running", "stopping", &err), -ENOENT);
	assert_non_null(strstr(err.msg, "does not exist"));
	assert_int_equal(store_vm_set_state(s, id, "running", "weird", &err), -EINVAL);
	assert_int_equal(store_vm_set_state(s, id, "weird", "running", &err), -EINVAL);

	assert_int_equal(store_vm_set_error(s, id, "kvm is missing", &err), 0);
	assert_int_equal(store_vm_get(s, id, &v, &err), 0);
	assert_string_equal(v.last_error, "kvm is missing");
	vm_rec_clear(&v);
	assert_int_equal(store_vm_set_error(s, id, NULL, &err), 0);
	assert_int_equal(store_vm_get(s, id, &v, &err), 0);
	assert_null(v.last_error);
	vm_rec_clear(&v);
	assert_int_equal(store_vm_set_error(s, id + 100, "x", &err), -ENOENT);
	store_close(s);
}

/* ---- images ---- */

static void fill_image(struct image_rec *r, const char *kind, const char *name)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->kind, sizeof(r->kind), "%s", kind);
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->dir = xasprintf("/var/lib/banger/%ss/%s", kind, name);
	r->manifest = xstrdup("{\"v\":1}");
	memset(r->sha256, 'a', 64);
	r->size = 12345;
}

static void test_images(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f->db);
	struct image_rec a, b, c, d, g = { 0 }, *list = NULL;
	struct berr err = { 0 };
	size_t n = 0;

	fill_image(&a, "image", "debian-bookworm");
	fill_image(&b, "kernel", "debian-bookworm");
	fill_image(&c, "image", "alpine");
	assert_int_equal(store_image_insert(s, &a, &err), 0);
	assert_int_equal(store_image_insert(s, &b, &err), 0); /* same name, other kind */
	assert_int_equal(store_image_insert(s, &c, &err), 0);
	assert_string_equal(a.state, "ready");
	assert_true(a.imported_at > 0);

	fill_image(&d, "image", "alpine");
	assert_int_equal(store_image_insert(s, &d, &err), -EEXIST);
	assert_string_equal(err.msg, "image 'alpine' already exists");
	image_rec_clear(&d);
	fill_image(&d, "rootfs", "x");
	assert_int_equal(store_image_insert(s, &d, &err), -EINVAL);
	image_rec_clear(&d);
	fill_image(&d, "image", "short-sum");
	d.sha256[10] = '\0';
	assert_int_equal(store_image_insert(s, &d, &err), -EINVAL);
	image_rec_clear(&d);

	assert_int_equal(store_image_get(s, b.id, &g, &err), 0);
	assert_string_equal(g.kind, "kernel");
	assert_string_equal(g.name, "debian-bookworm");
	assert_string_equal(g.dir, "/var/lib/banger/kernels/debian-bookworm");
	assert_string_equal(g.manifest, "{\"v\":1}");
	assert_int_equal(strlen(g.sha256), 64);
	assert_int_equal(g.size, 12345);
	assert_int_equal(g.imported_at, b.imported_at);
	image_rec_clear(&g);

	assert_int_equal(store_image_get_by_name(s, "image", "debian-bookworm", &g, &err), 0);
	assert_int_equal(g.id, a.id);
	image_rec_clear(&g);
	assert_int_equal(store_image_get_by_name(s, "kernel", "alpine", &g, &err), -ENOENT);
	assert_string_equal(err.msg, "kernel 'alpine' does not exist");
	assert_int_equal(store_image_get_by_name(s, "disk", "alpine", &g, &err), -EINVAL);

	assert_int_equal(store_image_list(s, "image", &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "alpine");
	assert_string_equal(list[1].name, "debian-bookworm");
	image_rec_array_free(list, n);
	assert_int_equal(store_image_list(s, "kernel", &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].kind, "kernel");
	image_rec_array_free(list, n);
	assert_int_equal(store_image_list(s, NULL, &list, &n, &err), 0);
	assert_int_equal(n, 3);
	image_rec_array_free(list, n);

	assert_int_equal(store_image_delete(s, c.id, &err), 0);
	assert_int_equal(store_image_get(s, c.id, &g, &err), -ENOENT);
	assert_int_equal(store_image_delete(s, c.id, &err), -ENOENT);
	assert_int_equal(store_image_list(s, "image", &list, &n, &err), 0);
	assert_int_equal(n, 1);
	image_rec_array_free(list, n);

	image_rec_clear(&a);
	image_rec_clear(&b);
	image_rec_clear(&c);
	store_close(s);
}

/* ---- transactions ---- */

struct txn_arg {
	const char *prefix;
	int count;
	int fail_with;    /* returned after the inserts when negative */
	struct berr *err;
};

static int insert_some(struct store *s, void *p)
{
	struct txn_arg *a = p;

	for (int i = 0; i < a->count; i++) {
		struct vm_rec v = { 0 };
		int r;

		snprintf(v.name, sizeof(v.name), "%s-%d", a->prefix, i);
		r = store_vm_insert(s, &v, a->err);
		if (r < 0)
			return r;
	}
	return a->fail_with;
}

static size_t count_vms(struct store *s)
{
	struct vm_rec *list = NULL;
	struct berr err = { 0 };
	size_t n = 0;

	assert_int_equal(store_vm_list(s, &list, &n, &err), 0);
	vm_rec_array_free(list, n);
	return n;
}

static int nested_body(struct store *s, void *p)
{
	struct berr *err = p;
	struct txn_arg inner_bad = { "inner-bad", 2, -ENOSPC, NULL };
	struct txn_arg inner_ok = { "inner-ok", 2, 0, NULL };
	struct vm_rec dup = { 0 };
	int64_t id = add_vm(s, "outer");
	int r;

	/* A failing inner transaction is rolled back alone. */
	r = store_txn(s, insert_some, &inner_bad, err);
	if (r != -ENOSPC)
		return -EPROTO;
	r = store_txn(s, insert_some, &inner_ok, err);
	if (r < 0)
		return r;
	/* A failing statement does not spoil the transaction. */
	strcpy(dup.name, "outer");
	if (store_vm_insert(s, &dup, err) != -EEXIST)
		return -EPROTO;
	/* Multi-statement operations use savepoints here. */
	if (store_vm_set_state(s, id, "stopped", "running", err) != -EBUSY)
		return -EPROTO;
	berr_clear(err);
	return store_vm_set_state(s, id, "created", "starting", err);
}

static void test_txn(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f->db);
	struct berr err = { 0 };
	struct vm_rec v = { 0 };
	struct txn_arg ok = { "ok", 3, 0, &err };
	struct txn_arg bad = { "bad", 3, -EINVAL, &err };
	struct txn_arg dup = { "ok", 1, 0, &err };

	assert_int_equal(store_txn(s, insert_some, &ok, &err), 0);
	assert_int_equal(count_vms(s), 3);

	assert_int_equal(store_txn(s, insert_some, &bad, &err), -EINVAL);
	assert_int_equal(err.code, EINVAL);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(count_vms(s), 3);
	assert_int_equal(store_vm_get_by_name(s, "bad-0", &v, &err), -ENOENT);

	/* The callback's own error message is kept. */
	assert_int_equal(store_txn(s, insert_some, &dup, &err), -EEXIST);
	assert_string_equal(err.msg, "vm 'ok-0' already exists");

	assert_int_equal(store_txn(s, nested_body, &err, &err), 0);
	assert_int_equal(count_vms(s), 3 + 1 + 2);
	assert_int_equal(store_vm_get_by_name(s, "inner-bad-0", &v, &err), -ENOENT);
	assert_int_equal(store_vm_get_by_name(s, "outer", &v, &err), 0);
	assert_string_equal(v.state, "starting");
	vm_rec_clear(&v);

	/* Nothing is left open: a write outside a transaction commits. */
	store_close(s);
	s = open_ok(f->db);
	assert_int_equal(count_vms(s), 6);
	store_close(s);
}

/* Read-modify-write inside store_txn from several threads and processes:
 * no increment may be lost. */
static int bump(struct store *s, void *p)
{
	struct berr *err = p;
	struct vm_rec v = { 0 };
	int r = store_vm_get_by_name(s, "counter", &v, err);

	if (r < 0)
		return r;
	v.vcpu++;
	r = store_vm_update(s, &v, err);
	vm_rec_clear(&v);
	return r;
}

struct bump_arg {
	struct store *s;
	int n, failed;
};

static void *bump_thread(void *p)
{
	struct bump_arg *a = p;
	struct berr err = { 0 };

	for (int i = 0; i < a->n; i++)
		if (store_txn(a->s, bump, &err, &err) < 0)
			a->failed++;
	return NULL;
}

static void test_concurrent_txn(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f->db);
	struct bump_arg args[4];
	pthread_t th[4];
	struct vm_rec v = { 0 };
	struct berr err = { 0 };
	pid_t pid;
	int status;

	add_vm(s, "counter");
	store_close(s);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *cs = NULL;
		struct berr cerr = { 0 };
		if (store_open(&cs, f->db, &cerr) < 0)
			_exit(2);
		for (int i = 0; i < 100; i++)
			if (store_txn(cs, bump, &cerr, &cerr) < 0)
				_exit(3);
		store_close(cs);
		_exit(0);
	}

	s = open_ok(f->db);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct bump_arg){ s, 50, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, bump_thread, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failed, 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	assert_int_equal(store_vm_get_by_name(s, "counter", &v, &err), 0);
	assert_int_equal(v.vcpu, 4 * 50 + 100);
	vm_rec_clear(&v);
	store_close(s);
}

/* ---- crash consistency ---- */

#define CRASH_ROWS 40

static int insert_then_crash(struct store *s, void *p)
{
	/* 40 rows of 128 KiB: more than SQLite's page cache, so uncommitted
	 * pages are spilled into the WAL before we die. */
	size_t big = 128 * 1024;
	char *blob = xmalloc(big + 1);

	(void)p;
	memset(blob, 'r', big);
	blob[big] = '\0';
	for (int i = 0; i < CRASH_ROWS; i++) {
		struct vm_rec v = { 0 };
		snprintf(v.name, sizeof(v.name), "crash-%d", i);
		v.runtime = blob;
		if (store_vm_insert(s, &v, NULL) < 0)
			_exit(3);
	}
	_exit(1); /* mid-transaction: no COMMIT, no close, no atexit */
}

static int bump_pair(struct store *s, void *p)
{
	int64_t *counter = p;
	struct vm_rec a = { 0 }, b = { 0 };
	int r;

	(*counter)++;
	if ((r = store_vm_get_by_name(s, "pair-a", &a, NULL)) < 0 ||
	    (r = store_vm_get_by_name(s, "pair-b", &b, NULL)) < 0)
		goto out;
	a.vcpu = b.vcpu = *counter;
	a.memory_mib = b.memory_mib = *counter * 2;
	free(a.runtime);
	a.runtime = xasprintf("{\"n\":%lld}", (long long)*counter);
	if ((r = store_vm_update(s, &a, NULL)) < 0)
		goto out;
	r = store_vm_update(s, &b, NULL);
out:
	vm_rec_clear(&a);
	vm_rec_clear(&b);
	return r;
}

static void check_after_crash(const char *path, int64_t *last_counter)
{
	struct store *s;
	struct vm_rec *list = NULL, a = { 0 }, b = { 0 };
	struct berr err = { 0 };
	size_t n = 0, crashed = 0, keep = 0;

	assert_integrity(path);
	s = open_ok(path);
	assert_int_equal(store_vm_list(s, &list, &n, &err), 0);
	for (size_t i = 0; i < n; i++) {
		bool known = false;
		static const char *const states[] = {
			"created", "starting", "running", "stopping", "stopped", "failed",
		};
		for (size_t k = 0; k < ARRAY_SIZE(states); k++)
			known |= strcmp(list[i].state, states[k]) == 0;
		assert_true(known);
		assert_true(list[i].name[0] != '\0');
		assert_true(list[i].id > 0);
		assert_true(list[i].created_at > 0);
		crashed += strncmp(list[i].name, "crash-", 6) == 0;
		keep += strncmp(list[i].name, "keep-", 5) == 0;
	}
	vm_rec_array_free(list, n);
	/* The transaction never committed: none of it may be visible. */
	assert_int_equal(crashed, 0);
	assert_int_equal(keep, 3);

	assert_int_equal(store_vm_get_by_name(s, "pair-a", &a, &err), 0);
	assert_int_equal(store_vm_get_by_name(s, "pair-b", &b, &err), 0);
	assert_int_equal(a.vcpu, b.vcpu);
	assert_int_equal(a.memory_mib, 2 * a.vcpu);
	assert_int_equal(b.memory_mib, 2 * b.vcpu);
	assert_true(a.vcpu >= *last_counter);
	if (a.vcpu > 0) {
		char want[64];
		snprintf(want, sizeof(want), "{\"n\":%lld}", (long long)a.vcpu);
		assert_string_equal(a.runtime, want);
	}
	*last_counter = a.vcpu;
	vm_rec_clear(&a);
	vm_rec_clear(&b);
	store_close(s);
}

static void test_crash_consistency(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f->db);
	char *wal = xasprintf("%s-wal", f->db);
	int64_t last = 0;
	struct stat st;
	pid_t pid;
	int status;

	add_vm(s, "pair-a");
	add_vm(s, "pair-b");
	store_close(s);

	/* 1: a process dies inside a transaction, after a committed one. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *cs = NULL;
		struct txn_arg keep = { "keep", 3, 0, NULL };
		if (store_open(&cs, f->db, NULL) < 0)
			_exit(2);
		if (store_txn(cs, insert_some, &keep, NULL) < 0)
			_exit(2);
		store_txn(cs, insert_then_crash, NULL, NULL);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	/* The uncommitted rows did reach the WAL file. */
	assert_int_equal(stat(wal, &st), 0);
	assert_true(st.st_size > 1024 * 1024);
	check_after_crash(f->db, &last);

	/* 2: SIGKILL at varying points of a loop of two-row transactions. */
	for (int round = 0; round < 6; round++) {
		int pfd[2];
		char c;

		assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct store *cs = NULL;
			int64_t counter = last;
			close(pfd[0]);
			if (store_open(&cs, f->db, NULL) < 0)
				_exit(2);
			for (int i = 0;; i++) {
				if (store_txn(cs, bump_pair, &counter, NULL) < 0)
					_exit(3);
				if (i == 0 && write(pfd[1], "x", 1) != 1)
					_exit(3);
			}
		}
		close(pfd[1]);
		assert_int_equal(read(pfd[0], &c, 1), 1);
		close(pfd[0]);
		struct timespec ts = { 0, (long)(round * 7 + 1) * 1000000L };
		nanosleep(&ts, NULL);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);
		int64_t before = last;
		check_after_crash(f->db, &last);
		assert_true(last > before); /* at least the first commit survived */
	}
	free(wal);
}

/* Owners, modes and the clone mark (schema step 3). */
static void test_vm_owner(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f->db);
	struct berr err = { 0 };
	struct vm_rec r = { 0 };

	snprintf(r.name, sizeof(r.name), "own");
	r.owner_uid = -1;
	r.owner_gid = -1;
	r.mode = -1;
	assert_int_equal(store_vm_insert(s, &r, &err), 0);
	int64_t id = r.id;
	vm_rec_clear(&r);
	assert_int_equal(store_vm_get(s, id, &r, &err), 0);
	assert_int_equal(r.owner_uid, -1); /* unset: the daemon's */
	assert_int_equal(r.owner_gid, -1);
	assert_int_equal(r.mode, -1);
	assert_false(r.ephemeral);
	vm_rec_clear(&r);

	assert_int_equal(store_vm_set_owner(s, id, 1001, -1, 0750, &err), 0);
	assert_int_equal(store_vm_set_owner(s, id, -1, 2002, -1, &err), 0);
	assert_int_equal(store_vm_set_ephemeral(s, id, true, &err), 0);
	assert_int_equal(store_vm_get(s, id, &r, &err), 0);
	assert_int_equal(r.owner_uid, 1001);
	assert_int_equal(r.owner_gid, 2002);
	assert_int_equal(r.mode, 0750);
	assert_true(r.ephemeral);
	/* an update of the rest leaves them */
	snprintf(r.state, sizeof(r.state), "starting");
	assert_int_equal(store_vm_update(s, &r, &err), 0);
	vm_rec_clear(&r);
	assert_int_equal(store_vm_get(s, id, &r, &err), 0);
	assert_int_equal(r.owner_uid, 1001);
	assert_int_equal(r.mode, 0750);
	vm_rec_clear(&r);

	assert_int_equal(store_vm_set_owner(s, id, -1, -1, 01000, &err), -EINVAL);
	assert_int_equal(store_vm_set_owner(s, 9999, 1, 1, 0700, &err), -ENOENT);
	assert_int_equal(store_vm_set_ephemeral(s, 9999, false, &err), -ENOENT);
	store_close(s);
}

/* The forwards of vms/NAME/ports/ go with their VM. */
static void test_ports(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f->db);
	struct berr err = { 0 };
	int64_t a = add_vm(s, "a"), b = add_vm(s, "b");
	struct port_rec p = { .vm_id = a, .guest_port = 8080 }, q;
	struct port_rec *all = NULL;
	size_t n = 0;

	snprintf(p.name, sizeof(p.name), "8080");
	assert_int_equal(store_port_insert(s, &p, &err), 0);
	assert_true(p.id > 0);
	struct port_rec p2 = { .vm_id = a, .guest_port = 22, .host_port = 2222 };
	snprintf(p2.name, sizeof(p2.name), "22-2222");
	assert_int_equal(store_port_insert(s, &p2, &err), 0);
	struct port_rec p3 = { .vm_id = b, .guest_port = 80 };
	snprintf(p3.name, sizeof(p3.name), "80");
	assert_int_equal(store_port_insert(s, &p3, &err), 0);
	struct port_rec dup = p;
	assert_int_equal(store_port_insert(s, &dup, &err), -EEXIST);

	assert_int_equal(store_port_set_bound(s, p.id, 18080, &err), 0);
	assert_int_equal(store_port_get(s, p.id, &q, &err), 0);
	assert_string_equal(q.name, "8080");
	assert_int_equal(q.vm_id, a);
	assert_int_equal(q.bound_port, 18080);

	assert_int_equal(store_port_list(s, a, &all, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(all[0].name, "22-2222");
	assert_int_equal(all[0].host_port, 2222);
	free(all);
	assert_int_equal(store_port_list(s, 0, &all, &n, &err), 0);
	assert_int_equal(n, 3);
	free(all);

	/* the VM goes, its forwards with it */
	assert_int_equal(store_vm_delete(s, a, &err), 0);
	assert_int_equal(store_port_get(s, p.id, &q, &err), -ENOENT);
	assert_int_equal(store_port_list(s, 0, &all, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(all[0].vm_id, b);
	free(all);
	assert_int_equal(store_port_delete(s, p3.id, &err), 0);
	assert_int_equal(store_port_delete(s, p3.id, &err), -ENOENT);
	/* a port of no VM is refused (foreign key) */
	struct port_rec orphan = { .vm_id = 4242, .guest_port = 1 };
	snprintf(orphan.name, sizeof(orphan.name), "1");
	assert_true(store_port_insert(s, &orphan, &err) < 0);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_open_creates_private_wal),
		T(test_reopen_keeps_records),
		T(test_open_refuses_non_database),
		T(test_migrate_empty_file),
		T(test_migrate_v0_database),
		T(test_newer_database_refused),
		T(test_failed_migration_rolls_back),
		T(test_real_migration_rolls_back),
		T(test_vm_crud),
		T(test_vm_insert_invalid),
		T(test_vm_duplicate_name),
		T(test_vm_set_state),
		T(test_images),
		T(test_txn),
		T(test_concurrent_txn),
		T(test_crash_consistency),
		T(test_vm_owner),
		T(test_ports),
#undef T
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
