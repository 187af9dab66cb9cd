"""_modules/release.py and _states/release.py through Salt's loader: release
bookkeeping on a temporary root, a real deploy of a local source, and the
state's ret dicts. The module's private helpers (which the loader does not
expose) are reached through its globals."""

import json
import os
import sys

import pytest
from salt.exceptions import CommandExecutionError


@pytest.fixture
def rel(salt_loader):
    return salt_loader().salt


@pytest.fixture
def private(rel):
    """_modules/release.py's globals: its `_name` helpers, which the loader hides."""
    return rel["release.live"].func.__globals__


def make_release(root, name, venv="v1", rid=None):
    path = root / "releases" / name
    path.mkdir(parents=True)
    meta = {"id": rid or name.split("-")[-1], "venv": venv, "name": name, "source": "x", "ref": "main"}
    (path / ".webstack-release.json").write_text(json.dumps(meta))
    (root / "venvs" / venv).mkdir(parents=True, exist_ok=True)
    (root / "venvs" / venv / ".webstack-complete").write_text(venv)
    return path


def test_prune_keeps_the_newest_and_always_the_live_one(private):
    names = [f"2026010{i}T000000.000Z-r{i}" for i in range(1, 7)]
    assert private["_to_prune"](names, names[-1], 3) == names[:3]
    # The live release is old (a rollback): it stays on top of the newest 3.
    assert private["_to_prune"](names, names[0], 3) == names[1:3]
    assert private["_to_prune"](names[:2], names[1], 5) == []


def test_release_names_sort_by_time(private):
    import datetime

    t = datetime.datetime(2026, 11, 25, 14, 1, 2, 345678, tzinfo=datetime.UTC)
    name = private["_release_name"]("4e1693860412aaaabbbbccccddddeeeeffff0000", now=t)
    assert name == "20261125T140102.345Z-4e1693860412"
    later = private["_release_name"]("tree-0123456789abcdef", now=t + datetime.timedelta(milliseconds=1))
    assert sorted([later, name]) == [name, later] and later.endswith("-tree-0123456789abcdef")


def test_tree_id_follows_content_and_exec_bits_not_bytecode(private, tmp_path):
    src = tmp_path / "src"
    (src / "pkg" / "__pycache__").mkdir(parents=True)
    (src / "pkg" / "mod.py").write_text("x = 1\n")
    (src / "manage.py").write_text("print()\n")
    first = private["_tree_id"](str(src))
    (src / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"junk")
    (src / "db.sqlite3").write_bytes(b"data")
    assert private["_tree_id"](str(src)) == first
    (src / "manage.py").chmod(0o755)
    second = private["_tree_id"](str(src))
    assert second != first
    (src / "pkg" / "mod.py").write_text("x = 2\n")
    assert private["_tree_id"](str(src)) not in (first, second)


def test_venv_key_follows_requirements_with_includes_and_python(private, tmp_path):
    (tmp_path / "base.txt").write_text("Django==5.2.19\n")
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("-r base.txt\ngunicorn==27.0.1\n")
    key = private["_venv_key"]("/usr/bin/python3.11 3.11.2", str(reqs))
    assert key == private["_venv_key"]("/usr/bin/python3.11 3.11.2", str(reqs))
    assert key != private["_venv_key"]("/usr/bin/python3.12 3.12.3", str(reqs))
    (tmp_path / "base.txt").write_text("Django==5.2.20\n")
    assert key != private["_venv_key"]("/usr/bin/python3.11 3.11.2", str(reqs))


def test_live_switch_and_prune_on_a_root(rel, private, tmp_path):
    root = tmp_path
    assert rel["release.live"](str(root)) is None
    for i, venv in enumerate(["v1", "v1", "v2", "v3"], start=1):
        make_release(root, f"2026010{i}T000000.000Z-r{i}", venv=venv)
    private["_switch"](str(root), "20260104T000000.000Z-r4")
    assert os.readlink(root / "current") == "releases/20260104T000000.000Z-r4"
    live = rel["release.live"](str(root))
    assert live["id"] == "r4" and live["venv_ok"] is True
    assert rel["release.prune"](str(root), 2, test=True) == {
        "releases": ["20260101T000000.000Z-r1", "20260102T000000.000Z-r2"],
        "venvs": ["v1"],
    }
    assert len(os.listdir(root / "releases")) == 4
    rel["release.prune"](str(root), 2)
    assert sorted(os.listdir(root / "releases")) == ["20260103T000000.000Z-r3", "20260104T000000.000Z-r4"]
    assert sorted(os.listdir(root / "venvs")) == ["v2", "v3"]


