"""webstack_ssh.settings_in_effect through Salt's loader, sshd faked."""

import pytest
from salt.exceptions import CommandExecutionError

# What `sshd -T` prints, trimmed: repeated keywords on lines of their own.
SSHD_T = """\
port 22
permitrootlogin no
passwordauthentication no
kbdinteractiveauthentication no
authorizedkeysfile .ssh/authorized_keys
allowgroups developers
allowgroups sudo
authenticationmethods publickey
x11forwarding no
"""

WANTED = {
    "Port": 22,
    "PermitRootLogin": "no",
    "PasswordAuthentication": False,
    "KbdInteractiveAuthentication": "no",
    "AuthorizedKeysFile": ".ssh/authorized_keys",
    "AllowGroups": ["developers", "sudo"],
    "AuthenticationMethods": "publickey",
}


def sshd(stdout="", retcode=0, stderr=""):
    calls = []

    def run_all(cmd, **kwargs):
        calls.append(cmd)
        return {"retcode": retcode, "stdout": stdout, "stderr": stderr, "pid": 1}

    run_all.calls = calls
    return run_all


@pytest.fixture
def check(salt_loader):
    def make(fake, test=False):
        return salt_loader(fakes={"cmd.run_all": fake}, test=test).states["webstack_ssh.settings_in_effect"]

    return make


@pytest.mark.parametrize("test", [False, True])
def test_all_in_effect_succeeds_and_changes_nothing(check, test):
    fake = sshd(SSHD_T)
    ret = check(fake, test=test)("ssh", WANTED)
    assert ret["result"] is True, ret
    assert ret["changes"] == {}
    assert fake.calls == [["sshd", "-T"]]


def test_a_value_read_earlier_fails_naming_the_setting(check):
    out = SSHD_T.replace("passwordauthentication no", "passwordauthentication yes")
    ret = check(sshd(out))("ssh", WANTED)
    assert ret["result"] is False
    assert "PasswordAuthentication is 'yes', not 'no'" in ret["comment"]
    assert "PermitRootLogin" not in ret["comment"]
    assert ret["changes"] == {}


def test_repeated_keywords_compare_as_a_whole(check):
    out = SSHD_T.replace("allowgroups sudo\n", "")
    ret = check(sshd(out))("ssh", WANTED)
    assert ret["result"] is False
    assert "AllowGroups is 'developers', not 'developers sudo'" in ret["comment"]


def test_a_missing_setting_fails(check):
    ret = check(sshd("port 22\n"))("ssh", {"Port": 22, "PermitRootLogin": "no"})
    assert ret["result"] is False
    assert "PermitRootLogin is None" in ret["comment"]


def test_an_invalid_config_fails_with_sshds_message(check):
    fake = sshd(retcode=255, stderr="/etc/ssh/sshd_config.d/x.conf line 1: Bad configuration option: Nope")
    ret = check(fake)("ssh", WANTED)
    assert ret["result"] is False
    assert "Bad configuration option: Nope" in ret["comment"]


def test_test_mode_predicts_instead_of_failing(check):
    # Our config file may be about to land: not a failure yet.
    out = SSHD_T.replace("permitrootlogin no", "permitrootlogin yes")
    ret = check(sshd(out), test=True)("ssh", WANTED)
    assert ret["result"] is None
    assert "PermitRootLogin" in ret["comment"]
    ret = check(sshd(retcode=255, stderr="Missing privilege separation directory"), test=True)("ssh", WANTED)
    assert ret["result"] is None
    assert ret["changes"] == {}


@pytest.mark.parametrize("test, result", [(False, False), (True, None)])
def test_sshd_not_installed_yet(check, test, result):
    def missing(cmd, **kwargs):
        raise CommandExecutionError("Unable to run command ['sshd', '-T']: No such file or directory")

    ret = check(missing, test=test)("ssh", WANTED)
    assert ret["result"] is result
    assert "No such file or directory" in ret["comment"]
