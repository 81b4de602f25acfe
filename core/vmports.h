/* core/vmports.h: the TCP forwards of vms/NAME/ports/ (docs/tree.md):
 * `mkdir ports/PORT` (or PORT-HOSTPORT) forwards the host's PORT (or
 * HOSTPORT; with PORT alone, another free port when it is taken) on the
 * configured address (port_bind, loopback by default) to the guest's PORT
 * on the bridge.  Kept in the store, so a daemon that starts again makes
 * them again (the VM keeps running meanwhile); each connection goes to the
 * guest's address as it is at that moment, and is refused while the VM
 * does not run.  The listeners and the bytes are core/portfwd.h's. */
#ifndef BANGER_VMPORTS_H
#define BANGER_VMPORTS_H

#include <stdint.h>

#include "err.h"
#include "util.h"

struct vmports;
struct store;
struct netplan;

int vmports_new(struct store *st, const struct netplan *plan, const char *bind,
		struct vmports **ret, struct berr *err);
/* Listen again for every stored forward (at daemon start, before the
 * threads); a port taken meanwhile is logged (PORT forms pick another). */
void vmports_restore(struct vmports *v);
int vmports_start(struct vmports *v, struct berr *err);
void vmports_free(struct vmports *v); /* accepts NULL */

/* mkdir ports/NAME for VM vm_id (NAME: PORT or PORT-HOSTPORT, decimal,
 * 1-65535, no leading zero).  *ret_id is the forward's id. */
int vmports_add(struct vmports *v, int64_t vm_id, const char *name, int64_t *ret_id,
		struct berr *err);
int vmports_remove(struct vmports *v, int64_t port_id, struct berr *err);
/* VM vm_id is deleted: its listeners go (its rows went with it). */
void vmports_vm_gone(struct vmports *v, int64_t vm_id);
/* "ADDR:PORT\n", where the forward listens. */
int vmports_addr(struct vmports *v, int64_t port_id, struct sbuf *out, struct berr *err);

#endif
