/* core/oci.h: OCI container images -> banger image bundles.
 *
 * oci_pull() fetches an image from a registry (distribution API v2),
 * oci_import_layout() reads a local OCI image layout (what skopeo, umoci
 * and buildah write); both flatten the layers straight into an ext4 image
 * with libext2fs (no staging directory, no mount, no root) and leave a
 * bundle directory in the format catalog_import() registers:
 *
 *   BUNDLE/rootfs.ext4     sparse ext4, label "rootfs"
 *   BUNDLE/manifest.json   {"name", "kind": "image", "arch", "size",
 *                           "disk_usage", "source": "oci", "oci": {...}}
 *
 * The bundle is built as BUNDLE.tmp-XXXXXX next to it and renamed into
 * place when complete: a failure (or a kill) leaves no BUNDLE, only a
 * .tmp- directory a caller may sweep.  Blobs (manifests, configs, layers)
 * are cached by digest under CACHE/oci/blobs/sha256/ and shared by every
 * pull and import, also concurrent ones in other processes.
 *
 * Blocking; call from a worker thread.  No FUSE, no globals beyond
 * libcurl's one-time init.  Errors: negative errno + one sentence in err. */
#ifndef BANGER_OCI_H
#define BANGER_OCI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

enum oci_phase {
	OCI_PHASE_RESOLVE, /* reading the manifest (and index, config) */
	OCI_PHASE_FETCH,   /* a blob: done/total bytes transferred */
	OCI_PHASE_SCAN,    /* a layer read once for its sizes: compressed bytes */
	OCI_PHASE_APPLY,   /* a layer written into ext4: compressed bytes */
	OCI_PHASE_DONE,    /* the bundle is in place */
};
const char *oci_phase_name(enum oci_phase p); /* "resolve" "fetch" "scan" "apply" "done" */

struct oci_progress {
	enum oci_phase phase;
	unsigned layer;      /* 1-based; 0 when the event is not about a layer */
	unsigned layers;     /* how many the image has (0 while resolving) */
	const char *digest;  /* the blob concerned, or NULL */
	uint64_t done, total;
	bool cached;         /* FETCH: the blob was already in the cache */
};
/* Called from the importing thread, at most every 100 ms per blob plus at
 * each blob's start and end.  It must not block for long. */
typedef void (*oci_progress_fn)(const struct oci_progress *p, void *ctx);

#define OCI_DEFAULT_HEADROOM (512ULL << 20)
#define OCI_DEFAULT_MAX_SIZE (64ULL << 30)
#define OCI_MIN_IMAGE_SIZE (64ULL << 20)

struct oci_opts {
	const char *cache_dir;  /* required; blobs under CACHE/oci/ */
	/* Docker's config.json for credentials ("auths": base64 "auth", or
	 * "username" + "password").  NULL: $DOCKER_CONFIG/config.json, else
	 * $HOME/.docker/config.json; a missing file means anonymous. */
	const char *auth_file;
	bool insecure;          /* plain HTTP to the registry; never implied */
	uint64_t headroom;      /* free bytes beyond the content; 0: default */
	bool no_headroom;       /* exactly the content (tests); min size still applies */
	uint64_t max_size;      /* bound on the uncompressed content; 0: default */
	unsigned max_layers;    /* 0: 128 */
	const char *label;      /* ext4 label; NULL: "rootfs" */
	/* A host directory copied into the image as /.banger (banger's init,
	 * guest agent and sshd: build/guest/inject, made by guest/mkinject.sh),
	 * or NULL.  With an "init" in it, manifest.json says "init":
	 * "/.banger/init"; with an "agent", "agent_sha256": the sha256 of the
	 * agent put in the image. */
	const char *inject_dir;
	oci_progress_fn progress;
	void *progress_ctx;
	const atomic_int *cancel; /* set non-zero to stop (-ECANCELED) */
};

/* Pull ref ("debian:bookworm", "ghcr.io/o/i@sha256:...", "127.0.0.1:5000/x:t";
 * Docker Hub rules for short names) for linux/amd64 and write the bundle
 * bundle_dir (which must not exist) for image name. */
int oci_pull(const char *ref, const char *name, const char *bundle_dir,
	     const struct oci_opts *o, struct berr *err);

/* The same from a local OCI image layout: "DIR" (its index must name one
 * image, or one per platform) or "DIR:TAG" (org.opencontainers.image.ref.name). */
int oci_import_layout(const char *layout, const char *name, const char *bundle_dir,
		      const struct oci_opts *o, struct berr *err);

#endif
