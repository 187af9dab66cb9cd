"""
What the balancer component's haproxy.cfg is made of, worked out from the
webstack settings: the web hosts to balance over, the Host names the site
answers (everything else gets the connection closed) and the health check.

Used by ``salt://balancer/files/haproxy.cfg.j2``; see ``salt://balancer/``.
"""

import ipaddress
import re

from salt.exceptions import CommandExecutionError

__virtualname__ = "balancer"

# haproxy server names: no spaces or odd characters in a config line.
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._:-]")


def __virtual__():
    return __virtualname__


def servers(port=80, role="web"):
    """
    The web hosts haproxy balances over, as ``{"name", "address", "port"}``
    dicts sorted by address: the minions holding `role` (the Salt mine, or
    the pillar's ``webstack:peers:<role>``), named by minion id.

    CLI Example: ``salt-call balancer.servers``
    """
    out = []
    for name, address in __salt__["webstack.peers"](role, ids=True):
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise CommandExecutionError(
                f"webstack:peers:{role}: {address!r} is a network; the balancer needs host addresses"
            ) from None
        host = f"[{ip}]" if ip.version == 6 else str(ip)
        out.append({"name": _UNSAFE_NAME.sub("_", str(name)), "address": host, "port": int(port)})
    return out


def hosts(domains):
    """
    The Host names the site answers, split the way haproxy matches them:
    ``exact`` names and ``suffixes`` (``*.example.com`` matches
    ``a.example.com``, not ``example.com``), lower case, no duplicates.

    CLI Example: ``salt-call balancer.hosts '[example.com, "*.example.org"]'``
    """
    exact, suffixes = [], []
    for domain in domains or []:
        domain = str(domain).lower().rstrip(".")
        if domain.startswith("*."):
            suffixes.append(domain[1:])
        else:
            exact.append(domain)
    return {"exact": list(dict.fromkeys(exact)), "suffixes": list(dict.fromkeys(suffixes))}


def check_host(domains):
    """
    The Host the health check sends: the first name of the site that is not a
    wildcard. Raises when there is none.

    CLI Example: ``salt-call balancer.check_host '[example.com]'``
    """
    for domain in domains or []:
        if not str(domain).startswith("*."):
            return str(domain).lower().rstrip(".")
    raise CommandExecutionError(
        "webstack:project:domains: the balancer needs at least one name that is not a wildcard "
        "(the health check's Host; any other Host gets the connection closed)"
    )
