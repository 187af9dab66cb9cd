"""
An S3-compatible object store in a container of the test session: the
stand-in for the off-site bucket that backups (pgBackRest, restic) go to.

    from object_store import start_object_store

    store = start_object_store(boxes)          # about 15 s
    pillar = with_settings(pillar, backup={"s3": store.pillar()})
    ...
    keys = store.objects("pg/")                # what arrived
    assert b"PGDMP" not in store.fetch(keys[0])  # encrypted
    store.pause(); ...; store.resume()         # an outage

The box runs moto (https://github.com/getmoto/moto) in server mode, S3 only,
from a venv made at start (pip from PyPI, ~11 s), on loopback, behind nginx
(Debian's, installed meanwhile) for TLS on port 443 with a throwaway CA and
a certificate for the box's container name: the name that resolves for the
other boxes on the session's network (pgBackRest insists on
TLS and refuses a certificate for an IP address). moto keeps every object in
its process's memory (spilling to temporary files past a few MiB each):
never restart the box or the `moto` unit, or the bucket is gone. An outage is
played with `pause()` (docker pause: connections hang, as for a dead
network path) or `disconnect()` (off the network: the name stops resolving).
pgBackRest 2.45 retries either way for about 8 x io-timeout (default 60 s:
~8 min; pass --io-timeout=5 for ~40 s) before a command fails with [103];
restic 0.14 fails at once when disconnected, after 30 s when paused.
"""

from __future__ import annotations

import base64
import json
import time

from box_helpers import helper
from syslog_receiver import install_certificates

MOTO = "moto[s3]==5.1.22"  # moto[server] drags in 200 MB more (cfn-lint, docker, ...): 25 s, not 11
EXTRA = ["flask==3.1.3", "flask-cors==6.0.5"]  # what moto_server needs besides the S3 backend
VENV = "/opt/moto"
DIR = "/etc/moto"
UNIT = "moto"
PORT = 443
BACKEND = 5000  # moto, plain HTTP on loopback

# TLS in front of moto. moto's own --ssl-cert (werkzeug) closes connections
# without a TLS close_notify after responses that have no Content-Length (every
# PUT): pgBackRest (OpenSSL 3) then fails with "[101]: TLS error [1:167772454]
# unexpected eof while reading" and retries until its 60 s io-timeout.
NGINX = """\
server {{
    listen {port} ssl default_server;
    listen [::]:{port} ssl default_server;
    ssl_certificate {dir}/cert.pem;
    ssl_certificate_key {dir}/key.pem;
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    location / {{
        proxy_pass http://127.0.0.1:{backend};
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header Connection "";
        proxy_read_timeout 300s;
    }}
}}
"""


