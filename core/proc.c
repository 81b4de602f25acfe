/* core/proc.c: process helpers shared by the VMM drivers and the core.
 *
 * A pid alone does not name a process: it is recycled.  We pair it with
 * the start time from /proc/PID/stat (field 22, clock ticks since boot),
 * which the core persists next to the pid. */
#define _GNU_SOURCE
#include "vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "util.h"

void vmm_proc_clear(struct vmm_proc *p)
{
	if (!p)
		return;
	free(p->runtime);
	p->runtime = NULL;
	p->pid = 0;
	p->pid_start = 0;
}

/* Read /proc/PID/stat and return the state letter and start time.  The
 * comm field (2) is in parentheses and may itself contain spaces and
 * parentheses, so fields are counted from the last ')'. */
static int proc_stat(pid_t pid, char *ret_state, int64_t *ret_start)
{
	char path[64], buf[1024];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ESRCH ? -ESRCH : -errno;
	buf[n] = '\0';

	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EINVAL;
	p += 2;
	/* p now points at field 3 (state); field 22 is 19 fields further. */
	char state = *p;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EINVAL;
		p++;
	}
	char num[24];
	size_t len = strcspn(p, " \n");
	if (len == 0 || len >= sizeof(num))
		return -EINVAL;
	memcpy(num, p, len);
	num[len] = '\0';
	int64_t start;
	int r = parse_i64(num, &start);
	if (r < 0)
		return r;
	if (ret_state)
		*ret_state = state;
	if (ret_start)
		*ret_start = start;
	return 0;
}

int proc_start_time(pid_t pid, int64_t *ret)
{
	return proc_stat(pid, NULL, ret);
}

bool proc_alive(pid_t pid, int64_t start)
{
	char state;
	int64_t st;

	if (proc_stat(pid, &state, &st) < 0)
		return false;
	if (state == 'Z' || state == 'X' || state == 'x')
		return false;
	return st == start;
}

int proc_reap(pid_t pid, int *status)
{
	int st;
	pid_t r;

	if (pid <= 0)
		return -EINVAL;
	do
		r = waitpid(pid, &st, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == ECHILD ? 0 : -errno;
	if (r == 0)
		return 0;
	if (status)
		*status = st;
	return 1;
}
