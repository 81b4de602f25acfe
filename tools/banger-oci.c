/* tools/banger-oci.c: a command-line driver for core/oci.c, used by the
 * integration tests and the benchmark until bangerd serves the same
 * through images/ctl; and a lister that prints what an ext4 image (read
 * with libext2fs) or a directory tree holds, in one format, so the two
 * can be compared with diff.
 *
 *   banger-oci pull   [opts] REF BUNDLE_DIR
 *   banger-oci import [opts] LAYOUT[:TAG] BUNDLE_DIR
 *   banger-oci ls IMAGE.ext4
 *   banger-oci ls-dir DIR
 *
 * ls lines: PATH TYPE MODE UID GID SIZE SHA256 TARGET DEV LINK XATTRS MTIME
 * ("-" for a field that does not apply; LINK is the first path, in sort
 * order, of a file with several hard links; names escaped as \xNN; no
 * SHA256 for files over 16 GiB, which would take minutes to read). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <ext2fs/ext2fs.h>
#include <openssl/evp.h>

#include "oci.h"
#include "util.h"

static atomic_int cancel_flag;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&cancel_flag, 1);
}

/* --- listing --- */

#define SHA_MAX_SIZE (16ULL << 30)

struct item {
	char *path;
	char type;
	unsigned mode;
	uint32_t uid, gid;
	uint64_t size;
	char sha[65];
	char *target;
	unsigned maj, min;
	uint64_t ino;
	unsigned nlink;
	char *xattrs;
	int64_t mtime;
	const char *link; /* group leader */
};

struct list {
	struct item *v;
	size_t n, cap;
};

static void escape(struct sbuf *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c <= 0x20 || c >= 0x7f || c == '\\')
			sbuf_printf(s, "\\x%02x", c);
		else
			sbuf_add(s, &c, 1);
	}
}

static struct item *add_item(struct list *l)
{
	if (l->n == l->cap) { /* doubling: a million files is one of the tests */
		l->cap = l->cap ? 2 * l->cap : 256;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

/* xattr name=hex pairs, sorted by name. */
struct xa {
	char *name;
	struct sbuf val;
};

static int xa_cmp(const void *a, const void *b)
{
	return strcmp(((const struct xa *)a)->name, ((const struct xa *)b)->name);
}

/* POSIX ACLs in the kernel's xattr form: the owner, group, mask and other
 * entries carry id -1 (libext2fs's conversion leaves 0 there). */
static void acl_normalize(struct xa *x)
{
	unsigned char *p = (unsigned char *)x->val.buf;

	if (strcmp(x->name, "system.posix_acl_access") && strcmp(x->name, "system.posix_acl_default"))
		return;
	for (size_t off = 4; off + 8 <= x->val.len; off += 8) {
		unsigned tag = p[off] | p[off + 1] << 8;
		if (tag == 1 || tag == 4 || tag == 0x10 || tag == 0x20)
			memset(p + off + 4, 0xff, 4);
	}
}

static char *xattrs_text(struct xa *v, size_t n)
{
	struct sbuf s;

	if (n == 0)
		return NULL;
	qsort(v, n, sizeof(*v), xa_cmp);
	sbuf_init(&s);
	for (size_t i = 0; i < n; i++) {
		acl_normalize(&v[i]);
		sbuf_printf(&s, "%s%s=", i ? "," : "", v[i].name);
		for (size_t k = 0; k < v[i].val.len; k++)
			sbuf_printf(&s, "%02x", (unsigned char)v[i].val.buf[k]);
		free(v[i].name);
		sbuf_free(&v[i].val);
	}
	return sbuf_steal(&s);
}

static int item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->path, ((const struct item *)b)->path);
}

static int ino_cmp(const void *a, const void *b)
{
	const struct item *x = *(const struct item *const *)a, *y = *(const struct item *const *)b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return strcmp(x->path, y->path);
}

