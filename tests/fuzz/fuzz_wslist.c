/* libFuzzer target: the workspace file list (ws_list_parse), the NUL-
 * separated paths a caller hands the daemon.  Every accepted entry must be
 * a safe relative path; the list must come back sorted without duplicates
 * and without a file that is also another entry's directory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workspace.h"

static void check_path(const char *s, int flags)
{
	size_t len = strlen(s);

	if (len == 0 || s[0] == '/' || s[len - 1] == '/')
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
	if (strstr(s, "//"))
		abort();
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			abort();
		if (!(flags & WS_LIST_ALLOW_DOTGIT) && n == 4 && strncasecmp(p, ".git", 4) == 0)
			abort();
		p += n;
		if (*p)
			p++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int flags = 0; flags <= WS_LIST_ALLOW_DOTGIT; flags++) {
		struct ws_list l;
		struct berr err;

		if (ws_list_parse((const char *)data, size, flags, &l, &err) < 0) {
			if (!err.msg[0] || strchr(err.msg, '\n'))
				abort();
			continue;
		}
		for (size_t i = 0; i < l.n; i++) {
			check_path(l.path[i], flags);
			if (i > 0 && strcmp(l.path[i - 1], l.path[i]) >= 0)
				abort();
			size_t a = strlen(l.path[i]);
			/* no entry is a directory of the next ones */
			for (size_t j = i + 1; j < l.n && strncmp(l.path[j], l.path[i], a) == 0; j++)
				if (l.path[j][a] == '/')
					abort();
		}
		ws_list_free(&l);
	}
	return 0;
}
