"""
A TLS syslog receiver in a container of the test session: the stand-in for
Papertrail that tests point a box's `webstack:logging:remote` at, then check
which lines arrived.

    from syslog_receiver import start_syslog_receiver

    receiver = start_syslog_receiver(boxes, "logs")
    pillar = with_settings(pillar, logging={"remote": receiver.remote()})
    converge(box, pillar, "logging")
    box.exec(["logger", "-t", "probe", "hello"])
    receiver.wait_for(r"probe.*hello")

The receiver box runs this file (stdlib only, the box's own python3) as the
`syslog-receiver` systemd unit, with a throwaway CA and a server certificate
for the names it is given (by default its container name, which resolves on
the session's docker network). Every message is one line of `LINES`; every
connection, handshake and disconnect is one line of `EVENTS`, so a test can
tell "connected but sent nothing" from "never connected".
"""

from __future__ import annotations

import argparse
import re
import socket
import socketserver
import ssl
import threading
import time

PORT = 6514
DIR = "/var/lib/syslog-receiver"
LINES = f"{DIR}/lines.log"
EVENTS = f"{DIR}/events.log"
UNIT = "syslog-receiver"
SCRIPT = "/opt/webstack/test/container/syslog_receiver.py"  # the repository, mounted in every box


# -- the receiver, run inside its box ------------------------------------------


class _Handler(socketserver.BaseRequestHandler):
    """One TLS connection: messages with octet-counted or newline framing."""

    def handle(self):
        server = self.server
        peer = self.client_address[0]
        server.event(f"connect {peer}")
        try:
            conn = server.tls.wrap_socket(self.request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            server.event(f"handshake-failed {peer} {exc}")
            return
        server.event(f"handshake {peer} {conn.version()}")
        count, buf = 0, b""
        try:
            while True:
                message, buf = _next_message(buf)
                if message is None:
                    data = conn.recv(65536)
                    if not data:
                        break
                    buf += data
                    continue
                server.line(message)
                count += 1
        except (ssl.SSLError, OSError) as exc:
            server.event(f"error {peer} {exc}")
        if buf.strip():
            server.line(buf)
            count += 1
        server.event(f"close {peer} {count}")


def _next_message(buf: bytes):
    """(message, rest) from the front of `buf`, or (None, buf) when incomplete."""
    octets = re.match(rb"(\d{1,9}) ", buf)
    if octets:  # RFC 5425 octet counting: "LEN SP MSG"
        start, length = octets.end(), int(octets.group(1))
        if len(buf) < start + length:
            return None, buf
        return buf[start : start + length], buf[start + length :]
    if b"\n" in buf:  # traditional framing: one message a line
        message, rest = buf.split(b"\n", 1)
        return message, rest
    return None, buf


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port, cert, key, lines, events):
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert, key)
        self.lock = threading.Lock()
        self.lines = open(lines, "ab", buffering=0)
        self.events = open(events, "a", buffering=1)
        super().__init__(("", port), _Handler)

    def line(self, message: bytes):
        with self.lock:
            self.lines.write(message.rstrip(b"\r\n").replace(b"\n", b"\\n") + b"\n")

    def event(self, text: str):
        with self.lock:
            self.events.write(f"{time.strftime('%H:%M:%S')} {text}\n")


def serve(argv=None):
    parser = argparse.ArgumentParser(description="A TLS syslog receiver writing one line per message.")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--lines", default=LINES)
    parser.add_argument("--events", default=EVENTS)
    args = parser.parse_args(argv)
    with _Server(args.port, args.cert, args.key, args.lines, args.events) as server:
        server.event(f"listening {socket.gethostname()}:{args.port}")
        server.serve_forever()


# -- the test side (host) --------------------------------------------------------