static void print_list(struct list *l)
{
	struct item **by_ino = xcalloc(l->n ? l->n : 1, sizeof(*by_ino));

	qsort(l->v, l->n, sizeof(*l->v), item_cmp);
	for (size_t i = 0; i < l->n; i++)
		by_ino[i] = &l->v[i];
	qsort(by_ino, l->n, sizeof(*by_ino), ino_cmp);
	for (size_t i = 0; i < l->n; i++)
		if (by_ino[i]->type != 'd' && by_ino[i]->nlink > 1)
			by_ino[i]->link = (i && by_ino[i - 1]->ino == by_ino[i]->ino)
						  ? by_ino[i - 1]->link
						  : by_ino[i]->path;
	free(by_ino);
	for (size_t i = 0; i < l->n; i++) {
		struct item *it = &l->v[i];
		struct sbuf s;
		sbuf_init(&s);
		escape(&s, it->path, strlen(it->path));
		sbuf_printf(&s, " %c %04o %u %u %llu %s ", it->type, it->mode, it->uid, it->gid,
			    it->type == 'f' ? (unsigned long long)it->size : 0ULL,
			    it->sha[0] ? it->sha : "-");
		if (it->target)
			escape(&s, it->target, strlen(it->target));
		else
			sbuf_puts(&s, "-");
		if (it->type == 'c' || it->type == 'b')
			sbuf_printf(&s, " %u,%u ", it->maj, it->min);
		else
			sbuf_puts(&s, " - ");
		if (it->link)
			escape(&s, it->link, strlen(it->link));
		else
			sbuf_puts(&s, "-");
		sbuf_printf(&s, " %s", it->xattrs ? it->xattrs : "-");
		if (it->type != 'd')
			sbuf_printf(&s, " %lld", (long long)it->mtime);
		else
			sbuf_puts(&s, " -");
		puts(s.buf);
		sbuf_free(&s);
	}
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].target);
		free(l->v[i].xattrs);
	}
	free(l->v);
}

static char type_of(mode_t m)
{
	return S_ISREG(m) ? 'f' : S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : S_ISCHR(m) ? 'c'
	       : S_ISBLK(m) ? 'b' : S_ISFIFO(m) ? 'p' : S_ISSOCK(m) ? 's' : '?';
}

/* ext4 image */

struct e2walk {
	ext2_filsys fs;
	struct list *l;
	char path[8192];
	int err;
};

struct e2xa {
	struct ext2_xattr_handle *h;
	struct xa *v;
	size_t n;
};

/* Values as the kernel shows them (ext2fs_xattr_get converts POSIX ACLs
 * from ext4's format; the iterator gives them raw). */
static int e2_xattr_cb(char *name, char *value, size_t len, void *ctx)
{
	struct e2xa *x = ctx;
	void *v = NULL;
	size_t vlen = 0;

	x->v = xrealloc(x->v, (x->n + 1) * sizeof(*x->v));
	x->v[x->n].name = xstrdup(name);
	sbuf_init(&x->v[x->n].val);
	if (ext2fs_xattr_get(x->h, name, &v, &vlen) == 0) {
		sbuf_add(&x->v[x->n].val, v, vlen);
		ext2fs_free_mem(&v);
	} else {
		sbuf_add(&x->v[x->n].val, value, len);
	}
	x->n++;
	return 0;
}

static void e2_item(struct e2walk *w, ext2_ino_t ino);

static int e2_dir_cb(struct ext2_dir_entry *de, int offset, int blocksize, char *buf, void *ctx)
{
	struct e2walk *w = ctx;
	int n = ext2fs_dirent_name_len(de);
	size_t len = strlen(w->path);

	if (!de->inode || (n == 1 && de->name[0] == '.') ||
	    (n == 2 && de->name[0] == '.' && de->name[1] == '.'))
		return 0;
	snprintf(w->path + len, sizeof(w->path) - len, "%s%.*s", len > 1 ? "/" : "", n, de->name);
	if (len == 1)
		snprintf(w->path, sizeof(w->path), "/%.*s", n, de->name);
	e2_item(w, de->inode);
	w->path[len] = '\0';
	return 0;
}

