"""
supervisorctl, wrapped with parsed answers: the status of each program (state
and pid), what ``reread`` found, and actions on one program at a time. Salt's
own ``supervisord`` module returns supervisorctl's text as is; the
``supervisord`` states (``_states/supervisord.py``) need structure.

Also :func:`process`: what a running process was started with (its
interpreter's virtualenv, its environment), read from /proc.

CLI Example: ``salt-call supervisorctl.status``
"""

import os
import re
import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "supervisorctl"

# `name   STATE   description`; names may be `group:program`.
STATUS_LINE = re.compile(r"^(?P<name>[^\s:]+(?::[^\s]+)?)\s+(?P<state>[A-Z]+)\b\s*(?P<description>.*)$")
PID = re.compile(r"\bpid (?P<pid>\d+)")
# What supervisorctl prints when supervisord is not (yet) answering.
UNREACHABLE = re.compile(r"no such file|refused connection|SHUTDOWN_STATE|Connection refused", re.I)
RUNNING = ("RUNNING",)
UP = ("RUNNING", "STARTING")
STOPPED = ("STOPPED", "EXITED", "FATAL", "BACKOFF", "UNKNOWN")
PROC = "/proc"


def __virtual__():
    # No check for the binary: the supervisor role installs it in the same run.
    return __virtualname__


def _ctl(*args, wait=10):
    """supervisorctl ARGS -> its output; waits up to `wait` s for supervisord to answer."""
    deadline = time.monotonic() + wait
    while True:
        res = __salt__["cmd.run_all"](
            ["supervisorctl", *args], python_shell=False, ignore_retcode=True, output_loglevel="debug"
        )
        out = (res.get("stdout", "") + "\n" + res.get("stderr", "")).strip()
        if res.get("retcode") == 127:
            raise CommandExecutionError("supervisorctl is not installed")
        if UNREACHABLE.search(out) and time.monotonic() < deadline:
            time.sleep(0.5)
            continue
        if UNREACHABLE.search(out):
            raise CommandExecutionError(f"supervisord does not answer: {out}")
        return res.get("retcode", 0), out


def parse_status(text):
    """`supervisorctl status` output -> {name: {state, pid, description}}."""
    out = {}
    for line in text.splitlines():
        m = STATUS_LINE.match(line.strip())
        if not m:
            continue
        pid = PID.search(m["description"]) if m["state"] in UP else None
        out[m["name"]] = {
            "state": m["state"],
            "pid": int(pid["pid"]) if pid else None,
            "description": m["description"].strip(),
        }
    return out


def parse_reread(text):
    """`supervisorctl reread` output -> {added, changed, removed}: program names."""
    out = {"added": [], "changed": [], "removed": []}
    kinds = {"available": "added", "changed": "changed", "disappeared": "removed"}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("ERROR"):
            raise CommandExecutionError(f"supervisorctl reread: {line}")
        name, sep, what = line.rpartition(": ")
        if sep and what in kinds:
            out[kinds[what]].append(name)
    return out


def status(name=None):
    """
    Every program supervisord knows (or just `name`):
    ``{name: {"state": "RUNNING", "pid": 123, "description": "pid 123, uptime 0:01:02"}}``.

    CLI Example: ``salt-call supervisorctl.status shop-gunicorn``
    """
    _, out = _ctl("status")
    found = parse_status(out)
    if name is not None:
        return {name: found[name]} if name in found else {}
    return found


def reread():
    """
    Re-read the config files (no process is touched) and say which programs
    were added, changed or removed since supervisord loaded them.

    CLI Example: ``salt-call supervisorctl.reread``
    """
    _, out = _ctl("reread")
    return parse_reread(out)


def _act(args, ok):
    _, out = _ctl(*args)
    if "ERROR" in out or not re.search(ok, out):
        raise CommandExecutionError(f"supervisorctl {' '.join(args)}: {out}")
    return out


def update(name, *more):
    """
    Apply config changes of program `name` (and of the programs in `more`)
    only: add it, restart it with its new config, or stop and remove it.
    Programs added together start together.

    CLI Example: ``salt-call supervisorctl.update shop-gunicorn``
    """
    return _act(["update", name, *more], r"(added|updated|removed) process group|^$")


def start(name):
    """Start `name` (supervisorctl waits `startsecs` for it to stay up)."""
    return _act(["start", name], r"started|already started")


def stop(name):
    """Stop `name` with its stopsignal, waiting up to its stopwaitsecs."""
    return _act(["stop", name], r"stopped|not running")


def restart(name):
    """Stop, then start `name`."""
    return _act(["restart", name], r"started")


def signal(name, sig):
    """Send signal `sig` (HUP, USR1, ...) to the process of `name`."""
    return _act(["signal", sig, name], r"signalled")


def wait_up(name, timeout=30):
    """
    Wait until `name` is RUNNING (True) or has given up (False: FATAL,
    BACKOFF past `timeout`, STOPPED). Returns (up, status entry).
    """
    deadline = time.monotonic() + timeout
    entry = {}
    while True:
        entry = status(name).get(name, {})
        state = entry.get("state")
        if state == "RUNNING":
            return True, entry
        if state in ("FATAL", "STOPPED", "EXITED") or time.monotonic() > deadline:
            return False, entry
        time.sleep(0.2)


def process(pid):
    """
    What process `pid` was started with: ``{"argv": [...], "environ": {...},
    "virtualenv": dir or None}``; virtualenv is the one whose interpreter
    runs it (a script's shebang interpreter is argv[0]).

    CLI Example: ``salt-call supervisorctl.process 1234``
    """
    base = os.path.join(PROC, str(int(pid)))
    try:
        with open(os.path.join(base, "cmdline"), "rb") as fh:
            argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
        with open(os.path.join(base, "environ"), "rb") as fh:
            pairs = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError as exc:
        raise CommandExecutionError(f"no process {pid}: {exc.strerror}") from exc
    environ = dict(p.partition("=")[::2] for p in pairs)
    venv = None
    if argv:
        candidate = os.path.dirname(os.path.dirname(argv[0]))
        if candidate and os.path.isfile(os.path.join(candidate, "pyvenv.cfg")):
            venv = os.path.realpath(candidate)
    return {"argv": argv, "environ": environ, "virtualenv": venv}
