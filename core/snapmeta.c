/* core/snapmeta.c: see snapmeta.h. */
#define _GNU_SOURCE
#include "snapmeta.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "util.h"

#define BLOCK 4096

void snap_meta_clear(struct snap_meta *m)
{
	free(m->key_text);
	free(m->cmdline);
	memset(m, 0, sizeof(*m));
}

void snap_key(const char *key_text, char out[65])
{
	struct sha256 h;
	if (sha256_begin(&h) < 0) {
		/* Only when OpenSSL cannot allocate: a key nothing matches. */
		memset(out, '0', 64);
		out[64] = 0;
		return;
	}
	sha256_feed(&h, key_text, strlen(key_text));
	sha256_end(&h, out);
}

void snap_name(const char *image, const char key[65], char out[SNAP_NAME_MAX])
{
	char img[41];
	size_t n = 0;
	for (const char *p = image; *p && n < sizeof(img) - 1; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
		img[n++] = ok ? c : '-';
	}
	img[n] = 0;
	if (!n || img[0] == '.' || img[0] == '-')
		snprintf(out, SNAP_NAME_MAX, "s-%.12s", key);
	else
		snprintf(out, SNAP_NAME_MAX, "%s-%.12s", img, key);
}

bool snap_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= SNAP_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return false;
	return true;
}

static bool hex64(const char *s)
{
	return sha256_hex_valid(s);
}

static bool printable(const char *s, bool newlines)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && !(newlines && *p == '\n')) || *p == 0x7f)
			return false;
	return true;
}

static const char *const file_names[] = { "state", "mem", "rootfs.ext4" };

static bool known_file(const char *n)
{
	for (size_t i = 0; i < ARRAY_SIZE(file_names); i++)
		if (strcmp(n, file_names[i]) == 0)
			return true;
	return false;
}

/* A string member that must be there: copied into buf (len bytes). */
static int get_str(json_t *o, const char *key, char *buf, size_t len, bool allow_empty,
		   struct berr *err)
{
	json_t *v = json_object_get(o, key);
	const char *s = json_string_value(v);
	if (!s)
		return berr_set(err, EINVAL, "meta.json: \"%s\" is missing or not a string", key);
	if (strlen(s) != json_string_length(v) || strlen(s) >= len || (!allow_empty && !*s) ||
	    !printable(s, false))
		return berr_set(err, EINVAL, "meta.json: \"%s\" is empty, too long or has control "
				"characters", key);
	snprintf(buf, len, "%s", s);
	return 0;
}

static int get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *ret,
		   struct berr *err)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		return berr_set(err, EINVAL, "meta.json: \"%s\" is missing or not a whole number", key);
	json_int_t x = json_integer_value(v);
	if (x < lo || x > hi)
		return berr_set(err, ERANGE, "meta.json: \"%s\" is out of range", key);
	*ret = (int64_t)x;
	return 0;
}

