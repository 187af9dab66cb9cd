"""The certbot module and states through Salt's loader: what a lineage holds
(read from a made-up /etc/letsencrypt), and when certbot is asked for a
certificate (only when none fits), with certbot itself faked."""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SERVER = "https://acme.test/dir"
DOMAINS = ["shop.test", "www.shop.test"]
CERTONLY = ["certonly", "--cert-name", "webstack-nginx", "--domain", "shop.test", "--domain", "www.shop.test"]
DEPLOY = [
    {"path": "/etc/nginx/tls/acme.crt", "sources": ["/etc/letsencrypt/live/webstack-nginx/fullchain.pem"]}
]
REFUSED = {
    "retcode": 1,
    "stdout": "",
    "stderr": "Saving debug log to /var/log/letsencrypt/letsencrypt.log\nAn unexpected error occurred:\n"
    "ValueError: Requesting acme.test/dir: Connection refused\n"
    "Ask for help or search for solutions at https://community.letsencrypt.org.",
}


def lineage(names=DOMAINS, server=SERVER, key="ecdsa", days=90):
    end = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)
    return {
        "names": list(names),
        "serial": "1a2b",
        "issuer": "CN=Pebble Intermediate CA",
        "not_before": "2026-01-01T00:00:00+00:00",
        "not_after": end.isoformat(),
        "key": key,
        "server": server,
        "renew_after": None,
    }


class Certbot:
    """`certbot.lineage`, `certbot.served` and `cmd.run_all` of a box whose certbot answers `answer`."""

    def __init__(self, before, after=None, served=True, answer=None):
        self.now, self.after, self.is_served = before, after, served
        self.answer = answer or {"retcode": 0, "stdout": "Successfully received certificate.", "stderr": ""}
        self.calls = []

    def fakes(self):
        return {"certbot.lineage": self.lineage, "certbot.served": self.served, "cmd.run_all": self.run}

    def lineage(self, name):
        assert name == "webstack-nginx"
        return self.now

    def served(self, deploy):
        assert deploy == DEPLOY
        return self.is_served

    def run(self, cmd, env=None, **kwargs):
        self.calls.append((cmd, env))
        if self.answer["retcode"] == 0:
            self.now, self.is_served = self.after, True
        return self.answer


def issue(salt_loader, certbot, test=False):
    ldr = salt_loader(fakes=certbot.fakes(), test=test)
    return ldr.states["certbot.certificate_issued"](
        "webstack-nginx",
        domains=DOMAINS,
        server=SERVER,
        key="ecdsa",
        certonly=CERTONLY,
        hook="/etc/letsencrypt/webstack/deploy-nginx",
        deploy=DEPLOY,
        env={"REQUESTS_CA_BUNDLE": "/etc/letsencrypt/webstack/directory-ca.pem"},
    )


def test_a_valid_certificate_for_the_names_is_never_ordered_again(salt_loader):
    certbot = Certbot(lineage())
    for test in (False, True):
        ret = issue(salt_loader, certbot, test=test)
        assert ret["result"] is True and ret["changes"] == {}, ret
    assert certbot.calls == []
    assert "certbot's timer renews it" in ret["comment"]


def test_the_first_certificate_is_ordered_with_the_ca_bundle(salt_loader):
    certbot = Certbot(None, after=lineage())
    dry = issue(salt_loader, Certbot(None), test=True)
    assert (
        dry["result"] is None
        and "would be ordered from https://acme.test/dir (there is none yet)" in dry["comment"]
    )
    ret = issue(salt_loader, certbot)
    assert ret["result"] is True, ret
    (cmd, env), *more = certbot.calls
    assert not more and cmd == ["certbot", *CERTONLY]
    assert env == {"REQUESTS_CA_BUNDLE": "/etc/letsencrypt/webstack/directory-ca.pem"}
    assert ret["changes"]["certificate"]["old"] is None
    assert ret["changes"]["certificate"]["new"]["names"] == DOMAINS


