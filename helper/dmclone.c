/* helper/dmclone.c: dm-snapshot clones of VM images with libdevmapper
 * (see dmclone.h). */
#define _GNU_SOURCE
#include "dmclone.h"

#include <errno.h>
#include <fcntl.h>
#include <libdevmapper.h>
#include <linux/loop.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "paths.h"
#include "util.h"

/* ---- libdevmapper's messages: the last error, for the sentence ---- */

static __thread char dm_last[200];
static pthread_once_t dm_once = PTHREAD_ONCE_INIT;

static void dm_logger(int level, const char *file, int line, int dm_errno_or_class,
		      const char *f, ...) __attribute__((format(printf, 5, 6)));
static void dm_logger(int level, const char *file, int line, int dm_errno_or_class,
		      const char *f, ...)
{
	va_list ap;

	if ((level & 0x0f) > 3) /* _LOG_ERR and worse only */
		return;
	va_start(ap, f);
	vsnprintf(dm_last, sizeof(dm_last), f, ap);
	va_end(ap);
}

/* The device nodes are the library's own, not udev's: libdevmapper makes
 * /dev/mapper/<name> itself (mknod, with the uid, gid and mode the create
 * task names: the owner's, 0600) and removes it with the device, and udev
 * is told to leave banger's devices alone (the cookie flags in
 * dm_run()).  A node udev made would be root:disk 0660 until we chown it,
 * and be reset to that by udev at any later event of the device; waiting
 * for udev on each clone also cost ~90% of a clone's time in the guest
 * test host (docs/benchmarks.md).  Process-wide: set once. */
