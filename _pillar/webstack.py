"""
The `webstack` pillar checked on the master as soon as it has compiled a
minion's pillar (an ext_pillar: etc/salt/master.d/webstack.conf; salt-ssh
uses it too), and the fleet's CA handed out with it.

A bad one puts one line per problem, each naming its key, in Salt's own
`_errors`: the minion refuses every state run (a highstate or one state)
before it renders or changes anything, and its return is Salt's header line
and these (the master's _output/highstate.py prints them one per line after
the minion's name). Without it, each SLS would fail its own render with the
same problems and a page of template context. (Masterless, salt-call stops at the first render
with the problems alone on stderr: webstack.settings.)

A good one that gives no `webstack:peer_tls:ca` of its own gets the fleet's
CA, which every box trusts for connections between boxes, and when the
minion applies a component whose component.yaml says `peer_tls: true`, a
server certificate and key from it (Salt merges them into the pillar). The
CA is made on first use in ``<pki_dir>/webstack-peer-ca/`` of the master
(or the salt-ssh host): ca.key, ca.pem; delete the directory to rotate it.
Each minion's certificate is kept in its ``issued/`` folder, and issued
anew (with a new key) when the minion's addresses or names change, when a
third of its lifetime is left, or when another CA signed it.
"""

import datetime
import ipaddress
import os
import re
import tempfile
from contextlib import suppress

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DIR = "webstack-peer-ca"
CA_LIFETIME = datetime.timedelta(days=3652)
LIFETIME = datetime.timedelta(days=730)
# Minutes of slack for clocks behind the master's.
BACKDATE = datetime.timedelta(minutes=5)
# A DNS name, its last label not all digits (so no IPv4 address).
_NAME = re.compile(r"^((?!-)[A-Za-z0-9-]{1,63}(?<!-)\.)*(?=[0-9-]*[A-Za-z])(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def ext_pillar(minion_id, pillar, *args, **kwargs):
    """
    {"_errors": [...]} when the `webstack` pillar is bad; else the fleet's
    CA (and this minion's server certificate) unless the pillar gives its
    own; nothing for boxes without one.
    """
    if "webstack" not in pillar:
        return {}
    problems = __salt__["webstack.validate"](pillar, __grains__)
    if problems:
        return {"_errors": problems}
    if (pillar["webstack"].get("peer_tls") or {}).get("ca"):
        return {}
    directory = os.path.join(__opts__["pki_dir"], CA_DIR)
    ca_key, ca_cert = _ca(directory)
    peer_tls = {"ca": _pem(ca_cert)}
    declared = __salt__["webstack.declarations"]()
    applied = __salt__["webstack.components"](__salt__["webstack.roles"](__grains__, pillar))
    if any(declared[component].get("peer_tls") for component in applied):
        peer_tls["certificate"], peer_tls["key"] = _issued(directory, minion_id, ca_key, ca_cert)
    return {"webstack": {"peer_tls": peer_tls}}


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _write(path, text, mode, replace):
    """
    `text` at `path` whole or not at all: written to a temporary file beside
    it, then renamed over it (`replace`), or linked there, which raises
    FileExistsError when another process got there first.
    """
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".new-")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(temporary)


def _once(path, make, mode):
    """
    The text at `path`, made by `make()` when absent: of processes making it
    at once, the first wins and the others read its.
    """
    with suppress(FileNotFoundError), open(path) as existing:
        return existing.read()
    text = make()
    try:
        _write(path, text, mode, replace=False)
    except FileExistsError:
        with open(path) as existing:
            return existing.read()
    return text


def _now():
    return datetime.datetime.now(datetime.UTC)


def _ca(directory):
    """The fleet CA's key and certificate, made at first use (master workers compile pillars at once)."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    key_text = _once(
        os.path.join(directory, "ca.key"), lambda: _key_pem(ec.generate_private_key(ec.SECP256R1())), 0o600
    )
    key = serialization.load_pem_private_key(key_text.encode(), password=None)
    cert_text = _once(os.path.join(directory, "ca.pem"), lambda: _pem(_ca_certificate(key)), 0o644)
    return key, x509.load_pem_x509_certificate(cert_text.encode())


def _ca_certificate(key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webstack peer CA")])
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        # It signs the boxes' certificates, and no other CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage("key_cert_sign", "crl_sign"), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _key_usage(*granted):
    """An X.509 key usage granting the uses named, and no other."""
    uses = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{use: use in granted for use in uses})


def _alt_names(minion_id):
    """
    What peers may call the minion: its addresses (grains ipv4, ipv6) but
    loopback and link-local ones, which no other box reaches it by, and its
    id and fqdn when they are DNS names.
    """
    addresses = set()
    for value in [*(__grains__.get("ipv4") or []), *(__grains__.get("ipv6") or [])]:
        with suppress(ValueError):
            address = ipaddress.ip_address(value)
            if not (address.is_loopback or address.is_link_local):
                addresses.add(address)
    # localhost: every box's own name for itself.
    names = {
        name
        for name in (minion_id, __grains__.get("fqdn"))
        if isinstance(name, str) and _NAME.match(name) and name != "localhost"
    }
    return {x509.DNSName(name) for name in names} | {x509.IPAddress(address) for address in addresses}


def _issued(directory, minion_id, ca_key, ca_cert):
    """The minion's server certificate and key (PEM), kept while they fit, issued anew when not."""
    folder = os.path.join(directory, "issued")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    cert_path, key_path = (os.path.join(folder, f"{minion_id}.{ext}") for ext in ("pem", "key"))
    alt_names = _alt_names(minion_id)
    with suppress(FileNotFoundError, ValueError):
        with open(cert_path) as cert_file, open(key_path) as key_file:
            cert_text, key_text = cert_file.read(), key_file.read()
        cert = x509.load_pem_x509_certificate(cert_text.encode())
        key = serialization.load_pem_private_key(key_text.encode(), password=None)
        if _fits(cert, key, ca_cert, alt_names):
            return cert_text, key_text
    key = ec.generate_private_key(ec.SECP256R1())
    cert_text, key_text = _pem(_server_certificate(minion_id, key, alt_names, ca_key, ca_cert)), _key_pem(key)
    # Another worker issuing at once may pair its key with this certificate
    # on disk: _fits then fails on the key, and the next call issues again.
    _write(key_path, key_text, 0o600, replace=True)
    _write(cert_path, cert_text, 0o600, replace=True)
    return cert_text, key_text


def _fits(cert, key, ca_cert, alt_names):
    """
    Whether a kept certificate still serves: signed by this CA, for these
    names, with this key, and a third of its lifetime left.
    """
    try:
        cert.verify_directly_issued_by(ca_cert)
        current = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    return (
        set(current) == alt_names
        and key.public_key() == cert.public_key()
        and cert.not_valid_after_utc - _now() > lifetime / 3
    )


def _server_certificate(minion_id, key, alt_names, ca_key, ca_cert):
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, minion_id)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # ECDHE: the key only signs the handshake.
        .add_extension(_key_usage("digital_signature"), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(sorted(alt_names, key=lambda n: (type(n).__name__, str(n.value)))),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
