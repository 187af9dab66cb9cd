"""
A WebSocket client (RFC 6455) of the standard library alone: the container
tests run it in a peer box, which has python3 and nothing more.

    python3 ws_client.py ADDRESS PORT HOST PATH [--tls] echo COUNT
    python3 ws_client.py ADDRESS PORT HOST PATH [--tls] hold SECONDS

HOST is the Host header and, with --tls, the SNI (the certificate is not
checked: the tests' are self-signed). Each mode prints JSON lines:
- echo: COUNT text messages (of 5 bytes to 70 kB: every frame length form),
  each sent masked and waited back, then a close from our side:
  {"sent", "echoed", "seconds", "close"};
- hold: one message echoed, {"open": true} at once, then waits (answering
  pings) until the server closes, at most SECONDS: {"close", "after"}.
`close` is what ended the connection: {"code", "reason"} of the server's
close frame, or {"error"} when it went away without one.
"""

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA
SIZES = (5, 300, 70000)


class Closed(Exception):
    """The server closed: its close frame's code and reason, or why there was none."""

    def __init__(self, **what):
        super().__init__(what)
        self.what = what


def connect(address, port, host, path, tls):
    sock = socket.create_connection((address, port), timeout=10)
    if tls:
        ctx = ssl._create_unverified_context()
        ctx.set_alpn_protocols(["http/1.1"])
        sock = ctx.wrap_socket(sock, server_hostname=host)
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise SystemExit(f"closed during the handshake: {head!r}")
        head += chunk
    status, *lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    if not status.startswith("HTTP/1.1 101") or headers.get("sec-websocket-accept") != accept:
        raise SystemExit(f"handshake refused: {status} {headers}")
    return sock


def send(sock, opcode, payload):
    """One final frame, masked as a client's must be."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise Closed(error="connection closed without a close frame")
        data += chunk
    return data


def receive(sock):
    """The next data message's payload; pings are answered, a close frame answered and raised."""
    message = b""
    while True:
        first, second = exactly(sock, 2)
        n = second & 0x7F
        if n == 126:
            n = struct.unpack("!H", exactly(sock, 2))[0]
        elif n == 127:
            n = struct.unpack("!Q", exactly(sock, 8))[0]
        payload = exactly(sock, n)
        opcode = first & 0x0F
        if opcode == PING:
            send(sock, PONG, payload)
        elif opcode == CLOSE:
            send(sock, CLOSE, payload[:2])
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            raise Closed(code=code, reason=payload[2:].decode(errors="replace"))
        elif opcode != PONG:
            message += payload
            if first & 0x80:
                return message


def echo_once(sock, text):
    send(sock, TEXT, text.encode())
    return receive(sock) == text.encode()


def out(**what):
    print(json.dumps(what), flush=True)


def main():
    address, port, host, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    tls = "--tls" in sys.argv
    mode, amount = sys.argv[-2], float(sys.argv[-1])
    sock = connect(address, port, host, path, tls)
    if mode == "echo":
        t0, echoed = time.monotonic(), 0
        for i in range(int(amount)):
            echoed += echo_once(sock, f"{i}:" + "x" * SIZES[i % len(SIZES)])
        seconds = time.monotonic() - t0
        send(sock, CLOSE, struct.pack("!H", 1000))
        try:
            receive(sock)
            close = {"error": "no close frame back"}
        except Closed as exc:
            close = exc.what
        out(sent=int(amount), echoed=echoed, seconds=round(seconds, 3), close=close)
    else:
        if not echo_once(sock, "hello"):
            raise SystemExit("the first message did not come back")
        out(open=True)
        t0 = time.monotonic()
        sock.settimeout(amount)
        try:
            receive(sock)
            close = {"error": "a message nobody sent"}
        except Closed as exc:
            close = exc.what
        except OSError as exc:
            close = {"error": f"{type(exc).__name__}: {exc}"}
        out(close=close, after=round(time.monotonic() - t0, 3))


main()
