"""
ufw (Uncomplicated Firewall): read its state, change it, and work out the
rules a box needs from the webstack settings.

Salt has no ufw module. Three kinds of functions live here:

- pure parsers of ufw's own output (``ufw show added``, ``ufw status
  verbose``, ``ufw status numbered``, ``/etc/default/ufw``) and a builder of
  rule commands, unit-tested on captured real outputs;
- :func:`rules_for`: the allow rules of a box from its settings (the ports
  its components declare, fleet roles, peers, ``webstack:firewall``), plain
  Python rather than Jinja;
- thin wrappers around the ``ufw`` command for the ``ufw`` state module.

A rule is a dict: ``action`` (allow, deny, reject, limit), ``direction``
(in, out), ``interface``, ``from`` and ``to`` (an address, a network or
``any``), ``from_port``, ``port`` (``22``, ``80,443``, ``6000:6007``),
``proto`` (tcp, udp, any), ``app``, ``route``, ``log`` and ``comment``.
Two rules are the same rule when everything but the comment matches
(:func:`rule_key`), which is how ufw itself compares them.

Rules webstack manages carry a comment starting with ``webstack:``; rules
without that mark are never changed or removed.
"""

import ipaddress
import logging
import re
import shlex

import salt.utils.path
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "ufw"

# The comment prefix that marks the rules webstack manages.
MARKER = "webstack:"

RULE_DEFAULTS = {
    "action": "allow",
    "direction": "in",
    "interface": None,
    "from": "any",
    "from_port": None,
    "to": "any",
    "port": None,
    "proto": "any",
    "app": None,
    "route": False,
    "log": None,
    "comment": None,
}
ACTIONS = ("allow", "deny", "reject", "limit")
PORT_SPEC = re.compile(r"^\d+(:\d+)?(,\d+(:\d+)?)*$")
COMMENT_SAFE = re.compile(r"^[A-Za-z0-9 _.,:/()+@=-]*$")

# /etc/default/ufw policy words -> `ufw default` words.
POLICY_WORDS = {"DROP": "deny", "ACCEPT": "allow", "REJECT": "reject"}
POLICY_KEYS = {
    "incoming": "DEFAULT_INPUT_POLICY",
    "outgoing": "DEFAULT_OUTPUT_POLICY",
    "routed": "DEFAULT_FORWARD_POLICY",
}

SALT_MASTER_PORTS = "4505:4506"


def __virtual__():
    # Always load: rules_for() runs while the SLS render, before ufw is installed.
    return __virtualname__


# -- pure: parsing --------------------------------------------------------------


def rule_key(rule):
    """
    What identifies a rule for ufw: every field but the comment.

    CLI Example: ``salt-call ufw.rule_key '{port: "22", proto: tcp}'``
    """
    full = dict(RULE_DEFAULTS, **rule)
    return tuple((k, full[k]) for k in RULE_DEFAULTS if k != "comment")


def is_managed(rule):
    """
    Whether webstack manages `rule`: its comment starts with ``webstack:``.

    CLI Example: ``salt-call ufw.is_managed '{comment: "webstack: ssh"}'``
    """
    return (rule.get("comment") or "").startswith(MARKER)


def parse_rule(words):
    """
    One rule from ufw command words (``["allow", "22/tcp", "comment", "x"]``:
    what follows ``ufw`` in ``ufw show added``). Raises ValueError on words
    it does not understand.

    CLI Example: ``salt-call ufw.parse_rule '[allow, 22/tcp, comment, "webstack: ssh"]'``
    """
    words = list(words)
    rule = dict(RULE_DEFAULTS)

    def take():
        if not words:
            raise ValueError("rule ends too early")
        return words.pop(0)

    if words[:1] == ["route"]:
        rule["route"] = True
        words.pop(0)
    rule["action"] = take()
    if rule["action"] not in ACTIONS:
        raise ValueError(f"unknown action {rule['action']!r}")
    if words[:1] in (["in"], ["out"]):
        rule["direction"] = words.pop(0)
    if words[:1] == ["on"]:
        words.pop(0)
        rule["interface"] = take()
    if words[:1] in (["log"], ["log-all"]):
        rule["log"] = words.pop(0)
    if words and words[0] not in ("from", "to", "proto", "comment"):
        # Simple syntax: PORT[/PROTO] or an application profile.
        spec = words.pop(0)
        port, _, proto = spec.partition("/")
        if PORT_SPEC.match(port):
            rule["port"], rule["proto"] = port, proto or "any"
        else:
            rule["app"] = spec
    while words:
        word = take()
        if word in ("from", "to"):
            rule[word] = _normalize_address(take())
            if words[:1] == ["port"]:
                words.pop(0)
                rule["from_port" if word == "from" else "port"] = take()
            elif words[:1] == ["app"]:
                words.pop(0)
                rule["app"] = take()
        elif word == "proto":
            rule["proto"] = take()
        elif word == "comment":
            rule["comment"] = take()
        else:
            raise ValueError(f"unexpected {word!r}")
    return rule


