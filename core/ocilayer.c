/* core/ocilayer.c: what a tar entry means in an OCI layer, and the scan
 * that sizes an image before it is built.
 *
 * oci_entry_read() turns a libarchive header into an oci_entry: the kind
 * (whiteouts and opaque markers recognised by name), the cleaned path, and
 * every check that does not need the tree: absolute names, "..", long
 * names, unknown types, owners beyond 32 bits, xattrs outside the
 * namespaces ext4 stores.  The tree-dependent checks (writing through a
 * symlink, hard links to missing paths) are ocifs.c's.
 *
 * oci_layer_scan() reads a layer once and sums upper bounds of what it
 * can add to an ext4 image: inodes (its entries plus any parent
 * directories it does not list) and blocks (data blocks actually present,
 * so sparse files count their data only; extent tree blocks; directory
 * blocks for its names; xattr and long-symlink blocks). */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <search.h>
#include <string.h>

#include <ext2fs/ext2fs.h>

#include "ociint.h"
#include "util.h"

#define BS 4096u
#define DIRENT_USABLE (BS - 12u) /* a directory block minus its checksum tail */
#define MAX_FILE_SIZE (16ULL << 40)

static int entry_err(const char *digest, const char *raw, int code, const char *why,
		     struct berr *err)
{
	return oci_err(err, code, "layer %s: entry \"%.300s\": %s", digest, raw ? raw : "", why);
}

static bool xattr_name_ok(const char *n)
{
	return !strncmp(n, "user.", 5) || !strncmp(n, "trusted.", 8) ||
	       !strncmp(n, "security.", 9) || !strcmp(n, "system.posix_acl_access") ||
	       !strcmp(n, "system.posix_acl_default");
}

int oci_entry_read(struct archive_entry *ae, const char *digest, struct oci_entry *e,
		   struct berr *err)
{
	struct berr why = { 0 };
	const char *base, *name, *value;
	size_t vlen;
	int64_t uid, gid;
	char msg[BERR_MSG_MAX];

	e->raw = archive_entry_pathname(ae);
	e->symlink = NULL;
	e->link[0] = '\0';
	e->xattr_count = e->xattr_bytes = 0;
	if (oci_path_clean(e->raw, e->path, &why) < 0)
		return entry_err(digest, e->raw, why.code, why.msg, err);

	uid = archive_entry_uid(ae);
	gid = archive_entry_gid(ae);
	if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
		return entry_err(digest, e->raw, ERANGE, "its owner does not fit 32 bits", err);
	e->uid = (uint32_t)uid;
	e->gid = (uint32_t)gid;
	e->perm = (uint16_t)(archive_entry_perm(ae) & 07777);
	e->mtime = archive_entry_mtime(ae);
	e->mtime_nsec = archive_entry_mtime_is_set(ae) ? (uint32_t)archive_entry_mtime_nsec(ae) : 0;
	if (e->mtime_nsec >= 1000000000u)
		e->mtime_nsec = 0;
	e->size = archive_entry_size_is_set(ae) && archive_entry_size(ae) > 0
			  ? (uint64_t)archive_entry_size(ae)
			  : 0;
	e->rdev_major = (uint32_t)archive_entry_rdevmajor(ae);
	e->rdev_minor = (uint32_t)archive_entry_rdevminor(ae);

	/* AUFS metadata (.wh..wh.plnk/ and what is in it): skipped. */
	for (const char *p = e->path; (p = strstr(p, ".wh..wh.")); p++)
		if ((p == e->path || p[-1] == '/') && strcmp(p, ".wh..wh..opq") != 0) {
			e->kind = OCI_E_SKIP;
			return 0;
		}
	/* Whiteouts are recognised by name, whatever their type. */
	base = strrchr(e->path, '/');
	base = base ? base + 1 : e->path;
	if (!strncmp(base, ".wh.", 4)) {
		size_t dir_len = (size_t)(base - e->path);
		if (!strcmp(base, ".wh..wh..opq")) {
			e->kind = OCI_E_OPAQUE;
			e->path[dir_len ? dir_len - 1 : 0] = '\0';
			return 0;
		}
		if (!strncmp(base, ".wh..wh.", 8)) {
			e->kind = OCI_E_SKIP;
			return 0;
		}
		const char *victim = base + 4;
		if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
			return entry_err(digest, e->raw, EPERM, "a whiteout must name a file", err);
		memmove(e->path + dir_len, victim, strlen(victim) + 1);
		e->kind = OCI_E_WHITEOUT;
		return 0;
	}

