"""webstack_nginx.config_managed through Salt's loader, with `nginx -t` faked:
the fake rejects any tree holding the word "bogus" and records what it saw."""

import os
from pathlib import Path

import pytest

STATE = "webstack_nginx.config_managed"


class FakeNginx:
    """`cmd.run_all` standing in for `nginx -t -c <conf>`."""

    def __init__(self, root: Path, fail_on_call: int | None = None):
        self.root = root
        self.fail_on_call = fail_on_call  # reject this call (1-based) whatever the tree holds
        self.calls = []  # (conf file, {relative path: text} of its tree, real root's nginx.conf then)

    def __call__(self, cmd, **kwargs):
        assert cmd[:3] == ["nginx", "-t", "-c"], cmd
        conf = Path(cmd[3])
        tree = {
            str(p.relative_to(conf.parent)): p.read_text()
            for p in sorted(conf.parent.rglob("*"))
            if p.is_file()  # follows symlinks, as nginx's include does
        }
        self.calls.append((conf, tree, (self.root / "nginx.conf").read_text()))
        bad = [rel for rel, text in tree.items() if "bogus" in text]
        if bad or len(self.calls) == self.fail_on_call:
            where = conf.parent / (bad[0] if bad else "nginx.conf")
            return {"retcode": 1, "stdout": "", "stderr": f'[emerg] unknown directive "bogus" in {where}:1'}
        return {"retcode": 0, "stdout": "", "stderr": f"[warn] something odd in {conf}\nsyntax is ok"}


# What a first run on an empty /etc/nginx changes, given wanted().
EVERY_FILE_CHANGES = {
    "nginx.conf",
    "sites-available/site.conf",
    "tls/site.key",
    "sites-enabled/site.conf",
    "sites-enabled/default",
}


@pytest.fixture
def etc(tmp_path):
    """A small /etc/nginx as Debian's package leaves it."""
    root = tmp_path / "nginx"
    (root / "sites-available").mkdir(parents=True)
    (root / "sites-enabled").mkdir()
    (root / "nginx.conf").write_text("include sites-enabled/*;\n")
    (root / "mime.types").write_text("types {}\n")
    (root / "sites-available" / "default").write_text("server { listen 80 default_server; }\n")
    os.symlink(str(root / "sites-available" / "default"), root / "sites-enabled" / "default")
    return root


