/* core/vmm_common.h: helpers shared by the VMM drivers (vmm_common.c). */
#ifndef BANGER_VMM_COMMON_H
#define BANGER_VMM_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "log.h"
#include "vmm.h"

void vmm_sleep_ms(int ms);
/* The last few lines of the log that are not banger's own notes
 * (xmalloc'ed, "" when none), for error messages. */
char *vmm_log_tail(const char *log_path);
/* "status 1", "signal 9" ... */
void vmm_describe_status(int st, char *buf, size_t len);
/* SIGKILL and reap a child we just spawned. */
void vmm_kill_and_reap(pid_t pid);
/* SIGKILL pid only if it is still the process that started at `start`
 * (never a recycled pid).  what names the VMM in messages. */
int vmm_kill_exact(pid_t pid, int64_t start, const char *what, struct berr *err);
/* posix_spawn(p) argv in a new session (it outlives the daemon), stdin
 * /dev/null, stdout/stderr onto outfd/errfd, passfd (when >= 0) as
 * descriptor 3, default signal state. */
int vmm_spawn(char *const argv[], int outfd, int errfd, int passfd, const char *log_path,
	      pid_t *ret_pid, struct berr *err);
/* The same with the working directory cwd (argv[0] must then be absolute
 * or found in PATH). */
int vmm_spawn_in(const char *cwd, char *const argv[], int outfd, int errfd, int passfd,
		 const char *log_path, pid_t *ret_pid, struct berr *err);
bool vmm_valid_ifname(const char *s);
bool vmm_valid_mac(const char *s);
/* A string field of a runtime JSON (xmalloc'ed) or NULL. */
char *vmm_runtime_get(const struct vmm_proc *p, const char *key);

#endif
