/* core/ociregistry.c: a distribution (registry) API v2 client with libcurl.
 *
 * - Authentication: a request answered 401 is retried once with what the
 *   WWW-Authenticate challenge asks for: Basic with the docker config's
 *   credentials, or a Bearer token fetched from the challenge's realm
 *   (anonymously, or with those credentials as Basic auth).  The token is
 *   kept for the rest of the pull.
 * - Redirects (blob downloads are often sent to a CDN) are followed here,
 *   not by libcurl, at most five: the Authorization header goes only to
 *   the registry's own origin (scheme, host, port), never to another host,
 *   and a redirect from https to http is refused unless --insecure.
 * - Sizes are bounded as the bytes arrive (manifests 4 MiB, tokens 1 MiB,
 *   blobs their descriptor's size); the cancel flag is polled while
 *   transferring.  Plain HTTP only with --insecure. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

#include "ociint.h"
#include "util.h"

#define ACCEPT_MANIFESTS                                                                  \
	"Accept: application/vnd.oci.image.index.v1+json, "                              \
	"application/vnd.oci.image.manifest.v1+json, "                                   \
	"application/vnd.docker.distribution.manifest.list.v2+json, "                    \
	"application/vnd.docker.distribution.manifest.v2+json"
#ifndef BANGER_VERSION
#define BANGER_VERSION "dev"
#endif
#define TOKEN_MAX (1u << 20)
#define ERROR_BODY_MAX (64u << 10)
#define MAX_REDIRECTS 5
#define BLOB_ATTEMPTS 3

struct oci_registry {
	CURL *curl;
	char *base;          /* scheme://host[:port] */
	char repo[256];
	bool insecure;
	char *user, *pass;   /* from the docker config, may be NULL */
	char *auth;          /* the Authorization header line, or NULL */
	const struct oci_opts *o;
	char errbuf[CURL_ERROR_SIZE];
};

/* Where a response body goes: a bounded buffer, or a blob writer. */
struct sink {
	struct sbuf buf;
	size_t max;
	bool too_big;
	struct oci_blob_writer *w;
	struct berr werr;
	bool failed;
	/* progress */
	const struct oci_opts *o;
	struct oci_progress *p;
	uint64_t base;       /* bytes of the blob before this request (retries) */
	int64_t last;
	bool cancelled;
	long status;         /* the final status seen by the write callback */
	CURL *curl;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t sink_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct sink *s = ctx;
	size_t n = size * nmemb;
	long code = 0;

	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
	if (s->w && code == 200) {
		if (oci_blob_writer_write(s->w, data, n, &s->werr) < 0) {
			s->failed = true;
			return 0;
		}
		return n;
	}
	/* A manifest, a token, or an error body. */
	if (s->buf.len + n > s->max) {
		s->too_big = true;
		return 0;
	}
	sbuf_add(&s->buf, data, n);
	return n;
}

static int sink_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			 curl_off_t ulnow)
{
	struct sink *s = ctx;

	if (s->o && s->o->cancel && atomic_load(s->o->cancel)) {
		s->cancelled = true;
		return 1;
	}
	if (s->p && s->o->progress && s->w && mono_ms() - s->last >= 100) {
		s->last = mono_ms();
		s->p->done = oci_blob_writer_bytes(s->w);
		s->o->progress(s->p, s->o->progress_ctx);
	}
	return 0;
}

