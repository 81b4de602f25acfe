/* core/catindex.c: catalog index parsing, signatures, URLs (see
 * catindex.h). */
#define _GNU_SOURCE
#include "catindex.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "manifest.h"
#include "util.h"

#define DESC_MAX 512u
#define VERSION_MAX 64u
#define ARCH_MAX 16u

/* ---- URLs ---------------------------------------------------------- */

static size_t scheme_len(const char *url)
{
	static const char *const schemes[] = { "http://", "https://", "file://" };
	for (size_t i = 0; i < ARRAY_SIZE(schemes); i++)
		if (strncasecmp(url, schemes[i], strlen(schemes[i])) == 0)
			return strlen(schemes[i]);
	return 0;
}

bool cat_url_is_file(const char *url)
{
	return url && strncasecmp(url, "file://", 7) == 0;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int cat_url_check(const char *url, struct berr *err)
{
	char b[SHOWN_MAX];
	size_t n = strlen(url), sl = scheme_len(url);

	if (n > CAT_URL_MAX)
		return berr_set(err, EINVAL, "URL '%s' is longer than %u bytes", shown_str(b, url),
				CAT_URL_MAX);
	if (!sl)
		return berr_set(err, EINVAL, "URL '%s' is not an http, https or file URL",
				shown_str(b, url));
	if (!printable(url))
		return berr_set(err, EINVAL, "URL '%s' contains a space or a control character",
				shown_str(b, url));
	if (cat_url_is_file(url)) {
		_cleanup_free_ char *p = cat_url_file_path(url);
		if (!p)
			return berr_set(err, EINVAL,
					"file URL '%s' must be file:///PATH or file://localhost/PATH",
					shown_str(b, url));
		return 0;
	}
	if (url[sl] == '\0' || url[sl] == '/' || url[sl] == '?' || url[sl] == '#')
		return berr_set(err, EINVAL, "URL '%s' has no host", shown_str(b, url));
	return 0;
}

char *cat_index_url(const char *catalog_url)
{
	size_t n = strlen(catalog_url);
	if (n && catalog_url[n - 1] == '/')
		return xasprintf("%sindex.json", catalog_url);
	return xstrdup(catalog_url);
}

char *cat_url_file_path(const char *url)
{
	const char *p;
	if (!cat_url_is_file(url))
		return NULL;
	p = url + 7;
	if (strncasecmp(p, "localhost/", 10) == 0)
		p += 9;
	if (*p != '/')
		return NULL;
	char *out = xmalloc(strlen(p) + 1), *o = out;
	for (; *p && *p != '?' && *p != '#'; p++) {
		if (*p == '%') {
			int h = hex_digit(p[1]), l = h >= 0 ? hex_digit(p[2]) : -1;
			if (h < 0 || l < 0 || (h == 0 && l == 0)) {
				free(out);
				return NULL;
			}
			*o++ = (char)(h * 16 + l);
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

char *cat_url_resolve(const char *base, const char *ref, struct berr *err)
{
	char b[SHOWN_MAX];

	if (strstr(ref, "://")) {
		if (cat_url_check(ref, err) < 0)
			return NULL;
		if (cat_url_is_file(ref) && !cat_url_is_file(base)) {
			berr_set(err, EINVAL, "URL '%s' is a file URL in an index that is not",
				 shown_str(b, ref));
			return NULL;
		}
		return xstrdup(ref);
	}
	if (!*ref || ref[0] == '/' || !printable(ref) || strpbrk(ref, "?#\\:")) {
		berr_set(err, EINVAL,
			 "URL '%s' is neither absolute nor a plain relative path", shown_str(b, ref));
		return NULL;
	}
	for (const char *c = ref; *c;) {
		const char *e = strchr(c, '/');
		size_t len = e ? (size_t)(e - c) : strlen(c);
		if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && !strncmp(c, "..", 2))) {
			berr_set(err, EINVAL, "relative URL '%s' has an empty, '.' or '..' segment",
				 shown_str(b, ref));
			return NULL;
		}
		if (!e)
			break;
		c = e + 1;
	}
	size_t sl = scheme_len(base), end = strcspn(base, "?#");
	size_t slash = 0;
	for (size_t i = sl; i < end; i++)
		if (base[i] == '/')
			slash = i + 1;
	char *out;
	if (slash == 0)
		out = xasprintf("%.*s/%s", (int)end, base, ref);
	else
		out = xasprintf("%.*s%s", (int)slash, base, ref);
	if (cat_url_check(out, err) < 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* ---- the index ----------------------------------------------------- */

void cat_entry_clear(struct cat_entry *e)
{
	if (!e)
		return;
	free(e->name);
	free(e->kind);
	free(e->version);
	free(e->arch);
	free(e->description);
	free(e->url);
	free(e->kernel);
	memset(e, 0, sizeof(*e));
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void cat_entry_copy(struct cat_entry *dst, const struct cat_entry *src)
{
	*dst = *src;
	dst->name = dup_or_null(src->name);
	dst->kind = dup_or_null(src->kind);
	dst->version = dup_or_null(src->version);
	dst->arch = dup_or_null(src->arch);
	dst->description = dup_or_null(src->description);
	dst->url = dup_or_null(src->url);
	dst->kernel = dup_or_null(src->kernel);
}

struct cat_index *cat_index_free(struct cat_index *ix)
{
	if (!ix)
		return NULL;
	for (size_t i = 0; i < ix->n_entries; i++)
		cat_entry_clear(&ix->entries[i]);
	free(ix->entries);
	free(ix->generated_at);
	free(ix);
	return NULL;
}

const struct cat_entry *cat_index_find(const struct cat_index *ix, const char *kind,
				       const char *name, const char *arch)
{
	for (size_t i = 0; ix && i < ix->n_entries; i++) {
		const struct cat_entry *e = &ix->entries[i];
		if (!strcmp(e->kind, kind) && !strcmp(e->name, name) &&
		    (!arch || !strcmp(e->arch, arch)))
			return e;
	}
	return NULL;
}

static bool charset(const char *s, const char *extra, bool upper)
{
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      (upper && c >= 'A' && c <= 'Z') || strchr(extra, c)))
			return false;
	}
	return true;
}

static bool text_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

struct ectx {
	size_t i;
	struct berr *err;
};

static int eerr(const struct ectx *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int eerr(const struct ectx *cx, const char *fmt, ...)
{
	char msg[BERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return berr_set(cx->err, EINVAL, "catalog index: entries[%zu]: %s", cx->i, msg);
}

static int want_str(const struct ectx *cx, json_t *o, const char *key, bool required,
		    size_t max, const char **ret)
{
	json_t *v = json_object_get(o, key);
	*ret = NULL;
	if (!v)
		return required ? eerr(cx, "%s is missing", key) : 0;
	if (!json_is_string(v))
		return eerr(cx, "%s must be a string", key);
	const char *s = json_string_value(v);
	if (!*s || strlen(s) > max)
		return eerr(cx, "%s must be 1-%zu bytes", key, max);
	if (!text_ok(s))
		return eerr(cx, "%s contains a control character", key);
	*ret = s;
	return 0;
}

static int want_u64(const struct ectx *cx, json_t *o, const char *key, bool required,
		    uint64_t min, uint64_t *ret)
{
	json_t *v = json_object_get(o, key);
	*ret = 0;
	if (!v)
		return required ? eerr(cx, "%s is missing", key) : 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < min)
		return eerr(cx, "%s must be an integer of at least %llu", key,
			    (unsigned long long)min);
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

static int parse_entry(json_t *o, size_t i, const char *index_url, struct cat_entry *e,
		       struct berr *err)
{
	static const char *const keys[] = { "name", "kind", "version", "arch", "description",
					     "url", "size", "sha256", "unpacked_size", "kernel",
					     "min_disk_size" };
	struct ectx cx = { i, err };
	const char *key, *name, *kind, *version, *arch, *desc, *url, *sha, *kernel;
	json_t *v;
	char b[SHOWN_MAX];
	struct berr ne = { 0 };
	int r;

	if (!json_is_object(o))
		return eerr(&cx, "not an object");
	json_object_foreach(o, key, v) {
		size_t k;
		for (k = 0; k < ARRAY_SIZE(keys) && strcmp(key, keys[k]); k++)
			;
		if (k == ARRAY_SIZE(keys))
			return eerr(&cx, "unknown key '%s'", shown_str(b, key));
	}
	if ((r = want_str(&cx, o, "name", true, 63, &name)) < 0 ||
	    (r = want_str(&cx, o, "kind", true, 16, &kind)) < 0 ||
	    (r = want_str(&cx, o, "version", true, VERSION_MAX, &version)) < 0 ||
	    (r = want_str(&cx, o, "arch", true, ARCH_MAX, &arch)) < 0 ||
	    (r = want_str(&cx, o, "description", false, DESC_MAX, &desc)) < 0 ||
	    (r = want_str(&cx, o, "url", true, CAT_URL_MAX, &url)) < 0 ||
	    (r = want_str(&cx, o, "sha256", true, 64, &sha)) < 0 ||
	    (r = want_str(&cx, o, "kernel", false, 63, &kernel)) < 0)
		return r;
	if (bundle_name_check(name, &ne) < 0)
		return eerr(&cx, "%s", ne.msg);
	if (strcmp(kind, "image") && strcmp(kind, "kernel"))
		return eerr(&cx, "kind must be image or kernel, not '%s'", shown_str(b, kind));
	if (!charset(version, "._-+~:", true))
		return eerr(&cx, "version '%s' may only use A-Z a-z 0-9 . _ - + ~ :",
			    shown_str(b, version));
	if (!charset(arch, "_", false))
		return eerr(&cx, "arch '%s' may only use a-z 0-9 _", shown_str(b, arch));
	if (!sha256_hex_valid(sha))
		return eerr(&cx, "sha256 must be 64 lowercase hex digits");
	if (kernel && strcmp(kind, "image"))
		return eerr(&cx, "only an image names a kernel");
	if (kernel && bundle_name_check(kernel, &ne) < 0)
		return eerr(&cx, "kernel: %s", ne.msg);
	e->name = xstrdup(name);
	e->kind = xstrdup(kind);
	e->version = xstrdup(version);
	e->arch = xstrdup(arch);
	e->description = dup_or_null(desc);
	e->kernel = dup_or_null(kernel);
	memcpy(e->sha256, sha, SHA256_HEX_LEN + 1);
	if ((r = want_u64(&cx, o, "size", true, 1, &e->size)) < 0 ||
	    (r = want_u64(&cx, o, "unpacked_size", true, 1, &e->unpacked_size)) < 0 ||
	    (r = want_u64(&cx, o, "min_disk_size", !strcmp(kind, "image"), 1,
			  &e->min_disk_size)) < 0)
		return r;
	if (e->min_disk_size && strcmp(kind, "image"))
		return eerr(&cx, "only an image has a min_disk_size");
	e->url = cat_url_resolve(index_url, url, &ne);
	if (!e->url)
		return eerr(&cx, "url: %s", ne.msg);
	return 0;
}

int cat_index_parse(const char *text, size_t len, const char *index_url,
		    struct cat_index **ret, struct berr *err)
{
	json_error_t jerr;
	json_t *doc, *v, *entries;
	const char *key;
	struct cat_index *ix = NULL;
	char b[SHOWN_MAX];
	int r;

	if ((r = cat_url_check(index_url, err)) < 0)
		return r;
	if (len > CAT_INDEX_MAX_BYTES)
		return berr_set(err, EFBIG, "catalog index is larger than %u bytes",
				CAT_INDEX_MAX_BYTES);
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return berr_set(err, EINVAL, "catalog index:%d: invalid JSON: %s", jerr.line,
				jerr.text);
	if (!json_is_object(doc)) {
		r = berr_set(err, EINVAL, "catalog index is not a JSON object");
		goto out;
	}
	json_object_foreach(doc, key, v) {
		if (strcmp(key, "format_version") && strcmp(key, "generated_at") &&
		    strcmp(key, "entries")) {
			r = berr_set(err, EINVAL, "catalog index has unknown key '%s'", shown_str(b, key));
			goto out;
		}
	}
	v = json_object_get(doc, "format_version");
	if (!json_is_integer(v)) {
		r = berr_set(err, EINVAL, "catalog index has no integer format_version");
		goto out;
	}
	if (json_integer_value(v) != CAT_FORMAT_VERSION) {
		r = berr_set(err, EPROTONOSUPPORT,
			     "catalog index has format_version %lld; this banger reads %d",
			     (long long)json_integer_value(v), CAT_FORMAT_VERSION);
		goto out;
	}
	v = json_object_get(doc, "generated_at");
	if (v && (!json_is_string(v) || strlen(json_string_value(v)) > 64 ||
		  !text_ok(json_string_value(v)))) {
		r = berr_set(err, EINVAL, "catalog index: generated_at must be a short string");
		goto out;
	}
	entries = json_object_get(doc, "entries");
	if (!json_is_array(entries)) {
		r = berr_set(err, EINVAL, "catalog index has no entries array");
		goto out;
	}
	if (json_array_size(entries) > CAT_INDEX_MAX_ENTRIES) {
		r = berr_set(err, EINVAL, "catalog index has more than %u entries",
			     CAT_INDEX_MAX_ENTRIES);
		goto out;
	}
	ix = xcalloc(1, sizeof(*ix));
	ix->format_version = CAT_FORMAT_VERSION;
	ix->generated_at = v ? xstrdup(json_string_value(v)) : NULL;
	ix->entries = xcalloc(json_array_size(entries), sizeof(*ix->entries));
	size_t i;
	json_array_foreach(entries, i, v) {
		struct cat_entry *e = &ix->entries[ix->n_entries];
		r = parse_entry(v, i, index_url, e, err);
		ix->n_entries++;
		if (r < 0)
			goto out;
		for (size_t j = 0; j + 1 < ix->n_entries; j++) {
			const struct cat_entry *o = &ix->entries[j];
			if (!strcmp(o->kind, e->kind) && !strcmp(o->name, e->name) &&
			    !strcmp(o->arch, e->arch)) {
				r = berr_set(err, EINVAL,
					     "catalog index lists %s %s for %s twice (entries %zu and %zu)",
					     e->kind, e->name, e->arch, j, i);
				goto out;
			}
		}
	}
	*ret = TAKE_PTR(ix);
	r = 0;
out:
	cat_index_free(ix);
	json_decref(doc);
	return r;
}

/* ---- keys and signatures ------------------------------------------- */

void cat_pubkey_free(void *key)
{
	EVP_PKEY_free(key);
}

int cat_pubkey_load(const char *spec, void **ret_key, struct berr *err)
{
	EVP_PKEY *k = NULL;
	_cleanup_free_ char *text = NULL;
	const char *pem = spec;

	if (!spec || !*spec)
		return berr_set(err, EINVAL, "catalog_pubkey is empty");
	/* A path names a file; base64 has '/' too, but only [A-Za-z0-9+/=]. */
	bool b64 = strspn(spec, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
		   strlen(spec);
	if (!strstr(spec, "-----BEGIN") && (access(spec, F_OK) == 0 || (strchr(spec, '/') && !b64))) {
		int r = read_file(spec, 64 * 1024, &text, NULL);
		if (r < 0)
			return berr_set(err, -r, "cannot read catalog public key %s: %s", spec,
					strerror(-r));
		pem = text;
	}
	if (strstr(pem, "-----BEGIN")) {
		BIO *bio = BIO_new_mem_buf(pem, -1);
		if (bio)
			k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		unsigned char der[256];
		size_t n = strlen(pem);
		while (n && (pem[n - 1] == '\n' || pem[n - 1] == ' '))
			n--;
		if (n % 4 == 0 && n > 0 && n <= 4 * (sizeof(der) / 3)) {
			int dl = EVP_DecodeBlock(der, (const unsigned char *)pem, (int)n);
			if (dl > 0) {
				while (n && pem[--n] == '=')
					dl--;
				const unsigned char *p = der;
				k = d2i_PUBKEY(NULL, &p, dl);
			}
		}
	}
	if (!k)
		return berr_set(err, EINVAL,
				"catalog public key '%.80s' is neither a PEM file, PEM text nor a base64 public key",
				spec);
	if (EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(k);
		return berr_set(err, EINVAL, "catalog public key '%.80s' is not an Ed25519 key", spec);
	}
	*ret_key = k;
	return 0;
}

int cat_sig_verify(const void *doc, size_t len, const void *sig, size_t siglen, void *key,
		   struct berr *err)
{
	EVP_MD_CTX *ctx;
	int ok;

	if (siglen != CAT_SIG_LEN)
		return berr_set(err, EBADMSG, "signature has %zu bytes, an Ed25519 signature has %d",
				siglen, CAT_SIG_LEN);
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return berr_set(err, ENOMEM, "out of memory");
	ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
	     EVP_DigestVerify(ctx, sig, siglen, doc, len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return berr_set(err, EBADMSG, "signature does not match catalog_pubkey");
	return 0;
}

int cat_index_trust(const char *index_url, const void *doc, size_t len, const void *sig,
		    size_t siglen, void *key, bool insecure, bool *ret_verified,
		    struct berr *err)
{
	bool may_skip = insecure && cat_url_is_file(index_url);
	struct berr se = { 0 };
	char b[SHOWN_MAX];

	*ret_verified = false;
	if (!key && !may_skip)
		return berr_set(err, EPERM,
				"catalog index %s cannot be trusted: no catalog_pubkey is configured",
				shown_str(b, index_url));
	if (!sig && !may_skip)
		return berr_set(err, EPERM, "catalog index %s is unsigned (no %s.sig)",
				shown_str(b, index_url), shown_str(b, index_url));
	if (sig && key && cat_sig_verify(doc, len, sig, siglen, key, &se) == 0) {
		*ret_verified = true;
		return 0;
	}
	if (may_skip)
		return 0;
	return berr_set(err, EPERM, "catalog index %s is badly signed: %s", shown_str(b, index_url),
			se.msg);
}