static void e2_item(struct e2walk *w, ext2_ino_t ino)
{
	struct ext2_inode_large in;
	struct item *it = add_item(w->l);
	struct e2xa xs = { 0 };
	struct ext2_xattr_handle *h;

	memset(&in, 0, sizeof(in));
	ext2fs_read_inode_full(w->fs, ino, (struct ext2_inode *)&in, sizeof(in));
	it->path = xstrdup(w->path);
	it->type = type_of(in.i_mode);
	it->mode = in.i_mode & 07777;
	it->uid = inode_uid(in);
	it->gid = inode_gid(in);
	it->size = EXT2_I_SIZE(&in);
	it->ino = ino;
	it->nlink = in.i_links_count;
	it->mtime = (int32_t)in.i_mtime + ((int64_t)(in.i_mtime_extra & 3) << 32);
	if ((it->type == 'f' && it->size <= SHA_MAX_SIZE) || it->type == 'l') {
		ext2_file_t f;
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		struct sbuf t;
		char buf[65536];
		unsigned got;
		sbuf_init(&t);
		EVP_DigestInit_ex(md, EVP_sha256(), NULL);
		if (it->type == 'l' && ext2fs_is_fast_symlink((struct ext2_inode *)&in)) {
			sbuf_add(&t, (char *)in.i_block, it->size);
		} else if (!ext2fs_file_open(w->fs, ino, 0, &f)) {
			while (!ext2fs_file_read(f, buf, sizeof(buf), &got) && got > 0) {
				if (it->type == 'f')
					EVP_DigestUpdate(md, buf, got);
				else
					sbuf_add(&t, buf, got);
			}
			ext2fs_file_close(f);
		} else {
			w->err = 1;
		}
		if (it->type == 'f') {
			unsigned char d[32];
			EVP_DigestFinal_ex(md, d, NULL);
			for (int i = 0; i < 32; i++)
				snprintf(it->sha + 2 * i, 3, "%02x", d[i]);
		} else {
			it->target = sbuf_steal(&t);
		}
		sbuf_free(&t);
		EVP_MD_CTX_free(md);
	}
	if (it->type == 'c' || it->type == 'b') {
		if (in.i_block[0]) {
			it->maj = (in.i_block[0] >> 8) & 255;
			it->min = in.i_block[0] & 255;
		} else {
			it->maj = (in.i_block[1] & 0xfff00) >> 8;
			it->min = (in.i_block[1] & 0xff) | ((in.i_block[1] >> 12) & 0xfff00);
		}
	}
	if (!ext2fs_xattrs_open(w->fs, ino, &h)) {
		xs.h = h;
		if (!ext2fs_xattrs_read(h))
			ext2fs_xattrs_iterate(h, e2_xattr_cb, &xs);
		ext2fs_xattrs_close(&h);
	}
	it->xattrs = xattrs_text(xs.v, xs.n);
	free(xs.v);
	if (it->type == 'd')
		ext2fs_dir_iterate(w->fs, ino, 0, NULL, e2_dir_cb, w);
}

static int cmd_ls(const char *image)
{
	struct list l = { 0 };
	struct e2walk w = { .l = &l };
	errcode_t e = ext2fs_open(image, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &w.fs);

	if (e) {
		fprintf(stderr, "banger-oci: cannot open %s as ext4 (error %ld)\n", image, (long)e);
		return 1;
	}
	snprintf(w.path, sizeof(w.path), "/");
	e2_item(&w, EXT2_ROOT_INO);
	ext2fs_close_free(&w.fs);
	print_list(&l);
	return w.err;
}

/* directory tree */

