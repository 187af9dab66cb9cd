"""
Packages: dpkg's unfinished work finished first, then packages installed in
one apt run with the daemons they bring held back.

``dpkg_finished``: a run cut off while apt was at work (a lost session, a
reboot, kill -9) leaves dpkg with packages unpacked but not set up, or half
installed: apt then refuses to install anything, or worse, a package counts as
installed whose set-up (its users, its cluster) never ran. Before any state
installs a package, ``dpkg --configure -a`` and ``apt-get install
--fix-broken`` finish that. Checked by reading dpkg's journal and status file:
nothing runs when there is nothing to finish.

.. code-block:: yaml

    base-interrupted-package-installs-are-finished:
      webstack_pkg.dpkg_finished: []

``installed``: packages installed in one apt run, the daemons they bring
held back: not started by their packages, so each component starts its daemon
once, with its own configuration, instead of the package starting it with its
defaults and the role restarting it.

.. code-block:: yaml

    base-component-packages-are-installed:
      webstack_pkg.installed:
        - pkgs: [nginx, postgresql-15]
        - hold:
            nginx: [nginx]
            postgresql-15: [postgresql, postgresql@15-main]

Holding back is Debian's own mechanism: while apt runs, ``/usr/sbin/policy-rc.d``
answers 101 ("not now") to invoke-rc.d and deb-systemd-invoke for those
daemons, and only for the packages this run installs (a daemon already
installed is started and restarted as its packages say). The file is there
only while the install runs: removed right after, also when it fails. A run
killed meanwhile (kill -9, a reboot) cannot remove it: the file then lets
everything start (it checks that the Salt process that wrote it still runs),
and the next run removes it. A policy-rc.d that is not ours (an image's, an
admin's) is left alone and decides: nothing is held back.

Everything else is ``pkg.installed``'s: its arguments, ``test=True``, result
and changes.
"""

import os
import re

__virtualname__ = "webstack_pkg"

DPKG = "/var/lib/dpkg"
# What is neither unfinished nor broken (dpkg-query's db:Status-Status).
SETTLED = ("installed", "config-files", "not-installed")
FINISH = (
    "dpkg --force-confold --force-confdef --configure -a && "
    "apt-get -q -y -o DPkg::Lock::Timeout=300 -o DPkg::Options::=--force-confold "
    "-o DPkg::Options::=--force-confdef install --fix-broken"
)

POLICY = "/usr/sbin/policy-rc.d"
# The first lines of our policy-rc.d: who wrote it.
OWNER = re.compile(r"^# webstack_pkg: process (\d+) started at (\d+)$", re.M)
SCRIPT = """#!/bin/sh
# webstack_pkg: process {pid} started at {start}
# Written by Salt for one apt run and removed when it ends: these daemons are
# not started by their packages (101), their states start them once, with
# their own configuration. When that process is gone (killed in the middle of
# the run), everything may start, and the next run removes this file.
for arg do
    case $arg in --*) ;; *) daemon=${{arg%.service}}; daemon=${{daemon%.socket}}; break ;; esac
done
case $daemon in
    {names}) ;;
    *) exit 0 ;;
esac
stat=$(cat /proc/{pid}/stat 2>/dev/null) || exit 0
set -- ${{stat##*) }}
[ "${{20}}" = {start} ] && exit 101
exit 0
"""


def __virtual__():
    if __grains__.get("os_family") != "Debian":
        return (False, "webstack_pkg: policy-rc.d is Debian's (and Ubuntu's)")
    return __virtualname__


