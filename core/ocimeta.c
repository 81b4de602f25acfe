/* core/ocimeta.c: the small parsers of outside input an OCI pull needs:
 * image references (Docker Hub rules), manifests and indexes (OCI and
 * Docker schema 2), image configs, WWW-Authenticate challenges and the
 * credentials of a docker config.json.  All bounded; fuzzed by
 * tests/fuzz/fuzz_oci_meta.c. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "ociint.h"
#include "util.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_V1 "application/vnd.docker.distribution.manifest.v1"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* The largest blob a descriptor may announce (a layer). */
#define DESC_SIZE_MAX (1ULL << 40)

/* --- errors --- */

static void clean_msg(struct berr *err)
{
	for (char *p = err->msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

int oci_err(struct berr *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (code <= 0)
		code = EIO;
	if (!err)
		return -code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->code = code;
	clean_msg(err);
	return -code;
}

int oci_wrap(struct berr *err, const char *fmt, ...)
{
	char prefix[BERR_MSG_MAX];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	r = berr_wrap(err, "%s", prefix);
	if (err)
		clean_msg(err);
	return r;
}

/* --- references --- */

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static bool path_component_valid(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
		return false;
	while (i < n) {
		if (is_alnum_lower(s[i])) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < n && !is_alnum_lower(s[j]))
			j++;
		size_t sep = j - i;
		bool ok = (sep == 1 && (s[i] == '.' || s[i] == '_' || s[i] == '-')) ||
			  (sep == 2 && s[i] == '_' && s[i + 1] == '_');
		if (!ok) {
			ok = true;
			for (size_t k = i; k < j; k++)
				ok = ok && s[k] == '-';
		}
		if (!ok)
			return false;
		i = j;
	}
	return true;
}

/* host[:port]: DNS-ish labels (letters, digits, '-', '.'), or [v6]. */
static bool domain_valid(const char *s, size_t n)
{
	size_t host_end = n;
	const char *colon;

	if (n == 0 || n > 253)
		return false;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return false;
		for (const char *p = s + 1; p < close; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':')
				return false;
		host_end = (size_t)(close - s) + 1;
		if (host_end < n && s[host_end] != ':')
			return false;
	} else {
		colon = memchr(s, ':', n);
		if (colon)
			host_end = (size_t)(colon - s);
		if (host_end == 0)
			return false;
		for (size_t i = 0; i < host_end; i++) {
			char c = s[i];
			if (!(isalnum((unsigned char)c) || c == '-' || c == '.'))
				return false;
		}
		if (s[0] == '-' || s[0] == '.' || s[host_end - 1] == '-' || s[host_end - 1] == '.')
			return false;
	}
	if (host_end < n) {
		size_t digits = n - host_end - 1;
		if (digits == 0 || digits > 5)
			return false;
		for (size_t i = host_end + 1; i < n; i++)
			if (!isdigit((unsigned char)s[i]))
				return false;
	}
	return true;
}

