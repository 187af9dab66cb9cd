"""
An ACME server in a container of the test session: the stand-in for Let's
Encrypt that certbot (or any ACME client) on the other boxes gets its
certificates from.

    from acme_server import start_acme_server

    acme = start_acme_server(boxes)            # about 5 s
    acme.point(["shop.test"], web.ip())        # its DNS: where http-01 goes
    web.put_file("/etc/ssl/acme-ca.pem", acme.ca_pem)
    web.exec("REQUESTS_CA_BUNDLE=/etc/ssl/acme-ca.pem certbot certonly"
             f" --server {acme.directory} --webroot -w /srv -d shop.test ...")
    assert acme.issued() == 1                  # and acme.orders(): new orders
    acme.roots()                               # what the issued chain ends in
    acme.disconnect(); ...; acme.reconnect()   # the CA unreachable, its state kept
    acme.stop(); ...; acme.start()             # the CA down: connection refused

The box runs Debian bookworm's `pebble` package (2.4.0; it also ships
/usr/bin/pebble-challtestsrv, there is no package of that name) as two
units: `pebble` (directory https://<box>:14000/dir, management API :15000,
http-01 validation on port 80 and tls-alpn-01 on 443 of the address a name
resolves to) and `pebble-challtestsrv`, the DNS server pebble alone
asks (port 8053, set with /add-a on its management API :8055; a name
nobody pointed resolves to 127.0.0.1, the ACME box itself, where nothing
listens on 80: the validation fails). Both of pebble's listeners use a
certificate for the box's container name from a throwaway CA, `ca_pem`: what
clients must trust to talk to the directory. That is not what signs the
certificates pebble issues: its root and intermediate are made anew every
time pebble starts (`roots()`, `intermediates()` ask it), and everything
else (accounts, orders, issued certificates) lives in its memory only, so
`stop()`/`start()` (or a restart of the box) forgets it all. pebble issues
certificates valid for 5 years (157766400 s) unless `validity` is given;
its directory (2.4.0) has no renewalInfo (ARI).

Measured (bookworm, certbot 2.1.0 --webroot): start-up about 5 s (apt
most of it); certonly about 2.5 s, and pebble fetches each challenge three
times at once ("Starting 3 validations."). With pebble stopped certbot fails
in 0.3 s, its stderr saying "An unexpected error occurred:" and then
"ValueError: Requesting <host>/dir: Connection refused". A failed http-01
takes about 1.4 s, certbot's "Detail:" being pebble's: `Get "http://NAME:80/
.well-known/acme-challenge/...": dial tcp 172.19.0.2:80: connect: connection
refused`, or `Non-200 status code from HTTP: http://... returned 404`. After
`stop()`/`start()` certbot's saved account is unknown to pebble
(accountDoesNotExist), which certbot 2.1.0 on Python 3.11 reports only as
"AttributeError: can't set attribute": remove /etc/letsencrypt/accounts on
the client to register anew.
"""

from __future__ import annotations

import argparse
import json
import re
import ssl
import sys
import time
import urllib.error
import urllib.request

from syslog_receiver import install_certificates

DIR = "/etc/pebble"
LOG = "/var/log/pebble/pebble.log"
UNIT = "pebble"
DNS_UNIT = "pebble-challtestsrv"
PORT = 14000  # the ACME directory
MANAGEMENT = 15000  # pebble's own: roots, intermediates, their keys
DNS_PORT = 8053
DNS_MANAGEMENT = 8055  # challtestsrv's: add-a, set-default-ipv4, ...
SCRIPT = "/opt/webstack/test/container/acme_server.py"  # the repository, mounted in every box

# The wording of pebble 2.4.0 (ca/ca.go, wfe/wfe.go): one line per issued
# certificate, one per new order.
ISSUED = re.compile(r"Issued certificate serial \S+ for order ")
ORDERED = re.compile(r"Added order \"\S+\" to the db")


# -- in the box: a tiny HTTPS client (the image has no curl) ---------------------


def _request(method: str, url: str, body: str | None, ca: str | None) -> bytes:
    context = ssl.create_default_context(cafile=ca) if url.startswith("https:") else None
    data = body.encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req, timeout=10, context=context) as resp:
        return resp.read()


