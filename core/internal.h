/* core/internal.h: the daemon's shared state, private to core/. */
#ifndef BANGER_INTERNAL_H
#define BANGER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "banger.h"
#include "config.h"
#include "disk.h"
#include "priv.h"
#include "store.h"
#include "util.h"
#include "vmm.h"
#include "vmnet.h"
#include "vmstate.h"

/* A VM whose VMM process may be alive: watched by the monitor. */
struct live_vm {
	int64_t id;
	pid_t pid;
	int64_t pid_start;
};

#define LIVE_MAX 256

struct banger {
	pthread_mutex_t lock;      /* protects everything below but the store */
	pthread_cond_t changed;    /* broadcast when a VM's state changes */
	struct banger_paths paths;
	struct banger_config cfg;  /* read-only after open */
	struct hostinfo host;
	struct sizing defaults;
	struct store *store;       /* thread-safe by itself */

	struct vmm_host vmm_host;  /* resolved accel, tsc */
	char accel_why[160];
	enum clone_method clone_method;

	char global_err[BERR_MSG_MAX]; /* the top-level err file */

	struct live_vm live[LIVE_MAX]; /* guarded by lock */
	size_t n_live;

	struct priv *priv;         /* what needs root (core/priv.h): chosen once at open */
	const char *mount_how;     /* who mounted the tree (priv_tree_mount), for doctor */

	/* networking and SSH (vmnet.c), guarded by lock */
	bool net_on;               /* bridge, taps, NAT: through priv */
	char net_why[320];
	uint32_t net_gw, net_net;
	int net_prefix;
	bool net_ready;            /* bridge and NAT ensured */
	struct dnsd *dnsd;         /* the .vm responder (vmdns.c), NULL until the bridge exists */
	bool dns_starting, dns_wired;
	char dns_why[320];
	char *ssh_key, *known_hosts, *ssh_config, *pubkey;
	struct {
		int64_t id;
		enum ssh_state st;
	} ssh[LIVE_MAX];
	size_t n_ssh;
	int n_waiters;
	bool closing;

	int64_t adopted[LIVE_MAX]; /* VMs adopted at open whose readiness run() watches */
	size_t n_adopted;

	pthread_t monitor;
	bool monitor_running, monitor_stop;
	void (*notify)(void *);
	void *notify_arg;
};

/* vm.c */
int vm_create(struct banger *b, const char *name, int64_t *ret_id, struct berr *err);
int vm_delete(struct banger *b, int64_t id, struct berr *err);
int vm_verb(struct banger *b, int64_t id, enum vm_verb v, struct berr *err);
int vm_set(struct banger *b, int64_t id, const char *key, const char *value,
	   struct berr *err);
/* At open, before any thread: re-attach VMs left running by an earlier
 * daemon; their ids go to b->adopted for banger_run() to watch. */
void vm_adopt_all(struct banger *b);
/* Called by the monitor: a live VM's process is gone. */
void vm_exited(struct banger *b, int64_t id, bool have_status, int status);
/* Paths of a VM's files (xmalloc'ed). */
char *vm_dir(struct banger *b, const char *name);
char *vm_file(struct banger *b, const char *name, const char *file);
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

/* catalog.c */
int catalog_import(struct banger *b, const char *dir, char *ret_name, size_t len,
		   struct berr *err);
void catalog_scan(struct banger *b);
/* Default image/kernel name and where it came from. */
int catalog_default(struct banger *b, const char *kind, char *ret, size_t len,
		    const char **ret_prov);
int catalog_delete(struct banger *b, int64_t id, struct berr *err);

/* vmmselect.c */
const struct vmm_driver *vmm_select(struct banger *b, const char *want, char *why, size_t len,
				    struct berr *err);
const struct vmm_driver *vmm_of_vm(struct banger *b, const struct vm_rec *r, struct berr *err);
char *runtime_with_driver(const char *runtime, const char *driver);

/* doctor.c */
void doctor_render(struct banger *b, struct sbuf *out);

void live_add(struct banger *b, int64_t id, pid_t pid, int64_t start);
void live_remove(struct banger *b, int64_t id);

#endif
