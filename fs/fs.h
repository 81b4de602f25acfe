/* fs/fs.h: the FUSE adapter over core/tree.h. */
#ifndef BANGER_FS_H
#define BANGER_FS_H

struct banger;
struct fuse_session;

/* Build a low-level FUSE session serving b's tree.  argv holds FUSE
 * options.  The adapter keeps a pointer to b. */
struct fuse_session *fs_new(struct banger *b, int argc, char **argv);
/* Called by the monitor: answer reads that wait for console output and
 * wake pollers. */
void fs_notify(void *arg);
/* Answer every waiting read (EOF) before the session ends. */
void fs_drain(void);

#endif
