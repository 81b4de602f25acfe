/* core/bundle.h: bundles as .tar.zst archives (libarchive).
 *
 * An archive holds manifest.json first, then the files it lists (the
 * manifest format is in manifest.h).  Extraction checks everything before
 * it writes and again after: an entry that is absolute, has a ".." or
 * empty component, is a device, fifo or socket, a symlink or hard link
 * leaving the bundle, a file the manifest does not list, a file whose
 * header size differs from the manifest's (a 10 GiB sparse "bomb" claimed
 * as 1 MiB is refused before one byte is written), a file whose sha256
 * differs, or a manifest file absent from the archive is refused with one
 * sentence.  Nothing is ever resolved through a symlink (openat2 with
 * RESOLVE_NO_SYMLINKS below the target directory).  Regular files are
 * written sparse: 4 KiB blocks of zeros become holes, so a 1.5 GiB image
 * holding 300 MiB of data takes ~300 MiB.  Each file's sha256 is computed
 * in a thread of its own while the next bytes are decompressed. */
#ifndef BANGER_BUNDLE_H
#define BANGER_BUNDLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "manifest.h"

/* Where the archive's bytes come from: read up to len bytes into buf;
 * return the count, 0 at the end, or a negative errno with err set. */
struct bundle_source {
	ssize_t (*read)(void *opaque, void *buf, size_t len, struct berr *err);
	void *opaque;
};

#define BUNDLE_DEFAULT_MAX_UNPACKED (256ULL << 30)

struct bundle_limits {
	const char *kind;          /* the manifest must say this kind; NULL = any */
	const char *name;          /* and this name; NULL = any */
	uint64_t max_unpacked;     /* the listed files may add up to this; 0 = the default */
	const atomic_bool *cancel; /* when it becomes true: stop with -ECANCELED; may be NULL */
	bool no_sync;              /* skip the fsyncs (tests) */
	bool no_file_sums;         /* do not hash the files: the caller proves the archive's
				      bytes otherwise (a pull whose archive sha256 matched a
				      signed index, checked before anything is published) */
};

/* Extract the archive src delivers into dir, which must not exist: it is
 * created 0700 and removed again on any failure, so on error nothing is
 * left.  src is read to its end (callers that hash it see every byte).
 * Files are 0644, directories 0755, owners are the caller's; everything is
 * fsync'ed before success.  *ret (may be NULL) gets the manifest. */
int bundle_extract(const struct bundle_source *src, const char *dir,
		   const struct bundle_limits *lim, struct bundle_manifest **ret,
		   struct berr *err);

/* The same from a local .tar.zst file. */
int bundle_extract_file(const char *archive, const char *dir, const struct bundle_limits *lim,
			struct bundle_manifest **ret, struct berr *err);

#endif
