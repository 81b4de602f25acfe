/* core/vmssh.h: SSH between banger and its guests (docs/ssh.md): banger's
 * identity, the readiness wait of each booting VM (one cancellable thread
 * per VM, pinning the host key on first use), the ssh_config file and the
 * ssh command line the tree shows. */
#ifndef BANGER_VMSSH_H
#define BANGER_VMSSH_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "store.h"
#include "util.h"

struct vmssh;
struct netplan;

enum ssh_state { SSH_NONE, SSH_WAITING, SSH_READY, SSH_FAILED };
const char *ssh_state_name(enum ssh_state s);

struct vmssh_conf {
	const char *state_dir;   /* STATE/ssh/, and each VM's log for timing notes */
	const char *config_path; /* ssh_config goes beside it */
	const char *key_path;    /* ssh_key_path from config.toml, NULL: STATE/ssh/id_ed25519 */
	struct store *store;
	const struct netplan *plan;
	/* Called (from a waiter's thread) when a VM's ssh state changes. */
	void (*changed)(void *ctx, int64_t id);
	void *ctx;
};

/* Load or make the identity.  Starts nothing. */
int vmssh_new(const struct vmssh_conf *c, struct vmssh **ret, struct berr *err);
/* "ssh-ed25519 AAAA... banger", for the guest's authorized_keys. */
const char *vmssh_pubkey(const struct vmssh *s);
/* Wait for r's sshd in a thread of its own (r has an address).  Another
 * watch of the same VM replaces the earlier one. */
void vmssh_watch(struct vmssh *s, const struct vm_rec *r, int64_t vmm_started_mono);
/* r's VMM is gone or going: end its wait now (returns once its thread has). */
void vmssh_cancel(struct vmssh *s, int64_t id);
enum ssh_state vmssh_state(struct vmssh *s, int64_t id);
/* Pin pubkey ("ssh-ed25519 AAAA...") as r's host key, replacing any
 * earlier one: the key a restored guest made and reported through its
 * agent (docs/snapshots.md), so its first ssh connection is checked, not
 * trusted on first use. */
int vmssh_pin(struct vmssh *s, const struct vm_rec *r, const char *pubkey, struct berr *err);
/* r is deleted: its pinned key goes. */
void vmssh_forget(struct vmssh *s, const struct vm_rec *r);
/* Rewrite ssh_config from the store: one Host NAME.vm per VM with an address. */
void vmssh_write_config(struct vmssh *s);
/* "ssh -F SSH_CONFIG NAME.vm\n" (nothing without an address). */
void vmssh_command(struct vmssh *s, const struct vm_rec *r, struct sbuf *out);
void vmssh_doctor(struct vmssh *s, struct sbuf *out);
/* Cancel and join every wait, free.  Accepts NULL. */
void vmssh_free(struct vmssh *s);

#endif
