"""Each supported release gets the packages and versions osmap.yaml names
for it: the whole demo highstate compiled under the release's grains, and
the ssh lists checked against ssh-audit's own policy for that release (its
built-in policies, from the package the container tests audit with)."""

import re

import pytest
from conftest import OS_GRAINS, load_pillar
from ssh_audit.builtin_policies import BUILTIN_POLICIES

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

# sshd adds these to its key exchange list itself: our lists leave them out.
ADDED_BY_SSHD = {"ext-info-s", "kex-strict-s-v00@openssh.com"}

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
    # ssh-audit's own policy (the same release the tests audit with).
    policy = BUILTIN_POLICIES[policy_name]
    assert ssh["kex"] == [k for k in policy["kex"] if k not in ADDED_BY_SSHD]
    assert ssh["macs"] == policy["macs"]
    assert ssh["ciphers"] == policy["ciphers"]
    # The policy's host keys all offered, and nothing it has no size rule for.
    assert set(policy["host_keys"]) <= set(ssh["host_key_algorithms"]) <= set(policy["hostkey_sizes"])
