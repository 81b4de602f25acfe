/* guest/agent.c: banger's guest agent, main and transports.
 *
 *   banger-agent                 serve the virtio-serial port "banger.agent"
 *                                (QEMU) and vsock port 52 (Firecracker),
 *                                whichever the guest has
 *   banger-agent --vport NAME    only that virtio-serial port
 *   banger-agent --vsock PORT    only vsock, on that port
 *   banger-agent --fd N          one session on an inherited connected
 *                                socket, then exit (tests)
 *   --test-root DIR              see struct agent_opts (tests on a host)
 *   --verbose                    log every session
 *
 * Who may talk to the agent (docs/agent.md, "Trust"):
 *  - virtio-serial: the port's other end is QEMU's chardev, i.e. the host.
 *    Inside the guest the port device is root-only, and the kernel lets one
 *    process open it at a time (EBUSY otherwise): the agent holds it.
 *  - vsock: a connection is served only when the peer's CID is 2
 *    (VMADDR_CID_HOST): Firecracker's host-initiated connections and a
 *    vhost-vsock host come from CID 2; a guest process connecting through
 *    loopback has CID 1 or the guest's own CID and is closed unanswered.
 *    The port is below 1024, so only root in the guest can bind it first.
 *  - --fd: whoever the test gave the socket to. */
#define _GNU_SOURCE
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHANNEL_WAIT_MS 10000 /* at start: how long to wait for a channel to appear */
#define VSOCK_SESSIONS_MAX 16

static struct agent_opts opts = { .root = "" };

static void usage(void)
{
	dprintf(2, "usage: banger-agent [--vport NAME] [--vsock PORT] [--fd N] [--test-root DIR] "
		   "[--verbose] [--version]\n");
	exit(2);
}

/* /dev/vportNpM whose sysfs name is `name`, or NULL. */
static char *vport_find(const char *name)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	char *found = NULL;
	if (!d)
		return NULL;
	while (!found && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		_cleanup_free_ char *p = xasprintf("/sys/class/virtio-ports/%s/name", e->d_name);
		_cleanup_free_ char *text = NULL;
		size_t len;
		if (read_file(p, 256, &text, &len) < 0)
			continue;
		text[strcspn(text, "\n")] = '\0';
		if (strcmp(text, name) == 0)
			found = xasprintf("/dev/%s", e->d_name);
	}
	closedir(d);
	return found;
}

/* ---- virtio-serial ---- */

/* The port's fd reports POLLHUP while no host is connected; the kernel
 * sends SIGIO (O_ASYNC) when that changes, so waiting costs nothing. */
static void on_sigio(int sig)
{
	(void)sig; /* only wakes ppoll in the session */
}

static void vport_serve(const char *dev)
{
	int fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		agent_log("cannot open %s: %s", dev, strerror(errno));
		exit(1);
	}
	sigset_t io;
	sigemptyset(&io);
	sigaddset(&io, SIGIO);
	sigprocmask(SIG_BLOCK, &io, NULL);
	struct sigaction sa = { .sa_handler = on_sigio };
	sigaction(SIGIO, &sa, NULL);
	if (fcntl(fd, F_SETOWN, getpid()) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC | O_NONBLOCK) < 0) {
		agent_log("cannot ask for SIGIO on %s: %s", dev, strerror(errno));
		exit(1);
	}
	agent_log("serving virtio-serial port %s", dev);
	for (;;) {
		while (!agent_vport_connected(fd)) {
			struct timespec ts = { .tv_sec = 5 }; /* a lost signal costs 5 s at most */
			sigtimedwait(&io, NULL, &ts);
		}
		if (opts.verbose)
			agent_log("host connected on %s", dev);
		agent_session_run(fd, AGENT_CONN_VPORT, &opts);
		if (opts.verbose)
			agent_log("host left %s", dev);
		/* drop signals that came while serving */
		struct timespec zero = { 0 };
		while (sigtimedwait(&io, NULL, &zero) > 0)
			;
	}
}

/* ---- vsock ---- */

static int vsock_listen(unsigned port)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Accept connections from the host (CID 2) only, one process each.
 * vport_pid, when > 0, is the virtio-serial server: if it dies, so do we
 * (and systemd restarts the agent). */
