/* core/store.h: banger's persistent state in SQLite.
 *
 * WAL mode, foreign keys on, versioned schema migrations (PRAGMA
 * user_version), every state change in one transaction.  A crash at any
 * point leaves a consistent database: either the whole change or none.
 *
 * The store knows records, not policy: the state machine lives in vm.c;
 * store_vm_set_state() only applies a compare-and-set. */
#ifndef BANGER_STORE_H
#define BANGER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct store;

#define STORE_NAME_MAX 64   /* names are at most 63 chars + NUL */

struct vm_rec {
	int64_t id;
	char name[STORE_NAME_MAX];
	char state[16];          /* created|starting|running|stopping|stopped|failed */
	char image[STORE_NAME_MAX];   /* "" = default */
	char kernel[STORE_NAME_MAX];  /* "" = default */
	char vmm[16];            /* "" = default (config vmm) */
	int64_t vcpu;            /* 0 = default */
	int64_t memory_mib;      /* 0 = default */
	int64_t disk_size;       /* bytes, 0 = default */
	int64_t pid;             /* VMM pid while running, else 0 */
	int64_t pid_start;       /* its start time (/proc/PID/stat field 22) */
	int64_t created_at;      /* ms since epoch */
	int64_t started_at;      /* ms, 0 if never */
	int64_t stopped_at;      /* ms, 0 if never */
	char *last_error;        /* malloc'ed, NULL if none */
	char *runtime;           /* malloc'ed JSON blob owned by the VMM driver
				    (sockets, effective args), NULL if none */
	int64_t net_slot;        /* address slot in the subnet, 1-based; 0 = none */
	char *hostkey;           /* pinned SSH host key line, NULL if none */
	/* Delegation (docs/tree.md, "Owners and modes"): -1 is unset (the
	 * daemon's uid and gid; the configured vm_mode). */
	int64_t owner_uid, owner_gid, mode;
	bool ephemeral;          /* lives as long as its clone file is open */
};
void vm_rec_clear(struct vm_rec *r); /* frees owned strings, zeroes */

struct image_rec {
	int64_t id;
	char name[STORE_NAME_MAX];
	char kind[16];           /* "image" or "kernel" */
	char state[16];          /* "ready" (only registered when complete) */
	char *dir;               /* its directory under the state dir */
	char *manifest;          /* manifest.json text */
	char sha256[65];
	int64_t size;            /* bytes */
	int64_t imported_at;     /* ms */
};
void image_rec_clear(struct image_rec *r);

int store_open(struct store **ret, const char *path, struct berr *err);
void store_close(struct store *s);
int store_schema_version(struct store *s); /* current user_version */
#define STORE_SCHEMA_VERSION 3

/* Tests only: store_open() with another migration list; steps[i] takes
 * the schema from version i to i + 1, and n_steps is the newest version
 * accepted. */
int store_open_migrations(struct store **ret, const char *path,
			  const char *const *steps, size_t n_steps,
			  struct berr *err);

/* VMs.  Getters return -ENOENT (with a message) when absent. */
int store_vm_insert(struct store *s, struct vm_rec *r, struct berr *err); /* sets r->id, created_at */
int store_vm_get(struct store *s, int64_t id, struct vm_rec *ret, struct berr *err);
int store_vm_get_by_name(struct store *s, const char *name, struct vm_rec *ret, struct berr *err);
/* List all VMs ordered by name; *ret is an array of *ret_n records. */
int store_vm_list(struct store *s, struct vm_rec **ret, size_t *ret_n, struct berr *err);
void vm_rec_array_free(struct vm_rec *a, size_t n);
/* Write every mutable column of r (by r->id) in one transaction. */
int store_vm_update(struct store *s, const struct vm_rec *r, struct berr *err);
/* Compare-and-set the state: succeeds only if the current state is
 * `from`.  Only the state changes (use store_vm_update for the rest).
 * Returns -EBUSY if the state was not `from`, -ENOENT if no such VM. */
int store_vm_set_state(struct store *s, int64_t id, const char *from,
		       const char *to, struct berr *err);
int store_vm_set_error(struct store *s, int64_t id, const char *msg, struct berr *err);
/* The pinned host key line (NULL clears it); one statement, so it needs no
 * lock around a read-modify-write of the record. */
int store_vm_set_hostkey(struct store *s, int64_t id, const char *hostkey, struct berr *err);
int store_vm_delete(struct store *s, int64_t id, struct berr *err);
/* Owner, group and mode (each -1: leave it) in one statement. */
int store_vm_set_owner(struct store *s, int64_t id, int64_t uid, int64_t gid, int64_t mode,
		       struct berr *err);
int store_vm_set_ephemeral(struct store *s, int64_t id, bool ephemeral, struct berr *err);

/* TCP forwards of a VM (vms/NAME/ports/NAME); deleted with their VM. */
struct port_rec {
	int64_t id, vm_id;
	char name[12];           /* "8080" or "8080-9090" */
	int64_t guest_port;
	int64_t host_port;       /* asked for; 0: the guest's, or any when busy */
	int64_t bound_port;      /* listening on it now (0: not yet) */
};
int store_port_insert(struct store *s, struct port_rec *r, struct berr *err); /* sets r->id */
int store_port_get(struct store *s, int64_t id, struct port_rec *ret, struct berr *err);
/* vm_id 0: every VM's; ordered by VM, then name. */
int store_port_list(struct store *s, int64_t vm_id, struct port_rec **ret, size_t *ret_n,
		    struct berr *err);
int store_port_set_bound(struct store *s, int64_t id, int64_t bound, struct berr *err);
int store_port_delete(struct store *s, int64_t id, struct berr *err);

/* Images and kernels (kind "image" / "kernel"). */
int store_image_insert(struct store *s, struct image_rec *r, struct berr *err);
int store_image_get_by_name(struct store *s, const char *kind, const char *name,
			    struct image_rec *ret, struct berr *err);
int store_image_get(struct store *s, int64_t id, struct image_rec *ret, struct berr *err);
int store_image_list(struct store *s, const char *kind, struct image_rec **ret,
		     size_t *ret_n, struct berr *err);
void image_rec_array_free(struct image_rec *a, size_t n);
int store_image_delete(struct store *s, int64_t id, struct berr *err);

/* Run fn inside one transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on
 * a negative return). */
int store_txn(struct store *s, int (*fn)(struct store *, void *), void *arg,
	      struct berr *err);

#endif
