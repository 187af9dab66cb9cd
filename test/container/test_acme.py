"""
Certificates from an ACME CA (`tls:acme` of nginx and of the balancer),
from pebble, Let's Encrypt's own test server (acme_server.py), whose DNS
sends the site's names to the box under test: issued on the first converge
and served, never ordered again by a re-apply, renewed by certbot's timer
unit with a reload that fails no request, a failed renewal logged to syslog
with the certificate still served, a new name certified on the next apply,
and a CA out of reach at the first converge: a clear failure, the challenge
and a temporary certificate served, the certificate on the next apply.
Everything a visitor sees is checked from a peer (the scanner box).
"""

from __future__ import annotations

import json
import re
import time

import pytest
from box_helpers import helper
from conftest import BALANCED_DOMAIN, converge, first_converge, with_settings
from cryptography import x509
from figures import report as figure
from test_nginx import DOMAINS, PILLAR, start_nginx_box
from test_security import assert_strong_tls_only, tls_offered

from tools.harness.dockerbox import TEST_PILLAR_ROOT

ROOT_CA = "/tmp/pebble-root.pem"  # on the scanner
RENEWAL_CONF = "/etc/letsencrypt/renewal/webstack-{}.conf"


def acme_pillar(acme_server, domains=DOMAINS):
    return with_settings(
        PILLAR,
        project={"domains": list(domains)},
        nginx={"tls": {"enabled": True, "acme": acme_server.pillar()}},
    )


def client(peer, *args: str) -> dict:
    return json.loads(peer.exec(["python3", helper("tls_client.py"), *args]).stdout)


def served(peer, box, name: str) -> dict:
    """What `box` serves for `name` on 443, seen from `peer`: the certificate, and whether it verifies."""
    out = client(peer, "cert", box.ip(), name, ROOT_CA)
    out["cert"] = x509.load_pem_x509_certificate(out["pem"].encode())
    out["names"] = out["cert"].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    out["names"] = out["names"].get_values_for_type(x509.DNSName)
    return out


def make_due(box, component: str) -> None:
    """certbot's next `renew` finds the certificate due (as if near its end)."""
    conf = RENEWAL_CONF.format(component)
    box.exec(f"sed -i 's/^renew_before_expiry = .*/renew_before_expiry = 100000 days/' {conf}")
    assert "100000 days" in box.exec(["cat", conf]).stdout


def renew_by_the_timers_unit(box):
    """certbot.timer's own unit, run now (what the timer starts); never raises."""
    return box.exec(["systemctl", "start", "certbot.service"], check=False)


def while_looping(peer, box, name: str, action):
    """`action()` while a verified https request loop runs from `peer` to `box`: the loop's report."""
    stop = f"/tmp/stop-{time.monotonic_ns()}"
    out = f"{stop}.json"
    peer.exec(
        f"nohup python3 {helper('tls_client.py')} loop {box.ip()} {name} {ROOT_CA} /static/css/app.css"
        f" {stop} > {out} 2>&1 &"
    )
    time.sleep(1)
    try:
        action()
        time.sleep(1)
    finally:
        peer.exec(["touch", stop])
    peer.exec(f"for i in $(seq 100); do [ -s {out} ] && exit 0; sleep 0.1; done; exit 1")
    return json.loads(peer.exec(["cat", out]).stdout)


# -- the boxes ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def peer(scanner, acme_server):
    """The scanner, trusting pebble's root (what the issued chains end in)."""
    scanner.put_file(ROOT_CA, "".join(acme_server.roots()))
    return scanner


@pytest.fixture(scope="module")
def site(boxes, acme_server, peer):
    """nginx alone, TLS from the ACME server, converged once (`.first`, `.orders`: what it ordered)."""
    box = start_nginx_box(boxes, "acme-site")
    acme_server.point(DOMAINS, box.ip())
    box.pillar = acme_pillar(acme_server)
    before = acme_server.orders()
    box.first = first_converge(box, box.pillar, "nginx")
    box.orders = acme_server.orders() - before
    print(f"\nACME site first converge: {box.first.summary()}")
    return box


# -- nginx -----------------------------------------------------------------------------


def test_dry_runs_on_the_fresh_boxes_ordered_nothing_and_foresaw_the_first_converges(site, acme_balancer):
    # One order in all (the real run's: test_the_first_converge_...), none by the dry run.
    for box, certificate in (
        (site, "nginx-acme-certificate-is-issued"),
        (acme_balancer, "balancer-acme-certificate-is-issued"),
    ):
        assert not box.dry_problems, "\n".join(box.dry_problems)
        assert box.dry.by_id[certificate]["result"] is None, box.dry.by_id[certificate]


