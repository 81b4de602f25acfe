/* core/store.c: banger's persistent state in SQLite (see store.h).
 *
 * One connection per daemon, shared by the FUSE threads.  SQLite's
 * FULLMUTEX only serialises single calls; a transaction spans several, so
 * `lock` (recursive) is held for every store call and for the whole of
 * store_txn(): another thread can never slip its statements into our
 * transaction, while the callback of store_txn() may call store functions
 * again on the same thread.  Write operations that need more than one
 * statement run in BEGIN IMMEDIATE/COMMIT, or in a SAVEPOINT when a
 * transaction is already open on this connection.
 *
 * Durability: WAL with synchronous=FULL.  NORMAL in WAL mode never
 * corrupts the database, but a power loss may drop the last commits; our
 * writes are rare (state changes, imports) and a dropped "vm created" or
 * "image registered" would leave directories the database does not know
 * about, so one fsync per commit is the better trade.
 *
 * The migrations are history: never edit a released step, append one. */
#define _GNU_SOURCE
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

/* The statements run on every read of the tree, prepared once and kept
 * (a render of status used to spend 40 % of its time preparing them).
 * Used only with the lock held and reset before it is dropped; one that
 * is in use (a call nested in another on this thread) is not shared: the
 * nested call prepares its own. */
enum hot { HOT_VM_BY_ID, HOT_VM_BY_NAME, HOT_VM_LIST, HOT_IMAGE_BY_NAME, HOT_IMAGE_BY_ID,
	   HOT_IMAGE_LIST, HOT_PORT_LIST, HOT_COUNT };
struct hot_stmt {
	sqlite3_stmt *st;
	bool busy;
};

struct store {
	pthread_mutex_t lock; /* recursive; protects db and its error state */
	sqlite3 *db;
	struct hot_stmt hot[HOT_COUNT]; /* guarded by lock */
};

static const char *const migrations[] = {
	/* 1: vms and images. */
	"CREATE TABLE vms ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 63),"
	" state TEXT NOT NULL CHECK (state IN ('created','starting','running',"
	"  'stopping','stopped','failed')),"
	" image TEXT NOT NULL DEFAULT '' CHECK (length(image) <= 63),"
	" kernel TEXT NOT NULL DEFAULT '' CHECK (length(kernel) <= 63),"
	" vmm TEXT NOT NULL DEFAULT '' CHECK (length(vmm) <= 15),"
	" vcpu INTEGER NOT NULL DEFAULT 0 CHECK (vcpu >= 0),"
	" memory_mib INTEGER NOT NULL DEFAULT 0 CHECK (memory_mib >= 0),"
	" disk_size INTEGER NOT NULL DEFAULT 0 CHECK (disk_size >= 0),"
	" pid INTEGER NOT NULL DEFAULT 0 CHECK (pid >= 0),"
	" pid_start INTEGER NOT NULL DEFAULT 0 CHECK (pid_start >= 0),"
	" created_at INTEGER NOT NULL,"
	" started_at INTEGER NOT NULL DEFAULT 0,"
	" stopped_at INTEGER NOT NULL DEFAULT 0,"
	" last_error TEXT,"
	" runtime TEXT"
	") STRICT;"
	"CREATE TABLE images ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" kind TEXT NOT NULL CHECK (kind IN ('image','kernel')),"
	" name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 63),"
	" state TEXT NOT NULL DEFAULT 'ready' CHECK (length(state) BETWEEN 1 AND 15),"
	" dir TEXT,"
	" manifest TEXT,"
	" sha256 TEXT NOT NULL DEFAULT '' CHECK (length(sha256) IN (0, 64)),"
	" size INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0),"
	" imported_at INTEGER NOT NULL,"
	" UNIQUE (kind, name)"
	") STRICT;",
	/* 2: networking and SSH: each VM's address slot in the subnet (NULL
	 * when none; unique, so never handed out twice) and its pinned host
	 * key. */
	"ALTER TABLE vms ADD COLUMN net_slot INTEGER CHECK (net_slot IS NULL OR net_slot > 0);"
	"CREATE UNIQUE INDEX vms_net_slot ON vms (net_slot);"
	"ALTER TABLE vms ADD COLUMN hostkey TEXT;",
	/* 3: delegation and ports (issue 14): each VM's owner, group and mode
	 * (NULL: the daemon's user and group, the configured vm_mode), the
	 * mark of a VM that lives as long as its clone file is open, and the
	 * TCP forwards of vms/NAME/ports/. */
	"ALTER TABLE vms ADD COLUMN owner_uid INTEGER CHECK (owner_uid IS NULL OR owner_uid >= 0);"
	"ALTER TABLE vms ADD COLUMN owner_gid INTEGER CHECK (owner_gid IS NULL OR owner_gid >= 0);"
	"ALTER TABLE vms ADD COLUMN mode INTEGER CHECK (mode IS NULL OR mode BETWEEN 0 AND 511);"
	"ALTER TABLE vms ADD COLUMN ephemeral INTEGER NOT NULL DEFAULT 0 CHECK (ephemeral IN (0, 1));"
	"CREATE TABLE ports ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" vm_id INTEGER NOT NULL REFERENCES vms (id) ON DELETE CASCADE,"
	" name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 11),"
	" guest_port INTEGER NOT NULL CHECK (guest_port BETWEEN 1 AND 65535),"
	" host_port INTEGER NOT NULL CHECK (host_port BETWEEN 0 AND 65535),"
	" bound_port INTEGER NOT NULL DEFAULT 0 CHECK (bound_port BETWEEN 0 AND 65535),"
	" UNIQUE (vm_id, name)"
	") STRICT;",
};
_Static_assert(ARRAY_SIZE(migrations) == STORE_SCHEMA_VERSION,
	       "one migration step per schema version");

