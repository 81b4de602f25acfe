#!/usr/bin/env python3
"""Helpers of tests/integration/oci.sh (standard library + the openssl CLI).

  oci-helper.py layout OUT TAG [--repeat N] [--pad BYTES] [--run JSON] LAYER...
        an OCI image layout from tar layers (a .gz or .zst file is stored
        as it is, with that media type; a plain .tar as it is); the
        config's diff_ids are computed; --repeat lists the layers N times,
        --pad adds an annotation of BYTES to the manifest, --run is the
        config's "config" object (Env, Cmd, WorkingDir, User)
  oci-helper.py rules OUTDIR    three tar layers that exercise every rule
        of applying layers (rules1.tar, rules2.tar, rules3.tar)
  oci-helper.py files OUT.tar N  a layer of N empty files, 1000 a directory
  oci-helper.py token PORT KEY CERT ISSUER SERVICE LOG
        a token server for docker-registry's "token" auth: anyone gets a
        JWT (RS256, x5c = CERT) for the scope asked; requests logged to LOG
  oci-helper.py registry PORT LAYOUT LOG [--basic USER:PASS]
        [--redirect PORT2] [--slow] [--bad-content DIGEST]
        a read-only distribution API v2 serving an OCI layout (tag from
        org.opencontainers.image.ref.name), for the cases a real registry
        will not produce: wrong bytes for a digest, blobs redirected to
        another origin (PORT2 serves them and logs whether an Authorization
        header reached it), slow blobs; every request logged to LOG
"""
import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import tarfile
import subprocess
import sys
import threading
import time


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def put_blob(out, data):
    d = sha(data)
    with open(os.path.join(out, "blobs", "sha256", d[7:]), "wb") as f:
        f.write(data)
    return d


def layout(out, tag, layers, repeat=1, pad=0, run=None):
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    descs, diff_ids = [], []
    for path in layers:
        data = open(path, "rb").read()
        if path.endswith(".gz"):
            mt = "application/vnd.oci.image.layer.v1.tar+gzip"
            try:
                raw = gzip.decompress(data)
            except Exception:
                raw = b""  # a broken layer on purpose: any diff_id
        elif path.endswith(".zst"):
            mt = "application/vnd.oci.image.layer.v1.tar+zstd"
            raw = subprocess.run(["zstd", "-dc"], input=data, capture_output=True).stdout
        else:
            mt = "application/vnd.oci.image.layer.v1.tar"
            raw = data
        descs.append({"mediaType": mt, "digest": put_blob(out, data), "size": len(data)})
        diff_ids.append(sha(raw))
    descs, diff_ids = descs * repeat, diff_ids * repeat
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": run or {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": put_blob(out, config), "size": len(config)},
        "layers": descs,
        "annotations": {"pad": "x" * pad} if pad else {},
    }).encode()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": put_blob(out, manifest), "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)


def ti(name, kind="f", mode=None, uid=0, gid=0, mtime=1700000000, **kw):
    t = tarfile.TarInfo(name)
    t.type = {"f": tarfile.REGTYPE, "d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE,
              "h": tarfile.LNKTYPE, "c": tarfile.CHRTYPE, "b": tarfile.BLKTYPE,
              "p": tarfile.FIFOTYPE}[kind]
    t.mode = mode if mode is not None else (0o755 if kind == "d" else 0o644)
    t.uid, t.gid, t.mtime = uid, gid, mtime
    t.uname = t.gname = ""
    for k, v in kw.items():
        setattr(t, k, v)
    return t


def add(tar, t, data=b""):
    if t.type == tarfile.REGTYPE:
        t.size = len(data)
        tar.addfile(t, io.BytesIO(data))
    else:
        tar.addfile(t)


def xattr(**kv):
    return {"SCHILY.xattr." + k.replace("__", "."): v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else v
            for k, v in kv.items()}


CAP_NET_RAW = bytes([1, 0, 0, 2, 0, 0x20, 0, 0] + [0] * 12)
ACL = bytes([2, 0, 0, 0, 1, 0, 7, 0, 255, 255, 255, 255, 2, 0, 6, 0, 0xe8, 3, 0, 0,
             4, 0, 5, 0, 255, 255, 255, 255, 0x10, 0, 7, 0, 255, 255, 255, 255,
             0x20, 0, 5, 0, 255, 255, 255, 255])


