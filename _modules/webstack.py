"""
The webstack settings: defaults, OS differences and pillar merged into one
dict, validated before any state runs.

Every SLS starts by importing ``salt://settings.jinja``, which calls
:func:`settings`, so a bad pillar fails the render of the first SLS (and with
it the whole run) with messages that name the pillar key, before anything on
the box changes.

Where values come from, lowest first:

1. ``salt://<component>/defaults.yaml`` of every component folder named in
   ``salt://roles.yaml`` (which maps fleet roles to components)
2. ``salt://osmap.yaml``: ``os_family``, then ``os``, then ``osfinger`` entries
3. the ``webstack`` pillar key

Schemas live beside the defaults, in ``salt://<component>/schema.yaml`` (JSON
Schema written as YAML, checked with the ``jsonschema`` library); a
component that serves TLS gets the ``tls`` defaults and schema of
``salt://tls.yaml``. What a component is (packages, ports, URLs, ...) is in
its ``salt://<component>/component.yaml``: :func:`settings` adds what follows
from those declarations (paths, URLs, TLS files, ``facts``).
"""

import copy
import hashlib
import ipaddress
import json
import logging
import os
import re
import subprocess
from urllib.parse import quote

import salt.utils.dictupdate
import salt.utils.path
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
SHARED_SECTIONS = ("project", "roles", "peers", "peer_tls")

# systemd's time span units (systemd.time(7)), in seconds, longest names first.
TIMESPAN_UNITS = {"min": 60, "sec": 1, "hr": 3600, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

# The named formats the schemas use, with what a wrong value is told.
_DOMAIN_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_PEM_BODY = r"[A-Za-z0-9+/=\s]+"
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
    "https_url": (
        re.compile(rf"^https://({_DOMAIN_LABEL}\.)*{_DOMAIN_LABEL}(:[0-9]{{1,5}})?/?$"),
        "an https URL of a host, like https://s3.eu-west-1.amazonaws.com",
    ),
    "bucket": (
        re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
        "an S3 bucket name (3 to 63 lower case letters, digits, dots and hyphens)",
    ),
    "calendar": (
        re.compile(r"^[A-Za-z0-9*:,./~ -]+$"),
        "a systemd calendar expression like daily or 'Sun *-*-* 01:30:00' (systemd-analyze calendar)",
    ),
    "email": (
        re.compile(rf"^[^@\s]+@({_DOMAIN_LABEL}\.)+{_DOMAIN_LABEL}$"),
        "an email address like ops@example.com",
    ),
    "https_resource": (
        re.compile(rf"^https://({_DOMAIN_LABEL}\.)*{_DOMAIN_LABEL}(:[0-9]{{1,5}})?(/[^\s]*)?$"),
        "an https URL like https://acme-v02.api.letsencrypt.org/directory",
    ),
    "timespan": (
        re.compile(rf"^\s*([0-9]+\s*({'|'.join(TIMESPAN_UNITS)})\s*)+$"),
        "a time span like 90s, 10min, 26h or 8d",
    ),
    "sysctl_value": (
        # One number, or several on one line ("4096 87380 6291456").
        re.compile(r"^-?[0-9]+([ \t]+-?[0-9]+)*$"),
        "a number, or numbers separated by spaces",
    ),
    "systemd_directive": (
        re.compile(r"^[A-Z][A-Za-z]+$"),
        "a systemd directive name like ProtectSystem",
    ),
    "pem_certificate": (
        re.compile(rf"^\s*(-----BEGIN CERTIFICATE-----{_PEM_BODY}-----END CERTIFICATE-----\s*)+$"),
        "PEM text of a certificate (-----BEGIN CERTIFICATE----- ...)",
    ),
    "pem_private_key": (
        # PKCS#8 or OpenSSL's EC/RSA forms (openssl ecparam -genkey puts its
        # parameters first); not encrypted: nothing could type its passphrase.
        re.compile(
            rf"^\s*(-----BEGIN EC PARAMETERS-----{_PEM_BODY}-----END EC PARAMETERS-----\s*)?"
            rf"-----BEGIN (?P<kind>(RSA |EC )?)PRIVATE KEY-----{_PEM_BODY}"
            r"-----END (?P=kind)PRIVATE KEY-----\s*$"
        ),
        "PEM text of an unencrypted private key (-----BEGIN PRIVATE KEY----- ...)",
    ),
}

