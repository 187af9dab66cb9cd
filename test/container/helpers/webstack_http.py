#!/usr/bin/python3
"""
HTTP/1.1 over a unix socket (or to ADDRESS:PORT with --tcp), run inside a box
(app_helpers installs it as /usr/local/bin/webstack-http):

    webstack-http get PATH [--post k=v] --socket S --host H   -> prints {"status", "body"}
    webstack-http loop PATH STOPFILE SECONDS --socket S --host H
        GETs until STOPFILE exists, then prints what it saw
"""

import argparse
import http.client
import json
import os
import socket
import time


class Conn(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def request(args, path, host, post=None):
    if args.tcp:
        address, port = args.tcp.rsplit(":", 1)
        conn = http.client.HTTPConnection(address, int(port), timeout=30)
    else:
        conn = Conn(args.socket)
    try:
        headers = {"Host": host}
        if post is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request("POST" if post is not None else "GET", path, body=post, headers=headers)
        res = conn.getresponse()
        return res.status, res.read().decode(errors="replace")
    finally:
        conn.close()


p = argparse.ArgumentParser()
p.add_argument("mode", choices=["get", "loop"])
p.add_argument("path")
p.add_argument("stopfile", nargs="?")
p.add_argument("seconds", nargs="?", type=float, default=120)
p.add_argument("--post")
where = p.add_mutually_exclusive_group(required=True)
where.add_argument("--socket")
where.add_argument("--tcp", help="ADDRESS:PORT, e.g. nginx at 127.0.0.1:80")
p.add_argument("--host", required=True)
a = p.parse_args()
if a.mode == "get":
    try:
        status, body = request(a, a.path, a.host, a.post)
    except OSError as exc:
        status, body = None, repr(exc)
    print(json.dumps({"status": status, "body": body}))
else:
    counts, errors, versions, t0 = {}, [], [], time.monotonic()
    while not os.path.exists(a.stopfile) and time.monotonic() - t0 < a.seconds:
        try:
            status, body = request(a, a.path, a.host)
            counts[status] = counts.get(status, 0) + 1
            if status == 200 and a.path.startswith("/version"):
                v = json.loads(body)["version"]
                if not versions or versions[-1] != v:
                    versions.append(v)
        except Exception as exc:
            errors.append(repr(exc))
        time.sleep(0.02)
    print(
        json.dumps(
            {
                "counts": counts,
                "errors": errors[:10],
                "failed": len(errors) + sum(n for s, n in counts.items() if s != 200),
                "versions": versions,
                "seconds": round(time.monotonic() - t0, 1),
            }
        )
    )
