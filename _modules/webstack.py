"""
The webstack settings: defaults, OS differences and pillar merged into one
dict, validated before any state runs.

Every role's ``map.jinja`` import calls :func:`settings`, so a bad pillar fails
the render of the first SLS (and with it the whole run) with messages that name
the pillar key, before anything on the box changes.

Where values come from, lowest first:

1. ``salt://<state>/defaults.yaml`` of every state directory named in
   ``salt://roles.yaml`` (which also maps fleet roles to states)
2. ``salt://osmap.yaml``: ``os_family``, then ``os``, then ``osfinger`` entries
3. the ``webstack`` pillar key

Schemas live beside the defaults, in ``salt://<state>/schema.yaml`` (JSON
Schema written as YAML, checked with the ``jsonschema`` library).
"""

import copy
import hashlib
import ipaddress
import json
import logging
import re
from urllib.parse import quote

import salt.utils.dictupdate
import salt.utils.yaml
from salt.exceptions import CommandExecutionError

try:
    import jsonschema

    HAS_JSONSCHEMA = True
except ImportError:
    HAS_JSONSCHEMA = False

log = logging.getLogger(__name__)

__virtualname__ = "webstack"

# Sections outside the state directories (salt://defaults.yaml and
# salt://schema.yaml), checked on every box.
SHARED_SECTIONS = ("project", "roles", "peers")

# The named formats the schemas use, with what a wrong value is told.
_DOMAIN_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
FORMATS = {
    "domain": (
        re.compile(rf"^(\*\.)?({_DOMAIN_LABEL}\.)*{_DOMAIN_LABEL}$"),
        "a domain name like www.example.com",
    ),
    "username": (
        re.compile(r"^[a-z_][a-z0-9_-]{0,31}$"),
        "a user name (lower case letters, digits, _ or -, at most 32)",
    ),
    "ssh_public_key": (
        re.compile(
            r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|"
            r"sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) "
            r"AAAA[0-9A-Za-z+/]+={0,3}( [^\r\n]*)?$"
        ),
        "an OpenSSH public key line (type, base64 key, optional comment)",
    ),
    "git_url": (
        re.compile(r"^((https?|ssh|git|file)://[^\s]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+|/[^\s]*)$"),
        "a git URL (https://, ssh://, git://, file://, user@host:path or an absolute path)",
    ),
    "size": (
        re.compile(r"^[0-9]+[kKmMgG]?$"),
        "a size like 512k, 10m or 1g",
    ),
    "absolute_path": (
        re.compile(r"^/[^\0]*$"),
        "an absolute path",
    ),
    "identifier": (
        re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$"),
        "a name of letters, digits and _ (not starting with a digit)",
    ),
    "python_path": (
        re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*(:[A-Za-z_][A-Za-z0-9_.]*)?$"),
        "a dotted Python path like project.wsgi:application",
    ),
    "ip_or_network": (
        re.compile(r"^[0-9A-Fa-f.:]+(/[0-9]{1,3})?$"),
        "an IP address or network like 10.0.0.5 or 10.0.0.0/24",
    ),
}


def _is_network(value):
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


# Formats a pattern alone can't check, beyond it.
FORMAT_CHECKS = {"ip_or_network": _is_network}


def __virtual__():
    if not HAS_JSONSCHEMA:
        return (False, "webstack: the jsonschema library is missing (salt-pip install jsonschema)")
    return __virtualname__


def _format_checker():
    checker = jsonschema.FormatChecker(formats=())
    for name, (pattern, _) in FORMATS.items():
        extra = FORMAT_CHECKS.get(name, lambda value: True)

        def check(value, _p=pattern, _x=extra):
            return not isinstance(value, str) or bool(_p.match(value) and _x(value))

        checker.checks(name)(check)
    return checker


def _load_yaml(path):
    """A YAML file from the file server (salt://...), or {} when absent."""
    text = __salt__["cp.get_file_str"](f"salt://{path}")
    if text is False or text is None:
        return {}
    return salt.utils.yaml.safe_load(text) or {}


def _sources():
    """Roles, defaults, OS map and schemas, read once per run."""
    key = "webstack.sources"
    if key not in __context__:
        role_map = _load_yaml("roles.yaml")
        # Every state directory, in the order a highstate runs them.
        all_states = list(dict.fromkeys(s for states_ in role_map.values() for s in states_))
        defaults, schemas = {}, {}
        for state in all_states:
            defaults[state] = _load_yaml(f"{state}/defaults.yaml")
            schemas[state] = _load_yaml(f"{state}/schema.yaml") or {"type": "object"}
        top = _load_yaml("defaults.yaml")
        top_schemas = _load_yaml("schema.yaml")
        __context__[key] = {
            "common": role_map.pop("common", []),
            "roles": role_map,
            "states": all_states,
            "defaults": dict(top, **defaults),
            "schema": {
                "type": "object",
                "additionalProperties": False,
                "properties": dict(top_schemas, **schemas),
            },
            "osmap": _load_yaml("osmap.yaml"),
        }
    return __context__[key]


