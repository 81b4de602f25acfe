/* core/pull.c: the pull engine (see pull.h).
 *
 * Threads: the engine thread owns the curl multi handle, every easy
 * handle, the .part descriptors and every field marked "engine"; each
 * bundle pull has an unpacking thread (xmain) that reads the .part as it
 * grows.  e->lock guards the job list, the fields marked "lock", and the
 * history; e->cond wakes unpackers waiting for bytes.  Callbacks to the
 * caller run on the engine thread with no lock held. */
#define _GNU_SOURCE
#include "pull.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "catindex.h"
#include "util.h"

#define HISTORY_MAX 64
#define RATE_SAMPLES 24          /* one per 250 ms: 6 s of history */
#define SAMPLE_MS 250
#define BACKOFF_MAX_MS 30000
#define FETCH_TIMEOUT_S 60
#ifndef BANGER_VERSION
#define BANGER_VERSION "dev"
#endif

enum xfer_type { T_JOB, T_FETCH };

enum verdict {
	V_NONE,
	V_TRANSIENT,  /* retry, resuming */
	V_DISCARD,    /* drop the partial file, retry from zero */
	V_FATAL,      /* give up, keep the partial file */
	V_FATAL_BAD,  /* give up, the partial file is wrong: drop it */
};

struct waiter {
	pull_done_fn done;
	void *opaque;
};

struct job {
	enum xfer_type type;     /* T_JOB: first, for CURLOPT_PRIVATE */
	struct job *next;        /* lock */
	struct pull_engine *e;
	char sha[SHA256_HEX_LEN + 1];
	char *url, *kind, *name, *dest;
	uint64_t size, max_unpacked;
	struct waiter *w;        /* lock */
	size_t nw;               /* lock */

	/* engine */
	bool started, local, cancelling, fresh_retry_done, xfer_running;
	bool resumed;            /* bytes from an earlier attempt or pull were kept */
	char *src_path, *meta_path;
	int part_fd;
	CURL *easy;
	struct curl_slist *hdrs;
	uint64_t req_from, attempt_from;
	long status;
	bool headers_done;
	char etag[256], last_modified[128];          /* validators of the .part */
	char r_etag[256], r_lm[128], r_range[128];   /* of the response */
	int64_t r_length;                            /* Content-Length, -1 = none */
	enum verdict verdict;
	struct berr dl_err;
	int attempts, total_attempts;
	int64_t retry_at;        /* mono ms, 0 = none */
	int64_t sample_t[RATE_SAMPLES];
	uint64_t sample_b[RATE_SAMPLES];
	unsigned nsamples;       /* lock (read by pull_get_progress) */

	/* lock: shared with the unpacker */
	uint64_t have;           /* bytes in the .part (local: the file's size) */
	unsigned gen;            /* bumped when the .part restarts from zero */
	bool dl_complete, dl_failed;
	uint64_t xpos;           /* bytes the unpacker has read */
	bool cancel_req;
	enum pull_state state;
	char last_err[BERR_MSG_MAX];
	atomic_bool cancel;

	/* unpacker */
	pthread_t xthread;
	bool xrunning;           /* engine: created, not joined */
	bool xdone;              /* lock */
	int xresult;
	struct berr xerr;
};

struct fetch {
	enum xfer_type type;     /* T_FETCH */
	struct fetch *next;
	char *url, *inm;
	size_t max;
	pull_fetch_fn cb;
	void *opaque;
	CURL *easy;
	struct curl_slist *hdrs;
	struct sbuf body;
	bool too_big;
	char etag[256];
};

struct hist {
	char sha[SHA256_HEX_LEN + 1];
	struct pull_progress p;
};

struct pull_engine {
	struct pull_config cfg;
	char *blob_dir;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	CURLM *multi;
	struct job *jobs;          /* lock */
	struct fetch *new_fetches; /* lock */
	struct fetch *fetches;     /* engine */
	struct hist hist[HISTORY_MAX]; /* lock */
	unsigned nhist;            /* lock */
	bool stopping;             /* lock */
	atomic_uint tmp_seq;
};

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

