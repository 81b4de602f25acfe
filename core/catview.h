/* core/catview.h: images/ and kernels/ as the tree shows them
 * (docs/tree.md): registered bundles, the entries of the configured
 * catalogs not pulled yet, pulls and OCI builds in flight or failed, and
 * the images banger's recipes build.  One name is one entry, in this
 * order of precedence:
 *
 *   registered                 ready
 *   a pull or build running    pulling
 *   the last one failed        failed
 *   listed by a catalog        available
 *   a recipe builds it         buildable
 *
 * A name keeps one id (catjobs.h) for the daemon's life, whatever its
 * state, so a path walked while a pull ends still leads somewhere.
 *
 * The verbs that make entries: catpull.h (catalog pulls, refresh),
 * catoci.h (OCI pulls and layout imports). */
#ifndef BANGER_CATVIEW_H
#define BANGER_CATVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "catindex.h"
#include "catjobs.h"
#include "pull.h"
#include "util.h"

enum cv_state { CV_READY, CV_PULLING, CV_FAILED, CV_AVAILABLE, CV_BUILDABLE };
const char *cv_state_name(enum cv_state s); /* "ready" "pulling" "failed" "available" "buildable" */

struct cv_entry {
	int64_t id;
	char name[STORE_NAME_MAX];
};

/* Every entry of kind, registered ones first.  Starts a refresh of the
 * catalogs not confirmed within catalog_ttl (in the background). */
int catview_list(struct catalog *c, const char *kind, struct cv_entry **ret, size_t *ret_n);
/* The id of kind/name, -ENOENT when there is no such entry. */
int catview_lookup(struct catalog *c, const char *kind, const char *name, int64_t *ret_id);
/* 0 when entry id of kind exists, else -ENOENT. */
int catview_exists(struct catalog *c, const char *kind, int64_t id);

/* What an entry is now (copies: cv_info_clear). */
struct cv_info {
	char kind[16];
	char name[STORE_NAME_MAX];
	enum cv_state state;
	bool registered;
	struct image_rec rec;                 /* registered */
	bool listed;
	struct cat_entry ent;                 /* listed by a catalog */
	const struct catalog_known *recipe;   /* a recipe builds it */
	struct catjob *job;                   /* a copy of its record, or NULL */
	bool has_progress;
	struct pull_progress pp;              /* CJ_PULL: the engine's progress */
};
/* kind NULL: whichever kind id is (ids are unique across kinds). */
int catview_get(struct catalog *c, const char *kind, int64_t id, struct cv_info *ret);
void cv_info_clear(struct cv_info *i);

/* The progress file: "bytes D of T rate R eta E", "phase P", and for OCI
 * builds one line per layer; empty when nothing runs or ran. */
void catview_progress(const struct cv_info *i, struct sbuf *out);

/* Record an error of entry id (its err file). */
void catview_set_err(struct catalog *c, const char *kind, int64_t id, const char *msg);
/* rmdir: remove a registered bundle no VM uses, stop a pull or build,
 * forget a failed one; an entry only listed or buildable is refused. */
int catview_remove(struct catalog *c, const char *kind, const char *name, struct berr *err);

/* Stop a pull or an OCI build of kind/name (the record stays). */
int catview_cancel(struct catalog *c, const char *kind, const char *name, struct berr *err);

#endif