static int parse_obj(json_t *o, struct snap_meta *m, struct berr *err)
{
	static const char *const keys[] = { "version", "name", "key", "key_text", "image", "kernel",
					    "vmm", "source_vm", "vcpu", "memory_mib", "work_size",
					    "cmdline", "created_ms", "files" };
	const char *k;
	json_t *v;
	int64_t x;
	int r;

	if (!json_is_object(o))
		return berr_set(err, EINVAL, "meta.json is not a JSON object");
	json_object_foreach(o, k, v) {
		bool known = false;
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
			known |= strcmp(k, keys[i]) == 0;
		if (!known)
			return berr_set(err, EINVAL, "meta.json: unknown key \"%.40s\"", k);
	}
	if ((r = get_int(o, "version", 1, 1000, &x, err)) < 0)
		return r;
	if (x != SNAP_META_VERSION)
		return berr_set(err, EPROTO, "meta.json: version %lld, this banger reads %d",
				(long long)x, SNAP_META_VERSION);
	if ((r = get_str(o, "name", m->name, sizeof(m->name), false, err)) < 0 ||
	    (r = get_str(o, "key", m->key, sizeof(m->key), false, err)) < 0 ||
	    (r = get_str(o, "image", m->image, sizeof(m->image), false, err)) < 0 ||
	    (r = get_str(o, "kernel", m->kernel, sizeof(m->kernel), false, err)) < 0 ||
	    (r = get_str(o, "vmm", m->vmm, sizeof(m->vmm), false, err)) < 0 ||
	    (r = get_str(o, "source_vm", m->source_vm, sizeof(m->source_vm), true, err)) < 0)
		return r;
	if (!snap_name_valid(m->name))
		return berr_set(err, EINVAL, "meta.json: \"%s\" is not a snapshot name", m->name);
	if (!hex64(m->key))
		return berr_set(err, EINVAL, "meta.json: key is not 64 lowercase hex digits");
	json_t *kt = json_object_get(o, "key_text");
	json_t *cl = json_object_get(o, "cmdline");
	const char *kts = json_string_value(kt), *cls = json_string_value(cl);
	if (!kts || strlen(kts) != json_string_length(kt) || !*kts ||
	    strlen(kts) >= SNAP_KEY_TEXT_MAX || !printable(kts, true))
		return berr_set(err, EINVAL, "meta.json: key_text is missing, empty, too long or has "
				"control characters");
	if (!cls || strlen(cls) != json_string_length(cl) || strlen(cls) >= SNAP_CMDLINE_MAX ||
	    !printable(cls, false))
		return berr_set(err, EINVAL, "meta.json: cmdline is missing, too long or has control "
				"characters");
	char want[65];
	snap_key(kts, want);
	if (strcmp(want, m->key) != 0)
		return berr_set(err, EINVAL, "meta.json: key does not match key_text");
	if ((r = get_int(o, "vcpu", 1, 255, &m->vcpu, err)) < 0 ||
	    (r = get_int(o, "memory_mib", 64, 1048576, &m->memory_mib, err)) < 0 ||
	    (r = get_int(o, "work_size", 0, (int64_t)1 << 50, &x, err)) < 0)
		return r;
	m->work_size = (uint64_t)x;
	if ((r = get_int(o, "created_ms", 0, INT64_MAX, &m->created_ms, err)) < 0)
		return r;

	json_t *files = json_object_get(o, "files");
	if (!json_is_array(files) || json_array_size(files) == 0 ||
	    json_array_size(files) > SNAP_FILES_MAX)
		return berr_set(err, EINVAL, "meta.json: files must be a list of 1 to %d entries",
				SNAP_FILES_MAX);
	size_t i;
	json_array_foreach(files, i, v) {
		struct snap_file *f = &m->files[m->n_files];
		int64_t sz;
		if (!json_is_object(v) || json_object_size(v) != 3)
			return berr_set(err, EINVAL, "meta.json: files[%zu] is not {name, size, sha256}", i);
		if ((r = get_str(v, "name", f->name, sizeof(f->name), false, err)) < 0 ||
		    (r = get_str(v, "sha256", f->sha256, sizeof(f->sha256), false, err)) < 0 ||
		    (r = get_int(v, "size", 0, (int64_t)1 << 50, &sz, err)) < 0)
			return r;
		if (!known_file(f->name))
			return berr_set(err, EINVAL, "meta.json: files[%zu] names \"%s\", not a snapshot "
					"file", i, f->name);
		for (size_t j = 0; j < m->n_files; j++)
			if (strcmp(m->files[j].name, f->name) == 0)
				return berr_set(err, EINVAL, "meta.json: \"%s\" is listed twice", f->name);
		if (!hex64(f->sha256))
			return berr_set(err, EINVAL, "meta.json: the sha256 of %s is not 64 hex digits",
					f->name);
		f->size = (uint64_t)sz;
		m->n_files++;
	}
	m->key_text = xstrdup(kts);
	m->cmdline = xstrdup(cls);
	return 0;
}

