/* libFuzzer target: banger's known_hosts parser (core/knownhosts.c), fed
 * through a private temp file since the parser reads files. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knownhosts.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct berr err;
	char *key = NULL;

	if (!path[0]) {
		snprintf(path, sizeof(path), "/tmp/fuzz-kh-%d", (int)getpid());
		umask(077);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	close(fd);
	if (kh_lookup(path, "a.vm", &key, &err) == 0) {
		/* Whatever was found must be a canonical key line. */
		char *canon = NULL;
		if (ssh_hostkey_canon(key, &canon, &err) < 0 || strcmp(canon, key) != 0)
			abort();
		free(canon);
	}
	free(key);
	return 0;
}
