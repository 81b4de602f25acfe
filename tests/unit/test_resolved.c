/* Unit tests: helper/resolved.c and the RESOLVED_LINK / RESOLVED_REVERT
 * operations of helper/ops.c, against a real D-Bus daemon and a stand-in
 * systemd-resolved (tests/resolved-double/resolve1.py) on a private bus.
 *
 * Needs root: main() moves the process into a private network namespace
 * where it creates the bridge "br-t" (172.30.99.1/24, never seen by the
 * root namespace), then starts dbus-daemon with
 * tests/resolved-double/bus.conf on a socket in the temp dir and points
 * DBUS_SYSTEM_BUS_ADDRESS at it.  The double logs every call it gets as a
 * JSON line, and the tests compare those lines exactly.  Paths are relative
 * to the working directory (the checkout), or $RESOLVE1_DOUBLE_BIN. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <systemd/sd-bus.h>

#include "net.h"
#include "proto.h"
#include "resolved.h"
#include "util.h"

extern char **environ;

#define BR "br-t"
#define SUBNET "172.30.99.1/24"
#define NO_VM_NAMES ".vm names will not resolve on this host"

static char tmp[PATH_MAX];
static char bus_addr[PATH_MAX + 16];
static char double_bin[PATH_MAX];
static char bus_conf[PATH_MAX];
static char log_path[PATH_MAX + 32];
static pid_t bus_pid = -1, double_pid = -1;
static int br_index;
static bool ready; /* root, namespace, bus: set by setup_all */
static struct helper_conf conf;

/* ---- processes ---- */

static pid_t spawn(char *const argv[], const char *out)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	int r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return r == 0 ? pid : -1;
}

static void stop(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	for (int i = 0; i < 50; i++) {
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = -1;
			return;
		}
		usleep(100 * 1000);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = -1;
}

static bool wait_path(const char *path, pid_t pid, int ms)
{
	struct stat st;
	for (int64_t end = mono_ms() + ms; mono_ms() < end; usleep(20 * 1000)) {
		if (lstat(path, &st) == 0)
			return true;
		if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid)
			return false;
	}
	return false;
}

/* Does org.freedesktop.resolve1 have an owner on the test bus? */
static int name_has_owner(void)
{
	__attribute__((cleanup(sd_bus_close_unrefp))) sd_bus *bus = NULL;
	__attribute__((cleanup(sd_bus_message_unrefp))) sd_bus_message *rep = NULL;
	int has = 0;

	if (sd_bus_open_system(&bus) < 0 ||
	    sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
			       "org.freedesktop.DBus", "NameHasOwner", NULL, &rep, "s",
			       "org.freedesktop.resolve1") < 0 ||
	    sd_bus_message_read(rep, "b", &has) < 0)
		return -1;
	return has;
}

static void double_stop(void);

/* Start the double, with FAIL and HANG hooks (NULL for none); its log
 * starts empty.  One left by a failed test is stopped first. */
static void double_start(const char *fail, const char *hang)
{
	char *argv[] = {double_bin, NULL};
	const char *rdy = p("%s/double.ready", tmp);

	if (double_pid > 0)
		double_stop();

	unlink(log_path);
	unlink(rdy);
	setenv("RESOLVE1_DOUBLE_LOG", log_path, 1);
	setenv("RESOLVE1_DOUBLE_READY", rdy, 1);
	if (fail)
		setenv("RESOLVE1_DOUBLE_FAIL", fail, 1);
	if (hang)
		setenv("RESOLVE1_DOUBLE_HANG", hang, 1);
	double_pid = spawn(argv, p("%s/double.out", tmp));
	unsetenv("RESOLVE1_DOUBLE_FAIL");
	unsetenv("RESOLVE1_DOUBLE_HANG");
	assert_true(double_pid > 0);
	if (!wait_path(rdy, double_pid, 10000))
		fail_msg("the resolve1 double did not come up; see %s/double.out", tmp);
}

