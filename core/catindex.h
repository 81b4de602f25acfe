/* core/catindex.h: a catalog's index document, its detached Ed25519
 * signature, and URL resolution (docs/catalog.md, "The index").
 *
 *   { "format_version": 1, "generated_at": "2026-12-07T02:43:43Z",
 *     "entries": [ { "name": "debian-bookworm-mini", "kind": "image",
 *                    "version": "20261207T024343Z", "arch": "x86_64",
 *                    "description": "...", "url": "images/debian-bookworm-mini.tar.zst",
 *                    "size": 75261478, "sha256": "...", "unpacked_size": 1610613236,
 *                    "kernel": "debian-cloud-amd64", "min_disk_size": 1610612736 } ] }
 *
 * The signature is the raw 64-byte Ed25519 signature of the index's exact
 * bytes, served next to it as INDEX_URL.sig (what `openssl pkeyutl -sign
 * -rawin` writes).  Parsing is strict: unknown keys, wrong types, duplicate
 * entries and out-of-range values are one-sentence errors.  No function
 * here does I/O except cat_pubkey_load reading a key file. */
#ifndef BANGER_CATINDEX_H
#define BANGER_CATINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"

#define CAT_INDEX_MAX_BYTES (4u << 20)
#define CAT_INDEX_MAX_ENTRIES 4096u
#define CAT_FORMAT_VERSION 1
#define CAT_SIG_LEN 64
#define CAT_URL_MAX 2048u

struct cat_entry {
	char *name;          /* bundle_name_check */
	char *kind;          /* "image" | "kernel" */
	char *version;       /* 1-64 of A-Z a-z 0-9 . _ - + ~ : */
	char *arch;          /* "x86_64", "aarch64", ... */
	char *description;   /* may be NULL */
	char *url;           /* absolute (resolved against the index's URL) */
	uint64_t size;       /* bytes of the .tar.zst */
	char sha256[SHA256_HEX_LEN + 1];  /* of the .tar.zst */
	uint64_t unpacked_size;  /* sum of the bundle's file sizes: the extraction bound */
	char *kernel;        /* images: the kernel it wants; NULL if none */
	uint64_t min_disk_size;  /* images: smallest VM disk it fits; 0 for kernels */
};

struct cat_index {
	int format_version;
	char *generated_at;  /* may be NULL */
	struct cat_entry *entries;
	size_t n_entries;
};

/* Parse index text fetched from index_url (an absolute http, https or file
 * URL; relative entry URLs resolve against it).  Entry URLs may be
 * relative, or absolute http/https, or file only when the index itself is
 * a file URL.  *ret is set only on success. */
int cat_index_parse(const char *text, size_t len, const char *index_url,
		    struct cat_index **ret, struct berr *err);
struct cat_index *cat_index_free(struct cat_index *ix);

/* The entry for kind/name/arch (arch NULL: any), or NULL. */
const struct cat_entry *cat_index_find(const struct cat_index *ix, const char *kind,
				       const char *name, const char *arch);
void cat_entry_copy(struct cat_entry *dst, const struct cat_entry *src);
void cat_entry_clear(struct cat_entry *e);

/* Load an Ed25519 public key: a file (an existing path, or one with a /), PEM text,
 * or the base64 line of a PEM public key ("MCowBQYDK2VwAyEA...").  The
 * result is an EVP_PKEY *, freed with cat_pubkey_free. */
int cat_pubkey_load(const char *spec, void **ret_key, struct berr *err);
void cat_pubkey_free(void *key);

/* Check sig (CAT_SIG_LEN raw bytes) of doc[0..len) against key. */
int cat_sig_verify(const void *doc, size_t len, const void *sig, size_t siglen,
		   void *key, struct berr *err);

/* The trust policy of docs/catalog.md: a signature that verifies against
 * key is required, unless index_url is a file URL and insecure is set (then
 * an unsigned or badly signed index is accepted and *ret_verified is
 * false).  sig may be NULL (no .sig found). */
int cat_index_trust(const char *index_url, const void *doc, size_t len, const void *sig,
		    size_t siglen, void *key, bool insecure, bool *ret_verified,
		    struct berr *err);

/* "http", "https" or "file" URL, absolute, printable, at most CAT_URL_MAX. */
int cat_url_check(const char *url, struct berr *err);
bool cat_url_is_file(const char *url);
/* The index URL a catalog_url names: itself, or URL "index.json" when it
 * ends with '/'.  xmalloc'ed. */
char *cat_index_url(const char *catalog_url);
/* Resolve ref (absolute URL or a relative path without "." or ".."
 * segments) against base; xmalloc'ed, NULL with err set when refused. */
char *cat_url_resolve(const char *base, const char *ref, struct berr *err);
/* The local path of a file URL ("file:///x" -> "/x", percent-decoded);
 * xmalloc'ed, NULL when not a file URL with an empty or localhost host. */
char *cat_url_file_path(const char *url);

#endif
