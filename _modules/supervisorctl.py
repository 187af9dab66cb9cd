"""
supervisord, with structured answers: the status of each program (state
and pid), what a re-read of the config files found, and actions on one
program at a time. Salt's own ``supervisord`` module returns supervisorctl's
text as is; the ``supervisord`` states (``_states/supervisord.py``) need
structure.

Questions go to supervisord's XML-RPC interface on its unix socket (a few
milliseconds; supervisorctl costs a Python start, about 0.1 s, and every
apply asks each program's state twice). Actions go through supervisorctl:
its ``update`` is the one place that knows how to stop, remove and re-add a
changed program.

Also :func:`process`: what a running process was started with (its
interpreter's virtualenv, its environment), read from /proc.

CLI Example: ``salt-call supervisorctl.status``
"""

import http.client
import os
import re
import socket
import time
import xmlrpc.client

from salt.exceptions import CommandExecutionError

__virtualname__ = "supervisorctl"

# Where supervisorctl finds supervisord (serverurl in Debian's and Ubuntu's
# /etc/supervisor/supervisord.conf).
SOCKET = "/var/run/supervisor.sock"
# What supervisorctl prints when supervisord is not (yet) answering.
UNREACHABLE = re.compile(r"no such file|refused connection|SHUTDOWN_STATE|Connection refused", re.I)
# supervisord's XML-RPC fault while it shuts down (for a restart): ask again.
SHUTDOWN_STATE = 6
UP = ("RUNNING", "STARTING")
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


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path, timeout):
        super().__init__()
        self.path, self.timeout = path, timeout

    def make_connection(self, host):
        return _UnixConnection(self.path, self.timeout)


def rpc(method, *args, wait=10):
    """
    supervisord's XML-RPC `method` (``supervisor.getAllProcessInfo``, ...)
    with `args`, over its unix socket; waits up to `wait` s for supervisord
    to answer.

    CLI Example: ``salt-call supervisorctl.rpc supervisor.getState``
    """
    deadline = time.monotonic() + wait
    while True:
        proxy = xmlrpc.client.ServerProxy("http://localhost/RPC2", transport=_UnixTransport(SOCKET, 30))
        try:
            return getattr(proxy, method)(*args)
        except xmlrpc.client.Fault as exc:
            if exc.faultCode == SHUTDOWN_STATE and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            raise CommandExecutionError(f"supervisord {method}: {exc.faultString}") from exc
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise CommandExecutionError(f"supervisord does not answer on {SOCKET}: {exc}") from exc
            time.sleep(0.5)


def answers():
    """
    Whether supervisord answers on its socket now, without waiting: not on a
    box the supervisor role has not set up yet.

    CLI Example: ``salt-call supervisorctl.answers``
    """
    try:
        __salt__["supervisorctl.rpc"]("supervisor.getState", wait=0)
    except CommandExecutionError:
        return False
    return True


def status(name=None):
    """
    Every program supervisord knows (or just `name`), named as supervisorctl
    names them (``group:program`` when the two differ):
    ``{name: {"state": "RUNNING", "pid": 123, "description": "pid 123, uptime 0:01:02"}}``.

    CLI Example: ``salt-call supervisorctl.status shop-gunicorn``
    """
    found = {}
    for info in __salt__["supervisorctl.rpc"]("supervisor.getAllProcessInfo"):
        key = info["name"] if info["group"] == info["name"] else f"{info['group']}:{info['name']}"
        up = info["statename"] in UP and info["pid"]
        found[key] = {
            "state": info["statename"],
            "pid": info["pid"] if up else None,
            "description": info["description"],
        }
    if name is not None:
        return {name: found[name]} if name in found else {}
    return found


def reread():
    """
    Re-read the config files (no process is touched) and say which programs
    were added, changed or removed since supervisord loaded them.

    CLI Example: ``salt-call supervisorctl.reread``
    """
    added, changed, removed = __salt__["supervisorctl.rpc"]("supervisor.reloadConfig")[0]
    return {"added": added, "changed": changed, "removed": removed}


def _act(args, ok, benign=None):
    _, out = _ctl(*args)
    errors = re.sub(benign, "", out) if benign else out
    if "ERROR" in errors or not re.search(ok, out):
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
    """
    Start `name` (supervisorctl waits `startsecs` for it to stay up). A
    program in BACKOFF is being retried by supervisord itself, and ``start``
    answers "ERROR (already started)": no error here, wait_up tells how the
    retry ends.

    CLI Example: ``salt-call supervisorctl.start shop-gunicorn``
    """
    return _act(["start", name], r"started", benign=r"ERROR \(already started\)")


def stop(name):
    """
    Stop `name` with its stopsignal, waiting up to its stopwaitsecs.

    CLI Example: ``salt-call supervisorctl.stop shop-celery``
    """
    return _act(["stop", name], r"stopped|not running")


def restart(name):
    """
    Stop, then start `name`.

    CLI Example: ``salt-call supervisorctl.restart shop-gunicorn``
    """
    return _act(["restart", name], r"started")


def signal(name, sig):
    """
    Send signal `sig` (HUP, USR1, ...) to the process of `name`.

    CLI Example: ``salt-call supervisorctl.signal shop-gunicorn HUP``
    """
    return _act(["signal", sig, name], r"signalled")


def wait_up(name, timeout=30):
    """
    Wait until `name` is RUNNING (True) or has given up (False: FATAL,
    BACKOFF past `timeout`, STOPPED). Returns (up, status entry).

    CLI Example: ``salt-call supervisorctl.wait_up shop-gunicorn timeout=60``
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
