"""
The operators' audit trail: one syslog line for every deploy, rollback and
maintenance switch (what, from what to what, by which ref, the Salt job id),
under the tag ``webstack-audit``. journald keeps it on the box
(``journalctl -t webstack-audit``) and rsyslog forwards it with the rest of
the box's log (Papertrail, when the logging component is on).

CLI Example: ``salt-call audit.trail``
"""

import os
import subprocess
import syslog

import salt.payload
from salt.exceptions import CommandExecutionError, SaltDeserializationError

__virtualname__ = "audit"

TAG = "webstack-audit"


def __virtual__():
    return __virtualname__


def record(action, text, jid=None, **kwargs):
    """
    Write one line to the audit trail: ``<action>: <text> (job <jid>)``. The
    job id is the Salt job's that made the change; called from the command
    line, this call's own. Returns the line.

    CLI Example: ``salt-call audit.record note "restored the media by hand after ticket 4711"``
    """
    jid = jid or job_id(**kwargs)
    line = f"{action}: {text}" + (f" (job {jid})" if jid else "")
    syslog.openlog(TAG, syslog.LOG_PID, syslog.LOG_USER)
    try:
        syslog.syslog(syslog.LOG_NOTICE, line)
    finally:
        syslog.closelog()
    return line


def job_id(**kwargs):
    """
    The id of the Salt job this call runs in: a command's own (Salt hands it
    to functions as ``__pub_jid``), else that of the running job whose
    process this is (a state's functions are not handed it; a parallel state
    runs in a child of the job's process), from the file the minion keeps for
    each running job (``saltutil.running`` leaves out this process's own).

    CLI Example: ``salt-call audit.job_id``
    """
    if kwargs.get("__pub_jid"):
        return kwargs["__pub_jid"]
    proc = os.path.join(__opts__["cachedir"], "proc")
    ours = {os.getpid(), os.getppid()}
    for name in sorted(os.listdir(proc)) if os.path.isdir(proc) else ():
        try:
            with open(os.path.join(proc, name), "rb") as fh:
                job = salt.payload.loads(fh.read())
        except (OSError, SaltDeserializationError):
            continue
        if isinstance(job, dict) and job.get("pid") in ours:
            return job.get("jid")
    return None


def trail(lines=20):
    """
    The newest `lines` lines of the audit trail on this box, oldest first.

    CLI Example: ``salt-call audit.trail lines=50``
    """
    res = subprocess.run(
        ["journalctl", "--no-pager", "-q", "-o", "short-iso", "-t", TAG, "-n", str(int(lines))],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise CommandExecutionError(f"journalctl -t {TAG}: {res.stderr.strip()}")
    return res.stdout.splitlines()
