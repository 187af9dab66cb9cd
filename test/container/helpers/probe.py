"""
Connect from a box to a TCP port: `python3 probe.py HOST PORT [TIMEOUT]`
prints `open`, `refused` (the packet got through, nothing listens),
`timeout` (dropped: no answer at all) or the name of another error.
"""

import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket()
s.settimeout(float(sys.argv[3]) if len(sys.argv) > 3 else 3)
try:
    s.connect((host, port))
    print("open")
except TimeoutError:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
except OSError as exc:
    print(type(exc).__name__)
