/* core/pull_fetch.c: small documents fetched into memory (catalog
 * indexes and signatures) on the engine's thread (see pull.h). */
#define _GNU_SOURCE
#include "pull_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catindex.h"
#include "util.h"

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
	pull_wake(e);
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

void pull_fetch_end(struct fetch *f, int status, struct berr *err)
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
		pull_header_value(p, len, 5, f->etag, sizeof(f->etag));
	}
	return len;
}

void pull_fetch_begin(struct pull_engine *e, struct fetch *f)
{
	if (cat_url_is_file(f->url)) {
		_cleanup_free_ char *path = cat_url_file_path(f->url);
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		struct berr err = { 0 };
		int r = path ? read_file(path, f->max, &text, &len) : -EINVAL;
		if (r == -ENOENT) {
			pull_fetch_end(f, 404, NULL);
		} else if (r < 0) {
			berr_set(&err, -r, "cannot read %s: %s", path ? path : f->url,
				 r == -EFBIG ? "larger than allowed" : strerror(-r));
			pull_fetch_end(f, 0, &err);
		} else {
			sbuf_add(&f->body, text, len);
			pull_fetch_end(f, 200, NULL);
		}
		return;
	}
	f->easy = curl_easy_init();
	if (!f->easy) {
		struct berr err;
		berr_set(&err, ENOMEM, "cannot create a transfer");
		pull_fetch_end(f, 0, &err);
		return;
	}
	pull_easy_common(e, f->easy, f->url, f, fetch_header, fetch_body);
	curl_easy_setopt(f->easy, CURLOPT_TIMEOUT, (long)FETCH_TIMEOUT_S);
	if (f->inm) {
		_cleanup_free_ char *h = xasprintf("If-None-Match: %s", f->inm);
		f->hdrs = curl_slist_append(NULL, h);
		curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->hdrs);
	}
	curl_multi_add_handle(e->multi, f->easy);
	f->next = e->fetches;
	e->fetches = f;
}

void pull_fetch_done(struct pull_engine *e, struct fetch *f, CURLcode res)
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
		pull_fetch_end(f, 0, &err);
	} else if (res != CURLE_OK) {
		berr_set(&err, EIO, "cannot fetch %s: %s", f->url, curl_easy_strerror(res));
		pull_fetch_end(f, 0, &err);
	} else if (code == 200 || code == 304) {
		pull_fetch_end(f, (int)code, NULL);
	} else if (code == 404 || code == 410) {
		pull_fetch_end(f, 404, NULL);
	} else {
		berr_set(&err, EPROTO, "server answered %ld for %s", code, f->url);
		pull_fetch_end(f, 0, &err);
	}
}

