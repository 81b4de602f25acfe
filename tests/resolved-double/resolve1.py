#!/usr/bin/python3
# tests/resolved-double/resolve1.py: a TEST DOUBLE of systemd-resolved's
# D-Bus API (org.freedesktop.resolve1), for banger's tests only.
#
# This is NOT systemd-resolved.  It resolves nothing and configures nothing.
# It exists because the machines banger is tested on have no systemd as
# PID 1, so no resolved, and because the tests must see exactly what
# helper/resolved.c sends.  It owns org.freedesktop.resolve1 on a PRIVATE
# bus (tests/resolved-double/bus.conf) and refuses to start unless
# $DBUS_SYSTEM_BUS_ADDRESS names one, so it can never stand in for the real
# service on a real system bus.
#
# Object /org/freedesktop/resolve1, interface org.freedesktop.resolve1.Manager,
# the per-link methods banger uses, with the signatures of systemd 246..257
# (org.freedesktop.resolve1(5)):
#   SetLinkDNSEx(i ifindex, a(iayqs) addresses)  family, address bytes, port, server name
#   SetLinkDomains(i ifindex, a(sb) domains)     name, routing-only
#   SetLinkDefaultRoute(i ifindex, b enable)
#   RevertLink(i ifindex)
# Each is checked the way resolved checks it: a call whose signature is not
# exactly the method's gets sd-bus's org.freedesktop.DBus.Error.InvalidArgs
# ("Invalid arguments 'SIG' to call IFACE.METHOD(), expecting 'SIG'."); an
# index <= 0 is InvalidArgs "Invalid interface index"; an index no interface
# has (in this process's network namespace) is org.freedesktop.resolve1.
# NoSuchLink "Link N not known"; the loopback link is
# org.freedesktop.resolve1.LinkBusy "Link lo is loopback device."; a family
# other than AF_INET/AF_INET6, an address of the wrong size, or an invalid
# domain name is InvalidArgs.  Any other method on the interface is
# org.freedesktop.DBus.Error.UnknownMethod (as sd-bus words it).  Accepted
# settings are kept per link; RevertLink forgets them.
#
# Test hooks (environment):
#   DBUS_SYSTEM_BUS_ADDRESS  the private bus (required)
#   RESOLVE1_DOUBLE_LOG      append every call, accepted or not, as one JSON
#                            line {"method":M,"args":[...]} plus
#                            "error":NAME when it was refused (compact
#                            separators, so tests can compare whole lines)
#   RESOLVE1_DOUBLE_READY    a file created once the name is owned
#   RESOLVE1_DOUBLE_FAIL     "Method=Error.Name[:message]" (several separated
#                            by ';'): that method answers that D-Bus error
#                            (after the checks above, as resolved's own
#                            refusals would come)
#   RESOLVE1_DOUBLE_HANG     "Method" (several separated by ';'): that method
#                            never answers
import json
import os
import signal
import socket
import sys
import time

import dbus
import dbus.lowlevel
import dbus.mainloop.glib
from gi.repository import GLib

NAME = "org.freedesktop.resolve1"
PATH = "/org/freedesktop/resolve1"
IFACE = "org.freedesktop.resolve1.Manager"
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"
UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"
NO_SUCH_LINK = "org.freedesktop.resolve1.NoSuchLink"
LINK_BUSY = "org.freedesktop.resolve1.LinkBusy"
AF_INET, AF_INET6 = 2, 10

SIGNATURES = {
    "SetLinkDNSEx": "ia(iayqs)",
    "SetLinkDomains": "ia(sb)",
    "SetLinkDefaultRoute": "ib",
    "RevertLink": "i",
}


class Refused(Exception):
    def __init__(self, name, text):
        super().__init__(text)
        self.name = name
        self.text = text


def plain(v):
    """D-Bus values as JSON-able Python values."""
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.Array, dbus.Struct, list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (dbus.String, dbus.ObjectPath, dbus.Signature, str)):
        return str(v)
    if isinstance(v, int):
        return int(v)
    return v


def hooks(var):
    return [h for h in os.environ.get(var, "").split(";") if h]


FAIL = {}
for h in hooks("RESOLVE1_DOUBLE_FAIL"):
    method, _, rest = h.partition("=")
    err, _, text = rest.partition(":")
    FAIL[method] = (err, text or "resolve1 double: injected failure")
HANG = set(hooks("RESOLVE1_DOUBLE_HANG"))
LOG = os.environ.get("RESOLVE1_DOUBLE_LOG")

links = {}  # ifindex -> {"dns": [...], "domains": [...], "default_route": bool}