static bool tag_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128)
		return false;
	if (!(isalnum((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

bool oci_digest_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != OCI_DIGEST_LEN)
		return false;
	for (const char *p = d + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

void oci_hex(const unsigned char md[32], char out[65])
{
	static const char x[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = x[md[i] >> 4];
		out[2 * i + 1] = x[md[i] & 15];
	}
	out[64] = '\0';
}

int oci_ref_parse(const char *s, struct oci_ref *ret, struct berr *err)
{
	struct oci_ref r;
	char buf[600];
	char *name, *at, *slash, *colon, *path;
	size_t n;

	memset(&r, 0, sizeof(r));
	if (!s || !*s)
		return oci_err(err, EINVAL, "the image reference is empty");
	if (strncmp(s, "docker://", 9) == 0)
		s += 9;
	n = strlen(s);
	if (n >= sizeof(buf))
		return oci_err(err, EINVAL, "image reference \"%.64s...\" is too long", s);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return oci_err(err, EINVAL,
					"image reference \"%.200s\" has a space or control character", s);
	memcpy(buf, s, n + 1);
	name = buf;

	at = strchr(name, '@');
	if (at) {
		*at = '\0';
		if (!oci_digest_valid(at + 1))
			return oci_err(err, EINVAL,
					"image reference \"%.200s\": the digest must be sha256: and 64 lowercase hex digits",
					s);
		memcpy(r.digest, at + 1, OCI_DIGEST_LEN + 1);
	}
	/* A tag is after the last ':' that comes after the last '/'. */
	slash = strrchr(name, '/');
	colon = strrchr(slash ? slash : name, ':');
	if (colon) {
		*colon = '\0';
		if (!tag_valid(colon + 1))
			return oci_err(err, EINVAL, "image reference \"%.200s\": invalid tag \"%.130s\"",
					s, colon + 1);
		memcpy(r.tag, colon + 1, strlen(colon + 1) + 1);
	}

	/* Domain: a first component with '.' or ':', or "localhost". */
	slash = strchr(name, '/');
	if (slash && (memchr(name, '.', (size_t)(slash - name)) ||
		      memchr(name, ':', (size_t)(slash - name)) ||
		      (slash - name == 9 && memcmp(name, "localhost", 9) == 0))) {
		size_t dn = (size_t)(slash - name);
		if (!domain_valid(name, dn))
			return oci_err(err, EINVAL, "image reference \"%.200s\": invalid registry \"%.*s\"",
					s, (int)(dn > 200 ? 200 : dn), name);
		memcpy(r.domain, name, dn);
		r.domain[dn] = '\0';
		path = slash + 1;
	} else {
		snprintf(r.domain, sizeof(r.domain), "docker.io");
		path = name;
	}
	if (strcasecmp(r.domain, "index.docker.io") == 0)
		snprintf(r.domain, sizeof(r.domain), "docker.io");
	bool hub = strcmp(r.domain, "docker.io") == 0;

	/* Path components. */
	size_t comps = 0;
	for (const char *p = path;;) {
		const char *e = strchr(p, '/');
		size_t cn = e ? (size_t)(e - p) : strlen(p);
		if (!path_component_valid(p, cn))
			return oci_err(err, EINVAL,
					"image reference \"%.200s\": repository names use lowercase letters, digits and . _ - separators",
					s);
		comps++;
		if (!e)
			break;
		p = e + 1;
	}
	if (hub && comps == 1)
		n = (size_t)snprintf(r.repo, sizeof(r.repo), "library/%s", path);
	else
		n = (size_t)snprintf(r.repo, sizeof(r.repo), "%s", path);
	if (n >= sizeof(r.repo) || strlen(r.domain) + 1 + n > 255)
		return oci_err(err, EINVAL, "image reference \"%.200s\": the name is longer than 255 characters",
				s);
	snprintf(r.registry, sizeof(r.registry), "%s", hub ? "registry-1.docker.io" : r.domain);
	if (!r.tag[0] && !r.digest[0])
		snprintf(r.tag, sizeof(r.tag), "latest");
	*ret = r;
	return 0;
}

void oci_ref_format(const struct oci_ref *r, char *buf, size_t len)
{
	if (r->digest[0])
		snprintf(buf, len, "%s/%s%s%s@%s", r->domain, r->repo, r->tag[0] ? ":" : "", r->tag,
			 r->digest);
	else
		snprintf(buf, len, "%s/%s:%s", r->domain, r->repo, r->tag);
}

/* --- manifests --- */

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static int parse_desc(json_t *o, const char *what, size_t i, struct oci_desc *d,
		      struct berr *err)
{
	json_t *mt, *dg, *sz, *plat, *v;

	if (!json_is_object(o))
		return oci_err(err, EINVAL, "%s %zu is not a JSON object", what, i);
	mt = json_object_get(o, "mediaType");
	dg = json_object_get(o, "digest");
	sz = json_object_get(o, "size");
	if (!json_is_string(mt) || json_string_length(mt) >= sizeof(d->media_type))
		return oci_err(err, EINVAL, "%s %zu has no valid mediaType", what, i);
	if (!json_is_string(dg) || !oci_digest_valid(json_string_value(dg)))
		return oci_err(err, EINVAL, "%s %zu has no sha256 digest", what, i);
	if (!json_is_integer(sz) || json_integer_value(sz) < 0 ||
	    (uint64_t)json_integer_value(sz) > DESC_SIZE_MAX)
		return oci_err(err, EINVAL, "%s %zu has no valid size", what, i);
	memset(d, 0, sizeof(*d));
	copy_str(d->media_type, sizeof(d->media_type), json_string_value(mt));
	copy_str(d->digest, sizeof(d->digest), json_string_value(dg));
	d->size = (uint64_t)json_integer_value(sz);
	v = json_object_get(json_object_get(o, "annotations"), "org.opencontainers.image.ref.name");
	if (json_is_string(v))
		copy_str(d->ref_name, sizeof(d->ref_name), json_string_value(v));
	plat = json_object_get(o, "platform");
	if (json_is_object(plat)) {
		json_t *os = json_object_get(plat, "os");
		json_t *arch = json_object_get(plat, "architecture");
		json_t *var = json_object_get(plat, "variant");
		if (json_is_string(os))
			copy_str(d->os, sizeof(d->os), json_string_value(os));
		if (json_is_string(arch))
			copy_str(d->arch, sizeof(d->arch), json_string_value(arch));
		if (json_is_string(var))
			copy_str(d->variant, sizeof(d->variant), json_string_value(var));
	}
	return 0;
}

enum oci_compression oci_layer_compression(const char *mt)
{
	static const struct {
		const char *mt;
		enum oci_compression c;
	} known[] = {
		{ "application/vnd.oci.image.layer.v1.tar", OCI_COMP_NONE },
		{ "application/vnd.oci.image.layer.v1.tar+gzip", OCI_COMP_GZIP },
		{ "application/vnd.oci.image.layer.v1.tar+zstd", OCI_COMP_ZSTD },
		{ "application/vnd.docker.image.rootfs.diff.tar.gzip", OCI_COMP_GZIP },
		{ "application/vnd.docker.image.rootfs.diff.tar", OCI_COMP_NONE },
	};
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (strcmp(mt, known[i].mt) == 0)
			return known[i].c;
	return OCI_COMP_ANY; /* unknown: callers refuse it */
}

static int check_layer_type(const struct oci_desc *d, size_t i, struct berr *err)
{
	if (oci_layer_compression(d->media_type) != OCI_COMP_ANY)
		return 0;
	if (strstr(d->media_type, "foreign") || strstr(d->media_type, "nondistributable"))
		return oci_err(err, ENOTSUP,
				"layer %zu (%s) is a foreign layer (%.100s): banger only pulls Linux layers from the registry",
				i + 1, d->digest, d->media_type);
	return oci_err(err, ENOTSUP, "layer %zu (%s) has media type %.100s, which is not a tar layer",
			i + 1, d->digest, d->media_type);
}

void oci_manifest_free(struct oci_manifest *m)
{
	if (!m)
		return;
	free(m->items);
	m->items = NULL;
	m->n = 0;
}

int oci_manifest_parse(const void *body, size_t len, const char *content_type,
		       unsigned max_items, struct oci_manifest *ret, struct berr *err)
{
	struct oci_manifest m;
	json_error_t jerr;
	json_t *root, *sv, *mt, *arr;
	char ctype[128] = "";
	const char *type;
	int r = 0;

	memset(&m, 0, sizeof(m));
	if (len > OCI_MANIFEST_MAX)
		return oci_err(err, EFBIG, "the manifest is %zu bytes, more than the limit of %u",
				len, OCI_MANIFEST_MAX);
	if (content_type) {
		size_t cn = strcspn(content_type, "; \t");
		if (cn < sizeof(ctype)) {
			memcpy(ctype, content_type, cn);
			ctype[cn] = '\0';
		}
	}
	if (strncmp(ctype, MT_DOCKER_V1, strlen(MT_DOCKER_V1)) == 0)
		return oci_err(err, ENOTSUP,
				"the registry only has a Docker schema 1 manifest, which banger does not read");
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return oci_err(err, EINVAL, "the manifest is not valid JSON (line %d: %s)", jerr.line,
				jerr.text);
	if (!json_is_object(root)) {
		r = oci_err(err, EINVAL, "the manifest is not a JSON object");
		goto out;
	}
	sv = json_object_get(root, "schemaVersion");
	if (json_is_integer(sv) && json_integer_value(sv) == 1) {
		r = oci_err(err, ENOTSUP, "the manifest is Docker schema 1, which banger does not read");
		goto out;
	}
	if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
		r = oci_err(err, EINVAL, "the manifest has no schemaVersion 2");
		goto out;
	}
	mt = json_object_get(root, "mediaType");
	if (mt && (!json_is_string(mt) || json_string_length(mt) >= sizeof(m.media_type))) {
		r = oci_err(err, EINVAL, "the manifest's mediaType is not a short string");
		goto out;
	}
	type = mt ? json_string_value(mt) : ctype;
	if (!*type) /* neither: tell by the fields (OCI allows that) */
		type = json_object_get(root, "manifests") ? MT_OCI_INDEX : MT_OCI_MANIFEST;
	copy_str(m.media_type, sizeof(m.media_type), type);

	if (!strcmp(type, MT_OCI_INDEX) || !strcmp(type, MT_DOCKER_LIST)) {
		m.kind = OCI_M_INDEX;
		arr = json_object_get(root, "manifests");
		if (!json_is_array(arr)) {
			r = oci_err(err, EINVAL, "the image index has no manifests array");
			goto out;
		}
		if (json_array_size(arr) > OCI_MAX_INDEX) {
			r = oci_err(err, E2BIG, "the image index lists %zu manifests, more than %d",
				     json_array_size(arr), OCI_MAX_INDEX);
			goto out;
		}
	} else if (!strcmp(type, MT_OCI_MANIFEST) || !strcmp(type, MT_DOCKER_MANIFEST)) {
		m.kind = OCI_M_IMAGE;
		r = parse_desc(json_object_get(root, "config"), "config", 0, &m.config, err);
		if (r < 0)
			goto out;
		if (strcmp(m.config.media_type, MT_OCI_CONFIG) &&
		    strcmp(m.config.media_type, MT_DOCKER_CONFIG)) {
			r = oci_err(err, ENOTSUP,
				     "the manifest is not a container image (its config is %.100s)",
				     m.config.media_type);
			goto out;
		}
		arr = json_object_get(root, "layers");
		if (!json_is_array(arr)) {
			r = oci_err(err, EINVAL, "the manifest has no layers array");
			goto out;
		}
		if (json_array_size(arr) > max_items) {
			r = oci_err(err, E2BIG, "the manifest lists %zu layers, more than the limit of %u",
				     json_array_size(arr), max_items);
			goto out;
		}
	} else {
		r = oci_err(err, ENOTSUP, "unsupported manifest media type %.100s", type);
		goto out;
	}

	m.n = json_array_size(arr);
	m.items = xcalloc(m.n ? m.n : 1, sizeof(*m.items));
	for (size_t i = 0; i < m.n; i++) {
		r = parse_desc(json_array_get(arr, i), m.kind == OCI_M_INDEX ? "manifest" : "layer", i + 1,
			       &m.items[i], err);
		if (r < 0)
			goto out;
		if (m.kind == OCI_M_IMAGE && (r = check_layer_type(&m.items[i], i, err)) < 0)
			goto out;
	}
	*ret = m;
	memset(&m, 0, sizeof(m));
out:
	oci_manifest_free(&m);
	json_decref(root);
	return r;
}

int oci_index_pick(const struct oci_manifest *m, const char *os, const char *arch,
		   size_t *ret_i, struct berr *err)
{
	struct sbuf have;

	for (size_t i = 0; i < m->n; i++) {
		const struct oci_desc *d = &m->items[i];
		if (strcmp(d->os, os) == 0 && strcmp(d->arch, arch) == 0 &&
		    (!strcmp(d->media_type, MT_OCI_MANIFEST) ||
		     !strcmp(d->media_type, MT_DOCKER_MANIFEST))) {
			*ret_i = i;
			return 0;
		}
	}
	sbuf_init(&have);
	for (size_t i = 0; i < m->n && have.len < 300; i++) {
		const struct oci_desc *d = &m->items[i];
		if (!strcmp(d->os, "unknown") && !strcmp(d->arch, "unknown"))
			continue; /* an attestation, not an image */
		sbuf_printf(&have, "%s%s/%s%s%s", have.len ? ", " : "", d->os[0] ? d->os : "?",
			    d->arch[0] ? d->arch : "?", d->variant[0] ? "/" : "", d->variant);
	}
	int r = oci_err(err, ENOENT, "the image index has no %s/%s image (it has: %s)", os, arch,
			 have.len ? have.buf : "none");
	sbuf_free(&have);
	return r;
}

/* --- image config --- */

void oci_config_free(struct oci_config *c)
{
	if (!c)
		return;
	free(c->diff_ids);
	json_decref(c->run);
	memset(c, 0, sizeof(*c));
}

static bool string_array(json_t *a, size_t max)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a) || json_array_size(a) > max)
		return false;
	json_array_foreach(a, i, v) if (!json_is_string(v)) return false;
	return true;
}