class ObjectStore:
    """A running store: where to connect (`endpoint`, `bucket`, keys, `ca_pem`) and what it holds."""

    def __init__(self, box, network, host, port, bucket, region, key, secret, ca_pem):
        self.box, self.network = box, network
        self.host, self.port, self.bucket, self.region = host, port, bucket, region
        self.key, self.secret, self.ca_pem = key, secret, ca_pem

    @property
    def endpoint(self) -> str:
        return f"https://{self.host}" if self.port == 443 else f"https://{self.host}:{self.port}"

    def pillar(self, **extra) -> dict:
        """The S3 settings of a backup pillar that point a box here."""
        return {
            "endpoint": self.endpoint,
            "bucket": self.bucket,
            "region": self.region,
            "key": self.key,
            "secret": self.secret,
            "uri_style": "path",
            "verify_tls": True,
            "ca": self.ca_pem,
            **extra,
        }

    # -- what the bucket holds (read inside the store box, with boto3) -----------

    def _client(self, *args: str, check: bool = True):
        env = {
            "S3_ENDPOINT": self.endpoint,
            "S3_REGION": self.region,
            "S3_CA_FILE": f"{DIR}/ca.pem",
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
        }
        return self.box.exec([f"{VENV}/bin/python", helper("s3_store.py"), *args], env=env, check=check)

    def listing(self, prefix: str = "") -> list[dict]:
        """[{"key": ..., "size": ...}] of the objects under `prefix`, sorted by key."""
        out = self._client("ls", self.bucket, prefix).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def objects(self, prefix: str = "") -> list[str]:
        """The keys of the objects under `prefix` (no leading slash), sorted."""
        return [o["key"] for o in self.listing(prefix)]

    def fetch(self, key: str) -> bytes:
        """One object's bytes."""
        return base64.b64decode(self._client("get", self.bucket, key).stdout)

    # -- outages ----------------------------------------------------------------

    def pause(self) -> None:
        """Freeze the store (docker pause): TCP connections are accepted by the
        kernel but nothing answers, so clients hang until their own time-outs.
        The objects stay (moto's memory is kept)."""
        self.box.container.pause()

    def resume(self) -> None:
        """Undo `pause`: the store answers again, with everything it held."""
        self.box.container.unpause()

    def disconnect(self) -> None:
        """Take the store off the network: its name no longer resolves. restic
        fails at once ("no such host"); pgBackRest retries "unable to get
        address for ..." for ~8 x io-timeout before failing [103]."""
        self._network().disconnect(self.box.container)

    def reconnect(self) -> None:
        """Undo `disconnect` (same name; the address may change, DNS follows)."""
        self._network().connect(self.box.container)

    def _network(self):
        return self.box.container.client.networks.get(self.network)

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the store answers (and has its bucket)."""
        self._client("wait", self.bucket, str(timeout))


def start_object_store(
    boxes,
    name: str = "store",
    bucket: str = "backups",
    region: str = "us-east-1",
    key: str = "AKIAWEBSTACKTEST0001",
    secret: str = "webstack-test-secret-key-0123456789abcdef",
    cert_names: list[str] | None = None,
    port: int = PORT,
) -> ObjectStore:
    """
    A store box called `name` on the session's network answering HTTPS on
    `port` for `cert_names` (default: its container name, which is `.host`),
    with `bucket` made. moto takes any access key and secret: `key`/`secret`
    are only what the clients are told to send.
    """
    box = boxes.start(name)
    host = box.name
    ca_pem = install_certificates(box, DIR, cert_names or [host])
    # moto from PyPI and nginx from Debian at once (~11 s).
    box.exec(
        f"(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq"
        f" --no-install-recommends nginx >/dev/null) & apt=$!;"
        f" python3 -m venv {VENV} && {VENV}/bin/pip install -q --no-cache-dir '{MOTO}' "
        + " ".join(f"'{p}'" for p in EXTRA)
        + "; pip=$?; wait $apt && exit $pip"
    )
    box.put_file(
        f"/etc/systemd/system/{UNIT}.service",
        "[Unit]\nDescription=moto S3 server for the tests (objects in memory only)\n\n"
        "[Service]\n"
        f"ExecStart={VENV}/bin/moto_server --host 127.0.0.1 --port {BACKEND}\n"
        # Restarting loses every object: rather stay down and show it.
        "Restart=no\n",
    )
    box.put_file("/etc/nginx/sites-enabled/default", NGINX.format(port=port, dir=DIR, backend=BACKEND))
    box.exec(["systemctl", "daemon-reload"])
    box.exec(["systemctl", "start", UNIT])
    box.exec(["systemctl", "reload-or-restart", "nginx"])
    store = ObjectStore(box, boxes.network, host, port, bucket, region, key, secret, ca_pem)
    t0 = time.monotonic()
    res = store._client("wait", bucket, check=False)
    if not res.ok:
        status = box.exec(["journalctl", "-u", UNIT, "--no-pager", "-n", "30"], check=False).stdout
        raise AssertionError(
            f"{host}: the store did not come up ({time.monotonic() - t0:.0f} s)\n{res.stderr}\n{status}"
        )
    return store
