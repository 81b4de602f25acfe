/* core/ociblob.c: the blob cache, CACHE/oci/blobs/sha256/<hex>.
 *
 * A blob enters the cache only through a writer: its bytes go to a partial
 * file (blobs/sha256/.<hex>.partial) while they are hashed and counted, and
 * commit renames it into place once size and digest match.  A cached file
 * is therefore always complete and correct, and never changes.  Writers of
 * the same digest are serialized by a flock() on locks/<hex>, so two
 * imports that share a layer transfer it once: the second finds it cached
 * when it gets the lock.  The partial file has a fixed name per digest, so
 * a writer killed mid-transfer leaves one file that the next writer of
 * that digest (who holds the lock) truncates. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ociint.h"
#include "util.h"

int oci_cache_open(const char *cache_dir, struct oci_cache *ret, struct berr *err)
{
	struct oci_cache c;
	int r;

	if (!cache_dir || !*cache_dir)
		return oci_err(err, EINVAL, "no cache directory given for OCI blobs");
	c.root = path_join(cache_dir, "oci");
	c.blobs = path_join(c.root, "blobs/sha256");
	c.locks = path_join(c.root, "locks");
	c.stats = path_join(c.root, "layers");
	const char *dirs[] = { c.blobs, c.locks, c.stats };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		r = mkdir_p(dirs[i], 0700);
		if (r < 0) {
			oci_err(err, -r, "cannot create the blob cache %s: %s", dirs[i], strerror(-r));
			oci_cache_close(&c);
			return r;
		}
	}
	*ret = c;
	return 0;
}

void oci_cache_close(struct oci_cache *c)
{
	free(c->root);
	free(c->blobs);
	free(c->locks);
	free(c->stats);
	memset(c, 0, sizeof(*c));
}

char *oci_blob_path(const struct oci_cache *c, const char *digest)
{
	return xasprintf("%s/%s", c->blobs, digest + 7);
}

int oci_blob_lock(const struct oci_cache *c, const char *digest, const atomic_int *cancel,
		  struct berr *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", c->locks, digest + 7);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return oci_err(err, errno, "cannot open the lock file %s: %s", path, strerror(errno));
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int e = errno;
			close(fd);
			return oci_err(err, e, "cannot lock %s: %s", path, strerror(e));
		}
		if (cancel && atomic_load(cancel)) {
			close(fd);
			return oci_err(err, ECANCELED, "the import was cancelled");
		}
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

struct oci_blob_writer {
	int fd;
	char *partial, *final;
	struct oci_desc desc;
	EVP_MD_CTX *md;
	uint64_t n;
	bool committed;
};

int oci_blob_writer_open(const struct oci_cache *c, const struct oci_desc *d,
			 struct oci_blob_writer **ret, struct berr *err)
{
	struct oci_blob_writer *w = xcalloc(1, sizeof(*w));

	w->desc = *d;
	w->final = oci_blob_path(c, d->digest);
	w->partial = xasprintf("%s/.%s.partial", c->blobs, d->digest + 7);
	w->fd = open(w->partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w->fd < 0) {
		int e = errno;
		oci_blob_writer_free(w);
		return oci_err(err, e, "cannot create %s in the blob cache: %s", d->digest,
				strerror(e));
	}
	w->md = EVP_MD_CTX_new();
	if (!w->md || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
		oci_blob_writer_free(w);
		return oci_err(err, ENOMEM, "cannot initialise sha256");
	}
	*ret = w;
	return 0;
}

int oci_blob_writer_write(struct oci_blob_writer *w, const void *data, size_t len,
			  struct berr *err)
{
	const char *p = data;

	if (w->n + len > w->desc.size)
		return oci_err(err, EBADMSG, "blob %s is larger than the %llu bytes its descriptor says",
				w->desc.digest, (unsigned long long)w->desc.size);
	EVP_DigestUpdate(w->md, data, len);
	w->n += len;
	while (len > 0) {
		ssize_t k = write(w->fd, p, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return oci_err(err, errno, "writing blob %s to the cache failed: %s",
					w->desc.digest, strerror(errno));
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

uint64_t oci_blob_writer_bytes(const struct oci_blob_writer *w)
{
	return w->n;
}

int oci_blob_writer_reset(struct oci_blob_writer *w, struct berr *err)
{
	if (ftruncate(w->fd, 0) < 0 || lseek(w->fd, 0, SEEK_SET) < 0)
		return oci_err(err, errno, "cannot restart blob %s: %s", w->desc.digest,
				strerror(errno));
	EVP_DigestInit_ex(w->md, EVP_sha256(), NULL);
	w->n = 0;
	return 0;
}

int oci_blob_writer_commit(struct oci_blob_writer *w, struct berr *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char got[OCI_DIGEST_LEN + 1];

	if (w->n != w->desc.size)
		return oci_err(err, EBADMSG, "blob %s has %llu bytes, but its descriptor says %llu",
				w->desc.digest, (unsigned long long)w->n,
				(unsigned long long)w->desc.size);
	EVP_DigestFinal_ex(w->md, md, &mdlen);
	memcpy(got, "sha256:", 7);
	oci_hex(md, got + 7);
	if (strcmp(got, w->desc.digest) != 0)
		return oci_err(err, EBADMSG, "blob %s has the wrong content: its sha256 is %s",
				w->desc.digest, got);
	if (fsync(w->fd) < 0)
		return oci_err(err, errno, "flushing blob %s failed: %s", w->desc.digest,
				strerror(errno));
	if (rename(w->partial, w->final) < 0)
		return oci_err(err, errno, "cannot move blob %s into the cache: %s", w->desc.digest,
				strerror(errno));
	w->committed = true;
	return 0;
}

void oci_blob_writer_free(struct oci_blob_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (!w->committed && w->partial)
		unlink(w->partial);
	EVP_MD_CTX_free(w->md);
	free(w->partial);
	free(w->final);
	free(w);
}

int oci_blob_put(const struct oci_cache *c, const struct oci_desc *d, const void *data,
		 size_t len, struct berr *err)
{
	_cleanup_free_ char *path = oci_blob_path(c, d->digest);
	struct oci_blob_writer *w = NULL;
	int lock, r;

	if (access(path, F_OK) == 0)
		return 0;
	lock = oci_blob_lock(c, d->digest, NULL, err);
	if (lock < 0)
		return lock;
	r = oci_blob_writer_open(c, d, &w, err);
	if (r == 0)
		r = oci_blob_writer_write(w, data, len, err);
	if (r == 0)
		r = oci_blob_writer_commit(w, err);
	oci_blob_writer_free(w);
	unlock_close(lock);
	return r;
}

int oci_blob_read(const struct oci_cache *c, const char *digest, size_t max, char **ret,
		  size_t *ret_len, struct berr *err)
{
	_cleanup_free_ char *path = oci_blob_path(c, digest);
	unsigned char md[32];
	char got[OCI_DIGEST_LEN + 1];
	char *data = NULL;
	size_t len = 0;
	int r;

	r = read_file(path, max, &data, &len);
	if (r == -EFBIG)
		return oci_err(err, EFBIG, "blob %s is larger than %zu bytes", digest, max);
	if (r < 0)
		return oci_err(err, -r, "cannot read blob %s: %s", digest, strerror(-r));
	EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
	memcpy(got, "sha256:", 7);
	oci_hex(md, got + 7);
	if (strcmp(got, digest) != 0) {
		free(data);
		return oci_err(err, EBADMSG, "cached blob %s is corrupt (its sha256 is %s)", digest, got);
	}
	*ret = data;
	*ret_len = len;
	return 0;
}