def rules(out):
    """Layers for every rule of part 2; they list every directory they use
    (umoci and banger make missing parents differently)."""
    sparse = bytearray(8 << 20)
    sparse[4096:4100] = b"data"
    sparse[-4:] = b"tail"
    with tarfile.open(os.path.join(out, "rules1.tar"), "w", format=tarfile.PAX_FORMAT) as t:
        for d, m in [("etc", 0o755), ("usr", 0o755), ("usr/bin", 0o755), ("tmp", 0o1777),
                     ("home", 0o755), ("data", 0o755), ("dev", 0o755), ("run", 0o755),
                     ("opq", 0o755), ("opq/sub", 0o700), ("whd", 0o755), ("d2f", 0o755),
                     ("d2f/child", 0o755)]:
            add(t, ti(d + "/", "d", m))
        add(t, ti("etc/passwd"), b"root:x:0:0:root:/root:/bin/sh\n")
        add(t, ti("etc/shadow", mode=0o640, gid=42), b"root:*:1::::::\n")
        add(t, ti("usr/bin/su", mode=0o4755), b"#!su\n")
        add(t, ti("usr/bin/wall", mode=0o2755, gid=5), b"#!wall\n")
        add(t, ti("home/big", mode=0o600, uid=100000, gid=4000000000), b"big ids\n")
        add(t, ti("usr/bin/ping", mode=0o755, pax_headers=xattr(security__capability=CAP_NET_RAW)),
            b"ELF ping")
        add(t, ti("data/acl", mode=0o775, pax_headers=xattr(system__posix_acl_access=ACL)), b"acl")
        add(t, ti("data/user", pax_headers=xattr(user__comment="hello", user__empty="")), b"u")
        add(t, ti("data/sparse"), bytes(sparse))
        add(t, ti("data/nsec", pax_headers={"mtime": "1600000000.123456789"}), b"ns")
        add(t, ti("data/old", mtime=86400), b"1970")
        add(t, ti("bin", "l", linkname="usr/bin"))
        add(t, ti("data/longlink", "l", linkname="/" + "long/" * 30 + "target"))
        add(t, ti("dev/null", "c", 0o666, devmajor=1, devminor=3))
        add(t, ti("dev/nvme", "b", 0o660, gid=6, devmajor=259, devminor=300000))
        add(t, ti("run/fifo", "p", 0o620))
        add(t, ti("usr/bin/sh", mode=0o755), b"#!sh\n")
        add(t, ti("usr/bin/dash", "h", linkname="usr/bin/sh"))
        for n in ["opq/a", "opq/b", "opq/sub/c", "whd/x", "whd/y", "whfile", "f2d"]:
            add(t, ti(n), n.encode())
        add(t, ti("d2f/child/deep"), b"deep")
    with tarfile.open(os.path.join(out, "rules2.tar"), "w", format=tarfile.PAX_FORMAT) as t:
        add(t, ti("etc/", "d", 0o750, uid=1, pax_headers=xattr(user__dir="etc")))  # merge
        add(t, ti("etc/passwd"), b"root:x:0:0::/root:/bin/bash\n")               # replace
        add(t, ti(".wh.whfile"))                                                 # a file
        add(t, ti("whd/.wh.x"))                                                  # in a dir
        add(t, ti(".wh.nothing"))                                                # no-op
        add(t, ti("opq/", "d", 0o755))
        add(t, ti("opq/new"), b"new")
        add(t, ti("opq/sub/", "d", 0o711))
        add(t, ti("opq/sub/mine"), b"mine")
        add(t, ti("opq/.wh..wh..opq"))                                           # after them
        add(t, ti("lowerlink", "h", linkname="etc/shadow"))                      # to a lower file
        add(t, ti("d2f"), b"now a file")                                         # dir -> file
        add(t, ti("f2d/", "d", 0o755))                                           # file -> dir
        add(t, ti("f2d/in"), b"in")
        add(t, ti(".wh.fresh"))                                                  # before its file:
        add(t, ti("fresh"), b"same layer")                                       # kept
        add(t, ti("usr/bin/sh", mode=0o755), b"#!new sh\n")                     # dash keeps old
    with tarfile.open(os.path.join(out, "rules3.tar"), "w", format=tarfile.PAX_FORMAT) as t:
        add(t, ti("usr/", "d", 0o755))
        add(t, ti("usr/bin/", "d", 0o755))
        add(t, ti("usr/bin/.wh.dash"))
        add(t, ti("usr/bin/newdash", "h", linkname="usr/bin/sh"))
        add(t, ti("tmp/", "d", 0o1777))
        add(t, ti("tmp/.wh..wh..opq"))


