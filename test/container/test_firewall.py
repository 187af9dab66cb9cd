"""
firewall: ufw on a web box, probed from other containers on the same docker
network. A dropped port times out (no answer at all); an allowed port with
no listener is refused (the packet got through); a listener answers.
"""

import subprocess

import pytest
from box_helpers import helper
from conftest import converge, converged_to, load_pillar, with_settings


def probe(src, host, port, timeout=2):
    """From `src`: open, refused (let through, nothing listens) or timeout (dropped)."""
    return src.exec(["python3", helper("probe.py"), host, str(port), str(timeout)]).stdout.strip()


def listen(box, *ports):
    """A python listener per port, as transient systemd units (kept where one runs already)."""
    for port in ports:
        unit = f"fw-listen-{port}"
        box.exec(f"systemctl is-active -q {unit} || systemd-run --unit={unit} python3 -m http.server {port}")
    for port in ports:
        wait = f"ss -ltn 'sport = :{port}' | grep -q LISTEN"
        box.exec(f"for i in $(seq 50); do {wait} && exit 0; sleep 0.1; done; exit 1")


def host_has_ufw_chains():
    out = subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=True).stdout
    return "ufw-" in out


def web_pillar(peer, *extra):
    rules = [{"port": 8082, "from": peer.ip(), "comment": "from the peer only"}, *extra]
    return with_settings(load_pillar("minimal"), roles=["web"], firewall={"rules": rules})


# A rule of the first converge, which the pillar drops later.
TO_BE_REMOVED = {"port": 8083, "comment": "to be removed"}
HAND_MADE = 8084


def hand_made_rule(web):
    """Someone's own ufw rule (no webstack mark) for HAND_MADE, and a listener behind it."""
    web.exec(["ufw", "allow", f"{HAND_MADE}/tcp"])  # skipped when it is there
    listen(web, HAND_MADE)


@pytest.fixture(scope="module")
def fleet(boxes):
    """A web box with the firewall converged, a peer and another box."""
    web = boxes.start("fw-web")
    peer = boxes.start("fw-peer")
    other = boxes.start("fw-other")
    # ssh: a listener on 22 stands in for sshd (its rule is what is tested)
    listen(web, 22, 80, 8081, 8082, 8083)
    assert probe(peer, web.ip(), 8081) == "open", "the listener should answer before the firewall is on"
    pillar = web_pillar(peer, TO_BE_REMOVED)
    dry = web.apply(pillar, "firewall", test=True)
    assert dry.ok and len(dry.pending) == 4, dry.explain()
    assert web.exec("command -v ufw", check=False).rc != 0, "test=True installed ufw"
    first = converge(web, pillar, "firewall")
    print("first apply:", first.summary())
    assert rules_changes(dry) == rules_changes(first), "test=True predicted other rules"
    return web, peer, other, first


def rules_changes(result):
    return result.by_id["firewall-allows-ssh-and-the-ports-of-the-box-components"]["changes"]


def test_ufw_drops_what_the_roles_do_not_allow(fleet, idempotent):
    web, peer, other, first = fleet
    converged_to(web, web_pillar(peer, TO_BE_REMOVED), "firewall")
    ip = web.ip()
    assert rules_changes(first)["added"] == [
        "allow 22/tcp comment 'webstack: ssh'",
        "allow 80/tcp comment 'webstack: http'",
        f"allow from {peer.ip()} to any port 8082 proto tcp comment 'webstack: from the peer only'",
        "allow 8083/tcp comment 'webstack: to be removed'",
    ]
    # not allowed: dropped, not refused
    assert probe(peer, ip, 8081) == "timeout"
    assert probe(peer, ip, 5432) == "timeout"
    # allowed: ssh and http answer; https is not served (nginx without TLS): dropped
    assert probe(peer, ip, 22) == "open"
    assert probe(peer, ip, 80) == "open"
    assert probe(peer, ip, 443) == "timeout"
    # allowed from one peer only
    assert probe(peer, ip, 8082) == "open"
    assert probe(other, ip, 8082) == "timeout"
    assert probe(other, ip, 8083) == "open"

    status = web.exec("ufw status verbose").stdout
    assert "Status: active" in status and "deny (incoming), allow (outgoing)" in status
    assert web.exec("systemctl is-active ufw").stdout.strip() == "active"
    assert web.exec("systemctl is-enabled ufw").stdout.strip() == "enabled"
    # the firewall lives in the box's network namespace: the host is untouched
    assert not host_has_ufw_chains()

    again = idempotent(web, web_pillar(peer, TO_BE_REMOVED), "firewall")
    print("re-apply:", again.summary())


