"""
``webstack.*`` for salt-ssh: the functions of ``_modules/webstack.py``, run
on the salt-ssh host while it renders the states for a target (every SLS
imports ``settings.jinja``, which calls ``webstack.settings``), with the target's grains and the
pillar compiled for it.

Loaded through ``module_dirs`` in etc/salt/master.d/webstack.conf (salt-ssh
looks for ``_wrapper`` there). The one difference: ``salt://`` files are read
from the salt-ssh host's own file server, not copied to the target first.
"""

# ruff: noqa: F821 - salt-ssh's loader injects __opts__ and __context__.
from pathlib import Path

import salt.fileclient
import salt.utils.yaml

# The same code as the execution module, not a copy of it.
_SOURCE = Path(__file__).resolve().parent.parent / "_modules" / "webstack.py"
exec(compile(_SOURCE.read_text(), str(_SOURCE), "exec"))


def _load_yaml(path):  # noqa: F811 - replaces the module's: same contract
    """A YAML file from the salt-ssh host's file server (salt://...), or {} when absent."""
    key = "webstack.fileclient"
    if key not in __context__:
        __context__[key] = salt.fileclient.FSClient(__opts__.get("__master_opts__") or __opts__)
    cached = __context__[key].cache_file(f"salt://{path}", "base")
    if not cached:
        return {}
    return salt.utils.yaml.safe_load(Path(cached).read_text()) or {}
