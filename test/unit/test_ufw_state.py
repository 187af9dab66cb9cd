"""_states/ufw.py: the ret dicts of ufw.rules_managed and ufw.enabled through
Salt's loader, with `cmd.run_all` answered by a small ufw double."""

import shlex

import pytest

SSH = {"port": "22", "proto": "tcp", "comment": "webstack: ssh"}
HTTP = {"port": "80", "proto": "tcp", "comment": "webstack: http"}
PG = {"port": "5432", "proto": "tcp", "from": "10.0.0.11", "comment": "webstack: postgresql"}


class FakeUfw:
    """
    What ufw does with the commands the module sends, kept as the lines
    `ufw show added` prints (a rule is its words without the comment, as ufw
    compares them). Every command is recorded in `calls`.
    """

    def __init__(self, lines=(), active=False, incoming="DROP", outgoing="ACCEPT", ipv6=True):
        self.rules = [shlex.split(line) for line in lines]
        self.active = active
        self.policy = {"DEFAULT_INPUT_POLICY": incoming, "DEFAULT_OUTPUT_POLICY": outgoing}
        self.ipv6 = ipv6
        self.calls = []

    @staticmethod
    def _bare(words):
        return words[:-2] if len(words) > 2 and words[-2] == "comment" else words

    def _find(self, words):
        bare = self._bare(words)
        return next((i for i, r in enumerate(self.rules) if self._bare(r) == bare), None)

    def run_all(self, cmd, **kwargs):
        assert kwargs.get("python_shell") is False and cmd[0] == "ufw"
        args = list(cmd[1:])
        self.calls.append(args)
        out = ""
        if args == ["show", "added"]:
            lines = ["ufw " + shlex.join(r) for r in self.rules] or ["(None)"]
            out = "\n".join(["Added user rules (see 'ufw status' for running firewall):", *lines])
        elif args[:1] == ["status"]:
            out = "Status: active\n" if self.active else "Status: inactive\n"
        elif args[0] in ("allow", "deny", "reject", "limit"):
            if any("frobnicate" in a for a in args):
                return {"retcode": 1, "stdout": "", "stderr": "ERROR: Invalid syntax"}
            i = self._find(args)
            if i is None:
                self.rules.append(args)
            else:
                self.rules[i] = args
        elif args[0] == "delete":
            i = self._find(args[1:])
            if i is not None:
                del self.rules[i]
        elif args[0] == "default":
            word = {"deny": "DROP", "allow": "ACCEPT", "reject": "REJECT"}[args[1]]
            key = {"incoming": "DEFAULT_INPUT_POLICY", "outgoing": "DEFAULT_OUTPUT_POLICY"}[args[2]]
            self.policy[key] = word
        elif args == ["--force", "enable"]:
            self.active = True
        elif args != ["reload"]:
            raise AssertionError(f"unexpected ufw {args}")
        return {"retcode": 0, "stdout": out, "stderr": ""}

    def read(self, path):
        assert path == "/etc/default/ufw"
        lines = [f"IPV6={'yes' if self.ipv6 else 'no'}"] + [f'{k}="{v}"' for k, v in self.policy.items()]
        return "\n".join(lines) + "\n"

    def replace(self, path, pattern, repl, **kwargs):
        assert path == "/etc/default/ufw" and pattern == r"^IPV6=.*$"
        self.calls.append(["edit", repl])
        self.ipv6 = repl == "IPV6=yes"

    @property
    def changing_calls(self):
        return [c for c in self.calls if c[:1] not in (["show"], ["status"])]


@pytest.fixture
def ufw_box(salt_loader):
    """(fake ufw, loader) for a box where ufw is installed."""

    def make(test=False, **fake_kw):
        fake = FakeUfw(**fake_kw)
        fakes = {
            "cmd.run_all": fake.run_all,
            "file.read": fake.read,
            "file.replace": fake.replace,
            "ufw.installed": lambda: True,
        }
        return fake, salt_loader(fakes=fakes, test=test)

    return make


def managed(ldr, rules, ssh_port=22):
    return ldr.states["ufw.rules_managed"]("firewall", rules=rules, ssh_port=ssh_port)


# -- ufw.rules_managed ---------------------------------------------------------------


def test_adds_missing_rules_and_reports_them(ufw_box):
    fake, ldr = ufw_box()
    ret = managed(ldr, [SSH, HTTP, PG])
    assert ret["result"] is True
    assert ret["changes"] == {
        "added": [
            "allow 22/tcp comment 'webstack: ssh'",
            "allow 80/tcp comment 'webstack: http'",
            "allow from 10.0.0.11 to any port 5432 proto tcp comment 'webstack: postgresql'",
        ]
    }
    assert [shlex.join(r) for r in fake.rules] == ret["changes"]["added"]
    assert fake.changing_calls[0][:2] == ["allow", "22/tcp"]  # ssh first


