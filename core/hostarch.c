/* core/hostarch.c: is this host one banger's guests can run on? */
#include "hostarch.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

bool host_arch_supported(const char *machine, char *why, size_t len)
{
	if (strcmp(machine, "x86_64") == 0)
		return true;
	snprintf(why, len, "this host is %s, but banger's kernels and images are built for "
		 "x86_64 (amd64) only: no VM can start here",
		 *machine ? machine : "of an unknown architecture");
	return false;
}

bool host_arch_check(char *machine, size_t mlen, char *why, size_t len)
{
	struct utsname u;

	if (uname(&u) < 0)
		u.machine[0] = '\0';
	snprintf(machine, mlen, "%s", u.machine);
	return host_arch_supported(u.machine, why, len);
}