/* scheme://host:port of a URL, lowercased, the default port explicit. */
static char *url_origin(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;

	if (u && !curl_url_set(u, CURLUPART_URL, url, 0) &&
	    !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
	    !curl_url_get(u, CURLUPART_HOST, &host, 0) &&
	    !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) {
		out = xasprintf("%s://%s:%s", scheme, host, port);
		for (char *p = out; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return out;
}

static bool same_origin(const char *a, const char *b)
{
	_cleanup_free_ char *x = url_origin(a), *y = url_origin(b);

	return x && y && strcmp(x, y) == 0;
}

static const char *header(CURL *c, const char *name)
{
	struct curl_header *h = NULL;

	if (curl_easy_header(c, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h)
		return NULL;
	return h->value;
}

/* The first "message" of a registry's JSON error body, for errors. */
static void error_text(const struct sbuf *b, char *out, size_t cap)
{
	json_t *root = b->len ? json_loadb(b->buf, b->len, 0, NULL) : NULL;
	json_t *e0 = json_array_get(json_object_get(root, "errors"), 0);
	const char *code = json_string_value(json_object_get(e0, "code"));
	const char *msg = json_string_value(json_object_get(e0, "message"));

	out[0] = '\0';
	if (code || msg)
		snprintf(out, cap, " (%.40s%s%.160s)", code ? code : "", code && msg ? ": " : "",
			 msg ? msg : "");
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	json_decref(root);
}

struct req {
	const char *method;   /* "GET" or "HEAD" */
	const char *url;
	const char *accept;   /* a whole header line, or NULL */
	bool auth;            /* send the registry's Authorization */
	bool basic;           /* token request: Basic credentials */
};

/* One request, following redirects; the final status in *status. */
static int perform(struct oci_registry *r, const struct req *q, struct sink *s, long *status,
		   struct berr *err)
{
	_cleanup_free_ char *url = xstrdup(q->url);
	const char *protocols = r->insecure ? "http,https" : "https";

	for (int hop = 0;; hop++) {
		struct curl_slist *hdrs = NULL;
		CURLcode cc;
		char *loc = NULL;

		curl_easy_reset(r->curl);
		curl_easy_setopt(r->curl, CURLOPT_URL, url);
		curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, protocols);
		curl_easy_setopt(r->curl, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(r->curl, CURLOPT_USERAGENT, "banger/" BANGER_VERSION);
		curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT, 30L);
		curl_easy_setopt(r->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(r->curl, CURLOPT_LOW_SPEED_TIME, 60L);
		curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, r->errbuf);
		curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, sink_write);
		curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, s);
		curl_easy_setopt(r->curl, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(r->curl, CURLOPT_XFERINFOFUNCTION, sink_progress);
		curl_easy_setopt(r->curl, CURLOPT_XFERINFODATA, s);
		curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
		if (!strcmp(q->method, "HEAD"))
			curl_easy_setopt(r->curl, CURLOPT_NOBODY, 1L);
		if (q->accept)
			hdrs = curl_slist_append(hdrs, q->accept);
		/* Credentials only to the origin they are for. */
		if (q->auth && r->auth && same_origin(url, r->base))
			hdrs = curl_slist_append(hdrs, r->auth);
		if (q->basic && r->user && same_origin(url, q->url)) {
			curl_easy_setopt(r->curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
			curl_easy_setopt(r->curl, CURLOPT_USERNAME, r->user);
			curl_easy_setopt(r->curl, CURLOPT_PASSWORD, r->pass);
		}
		curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, hdrs);
		r->errbuf[0] = '\0';
		s->curl = r->curl;
		sbuf_free(&s->buf);
		cc = curl_easy_perform(r->curl);
		curl_slist_free_all(hdrs);
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, status);
		if (s->cancelled)
			return oci_err(err, ECANCELED, "the import was cancelled");
		if (s->failed) {
			*err = s->werr;
			return -s->werr.code;
		}
		if (s->too_big)
			return oci_err(err, EFBIG, "%s answered more than %zu bytes", url, s->max);
		if (cc != CURLE_OK)
			return oci_err(err, cc == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT : EIO,
					"%s %s failed: %s", q->method, url,
					r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc));
		if (*status < 300 || *status >= 400 || *status == 304)
			return 0;
		curl_easy_getinfo(r->curl, CURLINFO_REDIRECT_URL, &loc);
		if (!loc)
			return 0; /* a 3xx without Location: the caller reports it */
		if (hop >= MAX_REDIRECTS)
			return oci_err(err, ELOOP, "%s redirects more than %d times", q->url,
					MAX_REDIRECTS);
		if (!strncasecmp(loc, "http://", 7) && !r->insecure)
			return oci_err(err, EPERM,
					"%s redirects to plain HTTP (%.200s), which needs --insecure", q->url,
					loc);
		free(url);
		url = xstrdup(loc);
	}
}

/* Get a Bearer token for the challenge; sets r->auth. */
static int fetch_token(struct oci_registry *r, const struct oci_challenge *ch, struct berr *err)
{
	_cleanup_free_ char *scope = NULL, *url = NULL;
	struct sink s = { .max = TOKEN_MAX, .o = r->o };
	char *esc_service, *esc_scope;
	json_t *root;
	const char *tok;
	long status = 0;
	int rc;

	if (strncasecmp(ch->realm, "https://", 8) && strncasecmp(ch->realm, "http://", 7))
		return oci_err(err, EPROTO, "the registry's token realm \"%.200s\" is not an http(s) URL",
				ch->realm);
	if (!strncasecmp(ch->realm, "http://", 7) && !r->insecure)
		return oci_err(err, EPERM,
				"the registry's token server %.200s is plain HTTP, which needs --insecure",
				ch->realm);
	scope = ch->scope[0] ? xstrdup(ch->scope) : xasprintf("repository:%s:pull", r->repo);
	esc_service = curl_easy_escape(r->curl, ch->service, 0);
	esc_scope = curl_easy_escape(r->curl, scope, 0);
	url = xasprintf("%s%sservice=%s&scope=%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?",
			esc_service ? esc_service : "", esc_scope ? esc_scope : "");
	curl_free(esc_service);
	curl_free(esc_scope);
	sbuf_init(&s.buf);
	struct req q = { .method = "GET", .url = url, .basic = true };
	rc = perform(r, &q, &s, &status, err);
	if (rc < 0) {
		sbuf_free(&s.buf);
		return oci_wrap(err, "getting a registry token");
	}
	if (status != 200) {
		sbuf_free(&s.buf);
		return oci_err(err, status == 401 || status == 403 ? EACCES : EPROTO,
				"the token server %.200s answered %ld%s", ch->realm, status,
				status == 401 || status == 403
					? (r->user ? ": the credentials were refused" : ": it wants credentials")
					: "");
	}
	root = json_loadb(s.buf.buf ? s.buf.buf : "", s.buf.len, 0, NULL);
	sbuf_free(&s.buf);
	tok = json_string_value(json_object_get(root, "token"));
	if (!tok || !*tok)
		tok = json_string_value(json_object_get(root, "access_token"));
	if (!tok || !*tok || strpbrk(tok, "\r\n")) {
		json_decref(root);
		return oci_err(err, EPROTO, "the token server %.200s sent no token", ch->realm);
	}
	free(r->auth);
	r->auth = xasprintf("Authorization: Bearer %s", tok);
	json_decref(root);
	return 0;
}