def test_no_change_when_the_rules_are_there(ufw_box):
    lines = [
        "allow 22/tcp comment 'webstack: ssh'",
        "allow 80/tcp comment 'webstack: http'",
        "allow 9999/tcp",  # not ours: left alone
    ]
    fake, ldr = ufw_box(lines=lines, active=True)
    ret = managed(ldr, [SSH, HTTP])
    assert ret == {
        "name": "firewall",
        "result": True,
        "changes": {},
        "comment": "The 2 webstack rule(s) are in place.",
    }
    assert fake.changing_calls == []


def test_removes_managed_rules_no_longer_listed_and_keeps_others(ufw_box):
    lines = [
        "allow 22/tcp comment 'webstack: ssh'",
        "allow 8081/tcp comment 'webstack: 8081/tcp'",  # ours, dropped from the pillar
        "allow from 10.9.9.9 to any port 5432 proto tcp comment 'webstack: postgresql'",  # old peer
        "allow 8082/tcp comment 'made by hand'",  # not ours
        "allow 25/tcp",  # not ours
    ]
    fake, ldr = ufw_box(lines=lines, active=True)
    ret = managed(ldr, [SSH, PG])
    assert ret["result"] is True, ret["comment"]
    assert ret["changes"] == {
        "added": ["allow from 10.0.0.11 to any port 5432 proto tcp comment 'webstack: postgresql'"],
        "removed": [
            "allow 8081/tcp comment 'webstack: 8081/tcp'",
            "allow from 10.9.9.9 to any port 5432 proto tcp comment 'webstack: postgresql'",
        ],
    }
    assert [shlex.join(r) for r in fake.rules] == [
        "allow 22/tcp comment 'webstack: ssh'",
        "allow 8082/tcp comment 'made by hand'",
        "allow 25/tcp",
        "allow from 10.0.0.11 to any port 5432 proto tcp comment 'webstack: postgresql'",
    ]
    # the new rule went in before the old ones went out
    verbs = [c[0] for c in fake.changing_calls]
    assert verbs == ["allow", "delete", "delete"]


def test_test_mode_predicts_and_touches_nothing(ufw_box):
    lines = ["allow 22/tcp comment 'webstack: ssh'", "allow 8081/tcp comment 'webstack: 8081/tcp'"]
    fake, ldr = ufw_box(lines=lines, test=True)
    ret = managed(ldr, [SSH, HTTP])
    assert ret["result"] is None
    assert ret["changes"] == {
        "added": ["allow 80/tcp comment 'webstack: http'"],
        "removed": ["allow 8081/tcp comment 'webstack: 8081/tcp'"],
    }
    assert fake.changing_calls == []
    assert [shlex.join(r) for r in fake.rules] == lines


def test_test_mode_on_a_box_without_ufw_predicts_every_rule(salt_loader):
    ldr = salt_loader(fakes={"ufw.installed": lambda: False}, test=True)
    ret = managed(ldr, [SSH, HTTP])
    assert ret["result"] is None
    assert len(ret["changes"]["added"]) == 2


def test_test_mode_with_nothing_to_do_is_true(ufw_box):
    fake, ldr = ufw_box(lines=["allow 22/tcp comment 'webstack: ssh'"], test=True)
    ret = managed(ldr, [SSH])
    assert ret["result"] is True and ret["changes"] == {}


@pytest.mark.parametrize(
    "rules, ssh_port",
    [
        ([HTTP], 22),  # no ssh rule at all
        ([SSH, HTTP], 2222),  # ssh moved, the rules still say 22
        ([dict(SSH, proto="udp")], 22),
    ],
)
def test_refuses_a_rule_set_without_ssh(ufw_box, rules, ssh_port):
    fake, ldr = ufw_box(
        lines=["allow 22/tcp comment 'webstack: ssh'", "allow 80/tcp comment 'webstack: http'"]
    )
    ret = managed(ldr, rules, ssh_port=ssh_port)
    assert ret["result"] is False
    assert "locks ssh out" in ret["comment"] and ret["changes"] == {}
    assert fake.changing_calls == []


def test_refuses_to_shut_out_the_ssh_session_running_salt(ufw_box, monkeypatch):
    monkeypatch.setenv("SSH_CONNECTION", "192.0.2.50 51000 10.0.0.5 22")
    fake, ldr = ufw_box()
    ret = managed(ldr, [dict(SSH, **{"from": "10.9.0.0/16"})])
    assert ret["result"] is False and "192.0.2.50" in ret["comment"]
    assert fake.changing_calls == []
    ret = managed(ldr, [dict(SSH, **{"from": "192.0.2.0/24"})])
    assert ret["result"] is True


def test_a_moved_ssh_port_opens_before_the_old_one_closes(ufw_box):
    fake, ldr = ufw_box(lines=["allow 22/tcp comment 'webstack: ssh'"], active=True)
    ret = managed(ldr, [dict(SSH, port="2222")], ssh_port=2222)
    assert ret["result"] is True
    assert ret["changes"] == {
        "added": ["allow 2222/tcp comment 'webstack: ssh'"],
        "removed": ["allow 22/tcp comment 'webstack: ssh'"],
    }
    assert [c[:2] for c in fake.changing_calls] == [["allow", "2222/tcp"], ["delete", "allow"]]