static const char *const vm_states[] = {
	"created", "starting", "running", "stopping", "stopped", "failed",
};

/* ---- errors ---- */

static int sqlite_errno(sqlite3 *db, int rc)
{
	int sys;

	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return EEXIST;
		return EINVAL;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return EBUSY;
	case SQLITE_NOMEM:
		return ENOMEM;
	case SQLITE_FULL:
		return ENOSPC;
	case SQLITE_TOOBIG:
		return E2BIG;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return EACCES;
	case SQLITE_NOTADB:
		return EPROTO;
	case SQLITE_CANTOPEN:
	case SQLITE_IOERR:
		sys = db ? sqlite3_system_errno(db) : 0;
		return sys > 0 ? sys : EIO;
	default:
		return EIO;
	}
}

/* Fill err from the connection's last error, with context in front:
 * "<context>: <sqlite message>". */
static int db_fail(struct store *s, struct berr *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int db_fail(struct store *s, struct berr *err, const char *fmt, ...)
{
	char ctx[BERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	return berr_set(err, sqlite_errno(s->db, sqlite3_extended_errcode(s->db)),
			"%s: %s", ctx, sqlite3_errmsg(s->db));
}

/* ---- statements ---- */

static void finalizep(sqlite3_stmt **st)
{
	sqlite3_finalize(*st);
}
#define _cleanup_stmt_ __attribute__((cleanup(finalizep)))

static int exec(struct store *s, const char *sql, struct berr *err)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, err, "running \"%.60s\"", sql);
	return 0;
}

static int prepare(struct store *s, const char *sql, sqlite3_stmt **ret, struct berr *err)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, ret, NULL) != SQLITE_OK)
		return db_fail(s, err, "preparing a query");
	return 0;
}

/* A kept statement (the lock held): *ret is reset by hot_done(). */
static int hot_prepare(struct store *s, enum hot h, const char *sql, sqlite3_stmt **ret,
		       struct berr *err)
{
	struct hot_stmt *k = &s->hot[h];
	if (k->busy)
		return prepare(s, sql, ret, err);
	if (!k->st && sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &k->st,
					 NULL) != SQLITE_OK) {
		k->st = NULL;
		return db_fail(s, err, "preparing a query");
	}
	k->busy = true;
	*ret = k->st;
	return 0;
}

/* Give back what hot_prepare() handed out (NULL is fine). */
static void hot_done(struct store *s, sqlite3_stmt **st)
{
	if (!*st)
		return;
	for (size_t i = 0; i < HOT_COUNT; i++)
		if (s->hot[i].st == *st) {
			sqlite3_reset(*st);
			sqlite3_clear_bindings(*st);
			s->hot[i].busy = false;
			*st = NULL;
			return;
		}
	sqlite3_finalize(*st);
	*st = NULL;
}

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (!v)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

/* Copy a TEXT column into a fixed buffer; a value that does not fit means
 * the row was not written by us. */
static int col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap, struct berr *err)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	size_t n;

	if (!t) {
		if (sqlite3_column_type(st, i) != SQLITE_NULL)
			return berr_set(err, ENOMEM, "out of memory reading the store");
		dst[0] = '\0';
		return 0;
	}
	n = (size_t)sqlite3_column_bytes(st, i);
	if (n >= cap)
		return berr_set(err, EPROTO, "the store holds a %s of %zu bytes, at most %zu fit",
				sqlite3_column_name(st, i), n, cap - 1);
	memcpy(dst, t, n + 1);
	return 0;
}

static int col_dup(sqlite3_stmt *st, int i, char **ret, struct berr *err)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	if (!t) {
		if (sqlite3_column_type(st, i) != SQLITE_NULL)
			return berr_set(err, ENOMEM, "out of memory reading the store");
		*ret = NULL;
		return 0;
	}
	*ret = xstrdup((const char *)t);
	return 0;
}

/* A fixed-size name field must be NUL-terminated inside its buffer. */
static bool field_ok(const char *f, size_t cap, bool nonempty)
{
	size_t n = strnlen(f, cap);
	return n < cap && (!nonempty || n > 0);
}

/* ---- locking and transactions ---- */

static void store_lock(struct store *s)
{
	pthread_mutex_lock(&s->lock);
}

static void store_unlock(struct store *s)
{
	pthread_mutex_unlock(&s->lock);
}

/* A multi-statement write: a transaction of its own, or a savepoint
 * inside the one already open (store_txn).  Takes the lock. */
struct op {
	struct store *s;
	bool nested;
};

static int op_begin(struct store *s, struct op *op, struct berr *err)
{
	int r;

	store_lock(s);
	op->s = s;
	op->nested = !sqlite3_get_autocommit(s->db);
	r = exec(s, op->nested ? "SAVEPOINT store_op" : "BEGIN IMMEDIATE", err);
	if (r < 0)
		store_unlock(s);
	return r;
}

