"""
Helpers the components that serve other boxes share (those whose
component.yaml ports name `clients`: postgresql, rabbitmq, cache): who
their clients are, which addresses to listen on for them, and size
conversions.

A data service listens on loopback only, unless other hosts use it: then it
also listens on this host's address facing them (the source address of the
route to each client), never on every interface.
"""

import ipaddress

__virtualname__ = "datatier"

BYTES_PER = {"k": 1024, "m": 1024**2, "g": 1024**3}


def __virtual__():
    return __virtualname__


def clients(extra=None, roles=()):
    """
    Addresses (or networks) of the other hosts that use a service of this
    box: the peers of the fleet `roles` (``webstack.peers``) plus ``extra``
    from the component's settings, without duplicates, sorted.

    CLI Example: ``salt-call datatier.clients roles='[web, worker]'``
    """
    found = set(extra or ())
    for role in roles:
        found.update(__salt__["webstack.peers"](role))
    own = set(_own_addresses())
    # A box holding web as well as db lists itself among the web peers.
    return sorted(a for a in found if a not in own)


def _own_addresses():
    try:
        return __salt__["network.ip_addrs"]() + __salt__["network.ip_addrs6"]()
    except Exception:  # noqa: BLE001 - no addresses known: nothing to drop
        return []


def facing(client):
    """
    This host's address on the route to ``client`` (an address or network),
    or None when there is no route.

    CLI Example: ``salt-call datatier.facing 10.0.0.5``
    """
    target = str(ipaddress.ip_network(client, strict=False).network_address)
    try:
        route = __salt__["network.get_route"](target)
    except Exception:  # noqa: BLE001 - CommandExecutionError and friends: no route
        return None
    return (route or {}).get("source") or None


def listen_addresses(client_list, pinned=None, loopback="127.0.0.1"):
    """
    Where a data service listens: ``pinned`` when the pillar gives it, else
    loopback plus this host's address facing each client (none: loopback only).

    CLI Example: ``salt-call datatier.listen_addresses '[10.0.0.5]'``
    """
    if pinned:
        return list(pinned)
    addrs = [loopback]
    for client in client_list or ():
        source = facing(client)
        if source is None:
            raise ValueError(f"datatier: no route to client {client}: set listen_addresses in the pillar")
        if source not in addrs:
            addrs.append(source)
    return addrs


def cidr(address):
    """
    An address as a one-host network (``10.0.0.5`` -> ``10.0.0.5/32``);
    networks unchanged (pg_hba.conf's form).

    CLI Example: ``salt-call datatier.cidr 10.0.0.5``
    """
    return str(ipaddress.ip_network(address, strict=False))


def size_bytes(size):
    """
    Bytes of a pillar size (``512k``, ``64m``, ``1g``; no suffix: bytes).

    CLI Example: ``salt-call datatier.size_bytes 64m``
    """
    text = str(size).strip().lower()
    if text[-1:] in BYTES_PER:
        return int(text[:-1]) * BYTES_PER[text[-1]]
    return int(text)


def size_mb(size):
    """
    Whole megabytes of a pillar size, at least 1 (memcached's ``-m``).

    CLI Example: ``salt-call datatier.size_mb 64m``
    """
    return max(1, size_bytes(size) // 1024**2)
