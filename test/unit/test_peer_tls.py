"""TLS between boxes: the fleet CA that the master's ext_pillar
(_pillar/webstack.py) makes and hands out with each minion's pillar (and a
server certificate to the boxes that serve peers), the `webstack:peer_tls`
pillar's checks, and the settings' files."""

import datetime
import ipaddress
import os
import shutil
import stat
from pathlib import Path

import pytest
from conftest import load_pillar, with_settings
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DB = {
    "roles": ["db"],
    "fqdn": "db1.shop.internal",
    "ipv4": ["127.0.0.1", "10.0.0.20"],
    "ipv6": ["::1", "fe80::5054:ff:fe12:3456", "fd00::20"],
}


@pytest.fixture
def ca_dir(tmp_path):
    return tmp_path / "pki" / "webstack-peer-ca"


def _peer_tls(ext_pillar_for, grains, minion_id="db1", pillar=None):
    added = ext_pillar_for(grains)(minion_id, pillar or load_pillar("minimal"))
    return added["webstack"]["peer_tls"]


def _cert(text):
    return x509.load_pem_x509_certificate(text.encode())


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _alt_names(cert):
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def test_the_ca_is_made_once_and_kept_across_calls_and_loaders(ext_pillar_for, ca_dir):
    first = _peer_tls(ext_pillar_for, {"roles": ["web"]}, "web1")
    ext_pillar = ext_pillar_for({"roles": ["web"]})
    again = [ext_pillar(minion, load_pillar("minimal")) for minion in ("web1", "web2")]
    assert [added["webstack"]["peer_tls"] for added in again] == [first, first] == [{"ca": first["ca"]}] * 2
    assert (ca_dir / "ca.pem").read_text() == first["ca"]
    assert (_mode(ca_dir), _mode(ca_dir / "ca.key")) == (0o700, 0o600)
    ca = _cert(first["ca"])
    assert isinstance(ca.public_key().curve, ec.SECP256R1)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value == x509.BasicConstraints(
        ca=True, path_length=0
    )
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days >= 3650
    assert sorted(p.name for p in ca_dir.iterdir()) == ["ca.key", "ca.pem"], "no temporary file left"


def test_of_workers_making_the_ca_at_once_each_hands_out_the_first_ones(ext_pillar_for, ca_dir, monkeypatch):
    first = _peer_tls(ext_pillar_for, {"roles": ["web"]}, "web1")["ca"]
    made = {name: (ca_dir / name).read_text() for name in ("ca.key", "ca.pem")}
    shutil.rmtree(ca_dir)
    link = os.link

    def another_worker_first(source, target):
        Path(target).write_text(made[Path(target).name])
        link(source, target)

    # Each file is made here, then found there by the time it is linked.
    monkeypatch.setattr(os, "link", another_worker_first)
    assert _peer_tls(ext_pillar_for, {"roles": ["web"]}, "web1")["ca"] == first
    assert {name: (ca_dir / name).read_text() for name in made} == made
    assert sorted(p.name for p in ca_dir.iterdir()) == ["ca.key", "ca.pem"]


def test_a_box_serving_peers_gets_a_certificate_the_ca_signed_for_its_addresses(ext_pillar_for, ca_dir):
    peer_tls = _peer_tls(ext_pillar_for, DB)
    ca, cert = _cert(peer_tls["ca"]), _cert(peer_tls["certificate"])
    cert.verify_directly_issued_by(ca)
    key = serialization.load_pem_private_key(peer_tls["key"].encode(), password=None)
    assert key.public_key() == cert.public_key()
    names = _alt_names(cert)
    # Neither loopback nor link-local: no other box reaches it there.
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("10.0.0.20"),
        ipaddress.ip_address("fd00::20"),
    }
    assert set(names.get_values_for_type(x509.DNSName)) == {"db1", "db1.shop.internal"}
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "db1"
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    issued = ca_dir / "issued"
    assert (issued / "db1.pem").read_text() == peer_tls["certificate"]
    assert (_mode(issued / "db1.key"), _mode(issued / "db1.pem")) == (0o600, 0o600)
    # Kept while it fits.
    assert _peer_tls(ext_pillar_for, DB) == peer_tls


def test_a_box_serving_no_peers_gets_only_the_ca(ext_pillar_for, ca_dir):
    assert list(_peer_tls(ext_pillar_for, {**DB, "roles": ["web"]}, "web1")) == ["ca"]
    assert not (ca_dir / "issued" / "web1.pem").exists()


def test_the_roles_of_the_pillar_count_too(ext_pillar_for):
    pillar = with_settings(load_pillar("minimal"), roles=["db"])
    assert "certificate" in _peer_tls(ext_pillar_for, {**DB, "roles": []}, pillar=pillar)


def test_new_addresses_get_a_new_certificate_and_key(ext_pillar_for):
    before = _peer_tls(ext_pillar_for, DB)
    after = _peer_tls(ext_pillar_for, {**DB, "ipv4": ["10.0.0.21"]})
    assert after["ca"] == before["ca"]
    assert after["certificate"] != before["certificate"] and after["key"] != before["key"]
    assert _alt_names(_cert(after["certificate"])).get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.21"),
        ipaddress.ip_address("fd00::20"),
    ]


