"""
A stand-in for gunicorn on a unix socket (test_nginx.py runs it in the nginx
box): `python3 gunicorn_standin.py SOCKET`. Every request is answered with
the path and headers it came with (JSON); GET /__stats__ (asked on the socket
directly) counts the requests and connections it got, itself not counted.
The socket is root:www-data 0660, as the app role's contract says.
"""

import grp
import http.server
import json
import os
import socketserver
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive expects
    requests = connections = 0

    def setup(self):
        super().setup()
        Handler.connections += 1

    def do_GET(self):
        if self.path == "/__stats__":  # asked on the socket directly, not counted
            return self.answer({"requests": Handler.requests, "connections": Handler.connections})
        Handler.requests += 1
        self.answer({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})

    def do_POST(self):
        Handler.requests += 1
        size = int(self.headers.get("Content-Length", 0))
        self.rfile.read(size)
        self.answer({"path": self.path, "received": size})

    def answer(self, data):
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def address_string(self):
        return "unix"

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


path = sys.argv[1]
if os.path.exists(path):
    os.unlink(path)
server = Server(path, Handler)
os.chown(path, 0, grp.getgrnam("www-data").gr_gid)  # as the contract says: www-data may connect
os.chmod(path, 0o660)
server.serve_forever()
