"""
The start of an AMQP 0-9-1 handshake: `python3 amqp_handshake.py HOST PORT`
sends the protocol header and prints `amqp` when the server answers with a
Connection.Start method frame (type 1, channel 0), `other` for any other
answer, or `closed <error>` when the connection is not accepted.
"""

import socket
import sys

try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
except OSError as exc:
    print("closed", type(exc).__name__)
    sys.exit()
s.sendall(b"AMQP\x00\x00\x09\x01")
print("amqp" if s.recv(7)[:3] == b"\x01\x00\x00" else "other")
