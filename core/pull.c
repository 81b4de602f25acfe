/* core/pull.c: the pull engine: its API, its jobs and its thread (see
 * pull.h; the threads and locks are described in pull_int.h). */
#define _GNU_SOURCE
#include "pull_int.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "catindex.h"
#include "manifest.h"
#include "util.h"

const char *pull_state_name(enum pull_state s)
{
	static const char *const names[] = { "running", "retrying", "verifying",
					     "done",    "failed",   "cancelled" };
	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "unknown";
}

/* ---- progress ------------------------------------------------------ */

static void human_rate(uint64_t bps, char *buf, size_t len)
{
	static const char *const units[] = { "B/s", "kB/s", "MB/s", "GB/s" };
	double v = (double)bps;
	unsigned u = 0;
	while (v >= 1000 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1000;
		u++;
	}
	snprintf(buf, len, u ? "%.1f%s" : "%.0f%s", v, units[u]);
}

void pull_progress_format(const struct pull_progress *p, char *buf, size_t len)
{
	char rate[32] = "-", eta[32] = "-";
	if (p->rate)
		human_rate(p->rate, rate, sizeof(rate));
	if (p->eta_s >= 0)
		snprintf(eta, sizeof(eta), "%llds", (long long)p->eta_s);
	snprintf(buf, len, "bytes %llu of %llu rate %s eta %s", (unsigned long long)p->done,
		 (unsigned long long)p->total, rate, eta);
}

/* lock held */
static void job_progress(const struct job *j, struct pull_progress *p)
{
	memset(p, 0, sizeof(*p));
	p->state = j->state;
	p->total = j->size;
	p->done = j->local ? j->xpos : j->have;
	p->attempts = j->total_attempts;
	p->eta_s = -1;
	snprintf(p->err, sizeof(p->err), "%s", j->last_err);
	if (j->nsamples >= 2) {
		unsigned last = (j->nsamples - 1) % RATE_SAMPLES;
		unsigned first = j->nsamples > RATE_SAMPLES ? j->nsamples % RATE_SAMPLES : 0;
		int64_t dt = j->sample_t[last] - j->sample_t[first];
		if (dt > 0 && j->sample_b[last] >= j->sample_b[first])
			p->rate = (j->sample_b[last] - j->sample_b[first]) * 1000 / (uint64_t)dt;
	}
	if (p->state == PULL_DONE)
		p->eta_s = 0;
	else if (p->rate && p->done <= p->total)
		p->eta_s = (int64_t)((p->total - p->done + p->rate - 1) / p->rate);
}

/* engine, lock held */
static void job_sample(struct job *j, int64_t now)
{
	if (j->nsamples) {
		unsigned last = (j->nsamples - 1) % RATE_SAMPLES;
		if (now - j->sample_t[last] < SAMPLE_MS)
			return;
	}
	unsigned i = j->nsamples % RATE_SAMPLES;
	j->sample_t[i] = now;
	j->sample_b[i] = j->local ? j->xpos : j->have;
	j->nsamples++;
}

