"""_modules/webstack_pkg.py (which packages, which daemons held back) and
_states/webstack_pkg.py (dpkg's unfinished work; one apt run with daemons
held back by policy-rc.d) through Salt's loader."""

import os
import subprocess

import pytest
from conftest import OS_GRAINS, load_pillar, with_settings


@pytest.fixture
def pkg(salt_loader):
    def make(pillar=None, grains="debian-12"):
        return salt_loader(pillar=pillar or load_pillar("demo"), grains=OS_GRAINS[grains]).salt

    return make


def test_the_demo_box_gets_every_roles_packages_once_in_state_order(pkg):
    mods = pkg()
    everything = mods["webstack_pkg.packages"]()
    assert len(everything) == len(set(everything))
    first = mods["webstack_pkg.packages"](components=["base", "users", "ssh"])
    rest = mods["webstack_pkg.packages"](exclude=["base", "users", "ssh"])
    assert first[-3:] == ["sudo", "openssh-server", "nftables"]
    for wanted in ("postgresql-15", "rabbitmq-server", "redis-server", "nginx", "supervisor", "ufw"):
        assert wanted in rest and wanted not in first
    assert "rsyslog" in rest


def test_only_the_caches_enabled_are_installed(pkg):
    redis_only = with_settings(load_pillar("demo"), cache={"memcached": {"enabled": False}})
    assert pkg(redis_only)["webstack_pkg.packages"](components=["cache"]) == ["redis-server"]
    assert pkg()["webstack_pkg.packages"](components=["cache"]) == ["memcached", "redis-server"]


@pytest.mark.parametrize(
    "grains, postgres, venv",
    [
        ("ubuntu-22.04", "postgresql-14", "python3.10-venv"),
        ("ubuntu-24.04", "postgresql-16", "python3.12-venv"),
        ("ubuntu-26.04", "postgresql-18", "python3.14-venv"),
        ("debian-12", "postgresql-15", "python3.11-venv"),
        ("debian-13", "postgresql-17", "python3.13-venv"),
    ],
)
def test_package_names_follow_the_release(pkg, grains, postgres, venv):
    everything = pkg(grains=grains)["webstack_pkg.packages"]()
    assert postgres in everything and venv in everything


def test_tls_forwarding_brings_rsyslogs_tls_driver(pkg):
    plain = pkg()["webstack_pkg.packages"](components=["logging"])
    remote = with_settings(
        load_pillar("demo"), logging={"remote": {"host": "logs.example.com", "port": 6514}}
    )
    assert plain == ["rsyslog"]
    assert pkg(remote)["webstack_pkg.packages"](components=["logging"]) == [
        "rsyslog",
        "rsyslog-gnutls",
        "ca-certificates",
    ]


def test_daemons_held_back_are_those_our_roles_start(pkg):
    held = pkg()["webstack_pkg.daemons"](exclude=["base", "users", "ssh"])
    assert held["postgresql-15"] == ["postgresql", "postgresql@15-main"]
    assert held["rabbitmq-server"] == ["rabbitmq-server", "epmd"]
    assert held["redis-server"] == ["redis-server"]
    assert held["nginx"] == ["nginx"] and held["supervisor"] == ["supervisor"]
    # rsyslog and ufw run as their packages set them up.
    assert "rsyslog" not in held and "ufw" not in held


def test_an_unknown_state_is_an_error(pkg):
    with pytest.raises(Exception, match="no package list for the component 'mail'"):
        pkg()["webstack_pkg.packages"](components=["mail"])


# -- the states ---------------------------------------------------------------


