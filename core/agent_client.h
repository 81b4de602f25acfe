/* core/agent_client.h: banger's side of the guest agent (docs/agent.md).
 *
 * One struct agent is one connection to one VM's agent, multiplexed: any
 * number of threads may call any function on it at the same time (up to
 * AGENT_REQS_MAX requests in flight).  A reader thread per connection
 * delivers replies; output callbacks run on that thread, one at a time, in
 * order, and must not block for long (every other request on the
 * connection waits meanwhile); they may call agent_exec_kill and
 * agent_exec_stdin_close, not agent_exec_stdin (it may wait for an ack
 * only the reader thread can deliver).
 *
 * Every call that waits for the agent takes timeout_ms (> 0) and fails
 * with -ETIMEDOUT and a sentence when the agent does not answer in time.
 * A connection that breaks (EOF, a malformed frame, an over-long line, a
 * write that timed out half-way) fails every pending and later call with
 * the reason; open a new one.  FUSE-free; links core/agent_proto.c. */
#ifndef BANGER_AGENT_CLIENT_H
#define BANGER_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "err.h"

struct agent;

/* QEMU: the virtio-serial chardev socket (the qemu runtime's "agent" path).
 * QEMU serves one host connection at a time: keep one struct agent per VM
 * and share it, rather than one per request. */
int agent_connect_unix(const char *path, int timeout_ms, struct agent **ret, struct berr *err);
/* Firecracker: its vsock Unix socket (the runtime's "vsock" path); sends
 * "CONNECT <port>\n", expects "OK <n>\n", then speaks the protocol.
 * Several connections per VM are fine. */
int agent_connect_fc_vsock(const char *uds, unsigned port, int timeout_ms, struct agent **ret,
			   struct berr *err);
/* An already connected stream socket, taken over (closed by agent_close,
 * also on failure). */
int agent_open_fd(int fd, int timeout_ms, struct agent **ret, struct berr *err);
/* Closes the connection: the agent kills the commands it started for it.
 * Every struct agent_exec must have been freed first, and no other thread
 * may still be in a call on a (the caller owns that ordering). */
void agent_close(struct agent *a);

/* Has the connection broken (EOF, a malformed frame, ...)?  Then every
 * call fails at once; *why (may be NULL) gets the first reason.  Never
 * waits. */
bool agent_broken(struct agent *a, struct berr *why);

/* Does the agent's hello list feature (a word such as "ident-mac", after
 * its version; docs/agent.md)?  An older agent lists none. */
bool agent_has_feature(struct agent *a, const char *feature);

/* Answer from the agent; *ret_uptime_ms (may be NULL): the guest's
 * CLOCK_BOOTTIME in ms. */
int agent_ping(struct agent *a, int timeout_ms, int64_t *ret_uptime_ms, struct berr *err);

struct agent_exec_spec {
	const char *const *argv; /* NULL-terminated; argv[0] non-empty, looked up in PATH */
	const char *const *env;  /* NULL or NULL-terminated NAME=value: added to (and
				  * overriding) PATH, HOME=/root, USER, LOGNAME, SHELL */
	const char *cwd;         /* NULL: /root (or / without it) */
	bool stdin_pipe;         /* false: the command's stdin is /dev/null */
	/* stream 1 = stdout, 2 = stderr; may be NULL (output dropped) */
	void (*on_output)(void *ctx, int stream, const void *data, size_t len);
	void *ctx;
};

struct agent_exec;

/* Start a command; returns once the agent says it runs (or why not:
 * "cannot run X: No such file or directory"). */
int agent_exec_start(struct agent *a, const struct agent_exec_spec *spec, int timeout_ms,
		     struct agent_exec **ret, struct berr *err);
pid_t agent_exec_pid(const struct agent_exec *x);
/* Send stdin bytes (stdin_pipe); blocks while the agent's window for this
 * command is full (the command is not reading), at most timeout_ms. */
int agent_exec_stdin(struct agent_exec *x, const void *data, size_t len, int timeout_ms,
		     struct berr *err);
int agent_exec_stdin_close(struct agent_exec *x, struct berr *err);
/* Signal the command's process group. */
int agent_exec_kill(struct agent_exec *x, int sig, struct berr *err);
/* Wait for the end, all output delivered: *ret_status is the exit code,
 * or 128 + the signal number (as a shell reports it).  timeout_ms < 0
 * waits as long as the command runs. */
int agent_exec_wait(struct agent_exec *x, int timeout_ms, int *ret_status, struct berr *err);
/* A descriptor that becomes readable when the command has ended (to poll
 * beside other work); valid until agent_exec_free. */
int agent_exec_fd(const struct agent_exec *x);
/* Frees; a command still running is killed (SIGKILL). */
void agent_exec_free(struct agent_exec *x);

/* All in one: start, copy stdin_fd (-1: none) to the command until EOF,
 * wait.  timeout_ms bounds each answer from the agent, not the command. */
int agent_exec(struct agent *a, const struct agent_exec_spec *spec, int stdin_fd, int timeout_ms,
	       int *ret_status, struct berr *err);

/* Write guest file path (absolute; its directory must exist) with mode,
 * atomically (temporary name + fsync + rename in the guest). */
int agent_put(struct agent *a, const char *path, const void *data, size_t len, unsigned mode,
	      int timeout_ms, struct berr *err);
/* The same from a regular file's descriptor (its size at the start). */
int agent_put_fd(struct agent *a, const char *path, int src_fd, unsigned mode, int timeout_ms,
		 struct berr *err);
/* Copy guest regular file path into dst_fd; refused (EFBIG) when it is
 * larger than max bytes.  timeout_ms bounds each wait for the next chunk. */
int agent_get(struct agent *a, const char *path, int dst_fd, uint64_t max, int timeout_ms,
	      uint64_t *ret_size, struct berr *err);

struct agent_identity { /* NULL fields are left as they are */
	const char *hostname;   /* a DNS label */
	const char *iface;      /* default eth0 */
	const char *addr;       /* IPv4 A.B.C.D/N: replaces the interface's IPv4 addresses */
	const char *gw;         /* IPv4: the default route */
	const char *dns;        /* "IP[,IP[,IP]]": /etc/resolv.conf */
	const char *machine_id; /* 32 lowercase hex digits */
	const char *mac;        /* xx:xx:xx:xx:xx:xx: the interface's MAC (set while it is down) */
	const char *mount;      /* a mount point: mounted as the guest's /etc/fstab says */
};
int agent_set_identity(struct agent *a, const struct agent_identity *id, int timeout_ms,
		       struct berr *err);
/* The guest makes a new ed25519 host key, installs it for sshd (which is
 * told to reload) and returns its public half, "ssh-ed25519 AAAA..."
 * (malloc'ed). */
int agent_new_hostkey(struct agent *a, int timeout_ms, char **ret_pubkey, struct berr *err);
/* Set the guest's wall clock (ts NULL: this host's CLOCK_REALTIME now). */
int agent_set_clock(struct agent *a, const struct timespec *ts, int timeout_ms, struct berr *err);
/* Mix 64 bytes from this host's getrandom() into the guest's pool and
 * reseed its CRNG. */
int agent_reseed_rng(struct agent *a, int timeout_ms, struct berr *err);
/* Ask the guest to power off or reboot (through init; force: at once).
 * Returns when the agent has acknowledged. */
int agent_shutdown(struct agent *a, bool reboot, bool force, int timeout_ms, struct berr *err);

#endif