/* Commit on r >= 0, else roll back; returns r (or the commit error). */
static int op_end(struct op *op, int r, struct berr *err)
{
	struct store *s = op->s;

	if (r >= 0) {
		int q = exec(s, op->nested ? "RELEASE store_op" : "COMMIT", err);
		if (q < 0)
			r = q;
	}
	if (r < 0) {
		/* Best effort: SQLite may already have rolled back (on I/O
		 * errors it does so itself), and err holds the real cause. */
		if (op->nested)
			sqlite3_exec(s->db, "ROLLBACK TO store_op; RELEASE store_op",
				     NULL, NULL, NULL);
		else if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	}
	store_unlock(s);
	return r;
}

int store_txn(struct store *s, int (*fn)(struct store *, void *), void *arg,
	      struct berr *err)
{
	bool nested;
	int r;

	store_lock(s);
	nested = !sqlite3_get_autocommit(s->db);
	r = exec(s, nested ? "SAVEPOINT store_txn" : "BEGIN IMMEDIATE", err);
	if (r < 0)
		goto out;

	berr_clear(err);
	r = fn(s, arg);
	if (r < 0) {
		if (!err || err->code == 0)
			berr_set(err, -r, "transaction aborted: %s", strerror(-r));
		if (nested)
			sqlite3_exec(s->db, "ROLLBACK TO store_txn; RELEASE store_txn",
				     NULL, NULL, NULL);
		else if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		goto out;
	}
	if (!nested && sqlite3_get_autocommit(s->db)) {
		/* A statement inside fn failed so badly that SQLite rolled
		 * the whole transaction back; fn's success is void. */
		r = berr_set(err, EIO, "the database rolled the transaction back");
		goto out;
	}
	r = exec(s, nested ? "RELEASE store_txn" : "COMMIT", err);
	if (r < 0 && !nested && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
	store_unlock(s);
	return r;
}

/* ---- open, migrate, close ---- */

static int user_version(struct store *s, struct berr *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = prepare(s, "PRAGMA user_version", &st, err);

	if (r < 0)
		return r;
	if (sqlite3_step(st) != SQLITE_ROW)
		return db_fail(s, err, "reading the schema version");
	return sqlite3_column_int(st, 0);
}

int store_schema_version(struct store *s)
{
	int v;

	store_lock(s);
	v = user_version(s, NULL);
	store_unlock(s);
	return v;
}

/* Apply steps one transaction each, re-reading the version under the
 * write lock so two processes opening the same file do not both migrate. */
static int migrate(struct store *s, const char *path, const char *const *steps,
		   size_t n_steps, struct berr *err)
{
	for (;;) {
		char sql[64];
		int v, r;

		r = exec(s, "BEGIN IMMEDIATE", err);
		if (r < 0)
			return berr_wrap(err, "migrating %s", path);
		v = user_version(s, err);
		if (v < 0) {
			r = v;
			goto fail;
		}
		if ((size_t)v > n_steps) {
			r = berr_set(err, EPROTO,
				     "%s has schema version %d, newer than the %zu this banger knows; "
				     "upgrade banger or use another state dir",
				     path, v, n_steps);
			goto fail;
		}
		if ((size_t)v == n_steps)
			return exec(s, "COMMIT", err);

		r = exec(s, steps[v], err);
		if (r >= 0) {
			snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
			r = exec(s, sql, err);
		}
		if (r >= 0)
			r = exec(s, "COMMIT", err);
		if (r < 0) {
			berr_wrap(err, "migrating %s to schema version %d", path, v + 1);
			goto fail;
		}
		continue;
fail:
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return r;
	}
}

/* Create the file 0600 ourselves: SQLite would use 0644 & ~umask, and it
 * gives the -wal and -shm files the mode of the main file. */
static int create_db_file(const char *path, struct berr *err)
{
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;

	if (fd < 0)
		return berr_set(err, errno, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return berr_set(err, errno, "cannot stat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return berr_set(err, EINVAL, "%s is not a regular file", path);
	return 0;
}

int store_open_migrations(struct store **ret, const char *path,
			  const char *const *steps, size_t n_steps,
			  struct berr *err)
{
	pthread_mutexattr_t ma;
	struct store *s;
	const char *mode;
	int r, rc;

	if (!sqlite3_threadsafe())
		return berr_set(err, ENOTSUP, "this SQLite library is built without thread support");
	r = create_db_file(path, err);
	if (r < 0)
		return r;

	s = xcalloc(1, sizeof(*s));
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&s->lock, &ma);
	pthread_mutexattr_destroy(&ma);

	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX |
			     SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_EXRESCODE, NULL);
	if (rc != SQLITE_OK) {
		r = s->db ? db_fail(s, err, "cannot open %s", path)
			  : berr_set(err, ENOMEM, "cannot open %s: out of memory", path);
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* No writable_schema tricks or other ways to corrupt the file. */
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_busy_timeout(s->db, 5000);

	{
		_cleanup_stmt_ sqlite3_stmt *st = NULL;
		r = prepare(s, "PRAGMA journal_mode = WAL", &st, err);
		if (r < 0) {
			berr_wrap(err, "opening %s", path);
			goto fail;
		}
		if (sqlite3_step(st) != SQLITE_ROW) {
			r = db_fail(s, err, "cannot use %s", path);
			goto fail;
		}
		mode = (const char *)sqlite3_column_text(st, 0);
		if (!mode || strcmp(mode, "wal") != 0) {
			r = berr_set(err, EIO, "%s cannot use write-ahead logging (journal mode stays %s)",
				     path, mode ? mode : "unknown");
			goto fail;
		}
	}
	r = exec(s, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL", err);
	if (r < 0) {
		berr_wrap(err, "opening %s", path);
		goto fail;
	}
	r = migrate(s, path, steps, n_steps, err);
	if (r < 0)
		goto fail;

	*ret = s;
	return 0;
fail:
	store_close(s);
	return r;
}

int store_open(struct store **ret, const char *path, struct berr *err)
{
	return store_open_migrations(ret, path, migrations, ARRAY_SIZE(migrations), err);
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < HOT_COUNT; i++)
		sqlite3_finalize(s->hot[i].st);
	sqlite3_close_v2(s->db);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- VMs ---- */

#define VM_COLS "id, name, state, image, kernel, vmm, vcpu, memory_mib, disk_size, " \
		"pid, pid_start, created_at, started_at, stopped_at, last_error, runtime, " \
		"net_slot, hostkey, owner_uid, owner_gid, mode, ephemeral"

void vm_rec_clear(struct vm_rec *r)
{
	if (!r)
		return;
	free(r->last_error);
	free(r->runtime);
	free(r->hostkey);
	memset(r, 0, sizeof(*r));
}

void vm_rec_array_free(struct vm_rec *a, size_t n)
{
	if (!a)
		return;
	for (size_t i = 0; i < n; i++)
		vm_rec_clear(&a[i]);
	free(a);
}

static int vm_from_row(sqlite3_stmt *st, struct vm_rec *ret, struct berr *err)
{
	struct vm_rec v = { 0 };
	int r;

	v.id = sqlite3_column_int64(st, 0);
	if ((r = col_copy(st, 1, v.name, sizeof(v.name), err)) < 0 ||
	    (r = col_copy(st, 2, v.state, sizeof(v.state), err)) < 0 ||
	    (r = col_copy(st, 3, v.image, sizeof(v.image), err)) < 0 ||
	    (r = col_copy(st, 4, v.kernel, sizeof(v.kernel), err)) < 0 ||
	    (r = col_copy(st, 5, v.vmm, sizeof(v.vmm), err)) < 0)
		return r;
	v.vcpu = sqlite3_column_int64(st, 6);
	v.memory_mib = sqlite3_column_int64(st, 7);
	v.disk_size = sqlite3_column_int64(st, 8);
	v.pid = sqlite3_column_int64(st, 9);
	v.pid_start = sqlite3_column_int64(st, 10);
	v.created_at = sqlite3_column_int64(st, 11);
	v.started_at = sqlite3_column_int64(st, 12);
	v.stopped_at = sqlite3_column_int64(st, 13);
	v.net_slot = sqlite3_column_int64(st, 16); /* NULL reads as 0 */
	v.owner_uid = sqlite3_column_type(st, 18) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 18);
	v.owner_gid = sqlite3_column_type(st, 19) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 19);
	v.mode = sqlite3_column_type(st, 20) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 20);
	v.ephemeral = sqlite3_column_int64(st, 21) != 0;
	if ((r = col_dup(st, 14, &v.last_error, err)) < 0 ||
	    (r = col_dup(st, 15, &v.runtime, err)) < 0 ||
	    (r = col_dup(st, 17, &v.hostkey, err)) < 0) {
		vm_rec_clear(&v);
		return r;
	}
	*ret = v;
	return 0;
}

