/* core/vmnet.h: a VM's network identity and SSH access.
 *
 * Address slots in the bridge subnet (persisted, unique), one tap per
 * running VM on the bridge, outbound NAT, the kernel's ip= argument, the
 * authorized_keys banger writes onto the work disk, the readiness wait that
 * pins the guest's host key (trust on first use) and the ssh_config kept
 * for `ssh NAME.vm`.  Privileged steps (bridge, tap, NAT) run in-process
 * when bangerd is root; otherwise VMs get no network (doctor says so). */
#ifndef BANGER_VMNET_H
#define BANGER_VMNET_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "store.h"
#include "util.h"

struct banger;

enum ssh_state { SSH_NONE, SSH_WAITING, SSH_READY, SSH_FAILED };
const char *ssh_state_name(enum ssh_state s);

/* At open: subnet, identity, known_hosts paths, orphan taps. */
int vmnet_init(struct banger *b, struct berr *err);
/* Before start, with b->lock held: give r an address slot if it has none. */
int vmnet_alloc(struct banger *b, struct vm_rec *r, struct berr *err);
/* r's address and MAC ("" when it has no slot). */
void vmnet_addr(struct banger *b, const struct vm_rec *r, char ip[16], char mac[18]);
void vmnet_tap_name(const struct vm_rec *r, char out[16]);
/* Unlocked, before the VMM starts: bridge + NAT (once), the VM's tap.
 * Fills tap ("" when networking is off).  With ret_fd, the tap is opened
 * for a VMM that takes it as a descriptor (*ret_fd, -1 when networking is
 * off; the caller closes it); without, a persistent tap the VMM opens by
 * name. */
int vmnet_up(struct banger *b, const struct vm_rec *r, int *ret_fd, char tap[16],
	     struct berr *err);
/* The VM's tap is no longer needed (stopped, failed, deleted). */
void vmnet_down(struct banger *b, const struct vm_rec *r);
/* Kernel arguments for the guest's network (xmalloc'ed, maybe ""). */
char *vmnet_cmdline(struct banger *b, const struct vm_rec *r);
/* Write authorized_keys (and, on the first boot, the hostname) into the
 * VM's disks.  Best effort on a work disk that needs journal recovery. */
int vmnet_seed_disks(struct banger *b, const struct vm_rec *r, const char *rootfs,
		     const char *workdisk, bool first_boot, struct berr *err);
/* After the VMM runs: wait for sshd in the background, pinning its key. */
void vmnet_watch(struct banger *b, int64_t id);
/* The VM stopped / was deleted. */
void vmnet_stopped(struct banger *b, int64_t id);
void vmnet_forget(struct banger *b, const struct vm_rec *r);
enum ssh_state vmnet_ssh_state(struct banger *b, int64_t id);
/* Rewrite ssh_config (Host NAME.vm entries).  b->lock held. */
void vmnet_write_ssh_config(struct banger *b);
/* The `ssh` file: a command line that logs in as root. */
void vmnet_ssh_command(struct banger *b, const struct vm_rec *r, struct sbuf *out);
/* Wait for background waiters at close. */
void vmnet_close(struct banger *b);
/* doctor lines */
void vmnet_doctor(struct banger *b, struct sbuf *out);

/* The .vm DNS responder (core/vmdns.c).  start: once the bridge has its
 * gateway address (idempotent, unlocked; failures are logged and shown by
 * doctor, never fatal); stop: at close. */
void vmdns_start(struct banger *b);
void vmdns_stop(struct banger *b);
void vmdns_doctor(struct banger *b, struct sbuf *out);

#endif