# What Salt's gpg renderer leaves in a value it could not decrypt.
PGP_MESSAGE = "-----BEGIN PGP MESSAGE-----"

# Formats whose wrong values a message names without repeating them: pages
# of PEM, and secrets.
UNQUOTED_FORMATS = ("pem_certificate", "pem_private_key")


def _is_network(value):
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _is_calendar(value):
    """What systemd's timers accept, where systemd-analyze is at hand (else the pattern alone)."""
    if not salt.utils.path.which("systemd-analyze"):
        return True
    return (
        subprocess.run(
            ["systemd-analyze", "calendar", "--iterations=1", value], capture_output=True, check=False
        ).returncode
        == 0
    )


# Formats a pattern alone can't check, beyond it.
FORMAT_CHECKS = {"ip_or_network": _is_network, "calendar": _is_calendar}


def timespan(value):
    """
    Seconds in a systemd time span (``90s``, ``10min``, ``26h``, ``1d 12h``).

    CLI Example: ``salt-call webstack.timespan 8d``
    """
    total = 0
    for number, unit in re.findall(r"([0-9]+)\s*([a-z]+)", value):
        total += int(number) * TIMESPAN_UNITS[unit]
    return total


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


def _declaration(component, schema):
    """`component`'s component.yaml, checked against component-schema.yaml."""
    path = f"{component}/component.yaml"
    declared = _load_yaml(path)
    problems = [
        f"{':'.join(map(str, e.absolute_path)) or 'top'}: {e.message}"
        for e in jsonschema.Draft202012Validator(schema).iter_errors(declared)
    ]
    if problems:
        raise CommandExecutionError(
            f"salt://{path} is not a component declaration:\n  " + "\n  ".join(problems)
        )
    return declared


