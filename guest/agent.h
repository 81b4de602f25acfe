/* guest/agent.h: the guest agent's parts (see docs/agent.md).
 *
 *   agent.c          main: the transports (virtio-serial port, vsock, a
 *                    given fd for tests) and who may connect
 *   agent_session.c  one connection: the multiplexed requests, children,
 *                    files, flow control
 *   agent_sys.c      the operations that change the guest: identity, SSH
 *                    host key, clock, RNG, shutdown
 *
 * Single-threaded: each session is one process running one poll loop. */
#ifndef BANGER_AGENT_H
#define BANGER_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_proto.h"
#include "err.h"

#define AGENT_VERSION_STRING BANGER_VERSION

struct agent_opts {
	/* "" on a real guest.  With --test-root DIR: the files the agent
	 * writes or reads for put, get, identity and the host key live under
	 * DIR, the agent runs in private UTS and network namespaces, and clock,
	 * rng and shutdown are refused.  For the unit tests on a host. */
	const char *root;
	bool test;
	bool verbose;
};

enum agent_conn {
	AGENT_CONN_SOCKET, /* a stream socket: EOF ends the session and the connection */
	AGENT_CONN_VPORT,  /* a virtio-serial port: the host may come back (POLLHUP while
			    * away); the caller has a SIGIO handler and SIGIO blocked */
};

/* Serve one connection until the peer goes away (or, on a socket, a
 * protocol error closes it).  Every child the session started is killed
 * (SIGKILL to its process group) before this returns. */
void agent_session_run(int fd, enum agent_conn kind, const struct agent_opts *o);

/* A virtio-serial port's fd reports POLLHUP while no host is connected. */
bool agent_vport_connected(int fd);

/* The path of guest file `path` under o->root (xmalloc'ed). */
char *agent_path(const struct agent_opts *o, const char *path);

/* agent_sys.c.  Each returns 0 or a negative errno with a sentence. */
int agent_sys_ident(const struct agent_opts *o, const struct agent_frame *fr, struct berr *err);
int agent_sys_hostkey(const struct agent_opts *o, char **ret_pub, struct berr *err);
int agent_sys_clock(const struct agent_opts *o, uint64_t sec, uint64_t nsec, struct berr *err);
int agent_sys_rng(const struct agent_opts *o, const void *seed, size_t n, struct berr *err);
/* Checks that shutdown is possible (not --test-root); the act itself is
 * agent_sys_shutdown, called after the reply has been sent. */
int agent_sys_shutdown_check(const struct agent_opts *o, struct berr *err);
void agent_sys_shutdown(bool reboot, bool force);

/* Log a line to stderr (the journal on a systemd guest). */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