def snapshot(root: Path) -> dict:
    """Files and symlinks under `root` (directories left out)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_file():
            out[rel] = ("file", p.read_text(), oct(p.stat().st_mode & 0o777))
    return out


def wanted(site="server { listen 80; }\n"):
    return dict(
        files={
            "nginx.conf": {"contents": "include sites-enabled/*;\n# managed\n"},
            "sites-available/site.conf": {"contents": site},
            "tls/site.key": {"contents": "PRIVATE\n", "mode": "0600", "secret": True},
        },
        links={"sites-enabled/site.conf": "../sites-available/site.conf"},
        absent=["sites-enabled/default"],
    )


def run(salt_loader, etc, test=False, fail_on_call=None, **kwargs):
    nginx = FakeNginx(etc, fail_on_call)
    ldr = salt_loader(fakes={"cmd.run_all": nginx}, test=test)
    return ldr.states[STATE](str(etc), **kwargs), nginx


def test_installs_after_the_staged_copy_passes(salt_loader, etc):
    ret, nginx = run(salt_loader, etc, **wanted())
    assert ret["result"] is True, ret
    # First check: a staged copy holding the new files while the real ones were still old.
    staged_conf, staged_tree, real_then = nginx.calls[0]
    assert staged_conf.parent != etc
    assert staged_tree["sites-enabled/site.conf"] == "server { listen 80; }\n"
    assert "sites-enabled/default" not in staged_tree
    assert real_then == "include sites-enabled/*;\n"
    assert not staged_conf.parent.exists(), "the staging directory was left behind"
    # Second check: the real tree, after the files landed.
    assert nginx.calls[1][0] == etc / "nginx.conf"
    assert len(nginx.calls) == 2
    assert snapshot(etc) == {
        "mime.types": ("file", "types {}\n", "0o644"),
        "nginx.conf": ("file", "include sites-enabled/*;\n# managed\n", "0o644"),
        "sites-available/default": ("file", "server { listen 80 default_server; }\n", "0o644"),
        "sites-available/site.conf": ("file", "server { listen 80; }\n", "0o644"),
        "sites-enabled/site.conf": ("link", "../sites-available/site.conf"),
        "tls/site.key": ("file", "PRIVATE\n", "0o600"),
    }
    assert set(ret["changes"]) == EVERY_FILE_CHANGES
    assert "+# managed" in ret["changes"]["nginx.conf"]["diff"]
    assert ret["changes"]["sites-enabled/default"] == {"removed": True}
    assert ret["changes"]["sites-enabled/site.conf"] == {"symlink": "../sites-available/site.conf"}
    assert "[warn] something odd in " + str(etc / "nginx.conf") in ret["comment"]


def test_secret_files_never_show_their_contents(salt_loader, etc):
    ret, _ = run(salt_loader, etc, **wanted())
    assert "PRIVATE" not in repr(ret)
    assert ret["changes"]["tls/site.key"] == {"mode": "0600", "diff": "<secret: contents not shown>"}
    args = wanted()
    args["files"]["tls/site.key"]["contents"] = "OTHER PRIVATE\n"
    ret, _ = run(salt_loader, etc, **args)
    assert ret["result"] is True and "PRIVATE" not in repr(ret)
    assert ret["changes"] == {"tls/site.key": {"diff": "<secret: contents not shown>"}}


def test_second_run_changes_nothing_and_runs_no_check(salt_loader, etc):
    run(salt_loader, etc, **wanted())
    ret, nginx = run(salt_loader, etc, **wanted())
    assert ret["result"] is True and ret["changes"] == {}, ret
    assert nginx.calls == []


def test_test_mode_predicts_changes_and_touches_nothing(salt_loader, etc):
    before = snapshot(etc)
    ret, nginx = run(salt_loader, etc, test=True, **wanted())
    assert ret["result"] is None
    assert set(ret["changes"]) == EVERY_FILE_CHANGES
    assert snapshot(etc) == before and nginx.calls == []
    run(salt_loader, etc, **wanted())
    ret, _ = run(salt_loader, etc, test=True, **wanted())
    assert ret["result"] is True and ret["changes"] == {}


def test_a_config_nginx_rejects_changes_nothing(salt_loader, etc):
    run(salt_loader, etc, **wanted())
    before = snapshot(etc)
    ret, nginx = run(salt_loader, etc, **wanted(site="bogus on;\n"))
    assert ret["result"] is False and ret["changes"] == {}
    assert len(nginx.calls) == 1, "only the staged copy may be checked"
    # nginx's message names the real path, not the staging directory.
    assert f'unknown directive "bogus" in {etc}/sites-available/site.conf' in ret["comment"]
    assert snapshot(etc) == before
    assert not nginx.calls[0][0].parent.exists()


def test_the_old_files_come_back_when_the_real_check_fails(salt_loader, etc):
    before = snapshot(etc)
    ret, nginx = run(salt_loader, etc, fail_on_call=2, **wanted())
    assert ret["result"] is False and ret["changes"] == {}
    assert len(nginx.calls) == 2 and "put back" in ret["comment"]
    assert snapshot(etc) == before


def test_a_path_that_cannot_be_written_changes_nothing(salt_loader, etc):
    before = snapshot(etc)
    args = wanted()
    args["files"]["mime.types/extra.conf"] = "x\n"  # mime.types is a file, not a directory
    ret, nginx = run(salt_loader, etc, **args)
    assert ret["result"] is False and "staging the new configuration failed" in ret["comment"], ret
    assert snapshot(etc) == before and nginx.calls == []


def test_a_mode_change_alone_is_a_change(salt_loader, etc):
    run(salt_loader, etc, **wanted())
    os.chmod(etc / "tls" / "site.key", 0o644)
    ret, nginx = run(salt_loader, etc, **wanted())
    assert ret["result"] is True and ret["changes"] == {"tls/site.key": {"mode": "0600"}}
    assert oct((etc / "tls" / "site.key").stat().st_mode & 0o777) == "0o600"
    assert len(nginx.calls) == 2


def test_a_file_replaces_a_symlink_in_its_place(salt_loader, etc):
    ret, _ = run(salt_loader, etc, files={"sites-enabled/default": "server { listen 81; }\n"})
    assert ret["result"] is True
    assert ret["changes"]["sites-enabled/default"]["diff"] == "new file"
    path = etc / "sites-enabled" / "default"
    assert not path.is_symlink() and path.read_text() == "server { listen 81; }\n"
    assert (etc / "sites-available" / "default").read_text() == "server { listen 80 default_server; }\n"


@pytest.mark.parametrize("rel", ["../escape.conf", "/etc/passwd", "sites-enabled/../../x"])
def test_paths_outside_the_directory_are_refused(salt_loader, etc, rel):
    before = snapshot(etc)
    ret, nginx = run(salt_loader, etc, files={rel: "x\n"})
    assert ret["result"] is False and "not a relative path inside" in ret["comment"]
    assert snapshot(etc) == before and nginx.calls == []


def test_without_nginx_installed_it_fails_cleanly(salt_loader, tmp_path):
    ret, nginx = run(salt_loader, tmp_path / "nginx", files={"nginx.conf": "events {}\n"})
    assert ret["result"] is False and "is nginx installed?" in ret["comment"]
    assert nginx.calls == [] and not (tmp_path / "nginx").exists()
