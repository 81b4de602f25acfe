/* core/vmmselect.h: the VMM drivers, in one table, and which one runs a VM.
 *
 * `vmm = auto` picks Firecracker when its binary is found and KVM can boot a
 * standard guest (accel resolved to kvm), else QEMU, and says why.  A
 * running VM keeps the driver it was started with (recorded in its runtime
 * JSON), whatever the config says later. */
#ifndef BANGER_VMMSELECT_H
#define BANGER_VMMSELECT_H

#include <stddef.h>

#include "err.h"
#include "store.h"
#include "vmm.h"

/* Every driver, NULL-terminated. */
extern const struct vmm_driver *const vmm_drivers[];
/* By name ("qemu", "firecracker"), NULL when unknown. */
const struct vmm_driver *vmm_driver_named(const char *name);

/* What the choice depends on (fixed after open). */
struct vmm_choice {
	const char *cfg_vmm;          /* config vmm: auto|qemu|firecracker */
	const char *firecracker_bin;  /* config, NULL: "firecracker" on PATH */
	const char *accel;            /* resolved: kvm|tcg */
	const char *accel_why;
};

/* want: a VM's own setting or NULL/"" for the config's. */
const struct vmm_driver *vmm_select(const struct vmm_choice *c, const char *want, char *why,
				    size_t len, struct berr *err);
/* The driver a VM runs (or last ran) under, else vmm_select(r->vmm). */
const struct vmm_driver *vmm_of_vm(const struct vmm_choice *c, const struct vm_rec *r,
				   struct berr *err);
/* runtime JSON with "driver": name added (xmalloc'ed). */
char *runtime_with_driver(const char *runtime, const char *driver);

#endif
