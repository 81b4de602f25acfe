/* tests/unit/ocitest.h: helpers of the OCI unit tests (header only): write
 * synthetic tar layers with libarchive, build an image from them the way
 * oci.c does (scan, size without headroom, apply), read the result back
 * with libext2fs, and run e2fsck. */
#ifndef BANGER_OCITEST_H
#define BANGER_OCITEST_H

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ext2fs/ext2fs.h>
#include <openssl/evp.h>

#include "ociint.h"
#include "util.h"

extern char **environ;

/* One tar entry. */
struct ent {
	const char *name;
	unsigned type;        /* AE_IFREG (default), AE_IFDIR, AE_IFLNK, ... */
	unsigned perm;        /* 0: 0644 files, 0755 directories */
	const char *data;
	size_t len;
	const char *symlink;
	const char *hardlink;
	uint32_t uid, gid;
	int64_t mtime;        /* 0: 1700000000 */
	long nsec;
	unsigned maj, min;
	const char *xname[3];
	const char *xval[3];
	size_t xlen[3];
	int64_t size;         /* sparse: apparent size */
	int64_t sp_off[2], sp_len[2]; /* sparse map (data is the segments' bytes) */
};

struct tb {
	struct archive *a;
	char path[PATH_MAX];
	char digest[OCI_DIGEST_LEN + 1];
};

static inline __attribute__((unused)) struct tb *tb_new(const char *dir, const char *name,
							  const char *comp)
{
	struct tb *t = xcalloc(1, sizeof(*t));

	snprintf(t->path, sizeof(t->path), "%s/%s", dir, name);
	t->a = archive_write_new();
	archive_write_set_format_pax_restricted(t->a);
	if (!strcmp(comp, "gzip"))
		archive_write_add_filter_gzip(t->a);
	else if (!strcmp(comp, "zstd"))
		archive_write_add_filter_zstd(t->a);
	archive_write_set_bytes_in_last_block(t->a, 1);
	if (archive_write_open_filename(t->a, t->path) != ARCHIVE_OK)
		abort();
	return t;
}

static inline __attribute__((unused)) void tb_ent(struct tb *t, const struct ent *e)
{
	struct archive_entry *ae = archive_entry_new();
	unsigned type = e->type ? e->type : AE_IFREG;

	archive_entry_copy_pathname(ae, e->name);
	archive_entry_set_perm(ae, e->perm ? e->perm : type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_uid(ae, e->uid);
	archive_entry_set_gid(ae, e->gid);
	archive_entry_set_mtime(ae, e->mtime ? e->mtime : 1700000000, e->nsec);
	if (e->hardlink) {
		archive_entry_copy_hardlink(ae, e->hardlink);
		archive_entry_set_size(ae, 0);
	} else {
		archive_entry_set_filetype(ae, type);
		if (type == AE_IFLNK)
			archive_entry_copy_symlink(ae, e->symlink);
		if (type == AE_IFCHR || type == AE_IFBLK) {
			archive_entry_set_rdevmajor(ae, e->maj);
			archive_entry_set_rdevminor(ae, e->min);
		}
		if (type == AE_IFREG)
			archive_entry_set_size(ae, e->size ? e->size : (int64_t)e->len);
		for (int i = 0; i < 2 && e->sp_len[i]; i++)
			archive_entry_sparse_add_entry(ae, e->sp_off[i], e->sp_len[i]);
	}
	for (int i = 0; i < 3 && e->xname[i]; i++)
		archive_entry_xattr_add_entry(ae, e->xname[i], e->xval[i],
					      e->xlen[i] ? e->xlen[i] : strlen(e->xval[i]));
	if (archive_write_header(t->a, ae) != ARCHIVE_OK) {
		fprintf(stderr, "tar header %s: %s\n", e->name, archive_error_string(t->a));
		abort();
	}
	if (e->len && !e->hardlink && archive_write_data(t->a, e->data, e->len) != (ssize_t)e->len)
		abort();
	archive_entry_free(ae);
}

static inline void sha256_file_hex(const char *path, char out[OCI_DIGEST_LEN + 1])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char d[32], buf[65536];
	ssize_t n;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(md, buf, (size_t)n);
	EVP_DigestFinal_ex(md, d, NULL);
	EVP_MD_CTX_free(md);
	close(fd);
	memcpy(out, "sha256:", 7);
	oci_hex(d, out + 7);
}

