/* core/config.c: banger's config.toml mapped onto struct banger_config
 * (DESIGN §4), and VM sizing with provenance.
 *
 * Keys are table-driven: each known key names its field and the check its
 * value must pass.  Loading works on a copy, so a failed load leaves the
 * caller's config exactly as it was. */
#include "config.h"
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "toml.h"
#include "util.h"

#define CONFIG_MAX_FILE (1u << 20)
#define CONFIG_MAX_STR 4096         /* paths and commands */
#define CONFIG_MAX_NAME 255         /* image and kernel names */
#define CONFIG_MAX_FILE_SYNC 256
#define CONFIG_MIN_DISK (64ULL << 20)
#define CONFIG_MAX_DISK (16ULL << 40)

enum kind {
	K_NAME,      /* image/kernel name: one path component */
	K_PATH,      /* a path or command */
	K_HOMEPATH,  /* an absolute path, or ~/... (expanded with $HOME) */
	K_VMM,
	K_ACCEL,
	K_BRIDGE,
	K_SUBNET,
	K_INT,       /* integer in [min, max] */
	K_DISK,
	K_SNAPSHOT,  /* auto | off */
	K_CLONE,
	K_BOOL,
	K_MODE,      /* "0700": octal permission bits, stored as an integer */
	K_GROUP,     /* a group name or number */
	K_IPV4,      /* an IPv4 literal */
	K_URLS,      /* a URL or an array of them (catalog_url) */
	K_KEY,       /* a key: a path, PEM text (newlines allowed) or a base64 line */
	K_SIZE,      /* a size string or bytes, 0 to 1T */
};

struct key_def {
	const char *name;
	enum kind kind;
	size_t off;              /* offset of the field in banger_config */
	int64_t min, max;        /* K_INT */
	size_t has_off;          /* K_INT/K_DISK in vm_defaults: the has_ flag */
};

#define F(field) offsetof(struct banger_config, field)

static const struct key_def top_keys[] = {
	{ "default_image_name", K_NAME, F(default_image_name), 0, 0, 0 },
	{ "default_kernel_name", K_NAME, F(default_kernel_name), 0, 0, 0 },
	{ "ssh_key_path", K_HOMEPATH, F(ssh_key_path), 0, 0, 0 },
	{ "firecracker_bin", K_PATH, F(firecracker_bin), 0, 0, 0 },
	{ "jailer_bin", K_PATH, F(jailer_bin), 0, 0, 0 },
	{ "qemu_bin", K_PATH, F(qemu_bin), 0, 0, 0 },
	{ "vmm", K_VMM, F(vmm), 0, 0, 0 },
	{ "qemu_accel", K_ACCEL, F(qemu_accel), 0, 0, 0 },
	{ "bridge_name", K_BRIDGE, F(bridge_name), 0, 0, 0 },
	{ "bridge_subnet", K_SUBNET, F(bridge_subnet), 0, 0, 0 },
	{ "stop_timeout_s", K_INT, F(stop_timeout_s), 1, 600, 0 },
	{ "dns_port", K_INT, F(dns_port), 0, 65535, 0 },
	{ "snapshot", K_SNAPSHOT, F(snapshot), 0, 0, 0 },
	{ "disk_clone", K_CLONE, F(disk_clone), 0, 0, 0 },
	{ "allow_other", K_BOOL, F(allow_other), 0, 0, 0 },
	{ "vm_group", K_GROUP, F(vm_group), 0, 0, 0 },
	{ "vm_mode", K_MODE, F(vm_mode), 0, 0777, 0 },
	{ "port_bind", K_IPV4, F(port_bind), 0, 0, 0 },
	{ "catalog_url", K_URLS, F(catalog_urls), 0, 0, 0 },
	{ "catalog_pubkey", K_KEY, F(catalog_pubkey), 0, 0, 0 },
	{ "catalog_insecure", K_BOOL, F(catalog_insecure), 0, 0, 0 },
	{ "catalog_ttl", K_INT, F(catalog_ttl), 1, 31536000, 0 },
	{ "oci_headroom", K_SIZE, F(oci_headroom), 0, 0, 0 },
	{ "docker_config", K_HOMEPATH, F(docker_config), 0, 0, 0 },
	{ "oci_inject_dir", K_HOMEPATH, F(oci_inject_dir), 0, 0, 0 },
};

#define CONFIG_MAX_URLS 16
#define CONFIG_MAX_SIZE (1ULL << 40)

