/* core/fc_api.c: the Firecracker API client (see fc_api.h). */
#define _GNU_SOURCE
#include "fc_api.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_NOTHING);
}

struct rbuf {
	char *buf;
	size_t len;
	bool overflow;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
	struct rbuf *r = user;
	size_t n = size * nmemb;

	if (n > FC_API_MAX_RESPONSE - r->len) {
		r->overflow = true;
		return 0; /* curl aborts with CURLE_WRITE_ERROR */
	}
	r->buf = xrealloc(r->buf, r->len + n + 1);
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return n;
}

/* Bound the headers too: micro-http writes a handful of short ones. */
struct hcount {
	size_t bytes;
};

static size_t on_header(char *data, size_t size, size_t nmemb, void *user)
{
	struct hcount *h = user;
	size_t n = size * nmemb;
	(void)data;
	if (n > FC_API_MAX_RESPONSE - h->bytes)
		return 0;
	h->bytes += n;
	return n;
}

/* Copy src (len bytes) to out as one line: control characters become a
 * space, runs of spaces collapse, leading/trailing spaces go. */
static void one_line(const char *src, size_t len, char *out, size_t outlen)
{
	size_t o = 0;
	bool space = false;

	if (outlen == 0)
		return;
	for (size_t i = 0; i < len && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c < 0x20 || c == 0x7f || c == ' ') {
			space = o > 0;
			continue;
		}
		if (space) {
			if (o + 2 >= outlen)
				break;
			out[o++] = ' ';
			space = false;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* Parse a JSON object leniently: first as is, then with raw control bytes
 * inside strings escaped (micro-http puts a raw LF in its "error" text). */
static json_t *loads_lenient(const char *body, size_t len)
{
	json_error_t je;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (o)
		return o;

	struct sbuf s;
	bool in_str = false, esc = false;
	sbuf_init(&s);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)body[i];
		if (in_str) {
			if (esc) {
				esc = false;
			} else if (c == '\\') {
				esc = true;
			} else if (c == '"') {
				in_str = false;
			} else if (c < 0x20) {
				sbuf_printf(&s, "\\u%04x", c);
				continue;
			}
		} else if (c == '"') {
			in_str = true;
		}
		sbuf_add(&s, &body[i], 1);
	}
	o = json_loadb(s.buf ? s.buf : "", s.len, JSON_REJECT_DUPLICATES, &je);
	sbuf_free(&s);
	return o;
}

bool fc_api_error_text(const char *body, size_t len, char *out, size_t outlen)
{
	if (outlen == 0)
		return false;
	out[0] = '\0';
	if (!body || len == 0)
		return false;
	json_t *o = loads_lenient(body, len);
	if (o && json_is_object(o)) {
		static const char *const keys[] = { "fault_message", "error" };
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
			json_t *v = json_object_get(o, keys[i]);
			if (json_is_string(v)) {
				one_line(json_string_value(v), json_string_length(v), out, outlen);
				json_decref(o);
				return true;
			}
		}
	}
	json_decref(o);
	one_line(body, len, out, outlen);
	return false;
}

int fc_api_parse_response(long status, const char *body, size_t len, const char *what,
			  json_t **ret, struct berr *err)
{
	char msg[BERR_MSG_MAX];

	if (ret)
		*ret = NULL;
	if (!what)
		what = "the call";
	if (len > FC_API_MAX_RESPONSE)
		return berr_set(err, EMSGSIZE, "firecracker's answer to %s is larger than %d bytes",
				what, FC_API_MAX_RESPONSE);
	if (status == 204)
		return 0;
	if (status == 200) {
		json_error_t je;
		json_t *o = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : NULL;
		if (!o || !json_is_object(o)) {
			json_decref(o);
			return berr_set(err, EPROTO, "firecracker answered %s with 200 but no JSON object",
					what);
		}
		if (ret)
			*ret = o;
		else
			json_decref(o);
		return 0;
	}
	if (status >= 200 && status < 300)
		return 0; /* not produced by Firecracker; a success all the same */
	fc_api_error_text(body, len, msg, sizeof(msg));
	if (status == 400 || status == 413 || status == 500 || status == 503)
		return berr_set(err, EREMOTEIO, "firecracker refused %s: %s", what,
				msg[0] ? msg : "(no message)");
	return berr_set(err, EPROTO, "firecracker answered %s with HTTP status %ld: %s", what,
			status, msg[0] ? msg : "(no message)");
}

