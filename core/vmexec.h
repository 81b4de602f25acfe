/* core/vmexec.h: commands run in guests through their agents, as the
 * tree's execs/ directory shows them (docs/tree.md "execs/").
 *
 * An exec is made empty (mkdir execs/NAME), given its arguments,
 * environment and directory, then run in a VM; its stdout and stderr are
 * spooled to files (STATE/execs/NAME/, at most EXEC_SPOOL_MAX bytes each)
 * that readers follow by offset while the command runs; its status appears
 * when it ends.  rmdir kills a command still running and removes the exec.
 * Execs do not outlive the daemon (the agent kills a connection's commands
 * when it goes), so the spool directory is emptied at start.
 *
 * Takes no struct banger: the VM's agent connection comes from vmagent.
 * Thread-safe. */
#ifndef BANGER_VMEXEC_H
#define BANGER_VMEXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "util.h"

struct vmexec;
struct vmagent;

#define EXEC_MAX 256                     /* execs at once */
#define EXEC_NAME_MAX 64
#define EXEC_ARGS_MAX (64 * 1024)        /* argv + env bytes */
#define EXEC_SPOOL_MAX (1ULL << 30)      /* per stream */

enum exec_stream { EXEC_STDOUT = 1, EXEC_STDERR = 2, EXEC_STATUS = 3 };
enum exec_part { EXEC_ARGV, EXEC_ENV };

struct vmexec_conf {
	const char *dir;                 /* STATE/execs */
	struct vmagent *ag;
	/* Output arrived or a command ended (a reader may be waiting). */
	void (*changed)(void *ctx);
	void *ctx;
};

int vmexec_new(const struct vmexec_conf *c, struct vmexec **ret, struct berr *err);
/* Kills every command still running, waits (boundedly) for them, frees. */
void vmexec_free(struct vmexec *x);

/* NAME: 1..63 of [a-z0-9-], not starting or ending with '-'. */
int vmexec_create(struct vmexec *x, const char *name, int64_t *ret_id, struct berr *err);
int vmexec_remove(struct vmexec *x, const char *name, struct berr *err);
struct vmexec_ent {
	int64_t id;
	char name[EXEC_NAME_MAX];
};
void vmexec_list(struct vmexec *x, struct vmexec_ent **ret, size_t *ret_n);
int vmexec_lookup(struct vmexec *x, const char *name, int64_t *ret_id);
bool vmexec_exists(struct vmexec *x, int64_t id);

/* Before run: add NUL-terminated entries (several writes add up). */
int vmexec_append(struct vmexec *x, int64_t id, enum exec_part part, const char *data, size_t len,
		  struct berr *err);
int vmexec_set_cwd(struct vmexec *x, int64_t id, const char *data, size_t len, struct berr *err);
/* Run it in VM vm_id (named vm, for messages); stdin_pipe: its stdin is
 * what vmexec_stdin sends, else /dev/null. */
int vmexec_run(struct vmexec *x, int64_t id, int64_t vm_id, const char *vm, bool stdin_pipe,
	       struct berr *err);
/* Bytes for its stdin (blocks while the command does not read, within a
 * bound); eof closes it. */
int vmexec_stdin(struct vmexec *x, int64_t id, const char *data, size_t len, struct berr *err);
int vmexec_eof(struct vmexec *x, int64_t id, struct berr *err);
int vmexec_kill(struct vmexec *x, int64_t id, int sig, struct berr *err);

/* Reads.  Streams by offset: *live while more may come. */
ssize_t vmexec_stream(struct vmexec *x, int64_t id, enum exec_stream s, off_t off, char *buf,
		      size_t len, bool *live);
/* "state new|running|exited|failed", "vm", "pid", "status", lines. */
int vmexec_render_state(struct vmexec *x, int64_t id, struct sbuf *out, struct berr *err);
int vmexec_render_part(struct vmexec *x, int64_t id, enum exec_part part, struct sbuf *out,
		       struct berr *err);
int vmexec_render_cwd(struct vmexec *x, int64_t id, struct sbuf *out, struct berr *err);
int vmexec_render_err(struct vmexec *x, int64_t id, struct sbuf *out, struct berr *err);
/* Record a failed write's reason in the exec's err. */
void vmexec_set_err(struct vmexec *x, int64_t id, const struct berr *err);

#endif
