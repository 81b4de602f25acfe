/* core/portname.c: see portname.h. */
#include "portname.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* n characters of s as a port number. */
static int port_of(const char *s, size_t n, int64_t *ret)
{
	int64_t v = 0;
	if (n == 0 || n > 5 || s[0] == '0')
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -EINVAL;
	*ret = v;
	return 0;
}

int portname_parse(const char *name, int64_t *guest, int64_t *host)
{
	const char *dash = strchr(name, '-');
	size_t n1 = dash ? (size_t)(dash - name) : strlen(name);
	int64_t g = 0, h = 0;
	if (port_of(name, n1, &g) < 0 || (dash && port_of(dash + 1, strlen(dash + 1), &h) < 0))
		return -EINVAL;
	*guest = g;
	*host = h;
	return 0;
}
