"""
ufw as Salt states: the exact set of rules webstack manages, then default
policies and the firewall on.

.. code-block:: yaml

    firewall-allows-ssh-and-the-ports-of-the-box-components:
      ufw.rules_managed:
        - rules:
            - {port: "22", proto: tcp, comment: "webstack: ssh"}
            - {port: "5432", proto: tcp, from: 10.0.0.11, comment: "webstack: postgresql"}
        - ssh_port: 22

    firewall-denies-incoming-and-is-enabled:
      ufw.enabled:
        - incoming: deny
        - outgoing: allow
        - ipv6: true
        - ssh_port: 22
        - require:
          - ufw: firewall-allows-ssh-and-the-ports-of-the-box-components

Rules webstack adds carry a ``webstack:`` comment; ``rules_managed`` removes
such rules once they are no longer wanted and never touches the others.
Neither state will leave ssh closed: ``rules_managed`` refuses a rule set
without an ssh allow (or one that shuts out the ssh session running Salt),
and ``enabled`` refuses to deny incoming while no rule lets ssh in.
"""

import ipaddress
import os

from salt.exceptions import CommandExecutionError

__virtualname__ = "ufw"


def __virtual__():
    if "ufw.added" not in __salt__:
        return (False, "ufw state: the ufw execution module (_modules/ufw.py) is not loaded")
    return __virtualname__


def _ret(name):
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def _wanted(rules):
    """The rules as full dicts, in ufw's own spelling (so they compare)."""
    out, seen = [], set()
    for rule in rules:
        full = __salt__["ufw.parse_rule"](__salt__["ufw.build_args"](rule))
        key = __salt__["ufw.rule_key"](full)
        if key not in seen:
            seen.add(key)
            out.append(full)
    return out


def _ssh_session_source():
    """The address of the ssh session running Salt (salt-call over ssh, salt-ssh), if any."""
    words = os.environ.get("SSH_CONNECTION", "").split()
    return words[0] if words else None


def _source_covers(source, addr):
    if source == "any":
        return True
    try:
        return ipaddress.ip_address(addr) in ipaddress.ip_network(source, strict=False)
    except ValueError:
        return False


def _ssh_problem(wanted, ssh_port):
    """Why `wanted` would shut ssh out, or None."""
    ssh_rules = [r for r in wanted if __salt__["ufw.allows_ssh"](r, ssh_port)]
    if not ssh_rules:
        return f"no rule allows ssh (tcp port {ssh_port}): refusing a rule set that locks ssh out"
    session = _ssh_session_source()
    if session and not any(_source_covers(r["from"], session) for r in ssh_rules):
        return (
            f"no ssh rule allows {session}, where this Salt run's ssh session comes from: "
            "refusing to lock it out"
        )
    return None


def rules_managed(name, rules, ssh_port=22):
    """
    Exactly `rules` among the rules webstack manages: missing ones are added
    (with their ``webstack:`` comment), ones whose comment changed are
    re-commented, managed rules no longer listed are removed; rules without
    the mark are left alone (one that already covers a wanted rule is kept
    as it is).

    name
        A label for the state.

    rules
        Dicts with ``port`` (``22``, ``80,443``, ``6000:6007``), ``proto``
        (tcp, udp, any; default any), ``from`` (address, network or ``any``,
        the default), ``action`` (default allow) and ``comment`` (starting
        with ``webstack:``): what ``ufw.rules_for`` returns.

    ssh_port
        The state refuses a rule set that does not let this port in.
    """
    ret = _ret(name)
    try:
        wanted = _wanted(rules)
    except ValueError as exc:
        ret.update(result=False, comment=f"Bad rule: {exc}")
        return ret
    unmarked = [r["comment"] for r in wanted if not __salt__["ufw.is_managed"](r)]
    if unmarked:
        ret.update(result=False, comment=f"Rule comments must start with 'webstack:', got {unmarked}")
        return ret
    problem = _ssh_problem(wanted, ssh_port)
    if problem:
        ret.update(result=False, comment=f"Nothing changed: {problem}")
        return ret

    if __opts__["test"] and not __salt__["ufw.installed"]():
        current = []  # the package is yet to be installed, with no rules
    else:
        try:
            current = __salt__["ufw.added"]()
        except CommandExecutionError as exc:
            ret.update(result=False, comment=str(exc))
            return ret

    key = __salt__["ufw.rule_key"]
    text = __salt__["ufw.rule_text"]
    have = {key(r): r for r in current if not r.get("unparsed")}
    wanted_keys = {key(r) for r in wanted}
    to_add, replaced, foreign = [], [], []
    for rule in wanted:
        old = have.get(key(rule))
        if old is None:
            to_add.append(rule)
        elif not __salt__["ufw.is_managed"](old):
            foreign.append(old)
        elif old.get("comment") != rule["comment"]:
            to_add.append(rule)
            replaced.append(old)
    stale = [r for r in have.values() if __salt__["ufw.is_managed"](r) and key(r) not in wanted_keys]

    changes = {}
    if to_add:
        changes["added"] = [text(r) for r in to_add]
    if replaced or stale:
        changes["removed"] = [text(r) for r in replaced + stale]
    kept = (
        f"; kept as they are {len(foreign)} rule(s) webstack does not manage that allow the same"
        if foreign
        else ""
    )

    if not changes:
        ret["comment"] = f"The {len(wanted)} webstack rule(s) are in place{kept}."
        return ret
    if __opts__["test"]:
        ret.update(
            result=None,
            changes=changes,
            comment=f"Would add {len(to_add)} and remove {len(stale)} rule(s){kept}.",
        )
        return ret

    done = {}
    try:
        # Add first: a moved ssh port is open before the old one closes.
        for rule in to_add:
            __salt__["ufw.add"](rule)
            done.setdefault("added", []).append(text(rule))
        for rule in replaced:
            done.setdefault("removed", []).append(text(rule))  # re-commented in place by the add
        for rule in stale:
            __salt__["ufw.delete"](rule)
            done.setdefault("removed", []).append(text(rule))
        after = {key(r) for r in __salt__["ufw.added"]() if not r.get("unparsed")}
    except CommandExecutionError as exc:
        ret.update(result=False, changes=done, comment=str(exc))
        return ret
    missing = [text(r) for r in wanted if key(r) not in after]
    lingering = [text(r) for r in stale if key(r) in after]
    ret["changes"] = done
    if missing or lingering:
        ret.update(result=False, comment=f"ufw did not take: missing {missing}, still there {lingering}")
        return ret
    ret["comment"] = f"Added {len(to_add)} and removed {len(stale)} rule(s){kept}."
    return ret