static const struct key_def vm_default_keys[] = {
	{ "vcpu", K_INT, F(vm_defaults.vcpu), 1, 32, F(vm_defaults.has_vcpu) },
	{ "memory_mib", K_INT, F(vm_defaults.memory_mib), 128, 1048576,
	  F(vm_defaults.has_memory_mib) },
	{ "disk_size", K_DISK, F(vm_defaults.disk_size), 0, 0, F(vm_defaults.has_disk_size) },
};

static const char *const vmm_choices[] = { "auto", "firecracker", "qemu", NULL };
static const char *const accel_choices[] = { "auto", "kvm", "tcg", NULL };
/* How a VM's root disk is cloned from its image (core/vmdisk.h). */
static const char *const clone_choices[] = { "auto", "reflink", "dm-snapshot", "sparse-copy",
					      NULL };

/* ---- defaults, copy, free ------------------------------------------ */

void config_init(struct banger_config *c)
{
	memset(c, 0, sizeof(*c));
	c->qemu_bin = xstrdup("qemu-system-x86_64");
	c->vmm = xstrdup("auto");
	c->qemu_accel = xstrdup("auto");
	c->disk_clone = xstrdup("auto");
	c->bridge_name = xstrdup("br-fc");
	c->bridge_subnet = xstrdup("172.16.0.1/24");
	c->stop_timeout_s = 30;
	c->dns_port = 42053;
	c->vm_mode = 0700;
	c->port_bind = xstrdup("127.0.0.1");
	c->snapshot = xstrdup("auto");
	c->catalog_ttl = 3600;
	c->oci_headroom = 512ULL << 20;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void file_sync_clear(struct file_sync *f)
{
	free(f->host);
	free(f->guest);
	free(f->mode);
}

void config_free(struct banger_config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->default_image_name);
	free(c->default_kernel_name);
	free(c->ssh_key_path);
	free(c->firecracker_bin);
	free(c->jailer_bin);
	free(c->qemu_bin);
	free(c->vmm);
	free(c->qemu_accel);
	free(c->disk_clone);
	free(c->bridge_name);
	free(c->bridge_subnet);
	free(c->vm_group);
	free(c->port_bind);
	free(c->snapshot);
	for (size_t i = 0; i < c->n_catalog_urls; i++)
		free(c->catalog_urls[i]);
	free(c->catalog_urls);
	free(c->catalog_pubkey);
	free(c->docker_config);
	free(c->oci_inject_dir);
	for (size_t i = 0; i < c->n_file_sync; i++)
		file_sync_clear(&c->file_sync[i]);
	free(c->file_sync);
	memset(c, 0, sizeof(*c));
}

static void config_copy(struct banger_config *dst, const struct banger_config *src)
{
	*dst = *src;
	dst->path = dup_or_null(src->path);
	dst->default_image_name = dup_or_null(src->default_image_name);
	dst->default_kernel_name = dup_or_null(src->default_kernel_name);
	dst->ssh_key_path = dup_or_null(src->ssh_key_path);
	dst->firecracker_bin = dup_or_null(src->firecracker_bin);
	dst->jailer_bin = dup_or_null(src->jailer_bin);
	dst->qemu_bin = dup_or_null(src->qemu_bin);
	dst->vmm = dup_or_null(src->vmm);
	dst->qemu_accel = dup_or_null(src->qemu_accel);
	dst->disk_clone = dup_or_null(src->disk_clone);
	dst->bridge_name = dup_or_null(src->bridge_name);
	dst->bridge_subnet = dup_or_null(src->bridge_subnet);
	dst->vm_group = dup_or_null(src->vm_group);
	dst->port_bind = dup_or_null(src->port_bind);
	dst->snapshot = dup_or_null(src->snapshot);
	dst->catalog_pubkey = dup_or_null(src->catalog_pubkey);
	dst->docker_config = dup_or_null(src->docker_config);
	dst->oci_inject_dir = dup_or_null(src->oci_inject_dir);
	dst->catalog_urls = NULL;
	if (src->n_catalog_urls) {
		dst->catalog_urls = xcalloc(src->n_catalog_urls, sizeof(*dst->catalog_urls));
		for (size_t i = 0; i < src->n_catalog_urls; i++)
			dst->catalog_urls[i] = xstrdup(src->catalog_urls[i]);
	}
	dst->file_sync = NULL;
	if (src->n_file_sync) {
		dst->file_sync = xcalloc(src->n_file_sync, sizeof(*dst->file_sync));
		for (size_t i = 0; i < src->n_file_sync; i++) {
			dst->file_sync[i].host = dup_or_null(src->file_sync[i].host);
			dst->file_sync[i].guest = dup_or_null(src->file_sync[i].guest);
			dst->file_sync[i].mode = dup_or_null(src->file_sync[i].mode);
			dst->file_sync[i].line = src->file_sync[i].line;
		}
	}
}

