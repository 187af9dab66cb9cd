"""_states/rabbitmq_password.py through Salt's loader, rabbitmqctl faked: the
password goes to rabbitmqctl's standard input only, never to its command
line or the state's output."""

import json

import pytest
import salt.utils.path

PASSWORD = "mq s3cret:/@pass"


class FakeCtl:
    """rabbitmqctl with one user; `broken` makes change_password fail."""

    def __init__(self, password, broken=False):
        self.password, self.broken, self.calls = password, broken, []

    def __call__(self, cmd, stdin=None, **kwargs):
        self.calls.append((list(cmd), stdin))
        action = cmd[1]
        if action == "authenticate_user":
            ok = stdin == self.password
            err = (
                "" if ok else "Error: failed to authenticate user \"shop\"\nuser 'shop' - invalid credentials"
            )
            return {"retcode": 0 if ok else 65, "stdout": "Password:\nSuccess" if ok else "", "stderr": err}
        if action == "change_password":
            if self.broken:
                return {
                    "retcode": 69,
                    "stdout": "",
                    "stderr": "Error: unable to perform an operation on node",
                }
            self.password = stdin
            return {"retcode": 0, "stdout": "Changing password", "stderr": ""}
        raise AssertionError(f"unexpected rabbitmqctl call: {cmd}")


@pytest.fixture
def managed(salt_loader, monkeypatch):
    monkeypatch.setattr(salt.utils.path, "which", lambda name: f"/usr/sbin/{name}")

    def run(ctl, test=False):
        ldr = salt_loader(fakes={"cmd.run_all": ctl}, test=test)
        return ldr.states["rabbitmq_password.managed"]("shop", PASSWORD)

    return run


def never_on_a_command_line(ctl, ret):
    for cmd, _ in ctl.calls:
        assert PASSWORD not in " ".join(cmd)
    assert PASSWORD not in json.dumps(ret)


def test_a_matching_password_changes_nothing(managed):
    ctl = FakeCtl(PASSWORD)
    ret = managed(ctl)
    assert ret["result"] is True and ret["changes"] == {}
    assert ctl.calls == [(["rabbitmqctl", "authenticate_user", "shop"], PASSWORD)]
    never_on_a_command_line(ctl, ret)


def test_another_password_is_changed_through_stdin_and_checked(managed):
    ctl = FakeCtl("old")
    ret = managed(ctl)
    assert ret["result"] is True and ret["changes"] == {"password": "set"}
    assert [cmd[1] for cmd, _ in ctl.calls] == ["authenticate_user", "change_password", "authenticate_user"]
    assert ctl.password == PASSWORD
    never_on_a_command_line(ctl, ret)


def test_test_mode_predicts_and_changes_nothing(managed):
    ctl = FakeCtl("old")
    ret = managed(ctl, test=True)
    assert ret["result"] is None and ret["changes"] == {"password": "would be set"}
    assert ctl.password == "old" and len(ctl.calls) == 1


def test_a_failed_change_fails_with_rabbitmqctl_words(managed):
    ctl = FakeCtl("old", broken=True)
    ret = managed(ctl)
    assert ret["result"] is False and ret["changes"] == {}
    assert "unable to perform an operation on node" in ret["comment"]
    never_on_a_command_line(ctl, ret)


def test_without_rabbitmqctl_it_fails_clearly_and_a_dry_run_predicts(salt_loader, monkeypatch):
    monkeypatch.setattr(salt.utils.path, "which", lambda name: None)
    ctl = FakeCtl(PASSWORD)
    ret = salt_loader(fakes={"cmd.run_all": ctl}).states["rabbitmq_password.managed"]("shop", PASSWORD)
    assert ret["result"] is False and "rabbitmqctl is not installed" in ret["comment"]
    # A fresh box: the server comes earlier in the real run.
    dry = salt_loader(fakes={"cmd.run_all": ctl}, test=True).states["rabbitmq_password.managed"](
        "shop", PASSWORD
    )
    assert dry["result"] is None and dry["changes"] == {"password": "would be set"}
    assert dry["comment"] == "The password of RabbitMQ user shop would be set once RabbitMQ is installed"
    assert ctl.calls == []
    assert PASSWORD not in str(dry)
