"""The fail2ban component without a box: its pillar refused naming the key,
the SLS compiled for our releases, and the jail file its template writes
(who is never banned: loopback, the fleet's peers, the allow-list)."""

from pathlib import Path

import jinja2
import pytest
from conftest import OS_GRAINS, load_pillar, with_settings

from tools.harness.dockerbox import REPO

TEMPLATE = REPO / "salt/states/fail2ban/files/jail.local.jinja"
JAIL_ID = "fail2ban-sshd-jail-is-ours"


def args(high, state_id):
    """The arguments of a state in high data, as one dict."""
    (fun,) = [k for k in high[state_id] if not k.startswith("__")]
    return {k: v for item in high[state_id][fun] if isinstance(item, dict) for k, v in item.items()}


def jail(high) -> dict:
    """The jail file the highstate writes: {section: {key: value}}."""
    f2b = args(high, JAIL_ID)["context"]["f2b"]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    text = env.from_string(Path(TEMPLATE).read_text()).render(f2b=f2b)
    sections, current = {}, None
    for line in text.splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            current[key.strip()] = value.strip()
    return sections


@pytest.mark.parametrize("os_name", sorted(OS_GRAINS))
def test_every_release_gets_the_journal_backed_sshd_jail(render, os_name):
    high = render(os_name, load_pillar("minimal"), "fail2ban", roles=[])
    pkgs = args(high, "fail2ban-and-its-journal-reader-are-installed")["pkgs"]
    assert set(pkgs) >= {"fail2ban", "python3-systemd", "nftables"}
    conf = args(high, JAIL_ID)
    assert conf["name"] == "/etc/fail2ban/jail.d/webstack.local"
    assert "fail2ban-client -c" in conf["check_cmd"] and " -t" in conf["check_cmd"]
    service = args(high, "fail2ban-is-running")
    assert service["reload"] is True and {"file": JAIL_ID} in service["watch"]
    sections = jail(high)
    assert sections["sshd"] == {"enabled": "true", "mode": "aggressive", "port": "22", "backend": "systemd"}
    default = sections["DEFAULT"]
    assert default["banaction"] == "nftables-multiport"
    assert "blocktype=drop" in default["action"]
    assert (default["bantime"], default["findtime"], default["maxretry"]) == ("600", "600", "5")
    assert default["ignoreip"].split()[:2] == ["127.0.0.0/8", "::1"]


def test_peers_and_the_allow_list_are_never_banned_and_the_pillar_is_read(render):
    pillar = with_settings(
        load_pillar("minimal"),
        peers={"db": ["10.0.0.5"], "web": ["10.0.0.7", "10.0.0.5"], "balancer": ["fd00::9"]},
        ssh={"port": 2222},
        fail2ban={
            "bantime": 20,
            "findtime": 60,
            "maxretry": 3,
            "mode": "normal",
            "ignoreip": ["203.0.113.0/24"],
        },
    )
    sections = jail(render("debian-12", pillar, "fail2ban", roles=["web"]))
    ignored = sections["DEFAULT"]["ignoreip"].split()
    assert ignored[:2] == ["127.0.0.0/8", "::1"]
    assert set(ignored[2:]) == {"10.0.0.5", "10.0.0.7", "fd00::9", "203.0.113.0/24"}
    assert ignored[-1] == "203.0.113.0/24" and len(ignored) == len(set(ignored))
    assert sections["sshd"]["port"] == "2222" and sections["sshd"]["mode"] == "normal"
    assert [sections["DEFAULT"][k] for k in ("bantime", "findtime", "maxretry")] == ["20", "60", "3"]


def test_disabled_it_is_stopped_and_nothing_is_installed(render):
    pillar = with_settings(load_pillar("minimal"), fail2ban={"enabled": False})
    high = render("debian-12", pillar, "fail2ban", roles=[])
    assert set(high) == {"fail2ban-is-stopped"}
    assert args(high, "fail2ban-is-stopped")["enable"] is False
    whole = render("debian-12", pillar, None, roles=[])
    assert "fail2ban" not in args(whole, "base-component-packages-are-installed")["pkgs"]


def test_every_box_installs_it_in_bases_apt_run_and_starts_it_itself(render):
    high = render("debian-12", load_pillar("demo"), None, roles=["web", "db"])
    apt = args(high, "base-component-packages-are-installed")
    assert "fail2ban" in apt["pkgs"] and apt["hold"]["fail2ban"] == ["fail2ban"]
    assert JAIL_ID in high and "fail2ban-is-running" in high


@pytest.mark.parametrize(
    "fail2ban, message",
    [
        ({"bantime": -5}, "webstack:fail2ban:bantime: -5 is less than the minimum of 1"),
        ({"bantime": 0}, "webstack:fail2ban:bantime: 0 is less than the minimum of 1"),
        ({"maxretry": "5"}, "webstack:fail2ban:maxretry: '5' is not of type 'integer'"),
        ({"mode": "paranoid"}, "webstack:fail2ban:mode:"),
        ({"ignoreip": ["10.0.0.0/33"]}, "webstack:fail2ban:ignoreip:0: '10.0.0.0/33' is not an IP address"),
        ({"ignoreip": ["office"]}, "webstack:fail2ban:ignoreip:0: 'office' is not an IP address"),
        ({"ban_time": 60}, "webstack:fail2ban:ban_time:"),
    ],
)
def test_a_bad_pillar_is_refused_naming_the_key(salt_loader, fail2ban, message):
    validate = salt_loader().salt["webstack.validate"]
    errors = validate(with_settings(load_pillar("minimal"), fail2ban=fail2ban), {"roles": []})
    assert any(e.startswith(message) for e in errors), errors
