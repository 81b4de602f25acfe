/* libFuzzer target: catalog index parsing and URL resolution. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catindex.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cat_index *ix = NULL;
	struct berr err;

	if (cat_index_parse((const char *)data, size, "https://example.org/cat/index.json", &ix,
			    &err) == 0) {
		for (size_t i = 0; i < ix->n_entries; i++) {
			const struct cat_entry *e = &ix->entries[i];
			/* Every accepted entry is usable as it is. */
			if (!sha256_hex_valid(e->sha256) || !e->size || !e->unpacked_size ||
			    cat_url_check(e->url, NULL) < 0 || cat_url_is_file(e->url) ||
			    bundle_name_check(e->name, NULL) < 0 || !bundle_main_file(e->kind))
				abort();
			if (cat_index_find(ix, e->kind, e->name, e->arch) != e)
				abort();
		}
		ix = cat_index_free(ix);
	}
	/* The same bytes as a relative reference and as a URL. */
	char ref[512];
	size_t n = size < sizeof(ref) - 1 ? size : sizeof(ref) - 1;
	memcpy(ref, data, n);
	ref[n] = '\0';
	char *u = cat_url_resolve("file:///srv/cat/index.json", ref, &err);
	if (u && cat_url_check(u, NULL) < 0)
		abort();
	free(u);
	free(cat_url_file_path(ref));
	return 0;
}
