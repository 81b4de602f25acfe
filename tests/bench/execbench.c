/* tests/bench/execbench.c: the agent exec round trip through the tree's
 * execs/ (docs/agent.md), with no process started on the host side:
 *
 *   execbench FS VM N
 *
 * N times: mkdir FS/execs/bPID-I, write "true\0" to argv, "run VM" to ctl,
 * read status (it blocks until the command ended), rmdir.  Prints one line
 * per run (run_us T) and the median (median_us M). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static int put(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static int cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: execbench FS VM N\n");
		return 2;
	}
	const char *fs = argv[1], *vm = argv[2];
	int n = atoi(argv[3]);
	if (n < 1 || n > 100000)
		return 2;
	long long *t = calloc((size_t)n, sizeof(*t));
	char dir[4096], f[4200], ctl[256], st[64];
	snprintf(ctl, sizeof(ctl), "run %s\n", vm);
	for (int i = 0; i < n; i++) {
		snprintf(dir, sizeof(dir), "%s/execs/b%d-%d", fs, (int)getpid(), i);
		long long t0 = now_us();
		if (mkdir(dir, 0755) < 0) {
			perror(dir);
			return 1;
		}
		snprintf(f, sizeof(f), "%s/argv", dir);
		if (put(f, "true", 5) < 0) {
			perror(f);
			return 1;
		}
		snprintf(f, sizeof(f), "%s/ctl", dir);
		if (put(f, ctl, strlen(ctl)) < 0) {
			perror(f);
			return 1;
		}
		snprintf(f, sizeof(f), "%s/status", dir);
		int fd = open(f, O_RDONLY | O_CLOEXEC);
		ssize_t k = fd < 0 ? -1 : read(fd, st, sizeof(st) - 1);
		if (fd >= 0)
			close(fd);
		if (k != 2 || st[0] != '0') {
			fprintf(stderr, "status: %zd '%.*s'\n", k, k > 0 ? (int)k : 0, st);
			return 1;
		}
		if (rmdir(dir) < 0) {
			perror(dir);
			return 1;
		}
		t[i] = now_us() - t0;
		printf("run_us %lld\n", t[i]);
	}
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("median_us %lld\n", t[n / 2]);
	free(t);
	return 0;
}
