/* helper/resolved.c: the systemd-resolved wiring of the bridge (see
 * resolved.h): a few per-link calls on org.freedesktop.resolve1.Manager
 * over sd-bus, each bounded, each failure turned into one sentence. */
#define _GNU_SOURCE
#include "resolved.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <systemd/sd-bus.h>

#include "net.h"
#include "util.h"

#define RESOLVE1_SERVICE "org.freedesktop.resolve1"
#define RESOLVE1_PATH "/org/freedesktop/resolve1"
#define RESOLVE1_MANAGER "org.freedesktop.resolve1.Manager"
#define RESOLVE1_NO_SUCH_LINK "org.freedesktop.resolve1.NoSuchLink"
#define SYSTEM_BUS_DEFAULT "unix:path=/run/dbus/system_bus_socket"
#define REVERT_GRACE_MS 1000 /* undoing a half-done RESOLVED_LINK */

#define NO_VM_NAMES ".vm names will not resolve on this host"

/* One operation: its bus, link and deadline. */
struct rctx {
	sd_bus *bus;
	const char *ifname;
	int ifindex;
	int64_t deadline; /* mono_ms() */
};

static const char *bus_address(void)
{
	const char *a = secure_getenv("DBUS_SYSTEM_BUS_ADDRESS");
	return a && *a ? a : SYSTEM_BUS_DEFAULT;
}

static int unreachable(int r, const char *what, struct berr *err)
{
	return berr_set(
	    err, ENOTCONN,
	    "systemd-resolved is not reachable on the system bus (%s %s: %s): " NO_VM_NAMES, what,
	    bus_address(), strerror(r < 0 ? -r : EIO));
}

static int timed_out(const char *what, struct berr *err)
{
	return berr_set(err, ETIMEDOUT,
			"systemd-resolved did not answer %s within %d s: " NO_VM_NAMES, what,
			RESOLVED_TIMEOUT_MS / 1000);
}

/* Open the system bus and wait, within the deadline, until it is ready
 * (authenticated, Hello answered): sd-bus's own wait for that is not
 * bounded by our timeout. */
static int bus_connect(struct rctx *x, struct berr *err)
{
	int r = sd_bus_open_system(&x->bus);
	if (r < 0)
		return unreachable(r, "connecting to", err);
	for (;;) {
		if ((r = sd_bus_is_ready(x->bus)) > 0)
			return 0;
		if (r < 0 || (r = sd_bus_process(x->bus, NULL)) < 0)
			return unreachable(r, "talking to", err);
		if (r > 0)
			continue;
		int64_t left = x->deadline - mono_ms();
		if (left <= 0)
			return timed_out("the connection to the system bus", err);
		if ((r = sd_bus_wait(x->bus, (uint64_t)left * 1000)) < 0)
			return unreachable(r, "talking to", err);
	}
}

static bool error_is_not_running(const sd_bus_error *e)
{
	if (!sd_bus_error_is_set(e))
		return false;
	return sd_bus_error_has_names(
		   e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
		   "org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.systemd1.UnitMasked") ||
	       (e->name && strncmp(e->name, "org.freedesktop.DBus.Error.Spawn.", 33) == 0);
}

/* Send m and wait for its reply within the deadline.  Turns a failure into
 * one sentence; *ret_name (when not NULL) gets a copy of the D-Bus error's
 * name, or NULL, for callers that treat one error as success. */
static int call(struct rctx *x, sd_bus_message *m, const char *member, char **ret_name,
		struct berr *err)
{
	__attribute__((cleanup(sd_bus_error_free))) sd_bus_error e = SD_BUS_ERROR_NULL;
	int64_t left = x->deadline - mono_ms();
	int r;

	if (ret_name)
		*ret_name = NULL;
	if (left <= 0)
		return timed_out(member, err);
	r = sd_bus_call(x->bus, m, (uint64_t)left * 1000, &e, NULL);
	if (r >= 0)
		return 0;
	if (ret_name && e.name)
		*ret_name = xstrdup(e.name);
	if (error_is_not_running(&e))
		return berr_set(err, ESRCH,
				"systemd-resolved is not running (%s: %s): " NO_VM_NAMES, e.name,
				e.message ? e.message : "no message");
	if (r == -ETIMEDOUT || sd_bus_error_has_name(&e, SD_BUS_ERROR_NO_REPLY))
		return timed_out(member, err);
	if (sd_bus_is_open(x->bus) <= 0)
		return unreachable(r, "talking to", err);
	if (!sd_bus_error_is_set(&e))
		return berr_set(err, -r, "calling systemd-resolved's %s on %s: %s", member,
				x->ifname, strerror(-r));
	return berr_set(err, -r, "systemd-resolved refused %s on %s: %s: %s%s", member, x->ifname,
			e.name, e.message ? e.message : "no message",
			sd_bus_error_has_name(&e, SD_BUS_ERROR_UNKNOWN_METHOD)
			    ? " (a DNS server with a port needs systemd 246 or later)"
			    : "");
}

static int new_call(struct rctx *x, const char *member, sd_bus_message **ret, struct berr *err)
{
	int r = sd_bus_message_new_method_call(x->bus, ret, RESOLVE1_SERVICE, RESOLVE1_PATH,
					       RESOLVE1_MANAGER, member);
	if (r < 0)
		return berr_set(err, -r, "building the %s call: %s", member, strerror(-r));
	return 0;
}

static int built(int r, const char *member, struct berr *err)
{
	return r < 0 ? berr_set(err, -r, "building the %s call: %s", member, strerror(-r)) : 0;
}

