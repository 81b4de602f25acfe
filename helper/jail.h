/* helper/jail.h: launching Firecracker through its jailer (FIRECRACKER.md
 * §4).  The same code serves bangerd-root's JAIL_LAUNCH operation and a
 * bangerd that runs as root (the pattern of helper/net.c): both re-check
 * everything here, as if the caller were hostile.
 *
 * Layout.  bangerd prepares, as the owner, one directory per VM:
 *
 *     <state_dir>/jail/<id>/root        the jail root (the chroot dir),
 *                                       owned by the owner, holding hard
 *                                       links of the VM's files
 *
 * The jailer takes its chroot dir as a path string (--chroot-base-dir,
 * then <base>/<exec>/<id>/root), which it resolves again and again as
 * root: copying the exec file there, bind-mounting it, pivot_root.  A path
 * below the owner's state dir is the owner's to rename and replace with a
 * symlink at any moment, so it must never reach the jailer.  Instead the
 * launch runs in a mount namespace of its own: a private tmpfs on
 * JAIL_MOUNT holds JAIL_BASE/<exec>/<id>/root, onto which the jail root is
 * bind-mounted from a descriptor opened with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | ...) below the state dir and checked (a directory
 * owned by the jail's uid).  Every component the jailer resolves outside
 * the jail root is then root's own, in a namespace nobody else can enter;
 * inside the jail root the owner controls everything, as the jail's uid
 * always does (the jailer chowns "/" of the jail to it).
 *
 * The jailer runs as
 *     JAILER --id ID --exec-file FC --uid UID --gid GID
 *            --chroot-base-dir JAIL_BASE [--daemonize]
 *            -- --api-sock JAIL_API_SOCK
 * with an empty environment, stdin /dev/null, in a new session. */
#ifndef BANGER_HELPER_JAIL_H
#define BANGER_HELPER_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

#define JAIL_ID_MAX 64		/* the jailer's --id: 1-64 of [A-Za-z0-9-] */
#define JAIL_SUBDIR "jail"	/* <state_dir>/jail/<id>/root */
#define JAIL_MOUNT "/srv"	/* the private tmpfs, in the launch's mount namespace */
#define JAIL_BASE "/srv/jailer" /* --chroot-base-dir (the jailer's own default) */
#define JAIL_API_SOCK "/run/firecracker.socket" /* inside the jail */
#define JAIL_START_MS 10000			/* spawn -> Firecracker runs, per the pid file */
#define JAIL_ARGV_MAX 16

/* Who runs Firecracker in the jail, and with which binaries. */
struct jail_conf {
	const char *jailer;    /* absolute path of the jailer */
	const char *exec_file; /* absolute canonical path of firecracker */
	const char
	    *state_dir; /* absolute canonical dir; the jails are <state_dir>/jail/<id>/root */
	uid_t uid;	/* Firecracker's uid, and the owner of the jail root */
	gid_t gid;
};

/* For bangerd-root's --jailer and --firecracker: the canonical path of
 * path (xmalloc'ed in *ret), which must be an executable regular file
 * owned by root and writable by nobody else, in directories that are
 * root's and writable by nobody else (sticky ones, like /tmp, excepted).
 * Root runs the jailer and copies Firecracker as root: neither may be
 * the owner's to swap. */
int jail_binary_check(const char *path, char **ret, struct berr *err);

/* 1..JAIL_ID_MAX characters of [A-Za-z0-9-] (FIRECRACKER.md §3, §4).
 * -EINVAL otherwise. */
int jail_id_validate(const char *id, struct berr *err);

/* The file name of the exec file (what the jailer calls <exec_file_name>):
 * a pointer into exec_file. */
const char *jail_exec_name(const char *exec_file);

/* <state_dir>/jail/<id>/root and <state_dir>/jail/<id> (xmalloc'ed). */
char *jail_root_dir(const char *state_dir, const char *id);
char *jail_vm_dir(const char *state_dir, const char *id);

/* The jailer's command line, NULL-terminated in ret->argv; the strings
 * live in ret.  -EINVAL for a bad id. */
struct jail_argv {
	char *argv[JAIL_ARGV_MAX];
	char uid[16], gid[16];
};
int jail_build_argv(const struct jail_conf *c, const char *id, bool daemonize,
		    struct jail_argv *ret, struct berr *err);

/* What jail_check() found: the jail root's identity, for the launch to
 * compare with what it opens in its own mount namespace. */
struct jail_target {
	dev_t dev;
	ino_t ino;
};

/* The checks that refuse a request (the helper logs them as rejections):
 * a valid id; <state_dir>/jail/<id>/root exists below the state dir with
 * no symlink and no mount crossing on the way (path_under_root and
 * path_open_beneath), is a directory owned by c->uid; no file, symlink or
 * anything else already at <root>/<exec>.pid (the jailer creates it with
 * O_EXCL; an existing one is stale or planted). */
int jail_check(const struct jail_conf *c, const char *id, struct jail_target *ret,
	       struct berr *err);

/* Open <state_dir>/jail/<id>/root/<name> for appending, for the jailer's
 * stdout or stderr: reached without symlinks below the state dir, a
 * regular file owned by c->uid.  Used by JAIL_LAUNCH when Firecracker is
 * too old for PUT /serial. */
int jail_open_output(const struct jail_conf *c, const char *id, const char *name, int *ret_fd,
		     struct berr *err);

/* How the jailer's output is wired. */
struct jail_io {
	bool daemonize; /* --daemonize: the jailer double-forks, stdio /dev/null */
	int outfd;	/* !daemonize: the jailer's (and Firecracker's) stdout */
	int errfd;	/* !daemonize: stderr */
	bool detach;	/* !daemonize: spawn through an intermediate process that
			 * exits at once, so init and not the caller reaps
			 * Firecracker (bangerd-root must not collect zombies or
			 * hold its VMs as children) */
};

/* Launch the jailer for a target jail_check() accepted, wait (at most
 * JAIL_START_MS) for its pid file <root>/<exec>.pid (decimal, no newline,
 * read beneath the jail root without following symlinks, a regular file
 * owned by root as the jailer writes it), and check that this pid is
 * alive, runs as c->uid, has the jail root as its working directory (the
 * jailer leaves it at "/" of the jail) and runs the copied exec file.
 * Returns the pid.  Without daemonize and detach the pid is the caller's
 * child (the jailer execs Firecracker in place): the caller reaps it.  On
 * failure whatever was started and can be found is killed, and err has
 * the jailer's own words when it said any. */
int jail_launch(const struct jail_conf *c, const char *id, const struct jail_target *t,
		const struct jail_io *io, pid_t *ret_pid, struct berr *err);

/* SIGKILL every process of ours whose pid is in a "*.pid" file of the
 * jail root root_dir and which runs that jail's exec file with --id id (a
 * Firecracker left behind by a launch whose reply was lost, or by a
 * start that failed after it).  Returns how many. */
int jail_kill_strays(const char *root_dir, const char *id);

#endif