def test_the_first_converge_serves_a_certificate_from_the_ca_for_every_name(site, peer, acme_server, request):
    assert site.orders == 1
    took = site.first.by_id["nginx-acme-certificate-is-issued"]["duration"] / 1000
    figure(
        request,
        f"first converge of nginx with ACME: {site.first.summary()}; the certificate's state {took:.1f} s",
    )
    issuer = x509.load_pem_x509_certificate(acme_server.intermediates()[0].encode()).subject
    for name in DOMAINS:
        seen = served(peer, site, name)
        assert seen["verified"], seen["error"]
        assert seen["cert"].issuer == issuer and seen["names"] == DOMAINS
    # The certificate state says what it got; the key never reaches Salt's output.
    issued = site.first.by_id["nginx-acme-certificate-is-issued"]
    assert issued["changes"]["certificate"]["old"] is None
    assert issued["changes"]["certificate"]["new"]["names"] == DOMAINS
    assert "PRIVATE KEY" not in json.dumps(site.first.states)
    modes = site.exec(
        "stat -L -c '%a %U %n' /etc/nginx/tls/acme.key /etc/letsencrypt/live/webstack-nginx/privkey.pem"
    )
    assert [line.split()[:2] for line in modes.stdout.splitlines()] == [["600", "root"], ["600", "root"]]
    # Plain http still moves to https, the challenge path aside.
    moved = client(peer, "get", site.ip(), "80", DOMAINS[1], "/a?b=1")
    assert moved["status"] == 301 and moved["location"] == f"https://{DOMAINS[1]}/a?b=1"


def test_a_second_apply_changes_nothing_and_orders_nothing(site, acme_server, idempotent):
    before = acme_server.orders()
    idempotent(site, site.pillar, "nginx")
    assert acme_server.orders() == before
    # Renewals are the timer's: twice a day, at a delay of its own on this box.
    timer = site.exec(
        "systemctl show certbot.timer -p ActiveState -p UnitFileState -p FixedRandomDelay"
    ).stdout
    assert set(timer.split()) == {"ActiveState=active", "UnitFileState=enabled", "FixedRandomDelay=yes"}


def test_a_tls_scan_from_a_peer_passes_with_the_issued_certificate(site, scanner):
    assert_strong_tls_only(*tls_offered(scanner, site, DOMAINS[0]))


def test_the_timers_unit_renews_and_nginx_serves_the_new_certificate_without_a_failed_request(
    site, peer, acme_server, request
):
    old = served(peer, site, DOMAINS[0])["cert"]
    before = acme_server.issued()
    make_due(site, "nginx")
    master = site.exec("cat /run/nginx.pid").stdout.strip()
    report = while_looping(peer, site, DOMAINS[0], lambda: renew_by_the_timers_unit(site))
    assert acme_server.issued() == before + 1
    new = served(peer, site, DOMAINS[0])
    assert new["verified"] and new["cert"].serial_number != old.serial_number
    figure(
        request,
        f"nginx: renewal by certbot.service, request loop: {report['ok']} ok, {report['failed']} failed",
    )
    assert report["failed"] == 0 and report["ok"] > 10, report
    assert len(report["certificates"]) == 2, report  # the old one, then the new one
    assert site.exec("cat /run/nginx.pid").stdout.strip() == master  # a reload, not a restart
    # The deploy hook set the next renewal from the new certificate's lifetime
    # (a third of pebble's five years), so the next run renews nothing.
    lifetime = new["cert"].not_valid_after_utc - new["cert"].not_valid_before_utc
    conf = site.exec(["cat", RENEWAL_CONF.format("nginx")]).stdout
    assert f"renew_before_expiry = {int(lifetime.total_seconds()) // 3} seconds" in conf
    assert renew_by_the_timers_unit(site).ok and acme_server.issued() == before + 1
    logged = site.exec("journalctl -t webstack-acme --no-pager -o cat").stdout
    serials = [int(m, 16) for m in re.findall(r"installed certificate serial=([0-9A-F]+) for ", logged)]
    assert serials[-1] == new["cert"].serial_number, logged


def test_a_failed_renewal_is_logged_to_syslog_and_the_certificate_keeps_serving(site, peer, acme_server):
    current = served(peer, site, DOMAINS[0])["cert"]
    make_due(site, "nginx")
    acme_server.disconnect()
    try:
        assert not renew_by_the_timers_unit(site).ok
    finally:
        acme_server.reconnect()
    errors = site.exec("journalctl -t webstack-acme -p err --no-pager -o cat").stdout
    assert "certificate renewal failed" in errors and "the current certificate keeps serving" in errors
    still = served(peer, site, DOMAINS[0])
    assert still["verified"] and still["cert"] == current


