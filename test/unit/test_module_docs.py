"""What `salt-call sys.doc <module>` shows an operator: every function the
loader exposes has a CLI example, and internal helpers are private (hidden)."""

import re

import pytest

from tools.harness.dockerbox import REPO

MODULES = sorted(path.stem for path in (REPO / "_modules").glob("*.py"))
HIDDEN = {
    "ufw": ["parse_added", "parse_status", "parse_table_line", "parse_defaults", "plan", "port_covers"],
    "webstack": ["derive", "fill", "holds", "tls", "url", "sources"],
    "release": ["paths", "to_prune", "release_name", "tree_id", "venv_key", "switch", "before_text"],
    "envfile": ["quote", "parse"],
    "pgtune": ["size_kb", "pg_size"],
}


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    import salt.loader
    from conftest import minion_opts

    opts = minion_opts(tmp_path_factory.mktemp("docs"))
    mods = salt.loader.minion_mods(opts, utils=salt.loader.utils(opts), context={})
    return mods["sys.doc"]


@pytest.mark.parametrize("module", MODULES)
def test_every_public_function_has_a_cli_example(docs, module):
    found = docs(module)
    assert found, f"sys.doc {module} lists nothing"
    # `salt-call module.function` then its arguments, or the closing backquotes.
    missing = [fn for fn, doc in found.items() if not re.search(rf"CLI Example: ``salt-call {fn}[ `]", doc)]
    assert missing == []


@pytest.mark.parametrize("module", sorted(HIDDEN))
def test_helpers_are_private(docs, module):
    assert not {f"{module}.{name}" for name in HIDDEN[module]} & set(docs(module))