def client(argv=None):
    parser = argparse.ArgumentParser(description="GET or POST a URL from the ACME box.")
    parser.add_argument("method", choices=["GET", "POST", "WAIT"])
    parser.add_argument("url")
    parser.add_argument("body", nargs="?")
    parser.add_argument("--ca", default=f"{DIR}/ca.pem")
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args(argv)
    if args.method == "WAIT":  # until the URL answers
        deadline = time.monotonic() + args.timeout
        while True:
            try:
                _request("GET", args.url, None, args.ca)
                return
            except (OSError, urllib.error.URLError) as exc:
                if time.monotonic() > deadline:
                    sys.exit(f"{args.url}: {exc}")
                time.sleep(0.1)
    try:
        sys.stdout.buffer.write(_request(args.method, args.url, args.body, args.ca))
    except (OSError, urllib.error.URLError) as exc:
        sys.exit(f"{args.method} {args.url}: {exc}")


# -- the test side (host) --------------------------------------------------------


class AcmeServer:
    """A running pebble: where clients go (`directory`, `ca_pem`) and what it did."""

    def __init__(self, box, network: str, host: str, ca_pem: str):
        self.box, self.network, self.host, self.ca_pem = box, network, host, ca_pem

    @property
    def directory(self) -> str:
        return f"https://{self.host}:{PORT}/dir"

    def pillar(self, **extra) -> dict:
        """The `tls:acme` settings that point a box's certbot here."""
        return {
            "enabled": True,
            "email": "ops@webstack.test",
            "directory": self.directory,
            "ca_bundle": self.ca_pem,
            **extra,
        }

    def _call(self, method: str, url: str, body: dict | None = None) -> str:
        cmd = ["python3", SCRIPT, method, url]
        if body is not None:
            cmd.append(json.dumps(body))
        return self.box.exec(cmd).stdout

    # -- pebble's CA (new at every start) ---------------------------------------

    def _pems(self, kind: str) -> list[str]:
        """Every certificate of /roots/N or /intermediates/N (N: one per alternate root)."""
        out = self._call("GET", f"https://{self.host}:{MANAGEMENT}/{kind}/0")
        return re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", out, re.S)

    def roots(self) -> list[str]:
        """PEM of the root(s) pebble's issued certificates chain to (made anew at each start)."""
        return self._pems("roots")

    def intermediates(self) -> list[str]:
        """PEM of the intermediate(s) that sign the issued certificates."""
        return self._pems("intermediates")

    # -- its DNS (what pebble resolves names to when it validates) ---------------

    def point(self, names: list[str] | str, address: str) -> None:
        """Answer A queries for each of `names` with `address` (another box's IP)."""
        for name in [names] if isinstance(names, str) else names:
            body = {"host": name.rstrip(".") + ".", "addresses": [address]}
            self._call("POST", f"http://127.0.0.1:{DNS_MANAGEMENT}/add-a", body)

    def unpoint(self, names: list[str] | str) -> None:
        """Undo `point`: the names get the default answer again."""
        for name in [names] if isinstance(names, str) else names:
            self._call("POST", f"http://127.0.0.1:{DNS_MANAGEMENT}/clear-a", {"host": name.rstrip(".") + "."})

    def point_default(self, address: str) -> None:
        """The A answer for every name not `point`ed (at start: 127.0.0.1, this box)."""
        self._call("POST", f"http://127.0.0.1:{DNS_MANAGEMENT}/set-default-ipv4", {"ip": address})

    # -- what it did ------------------------------------------------------------

    def log(self) -> list[str]:
        """pebble's log lines, every run of it since the box started."""
        return self.box.exec(["cat", LOG], check=False).stdout.splitlines()

    def issued(self) -> int:
        """How many certificates pebble has issued (all its runs)."""
        return sum(1 for line in self.log() if ISSUED.search(line))

    def orders(self) -> int:
        """How many new orders pebble has taken (all its runs)."""
        return sum(1 for line in self.log() if ORDERED.search(line))

    # -- outages ----------------------------------------------------------------

    def stop(self) -> None:
        """The CA down: connections to the directory are refused at once."""
        self.box.exec(["systemctl", "stop", UNIT])

    def start(self, timeout: float = 30) -> None:
        """pebble up again (a new root, no accounts, no orders); returns once the directory answers."""
        self.box.exec(["systemctl", "start", UNIT])
        self.wait_ready(timeout)

    def disconnect(self) -> None:
        """The CA unreachable, its state kept: off the network, its name no
        longer resolves for the clients."""
        self._network().disconnect(self.box.container)

    def reconnect(self) -> None:
        """Undo `disconnect` (same name, accounts and root; the address may change)."""
        self._network().connect(self.box.container)
        self.wait_ready()

    def _network(self):
        return self.box.container.client.networks.get(self.network)

    def wait_ready(self, timeout: float = 30) -> None:
        """Until the directory answers over TLS for `host`."""
        res = self.box.exec(
            ["python3", SCRIPT, "WAIT", self.directory, "--timeout", str(timeout)], check=False
        )
        if not res.ok:
            status = self.box.exec(["systemctl", "status", "--no-pager", UNIT, DNS_UNIT], check=False).stdout
            tail = "\n".join(self.log()[-20:])
            raise AssertionError(f"{self.host}: pebble did not answer\n{res.stderr}\n{status}\n{tail}")