/* Finish a layer; returns its path (valid while t lives). */
static inline __attribute__((unused)) const char *tb_done(struct tb *t)
{
	archive_write_close(t->a);
	archive_write_free(t->a);
	t->a = NULL;
	sha256_file_hex(t->path, t->digest);
	return t->path;
}

/* Build image from layers like oci.c: scan each (checking the diff_id as
 * it goes), size with no headroom, apply oldest first.  Returns r; on
 * failure the image is gone. */
static inline __attribute__((unused)) int build_image(const char *image, struct tb **layers,
							size_t n, struct berr *err)
{
	struct oci_layer_stats st[16], total = { 0 };
	struct oci_fs_geom g;
	struct oci_fs *f;
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		int fd = open(layers[i]->path, O_RDONLY | O_CLOEXEC);
		r = oci_layer_scan(fd, layers[i]->digest, 1ULL << 36, NULL, NULL, NULL, &st[i], err);
		close(fd);
		if (r < 0)
			return r;
		total.inodes += st[i].inodes;
		total.blocks += st[i].blocks;
	}
	oci_fs_size(&total, 0, &g);
	r = oci_fs_create(image, &g, "rootfs", &f, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		int fd = open(layers[i]->path, O_RDONLY | O_CLOEXEC);
		r = oci_fs_apply(f, fd, layers[i]->digest, st[i].diff_id, 1ULL << 36, NULL, NULL, NULL,
				 err);
		close(fd);
	}
	return oci_fs_close(f, r, err);
}

static inline __attribute__((unused)) int run_status(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0)
		return -1;
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* e2fsck -fn: 0 when it finds nothing to fix. */
static inline __attribute__((unused)) int fsck(const char *image)
{
	char *argv[] = { "e2fsck", "-fn", (char *)image, NULL };
	return run_status(argv);
}

/* --- reading the image back --- */

static inline __attribute__((unused)) ext2_filsys img_open(const char *image)
{
	ext2_filsys fs = NULL;

	if (ext2fs_open(image, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs))
		return NULL;
	return fs;
}

/* 0 when path is missing (symlinks on the way are followed; the last
 * component is not). */
static inline __attribute__((unused)) ext2_ino_t img_ino(ext2_filsys fs, const char *path)
{
	ext2_ino_t ino = 0;

	if (ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &ino))
		return 0;
	return ino;
}

static inline __attribute__((unused)) struct ext2_inode_large img_inode(ext2_filsys fs,
									  const char *path)
{
	struct ext2_inode_large in;

	memset(&in, 0, sizeof(in));
	ext2fs_read_inode_full(fs, img_ino(fs, path), (struct ext2_inode *)&in, sizeof(in));
	return in;
}

/* Contents of a regular file or slow symlink (xmalloc'ed, NUL-terminated). */
static inline __attribute__((unused)) char *img_read(ext2_filsys fs, const char *path,
						     size_t *ret_len)
{
	ext2_file_t f;
	struct sbuf s;
	char buf[65536];
	unsigned got;

	sbuf_init(&s);
	if (ext2fs_file_open(fs, img_ino(fs, path), 0, &f))
		return NULL;
	while (!ext2fs_file_read(f, buf, sizeof(buf), &got) && got > 0)
		sbuf_add(&s, buf, got);
	ext2fs_file_close(f);
	if (ret_len)
		*ret_len = s.len;
	return sbuf_steal(&s);
}

static inline __attribute__((unused)) char *img_xattr(ext2_filsys fs, const char *path,
						      const char *name, size_t *ret_len)
{
	struct ext2_xattr_handle *h;
	void *v = NULL;
	size_t len = 0;
	char *out = NULL;

	if (ext2fs_xattrs_open(fs, img_ino(fs, path), &h))
		return NULL;
	if (!ext2fs_xattrs_read(h) && !ext2fs_xattr_get(h, name, &v, &len)) {
		out = xmalloc(len + 1);
		memcpy(out, v, len);
		out[len] = '\0';
		ext2fs_free_mem(&v);
	}
	ext2fs_xattrs_close(&h);
	if (ret_len)
		*ret_len = len;
	return out;
}

static inline __attribute__((unused)) size_t img_xattr_count(ext2_filsys fs, const char *path)
{
	struct ext2_xattr_handle *h;
	size_t n = 0;

	if (ext2fs_xattrs_open(fs, img_ino(fs, path), &h))
		return 0;
	if (!ext2fs_xattrs_read(h))
		ext2fs_xattrs_count(h, &n);
	ext2fs_xattrs_close(&h);
	return n;
}

#endif
