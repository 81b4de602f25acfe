/* core/treelive.h: the files of the tree with per-open state (treelive.c):
 * ready, wait, events and clone, for tree.c's tables. */
#ifndef BANGER_TREELIVE_H
#define BANGER_TREELIVE_H

#include <stdbool.h>
#include <sys/types.h>

#include "treebase.h"
#include "util.h"

int live_ready_open(struct banger *b, int64_t id, const struct tree_caller *who, void **ret,
		    struct berr *err);
int live_wait_open(struct banger *b, int64_t id, const struct tree_caller *who, void **ret,
		   struct berr *err);
int live_events_open(struct banger *b, int64_t id, const struct tree_caller *who, void **ret,
		     struct berr *err);
ssize_t live_text_read(struct banger *b, void *st, off_t off, char *buf, size_t len, bool *live);
bool live_text_ready(struct banger *b, void *st, off_t off);
ssize_t live_events_read(struct banger *b, void *st, off_t off, char *buf, size_t len,
			 bool *live);
bool live_events_ready(struct banger *b, void *st, off_t off);
void live_release(struct banger *b, void *st);
int live_clone_open(struct banger *b, int64_t id, const struct tree_caller *who, void **ret,
		    struct berr *err);
ssize_t live_clone_read(struct banger *b, void *st, off_t off, char *buf, size_t len, bool *live);
bool live_clone_ready(struct banger *b, void *st, off_t off);
int live_clone_write(struct banger *b, void *st, const char *data, size_t len,
		     const struct tree_caller *who, struct berr *err);
void live_clone_release(struct banger *b, void *st);
#endif
