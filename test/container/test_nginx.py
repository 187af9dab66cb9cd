"""
The nginx role in a real box, applied alone (`state.apply nginx`).

What the app and supervisor roles would provide is laid down by the test:
the static and media directories, and a stand-in for gunicorn on the
contract's socket (/run/<name>/gunicorn.sock) that answers every request with
the headers it got and counts requests and connections, so the tests can tell
what reached the app and what nginx answered itself.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import gzip
import json

import pytest
from box_helpers import helper
from conftest import converge, converged_to, with_settings
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NAME = "shop"
DOMAINS = ["shop.test", "www.shop.test"]
SOCKET = f"/run/{NAME}/gunicorn.sock"
ROOT = f"/srv/{NAME}"
STANDIN_UNIT = f"{NAME}-gunicorn-standin"
# curl to nginx on this box under the site's names, and one it doesn't serve.
RESOLVE = " ".join(f"--resolve {d}:{p}:127.0.0.1" for d in [*DOMAINS, "evil.test"] for p in (80, 443))

PILLAR = {
    "webstack": {
        "project": {"name": NAME, "domains": DOMAINS},
        "nginx": {
            "client_max_body_size": "1m",
            "trusted_proxies": ["127.0.0.2"],
            # Gets the real site in maintenance mode.
            "maintenance": {"allow": ["127.0.0.3"], "retry_after": 120},
        },
    }
}
TLS = with_settings(PILLAR, nginx={"tls": {"enabled": True, "self_signed": True, "hsts_max_age": 600}})
SELF_SIGNED = "/etc/nginx/tls/selfsigned.crt"

CSS = "".join(f".rule-{i} {{ color: #{i:06x}; margin: {i}px; }}\n" for i in range(200))


# -- helpers -----------------------------------------------------------------


def curl(box, args: str):
    """curl on the box (exit code, stdout, stderr); never raises."""
    return box.exec(f"curl -sS {RESOLVE} {args}", check=False)


def headers_of(out: str) -> dict:
    """The response headers at the start of `curl -D -` output, names lower-cased."""
    lines = out.replace("\r\n", "\n").split("\n\n", 1)[0].split("\n")[1:]
    return {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}


def upstream_seen(box, args: str) -> dict:
    res = curl(box, args)
    assert res.rc == 0, res
    return json.loads(res.stdout)


def read_bytes(box, path: str) -> bytes:
    return base64.b64decode(box.exec(["base64", "-w0", path]).stdout)


def stats(box) -> dict:
    out = box.exec(f"curl -sS --unix-socket {SOCKET} http://standin/__stats__").stdout
    return json.loads(out)


def nginx_pids(box) -> tuple:
    master = box.exec("cat /run/nginx.pid").stdout.strip()
    workers = box.exec(f"pgrep -P {master}").stdout.split()
    return master, sorted(workers)


def etc_nginx(box) -> str:
    """Every file and symlink under /etc/nginx: path, mode, target or checksum."""
    return box.exec(
        r"find /etc/nginx \( -type f -o -type l \) -printf '%p %m %l ' -exec sh -c "
        r"'[ -L \"$1\" ] && echo || sha256sum < \"$1\"' _ {} \; | sort"
    ).stdout


def served_certificate(box, name: str) -> x509.Certificate:
    pem = box.exec(
        f"openssl s_client -connect 127.0.0.1:443 -servername {name} </dev/null 2>/dev/null | openssl x509"
    ).stdout
    return x509.load_pem_x509_certificate(pem.encode())


def tls_handshake(box, version: str, name: str = "shop.test"):
    """openssl s_client with one protocol version (weak ciphers allowed client-side,
    so only the server can say no)."""
    return box.exec(
        f"openssl s_client -connect 127.0.0.1:443 -servername {name} -{version} "
        f"-cipher 'DEFAULT:@SECLEVEL=0' </dev/null 2>&1",
        check=False,
    )


def make_cert(common_name, issuer=None, sans=(), ca=False):
    """(certificate, key): self-signed, or signed by `issuer` = (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), False)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    return cert, key