static int vm_check(const struct vm_rec *r, struct berr *err)
{
	if (!field_ok(r->name, sizeof(r->name), true))
		return berr_set(err, EINVAL, "a vm name must be 1 to %d characters",
				STORE_NAME_MAX - 1);
	if (!field_ok(r->state, sizeof(r->state), false) ||
	    !field_ok(r->image, sizeof(r->image), false) ||
	    !field_ok(r->kernel, sizeof(r->kernel), false) ||
	    !field_ok(r->vmm, sizeof(r->vmm), false))
		return berr_set(err, EINVAL, "vm '%s' has an unterminated field", r->name);
	return 0;
}

/* Bind the mutable columns of r to ?1..?15 (the order of both statements
 * below). */
static void vm_bind(sqlite3_stmt *st, const struct vm_rec *r)
{
	sqlite3_bind_text(st, 1, r->state, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, r->image, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, r->kernel, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, r->vmm, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, r->vcpu);
	sqlite3_bind_int64(st, 6, r->memory_mib);
	sqlite3_bind_int64(st, 7, r->disk_size);
	sqlite3_bind_int64(st, 8, r->pid);
	sqlite3_bind_int64(st, 9, r->pid_start);
	sqlite3_bind_int64(st, 10, r->started_at);
	sqlite3_bind_int64(st, 11, r->stopped_at);
	bind_text(st, 12, r->last_error);
	bind_text(st, 13, r->runtime);
	if (r->net_slot > 0)
		sqlite3_bind_int64(st, 14, r->net_slot);
	else
		sqlite3_bind_null(st, 14);
	bind_text(st, 15, r->hostkey);
}

