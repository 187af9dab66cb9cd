"""Each supported release gets the packages and versions osmap.yaml names
for it: the whole demo highstate compiled under the release's grains, and
the ssh lists checked against ssh-audit's own policy for that release."""

import re

import pytest
from conftest import OS_GRAINS, load_pillar

# What each release ships (osmap.yaml's comments say where this was read):
# the default Python the app's virtualenv is made from, PostgreSQL's major,
# and the ssh-audit policy the ssh lists are made to pass.
RELEASES = {
    "debian-12": ("3.11", "15", "Hardened Debian 12 (version 3)"),
    "debian-13": ("3.13", "17", "Hardened Debian 13 (version 1)"),
    "ubuntu-22.04": ("3.10", "14", "Hardened Ubuntu Server 22.04 LTS (version 6)"),
    "ubuntu-24.04": ("3.12", "16", "Hardened Ubuntu Server 24.04 LTS (version 2)"),
    "ubuntu-26.04": ("3.14", "18", "Hardened Ubuntu Server 26.04 LTS (version 1)"),
}

# ssh-audit 3.9.0's built-in policies (ssh_audit/builtin_policies.py), as it
# lists them; sshd adds ext-info-s and kex-strict-s-v00@openssh.com itself,
# so ours leave them out.
_CIPHERS = [
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-gcm@openssh.com",
    "aes128-ctr",
]
_MACS_256_FIRST = [
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "umac-128-etm@openssh.com",
]
_MACS_512_FIRST = [_MACS_256_FIRST[1], _MACS_256_FIRST[0], _MACS_256_FIRST[2]]
_POST_QUANTUM = ["mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com"]
_HOST_KEYS = ["ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"]
_OPTIONAL_HOST_KEYS = [
    "sk-ssh-ed25519@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
]
SSH_AUDIT_POLICIES = {
    "Hardened Debian 12 (version 3)": {
        "kex": [
            "sntrup761x25519-sha512",
            "sntrup761x25519-sha512@openssh.com",
            "curve25519-sha256",
            "curve25519-sha256@libssh.org",
            "diffie-hellman-group16-sha512",
            "diffie-hellman-group18-sha512",
            "diffie-hellman-group-exchange-sha256",
        ],
        "macs": _MACS_256_FIRST,
    },
    "Hardened Debian 13 (version 1)": {"kex": _POST_QUANTUM, "macs": _MACS_512_FIRST},
    "Hardened Ubuntu Server 22.04 LTS (version 6)": {
        "kex": [
            "sntrup761x25519-sha512@openssh.com",
            "curve25519-sha256",
            "curve25519-sha256@libssh.org",
            "diffie-hellman-group16-sha512",
            "diffie-hellman-group18-sha512",
            "diffie-hellman-group-exchange-sha256",
        ],
        "macs": _MACS_256_FIRST,
    },
    "Hardened Ubuntu Server 24.04 LTS (version 2)": {
        "kex": [
            "sntrup761x25519-sha512@openssh.com",
            "curve25519-sha256",
            "curve25519-sha256@libssh.org",
            "diffie-hellman-group18-sha512",
            "diffie-hellman-group-exchange-sha256",
            "diffie-hellman-group16-sha512",
        ],
        "macs": _MACS_512_FIRST,
    },
    "Hardened Ubuntu Server 26.04 LTS (version 1)": {"kex": _POST_QUANTUM, "macs": _MACS_512_FIRST},
}

_HIGH = {}


def test_every_release_we_render_has_its_expectations_here():
    assert set(RELEASES) == set(OS_GRAINS)


@pytest.fixture(params=sorted(OS_GRAINS))
def release(request, render):
    """One release's demo highstate (all roles on one box), compiled once."""
    os_name = request.param
    if os_name not in _HIGH:
        _HIGH[os_name] = render(os_name, load_pillar("demo"))
    return os_name, _HIGH[os_name]


def _args(body, module):
    out = {}
    for item in body[module]:
        if isinstance(item, dict):
            out.update(item)
    return out


def _installed(high):
    """Every package a pkg.installed state of the highstate names."""
    names = []
    for body in high.values():
        if "pkg" in body and "installed" in body["pkg"]:
            names += _args(body, "pkg").get("pkgs", [])
    return names


def test_the_releases_python_postgresql_and_unit_names(release):
    os_name, high = release
    python, major, _ = RELEASES[os_name]
    packages = _installed(high)
    assert f"python{python}-venv" in packages and f"postgresql-{major}" in packages
    # No other release's Python or PostgreSQL comes along.
    assert [p for p in packages if re.fullmatch(r"postgresql-\d+", p)] == [f"postgresql-{major}"]
    assert [p for p in packages if re.fullmatch(r"python3\.\d+-venv", p)] == [f"python{python}-venv"]
    # The app's virtualenv is made from that Python.
    pythons = [
        _args(body, module)["python"]
        for body in high.values()
        for module in body
        if not module.startswith("__") and "python" in _args(body, module)
    ]
    assert pythons and set(pythons) == {f"/usr/bin/python{python}"}
    # The cluster's unit is the release's major (postgresql-common's layout).
    units = [
        _args(body, "service")["name"]
        for body in high.values()
        if "service" in body and str(_args(body, "service").get("name", "")).startswith("postgresql@")
    ]
    assert units and set(units) == {f"postgresql@{major}-main"}


@pytest.mark.parametrize("os_name", sorted(OS_GRAINS))
def test_the_ssh_lists_reproduce_the_releases_ssh_audit_policy(salt_loader, os_name):
    settings = salt_loader(pillar=load_pillar("demo"), grains=OS_GRAINS[os_name]).salt["webstack.settings"]
    ssh = settings()["ssh"]
    policy_name = RELEASES[os_name][2]
    assert ssh["audit_policy"] == policy_name
    policy = SSH_AUDIT_POLICIES[policy_name]
    assert ssh["kex"] == policy["kex"]
    assert ssh["macs"] == policy["macs"]
    assert ssh["ciphers"] == _CIPHERS
    # The policy's host keys all offered, and nothing it does not allow.
    assert set(_HOST_KEYS) <= set(ssh["host_key_algorithms"]) <= set(_HOST_KEYS + _OPTIONAL_HOST_KEYS)