/* ---- value checks -------------------------------------------------- */

struct ctx {
	const char *file;
	struct berr *err;
};

static int cerr(const struct ctx *cx, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int cerr(const struct ctx *cx, int line, const char *fmt, ...)
{
	char msg[BERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return berr_set(cx->err, EINVAL, "%s:%d: %s", cx->file, line, msg);
}

/* Keys come from the file: show at most 64 printable bytes of them. */
static const char *shown(char *buf, size_t size, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i < 64 && i + 1 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	buf[i] = '\0';
	return buf;
}

static int want_string(const struct ctx *cx, const char *key, const struct toml_value *v,
		       size_t max)
{
	if (v->type != TOML_STRING)
		return cerr(cx, v->line, "%s must be a string, got %s", key, toml_type_name(v->type));
	size_t n = strlen(v->u.s);
	if (n == 0)
		return cerr(cx, v->line, "%s must not be empty", key);
	if (n > max)
		return cerr(cx, v->line, "%s is longer than %zu bytes", key, max);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v->u.s[i];
		if (c < 0x20 || c == 0x7f)
			return cerr(cx, v->line, "%s contains a control character", key);
	}
	return 0;
}

static int check_choice(const struct ctx *cx, const char *key, const struct toml_value *v,
			const char *const *choices)
{
	char b[80];
	struct sbuf list;
	size_t n = 0;

	for (; choices[n]; n++)
		if (strcmp(v->u.s, choices[n]) == 0)
			return 0;
	/* "a, b or c" */
	sbuf_init(&list);
	for (size_t i = 0; i < n; i++)
		sbuf_printf(&list, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", choices[i]);
	int r = cerr(cx, v->line, "%s must be %s, got '%s'", key, list.buf,
		     shown(b, sizeof(b), v->u.s));
	sbuf_free(&list);
	return r;
}

static int check_name(const struct ctx *cx, const char *key, const struct toml_value *v)
{
	const char *s = v->u.s;

	if (strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
		char b[80];
		return cerr(cx, v->line, "%s '%s' must be a name, not a path", key,
			    shown(b, sizeof(b), s));
	}
	return 0;
}

/* bridge_name and bridge_subnet are checked by the same code the network
 * operations use (helper/netaddr.c); the sentence gets our file:line. */
static int check_ifname(const struct ctx *cx, const char *key, const struct toml_value *v)
{
	struct berr e = { 0 };
	if (net_name_validate(v->u.s, NULL, &e) < 0)
		return cerr(cx, v->line, "%s: %s", key, e.msg);
	return 0;
}

static int check_subnet(const struct ctx *cx, const char *key, const struct toml_value *v)
{
	struct berr e = { 0 };
	uint32_t gw, net;
	int prefix;
	if (net_subnet_parse(v->u.s, &gw, &net, &prefix, &e) < 0)
		return cerr(cx, v->line, "%s: %s", key, e.msg);
	return 0;
}

/* The user's home for "~/": $HOME when it is absolute, else the password
 * database's. */
static const char *config_home(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h && h[0] == '/')
		return h;
	pw = getpwuid(getuid());
	return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : "/";
}

static int check_home_path(const struct ctx *cx, const char *key, const struct toml_value *v)
{
	char b[80];

	if (v->u.s[0] == '/' || (strncmp(v->u.s, "~/", 2) == 0 && v->u.s[2]))
		return 0;
	return cerr(cx, v->line, "%s '%s' must be an absolute path or start with ~/", key,
		    shown(b, sizeof(b), v->u.s));
}

static int set_int(const struct ctx *cx, const char *key, const struct toml_value *v,
		   int64_t min, int64_t max, int64_t *ret)
{
	if (v->type != TOML_INT)
		return cerr(cx, v->line, "%s must be an integer, got %s", key, toml_type_name(v->type));
	if (v->u.i < min || v->u.i > max)
		return cerr(cx, v->line, "%s must be between %lld and %lld, got %lld", key,
			    (long long)min, (long long)max, (long long)v->u.i);
	*ret = v->u.i;
	return 0;
}

static int set_disk(const struct ctx *cx, const char *key, const struct toml_value *v,
		    uint64_t *ret)
{
	uint64_t bytes;
	char b[80];

	if (v->type == TOML_INT) {
		if (v->u.i < 0)
			return cerr(cx, v->line, "%s must not be negative", key);
		bytes = (uint64_t)v->u.i;
	} else if (v->type == TOML_STRING) {
		if (parse_size(v->u.s, &bytes) < 0)
			return cerr(cx, v->line, "%s '%s' is not a size (use e.g. \"8G\", \"512M\" "
				    "or a number of bytes)", key, shown(b, sizeof(b), v->u.s));
	} else {
		return cerr(cx, v->line, "%s must be a size string or an integer, got %s", key,
			    toml_type_name(v->type));
	}
	if (bytes < CONFIG_MIN_DISK)
		return cerr(cx, v->line, "%s must be at least 64M, got %llu bytes", key,
			    (unsigned long long)bytes);
	if (bytes > CONFIG_MAX_DISK)
		return cerr(cx, v->line, "%s must be at most 16T, got %llu bytes", key,
			    (unsigned long long)bytes);
	*ret = bytes;
	return 0;
}

/* "0700", "700": three or four octal digits, at most 0777. */
static int set_mode(const struct ctx *cx, const char *key, const struct toml_value *v,
		    int64_t *ret)
{
	char b[80];
	if (v->type != TOML_STRING)
		return cerr(cx, v->line, "%s must be a string like \"0700\", got %s", key,
			    toml_type_name(v->type));
	const char *s = v->u.s;
	size_t n = strlen(s);
	bool ok = n == 3 || (n == 4 && s[0] == '0');
	int64_t m = 0;
	for (size_t i = 0; ok && i < n; i++) {
		ok = s[i] >= '0' && s[i] <= '7';
		m = m * 8 + (s[i] - '0');
	}
	if (!ok)
		return cerr(cx, v->line, "%s '%s' must be octal permissions from 000 to 0777, like "
			    "\"0700\"", key, shown(b, sizeof(b), s));
	*ret = m;
	return 0;
}

/* A group: a name as useradd allows it, or a number. */
static int check_group(const struct ctx *cx, const char *key, const struct toml_value *v)
{
	char b[80];
	const char *s = v->u.s;
	bool ok = strlen(s) <= 32 && s[0] != '-';
	for (size_t i = 0; ok && s[i]; i++)
		ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		     (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.';
	if (!ok)
		return cerr(cx, v->line, "%s '%s' must be a group name or number", key,
			    shown(b, sizeof(b), s));
	return 0;
}

/* oci_headroom: like disk sizes, but 0 is allowed (exactly the content). */
static int set_size(const struct ctx *cx, const char *key, const struct toml_value *v,
		    uint64_t *ret)
{
	uint64_t bytes;
	char b[80];

	if (v->type == TOML_INT) {
		if (v->u.i < 0)
			return cerr(cx, v->line, "%s must not be negative", key);
		bytes = (uint64_t)v->u.i;
	} else if (v->type == TOML_STRING) {
		if (parse_size(v->u.s, &bytes) < 0)
			return cerr(cx, v->line, "%s '%s' is not a size (use e.g. \"512M\", \"1G\" "
				    "or a number of bytes)", key, shown(b, sizeof(b), v->u.s));
	} else {
		return cerr(cx, v->line, "%s must be a size string or an integer, got %s", key,
			    toml_type_name(v->type));
	}
	if (bytes > CONFIG_MAX_SIZE)
		return cerr(cx, v->line, "%s must be at most 1T, got %llu bytes", key,
			    (unsigned long long)bytes);
	*ret = bytes;
	return 0;
}

/* One catalog URL: http://, https:// or file://, printable, no spaces
 * (the catalog code checks the rest when the daemon starts). */
static int check_url(const struct ctx *cx, const char *key, const struct toml_value *v)
{
	char b[80];
	int r = want_string(cx, key, v, CONFIG_MAX_STR);
	if (r < 0)
		return r;
	const char *s = v->u.s;
	if (strncmp(s, "http://", 7) && strncmp(s, "https://", 8) && strncmp(s, "file://", 7))
		return cerr(cx, v->line, "%s '%s' must start with https://, http:// or file://", key,
			    shown(b, sizeof(b), s));
	if (strchr(s, ' '))
		return cerr(cx, v->line, "%s '%s' must not contain spaces", key,
			    shown(b, sizeof(b), s));
	return 0;
}

static int check_ipv4(const struct ctx *cx, const char *key, const struct toml_value *v)
{
	char b[80];
	struct in_addr a;
	if (inet_pton(AF_INET, v->u.s, &a) != 1)
		return cerr(cx, v->line, "%s '%s' must be an IPv4 address", key,
			    shown(b, sizeof(b), v->u.s));
	return 0;
}

/* catalog_url = "URL" or ["URL", ...]: replaces what an earlier value set. */
static int set_urls(const struct ctx *cx, struct banger_config *c, const char *key,
		    const struct toml_value *v)
{
	const struct toml_value *const *items = &v;
	size_t n = 1;
	int r;

	if (v->type == TOML_ARRAY) {
		items = (const struct toml_value *const *)v->u.a.items;
		n = v->u.a.n;
		if (n == 0)
			return cerr(cx, v->line, "%s must list at least one URL", key);
		if (n > CONFIG_MAX_URLS)
			return cerr(cx, v->line, "%s lists more than %d URLs", key, CONFIG_MAX_URLS);
	} else if (v->type != TOML_STRING) {
		return cerr(cx, v->line, "%s must be a string or an array of strings, got %s", key,
			    toml_type_name(v->type));
	}
	for (size_t i = 0; i < n; i++)
		if ((r = check_url(cx, key, items[i])) < 0)
			return r;
	for (size_t i = 0; i < c->n_catalog_urls; i++)
		free(c->catalog_urls[i]);
	free(c->catalog_urls);
	c->catalog_urls = xcalloc(n, sizeof(*c->catalog_urls));
	for (size_t i = 0; i < n; i++)
		c->catalog_urls[i] = xstrdup(items[i]->u.s);
	c->n_catalog_urls = n;
	return 0;
}

/* catalog_pubkey: a path, the base64 line of a PEM public key, or PEM text
 * (its newlines written as \n); checked as a key when the daemon starts. */
static int set_key(const struct ctx *cx, const char *key, const struct toml_value *v,
		   char **field)
{
	if (v->type != TOML_STRING)
		return cerr(cx, v->line, "%s must be a string, got %s", key, toml_type_name(v->type));
	size_t n = strlen(v->u.s);
	if (n == 0)
		return cerr(cx, v->line, "%s must not be empty", key);
	if (n > CONFIG_MAX_STR)
		return cerr(cx, v->line, "%s is longer than %d bytes", key, CONFIG_MAX_STR);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v->u.s[i];
		if ((ch < 0x20 && ch != '\n' && ch != '\r') || ch == 0x7f)
			return cerr(cx, v->line, "%s contains a control character", key);
	}
	free(*field);
	if (strncmp(v->u.s, "~/", 2) == 0 && v->u.s[2])
		*field = path_join(config_home(), v->u.s + 2);
	else
		*field = xstrdup(v->u.s);
	return 0;
}

static int apply_key(const struct ctx *cx, struct banger_config *c, const struct key_def *d,
		     const struct toml_value *v)
{
	char *base = (char *)c;
	int r;

	if (d->kind == K_BOOL) {
		if (v->type != TOML_BOOL)
			return cerr(cx, v->line, "%s must be true or false, got %s", d->name,
				    toml_type_name(v->type));
		*(bool *)(base + d->off) = v->u.b;
		r = 0;
	} else if (d->kind == K_MODE) {
		r = set_mode(cx, d->name, v, (int64_t *)(base + d->off));
	} else if (d->kind == K_INT) {
		r = set_int(cx, d->name, v, d->min, d->max, (int64_t *)(base + d->off));
	} else if (d->kind == K_DISK) {
		r = set_disk(cx, d->name, v, (uint64_t *)(base + d->off));
	} else if (d->kind == K_SIZE) {
		r = set_size(cx, d->name, v, (uint64_t *)(base + d->off));
	} else if (d->kind == K_URLS) {
		r = set_urls(cx, c, d->name, v);
	} else if (d->kind == K_KEY) {
		r = set_key(cx, d->name, v, (char **)(base + d->off));
	} else {
		r = want_string(cx, d->name, v, d->kind == K_NAME ? CONFIG_MAX_NAME : CONFIG_MAX_STR);
		if (r < 0)
			return r;
		switch (d->kind) {
		case K_NAME: r = check_name(cx, d->name, v); break;
		case K_VMM: r = check_choice(cx, d->name, v, vmm_choices); break;
		case K_ACCEL: r = check_choice(cx, d->name, v, accel_choices); break;
		case K_CLONE: r = check_choice(cx, d->name, v, clone_choices); break;
		case K_BRIDGE: r = check_ifname(cx, d->name, v); break;
		case K_SUBNET: r = check_subnet(cx, d->name, v); break;
		case K_HOMEPATH: r = check_home_path(cx, d->name, v); break;
		case K_SNAPSHOT:
			if (strcmp(v->u.s, "auto") != 0 && strcmp(v->u.s, "off") != 0) {
				char b[80];
				r = cerr(cx, v->line, "%s must be auto or off, got '%s'", d->name,
					 shown(b, sizeof(b), v->u.s));
			}
			break;
		case K_GROUP: r = check_group(cx, d->name, v); break;
		case K_IPV4: r = check_ipv4(cx, d->name, v); break;
		case K_PATH: case K_INT: case K_DISK: case K_BOOL: case K_MODE: case K_URLS:
		case K_KEY: case K_SIZE: break;
		}
		if (r < 0)
			return r;
		char **field = (char **)(base + d->off);
		free(*field);
		if (d->kind == K_HOMEPATH && v->u.s[0] == '~')
			*field = path_join(config_home(), v->u.s + 2);
		else
			*field = xstrdup(v->u.s);
	}
	if (r >= 0 && d->has_off)
		*(bool *)(base + d->has_off) = true;
	return r;
}

static const struct key_def *find_key(const struct key_def *defs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(defs[i].name, name) == 0)
			return &defs[i];
	return NULL;
}