/* Stop it and wait until the bus has noticed (the name has no owner). */
static void double_stop(void)
{
	stop(&double_pid);
	for (int i = 0; i < 100 && name_has_owner() != 0; i++)
		usleep(50 * 1000);
	assert_int_equal(name_has_owner(), 0);
}

/* The double's log ("" when it has none). */
static char *calls(void)
{
	char *s = NULL;
	size_t n = 0;
	if (read_file(log_path, 1 << 20, &s, &n) < 0)
		return xstrdup("");
	return s;
}

static void assert_calls(const char *want)
{
	_cleanup_free_ char *got = calls();
	if (strcmp(got, want) != 0)
		fail_msg("the double got:\n%s\nwanted:\n%s", got, want);
}

/* The lines the double logs, for the link index (printf formats). */
#define DEFAULT_ROUTE_OFF "{\"method\":\"SetLinkDefaultRoute\",\"args\":[%d,false]}\n"
#define DOMAINS_VM "{\"method\":\"SetLinkDomains\",\"args\":[%d,[[\"vm\",true]]]}\n"
#define DNS_42053 "{\"method\":\"SetLinkDNSEx\",\"args\":[%d,[[2,[172,30,99,1],42053,\"\"]]]}\n"
#define REVERT "{\"method\":\"RevertLink\",\"args\":[%d]}\n"

/* ---- ops_run ---- */

static int run(unsigned op, const char *a0, const char *a1, bool *rejected, char *msg,
	       struct berr *err)
{
	struct proto_req req = {.op = (uint16_t)op, .nargs = proto_op_lookup(op)->nargs};
	struct ops_result res;

	snprintf(req.args[0], sizeof(req.args[0]), "%s", a0 ? a0 : "");
	snprintf(req.args[1], sizeof(req.args[1]), "%s", a1 ? a1 : "");
	int r = ops_run(&conf, conf.owner_uid, &req, &res, err);
	*rejected = res.rejected;
	if (msg)
		snprintf(msg, PROTO_TEXT_MAX + 1, "%s", res.msg);
	ops_result_done(&res);
	return r;
}

static void need_env(void)
{
	if (!ready)
		skip();
}

/* ---- tests ---- */

static void test_op_refusals(void **state)
{
	struct berr err;
	bool rej;
	static const struct {
		const char *bridge, *server;
		int want;
		const char *says;
	} bad[] = {
	    {"br-evil", "172.30.99.1:42053", -EPERM, "not the bridge this helper manages"},
	    {"br t", "172.30.99.1:42053", -EINVAL, "may only contain"},
	    {"", "172.30.99.1:42053", -EINVAL, "must not be empty"},
	    {BR, "10.0.0.1:42053", -EPERM, "not the gateway address"},
	    {BR, "172.30.99.2:42053", -EPERM, "not the gateway address"},
	    {BR, "172.30.99.0:42053", -EPERM, "not the gateway address"},
	    {BR, "127.0.0.1:53", -EPERM, "not the gateway address"},
	    {BR, "172.30.99.1", -EINVAL, "is not ADDRESS:PORT"},
	    {BR, "", -EINVAL, "is not ADDRESS:PORT"},
	    {BR, "172.30.99.1:0", -EINVAL, "from 1 to 65535"},
	    {BR, "172.30.99.1:65536", -EINVAL, "from 1 to 65535"},
	    {BR, "172.30.99.1:12x", -EINVAL, "from 1 to 65535"},
	    {BR, "172.30.99.1:+53", -EINVAL, "from 1 to 65535"},
	    {BR, "172.30.99.1:-53", -EINVAL, "from 1 to 65535"},
	    {BR, "172.30.99.1: 53", -EINVAL, "from 1 to 65535"},
	    {BR, "172.30.99.1:053", -EINVAL, "from 1 to 65535"},
	    {BR, "172.30.99.1:", -EINVAL, "from 1 to 65535"},
	    {BR, "172.30.99.1:99999999999999999999", -EINVAL, "from 1 to 65535"},
	    {BR, "172.30.99.1:53:53", -EINVAL, "from 1 to 65535"},
	    {BR, ":53", -EINVAL, "not an IPv4 address"},
	    {BR, "172.30.99.01:53", -EINVAL, "not an IPv4 address"},
	    {BR, "172.30.99.1/24:53", -EINVAL, "not an IPv4 address"},
	    {BR, " 172.30.99.1:53", -EINVAL, "not an IPv4 address"},
	    {BR, "localhost:53", -EINVAL, "not an IPv4 address"},
	    {BR, "[::1]:53", -EINVAL, "from 1 to 65535"}, /* split at the first colon */
	    {BR, "172.30.99.1\n:53", -EINVAL, "not an IPv4 address"},
	};

	need_env();
	double_start(NULL, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = run(PROTO_OP_RESOLVED_LINK, bad[i].bridge, bad[i].server, &rej, NULL, &err);
		if (r != bad[i].want || !rej || !strstr(err.msg, bad[i].says) ||
		    strchr(err.msg, '\n'))
			fail_msg("RESOLVED_LINK %s %s: %d (rejected %d) \"%s\", want %d \"%s\"",
				 bad[i].bridge, bad[i].server, r, rej, err.msg, bad[i].want,
				 bad[i].says);
	}
	assert_int_equal(run(PROTO_OP_RESOLVED_REVERT, "eth0", NULL, &rej, NULL, &err), -EPERM);
	assert_true(rej);
	assert_non_null(strstr(err.msg, "not the bridge this helper manages"));
	assert_int_equal(run(PROTO_OP_RESOLVED_REVERT, "", NULL, &rej, NULL, &err), -EINVAL);
	assert_true(rej);
	/* None of them reached resolved. */
	assert_calls("");
	double_stop();
}

static void test_op_link_and_revert(void **state)
{
	char msg[PROTO_TEXT_MAX + 1], want[1024];
	struct berr err;
	bool rej;

	need_env();
	double_start(NULL, NULL);
	assert_int_equal(run(PROTO_OP_RESOLVED_LINK, BR, "172.30.99.1:42053", &rej, msg, &err), 0);
	assert_false(rej);
	assert_string_equal(msg, "systemd-resolved sends ~vm queries on br-t to 172.30.99.1:42053, "
				 "and only those");
	/* Off the default route first, the server last; exactly these. */
	snprintf(want, sizeof(want), DEFAULT_ROUTE_OFF DOMAINS_VM DNS_42053, br_index, br_index,
		 br_index);
	assert_calls(want);
	/* Idempotent: the same three again, nothing else. */
	assert_int_equal(run(PROTO_OP_RESOLVED_LINK, BR, "172.30.99.1:42053", &rej, msg, &err), 0);
	snprintf(want, sizeof(want),
		 DEFAULT_ROUTE_OFF DOMAINS_VM DNS_42053 DEFAULT_ROUTE_OFF DOMAINS_VM DNS_42053,
		 br_index, br_index, br_index, br_index, br_index, br_index);
	assert_calls(want);
	/* The port is the request's; the address and bridge are the config's. */
	unlink(log_path);
	assert_int_equal(run(PROTO_OP_RESOLVED_LINK, BR, "172.30.99.1:1", &rej, msg, &err), 0);
	assert_calls(p(DEFAULT_ROUTE_OFF DOMAINS_VM "{\"method\":\"SetLinkDNSEx\",\"args\":[%d,[[2,"
						    "[172,30,99,1],1,\"\"]]]}\n",
		       br_index, br_index, br_index));
	unlink(log_path);
	assert_int_equal(run(PROTO_OP_RESOLVED_REVERT, BR, NULL, &rej, msg, &err), 0);
	assert_false(rej);
	assert_string_equal(msg, "systemd-resolved has no settings of banger's on br-t");
	assert_calls(p(REVERT, br_index));
	double_stop();
}

/* resolved refuses the last call: the error says who and why, and the
 * link is reverted so nothing is left half-wired. */
