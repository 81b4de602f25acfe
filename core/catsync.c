/* core/catsync.c: catalogs, last good indexes, refreshes (see catsync.h).
 *
 * s->lock guards every source's fields; fetch callbacks (engine thread)
 * take it briefly and never call out while holding it. */
#define _GNU_SOURCE
#include "catsync.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define SIG_MAX 4096

struct source {
	struct catsync *s;
	char *url, *sig_url, *dir;
	struct cat_index *ix;     /* last good, or NULL */
	bool verified;
	char etag[256];
	int64_t fetched_at;       /* realtime ms: when this index was fetched */
	int64_t checked_at;       /* realtime ms: the server last confirmed it */
	bool refreshing;
	bool failed;              /* the last refresh failed (err says why) */
	char err[BERR_MSG_MAX];
	/* in flight (engine thread only) */
	char *body;
	size_t len;
	char *new_etag;
};

struct catsync {
	struct catsync_config cfg;
	struct pull_engine *e;
	void *key;                /* EVP_PKEY or NULL */
	char arch[65];
	struct source *src;
	size_t n;
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* a refresh ended */
};

static char *url_hash_dir(const char *state_dir, const char *url)
{
	struct sha256 h;
	char hex[SHA256_HEX_LEN + 1];
	if (sha256_begin(&h) < 0)
		abort();
	sha256_feed(&h, url, strlen(url));
	sha256_end(&h, hex);
	return xasprintf("%s/catalogs/%.16s", state_dir, hex);
}

/* Check and parse an index; on success the source holds it.  lock held */
static int adopt(struct source *src, const char *body, size_t len, const void *sig,
		 size_t siglen, struct berr *err)
{
	struct cat_index *ix = NULL;
	bool verified;
	int r = cat_index_trust(src->url, body, len, sig, siglen, src->s->key,
				src->s->cfg.insecure, &verified, err);
	if (r < 0)
		return r;
	if ((r = cat_index_parse(body, len, src->url, &ix, err)) < 0)
		return r;
	cat_index_free(src->ix);
	src->ix = ix;
	src->verified = verified;
	return 0;
}

static void load_last_good(struct source *src)
{
	_cleanup_free_ char *ipath = path_join(src->dir, "index.json");
	_cleanup_free_ char *spath = path_join(src->dir, "index.json.sig");
	_cleanup_free_ char *mpath = path_join(src->dir, "meta.json");
	_cleanup_free_ char *body = NULL, *sig = NULL, *meta = NULL;
	size_t len = 0, siglen = 0;
	struct berr err = { 0 };

	if (read_file(ipath, CAT_INDEX_MAX_BYTES, &body, &len) < 0 ||
	    read_file(mpath, 16384, &meta, NULL) < 0)
		return;
	if (read_file(spath, SIG_MAX, &sig, &siglen) < 0)
		sig = NULL;
	json_t *m = json_loads(meta, 0, NULL);
	const char *url = json_string_value(json_object_get(m, "url"));
	if (url && strcmp(url, src->url) == 0) {
		if (adopt(src, body, len, sig, siglen, &err) == 0) {
			const char *et = json_string_value(json_object_get(m, "etag"));
			snprintf(src->etag, sizeof(src->etag), "%s", et ? et : "");
			src->fetched_at = json_integer_value(json_object_get(m, "fetched_at"));
			src->checked_at = json_integer_value(json_object_get(m, "checked_at"));
		} else {
			berr_wrap(&err, "the copy kept on disk was refused");
			snprintf(src->err, sizeof(src->err), "%s", err.msg);
			src->failed = true;
		}
	}
	json_decref(m);
}

static void save_meta(const struct source *src)
{
	_cleanup_free_ char *mpath = path_join(src->dir, "meta.json");
	json_t *m = json_pack("{s:s, s:s, s:I, s:I}", "url", src->url, "etag", src->etag,
			      "fetched_at", (json_int_t)src->fetched_at, "checked_at",
			      (json_int_t)src->checked_at);
	char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	if (text)
		(void)write_file_atomic(mpath, text, strlen(text), 0600);
	free(text);
	json_decref(m);
}

