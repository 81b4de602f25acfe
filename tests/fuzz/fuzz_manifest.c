/* libFuzzer target: bundle manifest checking. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned flags[] = { 0, MANIFEST_LEGACY };
	for (size_t k = 0; k < 2; k++) {
		struct bundle_manifest *m = NULL;
		struct berr err;
		if (manifest_parse((const char *)data, size, flags[k], &m, &err) < 0)
			continue;
		/* What is accepted holds the promises of manifest.h. */
		const struct bundle_file *main_f = manifest_find(m, bundle_main_file(m->kind));
		if (!main_f || main_f->symlink)
			abort();
		uint64_t total = 0;
		for (size_t i = 0; i < m->n_files; i++) {
			const struct bundle_file *f = &m->files[i];
			if (manifest_path_check(f->path, NULL) < 0 || manifest_find(m, f->path) != f)
				abort();
			if (!f->symlink && !sha256_hex_valid(f->sha256))
				abort();
			if (f->symlink && (f->symlink[0] == '/' || !f->symlink[0]))
				abort();
			if (!f->symlink && !flags[k] && !f->has_size)
				abort();
			total += f->has_size ? f->size : 0;
		}
		if (total != m->total_size)
			abort();
		manifest_free(m);
	}
	return 0;
}
