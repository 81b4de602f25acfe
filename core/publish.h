/* core/publish.h: turning local bundle directories into a catalog that
 * any static web server can serve (docs/catalog.md, "Hosting a catalog").
 *
 *   OUT/index.json                       the index (catindex.h), entries sorted
 *   OUT/index.json.sig                   its Ed25519 signature (64 raw bytes)
 *   OUT/images/NAME-VERSION.tar.zst      one archive per bundle (bundle.h)
 *   OUT/kernels/NAME-VERSION.tar.zst
 *
 * Publishing into an existing catalog keeps its other entries and the
 * older archives (a client that fetched the previous index can still
 * download them); an entry is replaced when the same kind, name and arch
 * is published again.  Every file is written to a temporary name and
 * renamed; the signature is renamed into place just before the index. */
#ifndef BANGER_PUBLISH_H
#define BANGER_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"
#include "manifest.h"

struct publish_opts {
	const char *out_dir;              /* created if missing */
	const char *const *sources;       /* bundle directories, or directories holding
					     kernels/ and images/ of them */
	size_t n_sources;
	const char *key_path;             /* Ed25519 private key (PEM) */
	bool allow_unsigned;              /* no key: write no signature */
	int level;                        /* zstd level, 0 = 9 */
	int threads;                      /* zstd worker threads, 0 = online CPUs */
	void (*log)(void *opaque, const char *line); /* progress lines, may be NULL */
	void *opaque;
};

int catalog_publish(const struct publish_opts *o, struct berr *err);

/* Verify the directory bundle dir (bundle_verify_dir) and write it as a
 * .tar.zst at out (temp name + rename): manifest.json first, with a files
 * list covering every regular file and symlink of dir except dot-files,
 * then those files.  *ret_m (may be NULL) gets the written manifest. */
int bundle_pack(const char *dir, const char *out, int level, int threads,
		char ret_sha[SHA256_HEX_LEN + 1], uint64_t *ret_size,
		struct bundle_manifest **ret_m, struct berr *err);

/* Sign doc with the Ed25519 private key in key_path (PEM, as written by
 * `openssl genpkey -algorithm ed25519`). */
int cat_sign(const char *key_path, const void *doc, size_t len, unsigned char sig[64],
	     struct berr *err);

#endif
