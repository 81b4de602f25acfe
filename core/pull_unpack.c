/* core/pull_unpack.c: the unpacking thread of a bundle pull: reads the
 * partial file from its first byte as it grows, hashes it, unpacks it
 * (bundle.h) and renames the result into place once every check passed. */
#define _GNU_SOURCE
#include "pull_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "util.h"

/* ---- the unpacking thread ------------------------------------------ */

struct psrc {
	struct job *j;
	unsigned gen;
	int fd;
	uint64_t pos;
	struct sha256 h;
};

static ssize_t psrc_read(void *opaque, void *buf, size_t len, struct berr *err)
{
	struct psrc *s = opaque;
	struct job *j = s->j;
	struct pull_engine *e = j->e;
	uint64_t avail;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		if (atomic_load(&j->cancel)) {
			pthread_mutex_unlock(&e->lock);
			return berr_set(err, ECANCELED, "pull of %s cancelled", j->name);
		}
		if (j->gen != s->gen) {
			pthread_mutex_unlock(&e->lock);
			return berr_set(err, EAGAIN, "the download of %s started over", j->name);
		}
		if (s->pos < j->have)
			break;
		if (j->dl_complete) {
			pthread_mutex_unlock(&e->lock);
			return 0;
		}
		if (j->dl_failed) {
			pthread_mutex_unlock(&e->lock);
			return berr_set(err, EIO, "the download of %s failed", j->name);
		}
		pthread_cond_wait(&e->cond, &e->lock);
	}
	avail = j->have - s->pos;
	pthread_mutex_unlock(&e->lock);
	if (len > avail)
		len = (size_t)avail;
	ssize_t n;
	do
		n = pread(s->fd, buf, len, (off_t)s->pos);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return berr_set(err, errno, "reading %s: %s", j->src_path, strerror(errno));
	if (n == 0)
		return berr_set(err, EIO, "%s is shorter than expected", j->src_path);
	sha256_feed(&s->h, buf, (size_t)n);
	s->pos += (uint64_t)n;
	pthread_mutex_lock(&e->lock);
	j->xpos = s->pos;
	pthread_mutex_unlock(&e->lock);
	return n;
}

char *pull_dir_of(const char *path)
{
	const char *s = strrchr(path, '/');
	return s == path ? xstrdup("/") : xasprintf("%.*s", (int)(s - path), path);
}

static int unpack_once(struct job *j, unsigned gen, struct berr *err)
{
	struct pull_engine *e = j->e;
	struct psrc s = { .j = j, .gen = gen, .fd = -1 };
	struct bundle_limits lim = {
		.kind = j->kind, .name = j->name, .max_unpacked = j->max_unpacked,
		.cancel = &j->cancel, .no_sync = e->cfg.no_sync, .no_file_sums = j->trusted,
	};
	struct bundle_source src = { psrc_read, &s };
	_cleanup_free_ char *parent = pull_dir_of(j->dest);
	_cleanup_free_ char *tmp = xasprintf("%s/.pull-%s.%d.%u", parent, j->name, (int)getpid(),
					     atomic_fetch_add(&e->tmp_seq, 1));
	char sha[SHA256_HEX_LEN + 1];
	int r;

	s.fd = open(j->src_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (s.fd < 0)
		return berr_set(err, errno, "cannot open %s: %s", j->src_path, strerror(errno));
	if (sha256_begin(&s.h) < 0) {
		close(s.fd);
		return berr_set(err, ENOMEM, "cannot start a sha256 digest");
	}
	r = bundle_extract(&src, tmp, &lim, NULL, err);
	close(s.fd);
	if (r < 0) {
		sha256_abort(&s.h);
		return r;
	}
	sha256_end(&s.h, sha);
	if (s.pos != j->size)
		r = berr_set(err, EBADMSG, "bundle %s has %llu bytes, the catalog says %llu", j->url,
			     (unsigned long long)s.pos, (unsigned long long)j->size);
	else if (strcmp(sha, j->sha) != 0)
		r = berr_set(err, EBADMSG, "bundle %s has sha256 %s, the catalog says %s", j->url, sha,
			     j->sha);
	else if (rename(tmp, j->dest) < 0)
		r = berr_set(err, errno, "cannot move the bundle to %s: %s", j->dest,
			     errno == ENOTEMPTY || errno == EEXIST ? "it already exists"
								   : strerror(errno));
	if (r < 0) {
		rm_rf(tmp);
		return r;
	}
	if (!e->cfg.no_sync) {
		_cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd >= 0)
			(void)fsync(pfd);
	}
	return 0;
}

void *pull_unpack_main(void *arg)
{
	struct job *j = arg;
	struct pull_engine *e = j->e;
	struct berr err = { 0 };
	int r;

	for (;;) {
		unsigned gen;
		pthread_mutex_lock(&e->lock);
		gen = j->gen;
		pthread_mutex_unlock(&e->lock);
		berr_clear(&err);
		r = unpack_once(j, gen, &err);
		if (r == 0 || atomic_load(&j->cancel))
			break;
		pthread_mutex_lock(&e->lock);
		bool again = j->gen != gen && !j->dl_failed;
		pthread_mutex_unlock(&e->lock);
		if (!again)
			break;
	}
	pthread_mutex_lock(&e->lock);
	j->xdone = true;
	j->xresult = r;
	j->xerr = err;
	pthread_mutex_unlock(&e->lock);
	pull_wake(e);
	return NULL;
}