def _os_layers(osmap, grains):
    for grain in ("os_family", "os", "osfinger"):
        value = grains.get(grain)
        if value in osmap:
            yield osmap[value]


def _key(path):
    return ":".join(["webstack", *[str(p) for p in path]])


def _message(error):
    """One line per problem, naming the pillar key."""
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = re.match(r"'([^']+)'", error.message)
        if missing:
            path.append(missing.group(1))
        return f"{_key(path)}: is required"
    if error.validator == "type" and error.instance is None:
        # Keys without a default (null in defaults.yaml) that the pillar must give.
        return f"{_key(path)}: is required"
    if error.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", error.message)
        return "; ".join(f"{_key(path + [name])}: unknown key" for name in extra) or (
            f"{_key(path)}: {error.message}"
        )
    if error.validator == "format" and error.validator_value in FORMATS:
        return f"{_key(path)}: {error.instance!r} is not {FORMATS[error.validator_value][1]}"
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{_key(path)}: {error.instance!r} is not one of: {allowed}"
    if error.validator == "uniqueItems":
        return f"{_key(path)}: has duplicate entries"
    if error.validator == "not" and error.validator_value == {}:
        # A key the schema forbids (`not: {}`), its description saying why.
        return f"{_key(path)}: not allowed here ({error.schema.get('description', 'see the schema')})"
    return f"{_key(path)}: {error.message}"


def _strip_required(schema):
    """The schema with `required` dropped everywhere (for sections not applied)."""
    if isinstance(schema, dict):
        return {k: _strip_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_strip_required(v) for v in schema]
    return schema


def _validate_sections(schema, instance, checker):
    validator = jsonschema.Draft202012Validator(schema, format_checker=checker)
    return [
        _message(e)
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]


def roles(grains=None, pillar=None):
    """
    The fleet roles of this minion: those of the `roles` grain and of the
    pillar's `webstack:roles` (top.sls matches either).

    CLI Example: ``salt-call webstack.roles``
    """
    grains = __grains__ if grains is None else grains
    pillar = __pillar__ if pillar is None else pillar
    found = []
    for value in (grains.get("roles"), (pillar.get("webstack") or {}).get("roles")):
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            found += [v for v in value if v not in found]
    return found


def states(roles_=None):
    """
    The state directories this minion applies (as top.sls picks them), in
    run order.

    CLI Example: ``salt-call webstack.states``
    """
    src = _sources()
    wanted = set(src["common"])
    for role in roles() if roles_ is None else roles_:
        wanted.update(src["roles"].get(role, ()))
    return [state for state in src["states"] if state in wanted]


def validate(pillar=None, grains=None):
    """
    Check the `webstack` pillar. Returns a list of problems, each naming the
    key; an empty list means the pillar is good.

    CLI Example: ``salt-call webstack.validate``
    """
    pillar = __pillar__ if pillar is None else pillar
    grains = __grains__ if grains is None else grains
    src = _sources()
    checker = _format_checker()
    raw = pillar.get("webstack", {})
    if not isinstance(raw, dict):
        return [f"webstack: must be a mapping, got {type(raw).__name__}"]

    box_roles = roles(grains=grains, pillar=pillar)
    errors = []
    grain_roles = grains.get("roles")
    if grain_roles is not None and not isinstance(grain_roles, (list, str)):
        errors.append("grains:roles: must be a list of role names")
    known = src["roles"]
    for role in box_roles:
        if role not in known:
            where = "grains:roles" if role in (grain_roles or []) else "webstack:roles"
            errors.append(f"{where}: unknown role {role!r} (known: {', '.join(known)})")
    for role in (raw.get("peers") or {}) if isinstance(raw.get("peers"), dict) else ():
        if role not in known:
            errors.append(f"webstack:peers:{role}: unknown role (known: {', '.join(known)})")

    # Types, formats and unknown keys everywhere in the pillar ...
    errors += _validate_sections(_strip_required(src["schema"]), raw, checker)
    if errors:
        return errors
    # ... and required keys in the sections this box applies, or that a state
    # it applies needs (the section schema's `x-required-by`), after defaults.
    merged = _merge(src, grains, raw)
    box_states = set(states(box_roles))
    props = src["schema"]["properties"]
    applied = box_states | set(SHARED_SECTIONS)
    applied |= {name for name, schema in props.items() if box_states & set(schema.get("x-required-by", ()))}
    for section in sorted(applied & set(props)):
        schema = {"type": "object", "properties": {section: props[section]}}
        errors += _validate_sections(schema, {section: merged.get(section, {})}, checker)
    return errors


def _merge(src, grains, raw):
    merged = copy.deepcopy(src["defaults"])
    for layer in _os_layers(src["osmap"], grains):
        salt.utils.dictupdate.update(merged, copy.deepcopy(layer))
    salt.utils.dictupdate.update(merged, copy.deepcopy(raw))
    return merged


