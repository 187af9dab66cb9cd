"""
What the logging component forwards and how, worked out once from the settings for
the SLS files and templates of the logging component (``salt://logging``).

CLI Example: ``salt-call webstack_logging.forwarding``
"""

import posixpath

__virtualname__ = "webstack_logging"

# Beside the distribution's own rsyslog.d files: 10- so it comes before those
# that may `stop` messages (e.g. cloud-init's 21-cloudinit.conf).
CONFIG = "/etc/rsyslog.d/10-webstack-remote.conf"
# The CA given as PEM text in the pillar; *.pem, so rsyslog.d/*.conf skips it.
CA_PATH = "/etc/rsyslog.d/webstack-remote-ca.pem"
# rsyslogd's profile already lets it read these (Ubuntu 24.04's AppArmor).
PROFILE_READS = ("/etc/rsyslog.d/", "/var/log/")


def __virtual__():
    return __virtualname__


def forwarding(ws=None):
    """
    The forwarding of this box, from the webstack settings (default: this
    minion's ``webstack.settings``):

    - ``enabled``: a remote host is set (else only ``config`` and ``ca_path``,
      the files to remove, are given);
    - ``host``, ``port``, ``peers`` (names the certificate must carry: the
      pillar's ``permitted_peers``, else the host), ``ca`` (PEM text or
      None), ``ca_file`` (the CA file rsyslog trusts), ``max_disk_space``;
    - ``inputs``: the log files followed ({path, tag, severity}): those of
      the box's other components (``follows`` in logging's component.yaml:
      nginx's), then the pillar's, each path once;
    - ``reads``: files and directories rsyslogd must be allowed to read (for
      AppArmor), those its profile doesn't already allow.

    CLI Example: ``salt-call webstack_logging.forwarding``
    """
    ws = __salt__["webstack.settings"]() if ws is None else ws
    conf = ws["logging"]
    remote = conf["remote"]
    out = {"enabled": bool(remote.get("host")), "config": CONFIG, "ca_path": CA_PATH}
    if not out["enabled"]:
        return out

    # Logs of the other components of the box first (this component's
    # `follows`: their key in this section), then the pillar's.
    follows = ws["facts"]["logging"]["follows"]
    files = [f for c, key in follows.items() if c in ws.get("components", []) for f in conf[key]]
    files += list(conf["files"])
    inputs, seen = [], set()
    for entry in files:
        if entry["path"] not in seen:
            seen.add(entry["path"])
            inputs.append({"path": entry["path"], "tag": entry["tag"], "severity": entry.get("severity")})

    ca_file = CA_PATH if remote.get("ca") else remote["ca_file"]
    reads = [ca_file]
    for entry in inputs:
        # imfile watches the directory (inotify) as well as the file.
        reads += [posixpath.dirname(entry["path"]) + "/", entry["path"]]
    reads = [p for p in dict.fromkeys(reads) if not p.startswith(PROFILE_READS)]

    out.update(
        host=remote["host"],
        port=remote["port"],
        peers=list(remote.get("permitted_peers") or [remote["host"]]),
        ca=remote.get("ca"),
        ca_file=ca_file,
        max_disk_space=conf["queue"]["max_disk_space"],
        inputs=inputs,
        reads=reads,
    )
    return out
