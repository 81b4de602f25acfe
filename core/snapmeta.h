/* core/snapmeta.h: a snapshot's metadata file (meta.json) and the
 * checksums of its files (docs/snapshots.md).
 *
 * meta.json is read back from the state dir, where anything may have
 * happened to it since it was written: the parser checks every field and
 * its range, takes no unknown key, and checks that key is the SHA-256 of
 * key_text (fuzzed: tests/fuzz/fuzz_snapmeta.c).
 *
 * A file's checksum does not depend on how sparse the file is: it is the
 * SHA-256 of its size (8 bytes, little endian) followed by, for every
 * 4 KiB block that is not all zeros, the block's offset (8 bytes, little
 * endian) and its bytes (the last block may be short).  Holes are skipped
 * by SEEK_DATA, so a memory file of which the guest touched a tenth costs a
 * tenth to check. */
#ifndef BANGER_SNAPMETA_H
#define BANGER_SNAPMETA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SNAP_META_VERSION 1
#define SNAP_NAME_MAX 64          /* a snapshot's name, NUL included */
#define SNAP_FILES_MAX 4
#define SNAP_KEY_TEXT_MAX 4096
#define SNAP_CMDLINE_MAX 2048
#define SNAP_META_MAX (16 * 1024) /* the whole file */

struct snap_file {
	char name[16];       /* "state", "mem", "rootfs.ext4" */
	uint64_t size;
	char sha256[65];
};

struct snap_meta {
	char name[SNAP_NAME_MAX]; /* IMAGE-KEY12: the directory's name */
	char key[65];             /* SHA-256 of key_text, hex */
	char *key_text;           /* what a restore must match, "key value" lines */
	char image[64], kernel[64], vmm[16], source_vm[64];
	int64_t vcpu, memory_mib;
	uint64_t work_size;       /* bytes, 0: no work disk */
	char *cmdline;            /* the source's extra kernel arguments ("" if none) */
	int64_t created_ms;
	struct snap_file files[SNAP_FILES_MAX];
	size_t n_files;
};

/* Parse meta.json (len bytes, not NUL-terminated).  On failure m is left
 * cleared and err says what is wrong. */
int snap_meta_parse(const char *text, size_t len, struct snap_meta *m, struct berr *err);
/* The canonical text (xmalloc'ed, ends with a newline). */
char *snap_meta_format(const struct snap_meta *m);
void snap_meta_clear(struct snap_meta *m);

/* SHA-256 of key_text, hex. */
void snap_key(const char *key_text, char out[65]);
/* "IMAGE-KEY12": image shortened to fit, characters outside [a-z0-9-]
 * as '-'. */
void snap_name(const char *image, const char key[65], char out[SNAP_NAME_MAX]);
/* A snapshot name: 1..63 of [a-z0-9.-], not starting with '.' or '-'. */
bool snap_name_valid(const char *s);

/* The checksum described above. */
int snap_file_hash(const char *path, char out[65], uint64_t *ret_size, struct berr *err);

#endif
