/* core/vmmselect.c: which VMM runs a VM.
 *
 * `vmm = auto` picks Firecracker when its binary is found and KVM can boot
 * a standard guest (accel resolved to kvm), else QEMU, and says why.  A
 * running VM keeps the driver it was started with (recorded in its runtime
 * JSON), whatever the config says later. */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "util.h"

const struct vmm_driver *vmm_select(struct banger *b, const char *want, char *why, size_t len,
				    struct berr *err)
{
	if (!want || !*want)
		want = b->cfg.vmm;
	if (strcmp(want, "qemu") == 0) {
		snprintf(why, len, "vmm qemu requested");
		return &vmm_qemu_driver;
	}
	if (strcmp(want, "firecracker") == 0) {
		snprintf(why, len, "vmm firecracker requested");
		return &vmm_firecracker_driver;
	}
	if (strcmp(want, "auto") != 0) {
		berr_set(err, ENOTSUP, "vmm '%s' is not known; use auto, qemu or firecracker", want);
		return NULL;
	}
	_cleanup_free_ char *fc = find_program(b->cfg.firecracker_bin ? b->cfg.firecracker_bin
								   : "firecracker");
	if (!fc) {
		snprintf(why, len, "auto: firecracker is not installed");
		return &vmm_qemu_driver;
	}
	if (strcmp(b->vmm_host.accel, "kvm") != 0) {
		snprintf(why, len, "auto: firecracker found, but KVM cannot boot a standard guest (%s)",
			 b->accel_why);
		return &vmm_qemu_driver;
	}
	snprintf(why, len, "auto: firecracker found and KVM usable");
	return &vmm_firecracker_driver;
}

const struct vmm_driver *vmm_of_vm(struct banger *b, const struct vm_rec *r, struct berr *err)
{
	char why[256];
	if (r->runtime) {
		json_error_t je;
		json_t *o = json_loads(r->runtime, 0, &je);
		const char *d = o ? json_string_value(json_object_get(o, "driver")) : NULL;
		const struct vmm_driver *drv = NULL;
		if (d && strcmp(d, "firecracker") == 0)
			drv = &vmm_firecracker_driver;
		else if (d && strcmp(d, "qemu") == 0)
			drv = &vmm_qemu_driver;
		json_decref(o);
		if (drv)
			return drv;
	}
	return vmm_select(b, r->vmm, why, sizeof(why), err);
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
