/* guest/agent_session.h: one connection of the guest agent
 * (agent_session.c), served by the transports in agent.c, over the
 * operations of agent_sys.h. */
#ifndef BANGER_AGENT_SESSION_H
#define BANGER_AGENT_SESSION_H

#include <stdbool.h>

#include "agent_sys.h"

/* What the agent says it is (hello, --version). */
#define AGENT_VERSION_STRING BANGER_VERSION
/* What it can do beyond protocol 1's first agent, after the version in
 * hello's answer (docs/agent.md): ident's mac and mount keys. */
#define AGENT_FEATURES "ident-mac ident-mount"

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

#endif
