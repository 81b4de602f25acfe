/* core/snapshot.c: see snapshot.h. */
#define _GNU_SOURCE
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "disk.h"
#include "log.h"
#include "vmfiles.h"

#define USERS_MAX 256
#define CHECKED_MAX 256

/* A file whose checksum was found right, as it was then.  Not its ctime:
 * a restore's overlay links the root disk (core/vmdisk.h: rootfs.base),
 * and a link made or removed changes the ctime, not the bytes.  The files
 * are 0400 and nothing of banger's writes them; a write moves the mtime. */
struct checked {
	char path[512];
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct snapstore {
	char *dir;
	pthread_mutex_t lock;          /* everything below */
	struct {
		char name[SNAP_NAME_MAX];
		int n;                 /* restores using it, or -1: being made */
	} users[USERS_MAX];
	size_t n_users;
	struct checked checked[CHECKED_MAX];
	size_t n_checked, next_checked;
};

int snapstore_new(const char *dir, struct snapstore **ret, struct berr *err)
{
	int r = mkdir_p(dir, 0700);
	if (r < 0)
		return berr_set(err, -r, "cannot create %s: %s", dir, strerror(-r));
	/* What an interrupted snapshot left: ".tmp-*". */
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (strncmp(de->d_name, ".tmp-", 5) == 0) {
				_cleanup_free_ char *p = path_join(dir, de->d_name);
				rm_rf(p);
			}
		closedir(d);
	}
	struct snapstore *ss = xcalloc(1, sizeof(*ss));
	ss->dir = xstrdup(dir);
	pthread_mutex_init(&ss->lock, NULL);
	*ret = ss;
	return 0;
}

void snapstore_free(struct snapstore *ss)
{
	if (!ss)
		return;
	pthread_mutex_destroy(&ss->lock);
	free(ss->dir);
	free(ss);
}

const char *snapstore_dir(const struct snapstore *ss)
{
	return ss->dir;
}

/* ---- users (ss->lock held) ----------------------------------------------- */

static int user_find(struct snapstore *ss, const char *name)
{
	for (size_t i = 0; i < ss->n_users; i++)
		if (strcmp(ss->users[i].name, name) == 0)
			return (int)i;
	return -1;
}

static bool user_add(struct snapstore *ss, const char *name, int delta)
{
	int i = user_find(ss, name);
	if (i < 0) {
		if (ss->n_users == USERS_MAX)
			return false;
		i = (int)ss->n_users++;
		snprintf(ss->users[i].name, sizeof(ss->users[i].name), "%s", name);
		ss->users[i].n = 0;
	}
	ss->users[i].n += delta;
	if (ss->users[i].n == 0)
		ss->users[i] = ss->users[--ss->n_users];
	return true;
}

/* ---- reading ------------------------------------------------------------- */

static int load_meta(struct snapstore *ss, const char *name, struct snap_meta *m,
		     struct berr *err)
{
	_cleanup_free_ char *dir = path_join(ss->dir, name);
	_cleanup_free_ char *p = path_join(dir, "meta.json");
	char *text = NULL;
	size_t len = 0;
	int r = read_file(p, SNAP_META_MAX, &text, &len);
	if (r < 0)
		return berr_set(err, -r, "snapshot %s: cannot read meta.json: %s", name, strerror(-r));
	r = snap_meta_parse(text, len, m, err);
	free(text);
	if (r < 0)
		return berr_wrap(err, "snapshot %s", name);
	if (strcmp(m->name, name) != 0) {
		r = berr_set(err, EINVAL, "snapshot %s: its meta.json names %s", name, m->name);
		snap_meta_clear(m);
	}
	return r;
}

static uint64_t usage_of(const char *dir)
{
	uint64_t sum = 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return sum;
}

void snap_info_array_free(struct snap_info *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snap_meta_clear(&a[i].meta);
	free(a);
}

static int cmp_info(const void *a, const void *b)
{
	return strcmp(((const struct snap_info *)a)->meta.name,
		      ((const struct snap_info *)b)->meta.name);
}

