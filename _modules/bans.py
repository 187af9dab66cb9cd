"""
What fail2ban's sshd jail is told that only Python works out: the addresses
it never bans (loopback, every box of the fleet, the pillar's allow-list)
and the port sshd listens on. The fail2ban component's ``derive``
(salt://fail2ban/component.yaml); under salt-ssh it runs on the salt-ssh
host (_wrapper/bans.py), like ``webstack.*``.
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


def _order(value):
    """IPv4 first, then numerically (as webstack.peers sorts): stable files."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return (9, 0, 0)
    return (net.version, int(net.network_address), net.prefixlen)


def _fleet_addresses(ws):
    """
    Every address of the fleet's boxes: those webstack:peers lists, and
    where it leaves a fleet role out (as webstack.peers reads it), every
    address the mine holds of every minion: one mine call for all roles
    (under salt-ssh each is a round of ssh connections).
    """
    listed = ws.get("peers") or {}
    found = [str(addr) for addrs in listed.values() for addr in addrs or ()]
    if any(role not in listed for role in ws.get("known_roles") or ()):
        mined = __salt__["mine.get"]("*", "network.ip_addrs") or {}
        found += [str(ip) for ips in mined.values() if isinstance(ips, list) for ip in ips]
    return sorted(set(found), key=lambda addr: (_order(addr), addr))


def derive(section, ws):
    """
    ``{"never_banned": [...], "port": N}`` for a ``webstack:fail2ban``
    section: the fleet's addresses (webstack:peers, and the mine's for any
    role it leaves out) join loopback and the section's
    ``ignoreip``; the port is webstack:ssh:port.

    CLI Example: ``salt-call bans.derive '{ignoreip: [203.0.113.7]}' '{peers: {db: [10.0.0.5]}}'``
    """
    return {
        "never_banned": never_banned(_fleet_addresses(ws), section.get("ignoreip")),
        "port": int((ws.get("ssh") or {}).get("port") or 22),
    }