def pem(obj) -> str:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM).decode()
    return obj.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


# -- the box -----------------------------------------------------------------


def start_nginx_box(boxes, name):
    """A box with what nginx alone needs from the app and supervisor roles, and curl: not converged."""
    box = boxes.start(name)
    box.exec("apt-get update -qq && apt-get install -y -qq curl >/dev/null")  # for the checks
    # What the app role would lay down ...
    box.exec(f"install -d {ROOT}/shared/static/css {ROOT}/shared/media")
    box.put_file(f"{ROOT}/shared/static/css/app.css", CSS)
    box.put_file(f"{ROOT}/shared/media/upload.txt", "an upload\n")
    # ... and gunicorn, as the supervisor role would run it.
    box.exec(f"install -d -o root -g www-data -m 0750 /run/{NAME}")
    start_standin(box)
    return box


def start_standin(box):
    """The stand-in for gunicorn, answering on the socket."""
    box.exec(f"rm -f {SOCKET}")  # a stopped one leaves its socket behind
    box.exec(f"systemd-run --unit={STANDIN_UNIT} python3 {helper('gunicorn_standin.py')} {SOCKET}")
    box.exec(f"for i in $(seq 50); do [ -S {SOCKET} ] && exit 0; sleep 0.1; done; exit 1")


@pytest.fixture(scope="module")
def nginx_box(boxes):
    box = start_nginx_box(boxes, "nginx")
    first = converge(box, PILLAR, "nginx")
    print(f"\nnginx first converge: {first.summary()}")
    return box


@pytest.fixture
def web(nginx_box):
    """The nginx box converged to PILLAR (plain http)."""
    converged_to(nginx_box, PILLAR, "nginx")
    return nginx_box


@pytest.fixture
def tls_web(nginx_box):
    """The nginx box converged to TLS (the self-signed certificate)."""
    res = converged_to(nginx_box, TLS, "nginx")
    if res:
        print(f"\nnginx TLS converge: {res.summary()}")
    return nginx_box


# -- plain http ----------------------------------------------------------------


def test_site_is_proxied_with_forwarded_headers(web):
    before = stats(web)["requests"]
    res = curl(web, "-D - http://shop.test/hello?x=1")
    assert res.rc == 0, res
    head, body = res.stdout.replace("\r\n", "\n").split("\n\n", 1)
    seen = json.loads(body)
    assert seen["path"] == "/hello?x=1"
    assert seen["headers"]["host"] == "shop.test"
    assert seen["headers"]["x-forwarded-host"] == "shop.test"
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert seen["headers"]["x-forwarded-proto"] == "http"
    assert headers_of(head)["server"] == "nginx"  # no version
    assert stats(web)["requests"] == before + 1
    # The second name of the site is served too.
    assert upstream_seen(web, "http://www.shop.test/")["headers"]["host"] == "www.shop.test"


def test_forwarded_headers_are_believed_only_from_trusted_proxies(web):
    spoof = "-H 'X-Forwarded-For: 203.0.113.7' -H 'X-Forwarded-Proto: https' http://shop.test/"
    seen = upstream_seen(web, spoof)["headers"]
    assert (seen["x-forwarded-for"], seen["x-forwarded-proto"]) == ("127.0.0.1", "http")
    # 127.0.0.2 is in trusted_proxies: it speaks for the client.
    seen = upstream_seen(web, "--interface 127.0.0.2 " + spoof)["headers"]
    assert (seen["x-forwarded-for"], seen["x-forwarded-proto"]) == ("203.0.113.7", "https")


@pytest.mark.parametrize(
    "request_args",
    [
        "-H 'Host: evil.test' http://127.0.0.1/",
        "http://127.0.0.1/",  # Host: 127.0.0.1
        "--http1.0 -H 'Host:' http://127.0.0.1/",  # no Host at all
    ],
)
def test_unknown_hosts_get_the_connection_closed_without_a_response(web, request_args):
    before = stats(web)["requests"]
    res = curl(web, "-D - " + request_args)
    assert res.rc == 52 and "Empty reply from server" in res.stderr, res  # 444: closed, no bytes
    assert res.stdout == ""
    assert stats(web)["requests"] == before


