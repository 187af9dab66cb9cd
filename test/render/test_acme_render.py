"""ACME certificates (`<component>:tls:acme`) as the SLS and configs render
them: what certbot is told, what its deploy hook does, how the challenge
reaches certbot before the https redirect, and what happens without ACME."""

import datetime
import json
import os
import subprocess
from pathlib import Path

import jinja2
import pytest
from conftest import OS_GRAINS, load_pillar, with_settings
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_nginx_render import args, config

ACME = {"enabled": True, "email": "ops@shop.test", "directory": "https://acme.test:14000/dir"}
CA = "-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n"


def nginx_pillar(**acme):
    return with_settings(
        load_pillar("minimal"),
        project={"domains": ["shop.test", "www.shop.test"]},
        nginx={"tls": {"enabled": True, "acme": {**ACME, **acme}}},
    )


def options(argv):
    """certbot's `--flag value` pairs (the last value of a repeated flag)."""
    return dict(zip(argv, argv[1:], strict=False))


def nginx_high(render, pillar, os_name="debian-12"):
    return render(os_name, pillar, "nginx", roles=[])


def test_nginx_asks_certbot_for_the_site_names_through_its_webroot(render):
    high = nginx_high(render, nginx_pillar(ca_bundle=CA))
    issued = args(high, "nginx-acme-certificate-is-issued")
    assert issued["name"] == "webstack-nginx"
    assert issued["domains"] == ["shop.test", "www.shop.test"]
    assert issued["server"] == ACME["directory"] and issued["key"] == "ecdsa"
    certonly = issued["certonly"]
    assert certonly[:3] == ["certonly", "--non-interactive", "--agree-tos"]
    pairs = options(certonly)
    assert pairs["--email"] == "ops@shop.test" and pairs["--server"] == ACME["directory"]
    assert pairs["--key-type"] == "ecdsa" and pairs["--elliptic-curve"] == "secp256r1"
    assert pairs["--webroot-path"] == "/var/lib/webstack/acme-challenge"
    assert pairs["--deploy-hook"] == issued["hook"] == "/etc/letsencrypt/webstack/deploy-nginx"
    assert [v for k, v in zip(certonly, certonly[1:], strict=False) if k == "--domain"] == [
        "shop.test",
        "www.shop.test",
    ]
    assert issued["deploy"] == [
        {
            "path": "/etc/nginx/tls/acme.crt",
            "sources": ["/etc/letsencrypt/live/webstack-nginx/fullchain.pem"],
        },
        {"path": "/etc/nginx/tls/acme.key", "sources": ["/etc/letsencrypt/live/webstack-nginx/privkey.pem"]},
    ]
    # A private CA is trusted by certbot only, both here and in its timer's runs.
    assert issued["env"] == {"REQUESTS_CA_BUNDLE": "/etc/letsencrypt/webstack/directory-ca.pem"}
    assert args(high, "nginx-acme-directory-ca-is-trusted")["contents"] == CA
    dropin = args(high, "nginx-certbot-renews-quietly-and-logs-failures")["contents"]
    assert "Environment=REQUESTS_CA_BUNDLE=/etc/letsencrypt/webstack/directory-ca.pem" in dropin
    assert "--no-random-sleep-on-renew" in dropin and "logger -p daemon.err -t webstack-acme" in dropin
    assert (
        "FixedRandomDelay=true" in args(high, "nginx-certbot-timer-fires-at-a-moment-of-its-own")["contents"]
    )
    # Issued once nginx serves the challenge, with the hook in place.
    assert {"service": "nginx-runs-and-reloads-on-changes"} in issued["require"]
    assert {"file": "nginx-acme-deploy-hook-is-installed"} in issued["require"]