@pytest.fixture
def states(salt_loader, tmp_path):
    """The loader with the state module's paths moved into tmp_path."""

    def make(test=False, installed_pkgs=(), install=None):
        calls = []

        def fake_installed(name, pkgs=None, **kwargs):
            calls.append({"pkgs": pkgs, "policy": _read(tmp_path / "policy-rc.d"), **kwargs})
            if install:
                return install(name, pkgs)
            return {
                "name": name,
                "result": True,
                "changes": {p: {"old": "", "new": "1"} for p in pkgs},
                "comment": "",
            }

        ldr = salt_loader(
            fakes={"pkg.list_pkgs": lambda: {p: "1" for p in installed_pkgs}},
            grains=OS_GRAINS["debian-12"],
            test=test,
        )
        ldr.states["pkg.installed"] = fake_installed
        module = ldr.states["webstack_pkg.installed"].__globals__
        module["POLICY"] = str(tmp_path / "policy-rc.d")
        module["DPKG"] = str(tmp_path / "dpkg")
        ldr.calls = calls
        return ldr

    return make


def _read(path):
    return path.read_text() if path.exists() else None


HOLD = {"nginx": ["nginx"], "postgresql-15": ["postgresql", "postgresql@15-main"]}


def test_new_packages_daemons_are_held_back_only_while_apt_runs(states, tmp_path):
    ldr = states(installed_pkgs=["nginx"])
    ret = ldr.states["webstack_pkg.installed"](
        "roles", pkgs=["nginx", "postgresql-15"], hold=HOLD, refresh=True
    )
    assert ret["result"] is True
    assert ret["comment"].endswith("(their states start them): postgresql, postgresql@15-main.")
    (call,) = ldr.calls
    assert call["refresh"] is True and call["pkgs"] == ["nginx", "postgresql-15"]
    # nginx was installed already: its packages start it as they always do.
    assert "postgresql|postgresql@15-main)" in call["policy"] and "nginx" not in call["policy"]
    assert not (tmp_path / "policy-rc.d").exists()


def _policy_says(policy, *args):
    return subprocess.run(["sh", str(policy), *args], check=False).returncode


def test_the_policy_script_refuses_held_daemons_only_while_its_run_lives(states, tmp_path):
    written = {}

    def install(name, pkgs):
        policy = tmp_path / "policy-rc.d"
        written["held"] = _policy_says(policy, "postgresql@15-main.service", "start")
        written["other"] = _policy_says(policy, "cron", "start")
        written["option"] = _policy_says(policy, "--quiet", "nginx", "restart")
        written["text"] = policy.read_text()
        return {"name": name, "result": True, "changes": {}, "comment": ""}

    ldr = states(install=install)
    ldr.states["webstack_pkg.installed"]("roles", pkgs=["nginx", "postgresql-15"], hold=HOLD)
    assert (written["held"], written["other"], written["option"]) == (101, 0, 101)
    # The same script, once the Salt process that wrote it is gone, lets everything start.
    stale = tmp_path / "stale-policy"
    stale.write_text(written["text"].replace(f"process {os.getpid()} ", "process 999999999 "))
    stale.write_text(stale.read_text().replace(f"/proc/{os.getpid()}/", "/proc/999999999/"))
    assert _policy_says(stale, "nginx", "start") == 0


def test_the_policy_file_goes_also_when_the_install_fails(states, tmp_path):
    def install(name, pkgs):
        raise RuntimeError("apt went away")

    ldr = states(install=install)
    with pytest.raises(RuntimeError):
        ldr.states["webstack_pkg.installed"]("roles", pkgs=["nginx"], hold=HOLD)
    assert not (tmp_path / "policy-rc.d").exists()


def test_a_foreign_policy_decides_and_is_left_alone(states, tmp_path):
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    ldr = states()
    ret = ldr.states["webstack_pkg.installed"]("roles", pkgs=["nginx"], hold=HOLD)
    assert "is not ours" in ret["comment"] and "Held back" not in ret["comment"]
    assert policy.read_text() == "#!/bin/sh\nexit 101\n"