def test_static_and_media_come_from_disk_with_cache_headers(web):
    before = stats(web)["requests"]
    res = curl(web, "-D - -o /tmp/app.css.gz -H 'Accept-Encoding: gzip' http://shop.test/static/css/app.css")
    h = headers_of(res.stdout)
    assert res.stdout.startswith("HTTP/1.1 200"), res
    assert h["cache-control"] == "public, max-age=31536000, immutable"
    assert h["content-encoding"] == "gzip" and h["content-type"] == "text/css"
    assert gzip.decompress(read_bytes(web, "/tmp/app.css.gz")) == CSS.encode()
    plain = curl(web, "-D - -o /dev/null http://shop.test/static/css/app.css")
    assert "content-encoding" not in headers_of(plain.stdout)  # only when asked
    media = curl(web, "-D - http://shop.test/media/upload.txt")
    h = headers_of(media.stdout)
    assert media.stdout.endswith("an upload\n")
    assert h["cache-control"] == "public, max-age=86400" and h["x-content-type-options"] == "nosniff"
    missing = curl(web, "-D - http://shop.test/static/missing.css")
    assert missing.stdout.startswith("HTTP/1.1 404") and "cache-control" not in headers_of(missing.stdout)
    assert "nginx/" not in missing.stdout  # no version on error pages either
    # None of it reached the app; a dynamic page does.
    assert stats(web)["requests"] == before
    curl(web, "http://shop.test/dynamic")
    assert stats(web)["requests"] == before + 1


def test_upstream_connections_are_kept_alive_and_websockets_upgrade(web):
    workers = len(nginx_pids(web)[1])
    before = stats(web)
    for i in range(20):
        seen = upstream_seen(web, f"http://shop.test/keepalive/{i}")["headers"]
        assert "connection" not in seen  # no "close": the connection goes back to the pool
    after = stats(web)
    assert after["requests"] - before["requests"] == 20
    assert after["connections"] - before["connections"] <= workers, (before, after)
    ws = upstream_seen(web, "-H 'Upgrade: websocket' -H 'Connection: Upgrade' http://shop.test/ws")
    assert (ws["headers"]["upgrade"], ws["headers"]["connection"]) == ("websocket", "upgrade")


def test_request_bodies_are_limited_by_the_pillar(web):
    web.exec("head -c 512000 /dev/zero >/tmp/512k; head -c 2000000 /dev/zero >/tmp/2m")
    ok = upstream_seen(web, "--data-binary @/tmp/512k http://shop.test/upload")
    assert ok == {"path": "/upload", "received": 512000}
    before = stats(web)["requests"]
    big = curl(web, "-o /dev/null -w '%{http_code}' --data-binary @/tmp/2m http://shop.test/upload")
    assert big.stdout == "413"
    assert stats(web)["requests"] == before


def test_reapply_changes_nothing_and_does_not_reload(web, idempotent):
    pids = nginx_pids(web)
    again = idempotent(web, PILLAR, "nginx")
    print(f"\nnginx re-apply: {again.summary()}")
    assert nginx_pids(web) == pids


# -- maintenance mode and error pages ------------------------------------------------

MAINTENANCE = with_settings(PILLAR, nginx={"maintenance": {"enabled": True}})
OUR_PAGES = "/etc/nginx/webstack"
LOOP_UNIT = "webstack-test-request-loop"