static void wake(struct pull_engine *e)
{
	curl_multi_wakeup(e->multi);
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
		wake(e);
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
		wake(e);
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

static void xfer_stop(struct pull_engine *e, struct job *j)
{
	if (j->easy) {
		curl_multi_remove_handle(e->multi, j->easy);
		curl_easy_cleanup(j->easy);
		j->easy = NULL;
	}
	curl_slist_free_all(j->hdrs);
	j->hdrs = NULL;
	j->xfer_running = false;
}

static void part_remove(struct job *j);

/* Unlink j, remember how it ended, tell the waiters.  engine */
static void job_finish(struct pull_engine *e, struct job *j, int result, const struct berr *err)
{
	struct hist *h;

	xfer_stop(e, j);
	if (result < 0 && !j->local && j->part_fd >= 0 && j->have == 0)
		part_remove(j); /* an empty partial file is no use to anyone */
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

/* ---- the .part and its validators ---------------------------------- */

static void meta_save(struct job *j)
{
	json_t *m = json_pack("{s:s, s:s, s:s}", "url", j->url, "etag", j->etag,
			      "last_modified", j->last_modified);
	char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	if (text)
		(void)write_file_atomic(j->meta_path, text, strlen(text), 0600);
	free(text);
	json_decref(m);
}

static void meta_load(struct job *j)
{
	_cleanup_free_ char *text = NULL;
	j->etag[0] = j->last_modified[0] = '\0';
	if (read_file(j->meta_path, 16384, &text, NULL) < 0)
		return;
	json_t *m = json_loads(text, 0, NULL);
	const char *url = json_string_value(json_object_get(m, "url"));
	const char *et = json_string_value(json_object_get(m, "etag"));
	const char *lm = json_string_value(json_object_get(m, "last_modified"));
	/* Validators of another server mean nothing for this URL. */
	if (url && strcmp(url, j->url) == 0) {
		snprintf(j->etag, sizeof(j->etag), "%s", et ? et : "");
		snprintf(j->last_modified, sizeof(j->last_modified), "%s", lm ? lm : "");
	}
	json_decref(m);
}

/* Start the .part over from zero.  engine */
static void part_reset(struct pull_engine *e, struct job *j)
{
	if (j->part_fd >= 0)
		(void)ftruncate(j->part_fd, 0);
	unlink(j->meta_path);
	j->etag[0] = j->last_modified[0] = '\0';
	pthread_mutex_lock(&e->lock);
	j->have = 0;
	j->gen++;
	j->nsamples = 0;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

static void part_remove(struct job *j)
{
	if (j->local)
		return;
	_cleanup_free_ char *part = xasprintf("%s/%s.part", j->e->blob_dir, j->sha);
	unlink(part);
	unlink(j->meta_path);
}

/* ---- curl callbacks (engine thread, inside curl_multi_perform) ------ */

static void set_verdict(struct job *j, enum verdict v, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void set_verdict(struct job *j, enum verdict v, int code, const char *fmt, ...)
{
	va_list ap;
	char msg[BERR_MSG_MAX];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j->verdict = v;
	berr_set(&j->dl_err, code, "%s", msg);
}

static void header_value(const char *line, size_t n, size_t skip, char *out, size_t len)
{
	const char *p = line + skip, *end = line + n;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	size_t l = (size_t)(end - p);
	if (l >= len)
		l = len - 1;
	memcpy(out, p, l);
	out[l] = '\0';
}

static bool parse_range(const char *s, uint64_t *a, uint64_t *b, uint64_t *total, bool *has_total)
{
	char star;
	unsigned long long x, y, t;
	if (sscanf(s, "bytes %llu-%llu/%llu", &x, &y, &t) == 3) {
		*a = x, *b = y, *total = t, *has_total = true;
		return x <= y;
	}
	if (sscanf(s, "bytes %llu-%llu/%c", &x, &y, &star) == 3 && star == '*') {
		*a = x, *b = y, *has_total = false;
		return x <= y;
	}
	return false;
}

/* The final response's headers are in: decide what to do with it. */
static bool headers_end(struct pull_engine *e, struct job *j)
{
	long code = j->status;
	uint64_t a = 0, b = 0, total = 0;
	bool has_total = false;

	if (code == 206) {
		if (!parse_range(j->r_range, &a, &b, &total, &has_total) || a != j->req_from ||
		    b >= j->size || (has_total && total != j->size)) {
			set_verdict(j, V_DISCARD, EBADMSG,
				    "server answered bytes %llu- with Content-Range '%.60s'",
				    (unsigned long long)j->req_from, j->r_range);
			return false;
		}
		return true;
	}
	if (code == 200) {
		if (j->r_length >= 0 && (uint64_t)j->r_length != j->size) {
			set_verdict(j, V_FATAL, EBADMSG,
				    "server says %s has %lld bytes, the catalog says %llu", j->url,
				    (long long)j->r_length, (unsigned long long)j->size);
			return false;
		}
		if (j->req_from > 0)
			part_reset(e, j); /* the resource changed: start over */
		j->req_from = 0;
		/* A weak ETag cannot serve If-Range (RFC 9110 13.1.5). */
		snprintf(j->etag, sizeof(j->etag), "%s",
			 strncmp(j->r_etag, "W/", 2) == 0 ? "" : j->r_etag);
		snprintf(j->last_modified, sizeof(j->last_modified), "%s", j->r_lm);
		meta_save(j);
		return true;
	}
	if (code == 416) {
		set_verdict(j, V_DISCARD, EBADMSG, "server refused the range bytes=%llu-",
			    (unsigned long long)j->req_from);
		return false;
	}
	if (code == 408 || code == 429 || code >= 500) {
		set_verdict(j, V_TRANSIENT, EAGAIN, "server answered %ld for %s", code, j->url);
		return false;
	}
	set_verdict(j, V_FATAL, code == 404 || code == 410 ? ENOENT : EPROTO,
		    "server answered %ld for %s", code, j->url);
	return false;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct job *j = ud;
	size_t len = sz * n;

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		j->r_etag[0] = j->r_lm[0] = j->r_range[0] = '\0';
		j->r_length = -1;
		j->headers_done = false;
		return len;
	}
	if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
		long code = 0;
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 300 && code < 400)
			return len; /* a redirect: curl follows it */
		j->status = code;
		j->headers_done = true;
		return headers_end(j->e, j) ? len : 0;
	}
	if (len > 5 && strncasecmp(p, "ETag:", 5) == 0)
		header_value(p, len, 5, j->r_etag, sizeof(j->r_etag));
	else if (len > 14 && strncasecmp(p, "Last-Modified:", 14) == 0)
		header_value(p, len, 14, j->r_lm, sizeof(j->r_lm));
	else if (len > 14 && strncasecmp(p, "Content-Range:", 14) == 0)
		header_value(p, len, 14, j->r_range, sizeof(j->r_range));
	else if (len > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
		char v[32];
		uint64_t x;
		header_value(p, len, 15, v, sizeof(v));
		j->r_length = parse_u64(v, &x) == 0 && x <= INT64_MAX ? (int64_t)x : -1;
	}
	return len;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct job *j = ud;
	struct pull_engine *e = j->e;
	size_t len = sz * n;
	uint64_t have;

	if (!j->headers_done)
		return len; /* the body of a response we did not keep */
	pthread_mutex_lock(&e->lock);
	have = j->have;
	pthread_mutex_unlock(&e->lock);
	if (len > j->size - have) {
		set_verdict(j, V_FATAL_BAD, EBADMSG,
			    "server sent more than the %llu bytes the catalog gives for %s",
			    (unsigned long long)j->size, j->url);
		return 0;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = pwrite(j->part_fd, p + off, len - off, (off_t)(have + off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int er = errno;
			set_verdict(j, V_FATAL, er, "writing the download to %s failed: %s",
				    e->blob_dir, strerror(er));
			return 0;
		}
		off += (size_t)w;
	}
	pthread_mutex_lock(&e->lock);
	j->have = have + len;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	return len;
}

/* ---- transfers ----------------------------------------------------- */

static void xfer_start(struct pull_engine *e, struct job *j)
{
	char range[64], hdr[300];
	uint64_t have;

	pthread_mutex_lock(&e->lock);
	have = j->have;
	j->state = PULL_RUNNING;
	pthread_mutex_unlock(&e->lock);
	j->retry_at = 0;
	j->verdict = V_NONE;
	j->status = 0;
	j->headers_done = false;
	j->req_from = j->attempt_from = have;
	j->total_attempts++;
	if (have > 0)
		j->resumed = true;
	berr_clear(&j->dl_err);
	j->easy = curl_easy_init();
	if (!j->easy) {
		set_verdict(j, V_FATAL, ENOMEM, "cannot create a transfer");
		return;
	}
	curl_easy_setopt(j->easy, CURLOPT_URL, j->url);
	curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
	curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(j->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(j->easy, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(j->easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	curl_easy_setopt(j->easy, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(j->easy, CURLOPT_CONNECTTIMEOUT, e->cfg.connect_timeout_s);
	curl_easy_setopt(j->easy, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(j->easy, CURLOPT_LOW_SPEED_TIME, e->cfg.stall_timeout_s);
	curl_easy_setopt(j->easy, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(j->easy, CURLOPT_USERAGENT, "banger/" BANGER_VERSION);
	curl_easy_setopt(j->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(j->easy, CURLOPT_HEADERDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, j);
	if (have > 0) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)have);
		curl_easy_setopt(j->easy, CURLOPT_RANGE, range);
		/* Without a validator of this URL's server (the bytes came from
		 * another mirror, or it gives none) the range is asked for
		 * plainly: the bundle's sha256 catches a mismatch, and the pull
		 * then starts over from zero once (job_unpacked). */
		if (j->etag[0] || j->last_modified[0]) {
			snprintf(hdr, sizeof(hdr), "If-Range: %s",
				 j->etag[0] ? j->etag : j->last_modified);
			j->hdrs = curl_slist_append(NULL, hdr);
			curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->hdrs);
		}
	}
	curl_multi_add_handle(e->multi, j->easy);
	j->xfer_running = true;
}

static bool transient_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static void xfer_done(struct pull_engine *e, struct job *j, CURLcode res)
{
	enum verdict v = j->verdict;
	uint64_t have;

	xfer_stop(e, j);
	pthread_mutex_lock(&e->lock);
	have = j->have;
	pthread_mutex_unlock(&e->lock);
	if (v == V_NONE) {
		if (res == CURLE_OK && have == j->size) {
			pthread_mutex_lock(&e->lock);
			j->dl_complete = true;
			j->state = PULL_VERIFYING;
			pthread_cond_broadcast(&e->cond);
			pthread_mutex_unlock(&e->lock);
			return;
		}
		if (res == CURLE_OK)
			set_verdict(j, V_TRANSIENT, EPIPE,
				    "server ended the transfer after %llu of %llu bytes",
				    (unsigned long long)have, (unsigned long long)j->size);
		else
			set_verdict(j, transient_curl(res) ? V_TRANSIENT : V_FATAL, EIO,
				    "downloading %s failed after %llu of %llu bytes: %s", j->url,
				    (unsigned long long)have, (unsigned long long)j->size,
				    curl_easy_strerror(res));
		v = j->verdict;
	}
	if (v == V_DISCARD) {
		part_reset(e, j);
		v = V_TRANSIENT;
	}
	if (v == V_TRANSIENT) {
		if (have > j->attempt_from)
			j->attempts = 0; /* it moved: not a hard failure */
		if (++j->attempts < e->cfg.max_attempts) {
			long delay = e->cfg.backoff_ms;
			for (int i = 1; i < j->attempts && delay < BACKOFF_MAX_MS; i++)
				delay *= 2;
			if (delay > BACKOFF_MAX_MS)
				delay = BACKOFF_MAX_MS;
			j->retry_at = mono_ms() + delay;
			pthread_mutex_lock(&e->lock);
			j->state = PULL_RETRYING;
			snprintf(j->last_err, sizeof(j->last_err), "%s", j->dl_err.msg);
			pthread_mutex_unlock(&e->lock);
			return;
		}
		berr_wrap(&j->dl_err, "giving up after %d attempts", j->total_attempts);
	}
	if (v == V_FATAL_BAD)
		part_reset(e, j);
	pthread_mutex_lock(&e->lock);
	j->dl_failed = true;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

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

static char *dir_of(const char *path)
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
		.cancel = &j->cancel, .no_sync = e->cfg.no_sync,
	};
	struct bundle_source src = { psrc_read, &s };
	_cleanup_free_ char *parent = dir_of(j->dest);
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

static void *xmain(void *arg)
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
	wake(e);
	return NULL;
}

/* ---- the engine thread --------------------------------------------- */

/* Remove what a crash left of earlier pulls to the same destination. */
static void sweep_tmp(const struct job *j)
{
	_cleanup_free_ char *parent = dir_of(j->dest);
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
		meta_load(j);
		pthread_mutex_lock(&e->lock);
		j->have = (uint64_t)st.st_size;
		pthread_mutex_unlock(&e->lock);
		j->resumed = st.st_size > 0;
		if ((uint64_t)st.st_size > j->size) {
			part_reset(e, j);
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
	r = pthread_create(&j->xthread, NULL, xmain, j);
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
			part_remove(j);
		}
		job_finish(e, j, 0, NULL);
		return;
	}
	if (j->dl_failed) {
		job_finish(e, j, -j->dl_err.code, &j->dl_err);
		return;
	}
	if (content_error(j->xresult) && !j->local) {
		xfer_stop(e, j);
		if (j->resumed && !j->fresh_retry_done) {
			/* The bytes kept from before may be what is wrong: one
			 * more pull, from zero. */
			j->fresh_retry_done = true;
			j->resumed = false;
			part_reset(e, j);
			pthread_mutex_lock(&e->lock);
			j->xdone = false;
			j->dl_complete = false;
			snprintf(j->last_err, sizeof(j->last_err), "%s", j->xerr.msg);
			pthread_mutex_unlock(&e->lock);
			j->attempts = 0;
			j->retry_at = mono_ms();
			if (pthread_create(&j->xthread, NULL, xmain, j) == 0) {
				j->xrunning = true;
				return;
			}
		}
		part_remove(j);
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
			xfer_stop(e, j);
		}
		if (xdone) {
			job_unpacked(e, j);
			continue;
		}
		if (!j->cancelling && !j->xfer_running && !failed && !complete && j->retry_at) {
			if (now >= j->retry_at)
				xfer_start(e, j);
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
		if (*timeout > SAMPLE_MS)
			*timeout = SAMPLE_MS;
	}
}

/* ---- small fetches ------------------------------------------------- */

int pull_fetch(struct pull_engine *e, const char *url, const char *if_none_match,
	       size_t max_bytes, pull_fetch_fn cb, void *opaque, struct berr *err)
{
	struct berr ue = { 0 };
	if (cat_url_check(url, &ue) < 0)
		return berr_set(err, EINVAL, "fetch: %s", ue.msg);
	struct fetch *f = xcalloc(1, sizeof(*f));
	f->type = T_FETCH;
	f->url = xstrdup(url);
	f->inm = if_none_match && *if_none_match ? xstrdup(if_none_match) : NULL;
	f->max = max_bytes;
	f->cb = cb;
	f->opaque = opaque;
	sbuf_init(&f->body);
	pthread_mutex_lock(&e->lock);
	if (e->stopping) {
		pthread_mutex_unlock(&e->lock);
		free(f->url);
		free(f->inm);
		free(f);
		return berr_set(err, ESHUTDOWN, "fetch: the engine is stopping");
	}
	f->next = e->new_fetches;
	e->new_fetches = f;
	pthread_mutex_unlock(&e->lock);
	wake(e);
	return 0;
}

static void fetch_free(struct fetch *f)
{
	if (f->easy)
		curl_easy_cleanup(f->easy);
	curl_slist_free_all(f->hdrs);
	sbuf_free(&f->body);
	free(f->url);
	free(f->inm);
	free(f);
}

static void fetch_end(struct fetch *f, int status, struct berr *err)
{
	struct pull_fetch_result res = { .status = status };
	if (status == 200) {
		res.len = f->body.len;
		res.body = sbuf_steal(&f->body);
	}
	if (f->etag[0])
		res.etag = xstrdup(f->etag);
	if (err)
		res.err = *err;
	f->cb(f->opaque, &res);
	free(res.body);
	free(res.etag);
	fetch_free(f);
}

static size_t fetch_body(char *p, size_t sz, size_t n, void *ud)
{
	struct fetch *f = ud;
	size_t len = sz * n;
	if (f->body.len + len > f->max) {
		f->too_big = true;
		return 0;
	}
	sbuf_add(&f->body, p, len);
	return len;
}

static size_t fetch_header(char *p, size_t sz, size_t n, void *ud)
{
	struct fetch *f = ud;
	size_t len = sz * n;
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		f->etag[0] = '\0';
		f->body.len = 0;
	} else if (len > 5 && strncasecmp(p, "ETag:", 5) == 0) {
		header_value(p, len, 5, f->etag, sizeof(f->etag));
	}
	return len;
}

static void fetch_begin(struct pull_engine *e, struct fetch *f)
{
	if (cat_url_is_file(f->url)) {
		_cleanup_free_ char *path = cat_url_file_path(f->url);
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		struct berr err = { 0 };
		int r = path ? read_file(path, f->max, &text, &len) : -EINVAL;
		if (r == -ENOENT) {
			fetch_end(f, 404, NULL);
		} else if (r < 0) {
			berr_set(&err, -r, "cannot read %s: %s", path ? path : f->url,
				 r == -EFBIG ? "larger than allowed" : strerror(-r));
			fetch_end(f, 0, &err);
		} else {
			sbuf_add(&f->body, text, len);
			fetch_end(f, 200, NULL);
		}
		return;
	}
	f->easy = curl_easy_init();
	if (!f->easy) {
		struct berr err;
		berr_set(&err, ENOMEM, "cannot create a transfer");
		fetch_end(f, 0, &err);
		return;
	}
	curl_easy_setopt(f->easy, CURLOPT_URL, f->url);
	curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
	curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(f->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(f->easy, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(f->easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	curl_easy_setopt(f->easy, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT, e->cfg.connect_timeout_s);
	curl_easy_setopt(f->easy, CURLOPT_TIMEOUT, (long)FETCH_TIMEOUT_S);
	curl_easy_setopt(f->easy, CURLOPT_USERAGENT, "banger/" BANGER_VERSION);
	curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, fetch_body);
	curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(f->easy, CURLOPT_HEADERFUNCTION, fetch_header);
	curl_easy_setopt(f->easy, CURLOPT_HEADERDATA, f);
	if (f->inm) {
		_cleanup_free_ char *h = xasprintf("If-None-Match: %s", f->inm);
		f->hdrs = curl_slist_append(NULL, h);
		curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->hdrs);
	}
	curl_multi_add_handle(e->multi, f->easy);
	f->next = e->fetches;
	e->fetches = f;
}

static void fetch_done(struct pull_engine *e, struct fetch *f, CURLcode res)
{
	struct berr err = { 0 };
	long code = 0;

	for (struct fetch **pp = &e->fetches; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	curl_multi_remove_handle(e->multi, f->easy);
	curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
	if (f->too_big) {
		berr_set(&err, EFBIG, "%s is larger than %zu bytes", f->url, f->max);
		fetch_end(f, 0, &err);
	} else if (res != CURLE_OK) {
		berr_set(&err, EIO, "cannot fetch %s: %s", f->url, curl_easy_strerror(res));
		fetch_end(f, 0, &err);
	} else if (code == 200 || code == 304) {
		fetch_end(f, (int)code, NULL);
	} else if (code == 404 || code == 410) {
		fetch_end(f, 404, NULL);
	} else {
		berr_set(&err, EPROTO, "server answered %ld for %s", code, f->url);
		fetch_end(f, 0, &err);
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
		xfer_stop(e, j);
		if (j->xrunning)
			pthread_join(j->xthread, NULL);
		j->xrunning = false;
		job_finish(e, j, -ECANCELED, &err);
	}
	while (e->fetches) {
		struct fetch *f = e->fetches;
		e->fetches = f->next;
		curl_multi_remove_handle(e->multi, f->easy);
		fetch_end(f, 0, &err);
	}
	while (nf) {
		struct fetch *f = nf;
		nf = f->next;
		fetch_end(f, 0, &err);
	}
}

static void *engine_main(void *arg)
{
	struct pull_engine *e = arg;

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
			fetch_begin(e, f);
		}
		long timeout = 1000;
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
				xfer_done(e, priv, res);
			else
				fetch_done(e, priv, res);
		}
		curl_multi_poll(e->multi, NULL, 0, (int)timeout, NULL);
	}
	engine_shutdown(e);
	return NULL;
}

int pull_engine_new(const struct pull_config *c, struct pull_engine **ret, struct berr *err)
{
	struct pull_engine *e;
	int r;

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
	r = pthread_create(&e->thread, NULL, engine_main, e);
	if (r != 0) {
		r = berr_set(err, r, "cannot start the pull engine thread: %s", strerror(r));
		goto fail;
	}
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

struct pull_engine *pull_engine_free(struct pull_engine *e)
{
	if (!e)
		return NULL;
	pthread_mutex_lock(&e->lock);
	e->stopping = true;
	pthread_mutex_unlock(&e->lock);
	wake(e);
	pthread_join(e->thread, NULL);
	curl_multi_cleanup(e->multi);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->cond);
	free(e->blob_dir);
	free(e);
	return NULL;
}
