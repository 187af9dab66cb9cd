"""
Adding a component is one new folder plus its line in the fleet-role map
(CONTRIBUTING.md, "Adding a component"): the toy component of test/render/toy/
is copied into a temporary copy of salt/states with a `toy` fleet role, and
no Python file changes. Its package joins base's one apt run (its daemon held
back), the firewall opens its port to the web boxes it names, it listens
facing them, and its URL reaches the app's environment.
"""

import shutil
from pathlib import Path

import pytest
import salt.client
import yaml
from conftest import HOST_GRAINS, OS_GRAINS, load_pillar, minion_opts, with_settings

from tools.harness.dockerbox import REPO

TOY = Path(__file__).parent / "toy"
WEB, TOY_BOX = "10.0.0.11", "10.0.0.50"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """salt/states with the toy folder and `toy: [toy]` in roles.yaml."""
    root = tmp_path_factory.mktemp("toy") / "states"
    shutil.copytree(REPO / "salt" / "states", root, symlinks=True)
    shutil.copytree(TOY, root / "toy")
    with (root / "roles.yaml").open("a") as roles:
        roles.write("toy: [toy]\n")
    return root


@pytest.fixture(scope="module")
def box(tree, tmp_path_factory):
    """Render SLS of a box holding `roles` from the tree, peers from the pillar."""

    def caller(roles, **sections):
        tmp = tmp_path_factory.mktemp("caller")
        pillar = with_settings(load_pillar("minimal"), peers={"web": [WEB], "toy": [TOY_BOX]}, **sections)
        (tmp / "pillar").mkdir()
        (tmp / "pillar" / "top.sls").write_text("base:\n  '*':\n    - site\n")
        (tmp / "pillar" / "site.sls").write_text(yaml.safe_dump(pillar))
        grains = {**HOST_GRAINS, **OS_GRAINS["debian-12"], "roles": roles}
        opts = minion_opts(tmp, grains, tmp / "pillar")
        opts["file_roots"] = {"base": [str(tree)]}
        return salt.client.Caller(mopts=opts)

    return caller


def state(high, state_id):
    body = high[state_id]
    return {
        k: v
        for fn, args in body.items()
        if not fn.startswith("__")
        for a in args
        if isinstance(a, dict)
        for k, v in a.items()
    }


def test_no_python_file_is_part_of_the_toy():
    assert sorted(p.name for p in TOY.iterdir()) == [
        "component.yaml",
        "defaults.yaml",
        "init.sls",
        "schema.yaml",
    ]


def test_the_toy_box_installs_it_in_the_shared_apt_run_and_opens_its_port_to_web(box):
    toy = box(["toy"], toy={"listen_addresses": ["127.0.0.1", "10.0.0.50"]})
    high = toy.cmd("state.show_highstate")
    assert isinstance(high, dict), high
    assert "toy-server-is-installed" in high, "top.sls applies the toy component on the toy box"
    shared = state(high, "base-component-packages-are-installed")
    assert "toy-server" in shared["pkgs"]
    assert shared["hold"]["toy-server"] == ["toyd"]
    rules = state(high, "firewall-allows-ssh-and-the-ports-of-the-box-components")["rules"]
    toy_rules = [(r["port"], r["from"]) for r in rules if r["comment"] == "webstack: toy"]
    assert toy_rules == [("7777", WEB)]
    conf = state(high, "toy-listens-where-its-clients-are")["contents"]
    assert conf == f"listen 127.0.0.1 10.0.0.50:7777\nallow {WEB}\n"


def test_the_web_box_gets_its_url_and_no_toy(box):
    web = box(["web"])
    high = web.cmd("state.show_highstate")
    assert isinstance(high, dict), high
    assert "toy-server-is-installed" not in high
    assert "toy-server" not in state(high, "base-component-packages-are-installed")["pkgs"]
    env = state(high, "app-environment-holds-settings-and-secrets")["values"]
    assert env["TOY_URL"] == f"toy://shop@{TOY_BOX}:7777/"
    assert env["DATABASE_URL"].startswith("postgresql://shop:")
    rules = state(high, "firewall-allows-ssh-and-the-ports-of-the-box-components")["rules"]
    assert not [r for r in rules if r["comment"] == "webstack: toy"]
