/* core/internal.h: the daemon as banger.c composes it, for the top of core/
 * (banger.c, vm.c, tree.c, doctor.c).  The modules below them take their
 * own context (catalog, hostnet, vmnet, vmssh, monitor, priv, store), never
 * struct banger.  docs/architecture.md draws who calls whom. */
#ifndef BANGER_INTERNAL_H
#define BANGER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "banger.h"
#include "catalog.h"
#include "config.h"
#include "disk.h"
#include "events.h"
#include "hostnet.h"
#include "log.h"
#include "monitor.h"
#include "netplan.h"
#include "priv.h"
#include "snapshot.h"
#include "store.h"
#include "treecache.h"
#include "util.h"
#include "vmagent.h"
#include "vmexec.h"
#include "vmfiles.h"
#include "vmm.h"
#include "vmmselect.h"
#include "vmnet.h"
#include "vmports.h"
#include "vmssh.h"
#include "vmstate.h"

#define ADOPT_MAX 1024

struct banger {
	/* Every read-modify-write of a VM record happens under lock (vm.c,
	 * catalog_delete); changed is broadcast when a VM's state changes. */
	pthread_mutex_t lock;
	pthread_cond_t changed;

	/* Fixed after open. */
	struct banger_paths paths;
	struct banger_config cfg;
	struct hostinfo host;
	struct sizing defaults;
	struct netplan plan;
	struct vmm_host vmm_host;  /* resolved accel, tsc, priv */
	struct vmm_choice choice;  /* what vmm_select() needs */
	char accel_why[160];
	enum clone_method clone_method;
	const char *mount_how;     /* who mounted the tree (priv_tree_mount) */
	char *home;                /* the owner's home (file_sync), NULL if unknown */
	char *inject_dir;          /* banger's init for container images (catoci), or NULL */

	/* The modules, each with its own state and locks. */
	struct store *store;       /* thread-safe by itself */
	struct priv *priv;
	struct catalog cat;
	struct hostnet *hostnet;
	struct vmnet *vmnet;
	struct vmssh *vmssh;
	struct monitor *monitor;
	/* The guest agents, the tree's execs, the snapshots (vmsnap.c). */
	struct vmagent *vmagent;
	struct vmexec *vmexec;
	struct snapstore *snaps;

	char global_err[BERR_MSG_MAX]; /* the top-level err file (under lock) */

	int64_t busy[16];              /* VMs receiving a workspace (under lock) */
	size_t n_busy;

	int64_t adopted[ADOPT_MAX];    /* adopted at open; banger_run() watches them */
	size_t n_adopted;

	/* The adapters' wake-up: something a reader may wait for changed. */
	void (*notify)(void *);
	void *notify_arg;

	/* The live tree (issue 14): what changed (lines for wait and events,
	 * generations for caches), the rendered text, the TCP forwards. */
	struct events *events;
	struct tcache *tcache;
	struct vmports *ports;
	/* Delegation (docs/tree.md, "Owners and modes"), fixed after open:
	 * the daemon's user and group own what has no other owner; vm_group
	 * (-1: none) may make VMs. */
	uid_t owner_uid;
	gid_t owner_gid;
	int64_t vm_group;
};

/* Tell the adapters (fs/, p9/) that something changed: the hook they set
 * with banger_run(), called through the pointer (never a call back up). */
static inline void banger_changed(struct banger *b)
{
	if (b->notify)
		b->notify(b->notify_arg);
}

/* vm.c */
/* Who a new VM belongs to; NULL: the daemon's user.  An ephemeral VM is
 * destroyed when its clone file is closed (or at the next daemon start). */
struct vm_owner {
	uid_t uid;
	gid_t gid;
	bool ephemeral;
};
int vm_create(struct banger *b, const char *name, const struct vm_owner *own, int64_t *ret_id,
	      struct berr *err);
/* Clone files: keep (no longer ephemeral), destroy (kill if running, then
 * delete; nothing when kept meanwhile), and at run start the ephemeral VMs
 * of a daemon that stopped. */
int vm_keep(struct banger *b, int64_t id, struct berr *err);
int vm_destroy(struct banger *b, int64_t id, struct berr *err);
void vm_reap_ephemeral(struct banger *b);
/* Owner, group, mode (-1: leave it): stored, no policy (the tree checks). */
int vm_chown(struct banger *b, int64_t id, int64_t uid, int64_t gid, int64_t mode,
	     struct berr *err);
int vm_delete(struct banger *b, int64_t id, struct berr *err);
int vm_verb(struct banger *b, int64_t id, enum vm_verb v, struct berr *err);
/* `workspace DIR`: copy the repository the caller laid out in DIR into the
 * VM's work disk before its first start (docs/workspace.md), reading it as
 * `who`; the copy runs unlocked, the VM refuses other verbs meanwhile. */
struct ws_ident;
int vm_workspace(struct banger *b, int64_t id, const char *dir, const struct ws_ident *who,
		 struct berr *err);