int snapstore_list(struct snapstore *ss, struct snap_info **ret, size_t *ret_n, struct berr *err)
{
	DIR *d = opendir(ss->dir);
	struct snap_info *a = NULL;
	size_t n = 0, cap = 0;
	*ret = NULL;
	*ret_n = 0;
	if (!d)
		return berr_set(err, errno, "cannot read %s: %s", ss->dir, strerror(errno));
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!snap_name_valid(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			a = xrealloc(a, cap * sizeof(*a));
		}
		memset(&a[n], 0, sizeof(a[n]));
		if (load_meta(ss, de->d_name, &a[n].meta, NULL) < 0)
			continue;
		_cleanup_free_ char *p = path_join(ss->dir, de->d_name);
		a[n].bytes = usage_of(p);
		n++;
	}
	closedir(d);
	if (n)
		qsort(a, n, sizeof(*a), cmp_info);
	*ret = a;
	*ret_n = n;
	return 0;
}

int snapstore_get(struct snapstore *ss, const char *name, struct snap_info *ret, struct berr *err)
{
	memset(ret, 0, sizeof(*ret));
	if (!snap_name_valid(name))
		return berr_set(err, ENOENT, "no snapshot named '%.64s'", name);
	_cleanup_free_ char *p = path_join(ss->dir, name);
	struct stat st;
	if (stat(p, &st) < 0)
		return berr_set(err, ENOENT, "no snapshot named '%s'", name);
	int r = load_meta(ss, name, &ret->meta, err);
	if (r < 0)
		return -ENOENT;
	ret->bytes = usage_of(p);
	return 0;
}

int snapstore_remove(struct snapstore *ss, const char *name, struct berr *err)
{
	if (!snap_name_valid(name))
		return berr_set(err, ENOENT, "no snapshot named '%.64s'", name);
	_cleanup_free_ char *p = path_join(ss->dir, name);
	pthread_mutex_lock(&ss->lock);
	int u = user_find(ss, name);
	if (u >= 0) {
		int n = ss->users[u].n;
		pthread_mutex_unlock(&ss->lock);
		return berr_set(err, EBUSY, "snapshot %s is %s; try again when that is done", name,
				n < 0 ? "being made" : "being restored from");
	}
	struct stat st;
	int r = 0;
	if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode))
		r = berr_set(err, ENOENT, "no snapshot named '%s'", name);
	else if ((r = rm_rf(p)) < 0)
		berr_set(err, -r, "cannot remove %s: %s", p, strerror(-r));
	pthread_mutex_unlock(&ss->lock);
	if (r == 0)
		blog("snapshot %s removed", name);
	return r;
}

static void find_dir_by_key(struct snapstore *ss, const char key[65], char *name, size_t len)
{
	name[0] = 0;
	DIR *d = opendir(ss->dir);
	if (!d)
		return;
	struct dirent *de;
	size_t kl = 12;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (!snap_name_valid(de->d_name) || n < kl ||
		    strncmp(de->d_name + n - kl, key, kl) != 0)
			continue;
		struct snap_meta m;
		if (load_meta(ss, de->d_name, &m, NULL) == 0) {
			bool same = strcmp(m.key, key) == 0;
			snap_meta_clear(&m);
			if (!same)
				continue;
		}
		/* A snapshot whose meta.json is broken is still "the one for
		 * this key": the check says why, and removes it. */
		snprintf(name, len, "%s", de->d_name);
		break;
	}
	closedir(d);
}

bool snapstore_has(struct snapstore *ss, const char key[65])
{
	char name[SNAP_NAME_MAX];
	find_dir_by_key(ss, key, name, sizeof(name));
	return name[0] != 0;
}

/* ---- checks ------------------------------------------------------------- */