def test_switch_refuses_a_current_that_is_a_directory(private, tmp_path):
    (tmp_path / "current").mkdir()
    with pytest.raises(CommandExecutionError, match="is not a symlink"):
        private["_switch"](str(tmp_path), "x")


def test_resolve_wants_exactly_one_source(rel, tmp_path):
    with pytest.raises(CommandExecutionError, match="exactly one of"):
        rel["release.resolve"](str(tmp_path))
    with pytest.raises(CommandExecutionError, match="exactly one of"):
        rel["release.resolve"](str(tmp_path), git="/srv/git/x.git", path="/opt/x")


def test_a_local_source_deploys_then_a_broken_one_leaves_it_live(rel, tmp_path):
    """A real deploy (venv, switch) of a tiny local source; then one whose pip fails."""
    src, root = tmp_path / "src", tmp_path / "root"
    src.mkdir()
    root.mkdir()
    (src / "requirements.txt").write_text("# nothing to install\n")
    (src / "app.py").write_text("VERSION = 1\n")
    want = rel["release.resolve"](str(root), path=str(src))
    kwargs = dict(path=str(src), health_check=None, keep=2)
    changes = rel["release.deploy"](str(root), "root", "root", sys.executable, **kwargs)
    live = rel["release.live"](str(root))
    assert live["id"] == want["id"] and live["venv_ok"]
    assert changes["release"]["old"] is None and changes["virtualenv"]["built"] is True
    assert (root / "current" / "app.py").read_text() == "VERSION = 1\n"

    (src / "requirements.txt").write_text("no-such-package-for-webstack-tests==0.0.0 --no-index\n")
    (src / "app.py").write_text("VERSION = 2\n")
    with pytest.raises(CommandExecutionError) as err:
        rel["release.deploy"](str(root), "root", "root", sys.executable, **kwargs)
    assert "pip install -r requirements.txt failed" in str(err.value)
    assert f"{live['name']} stays live" in str(err.value)
    assert rel["release.live"](str(root))["name"] == live["name"]
    assert os.listdir(root / "releases") == [live["name"]]
    assert os.listdir(root / "venvs") == [live["venv"]]


# -- the state ---------------------------------------------------------------

LIVE = {"id": "abc", "name": "20260101T000000.000Z-abc", "venv": "v1", "venv_ok": True}


@pytest.fixture
def state(salt_loader):
    def make(want, live=LIVE, test=False, deploy=None, pruned=None, held=None):
        calls = []

        def fake_deploy(*args, **kwargs):
            calls.append((args, kwargs))
            if isinstance(deploy, Exception):
                raise deploy
            return deploy

        def fake_resolve(*args, **kwargs):
            if isinstance(want, Exception):
                raise want
            return want

        fakes = {
            "release.resolve": fake_resolve,
            "release.live": lambda root: live,
            "release.hold": lambda root: held,
            "release.unhold": lambda root: calls.append(("unhold", root)),
            "release.prune": lambda root, keep, test=False: pruned or {"releases": [], "venvs": []},
            "release.deploy": fake_deploy,
        }
        ldr = salt_loader(fakes=fakes, test=test)
        return ldr.states["release.deployed"], calls

    return make


def test_state_leaves_a_live_release_alone(state):
    deployed, calls = state({"id": "abc", "source": "/srv/git/x.git", "ref": "main"})
    ret = deployed("/srv/shop", user="shop", python="/usr/bin/python3", git="/srv/git/x.git")
    assert ret["result"] is True and ret["changes"] == {} and calls == []
    assert "is live" in ret["comment"]


def test_state_test_mode_predicts_the_new_release(state):
    deployed, calls = state({"id": "def", "source": "/srv/git/x.git", "ref": "v2"}, test=True)
    ret = deployed("/srv/shop", user="shop", python="/usr/bin/python3", git="/srv/git/x.git", ref="v2")
    assert ret["result"] is None and calls == []
    assert ret["changes"] == {"release": {"old": LIVE["name"], "new": "def"}}


