"""
The apt packages each component needs, and the daemons they bring that our
components configure and start themselves, as each declares them
(``packages`` in its component.yaml, filled in by ``webstack.settings``):
one list for base's apt runs (every component of the box at once) and for
each component's own ``pkg.installed`` (a no-op after base, so
``state.apply <component>`` alone still installs what it needs).

CLI Example: ``salt-call webstack_pkg.packages``
"""

import re

from salt.exceptions import CommandExecutionError

__virtualname__ = "webstack_pkg"

# What a daemon may be called (an init script or systemd unit name).
DAEMON = re.compile(r"^[A-Za-z0-9@_.:-]+$")


def __virtual__():
    return __virtualname__


def _declared(ws, components, exclude):
    """The package entries ({names, daemons}) of `components` (default: the box's) but `exclude`."""
    chosen = ws["components"] if components is None else components
    for component in chosen:
        if component in set(exclude or ()):
            continue
        if component not in ws["facts"]:
            raise CommandExecutionError(f"webstack_pkg: no package list for the component {component!r}")
        yield from ws["facts"][component]["packages"]


def packages(ws=None, components=None, exclude=None):
    """
    The apt packages of `components` (default: every component this box
    applies) but those in `exclude`, each once, in run order.

    CLI Example: ``salt-call webstack_pkg.packages exclude='[base]'``
    """
    ws = __salt__["webstack.settings"]() if ws is None else ws
    out = []
    for entry in _declared(ws, components, exclude):
        out += [p for p in entry["names"] if p not in out]
    return out


def daemons(ws=None, components=None, exclude=None):
    """
    ``{package: [daemon, ...]}``: the daemons the packages of `components`
    (as :func:`packages` picks them) start when installed, of those our
    components configure and then start themselves.

    CLI Example: ``salt-call webstack_pkg.daemons``
    """
    ws = __salt__["webstack.settings"]() if ws is None else ws
    out = {}
    for entry in _declared(ws, components, exclude):
        for name in entry["daemons"]:
            if not DAEMON.match(name):
                raise CommandExecutionError(f"webstack_pkg: {name!r} is not a daemon name")
            for package in entry["names"]:
                out.setdefault(package, [])
                if name not in out[package]:
                    out[package].append(name)
    return out
