/* guest/agent.h: the guest agent's parts (see docs/agent.md), from the
 * top down; each calls only the ones below it:
 *
 *   agent.c          main: the transports (virtio-serial port, vsock, a
 *                    given fd for tests) and who may connect
 *   agent_session.c  one connection: the multiplexed requests, children,
 *                    files, flow control (agent_session.h)
 *   agent_sys.c      the options, the log, and the operations that change
 *                    the guest: identity, SSH host key, clock, RNG,
 *                    shutdown (agent_sys.h)
 *
 * Single-threaded: each session is one process running one poll loop. */
#ifndef BANGER_AGENT_H
#define BANGER_AGENT_H

#include "agent_session.h"
#include "agent_sys.h"

#endif