static int curl_errno(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
		return ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return ENOMEM;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		return ECONNRESET;
	default:
		return EPROTO;
	}
}

int fc_api_call(const char *sock, const char *method, const char *path, json_t *body,
		int timeout_ms, json_t **ret, struct berr *err)
{
	_cleanup_free_ char *url = NULL, *what = NULL, *data = NULL;
	char cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct rbuf rb = { 0 };
	struct hcount hc = { 0 };
	long status = 0;
	CURL *c;
	int r;

	if (ret)
		*ret = NULL;
	if (!sock || !method || !path || path[0] != '/')
		return berr_set(err, EINVAL, "bad firecracker API call");
	what = xasprintf("%s %s", method, path);
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return berr_set(err, EIO, "cannot initialise libcurl: %s",
				curl_easy_strerror(curl_init_rc));
	if (body) {
		data = json_dumps(body, JSON_COMPACT);
		if (!data)
			return berr_set(err, ENOMEM, "cannot encode the body of %s", what);
	}
	c = curl_easy_init();
	if (!c)
		return berr_set(err, ENOMEM, "cannot create a libcurl handle");
	url = xasprintf("http://localhost%s", path);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (data) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
	}
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1000));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1000));
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &rb);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &hc);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	if (data) {
		/* POSTFIELDS gives a Content-Length body; the method is ours. */
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(data));
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
	} else if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}

	CURLcode cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);

	if (rb.overflow) {
		r = berr_set(err, EMSGSIZE, "firecracker's answer to %s is larger than %d bytes", what,
			     FC_API_MAX_RESPONSE);
	} else if (cc != CURLE_OK) {
		int code = curl_errno(cc);
		/* A socket that does not exist: connect() said ENOENT. */
		if (cc == CURLE_COULDNT_CONNECT && access(sock, F_OK) < 0)
			code = ENOENT;
		r = berr_set(err, code, "firecracker API %s via %s: %s", what, sock,
			     cerr[0] ? cerr : curl_easy_strerror(cc));
	} else {
		r = fc_api_parse_response(status, rb.buf ? rb.buf : "", rb.len, what, ret, err);
	}
	free(rb.buf);
	return r;
}

static int parse_uint_part(const char **p, unsigned *ret)
{
	uint64_t v = 0;
	const char *s = *p;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > 1000000)
			return -ERANGE;
		s++;
	}
	*ret = (unsigned)v;
	*p = s;
	return 0;
}

int fc_version_parse(const char *s, struct fc_version *ret)
{
	struct fc_version v = { 0 };
	if (!s)
		return -EINVAL;
	if (*s == 'v')
		s++;
	if (parse_uint_part(&s, &v.major) < 0 || *s++ != '.')
		return -EINVAL;
	if (parse_uint_part(&s, &v.minor) < 0)
		return -EINVAL;
	if (*s == '.') {
		s++;
		if (parse_uint_part(&s, &v.patch) < 0)
			return -EINVAL;
	}
	/* A pre-release or build suffix ("-dev", "+abc") is allowed, junk is not. */
	if (*s != '\0' && *s != '-' && *s != '+')
		return -EINVAL;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return -EINVAL;
	*ret = v;
	return 0;
}

bool fc_version_at_least(const struct fc_version *a, unsigned major, unsigned minor,
			 unsigned patch)
{
	if (a->major != major)
		return a->major > major;
	if (a->minor != minor)
		return a->minor > minor;
	return a->patch >= patch;
}
