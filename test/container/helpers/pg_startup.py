"""
A PostgreSQL StartupMessage (protocol 3.0) in plain text, no SSLRequest
first: `python3 pg_startup.py NAME` asks for role and database NAME on
127.0.0.1:5432 from 127.0.0.2 (loopback, but not the address the server
trusts); `python3 pg_startup.py NAME HOST` asks HOST:5432. Prints the
server's answer: R (authentication asked) or E with its message.
"""

import socket
import struct
import sys

name = sys.argv[1].encode()
s = socket.socket()
if len(sys.argv) > 2:
    s.connect((sys.argv[2], 5432))
else:
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", 5432))
params = b"user\0" + name + b"\0database\0" + name + b"\0\0"
s.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
kind, size = struct.unpack("!ci", s.recv(5))
body = s.recv(size)
print(kind.decode(), body.replace(b"\0", b" ").decode(errors="replace"))
