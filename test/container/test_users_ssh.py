"""
users + ssh: developers log in over ssh from another container with their
keys (and nothing else), sudo as the pillar says, and lose both when they
leave the pillar; the project user owns its root.

Alice (with sudo) and Bob are listed until a test removes Alice; the tests
that need her listed, or removed, say so first (conftest's `converged_to`).
"""

import json
import re
import time
import types

import pytest
from conftest import converge, converged_to, load_pillar, with_settings
from figures import report

from tools.harness.dockerbox import REPO, TEST_PILLAR_ROOT

CLIENT = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"]
CLIENT += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
STATES = "base,users,ssh"


def developers(keys, *names):
    devs = {
        "alice": {"ssh_keys": [keys["alice"]], "sudo": True, "fullname": "Alice Example"},
        "bob": {"ssh_keys": [keys["bob"]]},
    }
    return with_settings(load_pillar("minimal"), users={"developers": {n: devs[n] for n in names}})


@pytest.fixture(scope="module")
def site(boxes):
    box = boxes.start("ussh")
    peer = boxes.start("ussh-peer")
    peer.exec(
        "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive "
        "apt-get install -y -q --no-install-recommends openssh-client >/dev/null"
    )
    keys = {}
    for who in ("alice", "bob", "root"):
        peer.exec(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{who}@peer", "-f", f"/root/{who}"])
        keys[who] = peer.exec(["cat", f"/root/{who}.pub"]).stdout.strip()
    pillar = developers(keys, "alice", "bob")
    converge(box, pillar, STATES)
    # Where sshd would look for root's keys, were root let in.
    box.put_file("/root/.ssh/authorized_keys", keys["root"] + "\n", mode=0o600)
    return types.SimpleNamespace(box=box, peer=peer, keys=keys, pillar=pillar, ip=box.ip())


def ssh(site, user, command="true", key=None, *options):
    key = key or user
    return site.peer.exec(
        [*CLIENT, "-i", f"/root/{key}", *options, f"{user}@{site.ip}", command], check=False
    )


def test_project_user_owns_its_root(site):
    box = site.box
    assert box.exec(["stat", "-c", "%U:%G %a", "/srv/shop"]).stdout.strip() == "shop:shop 755"
    assert box.exec(["getent", "passwd", "shop"]).stdout.strip().endswith(":/srv/shop:/usr/sbin/nologin")
    box.exec(["runuser", "-u", "shop", "--", "touch", "/srv/shop/written-by-shop"])
    assert box.exec(["runuser", "-u", "shop", "--", "touch", "/etc/x"], check=False).rc != 0


def test_sshd_runs_with_our_settings(site):
    conf = site.box.exec(["sshd", "-T"]).stdout.splitlines()
    for line in (
        "permitrootlogin no",
        "passwordauthentication no",
        "kbdinteractiveauthentication no",
        "pubkeyauthentication yes",
        "authenticationmethods publickey",
        "authorizedkeysfile .ssh/authorized_keys",
        "x11forwarding no",
    ):
        assert line in conf, line
    groups = [line.split()[1] for line in conf if line.startswith("allowgroups ")]
    assert groups == ["developers", "sudo"]


def test_developer_logs_in_with_their_key_and_has_passwordless_sudo(site):
    converged_to(site.box, site.pillar, STATES)  # alice listed
    res = ssh(site, "alice", "id -un; echo $LANG; sudo -n true && echo sudo-ok")
    assert res.ok, res.stderr
    assert res.stdout.split() == ["alice", "en_US.UTF-8", "sudo-ok"]


def test_developer_without_sudo_logs_in_but_has_no_sudo(site):
    res = ssh(site, "bob", "id -un; sudo -n true")
    assert res.stdout.split() == ["bob"]
    assert res.rc != 0 and "password is required" in res.stderr


def test_someone_elses_key_does_not_open_an_account(site):
    res = ssh(site, "bob", key="alice")
    assert res.rc == 255 and "Permission denied" in res.stderr


def test_root_login_with_a_key_is_refused(site):
    res = ssh(site, "root", "true", "root")
    assert res.rc == 255 and "Permission denied" in res.stderr, res


def test_password_and_keyboard_interactive_are_not_offered(site):
    res = ssh(
        site,
        "alice",
        "true",
        None,
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
    )
    # The server lists what it accepts: public keys only.
    assert res.rc == 255 and "Permission denied (publickey)." in res.stderr, res


def test_a_later_drop_in_does_not_win(site):
    box = site.box
    box.put_file("/etc/ssh/sshd_config.d/50-cloud-init.conf", "PasswordAuthentication yes\n")
    try:
        converge(box, site.pillar, "ssh")
        assert "passwordauthentication no" in box.exec(["sshd", "-T"]).stdout.splitlines()
    finally:
        box.exec(["rm", "-f", "/etc/ssh/sshd_config.d/50-cloud-init.conf"])


def test_an_earlier_drop_in_that_wins_stops_the_reload(site):
    box = site.box
    box.put_file("/etc/ssh/sshd_config.d/00-aaa.conf", "PasswordAuthentication yes\n")
    box.put_file("/etc/ssh/sshd_config.d/00-webstack.conf", "# changed by hand\n")
    reloads = sshd_reloads(box)
    try:
        res = box.apply(site.pillar, "ssh")
        failed = dict(res.failed)
        assert "PasswordAuthentication is 'yes', not 'no'" in failed["ssh-server-settings-are-in-effect"]
        assert "ssh-server-is-running" in failed  # its requisite failed
        assert sshd_reloads(box) == reloads
    finally:
        box.exec(["rm", "-f", "/etc/ssh/sshd_config.d/00-aaa.conf"])
    converge(box, site.pillar, "ssh")


def test_socket_activation_is_turned_off(site):
    # Ubuntu 24.04 starts sshd from ssh.socket; Debian ships the unit too.
    box = site.box
    converged_to(box, site.pillar, STATES)  # alice listed
    box.exec(["systemctl", "enable", "ssh.socket"])
    converge(box, site.pillar, "ssh")
    assert box.exec(["systemctl", "is-enabled", "ssh.socket"], check=False).stdout.strip() == "disabled"
    assert box.exec(["systemctl", "is-active", "ssh.service"]).stdout.strip() == "active"
    assert ssh(site, "alice", "id -un").stdout.strip() == "alice"


def test_users_and_ssh_are_idempotent(site, idempotent):
    converged_to(site.box, site.pillar, STATES)
    idempotent(site.box, site.pillar, STATES)


def test_a_developer_removed_from_the_pillar_loses_login_and_sudo(site, idempotent):
    box, peer = site.box, site.peer
    converged_to(box, site.pillar, STATES)  # alice listed
    # An open session that must not outlive the account.
    peer.container.exec_run([*CLIENT, "-i", "/root/alice", f"alice@{site.ip}", "sleep 300"], detach=True)
    wait_for(lambda: box.exec(["pgrep", "-u", "alice", "sleep"], check=False).ok)

    without = developers(site.keys, "bob")
    converge(box, without, STATES)

    res = ssh(site, "alice", "true")
    assert res.rc == 255 and "Permission denied" in res.stderr, res
    assert box.exec(["pgrep", "-u", "alice"], check=False).rc == 1, "alice's processes were left running"
    sudo = box.exec(["runuser", "-u", "alice", "--", "sudo", "-n", "true"], check=False)
    assert sudo.rc != 0, sudo
    assert box.exec(["id", "-nG", "alice"]).stdout.split() == ["alice", "webstack-managed"]
    assert box.exec(["test", "-d", "/home/alice"]).ok, "the home directory stays"
    assert ssh(site, "bob", "id -un").stdout.strip() == "bob"
    idempotent(box, without, STATES)


def test_a_developer_listed_again_gets_their_account_back(site):
    converged_to(site.box, developers(site.keys, "bob"), STATES)  # alice removed
    converge(site.box, site.pillar, STATES)
    res = ssh(site, "alice", "sudo -n id -un")
    assert res.stdout.strip() == "root", res


# A current ssh-audit (Debian's 2.5 knows none of these policies): the release
# the render tests take the policies from (requirements.txt).
SSH_AUDIT = next(
    line for line in (REPO / "requirements.txt").read_text().splitlines() if line.startswith("ssh-audit==")
)


@pytest.fixture(scope="module")
def auditor(site):
    """ssh-audit, from PyPI, in a venv on the peer: the command to run it."""
    site.peer.exec(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv >/dev/null"
        " && python3 -m venv /opt/ssh-audit"
        f" && /opt/ssh-audit/bin/pip install -q --no-cache-dir '{SSH_AUDIT}'"
    )
    return ["/opt/ssh-audit/bin/ssh-audit", "-n"]


def audit(site, auditor, *options):
    # The throttle lets an address burst 15 connections, then 4 a second:
    # each audit opens a dozen; a pause lets the next one start afresh.
    time.sleep(5)
    return site.peer.exec([*auditor, *options, site.ip], check=False)


def test_ssh_audit_from_a_peer_passes_the_releases_hardening_policy_and_warns_only_as_the_readme_says(
    request, site, auditor
):
    settings = site.box.salt_call("--out=json", "webstack.settings", pillar_root=TEST_PILLAR_ROOT, check=True)
    conf = json.loads(settings.stdout)["local"]["ssh"]
    policy = conf["audit_policy"]
    assert policy == "Hardened Debian 12 (version 3)"
    passed = audit(site, auditor, "-P", policy)
    assert passed.rc == 0 and "Passed" in passed.stdout, passed.stdout
    # The default audit, its DHEat connection-rate test included: no fail;
    # a warning only for each classical key exchange the policy keeps for
    # clients without a post-quantum one (README: Hardening).
    full = audit(site, auditor)
    flagged = [line for line in full.stdout.splitlines() if re.search(r"\[(fail|warn)\]", line)]
    classical = {k for k in conf["kex"] if not k.startswith(("sntrup761x25519", "mlkem768x25519"))}
    post_quantum = "does not provide protection against post-quantum attacks"
    warned = {line.split()[1] for line in flagged if post_quantum in line}
    assert len(flagged) == len(classical) and warned == classical, full.stdout
    assert "DHEat" not in full.stdout, full.stdout
    # OpenSSH's own 9.2 policy: Debian's back-port of the strict key
    # exchange (Terrapin) and its second name for sntrup761, and the order
    # of Debian's guide (host keys, ciphers), are the only differences.
    generic = audit(site, auditor, "-j", "-P", "Hardened OpenSSH Server v9.2 (version 3)")
    errors = {e["mismatched_field"]: e for e in json.loads(generic.stdout)["errors"]}
    assert set(errors) == {"Host keys", "Ciphers", "Key exchanges"}, errors
    for reordered in ("Host keys", "Ciphers"):
        assert sorted(errors[reordered]["actual"]) == sorted(errors[reordered]["expected_required"]), errors
    kex = errors["Key exchanges"]
    assert set(kex["actual"]) - set(kex["expected_required"]) == {
        "kex-strict-s-v00@openssh.com",
        "sntrup761x25519-sha512",
    }, kex
    assert set(kex["expected_required"]) <= set(kex["actual"]), kex
    report(
        request,
        f"ssh-audit {SSH_AUDIT.split('==')[1]}: policy '{policy}' passed; default audit: 0 fail,"
        f" {len(flagged)} warn (post-quantum, classical key exchanges), no DHEat finding;"
        " OpenSSH v9.2 policy: host key and cipher order and Debian's 2 extra key exchanges only",
    )
    # A developer's login right after the audits is let in.
    time.sleep(5)
    assert ssh(site, "bob", "true").rc == 0


def test_ssh_audit_passes_debian_13s_policy_with_no_warning_on_the_trixie_stack(
    request, site, auditor, stacks
):
    box = stacks("trixie")
    settings = box.salt_call("--out=json", "webstack.settings", pillar_root=TEST_PILLAR_ROOT, check=True)
    policy = json.loads(settings.stdout)["local"]["ssh"]["audit_policy"]
    assert policy == "Hardened Debian 13 (version 1)"
    passed = site.peer.exec([*auditor, "-P", policy, box.ip()], check=False)
    assert passed.rc == 0 and "Passed" in passed.stdout, passed.stdout
    # OpenSSH 10.0's key exchanges are all post-quantum: nothing left to warn of.
    time.sleep(5)
    full = site.peer.exec([*auditor, box.ip()], check=False)
    flagged = [line for line in full.stdout.splitlines() if re.search(r"\[(fail|warn)\]", line)]
    assert flagged == [] and "DHEat" not in full.stdout, full.stdout
    report(request, f"ssh-audit on Debian 13: '{policy}' passed; default audit: 0 fail, 0 warn, no DHEat")


THROTTLE = """
import socket, sys, time
opened = []
for _ in range(30):
    s = socket.socket()
    s.settimeout(0.3)
    try:
        s.connect((sys.argv[1], 22))
        opened.append(1)
    except OSError:
        opened.append(0)
    s.close()
print("".join(map(str, opened)))
"""


def test_new_connections_beyond_the_burst_are_dropped_until_the_rate_allows(request, site):
    time.sleep(5)
    site.peer.put_file("/root/throttle.py", THROTTLE)
    seen = site.peer.exec(["python3", "/root/throttle.py", site.ip]).stdout.strip()
    # The burst of 15 opens; then, at 4 a second, about every other one
    # (each drop waits 0.3 s) until the address slows down.
    assert seen[:15] == "1" * 15, seen
    dropped = seen[15:].count("0")
    assert dropped >= 5, seen
    report(request, f"ssh throttle: {dropped} of the 15 connections after a burst of 15 dropped ({seen})")
    time.sleep(5)
    assert ssh(site, "bob", "true").rc == 0
    rules = site.box.exec(["nft", "list", "table", "inet", "webstack_ssh_throttle"]).stdout
    assert "limit rate over 4/second burst 15 packets" in rules, rules


def test_moduli_and_host_keys_are_as_the_guide_wants(site):
    box = site.box
    sizes = box.exec("awk '!/^#/ {print $5}' /etc/ssh/moduli.webstack | sort -un").stdout.split()
    assert sizes and min(map(int, sizes)) >= 3071, sizes
    # The package's file is left as shipped (a conffile).
    assert box.exec("awk '!/^#/ && $5 < 3071' /etc/ssh/moduli | wc -l").stdout.strip() != "0"
    assert box.exec(["ssh-keygen", "-l", "-f", "/etc/ssh/ssh_host_rsa_key.pub"]).stdout.startswith("4096 ")
    offered = site.peer.exec(["ssh-keyscan", "-p", "22", site.ip], check=False).stdout
    assert {line.split()[1] for line in offered.splitlines() if line and not line.startswith("#")} == {
        "ssh-ed25519",
        "ssh-rsa",
    }, offered


def sshd_reloads(box):
    return box.exec("journalctl -u ssh -o cat | grep -c 'Received SIGHUP'", check=False).stdout.strip()


def wait_for(check, timeout=15):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"still not so after {timeout} s"
        time.sleep(0.2)
