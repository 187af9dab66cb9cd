"""_modules/envfile.py and _states/envfile.py through Salt's loader: the file
a shell sources, its values never in the state's output."""

import os
import stat
import subprocess

import pytest
from salt.exceptions import CommandExecutionError

TRICKY = {
    "QUOTES": 'it\'s "quoted"',
    "SHELLISH": "$HOME `id` $(id) \\n; rm -rf /",
    "LINES": "line one\nline two",
    "SPACES": "  padded  ",
    "EMPTY": "",
    "URL": "postgresql://shop:p%40ss@10.0.0.20:5432/shop",
}


def private(mods, name):
    """A `_name` helper of _modules/envfile.py: the loader hides it, its module's globals hold it."""
    return mods["envfile.read"].func.__globals__[name]


def test_render_parse_round_trip_and_sh_agrees(salt_loader, tmp_path):
    mods = salt_loader().salt
    text = mods["envfile.render"](TRICKY)
    assert private(mods, "_parse")(text) == TRICKY
    path = tmp_path / "env"
    path.write_text(text)
    # What the processes get: sh sources it (bin/with-env does exactly this).
    out = subprocess.run(
        [
            "sh",
            "-c",
            f"set -a; . {path}; set +a; python3 -c 'import json, os; print(json.dumps(dict(os.environ)))'",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout
    import json

    env = json.loads(out)
    assert {k: env[k] for k in TRICKY} == TRICKY


def test_values_become_strings_and_bad_names_are_refused(salt_loader):
    mods = salt_loader().salt
    parsed = private(mods, "_parse")(mods["envfile.render"]({"DEBUG": False, "WORKERS": 3}))
    assert parsed == {"DEBUG": "false", "WORKERS": "3"}
    with pytest.raises(CommandExecutionError, match="not environment variable names: bad-name"):
        mods["envfile.render"]({"bad-name": "x"})


def test_an_unreadable_file_never_echoes_its_content(salt_loader):
    with pytest.raises(CommandExecutionError) as err:
        private(salt_loader().salt, "_parse")("SECRET=ok\nhunter2-secret-word\n")
    assert "hunter2" not in str(err.value)


@pytest.fixture
def managed(salt_loader):
    def run(test=False, **kwargs):
        return salt_loader(test=test).states["envfile.managed"](**kwargs)

    return run


def test_managed_writes_a_private_file_and_shows_only_names(managed, tmp_path):
    path = str(tmp_path / "env")
    ret = managed(
        name=path, values={"ALLOWED_HOSTS": "shop.example.com"}, secrets={"API_TOKEN": "tok-123"}, mode="0640"
    )
    assert ret["result"] is True
    assert ret["changes"] == {"variables": {"added": ["ALLOWED_HOSTS", "API_TOKEN"]}, "file": "created"}
    assert "tok-123" not in str(ret)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    again = managed(name=path, values={"ALLOWED_HOSTS": "shop.example.com"}, secrets={"API_TOKEN": "tok-123"})
    assert again["result"] is True and again["changes"] == {}


def test_managed_reports_changed_and_removed_names_and_test_mode_writes_nothing(managed, tmp_path):
    path = tmp_path / "env"
    managed(name=str(path), values={"A": "1", "B": "2"}, secrets={"S": "old-secret"})
    before = path.read_text()
    dry = managed(test=True, name=str(path), values={"A": "1"}, secrets={"S": "new-secret"})
    assert dry["result"] is None
    assert dry["changes"] == {"variables": {"changed": ["S"], "removed": ["B"]}}
    assert "secret" not in str(dry["changes"]) + dry["comment"]
    assert path.read_text() == before
    ret = managed(name=str(path), values={"A": "1"}, secrets={"S": "new-secret"})
    assert ret["changes"] == dry["changes"]
    assert "new-secret" in path.read_text()


def test_secrets_win_over_values(managed, tmp_path, salt_loader):
    path = str(tmp_path / "env")
    managed(name=path, values={"DATABASE_URL": "derived"}, secrets={"DATABASE_URL": "from-secrets"})
    assert salt_loader().salt["envfile.read"](path) == {"DATABASE_URL": "from-secrets"}


def test_a_generated_value_is_made_once_and_kept(managed, tmp_path, salt_loader):
    path = str(tmp_path / "env")
    ret = managed(name=path, values={"A": "1"}, generate=["SECRET_KEY"])
    assert ret["changes"]["generated"] == ["SECRET_KEY"]
    key = salt_loader().salt["envfile.read"](path)["SECRET_KEY"]
    assert len(key) >= 50 and key not in str(ret)
    assert managed(name=path, values={"A": "1"}, generate=["SECRET_KEY"])["changes"] == {}
    assert managed(test=True, name=path, values={"A": "1"}, generate=["SECRET_KEY"])["result"] is True
    assert salt_loader().salt["envfile.read"](path)["SECRET_KEY"] == key
    # Given by the pillar, the pillar's value is used.
    managed(name=path, values={"A": "1"}, secrets={"SECRET_KEY": "from-pillar"}, generate=["SECRET_KEY"])
    assert salt_loader().salt["envfile.read"](path)["SECRET_KEY"] == "from-pillar"


def test_a_wrong_mode_is_fixed(managed, tmp_path):
    path = tmp_path / "env"
    managed(name=str(path), values={"A": "1"})
    path.chmod(0o644)
    ret = managed(name=str(path), values={"A": "1"}, mode="0640")
    assert ret["changes"] == {"mode": {"old": "0644", "new": "0640"}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_an_unknown_group_fails_cleanly_and_test_mode_predicts_it_made_first(managed, tmp_path):
    path = tmp_path / "env"
    ret = managed(name=str(path), values={"A": "1"}, group="no-such-group-xyz")
    assert ret["result"] is False
    assert ret["comment"] == f"{path}: no such group 'no-such-group-xyz'"
    assert not path.exists()
    # A fresh box: the group comes from the users state, which a dry run does not apply.
    dry = managed(test=True, name=str(path), values={"A": "1"}, group="no-such-group-xyz")
    assert dry["result"] is None
    assert dry["changes"] == {"variables": {"added": ["A"]}, "file": "created"}
    assert dry["comment"] == (
        f"{path} would be created (values not shown); group 'no-such-group-xyz' does not exist yet:"
        " an earlier state must make it"
    )
    assert not path.exists()
    # An existing file whose group is still to be made: its owner would change.
    managed(name=str(path), values={"A": "1"})
    dry = managed(test=True, name=str(path), values={"A": "1"}, group="no-such-group-xyz")
    assert dry["result"] is None and dry["changes"]["owner"]["new"] == "root:no-such-group-xyz"
