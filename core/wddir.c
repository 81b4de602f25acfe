/* core/wddir.c: see wddir.h. */
#define _GNU_SOURCE
#include "wddir.h"

#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2_err.h>

#include "util.h"

struct wddir {
	uint64_t *key;    /* hash of (dir, name); 0 marks an empty slot */
	uint32_t *count;  /* names in the table with that hash (may drop to 0) */
	size_t cap, used; /* cap: a power of two; used: slots ever taken */
	uint32_t *dirs;   /* fresh directories; 0 marks an empty slot */
	size_t dcap, dused;
};

struct wddir *wddir_new(void)
{
	struct wddir *d = xcalloc(1, sizeof(*d));

	d->cap = 1024;
	d->key = xcalloc(d->cap, sizeof(*d->key));
	d->count = xcalloc(d->cap, sizeof(*d->count));
	d->dcap = 64;
	d->dirs = xcalloc(d->dcap, sizeof(*d->dirs));
	return d;
}

struct wddir *wddir_free(struct wddir *d)
{
	if (d) {
		free(d->key);
		free(d->count);
		free(d->dirs);
		free(d);
	}
	return NULL;
}

/* FNV-1a over the directory's inode number and the name, then a final mix
 * (splitmix64) so that the low bits, which pick the slot, vary too. */
static uint64_t name_key(uint32_t dir, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < 4; i++) {
		h ^= (dir >> (8 * i)) & 0xff;
		h *= 0x100000001b3ULL;
	}
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h ? h : 1;
}

static size_t slot_of(const uint64_t *key, size_t cap, uint64_t k)
{
	size_t i = (size_t)k & (cap - 1);

	while (key[i] && key[i] != k)
		i = (i + 1) & (cap - 1);
	return i;
}

static void grow_names(struct wddir *d)
{
	size_t cap = d->cap * 2;
	uint64_t *key = xcalloc(cap, sizeof(*key));
	uint32_t *count = xcalloc(cap, sizeof(*count));

	for (size_t i = 0; i < d->cap; i++) {
		if (!d->key[i])
			continue;
		size_t j = slot_of(key, cap, d->key[i]);
		key[j] = d->key[i];
		count[j] = d->count[i];
	}
	free(d->key);
	free(d->count);
	d->key = key;
	d->count = count;
	d->cap = cap;
}

static size_t dir_slot(const uint32_t *dirs, size_t cap, uint32_t dir)
{
	size_t i = (size_t)(((uint64_t)dir * 0x9e3779b97f4a7c15ULL) >> 32) & (cap - 1);

	while (dirs[i] && dirs[i] != dir)
		i = (i + 1) & (cap - 1);
	return i;
}

void wddir_made(struct wddir *d, uint32_t dir)
{
	if (!dir || wddir_fresh(d, dir))
		return;
	if ((d->dused + 1) * 2 > d->dcap) {
		size_t cap = d->dcap * 2;
		uint32_t *dirs = xcalloc(cap, sizeof(*dirs));

		for (size_t i = 0; i < d->dcap; i++)
			if (d->dirs[i])
				dirs[dir_slot(dirs, cap, d->dirs[i])] = d->dirs[i];
		free(d->dirs);
		d->dirs = dirs;
		d->dcap = cap;
	}
	d->dirs[dir_slot(d->dirs, d->dcap, dir)] = dir;
	d->dused++;
}

bool wddir_fresh(const struct wddir *d, uint32_t dir)
{
	return dir && d->dirs[dir_slot(d->dirs, d->dcap, dir)] == dir;
}

bool wddir_may_have(const struct wddir *d, uint32_t dir, const char *name)
{
	size_t i = slot_of(d->key, d->cap, name_key(dir, name));

	return d->key[i] && d->count[i] > 0;
}

void wddir_added(struct wddir *d, uint32_t dir, const char *name)
{
	uint64_t k = name_key(dir, name);
	size_t i = slot_of(d->key, d->cap, k);

	if (!d->key[i]) {
		if ((d->used + 1) * 2 > d->cap) {
			grow_names(d);
			i = slot_of(d->key, d->cap, k);
		}
		d->key[i] = k;
		d->used++;
	}
	d->count[i]++;
}