def test_state_deploys_and_reports_what_changed(state):
    changes = {"release": {"old": LIVE["name"], "new": "20260102T000000.000Z-def (v2)"}, "hooks": ["migrate"]}
    deployed, calls = state({"id": "def", "source": "g", "ref": "v2"}, deploy=changes)
    ret = deployed(
        "/srv/shop", user="shop", python="/usr/bin/python3", git="g", ref="v2", migrate=True, bogus=1, keep=3
    )
    assert ret["result"] is True and ret["changes"] == changes
    ((args, kwargs),) = calls
    assert args == ("/srv/shop", "shop", "shop", "/usr/bin/python3")
    assert kwargs["migrate"] is True and kwargs["keep"] == 3 and "bogus" not in kwargs


def test_state_failure_says_why(state):
    from salt.exceptions import CommandExecutionError as Err

    deployed, _ = state({"id": "def", "source": "g", "ref": "v2"}, deploy=Err("manage.py migrate failed"))
    ret = deployed("/srv/shop", user="shop", python="/usr/bin/python3", git="g", ref="v2")
    assert ret["result"] is False and ret["comment"] == "manage.py migrate failed" and ret["changes"] == {}


def test_state_prunes_when_keep_is_lowered_and_says_so_in_test_mode(state):
    pruned = {"releases": ["20250101T000000.000Z-old"], "venvs": []}
    deployed, _ = state({"id": "abc", "source": "g", "ref": "main"}, test=True, pruned=pruned)
    ret = deployed("/srv/shop", user="shop", python="/usr/bin/python3", git="g", keep=2)
    assert ret["result"] is None and ret["changes"] == {"pruned": pruned}


def test_state_test_mode_on_a_fresh_box_predicts_instead_of_failing(state):
    from salt.exceptions import CommandExecutionError as Err

    deployed, _ = state(Err("git ls-remote /srv/git/x.git: No such file: 'git'"), live=None, test=True)
    ret = deployed("/srv/shop", user="shop", python="/usr/bin/python3", git="/srv/git/x.git", ref="v2")
    assert ret["result"] is None and ret["changes"] == {"release": {"old": None, "new": "v2"}}
    deployed, _ = state(Err("git ls-remote: unreachable"), live=None)
    assert deployed("/srv/shop", user="shop", python="/usr/bin/python3", git="g")["result"] is False


HELD = {"release": LIVE["name"], "from": {"ref": "main", "id": "def"}, "job": "20261205071500123456"}


def test_state_leaves_a_held_rollback_live_while_the_source_names_what_it_rolled_back_from(state):
    for test in (False, True):
        deployed, calls = state({"id": "def", "source": "g", "ref": "main"}, held=HELD, test=test)
        ret = deployed("/srv/shop", user="shop", python="/usr/bin/python3", git="g")
        assert ret["result"] is True and ret["changes"] == {} and calls == []
        assert "held live by a rollback (job 20261205071500123456)" in ret["comment"]
        assert "salt-call release.unhold" in ret["comment"]


def test_state_deploys_past_a_hold_once_the_source_moves(state):
    changes = {"release": {"old": LIVE["name"], "new": "x"}, "hold": {"old": LIVE["name"], "new": None}}
    deployed, calls = state({"id": "ghi", "source": "g", "ref": "v3"}, held=HELD, deploy=changes)
    ret = deployed("/srv/shop", user="shop", python="/usr/bin/python3", git="g", ref="v3")
    assert ret["result"] is True and ret["changes"] == changes and len(calls) == 1


def test_state_clears_a_hold_when_the_source_names_the_live_release(state):
    deployed, calls = state({"id": "abc", "source": "g", "ref": "v1"}, held=HELD, test=True)
    ret = deployed("/srv/shop", user="shop", python="/usr/bin/python3", git="g", ref="v1")
    assert ret["result"] is None and ret["changes"] == {"hold": {"old": LIVE["name"], "new": None}}
    assert calls == [] and "would be cleared" in ret["comment"]
    deployed, calls = state({"id": "abc", "source": "g", "ref": "v1"}, held=HELD)
    ret = deployed("/srv/shop", user="shop", python="/usr/bin/python3", git="g", ref="v1")
    assert ret["result"] is True and calls == [("unhold", "/srv/shop")]


# -- rollback ------------------------------------------------------------------