static int dir_item(struct list *l, int dfd, const char *name, const char *path)
{
	_cleanup_free_ char *xp = dfd == AT_FDCWD ? xstrdup(name)
						   : xasprintf("/proc/self/fd/%d/%s", dfd, name);
	struct stat st;
	struct item *it;
	char names[65536];
	ssize_t nn;
	struct xa *xv = NULL;
	size_t xn = 0;
	int rc = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 1;
	it = add_item(l);
	it->path = xstrdup(path);
	it->type = type_of(st.st_mode);
	it->mode = st.st_mode & 07777;
	it->uid = st.st_uid;
	it->gid = st.st_gid;
	it->size = (uint64_t)st.st_size;
	it->ino = st.st_ino;
	it->nlink = (unsigned)st.st_nlink;
	it->mtime = st.st_mtim.tv_sec;
	it->maj = major(st.st_rdev);
	it->min = minor(st.st_rdev);
	if (it->type == 'l') {
		char t[8192];
		ssize_t n = readlinkat(dfd, name, t, sizeof(t) - 1);
		if (n >= 0) {
			t[n] = '\0';
			it->target = xstrdup(t);
		}
	}
	if (it->type == 'f' && it->size <= SHA_MAX_SIZE) {
		int rfd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		unsigned char d[32];
		char buf[65536];
		ssize_t n;
		EVP_DigestInit_ex(md, EVP_sha256(), NULL);
		while (rfd >= 0 && (n = read(rfd, buf, sizeof(buf))) > 0)
			EVP_DigestUpdate(md, buf, (size_t)n);
		EVP_DigestFinal_ex(md, d, NULL);
		EVP_MD_CTX_free(md);
		if (rfd < 0)
			rc = 1;
		else
			close(rfd);
		for (int i = 0; i < 32; i++)
			snprintf(it->sha + 2 * i, 3, "%02x", d[i]);
	}
	nn = llistxattr(xp, names, sizeof(names));
	for (ssize_t off = 0; nn > 0 && off < nn; off += (ssize_t)strlen(names + off) + 1) {
		char val[65536];
		ssize_t vn = lgetxattr(xp, names + off, val, sizeof(val));
		xv = xrealloc(xv, (xn + 1) * sizeof(*xv));
		xv[xn].name = xstrdup(names + off);
		sbuf_init(&xv[xn].val);
		if (vn > 0)
			sbuf_add(&xv[xn].val, val, (size_t)vn);
		xn++;
	}
	it->xattrs = xattrs_text(xv, xn);
	free(xv);
	if (it->type == 'd') {
		int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *d = sub >= 0 ? fdopendir(sub) : NULL;
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			_cleanup_free_ char *child = strcmp(path, "/")
							     ? xasprintf("%s/%s", path, de->d_name)
							     : xasprintf("/%s", de->d_name);
			rc |= dir_item(l, dirfd(d), de->d_name, child);
		}
		if (d)
			closedir(d);
		else
			rc = 1;
	}
	return rc;
}

static int cmd_ls_dir(const char *dir)
{
	struct list l = { 0 };
	int rc = dir_item(&l, AT_FDCWD, dir, "/");

	print_list(&l);
	return rc;
}

/* --- pull / import --- */

/* One line when a step starts and one when it ends. */
static void progress(const struct oci_progress *p, void *ctx)
{
	static enum oci_phase last_phase = (enum oci_phase)-1;
	static const char *last_digest;
	static bool last_ended;
	bool quiet = *(bool *)ctx, ended = p->total && p->done >= p->total;
	bool same = p->phase == last_phase && p->digest == last_digest;

	if (quiet || (same && (!ended || last_ended)))
		return;
	last_phase = p->phase;
	last_digest = p->digest;
	last_ended = ended;
	if (p->layer)
		fprintf(stderr, "%s %u/%u %.19s %llu/%llu%s\n", oci_phase_name(p->phase), p->layer,
			p->layers, p->digest ? p->digest : "", (unsigned long long)p->done,
			(unsigned long long)p->total, p->cached ? " cached" : "");
	else
		fprintf(stderr, "%s%s%.19s\n", oci_phase_name(p->phase), p->digest ? " " : "",
			p->digest ? p->digest : "");
}