/* -1 (unset) is NULL. */
static void bind_owner(sqlite3_stmt *st, int i, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

int store_vm_insert(struct store *s, struct vm_rec *r, struct berr *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t now = now_ms();
	int ret;

	ret = vm_check(r, err);
	if (ret < 0)
		return ret;
	if (!r->state[0])
		strcpy(r->state, "created");

	store_lock(s);
	ret = prepare(s, "INSERT INTO vms (state, image, kernel, vmm, vcpu, memory_mib, "
		      "disk_size, pid, pid_start, started_at, stopped_at, last_error, runtime, "
		      "net_slot, hostkey, name, created_at, owner_uid, owner_gid, mode, ephemeral) "
		      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
		      "?17, ?18, ?19, ?20, ?21)", &st, err);
	if (ret < 0)
		goto out;
	vm_bind(st, r);
	sqlite3_bind_text(st, 16, r->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 17, now);
	bind_owner(st, 18, r->owner_uid);
	bind_owner(st, 19, r->owner_gid);
	bind_owner(st, 20, r->mode);
	sqlite3_bind_int64(st, 21, r->ephemeral ? 1 : 0);
	if (sqlite3_step(st) != SQLITE_DONE) {
		if (sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_UNIQUE)
			ret = berr_set(err, EEXIST, "vm '%s' already exists", r->name);
		else
			ret = db_fail(s, err, "storing vm '%s'", r->name);
		goto out;
	}
	r->id = sqlite3_last_insert_rowid(s->db);
	r->created_at = now;
	ret = 0;
out:
	store_unlock(s);
	return ret;
}

/* Run a SELECT of VM_COLS bound with one value; -ENOENT when no row. */
static int vm_get_one(struct store *s, sqlite3_stmt *st, struct vm_rec *ret,
		      struct berr *err, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE)
		return berr_set(err, ENOENT, "%s does not exist", what);
	if (rc != SQLITE_ROW)
		return db_fail(s, err, "reading %s", what);
	return vm_from_row(st, ret, err);
}

int store_vm_get(struct store *s, int64_t id, struct vm_rec *ret, struct berr *err)
{
	sqlite3_stmt *st = NULL;
	char what[48];
	int r;

	snprintf(what, sizeof(what), "vm %lld", (long long)id);
	store_lock(s);
	r = hot_prepare(s, HOT_VM_BY_ID, "SELECT " VM_COLS " FROM vms WHERE id = ?", &st, err);
	if (r >= 0) {
		sqlite3_bind_int64(st, 1, id);
		r = vm_get_one(s, st, ret, err, what);
	}
	hot_done(s, &st);
	store_unlock(s);
	return r;
}

int store_vm_get_by_name(struct store *s, const char *name, struct vm_rec *ret,
			 struct berr *err)
{
	sqlite3_stmt *st = NULL;
	char what[STORE_NAME_MAX + 16];
	int r;

	snprintf(what, sizeof(what), "vm '%.*s'", STORE_NAME_MAX - 1, name);
	store_lock(s);
	r = hot_prepare(s, HOT_VM_BY_NAME, "SELECT " VM_COLS " FROM vms WHERE name = ?", &st, err);
	if (r >= 0) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		r = vm_get_one(s, st, ret, err, what);
	}
	hot_done(s, &st);
	store_unlock(s);
	return r;
}

int store_vm_list(struct store *s, struct vm_rec **ret, size_t *ret_n, struct berr *err)
{
	sqlite3_stmt *st = NULL;
	struct vm_rec *a = NULL;
	size_t n = 0, cap = 0;
	int r, rc;

	store_lock(s);
	r = hot_prepare(s, HOT_VM_LIST, "SELECT " VM_COLS " FROM vms ORDER BY name", &st, err);
	if (r < 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			a = xrealloc(a, cap * sizeof(*a));
		}
		r = vm_from_row(st, &a[n], err);
		if (r < 0)
			goto out;
		n++;
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(s, err, "listing vms");
		goto out;
	}
	*ret = TAKE_PTR(a);
	*ret_n = n;
	r = 0;
out:
	hot_done(s, &st);
	store_unlock(s);
	vm_rec_array_free(a, n);
	return r;
}

