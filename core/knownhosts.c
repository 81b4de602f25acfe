/* core/knownhosts.c: banger's own known_hosts file (trust on first use,
 * exact match after).  The format is OpenSSH's, restricted to what banger
 * writes: "ALIAS,IP TYPE BASE64".  Comments and blank lines are kept as they
 * are; anything else (hashed names, wildcards, @markers, junk) is refused
 * rather than guessed at.
 *
 * Writers (kh_check, kh_remove) hold an exclusive flock on FILE.lock for the
 * whole read-modify-write and replace FILE atomically, so readers never need
 * the lock. */
#define _GNU_SOURCE
#include "knownhosts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define KH_LINE_MAX 16384
#define KH_ALIAS_MAX 253

struct kh_line {
	char *text;   /* the line as in the file, without newline */
	char **hosts; /* NULL for comments and blank lines */
	size_t nhosts;
	char *key; /* canonical "TYPE BASE64" */
};

struct kh_file {
	struct kh_line *lines;
	size_t n;
};

static void kh_line_free(struct kh_line *l)
{
	for (size_t j = 0; j < l->nhosts; j++)
		free(l->hosts[j]);
	free(l->hosts);
	free(l->text);
	free(l->key);
}

static void kh_file_free(struct kh_file *f)
{
	for (size_t i = 0; i < f->n; i++)
		kh_line_free(&f->lines[i]);
	free(f->lines);
	f->lines = NULL;
	f->n = 0;
}
#define _cleanup_kh_file_ __attribute__((cleanup(kh_file_free)))

static bool alias_ok(const char *a)
{
	size_t n = a ? strlen(a) : 0;

	if (n == 0 || n > KH_ALIAS_MAX || a[0] == '-' || a[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = a[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* Plain names, addresses and "[host]:port"; no wildcards or negation. */
static bool host_pattern_ok(const char *h)
{
	if (!*h)
		return false;
	for (; *h; h++) {
		char c = *h;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']'))
			return false;
	}
	return true;
}

static bool ip_ok(const char *ip)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return ip && (inet_pton(AF_INET, ip, buf) == 1 || inet_pton(AF_INET6, ip, buf) == 1);
}

static int parse_line(const char *path, size_t lineno, char *text, struct kh_line *out,
		      struct berr *err)
{
	_cleanup_free_ char *copy = xstrdup(text);
	_cleanup_free_ char *keytext = NULL;
	char *save = NULL, *hosts, *type, *b64, *p;

	out->text = text;
	for (p = text; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return berr_set(err, EBADMSG, "%s line %zu: control character in line",
					path, lineno);
	p = text + strspn(text, " \t");
	if (*p == '\0' || *p == '#')
		return 0;
	if (*p == '@')
		return berr_set(err, EBADMSG,
				"%s line %zu: markers such as @cert-authority and @revoked are not "
				"supported here",
				path, lineno);
	if (*p == '|')
		return berr_set(err, EBADMSG,
				"%s line %zu: hashed host names are not supported here", path,
				lineno);

	hosts = strtok_r(copy, " \t", &save);
	type = strtok_r(NULL, " \t", &save);
	b64 = strtok_r(NULL, " \t", &save);
	if (!hosts || !type || !b64)
		return berr_set(err, EBADMSG, "%s line %zu: expected \"HOSTS TYPE BASE64\"", path,
				lineno);
	keytext = xasprintf("%s %s", type, b64);
	struct berr kerr = {0};
	if (ssh_hostkey_canon(keytext, &out->key, &kerr) < 0)
		return berr_set(err, EBADMSG, "%s line %zu: %s", path, lineno, kerr.msg);

	for (char *h = strtok_r(hosts, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
		if (!host_pattern_ok(h))
			return berr_set(err, EBADMSG,
					"%s line %zu: host '%.64s' is not a plain name or address "
					"(no wildcards, negation or hashing)",
					path, lineno, h);
		out->hosts = xrealloc(out->hosts, (out->nhosts + 1) * sizeof(*out->hosts));
		out->hosts[out->nhosts++] = xstrdup(h);
	}
	if (out->nhosts == 0)
		return berr_set(err, EBADMSG, "%s line %zu: no host names", path, lineno);
	return 0;
}

/* Read and parse the file.  A missing file is an empty one. */
static int kh_load(const char *path, struct kh_file *f, struct berr *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len = 0, lineno = 0;

	f->lines = NULL;
	f->n = 0;
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno == ELOOP)
			return berr_set(err, EPERM,
					"known_hosts %s is a symlink; refusing to use it", path);
		return berr_set(err, errno, "cannot open known_hosts %s: %s", path,
				strerror(errno));
	}
	if (fstat(fd, &st) < 0)
		return berr_set(err, errno, "cannot stat known_hosts %s: %s", path,
				strerror(errno));
	if (!S_ISREG(st.st_mode))
		return berr_set(err, EINVAL, "known_hosts %s is not a regular file", path);
	if (st.st_uid != geteuid())
		return berr_set(err, EPERM,
				"known_hosts %s belongs to uid %u, not to us; refusing to trust it",
				path, (unsigned)st.st_uid);
	if (st.st_mode & 022)
		return berr_set(err, EPERM,
				"known_hosts %s has mode %04o, so other users could change pinned "
				"keys; refusing to trust it (run 'chmod 600 %s')",
				path, (unsigned)(st.st_mode & 07777), path);
	if (st.st_size > KH_FILE_MAX)
		return berr_set(err, EFBIG, "known_hosts %s is larger than %d bytes", path,
				KH_FILE_MAX);
	buf = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set(err, errno, "cannot read known_hosts %s: %s", path,
					strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len))
		return berr_set(err, EBADMSG, "known_hosts %s contains a NUL byte", path);

	for (char *p = buf; *p;) {
		char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		lineno++;
		if (ll > KH_LINE_MAX) {
			kh_file_free(f);
			return berr_set(err, EBADMSG, "%s line %zu is longer than %d bytes", path,
					lineno, KH_LINE_MAX);
		}
		f->lines = xrealloc(f->lines, (f->n + 1) * sizeof(*f->lines));
		memset(&f->lines[f->n], 0, sizeof(f->lines[f->n]));
		f->n++;
		char *text = xmalloc(ll + 1);
		memcpy(text, p, ll);
		text[ll] = '\0';
		int r = parse_line(path, lineno, text, &f->lines[f->n - 1], err);
		if (r < 0) {
			kh_file_free(f);
			return r;
		}
		p += ll + (nl ? 1 : 0);
	}
	return 0;
}