def test_a_policy_left_by_a_killed_run_is_removed_and_said(states, tmp_path):
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# webstack_pkg: process 999999999 started at 12\nexit 101\n")
    dry = states(test=True, installed_pkgs=["nginx"]).states["webstack_pkg.installed"](
        "roles", pkgs=["nginx"], hold=HOLD
    )
    assert dry["result"] is None and "would be removed" in dry["comment"] and policy.exists()
    ret = states(installed_pkgs=["nginx"]).states["webstack_pkg.installed"](
        "roles", pkgs=["nginx"], hold=HOLD
    )
    assert ret["changes"][str(policy)]["new"] == "removed" and not policy.exists()


def test_nothing_installed_nothing_held_nothing_said(states, tmp_path):
    def install(name, pkgs):
        return {
            "name": name,
            "result": True,
            "changes": {},
            "comment": "All specified packages are already installed",
        }

    ldr = states(installed_pkgs=["nginx", "postgresql-15"], install=install)
    ret = ldr.states["webstack_pkg.installed"]("roles", pkgs=["nginx", "postgresql-15"], hold=HOLD)
    assert ret == {
        "name": "roles",
        "result": True,
        "changes": {},
        "comment": "All specified packages are already installed",
    }
    assert ldr.calls[0]["policy"] is None


def test_dry_run_holds_nothing_and_says_what_it_would(states, tmp_path):
    ldr = states(test=True)
    ret = ldr.states["webstack_pkg.installed"]("roles", pkgs=["nginx"], hold=HOLD)
    assert "Would hold back" in ret["comment"] and ldr.calls[0]["policy"] is None


STATUS = """\
Package: cron
Status: install ok installed

Package: postgresql-15
Status: install ok half-configured

Package: nginx-common
Status: install reinstreq half-installed

Package: old
Status: deinstall ok config-files
"""


def _dpkg(tmp_path, status, journal=()):
    (tmp_path / "dpkg" / "updates").mkdir(parents=True, exist_ok=True)
    (tmp_path / "dpkg" / "status").write_text(status)
    for entry in journal:
        (tmp_path / "dpkg" / "updates" / entry).write_text("")


def test_dpkg_with_nothing_unfinished_runs_nothing(states, tmp_path):
    _dpkg(tmp_path, "Package: cron\nStatus: install ok installed\n")
    ran = []
    ldr = states()
    ldr.salt["cmd.run_all"] = lambda *a, **kw: ran.append(a)
    ret = ldr.states["webstack_pkg.dpkg_finished"]("dpkg")
    assert ret["result"] is True and ret["changes"] == {} and ran == []


def test_dpkg_unfinished_work_is_finished(states, tmp_path):
    _dpkg(tmp_path, STATUS, journal=["0001"])
    dry = states(test=True).states["webstack_pkg.dpkg_finished"]("dpkg")
    assert dry["result"] is None
    assert dry["changes"]["finished"] == [
        "1 journal entries",
        "postgresql-15 half-configured",
        "nginx-common half-installed (reinstreq)",
    ]

    ldr = states()

    def finish(cmd, **kwargs):
        assert "dpkg --force-confold --force-confdef --configure -a" in cmd
        _dpkg(tmp_path, "Package: cron\nStatus: install ok installed\n")
        os.remove(tmp_path / "dpkg" / "updates" / "0001")
        return {"retcode": 0, "stdout": "", "stderr": ""}

    ldr.salt["cmd.run_all"] = finish
    ret = ldr.states["webstack_pkg.dpkg_finished"]("dpkg")
    assert ret["result"] is True and len(ret["changes"]["finished"]) == 3


def test_dpkg_that_cannot_be_finished_fails_with_apts_words(states, tmp_path):
    _dpkg(tmp_path, STATUS)
    ldr = states()
    ldr.salt["cmd.run_all"] = lambda cmd, **kw: {"retcode": 100, "stdout": "", "stderr": "E: broken postinst"}
    ret = ldr.states["webstack_pkg.dpkg_finished"]("dpkg")
    assert ret["result"] is False and "E: broken postinst" in ret["comment"]
