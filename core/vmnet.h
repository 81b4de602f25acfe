/* core/vmnet.h: a VM's place on the network: its address slot in the
 * store, and its tap (a descriptor for QEMU, a persistent tap by name for
 * Firecracker), through core/priv.h, on the bridge core/hostnet.c keeps.
 * See docs/network.md. */
#ifndef BANGER_VMNET_H
#define BANGER_VMNET_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "store.h"
#include "util.h"

struct vmnet;
struct hostnet;
struct netplan;
struct priv;

/* Whether VMs can get a network at all (privileges, /dev/net/tun). */
bool vmnet_possible(struct priv *priv);
/* Decides it, and says why in doctor. */
struct vmnet *vmnet_new(struct priv *priv, const struct netplan *plan, struct store *store,
			struct hostnet *hostnet);
bool vmnet_on(const struct vmnet *n);
/* At open: remove taps of VMs that are not running (left by a crash). */
void vmnet_sweep(struct vmnet *n);
/* With the VM records' lock held: give r an address slot if it has none. */
int vmnet_alloc(struct vmnet *n, struct vm_rec *r, struct berr *err);
/* Unlocked, before the VMM starts: the host side (once), then the VM's
 * tap.  Fills tap ("" when networking is off).  With ret_fd, the tap is
 * opened for a VMM that takes it as a descriptor (*ret_fd, -1 when
 * networking is off; the caller closes it); without, a persistent tap the
 * VMM opens by name. */
int vmnet_up(struct vmnet *n, const struct vm_rec *r, int *ret_fd, char tap[16],
	     struct berr *err);
/* The VM's tap is no longer needed (stopped, failed, deleted). */
void vmnet_down(struct vmnet *n, const struct vm_rec *r);
/* "ok|warn network ..." */
void vmnet_doctor(struct vmnet *n, struct sbuf *out);
void vmnet_free(struct vmnet *n);

#endif
