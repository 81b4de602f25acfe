/* core/catalog.h: the registered kernels and images (docs/images.md,
 * docs/catalog.md).
 *
 * A bundle is a directory with manifest.json and its files (kernel:
 * vmlinux [+ initrd.img, modules.tar.gz, ...]; image: rootfs.ext4).  Every
 * way in (a directory, a .tar.zst archive, a catalog pull, an OCI build)
 * ends in one place, catalog_register(): the bundle, complete and checked,
 * sits in a temporary directory under the state dir; it is renamed into
 * place and only then is the record inserted, so a failure at any step
 * leaves nothing registered and nothing half-copied (leftovers of a crash
 * are swept at the next start).
 *
 * What images/ and kernels/ show besides registered bundles (catalog
 * entries, pulls, OCI builds) is catview.h; catpull.c and catoci.c run
 * pulls and builds.  They share this struct. */
#ifndef BANGER_CATALOG_H
#define BANGER_CATALOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

struct catjobs;
struct catsync;
struct pull_engine;
struct sbuf;

struct catalog {
	struct store *store;
	const char *state_dir;       /* STATE/images, STATE/kernels */
	const char *image_cache;     /* bundles built by make images, imported at start */
	const char *default_image;   /* config; NULL: the built-in chain */
	const char *default_kernel;
	pthread_mutex_t *lock;       /* the VM records' lock: delete checks no VM uses it */

	/* Catalogs, pulls, OCI builds (catview.h, catpull.c, catoci.c). */
	struct catjobs *jobs;        /* always set */
	struct catsync *sync;        /* NULL: no catalog_url */
	struct pull_engine *engine;  /* NULL: no catalog_url */
	bool trusted;                /* no catalog_insecure: every index in use is signed */
	const char *cache_dir;       /* OCI blobs under CACHE/oci */
	const char *inject_dir;      /* banger's init and sshd for container images, or NULL */
	const char *docker_config;   /* registry credentials, NULL: Docker's default */
	uint64_t oci_headroom;
	/* Something a reader may wait for changed (a pull ended, an index
	 * was replaced): called from the pull engine's and the OCI workers'
	 * threads, no lock held. */
	void (*changed)(void *ctx);
	void *ctx;
};

/* Register the complete bundle in dir (a directory under the state dir's
 * images/ or kernels/, on the same filesystem): its manifest.json names it;
 * want_kind/want_name (may be NULL) must match.  The manifest gets
 * imported_at and imported_from = from; dir is renamed to
 * STATE/KINDS/NAME, then the record is inserted.  On failure dir is left
 * for the caller to remove.  Registrations are serialized. */
int catalog_register(struct catalog *c, const char *dir, const char *from,
		     const char *want_kind, const char *want_name, char *ret_name, size_t len,
		     struct berr *err);
/* Register the bundle directory dir (absolute), checked in place with
 * bundle_verify_dir (every listed file's size and sum, no symlinks; a
 * manifest without sums refused), its files linked or cloned. */
int catalog_import(struct catalog *c, const char *dir, char *ret_name, size_t len,
		   struct berr *err);
/* Register a FILE.tar.zst (absolute): extracted with every check of
 * bundle_extract (docs/catalog.md, "Bundles"). */
int catalog_import_archive(struct catalog *c, const char *file, char *ret_name, size_t len,
			   struct berr *err);
/* Either, by the path's form (".tar.zst" is an archive). */
int catalog_import_path(struct catalog *c, const char *path, char *ret_name, size_t len,
			struct berr *err);

/* At start: remove what a crash left under STATE/images and STATE/kernels
 * (temporary dot-directories, directories no record names).  Only while
 * nothing is being imported or pulled. */
void catalog_sweep(struct catalog *c);
/* Import the bundles of the image cache not registered yet (at start and
 * on "rescan").  One that fails is a failed entry of images/ or kernels/
 * (its err says why), a "fail import" line of catalog_doctor, and the
 * reason catalog_missing gives for its name.  Returns how many failed;
 * err gets the first one's sentence and errno. */
int catalog_scan(struct catalog *c, struct berr *err);
/* One "fail import KIND 'NAME' ..." line per bundle catalog_scan could
 * not import (nothing when every one was). */
void catalog_doctor(struct catalog *c, struct sbuf *out);

/* Default image/kernel name and where it came from: "config", "builtin"
 * (the first registered of the built-in chain), "catalog" (none is
 * registered: the first a catalog lists) or "recipe" (the first of the
 * chain, which banger's recipes build). */
int catalog_default(struct catalog *c, const char *kind, char *ret, size_t len,
		    const char **ret_prov);
/* Remove a kernel or image no VM refers to (EBUSY otherwise). */
int catalog_delete(struct catalog *c, int64_t id, struct berr *err);
/* Whether kind/name is registered. */
bool catalog_registered(struct catalog *c, const char *kind, const char *name);
/* Whether a catalog lists kind/name for this machine. */
bool catalog_listed(struct catalog *c, const char *kind, const char *name);

/* The init a VM of image name must boot with (its manifest's "init", as
 * OCI images made bootable have: "/.banger/init"), or "" for the image's
 * own.  Only a plain absolute path is taken. */
void catalog_image_init(struct catalog *c, const char *name, char *ret, size_t len);
/* Why kind/name cannot be used: not registered, with the command that
 * pulls or builds it.  Returns -ENOENT with that sentence in err. */
int catalog_missing(struct catalog *c, const char *kind, const char *name, struct berr *err);

/* Names the tree reserves in images/ and kernels/ (their own files). */
bool catalog_name_reserved(const char *name);

/* The images banger's recipes build (images/build.sh): the tree lists
 * those not registered (state buildable), so a client asks the daemon
 * what to do instead of knowing it. */
struct catalog_known {
	const char *name;
	const char *kind;      /* "image" */
	const char *state;     /* "buildable" */
	const char *build;     /* the recipe: "images/build.sh --golden" */
	const char *kernel;    /* the kernel it boots with (built by the same recipe) */
};
/* The recipe for kind/name, or NULL. */
const struct catalog_known *catalog_recipe(const char *kind, const char *name);
/* The recipes of kind (n of them, static). */
size_t catalog_recipes(const char *kind, const struct catalog_known **ret, size_t cap);

#endif
