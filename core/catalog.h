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
/* Default image/kernel name and where it came from ("config", "builtin",
 * "none"). */
int catalog_default(struct catalog *c, const char *kind, char *ret, size_t len,
		    const char **ret_prov);
/* Remove a kernel or image no VM refers to (EBUSY otherwise). */
int catalog_delete(struct catalog *c, int64_t id, struct berr *err);

#endif