static int apply_vm_defaults(const struct ctx *cx, struct banger_config *c,
			     const struct toml_value *t)
{
	char b[80];
	int r;

	if (t->type != TOML_TABLE)
		return cerr(cx, t->line, "vm_defaults must be a table, got %s", toml_type_name(t->type));
	for (size_t i = 0; i < t->u.t.n; i++) {
		const struct key_def *d = find_key(vm_default_keys, ARRAY_SIZE(vm_default_keys),
						   t->u.t.keys[i]);
		if (!d)
			return cerr(cx, t->u.t.vals[i]->line, "unknown key '%s' in [vm_defaults]",
				    shown(b, sizeof(b), t->u.t.keys[i]));
		r = apply_key(cx, c, d, t->u.t.vals[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Guest paths: "~/x" (the guest's home, /root) or absolute, strictly below
 * /root, no empty, "." or ".." components. */
static int check_guest_path(const struct ctx *cx, const struct toml_value *v)
{
	_cleanup_free_ char *norm = NULL;
	const char *s = v->u.s;
	char b[80];

	if (strncmp(s, "~/", 2) == 0)
		s = norm = xasprintf("/root/%s", s + 2);
	shown(b, sizeof(b), v->u.s);
	if (strncmp(s, "/root/", 6) != 0 || s[6] == '\0')
		return cerr(cx, v->line, "file_sync guest path '%s' must be under /root (an absolute "
			    "path, or ~/ for /root/)", b);
	for (const char *p = s + 1; *p;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return cerr(cx, v->line, "file_sync guest path '%s' must not contain empty, "
				    "'.' or '..' components", b);
		p += n + (e ? 1 : 0);
		if (e && !*p)
			return cerr(cx, v->line, "file_sync guest path '%s' must not end in '/'", b);
	}
	return 0;
}

/* "0600" style: three or four octal digits, at most 0777. */
static int check_mode(const struct ctx *cx, const struct toml_value *v)
{
	const char *s = v->u.s;
	size_t n = strlen(s);
	char b[80];
	bool ok = n == 3 || (n == 4 && s[0] == '0');

	for (size_t i = 0; ok && i < n; i++)
		ok = s[i] >= '0' && s[i] <= '7';
	if (!ok)
		return cerr(cx, v->line, "file_sync mode '%s' must be octal permissions from 0000 "
			    "to 0777, like \"0600\"", shown(b, sizeof(b), s));
	return 0;
}

static int apply_file_sync_entry(const struct ctx *cx, struct file_sync *f,
				 const struct toml_value *t)
{
	char b[80];
	int r;

	f->line = t->line;
	for (size_t i = 0; i < t->u.t.n; i++) {
		const char *k = t->u.t.keys[i];
		const struct toml_value *v = t->u.t.vals[i];
		char **field;
		char what[32];

		if (strcmp(k, "host") == 0)
			field = &f->host;
		else if (strcmp(k, "guest") == 0)
			field = &f->guest;
		else if (strcmp(k, "mode") == 0)
			field = &f->mode;
		else
			return cerr(cx, v->line, "unknown key '%s' in [[file_sync]]",
				    shown(b, sizeof(b), k));
		snprintf(what, sizeof(what), "file_sync %s", k);
		r = want_string(cx, what, v, CONFIG_MAX_STR);
		if (r < 0)
			return r;
		if (field == &f->guest)
			r = check_guest_path(cx, v);
		else if (field == &f->mode)
			r = check_mode(cx, v);
		else if (v->u.s[0] != '/' && strncmp(v->u.s, "~/", 2) != 0 &&
			 strcmp(v->u.s, "~") != 0)
			r = cerr(cx, v->line, "file_sync host path '%s' must be absolute or start "
				 "with ~/", shown(b, sizeof(b), v->u.s));
		if (r < 0)
			return r;
		free(*field);
		if (field == &f->guest && strncmp(v->u.s, "~/", 2) == 0)
			*field = xasprintf("/root/%s", v->u.s + 2);
		else
			*field = xstrdup(v->u.s);
	}
	if (!f->host)
		return cerr(cx, t->line, "[[file_sync]] entry is missing 'host'");
	if (!f->guest)
		return cerr(cx, t->line, "[[file_sync]] entry is missing 'guest'");
	return 0;
}

static int apply_file_sync(const struct ctx *cx, struct banger_config *c,
			   const struct toml_value *a)
{
	if (a->type != TOML_ARRAY)
		return cerr(cx, a->line, "file_sync must be an array of tables ([[file_sync]]), got %s",
			    toml_type_name(a->type));
	for (size_t i = 0; i < a->u.a.n; i++)
		if (a->u.a.items[i]->type != TOML_TABLE)
			return cerr(cx, a->u.a.items[i]->line, "file_sync must be an array of tables "
				    "([[file_sync]]), got an array holding %s",
				    toml_type_name(a->u.a.items[i]->type));
	if (c->n_file_sync + a->u.a.n > CONFIG_MAX_FILE_SYNC)
		return cerr(cx, a->line, "more than %d [[file_sync]] entries", CONFIG_MAX_FILE_SYNC);
	if (a->u.a.n == 0)
		return 0;
	c->file_sync = xrealloc(c->file_sync, (c->n_file_sync + a->u.a.n) * sizeof(*c->file_sync));
	for (size_t i = 0; i < a->u.a.n; i++) {
		struct file_sync *f = &c->file_sync[c->n_file_sync];
		memset(f, 0, sizeof(*f));
		c->n_file_sync++; /* counted first so config_free frees a partial entry */
		int r = apply_file_sync_entry(cx, f, a->u.a.items[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int apply_root(const struct ctx *cx, struct banger_config *c, const struct toml_value *root)
{
	char b[80];
	int r;

	for (size_t i = 0; i < root->u.t.n; i++) {
		const char *k = root->u.t.keys[i];
		const struct toml_value *v = root->u.t.vals[i];
		const struct key_def *d = find_key(top_keys, ARRAY_SIZE(top_keys), k);

		if (d)
			r = apply_key(cx, c, d, v);
		else if (strcmp(k, "vm_defaults") == 0)
			r = apply_vm_defaults(cx, c, v);
		else if (strcmp(k, "file_sync") == 0)
			r = apply_file_sync(cx, c, v);
		else if (v->type == TOML_TABLE)
			r = cerr(cx, v->line, "unknown table [%s]", shown(b, sizeof(b), k));
		else
			r = cerr(cx, v->line, "unknown key '%s'", shown(b, sizeof(b), k));
		if (r < 0)
			return r;
	}
	return 0;
}

int config_parse(struct banger_config *c, const char *text, size_t len,
		 const char *name, struct berr *err)
{
	struct ctx cx = { .file = name ? name : "<config>", .err = err };
	struct toml_value *root = NULL;
	struct banger_config n;
	int r;

	r = toml_parse(text, len, cx.file, &root, err);
	if (r < 0)
		return r;
	config_copy(&n, c);
	r = apply_root(&cx, &n, root);
	toml_free(root);
	if (r < 0) {
		config_free(&n);
		return r;
	}
	config_free(c);
	*c = n;
	return 0;
}

int config_load(struct banger_config *c, const char *path, bool must_exist,
		struct berr *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r;

	r = read_file(path, CONFIG_MAX_FILE, &text, &len);
	if (r == -ENOENT && !must_exist)
		return 0;
	if (r == -EFBIG)
		return berr_set(err, EFBIG, "%s: config file is larger than %u bytes", path,
				CONFIG_MAX_FILE);
	if (r < 0)
		return berr_set(err, -r, "reading config %s: %s", path, strerror(-r));
	r = config_parse(c, text, len, path, err);
	if (r < 0)
		return r;
	free(c->path);
	c->path = xstrdup(path);
	return 0;
}

/* ---- sizing ----------------------------------------------------------- */

const char *prov_name(enum prov p)
{
	switch (p) {
	case PROV_FLOOR: return "floor";
	case PROV_DEFAULT: return "default";
	case PROV_HOST: return "host";
	case PROV_CONFIG: return "config";
	case PROV_VM: return "vm";
	}
	return "unknown";
}

/* MemTotal from /proc/meminfo text, in bytes. */
static int meminfo_total(const char *text, uint64_t *ret)
{
	const char *p = strstr(text, "MemTotal:");
	char num[32];
	size_t n = 0;
	uint64_t kib;

	if (!p || (p != text && p[-1] != '\n'))
		return -ENOENT;
	p += strlen("MemTotal:");
	while (*p == ' ' || *p == '\t')
		p++;
	while (p[n] >= '0' && p[n] <= '9' && n < sizeof(num) - 1) {
		num[n] = p[n];
		n++;
	}
	num[n] = '\0';
	if (strncmp(p + n, " kB", 3) != 0 || parse_u64(num, &kib) < 0 || kib > (UINT64_MAX >> 10))
		return -EINVAL;
	*ret = kib << 10;
	return 0;
}

int hostinfo_read(struct hostinfo *h)
{
	_cleanup_free_ char *text = NULL;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int r, ret = 0;

	h->cpus = cpus > 0 ? cpus : 0;
	h->ram_bytes = 0;
	if (cpus <= 0)
		ret = -EINVAL;
	r = read_file("/proc/meminfo", 1 << 16, &text, NULL);
	if (r >= 0)
		r = meminfo_total(text, &h->ram_bytes);
	if (r < 0)
		ret = r;
	return ret;
}

void sizing_resolve(const struct banger_config *c, const struct hostinfo *h,
		    struct sizing *out)
{
	long cpus = h ? h->cpus : 0;
	uint64_t ram = h ? h->ram_bytes : 0;

	if (c && c->vm_defaults.has_vcpu) {
		out->vcpu = c->vm_defaults.vcpu;
		out->vcpu_prov = PROV_CONFIG;
	} else {
		int64_t v = cpus > 0 ? cpus / 4 : 0;
		if (v > SIZING_MAX_VCPU)
			v = SIZING_MAX_VCPU;
		out->vcpu = v < SIZING_FLOOR_VCPU ? SIZING_FLOOR_VCPU : v;
		out->vcpu_prov = v < SIZING_FLOOR_VCPU ? PROV_FLOOR : PROV_HOST;
	}

	if (c && c->vm_defaults.has_memory_mib) {
		out->memory_mib = c->vm_defaults.memory_mib;
		out->memory_prov = PROV_CONFIG;
	} else {
		uint64_t mib = ram / 8 / (1024 * 1024);
		if (mib > SIZING_MAX_MEMORY_MIB)
			mib = SIZING_MAX_MEMORY_MIB;
		out->memory_mib = mib < SIZING_FLOOR_MEMORY_MIB ? SIZING_FLOOR_MEMORY_MIB : (int64_t)mib;
		out->memory_prov = mib < SIZING_FLOOR_MEMORY_MIB ? PROV_FLOOR : PROV_HOST;
	}

	if (c && c->vm_defaults.has_disk_size) {
		out->disk_size = c->vm_defaults.disk_size;
		out->disk_prov = PROV_CONFIG;
	} else {
		out->disk_size = SIZING_DEFAULT_DISK;
		out->disk_prov = PROV_DEFAULT;
	}
}