@pytest.mark.parametrize(
    "have, why",
    [
        (lineage(names=DOMAINS[:1]), "it is for shop.test"),
        (lineage(server="https://other.test/dir"), "it came from https://other.test/dir"),
        (lineage(key="rsa-2048"), "its key is rsa-2048, not ecdsa"),
        (lineage(days=-1), "it expired on"),
    ],
    ids=["a-name-more", "another-ca", "another-key", "expired"],
)
def test_a_certificate_that_does_not_fit_is_replaced_in_its_lineage(salt_loader, have, why):
    certbot = Certbot(have, after=lineage())
    ret = issue(salt_loader, certbot)
    assert ret["result"] is True and why in ret["comment"], ret
    # --force-renewal: certbot would otherwise find the lineage "not yet due".
    assert certbot.calls[0][0] == ["certbot", *CERTONLY, "--force-renewal"]
    assert ret["changes"]["certificate"]["old"]["serial"] == "1a2b"


def test_a_ca_out_of_reach_fails_saying_why_and_what_keeps_serving(salt_loader):
    ret = issue(salt_loader, Certbot(None, answer=REFUSED))
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"] == (
        "No certificate for shop.test, www.shop.test from https://acme.test/dir (there is none yet):"
        " An unexpected error occurred: ValueError: Requesting acme.test/dir: Connection refused"
        " The site keeps serving the temporary self-signed certificate; the next apply tries again."
    )
    have = lineage(names=DOMAINS[:1])
    ret = issue(salt_loader, Certbot(have, answer=REFUSED))
    assert (
        f"keeps serving the current certificate (serial 1a2b, valid until {have['not_after']})"
        in ret["comment"]
    )


def test_served_files_that_are_not_the_lineages_are_written_by_the_hook(salt_loader):
    certbot = Certbot(lineage(), served=False)
    dry = issue(salt_loader, certbot, test=True)
    assert dry["result"] is None and dry["changes"] == {"deployed": ["/etc/nginx/tls/acme.crt"]}
    ret = issue(salt_loader, certbot)
    assert ret["result"] is True and ret["changes"] == {"deployed": ["/etc/nginx/tls/acme.crt"]}
    (cmd, env), *more = certbot.calls
    assert not more and cmd == ["/etc/letsencrypt/webstack/deploy-nginx"]
    assert env["RENEWED_LINEAGE"] == "/etc/letsencrypt/live/webstack-nginx"


def test_lineage_absent_deletes_what_acme_left(salt_loader, tmp_path):
    hook = tmp_path / "deploy-nginx"
    hook.write_text("#!/bin/sh\n")
    certbot = Certbot(lineage())
    ldr = salt_loader(fakes=certbot.fakes())
    ret = ldr.states["certbot.lineage_absent"]("webstack-nginx", hook=str(hook))
    assert ret["result"] is True and ret["changes"] == {"removed": ["webstack-nginx", str(hook)]}
    assert certbot.calls[0][0] == ["certbot", "delete", "--non-interactive", "--cert-name", "webstack-nginx"]
    assert not hook.exists()
    certbot.now = None
    again = ldr.states["certbot.lineage_absent"]("webstack-nginx", hook=str(hook))
    assert again["result"] is True and again["changes"] == {}


def test_lineage_reads_the_certificate_and_certbots_settings(salt_loader, tmp_path, monkeypatch):
    live = tmp_path / "live" / "webstack-nginx"
    live.mkdir(parents=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Pebble Intermediate CA")])
    start = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(0xABC)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in DOMAINS]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (live / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "renewal").mkdir()
    (tmp_path / "renewal" / "webstack-nginx.conf").write_text(
        f"renew_before_expiry = {30 * 86400} seconds\nversion = 2.1.0\n\n[renewalparams]\nserver = {SERVER}\n"
    )
    read = salt_loader().salt["certbot.lineage"]
    monkeypatch.setitem(read.__globals__, "LETSENCRYPT", str(tmp_path))
    assert read("webstack-nginx") == {
        "names": DOMAINS,
        "serial": "abc",
        "issuer": "CN=Pebble Intermediate CA",
        "not_before": "2026-12-01T00:00:00+00:00",
        "not_after": "2027-03-01T00:00:00+00:00",
        "key": "ecdsa",
        "server": SERVER,
        "renew_after": "2027-01-30T00:00:00+00:00",
    }
    assert read("another") is None
