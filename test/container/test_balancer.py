"""
balancer: haproxy on one box in front of two stand-in web hosts (a small
Python server each, naming itself and echoing the forwarded headers), the
web hosts given as pillar peers. Seen from outside: round robin over both,
health checks with the site's Host, a stopped host taken out, unknown Hosts
dropped, forwarded headers the web hosts can trust, TLS from the pillar and a
bad key refused before it lands.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time

import pytest
from box_helpers import helper
from conftest import converge, converged_to, load_pillar, with_settings

DOMAIN = "shop.example.com"


def start_web(box):
    """A stand-in web host (helpers/fake_web.py) on port 80 of `box`."""
    box.exec(f"systemd-run --unit=fake-web python3 {helper('fake_web.py')} {DOMAIN}")


def request(ip, path="/", host=DOMAIN, tls=True, headers=None):
    """(status, body, server certificate DER) of one request to the balancer."""
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        conn = http.client.HTTPSConnection(ip, 443, timeout=10, context=ctx)
    else:
        conn = http.client.HTTPConnection(ip, 80, timeout=10)
    try:
        conn.connect()
        cert = conn.sock.getpeercert(binary_form=True) if tls else None
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), cert
    finally:
        conn.close()


def make_cert(box, name):
    """A self-signed certificate and its key, PEM, made on `box`."""
    box.exec(
        f"openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN={DOMAIN} "
        f"-keyout /root/{name}.key -out /root/{name}.crt 2>/dev/null"
    )
    return box.exec(["cat", f"/root/{name}.crt"]).stdout, box.exec(["cat", f"/root/{name}.key"]).stdout


def der(pem):
    return ssl.PEM_cert_to_DER_cert(pem)


@pytest.fixture(scope="module")
def site(boxes):
    lb = boxes.start("lb", roles=["balancer"])
    webs = [boxes.start(f"lb-web{i}") for i in (1, 2)]
    for web in webs:
        start_web(web)
    cert, key = make_cert(lb, "site")
    pillar = with_settings(
        load_pillar("minimal"),
        project={"domains": [DOMAIN, "*.cdn.example.com"]},
        peers={"web": [web.ip() for web in webs]},
        balancer={"tls": {"enabled": True, "certificate": cert, "key": key}},
    )
    converge(lb, pillar, "balancer")
    # Until both hosts passed their first health checks (inter 2 s, rise 2).
    deadline, seen = time.monotonic() + 30, set()
    while seen != {"lb-web1", "lb-web2"} and time.monotonic() < deadline:
        status, body, _ = request(lb.ip())
        seen |= {json.loads(body)["host"]} if status == 200 else set()
        time.sleep(0.2)
    return lb, webs, pillar, cert


def test_requests_alternate_between_healthy_web_hosts(site):
    lb, webs, _, _ = site
    seen = [json.loads(request(lb.ip())[1])["host"] for _ in range(6)]
    assert set(seen) == {"lb-web1", "lb-web2"}, seen


def test_web_hosts_get_the_client_address_and_scheme_only_from_the_balancer(site):
    lb, _, _, _ = site
    _, body, _ = request(lb.ip(), headers={"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "ftp"})
    got = json.loads(body)
    assert len(got["xff"]) == 1 and got["xff"][0] != "6.6.6.6", got
    assert got["proto"] == "https"


def test_plain_http_moves_to_https_without_the_port(site):
    lb, _, _, _ = site
    conn = http.client.HTTPConnection(lb.ip(), 80, timeout=10)
    conn.request("GET", "/a?b=1", headers={"Host": f"{DOMAIN}:80"})
    resp = conn.getresponse()
    assert resp.status == 301
    assert resp.getheader("Location") == f"https://{DOMAIN}/a?b=1"


def test_answers_carry_hsts(site):
    lb, _, _, _ = site
    conn = http.client.HTTPSConnection(lb.ip(), 443, timeout=10, context=ssl._create_unverified_context())
    conn.request("GET", "/", headers={"Host": DOMAIN})
    assert conn.getresponse().getheader("Strict-Transport-Security") == "max-age=63072000"


@pytest.mark.parametrize("host", ["unknown.example", "cdn.example.com", ""])
@pytest.mark.parametrize("tls", [False, True])
def test_unknown_hosts_get_the_connection_closed(site, host, tls):
    lb, _, _, _ = site
    with pytest.raises(http.client.RemoteDisconnected):
        request(lb.ip(), host=host, tls=tls)


def test_wildcard_domains_are_served(site):
    lb, _, _, _ = site
    assert request(lb.ip(), host="img.cdn.example.com")[0] == 200


def test_the_pillar_certificate_is_served(site):
    lb, _, _, cert = site
    assert request(lb.ip())[2] == der(cert)


def test_a_key_not_matching_its_certificate_never_lands(site):
    lb, _, pillar, cert = site
    other_cert, _ = make_cert(lb, "other")
    _, key = make_cert(lb, "stray")
    bad = with_settings(pillar, balancer={"tls": {"certificate": other_cert, "key": key}})
    result = lb.apply(bad, "balancer")
    failed = dict(result.failed)
    assert (
        "inconsistencies between private key and certificate"
        in failed["balancer-certificate-and-key-are-checked-then-installed"]
    )
    # haproxy still serves the old certificate and keeps running.
    assert request(lb.ip())[2] == der(cert)
    converge(lb, pillar, "balancer")


def test_second_apply_changes_nothing(site, idempotent):
    lb, _, pillar, _ = site
    converged_to(lb, pillar, "balancer")
    idempotent(lb, pillar, "balancer")


def test_a_stopped_web_host_is_taken_out(site):
    lb, webs, _, _ = site
    webs[0].exec("systemctl stop fake-web")
    # The first requests may still be sent to it: haproxy retries them on the
    # other host; then the health checks take it out.
    seen = [json.loads(request(lb.ip())[1])["host"] for _ in range(8)]
    assert set(seen) == {"lb-web2"}, seen