def _parse_added(text):
    """
    The user rules of ``ufw show added`` (active or not), in order: rule
    dicts, each with ``line``, its command as ufw prints it (less ``ufw``).
    """
    rules = []
    for raw in text.splitlines():
        raw = raw.strip()
        if not raw.startswith("ufw "):
            continue
        try:
            rule = parse_rule(shlex.split(raw)[1:])
        except ValueError as exc:
            # Someone else's rule in a form we don't know: keep it, untouched.
            log.debug("ufw: cannot parse %r: %s", raw, exc)
            rule = dict(RULE_DEFAULTS, unparsed=True)
        rule["line"] = raw[len("ufw ") :]
        rules.append(rule)
    return rules


_TABLE_LINE = re.compile(
    r"^(?:\[\s*(?P<number>\d+)\]\s)?(?P<to>\S.*?)\s+"
    r"(?P<action>ALLOW|DENY|REJECT|LIMIT)(?: (?P<direction>IN|OUT|FWD))?\s+"
    r"(?P<from>\S.*?)\s*(?:#\s(?P<comment>.*))?$"
)


def _endpoint(text):
    """``22/tcp``, ``172.22.0.2 7002/tcp``, ``Anywhere (v6) on eth0`` -> parts."""
    out = {"address": "any", "port": None, "proto": "any", "interface": None, "v6": False}
    if " on " in text:
        text, out["interface"] = text.rsplit(" on ", 1)
    if text.endswith(" (v6)"):
        text, out["v6"] = text[: -len(" (v6)")], True
    for word in text.split():
        port, _, proto = word.partition("/")
        if word == "Anywhere":
            continue
        if PORT_SPEC.match(port):
            out["port"], out["proto"] = port, proto or "any"
        else:
            out["address"] = word
    return out


def _parse_table_line(line):
    """One rule line of ``ufw status [verbose|numbered]``, or None."""
    match = _TABLE_LINE.match(line.rstrip())
    if not match:
        return None
    to, frm = _endpoint(match["to"]), _endpoint(match["from"])
    address = to["address"] if to["address"] != "any" else frm["address"]
    return {
        "number": int(match["number"]) if match["number"] else None,
        "action": match["action"].lower(),
        "direction": (match["direction"] or "IN").lower(),
        "interface": to["interface"] or frm["interface"],
        "from": frm["address"],
        "from_port": frm["port"],
        "to": to["address"],
        "port": to["port"],
        "proto": to["proto"] if to["port"] else frm["proto"],
        "v6": to["v6"] or frm["v6"] or ":" in address,
        "comment": match["comment"],
    }


def _parse_status(text):
    """
    ``ufw status verbose`` (or ``ufw status numbered``): ``active``,
    ``logging``, ``default`` (incoming/outgoing/routed), ``new_profiles``
    and the live ``rules`` (one per address family, as the kernel has them).
    """
    out = {"active": False, "logging": None, "default": {}, "new_profiles": None, "rules": []}
    in_table = False
    for line in text.splitlines():
        if line.startswith("Status:"):
            out["active"] = line.split(":", 1)[1].strip() == "active"
        elif line.startswith("Logging:"):
            out["logging"] = line.split(":", 1)[1].strip()
        elif line.startswith("Default:"):
            for policy, direction in re.findall(r"(\w+) \((\w+)\)", line):
                out["default"][direction] = policy
        elif line.startswith("New profiles:"):
            out["new_profiles"] = line.split(":", 1)[1].strip()
        elif line.lstrip().startswith("--"):
            in_table = True
        elif in_table and line.strip():
            rule = _parse_table_line(line.strip())
            if rule:
                out["rules"].append(rule)
    return out


