/* tools/catalog.c: banger-catalog, catalogs without a daemon.
 *
 *   banger-catalog publish [--key KEY | --unsigned] [--level N] [--from DIR]... OUTDIR
 *   banger-catalog verify DIR | FILE.tar.zst
 *   banger-catalog list   CATALOG-OPTIONS
 *   banger-catalog pull   CATALOG-OPTIONS [--cache DIR] [--retries N] KIND NAME DEST
 *   banger-catalog import FILE.tar.zst DEST
 *
 * CATALOG-OPTIONS: --catalog URL (repeatable, first match wins),
 * --pubkey KEY, --insecure, --state DIR (last good indexes).
 *
 * Publishing reads local bundles and a private key and writes files: none
 * of that belongs in the daemon, which never sees the key.  pull, list and
 * import run the very libraries bangerd uses (catsync, pull, bundle), so a
 * user, a script or a test can fetch a bundle by hand. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "catsync.h"
#include "publish.h"
#include "pull.h"
#include "util.h"

static int fail(const struct berr *err)
{
	fprintf(stderr, "banger-catalog: %s\n", err->msg);
	return 1;
}

static int usage(const char *msg)
{
	fprintf(stderr, "banger-catalog: %s (see banger-catalog --help)\n", msg);
	return 2;
}

static const char *home_dir(const char *xdg, const char *rel, char *buf, size_t len)
{
	const char *x = getenv(xdg), *h = getenv("HOME");
	if (x && *x)
		snprintf(buf, len, "%s/banger", x);
	else
		snprintf(buf, len, "%s/%s/banger", h && *h ? h : "/tmp", rel);
	return buf;
}

/* ---- publish ------------------------------------------------------- */

static void log_line(void *opaque, const char *line)
{
	fprintf(stderr, "%s\n", line);
}

static int cmd_publish(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },   { "unsigned", no_argument, NULL, 'u' },
		{ "level", required_argument, NULL, 'l' }, { "from", required_argument, NULL, 'f' },
		{ "threads", required_argument, NULL, 't' }, { NULL, 0, NULL, 0 },
	};
	struct publish_opts o = { .log = log_line };
	const char *from[64];
	size_t nfrom = 0;
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k': o.key_path = optarg; break;
		case 'u': o.allow_unsigned = true; break;
		case 'l':
			if (parse_u64(optarg, &v) < 0 || v < 1 || v > 22)
				return usage("--level takes 1-22");
			o.level = (int)v;
			break;
		case 't':
			if (parse_u64(optarg, &v) < 0 || v < 1 || v > 64)
				return usage("--threads takes 1-64");
			o.threads = (int)v;
			break;
		case 'f':
			if (nfrom == ARRAY_SIZE(from))
				return usage("too many --from");
			from[nfrom++] = optarg;
			break;
		default: return 2;
		}
	}
	if (optind != argc - 1)
		return usage("publish takes one OUTDIR");
	if (o.key_path && o.allow_unsigned)
		return usage("--key and --unsigned exclude each other");
	if (!nfrom) {
		const char *cache = getenv("BANGER_IMAGE_CACHE");
		from[nfrom++] = cache && *cache ? cache : "/var/cache/banger/build";
	}
	o.out_dir = argv[optind];
	o.sources = from;
	o.n_sources = nfrom;
	struct berr err = { 0 };
	if (catalog_publish(&o, &err) < 0)
		return fail(&err);
	return 0;
}

/* ---- verify, import ------------------------------------------------ */

static int cmd_verify(int argc, char **argv)
{
	struct berr err = { 0 };
	struct bundle_manifest *m = NULL;
	if (argc != 2)
		return usage("verify takes one DIR or FILE.tar.zst");
	const char *p = argv[1];
	size_t n = strlen(p);
	if (n > 8 && strcmp(p + n - 8, ".tar.zst") == 0) {
		const char *t = getenv("TMPDIR");
		_cleanup_free_ char *tmp = xasprintf("%s/banger-verify.%d", t && *t ? t : "/tmp",
						     (int)getpid());
		struct bundle_limits lim = { .no_sync = true };
		if (bundle_extract_file(p, tmp, &lim, &m, &err) < 0)
			return fail(&err);
		rm_rf(tmp);
	} else if (bundle_verify_dir(p, &m, &err) < 0) {
		return fail(&err);
	}
	printf("%s %s: %zu files, %llu bytes, all sums match\n", m->kind, m->name, m->n_files,
	       (unsigned long long)m->total_size);
	manifest_free(m);
	return 0;
}

