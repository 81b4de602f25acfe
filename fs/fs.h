/* fs/fs.h: the FUSE adapter over core/tree.h. */
#ifndef BANGER_FS_H
#define BANGER_FS_H

struct banger;
struct fuse_session;

/* Build a low-level FUSE session serving b's tree.  argv holds FUSE
 * options.  The adapter keeps a pointer to b. */
struct fuse_session *fs_new(struct banger *b, int argc, char **argv);
/* Called whenever something changed (core's notify): the kernel forgets
 * what changed, then reads that wait (console, ready, wait, events) are
 * answered and pollers woken. */
void fs_notify(void *arg);
/* Answer every waiting read (EOF) before the session ends. */
void fs_drain(void);
/* The threads that tell the kernel what changed: start after the daemon
 * has detached (0 or -errno), stop before the session is destroyed. */
int fs_start(void);
void fs_stop(void);

#endif