@contextlib.contextmanager
def request_loop(box):
    """
    curl in a loop on the box (a new connection each time) while the block
    runs; then the list holds what each request got: its status code, or
    "failed: <curl exit code>" when the connection failed.
    """
    box.exec("rm -f /tmp/loop.log /tmp/loop.stop")
    fmt = "%{http_code} %{exitcode}\\n"
    request = f"curl -s -o /dev/null -w '{fmt}' {RESOLVE} http://shop.test/loop"
    loop = f"until [ -e /tmp/loop.stop ]; do {request}; done >>/tmp/loop.log"
    box.exec(["systemd-run", f"--unit={LOOP_UNIT}", "sh", "-c", loop])
    seen = []
    try:
        yield seen
    finally:
        box.exec(f"touch /tmp/loop.stop; while systemctl -q is-active {LOOP_UNIT}; do sleep 0.1; done")
        for code, rc in (line.split() for line in box.exec("cat /tmp/loop.log").stdout.splitlines()):
            seen.append(code if rc == "0" else f"failed: {rc}")


def page(box, args: str):
    """(status, headers, body) of one request (curl -D -)."""
    res = curl(box, "-D - " + args)
    assert res.rc == 0, res
    head, body = res.stdout.replace("\r\n", "\n").split("\n\n", 1)
    return int(head.split()[1]), headers_of(head), body


def audit_trail(box) -> str:
    return box.exec("journalctl -q -o cat -t webstack-audit").stdout


def flag(box) -> dict:
    res = box.exec(f"cat {ROOT}/maintenance", check=False)
    return json.loads(res.stdout) if res.rc == 0 else {}


def assert_in_maintenance(box, own_page: str):
    """Every page of the site: 503, Retry-After and the maintenance page; nothing reaches the app."""
    before = stats(box)["requests"]
    for args in (
        "http://shop.test/",
        "http://www.shop.test/some/page?x=1",
        "http://shop.test/static/css/app.css",
        "http://shop.test/media/upload.txt",
        "--data-binary x=1 http://shop.test/upload",
        "-H 'Upgrade: websocket' -H 'Connection: Upgrade' http://shop.test/ws",
        # Not in the allow-list: what the trusted proxy says the client is.
        "--interface 127.0.0.2 -H 'X-Forwarded-For: 203.0.113.9' http://shop.test/",
    ):
        status, h, body = page(box, args)
        assert (status, h["retry-after"], body) == (503, "120", own_page), args
        assert (h["x-frame-options"], h["cache-control"]) == ("DENY", "no-store"), args
    assert stats(box)["requests"] == before


def test_maintenance_from_the_pillar_is_switched_without_a_reload(web, idempotent):
    pids = nginx_pids(web)
    ours = read_bytes(web, f"{OUR_PAGES}/maintenance.html").decode()
    assert "nginx" not in ours.lower()
    with request_loop(web) as seen:
        res = converge(web, MAINTENANCE, "nginx")
        assert res.changed == ["nginx-maintenance-mode-is-as-the-pillar-says"], res.explain()
        assert_in_maintenance(web, ours)
        # The allow-listed peer, directly or through the trusted proxy, and the
        # health check get the real site.
        assert upstream_seen(web, "--interface 127.0.0.3 http://shop.test/a")["path"] == "/a"
        through = "--interface 127.0.0.2 -H 'X-Forwarded-For: 127.0.0.3' http://shop.test/b"
        assert upstream_seen(web, through)["path"] == "/b"
        assert upstream_seen(web, "http://shop.test/health/")["path"] == "/health/"
        # The live release's own page, when it ships one.
        web.put_file(f"{ROOT}/releases/r1/webstack/maintenance.html", "<p>Back at five.</p>\n")
        web.exec(f"ln -sfn releases/r1 {ROOT}/current")
        assert page(web, "http://shop.test/")[2] == "<p>Back at five.</p>\n"
        web.exec(f"rm -rf {ROOT}/current {ROOT}/releases")
        jid = flag(web)["jid"]
        assert flag(web)["by"] == "pillar" and jid
        again = idempotent(web, MAINTENANCE, "nginx")
        print(f"\nnginx maintenance re-apply: {again.summary()}")
        res = converge(web, PILLAR, "nginx")
        assert res.changed == ["nginx-maintenance-mode-is-as-the-pillar-says"], res.explain()
        assert upstream_seen(web, "http://shop.test/c")["path"] == "/c"
    assert flag(web) == {}
    # Through both switches: no connection failed, and it saw both answers.
    assert [s for s in seen if s not in ("200", "503")] == [] and {"200", "503"} <= set(seen), seen
    assert nginx_pids(web) == pids  # a file, no reload
    trail = audit_trail(web)
    assert (
        f"maintenance: on (by pillar) (job {jid})\nmaintenance: off (by pillar, was on by pillar) (job "
        in trail
    )


