/* tests/unit/agent_cli.c: a command-line client of the guest agent
 * (core/agent_client.c), for the integration test and the benchmark.
 *
 *   agent_cli [--fc-vsock PORT] [--timeout MS] SOCK ping
 *   agent_cli ... SOCK exec [--stdin] [--cwd DIR] [--env K=V]... [--cancel-after MS] -- ARGV...
 *                 (stdout/stderr pass through; exits with the command's status;
 *                 --cancel-after: give up on the command after MS, which kills it,
 *                 and exit 0)
 *   agent_cli ... SOCK put LOCAL GUEST [MODE-octal]
 *   agent_cli ... SOCK get GUEST LOCAL [MAX]
 *   agent_cli ... SOCK ident KEY=VALUE...
 *   agent_cli ... SOCK hostkey | clock | rng | shutdown [reboot] [force]
 *   agent_cli ... SOCK bench N [--reconnect] -- ARGV...
 *                 N runs of ARGV, one line "run_us T" each, then "median_us M";
 *                 --reconnect: a new connection (and handshake) for every run
 * Errors: one line on stderr, exit 125. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_client.h"
#include "util.h"

static const char *sock;
static long fc_port = -1;
static int timeout_ms = 10000;

static void die(const struct berr *err)
{
	fprintf(stderr, "agent_cli: %s\n", err->msg);
	exit(125);
}

static struct agent *open_agent(void)
{
	struct agent *a;
	struct berr err = { 0 };
	int r = fc_port >= 0 ? agent_connect_fc_vsock(sock, (unsigned)fc_port, timeout_ms, &a, &err)
			     : agent_connect_unix(sock, timeout_ms, &a, &err);
	if (r < 0)
		die(&err);
	return a;
}

static void out(void *ctx, int stream, const void *data, size_t len)
{
	(void)ctx;
	int fd = stream == 2 ? 2 : 1;
	while (len > 0) {
		ssize_t w = write(fd, data, len);
		if (w <= 0)
			return;
		data = (const char *)data + w;
		len -= (size_t)w;
	}
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
	struct berr err = { 0 };
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--fc-vsock") == 0 && i + 1 < argc)
			fc_port = atol(argv[++i]);
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout_ms = atoi(argv[++i]);
		else
			break;
	}
	if (argc - i < 2) {
		fprintf(stderr, "usage: agent_cli [--fc-vsock PORT] [--timeout MS] SOCK CMD ...\n");
		return 125;
	}
	sock = argv[i++];
	const char *cmd = argv[i++];
	char **rest = argv + i;
	int nrest = argc - i;

	if (strcmp(cmd, "bench") == 0) {
		if (nrest < 3)
			return 125;
		int n = atoi(rest[0]), k = 1;
		bool reconnect = false;
		if (strcmp(rest[k], "--reconnect") == 0) {
			reconnect = true;
			k++;
		}
		if (strcmp(rest[k], "--") == 0)
			k++;
		struct agent_exec_spec spec = { .argv = (const char *const *)rest + k };
		int64_t *t = xcalloc((size_t)n, sizeof(*t));
		struct agent *a = reconnect ? NULL : open_agent();
		for (int r = 0; r < n; r++) {
			struct timespec t0, t1;
			int st;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			if (reconnect)
				a = open_agent();
			if (agent_exec(a, &spec, -1, timeout_ms, &st, &err) < 0)
				die(&err);
			if (reconnect) {
				agent_close(a);
				a = NULL;
			}
			clock_gettime(CLOCK_MONOTONIC, &t1);
			t[r] = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
			printf("run_us %lld status %d\n", (long long)t[r], st);
		}
		agent_close(a);
		qsort(t, (size_t)n, sizeof(*t), cmp_i64);
		printf("median_us %lld\n", (long long)(n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2));
		free(t);
		return 0;
	}

	struct agent *a = open_agent();
	int rc = 0;
	if (strcmp(cmd, "ping") == 0) {
		int64_t up;
		if (agent_ping(a, timeout_ms, &up, &err) < 0)
			die(&err);
		printf("uptime_ms %lld\n", (long long)up);
	} else if (strcmp(cmd, "exec") == 0) {
		const char *env[64];
		int ne = 0, k = 0;
		struct agent_exec_spec spec = { .on_output = out };
		bool in = false;
		int cancel_ms = -1;
		for (; k < nrest; k++) {
			if (strcmp(rest[k], "--stdin") == 0)
				in = true;
			else if (strcmp(rest[k], "--cancel-after") == 0 && k + 1 < nrest)
				cancel_ms = atoi(rest[++k]);
			else if (strcmp(rest[k], "--cwd") == 0 && k + 1 < nrest)
				spec.cwd = rest[++k];
			else if (strcmp(rest[k], "--env") == 0 && k + 1 < nrest && ne < 63)
				env[ne++] = rest[++k];
			else if (strcmp(rest[k], "--") == 0) {
				k++;
				break;
			} else
				break;
		}
		env[ne] = NULL;
		spec.env = ne ? env : NULL;
		spec.argv = (const char *const *)rest + k;
		if (cancel_ms >= 0) {
			struct agent_exec *x;
			if (agent_exec_start(a, &spec, timeout_ms, &x, &err) < 0)
				die(&err);
			if (agent_exec_wait(x, cancel_ms, &rc, &err) == 0)
				fprintf(stderr, "agent_cli: the command ended before the cancel (status %d)\n", rc);
			agent_exec_free(x); /* kills it if still running */
			rc = 0;
		} else if (agent_exec(a, &spec, in ? 0 : -1, timeout_ms, &rc, &err) < 0) {
			die(&err);
		}
	} else if (strcmp(cmd, "put") == 0 && nrest >= 2) {
		int fd = open(rest[0], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			berr_set(&err, errno, "%s: %s", rest[0], strerror(errno));
			die(&err);
		}
		unsigned mode = nrest > 2 ? (unsigned)strtoul(rest[2], NULL, 8) : 0644;
		if (agent_put_fd(a, rest[1], fd, mode, timeout_ms, &err) < 0)
			die(&err);
		close(fd);
	} else if (strcmp(cmd, "get") == 0 && nrest >= 2) {
		int fd = open(rest[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		uint64_t size;
		if (fd < 0) {
			berr_set(&err, errno, "%s: %s", rest[1], strerror(errno));
			die(&err);
		}
		uint64_t max = nrest > 2 ? strtoull(rest[2], NULL, 10) : (1ULL << 30);
		if (agent_get(a, rest[0], fd, max, timeout_ms, &size, &err) < 0)
			die(&err);
		close(fd);
		printf("size %llu\n", (unsigned long long)size);
	} else if (strcmp(cmd, "ident") == 0) {
		struct agent_identity id = { 0 };
		for (int k = 0; k < nrest; k++) {
			char *eq = strchr(rest[k], '=');
			if (!eq)
				return 125;
			*eq = '\0';
			const char *v = eq + 1;
			if (!strcmp(rest[k], "hostname")) id.hostname = v;
			else if (!strcmp(rest[k], "iface")) id.iface = v;
			else if (!strcmp(rest[k], "addr")) id.addr = v;
			else if (!strcmp(rest[k], "gw")) id.gw = v;
			else if (!strcmp(rest[k], "dns")) id.dns = v;
			else if (!strcmp(rest[k], "machine_id")) id.machine_id = v;
			else if (!strcmp(rest[k], "mac")) id.mac = v;
			else if (!strcmp(rest[k], "mount")) id.mount = v;
			else return 125;
		}
		if (agent_set_identity(a, &id, timeout_ms, &err) < 0)
			die(&err);
	} else if (strcmp(cmd, "hostkey") == 0) {
		char *key;
		if (agent_new_hostkey(a, timeout_ms, &key, &err) < 0)
			die(&err);
		printf("%s\n", key);
		free(key);
	} else if (strcmp(cmd, "clock") == 0) {
		if (agent_set_clock(a, NULL, timeout_ms, &err) < 0)
			die(&err);
	} else if (strcmp(cmd, "rng") == 0) {
		if (agent_reseed_rng(a, timeout_ms, &err) < 0)
			die(&err);
	} else if (strcmp(cmd, "shutdown") == 0) {
		bool reboot = false, force = false;
		for (int k = 0; k < nrest; k++) {
			reboot = reboot || !strcmp(rest[k], "reboot");
			force = force || !strcmp(rest[k], "force");
		}
		if (agent_shutdown(a, reboot, force, timeout_ms, &err) < 0)
			die(&err);
	} else {
		fprintf(stderr, "agent_cli: unknown command %s\n", cmd);
		rc = 125;
	}
	agent_close(a);
	return rc;
}