/* After a write matched no row: why?  Fills *state ("" when absent). */
static int vm_lookup(struct store *s, int64_t id, char name[STORE_NAME_MAX],
		     char state[16], struct berr *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = prepare(s, "SELECT name, state FROM vms WHERE id = ?", &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return berr_set(err, ENOENT, "vm %lld does not exist", (long long)id);
	if (rc != SQLITE_ROW)
		return db_fail(s, err, "reading vm %lld", (long long)id);
	if ((r = col_copy(st, 0, name, STORE_NAME_MAX, err)) < 0 ||
	    (r = col_copy(st, 1, state, 16, err)) < 0)
		return r;
	return 0;
}

int store_vm_update(struct store *s, const struct vm_rec *r, struct berr *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	char name[STORE_NAME_MAX], state[16];
	struct op op;
	int ret;

	ret = vm_check(r, err);
	if (ret < 0)
		return ret;
	ret = op_begin(s, &op, err);
	if (ret < 0)
		return ret;
	/* The name is the VM's identity (directories, DNS): not mutable. */
	ret = prepare(s, "UPDATE vms SET state = ?1, image = ?2, kernel = ?3, vmm = ?4, "
		      "vcpu = ?5, memory_mib = ?6, disk_size = ?7, pid = ?8, pid_start = ?9, "
		      "started_at = ?10, stopped_at = ?11, last_error = ?12, runtime = ?13, "
		      "net_slot = ?14, hostkey = ?15 WHERE id = ?16 AND name = ?17", &st, err);
	if (ret < 0)
		goto out;
	vm_bind(st, r);
	sqlite3_bind_int64(st, 16, r->id);
	sqlite3_bind_text(st, 17, r->name, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ret = db_fail(s, err, "updating vm '%s'", r->name);
		goto out;
	}
	if (sqlite3_changes(s->db) == 0) {
		ret = vm_lookup(s, r->id, name, state, err);
		if (ret >= 0)
			ret = berr_set(err, EINVAL, "vm '%s' cannot be renamed to '%s'",
				       name, r->name);
	}
out:
	return op_end(&op, ret, err);
}

static bool vm_state_known(const char *state)
{
	for (size_t i = 0; i < ARRAY_SIZE(vm_states); i++)
		if (strcmp(state, vm_states[i]) == 0)
			return true;
	return false;
}

int store_vm_set_state(struct store *s, int64_t id, const char *from,
		       const char *to, struct berr *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	char name[STORE_NAME_MAX], state[16];
	struct op op;
	int r;

	if (!vm_state_known(from) || !vm_state_known(to))
		return berr_set(err, EINVAL, "'%s' is not a vm state",
				vm_state_known(from) ? to : from);
	r = op_begin(s, &op, err);
	if (r < 0)
		return r;
	r = prepare(s, "UPDATE vms SET state = ?1 WHERE id = ?2 AND state = ?3", &st, err);
	if (r < 0)
		goto out;
	sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_text(st, 3, from, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		r = db_fail(s, err, "setting the state of vm %lld", (long long)id);
		goto out;
	}
	if (sqlite3_changes(s->db) == 0) {
		r = vm_lookup(s, id, name, state, err);
		if (r >= 0)
			r = berr_set(err, EBUSY, "vm '%s' is %s, not %s", name, state, from);
	}
out:
	return op_end(&op, r, err);
}

/* One text column of one VM, in one statement (atomic by itself). */
static int set_text(struct store *s, const char *sql, const char *what, int64_t id,
		    const char *value, struct berr *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	store_lock(s);
	r = prepare(s, sql, &st, err);
	if (r < 0)
		goto out;
	bind_text(st, 1, value);
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_fail(s, err, "recording the %s of vm %lld", what, (long long)id);
	else if (sqlite3_changes(s->db) == 0)
		r = berr_set(err, ENOENT, "vm %lld does not exist", (long long)id);
out:
	store_unlock(s);
	return r;
}

int store_vm_set_error(struct store *s, int64_t id, const char *msg, struct berr *err)
{
	return set_text(s, "UPDATE vms SET last_error = ? WHERE id = ?", "error", id, msg, err);
}

int store_vm_set_hostkey(struct store *s, int64_t id, const char *hostkey, struct berr *err)
{
	return set_text(s, "UPDATE vms SET hostkey = ? WHERE id = ?", "host key", id, hostkey, err);
}

/* DELETE by id from a table; -ENOENT when nothing was there. */
static int delete_by_id(struct store *s, const char *sql, const char *what, int64_t id,
			struct berr *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	store_lock(s);
	r = prepare(s, sql, &st, err);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_fail(s, err, "deleting %s %lld", what, (long long)id);
	else if (sqlite3_changes(s->db) == 0)
		r = berr_set(err, ENOENT, "%s %lld does not exist", what, (long long)id);
out:
	store_unlock(s);
	return r;
}

int store_vm_delete(struct store *s, int64_t id, struct berr *err)
{
	return delete_by_id(s, "DELETE FROM vms WHERE id = ?", "vm", id, err);
}

int store_vm_set_owner(struct store *s, int64_t id, int64_t uid, int64_t gid, int64_t mode,
		       struct berr *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	if (uid > UINT32_MAX - 1 || gid > UINT32_MAX - 1 || mode > 0777)
		return berr_set(err, EINVAL, "owner %lld, group %lld or mode %llo out of range",
				(long long)uid, (long long)gid, (long long)mode);
	store_lock(s);
	r = prepare(s, "UPDATE vms SET owner_uid = CASE WHEN ?1 < 0 THEN owner_uid ELSE ?1 END, "
		    "owner_gid = CASE WHEN ?2 < 0 THEN owner_gid ELSE ?2 END, "
		    "mode = CASE WHEN ?3 < 0 THEN mode ELSE ?3 END WHERE id = ?4", &st, err);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(st, 1, uid);
	sqlite3_bind_int64(st, 2, gid);
	sqlite3_bind_int64(st, 3, mode);
	sqlite3_bind_int64(st, 4, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_fail(s, err, "recording the owner of vm %lld", (long long)id);
	else if (sqlite3_changes(s->db) == 0)
		r = berr_set(err, ENOENT, "vm %lld does not exist", (long long)id);
out:
	store_unlock(s);
	return r;
}

int store_vm_set_ephemeral(struct store *s, int64_t id, bool ephemeral, struct berr *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	store_lock(s);
	r = prepare(s, "UPDATE vms SET ephemeral = ? WHERE id = ?", &st, err);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(st, 1, ephemeral ? 1 : 0);
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_fail(s, err, "marking vm %lld", (long long)id);
	else if (sqlite3_changes(s->db) == 0)
		r = berr_set(err, ENOENT, "vm %lld does not exist", (long long)id);
out:
	store_unlock(s);
	return r;
}

/* ---- ports ---- */

#define PORT_COLS "id, vm_id, name, guest_port, host_port, bound_port"

static int port_from_row(sqlite3_stmt *st, struct port_rec *ret, struct berr *err)
{
	struct port_rec v = { 0 };
	int r;

	v.id = sqlite3_column_int64(st, 0);
	v.vm_id = sqlite3_column_int64(st, 1);
	if ((r = col_copy(st, 2, v.name, sizeof(v.name), err)) < 0)
		return r;
	v.guest_port = sqlite3_column_int64(st, 3);
	v.host_port = sqlite3_column_int64(st, 4);
	v.bound_port = sqlite3_column_int64(st, 5);
	*ret = v;
	return 0;
}

int store_port_insert(struct store *s, struct port_rec *r, struct berr *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int ret;

	if (!field_ok(r->name, sizeof(r->name), true))
		return berr_set(err, EINVAL, "a port name must be 1 to %zu characters",
				sizeof(r->name) - 1);
	store_lock(s);
	ret = prepare(s, "INSERT INTO ports (vm_id, name, guest_port, host_port, bound_port) "
		      "VALUES (?, ?, ?, ?, ?)", &st, err);
	if (ret < 0)
		goto out;
	sqlite3_bind_int64(st, 1, r->vm_id);
	sqlite3_bind_text(st, 2, r->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, r->guest_port);
	sqlite3_bind_int64(st, 4, r->host_port);
	sqlite3_bind_int64(st, 5, r->bound_port);
	if (sqlite3_step(st) != SQLITE_DONE) {
		if (sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_UNIQUE)
			ret = berr_set(err, EEXIST, "port %s already exists", r->name);
		else
			ret = db_fail(s, err, "storing port %s", r->name);
		goto out;
	}
	r->id = sqlite3_last_insert_rowid(s->db);
	ret = 0;
out:
	store_unlock(s);
	return ret;
}

int store_port_get(struct store *s, int64_t id, struct port_rec *ret, struct berr *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	store_lock(s);
	r = prepare(s, "SELECT " PORT_COLS " FROM ports WHERE id = ?", &st, err);
	if (r >= 0) {
		sqlite3_bind_int64(st, 1, id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			r = berr_set(err, ENOENT, "port %lld does not exist", (long long)id);
		else if (rc != SQLITE_ROW)
			r = db_fail(s, err, "reading port %lld", (long long)id);
		else
			r = port_from_row(st, ret, err);
	}
	store_unlock(s);
	return r;
}

int store_port_list(struct store *s, int64_t vm_id, struct port_rec **ret, size_t *ret_n,
		    struct berr *err)
{
	sqlite3_stmt *st = NULL;
	struct port_rec *a = NULL;
	size_t n = 0, cap = 0;
	int r, rc;

	store_lock(s);
	r = hot_prepare(s, HOT_PORT_LIST, "SELECT " PORT_COLS " FROM ports WHERE ?1 = 0 OR "
			"vm_id = ?1 ORDER BY vm_id, name", &st, err);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(st, 1, vm_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			a = xrealloc(a, cap * sizeof(*a));
		}
		if ((r = port_from_row(st, &a[n], err)) < 0)
			goto out;
		n++;
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(s, err, "listing ports");
		goto out;
	}
	*ret = TAKE_PTR(a);
	*ret_n = n;
	r = 0;
out:
	hot_done(s, &st);
	store_unlock(s);
	free(a);
	return r;
}

int store_port_set_bound(struct store *s, int64_t id, int64_t bound, struct berr *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	store_lock(s);
	r = prepare(s, "UPDATE ports SET bound_port = ? WHERE id = ?", &st, err);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(st, 1, bound);
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_fail(s, err, "recording port %lld", (long long)id);
	else if (sqlite3_changes(s->db) == 0)
		r = berr_set(err, ENOENT, "port %lld does not exist", (long long)id);
out:
	store_unlock(s);
	return r;
}

int store_port_delete(struct store *s, int64_t id, struct berr *err)
{
	return delete_by_id(s, "DELETE FROM ports WHERE id = ?", "port", id, err);
}

/* ---- images and kernels ---- */

#define IMAGE_COLS "id, kind, name, state, dir, manifest, sha256, size, imported_at"

void image_rec_clear(struct image_rec *r)
{
	if (!r)
		return;
	free(r->dir);
	free(r->manifest);
	memset(r, 0, sizeof(*r));
}

void image_rec_array_free(struct image_rec *a, size_t n)
{
	if (!a)
		return;
	for (size_t i = 0; i < n; i++)
		image_rec_clear(&a[i]);
	free(a);
}

static bool kind_ok(const char *kind)
{
	return kind && (strcmp(kind, "image") == 0 || strcmp(kind, "kernel") == 0);
}

static int image_from_row(sqlite3_stmt *st, struct image_rec *ret, struct berr *err)
{
	struct image_rec v = { 0 };
	int r;

	v.id = sqlite3_column_int64(st, 0);
	if ((r = col_copy(st, 1, v.kind, sizeof(v.kind), err)) < 0 ||
	    (r = col_copy(st, 2, v.name, sizeof(v.name), err)) < 0 ||
	    (r = col_copy(st, 3, v.state, sizeof(v.state), err)) < 0 ||
	    (r = col_copy(st, 6, v.sha256, sizeof(v.sha256), err)) < 0)
		return r;
	v.size = sqlite3_column_int64(st, 7);
	v.imported_at = sqlite3_column_int64(st, 8);
	if ((r = col_dup(st, 4, &v.dir, err)) < 0 ||
	    (r = col_dup(st, 5, &v.manifest, err)) < 0) {
		image_rec_clear(&v);
		return r;
	}
	*ret = v;
	return 0;
}

int store_image_insert(struct store *s, struct image_rec *r, struct berr *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int ret;

	if (!field_ok(r->kind, sizeof(r->kind), true) || !kind_ok(r->kind))
		return berr_set(err, EINVAL, "an image's kind must be 'image' or 'kernel'");
	if (!field_ok(r->name, sizeof(r->name), true))
		return berr_set(err, EINVAL, "an %s name must be 1 to %d characters",
				r->kind, STORE_NAME_MAX - 1);
	if (!field_ok(r->state, sizeof(r->state), false) ||
	    !field_ok(r->sha256, sizeof(r->sha256), false))
		return berr_set(err, EINVAL, "%s '%s' has an unterminated field", r->kind, r->name);
	if (!r->state[0])
		strcpy(r->state, "ready");
	if (!r->imported_at)
		r->imported_at = now_ms();

	store_lock(s);
	ret = prepare(s, "INSERT INTO images (kind, name, state, dir, manifest, sha256, size, "
		      "imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", &st, err);
	if (ret < 0)
		goto out;
	sqlite3_bind_text(st, 1, r->kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, r->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, r->state, -1, SQLITE_TRANSIENT);
	bind_text(st, 4, r->dir);
	bind_text(st, 5, r->manifest);
	sqlite3_bind_text(st, 6, r->sha256, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, r->size);
	sqlite3_bind_int64(st, 8, r->imported_at);
	if (sqlite3_step(st) != SQLITE_DONE) {
		if (sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_UNIQUE)
			ret = berr_set(err, EEXIST, "%s '%s' already exists", r->kind, r->name);
		else
			ret = db_fail(s, err, "storing %s '%s'", r->kind, r->name);
		goto out;
	}
	r->id = sqlite3_last_insert_rowid(s->db);
	ret = 0;
out:
	store_unlock(s);
	return ret;
}

static int image_get_one(struct store *s, sqlite3_stmt *st, struct image_rec *ret,
			 struct berr *err, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE)
		return berr_set(err, ENOENT, "%s does not exist", what);
	if (rc != SQLITE_ROW)
		return db_fail(s, err, "reading %s", what);
	return image_from_row(st, ret, err);
}

int store_image_get_by_name(struct store *s, const char *kind, const char *name,
			    struct image_rec *ret, struct berr *err)
{
	sqlite3_stmt *st = NULL;
	char what[STORE_NAME_MAX + 16];
	int r;

	if (!kind_ok(kind))
		return berr_set(err, EINVAL, "an image's kind must be 'image' or 'kernel'");
	snprintf(what, sizeof(what), "%s '%.*s'", kind, STORE_NAME_MAX - 1, name);
	store_lock(s);
	r = hot_prepare(s, HOT_IMAGE_BY_NAME,
			"SELECT " IMAGE_COLS " FROM images WHERE kind = ? AND name = ?", &st, err);
	if (r >= 0) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
		r = image_get_one(s, st, ret, err, what);
	}
	hot_done(s, &st);
	store_unlock(s);
	return r;
}

