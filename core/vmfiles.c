/* core/vmfiles.c: see vmfiles.h. */
#define _GNU_SOURCE
#include "vmfiles.h"

#include <stdarg.h>

#include "log.h"
#include "util.h"

char *vmf_dir(const char *state_dir, const char *name)
{
	return xasprintf("%s/vms/%s", state_dir, name);
}

char *vmf_path(const char *state_dir, const char *name, const char *file)
{
	return xasprintf("%s/vms/%s/%s", state_dir, name, file);
}

char *vmf_run_dir(const char *runtime_dir, const char *name)
{
	return xasprintf("%s/vms/%s", runtime_dir, name);
}

void vmf_note(const char *state_dir, const char *name, const char *fmt, ...)
{
	_cleanup_free_ char *path = vmf_path(state_dir, name, "vmm.log");
	va_list ap;
	va_start(ap, fmt);
	log_vnote(path, fmt, ap);
	va_end(ap);
}