/* Answer a 401: from its challenge, set r->auth.  Returns 1 when there is
 * something new to try, 0 when not. */
static int authenticate(struct oci_registry *r, struct berr *err)
{
	struct oci_challenge ch;
	bool had = r->auth != NULL;
	int rc = oci_challenge_parse(header(r->curl, "WWW-Authenticate"), &ch, err);

	if (rc < 0)
		return rc;
	if (!strcmp(ch.scheme, "basic")) {
		if (!r->user || had)
			return 0;
		_cleanup_free_ char *raw = xasprintf("%s:%s", r->user, r->pass);
		size_t n = strlen(raw);
		_cleanup_free_ char *b64 = xmalloc(4 * ((n + 2) / 3) + 1);
		EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)raw, (int)n);
		free(r->auth);
		r->auth = xasprintf("Authorization: Basic %s", b64);
		return 1;
	}
	/* A token we already have was refused: only a fresh one might help,
	 * and only once. */
	rc = fetch_token(r, &ch, err);
	return rc < 0 ? rc : 1;
}

/* A request to the registry, with authentication. */
static int request(struct oci_registry *r, struct req *q, struct sink *s, long *status,
		   struct berr *err)
{
	int rc;

	q->auth = true;
	rc = perform(r, q, s, status, err);
	if (rc < 0 || *status != 401)
		return rc;
	rc = authenticate(r, err);
	if (rc <= 0)
		return rc;
	if (s->w) {
		rc = oci_blob_writer_reset(s->w, err);
		if (rc < 0)
			return rc;
	}
	return perform(r, q, s, status, err);
}

static int status_error(struct oci_registry *r, long status, const char *what, struct sink *s,
			struct berr *err)
{
	char detail[256];

	error_text(&s->buf, detail, sizeof(detail));
	switch (status) {
	case 401:
	case 403:
		return oci_err(err, EACCES, "the registry %s refused access to %s%s%s", r->base, what,
				r->user ? "" : " (no credentials for it in the docker config)", detail);
	case 404:
		return oci_err(err, ENOENT, "the registry %s has no %s%s", r->base, what, detail);
	case 429:
		return oci_err(err, EAGAIN, "the registry %s is rate-limiting this client%s", r->base,
				detail);
	default:
		return oci_err(err, EPROTO, "the registry %s answered %ld for %s%s", r->base, status,
				what, detail);
	}
}

int oci_registry_open(const struct oci_ref *ref, const struct oci_opts *o,
		      const char *auth_json, size_t auth_len, struct oci_registry **ret,
		      struct berr *err)
{
	struct oci_registry *r;
	int rc;

	pthread_once(&curl_once, curl_init);
	r = xcalloc(1, sizeof(*r));
	r->curl = curl_easy_init();
	if (!r->curl) {
		free(r);
		return oci_err(err, ENOMEM, "cannot start libcurl");
	}
	r->o = o;
	r->insecure = o->insecure;
	r->base = xasprintf("%s://%s", o->insecure ? "http" : "https", ref->registry);
	snprintf(r->repo, sizeof(r->repo), "%s", ref->repo);
	if (auth_json) {
		rc = oci_docker_auth(auth_json, auth_len, ref->registry, &r->user, &r->pass, err);
		if (rc < 0 && rc != -ENOENT) {
			oci_registry_close(r);
			return oci_wrap(err, "reading the docker config");
		}
	}
	*ret = r;
	return 0;
}