/* Settings "key value": all or none (the record is written once). */
struct kv;
int vm_set(struct banger *b, int64_t id, const struct kv *kv, size_t n, struct berr *err);
/* At open, before any thread: re-attach VMs left running by an earlier
 * daemon (watched by the monitor); their ids go to b->adopted for
 * banger_run() to wait for their sshd. */
void vm_adopt_all(struct banger *b);
/* The monitor's callback: a VM's VMM is gone. */
void vm_exited(struct banger *b, int64_t id, bool have_status, int status);
/* Record an error for a VM (persisted, shown in its err file). */
void vm_record_error(struct banger *b, int64_t id, const struct berr *err);

/* Effective settings of a VM: its own value, else the defaults. */
struct vm_eff {
	int64_t vcpu, memory_mib;
	uint64_t disk_size;
	enum prov vcpu_prov, memory_prov, disk_prov;
	char image[STORE_NAME_MAX], kernel[STORE_NAME_MAX];
	const char *image_prov, *kernel_prov;
};
void vm_effective(struct banger *b, const struct vm_rec *r, struct vm_eff *e);

/* A registered image or kernel's file (dir + file), checked readable;
 * a sentence saying how to get it when it is missing. */
int vm_image_path(struct banger *b, const char *kind, const char *name, const char *file,
		  char **ret, struct berr *err);
/* pid, start time and runtime of a VM record (-ESRCH when it has none). */
struct vmm_proc;
int vm_load_proc(const struct vm_rec *r, struct vmm_proc *p);

/* vmsnap.c: snapshots and the guest agent at the VM level
 * (docs/snapshots.md, docs/agent.md). */
struct vm_snap_plan {
	bool agent;              /* the image has the guest agent */
	bool restore;            /* restore from use */
	bool auto_snapshot;      /* a cold boot after which a snapshot may be made */
	bool serious;            /* why belongs in err too (a corrupt snapshot) */
	struct snap_use use;
	char why[BERR_MSG_MAX];  /* why a cold boot, one sentence */
};
bool vm_snapshots_on(struct banger *b);
bool vm_image_has_agent(struct banger *b, const char *image);
/* The "key value" lines a snapshot of r must match. */
int vm_snap_key_text(struct banger *b, const struct vm_rec *r, const struct vm_eff *e,
		     const struct vmm_driver *drv, struct sbuf *out, struct berr *err);
/* Before a start (unlocked): restore or cold boot, and why. */
void vm_snap_plan(struct banger *b, const struct vm_rec *r, const struct vm_eff *e,
		  const struct vmm_driver *drv, struct vm_snap_plan *p);
void vm_snap_plan_clear(struct banger *b, struct vm_snap_plan *p);
/* After a start (or an adoption): watch r's agent; a restored VM gets
 * its own identity first, a first cold boot may make the snapshot.  False
 * when r has no agent channel (nothing is watched). */
bool vm_agent_watch(struct banger *b, const struct vm_rec *r, const struct vm_snap_plan *p,
		    bool restored, bool adopted, int64_t vmm_started_mono);
/* vmagent's hooks (banger.c hands them over): pin a restored guest's key;
 * the automatic snapshot after a first cold boot (vm.c). */
int vm_agent_pin(struct banger *b, int64_t id, const char *pubkey, struct berr *err);
void vm_agent_prepare(struct banger *b, int64_t id, struct agent *a, const atomic_bool *cancel);
/* A snapshot of running VM r (effective settings e, its kernel files and
 * process) through its agent connection a; -EEXIST when only_if_missing
 * and its kind has one.  *ret_name: SNAP_NAME_MAX. */
int vm_snap_make(struct banger *b, const struct vm_rec *r, const struct vm_eff *e,
		 const char *kernel, const char *initrd, const struct vmm_proc *proc,
		 struct agent *a, const atomic_bool *cancel, bool only_if_missing, char *ret_name,
		 struct berr *err);
/* The start's steps of a restore: the root disk from the snapshot, the
 * VMM from it; a failure falls back to a cold boot (fall_back says why in
 * p->why and removes what the restore made). */
struct vmdisk_req;
int vm_snap_clone_root(struct banger *b, const struct vm_rec *r, struct vm_snap_plan *p,
		       const struct vmm_driver *drv,
		       struct berr *err);
void vm_snap_fall_back(struct banger *b, const struct vm_rec *r, struct vm_snap_plan *p,
		       const struct berr *why);
int vm_snap_restore(struct banger *b, const struct vm_rec *r, struct vm_snap_plan *p,
		    const struct vmm_driver *drv, struct vmm_spec *spec,
		    const struct vmdisk_req *dq, const char *netargs, struct vmm_proc *ret,
		    struct berr *err);
/* doctor's snapshot line: can a start restore here, and why not. */
void vm_snap_doctor(struct banger *b, struct sbuf *out);
/* echo snapshot > vms/NAME/ctl */
int vm_snapshot(struct banger *b, int64_t id, struct berr *err);

/* doctor.c */
void doctor_render(struct banger *b, struct sbuf *out);

#endif
