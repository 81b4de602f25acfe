/* core/pull_http.c: the transfers of bundle pulls: Range + If-Range,
 * the partial file and its validators, what each answer means (see
 * pull.h). */
#define _GNU_SOURCE
#include "pull_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

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

void pull_meta_load(struct job *j)
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

/* Start the .part over from zero.  The generation changes before the file
 * does: an unpacker whose read comes up short then sees why.  engine */
void pull_part_reset(struct pull_engine *e, struct job *j)
{
	pthread_mutex_lock(&e->lock);
	j->have = 0;
	j->gen++;
	j->nsamples = 0;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	if (j->part_fd >= 0 && ftruncate(j->part_fd, 0) < 0) {
		/* The download still writes from 0, and the archive's sum
		 * refuses whatever stale tail stays. */
	}
	unlink(j->meta_path);
	j->etag[0] = j->last_modified[0] = '\0';
}

void pull_part_remove(struct job *j)
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

void pull_header_value(const char *line, size_t n, size_t skip, char *out, size_t len)
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
			pull_part_reset(e, j); /* the resource changed: start over */
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
		pull_header_value(p, len, 5, j->r_etag, sizeof(j->r_etag));
	else if (len > 14 && strncasecmp(p, "Last-Modified:", 14) == 0)
		pull_header_value(p, len, 14, j->r_lm, sizeof(j->r_lm));
	else if (len > 14 && strncasecmp(p, "Content-Range:", 14) == 0)
		pull_header_value(p, len, 14, j->r_range, sizeof(j->r_range));
	else if (len > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
		char v[32];
		uint64_t x;
		pull_header_value(p, len, 15, v, sizeof(v));
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

/* What every transfer shares: http(s) only, also after a redirect; no
 * signals (threads); bounded connect; proxies from the environment
 * (libcurl's default when CURLOPT_PROXY is not set). */
void pull_easy_common(struct pull_engine *e, CURL *c, const char *u, void *priv,
			curl_cb on_hdr, curl_cb on_data)
{
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_PRIVATE, priv);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, e->cfg.connect_timeout_s);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "banger/" BANGER_VERSION);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_hdr);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, priv);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, priv);
}

void pull_xfer_start(struct pull_engine *e, struct job *j)
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
	pull_easy_common(e, j->easy, j->url, j, on_header, on_body);
	curl_easy_setopt(j->easy, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(j->easy, CURLOPT_LOW_SPEED_TIME, e->cfg.stall_timeout_s);
	curl_easy_setopt(j->easy, CURLOPT_BUFFERSIZE, 256L * 1024);
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

void pull_xfer_done(struct pull_engine *e, struct job *j, CURLcode res)
{
	enum verdict v = j->verdict;
	uint64_t have;

	pull_xfer_stop(e, j);
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
		pull_part_reset(e, j);
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
		pull_part_reset(e, j);
	pthread_mutex_lock(&e->lock);
	j->dl_failed = true;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

void pull_xfer_stop(struct pull_engine *e, struct job *j)
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