static bool stat_same(const struct checked *c, const struct stat *st)
{
	return c->dev == st->st_dev && c->ino == st->st_ino && c->size == st->st_size &&
	       c->mtime.tv_sec == st->st_mtim.tv_sec && c->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static bool was_checked(struct snapstore *ss, const char *path, const struct stat *st)
{
	bool yes = false;
	pthread_mutex_lock(&ss->lock);
	for (size_t i = 0; i < ss->n_checked && !yes; i++)
		yes = strcmp(ss->checked[i].path, path) == 0 && stat_same(&ss->checked[i], st);
	pthread_mutex_unlock(&ss->lock);
	return yes;
}

static void mark_checked(struct snapstore *ss, const char *path, const struct stat *st)
{
	pthread_mutex_lock(&ss->lock);
	struct checked *c = NULL;
	for (size_t i = 0; i < ss->n_checked && !c; i++)
		if (strcmp(ss->checked[i].path, path) == 0)
			c = &ss->checked[i];
	if (!c && ss->n_checked < CHECKED_MAX)
		c = &ss->checked[ss->n_checked++];
	if (!c) {
		c = &ss->checked[ss->next_checked];
		ss->next_checked = (ss->next_checked + 1) % CHECKED_MAX;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->dev = st->st_dev;
	c->ino = st->st_ino;
	c->size = st->st_size;
	c->mtime = st->st_mtim;
	pthread_mutex_unlock(&ss->lock);
}

/* Every file of m in dir: present, regular, the right size, the right
 * checksum (unless unchanged since it was last found right). */
static int check_files(struct snapstore *ss, const char *dir, const struct snap_meta *m,
		       struct berr *err)
{
	static const char *const need[] = { "state", "mem", "rootfs.ext4" };
	for (size_t i = 0; i < ARRAY_SIZE(need); i++) {
		bool listed = false;
		for (size_t j = 0; j < m->n_files; j++)
			listed |= strcmp(m->files[j].name, need[i]) == 0;
		if (!listed)
			return berr_set(err, EINVAL, "its meta.json does not list %s", need[i]);
	}
	for (size_t j = 0; j < m->n_files; j++) {
		const struct snap_file *f = &m->files[j];
		_cleanup_free_ char *p = path_join(dir, f->name);
		struct stat st;
		if (lstat(p, &st) < 0)
			return berr_set(err, errno, "%s: %s", f->name, strerror(errno));
		if (!S_ISREG(st.st_mode))
			return berr_set(err, EINVAL, "%s is not a regular file", f->name);
		if ((uint64_t)st.st_size != f->size)
			return berr_set(err, EINVAL, "%s is %lld bytes, not %llu (truncated or replaced)",
					f->name, (long long)st.st_size, (unsigned long long)f->size);
		if (was_checked(ss, p, &st))
			continue;
		char sum[65];
		uint64_t size;
		int r = snap_file_hash(p, sum, &size, err);
		if (r < 0)
			return r;
		if (strcmp(sum, f->sha256) != 0)
			return berr_set(err, EINVAL, "%s does not match its checksum (corrupt)", f->name);
		mark_checked(ss, p, &st);
	}
	return 0;
}

int snapstore_find(struct snapstore *ss, const char key[65], struct snap_use *ret,
		   struct berr *err)
{
	char name[SNAP_NAME_MAX];
	memset(ret, 0, sizeof(*ret));
	find_dir_by_key(ss, key, name, sizeof(name));
	if (!name[0])
		return berr_set(err, ENOENT, "no snapshot has key %.12s", key);
	pthread_mutex_lock(&ss->lock);
	int u = user_find(ss, name);
	bool making = u >= 0 && ss->users[u].n < 0;
	bool ok = !making && user_add(ss, name, 1);
	pthread_mutex_unlock(&ss->lock);
	if (!ok)
		return berr_set(err, ENOENT, "snapshot %s is being made", name);

	_cleanup_free_ char *dir = path_join(ss->dir, name);
	int r = load_meta(ss, name, &ret->meta, err);
	if (r == 0 && strcmp(ret->meta.key, key) != 0)
		r = berr_set(err, EINVAL, "snapshot %s has another key", name);
	if (r == 0 && (r = check_files(ss, dir, &ret->meta, err)) < 0)
		berr_wrap(err, "snapshot %s", name);
	if (r < 0) {
		pthread_mutex_lock(&ss->lock);
		user_add(ss, name, -1);
		bool last = user_find(ss, name) < 0;
		pthread_mutex_unlock(&ss->lock);
		snap_meta_clear(&ret->meta);
		/* A broken snapshot goes: the next start makes a new one. */
		if (last && rm_rf(dir) == 0) {
			char m[BERR_MSG_MAX];
			snprintf(m, sizeof(m), "%s", err->msg);
			berr_set(err, err->code ? err->code : EINVAL, "%.470s; refused and removed", m);
		}
		blog("%s", err->msg);
		return r < 0 && r != -ENOENT ? r : -EINVAL;
	}
	ret->dir = TAKE_PTR(dir);
	ret->state = path_join(ret->dir, "state");
	ret->mem = path_join(ret->dir, "mem");
	ret->rootfs = path_join(ret->dir, "rootfs.ext4");
	return 0;
}

void snapstore_release(struct snapstore *ss, struct snap_use *u)
{
	if (u->dir) {
		pthread_mutex_lock(&ss->lock);
		user_add(ss, u->meta.name, -1);
		pthread_mutex_unlock(&ss->lock);
	}
	snap_meta_clear(&u->meta);
	free(u->dir);
	free(u->state);
	free(u->mem);
	free(u->rootfs);
	memset(u, 0, sizeof(*u));
}

/* ---- making one ------------------------------------------------------- */

static bool cancelled(const struct snap_source *src)
{
	return src->cancel && atomic_load(src->cancel);
}

static int add_file(struct snap_meta *m, const char *dir, const char *name, mode_t mode,
		    struct berr *err)
{
	_cleanup_free_ char *p = path_join(dir, name);
	struct snap_file *f = &m->files[m->n_files];
	int r = snap_file_hash(p, f->sha256, &f->size, err);
	if (r < 0)
		return r;
	if (chmod(p, mode) < 0)
		return berr_set(err, errno, "cannot chmod %s: %s", p, strerror(errno));
	snprintf(f->name, sizeof(f->name), "%s", name);
	m->n_files++;
	return 0;
}

int snapstore_create(struct snapstore *ss, const struct snap_source *src, char *ret_name,
		     struct berr *err)
{
	const struct vmm_driver *drv = src->drv;
	struct snap_meta m = { 0 };
	char name[SNAP_NAME_MAX];
	bool quiesced = false, paused = false;
	int64_t t0 = mono_ms(), t_pause = 0, t_run = 0, t_fin = 0, t_sum = 0;
	int r;

	if (!drv->pause || !drv->snap_save || !drv->resume || !drv->restore)
		return berr_set(err, ENOTSUP, "the %s driver cannot make snapshots", drv->name);
	if (drv->snap_possible && (r = drv->snap_possible(src->host, src->proc, err)) < 0)
		return r;
	snap_key(src->key_text, m.key);
	snap_name(src->image, m.key, name);
	pthread_mutex_lock(&ss->lock);
	int u = user_find(ss, name);
	bool ok = u < 0 && user_add(ss, name, -1);
	pthread_mutex_unlock(&ss->lock);
	if (!ok)
		return berr_set(err, EBUSY, "snapshot %s is being made or restored from", name);
	_cleanup_free_ char *final = path_join(ss->dir, name);
	_cleanup_free_ char *tmp = xasprintf("%s/.tmp-%s-%d", ss->dir, name, (int)getpid());
	_cleanup_free_ char *state = path_join(tmp, "state");
	_cleanup_free_ char *mem = path_join(tmp, "mem");
	_cleanup_free_ char *rootfs = path_join(tmp, "rootfs.ext4");
	struct vmm_snap sn = { .dir = tmp, .state = state, .mem = mem };
	struct stat st;

	if (lstat(final, &st) == 0) {
		r = berr_set(err, EEXIST, "snapshot %s exists already (rmdir snapshots/%s to make it "
			     "again)", name, name);
		goto out;
	}
	rm_rf(tmp);
	if (mkdir(tmp, 0700) < 0) {
		r = berr_set(err, errno, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (cancelled(src)) {
		r = berr_set(err, ECANCELED, "the VM is going away");
		goto out;
	}
	if ((r = src->guest_quiesce(src->ctx, err)) < 0) {
		berr_wrap(err, "preparing the guest");
		goto out;
	}
	quiesced = true;
	t_pause = mono_ms();
	if ((r = drv->pause(src->host, src->proc, err)) < 0)
		goto out;
	paused = true;
	if ((r = drv->snap_save(src->host, src->proc, src->spec, &sn, err)) < 0)
		goto out;
	/* The disk as the guest's memory knows it: copied while paused. */
	enum clone_method cm;
	if (disk_is_overlay(src->spec->rootfs))
		r = disk_flatten(src->spec->rootfs, rootfs, err); /* a restored VM's */
	else
		r = disk_clone(src->spec->rootfs, rootfs, &cm, err);
	if (r < 0) {
		berr_wrap(err, "copying the root disk");
		goto out;
	}
out:
	if (paused) {
		struct berr e2 = { 0 };
		if (drv->resume(src->host, src->proc, &e2) < 0) {
			vmf_note(src->state_dir, src->vm, "snapshot: %s", e2.msg);
			if (r == 0) {
				*err = e2;
				r = -e2.code;
			}
		}
		t_run = mono_ms();
	}
	if (quiesced) {
		struct berr e2 = { 0 };
		if (src->guest_thaw(src->ctx, &e2) < 0) {
			vmf_note(src->state_dir, src->vm, "snapshot: the guest did not come back "
				 "whole: %s", e2.msg);
			if (r == 0) {
				*err = e2;
				r = -e2.code;
			}
		}
	}
	t_fin = mono_ms();
	if (r == 0) {
		snprintf(m.name, sizeof(m.name), "%s", name);
		m.key_text = xstrdup(src->key_text);
		m.cmdline = xstrdup(src->cmdline ? src->cmdline : "");
		snprintf(m.image, sizeof(m.image), "%s", src->image);
		snprintf(m.kernel, sizeof(m.kernel), "%s", src->kernel);
		snprintf(m.vmm, sizeof(m.vmm), "%s", drv->name);
		snprintf(m.source_vm, sizeof(m.source_vm), "%s", src->vm);
		m.vcpu = src->spec->vcpu;
		m.memory_mib = src->spec->memory_mib;
		m.work_size = src->work_size;
		m.created_ms = now_ms();
		/* QEMU 7.2 opens its memory file read-write (docs/snapshots.md). */
		mode_t mem_mode = geteuid() == 0 || strcmp(drv->name, "qemu") != 0 ? 0400 : 0600;
		if ((r = add_file(&m, tmp, "state", 0400, err)) == 0 &&
		    (r = add_file(&m, tmp, "mem", mem_mode, err)) == 0)
			r = add_file(&m, tmp, "rootfs.ext4", 0400, err);
		t_sum = mono_ms();
	}
	if (r == 0) {
		_cleanup_free_ char *text = snap_meta_format(&m);
		_cleanup_free_ char *mp = path_join(tmp, "meta.json");
		if ((r = write_file_atomic(mp, text, strlen(text), 0400)) < 0)
			berr_set(err, -r, "cannot write %s: %s", mp, strerror(-r));
	}
	if (r == 0 && rename(tmp, final) < 0)
		r = berr_set(err, errno, "cannot rename %s: %s", tmp, strerror(errno));
	if (r == 0) {
		/* Just summed: the first restore need not read it all again. */
		for (size_t i = 0; i < m.n_files; i++) {
			_cleanup_free_ char *p = path_join(final, m.files[i].name);
			if (stat(p, &st) == 0)
				mark_checked(ss, p, &st);
		}
		vmf_note(src->state_dir, src->vm, "snapshot %s made: guest quiesced %lld ms, paused "
			 "%lld ms, guest back %lld ms, checksums %lld ms", name,
			 (long long)(t_pause - t0), (long long)(t_run - t_pause),
			 (long long)(t_fin - t_run), (long long)(t_sum - t_fin));
		blog("snapshot %s made from vm %s", name, src->vm);
		snprintf(ret_name, SNAP_NAME_MAX, "%s", name);
	} else {
		rm_rf(tmp);
	}
	pthread_mutex_lock(&ss->lock);
	user_add(ss, name, 1);
	pthread_mutex_unlock(&ss->lock);
	snap_meta_clear(&m);
	return r;
}

size_t snapstore_count(struct snapstore *ss)
{
	struct snap_info *all = NULL;
	size_t n = 0;
	snapstore_list(ss, &all, &n, NULL);
	snap_info_array_free(all, n);
	return n;
}
