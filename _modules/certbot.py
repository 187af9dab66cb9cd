"""
The certificates certbot gets for webstack (``<component>:tls:acme``): what
a lineage holds, read from what certbot keeps under /etc/letsencrypt.

certbot (Debian's package) does the ACME work, and its own timer renews;
the ``certbot`` state (``_states/certbot.py``) asks it for a certificate
only when there is none for the wanted names, CA and key. The README says
why this is not saltext-acme's ``acme.cert``.
"""

import datetime
import os
import re

from salt.exceptions import CommandExecutionError

LETSENCRYPT = "/etc/letsencrypt"

# certbot's `renew_before_expiry` units (what its deploy hook writes: seconds).
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}


def _renewal_settings(name):
    """The `key = value` lines of the lineage's renewal file: top level and [renewalparams]."""
    path = f"{LETSENCRYPT}/renewal/{name}.conf"
    top, params, section = {}, {}, None
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line.startswith("["):
                    section = line.strip("[]")
                elif "=" in line and not line.startswith("#"):
                    key, value = (part.strip() for part in line.split("=", 1))
                    if section is None:
                        top[key] = value
                    elif section == "renewalparams":
                        params[key] = value
    except FileNotFoundError:
        pass
    return top, params


def _interval(text):
    """Seconds of a `renew_before_expiry` like "2592000 seconds" or "30 days"; None if not of that form."""
    match = re.fullmatch(r"(\d+)\s*(second|minute|hour|day|week)s?", (text or "").strip())
    return int(match.group(1)) * _UNITS[match.group(2)] if match else None


def _key(certificate):
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    public = certificate.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        return "ecdsa" if public.curve.name == "secp256r1" else f"ecdsa-{public.curve.name}"
    if isinstance(public, rsa.RSAPublicKey):
        return f"rsa-{public.key_size}"
    return type(public).__name__


def lineage(name):
    """
    What certbot's lineage `name` holds (webstack's are ``webstack-<component>``):
    the certificate's ``names``, ``serial`` (hex), ``issuer``, ``not_before``,
    ``not_after``, ``key`` (ecdsa or rsa-<bits>), the ``server`` (ACME
    directory) it came from and ``renew_after``, when certbot's timer renews
    it (the deploy hook sets it from the certificate's lifetime). None when
    there is no such lineage.

    CLI Example: ``salt-call certbot.lineage webstack-nginx``
    """
    path = f"{LETSENCRYPT}/live/{name}/cert.pem"
    try:
        with open(path, "rb") as f:
            pem = f.read()
    except FileNotFoundError:
        return None
    # Only with a lineage: a box that never used ACME (a salt-ssh target's
    # thin Salt among them) needs no cryptography to say it has none.
    from cryptography import x509

    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise CommandExecutionError(f"{path}: not a certificate ({exc})") from exc
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = sans.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    top, params = _renewal_settings(name)
    not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    before = _interval(top.get("renew_before_expiry"))
    return {
        "names": names,
        "serial": f"{certificate.serial_number:x}",
        "issuer": certificate.issuer.rfc4514_string(),
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "key": _key(certificate),
        "server": params.get("server"),
        "renew_after": (not_after - datetime.timedelta(seconds=before)).isoformat() if before else None,
    }


def served(deploy):
    """
    Whether each file of `deploy` (``[{"path": ..., "sources": [...]}]``, the
    settings' ``tls:acme:deploy``) holds its lineage files, joined: what the
    deploy hook writes.

    CLI Example: ``salt-call certbot.served '[{"path": "/etc/nginx/tls/acme.crt",
    "sources": ["/etc/letsencrypt/live/webstack-nginx/fullchain.pem"]}]'``
    """
    for item in deploy:
        try:
            with open(item["path"], "rb") as f:
                have = f.read()
            want = b"".join(_read(source) for source in item["sources"])
        except FileNotFoundError:
            return False
        if have != want:
            return False
    return True


def _read(path):
    with open(os.path.realpath(path), "rb") as f:
        return f.read()