int oci_config_parse(const void *body, size_t len, struct oci_config *ret, struct berr *err)
{
	struct oci_config c;
	json_error_t jerr;
	json_t *root, *rootfs, *ids, *cfg, *v;
	int r = 0;

	memset(&c, 0, sizeof(c));
	if (len > OCI_CONFIG_MAX)
		return oci_err(err, EFBIG, "the image config is %zu bytes, more than the limit of %u",
				len, OCI_CONFIG_MAX);
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		r = oci_err(err, EINVAL, "the image config is not a JSON object%s%s",
			     root ? "" : ": ", root ? "" : jerr.text);
		goto out;
	}
	v = json_object_get(root, "os");
	copy_str(c.os, sizeof(c.os), json_is_string(v) ? json_string_value(v) : "");
	v = json_object_get(root, "architecture");
	copy_str(c.arch, sizeof(c.arch), json_is_string(v) ? json_string_value(v) : "");
	rootfs = json_object_get(root, "rootfs");
	ids = json_object_get(rootfs, "diff_ids");
	v = json_object_get(rootfs, "type");
	if (!json_is_object(rootfs) || !json_is_string(v) || strcmp(json_string_value(v), "layers") ||
	    !json_is_array(ids)) {
		r = oci_err(err, EINVAL, "the image config has no rootfs of type layers with diff_ids");
		goto out;
	}
	if (json_array_size(ids) > OCI_MAX_INDEX) {
		r = oci_err(err, E2BIG, "the image config lists %zu diff_ids", json_array_size(ids));
		goto out;
	}
	c.n_diff_ids = json_array_size(ids);
	c.diff_ids = xcalloc(c.n_diff_ids ? c.n_diff_ids : 1, sizeof(*c.diff_ids));
	for (size_t i = 0; i < c.n_diff_ids; i++) {
		v = json_array_get(ids, i);
		if (!json_is_string(v) || !oci_digest_valid(json_string_value(v))) {
			r = oci_err(err, EINVAL, "diff_id %zu of the image config is not a sha256 digest",
				     i + 1);
			goto out;
		}
		memcpy(c.diff_ids[i], json_string_value(v), OCI_DIGEST_LEN + 1);
	}

	/* What running a command needs, type-checked; everything else is
	 * left out. */
	c.run = json_object();
	cfg = json_object_get(root, "config");
	if (json_is_object(cfg)) {
		static const char *const arrays[] = { "Env", "Entrypoint", "Cmd" };
		static const char *const strings[] = { "WorkingDir", "User" };
		for (size_t i = 0; i < ARRAY_SIZE(arrays); i++) {
			v = json_object_get(cfg, arrays[i]);
			if (string_array(v, 4096))
				json_object_set(c.run, arrays[i], v);
			else if (v && !json_is_null(v)) {
				r = oci_err(err, EINVAL, "config.%s of the image config is not a list of strings",
					     arrays[i]);
				goto out;
			}
		}
		for (size_t i = 0; i < ARRAY_SIZE(strings); i++) {
			v = json_object_get(cfg, strings[i]);
			if (json_is_string(v))
				json_object_set(c.run, strings[i], v);
			else if (v && !json_is_null(v)) {
				r = oci_err(err, EINVAL, "config.%s of the image config is not a string",
					     strings[i]);
				goto out;
			}
		}
	}
	*ret = c;
	memset(&c, 0, sizeof(c));
