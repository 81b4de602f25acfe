/* tests/fuzz/fuzz_toml.c: config.toml text through config_parse, which
 * runs toml_parse and the key mapping.  Success or error, nothing may
 * leak or crash, and an error must carry a message. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct banger_config c;
	struct berr err = { 0 };
	struct toml_value *root = NULL;

	config_init(&c);
	if (config_parse(&c, (const char *)data, size, "fuzz.toml", &err) < 0) {
		if (err.code <= 0 || err.msg[0] == '\0')
			__builtin_trap();
	}
	config_free(&c);

	/* The raw tree too: every toml_get on it must be safe. */
	if (toml_parse((const char *)data, size, "fuzz.toml", &root, NULL) == 0) {
		if (!root || root->type != TOML_TABLE)
			__builtin_trap();
		for (size_t i = 0; i < root->u.t.n; i++)
			if (toml_get(root, root->u.t.keys[i]) == NULL)
				__builtin_trap();
		toml_free(root);
	}
	return 0;
}