def _sign(cert, issuer_name, signing_key, not_before, not_after):
    """`cert` made again with another issuer, signer or validity (same subject, key and names)."""
    return (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(issuer_name)
        .public_key(cert.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(_alt_names(cert), critical=False)
        .sign(signing_key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )


def test_a_certificate_near_its_end_or_from_another_ca_is_issued_anew(ext_pillar_for, ca_dir):
    first = _peer_tls(ext_pillar_for, DB)
    cert, kept = _cert(first["certificate"]), ca_dir / "issued" / "db1.pem"
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
    now = datetime.datetime.now(datetime.UTC)
    day = datetime.timedelta(days=1)
    # A fifth of its lifetime left; then signed by a CA of the same name
    # with another key (a rotated CA).
    near_end = _sign(cert, cert.issuer, ca_key, now - 80 * day, now + 20 * day)
    other_ca = _sign(cert, cert.issuer, ec.generate_private_key(ec.SECP256R1()), now - day, now + 700 * day)
    for stale in (near_end, other_ca):
        kept.write_text(stale)
        renewed = _peer_tls(ext_pillar_for, DB)
        assert renewed["certificate"] not in (stale, first["certificate"]) and renewed["key"] != first["key"]
        _cert(renewed["certificate"]).verify_directly_issued_by(_cert(first["ca"]))
        first = renewed
    # Half its lifetime left: kept.
    half = _sign(_cert(first["certificate"]), cert.issuer, ca_key, now - 50 * day, now + 50 * day)
    kept.write_text(half)
    assert _peer_tls(ext_pillar_for, DB)["certificate"] == half


def test_a_pillar_giving_its_own_ca_gets_nothing_from_the_master(ext_pillar_for, tmp_path):
    assert ext_pillar_for(DB)("db1", load_pillar("peer_tls")) == {}
    assert not (tmp_path / "pki").exists()


def test_a_bad_pillar_gets_its_problems_alone(ext_pillar_for, tmp_path):
    bad = with_settings(load_pillar("minimal"), peer_tls={"ca": "not PEM"})
    assert ext_pillar_for(DB)("db1", bad) == {
        "_errors": [
            "webstack:peer_tls:ca: is not PEM text of a certificate (-----BEGIN CERTIFICATE----- ...)"
        ],
    }
    assert not (tmp_path / "pki").exists()


# -- the pillar's checks and the settings (webstack.validate, webstack.settings) --------

CA = load_pillar("peer_tls")["webstack"]["peer_tls"]


@pytest.fixture
def validate(salt_loader):
    fn = salt_loader().salt["webstack.validate"]

    def run(roles, **peer_tls):
        return fn(with_settings(load_pillar("minimal"), peer_tls=peer_tls), {"roles": roles})

    return run


@pytest.mark.parametrize(
    "peer_tls, message",
    [
        ({"ca": "MIIB"}, "webstack:peer_tls:ca: is not PEM text of a certificate"),
        ({"certificate": "-----BEGIN CERTIFICATE-----\n"}, "webstack:peer_tls:certificate: is not PEM text"),
        (
            {"key": "-----BEGIN ENCRYPTED PRIVATE KEY-----\nSECRET\n-----END ENCRYPTED PRIVATE KEY-----\n"},
            "webstack:peer_tls:key: is not PEM text of an unencrypted private key",
        ),
        ({"key": "SECRET"}, "webstack:peer_tls:key: is not PEM text of an unencrypted private key"),
        ({"ca": 42}, "webstack:peer_tls:ca: 42 is not of type 'string', 'null'"),
    ],
)
def test_what_is_not_pem_is_refused_naming_the_key_not_repeating_it(validate, peer_tls, message):
    errors = validate(["web"], **peer_tls)
    assert len(errors) == 1 and errors[0].startswith(message), errors
    assert "SECRET" not in errors[0] and "MIIB" not in errors[0]


@pytest.mark.parametrize(
    "roles, given, problems",
    [
        (["web"], ["ca"], []),
        (["web", "db"], ["ca", "certificate", "key"], []),
        (
            ["web"],
            ["ca", "certificate"],
            ["webstack:peer_tls:key: is required with webstack:peer_tls:certificate"],
        ),
        (["web"], ["key"], ["webstack:peer_tls:certificate: is required with webstack:peer_tls:key"]),
        (
            ["web"],
            ["certificate", "key"],
            ["webstack:peer_tls:ca: is required with webstack:peer_tls:certificate"],
        ),
    ],
)
def test_what_goes_together_is_given_together(validate, roles, given, problems):
    assert validate(roles, **{name: CA[name] for name in given}) == problems


def test_the_settings_name_the_ca_file_when_a_ca_is_given(salt_loader):
    def settings(pillar):
        ldr = salt_loader(fakes={"mine.get": lambda *a, **kw: {}}, pillar=pillar, grains={"roles": []})
        return ldr.salt["webstack.settings"]()["peer_tls"]

    on = settings(load_pillar("peer_tls"))
    assert on == dict(CA, enabled=True, dir="/etc/webstack/peer-tls", ca_file="/etc/webstack/peer-tls/ca.pem")
    assert settings(load_pillar("minimal"))["enabled"] is False
