#!/usr/bin/env python3
"""tests/p9/chaos.py: hostile 9P traffic against a live server.

    chaos.py SOCKET COUNT SEED

Negotiates 9P2000.L or 9P2000, attaches fid 0, then sends COUNT framed
messages of random types, tags, fids and bodies (some valid, most not),
several in flight, reading whatever comes back.  A server that closes the
connection gets a new one.  Exits 0 when the last connection still answers
a Tversion/Tattach/Tclunk: the server survived.  Deterministic per SEED.
"""
import random
import socket
import struct
import sys

TYPES = [8, 12, 14, 16, 18, 20, 22, 24, 26, 30, 32, 40, 50, 52, 54, 70, 72, 74, 76,
         100, 102, 104, 106, 108, 110, 112, 114, 116, 118, 120, 122, 124, 126, 7, 101, 255]


def s(x):
    x = x.encode()
    return struct.pack('<H', len(x)) + x


def msg(t, tag, body):
    return struct.pack('<IBH', 7 + len(body), t, tag) + body


def connect(path, rnd):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(5)
    c.connect(path)
    ver = rnd.choice(['9P2000.L', '9P2000'])
    c.sendall(msg(100, 0xffff, struct.pack('<I', 8192) + s(ver)))
    c.recv(8192)
    tail = struct.pack('<I', 0) if ver.endswith('.L') else b''
    c.sendall(msg(104, 1, struct.pack('<II', 0, 0xffffffff) + s('0') + s('') + tail))
    c.recv(8192)
    return c, ver


def body(rnd):
    kind = rnd.random()
    fid = struct.pack('<I', rnd.choice([0, 0, 1, 2, 0xffffffff, rnd.getrandbits(32)]))
    if kind < 0.3:   # walk-like: fid newfid names
        names = [rnd.choice(['vms', 'README', 'ctl', '..', '.', 'x', 'status', 'web'])
                 for _ in range(rnd.randint(0, 17))]
        return fid + struct.pack('<IH', rnd.randint(0, 4), len(names)) + b''.join(s(n) for n in names)
    if kind < 0.5:   # fid offset count
        return fid + struct.pack('<QI', rnd.choice([0, 1, 1 << 40, rnd.getrandbits(64)]),
                                 rnd.choice([0, 10, 8192, 0xffffffff]))
    if kind < 0.6:
        return fid + s(rnd.choice(['web', 'Bad', '', 'a/b', '..'])) + \
            struct.pack('<III', rnd.getrandbits(32), 0x200, 0)
    return bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 80)))


def main():
    path, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rnd = random.Random(seed)
    c, _ = connect(path, rnd)
    reconnects = 0
    for _ in range(count):
        m = msg(rnd.choice(TYPES), rnd.choice([2, 3, 4, rnd.getrandbits(16)]), body(rnd))
        if rnd.random() < 0.02:   # a lying size field
            m = struct.pack('<I', rnd.choice([0, 3, 1 << 30])) + m[4:]
        try:
            c.sendall(m)
            c.settimeout(0.002)
            try:
                while c.recv(65536):
                    pass
                raise ConnectionError('closed')
            except socket.timeout:
                pass
            c.settimeout(5)
        except (ConnectionError, OSError):
            c.close()
            c, _ = connect(path, rnd)
            reconnects += 1
    c.close()
    c, ver = connect(path, random.Random(seed + 1))
    c.sendall(msg(120, 5, struct.pack('<I', 0)))
    r = c.recv(64)
    ok = len(r) >= 7 and r[4] == 121
    print('survived' if ok else 'no Rclunk: %r' % r, 'reconnects', reconnects)
    sys.exit(0 if ok else 1)


main()