static int cmd_import(int argc, char **argv)
{
	struct berr err = { 0 };
	struct bundle_manifest *m = NULL;
	if (argc != 3)
		return usage("import takes FILE.tar.zst DEST");
	if (bundle_extract_file(argv[1], argv[2], NULL, &m, &err) < 0)
		return fail(&err);
	printf("%s %s: %zu files in %s\n", m->kind, m->name, m->n_files, argv[2]);
	manifest_free(m);
	return 0;
}

/* ---- list, pull ---------------------------------------------------- */

struct catopts {
	const char *urls[16];
	size_t n;
	const char *pubkey, *state, *cache;
	bool insecure;
	int retries;
};

static const struct option cat_longopts[] = {
	{ "catalog", required_argument, NULL, 'c' }, { "pubkey", required_argument, NULL, 'p' },
	{ "insecure", no_argument, NULL, 'i' },      { "state", required_argument, NULL, 's' },
	{ "cache", required_argument, NULL, 'C' },   { "retries", required_argument, NULL, 'r' },
	{ NULL, 0, NULL, 0 },
};

static int parse_catopts(int argc, char **argv, struct catopts *o)
{
	uint64_t v;
	int c;
	o->retries = -1;
	while ((c = getopt_long(argc, argv, "", cat_longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (o->n == ARRAY_SIZE(o->urls))
				return usage("too many --catalog");
			o->urls[o->n++] = optarg;
			break;
		case 'p': o->pubkey = optarg; break;
		case 'i': o->insecure = true; break;
		case 's': o->state = optarg; break;
		case 'C': o->cache = optarg; break;
		case 'r':
			if (parse_u64(optarg, &v) < 0 || v > 100)
				return usage("--retries takes 0-100");
			o->retries = (int)v;
			break;
		default: return 2;
		}
	}
	if (!o->n)
		return usage("at least one --catalog URL is needed");
	return 0;
}

struct session {
	struct pull_engine *e;
	struct catsync *cs;
};

static int session_open(const struct catopts *o, struct session *s, struct berr *err)
{
	static char state[4096], cache[4096];
	struct pull_config pc = { .cache_dir = o->cache ? o->cache
							: home_dir("XDG_CACHE_HOME", ".cache", cache,
								   sizeof(cache)),
				  .max_attempts = o->retries >= 0 ? o->retries + 1 : 0 };
	struct catsync_config cc = {
		.urls = o->urls, .n_urls = o->n, .pubkey = o->pubkey, .insecure = o->insecure,
		.state_dir = o->state ? o->state : home_dir("XDG_STATE_HOME", ".local/state", state,
							    sizeof(state)),
	};
	int r;
	if (getenv("BANGER_CATALOG_NO_SYNC"))
		pc.no_sync = true;
	if ((r = pull_engine_new(&pc, &s->e, err)) < 0)
		return r;
	if ((r = catsync_new(&cc, s->e, &s->cs, err)) < 0) {
		s->e = pull_engine_free(s->e);
		return r;
	}
	catsync_refresh(s->cs, true);
	if (catsync_wait(s->cs, 120000) < 0)
		fprintf(stderr, "banger-catalog: the catalogs did not answer within 120 s\n");
	return 0;
}

static void session_close(struct session *s)
{
	s->e = pull_engine_free(s->e);
	s->cs = catsync_free(s->cs);
}

static void print_status(struct catsync *cs)
{
	_cleanup_free_ char *st = catsync_status(cs);
	for (char *line = strtok(st, "\n"); line; line = strtok(NULL, "\n"))
		fprintf(stderr, "catalog %s\n", line);
}

static int cmd_list(int argc, char **argv)
{
	struct catopts o = { 0 };
	struct session s = { 0 };
	struct berr err = { 0 };
	int r = parse_catopts(argc, argv, &o);
	if (r)
		return r;
	if (optind != argc)
		return usage("list takes no arguments");
	if (session_open(&o, &s, &err) < 0)
		return fail(&err);
	print_status(s.cs);
	const char *kinds[] = { "kernel", "image" };
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		size_t n = 0;
		char **names = catsync_names(s.cs, kinds[k], &n);
		for (size_t i = 0; i < n; i++) {
			struct cat_entry e = { 0 };
			if (catsync_lookup(s.cs, kinds[k], names[i], &e, NULL) == 0)
				printf("%s %s %s %s %llu %s\n", e.kind, e.name, e.version, e.sha256,
				       (unsigned long long)e.size, e.url);
			cat_entry_clear(&e);
			free(names[i]);
		}
		free(names);
	}
	session_close(&s);
	return 0;
}