def _unfinished():
    """dpkg's journal entries (a cut-off run), and "package status" of those not settled."""
    try:
        journal = sorted(os.listdir(f"{DPKG}/updates"))
    except FileNotFoundError:
        journal = []
    pending, package = [], None
    with open(f"{DPKG}/status", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("Package: "):
                package = line.split()[1]
            elif line.startswith("Status: "):
                # want, error flag (ok, reinstreq) and status
                _, flag, status = line.split()[1:4]
                if flag != "ok" or status not in SETTLED:
                    pending.append(f"{package} {status}" + ("" if flag == "ok" else f" ({flag})"))
    return journal, pending


def dpkg_finished(name):
    """
    dpkg has no unfinished work: what a cut-off run left (journal entries,
    packages unpacked, half-configured, half-installed, awaiting triggers, or
    needing a reinstall) is finished with ``dpkg --configure -a`` and
    ``apt-get install --fix-broken``.

    name
        What the state is about (free text).
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    journal, pending = _unfinished()
    if not journal and not pending:
        ret["comment"] = "dpkg has no unfinished work"
        return ret
    found = ([f"{len(journal)} journal entries"] if journal else []) + pending
    if __opts__["test"]:
        ret.update(
            result=None,
            changes={"finished": found},
            comment="dpkg's unfinished work would be finished: " + ", ".join(found[:10]),
        )
        return ret
    res = __salt__["cmd.run_all"](
        FINISH, python_shell=True, env={"DEBIAN_FRONTEND": "noninteractive"}, ignore_retcode=True
    )
    journal, left = _unfinished()
    if res["retcode"] != 0 or journal or left:
        why = (res.get("stderr") or res.get("stdout") or "").strip()[-800:]
        ret.update(result=False, comment=f"dpkg's unfinished work could not be finished: {why}")
        return ret
    ret.update(changes={"finished": found}, comment="dpkg's unfinished work was finished")
    return ret


def _started(pid):
    """When process `pid` started (clock ticks since boot, as text), or None when it is gone."""
    try:
        with open(f"/proc/{int(pid)}/stat") as fh:
            # Fields after the command name (which may hold spaces): starttime is the 20th.
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError, ValueError):
        return None


def _policy():
    """What POLICY is: None (absent), "foreign" (not ours), "live" (its run goes on) or "stale"."""
    try:
        with open(POLICY) as fh:
            text = fh.read(4096)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return "foreign"
    owner = OWNER.search(text)
    if not owner:
        return "foreign"
    return "live" if _started(owner[1]) == owner[2] else "stale"


def _hold(daemons):
    pid = os.getpid()
    text = SCRIPT.format(pid=pid, start=_started(pid), names="|".join(daemons))
    tmp = f"{POLICY}.webstack-{pid}"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, POLICY)


def _release():
    """Remove POLICY if it is ours (from this process)."""
    try:
        with open(POLICY) as fh:
            owner = OWNER.search(fh.read(4096))
    except OSError:
        return
    if owner and int(owner[1]) == os.getpid():
        os.remove(POLICY)


def installed(name, pkgs=None, hold=None, **kwargs):
    """
    ``pkg.installed`` of `pkgs` in one apt run, holding back the daemons in
    `hold` of the packages it installs.

    name
        What the packages are for (``pkg.installed`` ignores it when `pkgs` is given).
    pkgs
        The packages.
    hold
        ``{package: [daemon, ...]}``: when this run installs `package`, its
        packages do not start these daemons (init script or unit names,
        ``.service`` optional). Their states must start them.

    Any other argument goes to ``pkg.installed`` (``refresh``, ``install_recommends``, ...).
    """
    test = __opts__["test"]
    found = _policy()
    if found == "stale" and not test:
        os.remove(POLICY)

    held = []
    if hold and pkgs:
        have = __salt__["pkg.list_pkgs"]()
        for package, daemons in hold.items():
            if package in pkgs and package not in have:
                held += [d for d in daemons if d not in held]
    notes = []
    if held and found == "foreign":
        notes.append(f"{POLICY} is not ours: it decides which daemons their packages start.")
        held = []

    if held and not test:
        _hold(held)
        try:
            ret = __states__["pkg.installed"](name, pkgs=pkgs, **kwargs)
        finally:
            _release()
    else:
        ret = __states__["pkg.installed"](name, pkgs=pkgs, **kwargs)

    if held and ret["result"] is not False:
        verb = "Would hold" if test else "Held"
        notes.append(
            f"{verb} back from starting with their packages (their states start them): "
            + ", ".join(held)
            + "."
        )
    if found == "stale":
        if test:
            ret["result"] = None if ret["result"] is True else ret["result"]
        ret["changes"][POLICY] = {"old": "left by an interrupted run", "new": "removed"}
        notes.append(f"{POLICY} left by an interrupted run {'would be' if test else 'was'} removed.")
    ret["comment"] = " ".join([ret.get("comment") or "", *notes]).strip()
    return ret
