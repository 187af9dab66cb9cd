"""
Environment files: ``KEY='value'`` lines, one variable each, that a POSIX
shell can source (``set -a; . FILE``) and that :func:`read` reads back.

The app component keeps the app's settings and secrets in one; the supervisord
state compares a running process's environment with it.

CLI Example: ``salt-call envfile.keys /srv/shop/env`` (names only: values
may be secrets)
"""

import re
import shlex

from salt.exceptions import CommandExecutionError

__virtualname__ = "envfile"

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HEADER = "# Managed by Salt (webstack). Sourced by the app's processes: keep it private.\n"


def __virtual__():
    return __virtualname__


def stringify(value):
    """
    A pillar value as the string the environment holds (booleans as true/false).

    CLI Example: ``salt-call envfile.stringify True``
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _quote(value):
    """`value` single-quoted for sh: every byte literal, a ' written as '\\''."""
    return "'" + value.replace("'", "'\\''") + "'"


def render(values):
    """
    The file's text for `values` (sorted by name, so it is stable).

    CLI Example: ``salt-call envfile.render '{DEBUG: false, ALLOWED_HOSTS: shop.example.com}'``
    """
    bad = sorted(k for k in values if not NAME.match(str(k)))
    if bad:
        raise CommandExecutionError(f"not environment variable names: {', '.join(bad)}")
    lines = [f"{key}={_quote(stringify(values[key]))}\n" for key in sorted(values)]
    return HEADER + "".join(lines)


def _parse(text):
    """The variables of an env file's text (sh quoting and comments understood)."""
    out = {}
    try:
        words = shlex.split(text, comments=True, posix=True)
    except ValueError as exc:
        raise CommandExecutionError(f"unreadable env file: {exc}") from exc
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not NAME.match(key):
            # Never echo the word: it may hold a secret.
            raise CommandExecutionError("unreadable env file: a word is not NAME=value")
        out[key] = value
    return out


def read(path):
    """
    The variables of the env file at `path` ({} when it does not exist),
    values included: secrets too. :func:`keys` shows the names only.

    CLI Example: ``salt-call envfile.read /srv/shop/env``
    """
    try:
        with open(path, encoding="utf-8") as fh:
            return _parse(fh.read())
    except FileNotFoundError:
        return {}


def keys(path):
    """
    The variable names of the env file at `path`, sorted (values stay private).

    CLI Example: ``salt-call envfile.keys /srv/shop/env``
    """
    return sorted(read(path))