def files(out, n):
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as t:
        for d in range(0, n, 1000):
            add(t, ti("d%04d/" % (d // 1000), "d"))
            for i in range(d, min(n, d + 1000)):
                add(t, ti("d%04d/f%07d" % (d // 1000, i)))


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def __call__(self, *words):
        with self.lock:
            self.f.write(" ".join(str(w) for w in words) + "\n")


def token_server(port, key, cert, issuer, service, logpath):
    log = Log(logpath)
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    header = b64u(json.dumps({"typ": "JWT", "alg": "RS256",
                              "x5c": [base64.b64encode(der).decode()]}).encode())

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            from urllib.parse import urlparse, parse_qs
            q = parse_qs(urlparse(self.path).query)
            log("token", self.path, "auth" if self.headers.get("Authorization") else "anon")
            access = []
            for scope in q.get("scope", []):
                parts = scope.split(":")
                if len(parts) == 3 and parts[0] == "repository":
                    access.append({"type": "repository", "name": parts[1],
                                   "actions": parts[2].split(",")})
            now = int(time.time())
            claims = b64u(json.dumps({
                "iss": issuer, "sub": "", "aud": q.get("service", [service])[0],
                "exp": now + 300, "nbf": now - 60, "iat": now,
                "jti": hashlib.sha256(os.urandom(16)).hexdigest(), "access": access,
            }).encode())
            signing = (header + "." + claims).encode()
            sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                                 input=signing, capture_output=True, check=True).stdout
            body = json.dumps({"token": header + "." + claims + "." + b64u(sig)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()


def registry(port, root, logpath, basic=None, redirect=None, slow=False, bad=None):
    log = Log(logpath)
    blobs = os.path.join(root, "blobs", "sha256")
    index = json.load(open(os.path.join(root, "index.json")))
    tags = {m["annotations"]["org.opencontainers.image.ref.name"]: m
            for m in index["manifests"]}

    def blob(digest):
        p = os.path.join(blobs, digest[7:])
        if not digest.startswith("sha256:") or "/" in digest or not os.path.exists(p):
            return None
        data = open(p, "rb").read()
        if digest == bad:
            data = bytes(b ^ 0x55 for b in data)  # same size, wrong bytes
        return data

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, code, body=b"", headers=None, head=False):
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def handle_any(self, head):
            auth = self.headers.get("Authorization")
            log(self.command, self.path, "auth=" + ("yes" if auth else "no"))
            if basic and auth != "Basic " + base64.b64encode(basic.encode()).decode():
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"auth"}]}',
                                  {"WWW-Authenticate": 'Basic realm="test"'}, head)
            parts = self.path.split("/")
            if self.path == "/v2/":
                return self.reply(200, b"{}", None, head)
            if len(parts) >= 5 and parts[-2] == "manifests":
                ref = parts[-1]
                m = tags.get(ref) or next((d for d in index["manifests"] if d["digest"] == ref), None)
                data = m and blob(m["digest"])
                if data is None:
                    return self.reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no"}]}',
                                      None, head)
                return self.reply(200, data, {"Content-Type": m["mediaType"],
                                              "Docker-Content-Digest": m["digest"]}, head)
            if len(parts) >= 5 and parts[-2] == "blobs":
                digest = parts[-1]
                data = blob(digest)
                if data is None:
                    return self.reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"no"}]}',
                                      None, head)
                if redirect:
                    return self.reply(307, b"", {
                        "Location": "http://127.0.0.1:%d/cdn/%s" % (redirect, digest)}, head)
                if not slow:
                    return self.reply(200, data, None, head)
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                for i in range(0, len(data), 4096):  # about 40 KiB/s
                    self.wfile.write(data[i:i + 4096])
                    self.wfile.flush()
                    time.sleep(0.1)
                return
            self.reply(404)

        def do_GET(self):
            self.handle_any(False)

        def do_HEAD(self):
            self.handle_any(True)

    class Cdn(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            auth = self.headers.get("Authorization")
            log("cdn", self.path, "auth=" + ("LEAKED" if auth else "no"))
            data = blob(self.path.split("/")[-1]) or b""
            self.send_response(200 if data else 404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    if redirect:
        s2 = http.server.ThreadingHTTPServer(("127.0.0.1", redirect), Cdn)
        threading.Thread(target=s2.serve_forever, daemon=True).start()
    http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()


def main(argv):
    if argv[1] == "layout":
        args, repeat, pad, run = argv[4:], 1, 0, None
        while args and args[0].startswith("--"):
            if args[0] == "--repeat":
                repeat = int(args[1])
            elif args[0] == "--pad":
                pad = int(args[1])
            elif args[0] == "--run":
                run = json.loads(args[1])
            args = args[2:]
        layout(argv[2], argv[3], args, repeat, pad, run)
    elif argv[1] == "rules":
        rules(argv[2])
    elif argv[1] == "files":
        files(argv[2], int(argv[3]))
    elif argv[1] == "token":
        token_server(int(argv[2]), *argv[3:8])
    elif argv[1] == "registry":
        opts = argv[5:]
        get = lambda k: opts[opts.index(k) + 1] if k in opts else None
        registry(int(argv[2]), argv[3], argv[4], basic=get("--basic"),
                 redirect=int(get("--redirect")) if get("--redirect") else None,
                 slow="--slow" in opts, bad=get("--bad-content"))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