@pytest.fixture
def operated(salt_loader, tmp_path):
    """
    A project root with three releases (r1, r2 on virtualenv v1; r3, live, on
    v2) and supervisord running gunicorn and Celery, both faked: what the
    rollback asked of supervisord and wrote to the audit trail is recorded.
    """
    root = tmp_path / "shop"
    for i, venv in ((1, "v1"), (2, "v1"), (3, "v2")):
        path = make_release(root, f"2026010{i}T000000.000Z-r{i}", venv=venv, rid=f"{i}" * 12)
        (path / "counter" / "migrations").mkdir(parents=True)
        for n in range(1, i + 1):
            (path / "counter" / "migrations" / f"000{n}_step.py").write_text("")
    (root / "current").symlink_to("releases/20260103T000000.000Z-r3")
    asked, trail = [], []
    running = {
        "shop-gunicorn": {"state": "RUNNING", "pid": 10},
        "shop-celery": {"state": "RUNNING", "pid": 11},
    }
    settings = {
        "project": {"root": str(root), "name": "shop"},
        "supervisor": {"gunicorn": {"reload_signal": "HUP"}, "celery": {"concurrency": None}},
    }
    fakes = {
        "webstack.settings": lambda: settings,
        "supervisorctl.status": lambda name=None: running,
        "supervisorctl.signal": lambda name, sig: asked.append((name, sig)),
        "supervisorctl.restart": lambda name: asked.append((name, "restart")),
        "supervisorctl.wait_up": lambda name, timeout: (True, running[name]),
        "audit.record": lambda action, text, jid=None: trail.append((action, text, jid)),
    }
    ldr = salt_loader(fakes=fakes)
    return ldr.salt, root, asked, trail


def test_rollback_goes_to_the_previous_release_holds_it_and_warns_about_migrations(operated):
    rel, root, asked, trail = operated
    back = rel["release.rollback"](__pub_jid="20261205080000000001")
    assert back["live"] == {"old": "20260103T000000.000Z-r3", "new": "20260102T000000.000Z-r2"}
    assert os.readlink(root / "current") == "releases/20260102T000000.000Z-r2"
    # r3 ran on another virtualenv: gunicorn restarts (a HUP keeps the old interpreter).
    assert asked == [("shop-celery", "restart"), ("shop-gunicorn", "restart")]
    assert back["warnings"] == [
        "20260103T000000.000Z-r3 has migrations 20260102T000000.000Z-r2 lacks, and they stay applied:"
        " counter/migrations/0003_step.py"
    ]
    assert back["hold"]["from"] == {"ref": "main", "id": "3" * 12}
    assert back["hold"]["job"] == "20261205080000000001"
    assert rel["release.hold"]() == back["hold"]
    ((action, text, jid),) = trail
    assert action == "rollback" and jid == "20261205080000000001"
    assert "20260103T000000.000Z-r3 -> 20260102T000000.000Z-r2 (ref main, commit 222222222222)" in text
    listed = rel["release.list"]()
    assert [(r["name"][-2:], r["live"], r["held"]) for r in listed] == [
        ("r1", False, False),
        ("r2", True, True),
        ("r3", False, False),
    ]

    # Again, to r1 by commit: same virtualenv, a graceful reload; the hold still names r3's commit.
    asked.clear()
    back = rel["release.rollback"](to="1111111")
    assert back["live"]["new"].endswith("-r1") and back["hold"]["from"]["id"] == "3" * 12
    assert asked == [("shop-gunicorn", "HUP"), ("shop-celery", "restart")]
    # Forward to r3 again (what the source names): nothing left to hold.
    back = rel["release.rollback"](to="20260103T000000.000Z-r3")
    assert back["hold"] is None and rel["release.hold"]() is None
    assert rel["release.unhold"]() is None


def test_rollback_refuses_what_it_cannot_do_and_changes_nothing(operated):
    from salt.exceptions import CommandExecutionError

    rel, root, asked, trail = operated
    for to, said in (
        ("v9", "no kept release is named 'v9' or has that ref or commit; kept: 20260101T000000.000Z-r1,"),
        ("3333333", "20260103T000000.000Z-r3 (3333333) is already live"),
    ):
        with pytest.raises(CommandExecutionError, match=said.replace("(", r"\(").replace(")", r"\)")):
            rel["release.rollback"](to=to)
    (root / "current").unlink()
    (root / "current").symlink_to("releases/20260101T000000.000Z-r1")
    with pytest.raises(CommandExecutionError, match="no release before 20260101T000000.000Z-r1 is kept"):
        rel["release.rollback"]()
    assert asked == [] and trail == [] and rel["release.hold"]() is None
