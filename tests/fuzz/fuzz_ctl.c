/* libFuzzer target: ctl command and config "key value" parsing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const struct ctl_cmd tab[] = {
	{ 0, "start", 0, 0, "start" },     { 1, "stop", 0, 0, "stop" },
	{ 2, "import", 1, 1, "import DIR" }, { 3, "many", 0, 4, "many [A B C D]" },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctl_req creq;
	static struct kv_req kreq;
	struct berr err;

	if (ctl_parse((const char *)data, size, tab, sizeof(tab) / sizeof(tab[0]), &creq,
		      &err) == 0) {
		for (int i = 0; i < creq.argc; i++)
			if (strlen(creq.argv[i]) == 0)
				abort();
	}
	if (kv_parse((const char *)data, size, NULL, &kreq, &err) == 0) {
		for (size_t i = 0; i < kreq.n; i++)
			if (!*kreq.kv[i].key || !*kreq.kv[i].value)
				abort();
	}
	kv_parse((const char *)data, size, "vcpu", &kreq, &err);
	uint64_t v;
	char tmp[64];
	size_t n = size < sizeof(tmp) - 1 ? size : sizeof(tmp) - 1;
	memcpy(tmp, data, n);
	tmp[n] = '\0';
	parse_size(tmp, &v);
	return 0;
}