def test_maintenance_from_a_command_stays_until_turned_off(web, idempotent):
    ours = read_bytes(web, f"{OUR_PAGES}/maintenance.html").decode()
    root = web.write_pillar(PILLAR)
    with request_loop(web) as seen:
        on = web.salt_call("--out=json", "maintenance.on", "reason=db upgrade", pillar_root=root, check=True)
        said = json.loads(on.stdout)["local"]
        assert (said["maintenance"], said["by"], said["reason"]) == (True, "command", "db upgrade")
        assert flag(web)["jid"] == said["jid"] and said["jid"]
        assert_in_maintenance(web, ours)
        # The pillar says off: applying it changes nothing, the command's maintenance stays.
        idempotent(web, PILLAR, "nginx")
        assert page(web, "http://shop.test/")[0] == 503
        web.salt_call("maintenance.off", pillar_root=root, check=True)
        assert upstream_seen(web, "http://shop.test/d")["path"] == "/d"
    assert [s for s in seen if s not in ("200", "503")] == [] and {"200", "503"} <= set(seen), seen
    assert flag(web) == {}
    trail = audit_trail(web)
    assert f"maintenance: on (by command: db upgrade) (job {said['jid']})\n" in trail
    assert "maintenance: off (by command, was on by command) (job " in trail


def test_gunicorn_down_gets_our_error_page(web):
    ours = read_bytes(web, f"{OUR_PAGES}/error.html").decode()
    web.exec(f"systemctl stop {STANDIN_UNIT}")
    try:
        status, h, body = page(web, "http://shop.test/account")
        assert (status, body) == (502, ours)
        assert "nginx" not in body.lower() and "retry-after" not in h and h["x-frame-options"] == "DENY"
    finally:
        start_standin(web)
    assert upstream_seen(web, "http://shop.test/e")["path"] == "/e"


# -- TLS -------------------------------------------------------------------------


def test_https_serves_the_site_with_hsts(tls_web):
    res = curl(tls_web, f"--cacert {SELF_SIGNED} -D - https://shop.test/secure")
    assert res.rc == 0, res
    head, body = res.stdout.replace("\r\n", "\n").split("\n\n", 1)
    h = headers_of(head)
    assert head.startswith("HTTP/2 200")
    assert h["strict-transport-security"] == "max-age=600"
    assert h["server"] == "nginx"
    seen = json.loads(body)["headers"]
    assert seen["x-forwarded-proto"] == "https" and seen["x-forwarded-for"] == "127.0.0.1"
    # HSTS also where the location sets headers of its own.
    static = curl(tls_web, f"--cacert {SELF_SIGNED} -D - -o /dev/null https://shop.test/static/css/app.css")
    assert headers_of(static.stdout)["strict-transport-security"] == "max-age=600"
    cert = served_certificate(tls_web, "www.shop.test")
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "shop.test"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == DOMAINS


def test_http_redirects_to_https(tls_web):
    res = curl(tls_web, "-D - -o /dev/null 'http://www.shop.test/a/b?c=1'")
    assert res.stdout.startswith("HTTP/1.1 301"), res
    assert headers_of(res.stdout)["location"] == "https://www.shop.test/a/b?c=1"


def test_unknown_names_on_443_are_refused(tls_web):
    before = stats(tls_web)["requests"]
    # SNI of a name we don't serve (or none): the handshake itself is refused.
    for target in ("https://evil.test/", "https://127.0.0.1/"):
        res = curl(tls_web, f"-k {target}")
        assert res.rc == 35 and "unrecognized name" in res.stderr, res
    # The site's SNI with a foreign Host header: handshake, then closed without a response.
    res = curl(tls_web, "-k --http1.1 -D - -H 'Host: evil.test' https://shop.test/")
    assert res.rc == 52 and res.stdout == "", res
    assert stats(tls_web)["requests"] == before
    # And still nothing on port 80.
    assert curl(tls_web, "-H 'Host: evil.test' http://127.0.0.1/").rc == 52