def test_a_rule_dropped_from_the_pillar_is_removed_and_hand_made_rules_stay(fleet, idempotent):
    web, peer, other, _ = fleet
    converged_to(web, web_pillar(peer, TO_BE_REMOVED), "firewall")
    ip = web.ip()
    hand_made_rule(web)

    again = converge(web, web_pillar(peer), "firewall")
    assert rules_changes(again) == {"removed": ["allow 8083/tcp comment 'webstack: to be removed'"]}
    assert probe(other, ip, 8083) == "timeout"
    assert probe(other, ip, 8084) == "open"
    assert probe(peer, ip, 8082) == "open"
    idempotent(web, web_pillar(peer), "firewall")


def test_the_salt_master_box_keeps_its_ports_open(fleet):
    web, peer, _, _ = fleet
    converged_to(web, web_pillar(peer), "firewall")  # so the salt-master rule is the only change
    web.exec(["systemctl", "enable", "salt-master"])  # as a fleet's master box has it (not started)
    try:
        ran = converge(web, web_pillar(peer), "firewall")
        assert rules_changes(ran) == {"added": ["allow 4505:4506/tcp comment 'webstack: salt-master'"]}
        assert probe(peer, web.ip(), 4506) == "refused"  # let through, nothing listens
    finally:
        web.exec(["systemctl", "disable", "salt-master"])
    ran = converge(web, web_pillar(peer), "firewall")
    assert rules_changes(ran) == {"removed": ["allow 4505:4506/tcp comment 'webstack: salt-master'"]}
    assert probe(peer, web.ip(), 4506) == "timeout"


def test_a_rule_set_without_ssh_is_refused(fleet):
    web, peer, _, _ = fleet
    res = web.salt_call(
        "--out=json",
        "state.single",
        "ufw.rules_managed",
        "firewall",
        'rules=[{"port": "80", "proto": "tcp", "comment": "webstack: http"}]',
    )
    assert res.rc != 0 and "locks ssh out" in res.stdout, res.stdout + res.stderr
    shown = web.exec(["ufw", "show", "added"])
    assert "allow 22/tcp comment 'webstack: ssh'" in shown.stdout, shown
    assert probe(peer, web.ip(), 22) == "open"


def test_ipv6_filtering_can_be_turned_off_and_back_on(fleet, idempotent):
    web, peer, _, _ = fleet
    hand_made_rule(web)  # its IPv6 half must come back too
    off = with_settings(web_pillar(peer), firewall={"ipv6": False})
    ran = converge(web, off, "firewall")
    assert ran.by_id["firewall-denies-incoming-and-is-enabled"]["changes"] == {
        "ipv6": {"old": True, "new": False}
    }
    assert "(v6)" not in web.exec(["ufw", "status"]).stdout
    assert probe(peer, web.ip(), 22) == "open"
    idempotent(web, off, "firewall")
    # back on: ufw forgot the IPv6 half of each rule while off; it is back
    converge(web, web_pillar(peer), "firewall")
    status = web.exec(["ufw", "status"]).stdout
    assert "22/tcp (v6)" in status and "8084/tcp (v6)" in status, status


def test_the_rules_come_back_after_a_reboot(fleet):
    web, peer, _, _ = fleet
    web.restart()  # the listeners are gone: refused means allowed, timeout dropped
    assert probe(peer, web.ip(), 22) == "refused"
    assert probe(peer, web.ip(), 8081) == "timeout"
    assert "Status: active" in web.exec("ufw status").stdout
