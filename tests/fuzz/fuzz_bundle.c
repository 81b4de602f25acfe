/* libFuzzer target: extracting a .tar.zst bundle (libarchive + our checks)
 * into a scratch directory.  Whatever is accepted must verify as a
 * directory bundle afterwards. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "util.h"

struct mem {
	const uint8_t *p;
	size_t n, off;
};

static ssize_t mem_read(void *opaque, void *buf, size_t len, struct berr *err)
{
	struct mem *m = opaque;
	size_t n = m->n - m->off < len ? m->n - m->off : len;
	memcpy(buf, m->p + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[64];
	struct mem m = { data, size, 0 };
	struct bundle_source src = { mem_read, &m };
	struct bundle_limits lim = { .max_unpacked = 64 << 20, .no_sync = true };
	struct bundle_manifest *man = NULL;
	struct berr err;

	if (!dir[0])
		snprintf(dir, sizeof(dir), "/tmp/fuzz_bundle.%d", (int)getpid());
	rm_rf(dir);
	if (bundle_extract(&src, dir, &lim, &man, &err) == 0) {
		struct bundle_manifest *again = NULL;
		if (bundle_verify_dir(dir, &again, &err) < 0)
			abort();
		manifest_free(again);
		manifest_free(man);
		rm_rf(dir);
	} else if (access(dir, F_OK) == 0) {
		abort(); /* a failed extraction leaves nothing */
	}
	return 0;
}