def settings():
    """
    The validated, merged settings of every state. Raises with every problem
    found, one line per pillar key, when the pillar is bad.

    CLI Example: ``salt-call webstack.settings``
    """
    raw = __pillar__.get("webstack", {})
    fingerprint = hashlib.sha256(json.dumps([raw, roles()], sort_keys=True, default=str).encode()).hexdigest()
    key = f"webstack.settings.{fingerprint}"
    if key not in __context__:
        errors = validate()
        if errors:
            raise CommandExecutionError("Invalid pillar, nothing was changed:\n  " + "\n  ".join(errors))
        merged = _merge(_sources(), __grains__, raw)
        merged["roles"] = roles()
        merged["states"] = states(merged["roles"])
        _derive(merged)
        __context__[key] = merged
    return copy.deepcopy(__context__[key])


def _derive(ws):
    """Values that follow from others unless the pillar sets them."""
    project = ws["project"]
    name = project["name"]
    project["user"] = project.get("user") or name
    project["group"] = project.get("group") or project["user"]
    project["root"] = project.get("root") or f"/srv/{name}"
    # nginx believes X-Forwarded-For/-Proto from the fleet's balancers only.
    nginx = ws.setdefault("nginx", {})
    if nginx.get("trusted_proxies") is None:
        nginx["trusted_proxies"] = peers("balancer")
    # The WSGI app gunicorn serves: Django's startproject layout by default.
    app = ws.setdefault("app", {})
    app["wsgi"] = app.get("wsgi") or f"{name}.wsgi:application"

    # Where the app finds its database and broker: this box when it holds the
    # role, else the first peer holding it (pillar webstack:peers or the mine).
    services = {"postgresql": ("db", "database"), "rabbitmq": ("queue", "vhost")}
    for section, (role, own) in services.items():
        conf = ws.setdefault(section, {})
        conf["user"] = conf.get("user") or name
        conf[own] = conf.get(own) or name
        if not conf.get("host"):
            remote = [] if role in ws["roles"] else peers(role)
            conf["host"] = remote[0] if remote else "127.0.0.1"

    pg, mq = ws["postgresql"], ws["rabbitmq"]
    ws["urls"] = {
        "database": "postgresql://{}:{}@{}:{}/{}".format(
            quote(pg["user"], safe=""),
            quote(pg.get("password") or "", safe=""),
            _url_host(pg["host"]),
            pg.get("port", 5432),
            quote(pg["database"], safe=""),
        ),
        "broker": "amqp://{}:{}@{}:{}/{}".format(
            quote(mq["user"], safe=""),
            quote(mq.get("password") or "", safe=""),
            _url_host(mq["host"]),
            mq.get("port", 5672),
            quote(mq["vhost"], safe=""),
        ),
    }

    # The caches the cache role runs (this box, else the first cache peer):
    # memcached as host:port (Django's LOCATION), redis as a URL; None when
    # disabled or when no box holds the cache role.
    cache = ws.setdefault("cache", {})
    remote = [] if "cache" in ws["roles"] else peers("cache")
    host = "127.0.0.1" if "cache" in ws["roles"] else (_url_host(remote[0]) if remote else None)
    mc, rd = cache.get("memcached") or {}, cache.get("redis") or {}
    ws["urls"]["memcached"] = f"{host}:{mc.get('port', 11211)}" if host and mc.get("enabled") else None
    ws["urls"]["redis"] = (
        "redis://{}{}:{}/0".format(
            f":{quote(rd['password'], safe='')}@" if rd.get("password") else "", host, rd.get("port", 6379)
        )
        if host and rd.get("enabled")
        else None
    )


def _url_host(host):
    """A host as a URL writes it: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host


def _address_key(value):
    """Numeric order of addresses and networks (10.0.0.9 before 10.0.0.10)."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return (9, 0, 0, str(value))
    return (net.version, int(net.network_address), net.prefixlen, str(value))


def peers(role, ids=False):
    """
    Addresses of the minions holding `role`: the pillar's
    `webstack:peers:<role>` when given, else the Salt mine
    (`network.ip_addrs` of minions whose `roles` grain holds the role; a
    minion with several addresses counts with its lowest, so restrict the
    mine function to the private network with `cidr` where that matters).
    Sorted by address so rendered files are stable.

    With `ids=True`, ``[name, address]`` pairs: the minion id from the mine,
    the address itself for peers listed in the pillar.

    CLI Example: ``salt-call webstack.peers db``
    """
    listed = ((__pillar__.get("webstack") or {}).get("peers") or {}).get(role)
    if listed is not None:
        pairs = [(str(addr), str(addr)) for addr in listed]
    else:
        mined = __salt__["mine.get"](f"roles:{role}", "network.ip_addrs", tgt_type="grain") or {}
        pairs = [
            (str(minion), min(map(str, ips), key=_address_key))
            for minion, ips in mined.items()
            if isinstance(ips, list) and ips
        ]
    pairs = sorted(set(pairs), key=lambda pair: (_address_key(pair[1]), pair[0]))
    if ids:
        return [list(pair) for pair in pairs]
    return list(dict.fromkeys(addr for _, addr in pairs))
