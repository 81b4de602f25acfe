/* core/catjobs.h: what images/ and kernels/ hold besides registered
 * bundles: one record per name the daemon has seen (a catalog entry, a
 * pull, an OCI build, a registered bundle's last error), each with a
 * virtual id that stays the same for the daemon's life, so the tree can
 * show entries that are not in the store yet (docs/tree.md).
 *
 * Shared by catview.c (what the tree shows), catpull.c (catalog pulls)
 * and catoci.c (OCI builds); not an API beyond them.  Records are never
 * freed before catjobs_free, so a pointer to one stays valid for the
 * callbacks and threads that update it.  j->lock guards every field
 * marked "lock"; it is a leaf lock (nothing is called while holding it). */
#ifndef BANGER_CATJOBS_H
#define BANGER_CATJOBS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"
#include "oci.h"
#include "store.h"

/* Virtual ids of entries that are not registered (store ids stay far below). */
#define CATALOG_VIRT_ID (1LL << 39)
#define CATJOBS_MAX 16384    /* names remembered; more are not shown */
#define CATJOB_LAYERS 128    /* OCI layers shown in progress (oci_opts.max_layers) */

enum catjob_type {
	CJ_NONE,  /* nothing runs or ran: the record only keeps an id and an err */
	CJ_PULL,  /* a catalog pull (the pull engine) */
	CJ_OCI,   /* an OCI pull or layout import (a worker thread) */
	CJ_IMPORT, /* a bundle of the image cache catalog_scan could not import */
};

enum catjob_state {
	CJS_IDLE,     /* nothing in flight */
	CJS_RUNNING,  /* pulling or building */
	CJS_FAILED,   /* the last one failed: err says why */
};

struct catjob_layer {
	char digest[80];
	uint64_t done, total;
	enum oci_phase phase;  /* the last event's */
	bool cached;
	bool seen;
};

/* OCI progress as the build reports it (oci_progress). */
struct catjob_oci {
	enum oci_phase phase;
	unsigned layers;
	int64_t phase_ms;              /* mono ms when phase began */
	struct catjob_layer layer[CATJOB_LAYERS];
};

struct catjob {
	char kind[16];
	char name[STORE_NAME_MAX];
	int64_t id;
	/* lock */
	enum catjob_type type;
	enum catjob_state state;
	bool hidden;                   /* removed (rmdir) while running: not listed */
	char sha[SHA256_HEX_LEN + 1];  /* CJ_PULL: the archive, the engine's key */
	char source[512];              /* CJ_OCI: the reference or layout; CJ_PULL: the URL */
	char err[BERR_MSG_MAX];        /* the entry's last error, any kind */
	int errnum;                    /* CJ_IMPORT: the failed import's errno */
	struct catjob_oci oci;         /* CJ_OCI */
	/* CJ_OCI worker (catoci.c): cancel is set by anyone, the rest under lock */
	atomic_int cancel;
	pthread_t thread;
	bool joinable;                 /* a thread was started and not joined */
	bool finished;                 /* that thread has returned */
};

struct catjobs {
	pthread_mutex_t lock;
	struct catjob **v;   /* lock: by id - CATALOG_VIRT_ID */
	size_t n, cap;       /* lock */
	struct catjob **hash; /* lock: open addressing by kind/name, hcap slots */
	size_t hcap;
	int64_t auto_refresh_ms; /* lock: the last refresh a listing started (mono) */
	bool stopping;        /* lock: the daemon stops, no new worker */
};

struct catjobs *catjobs_new(void);
/* Free every record; threads must have been joined (catoci_stop). */
struct catjobs *catjobs_free(struct catjobs *j);

/* The record of kind/name, made when first asked (NULL when CATJOBS_MAX
 * names are known already).  lock NOT held. */
struct catjob *catjobs_get(struct catjobs *j, const char *kind, const char *name);
/* The record of kind/name if there is one (never made here). */
struct catjob *catjobs_find(struct catjobs *j, const char *kind, const char *name);
/* The record with virtual id, or NULL.  lock NOT held. */
struct catjob *catjobs_by_id(struct catjobs *j, int64_t id);
/* Set a record's err (lock NOT held). */
void catjobs_set_err(struct catjobs *j, struct catjob *r, const char *msg);
/* A copy of a record's fields (lock NOT held). */
void catjobs_snapshot(struct catjobs *j, const struct catjob *r, struct catjob *ret);

#endif