@pytest.mark.parametrize("version, accepted", [("tls1_1", False), ("tls1_2", True), ("tls1_3", True)])
def test_only_tls_1_2_and_1_3_are_accepted(tls_web, version, accepted):
    res = tls_handshake(tls_web, version)
    if accepted:
        assert res.rc == 0 and f"New, TLSv1.{version[-1]}, Cipher is" in res.stdout, res.stdout
    else:
        # The server answers the ClientHello with a protocol_version alert (70).
        assert res.rc != 0 and "alert protocol version" in res.stdout, res.stdout


def test_tls_reapply_changes_nothing_and_does_not_reload(tls_web, idempotent):
    pids = nginx_pids(tls_web)
    again = idempotent(tls_web, TLS, "nginx")
    print(f"\nnginx TLS re-apply: {again.summary()}")
    assert nginx_pids(tls_web) == pids


# -- configs nginx rejects ---------------------------------------------------------


def _mismatched_pair():
    cert, _ = make_cert("shop.test", sans=DOMAINS)
    _, other_key = make_cert("other")
    return {"certificate": pem(cert), "key": pem(other_key)}


@pytest.mark.parametrize(
    "nginx, error",
    [
        ({"extra": "bogus_directive on;"}, 'unknown directive "bogus_directive"'),
        ({"tls": _mismatched_pair()}, "key values mismatch"),
    ],
    ids=["unknown-directive", "certificate-key-mismatch"],
)
def test_a_config_nginx_rejects_fails_and_the_old_one_keeps_serving(tls_web, nginx, error):
    files, pids = etc_nginx(tls_web), nginx_pids(tls_web)
    res = tls_web.apply(with_settings(TLS, nginx=nginx), "nginx")
    failed = dict(res.failed)
    assert "nginx rejected the new configuration" in failed["nginx-config-is-checked-then-installed"]
    assert error in failed["nginx-config-is-checked-then-installed"]
    assert "nginx-runs-and-reloads-on-changes" in failed  # no reload either
    assert etc_nginx(tls_web) == files
    assert nginx_pids(tls_web) == pids
    assert upstream_seen(tls_web, f"--cacert {SELF_SIGNED} https://shop.test/still")["path"] == "/still"


def test_a_certificate_from_the_pillar_is_served_with_its_chain(tls_web):
    root = make_cert("Test Root CA", ca=True)
    intermediate = make_cert("Test Intermediate CA", issuer=root, ca=True)
    leaf = make_cert("shop.test", issuer=intermediate, sans=DOMAINS)
    pillar = with_settings(
        TLS, nginx={"tls": {"certificate": pem(leaf[0]), "key": pem(leaf[1]), "chain": pem(intermediate[0])}}
    )
    res = converge(tls_web, pillar, "nginx")
    comment = res.by_id["nginx-config-is-checked-then-installed"]["comment"]
    # nginx's warning: stapling is on, but this test CA names no OCSP responder.
    assert "ssl_stapling" in comment
    assert "PRIVATE KEY" not in json.dumps(res.states)
    tls_web.put_file("/tmp/root.pem", pem(root[0]))
    # Verifies only if nginx sends the intermediate after the certificate.
    chained = upstream_seen(tls_web, "--cacert /tmp/root.pem https://www.shop.test/chained")
    assert chained["path"] == "/chained"
    assert served_certificate(tls_web, "shop.test") == leaf[0]
    assert tls_web.exec("stat -c '%a %U' /etc/nginx/tls/site.key /etc/nginx/tls").stdout.split("\n")[:2] == [
        "600 root",
        "700 root",
    ]
    # The self-signed pair is no longer used: gone.
    assert tls_web.exec(f"ls {SELF_SIGNED}", check=False).rc != 0