out:
	oci_config_free(&c);
	json_decref(root);
	return r;
}

/* --- WWW-Authenticate --- */

int oci_challenge_parse(const char *hdr, struct oci_challenge *ret, struct berr *err)
{
	struct oci_challenge c;
	const char *p = hdr;
	size_t n;

	memset(&c, 0, sizeof(c));
	if (!hdr)
		return oci_err(err, EPROTO, "the registry sent no WWW-Authenticate challenge");
	while (*p == ' ' || *p == '\t')
		p++;
	n = strcspn(p, " \t");
	if (n == 0 || n >= sizeof(c.scheme))
		return oci_err(err, EPROTO, "the registry's WWW-Authenticate header has no scheme");
	for (size_t i = 0; i < n; i++)
		c.scheme[i] = (char)tolower((unsigned char)p[i]);
	if (strcmp(c.scheme, "bearer") && strcmp(c.scheme, "basic"))
		return oci_err(err, ENOTSUP, "the registry asks for %.15s authentication, which banger does not speak",
				c.scheme);
	p += n;
	for (;;) {
		char key[32], val[1024];
		size_t kn, vn = 0;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		kn = strcspn(p, "= \t,");
		if (kn == 0 || p[kn] != '=')
			return oci_err(err, EPROTO, "the registry's WWW-Authenticate header is malformed");
		if (kn >= sizeof(key))
			kn = sizeof(key) - 1; /* an unknown long key: ignored below */
		memcpy(key, p, kn);
		key[kn] = '\0';
		p += strcspn(p, "=") + 1;
		if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				if (vn + 1 >= sizeof(val))
					return oci_err(err, EPROTO,
							"a WWW-Authenticate parameter of the registry is too long");
				val[vn++] = *p++;
			}
			if (*p != '"')
				return oci_err(err, EPROTO,
						"the registry's WWW-Authenticate header has an unterminated string");
			p++;
		} else {
			while (*p && *p != ',' && *p != ' ' && *p != '\t') {
				if (vn + 1 >= sizeof(val))
					return oci_err(err, EPROTO,
							"a WWW-Authenticate parameter of the registry is too long");
				val[vn++] = *p++;
			}
		}
		val[vn] = '\0';
		for (size_t i = 0; i < vn; i++)
			if ((unsigned char)val[i] < 0x20 || val[i] == 0x7f)
				return oci_err(err, EPROTO,
						"a WWW-Authenticate parameter of the registry has a control character");
		if (!strcasecmp(key, "realm"))
			copy_str(c.realm, sizeof(c.realm), val);
		else if (!strcasecmp(key, "service") && vn < sizeof(c.service))
			copy_str(c.service, sizeof(c.service), val);
		else if (!strcasecmp(key, "scope") && vn < sizeof(c.scope))
			copy_str(c.scope, sizeof(c.scope), val);
	}
	if (!strcmp(c.scheme, "bearer") && !c.realm[0])
		return oci_err(err, EPROTO, "the registry's Bearer challenge has no realm");
	*ret = c;
	return 0;
}