static void test_refused_by_resolved(void **state)
{
	char want[1024];
	struct berr err;
	bool rej;

	need_env();
	double_start("SetLinkDNSEx=org.freedesktop.resolve1.LinkBusy:Link br-t is managed.", NULL);
	assert_int_equal(run(PROTO_OP_RESOLVED_LINK, BR, "172.30.99.1:42053", &rej, NULL, &err),
			 -EBUSY);
	assert_false(rej); /* allowed, then failed: not a rejection */
	assert_string_equal(err.msg, "systemd-resolved refused SetLinkDNSEx on br-t: "
				     "org.freedesktop.resolve1.LinkBusy: Link br-t is managed.");
	snprintf(want, sizeof(want),
		 DEFAULT_ROUTE_OFF DOMAINS_VM
		 "{\"method\":\"SetLinkDNSEx\",\"args\":[%d,[[2,[172,30,99,1],42053,\"\"]]],"
		 "\"error\":\"org.freedesktop.resolve1.LinkBusy\"}\n" REVERT,
		 br_index, br_index, br_index, br_index);
	assert_calls(want);
	double_stop();

	/* The first call refused: nothing was set, nothing to undo. */
	double_start("SetLinkDefaultRoute=org.freedesktop.DBus.Error.AccessDenied:Access denied",
		     NULL);
	assert_int_equal(resolved_link(BR, "172.30.99.1", 42053, &err), -EACCES);
	assert_string_equal(err.msg, "systemd-resolved refused SetLinkDefaultRoute on br-t: "
				     "org.freedesktop.DBus.Error.AccessDenied: Access denied");
	assert_calls(p("{\"method\":\"SetLinkDefaultRoute\",\"args\":[%d,false],"
		       "\"error\":\"org.freedesktop.DBus.Error.AccessDenied\"}\n",
		       br_index));
	double_stop();

	/* A resolved without SetLinkDNSEx (before systemd 246). */
	double_start("SetLinkDNSEx=org.freedesktop.DBus.Error.UnknownMethod:Unknown method "
		     "SetLinkDNSEx or interface org.freedesktop.resolve1.Manager.",
		     NULL);
	assert_int_equal(resolved_link(BR, "172.30.99.1", 42053, &err), -EBADR);
	assert_non_null(strstr(err.msg, "needs systemd 246 or later"));
	double_stop();
}

/* The double answers a call with the wrong signature the way an sd-bus
 * service does, so the happy path above proves our signatures right. */
static void test_double_checks_signatures(void **state)
{
	__attribute__((cleanup(sd_bus_close_unrefp))) sd_bus *bus = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;

	need_env();
	double_start(NULL, NULL);
	assert_int_equal(sd_bus_open_system(&bus), 0);
	assert_true(sd_bus_call_method(bus, "org.freedesktop.resolve1", "/org/freedesktop/resolve1",
				       "org.freedesktop.resolve1.Manager", "SetLinkDNSEx", &e, NULL,
				       "ia(iay)", br_index, 1, 2, 4, 172, 30, 99, 1) < 0);
	assert_string_equal(e.name, SD_BUS_ERROR_INVALID_ARGS);
	assert_string_equal(e.message, "Invalid arguments 'ia(iay)' to call "
				       "org.freedesktop.resolve1.Manager.SetLinkDNSEx(), expecting "
				       "'ia(iayqs)'.");
	sd_bus_error_free(&e);
	assert_true(sd_bus_call_method(bus, "org.freedesktop.resolve1", "/org/freedesktop/resolve1",
				       "org.freedesktop.resolve1.Manager", "SetLinkDefaultRoute",
				       &e, NULL, "i", br_index) < 0);
	assert_string_equal(e.name, SD_BUS_ERROR_INVALID_ARGS);
	sd_bus_error_free(&e);
	/* And the loopback link, as resolved does. */
	assert_true(sd_bus_call_method(bus, "org.freedesktop.resolve1", "/org/freedesktop/resolve1",
				       "org.freedesktop.resolve1.Manager", "RevertLink", &e, NULL,
				       "i", 1) < 0);
	assert_string_equal(e.name, "org.freedesktop.resolve1.LinkBusy");
	sd_bus_error_free(&e);
	double_stop();
}