void oci_registry_close(struct oci_registry *r)
{
	if (!r)
		return;
	curl_easy_cleanup(r->curl);
	free(r->base);
	free(r->user);
	if (r->pass)
		explicit_bzero(r->pass, strlen(r->pass));
	free(r->pass);
	if (r->auth)
		explicit_bzero(r->auth, strlen(r->auth));
	free(r->auth);
	free(r);
}

const char *oci_registry_base(const struct oci_registry *r)
{
	return r->base;
}

int oci_registry_head(struct oci_registry *r, const char *reference, char digest[OCI_DIGEST_LEN + 1],
		      struct berr *err)
{
	_cleanup_free_ char *url = xasprintf("%s/v2/%s/manifests/%s", r->base, r->repo, reference);
	struct sink s = { .max = ERROR_BODY_MAX, .o = r->o };
	struct req q = { .method = "HEAD", .url = url, .accept = ACCEPT_MANIFESTS };
	long status = 0;
	const char *d;
	int rc;

	sbuf_init(&s.buf);
	rc = request(r, &q, &s, &status, err);
	if (rc == 0 && status != 200) {
		_cleanup_free_ char *what = xasprintf("manifest %s:%s", r->repo, reference);
		rc = status_error(r, status, what, &s, err);
	}
	sbuf_free(&s.buf);
	if (rc < 0)
		return rc;
	d = header(r->curl, "Docker-Content-Digest");
	digest[0] = '\0';
	if (d && oci_digest_valid(d))
		memcpy(digest, d, OCI_DIGEST_LEN + 1);
	return 0;
}

int oci_registry_manifest(struct oci_registry *r, const char *reference, char **ret_body,
			  size_t *ret_len, char ret_ctype[128], char ret_digest[OCI_DIGEST_LEN + 1],
			  struct berr *err)
{
	_cleanup_free_ char *url = xasprintf("%s/v2/%s/manifests/%s", r->base, r->repo, reference);
	struct sink s = { .max = OCI_MANIFEST_MAX, .o = r->o };
	struct req q = { .method = "GET", .url = url, .accept = ACCEPT_MANIFESTS };
	unsigned char md[32];
	long status = 0;
	const char *ct, *hd;
	int rc;

	sbuf_init(&s.buf);
	rc = request(r, &q, &s, &status, err);
	if (rc == -EFBIG)
		rc = oci_err(err, EFBIG, "the manifest %s:%s is larger than %u bytes", r->repo,
			      reference, OCI_MANIFEST_MAX);
	if (rc == 0 && status != 200) {
		_cleanup_free_ char *what = xasprintf("manifest %s:%s", r->repo, reference);
		rc = status_error(r, status, what, &s, err);
	}
	if (rc < 0) {
		sbuf_free(&s.buf);
		return rc;
	}
	ct = header(r->curl, "Content-Type");
	snprintf(ret_ctype, 128, "%s", ct ? ct : "");
	EVP_Digest(s.buf.buf ? s.buf.buf : "", s.buf.len, md, NULL, EVP_sha256(), NULL);
	memcpy(ret_digest, "sha256:", 7);
	oci_hex(md, ret_digest + 7);
	hd = header(r->curl, "Docker-Content-Digest");
	if (hd && oci_digest_valid(hd) && strcmp(hd, ret_digest)) {
		sbuf_free(&s.buf);
		return oci_err(err, EBADMSG,
				"the manifest %s:%s hashes to %s, but the registry says %s", r->repo,
				reference, ret_digest, hd);
	}
	*ret_len = s.buf.len;
	*ret_body = sbuf_steal(&s.buf);
	return 0;
}

static bool transient(int rc)
{
	return rc == -EIO || rc == -ETIMEDOUT;
}

int oci_registry_blob(struct oci_registry *r, const struct oci_desc *d, struct oci_blob_writer *w,
		      struct oci_progress *p, struct berr *err)
{
	_cleanup_free_ char *url = xasprintf("%s/v2/%s/blobs/%s", r->base, r->repo, d->digest);
	struct sink s = { .max = ERROR_BODY_MAX, .w = w, .o = r->o, .p = p };
	struct req q = { .method = "GET", .url = url };
	long status = 0;
	int rc = 0;

	sbuf_init(&s.buf);
	for (int attempt = 1; attempt <= BLOB_ATTEMPTS; attempt++) {
		rc = oci_blob_writer_reset(w, err);
		if (rc < 0)
			break;
		s.status = 0;
		rc = request(r, &q, &s, &status, err);
		if (rc == 0 && status != 200) {
			_cleanup_free_ char *what = xasprintf("blob %s", d->digest);
			rc = status_error(r, status, what, &s, err);
			if (status >= 500 && attempt < BLOB_ATTEMPTS)
				continue;
			break;
		}
		if (rc == 0 || !transient(rc))
			break;
	}
	sbuf_free(&s.buf);
	return rc;
}