def test_a_new_domain_the_ca_cannot_validate_fails_saying_why_then_gets_a_certificate(
    site, peer, acme_server, idempotent
):
    domains = [*DOMAINS, "api.shop.test"]
    pillar = acme_pillar(acme_server, domains)
    current = served(peer, site, DOMAINS[0])["cert"]
    # The new name not yet pointed at the box: the CA refuses the order.
    res = site.apply(pillar, "nginx")
    failed = dict(res.failed)
    assert list(failed) == ["nginx-acme-certificate-is-issued"], res.explain()
    comment = failed["nginx-acme-certificate-is-issued"]
    assert "(it is for shop.test, www.shop.test)" in comment
    assert "Domain: api.shop.test Type: connection Detail:" in comment, comment
    assert f"keeps serving the current certificate (serial {current.serial_number:x}," in comment
    assert served(peer, site, DOMAINS[0])["cert"] == current
    # Pointed: the next apply gets a certificate with the new name too.
    acme_server.point(domains[-1:], site.ip())
    before = acme_server.orders()
    res = converge(site, pillar, "nginx")
    assert acme_server.orders() == before + 1
    change = res.by_id["nginx-acme-certificate-is-issued"]["changes"]["certificate"]
    assert change["old"]["names"] == DOMAINS and change["new"]["names"] == domains
    seen = served(peer, site, "api.shop.test")
    assert seen["verified"] and seen["names"] == domains
    idempotent(site, pillar, "nginx")
    assert acme_server.orders() == before + 1


# -- the balancer ------------------------------------------------------------------------


def test_the_balancer_gets_its_certificate_the_same_way(acme_balancer, peer, acme_server, idempotent):
    lb = acme_balancer
    seen = served(peer, lb, BALANCED_DOMAIN)
    assert seen["verified"] and seen["names"] == [BALANCED_DOMAIN], seen["error"]
    # The web host behind it, reached over https with that certificate.
    through = client(peer, "get", lb.ip(), "443", BALANCED_DOMAIN, "/via-balancer", ROOT_CA)
    assert through["status"] == 200 and json.loads(through["body"])["path"] == "/via-balancer"
    # One PEM (certificate, chain, key), private; the temporary pair's key file gone.
    pem = lb.exec("stat -c '%a %U' /etc/haproxy/tls/acme.pem && grep -c 'BEGIN' /etc/haproxy/tls/acme.pem")
    assert pem.stdout.split() == ["600", "root", "3"]
    assert lb.exec("ls /etc/haproxy/tls/acme.pem.key", check=False).rc != 0
    assert "PRIVATE KEY" not in json.dumps(lb.first.states)
    before = acme_server.orders()
    idempotent(lb, lb.pillar, "balancer")
    assert acme_server.orders() == before


def test_the_balancer_renews_under_the_timer_with_a_seamless_reload(acme_balancer, peer, request):
    lb = acme_balancer
    old = served(peer, lb, BALANCED_DOMAIN)["cert"]
    make_due(lb, "balancer")
    report = while_looping(peer, lb, BALANCED_DOMAIN, lambda: renew_by_the_timers_unit(lb))
    new = served(peer, lb, BALANCED_DOMAIN)
    figure(
        request,
        f"haproxy: renewal by certbot.service, request loop: {report['ok']} ok, {report['failed']} failed",
    )
    # `renew`, not `certonly`, ran the hook this time: it built haproxy's PEM again.
    assert new["verified"] and new["cert"].serial_number != old.serial_number
    assert report["failed"] == 0 and report["ok"] > 10 and len(report["certificates"]) == 2, report


# -- a CA out of reach at the first converge ----------------------------------------------


def test_with_the_ca_out_of_reach_the_first_converge_fails_clearly_then_the_next_apply_issues(
    boxes, peer, acme_server
):
    name = "late.shop.test"
    box = start_nginx_box(boxes, "acme-late")
    acme_server.point([name], box.ip())
    pillar = acme_pillar(acme_server, [name])
    acme_server.disconnect()
    try:
        res = box.apply(pillar, "nginx")
    finally:
        acme_server.reconnect()
    failed = dict(res.failed)
    assert list(failed) == ["nginx-acme-certificate-is-issued"], res.explain()
    comment = failed["nginx-acme-certificate-is-issued"]
    assert comment.startswith(f"No certificate for {name} from {acme_server.directory} (there is none yet): ")
    assert comment.endswith(
        "The site keeps serving the temporary self-signed certificate; the next apply tries again."
    )
    print(f"\nwhat the operator reads: {comment}")
    # nginx runs: the temporary certificate on 443, the challenge on 80.
    temporary = served(peer, box, name)
    assert not temporary["verified"] and temporary["names"] == [name]
    box.exec("install -d /var/lib/webstack/acme-challenge/.well-known/acme-challenge")
    box.put_file("/var/lib/webstack/acme-challenge/.well-known/acme-challenge/probe", "token-answer")
    answer = client(peer, "get", box.ip(), "80", name, "/.well-known/acme-challenge/probe")
    assert answer["status"] == 200 and answer["body"] == "token-answer"
    # The CA back: the next apply gets the certificate.
    converge(box, pillar, "nginx")
    issued = served(peer, box, name)
    assert issued["verified"] and issued["names"] == [name]
    assert box.salt_call("certbot.lineage", "webstack-nginx", pillar_root=TEST_PILLAR_ROOT).ok
