"""
Requests from the test host to the demo site on a converged box, as a
browser for the site sends them: on 443 with the site's name as SNI and the
box's own (self-signed) certificate as the only one trusted, on 80 in the
clear. `pin(box)` once, then `fetch(box, path, ...)`.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.parse

DOMAIN = "demo.webstack.test"
CERTIFICATE = "/etc/nginx/tls/selfsigned.crt"


class _Pinned(http.client.HTTPSConnection):
    """HTTPS to an address, with another name for SNI and the certificate check (curl --resolve)."""

    def __init__(self, ip: str, name: str, context: ssl.SSLContext, timeout: float):
        super().__init__(name, 443, context=context, timeout=timeout)
        self.ip = ip

    def connect(self):
        sock = socket.create_connection((self.ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def pin(box):
    """The box's address and a TLS context trusting only its certificate (again after a restart)."""
    box.address = box.ip()
    box.ca = box.exec(["cat", CERTIFICATE]).stdout
    box.tls = ssl.create_default_context(cadata=box.ca)
    return box


def fetch(box, path="/", host=DOMAIN, port=443, sni=None, data=None, timeout=10.0) -> tuple[int, str]:
    """
    (status, body) of one request on a new connection, for `host` (SNI `sni`
    when given). Exceptions (refused, closed without an answer, handshake
    failed) propagate.
    """
    if port == 443:
        conn = _Pinned(box.address, sni or host, box.tls, timeout)
    else:
        conn = http.client.HTTPConnection(box.address, port, timeout=timeout)
    headers, body = {"Host": host}, None
    if data is not None:
        body = urllib.parse.urlencode(data)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request("GET" if data is None else "POST", path, body=body, headers=headers)
        res = conn.getresponse()
        return res.status, res.read().decode(errors="replace")
    finally:
        conn.close()
