/* core/wddir.h: directory entries added fast, for a work disk session
 * (core/workdisk.c's streaming writer).
 *
 * libext2fs finds a name (ext2fs_lookup), and a place for a new entry
 * (ext2fs_link), by reading every block of a directory: adding n entries
 * one by one reads O(n^2) blocks.  A repository with 18 000 files in one
 * directory (/usr/share/man/man1 of a developer machine) took 80 s to copy.
 * Two things make each entry cost a block or two instead:
 *
 * - wddir_append puts a new entry in the last block of a (linear)
 *   directory, growing it by a block when that one is full, without
 *   looking at the blocks before.  The space freed earlier in the
 *   directory is not reused; a directory that was never shrunk (every one
 *   this writer makes) has none.
 * - A session remembers the directories it made itself ("fresh") and the
 *   names it put in them, so "is name in dir?" is answered without reading
 *   the directory: certainly not (the common case, nothing read), or maybe
 *   (then the caller asks ext2fs_lookup).  Names are kept as 64-bit hashes
 *   with a count (a hash two names share is still "maybe"), not as copies:
 *   16 bytes per entry. */
#ifndef BANGER_WDDIR_H
#define BANGER_WDDIR_H

#include <stdbool.h>
#include <stdint.h>

#include <ext2fs/ext2fs.h>

struct wddir;

struct wddir *wddir_new(void);
struct wddir *wddir_free(struct wddir *d);

/* dir was made in this session: it holds only what wddir_added records. */
void wddir_made(struct wddir *d, uint32_t dir);
bool wddir_fresh(const struct wddir *d, uint32_t dir);
/* For a fresh dir: false when name is certainly not in it. */
bool wddir_may_have(const struct wddir *d, uint32_t dir, const char *name);
void wddir_added(struct wddir *d, uint32_t dir, const char *name);
void wddir_removed(struct wddir *d, uint32_t dir, const char *name);

/* Link name -> ino (type: EXT2_FT_*) at the end of directory dir, which
 * must not hold name already.  An indexed (htree) or inline directory is
 * left to ext2fs_link. */
errcode_t wddir_append(ext2_filsys fs, ext2_ino_t dir, const char *name, ext2_ino_t ino,
		       int type);

#endif