@pytest.mark.parametrize("os_name", sorted(OS_GRAINS))
def test_nginx_serves_the_challenge_and_a_temporary_certificate_until_the_first(render, os_name):
    high = nginx_high(render, nginx_pillar(), os_name)
    files, a = config(high)
    site = files["sites-available/webstack-site.conf"]
    plain = site[: site.index("listen 443")]
    # On port 80, before the redirect to https.
    assert "location ^~ /.well-known/acme-challenge/ {" in plain
    assert "root /var/lib/webstack/acme-challenge;" in plain
    assert plain.index("acme-challenge") < plain.index("return 301 https://$host$request_uri;")
    assert "ssl_certificate tls/acme.crt;" in site and "ssl_certificate_key tls/acme.key;" in site
    # Self-signed at the served paths, only while nothing is there.
    key, cert = (
        args(high, "nginx-self-signed-key-exists"),
        args(high, "nginx-self-signed-certificate-names-the-site"),
    )
    assert key["name"] == "/etc/nginx/tls/acme.key" and cert["name"] == "/etc/nginx/tls/acme.crt"
    assert key["creates"] == cert["creates"] == "/etc/nginx/tls/acme.crt"
    assert "tls/selfsigned.crt" in a["absent"] and "tls/acme.crt" not in a["absent"]
    assert "nginx-acme-directory-ca-is-trusted" not in high  # the system's CAs
    assert args(high, "nginx-acme-certificate-is-issued")["env"] == {}
    assert "certbot" in args(high, "nginx-package-is-installed")["pkgs"]


def test_rsa_keys_on_request(render):
    high = nginx_high(render, nginx_pillar(key_type="rsa", rsa_key_size=3072))
    issued = args(high, "nginx-acme-certificate-is-issued")
    pairs = options(issued["certonly"])
    assert pairs["--key-type"] == "rsa" and pairs["--rsa-key-size"] == "3072" and issued["key"] == "rsa-3072"


def test_without_acme_no_certbot_and_no_lineage_left_to_renew(render):
    pillar = with_settings(nginx_pillar(), nginx={"tls": {"self_signed": True, "acme": {"enabled": False}}})
    high = nginx_high(render, pillar)
    assert "nginx-acme-certificate-is-issued" not in high
    absent = args(high, "nginx-acme-lineage-is-absent")
    assert (absent["name"], absent["hook"]) == ("webstack-nginx", "/etc/letsencrypt/webstack/deploy-nginx")
    assert "certbot" not in args(high, "nginx-package-is-installed")["pkgs"]
    site = config(high)[0]["sites-available/webstack-site.conf"]
    assert "acme-challenge" not in site


@pytest.mark.parametrize("days, before", [(90, 30 * 86400), (6, 3 * 86400)], ids=["90-days", "6-days"])
def test_the_deploy_hook_installs_sets_the_renewal_and_reloads(render, tmp_path, days, before):
    """The hook as rendered, run by sh on a lineage made here (paths moved
    under tmp_path; systemctl and logger stand-ins record their calls)."""
    hook = args(nginx_high(render, nginx_pillar()), "nginx-acme-deploy-hook-is-installed")
    assert hook["source"] == "salt://tls-acme-hook.sh.jinja" and hook["mode"] == "0700"
    acme = hook["context"]["acme"]
    moved = json.loads(json.dumps(acme).replace("/etc/", f"{tmp_path}/etc/"))
    live = Path(moved["live"])
    live.mkdir(parents=True)
    cert, key = make_cert(days)
    (live / "cert.pem").write_text(cert)
    (live / "fullchain.pem").write_text(cert + "CHAIN\n")
    (live / "privkey.pem").write_text(key)
    conf = Path(moved["renewal_conf"])
    conf.parent.mkdir(parents=True)
    conf.write_text("renew_before_expiry = 1 seconds\nversion = 2.1.0\n[renewalparams]\nkey_type = ecdsa\n")
    Path(f"{tmp_path}/etc/nginx/tls").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("systemctl", "logger"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {tmp_path}/calls\n')
        (bin_dir / tool).chmod(0o755)
    template = (Path(__file__).parents[2] / "salt/states/tls-acme-hook.sh.jinja").read_text()
    script = tmp_path / "hook"
    script.write_text(jinja2.Template(template).render(component="nginx", acme=moved))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    subprocess.run(["sh", str(script)], check=True, env=env)
    assert Path(f"{tmp_path}/etc/nginx/tls/acme.crt").read_text() == cert + "CHAIN\n"
    assert Path(f"{tmp_path}/etc/nginx/tls/acme.key").read_text() == key
    assert oct(Path(f"{tmp_path}/etc/nginx/tls/acme.key").stat().st_mode)[-3:] == "600"
    # A third of the lifetime before it ends (half for short-lived), set once.
    assert conf.read_text().splitlines()[:2] == [f"renew_before_expiry = {before} seconds", "version = 2.1.0"]
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[:2] == ["systemctl -q is-active nginx", "systemctl reload nginx"]
    assert calls[2].startswith("logger -t webstack-acme nginx: installed certificate serial=")


def make_cert(days):
    """(certificate, key) PEM, self-signed, valid for `days` from now."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shop.test")])
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )
