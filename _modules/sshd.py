"""
The OpenSSH server's configuration, worked out once from ``webstack:ssh``:
the lines of our sshd_config.d file, what ``sshd -T`` must then show, the
Diffie-Hellman groups sshd may use and the nftables rules that throttle new
connections. The ssh component's ``derive`` (salt://ssh/component.yaml);
its SLS files only read what this returns.
"""

__virtualname__ = "sshd"

MODULI = "/etc/ssh/moduli"
# A filtered copy beside the package's own file (a dpkg conffile: editing it
# would make openssh-server's upgrades stop at a prompt, which
# unattended-upgrades skips), read through ModuliFile.
SAFE_MODULI = "/etc/ssh/moduli.webstack"
THROTTLE_RULES = "/etc/webstack/ssh-throttle.nft"
THROTTLE_UNIT = "webstack-ssh-throttle"
# Keywords sshd accepts several times, one value per line.
REPEATED = {"HostKey"}


def __virtual__():
    return __virtualname__


def _yes_no(flag):
    return "yes" if flag else "no"


def _settings(section, developers_group):
    """sshd_config keyword -> value (a list for several values), in file order."""
    limits, forwarding = section["limits"], section["forwarding"]
    return {
        "Port": section["port"],
        "PermitRootLogin": "no",
        "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no",
        "PermitEmptyPasswords": "no",
        "PubkeyAuthentication": "yes",
        "AuthenticationMethods": "publickey",
        "AuthorizedKeysFile": ".ssh/authorized_keys",
        "AllowGroups": list(dict.fromkeys([developers_group, *section["allow_groups"]])),
        "HostKey": [f"/etc/ssh/ssh_host_{kind}_key" for kind in section["host_keys"]],
        "HostKeyAlgorithms": ",".join(section["host_key_algorithms"]),
        "KexAlgorithms": ",".join(section["kex"]),
        "Ciphers": ",".join(section["ciphers"]),
        "MACs": ",".join(section["macs"]),
        "ModuliFile": SAFE_MODULI,
        "MaxAuthTries": limits["max_auth_tries"],
        "LoginGraceTime": limits["login_grace_time"],
        "MaxStartups": limits["max_startups"],
        "PerSourceMaxStartups": limits["per_source_max_startups"],
        "ClientAliveInterval": limits["client_alive_interval"],
        "ClientAliveCountMax": limits["client_alive_count_max"],
        "AllowTcpForwarding": _yes_no(forwarding),
        "AllowAgentForwarding": _yes_no(forwarding),
        "AllowStreamLocalForwarding": _yes_no(forwarding),
        "PermitTunnel": _yes_no(forwarding),
        "GatewayPorts": "no",
        "X11Forwarding": "no",
    }


def _lines(settings):
    """The file's lines: one per keyword, one per value of a REPEATED one."""
    lines = []
    for keyword, value in settings.items():
        if keyword in REPEATED:
            lines += [f"{keyword} {v}" for v in value]
        else:
            lines.append(f"{keyword} {' '.join(map(str, value)) if isinstance(value, list) else value}")
    return lines


def derive(section=None, ws=None):
    """
    What the ssh component's files and checks read, from a ``webstack:ssh``
    section and the other settings (the developers' group):

    - ``lines``: our sshd_config.d file;
    - ``sshd``: keyword -> value that ``sshd -T`` must show (HostKey lines
      read back as one value, space-separated);
    - ``moduli``: the Diffie-Hellman groups file sshd reads, and the
      smallest group size (``dh_min_bits``) kept in it (moduli counts size-1);
    - ``rsa_key``: the RSA host key's file and size (None without one);
    - ``throttle``: the throttle's pillar plus its rules file and unit.

    CLI Example: ``salt-call sshd.derive`` (this box's section)
    """
    if ws is None:
        ws = __salt__["webstack.settings"]()
    section = ws["ssh"] if section is None else section
    settings = _settings(section, ws["users"]["group"])
    sshd = {k: " ".join(v) if k in REPEATED else v for k, v in settings.items()}
    return {
        "lines": _lines(settings),
        "sshd": sshd,
        "moduli": {"source": MODULI, "file": SAFE_MODULI, "min_size": section["dh_min_bits"] - 1},
        "rsa_key": (
            {"file": "/etc/ssh/ssh_host_rsa_key", "bits": section["rsa_bits"]}
            if "rsa" in section["host_keys"]
            else None
        ),
        "throttle": dict(section["throttle"], rules=THROTTLE_RULES, unit=THROTTLE_UNIT),
    }
