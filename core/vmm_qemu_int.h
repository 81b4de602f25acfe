/* core/vmm_qemu_int.h: what vmm_qemu.c shares with vmm_qemu_snap.c (the
 * driver's snapshot half).  Not for other modules. */
#ifndef BANGER_VMM_QEMU_INT_H
#define BANGER_VMM_QEMU_INT_H

#include "vmm.h"

/* How a QEMU process is started: a boot, a restore from a snapshot's
 * memory file (mapped privately: every restore shares its page cache), or
 * the snapshot helper, which maps a new memory file shared, never runs the
 * guest and has no host devices (docs/snapshots.md). */
enum qemu_mode { QM_BOOT, QM_RESTORE, QM_HELPER };

/* Spawn QEMU in mode (mem: the memory file for QM_RESTORE/QM_HELPER) and
 * return once QMP answers; on failure nothing is left running. */
int qemu_launch(const struct vmm_host *h, const struct vmm_spec *s, enum qemu_mode mode,
		const char *mem, struct vmm_proc *ret, struct berr *err);

int qemu_snap_machine(const struct vmm_host *h, const struct vmm_spec *s, struct sbuf *out,
		      struct berr *err);
int qemu_pause(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err);
int qemu_resume(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err);
int qemu_snap_save(const struct vmm_host *h, const struct vmm_proc *p, const struct vmm_spec *s,
		   const struct vmm_snap *sn, struct berr *err);
int qemu_snap_finish(const struct vmm_host *h, const struct vmm_spec *s, const struct vmm_snap *sn,
		     struct berr *err);
int qemu_restore(const struct vmm_host *h, const struct vmm_spec *s, const struct vmm_snap *sn,
		 struct vmm_proc *ret, struct berr *err);

#endif
