"""_modules/maintenance.py and _states/maintenance.py through Salt's loader:
what nginx is told (the flag, the pages, what stays served), the flag the
command and the pillar share on a temporary project root, the audit lines,
and the state's ret dicts."""

import json

import pytest
from salt.exceptions import CommandExecutionError


def settings(root, maintenance=None, health="/health/", balancer_path=None):
    """The part of `webstack.settings` the module reads."""
    return {
        "project": {"root": str(root)},
        "nginx": {
            "tls": {"base": "/etc/nginx"},
            "maintenance": {"enabled": False, "allow": [], "retry_after": 300, **(maintenance or {})},
        },
        "app": {"health_check": health},
        "balancer": {"health_check": {"path": balancer_path}},
    }


@pytest.fixture
def box(salt_loader, tmp_path):
    """The loader over a project at tmp_path: `box(test=..., **maintenance)`; audit lines caught."""

    def make(test=False, **maintenance):
        audit = []
        fakes = {
            "webstack.settings": lambda: settings(tmp_path, maintenance),
            "audit.record": lambda action, text, jid=None: audit.append(f"{action}: {text} (job {jid})"),
        }
        ldr = salt_loader(fakes=fakes, test=test)
        ldr.audit = audit
        return ldr

    return make


def flag(tmp_path):
    path = tmp_path / "maintenance"
    return json.loads(path.read_text()) if path.exists() else None


def test_layout_tells_nginx_the_flag_the_pages_and_what_stays_served(salt_loader, tmp_path):
    layout = salt_loader().salt["maintenance.layout"]
    conf = layout(settings("/srv/shop", {"allow": ["10.0.0.0/8"]}, balancer_path="/lb"))
    assert (conf["flag"], conf["allow"], conf["retry_after"]) == (
        "/srv/shop/maintenance",
        ["10.0.0.0/8"],
        300,
    )
    assert conf["pages"]["maintenance"] == {
        "uri": "/.webstack/maintenance.html",
        "file": "webstack/maintenance.html",
        "try": ["/srv/shop/current/webstack/maintenance.html", "/etc/nginx/webstack/maintenance.html"],
    }
    assert conf["pages"]["error"]["try"][0] == "/srv/shop/current/webstack/error.html"
    assert conf["exempt"] == ["/health/", "/lb", "/.webstack/maintenance.html", "/.webstack/error.html"]
    # No health check, or the balancer asks the same: nothing twice.
    assert layout(settings("/srv/shop", health=None))["exempt"][0] == "/.webstack/maintenance.html"
    assert layout(settings("/srv/shop", balancer_path="/health/"))["exempt"][:2] == [
        "/health/",
        "/.webstack/maintenance.html",
    ]


@pytest.mark.parametrize("health", ["/health $host", '/up";', "/a{b}"])
def test_a_health_path_nginx_cannot_take_names_the_key(salt_loader, health):
    with pytest.raises(CommandExecutionError, match=r"webstack:app:health_check: .* letters, digits"):
        salt_loader().salt["maintenance.layout"](settings("/srv/shop", health=health))


def test_the_command_switches_and_records_who_and_which_job(box, tmp_path):
    ldr = box()
    on = ldr.salt["maintenance.on"](reason="db upgrade", __pub_jid="20261205070000000001")
    assert on["maintenance"] is True and on["flag"] == str(tmp_path / "maintenance")
    said = flag(tmp_path)
    assert (said["by"], said["reason"], said["jid"]) == ("command", "db upgrade", "20261205070000000001")
    assert (tmp_path / "maintenance").stat().st_mode & 0o777 == 0o644  # nginx's workers see it
    assert ldr.salt["maintenance.status"]()["by"] == "command"
    # Again: nothing to do, no second audit line.
    ldr.salt["maintenance.on"](reason="db upgrade")
    off = ldr.salt["maintenance.off"](__pub_jid="20261205070000000002")
    assert off["maintenance"] is False and off["was"]["reason"] == "db upgrade" and flag(tmp_path) is None
    assert ldr.salt["maintenance.off"]()["maintenance"] is False
    assert ldr.audit == [
        "maintenance: on (by command: db upgrade) (job 20261205070000000001)",
        "maintenance: off (by command, was on by command) (job 20261205070000000002)",
    ]
    with pytest.raises(CommandExecutionError, match="by='someone'"):
        ldr.salt["maintenance.on"](by="someone")


def test_a_flag_made_by_hand_counts_as_a_command(box, tmp_path):
    (tmp_path / "maintenance").write_text("")
    assert box().salt["maintenance.status"]() == {
        "maintenance": True,
        "flag": str(tmp_path / "maintenance"),
        "by": "command",
    }


def test_off_warns_while_the_pillar_says_on(box):
    assert "next highstate turns it on again" in box(enabled=True).salt["maintenance.off"]()["warning"]
    assert "warning" not in box().salt["maintenance.off"]()


def test_state_turns_it_on_once(box, tmp_path):
    dry = box(test=True, enabled=True).states["maintenance.as_pillar_says"]("f", enabled=True)
    assert dry["result"] is None and dry["changes"] == {"maintenance": {"old": False, "new": True}}
    assert flag(tmp_path) is None
    ldr = box(enabled=True)
    ret = ldr.states["maintenance.as_pillar_says"]("f", enabled=True)
    assert ret["result"] is True and ret["changes"] == {"maintenance": {"old": False, "new": True}}
    assert flag(tmp_path)["by"] == "pillar" and ldr.audit == ["maintenance: on (by pillar) (job None)"]
    again = ldr.states["maintenance.as_pillar_says"]("f", enabled=True)
    assert again["changes"] == {} and "on by pillar" in again["comment"]
    ret = box().states["maintenance.as_pillar_says"]("f", enabled=False)
    assert ret["changes"] == {"maintenance": {"old": True, "new": False}} and flag(tmp_path) is None


def test_state_leaves_a_commands_maintenance_alone(box, tmp_path):
    ldr = box()
    ldr.salt["maintenance.on"]()
    for test in (False, True):
        ret = box(test=test).states["maintenance.as_pillar_says"]("f", enabled=False)
        assert ret["result"] is True and ret["changes"] == {}, ret
        assert "stays until `maintenance.off`" in ret["comment"]
    # The pillar on as well: still the command's, and still to be turned off by one.
    assert box(enabled=True).states["maintenance.as_pillar_says"]("f", enabled=True)["changes"] == {}
    assert flag(tmp_path)["by"] == "command"
