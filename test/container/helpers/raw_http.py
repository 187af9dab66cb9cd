"""
One raw HTTP/1.1 exchange (test_security.py runs it on the scanner box):
`python3 raw_http.py HOST PORT TLS SNI < request`, TLS 1 or 0, the request
on stdin with \n line ends (sent as \r\n); prints what the server sent back
until it closed the connection.
"""

import socket
import ssl
import sys

host, port, tls, sni = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
sock = socket.create_connection((host, port), timeout=10)
if tls:
    sock = ssl._create_unverified_context().wrap_socket(sock, server_hostname=sni)
sock.sendall(sys.stdin.buffer.read().replace(b"\n", b"\r\n"))
data = b""
while chunk := sock.recv(65536):
    data += chunk
sys.stdout.write(data.decode(errors="replace"))
