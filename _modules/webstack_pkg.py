"""
The apt packages each state needs, and the daemons they bring that our roles
configure and start themselves: one list for the base role's apt runs (every
state of the box at once) and for each role's own ``pkg.installed`` (a no-op
after base, so ``state.apply <role>`` alone still installs what it needs).

CLI Example: ``salt-call webstack_pkg.packages``
"""

import re

from salt.exceptions import CommandExecutionError

__virtualname__ = "webstack_pkg"

# What a daemon may be called (an init script or systemd unit name).
DAEMON = re.compile(r"^[A-Za-z0-9@_.:-]+$")


def __virtual__():
    return __virtualname__


def _cache(ws, name):
    """The cache `name` (memcached, redis) when the pillar enables it, else None."""
    conf = ws["cache"][name]
    return conf if conf.get("enabled") else None


def _state(ws, state):
    """(packages, {package: [daemons it starts that the state configures]}) of `state`."""
    if state == "base":
        return ws["base"]["system_packages"] + ws["base"]["packages"], {}
    if state in ("users", "ssh"):
        return list(ws[state]["packages"]), {}
    if state == "firewall":
        return ["ufw"], {}
    if state == "logging":
        forwarding = __salt__["webstack_logging.forwarding"](ws)["enabled"]
        # rsyslog's TLS driver (gtls) and the CAs the destination may be signed by.
        return ["rsyslog"] + (["rsyslog-gnutls", "ca-certificates"] if forwarding else []), {}
    if state == "app":
        return list(ws["app"]["packages"]), {}
    if state == "postgresql":
        pg = ws["postgresql"]
        version, cluster = str(pg["version"]), pg["cluster"]
        pkgs = [p.replace("{version}", version) for p in pg["packages"]]
        unit = pg["service"].replace("{version}", version).replace("{cluster}", cluster)
        # The server's postinst starts its new cluster (through postgresql.service).
        return pkgs, {p: ["postgresql", unit] for p in pkgs}
    if state == "rabbitmq":
        pkgs = list(ws["rabbitmq"]["packages"])
        # Erlang's port mapper comes with it (erlang-base) and starts too.
        return pkgs, {p: ["rabbitmq-server", "epmd"] for p in pkgs}
    if state == "cache":
        caches = [c for c in (_cache(ws, "memcached"), _cache(ws, "redis")) if c]
        return [c["package"] for c in caches], {c["package"]: [c["service"]] for c in caches}
    if state in ("nginx", "supervisor", "balancer"):
        package = ws[state]["package"]
        service = {"nginx": "nginx", "balancer": "haproxy"}.get(state) or ws[state]["service"]
        return [package], {package: [service]}
    raise CommandExecutionError(f"webstack_pkg: no package list for the state {state!r}")


def _states(ws, states, exclude):
    chosen = ws["states"] if states is None else states
    return [s for s in chosen if s not in set(exclude or ())]


def packages(ws=None, states=None, exclude=None):
    """
    The apt packages of `states` (default: every state this box applies)
    but those in `exclude`, each once, in state order.

    CLI Example: ``salt-call webstack_pkg.packages exclude='[base]'``
    """
    ws = __salt__["webstack.settings"]() if ws is None else ws
    out = []
    for state in _states(ws, states, exclude):
        out += [p for p in _state(ws, state)[0] if p not in out]
    return out


def daemons(ws=None, states=None, exclude=None):
    """
    ``{package: [daemon, ...]}``: the daemons the packages of `states` (as
    :func:`packages` picks them) start when installed, of those our states
    configure and then start themselves.

    CLI Example: ``salt-call webstack_pkg.daemons``
    """
    ws = __salt__["webstack.settings"]() if ws is None else ws
    out = {}
    for state in _states(ws, states, exclude):
        for package, names in _state(ws, state)[1].items():
            for name in names:
                if not DAEMON.match(name):
                    raise CommandExecutionError(f"webstack_pkg: {name!r} is not a daemon name")
                out.setdefault(package, [])
                if name not in out[package]:
                    out[package].append(name)
    return out