static void vsock_serve(int lfd, unsigned port, pid_t vport_pid)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	int sessions = 0;
	if (sfd < 0) {
		agent_log("signalfd: %s", strerror(errno));
		exit(1);
	}
	agent_log("serving vsock port %u (host CID %d only)", port, VMADDR_CID_HOST);
	for (;;) {
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			exit(1);
		if (p[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) > 0)
				;
			pid_t c;
			int st;
			while ((c = waitpid(-1, &st, WNOHANG)) > 0) {
				if (c == vport_pid) {
					agent_log("the virtio-serial server exited; exiting");
					exit(1);
				}
				sessions--;
			}
		}
		if (!(p[0].revents & POLLIN))
			continue;
		struct sockaddr_vm peer;
		socklen_t pl = sizeof(peer);
		int c = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		if (pl < sizeof(peer) || peer.svm_family != AF_VSOCK || peer.svm_cid != VMADDR_CID_HOST) {
			agent_log("refused a vsock connection from CID %u port %u: not the host",
				  (unsigned)peer.svm_cid, (unsigned)peer.svm_port);
			close(c);
			continue;
		}
		if (sessions >= VSOCK_SESSIONS_MAX) {
			agent_log("refused a vsock connection: %d sessions already", VSOCK_SESSIONS_MAX);
			close(c);
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			sigprocmask(SIG_UNBLOCK, &chld, NULL);
			close(lfd);
			close(sfd);
			agent_session_run(c, AGENT_CONN_SOCKET, &opts);
			_exit(0);
		}
		if (pid > 0)
			sessions++;
		close(c);
	}
}

int main(int argc, char **argv)
{
	const char *vport_name = NULL;
	long vsock_port = -1, fd = -1;
	bool only = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		uint64_t v;
		if (strcmp(a, "--version") == 0) {
			printf("banger-agent %s (protocol %d)\n", AGENT_VERSION_STRING, AGENT_PROTO_VERSION);
			return 0;
		} else if (strcmp(a, "--verbose") == 0) {
			opts.verbose = true;
		} else if (i + 1 < argc && strcmp(a, "--vport") == 0) {
			vport_name = argv[++i];
			only = true;
		} else if (i + 1 < argc && strcmp(a, "--vsock") == 0) {
			if (parse_u64(argv[++i], &v) < 0 || v < 1 || v > 0xfffffffe)
				usage();
			vsock_port = (long)v;
			only = true;
		} else if (i + 1 < argc && strcmp(a, "--fd") == 0) {
			if (parse_u64(argv[++i], &v) < 0 || v > 1024)
				usage();
			fd = (long)v;
		} else if (i + 1 < argc && strcmp(a, "--test-root") == 0) {
			opts.root = argv[++i];
			opts.test = true;
		} else {
			usage();
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (opts.test) {
		struct stat st;
		if (opts.root[0] != '/' || stat(opts.root, &st) < 0 || !S_ISDIR(st.st_mode)) {
			agent_log("--test-root needs an absolute directory");
			return 2;
		}
		/* Hostname, addresses and mounts change only a private copy. */
		if (unshare(CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
			agent_log("--test-root: cannot make private UTS, network and mount namespaces: %s",
				  strerror(errno));
			return 1;
		}
	}
	if (fd >= 0) {
		int fl = fcntl((int)fd, F_GETFD);
		if (fl < 0) {
			agent_log("--fd %ld: %s", fd, strerror(errno));
			return 2;
		}
		fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC); /* not for the commands it runs */
		agent_session_run((int)fd, AGENT_CONN_SOCKET, &opts);
		return 0;
	}
	if (!only) {
		vport_name = AGENT_VPORT_NAME;
		vsock_port = AGENT_VSOCK_PORT;
	}

	/* Wait (bounded) for a channel: at early boot udev may still be busy. */
	_cleanup_free_ char *dev = NULL;
	int lfd = -1;
	int64_t end = mono_ms() + CHANNEL_WAIT_MS;
	for (;;) {
		if (vport_name && !dev)
			dev = vport_find(vport_name);
		if (vsock_port > 0 && lfd < 0)
			lfd = vsock_listen((unsigned)vsock_port);
		if ((dev || !vport_name) && (lfd >= 0 || vsock_port <= 0))
			break; /* everything asked for is there */
		if ((dev || lfd >= 0) && !only)
			break; /* default mode: one channel is enough */
		if (mono_ms() >= end)
			break;
		usleep(100 * 1000);
	}
	if (!dev && lfd < 0) {
		agent_log("no channel to the host: no virtio-serial port \"%s\"%s", vport_name ? vport_name : "-",
			  vsock_port > 0 ? " and no vsock" : "");
		return only ? 1 : 0;
	}
	if (dev && lfd < 0)
		vport_serve(dev);
	sigset_t chld; /* blocked before the fork: vsock_serve reads it from a signalfd */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	if (!dev)
		vsock_serve(lfd, (unsigned)vsock_port, 0);
	pid_t vp = fork();
	if (vp < 0) {
		agent_log("fork: %s", strerror(errno));
		return 1;
	}
	if (vp == 0) {
		close(lfd);
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
		vport_serve(dev);
	}
	vsock_serve(lfd, (unsigned)vsock_port, vp);
	return 1;
}