void wddir_removed(struct wddir *d, uint32_t dir, const char *name)
{
	size_t i = slot_of(d->key, d->cap, name_key(dir, name));

	if (d->key[i] && d->count[i] > 0)
		d->count[i]--;
}

/* ---- appending to a directory's last block --------------------------- */

/* Put the entry in the last block if it fits: 0, EXT2_ET_DIR_NO_SPACE, or
 * an error. */
static errcode_t append_in_last(ext2_filsys fs, ext2_ino_t dir, struct ext2_inode *inode,
				char *buf, const char *name, ext2_ino_t ino, int type)
{
	unsigned bs = fs->blocksize, namelen = (unsigned)strlen(name);
	unsigned limit = bs, need = EXT2_DIR_REC_LEN(namelen), off = 0, rec = 0, used;
	blk64_t lblk = EXT2_I_SIZE(inode) / bs, pblk = 0;
	struct ext2_dir_entry *de;
	errcode_t e;

	if (ext2fs_has_feature_metadata_csum(fs->super))
		limit -= (unsigned)sizeof(struct ext2_dir_entry_tail);
	if (lblk == 0)
		return EXT2_ET_DIR_CORRUPTED;
	e = ext2fs_bmap2(fs, dir, inode, NULL, 0, lblk - 1, NULL, &pblk);
	if (e)
		return e;
	if (!pblk)
		return EXT2_ET_DIR_CORRUPTED;
	e = ext2fs_read_dir_block4(fs, pblk, buf, 0, dir);
	if (e)
		return e;
	/* the last entry: the one reaching the end of the block (its tail) */
	for (;;) {
		de = (struct ext2_dir_entry *)(buf + off);
		e = ext2fs_get_rec_len(fs, de, &rec);
		if (e)
			return e;
		if (rec < 8 || rec % 4 || off + rec > limit)
			return EXT2_ET_DIR_CORRUPTED;
		if (off + rec == limit)
			break;
		off += rec;
	}
	used = de->inode ? EXT2_DIR_REC_LEN(ext2fs_dirent_name_len(de)) : 0;
	if (rec < used + need)
		return EXT2_ET_DIR_NO_SPACE;
	if (used) {
		e = ext2fs_set_rec_len(fs, used, de);
		if (e)
			return e;
		de = (struct ext2_dir_entry *)(buf + off + used);
		e = ext2fs_set_rec_len(fs, rec - used, de);
		if (e)
			return e;
	}
	de->inode = ino;
	ext2fs_dirent_set_name_len(de, (int)namelen);
	ext2fs_dirent_set_file_type(de, ext2fs_has_feature_filetype(fs->super) ? type : 0);
	memcpy(de->name, name, namelen);
	return ext2fs_write_dir_block4(fs, pblk, buf, 0, dir);
}

errcode_t wddir_append(ext2_filsys fs, ext2_ino_t dir, const char *name, ext2_ino_t ino,
		       int type)
{
	struct ext2_inode inode;
	char *buf = NULL;
	errcode_t e;

	if (!(fs->flags & EXT2_FLAG_RW))
		return EXT2_ET_RO_FILSYS;
	e = ext2fs_read_inode(fs, dir, &inode);
	if (e)
		return e;
	if (inode.i_flags & (EXT2_INDEX_FL | EXT4_INLINE_DATA_FL)) {
		e = ext2fs_link(fs, dir, name, ino, type);
		if (e == EXT2_ET_DIR_NO_SPACE) {
			e = ext2fs_expand_dir(fs, dir);
			if (!e)
				e = ext2fs_link(fs, dir, name, ino, type);
		}
		return e;
	}
	e = ext2fs_get_mem(fs->blocksize, &buf);
	if (e)
		return e;
	e = append_in_last(fs, dir, &inode, buf, name, ino, type);
	if (e == EXT2_ET_DIR_NO_SPACE) {
		/* a new, empty last block; then it fits (a name is < a block) */
		e = ext2fs_expand_dir(fs, dir);
		if (!e)
			e = ext2fs_read_inode(fs, dir, &inode);
		if (!e)
			e = append_in_last(fs, dir, &inode, buf, name, ino, type);
	}
	ext2fs_free_mem(&buf);
	return e;
}