def enabled(name, incoming="deny", outgoing="allow", ipv6=True, ssh_port=22):
    """
    The default policies and IPv6 set, and the firewall active (now and at
    boot).

    name
        A label for the state.

    incoming, outgoing
        Default policies: deny, allow or reject.

    ipv6
        Whether ufw also filters IPv6 (``IPV6=`` in /etc/default/ufw). False
        where ip6tables is missing; ufw then drops all IPv6 traffic. ufw
        forgets the IPv6 half of its rules while IPv6 is off, so they are
        added again when it changes.

    ssh_port
        While no rule lets this port in, the state refuses to turn on a
        firewall that does not allow incoming connections.
    """
    ret = _ret(name)
    for policy in (incoming, outgoing):
        if policy not in ("allow", "deny", "reject"):
            ret.update(result=False, comment=f"Unknown policy {policy!r} (allow, deny or reject)")
            return ret
    if __salt__["ufw.installed"]():
        try:
            conf = __salt__["ufw.defaults"]()
            active = __salt__["ufw.status"]()["active"]
        except CommandExecutionError as exc:
            ret.update(result=False, comment=str(exc))
            return ret
    elif __opts__["test"]:
        # As the package installs it: IPv6 on, deny in, allow out, inactive.
        conf, active = {"ipv6": True, "policy": {"incoming": "deny", "outgoing": "allow"}}, False
    else:
        ret.update(result=False, comment="ufw is not installed")
        return ret

    changes = {}
    if conf["ipv6"] != bool(ipv6):
        changes["ipv6"] = {"old": conf["ipv6"], "new": bool(ipv6)}
    wanted = {"incoming": incoming, "outgoing": outgoing}
    for direction, policy in wanted.items():
        if conf["policy"].get(direction) != policy:
            changes[f"default {direction}"] = {"old": conf["policy"].get(direction), "new": policy}
    if not active:
        changes["active"] = {"old": False, "new": True}
    summary = (
        f"ufw is active: default {incoming} incoming, {outgoing} outgoing, IPv6 {'on' if ipv6 else 'off'}."
    )
    if not changes:
        ret["comment"] = summary
        return ret
    if __opts__["test"]:
        ret.update(result=None, changes=changes, comment="ufw would be set up and enabled.")
        return ret

    done = {}
    try:
        rules = __salt__["ufw.added"]()
        if incoming != "allow" and not any(__salt__["ufw.allows_ssh"](r, ssh_port) for r in rules):
            ret.update(
                result=False,
                comment=f"Nothing changed: no rule allows ssh (tcp port {ssh_port}); "
                f"refusing to {incoming} incoming connections",
            )
            return ret
        if "ipv6" in changes:
            __salt__["ufw.set_ipv6"](ipv6)
            if active:
                __salt__["ufw.reload"]()
            for rule in rules:
                __salt__["ufw.readd"](rule)  # back in both address families
            done["ipv6"] = changes["ipv6"]
        for direction, policy in wanted.items():
            if f"default {direction}" in changes:
                __salt__["ufw.default"](direction, policy)
                done[f"default {direction}"] = changes[f"default {direction}"]
        if not active:
            __salt__["ufw.enable"]()
            done["active"] = changes["active"]
    except CommandExecutionError as exc:
        ret.update(result=False, changes=done, comment=str(exc))
        return ret
    ret.update(changes=done, comment=summary)
    return ret
