/* tests/unit/workspace_cli.c: core/workspace.c and core/filesync.c from
 * the command line, for the integration test and the benchmark (the daemon
 * calls the same functions):
 *
 *   workspace_cli create IMAGE SIZE            a fresh work disk (workdisk_create)
 *   workspace_cli write IMAGE WSDIR [UID GID [GROUP...]]
 *                                              workspace_write as that identity
 *                                              (default: the caller's own)
 *   workspace_cli filesync IMAGE CONFIG HOME   file_sync_apply of CONFIG's entries
 *
 * Warnings go to stderr as "warning: LINE"; a failure prints "error: SENTENCE"
 * and exits 1; write prints its totals on stdout. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "disk.h"
#include "filesync.h"
#include "util.h"
#include "workspace.h"

static void warn_line(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "warning: %s\n", line);
}

static int fail(const struct berr *err)
{
	fprintf(stderr, "error: %s\n", err->msg);
	return 1;
}

static int num(const char *s, unsigned *ret)
{
	uint64_t v;

	if (parse_u64(s, &v) < 0 || v > UINT32_MAX) {
		fprintf(stderr, "error: '%s' is not a number\n", s);
		return -1;
	}
	*ret = (unsigned)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct berr err = { 0 };

	if (argc == 4 && strcmp(argv[1], "create") == 0) {
		uint64_t size;

		if (parse_size(argv[3], &size) < 0) {
			fprintf(stderr, "error: '%s' is not a size\n", argv[3]);
			return 2;
		}
		return workdisk_create(argv[2], size, "work", &err) < 0 ? fail(&err) : 0;
	}
	if (argc >= 4 && strcmp(argv[1], "write") == 0 && argc != 5) {
		struct ws_ident id = { .uid = getuid(), .gid = getgid() };
		gid_t groups[64];
		struct ws_stats st;
		int64_t t0 = mono_ms();

		if (argc >= 6) {
			unsigned u, g;

			if (num(argv[4], &u) < 0 || num(argv[5], &g) < 0)
				return 2;
			id.uid = u;
			id.gid = g;
			for (int i = 6; i < argc && id.ngroups < 64; i++) {
				if (num(argv[i], &g) < 0)
					return 2;
				groups[id.ngroups++] = g;
			}
			id.groups = groups;
		}
		if (workspace_write(argv[2], argv[3], &id, warn_line, NULL, &st, &err) < 0)
			return fail(&err);
		printf("files %llu dirs %llu symlinks %llu skipped %llu bytes %llu need %llu "
		       "free %llu ms %lld\n", (unsigned long long)st.files,
		       (unsigned long long)st.dirs, (unsigned long long)st.symlinks,
		       (unsigned long long)st.skipped, (unsigned long long)st.bytes,
		       (unsigned long long)st.need_bytes, (unsigned long long)st.free_bytes,
		       (long long)(mono_ms() - t0));
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "filesync") == 0) {
		struct banger_config c;
		int r;

		config_init(&c);
		if (config_load(&c, argv[3], true, &err) < 0) {
			config_free(&c);
			return fail(&err);
		}
		r = file_sync_apply(argv[2], c.file_sync, c.n_file_sync, argv[4], warn_line, NULL,
				    &err);
		config_free(&c);
		return r < 0 ? fail(&err) : 0;
	}
	fprintf(stderr, "usage: workspace_cli create IMAGE SIZE | write IMAGE WSDIR [UID GID "
			"[GROUP...]] | filesync IMAGE CONFIG HOME\n");
	return 2;
}