static void test_bad_input(void **state)
{
	struct berr err;

	need_env();
	double_start(NULL, NULL);
	assert_int_equal(resolved_link(BR, "172.30.99", 42053, &err), -EINVAL);
	assert_int_equal(resolved_link(BR, "172.30.99.1", 0, &err), -EINVAL);
	assert_int_equal(resolved_link("br t", "172.30.99.1", 42053, &err), -EINVAL);
	assert_int_equal(resolved_link(BR, NULL, 42053, &err), -EINVAL);
	assert_int_equal(resolved_link("bn-none", "172.30.99.1", 42053, &err), -ENODEV);
	assert_string_equal(err.msg, "interface bn-none: no such interface");
	/* Nothing to revert on a missing link. */
	assert_int_equal(resolved_revert("bn-none", &err), 0);
	assert_calls("");
	/* Nor on a link resolved does not know. */
	double_stop();
	double_start("RevertLink=org.freedesktop.resolve1.NoSuchLink:Link 9 not known", NULL);
	assert_int_equal(resolved_revert(BR, &err), 0);
	assert_calls(p("{\"method\":\"RevertLink\",\"args\":[%d],"
		       "\"error\":\"org.freedesktop.resolve1.NoSuchLink\"}\n",
		       br_index));
	double_stop();
}

static void test_not_running(void **state)
{
	struct berr err;
	bool rej;

	need_env();
	if (double_pid > 0)
		double_stop();
	assert_int_equal(name_has_owner(), 0);
	assert_int_equal(resolved_link(BR, "172.30.99.1", 42053, &err), -ESRCH);
	assert_string_equal(err.msg, "systemd-resolved is not running "
				     "(org.freedesktop.DBus.Error.ServiceUnknown: The name "
				     "org.freedesktop.resolve1 was not provided by any .service "
				     "files): " NO_VM_NAMES);
	assert_int_equal(run(PROTO_OP_RESOLVED_LINK, BR, "172.30.99.1:42053", &rej, NULL, &err),
			 -ESRCH);
	assert_false(rej);
	assert_int_equal(resolved_revert(BR, &err), -ESRCH);
	assert_non_null(strstr(err.msg, "systemd-resolved is not running"));
}

static void test_no_bus(void **state)
{
	struct berr err;
	bool rej;

	need_env();
	setenv("DBUS_SYSTEM_BUS_ADDRESS", p("unix:path=%s/nobus", tmp), 1);
	int r = resolved_link(BR, "172.30.99.1", 42053, &err);
	struct berr err2;
	int rr = run(PROTO_OP_RESOLVED_LINK, BR, "172.30.99.1:42053", &rej, NULL, &err2);
	setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_addr, 1);
	assert_int_equal(r, -ENOTCONN);
	assert_string_equal(err.msg, p("systemd-resolved is not reachable on the system bus "
				       "(connecting to unix:path=%s/nobus: No such file or "
				       "directory): " NO_VM_NAMES,
				       tmp));
	assert_int_equal(rr, -ENOTCONN);
	assert_false(rej);
}

/* A bus socket that takes the connection and then never speaks: the
 * connect is bounded too. */
static void test_bus_silent(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct berr err;

	need_env();
	const char *path = p("%s/silent", tmp);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	_cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s, 4), 0);
	setenv("DBUS_SYSTEM_BUS_ADDRESS", p("unix:path=%s", sa.sun_path), 1);
	int64_t t0 = mono_ms();
	int r = resolved_link(BR, "172.30.99.1", 42053, &err);
	int64_t took = mono_ms() - t0;
	setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_addr, 1);
	assert_int_equal(r, -ETIMEDOUT);
	assert_string_equal(err.msg, "systemd-resolved did not answer the connection to the "
				     "system bus within 5 s: " NO_VM_NAMES);
	assert_true(took >= RESOLVED_TIMEOUT_MS - 100 && took < RESOLVED_TIMEOUT_MS + 1500);
}