int snap_meta_parse(const char *text, size_t len, struct snap_meta *m, struct berr *err)
{
	json_error_t je;
	memset(m, 0, sizeof(*m));
	if (len > SNAP_META_MAX)
		return berr_set(err, EFBIG, "meta.json is larger than %d bytes", SNAP_META_MAX);
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return berr_set(err, EINVAL, "meta.json is not JSON: %s (line %d)", je.text, je.line);
	int r = parse_obj(o, m, err);
	json_decref(o);
	if (r < 0)
		snap_meta_clear(m);
	return r;
}

char *snap_meta_format(const struct snap_meta *m)
{
	json_t *files = json_array();
	for (size_t i = 0; i < m->n_files; i++)
		json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "name", m->files[i].name,
						       "size", (json_int_t)m->files[i].size, "sha256",
						       m->files[i].sha256));
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:o}",
			      "version", SNAP_META_VERSION, "name", m->name, "key", m->key,
			      "key_text", m->key_text ? m->key_text : "", "image", m->image,
			      "kernel", m->kernel, "vmm", m->vmm, "source_vm", m->source_vm,
			      "vcpu", (json_int_t)m->vcpu, "memory_mib", (json_int_t)m->memory_mib,
			      "work_size", (json_int_t)m->work_size,
			      "cmdline", m->cmdline ? m->cmdline : "",
			      "created_ms", (json_int_t)m->created_ms, "files", files);
	char *s = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(o);
	char *t = xasprintf("%s\n", s ? s : "{}");
	free(s);
	return t;
}

static void le64(unsigned char b[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

static bool all_zero(const unsigned char *p, size_t n)
{
	static const unsigned char z[BLOCK];
	return memcmp(p, z, n) == 0;
}

int snap_file_hash(const char *path, char out[65], uint64_t *ret_size, struct berr *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	struct sha256 h;
	unsigned char num[8];
	const size_t cap = 256 * BLOCK;
	int r = 0;

	if (fd < 0)
		return berr_set(err, errno, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return berr_set(err, EINVAL, "%s is not a regular file", path);
	if (sha256_begin(&h) < 0)
		return berr_set(err, ENOMEM, "cannot start a sha256 digest");
	unsigned char *buf = xmalloc(cap);
	uint64_t size = (uint64_t)st.st_size;
	le64(num, size);
	sha256_feed(&h, num, 8);
	off_t off = 0;
	while ((uint64_t)off < size) {
		off_t data = lseek(fd, off, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;
		if (data < 0 && (errno == EINVAL || errno == EOPNOTSUPP))
			data = off; /* no SEEK_DATA: read everything */
		else if (data < 0) {
			r = berr_set(err, errno, "reading %s: %s", path, strerror(errno));
			break;
		}
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			hole = (off_t)size;
		/* Blocks are aligned to the file, not to the extent. */
		off_t pos = data - data % BLOCK;
		while (pos < hole && r == 0) {
			size_t want = (size_t)(hole - pos) < cap ? (size_t)(hole - pos) : cap;
			want = (want + BLOCK - 1) / BLOCK * BLOCK;
			ssize_t n = pread(fd, buf, want, pos);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				r = berr_set(err, errno, "reading %s: %s", path, strerror(errno));
				break;
			}
			if (n == 0)
				break;
			for (size_t o = 0; o < (size_t)n; o += BLOCK) {
				size_t bl = (size_t)n - o < BLOCK ? (size_t)n - o : BLOCK;
				if (all_zero(buf + o, bl))
					continue;
				le64(num, (uint64_t)pos + o);
				sha256_feed(&h, num, 8);
				sha256_feed(&h, buf + o, bl);
			}
			pos += n;
		}
		if (r < 0)
			break;
		off = pos > hole ? pos : hole;
	}
	free(buf);
	if (r < 0) {
		sha256_abort(&h);
		return r;
	}
	sha256_end(&h, out);
	if (ret_size)
		*ret_size = size;
	return 0;
}
