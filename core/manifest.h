/* core/manifest.h: a bundle's manifest.json and the checks that make a
 * bundle trustworthy (docs/catalog.md, "Bundles").
 *
 * A bundle is a kernel (vmlinux, optional initrd.img, modules...) or an
 * image (rootfs.ext4) with a manifest.json.  The manifest lists every file
 * with its size and sha256:
 *
 *   { "name": "debian-bookworm-mini", "kind": "image", ...,
 *     "files": [ { "path": "rootfs.ext4", "size": 1610612736, "sha256": "..." },
 *                { "path": "lib/x", "symlink": "y" } ] }
 *
 * Directory bundles built before "files" existed (docs/images.md) carry
 * per-kind fields instead: "sha256" (vmlinux or rootfs.ext4),
 * "initrd_sha256" (initrd.img), "modules_sha256" (modules.tar.gz).  They
 * are accepted with MANIFEST_LEGACY only, and a missing sha256 is refused.
 *
 * Nothing here follows a symlink out of a bundle or trusts a size it has
 * not checked; no function logs. */
#ifndef BANGER_MANIFEST_H
#define BANGER_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"

#define MANIFEST_NAME "manifest.json"
#define MANIFEST_MAX_BYTES (4u << 20)
#define MANIFEST_MAX_FILES 65536u
#define MANIFEST_MAX_PATH 1024u
#define MANIFEST_MAX_DEPTH 16u

struct bundle_file {
	char *path;      /* relative, clean (manifest_path_check) */
	char *symlink;   /* non-NULL: a symlink with this target, which stays inside */
	uint64_t size;   /* regular files */
	bool has_size;   /* always true unless the manifest is a legacy one */
	char sha256[SHA256_HEX_LEN + 1];
};

struct bundle_manifest {
	char *name;
	char *kind;                  /* "image" | "kernel" */
	struct bundle_file *files;
	size_t n_files;
	uint64_t total_size;         /* sum of the listed regular files' sizes */
	bool legacy;                 /* built from the per-kind sha256 fields */
	char *text;                  /* the document as read (NUL-terminated) */
};

enum {
	MANIFEST_LEGACY = 1 << 0, /* accept per-kind sum fields when "files" is absent */
};

/* Parse and check a manifest: name (bundle_name_check), kind, and a files
 * list whose paths are clean, unique and not nested under a file, with a
 * sha256 and a size for every regular file, the kind's main file listed as
 * a regular file, and symlinks whose targets stay inside the bundle.  Errors
 * are one sentence ("manifest.json: files[2].path '../x' leaves the
 * bundle").  *ret is set only on success. */
int manifest_parse(const char *text, size_t len, unsigned flags,
		   struct bundle_manifest **ret, struct berr *err);
struct bundle_manifest *manifest_free(struct bundle_manifest *m);
const struct bundle_file *manifest_find(const struct bundle_manifest *m, const char *path);

/* "rootfs.ext4" for images, "vmlinux" for kernels, NULL otherwise. */
const char *bundle_main_file(const char *kind);

/* Names of images and kernels: 1-63 of a-z 0-9 '-' '.' '_', not starting
 * with '.' or '-'. */
int bundle_name_check(const char *name, struct berr *err);

/* A path inside a bundle: relative, at most MANIFEST_MAX_PATH bytes and
 * MANIFEST_MAX_DEPTH components, each of A-Z a-z 0-9 and . _ - + , = @ ~ :
 * and none of them empty, "." or "..".  "manifest.json" itself is refused. */
int manifest_path_check(const char *path, struct berr *err);

/* Verify a directory bundle in place: dir (which may itself be a symlink)
 * holds a regular manifest.json; every file it lists is a regular file
 * reached without any symlink (a symlinked rootfs.ext4 or a symlinked
 * parent directory is refused, not followed), with the listed size and
 * sha256; every listed symlink has the listed target; with a legacy
 * manifest, an initrd.img or modules.tar.gz present in dir must have its
 * sum in the manifest.  On success *ret lists exactly the files to import
 * (files dir holds but the manifest does not list, such as .recipe, are
 * not part of the bundle). */
int bundle_verify_dir(const char *dir, struct bundle_manifest **ret, struct berr *err);

/* openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
 * of rel below dirfd; O_CLOEXEC is added.  -errno on failure. */
int bundle_openat(int dirfd, const char *rel, int flags, unsigned mode);

#endif
