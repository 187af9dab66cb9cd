"""
salt-ssh, for those without a master: one box runs salt-ssh with the
repository's master config (etc/salt/master.d/webstack.conf) and a roster
like etc/salt/roster.example; the target has nothing but sshd, python3 and a
sudoer holding the key. Its highstate (the common states and the balancer,
its role from the roster's grains) applies, haproxy answers, and a second
run changes nothing.
"""

from __future__ import annotations

import http.client
import json
import time

import pytest
import yaml

from tools.harness.dockerbox import MOUNT, Box

DOMAIN = "ssh.webstack.test"
NAME_RULE = "(lower case letters, digits, _ or -, at most 32)"
PILLAR_ROOT = "/etc/webstack/ssh-pillar"
APT = "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq"


def salt_ssh(host: Box, *args: str) -> dict:
    """`salt-ssh --out=json target ...` on the salt-ssh box: the target's return."""
    res = host.exec(["salt-ssh", "--out=json", "--log-level=warning", "target", *args], check=False)
    try:
        return json.loads(res.stdout)["target"]
    except (ValueError, KeyError):
        pytest.fail(f"salt-ssh {' '.join(args)} -> rc {res.rc}\n{res.stdout}\n{res.stderr}")


def write_pillar(host: Box, pillar: dict) -> None:
    host.put_file(f"{PILLAR_ROOT}/site.sls", yaml.safe_dump(pillar), mode=0o600)


def summary(ret) -> tuple[list, list, list]:
    """(failed, changed, pending) state ids of a state.apply return."""
    assert isinstance(ret, dict) and ret, f"no state ran: {ret}"
    failed = [(r["__id__"], r["comment"]) for r in ret.values() if r["result"] is False]
    changed = [r["__id__"] for r in ret.values() if r["changes"]]
    pending = [r["__id__"] for r in ret.values() if r["result"] is None]
    return failed, changed, pending


@pytest.fixture(scope="module")
def pair(boxes):
    """(salt-ssh box, target box), the target reachable by key as a sudoer."""
    host = boxes.start("ssh-host")
    target = boxes.start("ssh-target")
    host.exec(f"apt-get update -qq && {APT} openssh-client >/dev/null")
    target.exec(f"apt-get update -qq && {APT} openssh-server sudo >/dev/null && systemctl start ssh")
    # The target: an admin account in group sudo, as cloud images have.
    target.exec("useradd --create-home --groups sudo --shell /bin/bash admin")
    target.put_file("/etc/sudoers.d/admin", "admin ALL=(ALL) NOPASSWD: ALL\n", mode=0o440)

    # The salt-ssh box: the repository's master config, its key, a roster.
    host.exec(f"install -D -m 0644 {MOUNT}/etc/salt/master.d/webstack.conf /etc/salt/master.d/webstack.conf")
    key = "/etc/salt/pki/master/ssh/salt-ssh.rsa"
    host.exec(f"mkdir -p -m 0700 $(dirname {key}) && ssh-keygen -q -t ed25519 -N '' -f {key}")
    target.put_file("/home/admin/.ssh/authorized_keys", host.exec(["cat", f"{key}.pub"]).stdout, mode=0o600)
    target.exec("chown -R admin:admin /home/admin/.ssh && chmod 700 /home/admin/.ssh")
    roster = {
        "target": {
            "host": target.ip(),
            "user": "admin",
            "sudo": True,
            "priv": key,
            "grains": {"roles": ["balancer"]},
        }
    }
    host.put_file("/etc/salt/roster", yaml.safe_dump(roster))
    # This test's pillar, by the roster's id (in an environment of its own,
    # as the fleet does): the web host it balances over is listed, no mine.
    pillar = {
        "webstack": {
            "project": {"name": "sshdemo", "domains": [DOMAIN]},
            "peers": {"web": [host.ip()]},
        }
    }
    host.put_file(f"{PILLAR_ROOT}/top.sls", "ssh:\n  target:\n    - site\n")
    host.pillar = pillar
    write_pillar(host, pillar)
    host.put_file(
        "/etc/salt/master.d/ssh-test.conf",
        yaml.safe_dump({"pillar_roots": {"ssh": [PILLAR_ROOT]}, "pillarenv": "ssh"}),
    )
    # First contact: accept the target's host key.
    res = host.exec(["salt-ssh", "-i", "--out=json", "target", "test.ping"], check=False)
    assert json.loads(res.stdout or "{}").get("target") is True, res.stdout + res.stderr
    return host, target


def test_highstate_over_ssh_applies_then_changes_nothing(pair):
    host, target = pair
    t0 = time.monotonic()
    failed, changed, _ = summary(salt_ssh(host, "state.apply"))
    first = time.monotonic() - t0
    assert not failed, failed
    assert changed, "the first highstate changed nothing"

    # What the roster's grains asked for: the balancer, in front of the web
    # host from the pillar; unknown Hosts get the connection closed.
    assert target.exec("systemctl is-active haproxy", check=False).stdout.strip() == "active"
    assert "server " in target.exec("grep -E '^\\s+server ' /etc/haproxy/haproxy.cfg").stdout
    conn = http.client.HTTPConnection(target.ip(), 80, timeout=10)
    conn.request("GET", "/", headers={"Host": "unknown.example"})
    with pytest.raises(http.client.RemoteDisconnected):
        conn.getresponse()
    conn = http.client.HTTPConnection(target.ip(), 80, timeout=10)
    conn.request("GET", "/", headers={"Host": DOMAIN})
    assert conn.getresponse().status == 503  # no web host answers its health check

    t0 = time.monotonic()
    failed, changed, _ = summary(salt_ssh(host, "state.apply"))
    again = time.monotonic() - t0
    assert not failed and not changed, (failed, changed)
    failed, changed, pending = summary(salt_ssh(host, "state.apply", "test=True"))
    assert not failed and not changed and not pending, (failed, changed, pending)
    print(f"salt-ssh highstate: first {first:.1f} s, again {again:.1f} s")


def test_a_bad_pillar_is_refused_before_anything_renders_in_a_few_lines(pair):
    """The master config's ext_pillar (_pillar/webstack.py), as a salt-master's minions get it."""
    host, target = pair
    bad = {"webstack": {**host.pillar["webstack"], "project": {"name": "shop!"}}}
    write_pillar(host, bad)
    try:
        res = host.exec(["salt-ssh", "target", "state.apply"], check=False)
    finally:
        write_pillar(host, host.pillar)
    seen = (res.stdout + res.stderr).splitlines()
    assert res.rc != 0
    assert seen == [
        "target:",
        "    - Pillar failed to render with the following messages:",
        "    - webstack:project:name: 'shop!' is not a user name " + NAME_RULE,
    ], seen
