"""
A TLS client on a peer box (test_acme.py runs it on the scanner), printing JSON:

    python3 tls_client.py cert IP NAME CAFILE
        the certificate IP serves for NAME: {"pem", "verified", "error"}
        (verified: its chain ends in CAFILE and it names NAME)
    python3 tls_client.py get IP PORT NAME PATH [CAFILE]
        one request, Host NAME: {"status", "location", "body"} (https when
        PORT is 443, verified against CAFILE when given)
    python3 tls_client.py loop IP NAME CAFILE PATH STOPFILE
        verified https GETs, a new connection each, until STOPFILE exists:
        {"ok", "failed", "errors", "certificates"} (the served certificates'
        SHA-256, in the order first seen)
"""

import hashlib
import http.client
import json
import os
import socket
import ssl
import sys


def context(cafile):
    if not cafile:
        return ssl._create_unverified_context()
    return ssl.create_default_context(cafile=cafile)


def cert(ip, name, cafile):
    with socket.create_connection((ip, 443), timeout=10) as sock:
        with ssl._create_unverified_context().wrap_socket(sock, server_hostname=name) as tls:
            der = tls.getpeercert(binary_form=True)
    out = {"pem": ssl.DER_cert_to_PEM_cert(der), "verified": True, "error": None}
    try:
        with socket.create_connection((ip, 443), timeout=10) as sock:
            context(cafile).wrap_socket(sock, server_hostname=name).close()
    except ssl.SSLError as exc:
        out.update(verified=False, error=str(exc))
    return out


class Verified(http.client.HTTPSConnection):
    """https to `ip`, SNI and certificate check for `name`."""

    def __init__(self, ip, name, ctx, timeout=10):
        super().__init__(ip, 443, timeout=timeout, context=ctx)
        self.name = name

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.name)


def get(ip, port, name, path, cafile=None):
    if port == 443:
        conn = Verified(ip, name, context(cafile))
    else:
        conn = http.client.HTTPConnection(ip, port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": name})
        res = conn.getresponse()
        return {"status": res.status, "location": res.getheader("Location"), "body": res.read().decode()}
    finally:
        conn.close()


def loop(ip, name, cafile, path, stopfile):
    ctx = context(cafile)
    out = {"ok": 0, "failed": 0, "errors": [], "certificates": []}
    while not os.path.exists(stopfile):
        conn = Verified(ip, name, ctx)
        try:
            conn.connect()
            # Now: a response that closes the connection takes the socket with it.
            seen = hashlib.sha256(conn.sock.getpeercert(binary_form=True)).hexdigest()
            conn.request("GET", path, headers={"Host": name})
            res = conn.getresponse()
            res.read()
            if seen not in out["certificates"]:
                out["certificates"].append(seen)
            if res.status == 200:
                out["ok"] += 1
            else:
                out["failed"] += 1
                out["errors"].append(f"status {res.status}")
        except (OSError, http.client.HTTPException) as exc:
            out["failed"] += 1
            out["errors"].append(repr(exc))
        finally:
            conn.close()
    return out


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "cert":
        result = cert(*args)
    elif command == "get":
        result = get(args[0], int(args[1]), *args[2:])
    else:
        result = loop(*args)
    print(json.dumps(result))