static void usage(FILE *f)
{
	fputs("usage: banger-oci pull [opts] REF BUNDLE_DIR\n"
	      "       banger-oci import [opts] LAYOUT[:TAG] BUNDLE_DIR\n"
	      "       banger-oci ls IMAGE.ext4 | ls-dir DIR\n"
	      "opts: --cache DIR  --name NAME  --insecure  --auth-file FILE\n"
	      "      --headroom SIZE  --no-headroom  --max-size SIZE  --max-layers N  --quiet\n"
	      "      --inject DIR (copied into the image as /.banger: build/guest/inject)\n",
	      f);
}

static int cmd_fetch(int argc, char **argv, bool pull)
{
	static const struct option opts[] = {
		{ "cache", required_argument, NULL, 'c' },	{ "name", required_argument, NULL, 'n' },
		{ "insecure", no_argument, NULL, 'k' },	{ "auth-file", required_argument, NULL, 'a' },
		{ "headroom", required_argument, NULL, 'h' },	{ "no-headroom", no_argument, NULL, 'H' },
		{ "max-size", required_argument, NULL, 'm' },	{ "max-layers", required_argument, NULL, 'l' },
		{ "quiet", no_argument, NULL, 'q' },		{ "inject", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	struct oci_opts o = { .cancel = &cancel_flag, .progress = progress };
	const char *name = NULL, *env = getenv("BANGER_CACHE_DIR");
	_cleanup_free_ char *cache = NULL;
	struct berr err = { 0 };
	bool quiet = false;
	uint64_t v;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': free(cache); cache = xstrdup(optarg); break;
		case 'n': name = optarg; break;
		case 'k': o.insecure = true; break;
		case 'a': o.auth_file = optarg; break;
		case 'i': o.inject_dir = optarg; break;
		case 'H': o.no_headroom = true; break;
		case 'q': quiet = true; break;
		case 'h':
		case 'm':
		case 'l':
			if ((c == 'l' ? parse_u64(optarg, &v) : parse_size(optarg, &v)) < 0 ||
			    (c == 'l' && (v == 0 || v > 100000))) {
				fprintf(stderr, "banger-oci: bad value \"%s\"\n", optarg);
				return 2;
			}
			if (c == 'h')
				o.headroom = v;
			else if (c == 'm')
				o.max_size = v;
			else
				o.max_layers = (unsigned)v;
			break;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	if (!cache) {
		const char *home = getenv("HOME");
		cache = env && *env ? xstrdup(env) : xasprintf("%s/.cache/banger", home ? home : "/tmp");
	}
	o.cache_dir = cache;
	o.progress_ctx = &quiet;
	const char *bundle = argv[optind + 1];
	_cleanup_free_ char *dflt = NULL;
	if (!name) {
		const char *b = strrchr(bundle, '/');
		dflt = xstrdup(b && b[1] ? b + 1 : bundle);
		name = dflt;
	}
	r = pull ? oci_pull(argv[optind], name, bundle, &o, &err)
		 : oci_import_layout(argv[optind], name, bundle, &o, &err);
	if (r < 0) {
		fprintf(stderr, "banger-oci: %s\n", err.msg);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* A pull or import cancels cleanly (its partial blob removed). */
	if (argc >= 2 && (!strcmp(argv[1], "pull") || !strcmp(argv[1], "import"))) {
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	if (argc >= 2 && !strcmp(argv[1], "pull"))
		return cmd_fetch(argc - 1, argv + 1, true);
	if (argc >= 2 && !strcmp(argv[1], "import"))
		return cmd_fetch(argc - 1, argv + 1, false);
	if (argc == 3 && !strcmp(argv[1], "ls"))
		return cmd_ls(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "ls-dir"))
		return cmd_ls_dir(argv[2]);
	usage(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
	return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
}
