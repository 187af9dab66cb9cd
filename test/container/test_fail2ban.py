"""
fail2ban: failed ssh logins from a peer get it banned (its packets dropped
by nftables) within 30 s, read from sshd's journal alone; an allow-listed
peer failing the same way is never banned; a state.apply during a ban
changes nothing and leaves the ban in place (bans live in fail2ban's own
nftables table, which our ufw state never touches); the ban expires after
the pillar's bantime.

The tests run in file order on one module box (the attacker's ban is what
the later ones look at).
"""

import time
import types

import pytest
from conftest import assert_idempotent, converge, load_pillar, with_settings
from figures import report

STATES = "base,users,ssh,firewall,fail2ban"
# Long enough for two applies (assert_idempotent) while the ban holds.
BANTIME = 60
MAXRETRY = 5
SSH = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR"]
SSH += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
SSH += ["-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey", "-i", "/root/stranger"]


def start_peer(boxes, name):
    peer = boxes.start(name)
    peer.exec(
        "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive "
        "apt-get install -y -q --no-install-recommends openssh-client >/dev/null"
    )
    # A key the box knows nothing of: every login with it fails.
    peer.exec(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "/root/stranger"])
    return peer


@pytest.fixture(scope="module")
def site(boxes):
    box = boxes.start("f2b")
    attacker = start_peer(boxes, "f2b-attacker")
    friend = start_peer(boxes, "f2b-friend")
    # A developer whose key is nowhere near the peers: logins as her fail at
    # the key, one failure each in aggressive mode.
    attacker.exec(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "/tmp/ada"])
    ada = attacker.exec(["cat", "/tmp/ada.pub"]).stdout.strip()
    attacker.exec(["rm", "-f", "/tmp/ada", "/tmp/ada.pub"])
    pillar = with_settings(
        load_pillar("minimal"),
        users={"developers": {"ada": {"ssh_keys": [ada]}}},
        fail2ban={"bantime": BANTIME, "findtime": 120, "maxretry": MAXRETRY, "ignoreip": [friend.ip()]},
    )
    converge(box, pillar, STATES)
    # Whatever writes /var/log/auth.log (rsyslog, from base's apt run) is
    # stopped and the file gone: the bans below come from the journal.
    box.exec("systemctl stop syslog.socket rsyslog.service; rm -f /var/log/auth.log", check=False)
    return types.SimpleNamespace(box=box, attacker=attacker, friend=friend, pillar=pillar, ip=box.ip())


def failed_login(site, peer):
    """
    One login as the developer ada with a key that is not hers: one
    failure in aggressive mode ("Connection closed by authenticating user").
    (rc, stderr); rc 124 when a ban dropped the connection midway
    (ConnectTimeout only covers the connect).
    """
    res = peer.exec(["timeout", "6", *SSH, f"ada@{site.ip}", "true"], check=False)
    return res.rc, res.stderr


def port_open(site, peer) -> bool:
    """Whether a TCP connection from `peer` to sshd's port completes (a ban drops it)."""
    return peer.exec(["timeout", "3", "bash", "-c", f"</dev/tcp/{site.ip}/22"], check=False).rc == 0


def banned(site) -> list:
    out = site.box.exec(["fail2ban-client", "status", "sshd"]).stdout
    line = next(line for line in out.splitlines() if "Banned IP list:" in line)
    return line.split("Banned IP list:", 1)[1].split()


def in_nftables(site, address) -> bool:
    out = site.box.exec(["nft", "list", "table", "inet", "f2b-table"], check=False).stdout
    return address in out


def test_the_jail_reads_the_journal_with_the_pillars_settings(site):
    box = site.box
    assert box.exec(["systemctl", "is-active", "fail2ban"]).stdout.strip() == "active"
    get = lambda *what: box.exec(["fail2ban-client", "get", "sshd", *what]).stdout  # noqa: E731
    assert "_COMM=sshd" in get("journalmatch"), "the systemd (journal) backend"
    assert get("bantime").strip() == str(BANTIME) and get("maxretry").strip() == str(MAXRETRY)
    ignored = get("ignoreip")
    assert site.friend.ip() in ignored and "127.0.0.0/8" in ignored and site.attacker.ip() not in ignored
    assert banned(site) == [] and port_open(site, site.attacker)


def test_ten_failed_logins_get_the_attacker_banned_within_30_s(site, request):
    start, failures, dropped = time.monotonic(), 0, False
    for _ in range(10):
        rc, err = failed_login(site, site.attacker)
        if rc == 124 or "timed out" in err:
            # The connection no longer gets through.
            dropped = True
            break
        assert rc == 255 and "Permission denied" in err, err
        failures += 1
        time.sleep(1)
    while not dropped and time.monotonic() - start < 30:
        dropped = not port_open(site, site.attacker)
    took = time.monotonic() - start
    assert dropped and took <= 30, f"not banned {took:.0f} s after {failures} failed logins"
    site.banned_at = time.monotonic()
    report(request, f"fail2ban: banned after {failures} failed logins in {took:.1f} s")
    assert MAXRETRY // 2 <= failures <= MAXRETRY + 1, "banned far from maxretry failures"
    assert banned(site) == [site.attacker.ip()]
    assert in_nftables(site, site.attacker.ip())
    assert not port_open(site, site.attacker)
    assert site.box.exec(["test", "-e", "/var/log/auth.log"], check=False).rc != 0, "from the journal only"


def test_a_state_apply_during_the_ban_changes_nothing_and_the_ban_stays(site):
    assert_idempotent(site.box, site.pillar, STATES)
    assert time.monotonic() - site.banned_at < BANTIME, "the applies outlasted the ban: nothing was shown"
    assert banned(site) == [site.attacker.ip()]
    assert in_nftables(site, site.attacker.ip())
    assert not port_open(site, site.attacker)
    # ufw's own rules are untouched beside it.
    assert "Status: active" in site.box.exec(["ufw", "status"]).stdout


def test_the_allow_listed_peer_is_never_banned(site):
    for _ in range(10):
        rc, err = failed_login(site, site.friend)
        assert rc == 255 and "Permission denied" in err, err
        time.sleep(1)
    # Long enough for fail2ban to have read all ten (it bans within seconds).
    time.sleep(5)
    assert port_open(site, site.friend)
    assert site.friend.ip() not in banned(site)
    log = site.box.exec(["cat", "/var/log/fail2ban.log"]).stdout
    assert f"Ignore {site.friend.ip()}" in log, "fail2ban saw the friend's failures and let them be"


def test_the_ban_expires_after_the_bantime(site, request):
    deadline = site.banned_at + BANTIME + 20
    while not port_open(site, site.attacker) and time.monotonic() < deadline:
        time.sleep(1)
    lasted = time.monotonic() - site.banned_at
    assert port_open(site, site.attacker), f"still banned {lasted:.0f} s on (bantime {BANTIME} s)"
    report(request, f"fail2ban: ban lifted {lasted:.0f} s after it was seen (bantime {BANTIME} s)")
    # Not early: the ban was still there after the applies above.
    assert lasted >= BANTIME - 15
    assert banned(site) == [] and not in_nftables(site, site.attacker.ip())