/* lock held */
static void save_copy(const struct source *src, const char *sig, size_t siglen)
{
	_cleanup_free_ char *ipath = path_join(src->dir, "index.json");
	_cleanup_free_ char *spath = path_join(src->dir, "index.json.sig");
	if (mkdir_p(src->dir, 0700) < 0)
		return;
	if (sig)
		(void)write_file_atomic(spath, sig, siglen, 0600);
	else
		unlink(spath);
	(void)write_file_atomic(ipath, src->body, src->len, 0600);
	save_meta(src);
}

static void refresh_end(struct source *src, const struct berr *err, bool changed)
{
	struct catsync *s = src->s;
	free(src->body);
	free(src->new_etag);
	src->body = src->new_etag = NULL;
	/* Tell the caller before a waiter can see the refresh ended. */
	if (changed && s->cfg.changed)
		s->cfg.changed(s->cfg.opaque);
	pthread_mutex_lock(&s->lock);
	src->refreshing = false;
	src->failed = err != NULL;
	snprintf(src->err, sizeof(src->err), "%s", err ? err->msg : "");
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void on_sig(void *opaque, struct pull_fetch_result *res)
{
	struct source *src = opaque;
	struct catsync *s = src->s;
	struct berr err = { 0 };
	int r;

	if (res->status == 0) {
		refresh_end(src, &res->err, false);
		return;
	}
	const char *sig = res->status == 200 ? res->body : NULL;
	size_t siglen = res->status == 200 ? res->len : 0;
	pthread_mutex_lock(&s->lock);
	r = adopt(src, src->body, src->len, sig, siglen, &err);
	if (r == 0) {
		snprintf(src->etag, sizeof(src->etag), "%s", src->new_etag ? src->new_etag : "");
		src->fetched_at = src->checked_at = now_ms();
		save_copy(src, sig, siglen);
	}
	pthread_mutex_unlock(&s->lock);
	refresh_end(src, r < 0 ? &err : NULL, r == 0);
}

static void on_index(void *opaque, struct pull_fetch_result *res)
{
	struct source *src = opaque;
	struct catsync *s = src->s;
	struct berr err = { 0 };

	switch (res->status) {
	case 304:
		pthread_mutex_lock(&s->lock);
		src->checked_at = now_ms();
		save_meta(src);
		pthread_mutex_unlock(&s->lock);
		refresh_end(src, NULL, false);
		return;
	case 200:
		src->body = TAKE_PTR(res->body);
		src->len = res->len;
		src->new_etag = TAKE_PTR(res->etag);
		if (pull_fetch(s->e, src->sig_url, NULL, SIG_MAX, on_sig, src, &err) < 0)
			refresh_end(src, &err, false);
		return;
	case 404:
		berr_set(&err, ENOENT, "catalog index %s does not exist", src->url);
		refresh_end(src, &err, false);
		return;
	default:
		refresh_end(src, &res->err, false);
	}
}

int catsync_new(const struct catsync_config *c, struct pull_engine *e, struct catsync **ret,
		struct berr *err)
{
	struct catsync *s = xcalloc(1, sizeof(*s));
	struct utsname u;
	int r;

	s->cfg = *c;
	s->cfg.urls = NULL;
	s->cfg.pubkey = NULL;
	s->cfg.state_dir = NULL;
	s->cfg.arch = NULL;
	if (!s->cfg.ttl_s)
		s->cfg.ttl_s = 3600;
	s->e = e;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	if (c->arch)
		snprintf(s->arch, sizeof(s->arch), "%s", c->arch);
	else if (uname(&u) == 0)
		snprintf(s->arch, sizeof(s->arch), "%s", u.machine);
	if (c->pubkey && *c->pubkey && (r = cat_pubkey_load(c->pubkey, &s->key, err)) < 0)
		goto fail;
	s->src = xcalloc(c->n_urls ? c->n_urls : 1, sizeof(*s->src));
	for (size_t i = 0; i < c->n_urls; i++) {
		struct source *src = &s->src[i];
		src->s = s;
		src->url = cat_index_url(c->urls[i]);
		s->n++;
		if ((r = cat_url_check(src->url, err)) < 0) {
			berr_wrap(err, "catalog_url");
			goto fail;
		}
		src->sig_url = xasprintf("%s.sig", src->url);
		src->dir = url_hash_dir(c->state_dir, src->url);
		load_last_good(src);
	}
	*ret = s;
	return 0;
fail:
	catsync_free(s);
	return r;
}

struct catsync *catsync_free(struct catsync *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		struct source *src = &s->src[i];
		free(src->url);
		free(src->sig_url);
		free(src->dir);
		free(src->body);
		free(src->new_etag);
		cat_index_free(src->ix);
	}
	free(s->src);
	cat_pubkey_free(s->key);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
	return NULL;
}

