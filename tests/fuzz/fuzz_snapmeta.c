/* libFuzzer target: a snapshot's meta.json (core/snapmeta.c), read back
 * from the state dir where anything may have changed it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapmeta.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_meta m;
	struct berr err;
	if (snap_meta_parse((const char *)data, size, &m, &err) < 0)
		return 0;
	/* What is accepted holds the promises of snapmeta.h ... */
	char key[65];
	snap_key(m.key_text, key);
	if (strcmp(key, m.key) != 0 || !snap_name_valid(m.name) || m.n_files == 0 ||
	    m.n_files > SNAP_FILES_MAX || m.vcpu < 1 || m.memory_mib < 64)
		abort();
	for (size_t i = 0; i < m.n_files; i++)
		for (size_t j = i + 1; j < m.n_files; j++)
			if (strcmp(m.files[i].name, m.files[j].name) == 0)
				abort();
	/* ... and re-encodes to a text that parses to the same. */
	char *text = snap_meta_format(&m);
	struct snap_meta back;
	if (snap_meta_parse(text, strlen(text), &back, &err) < 0)
		abort();
	char *again = snap_meta_format(&back);
	if (strcmp(text, again) != 0)
		abort();
	free(again);
	free(text);
	snap_meta_clear(&back);
	snap_meta_clear(&m);
	return 0;
}
