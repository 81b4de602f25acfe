/* core/monitor.h: one thread that sleeps until a watched VMM exits or a
 * watched console grows, and then says so through callbacks.
 *
 * Events, not ticks: each VMM is a pidfd (pidfd_open(2), which works for
 * processes that are not our children, as after a daemon restart), each
 * console an inotify watch, and the thread sleeps in epoll_wait(2) with no
 * timeout: an idle daemon does not wake up.  A VMM that is our child is
 * reaped here (waitid(P_PIDFD)), so its exit status is known.
 *
 * Callbacks run on the monitor's thread, with no lock of the monitor held
 * (they may call monitor_unwatch()). */
#ifndef BANGER_MONITOR_H
#define BANGER_MONITOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct monitor;

struct monitor_ops {
	void *ctx;
	/* id's VMM is gone.  have_status: it was our child and status is its
	 * wait status; otherwise the status is unknown.  The watch is gone. */
	void (*exited)(void *ctx, int64_t id, bool have_status, int status);
	/* id's console grew (readers waiting for output may go on). */
	void (*changed)(void *ctx, int64_t id);
};

int monitor_new(const struct monitor_ops *ops, struct monitor **ret, struct berr *err);
/* Watch id's VMM (pid, started at pid_start: a recycled pid is never
 * mistaken for it) and, if console is not NULL, its console file.  A
 * process that is already gone is reported through exited() like any
 * other exit (once the thread runs).  Watching id again replaces the
 * earlier watch. */
int monitor_watch(struct monitor *m, int64_t id, pid_t pid, int64_t pid_start,
		  const char *console, struct berr *err);
/* Forget id (no callback comes for it after this returns, unless one is
 * running right now). */
void monitor_unwatch(struct monitor *m, int64_t id);
/* Start the thread (after the daemon has forked, if it forks). */
int monitor_start(struct monitor *m, struct berr *err);
/* Stop the thread and free everything.  Accepts NULL. */
void monitor_free(struct monitor *m);

#endif
