/* core/tree_int.h: what tree.c shares with tree_agent.c (the execs/,
 * snapshots/ and agent files).  Not for other modules. */
#ifndef BANGER_TREE_INT_H
#define BANGER_TREE_INT_H

#include "snapshot.h"
#include "tree.h"

extern const struct tree_file exec_files[];
extern const size_t n_exec_files;
extern const struct tree_file snap_files[];
extern const size_t n_snap_files;

int64_t tree_snap_id(const char key[65]);
int tree_snap_by_id(struct banger *b, int64_t id, struct snap_info *ret);
int tree_image_snapshots(struct banger *b, const char *image, struct sbuf *out);
ssize_t tree_vm_agent_stream(struct banger *b, int64_t id, off_t off, char *buf, size_t len,
			     bool *live);

#endif
