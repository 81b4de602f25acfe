#!/usr/bin/env python3
"""A TCP proxy for tests/integration/catalog.sh that cuts HTTP responses.

    cutproxy.py LISTEN_PORT UPSTREAM_PORT CUT [CUT...]

The i-th request (0-based) for a .tar.zst gets at most CUT[i] bytes of the
response body (counted after the blank line ending the headers), then both
sides are closed, as a dropped connection would; CUT 0 (or requests past
the list, or other files) pass everything.  Binds 127.0.0.1 only.  Writes "ready" to stdout
once listening.
"""
import socket
import sys
import threading

listen_port, upstream_port = int(sys.argv[1]), int(sys.argv[2])
cuts = [int(c) for c in sys.argv[3:]]
counter = 0
lock = threading.Lock()


def pump_request(client, upstream):
    try:
        while True:
            data = client.recv(65536)
            if not data:
                break
            upstream.sendall(data)
    except OSError:
        pass


def handle(client):
    global counter
    req = b""
    while b"\r\n\r\n" not in req:
        data = client.recv(65536)
        if not data:
            client.close()
            return
        req += data
    path = req.split(b" ", 2)[1] if req.count(b" ") >= 2 else b""
    cut = 0
    if path.endswith(b".tar.zst"):
        with lock:
            index = counter
            counter += 1
        cut = cuts[index] if index < len(cuts) else 0
    # One request per connection: the upstream closes after its answer, so a
    # client does not send its next request down a connection seen as the
    # first one's.
    head, _, rest = req.partition(b"\r\n\r\n")
    lines = [l for l in head.split(b"\r\n") if not l.lower().startswith(b"connection:")]
    req = b"\r\n".join(lines + [b"Connection: close"]) + b"\r\n\r\n" + rest
    upstream = socket.create_connection(("127.0.0.1", upstream_port))
    upstream.sendall(req)
    threading.Thread(target=pump_request, args=(client, upstream), daemon=True).start()
    head = b""
    body = 0
    in_body = False
    try:
        while True:
            data = upstream.recv(65536)
            if not data:
                break
            if not in_body:
                head += data
                end = head.find(b"\r\n\r\n")
                if end < 0:
                    client.sendall(data)
                    continue
                in_body = True
                header_part = len(data) - (len(head) - end - 4)
                client.sendall(data[:header_part])
                data = data[header_part:]
            if cut and body + len(data) >= cut:
                client.sendall(data[: cut - body])
                break
            client.sendall(data)
            body += len(data)
    except OSError:
        pass
    for s in (client, upstream):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def main():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen_port))
    srv.listen(16)
    print("ready", flush=True)
    while True:
        client, _ = srv.accept()
        threading.Thread(target=handle, args=(client,), daemon=True).start()


main()
