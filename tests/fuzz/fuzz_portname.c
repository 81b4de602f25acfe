/* libFuzzer target: the names of vms/NAME/ports/ (core/portname.c).  An
 * accepted name is in range and is its own canonical form. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[64], again[64];
	int64_t g, h;
	if (size >= sizeof(name))
		return 0;
	memcpy(name, data, size);
	name[size] = 0;
	if (portname_parse(name, &g, &h) < 0)
		return 0;
	if (g < 1 || g > 65535 || h < 0 || h > 65535)
		abort();
	if (h)
		snprintf(again, sizeof(again), "%lld-%lld", (long long)g, (long long)h);
	else
		snprintf(again, sizeof(again), "%lld", (long long)g);
	if (strcmp(again, name) != 0)
		abort();
	return 0;
}