static void dm_init(void)
{
	dm_log_with_errno_init(dm_logger);
	dm_udev_set_sync_support(0);
	dm_udev_set_checking(0);
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *dm_why(void)
{
	return dm_last[0] ? dm_last : "no reason given";
}

/* ---- names ---- */

int dmclone_name_validate(const char *vm, struct berr *err)
{
	size_t n = strnlen(vm, 64);
	char s[SHOWN_MAX];

	if (n == 0 || n > 63)
		return berr_set(err, EINVAL, "a VM name has 1 to 63 characters");
	for (size_t i = 0; i < n; i++)
		if (!((vm[i] >= 'a' && vm[i] <= 'z') || (vm[i] >= '0' && vm[i] <= '9') ||
		      vm[i] == '-'))
			return berr_set(err, EINVAL, "\"%s\" is not a VM name (a-z, 0-9 and '-')",
					shown_str(s, vm));
	if (vm[0] == '-' || vm[n - 1] == '-')
		return berr_set(err, EINVAL, "\"%s\" is not a VM name: '-' at an end", vm);
	return 0;
}

static void dm_name(const char *vm, char out[80])
{
	snprintf(out, 80, DMCLONE_NAME_PREFIX "%s", vm);
}

static void dm_uuid(const struct dmclone_conf *c, const char *vm, char out[96])
{
	snprintf(out, 96, DMCLONE_UUID_PREFIX "%u-%s", (unsigned)c->uid, vm);
}

/* ---- device-mapper ---- */

int dmclone_probe(struct berr *err)
{
	char v[64];

	pthread_once(&dm_once, dm_init);
	if (access("/dev/mapper/control", F_OK) < 0 && errno == ENOENT)
		return berr_set(err, ENODEV, "no device-mapper (/dev/mapper/control is missing: "
				"modprobe dm_mod)");
	if (access("/dev/loop-control", F_OK) < 0 && errno == ENOENT)
		return berr_set(err, ENODEV, "no loop devices (/dev/loop-control is missing: "
				"modprobe loop)");
	dm_last[0] = '\0';
	if (!dm_driver_version(v, sizeof(v)))
		return berr_set(err, EACCES, "device-mapper is not usable: %s", dm_why());
	return 0;
}

/* What a DM_DEVICE_INFO + TABLE says about name. */
struct dm_found {
	int exists;
	uint32_t major, minor;
	int32_t open_count;
	char uuid[130];
	char params[256]; /* the one target's, when it is a snapshot */
};

static int dm_look(const char *name, struct dm_found *f, struct berr *err)
{
	struct dm_task *t = dm_task_create(DM_DEVICE_INFO);
	struct dm_info info;
	int r = 0;

	memset(f, 0, sizeof(*f));
	if (!t)
		return berr_set(err, ENOMEM, "device-mapper: cannot create a task");
	dm_last[0] = '\0';
	if (!dm_task_set_name(t, name) || !dm_task_run(t) || !dm_task_get_info(t, &info)) {
		r = berr_set(err, EIO, "device-mapper: reading %s: %s", name, dm_why());
		goto out;
	}
	f->exists = info.exists;
	if (!info.exists)
		goto out;
	f->major = info.major;
	f->minor = info.minor;
	f->open_count = info.open_count;
	const char *u = dm_task_get_uuid(t);
	snprintf(f->uuid, sizeof(f->uuid), "%s", u ? u : "");
	dm_task_destroy(t);
	/* Its table: the one target's parameters, when it is a snapshot. */
	if (!(t = dm_task_create(DM_DEVICE_TABLE)))
		return berr_set(err, ENOMEM, "device-mapper: cannot create a task");
	if (!dm_task_set_name(t, name) || !dm_task_run(t)) {
		r = berr_set(err, EIO, "device-mapper: reading the table of %s: %s", name,
			     dm_why());
		goto out;
	}
	uint64_t start, len;
	char *type = NULL, *params = NULL;
	void *next = dm_get_next_target(t, NULL, &start, &len, &type, &params);
	if (!next && type && params && strcmp(type, "snapshot") == 0)
		snprintf(f->params, sizeof(f->params), "%s", params);
out:
	dm_task_destroy(t);
	return r;
}

/* Run a create or remove; the library then makes or removes the
 * /dev/mapper node (dm_udev_wait() on the zero cookie of an unsynced task
 * runs its node operations at once). */
static int dm_run(struct dm_task *t, const char *what, const char *name, int64_t *ret_run_us,
		  int64_t *ret_node_us, struct berr *err)
{
	uint32_t cookie = 0;
	/* udev's rules skip banger's devices: no /dev/mapper link of its
	 * own (the library's node is there), no blkid probe of the guest's
	 * file system by the host (it is the guest's, not to be parsed
	 * here), no by-uuid links, no other package's rules. */
	uint16_t flags = DM_UDEV_DISABLE_DM_RULES_FLAG | DM_UDEV_DISABLE_SUBSYSTEM_RULES_FLAG |
			 DM_UDEV_DISABLE_DISK_RULES_FLAG | DM_UDEV_DISABLE_OTHER_RULES_FLAG;
	int ok;

	dm_last[0] = '\0';
	if (!dm_task_set_cookie(t, &cookie, flags))
		return berr_set(err, EIO, "device-mapper: %s %s: %s", what, name, dm_why());
	int64_t t0 = mono_us();
	ok = dm_task_run(t);
	int e = errno;
	int64_t t1 = mono_us();
	(void)dm_udev_wait(cookie);
	if (ret_run_us)
		*ret_run_us = t1 - t0;
	if (ret_node_us)
		*ret_node_us = mono_us() - t1;
	if (!ok)
		return berr_set(err, e == EBUSY ? EBUSY : EIO, "device-mapper: %s %s: %s", what,
				name, dm_why());
	return 0;
}

/* ---- files ---- */

/* path below one of the roots, no symlink, no other mount: an O_PATH fd. */
static int open_below(const struct dmclone_conf *c, const char *path, const char *const roots[],
		      size_t n, int *ret_fd, struct berr *err)
{
	int idx = path_under_root(path, roots, n, true, err);
	if (idx < 0)
		return idx;
	return path_open_beneath(roots[idx], path, ret_fd, err);
}

/* "/proc/self/fd/N": what an O_PATH descriptor names, for the calls
 * that take no descriptor (static buffer: single use at a time). */
static const char *p_fd(int fd)
{
	static __thread char p[40];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	return p;
}

/* Reopen an O_PATH descriptor for I/O (the file it names, not a path). */
static int reopen(int pfd, int flags, const char *path, int *ret_fd, struct berr *err)
{
	int fd = open(p_fd(pfd), flags | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return berr_set(err, errno, "opening %s: %s", path, strerror(errno));
	*ret_fd = fd;
	return 0;
}

/* May the owner read st by its mode bits (as the kernel would, without
 * the owner's supplementary groups, which only narrows what we allow)?
 * An image with an ACL is refused before this (open_image): an ACL entry
 * can deny a user what the mode bits grant. */
static bool owner_may_read(const struct stat *st, uid_t uid, gid_t gid)
{
	if (st->st_uid == uid)
		return st->st_mode & S_IRUSR;
	if (gid != (gid_t)-1 && st->st_gid == gid)
		return st->st_mode & S_IRGRP;
	return st->st_mode & S_IROTH;
}

static int open_image(const struct dmclone_conf *c, const char *image, int *ret_fd,
		      struct stat *st, struct berr *err)
{
	const char *const roots[] = {c->state_dir, c->cache_dir};
	_cleanup_close_ int pfd = -1;
	char s[SHOWN_MAX];
	int r;

	if ((r = open_below(c, image, roots, ARRAY_SIZE(roots), &pfd, err)) < 0)
		return r;
	if (fstat(pfd, st) < 0)
		return berr_set(err, errno, "%s: %s", image, strerror(errno));
	if (!S_ISREG(st->st_mode))
		return berr_set(err, EPERM, "image %s is not a regular file", shown_str(s, image));
	if (st->st_mode & (S_ISUID | S_ISGID))
		return berr_set(err, EPERM, "image %s is set-id; refusing", shown_str(s, image));
	if (!owner_may_read(st, c->uid, c->gid))
		return berr_set(err, EPERM,
				"image %s is not readable by uid %u: a clone would show it to "
				"them",
				shown_str(s, image), (unsigned)c->uid);
	if (st->st_size < 512 * 8 || st->st_size % 512)
		return berr_set(err, EINVAL, "image %s is %lld bytes: not a disk image",
				shown_str(s, image), (long long)st->st_size);
	if ((r = reopen(pfd, O_RDONLY, image, ret_fd, err)) < 0)
		return r;
	/* An ACL can deny the owner what the mode bits grant: refused whole. */
	ssize_t n = fgetxattr(*ret_fd, "system.posix_acl_access", NULL, 0);
	int e = n < 0 ? errno : 0;
	if (n < 0 && (e == ENODATA || e == EOPNOTSUPP))
		return 0;
	close(*ret_fd);
	*ret_fd = -1;
	if (n < 0)
		return berr_set(err, e, "image %s: reading its ACL: %s", shown_str(s, image),
				strerror(e));
	return berr_set(err, EPERM,
			"image %s has an ACL: its mode bits do not say what uid %u may read; "
			"refusing",
			shown_str(s, image), (unsigned)c->uid);
}

/* The VM's COW file, checked; *ret_fd is an O_PATH descriptor of it. */
static int open_cow(const struct dmclone_conf *c, const char *vm, uint64_t image_bytes,
		    int *ret_fd, struct stat *st, struct berr *err)
{
	const char *const roots[] = {c->state_dir};
	_cleanup_free_ char *path = xasprintf("%s/vms/%s/" DMCLONE_COW_FILE, c->state_dir, vm);
	_cleanup_close_ int pfd = -1;
	int r;

	if ((r = open_below(c, path, roots, 1, &pfd, err)) < 0)
		return r;
	if (fstat(pfd, st) < 0)
		return berr_set(err, errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st->st_mode) || (st->st_uid != c->uid && st->st_uid != 0))
		return berr_set(err, EPERM, "%s is not a regular file of uid %u", path,
				(unsigned)c->uid);
	if (st->st_nlink != 1)
		return berr_set(err, EPERM, "%s has %ju links; refusing a file that is also "
				"elsewhere", path, (uintmax_t)st->st_nlink);
	if (st->st_mode & (S_ISUID | S_ISGID))
		return berr_set(err, EPERM, "%s is set-id; refusing", path);
	if ((uint64_t)st->st_size < dmclone_cow_size(image_bytes))
		return berr_set(err, EINVAL, "%s is %lld bytes; the image needs at least %llu",
				path, (long long)st->st_size,
				(unsigned long long)dmclone_cow_size(image_bytes));
	*ret_fd = TAKE_FD(pfd);
	return 0;
}

/* The COW file checked by open_cow() (an O_PATH descriptor), taken:
 * root's from now on (mode 0600), so the snapshot alone writes it and the
 * helper opens it without CAP_DAC_OVERRIDE.  The owner loses nothing it
 * needs (it reads the disk through the device) and can still remove it
 * with the VM's directory.  The descriptor is the inode checked, whatever
 * the path names by now.  *ret_fd: open for writing. */
static int take_cow(int pfd, const struct stat *st, const char *vm, int *ret_fd,
		    struct berr *err)
{
	if (st->st_uid != 0 && fchownat(pfd, "", 0, 0, AT_EMPTY_PATH) < 0)
		return berr_set(err, errno, "taking the COW file of %s: %s", vm, strerror(errno));
	if (fchmodat(AT_FDCWD, p_fd(pfd), 0600, 0) < 0)
		return berr_set(err, errno, "chmod of the COW file of %s: %s", vm,
				strerror(errno));
	return reopen(pfd, O_RDWR, DMCLONE_COW_FILE, ret_fd, err);
}

/* ---- loop devices ---- */

/* A loop device over backing, auto-cleared when its last user closes it;
 * *ret_fd holds it open meanwhile. */
static int loop_attach(int backing, bool ro, const char *label, int *ret_fd, dev_t *ret_dev,
		       struct berr *err)
{
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return berr_set(err, errno, "opening /dev/loop-control: %s", strerror(errno));
	for (int tries = 0; tries < 32; tries++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			return berr_set(err, errno, "no free loop device: %s", strerror(errno));
		char path[32];
		snprintf(path, sizeof(path), "/dev/loop%d", n);
		int fd = -1;
		/* devtmpfs makes the node as the device appears. */
		for (int w = 0; w < 100 && (fd = open(path, O_RDWR | O_CLOEXEC)) < 0 &&
				errno == ENOENT; w++)
			usleep(2000);
		if (fd < 0)
			return berr_set(err, errno, "opening %s: %s", path, strerror(errno));
		struct loop_config cfg = {.fd = (uint32_t)backing};
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (ro ? LO_FLAGS_READ_ONLY : 0);
		snprintf((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "%s", label);
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
			struct stat st;
			if (fstat(fd, &st) < 0) {
				int e = errno;
				close(fd);
				return berr_set(err, e, "%s: %s", path, strerror(e));
			}
			*ret_fd = fd;
			*ret_dev = st.st_rdev;
			return 0;
		}
		int e = errno;
		close(fd);
		if (e != EBUSY) /* EBUSY: someone took it first */
			return berr_set(err, e, "LOOP_CONFIGURE %s: %s", path, strerror(e));
	}
	return berr_set(err, EBUSY, "every free loop device was taken before we could use it");
}

/* The backing file of loop device maj:min is the file of st? */
static bool loop_backs(unsigned maj, unsigned min, const struct stat *st)
{
	char sys[64], link[PATH_MAX], dev[PATH_MAX];
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u", maj, min);
	ssize_t n = readlink(sys, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	const char *base = strrchr(link, '/');
	if (!base || strncmp(base + 1, "loop", 4) != 0)
		return false;
	snprintf(dev, sizeof(dev), "/dev/%s", base + 1);
	_cleanup_close_ int fd = open(dev, O_RDONLY | O_CLOEXEC);
	struct loop_info64 li;
	struct stat ds;
	if (fd < 0 || fstat(fd, &ds) < 0 || ds.st_rdev != makedev(maj, min) ||
	    ioctl(fd, LOOP_GET_STATUS64, &li) < 0)
		return false;
	return li.lo_device == st->st_dev && li.lo_inode == st->st_ino;
}

/* The node of dm device maj:min: /dev/mapper/<name>, the library's, a
 * block device of the owner, 0600.  One found otherwise (a node of an
 * earlier version, of udev, of root) is made so, chmod first (while root
 * may, without CAP_FOWNER); a symlink or another device there is refused. */
static int node_give(const struct dmclone_conf *c, const char *name, uint32_t maj, uint32_t min,
		     char ret_dev[DMCLONE_DEV_MAX], struct berr *err)
{
	char mapper[DMCLONE_DEV_MAX + 16];
	struct stat st;

	snprintf(mapper, sizeof(mapper), "/dev/mapper/%s", name);
	if (strlen(mapper) >= DMCLONE_DEV_MAX)
		return berr_set(err, ENAMETOOLONG, "%s is too long", mapper);
	_cleanup_close_ int fd = open(mapper, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return berr_set(err, errno, "%s: %s", mapper, strerror(errno));
	if (!S_ISBLK(st.st_mode) || st.st_rdev != makedev(maj, min))
		return berr_set(err, EPERM, "%s is not device %u:%u; refusing to hand it out",
				mapper, maj, min);
	if ((st.st_mode & 07777) != 0600 && st.st_uid == 0 && chmod(p_fd(fd), 0600) < 0)
		return berr_set(err, errno, "chmod %s: %s", mapper, strerror(errno));
	if ((st.st_uid != c->uid || st.st_gid != c->gid) &&
	    fchownat(fd, "", c->uid, c->gid, AT_EMPTY_PATH) < 0)
		return berr_set(err, errno, "chown %s: %s", mapper, strerror(errno));
	if (fstat(fd, &st) < 0 || (st.st_mode & 07777) != 0600)
		return berr_set(err, EPERM, "%s has mode %04o, not 0600", mapper,
				(unsigned)(st.st_mode & 07777));
	memcpy(ret_dev, mapper, strlen(mapper) + 1); /* shorter than DMCLONE_DEV_MAX: above */
	return 0;
}

/* ---- the operations ---- */

static int create(const struct dmclone_conf *c, const char *vm, const char *image,
		  char ret_dev[DMCLONE_DEV_MAX], struct dmclone_times *ret_t, struct berr *err);
static int remove_dev(const struct dmclone_conf *c, const char *vm, struct berr *err);
static int list(const struct dmclone_conf *c, char ***ret, size_t *ret_n, struct berr *err);

/* libdevmapper keeps /dev/mapper/control open between calls: not ours to
 * keep (a root bangerd's VMMs would inherit it). */
int dmclone_create(const struct dmclone_conf *c, const char *vm, const char *image,
		   char ret_dev[DMCLONE_DEV_MAX], struct dmclone_times *ret_t, struct berr *err)
{
	struct dmclone_times t = {0};
	int64_t t0 = mono_us();
	int r = create(c, vm, image, ret_dev, &t, err);
	t.total_us = mono_us() - t0;
	if (ret_t)
		*ret_t = t;
	dm_lib_release();
	return r;
}

int dmclone_remove(const struct dmclone_conf *c, const char *vm, struct berr *err)
{
	int r = remove_dev(c, vm, err);
	dm_lib_release();
	return r;
}

int dmclone_list(const struct dmclone_conf *c, char ***ret, size_t *ret_n, struct berr *err)
{
	int r = list(c, ret, ret_n, err);
	dm_lib_release();
	return r;
}

static int create(const struct dmclone_conf *c, const char *vm, const char *image,
		  char ret_dev[DMCLONE_DEV_MAX], struct dmclone_times *tm, struct berr *err)
{
	_cleanup_close_ int img = -1, cowp = -1, cow = -1, lo_img = -1, lo_cow = -1;
	struct stat ist, cst;
	char name[80], uuid[96], params[96], label[LO_NAME_SIZE];
	struct dm_found f;
	dev_t od, cd;
	int64_t t0 = mono_us();
	int r;

	pthread_once(&dm_once, dm_init);
	if ((r = dmclone_name_validate(vm, err)) < 0)
		return r;
	if ((r = open_image(c, image, &img, &ist, err)) < 0)
		return r;
	if ((r = open_cow(c, vm, (uint64_t)ist.st_size, &cowp, &cst, err)) < 0)
		return r;
	if ((r = dmclone_probe(err)) < 0)
		return r;
	if ((r = take_cow(cowp, &cst, vm, &cow, err)) < 0)
		return r;
	tm->checks_us = mono_us() - t0;
	dm_name(vm, name);
	dm_uuid(c, vm, uuid);
	if ((r = dm_look(name, &f, err)) < 0)
		return r;
	if (f.exists) {
		unsigned om, on, cm, cn;
		char mode;
		if (strcmp(f.uuid, uuid) != 0)
			return berr_set(err, EPERM, "device-mapper device %s is not banger's (uuid "
					"\"%.64s\"); refusing to touch it", name, f.uuid);
		if (sscanf(f.params, "%u:%u %u:%u %c", &om, &on, &cm, &cn, &mode) != 5 ||
		    !loop_backs(om, on, &ist) || !loop_backs(cm, cn, &cst))
			return berr_set(err, EEXIST, "%s exists over other files than %s and %s; "
					"remove it first", name, image, DMCLONE_COW_FILE);
		return node_give(c, name, f.major, f.minor, ret_dev, err);
	}
	int64_t tl = mono_us();
	snprintf(label, sizeof(label), "%.56s:origin", name);
	if ((r = loop_attach(img, true, label, &lo_img, &od, err)) < 0)
		return r;
	snprintf(label, sizeof(label), "%.56s:cow", name);
	if ((r = loop_attach(cow, false, label, &lo_cow, &cd, err)) < 0)
		return r;
	tm->loops_us = mono_us() - tl;
	snprintf(params, sizeof(params), "%u:%u %u:%u P %u", major(od), minor(od), major(cd),
		 minor(cd), DMCLONE_CHUNK_SECTORS);
	struct dm_task *t = dm_task_create(DM_DEVICE_CREATE);
	if (!t)
		return berr_set(err, ENOMEM, "device-mapper: cannot create a task");
	if (!dm_task_set_name(t, name) || !dm_task_set_uuid(t, uuid) ||
	    !dm_task_set_uid(t, c->uid) || !dm_task_set_gid(t, c->gid) ||
	    !dm_task_set_mode(t, 0600) ||
	    !dm_task_add_target(t, 0, (uint64_t)ist.st_size / 512, "snapshot", params)) {
		dm_task_destroy(t);
		return berr_set(err, EIO, "device-mapper: preparing %s: %s", name, dm_why());
	}
	r = dm_run(t, "creating", name, &tm->device_us, &tm->node_us, err);
	dm_task_destroy(t);
	if (r < 0)
		return r;
	/* The snapshot holds both loop devices now; closing ours leaves it
	 * as their only user, so they are cleared when it goes. */
	if ((r = dm_look(name, &f, err)) < 0 || !f.exists) {
		struct berr e2 = {0};
		remove_dev(c, vm, &e2);
		return r < 0 ? r : berr_set(err, EIO, "%s vanished after it was created", name);
	}
	if ((r = node_give(c, name, f.major, f.minor, ret_dev, err)) < 0) {
		struct berr e2 = {0};
		remove_dev(c, vm, &e2);
		return r;
	}
	return 0;
}

static int remove_dev(const struct dmclone_conf *c, const char *vm, struct berr *err)
{
	char name[80], uuid[96];
	struct dm_found f;
	int r;

	pthread_once(&dm_once, dm_init);
	if ((r = dmclone_name_validate(vm, err)) < 0)
		return r;
	if ((r = dmclone_probe(err)) < 0)
		return r == -ENODEV ? 0 : r; /* no device-mapper: nothing to remove */
	dm_name(vm, name);
	dm_uuid(c, vm, uuid);
	if ((r = dm_look(name, &f, err)) < 0)
		return r;
	if (!f.exists)
		return 0;
	if (strcmp(f.uuid, uuid) != 0)
		return berr_set(err, EPERM, "device-mapper device %s is not banger's (uuid "
				"\"%.64s\"); refusing to remove it", name, f.uuid);
	if (f.open_count > 0)
		return berr_set(err, EBUSY, "%s is in use (%d opener%s): stop its VM first", name,
				(int)f.open_count, f.open_count == 1 ? "" : "s");
	struct dm_task *t = dm_task_create(DM_DEVICE_REMOVE);
	if (!t)
		return berr_set(err, ENOMEM, "device-mapper: cannot create a task");
	if (!dm_task_set_name(t, name) || !dm_task_retry_remove(t)) {
		dm_task_destroy(t);
		return berr_set(err, EIO, "device-mapper: preparing to remove %s: %s", name,
				dm_why());
	}
	r = dm_run(t, "removing", name, NULL, NULL, err);
	dm_task_destroy(t);
	return r;
}

static int list(const struct dmclone_conf *c, char ***ret, size_t *ret_n, struct berr *err)
{
	struct dm_task *t;
	size_t n = 0, cap = 8;
	char **v;
	int r;

	pthread_once(&dm_once, dm_init);
	if ((r = dmclone_probe(err)) < 0)
		return r;
	if (!(t = dm_task_create(DM_DEVICE_LIST)))
		return berr_set(err, ENOMEM, "device-mapper: cannot create a task");
	dm_last[0] = '\0';
	if (!dm_task_run(t)) {
		dm_task_destroy(t);
		return berr_set(err, EIO, "device-mapper: listing devices: %s", dm_why());
	}
	v = xcalloc(cap + 1, sizeof(*v));
	struct dm_names *nm = dm_task_get_names(t);
	if (nm && nm->dev) {
		for (unsigned next = 0;; nm = (struct dm_names *)((char *)nm + next)) {
			const char *vm = nm->name + strlen(DMCLONE_NAME_PREFIX);
			struct dm_found f;
			char uuid[96];
			struct berr e2 = {0};
			if (strncmp(nm->name, DMCLONE_NAME_PREFIX, strlen(DMCLONE_NAME_PREFIX)) == 0 &&
			    dmclone_name_validate(vm, &e2) == 0 && dm_look(nm->name, &f, &e2) == 0 &&
			    f.exists) {
				dm_uuid(c, vm, uuid);
				if (strcmp(f.uuid, uuid) == 0) {
					if (n == cap) {
						cap *= 2;
						v = xrealloc(v, (cap + 1) * sizeof(*v));
					}
					v[n++] = xstrdup(vm);
					v[n] = NULL;
				}
			}
			next = nm->next;
			if (!next)
				break;
		}
	}
	dm_task_destroy(t);
	*ret = v;
	*ret_n = n;
	return 0;
}
