"""_pillar/webstack.py through Salt's loader, as a master (or salt-ssh) runs it
once it has compiled a minion's pillar: a bad `webstack` pillar becomes
Salt's `_errors` (every state run then refuses before rendering), a good one
or a pillar without `webstack` adds nothing."""

import pytest
from conftest import load_pillar, with_settings

from tools.harness.dockerbox import REPO

NAME_RULE = "(lower case letters, digits, _ or -, at most 32)"


@pytest.fixture
def ext_pillar(tmp_path):
    import salt.loader
    from conftest import minion_opts

    opts = minion_opts(tmp_path, grains={"roles": ["web", "db"]})
    opts["pillar_dirs"] = [str(REPO / "_pillar")]
    mods = salt.loader.minion_mods(opts, utils=salt.loader.utils(opts), context={})
    return salt.loader.pillars(opts, mods)["webstack"]


def test_a_bad_pillar_becomes_one_line_per_problem_in_salts_errors(ext_pillar):
    bad = with_settings(load_pillar("minimal"), project={"name": "Shop!"}, postgresql={"password": None})
    assert ext_pillar("web1", bad) == {
        "_errors": [
            "webstack:postgresql:password: is required",
            "webstack:project:name: 'Shop!' is not a user name " + NAME_RULE,
        ]
    }
    # A section left out: its key without a default.
    missing = with_settings(load_pillar("minimal"))
    del missing["webstack"]["postgresql"]
    assert ext_pillar("web1", missing) == {"_errors": ["webstack:postgresql:password: is required"]}


def test_a_good_pillar_or_none_of_ours_adds_nothing(ext_pillar):
    assert ext_pillar("web1", load_pillar("minimal")) == {}
    assert ext_pillar("other", {"something": "else"}) == {}