/* resolved takes a call and never answers: bounded as well, and no revert
 * is tried on a resolved that does not answer. */
static void test_resolved_hangs(void **state)
{
	char want[1024];
	struct berr err;

	need_env();
	double_start(NULL, "SetLinkDomains");
	int64_t t0 = mono_ms();
	int r = resolved_link(BR, "172.30.99.1", 42053, &err);
	int64_t took = mono_ms() - t0;
	assert_int_equal(r, -ETIMEDOUT);
	assert_string_equal(
	    err.msg, "systemd-resolved did not answer SetLinkDomains within 5 s: " NO_VM_NAMES);
	assert_true(took < RESOLVED_TIMEOUT_MS + 1500);
	snprintf(want, sizeof(want),
		 DEFAULT_ROUTE_OFF "{\"method\":\"SetLinkDomains\",\"args\":[%d,[[\"vm\",true]]],"
				   "\"hang\":true}\n",
		 br_index, br_index);
	assert_calls(want);
	double_stop();
}

/* ---- setup ---- */

static int setup_all(void **state)
{
	char t[] = "/tmp/banger-test-resolved.XXXXXX";
	struct berr err;
	const char *e = getenv("RESOLVE1_DOUBLE_BIN");

	if (!mkdtemp(t) || !realpath(t, tmp))
		return -1;
	if (!realpath(e && *e ? e : "tests/resolved-double/resolve1.py", double_bin) ||
	    !realpath("tests/resolved-double/bus.conf", bus_conf)) {
		fprintf(stderr, "test_resolved: run from the checkout (tests/resolved-double/)\n");
		return -1;
	}
	snprintf(log_path, sizeof(log_path), "%s/calls.jsonl", tmp);
	conf = (struct helper_conf){
	    .owner_uid = 65534,
	    .owner_gid = (gid_t)-1,
	    .bridge = BR,
	    .subnet = SUBNET,
	    .state_dir = tmp,
	    .runtime_dir = tmp,
	    .cache_dir = tmp,
	};
	if (geteuid() != 0) {
		fprintf(stderr, "test_resolved: not root, every test is skipped\n");
		return 0;
	}
	/* The bridge lives in a namespace of our own, gone when we are. */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_resolved: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	if (net_bridge_ensure(BR, SUBNET, &err) < 0) {
		fprintf(stderr, "test_resolved: %s\n", err.msg);
		return -1;
	}
	br_index = (int)if_nametoindex(BR);
	snprintf(bus_addr, sizeof(bus_addr), "unix:path=%s/bus", tmp);
	char *argv[] = {"/usr/bin/dbus-daemon",
			p("--config-file=%s", bus_conf),
			p("--address=%s", bus_addr),
			"--nofork",
			"--nopidfile",
			NULL};
	bus_pid = spawn(argv, p("%s/bus.out", tmp));
	if (bus_pid < 0 || !wait_path(p("%s/bus", tmp), bus_pid, 10000)) {
		fprintf(stderr, "test_resolved: dbus-daemon did not come up; see %s/bus.out\n",
			tmp);
		return -1;
	}
	setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_addr, 1);
	ready = true;
	return 0;
}

static int teardown_all(void **state)
{
	stop(&double_pid);
	stop(&bus_pid);
	if (tmp[0] && !getenv("KEEP"))
		rm_rf(tmp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_op_refusals),
	    cmocka_unit_test(test_op_link_and_revert),
	    cmocka_unit_test(test_refused_by_resolved),
	    cmocka_unit_test(test_double_checks_signatures),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_not_running),
	    cmocka_unit_test(test_no_bus),
	    cmocka_unit_test(test_bus_silent),
	    cmocka_unit_test(test_resolved_hangs),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