int catsync_refresh(struct catsync *s, bool force)
{
	int started = 0;
	int64_t now = now_ms();

	for (size_t i = 0; i < s->n; i++) {
		struct source *src = &s->src[i];
		char etag[256];
		pthread_mutex_lock(&s->lock);
		bool go = !src->refreshing &&
			  (force || !src->ix || now - src->checked_at >= s->cfg.ttl_s * 1000);
		if (go)
			src->refreshing = true;
		snprintf(etag, sizeof(etag), "%s", src->ix ? src->etag : "");
		pthread_mutex_unlock(&s->lock);
		if (!go)
			continue;
		struct berr err = { 0 };
		if (pull_fetch(s->e, src->url, etag[0] ? etag : NULL, CAT_INDEX_MAX_BYTES, on_index,
			       src, &err) < 0) {
			pthread_mutex_lock(&s->lock);
			src->refreshing = false;
			src->failed = true;
			snprintf(src->err, sizeof(src->err), "%s", err.msg);
			pthread_mutex_unlock(&s->lock);
			continue;
		}
		started++;
	}
	return started;
}

int catsync_wait(struct catsync *s, int timeout_ms)
{
	struct timespec ts;
	int r = 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	for (;;) {
		bool busy = false;
		for (size_t i = 0; i < s->n; i++)
			busy |= s->src[i].refreshing;
		if (!busy)
			break;
		if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT) {
			r = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int catsync_lookup(struct catsync *s, const char *kind, const char *name, struct cat_entry *ret,
		   struct berr *err)
{
	int r = -ENOENT;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n && r < 0; i++) {
		const struct cat_entry *e = cat_index_find(s->src[i].ix, kind, name, s->arch);
		if (e) {
			cat_entry_copy(ret, e);
			r = 0;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (r < 0) {
		if (s->n == 0)
			return berr_set(err, ENOENT, "no %s '%s': no catalog_url is configured", kind,
					name);
		return berr_set(err, ENOENT, "no catalog lists %s '%s' for %s", kind, name, s->arch);
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **catsync_names(struct catsync *s, const char *kind, size_t *ret_n)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++) {
		const struct cat_index *ix = s->src[i].ix;
		for (size_t k = 0; ix && k < ix->n_entries; k++) {
			const struct cat_entry *e = &ix->entries[k];
			if (strcmp(e->kind, kind) || strcmp(e->arch, s->arch))
				continue;
			bool dup = false;
			for (size_t d = 0; d < n && !dup; d++)
				dup = strcmp(v[d], e->name) == 0;
			if (dup)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n++] = xstrdup(e->name);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*ret_n = n;
	return v;
}

char *catsync_status(struct catsync *s)
{
	struct sbuf b;
	int64_t now = now_ms();
	sbuf_init(&b);
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++) {
		const struct source *src = &s->src[i];
		const char *state;
		if (!src->ix)
			state = src->failed ? "failed" : "new";
		else if (src->failed)
			state = "offline";
		else if (now - src->checked_at >= s->cfg.ttl_s * 1000)
			state = "stale";
		else
			state = "ok";
		sbuf_printf(&b, "%s state %s entries %zu age ", src->url, state,
			    src->ix ? src->ix->n_entries : 0);
		if (src->ix)
			sbuf_printf(&b, "%llds", (long long)((now - src->checked_at) / 1000));
		else
			sbuf_puts(&b, "-");
		sbuf_printf(&b, " signed %s", !src->ix ? "-" : src->verified ? "yes" : "no");
		if (src->failed && src->err[0])
			sbuf_printf(&b, " error %s", src->err);
		sbuf_puts(&b, "\n");
	}
	pthread_mutex_unlock(&s->lock);
	if (!b.len)
		sbuf_puts(&b, "");
	return sbuf_steal(&b);
}
