/* tests/bench/treebench.c: micro-benchmarks of file operations on a tree,
 * run against banger's mount and against a plain directory in the same
 * invocation (the baseline), so figures are ratios on a noisy machine.
 *
 *   treebench ops DIR N        mkdir+rmdir latency, stat and read rates
 *   treebench write FILE TEXT  time one write(2) of TEXT to FILE (ms)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* DIR is either banger's vms/ (mkdir creates a VM; files are inside) or a
 * plain directory, where we create a VM-like layout first. */
static int ops(const char *dir, int n)
{
	double *mk = calloc((size_t)n, sizeof(double)), *rm = calloc((size_t)n, sizeof(double));
	char path[4096], file[4200];
	char buf[4096];
	int plain = access(dir, F_OK) == 0 && strstr(dir, "/vms") == NULL;

	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/bench-%d", dir, i);
		double t0 = now_us();
		if (mkdir(path, 0755) < 0) {
			fprintf(stderr, "mkdir %s: %s\n", path, strerror(errno));
			return 1;
		}
		mk[i] = now_us() - t0;
		if (plain) {
			snprintf(file, sizeof(file), "%s/status", path);
			int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd >= 0) {
				dprintf(fd, "state created\nvcpu 1\nmemory_mib 512\n");
				close(fd);
			}
		}
	}
	/* stat and read of one VM's status file. */
	snprintf(file, sizeof(file), "%s/bench-0/status", dir);
	int reps = n * 20;
	struct stat st;
	double t0 = now_us();
	for (int i = 0; i < reps; i++)
		if (stat(file, &st) < 0)
			return 1;
	double stat_rate = reps / ((now_us() - t0) / 1e6);
	t0 = now_us();
	for (int i = 0; i < reps; i++) {
		int fd = open(file, O_RDONLY);
		if (fd < 0 || read(fd, buf, sizeof(buf)) <= 0)
			return 1;
		close(fd);
	}
	double read_rate = reps / ((now_us() - t0) / 1e6);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/bench-%d", dir, i);
		if (plain) {
			snprintf(file, sizeof(file), "%s/status", path);
			unlink(file);
		}
		double t1 = now_us();
		if (rmdir(path) < 0) {
			fprintf(stderr, "rmdir %s: %s\n", path, strerror(errno));
			return 1;
		}
		rm[i] = now_us() - t1;
	}
	printf("mkdir_us %.1f\nrmdir_us %.1f\nstat_per_s %.0f\nread_per_s %.0f\n",
	       median(mk, n), median(rm, n), stat_rate, read_rate);
	free(mk);
	free(rm);
	return 0;
}

static int one_write(const char *file, const char *text)
{
	int fd = open(file, O_WRONLY);
	if (fd < 0) {
		perror(file);
		return 1;
	}
	double t0 = now_us();
	ssize_t w = write(fd, text, strlen(text));
	double dt = now_us() - t0;
	close(fd);
	if (w < 0) {
		perror("write");
		return 1;
	}
	printf("%.1f\n", dt / 1000.0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "ops") == 0) {
		char *end;
		long n = strtol(argv[3], &end, 10);
		if (*end || n < 1 || n > 100000) {
			fprintf(stderr, "treebench: N must be 1..100000\n");
			return 2;
		}
		return ops(argv[2], (int)n);
	}
	if (argc == 4 && strcmp(argv[1], "write") == 0)
		return one_write(argv[2], argv[3]);
	fprintf(stderr, "usage: treebench ops DIR N | write FILE TEXT\n");
	return 2;
}