/* The link's index in this network namespace; -ENODEV when it has none. */
static int link_index(const char *ifname, int *ret, struct berr *err)
{
	int r = net_name_validate(ifname, NULL, err);
	if (r < 0)
		return r;
	unsigned idx = if_nametoindex(ifname);
	if (idx == 0) {
		int e = errno == ENXIO || errno == 0 ? ENODEV : errno;
		return berr_set(err, e, "interface %s: %s", ifname,
				e == ENODEV ? "no such interface" : strerror(e));
	}
	if (idx > INT32_MAX)
		return berr_set(err, ERANGE, "interface %s has index %u", ifname, idx);
	*ret = (int)idx;
	return 0;
}

static int set_default_route(struct rctx *x, bool on, struct berr *err)
{
	static const char member[] = "SetLinkDefaultRoute";
	__attribute__((cleanup(sd_bus_message_unrefp))) sd_bus_message *m = NULL;
	int r;

	if ((r = new_call(x, member, &m, err)) < 0 ||
	    (r = built(sd_bus_message_append(m, "ib", x->ifindex, (int)on), member, err)) < 0)
		return r;
	return call(x, m, member, NULL, err);
}

/* One routing-only domain: ("vm", true) is "~vm". */
static int set_domains(struct rctx *x, struct berr *err)
{
	static const char member[] = "SetLinkDomains";
	__attribute__((cleanup(sd_bus_message_unrefp))) sd_bus_message *m = NULL;
	int r;

	if ((r = new_call(x, member, &m, err)) < 0 ||
	    (r = built(sd_bus_message_append(m, "ia(sb)", x->ifindex, 1, RESOLVED_DOMAIN, 1),
		       member, err)) < 0)
		return r;
	return call(x, m, member, NULL, err);
}

/* SetLinkDNSEx(i ifindex, a(iayqs) [(family, address, port, server name)]) */
static int set_dns(struct rctx *x, const struct in_addr *a, uint16_t port, struct berr *err)
{
	static const char member[] = "SetLinkDNSEx";
	__attribute__((cleanup(sd_bus_message_unrefp))) sd_bus_message *m = NULL;
	int r;

	if ((r = new_call(x, member, &m, err)) < 0)
		return r;
	if ((r = sd_bus_message_append(m, "i", x->ifindex)) < 0 ||
	    (r = sd_bus_message_open_container(m, 'a', "(iayqs)")) < 0 ||
	    (r = sd_bus_message_open_container(m, 'r', "iayqs")) < 0 ||
	    (r = sd_bus_message_append(m, "i", (int32_t)AF_INET)) < 0 ||
	    (r = sd_bus_message_append_array(m, 'y', a, sizeof(*a))) < 0 ||
	    (r = sd_bus_message_append(m, "qs", port, "")) < 0 ||
	    (r = sd_bus_message_close_container(m)) < 0 ||
	    (r = sd_bus_message_close_container(m)) < 0)
		return built(r, member, err);
	return call(x, m, member, NULL, err);
}

static int revert_link(struct rctx *x, struct berr *err)
{
	static const char member[] = "RevertLink";
	__attribute__((cleanup(sd_bus_message_unrefp))) sd_bus_message *m = NULL;
	_cleanup_free_ char *name = NULL;
	int r;

	if ((r = new_call(x, member, &m, err)) < 0 ||
	    (r = built(sd_bus_message_append(m, "i", x->ifindex), member, err)) < 0)
		return r;
	r = call(x, m, member, &name, err);
	/* A link resolved does not know has nothing to revert. */
	if (r < 0 && name && strcmp(name, RESOLVE1_NO_SUCH_LINK) == 0) {
		berr_clear(err);
		return 0;
	}
	return r;
}

int resolved_link(const char *ifname, const char *addr, uint16_t port, struct berr *err)
{
	__attribute__((cleanup(sd_bus_close_unrefp))) sd_bus *bus = NULL;
	struct rctx x = {.ifname = ifname, .deadline = mono_ms() + RESOLVED_TIMEOUT_MS};
	struct in_addr a;
	int r;

	if (!addr || inet_pton(AF_INET, addr, &a) != 1)
		return berr_set(err, EINVAL, "\"%.40s\" is not an IPv4 address",
				addr ? addr : "(null)");
	if (port == 0)
		return berr_set(err, EINVAL, "port 0 is not a DNS server port");
	if ((r = link_index(ifname, &x.ifindex, err)) < 0)
		return r;
	r = bus_connect(&x, err);
	bus = x.bus;
	if (r < 0)
		return r;
	/* Off the default route first, the server last: at no point is the
	 * bridge a link with a server that gets queries for other names. */
	if ((r = set_default_route(&x, false, err)) < 0)
		return r;
	if ((r = set_domains(&x, err)) < 0 || (r = set_dns(&x, &a, port, err)) < 0) {
		/* Leave nothing half-wired, unless resolved has stopped
		 * answering or the bus is gone (then it would not hear us). */
		if (r != -ETIMEDOUT && r != -ENOTCONN && r != -ESRCH) {
			struct berr ignored;
			x.deadline = mono_ms() + REVERT_GRACE_MS;
			(void)revert_link(&x, &ignored);
		}
		return r;
	}
	return 0;
}

int resolved_revert(const char *ifname, struct berr *err)
{
	__attribute__((cleanup(sd_bus_close_unrefp))) sd_bus *bus = NULL;
	struct rctx x = {.ifname = ifname, .deadline = mono_ms() + RESOLVED_TIMEOUT_MS};
	int r;

	if ((r = link_index(ifname, &x.ifindex, err)) == -ENODEV) {
		/* resolved forgets a link (and what a client set on it) when
		 * the interface goes away. */
		berr_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	r = bus_connect(&x, err);
	bus = x.bus;
	if (r < 0)
		return r;
	return revert_link(&x, err);
}
