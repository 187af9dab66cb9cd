"""
``bans.*`` for salt-ssh: ``_modules/bans.py`` (the fail2ban component's
derive hook, which ``webstack.settings`` calls) run on the salt-ssh host
while it renders a target's states, beside ``_wrapper/webstack.py``.
"""

# ruff: noqa: F821 - salt-ssh's loader injects __salt__.
from pathlib import Path

# The same code as the execution module, not a copy of it.
_SOURCE = Path(__file__).resolve().parent.parent / "_modules" / "bans.py"
exec(compile(_SOURCE.read_text(), str(_SOURCE), "exec"))