int store_image_get(struct store *s, int64_t id, struct image_rec *ret, struct berr *err)
{
	sqlite3_stmt *st = NULL;
	char what[48];
	int r;

	snprintf(what, sizeof(what), "image %lld", (long long)id);
	store_lock(s);
	r = hot_prepare(s, HOT_IMAGE_BY_ID, "SELECT " IMAGE_COLS " FROM images WHERE id = ?", &st,
			err);
	if (r >= 0) {
		sqlite3_bind_int64(st, 1, id);
		r = image_get_one(s, st, ret, err, what);
	}
	hot_done(s, &st);
	store_unlock(s);
	return r;
}

/* kind NULL lists both kinds, images first. */
int store_image_list(struct store *s, const char *kind, struct image_rec **ret,
		     size_t *ret_n, struct berr *err)
{
	sqlite3_stmt *st = NULL;
	struct image_rec *a = NULL;
	size_t n = 0, cap = 0;
	int r, rc;

	if (kind && !kind_ok(kind))
		return berr_set(err, EINVAL, "an image's kind must be 'image' or 'kernel'");
	store_lock(s);
	r = hot_prepare(s, HOT_IMAGE_LIST, "SELECT " IMAGE_COLS " FROM images WHERE ?1 IS NULL "
			"OR kind = ?1 ORDER BY kind, name", &st, err);
	if (r < 0)
		goto out;
	bind_text(st, 1, kind);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			a = xrealloc(a, cap * sizeof(*a));
		}
		r = image_from_row(st, &a[n], err);
		if (r < 0)
			goto out;
		n++;
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(s, err, "listing images");
		goto out;
	}
	*ret = TAKE_PTR(a);
	*ret_n = n;
	r = 0;
out:
	hot_done(s, &st);
	store_unlock(s);
	image_rec_array_free(a, n);
	return r;
}

int store_image_delete(struct store *s, int64_t id, struct berr *err)
{
	return delete_by_id(s, "DELETE FROM images WHERE id = ?", "image", id, err);
}
