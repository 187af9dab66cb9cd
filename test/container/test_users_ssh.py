"""
users + ssh: developers log in over ssh from another container with their
keys (and nothing else), sudo as the pillar says, and lose both when they
leave the pillar; the project user owns its root.

Alice (with sudo) and Bob are listed until a test removes Alice; the tests
that need her listed, or removed, say so first (conftest's `converged_to`).
"""

import time
import types

import pytest
from conftest import converge, converged_to, load_pillar, with_settings

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


def sshd_reloads(box):
    return box.exec("journalctl -u ssh -o cat | grep -c 'Received SIGHUP'", check=False).stdout.strip()


def wait_for(check, timeout=15):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"still not so after {timeout} s"
        time.sleep(0.2)
