/* core/ocitar.c: reading one layer blob with libarchive.
 *
 * Two readers in a chain: the outer one only decompresses (gzip, zstd or
 * nothing, told by the data, with the "raw" format), the inner one reads
 * tar from the outer one's output through read_cb, which hashes every
 * uncompressed byte.  After the last entry, oci_tar_finish() reads what is
 * left (the end-of-archive blocks and any padding) so the hash covers the
 * whole stream: that is the layer's diff_id.  The uncompressed size is
 * bounded (max_bytes) as it is read, so a compression bomb stops early. */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "ociint.h"
#include "util.h"

#define TAR_BUF (1u << 20)

struct oci_tar {
	struct archive *outer, *inner;
	EVP_MD_CTX *md;
	char *buf;
	uint64_t bytes, max;
	const atomic_int *cancel;
	const char *digest;
	bool outer_eof;
	int fail;             /* errno of a failure read_cb saw, 0 if none */
	char why[BERR_MSG_MAX];
};

static la_ssize_t read_cb(struct archive *a, void *ctx, const void **ret)
{
	struct oci_tar *t = ctx;
	la_ssize_t n;

	if (t->cancel && atomic_load(t->cancel)) {
		t->fail = ECANCELED;
		snprintf(t->why, sizeof(t->why), "the import was cancelled");
		archive_set_error(a, ECANCELED, "cancelled");
		return -1;
	}
	if (t->outer_eof)
		return 0;
	n = archive_read_data(t->outer, t->buf, TAR_BUF);
	if (n < 0) {
		t->fail = EBADMSG;
		snprintf(t->why, sizeof(t->why), "decompressing failed: %s",
			 archive_error_string(t->outer) ? archive_error_string(t->outer) : "error");
		archive_set_error(a, EBADMSG, "%s", t->why);
		return -1;
	}
	if (n == 0) {
		t->outer_eof = true;
		return 0;
	}
	t->bytes += (uint64_t)n;
	if (t->bytes > t->max) {
		t->fail = EFBIG;
		snprintf(t->why, sizeof(t->why),
			 "it unpacks to more than %llu bytes, the limit on an image's content",
			 (unsigned long long)t->max);
		archive_set_error(a, EFBIG, "%s", t->why);
		return -1;
	}
	EVP_DigestUpdate(t->md, t->buf, (size_t)n);
	*ret = t->buf;
	return n;
}

/* The error of the inner reader, or of read_cb if it was the cause. */
static int tar_error(struct oci_tar *t, const char *what, struct berr *err)
{
	if (t->fail)
		return berr_set(err, t->fail, "layer %s: %s", t->digest, t->why);
	const char *msg = archive_error_string(t->inner);
	return berr_set(err, EBADMSG, "layer %s: %s: %s", t->digest, what,
			msg ? msg : "unknown libarchive error");
}

void oci_tar_free(struct oci_tar *t)
{
	if (!t)
		return;
	if (t->inner)
		archive_read_free(t->inner);
	if (t->outer)
		archive_read_free(t->outer);
	EVP_MD_CTX_free(t->md);
	free(t->buf);
	free(t);
}

int oci_tar_open(int fd, const char *digest, uint64_t max_bytes, const atomic_int *cancel,
		 struct oci_tar **ret, struct berr *err)
{
	struct oci_tar *t = xcalloc(1, sizeof(*t));
	struct archive_entry *e;
	int r;