def test_a_changed_comment_is_rewritten_in_place(ufw_box):
    fake, ldr = ufw_box(
        lines=["allow 22/tcp comment 'webstack: ssh'", "allow 80/tcp comment 'webstack: web'"]
    )
    ret = managed(ldr, [SSH, HTTP])
    assert ret["changes"] == {
        "added": ["allow 80/tcp comment 'webstack: http'"],
        "removed": ["allow 80/tcp comment 'webstack: web'"],
    }
    assert [shlex.join(r) for r in fake.rules][1] == "allow 80/tcp comment 'webstack: http'"
    assert [c[0] for c in fake.changing_calls] == ["allow"]  # no delete: ufw re-comments


def test_a_hand_made_rule_covering_a_wanted_one_is_kept(ufw_box):
    fake, ldr = ufw_box(lines=["allow 22/tcp", "allow 80/tcp comment 'webstack: http'"])
    ret = managed(ldr, [SSH, HTTP])
    assert ret["result"] is True and ret["changes"] == {}
    assert "1 rule(s) webstack does not manage" in ret["comment"]
    assert fake.changing_calls == []


def test_a_failing_ufw_command_fails_the_state_with_what_was_done(ufw_box):
    fake, ldr = ufw_box()
    bad = {"port": "1", "proto": "tcp", "comment": "webstack: frobnicate"}
    ret = managed(ldr, [SSH, bad])
    assert ret["result"] is False
    assert "Invalid syntax" in ret["comment"]
    assert ret["changes"] == {"added": ["allow 22/tcp comment 'webstack: ssh'"]}


def test_rejects_rules_without_the_webstack_mark(ufw_box):
    fake, ldr = ufw_box()
    ret = managed(ldr, [SSH, {"port": "80", "proto": "tcp", "comment": "http"}])
    assert ret["result"] is False and "must start with 'webstack:'" in ret["comment"]
    assert fake.changing_calls == []


# -- ufw.enabled -------------------------------------------------------------------


def enabled(ldr, **kw):
    return ldr.states["ufw.enabled"]("firewall", **kw)


def test_enables_with_default_deny_after_ssh_is_allowed(ufw_box):
    fake, ldr = ufw_box(lines=["allow 22/tcp comment 'webstack: ssh'"], incoming="ACCEPT")
    ret = enabled(ldr)
    assert ret["result"] is True
    assert ret["changes"] == {
        "default incoming": {"old": "allow", "new": "deny"},
        "active": {"old": False, "new": True},
    }
    assert fake.changing_calls == [["default", "deny", "incoming"], ["--force", "enable"]]


def test_enabled_refuses_to_deny_incoming_without_an_ssh_rule(ufw_box):
    fake, ldr = ufw_box(lines=["allow 80/tcp comment 'webstack: http'"])
    ret = enabled(ldr, ssh_port=22)
    assert ret["result"] is False and "no rule allows ssh" in ret["comment"]
    assert fake.changing_calls == [] and not fake.active


def test_enabled_no_change_when_active_with_the_policies(ufw_box):
    fake, ldr = ufw_box(lines=["allow 22/tcp"], active=True)
    ret = enabled(ldr)
    assert ret["result"] is True and ret["changes"] == {}
    assert fake.changing_calls == []


def test_enabled_test_mode_predicts(ufw_box):
    fake, ldr = ufw_box(lines=[], test=True, outgoing="DROP")
    ret = enabled(ldr)
    assert ret["result"] is None
    assert ret["changes"] == {
        "default outgoing": {"old": "deny", "new": "allow"},
        "active": {"old": False, "new": True},
    }
    assert fake.changing_calls == []


def test_enabled_test_mode_without_ufw_predicts_enabling(salt_loader):
    ldr = salt_loader(fakes={"ufw.installed": lambda: False}, test=True)
    ret = enabled(ldr)
    assert ret["result"] is None and ret["changes"] == {"active": {"old": False, "new": True}}


def test_turning_ipv6_back_on_restores_the_ipv6_half_of_every_rule(ufw_box):
    lines = ["allow 22/tcp comment 'webstack: ssh'", "allow 25/tcp"]
    fake, ldr = ufw_box(lines=lines, active=True, ipv6=False)
    ret = enabled(ldr, ipv6=True)
    assert ret["result"] is True
    assert ret["changes"] == {"ipv6": {"old": False, "new": True}}
    assert fake.changing_calls == [
        ["edit", "IPV6=yes"],
        ["reload"],
        ["allow", "22/tcp", "comment", "webstack: ssh"],
        ["allow", "25/tcp"],
    ]
    assert enabled(ldr, ipv6=True)["changes"] == {}


def test_enabled_rejects_unknown_policies(ufw_box):
    fake, ldr = ufw_box()
    ret = enabled(ldr, incoming="drop")
    assert ret["result"] is False and "Unknown policy" in ret["comment"]
