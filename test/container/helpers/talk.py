"""
A line protocol client (memcached, redis): `python3 talk.py HOST PORT LINE...`
sends the lines (CRLF ends) and prints what came back within a second of
quiet, or `closed <error>` when the connection is not accepted.
"""

import socket
import sys

host, port, *lines = sys.argv[1:]
try:
    s = socket.create_connection((host, int(port)), timeout=3)
except OSError as exc:
    print("closed", type(exc).__name__)
    sys.exit()
s.sendall("".join(line + "\r\n" for line in lines).encode())
s.settimeout(1)
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except TimeoutError:
    pass
print(data.decode())