/* --- docker config.json --- */

/* "https://index.docker.io/v1/" -> "index.docker.io"; "host:5000" stays. */
static void auth_key_host(const char *key, char *out, size_t cap)
{
	const char *p = key;
	size_t n;

	if (!strncasecmp(p, "https://", 8))
		p += 8;
	else if (!strncasecmp(p, "http://", 7))
		p += 7;
	n = strcspn(p, "/");
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)p[i]);
	out[n] = '\0';
}

static bool is_hub(const char *h)
{
	return !strcmp(h, "docker.io") || !strcmp(h, "index.docker.io") ||
	       !strcmp(h, "registry-1.docker.io");
}

static int decode_auth(const char *b64, char **ret_user, char **ret_pass, struct berr *err)
{
	size_t n = strlen(b64), pad = 0;
	_cleanup_free_ unsigned char *out = NULL;
	int len;

	if (n == 0 || n % 4 || n > 16384)
		return oci_err(err, EINVAL, "an \"auth\" value in the docker config is not base64");
	out = xmalloc(n / 4 * 3 + 1);
	len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
	if (len < 0)
		return oci_err(err, EINVAL, "an \"auth\" value in the docker config is not base64");
	if (b64[n - 1] == '=')
		pad++;
	if (b64[n - 2] == '=')
		pad++;
	len -= (int)pad;
	out[len] = '\0';
	char *colon = memchr(out, ':', (size_t)len);
	if (!colon || memchr(out, '\0', (size_t)len))
		return oci_err(err, EINVAL, "an \"auth\" value in the docker config is not user:password");
	*colon = '\0';
	*ret_user = xstrdup((char *)out);
	*ret_pass = xstrdup(colon + 1);
	return 0;
}