	t->digest = digest;
	t->max = max_bytes;
	t->cancel = cancel;
	t->buf = xmalloc(TAR_BUF);
	t->md = EVP_MD_CTX_new();
	t->outer = archive_read_new();
	t->inner = archive_read_new();
	if (!t->md || !t->outer || !t->inner || EVP_DigestInit_ex(t->md, EVP_sha256(), NULL) != 1) {
		oci_tar_free(t);
		return berr_set(err, ENOMEM, "out of memory reading layer %s", digest);
	}
	archive_read_support_filter_gzip(t->outer);
	archive_read_support_filter_zstd(t->outer);
	archive_read_support_format_raw(t->outer);
	if (archive_read_open_fd(t->outer, fd, TAR_BUF) != ARCHIVE_OK) {
		r = berr_set(err, EBADMSG, "layer %s: %s", digest,
			     archive_error_string(t->outer) ? archive_error_string(t->outer)
							    : "cannot be read");
		oci_tar_free(t);
		return r;
	}
	r = archive_read_next_header(t->outer, &e);
	if (r == ARCHIVE_EOF) {
		t->outer_eof = true; /* an empty stream: the tar reader says so */
	} else if (r < ARCHIVE_WARN) {
		r = berr_set(err, EBADMSG, "layer %s: %s", digest,
			     archive_error_string(t->outer) ? archive_error_string(t->outer)
							    : "cannot be read");
		oci_tar_free(t);
		return r;
	}
	archive_read_support_format_tar(t->inner);
	if (archive_read_open(t->inner, t, NULL, read_cb, NULL) != ARCHIVE_OK) {
		r = tar_error(t, "not a tar stream", err);
		oci_tar_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

int oci_tar_next(struct oci_tar *t, struct archive_entry **ret_entry, struct berr *err)
{
	int r = archive_read_next_header(t->inner, ret_entry);

	if (r == ARCHIVE_EOF)
		return 0;
	/* ARCHIVE_WARN: a name not valid in this locale's charset; libarchive
	 * keeps its raw bytes, which is what we want. */
	if (r < ARCHIVE_WARN)
		return tar_error(t, "reading the tar stream failed", err);
	return 1;
}

int oci_tar_data(struct oci_tar *t, const void **ret_buf, size_t *ret_len, int64_t *ret_off,
		 struct berr *err)
{
	la_int64_t off;
	int r = archive_read_data_block(t->inner, ret_buf, ret_len, &off);

	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN)
		return tar_error(t, "reading file data failed", err);
	*ret_off = off;
	return 1;
}

int oci_tar_finish(struct oci_tar *t, char diff_id[OCI_DIGEST_LEN + 1], struct berr *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	const void *p;

	for (;;) {
		la_ssize_t n = read_cb(t->inner, t, &p);
		if (n < 0)
			return tar_error(t, "reading the end of the stream failed", err);
		if (n == 0)
			break;
	}
	EVP_DigestFinal_ex(t->md, md, &mdlen);
	memcpy(diff_id, "sha256:", 7);
	oci_hex(md, diff_id + 7);
	return 0;
}

uint64_t oci_tar_compressed_bytes(struct oci_tar *t)
{
	la_int64_t n = archive_filter_bytes(t->outer, -1);

	return n > 0 ? (uint64_t)n : 0;
}

uint64_t oci_tar_uncompressed_bytes(const struct oci_tar *t)
{
	return t->bytes;
}

int oci_path_clean(const char *raw, char out[OCI_MAX_PATH + 1], struct berr *err)
{
	size_t o = 0;

	if (!raw)
		return berr_set(err, EINVAL, "it has no name");
	if (raw[0] == '/')
		return berr_set(err, EPERM, "absolute names are refused");
	for (const char *p = raw; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.')) {
			p += n + (p[n] == '/');
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return berr_set(err, EPERM, "a \"..\" component is refused");
		if (n > 255)
			return berr_set(err, ENAMETOOLONG, "a component is longer than 255 bytes");
		if (o + (o ? 1 : 0) + n > OCI_MAX_PATH)
			return berr_set(err, ENAMETOOLONG, "the name is longer than %d bytes", OCI_MAX_PATH);
		if (o)
			out[o++] = '/';
		memcpy(out + o, p, n);
		o += n;
		p += n + (p[n] == '/');
	}
	out[o] = '\0';
	return 0;
}