struct waitres {
	pthread_mutex_t lock;
	bool done;
	int result;
	struct berr err;
};

static void pulled(void *opaque, const char *dest, int result, const struct berr *err)
{
	struct waitres *w = opaque;
	pthread_mutex_lock(&w->lock);
	w->done = true;
	w->result = result;
	if (err)
		w->err = *err;
	pthread_mutex_unlock(&w->lock);
	kill(getpid(), SIGUSR1); /* wake the main thread's sigtimedwait */
}

static int cmd_pull(int argc, char **argv)
{
	struct catopts o = { 0 };
	struct session s = { 0 };
	struct berr err = { 0 };
	struct cat_entry e = { 0 };
	struct waitres w = { .lock = PTHREAD_MUTEX_INITIALIZER };
	sigset_t set;
	int r = parse_catopts(argc, argv, &o);
	if (r)
		return r;
	if (optind != argc - 3)
		return usage("pull takes KIND NAME DEST");
	const char *kind = argv[optind], *name = argv[optind + 1], *dest = argv[optind + 2];
	char cwd[4096];
	if (dest[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		return usage("cannot resolve a relative DEST");
	_cleanup_free_ char *adest = dest[0] == '/' ? xstrdup(dest) : xasprintf("%s/%s", cwd, dest);

	/* Signals go to this thread only, through sigtimedwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (session_open(&o, &s, &err) < 0)
		return fail(&err);
	print_status(s.cs);
	if (catsync_lookup(s.cs, kind, name, &e, &err) < 0) {
		session_close(&s);
		return fail(&err);
	}
	struct pull_request req = {
		.url = e.url, .sha256 = e.sha256, .size = e.size, .max_unpacked = e.unpacked_size,
		.kind = e.kind, .name = e.name, .dest = adest, .done = pulled, .opaque = &w,
	};
	if (pull_start(s.e, &req, &err) < 0) {
		cat_entry_clear(&e);
		session_close(&s);
		return fail(&err);
	}
	bool tty = isatty(2);
	int64_t last = 0;
	for (;;) {
		struct timespec ts = { 0, 500 * 1000000 };
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM)
			pull_cancel(s.e, e.sha256, NULL);
		pthread_mutex_lock(&w.lock);
		bool done = w.done;
		pthread_mutex_unlock(&w.lock);
		if (done)
			break;
		struct pull_progress p;
		char line[256];
		if (pull_get_progress(s.e, e.sha256, &p) == 0 && (tty || mono_ms() - last >= 2000)) {
			pull_progress_format(&p, line, sizeof(line));
			fprintf(stderr, tty ? "\r%s %s %s\033[K" : "%s %s %s\n", name,
				pull_state_name(p.state), line);
			last = mono_ms();
		}
	}
	if (tty)
		fputc('\n', stderr);
	struct pull_progress p;
	if (pull_get_progress(s.e, e.sha256, &p) == 0 && p.attempts > 1)
		fprintf(stderr, "%s %s after %d attempts\n", name, pull_state_name(p.state),
			p.attempts);
	cat_entry_clear(&e);
	session_close(&s);
	if (w.result < 0)
		return fail(&w.err);
	printf("%s\n", adest);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *usage;
} cmds[] = {
	{ "publish", cmd_publish,
	  "publish [--key KEY | --unsigned] [--level N] [--threads N] [--from DIR]... OUTDIR" },
	{ "verify", cmd_verify, "verify DIR | FILE.tar.zst" },
	{ "list", cmd_list, "list --catalog URL... [--pubkey KEY] [--insecure] [--state DIR]" },
	{ "pull", cmd_pull,
	  "pull --catalog URL... [--pubkey KEY] [--insecure] [--state DIR] [--cache DIR] [--retries N] KIND NAME DEST" },
	{ "import", cmd_import, "import FILE.tar.zst DEST" },
};

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("banger-catalog %s\n", BANGER_VERSION);
		return 0;
	}
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		printf("usage:\n");
		for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
			printf("  banger-catalog %s\n", cmds[i].usage);
		return argc < 2 ? 2 : 0;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			int r = cmds[i].fn(argc - 1, argv + 1);
			curl_global_cleanup();
			return r;
		}
	}
	return usage("unknown command");
}