int pull_get_progress(struct pull_engine *e, const char *sha256, struct pull_progress *ret)
{
	int r = -ENOENT;
	pthread_mutex_lock(&e->lock);
	for (struct job *j = e->jobs; j; j = j->next) {
		if (strcmp(j->sha, sha256) == 0) {
			job_progress(j, ret);
			r = 0;
			break;
		}
	}
	for (unsigned i = 0; r < 0 && i < e->nhist && i < HISTORY_MAX; i++) {
		const struct hist *h = &e->hist[(e->nhist - 1 - i) % HISTORY_MAX];
		if (strcmp(h->sha, sha256) == 0) {
			*ret = h->p;
			r = 0;
		}
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

/* ---- jobs: start, cancel, finish ----------------------------------- */

static struct job *job_find(struct pull_engine *e, const char *sha)
{
	for (struct job *j = e->jobs; j; j = j->next)
		if (strcmp(j->sha, sha) == 0)
			return j;
	return NULL;
}

int pull_start(struct pull_engine *e, const struct pull_request *r, struct berr *err)
{
	struct berr ue = { 0 };
	struct stat st;
	int ret = 0;

	if (!r->url || cat_url_check(r->url, &ue) < 0)
		return berr_set(err, EINVAL, "pull: %s", r->url ? ue.msg : "no URL");
	if (!sha256_hex_valid(r->sha256))
		return berr_set(err, EINVAL, "pull: sha256 must be 64 lowercase hex digits");
	if (!r->size || !r->kind || !bundle_main_file(r->kind) || !r->name ||
	    bundle_name_check(r->name, &ue) < 0)
		return berr_set(err, EINVAL, "pull: a size, a kind and a valid name are needed");
	if (!r->dest || r->dest[0] != '/')
		return berr_set(err, EINVAL, "pull: the destination must be an absolute path");
	if (lstat(r->dest, &st) == 0)
		return berr_set(err, EEXIST, "pull: %s already exists", r->dest);

	pthread_mutex_lock(&e->lock);
	if (e->stopping) {
		ret = berr_set(err, ESHUTDOWN, "pull: the engine is stopping");
		goto out;
	}
	struct job *j = job_find(e, r->sha256);
	if (j && (strcmp(j->dest, r->dest) != 0 || j->cancel_req)) {
		ret = berr_set(err, EBUSY, "pull: the same bundle is being %s to %s",
			       j->cancel_req ? "cancelled on its way" : "pulled", j->dest);
		goto out;
	}
	for (struct job *o = e->jobs; !j && o; o = o->next) {
		if (strcmp(o->dest, r->dest) == 0) {
			ret = berr_set(err, EBUSY, "pull: another bundle is being pulled to %s",
				       r->dest);
			goto out;
		}
	}
	if (j) {
		ret = 1;
	} else {
		j = xcalloc(1, sizeof(*j));
		j->type = T_JOB;
		j->e = e;
		memcpy(j->sha, r->sha256, sizeof(j->sha));
		j->url = xstrdup(r->url);
		j->kind = xstrdup(r->kind);
		j->name = xstrdup(r->name);
		j->dest = xstrdup(r->dest);
		j->size = r->size;
		j->max_unpacked = r->max_unpacked;
		j->trusted = r->archive_trusted;
		j->part_fd = -1;
		j->r_length = -1;
		j->state = PULL_RUNNING;
		atomic_init(&j->cancel, false);
		j->next = e->jobs;
		e->jobs = j;
	}
	j->w = xrealloc(j->w, (j->nw + 1) * sizeof(*j->w));
	j->w[j->nw++] = (struct waiter){ r->done, r->opaque };
out:
	pthread_mutex_unlock(&e->lock);
	if (ret >= 0)
		pull_wake(e);
	return ret;
}

int pull_cancel(struct pull_engine *e, const char *sha256, struct berr *err)
{
	int r = 0;
	pthread_mutex_lock(&e->lock);
	struct job *j = job_find(e, sha256);
	if (!j) {
		r = berr_set(err, ENOENT, "no pull of that bundle is running");
	} else {
		j->cancel_req = true;
		atomic_store(&j->cancel, true);
		pthread_cond_broadcast(&e->cond);
	}
	pthread_mutex_unlock(&e->lock);
	if (r == 0)
		pull_wake(e);
	return r;
}

static void job_free(struct job *j)
{
	if (j->part_fd >= 0)
		close(j->part_fd);
	free(j->url);
	free(j->kind);
	free(j->name);
	free(j->dest);
	free(j->src_path);
	free(j->meta_path);
	free(j->w);
	free(j);
}


/* Unlink j, remember how it ended, tell the waiters.  engine */
static void job_finish(struct pull_engine *e, struct job *j, int result, const struct berr *err)
{
	struct hist *h;

	pull_xfer_stop(e, j);
	if (result < 0 && !j->local && j->part_fd >= 0 && j->have == 0)
		pull_part_remove(j); /* an empty partial file is no use to anyone */
	pthread_mutex_lock(&e->lock);
	for (struct job **pp = &e->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	j->state = result == 0 ? PULL_DONE : result == -ECANCELED ? PULL_CANCELLED : PULL_FAILED;
	snprintf(j->last_err, sizeof(j->last_err), "%s", result < 0 && err ? err->msg : "");
	h = &e->hist[e->nhist++ % HISTORY_MAX];
	memcpy(h->sha, j->sha, sizeof(h->sha));
	job_progress(j, &h->p);
	if (result == 0)
		h->p.done = j->size;
	pthread_mutex_unlock(&e->lock);
	for (size_t i = 0; i < j->nw; i++)
		if (j->w[i].done)
			j->w[i].done(j->w[i].opaque, j->dest, result, err);
	job_free(j);
}

/* ---- the engine thread --------------------------------------------- */

/* Remove what a crash left of earlier pulls to the same destination. */
static void sweep_tmp(const struct job *j)
{
	_cleanup_free_ char *parent = pull_dir_of(j->dest);
	_cleanup_free_ char *prefix = xasprintf(".pull-%s.", j->name);
	DIR *d = opendir(parent);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			_cleanup_free_ char *p = path_join(parent, de->d_name);
			rm_rf(p);
		}
	}
	closedir(d);
}

static int job_setup(struct pull_engine *e, struct job *j, struct berr *err)
{
	struct stat st;
	int r;

	j->started = true;
	j->meta_path = xasprintf("%s/%s.part.meta", e->blob_dir, j->sha);
	if (cat_url_is_file(j->url)) {
		j->src_path = cat_url_file_path(j->url);
		if (!j->src_path)
			return berr_set(err, EINVAL, "cannot use the file URL %s", j->url);
		j->local = true;
	} else {
		_cleanup_free_ char *blob = xasprintf("%s/%s", e->blob_dir, j->sha);
		if (stat(blob, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == j->size) {
			j->src_path = TAKE_PTR(blob);
			j->local = true;
		}
	}
	if (j->local) {
		if (stat(j->src_path, &st) < 0)
			return berr_set(err, errno, "cannot use %s: %s", j->src_path, strerror(errno));
		if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != j->size)
			return berr_set(err, EBADMSG, "%s has %lld bytes, the catalog says %llu",
					j->src_path, (long long)st.st_size,
					(unsigned long long)j->size);
		pthread_mutex_lock(&e->lock);
		j->have = j->size;
		j->dl_complete = true;
		j->state = PULL_VERIFYING;
		pthread_mutex_unlock(&e->lock);
	} else {
		if ((r = mkdir_p(e->blob_dir, 0700)) < 0)
			return berr_set(err, -r, "cannot create %s: %s", e->blob_dir, strerror(-r));
		j->src_path = xasprintf("%s/%s.part", e->blob_dir, j->sha);
		j->part_fd = open(j->src_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (j->part_fd < 0 || fstat(j->part_fd, &st) < 0)
			return berr_set(err, errno, "cannot open %s: %s", j->src_path, strerror(errno));
		pull_meta_load(j);
		pthread_mutex_lock(&e->lock);
		j->have = (uint64_t)st.st_size;
		pthread_mutex_unlock(&e->lock);
		j->resumed = st.st_size > 0;
		if ((uint64_t)st.st_size > j->size) {
			pull_part_reset(e, j);
		} else if ((uint64_t)st.st_size == j->size) {
			pthread_mutex_lock(&e->lock);
			j->dl_complete = true;
			j->state = PULL_VERIFYING;
			pthread_mutex_unlock(&e->lock);
		}
		if (!j->dl_complete)
			j->retry_at = mono_ms();
	}
	sweep_tmp(j);
	r = pthread_create(&j->xthread, NULL, pull_unpack_main, j);
	if (r != 0)
		return berr_set(err, r, "cannot start the unpacking thread: %s", strerror(r));
	j->xrunning = true;
	return 0;
}

static bool content_error(int r)
{
	return r == -EBADMSG || r == -EINVAL || r == -EFBIG || r == -ELOOP;
}

/* What the unpacker's end means for the job.  engine */
static void job_unpacked(struct pull_engine *e, struct job *j)
{
	pthread_join(j->xthread, NULL);
	j->xrunning = false;
	if (j->cancelling) {
		struct berr ce;
		berr_set(&ce, ECANCELED, "pull of %s cancelled", j->name);
		job_finish(e, j, -ECANCELED, &ce);
		return;
	}
	if (j->xresult == 0) {
		if (!j->local && e->cfg.keep_blobs) {
			_cleanup_free_ char *blob = xasprintf("%s/%s", e->blob_dir, j->sha);
			if (rename(j->src_path, blob) == 0)
				unlink(j->meta_path);
		} else {
			pull_part_remove(j);
		}
		job_finish(e, j, 0, NULL);
		return;
	}
	if (j->dl_failed) {
		job_finish(e, j, -j->dl_err.code, &j->dl_err);
		return;
	}
	if (content_error(j->xresult) && !j->local) {
		pull_xfer_stop(e, j);
		if (j->resumed && !j->fresh_retry_done) {
			/* The bytes kept from before may be what is wrong: one
			 * more pull, from zero. */
			j->fresh_retry_done = true;
			j->resumed = false;
			pull_part_reset(e, j);
			pthread_mutex_lock(&e->lock);
			j->xdone = false;
			j->dl_complete = false;
			snprintf(j->last_err, sizeof(j->last_err), "%s", j->xerr.msg);
			pthread_mutex_unlock(&e->lock);
			j->attempts = 0;
			j->retry_at = mono_ms();
			if (pthread_create(&j->xthread, NULL, pull_unpack_main, j) == 0) {
				j->xrunning = true;
				return;
			}
		}
		pull_part_remove(j);
	}
	job_finish(e, j, j->xresult, &j->xerr);
}

static void service_jobs(struct pull_engine *e, int64_t now, long *timeout)
{
	struct job *j, *next;

	pthread_mutex_lock(&e->lock);
	j = e->jobs;
	pthread_mutex_unlock(&e->lock);
	for (; j; j = next) {
		if (*timeout > SAMPLE_MS)
			*timeout = SAMPLE_MS; /* a job runs: sample its rate */
		pthread_mutex_lock(&e->lock);
		next = j->next;
		bool cancel = j->cancel_req, xdone = j->xdone, failed = j->dl_failed,
		     complete = j->dl_complete;
		job_sample(j, now);
		pthread_mutex_unlock(&e->lock);
		if (!j->started) {
			struct berr err = { 0 };
			if (job_setup(e, j, &err) < 0) {
				if (j->xrunning) {
					atomic_store(&j->cancel, true);
					pthread_join(j->xthread, NULL);
				}
				job_finish(e, j, -err.code, &err);
				continue;
			}
		}
		if (cancel && !j->cancelling) {
			j->cancelling = true;
			pull_xfer_stop(e, j);
		}
		if (xdone) {
			job_unpacked(e, j);
			continue;
		}
		if (!j->cancelling && !j->xfer_running && !failed && !complete && j->retry_at) {
			if (now >= j->retry_at)
				pull_xfer_start(e, j);
			else if (j->retry_at - now < *timeout)
				*timeout = (long)(j->retry_at - now);
		}
		if (j->verdict == V_FATAL && !j->xfer_running && !failed) {
			/* xfer_start could not even begin */
			pthread_mutex_lock(&e->lock);
			j->dl_failed = true;
			pthread_cond_broadcast(&e->cond);
			pthread_mutex_unlock(&e->lock);
		}
	}
}

/* ---- the loop ------------------------------------------------------ */

static void engine_shutdown(struct pull_engine *e)
{
	struct job *j;
	struct berr err;

	berr_set(&err, ECANCELED, "the pull engine stopped");
	pthread_mutex_lock(&e->lock);
	for (j = e->jobs; j; j = j->next)
		atomic_store(&j->cancel, true);
	pthread_cond_broadcast(&e->cond);
	struct fetch *nf = TAKE_PTR(e->new_fetches);
	pthread_mutex_unlock(&e->lock);
	for (;;) {
		pthread_mutex_lock(&e->lock);
		j = e->jobs;
		pthread_mutex_unlock(&e->lock);
		if (!j)
			break;
		pull_xfer_stop(e, j);
		if (j->xrunning)
			pthread_join(j->xthread, NULL);
		j->xrunning = false;
		job_finish(e, j, -ECANCELED, &err);
	}
	while (e->fetches) {
		struct fetch *f = e->fetches;
		e->fetches = f->next;
		curl_multi_remove_handle(e->multi, f->easy);
		pull_fetch_end(f, 0, &err);
	}
	while (nf) {
		struct fetch *f = nf;
		nf = f->next;
		pull_fetch_end(f, 0, &err);
	}
}

static void *engine_main(void *arg)
{
	struct pull_engine *e = arg;

	/* Per thread on Linux; the threads this one starts inherit it. */
	if (e->cfg.nice > 0)
		(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), e->cfg.nice);

	for (;;) {
		pthread_mutex_lock(&e->lock);
		bool stop = e->stopping;
		struct fetch *nf = stop ? NULL : TAKE_PTR(e->new_fetches);
		pthread_mutex_unlock(&e->lock);
		if (stop)
			break;
		while (nf) {
			struct fetch *f = nf;
			nf = f->next;
			pull_fetch_begin(e, f);
		}
		/* Idle, the thread sleeps until woken (curl_multi_poll also
		 * honours curl's own timers); with jobs, it samples their rate. */
		long timeout = 3600L * 1000;
		service_jobs(e, mono_ms(), &timeout);
		int running = 0;
		curl_multi_perform(e->multi, &running);
		CURLMsg *m;
		int q;
		while ((m = curl_multi_info_read(e->multi, &q))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			void *priv = NULL;
			CURLcode res = m->data.result;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&priv);
			if (*(enum xfer_type *)priv == T_JOB)
				pull_xfer_done(e, priv, res);
			else
				pull_fetch_done(e, priv, res);
		}
		curl_multi_poll(e->multi, NULL, 0, (int)timeout, NULL);
	}
	engine_shutdown(e);
	return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int pull_engine_new(const struct pull_config *c, struct pull_engine **ret, struct berr *err)
{
	struct pull_engine *e;
	int r;

	/* Thread-safe in libcurl >= 7.84 (bookworm has 7.88). */
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return berr_set(err, EIO, "cannot initialise libcurl: %s",
				curl_easy_strerror(curl_init_rc));

	if (!c->cache_dir || c->cache_dir[0] != '/')
		return berr_set(err, EINVAL, "pull engine: the cache directory must be absolute");
	e = xcalloc(1, sizeof(*e));
	e->cfg = *c;
	e->cfg.cache_dir = NULL;
	if (!e->cfg.connect_timeout_s)
		e->cfg.connect_timeout_s = 20;
	if (!e->cfg.stall_timeout_s)
		e->cfg.stall_timeout_s = 30;
	if (!e->cfg.max_attempts)
		e->cfg.max_attempts = 6;
	if (!e->cfg.backoff_ms)
		e->cfg.backoff_ms = 500;
	e->blob_dir = xasprintf("%s/blobs/sha256", c->cache_dir);
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	atomic_init(&e->tmp_seq, 0);
	e->multi = curl_multi_init();
	if (!e->multi) {
		r = berr_set(err, ENOMEM, "cannot create a curl multi handle");
		goto fail;
	}
	if (!c->deferred && (r = pull_engine_start(e, err)) < 0)
		goto fail;
	*ret = e;
	return 0;
fail:
	if (e->multi)
		curl_multi_cleanup(e->multi);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->cond);
	free(e->blob_dir);
	free(e);
	return r;
}

int pull_engine_start(struct pull_engine *e, struct berr *err)
{
	if (e->running)
		return 0;
	int r = pthread_create(&e->thread, NULL, engine_main, e);
	if (r != 0)
		return berr_set(err, r, "cannot start the pull engine thread: %s", strerror(r));
	e->running = true;
	return 0;
}

struct pull_engine *pull_engine_free(struct pull_engine *e)
{
	if (!e)
		return NULL;
	pthread_mutex_lock(&e->lock);
	e->stopping = true;
	pthread_mutex_unlock(&e->lock);
	pull_wake(e);
	if (e->running)
		pthread_join(e->thread, NULL);
	else
		engine_shutdown(e); /* never started: end what was asked, here */
	curl_multi_cleanup(e->multi);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->cond);
	free(e->blob_dir);
	free(e);
	return NULL;
}
