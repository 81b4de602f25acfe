/* core/ociint.h: the pieces behind oci.h, shared by core/oci*.c, their
 * unit tests and fuzzers.  Not an API for the rest of banger. */
#ifndef BANGER_OCIINT_H
#define BANGER_OCIINT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "oci.h"

#define OCI_DIGEST_LEN 71        /* "sha256:" + 64 hex */
#define OCI_MANIFEST_MAX (4u << 20)
#define OCI_CONFIG_MAX (8u << 20)
#define OCI_MAX_LAYERS 128
#define OCI_MAX_INDEX 1024
#define OCI_MAX_PATH 4095

/* Errors of the OCI code: berr_set/berr_wrap that turn control
 * characters (from names in a layer, JSON strings, headers) into '?', so
 * every message stays one line of text. */
int oci_err(struct berr *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int oci_wrap(struct berr *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- ocimeta.c: references, manifests, configs, auth (outside input) --- */

/* A parsed image reference with Docker Hub's rules applied:
 * "debian" -> domain docker.io, registry registry-1.docker.io,
 * repo library/debian, tag latest. */
struct oci_ref {
	char domain[256];    /* as the user named it ("docker.io", "127.0.0.1:5000") */
	char registry[256];  /* host[:port] the API is served from */
	char repo[256];      /* "library/debian" */
	char tag[129];       /* "" when pulled by digest only */
	char digest[OCI_DIGEST_LEN + 1]; /* "" unless @sha256:... */
};
int oci_ref_parse(const char *s, struct oci_ref *ret, struct berr *err);
/* "docker.io/library/debian:bookworm" / "...@sha256:..." */
void oci_ref_format(const struct oci_ref *r, char *buf, size_t len);

/* "sha256:" + 64 lowercase hex; the only algorithm banger accepts. */
bool oci_digest_valid(const char *d);
/* Lowercase hex of 32 bytes into out[65]. */
void oci_hex(const unsigned char md[32], char out[65]);

struct oci_desc {
	char media_type[128];
	char digest[OCI_DIGEST_LEN + 1];
	uint64_t size;
	char os[32], arch[32], variant[32]; /* index entries only */
	char ref_name[129];  /* annotation org.opencontainers.image.ref.name */
};

enum oci_mkind { OCI_M_INDEX, OCI_M_IMAGE };
enum oci_compression { OCI_COMP_ANY, OCI_COMP_NONE, OCI_COMP_GZIP, OCI_COMP_ZSTD };

struct oci_manifest {
	enum oci_mkind kind;
	char media_type[128];
	struct oci_desc config;   /* OCI_M_IMAGE */
	struct oci_desc *items;   /* layers (IMAGE) or manifests (INDEX) */
	size_t n;
};
/* Parse a manifest or an index.  content_type (may be NULL) is used when
 * the body has no mediaType.  At most max_items layers/manifests. */
int oci_manifest_parse(const void *body, size_t len, const char *content_type,
		       unsigned max_items, struct oci_manifest *ret, struct berr *err);
void oci_manifest_free(struct oci_manifest *m);
/* The entry of an index for os/arch (attestations, "unknown/unknown", are
 * skipped); -ENOENT with the platforms it has in err. */
int oci_index_pick(const struct oci_manifest *m, const char *os, const char *arch,
		   size_t *ret_i, struct berr *err);
enum oci_compression oci_layer_compression(const char *media_type);

struct oci_config {
	char os[32], arch[32];
	char (*diff_ids)[OCI_DIGEST_LEN + 1];
	size_t n_diff_ids;
	json_t *run; /* {"Env": [...], "Entrypoint": [...], "Cmd": [...], "WorkingDir": "", "User": ""} */
};
int oci_config_parse(const void *body, size_t len, struct oci_config *ret, struct berr *err);
void oci_config_free(struct oci_config *c);

/* One WWW-Authenticate challenge: Bearer realm=...,service=...,scope=...
 * or Basic realm=... */
struct oci_challenge {
	char scheme[16];     /* "bearer" or "basic", lowercased */
	char realm[1024], service[256], scope[512];
};
int oci_challenge_parse(const char *hdr, struct oci_challenge *ret, struct berr *err);

/* Credentials for registry (host[:port]) from a docker config.json text:
 * 0 and malloc'ed user/pass, -ENOENT when it has none, else an error. */
int oci_docker_auth(const char *json, size_t len, const char *registry, char **ret_user,
		    char **ret_pass, struct berr *err);

/* --- ociblob.c: the blob cache --- */

struct oci_cache {
	char *root;   /* CACHE/oci */
	char *blobs;  /* CACHE/oci/blobs/sha256 */
	char *locks;  /* CACHE/oci/locks */
	char *stats;  /* CACHE/oci/layers (scan results, by blob digest) */
};
int oci_cache_open(const char *cache_dir, struct oci_cache *ret, struct berr *err);
void oci_cache_close(struct oci_cache *c);
char *oci_blob_path(const struct oci_cache *c, const char *digest); /* xmalloc'ed */
/* Hold the per-digest lock (blocks while another process or thread holds
 * it; cancel is polled).  Returns the locked descriptor (unlock_close). */
int oci_blob_lock(const struct oci_cache *c, const char *digest, const atomic_int *cancel,
		  struct berr *err);

/* Writing a blob: bytes go to a partial file while they are hashed and
 * counted; commit checks size and digest and renames it into the cache. */
struct oci_blob_writer;
int oci_blob_writer_open(const struct oci_cache *c, const struct oci_desc *d,
			 struct oci_blob_writer **ret, struct berr *err);
int oci_blob_writer_write(struct oci_blob_writer *w, const void *data, size_t len,
			  struct berr *err);
uint64_t oci_blob_writer_bytes(const struct oci_blob_writer *w);
/* Start again from zero (a retried transfer). */
int oci_blob_writer_reset(struct oci_blob_writer *w, struct berr *err);
int oci_blob_writer_commit(struct oci_blob_writer *w, struct berr *err);
void oci_blob_writer_free(struct oci_blob_writer *w); /* removes an uncommitted partial */

/* Read a cached blob whole (bounded by max): manifests and configs.  The
 * digest is checked again. */
int oci_blob_read(const struct oci_cache *c, const char *digest, size_t max, char **ret,
		  size_t *ret_len, struct berr *err);
/* Store a small blob held in memory (a manifest read from a registry). */
int oci_blob_put(const struct oci_cache *c, const struct oci_desc *d, const void *data,
		 size_t len, struct berr *err);

/* --- ociregistry.c: the distribution API v2 client --- */

struct oci_registry;
/* auth_json: a docker config.json's text for credentials, or NULL. */
int oci_registry_open(const struct oci_ref *ref, const struct oci_opts *o, const char *auth_json,
		      size_t auth_len, struct oci_registry **ret, struct berr *err);
void oci_registry_close(struct oci_registry *r);
const char *oci_registry_base(const struct oci_registry *r);
/* HEAD a manifest: its digest from Docker-Content-Digest ("" if none). */
int oci_registry_head(struct oci_registry *r, const char *reference,
		      char digest[OCI_DIGEST_LEN + 1], struct berr *err);
/* GET a manifest (by tag or digest): body, Content-Type and its sha256. */
int oci_registry_manifest(struct oci_registry *r, const char *reference, char **ret_body,
			  size_t *ret_len, char ret_ctype[128], char ret_digest[OCI_DIGEST_LEN + 1],
			  struct berr *err);
/* GET a blob into w (not committed); p (may be NULL) gets FETCH progress. */
int oci_registry_blob(struct oci_registry *r, const struct oci_desc *d, struct oci_blob_writer *w,
		      struct oci_progress *p, struct berr *err);

/* --- ocitar.c: reading a layer (gzip/zstd/plain tar), hashing it --- */

struct oci_tar;
struct archive_entry;
/* fd is read from its current offset and not closed. */
int oci_tar_open(int fd, const char *digest, uint64_t max_bytes, const atomic_int *cancel,
		 struct oci_tar **ret, struct berr *err);
/* 1 and *ret_entry (valid until the next call), 0 at the end, <0 error. */
int oci_tar_next(struct oci_tar *t, struct archive_entry **ret_entry, struct berr *err);
/* Data of the current entry: 1 and a chunk at *ret_off, 0 at its end. */
int oci_tar_data(struct oci_tar *t, const void **ret_buf, size_t *ret_len, int64_t *ret_off,
		 struct berr *err);
/* After the last entry: read the rest of the stream; its sha256 (the
 * layer's diff_id) into diff_id. */
int oci_tar_finish(struct oci_tar *t, char diff_id[OCI_DIGEST_LEN + 1], struct berr *err);
uint64_t oci_tar_compressed_bytes(struct oci_tar *t);
uint64_t oci_tar_uncompressed_bytes(const struct oci_tar *t);
void oci_tar_free(struct oci_tar *t);

/* Entry name -> "a/b/c" ("" for the root).  Refuses absolute names, "..",
 * components over 255 bytes and paths over OCI_MAX_PATH (err: the reason
 * alone; callers add the layer and the entry). */
int oci_path_clean(const char *raw, char out[OCI_MAX_PATH + 1], struct berr *err);

/* --- ocilayer.c: what a tar entry means in a layer --- */

enum oci_ekind {
	OCI_E_DIR, OCI_E_REG, OCI_E_SYMLINK, OCI_E_HARDLINK, OCI_E_CHR, OCI_E_BLK, OCI_E_FIFO,
	OCI_E_WHITEOUT, /* path: what it removes from lower layers */
	OCI_E_OPAQUE,   /* path: the directory it empties of lower-layer entries */
	OCI_E_SKIP,     /* AUFS metadata (.wh..wh.*): ignored */
};
struct oci_entry {
	enum oci_ekind kind;
	const char *raw;                /* the name in the tar, for messages */
	char path[OCI_MAX_PATH + 1];    /* cleaned, "" is the root */
	char link[OCI_MAX_PATH + 1];    /* OCI_E_HARDLINK: cleaned target */
	const char *symlink;            /* OCI_E_SYMLINK: target as stored */
	uint32_t uid, gid;
	uint16_t perm;                  /* 07777 bits */
	int64_t mtime;
	uint32_t mtime_nsec;
	uint64_t size;
	uint32_t rdev_major, rdev_minor;
	size_t xattr_count, xattr_bytes;
};
/* Classify and check one header (what can be checked without the tree).
 * Errors name the layer and the entry. */
int oci_entry_read(struct archive_entry *ae, const char *digest, struct oci_entry *ret,
		   struct berr *err);
#define OCI_XATTR_INLINE 80 /* bytes of xattr entries that fit in a 256-byte inode */

/* Upper bounds of what one layer adds to an ext4 image. */
struct oci_layer_stats {
	char diff_id[OCI_DIGEST_LEN + 1];
	uint64_t entries;    /* tar headers */
	uint64_t inodes;     /* new inodes (incl. parents the layer does not list) */
	uint64_t blocks;     /* 4 KiB blocks: data, extent trees, dirs, xattrs, symlinks */
	uint64_t bytes;      /* uncompressed stream */
};
/* Read the layer once: checks every entry that can be checked without the
 * tree (names, types, sizes, owners, xattrs), sums its needs, hashes it. */
int oci_layer_scan(int fd, const char *digest, uint64_t max_bytes, const atomic_int *cancel,
		   void (*tick)(uint64_t done, void *ctx), void *ctx,
		   struct oci_layer_stats *ret, struct berr *err);

/* --- ocifs.c: the ext4 tree a sequence of layers is applied to --- */

struct oci_fs;
struct oci_fs_geom {
	uint64_t blocks, inodes;
};
/* Create path (must not exist) as an empty ext4 of geom. */
int oci_fs_create(const char *path, const struct oci_fs_geom *g, const char *label,
		  struct oci_fs **ret, struct berr *err);
/* Apply one layer (oldest first).  fd: the blob; digest names it in
 * errors; diff_id (may be NULL) is what the uncompressed stream must
 * hash to. */
int oci_fs_apply(struct oci_fs *f, int fd, const char *digest, const char *diff_id,
		 uint64_t max_bytes, const atomic_int *cancel,
		 void (*tick)(uint64_t done, void *ctx), void *ctx, struct berr *err);
/* True when the last failure was the image (not the host) running out of
 * blocks or inodes: the caller may retry with a larger geometry. */
bool oci_fs_full(const struct oci_fs *f);
/* Write a file (parents made 0755), e.g. banger's init.  */
int oci_fs_put_file(struct oci_fs *f, const char *path, const void *data, size_t len,
		    mode_t mode, struct berr *err);
/* Flush and close; r is the result so far.  On failure (r < 0 or a
 * failed flush) the image file is removed. */
int oci_fs_close(struct oci_fs *f, int r, struct berr *err);

/* Geometry for the summed stats of all layers plus headroom. */
void oci_fs_size(const struct oci_layer_stats *total, uint64_t headroom,
		 struct oci_fs_geom *ret);

#endif