int oci_docker_auth(const char *text, size_t len, const char *registry, char **ret_user,
		    char **ret_pass, struct berr *err)
{
	json_error_t jerr;
	json_t *root, *auths, *v;
	const char *key;
	char want[256], have[256];
	int r = -ENOENT;

	root = json_loadb(text, len, 0, &jerr);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return oci_err(err, EINVAL, "the docker config is not a JSON object");
	}
	auth_key_host(registry, want, sizeof(want));
	auths = json_object_get(root, "auths");
	if (json_is_object(auths)) {
		json_object_foreach(auths, key, v) {
			json_t *a, *u, *pw;
			auth_key_host(key, have, sizeof(have));
			if (strcmp(have, want) && !(is_hub(have) && is_hub(want)))
				continue;
			if (!json_is_object(v))
				continue;
			a = json_object_get(v, "auth");
			u = json_object_get(v, "username");
			pw = json_object_get(v, "password");
			if (json_is_string(a) && json_string_length(a) > 0) {
				r = decode_auth(json_string_value(a), ret_user, ret_pass, err);
				break;
			}
			if (json_is_string(u) && json_is_string(pw)) {
				*ret_user = xstrdup(json_string_value(u));
				*ret_pass = xstrdup(json_string_value(pw));
				r = 0;
				break;
			}
		}
	}
	json_decref(root);
	return r;
}
