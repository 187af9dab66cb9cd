"""
Maintenance mode of the site: while a flag file exists, nginx answers every
request with 503, a ``Retry-After`` header and the maintenance page, except
for the allow-list (``webstack:nginx:maintenance:allow``), the health check
and the pages themselves. nginx tests the file on each request, so switching
is no reload at all: no connection is dropped.

Two switches set the same flag, which says who set it: the pillar
(``webstack:nginx:maintenance:enabled``, through the nginx states) and an
operator's command (:func:`on`, :func:`off`, :func:`status`). The states never
end a command's maintenance: only ``maintenance.off`` does.

What the nginx states and these functions read (the flag's path, the pages,
what stays served) is worked out once, here (:func:`layout`).
"""

import datetime
import json
import os
import re
import tempfile

from salt.exceptions import CommandExecutionError

__virtualname__ = "maintenance"

# Where the error_page of nginx's site sends its pages, inside the site.
PAGES_URI = "/.webstack/"
# The pages nginx answers with itself: maintenance (the 503 of maintenance
# mode) and error (502, 503, 504 otherwise); the release's own
# (<project root>/current/webstack/<page>.html) when it ships one, else ours.
PAGES = ("maintenance", "error")
# A path nginx's config takes as it is (no quoting, no variable).
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._~/-]*")


def __virtual__():
    return __virtualname__


def layout(ws=None):
    """
    The settings ``webstack:nginx:maintenance`` with what follows from them,
    as the nginx states and this module read them: ``flag`` (the file that
    turns it on), ``pages`` (for each page its ``uri`` inside the site, under
    ``pages_uri``, its ``file`` under nginx's directory, and the files nginx
    tries, the release's first) and ``exempt`` (the paths served all the
    same: the health checks and the pages). ``ws``: the settings
    (``webstack.settings``, this box's when not given). A health path nginx
    can't take as it is stops the run.

    CLI Example: ``salt-call maintenance.layout``
    """
    ws = ws or __salt__["webstack.settings"]()
    root, base = ws["project"]["root"], ws["nginx"]["tls"]["base"]
    conf = dict(ws["nginx"]["maintenance"], flag=f"{root}/maintenance", pages_uri=PAGES_URI, pages={})
    for name in PAGES:
        own = f"webstack/{name}.html"
        conf["pages"][name] = {
            "uri": f"{PAGES_URI}{name}.html",
            "file": own,
            "try": [f"{root}/current/{own}", f"{base}/{own}"],
        }
    # The app's health path, and the balancer's when it asks another.
    health = {
        "app:health_check": ws["app"]["health_check"],
        "balancer:health_check:path": ws["balancer"]["health_check"]["path"],
    }
    conf["exempt"] = []
    for key, path in health.items():
        if path and not _PLAIN_PATH.fullmatch(path):
            raise CommandExecutionError(
                f"webstack:{key}: {path!r}: nginx serves it in maintenance mode and takes only"
                " letters, digits and / . _ ~ - in it"
            )
        if path and path not in conf["exempt"]:
            conf["exempt"].append(path)
    conf["exempt"] += [page["uri"] for page in conf["pages"].values()]
    return conf


def _read(flag):
    """What the flag says (empty when it is not there); a flag someone wrote by hand counts as a command's."""
    try:
        with open(flag, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    try:
        said = json.loads(text)
    except ValueError:
        said = None
    return said if isinstance(said, dict) else {"by": "command"}


def _answer(conf, said, **extra):
    out = {"maintenance": bool(said), "flag": conf["flag"], **said, **extra}
    if conf["enabled"] and not said:
        out["warning"] = "webstack:nginx:maintenance:enabled is true: the next highstate turns it on again"
    return out


def status():
    """
    Whether the site is in maintenance, and if so who turned it on (``by``:
    ``command`` or ``pillar``), when (``since``) and in which Salt job (``jid``).

    CLI Example: ``salt-call maintenance.status``
    """
    conf = layout()
    return _answer(conf, _read(conf["flag"]))


def on(reason=None, by="command", **kwargs):
    """
    Put the site in maintenance now: every request gets 503 and the
    maintenance page, except from the allow-list and for the health check.
    No reload. It stays on until ``maintenance.off``, whatever the pillar says.
    ``reason`` is kept in the flag and the audit line. (``by``: who switches,
    written in the flag; the nginx states pass ``pillar``.)

    On a fleet, through the master: ``salt 'web*' maintenance.on``.

    CLI Example: ``salt-call maintenance.on reason="database upgrade"``
    """
    if by not in ("command", "pillar"):
        raise CommandExecutionError(f"maintenance.on: by={by!r}: command or pillar")
    conf = layout()
    before = _read(conf["flag"])
    if before.get("by") == by and (reason is None or before.get("reason") == reason):
        return _answer(conf, before)
    jid = __salt__["audit.job_id"](**kwargs)
    said = {"by": by, "since": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "jid": jid}
    if reason:
        said["reason"] = reason
    _write(conf["flag"], said)
    text = f"on (by {by}" + (f": {reason}" if reason else "") + ")"
    if before:
        text += f", was on by {before.get('by')}"
    __salt__["audit.record"]("maintenance", text, jid=jid)
    return _answer(conf, said)


def off(by="command", **kwargs):
    """
    End maintenance, whoever turned it on: the site is served again at once,
    no reload. While ``webstack:nginx:maintenance:enabled`` is true the next
    highstate turns it on again (the answer warns). (``by``: who switches, for
    the audit line; the nginx states pass ``pillar``.)

    CLI Example: ``salt-call maintenance.off``
    """
    conf = layout()
    before = _read(conf["flag"])
    if not before:
        return _answer(conf, before)
    os.remove(conf["flag"])
    jid = __salt__["audit.job_id"](**kwargs)
    __salt__["audit.record"]("maintenance", f"off (by {by}, was on by {before.get('by')})", jid=jid)
    return _answer(conf, {}, was=before)


def _write(path, said):
    """The flag, replaced atomically, readable by nginx."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".maintenance.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(said, sort_keys=True) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