static int kh_save(const char *path, const struct kh_file *f, struct berr *err)
{
	struct sbuf s;
	int r;

	sbuf_init(&s);
	for (size_t i = 0; i < f->n; i++)
		sbuf_printf(&s, "%s\n", f->lines[i].text);
	r = write_file_atomic(path, s.buf ? s.buf : "", s.len, 0600);
	sbuf_free(&s);
	if (r < 0)
		return berr_set(err, -r, "cannot write known_hosts %s: %s", path, strerror(-r));
	return 0;
}

static bool line_names(const struct kh_line *l, const char *alias)
{
	for (size_t i = 0; i < l->nhosts; i++)
		if (strcasecmp(l->hosts[i], alias) == 0)
			return true;
	return false;
}

/* Exclusive lock on PATH.lock; creates the directory 0700 if needed. */
static int kh_lock(const char *path, int *ret_fd, struct berr *err)
{
	_cleanup_free_ char *dir = xstrdup(path);
	_cleanup_free_ char *lock = xasprintf("%s.lock", path);
	int r = mkdir_p(dirname(dir), 0700);

	if (r < 0)
		return berr_set(err, -r, "cannot create the directory of %s: %s", path,
				strerror(-r));
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0)
		return berr_set(err, errno, "cannot open lock %s: %s", lock, strerror(errno));
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		return berr_set(err, e, "cannot lock %s: %s", lock, strerror(e));
	}
	*ret_fd = fd;
	return 0;
}

static int check_args(const char *known_hosts, const char *alias, struct berr *err)
{
	if (!known_hosts || !*known_hosts)
		return berr_set(err, EINVAL, "no known_hosts path given");
	if (!alias_ok(alias))
		return berr_set(
		    err, EINVAL,
		    "'%.64s' is not a valid host alias (letters, digits, '.', '-', '_')",
		    alias ? alias : "(null)");
	return 0;
}