def start_acme_server(
    boxes,
    name: str = "acme",
    validity: int | None = None,
    authz_reuse: int = 0,
    cert_names: list[str] | None = None,
) -> AcmeServer:
    """
    An ACME box called `name` on the session's network, its directory at
    `.directory` with a certificate for `cert_names` (default: the box's
    container name, `.host`). `validity`: seconds the issued certificates
    are valid (pebble's default: 5 years). `authz_reuse`: the percentage of
    new orders that reuse a valid authorization for the same name instead of
    validating again (pebble's default is 50: a coin toss per order; Let's
    Encrypt's is 100): 0 makes every order validate.
    """
    box = boxes.start(name)
    host = box.name
    ca_pem = install_certificates(box, DIR, cert_names or [host])
    config = {
        "listenAddress": f"0.0.0.0:{PORT}",
        "managementListenAddress": f"0.0.0.0:{MANAGEMENT}",
        "certificate": f"{DIR}/cert.pem",
        "privateKey": f"{DIR}/key.pem",
        # Where real clients' web servers answer (pebble's own default is 5002).
        "httpPort": 80,
        "tlsPort": 443,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
    }
    if validity is not None:
        config["certificateValidityPeriod"] = validity
    box.put_file(f"{DIR}/pebble-config.json", json.dumps({"pebble": config}, indent=2))
    box.exec(
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq"
        " --no-install-recommends pebble >/dev/null"
    )
    box.put_file(
        f"/etc/systemd/system/{DNS_UNIT}.service",
        "[Unit]\nDescription=pebble's DNS for the tests (A records set over :8055)\n\n"
        "[Service]\n"
        # Only the DNS: the challenge listeners would take ports a client may want.
        f"ExecStart=/usr/bin/pebble-challtestsrv -dns01 :{DNS_PORT} -management :{DNS_MANAGEMENT}"
        # No AAAA answer (::1 by default): pebble would dial this box's own [::1]:80 as well.
        " -http01= -https01= -tlsalpn01= -defaultIPv6=\n",
    )
    box.put_file(
        f"/etc/systemd/system/{UNIT}.service",
        "[Unit]\nDescription=pebble ACME server for the tests (state in memory only)\n"
        f"Wants={DNS_UNIT}.service\nAfter={DNS_UNIT}.service\n\n"
        "[Service]\n"
        # No random 0-15 s sleep before validating, no rejected nonces (certbot retries them, slowly).
        f"Environment=PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE={authz_reuse}\n"
        f"ExecStart=/usr/bin/pebble -config {DIR}/pebble-config.json -dnsserver 127.0.0.1:{DNS_PORT}\n"
        # A file, not the journal: counted right after a client returns, no journald lag.
        f"StandardOutput=append:{LOG}\nStandardError=append:{LOG}\n"
        # Restarting forgets every account and certificate and makes a new root: rather stay down.
        "Restart=no\n",
    )
    box.exec(["mkdir", "-p", LOG.rsplit("/", 1)[0]])
    box.exec(["systemctl", "daemon-reload"])
    box.exec(["systemctl", "start", DNS_UNIT, UNIT])
    acme = AcmeServer(box, boxes.network, host, ca_pem)
    acme.wait_ready()
    return acme


if __name__ == "__main__":
    client()