class SyslogReceiver:
    """A running receiver: where to send (`host`, `port`, `ca_pem`) and what arrived."""

    def __init__(self, box, host: str, port: int, ca_pem: str):
        self.box, self.host, self.port, self.ca_pem = box, host, port, ca_pem

    def remote(self, **extra) -> dict:
        """The `webstack:logging:remote` pillar that points a box here."""
        return {"host": self.host, "port": self.port, "ca": self.ca_pem, **extra}

    def _read(self, path: str) -> list[str]:
        return self.box.exec(["cat", path], check=False).stdout.splitlines()

    def lines(self) -> list[str]:
        """Every message received so far, one a line, in arrival order."""
        return self._read(LINES)

    def events(self) -> list[str]:
        """Connections, handshakes (`handshake ...`, `handshake-failed ...`) and closes."""
        return self._read(EVENTS)

    def wait_for(self, pattern: str, timeout: float = 60) -> str:
        """The first received line matching the regex `pattern`; fails after `timeout` s."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.lines() if regex.search(line)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                tail = "\n".join(self.lines()[-10:])
                events = "\n".join(self.events()[-10:])
                raise AssertionError(
                    f"{self.host}: no line matching {pattern!r} after {timeout} s\n"
                    f"last lines:\n{tail}\nlast events:\n{events}"
                )
            time.sleep(0.5)

    def wait_for_event(self, pattern: str, timeout: float = 60) -> str:
        """The first event matching `pattern` (e.g. r"^\\S+ handshake ")."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events() if regex.search(e)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.host}: no event matching {pattern!r} after {timeout} s")
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop listening (open connections are closed, so senders notice)."""
        self.box.exec(["systemctl", "stop", UNIT])

    def start(self) -> None:
        """Listen (again); returns once the port accepts connections."""
        started = len([e for e in self.events() if " listening " in e])
        self.box.exec(["systemctl", "start", UNIT])
        deadline = time.monotonic() + 30
        while len([e for e in self.events() if " listening " in e]) <= started:
            if time.monotonic() > deadline:
                status = self.box.exec(["systemctl", "status", UNIT], check=False).stdout
                raise AssertionError(f"{self.host}: the receiver did not start\n{status}")
            time.sleep(0.2)


def make_certificates(names: list[str]) -> tuple[str, str, str]:
    """(ca_pem, cert_pem, key_pem): a throwaway CA and a server certificate for `names`."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webstack test syslog CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return (
        ca.public_bytes(pem).decode(),
        cert.public_bytes(pem).decode(),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
    )


def install_certificates(box, directory: str, names: list[str]) -> str:
    """A throwaway CA's certificate for `names` and its key in `box` (`directory`/cert.pem,
    key.pem 0600, ca.pem): returns the CA's PEM, what clients must trust."""
    ca_pem, cert_pem, key_pem = make_certificates(names)
    box.put_file(f"{directory}/ca.pem", ca_pem)
    box.put_file(f"{directory}/cert.pem", cert_pem)
    box.put_file(f"{directory}/key.pem", key_pem, mode=0o600)
    return ca_pem


def start_syslog_receiver(
    boxes,
    name: str = "logs",
    cert_names: list[str] | None = None,
    aliases: list[str] | None = None,
    port: int = PORT,
) -> SyslogReceiver:
    """
    A receiver box called `name` on the session's network, listening on `port`
    with a certificate for `cert_names` (default: the box's container name,
    which is what `.host` gives senders; pass other names for a certificate
    that does not match). `aliases`: more names it answers to on the network
    (e.g. logs1.papertrail.test for a certificate of *.papertrail.test).
    """
    box = boxes.start(name)
    host = box.name
    if aliases:
        network = boxes.dc.networks.get(boxes.network)
        network.disconnect(box.container)
        network.connect(box.container, aliases=list(aliases))
    ca_pem = install_certificates(box, DIR, cert_names or [host])
    box.put_file(
        f"/etc/systemd/system/{UNIT}.service",
        "[Unit]\nDescription=TLS syslog receiver for the tests\n\n[Service]\n"
        f"ExecStart=/usr/bin/python3 {SCRIPT} --port {port}"
        f" --cert {DIR}/cert.pem --key {DIR}/key.pem\n",
    )
    box.exec(["systemctl", "daemon-reload"])
    receiver = SyslogReceiver(box, host, port, ca_pem)
    receiver.start()
    return receiver


if __name__ == "__main__":
    serve()
