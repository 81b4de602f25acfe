/* tests/unit/cattest.h: fixtures the catalog tests share (header only):
 * scratch directories, files, sums, Ed25519 keys and hand-made .tar.zst
 * archives, including the malicious ones. */
#ifndef BANGER_CATTEST_H
#define BANGER_CATTEST_H

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "digest.h"
#include "util.h"

static inline __attribute__((unused)) char *ct_tmpdir(const char *tag)
{
	char *d = xasprintf("/tmp/banger-%s.XXXXXX", tag);
	if (!mkdtemp(d))
		abort();
	return d;
}

static inline __attribute__((unused)) void ct_write(const char *path, const void *data,
						     size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

static inline __attribute__((unused)) void ct_sha(const void *data, size_t len,
						   char out[SHA256_HEX_LEN + 1])
{
	struct sha256 h;
	if (sha256_begin(&h) < 0)
		abort();
	sha256_feed(&h, data, len);
	sha256_end(&h, out);
}

/* An Ed25519 key pair: private PEM at priv, public PEM at pub. */
static inline __attribute__((unused)) void ct_keypair(const char *priv, const char *pub)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *k = NULL;
	if (!c || EVP_PKEY_keygen_init(c) != 1 || EVP_PKEY_keygen(c, &k) != 1)
		abort();
	FILE *f = fopen(priv, "w");
	if (!f || PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1)
		abort();
	fclose(f);
	f = fopen(pub, "w");
	if (!f || PEM_write_PUBKEY(f, k) != 1)
		abort();
	fclose(f);
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(c);
}

/* Archive entries for ct_archive. */
enum ct_type { CT_FILE, CT_DIR, CT_SYMLINK, CT_HARDLINK, CT_CHR, CT_FIFO, CT_SPARSE };
struct ct_entry {
	enum ct_type type;
	const char *path;
	const void *data;    /* CT_FILE: the content */
	size_t len;
	const char *target;  /* symlinks and hard links */
	int64_t size;        /* CT_SPARSE: the apparent size; data (len bytes) at offset 0 */
};

/* Write entries as a tar (pax) archive through filter (e.g.
 * ARCHIVE_FILTER_ZSTD, ARCHIVE_FILTER_NONE) to path. */
static inline __attribute__((unused)) void ct_archive(const char *path, int filter,
						       const struct ct_entry *v, size_t n)
{
	struct archive *a = archive_write_new();
	if (archive_write_add_filter(a, filter) != ARCHIVE_OK ||
	    archive_write_set_format_pax(a) != ARCHIVE_OK ||
	    archive_write_open_filename(a, path) != ARCHIVE_OK)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, v[i].path);
		archive_entry_set_perm(e, 0644);
		switch (v[i].type) {
		case CT_FILE:
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)v[i].len);
			break;
		case CT_SPARSE:
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, v[i].size);
			archive_entry_sparse_add_entry(e, 0, (la_int64_t)v[i].len);
			archive_entry_sparse_add_entry(e, v[i].size, 0);
			break;
		case CT_DIR:
			archive_entry_set_filetype(e, AE_IFDIR);
			break;
		case CT_SYMLINK:
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, v[i].target);
			break;
		case CT_HARDLINK:
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, v[i].target);
			archive_entry_set_size(e, 0);
			break;
		case CT_CHR:
			archive_entry_set_filetype(e, AE_IFCHR);
			archive_entry_set_rdev(e, makedev(1, 3));
			break;
		case CT_FIFO:
			archive_entry_set_filetype(e, AE_IFIFO);
			break;
		}
		if (archive_write_header(a, e) != ARCHIVE_OK)
			abort();
		if ((v[i].type == CT_FILE || v[i].type == CT_SPARSE) && v[i].len &&
		    archive_write_data(a, v[i].data, v[i].len) != (la_ssize_t)v[i].len)
			abort();
		archive_entry_free(e);
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		abort();
	archive_write_free(a);
}

#endif
