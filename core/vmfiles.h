/* core/vmfiles.h: where a VM's files live (docs/bangerd.md "State
 * layout"), and notes appended to its log.  Pure path arithmetic plus one
 * append; the bottom of the daemon. */
#ifndef BANGER_VMFILES_H
#define BANGER_VMFILES_H

/* STATE/vms/NAME (xmalloc'ed). */
char *vmf_dir(const char *state_dir, const char *name);
/* STATE/vms/NAME/FILE: rootfs.ext4, work.ext4, console.log, vmm.log. */
char *vmf_path(const char *state_dir, const char *name, const char *file);
/* RUNTIME/vms/NAME: the VM's sockets. */
char *vmf_run_dir(const char *runtime_dir, const char *name);
/* "banger: <text>" appended to STATE/vms/NAME/vmm.log (the tree's log). */
void vmf_note(const char *state_dir, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