static int mitm_error(const char *known_hosts, const char *alias, const char *ip,
		      const char *expected, const char *got, struct berr *err)
{
	char fp_exp[SSH_FINGERPRINT_MAX] = "?", fp_got[SSH_FINGERPRINT_MAX] = "?";
	size_t al = strlen(alias);
	int nl = (al > 3 && strcasecmp(alias + al - 3, ".vm") == 0) ? (int)(al - 3) : (int)al;

	/* both keys were validated already; a failure here only loses the text */
	ssh_fingerprint(expected, fp_exp, NULL);
	ssh_fingerprint(got, fp_got, NULL);
	return berr_set(
	    err, EKEYREJECTED,
	    "possible MITM: the host key of %s (%s) changed: expected %s, got %s; "
	    "if you recreated the VM, run 'banger vm delete %.*s' (which forgets the old key) or "
	    "remove %s from %s; otherwise do not connect",
	    alias, ip, fp_exp, fp_got, nl, alias, alias, known_hosts);
}

int kh_check(const char *known_hosts, const char *host_alias, const char *ip,
	     const char *hostkey_line, bool *ret_first_use, struct berr *err)
{
	_cleanup_kh_file_ struct kh_file f = {0};
	_cleanup_unlock_close_ int lock = -1;
	_cleanup_free_ char *key = NULL;
	const char *pinned = NULL;
	int r;

	r = check_args(known_hosts, host_alias, err);
	if (r < 0)
		return r;
	if (!ip_ok(ip))
		return berr_set(err, EINVAL, "'%.64s' is not an IP address", ip ? ip : "(null)");
	r = ssh_hostkey_canon(hostkey_line, &key, err);
	if (r < 0)
		return berr_wrap(err, "host key of %s (%s)", host_alias, ip);

	r = kh_lock(known_hosts, &lock, err);
	if (r < 0)
		return r;
	r = kh_load(known_hosts, &f, err);
	if (r < 0)
		return r;

	for (size_t i = 0; i < f.n; i++) {
		struct kh_line *l = &f.lines[i];
		if (!l->hosts || !line_names(l, host_alias))
			continue;
		if (strcmp(l->key, key) != 0) {
			if (!pinned)
				pinned = l->key;
			continue;
		}
		/* Pinned and equal.  Keep the IP in the entry current so plain
		 * `ssh root@IP` with this file works too. */
		if (!line_names(l, ip)) {
			free(l->text);
			l->text = xasprintf("%s,%s %s", host_alias, ip, key);
			r = kh_save(known_hosts, &f, err);
			if (r < 0)
				return r;
		}
		*ret_first_use = false;
		return 0;
	}
	if (pinned)
		return mitm_error(known_hosts, host_alias, ip, pinned, key, err);

	f.lines = xrealloc(f.lines, (f.n + 1) * sizeof(*f.lines));
	memset(&f.lines[f.n], 0, sizeof(f.lines[f.n]));
	f.lines[f.n++].text = xasprintf("%s,%s %s", host_alias, ip, key);
	r = kh_save(known_hosts, &f, err);
	if (r < 0)
		return r;
	*ret_first_use = true;
	return 0;
}

int kh_remove(const char *known_hosts, const char *host_alias, struct berr *err)
{
	_cleanup_kh_file_ struct kh_file f = {0};
	_cleanup_unlock_close_ int lock = -1;
	size_t kept = 0;
	int r;

	r = check_args(known_hosts, host_alias, err);
	if (r < 0)
		return r;
	if (access(known_hosts, F_OK) < 0 && errno == ENOENT)
		return 0;
	r = kh_lock(known_hosts, &lock, err);
	if (r < 0)
		return r;
	r = kh_load(known_hosts, &f, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < f.n; i++) {
		struct kh_line *l = &f.lines[i];
		if (l->hosts && line_names(l, host_alias))
			kh_line_free(l);
		else
			f.lines[kept++] = *l;
	}
	size_t removed = f.n - kept;
	f.n = kept;
	if (removed == 0)
		return 0;
	return kh_save(known_hosts, &f, err);
}

int kh_lookup(const char *known_hosts, const char *host_alias, char **ret_hostkey_line,
	      struct berr *err)
{
	_cleanup_kh_file_ struct kh_file f = {0};
	int r;

	r = check_args(known_hosts, host_alias, err);
	if (r < 0)
		return r;
	r = kh_load(known_hosts, &f, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < f.n; i++) {
		if (f.lines[i].hosts && line_names(&f.lines[i], host_alias)) {
			*ret_hostkey_line = xstrdup(f.lines[i].key);
			return 0;
		}
	}
	return berr_set(err, ENOENT, "no host key pinned for %s in %s", host_alias, known_hosts);
}
