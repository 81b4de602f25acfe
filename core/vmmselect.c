/* core/vmmselect.c: see vmmselect.h. */
#define _GNU_SOURCE
#include "vmmselect.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "util.h"

const struct vmm_driver *const vmm_drivers[] = { &vmm_qemu_driver, &vmm_firecracker_driver,
						  NULL };

const struct vmm_driver *vmm_driver_named(const char *name)
{
	for (size_t i = 0; name && vmm_drivers[i]; i++)
		if (strcmp(vmm_drivers[i]->name, name) == 0)
			return vmm_drivers[i];
	return NULL;
}

const struct vmm_driver *vmm_select(const struct vmm_choice *c, const char *want, char *why,
				    size_t len, struct berr *err)
{
	const struct vmm_driver *d;

	if (!want || !*want)
		want = c->cfg_vmm;
	if ((d = vmm_driver_named(want))) {
		snprintf(why, len, "vmm %s requested", d->name);
		return d;
	}
	if (strcmp(want, "auto") != 0) {
		berr_set(err, ENOTSUP, "vmm '%s' is not known; use auto, qemu or firecracker", want);
		return NULL;
	}
	_cleanup_free_ char *fc = find_program(c->firecracker_bin ? c->firecracker_bin
								  : "firecracker");
	if (!fc) {
		snprintf(why, len, "auto: firecracker is not installed");
		return &vmm_qemu_driver;
	}
	if (strcmp(c->accel, "kvm") != 0) {
		snprintf(why, len, "auto: firecracker found, but KVM cannot boot a standard guest (%s)",
			 c->accel_why);
		return &vmm_qemu_driver;
	}
	snprintf(why, len, "auto: firecracker found and KVM usable");
	return &vmm_firecracker_driver;
}

const struct vmm_driver *vmm_of_vm(const struct vmm_choice *c, const struct vm_rec *r,
				   struct berr *err)
{
	char why[256];
	if (r->runtime) {
		json_error_t je;
		json_t *o = json_loads(r->runtime, 0, &je);
		const struct vmm_driver *drv =
			vmm_driver_named(o ? json_string_value(json_object_get(o, "driver")) : NULL);
		json_decref(o);
		if (drv)
			return drv;
	}
	return vmm_select(c, r->vmm, why, sizeof(why), err);
}

char *runtime_with_driver(const char *runtime, const char *driver)
{
	json_error_t je;
	json_t *o = runtime ? json_loads(runtime, 0, &je) : json_object();
	if (!o || !json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	json_object_set_new(o, "driver", json_string(driver));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}
