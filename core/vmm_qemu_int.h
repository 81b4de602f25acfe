/* core/vmm_qemu_int.h: what vmm_qemu.c shares with vmm_qemu_snap.c (the
 * driver's snapshot half).  Not for other modules. */
#ifndef BANGER_VMM_QEMU_INT_H
#define BANGER_VMM_QEMU_INT_H

#include "vmm.h"

/* Spawn QEMU and return once QMP answers; on failure nothing is left
 * running.  restore_mem (NULL for a boot): a snapshot's memory file, mapped
 * privately, and -incoming defer (the device state comes over QMP). */
int qemu_launch(const struct vmm_host *h, const struct vmm_spec *s, const char *restore_mem,
		struct vmm_proc *ret, struct berr *err);

int qemu_snap_machine(const struct vmm_host *h, const struct vmm_spec *s, struct sbuf *out,
		      struct berr *err);
int qemu_snap_possible(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err);
int qemu_pause(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err);
int qemu_resume(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err);
int qemu_snap_save(const struct vmm_host *h, const struct vmm_proc *p, const struct vmm_spec *s,
		   const struct vmm_snap *sn, struct berr *err);
int qemu_restore(const struct vmm_host *h, const struct vmm_spec *s, const struct vmm_snap *sn,
		 struct vmm_proc *ret, struct berr *err);

#endif
