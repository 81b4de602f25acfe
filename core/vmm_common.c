/* core/vmm_common.c: what the VMM drivers share: notes in the VM log, the
 * tail of a log for error messages, wait-status words, killing exactly the
 * process we started (pid + start time, via a pidfd), small validators and
 * the runtime JSON reader. */
#define _GNU_SOURCE
#include "vmm_common.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

#define LOG_TAIL_BYTES 4096
#define LOG_TAIL_LINES 4

void vmm_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The last few non-empty lines of a log, joined with " | ", skipping our
 * own "banger:" notes.  Returns a malloc'ed string ("" if nothing). */
char *vmm_log_tail(const char *log_path)
{
	_cleanup_close_ int fd = log_path ? open(log_path, O_RDONLY | O_CLOEXEC) : -1;
	char buf[LOG_TAIL_BYTES + 1];
	const char *lines[LOG_TAIL_LINES];
	size_t nlines = 0;
	struct sbuf s;

	if (fd < 0)
		return xstrdup("");
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > LOG_TAIL_BYTES ? end - LOG_TAIL_BYTES : 0;
	ssize_t n = pread(fd, buf, LOG_TAIL_BYTES, from);
	if (n <= 0)
		return xstrdup("");
	buf[n] = '\0';
	char *p = buf + n;
	while (p > buf && nlines < LOG_TAIL_LINES) {
		while (p > buf && (p[-1] == '\n' || p[-1] == '\r'))
			*--p = '\0';
		char *e = p;
		while (p > buf && p[-1] != '\n')
			p--;
		if (p == buf && from > 0)
			break;
		if (e > p && strncmp(p, "banger: ", 8) != 0)
			lines[nlines++] = p;
	}
	sbuf_init(&s);
	sbuf_puts(&s, "");
	for (size_t i = nlines; i-- > 0;) {
		sbuf_puts(&s, lines[i]);
		if (i)
			sbuf_puts(&s, " | ");
	}
	return sbuf_steal(&s);
}

void vmm_describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "wait status 0x%x", (unsigned)st);
}

/* SIGKILL our own child and reap it (bounded: SIGKILL cannot be caught). */
void vmm_kill_and_reap(pid_t pid)
{
	int st;
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
}

static int vmm_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* SIGKILL pid only if it is still the process that started at start (a
 * pidfd pins the process between the check and the signal). */
int vmm_kill_exact(pid_t pid, int64_t start, const char *what, struct berr *err)
{
	_cleanup_close_ int pfd = vmm_pidfd_open(pid);

	if (pfd < 0 && errno == ESRCH)
		return 0;
	if (!proc_alive(pid, start))
		return 0;
#ifdef SYS_pidfd_send_signal
	if (pfd >= 0) {
		if (syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
			return berr_set(err, errno, "cannot kill %s (pid %d): %s", what, (int)pid,
					strerror(errno));
		return 0;
	}
#endif
	if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
		return berr_set(err, errno, "cannot kill %s (pid %d): %s", what, (int)pid,
				strerror(errno));
	return 0;
}

bool vmm_valid_ifname(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 15)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

bool vmm_valid_mac(const char *s)
{
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		char c = s[i];
		if (i % 3 == 2) {
			if (c != ':')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			     (c >= 'A' && c <= 'F'))) {
			return false;
		}
	}
	return true;
}

/* Fetch a string field of the runtime JSON; malloc'ed or NULL. */
char *vmm_runtime_get(const struct vmm_proc *p, const char *key)
{
	json_error_t je;
	char *v = NULL;

	if (!p || !p->runtime)
		return NULL;
	json_t *o = json_loads(p->runtime, 0, &je);
	if (!o)
		return NULL;
	const char *s = json_string_value(json_object_get(o, key));
	if (s)
		v = xstrdup(s);
	json_decref(o);
	return v;
}

int vmm_spawn(char *const argv[], int outfd, int errfd, int passfd, const char *log_path,
	      pid_t *ret_pid, struct berr *err)
{
	return vmm_spawn_in(NULL, argv, outfd, errfd, passfd, log_path, ret_pid, err);
}

int vmm_spawn_in(const char *cwd, char *const argv[], int outfd, int errfd, int passfd,
		 const char *log_path, pid_t *ret_pid, struct berr *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	_cleanup_close_ int high = -1;
	pid_t pid;
	int r;

	/* dup2 onto itself would keep FD_CLOEXEC, and the dup2s onto 1-3
	 * must not clobber it: give the descriptor a number above 3. */
	if (passfd >= 0 && passfd <= 3) {
		high = fcntl(passfd, F_DUPFD_CLOEXEC, 4);
		if (high < 0)
			return berr_set(err, errno, "cannot duplicate a descriptor: %s",
					strerror(errno));
		passfd = high;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, outfd, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	if (passfd >= 0)
		posix_spawn_file_actions_adddup2(&fa, passfd, 3);
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
					 POSIX_SPAWN_SETSIGDEF);
	if (strchr(argv[0], '/'))
		r = posix_spawn(&pid, argv[0], &fa, &attr, argv, environ);
	else
		r = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0) {
		log_note(log_path, "cannot start %s: %s", argv[0], strerror(r));
		return berr_set(err, r, "cannot start %s: %s", argv[0], strerror(r));
	}
	*ret_pid = pid;
	return 0;
}
