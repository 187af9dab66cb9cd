"""
A stand-in web host behind the balancer (test_balancer.py runs it on port 80
of each web box): `python3 fake_web.py DOMAIN`. /health/ answers 200 only
for the site's Host (so a health check with another Host keeps it out); any
other path answers its host name and the forwarding headers it got, as JSON.
"""

import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DOMAIN = sys.argv[1]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/health/"):
            ok = self.headers.get("Host") == DOMAIN
            self.send_response(200 if ok else 400)
            self.end_headers()
            return
        body = json.dumps(
            {
                "host": socket.gethostname(),
                "xff": self.headers.get_all("X-Forwarded-For"),
                "proto": self.headers.get("X-Forwarded-Proto"),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("", 80), Handler).serve_forever()