def log(entry):
    if not LOG:
        return
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, separators=(",", ":")) + "\n")


def link_name(ifindex):
    if ifindex <= 0:
        raise Refused(INVALID_ARGS, "Invalid interface index")
    try:
        name = socket.if_indextoname(ifindex)
    except OSError:
        raise Refused(NO_SUCH_LINK, "Link %d not known" % ifindex) from None
    if name == "lo":
        raise Refused(LINK_BUSY, "Link lo is loopback device.")
    return name


def valid_domain(name):
    if name in ("", "."):
        return name == "."
    labels = name.rstrip(".").split(".")
    return all(0 < len(l) <= 63 and "\\" not in l for l in labels) and len(name) <= 253


def set_dns_ex(ifindex, servers):
    link_name(ifindex)
    for family, addr, port, server_name in servers:
        if family not in (AF_INET, AF_INET6):
            raise Refused(INVALID_ARGS, "Unknown address family %d" % family)
        if len(addr) != (4 if family == AF_INET else 16):
            raise Refused(INVALID_ARGS, "Invalid address size")
    links.setdefault(ifindex, {})["dns"] = plain(servers)


def set_domains(ifindex, domains):
    link_name(ifindex)
    for name, route_only in domains:
        if not valid_domain(name):
            raise Refused(INVALID_ARGS, "Invalid search domain %s" % name)
        if not route_only and name == ".":
            raise Refused(INVALID_ARGS, "Root domain is not suitable as search domain")
    links.setdefault(ifindex, {})["domains"] = plain(domains)


def set_default_route(ifindex, enable):
    link_name(ifindex)
    links.setdefault(ifindex, {})["default_route"] = bool(enable)


def revert_link(ifindex):
    link_name(ifindex)
    links.pop(ifindex, None)


HANDLERS = {
    "SetLinkDNSEx": set_dns_ex,
    "SetLinkDomains": set_domains,
    "SetLinkDefaultRoute": set_default_route,
    "RevertLink": revert_link,
}


def on_message(conn, msg):
    if not isinstance(msg, dbus.lowlevel.MethodCallMessage) or msg.get_path() != PATH:
        return dbus.lowlevel.HANDLER_RESULT_NOT_YET_HANDLED
    iface, member = msg.get_interface(), msg.get_member()
    if iface not in (IFACE, None):
        return dbus.lowlevel.HANDLER_RESULT_NOT_YET_HANDLED
    sig = msg.get_signature() or ""
    args = msg.get_args_list()
    entry = {"method": member, "args": plain(args)}
    try:
        if member not in HANDLERS:
            raise Refused(UNKNOWN_METHOD,
                          "Unknown method %s or interface %s." % (member, iface or IFACE))
        if sig != SIGNATURES[member]:
            raise Refused(INVALID_ARGS,
                          "Invalid arguments '%s' to call %s.%s(), expecting '%s'."
                          % (sig, IFACE, member, SIGNATURES[member]))
        if member in HANG:
            entry["hang"] = True
            log(entry)
            return dbus.lowlevel.HANDLER_RESULT_HANDLED
        HANDLERS[member](*args)
        if member in FAIL:
            raise Refused(*FAIL[member])
    except Refused as e:
        entry["error"] = e.name
        log(entry)
        conn.send_message(dbus.lowlevel.ErrorMessage(msg, e.name, e.text))
        return dbus.lowlevel.HANDLER_RESULT_HANDLED
    log(entry)
    conn.send_message(dbus.lowlevel.MethodReturnMessage(msg))
    return dbus.lowlevel.HANDLER_RESULT_HANDLED


def main():
    addr = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    if not addr:
        print("resolve1 double: DBUS_SYSTEM_BUS_ADDRESS must name a private test bus",
              file=sys.stderr)
        return 2
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    conn = dbus.bus.BusConnection(addr)
    conn.add_message_filter(on_message)
    # An earlier double's connection may not be gone from the bus yet.
    deadline = time.monotonic() + 5
    while True:
        r = conn.request_name(NAME, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
        if r in (dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER,
                 dbus.bus.REQUEST_NAME_REPLY_ALREADY_OWNER):
            break
        if time.monotonic() > deadline:
            print("resolve1 double: %s is owned by someone else" % NAME, file=sys.stderr)
            return 1
        time.sleep(0.05)
    loop = GLib.MainLoop()
    for s in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, s, loop.quit)
    ready = os.environ.get("RESOLVE1_DOUBLE_READY")
    if ready:
        with open(ready, "w", encoding="utf-8") as f:
            f.write("%d\n" % os.getpid())
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
