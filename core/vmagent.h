/* core/vmagent.h: the daemon's side of each VM's guest agent
 * (docs/agent.md "In the daemon").
 *
 * One connection per VM, held for the VM's life and shared by every user
 * (QEMU's virtio-serial chardev serves one client at a time, and can wedge
 * on a client that left mid-command).  A watch connects (retrying until the
 * agent answers or a bound passes), applies a new identity when the VM was
 * restored from a snapshot, calls the caller's prepare hook (the daemon
 * makes its automatic snapshot there), then says the agent is ready.  Users
 * hold a reference to the connection while they use it (vmagent_hold);
 * when the VM goes, the watch is cancelled at once and the connection is
 * closed when its last holder lets go.
 *
 * A broken connection (the agent went away, or the chardev wedged) is
 * replaced on the next hold: reconnect to the same socket; when QEMU does
 * not answer there, point its agent chardev at a new socket over QMP
 * (chardev-change) and connect to that one.
 *
 * Takes no struct banger.  Thread-safe: cancel never waits on a guest. */
#ifndef BANGER_VMAGENT_H
#define BANGER_VMAGENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent_client.h"
#include "err.h"

struct vmagent;

enum agent_state { AGENT_NONE, AGENT_WAITING, AGENT_READY, AGENT_FAILED };
const char *agent_state_name(enum agent_state s); /* "-" "waiting" "ready" "failed" */

struct vmagent_conf {
	const char *state_dir;      /* each VM's log (notes, timing) */
	int wait_ms;                /* how long a watch tries to reach the agent; 0: 300 s */
	/* A VM's agent state changed (any thread). */
	void (*changed)(void *ctx, int64_t id);
	/* A restored guest made a new SSH host key: pin it (before its
	 * network comes up, so no connection ever sees the old one). */
	int (*pin_hostkey)(void *ctx, int64_t id, const char *pubkey, struct berr *err);
	/* Connected (and identity applied); runs on the watch's thread with
	 * no lock of this module held, before the state becomes ready, with
	 * the connection a (nobody else has it yet).  May be long (the
	 * automatic snapshot); cancel becomes true when the VM goes.  What it
	 * does not manage is its own to note; the agent is ready anyway. */
	void (*prepare)(void *ctx, int64_t id, struct agent *a, const atomic_bool *cancel);
	void *ctx;
};

/* Where the agent is: QEMU's chardev socket (with its QMP socket, for
 * chardev-change), or Firecracker's vsock Unix socket. */
struct vmagent_chan {
	bool fc_vsock;
	char path[108];
	char qmp[108];              /* "" when none */
};

/* What a restored guest becomes (NULL fields, "" strings: left alone). */
struct vmagent_identity {
	char hostname[64];
	char machine_id[33];
	char mac[18], addr[48], gw[16]; /* eth0: MAC, A.B.C.D/N, gateway ("" : no network) */
	char dns[64];                   /* "IP[,IP]" */
	bool work_disk;                 /* mount /dev/vdb on /root (it was let go for the snapshot) */
};

int vmagent_new(const struct vmagent_conf *c, struct vmagent **ret, struct berr *err);
/* Cancel every watch, wait for their threads (each ends within one agent
 * call), close every connection nobody holds. */
void vmagent_free(struct vmagent *ag);

/* Watch VM id: connect, (identity), prepare (when do_prepare), ready.
 * Replaces an earlier watch of the same VM. */
void vmagent_watch(struct vmagent *ag, int64_t id, const char *name, const struct vmagent_chan *ch,
		   const struct vmagent_identity *ident, bool do_prepare, int64_t started_mono);
/* The VM is gone or going: end its watch (without waiting) and drop its
 * connection (closed when the last holder lets go). */
void vmagent_cancel(struct vmagent *ag, int64_t id);
/* The state; why (may be NULL, len bytes) gets the reason of a failure. */
enum agent_state vmagent_state(struct vmagent *ag, int64_t id, char *why, size_t len);
/* Is the agent connected and still giving a restored guest its identity or
 * making the snapshot (so the guest's network or /root may come and go)?
 * The tree shows `ssh waiting` meanwhile. */
bool vmagent_busy(struct vmagent *ag, int64_t id);

/* A reference to a ready VM's connection; *ret_a is valid until
 * vmagent_release.  -ENOENT: no agent watch (not running, or no agent);
 * -EAGAIN: not ready yet; other: the connection is broken and could not be
 * made again (err says why). */
struct vmagent_ref;
int vmagent_hold(struct vmagent *ag, int64_t id, struct vmagent_ref **ret, struct agent **ret_a,
		 struct berr *err);
void vmagent_release(struct vmagent_ref *ref);

/* What quiesce leaves for a restore to pick up (part of a snapshot's key):
 * 2 = /root unmounted, eth0 down and unmanaged by systemd-networkd. */
#define VMAGENT_PREP_VERSION 2

/* The guest side of a snapshot (core/snapshot.c calls these through its
 * caller): quiesce = sync, let go of the work disk (/root), take eth0
 * down; thaw = undo. */
int vmagent_guest_quiesce(struct agent *a, struct berr *err);
int vmagent_guest_thaw(struct agent *a, struct berr *err);

#endif
