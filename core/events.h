/* core/events.h: what changed, for the readers that wait for it and for
 * the caches that must forget it.
 *
 * Two records, both bounded whatever the readers do:
 *   - lines: "NAME WHAT" per VM lifecycle change (created, each state,
 *     ready, ssh-failed, deleted), numbered, in a ring of EVENTS_LINES.  A
 *     reader keeps only a number (its cursor); one the ring has passed
 *     gets "lost N" and goes on from the oldest line kept (vms/NAME/wait,
 *     the top-level events file);
 *   - touches: a generation bumped by every change to what the tree
 *     shows, with the ids touched (0 for what is not a VM's: root files,
 *     images, kernels), in a ring of EVENTS_TOUCHES (the render cache and
 *     the kernel's caches through the adapters).
 * Callers report after the change is stored, so a reader that sees the
 * new generation or line renders the new state.  No callbacks; one
 * mutex, taken by nothing else (a leaf lock). */
#ifndef BANGER_EVENTS_H
#define BANGER_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define EVENTS_LINES 512
#define EVENTS_TOUCHES 1024
#define EVENTS_LINE_MAX 96

struct events;

struct events *events_new(void);
void events_free(struct events *e); /* accepts NULL */

/* What the tree shows of VM id (0: anything else) changed. */
void events_touch(struct events *e, int64_t id);
/* The generation: bumped by every touch. */
uint64_t events_gen(struct events *e);

/* VM id (called name) is in state now: a line "NAME STATE" when that
 * differs from the last state published for it; always a touch.
 * events_known() first tells the log of VMs that exist already (no line). */
void events_state(struct events *e, int64_t id, const char *name, const char *state);
void events_known(struct events *e, int64_t id, const char *name, const char *state);
/* A line "NAME WHAT" for VM id (name NULL: the name last published for
 * it) and a touch.  WHAT "deleted" forgets the VM. */
void events_line(struct events *e, int64_t id, const char *name, const char *what);

/* The number the next line will get. */
uint64_t events_seq(struct events *e);
/* Append to out the lines from *cursor on, whole lines, at most max bytes
 * (at least one line if max holds it); a cursor older than the ring gets
 * "lost N\n" first.  Advances *cursor; returns the bytes added. */
size_t events_read(struct events *e, uint64_t *cursor, struct sbuf *out, size_t max);
/* For vms/NAME/wait: the first state line (or "deleted") of VM id numbered
 * seq or later, its WHAT into buf.  0 found, -EAGAIN none yet, -ESTALE
 * lines from seq on were lost (the caller compares states itself). */
int events_next_state(struct events *e, int64_t id, uint64_t seq, char *buf, size_t len);

/* A name went from a directory (dir_kind, dir_id as a tree node names it):
 * for the kernel's cached dentries.  events_unlinked() copies those after
 * *cursor (at most cap; older ones the ring lost are skipped) and
 * advances it; returns the count. */
#define EVENTS_UNLINKS 256
struct events_unlink {
	unsigned dir_kind;
	int64_t dir_id;
	char name[64];
};
void events_unlink(struct events *e, unsigned dir_kind, int64_t dir_id, const char *name);
size_t events_unlinked(struct events *e, uint64_t *cursor, struct events_unlink *out, size_t cap);

/* Ids touched after generation *gen, at most cap, into ids (each once; 0
 * stands for what is not a VM's).  Returns their count and sets *gen to
 * the generation they bring it to, or -E2BIG when the ring no longer
 * holds them all (the caller forgets everything; *gen is set too). */
int events_touched(struct events *e, uint64_t *gen, int64_t *ids, size_t cap);

#endif