	if (archive_entry_hardlink(ae)) {
		if (oci_path_clean(archive_entry_hardlink(ae), e->link, &why) < 0) {
			snprintf(msg, sizeof(msg), "hard link target \"%.200s\": %.200s",
				 archive_entry_hardlink(ae), why.msg);
			return entry_err(digest, e->raw, why.code, msg, err);
		}
		if (!e->link[0] || !e->path[0])
			return entry_err(digest, e->raw, EPERM, "a hard link to or at the root is refused",
					 err);
		e->kind = OCI_E_HARDLINK;
		return 0;
	}
	switch (archive_entry_filetype(ae)) {
	case AE_IFDIR:
		e->kind = OCI_E_DIR;
		break;
	case AE_IFREG:
		e->kind = OCI_E_REG;
		if (e->size >= MAX_FILE_SIZE)
			return entry_err(digest, e->raw, EFBIG, "a file of 16 TiB or more cannot be stored",
					 err);
		break;
	case AE_IFLNK:
		e->kind = OCI_E_SYMLINK;
		e->symlink = archive_entry_symlink(ae);
		if (!e->symlink || !*e->symlink)
			return entry_err(digest, e->raw, EINVAL, "the symlink has no target", err);
		if (strlen(e->symlink) >= BS)
			return entry_err(digest, e->raw, ENAMETOOLONG,
					 "the symlink target is longer than 4095 bytes", err);
		break;
	case AE_IFCHR:
		e->kind = OCI_E_CHR;
		break;
	case AE_IFBLK:
		e->kind = OCI_E_BLK;
		break;
	case AE_IFIFO:
		e->kind = OCI_E_FIFO;
		break;
	default:
		return entry_err(digest, e->raw, ENOTSUP,
				 "its type (socket or unknown) cannot be stored in an image", err);
	}
	if (!e->path[0] && e->kind != OCI_E_DIR)
		return entry_err(digest, e->raw, EPERM, "only a directory may stand for the root", err);
	if ((e->kind == OCI_E_CHR || e->kind == OCI_E_BLK) &&
	    (e->rdev_major > 0xfff || e->rdev_minor > 0xfffff))
		return entry_err(digest, e->raw, ERANGE, "its device number does not fit 32 bits", err);

	archive_entry_xattr_reset(ae);
	while (archive_entry_xattr_next(ae, &name, (const void **)&value, &vlen) == ARCHIVE_OK) {
		if (!name || !xattr_name_ok(name)) {
			snprintf(msg, sizeof(msg),
				 "xattr \"%.100s\" is not in a namespace ext4 stores (user, trusted, security, POSIX ACLs)",
				 name ? name : "");
			return entry_err(digest, e->raw, ENOTSUP, msg, err);
		}
		if (!vlen)
			continue; /* a PAX deletion record: not stored */
		if (strlen(name) > 255 || vlen > 65536)
			return entry_err(digest, e->raw, E2BIG, "an xattr is too large for ext4", err);
		e->xattr_count++;
		e->xattr_bytes += 16 + ((strlen(name) + 3) & ~3u) + ((vlen + 3) & ~3u);
	}
	return 0;
}

/* --- scan --- */

struct dirnode {
	bool declared; /* the layer has a directory entry for it */
	char path[];
};

static int dir_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dirnode *)a)->path, ((const struct dirnode *)b)->path);
}

struct scan {
	void *dirs;
	uint64_t ndirs, declared;
	char key[sizeof(struct dirnode) + OCI_MAX_PATH + 1];
};

/* Note path (len bytes of it) as a directory the layer touches. */
static void note_dir(struct scan *s, const char *path, size_t len, bool declared)
{
	struct dirnode *k = (struct dirnode *)s->key, **found, *n;

	memcpy(k->path, path, len);
	k->path[len] = '\0';
	found = tfind(k, &s->dirs, dir_cmp);
	if (found) {
		if (declared && !(*found)->declared) {
			(*found)->declared = true;
			s->declared++;
		}
		return;
	}
	n = xmalloc(sizeof(*n) + len + 1);
	memcpy(n->path, k->path, len + 1);
	n->declared = declared;
	tsearch(n, &s->dirs, dir_cmp);
	s->ndirs++;
	s->declared += declared;
}