def _sources():
    """Fleet roles, components' declarations, defaults, OS map and schemas, read once per run."""
    key = "webstack.sources"
    if key not in __context__:
        role_map = _load_yaml("roles.yaml")
        # Every component, in the order a highstate runs them.
        components_ = list(dict.fromkeys(c for comps in role_map.values() for c in comps))
        declared, defaults, schemas = {}, {}, {}
        declaration_schema = _load_yaml("component-schema.yaml")
        tls = _load_yaml("tls.yaml")
        sandbox = _load_yaml("sandbox.yaml")
        for component in components_:
            declared[component] = _declaration(component, declaration_schema)
            defaults[component] = _load_yaml(f"{component}/defaults.yaml")
            schemas[component] = _load_yaml(f"{component}/schema.yaml") or {"type": "object"}
            if "tls" in declared[component]:
                defaults[component]["tls"] = copy.deepcopy(tls["defaults"])
                schemas[component].setdefault("properties", {})["tls"] = tls["schema"]
            for unit in declared[component].get("sandbox", ()):
                node = schemas[component]
                for part in unit["settings"].split("."):
                    node = node.setdefault("properties", {}).setdefault(part, {"type": "object"})
                node.update(copy.deepcopy(sandbox["schema"]))
        top = _load_yaml("defaults.yaml")
        top_schemas = _load_yaml("schema.yaml")
        __context__[key] = {
            "common": role_map.pop("common", []),
            "roles": role_map,
            "components": components_,
            "declared": declared,
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
        shown = "" if error.validator_value in UNQUOTED_FORMATS else f"{error.instance!r} "
        return f"{_key(path)}: {shown}is not {FORMATS[error.validator_value][1]}"
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{_key(path)}: {error.instance!r} is not one of: {allowed}"
    if error.validator == "uniqueItems":
        return f"{_key(path)}: has duplicate entries"
    if error.validator == "not" and error.validator_value == {}:
        # A key the schema forbids (`not: {}`), its description saying why.
        return f"{_key(path)}: not allowed here ({error.schema.get('description', 'see the schema')})"
    return f"{_key(path)}: {error.message}"


def _still_encrypted(node, path=()):
    """The paths of the strings under `node` that still hold an armored PGP message."""
    if isinstance(node, dict):
        return [found for key, value in node.items() for found in _still_encrypted(value, (*path, key))]
    if isinstance(node, list):
        return [found for i, value in enumerate(node) for found in _still_encrypted(value, (*path, i))]
    return [path] if isinstance(node, str) and PGP_MESSAGE in node else []


def _gpg_keydir():
    """Where Salt's gpg renderer looks for keys on this box (a master's, in its ext_pillar)."""
    config_dir = __opts__.get("config_dir") or os.path.dirname(__opts__["conf_file"])
    return __opts__.get("gpg_keydir") or os.path.join(config_dir, "gpgkeys")


def _encrypted_problems(raw):
    """
    One line per value the gpg renderer could not decrypt (it leaves the
    ciphertext in place, and warns only in the log), never quoting it.
    """
    keydir = _gpg_keydir()
    return [
        f"{_key(path)}: still GPG-encrypted: no secret key in {keydir} could decrypt it "
        f"(the key is missing there, or the value was encrypted to another key); import the "
        f"secret key into {keydir}, or encrypt the value again to a key it holds"
        for path in _still_encrypted(raw)
    ]


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


def components(roles_=None):
    """
    The components this minion applies (as top.sls picks them from its fleet
    roles), in run order.

    CLI Example: ``salt-call webstack.components``
    """
    src = _sources()
    wanted = set(src["common"])
    for role in roles() if roles_ is None else roles_:
        wanted.update(src["roles"].get(role, ()))
    return [component for component in src["components"] if component in wanted]


def declarations():
    """
    What every component declares in its ``component.yaml`` (packages,
    ports, URLs, ...), by component, in run order.

    CLI Example: ``salt-call webstack.declarations``
    """
    return copy.deepcopy(_sources()["declared"])


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

    # Before the schema, whose messages would quote the ciphertext.
    errors = _encrypted_problems(raw)
    if errors:
        return errors
    box_roles = roles(grains=grains, pillar=pillar)
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
    # ... and required keys in the sections this box applies, or that a
    # component it applies needs (the section schema's `x-required-by`),
    # after defaults.
    merged = _merge(src, grains, raw)
    box_components = set(components(box_roles))
    props = src["schema"]["properties"]
    applied = box_components | set(SHARED_SECTIONS)
    applied |= {name for name, schema in props.items() if _required_by(schema, box_components, merged)}
    # What `x-required-when` reads: the settings and this box's role settings.
    view = copy.deepcopy(merged)
    _role_settings(view, src, box_roles)
    for section in sorted(applied & set(props)):
        section_schema = _required_when(props[section], view, view.get(section, {}))
        schema = {"type": "object", "properties": {section: section_schema}}
        errors += _validate_sections(schema, {section: merged.get(section, {})}, checker)
    if errors:
        return errors
    # ... and what ties a component's TLS to other sections, and the peer
    # TLS files to each other.
    for component in sorted(box_components):
        tls = merged.get(component, {}).get("tls") or {}
        if "tls" in src["declared"][component] and tls["acme"]["enabled"]:
            errors += _acme_problems(component, tls, merged["project"])
    return errors + _peer_tls_problems(merged["peer_tls"])


def _required_by(schema, box_components, merged):
    """
    Whether a section's keys are required on this box for a component it
    applies: its schema's `x-required-by` lists components, or
    ``{component, when}`` with `when` a setting (a dotted path, as
    component.yaml's) that must be true, e.g. the broker's password only
    where the app runs Celery.
    """
    for item in schema.get("x-required-by", ()):
        component, when = (item, None) if isinstance(item, str) else (item["component"], item.get("when"))
        if component in box_components and _holds(when, merged, merged.get(component, {})):
            return True
    return False


def _required_when(schema, view, section):
    """
    The schema without the `required` of its objects whose `x-required-when`
    (a setting, read as a component.yaml `when`) is false: e.g. the
    replication password only on a replica.
    """
    if isinstance(schema, list):
        return [_required_when(item, view, section) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _required_when(v, view, section) for k, v in schema.items()}
    if "x-required-when" in schema and not _holds(schema["x-required-when"], view, section):
        out.pop("required", None)
    return out


def _role_settings(ws, src, box_roles):
    """Each component's `role_settings` (component.yaml): whether this box holds that fleet role."""
    for component, decl in src["declared"].items():
        for key, role in (decl.get("role_settings") or {}).items():
            ws.setdefault(component, {})[key] = role in box_roles


def _merge(src, grains, raw):
    merged = copy.deepcopy(src["defaults"])
    for layer in _os_layers(src["osmap"], grains):
        salt.utils.dictupdate.update(merged, copy.deepcopy(layer))
    salt.utils.dictupdate.update(merged, copy.deepcopy(raw))
    return merged


def settings():
    """
    The validated, merged settings of every component, with what follows
    from them (see the components' ``component.yaml``). Raises with every
    problem found, one line per pillar key, when the pillar is bad.

    CLI Example: ``salt-call webstack.settings``
    """
    raw = __pillar__.get("webstack", {})
    fingerprint = hashlib.sha256(json.dumps([raw, roles()], sort_keys=True, default=str).encode()).hexdigest()
    key = f"webstack.settings.{fingerprint}"
    if key not in __context__:
        _refuse(validate())
        src = _sources()
        merged = _merge(src, __grains__, raw)
        merged["roles"] = roles()
        merged["known_roles"] = list(src["roles"])
        merged["components"] = components(merged["roles"])
        _derive(merged, src)
        # What the derive hooks found wrong with the pillar and the peers
        # together (e.g. a replica with no primary to follow).
        _refuse(
            merged.pop("problems") + [p for c in merged["components"] for p in merged[c].pop("problems", [])]
        )
        __context__[key] = merged
    return copy.deepcopy(__context__[key])


def _refuse(errors):
    """Stop the run when there are problems, one line each."""
    if not errors:
        return
    message = "Invalid pillar, nothing was changed:\n  " + "\n  ".join(errors)
    if __opts__.get("__cli") == "salt-call":
        # At a terminal (masterless): this, on stderr, exit 1, and nothing
        # more; as an error each SLS that imports the settings would repeat
        # it with a page of template context. (A master's minions refuse
        # before rendering: _pillar/.)
        raise SystemExit(message)
    raise CommandExecutionError(message)


# -- what follows from the settings ------------------------------------------------

_REF = re.compile(r"\{([A-Za-z0-9_.]+)\}")


def _lookup(path, ws, section):
    """A setting by dotted path: in `section` first, else in `ws`."""
    for root in (section, ws):
        node, found = root, True
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                found = False
                break
        if found:
            return node
    raise CommandExecutionError(f"webstack: no setting {path!r} (in a component.yaml)")


def _fill(template, ws, section):
    """
    `template` with its ``{ref}``s filled in from the settings (see
    component-schema.yaml): lists item by item; a string that is only a
    ``{ref}`` is that setting as it is; elsewhere lists are joined with commas.
    """
    if isinstance(template, list):
        out = []
        for item in template:
            value = _fill(item, ws, section)
            out += value if isinstance(value, list) else [value]
        return out
    if not isinstance(template, str):
        return template
    whole = _REF.fullmatch(template)
    if whole:
        return _lookup(whole.group(1), ws, section)

    def text(match):
        value = _lookup(match.group(1), ws, section)
        return ",".join(map(str, value)) if isinstance(value, list) else str(value)

    return _REF.sub(text, template)


def _holds(when, ws, section):
    """Whether the setting `when` (a dotted path, as a ``{ref}`` reads it; none: always) is true."""
    if not when:
        return True
    try:
        return bool(_lookup(when, ws, section))
    except CommandExecutionError:
        return False


def _url(template, values, host):
    """
    A URL from `template` (component.yaml ``urls``): ``{host}`` as a URL
    writes it, every other value quoted; a ``[...]`` part only when a value
    in it is set.
    """

    def value(match):
        name = match.group(1)
        if name == "host":
            return _url_host(host)
        return quote(str(values.get(name) or ""), safe="")

    def optional(match):
        part = match.group(1)
        return _REF.sub(value, part) if any(values.get(n) for n in _REF.findall(part)) else ""

    return _REF.sub(value, re.sub(r"\[([^\]]*)\]", optional, template))


def _tls(tls, layout, names, component):
    """
    What a TLS-serving component serves (its settings' ``tls``, its
    component.yaml ``tls``): ``source`` (off, pillar, acme or self_signed),
    the certificate's directory (``dir``) and files, relative to the
    component's ``base`` directory (``files``) and absolute (``paths``), those
    no longer in use (``unused``, ``unused_paths``), the names a certificate
    carries (``names``, ``common_name``: the first that is not a wildcard),
    and for ACME what certbot is told (``acme``, see :func:`_acme`).
    """
    if not tls.get("enabled"):
        source = "off"
    elif tls.get("certificate"):
        source = "pillar"
    elif tls["acme"].get("enabled"):
        source = "acme"
    else:
        source = "self_signed"
    base, folder = layout["base"], layout["dir"]
    files = {
        kind: f"{folder}/{name}"
        for kind, name in layout["files"].get(source, {}).items()
        # The chain has a file of its own only when the pillar gives one.
        if not (kind == "chain" and not tls.get("chain"))
    }
    every = [f"{folder}/{name}" for kinds in layout["files"].values() for name in kinds.values()]
    unused = [path for path in every if path not in files.values()]
    exact = [n for n in names if not str(n).startswith("*.")]
    paths = {kind: f"{base}/{path}" for kind, path in files.items()}
    out = dict(
        tls,
        source=source,
        base=base,
        dir=f"{base}/{folder}",
        files=files,
        paths=paths,
        unused=unused,
        unused_paths=[f"{base}/{path}" for path in unused],
        names=list(names),
        common_name=(exact or list(names))[0],
    )
    if "acme" in layout:
        out["acme"] = _acme(tls["acme"], layout, component, list(names), paths if source == "acme" else None)
    return out


# Where certbot keeps a lineage (its live/ links and renewal/ settings), and
# what webstack adds beside them.
LETSENCRYPT = "/etc/letsencrypt"


def _acme(acme, layout, component, names, paths):
    """
    The ``acme`` settings with what certbot is told and what its deploy hook
    does: the lineage (``lineage``, ``live``, ``renewal_conf``), webstack's
    files beside it (``dir``), the hook
    (``hook``: it writes ``deploy``, each a path and the lineage files it
    joins, removes ``remove`` and reloads ``reload``), the directory's CA
    file (``ca_file``), the environment certbot needs (``env``) and, when
    this component's certificate comes from ACME (``active``; `paths`: its
    files), the ``certonly`` arguments (the challenge from component.yaml:
    ``webroot`` files or a ``standalone`` listener).
    """
    how = layout["acme"]
    lineage = f"webstack-{component}"
    live = f"{LETSENCRYPT}/live/{lineage}"
    own = f"{LETSENCRYPT}/webstack"
    hook = f"{own}/deploy-{component}"
    ca_file = f"{own}/directory-ca.pem" if acme.get("ca_bundle") else None
    out = dict(
        acme,
        active=paths is not None,
        lineage=lineage,
        live=live,
        renewal_conf=f"{LETSENCRYPT}/renewal/{lineage}.conf",
        dir=own,
        hook=hook,
        ca_file=ca_file,
        env={"REQUESTS_CA_BUNDLE": ca_file} if ca_file else {},
        webroot=how.get("webroot"),
        standalone=how.get("standalone"),
        names=names,
        # The key as certbot.lineage names it.
        key="ecdsa" if acme["key_type"] == "ecdsa" else f"rsa-{acme['rsa_key_size']}",
        reload=how["reload"],
        certonly=[],
        deploy=[],
        remove=[],
    )
    if paths is None:
        return out
    if acme["key_type"] == "ecdsa":
        key = ["--key-type", "ecdsa", "--elliptic-curve", "secp256r1"]
    else:
        key = ["--key-type", "rsa", "--rsa-key-size", str(acme["rsa_key_size"])]
    if "webroot" in how:
        challenge = ["--webroot", "--webroot-path", how["webroot"]]
    else:
        address, port = how["standalone"].rsplit(":", 1)
        challenge = ["--standalone", "--http-01-address", address, "--http-01-port", port]
    out["certonly"] = [
        "certonly",
        "--non-interactive",
        "--agree-tos",
        "--email",
        acme["email"],
        "--server",
        acme["directory"],
        "--cert-name",
        lineage,
        *key,
        *challenge,
        # Stored in the lineage: it runs after each `renew` too.
        "--deploy-hook",
        hook,
        *[arg for name in names for arg in ("--domain", name)],
    ]
    out["deploy"] = [
        {"path": paths[kind], "sources": [f"{live}/{name}" for name in sources]}
        for kind, sources in how["deploy"].items()
    ]
    out["remove"] = [path for kind, path in paths.items() if kind not in how["deploy"]]
    return out


def _acme_problems(component, tls, project):
    """What the rest of the settings must be for ``<component>:tls:acme`` to work."""
    key = f"webstack:{component}:tls"
    problems = []
    if not tls.get("enabled"):
        problems.append(f"{key}:enabled: must be true with {key}:acme:enabled")
    for other in ("certificate", "self_signed"):
        if tls.get(other):
            problems.append(f"{key}:{other}: not with {key}:acme:enabled (the CA issues the certificate)")
    domains = project.get("domains") or []
    if not domains:
        problems.append(f"webstack:project:domains: is required with {key}:acme:enabled (its names)")
    for name in domains:
        if str(name).startswith("*."):
            problems.append(
                f"webstack:project:domains: {name!r} is a wildcard: {key}:acme (http-01) can't prove it"
            )
    return problems


def _peer_tls_problems(peer_tls):
    """
    What goes together in ``webstack:peer_tls``: a certificate with its key
    and the CA its peers verify it against. (Where a box needs a
    certificate, its component's checks say.)
    """
    key = "webstack:peer_tls"
    return [
        f"{key}:{need}: is required with {key}:{have}"
        for have, need in (("certificate", "key"), ("key", "certificate"), ("certificate", "ca"))
        if peer_tls.get(have) and not peer_tls.get(need)
    ]


# Where every box keeps the fleet CA it trusts for connections between boxes.
PEER_TLS_DIR = "/etc/webstack/peer-tls"


def _peer_tls(peer_tls):
    """``webstack:peer_tls`` and its files: ``enabled`` when a CA is given, ``dir``, the CA's ``ca_file``."""
    return dict(peer_tls, enabled=bool(peer_tls["ca"]), dir=PEER_TLS_DIR, ca_file=f"{PEER_TLS_DIR}/ca.pem")


def _hooks(declared):
    """The functions of a component.yaml `settle` or `derive`: one, several or none."""
    return [declared] if isinstance(declared, str) else list(declared or [])


def _derive(ws, src):
    """What follows from the settings, unless the pillar sets it (see each component.yaml)."""
    project = ws["project"]
    name = project["name"]
    project["user"] = project.get("user") or name
    project["group"] = project.get("group") or project["user"]
    project["root"] = project.get("root") or f"/srv/{name}"
    # The names the site answers to: Django's ALLOWED_HOSTS (localhost: the
    # health check), and nginx's server names (without domains: this box's).
    project["hosts"] = [*project["domains"], "localhost"]
    project["server_names"] = list(project["domains"]) or [__grains__.get("fqdn") or "localhost"]
    ws["peer_tls"] = _peer_tls(ws["peer_tls"])

    looked_up = {}

    def peers_of(role):
        if role not in looked_up:
            looked_up[role] = peers(role)
        return looked_up[role]

    here = set(ws["components"])
    ws["urls"], ws["exports"], ws["after"], ws["problems"] = {}, {}, {}, []
    _role_settings(ws, src, ws["roles"])
    for component, decl in src["declared"].items():
        conf = ws.setdefault(component, {})
        # What this box already has that the layouts follow (component.yaml
        # `settle`), before they are filled in.
        if component in here:
            for hook in _hooks(decl.get("settle")):
                conf.update(__salt__[hook](conf, ws))
        for key in decl.get("fill", ()):
            conf[key] = _fill(conf[key], ws, conf)
        for key, template in (decl.get("derived") or {}).items():
            if not conf.get(key):
                conf[key] = _fill(template, ws, conf)
        for key, role in (decl.get("peers_default") or {}).items():
            if conf.get(key) is None:
                conf[key] = peers_of(role)
        if "tls" in decl:
            conf["tls"] = _tls(conf["tls"], decl["tls"], project["server_names"], component)
        if decl.get("urls"):
            # Where the app finds it: this box when it holds a fleet role that
            # serves it (component.yaml `host_role`, else any role applying
            # the component), else the first box of such a role.
            holders = [decl["host_role"]] if decl.get("host_role") else _holders(component, src)
            if not conf.get("host") and set(holders) & set(ws["roles"]):
                conf["host"] = "127.0.0.1"
            elif not conf.get("host"):
                remote = [a for role in holders for a in peers_of(role)]
                conf["host"] = remote[0] if remote else decl.get("host_fallback")
                if decl.get("host_role") and len(remote) > 1:
                    ws["problems"].append(
                        f"webstack:peers:{decl['host_role']}: {len(remote)} boxes hold fleet role"
                        f" {decl['host_role']} ({', '.join(remote)}); the app's {component} URLs need one"
                    )
            for url_name, url in decl["urls"].items():
                values = conf.get(url["settings"], {}) if url.get("settings") else conf
                made = _urls(url, ws, conf, values)
                ws["urls"][url_name] = made
                if url.get("env") and made:
                    ws["exports"][url["env"]] = ",".join(made) if isinstance(made, list) else made
        for var, template in (decl.get("env") or {}).items():
            value = _fill(template, ws, conf)
            ws["exports"][var] = ",".join(map(str, value)) if isinstance(value, list) else value

    # What the components of this box serve, where and to whom; and what
    # they wait for.
    for component in ws["components"]:
        decl, conf = src["declared"][component], ws[component]
        client_roles = [r for port in decl.get("ports", ()) for r in port.get("clients", ())]
        if client_roles:
            conf["client_addresses"] = __salt__["datatier.clients"](
                conf.get("clients"), list(dict.fromkeys(client_roles))
            )
            conf["listen_addresses"] = __salt__["datatier.listen_addresses"](
                conf["client_addresses"], conf.get("listen_addresses")
            )
        ws["after"][component] = [
            after["sls"]
            for after in decl.get("after", ())
            if after["sls"].split(".")[0] in here and _holds(after.get("when"), ws, conf)
        ]

    # What only Python can work out (component.yaml `derive`, one hook or
    # several in order), for this box's components, given every other setting.
    for component in ws["components"]:
        for hook in _hooks(src["declared"][component].get("derive")):
            ws[component].update(__salt__[hook](ws[component], ws))

    # Each component's packages and ports (and logs it follows), as this
    # box's settings make them.
    ws["facts"] = {}
    for component, decl in src["declared"].items():
        conf = ws[component]
        ws["facts"][component] = {
            "packages": [
                {
                    "names": _fill(p["names"], ws, conf),
                    "daemons": [str(d) for d in _fill(p.get("daemons", []), ws, conf)],
                }
                for p in decl.get("packages", ())
                if _holds(p.get("when"), ws, conf)
            ],
            "ports": [
                {
                    "label": port["label"],
                    "port": str(_fill(port["port"], ws, conf)),
                    "clients": port.get("clients"),
                    "extra_clients": list(conf.get("clients") or []) if port.get("clients") else [],
                    "behind": port.get("behind") or [],
                }
                for port in decl.get("ports", ())
                if _holds(port.get("when"), ws, conf)
            ],
            "follows": decl.get("follows") or {},
            # Every unit it declares; `enabled` where this box sandboxes it.
            "sandbox": [
                dict(
                    _sandbox(unit, ws, conf),
                    enabled=component in here
                    and _holds(unit.get("when"), ws, conf)
                    and _lookup(unit["settings"], ws, conf)["enabled"],
                )
                for unit in decl.get("sandbox", ())
            ],
        }


def _directive_lines(name, value):
    """A drop-in's lines for one directive (see salt://sandbox.yaml)."""
    if value is None:
        return []
    if isinstance(value, bool):
        return [f"{name}={'yes' if value else 'no'}"]
    if isinstance(value, list):
        items = [str(v) for v in value if v is not None]
        return [f"{name}={v}" for v in items] if items else [f"{name}="]
    return [f"{name}={value}"]


def _sandbox(unit, ws, conf):
    """A component.yaml ``sandbox`` entry as this box's settings make it: the unit and its drop-in's lines."""
    name = str(_fill(unit["unit"], ws, conf))
    directives = _lookup(unit["settings"], ws, conf)["directives"]
    lines = [
        line for key, value in directives.items() for line in _directive_lines(key, _fill(value, ws, conf))
    ]
    return {"unit": name if "." in name else f"{name}.service", "lines": lines}


def _holders(component, src):
    """The fleet roles whose boxes apply `component` (roles.yaml)."""
    return [role for role, comps in src["roles"].items() if component in comps]


def _urls(url, ws, conf, values):
    """
    A component.yaml ``urls`` entry made from the settings: one URL at the
    component's ``host``, or with ``hosts`` one per address of that setting
    (a list, maybe empty); None when its host or `when` is missing. Where a
    host is another box, ``tls`` (filled in) is added as the URL's query
    when the fleet's peer TLS is on.
    """
    many = "hosts" in url
    hosts = list(_lookup(url["hosts"], ws, conf) or []) if many else [conf["host"]]
    if not all(hosts) or not _holds(url.get("when"), ws, values):
        return None
    made = []
    for host in hosts:
        link = _url(url["format"], values, host)
        if url.get("tls") and ws["peer_tls"]["enabled"] and not _is_local(host):
            link += "?" + _fill(url["tls"], ws, conf)
        made.append(link)
    return made if many else made[0]


def _is_local(host):
    """Whether `host` is this box's loopback (or a unix socket directory)."""
    return str(host).startswith("/") or str(host) in ("localhost", "127.0.0.1", "::1")


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


def lowest_address(addresses):
    """
    The address a box with these counts with among its peers: the lowest
    (IPv4 first, numerically), as :func:`peers` takes it from the mine.

    CLI Example: ``salt-call webstack.lowest_address '[10.0.0.9, 10.0.0.10]'``
    """
    return min(map(str, addresses), key=_address_key)


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
            (str(minion), lowest_address(ips))
            for minion, ips in mined.items()
            if isinstance(ips, list) and ips
        ]
    pairs = sorted(set(pairs), key=lambda pair: (_address_key(pair[1]), pair[0]))
    if ids:
        return [list(pair) for pair in pairs]
    return list(dict.fromkeys(addr for _, addr in pairs))
