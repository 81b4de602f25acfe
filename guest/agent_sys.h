/* guest/agent_sys.h: the bottom of the guest agent (agent_sys.c): its
 * options, its log, where a guest file lives, and the operations that
 * change the guest.  Called by agent_session.c and agent.c; calls nothing
 * of theirs. */
#ifndef BANGER_AGENT_SYS_H
#define BANGER_AGENT_SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_proto.h"
#include "err.h"

struct agent_opts {
	/* "" on a real guest.  With --test-root DIR: the files the agent
	 * writes or reads for put, get, identity and the host key live under
	 * DIR (a mount's point too), the agent runs in private UTS, network
	 * and mount namespaces, and clock, rng and shutdown are refused.  For the unit tests on a host. */
	const char *root;
	bool test;
	bool verbose;
};

/* Log a line to stderr (the journal on a systemd guest). */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The path of guest file `path` under o->root (xmalloc'ed). */
char *agent_path(const struct agent_opts *o, const char *path);

/* Each returns 0 or a negative errno with a sentence. */
int agent_sys_ident(const struct agent_opts *o, const struct agent_frame *fr, struct berr *err);
int agent_sys_hostkey(const struct agent_opts *o, char **ret_pub, struct berr *err);
int agent_sys_clock(const struct agent_opts *o, uint64_t sec, uint64_t nsec, struct berr *err);
int agent_sys_rng(const struct agent_opts *o, const void *seed, size_t n, struct berr *err);
/* Checks that shutdown is possible (not --test-root); the act itself is
 * agent_sys_shutdown, called after the reply has been sent. */
int agent_sys_shutdown_check(const struct agent_opts *o, struct berr *err);
void agent_sys_shutdown(bool reboot, bool force);

#endif
