"""
What fail2ban's sshd jail is told that only Python works out: the addresses
it never bans (loopback, every peer of the fleet, the pillar's allow-list)
and the port sshd listens on. The fail2ban component's ``derive``
(salt://fail2ban/component.yaml).
"""

import ipaddress

__virtualname__ = "bans"

# This box itself, whatever its addresses.
LOOPBACK = ("127.0.0.0/8", "::1")


def __virtual__():
    return __virtualname__


def _key(value):
    """Networks and addresses compared as networks (10.0.0.5 == 10.0.0.5/32)."""
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        return str(value)


def never_banned(peers=(), allow=()):
    """
    The addresses and networks fail2ban must never ban, in order, each once:
    loopback, then `peers`, then `allow` (the pillar's ``ignoreip``).

    CLI Example: ``salt-call bans.never_banned '[10.0.0.5]' '[203.0.113.0/24]'``
    """
    out, seen = [], set()
    for value in (*LOOPBACK, *(peers or ()), *(allow or ())):
        key = _key(value)
        if key not in seen:
            seen.add(key)
            out.append(str(value))
    return out


def derive(section, ws):
    """
    ``{"never_banned": [...], "port": N}`` for a ``webstack:fail2ban``
    section: the addresses of every fleet role's peers (``webstack.peers``:
    the pillar's webstack:peers, else the mine) join loopback and the
    section's ``ignoreip``; the port is webstack:ssh:port.

    CLI Example: ``salt-call bans.derive '{ignoreip: [203.0.113.7]}' '{known_roles: [db]}'``
    """
    peers = [addr for role in ws.get("known_roles") or () for addr in __salt__["webstack.peers"](role)]
    return {
        "never_banned": never_banned(peers, section.get("ignoreip")),
        "port": int((ws.get("ssh") or {}).get("port") or 22),
    }