def _parse_defaults(text):
    """``/etc/default/ufw``: ``ipv6`` (bool) and the default ``policy`` by direction."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip().strip("\"'")
    return {
        "ipv6": values.get("IPV6", "yes").lower() == "yes",
        "policy": {
            direction: POLICY_WORDS.get(values.get(key, ""), values.get(key, "").lower() or None)
            for direction, key in POLICY_KEYS.items()
        },
    }


# -- pure: building -------------------------------------------------------------


def _normalize_address(addr):
    """An address as ufw prints it: ``any``, ``10.0.0.5``, ``10.0.0.0/8``, ``2001:db8::1``."""
    if addr in (None, "", "any"):
        return "any"
    try:
        net = ipaddress.ip_network(addr, strict=False)
    except ValueError:
        return addr
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return str(net)


def build_args(rule):
    """
    The ``ufw`` arguments adding `rule`, in the form ``ufw show added``
    prints it (so the two compare). Rules webstack makes: allow/deny/reject/
    limit, incoming, from an address or anywhere, to a port.

    CLI Example: ``salt-call ufw.build_args '{port: "5432", proto: tcp, from: 10.0.0.11}'``
    """
    rule = dict(RULE_DEFAULTS, **rule)
    unsupported = [k for k in ("interface", "from_port", "app", "log") if rule[k]]
    if unsupported or rule["to"] != "any" or rule["route"] or rule["direction"] != "in":
        raise ValueError(f"build_args builds port rules only, not {rule}")
    if rule["action"] not in ACTIONS:
        raise ValueError(f"unknown action {rule['action']!r}")
    port, proto, source = rule["port"], rule["proto"], _normalize_address(rule["from"])
    if port is not None:
        port = str(port).replace(" ", "")
        if not PORT_SPEC.match(port):
            raise ValueError(f"bad port {port!r}")
        if proto == "any" and not port.isdigit():
            raise ValueError(f"port {port} (a range or a list) needs proto tcp or udp")
    if proto not in ("tcp", "udp", "any"):
        raise ValueError(f"bad proto {proto!r}")
    comment = rule["comment"]
    if comment is not None and not COMMENT_SAFE.match(comment):
        raise ValueError(f"comment {comment!r} has characters ufw cannot keep")

    args = [rule["action"]]
    if source == "any" and port is not None:
        args.append(port if proto == "any" else f"{port}/{proto}")
    else:
        args += ["from", source]
        if port is not None:
            args += ["to", "any", "port", port]
        if proto != "any":
            args += ["proto", proto]
    if comment:
        args += ["comment", comment]
    return args


def rule_text(rule):
    """
    A rule as ``ufw show added`` prints it, less ``ufw``: for logs and changes.

    CLI Example: ``salt-call ufw.rule_text '{port: "5432", proto: tcp, from: 10.0.0.11}'``
    """
    if rule.get("line"):
        return rule["line"]
    return shlex.join(build_args(rule))


def _port_covers(spec, port):
    """Whether a ufw port spec (``22``, ``80,443``, ``2000:2100``) includes `port`."""
    for part in str(spec).split(","):
        low, _, high = part.partition(":")
        if int(low) <= int(port) <= int(high or low):
            return True
    return False


def allows_ssh(rule, port):
    """
    Whether `rule` lets ssh (tcp `port`, on any interface) in, from some source.

    CLI Example: ``salt-call ufw.allows_ssh '{port: "22", proto: tcp}' 22``
    """
    rule = dict(RULE_DEFAULTS, **rule)
    return (
        rule["action"] in ("allow", "limit")
        and rule["direction"] == "in"
        and not rule["route"]
        and rule["interface"] is None
        and rule["app"] is None
        and rule["to"] == "any"
        and rule["proto"] in ("tcp", "any")
        and (rule["port"] is None or _port_covers(rule["port"], port))
    )


# -- pure: the rules of a box ---------------------------------------------------


def ssh_port(ws):
    """
    The ssh port of a box: ``webstack:ssh:port`` when that section exists, else 22.

    CLI Example: ``salt-call ufw.ssh_port "$(salt-call --out=json webstack.settings | jq .local)"``
    """
    return int((ws.get("ssh") or {}).get("port") or 22)


def _sources(values, peers, where, known_roles):
    """Addresses from a ``from`` list: addresses as they are, fleet roles via `peers`."""
    if values is None:
        return ["any"]
    out = []
    for value in [values] if isinstance(values, str) else values:
        for addr in peers(value) if value in known_roles else [value]:
            if addr != "any":
                try:
                    ipaddress.ip_network(addr, strict=False)
                except ValueError:
                    raise CommandExecutionError(
                        f"{where}: {addr!r} is neither an address nor a fleet role"
                    ) from None
            out.append(_normalize_address(addr))
    return list(dict.fromkeys(out))


def _plan(ws, peers, salt_master=False):
    """
    The allow rules a box needs, from its settings `ws` (webstack.settings),
    `peers` (a function: role -> addresses) and whether the box runs the
    fleet's salt-master. Pure: see :func:`rules_for`.

    - ssh, always: from ``firewall:ssh_sources`` when given, else anywhere;
    - a salt-master's ports (4505, 4506) from anywhere: its minions connect
      in, and would otherwise lose their master;
    - the ports the components of the box declare (their component.yaml
      ``ports``, in ``facts``): from anyone; or only from the boxes of the
      fleet roles it names as ``clients`` plus its ``clients`` setting (none
      on a single box, where those services listen on localhost); or, for a
      port ``behind`` some roles (web behind the balancers), only from those
      when the fleet has them and this box is not one of them;
    - ``firewall:rules`` from the pillar.
    """
    fw = ws.get("firewall") or {}
    box_roles = ws.get("roles") or []
    known = ws.get("known_roles") or []
    ssh_from = _sources(fw.get("ssh_sources") or None, peers, "webstack:firewall:ssh_sources", known)
    wanted = [("ssh", ssh_port(ws), "tcp", ssh_from)]  # (label, port, proto, sources)
    if salt_master:
        wanted.append(("salt-master", SALT_MASTER_PORTS, "tcp", ["any"]))
    for component in ws.get("components") or []:
        for port in ws["facts"][component]["ports"]:
            clients = port["clients"]
            front = [r for r in port["behind"] if r not in box_roles]
            if clients is None and front and any(peers(r) for r in front):
                clients = front
            if clients is None:
                sources = ["any"]
            else:
                sources = _sources(
                    [*clients, *port["extra_clients"]], peers, f"the {port['label']} clients", known
                )
            wanted.append((port["label"], port["port"], "tcp", sources))
    for i, extra in enumerate(fw.get("rules") or []):
        proto = extra.get("proto", "tcp")
        port = str(extra["port"]).replace(" ", "")
        label = extra.get("comment") or f"{port}/{proto}"
        wanted.append(
            (
                label,
                port,
                proto,
                _sources(extra.get("from"), peers, f"webstack:firewall:rules:{i}:from", known),
            )
        )

    # One rule per (port, proto, source): the first label wins.
    rules, seen = [], set()
    for label, port, proto, sources in wanted:
        for source in sources:
            rule = {"action": "allow", "port": str(port), "proto": proto, "from": source}
            if rule_key(rule) in seen:
                continue
            seen.add(rule_key(rule))
            if ":" in source and not fw.get("ipv6", True):
                raise CommandExecutionError(
                    f"webstack:firewall: {source} is an IPv6 source but webstack:firewall:ipv6 is false"
                )
            rule["comment"] = f"{MARKER} {label}"
            try:
                build_args(rule)
            except ValueError as exc:
                raise CommandExecutionError(f"webstack:firewall: {exc}") from None
            rules.append(rule)
    return rules


def rules_for(ws=None, peers=None, salt_master=None):
    """
    The allow rules this box needs (see :func:`_plan`). `ws` defaults to
    ``webstack.settings``; `peers` (role -> addresses) to ``webstack.peers``;
    `salt_master` to whether the salt-master service is enabled here.

    CLI Example: ``salt-call ufw.rules_for``
    """
    ws = __salt__["webstack.settings"]() if ws is None else ws
    if peers is None:
        cache = {}

        def lookup(role):
            if role not in cache:
                cache[role] = __salt__["webstack.peers"](role)
            return cache[role]

    else:

        def lookup(role):
            return list(peers.get(role) or [])

    if salt_master is None:
        salt_master = _salt_master_enabled()
    return _plan(ws, lookup, salt_master)


def _salt_master_enabled():
    try:
        res = __salt__["cmd.run_all"](
            ["systemctl", "is-enabled", "salt-master"],
            python_shell=False,
            ignore_retcode=True,
            output_loglevel="quiet",
        )
    except CommandExecutionError:  # no systemctl
        return False
    return res["stdout"].strip() == "enabled"


# -- the ufw command --------------------------------------------------------------


def installed():
    """
    Whether the ufw command is there.

    CLI Example: ``salt-call ufw.installed``
    """
    return bool(salt.utils.path.which("ufw"))


def _run(*args):
    res = __salt__["cmd.run_all"](
        ["ufw", *args], python_shell=False, env={"LC_ALL": "C"}, ignore_retcode=True
    )
    if res["retcode"] != 0:
        msg = (res.get("stderr") or res.get("stdout") or "").strip()
        raise CommandExecutionError(f"ufw {shlex.join(args)} failed: {msg}")
    return res["stdout"]


def added():
    """
    The user rules, active or not (``ufw show added``).

    CLI Example: ``salt-call ufw.added``
    """
    return _parse_added(_run("show", "added"))


def status(numbered=False):
    """
    Whether the firewall is active, its defaults, logging and live rules
    (``ufw status verbose``; ``numbered=True``: ``ufw status numbered``,
    whose rules carry the number ``ufw delete NUM`` takes).

    CLI Example: ``salt-call ufw.status numbered=True``
    """
    return _parse_status(_run("status", "numbered" if numbered else "verbose"))


def defaults(path="/etc/default/ufw"):
    """
    The configured defaults (IPv6 on or off, default policies), which
    ``ufw status`` shows only while active.

    CLI Example: ``salt-call ufw.defaults``
    """
    return _parse_defaults(__salt__["file.read"](path))


def add(rule):
    """
    Add (or re-comment) a rule given as a dict.

    CLI Example: ``salt-call ufw.add '{port: "8443", proto: tcp, comment: "webstack: extra"}'``
    """
    return _run(*build_args(rule))


def delete(rule):
    """
    Delete a rule as ``ufw show added`` listed it (both address families).

    CLI Example: ``salt-call ufw.delete '{line: "allow 8443/tcp"}'``
    """
    words = shlex.split(rule_text(rule))
    if len(words) > 2 and words[-2] == "comment":
        words = words[:-2]  # ufw matches rules without their comment
    return _run("delete", *words)


def readd(rule):
    """
    Add a rule again as ``ufw show added`` listed it (restores a missing address family).

    CLI Example: ``salt-call ufw.readd '{line: "allow 8443/tcp comment webstack:"}'``
    """
    return _run(*shlex.split(rule_text(rule)))


def set_ipv6(enabled, path="/etc/default/ufw"):
    """
    ``IPV6=yes|no`` in /etc/default/ufw (``ufw reload`` applies it to a running firewall).

    CLI Example: ``salt-call ufw.set_ipv6 true``
    """
    __salt__["file.replace"](
        path, pattern=r"^IPV6=.*$", repl=f"IPV6={'yes' if enabled else 'no'}", append_if_not_found=True
    )


def default(direction, policy):
    """
    ``ufw default POLICY DIRECTION``.

    CLI Example: ``salt-call ufw.default incoming deny``
    """
    return _run("default", policy, direction)


def enable():
    """
    ``ufw --force enable``: load the rules now and at boot.

    CLI Example: ``salt-call ufw.enable``
    """
    return _run("--force", "enable")


def reload():
    """
    ``ufw reload``: reload rules and /etc/default/ufw into the running firewall.

    CLI Example: ``salt-call ufw.reload``
    """
    return _run("reload")
