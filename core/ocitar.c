/* core/ocitar.c: reading one layer blob.
 *
 * Decompression is ours, with the fastest well-kept libraries Debian has:
 * ISA-L's igzip for gzip (about four times zlib's speed; the dominant cost
 * of applying a layer), libzstd for zstd; the format is told by the
 * magic bytes, anything else is read as plain tar.  libarchive reads the
 * tar from that stream through read_cb, which hashes every uncompressed
 * byte; after the last entry, oci_tar_finish() reads what is left (the
 * end-of-archive blocks and any padding) so the hash covers the whole
 * stream: that is the layer's diff_id.  The uncompressed size is bounded
 * (max_bytes) as it is produced, so a compression bomb stops early.
 * Concatenated gzip members and zstd frames are read as one stream, as
 * Go's readers (Docker's) do; trailing bytes that are not another member
 * are an error. */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <isa-l/igzip_lib.h>
#include <openssl/evp.h>
#include <zstd.h>

#include "ociint.h"
#include "util.h"

#define TAR_BUF (1u << 20)

enum comp { COMP_NONE, COMP_GZIP, COMP_ZSTD };

struct oci_tar {
	struct archive *inner;
	int fd;
	enum comp comp;
	struct inflate_state *gz;
	ZSTD_DStream *zs;
	size_t zret;           /* ZSTD_decompressStream's last hint: 0 at a frame's end */
	unsigned char *in;     /* compressed input */
	size_t in_pos, in_len;
	bool in_eof, done;
	uint64_t in_bytes;
	char *buf;             /* uncompressed output, handed to libarchive */
	EVP_MD_CTX *md;
	uint64_t bytes, max;
	const atomic_int *cancel;
	const char *digest;
	int fail;              /* errno of a failure read_cb saw, 0 if none */
	char why[BERR_MSG_MAX];
};

static la_ssize_t fail(struct oci_tar *t, int code, const char *msg)
{
	t->fail = code;
	snprintf(t->why, sizeof(t->why), "%s", msg);
	archive_set_error(t->inner, code, "%s", msg);
	return -1;
}

/* More compressed input, when all of it has been used. */
static int refill(struct oci_tar *t)
{
	ssize_t n;

	if (t->in_pos < t->in_len || t->in_eof)
		return 0;
	do
		n = read(t->fd, t->in, TAR_BUF);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	t->in_pos = 0;
	t->in_len = (size_t)n;
	t->in_eof = n == 0;
	t->in_bytes += (uint64_t)n;
	return 0;
}

static bool gzip_magic(const unsigned char *p)
{
	return p[0] == 0x1f && p[1] == 0x8b;
}

static bool zstd_magic(const unsigned char *p)
{
	uint32_t m = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		     (uint32_t)p[3] << 24;
	return m == 0xfd2fb528 || (m & 0xfffffff0) == 0x184d2a50;
}

/* Up to TAR_BUF uncompressed bytes into t->buf; 0 at the end. */
static la_ssize_t produce(struct oci_tar *t)
{
	for (;;) {
		if (refill(t) < 0)
			return fail(t, EIO, "reading the blob failed");
		size_t avail = t->in_len - t->in_pos;
		unsigned char *next = t->in + t->in_pos;

		if (t->comp == COMP_NONE) {
			t->in_pos = t->in_len;
			if (avail == 0)
				return 0;
			memcpy(t->buf, next, avail);
			return (la_ssize_t)avail;
		}
		if (t->done) {
			if (avail == 0)
				return 0;
			/* Another member or frame, or garbage. */
			if (avail < 4 && !t->in_eof) {
				memmove(t->in, next, avail);
				ssize_t n = read(t->fd, t->in + avail, TAR_BUF - avail);
				if (n < 0)
					return fail(t, EIO, "reading the blob failed");
				t->in_pos = 0;
				t->in_len = avail + (size_t)n;
				t->in_eof = n == 0;
				t->in_bytes += (uint64_t)n;
				continue;
			}
			if (t->comp == COMP_GZIP && avail >= 2 && gzip_magic(next)) {
				isal_inflate_reset(t->gz);
				t->gz->crc_flag = ISAL_GZIP;
			} else if (t->comp == COMP_ZSTD && avail >= 4 && zstd_magic(next)) {
				ZSTD_DCtx_reset(t->zs, ZSTD_reset_session_only);
			} else {
				return fail(t, EBADMSG, "the compressed stream has trailing garbage");
			}
			t->done = false;
		}
		if (avail == 0) /* input ended inside a member */
			return fail(t, EBADMSG, t->comp == COMP_GZIP ? "truncated gzip input"
								    : "truncated zstd input");
		size_t produced;
		if (t->comp == COMP_GZIP) {
			t->gz->next_in = next;
			t->gz->avail_in = (uint32_t)avail;
			t->gz->next_out = (uint8_t *)t->buf;
			t->gz->avail_out = TAR_BUF;
			int rc = isal_inflate(t->gz);
			if (rc < 0)
				return fail(t, EBADMSG,
					    rc == ISAL_INCORRECT_CHECKSUM ? "gzip checksum mismatch"
					    : rc == ISAL_INVALID_WRAPPER  ? "not a valid gzip header"
									  : "invalid gzip data");
			t->in_pos = t->in_len - t->gz->avail_in;
			produced = TAR_BUF - t->gz->avail_out;
			t->done = t->gz->block_state == ISAL_BLOCK_FINISH;
		} else {
			ZSTD_inBuffer ib = { next, avail, 0 };
			ZSTD_outBuffer ob = { t->buf, TAR_BUF, 0 };
			t->zret = ZSTD_decompressStream(t->zs, &ob, &ib);
			if (ZSTD_isError(t->zret)) {
				char msg[128];
				snprintf(msg, sizeof(msg), "invalid zstd data: %s",
					 ZSTD_getErrorName(t->zret));
				return fail(t, EBADMSG, msg);
			}
			t->in_pos += ib.pos;
			produced = ob.pos;
			t->done = t->zret == 0;
		}
		if (produced)
			return (la_ssize_t)produced;
	}
}

