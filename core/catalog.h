/* core/catalog.h: the registered kernels and images (docs/images.md).
 *
 * A bundle is a directory with manifest.json and its files (kernel:
 * vmlinux [+ initrd.img]; image: rootfs.ext4).  Import checks the manifest
 * and the sha256 of the main file, places the files in a temporary
 * directory under the state dir, renames it into place and only then inserts
 * the record: a failure at any step leaves nothing registered. */
#ifndef BANGER_CATALOG_H
#define BANGER_CATALOG_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

struct catalog {
	struct store *store;
	const char *state_dir;       /* STATE/images, STATE/kernels */
	const char *image_cache;     /* bundles built by make images, imported at start */
	const char *default_image;   /* config; NULL: the built-in chain */
	const char *default_kernel;
	pthread_mutex_t *lock;       /* the VM records' lock: delete checks no VM uses it */
};

/* Register the bundle directory dir (absolute); its name in ret_name. */
int catalog_import(struct catalog *c, const char *dir, char *ret_name, size_t len,
		   struct berr *err);
/* Sweep unregistered leftovers, import new bundles of the image cache. */
void catalog_scan(struct catalog *c);
/* Default image/kernel name and where it came from: "config", "builtin"
 * (the first registered of the built-in chain), or "recipe" (none is
 * registered: the first of the chain, which banger's recipes build). */
int catalog_default(struct catalog *c, const char *kind, char *ret, size_t len,
		    const char **ret_prov);
/* Remove a kernel or image no VM refers to (EBUSY otherwise). */
int catalog_delete(struct catalog *c, int64_t id, struct berr *err);

/* Entries the daemon knows how to obtain but has not registered: the
 * images banger's recipes build (images/build.sh).  They appear in the
 * tree beside the registered ones, with ids from CATALOG_KNOWN_ID up, so a
 * client asks the daemon what to do instead of knowing it. */
#define CATALOG_KNOWN_ID (1LL << 38)
struct catalog_known {
	const char *name;
	const char *kind;      /* "image" */
	const char *state;     /* "buildable" */
	const char *build;     /* the recipe: "images/build.sh --golden" */
	const char *kernel;    /* the kernel it boots with (built by the same recipe) */
};
/* The known entries of kind that are not registered (n of them, static). */
size_t catalog_known(struct catalog *c, const char *kind, const struct catalog_known **ret,
		     int64_t *ret_ids, size_t cap);
/* The known entry with this id, if it is still not registered; NULL otherwise. */
const struct catalog_known *catalog_known_get(struct catalog *c, const char *kind, int64_t id);

#endif