/* Every ancestor of path (not the root). */
static void note_parents(struct scan *s, const char *path)
{
	for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/'))
		note_dir(s, path, (size_t)(p - path), false);
}

static uint64_t dirent_len(const char *path)
{
	const char *b = strrchr(path, '/');
	size_t n = strlen(b ? b + 1 : path);

	return (8 + n + 3) & ~3u;
}

int oci_layer_scan(int fd, const char *digest, uint64_t max_bytes, const atomic_int *cancel,
		   void (*tick)(uint64_t done, void *ctx), void *ctx,
		   struct oci_layer_stats *ret, struct berr *err)
{
	struct oci_layer_stats st;
	struct oci_tar *t = NULL;
	struct oci_entry *e = xmalloc(sizeof(*e));
	struct archive_entry *ae;
	struct scan s = { 0 };
	uint64_t dirent_bytes = 0;
	int64_t last_tick = 0;
	int r;

	memset(&st, 0, sizeof(st));
	r = oci_tar_open(fd, digest, max_bytes, cancel, &t, err);
	if (r < 0)
		goto out;
	while ((r = oci_tar_next(t, &ae, err)) > 0) {
		st.entries++;
		r = oci_entry_read(ae, digest, e, err);
		if (r < 0)
			goto out;
		if (e->kind == OCI_E_WHITEOUT || e->kind == OCI_E_OPAQUE || e->kind == OCI_E_SKIP ||
		    !e->path[0])
			continue;
		note_parents(&s, e->path);
		dirent_bytes += dirent_len(e->path);
		if (e->kind == OCI_E_HARDLINK)
			continue;
		st.inodes++;
		if (e->xattr_bytes > OCI_XATTR_INLINE)
			st.blocks++;
		if (e->kind == OCI_E_DIR) {
			note_dir(&s, e->path, strlen(e->path), true);
		} else if (e->kind == OCI_E_SYMLINK && strlen(e->symlink) >= 60) {
			st.blocks++;
		} else if (e->kind == OCI_E_REG) {
			/* Blocks that hold data (a sparse file's holes cost nothing),
			 * and the runs they form (extents beyond the four an inode
			 * holds need tree blocks). */
			const void *buf;
			size_t len;
			int64_t off;
			uint64_t last = UINT64_MAX, runs = 0, blocks = 0;
			while ((r = oci_tar_data(t, &buf, &len, &off, err)) > 0) {
				if (len == 0)
					continue;
				uint64_t b0 = (uint64_t)off / BS, b1 = ((uint64_t)off + len - 1) / BS;
				if (last != UINT64_MAX && b0 <= last)
					b0 = last + 1;
				if (b1 >= b0) {
					if (last == UINT64_MAX || b0 != last + 1)
						runs++;
					blocks += b1 - b0 + 1;
					last = b1;
				}
			}
			if (r < 0)
				goto out;
			runs += blocks / 32768; /* an extent maps at most 32768 blocks */
			st.blocks += blocks + (runs > 4 ? runs / 300 + 2 : 0);
		}
		if (tick && mono_ms() - last_tick >= 100) {
			last_tick = mono_ms();
			tick(oci_tar_compressed_bytes(t), ctx);
		}
	}
	if (r < 0)
		goto out;
	r = oci_tar_finish(t, st.diff_id, err);
	if (r < 0)
		goto out;
	/* Directories it lists or implies: a block each; names: their bytes,
	 * plus a partly filled last block in every directory they land in. */
	st.inodes += s.ndirs - s.declared;
	st.blocks += s.ndirs - s.declared;
	st.blocks += dirent_bytes / DIRENT_USABLE + s.ndirs + 1;
	st.bytes = oci_tar_uncompressed_bytes(t);
	if (tick)
		tick(oci_tar_compressed_bytes(t), ctx);
	*ret = st;
	r = 0;
out:
	tdestroy(s.dirs, free);
	oci_tar_free(t);
	free(e);
	return r;
}