static la_ssize_t read_cb(struct archive *a, void *ctx, const void **ret)
{
	struct oci_tar *t = ctx;
	la_ssize_t n;

	(void)a;
	if (t->cancel && atomic_load(t->cancel))
		return fail(t, ECANCELED, "the import was cancelled");
	n = produce(t);
	if (n <= 0)
		return n;
	t->bytes += (uint64_t)n;
	if (t->bytes > t->max) {
		char msg[160];
		snprintf(msg, sizeof(msg),
			 "it unpacks to more than %llu bytes, the limit on an image's content",
			 (unsigned long long)t->max);
		return fail(t, EFBIG, msg);
	}
	EVP_DigestUpdate(t->md, t->buf, (size_t)n);
	*ret = t->buf;
	return n;
}

/* The error of the tar reader, or of read_cb if it was the cause. */
static int tar_error(struct oci_tar *t, const char *what, struct berr *err)
{
	if (t->fail)
		return oci_err(err, t->fail, "layer %s: %s", t->digest, t->why);
	const char *msg = archive_error_string(t->inner);
	return oci_err(err, EBADMSG, "layer %s: %s: %s", t->digest, what,
			msg ? msg : "unknown libarchive error");
}

void oci_tar_free(struct oci_tar *t)
{
	if (!t)
		return;
	if (t->inner)
		archive_read_free(t->inner);
	ZSTD_freeDStream(t->zs);
	free(t->gz);
	EVP_MD_CTX_free(t->md);
	free(t->in);
	free(t->buf);
	free(t);
}

int oci_tar_open(int fd, const char *digest, uint64_t max_bytes, const atomic_int *cancel,
		 struct oci_tar **ret, struct berr *err)
{
	struct oci_tar *t = xcalloc(1, sizeof(*t));
	int r;

	t->fd = fd;
	t->digest = digest;
	t->max = max_bytes;
	t->cancel = cancel;
	t->in = xmalloc(TAR_BUF);
	t->buf = xmalloc(TAR_BUF);
	t->md = EVP_MD_CTX_new();
	t->inner = archive_read_new();
	if (!t->md || !t->inner || EVP_DigestInit_ex(t->md, EVP_sha256(), NULL) != 1) {
		oci_tar_free(t);
		return oci_err(err, ENOMEM, "out of memory reading layer %s", digest);
	}
	/* Tell the compression by the first bytes. */
	while (t->in_len < 4 && !t->in_eof) {
		ssize_t n = read(fd, t->in + t->in_len, TAR_BUF - t->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = oci_err(err, errno, "layer %s: reading it failed: %s", digest,
				     strerror(errno));
			oci_tar_free(t);
			return r;
		}
		t->in_len += (size_t)n;
		t->in_bytes += (uint64_t)n;
		t->in_eof = n == 0;
	}
	if (t->in_len >= 2 && gzip_magic(t->in)) {
		t->comp = COMP_GZIP;
		t->gz = xmalloc(sizeof(*t->gz));
		isal_inflate_init(t->gz);
		t->gz->crc_flag = ISAL_GZIP;
	} else if (t->in_len >= 4 && zstd_magic(t->in)) {
		t->comp = COMP_ZSTD;
		t->zs = ZSTD_createDStream();
		if (!t->zs) {
			oci_tar_free(t);
			return oci_err(err, ENOMEM, "out of memory reading layer %s", digest);
		}
		/* Bound the window a frame may ask for (what zstd allows by
		 * default; a hostile frame header gets an error, not 2 GiB). */
		ZSTD_DCtx_setParameter(t->zs, ZSTD_d_windowLogMax, 27);
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
	return t->in_bytes;
}

uint64_t oci_tar_uncompressed_bytes(const struct oci_tar *t)
{
	return t->bytes;
}

int oci_path_clean(const char *raw, char out[OCI_MAX_PATH + 1], struct berr *err)
{
	size_t o = 0;

	if (!raw)
		return oci_err(err, EINVAL, "it has no name");
	if (raw[0] == '/')
		return oci_err(err, EPERM, "absolute names are refused");
	for (const char *p = raw; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.')) {
			p += n + (p[n] == '/');
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return oci_err(err, EPERM, "a \"..\" component is refused");
		if (n > 255)
			return oci_err(err, ENAMETOOLONG, "a component is longer than 255 bytes");
		if (o + (o ? 1 : 0) + n > OCI_MAX_PATH)
			return oci_err(err, ENAMETOOLONG, "the name is longer than %d bytes", OCI_MAX_PATH);
		if (o)
			out[o++] = '/';
		memcpy(out + o, p, n);
		o += n;
		p += n + (p[n] == '/');
	}
	out[o] = '\0';
	return 0;
}
