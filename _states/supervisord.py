"""
Programs of supervisord (Salt 3008 dropped its supervisord state from core).

.. code-block:: yaml

    supervisor-runs-gunicorn:
      supervisord.running:
        - name: shop-gunicorn
        - reload_signal: HUP
        - virtualenv: /srv/shop/current/.venv
        - env_file: /srv/shop/env
        - watch:
          - file: supervisor-gunicorn-program-is-configured
          - release: app-release-is-live

    supervisor-has-no-celerybeat:
      supervisord.absent:
        - name: shop-celerybeat

``running`` converges on what is there, not on what changed in this run:

- its config file changed on disk (supervisord's own ``reread`` says so):
  ``update`` of this program only, which restarts it with the new config;
- its config file is new: ``update`` adds it, together with the programs
  named in ``together`` that are new too (one ``update``: they start at once,
  and their own states, later in the run, wait for them and say they were
  added);
- not running: started (a program supervisord is still starting, or retries
  after a failed start, is waited for);
- running another virtualenv than the live one, or with an environment that
  differs from the env file: restarted (a graceful reload keeps the master's
  interpreter and environment, so it can't pick those up);
- else nothing, so a second apply restarts nothing.

A ``watch`` that fires (a new release) sends ``reload_signal`` when given
(gunicorn: HUP, new workers before the old ones go), else restarts (celery:
a warm shutdown, then a start).

With ``test=True`` on a box where supervisord does not answer yet (a fresh
one: the supervisor role starts it earlier in the real run), ``running``
predicts the program added and started, and ``absent`` finds nothing to
remove. Otherwise the states still ask supervisord to re-read its config
files (``reloadConfig``, what ``supervisorctl reread`` does): it only refreshes
supervisord's view of its config files, no process is touched, and it is the
one way to know whether supervisord would see a change.
"""

import os

from salt.exceptions import CommandExecutionError

__virtualname__ = "supervisord"


def __virtual__():
    if "supervisorctl.status" not in __salt__:
        return (
            False,
            "supervisord state: the supervisorctl module (_modules/supervisorctl.py) is not loaded",
        )
    return __virtualname__


def _ret(name):
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def _stale(entry, virtualenv, env_file):
    """Why the running process must be restarted, or None."""
    if not entry.get("pid") or not (virtualenv or env_file):
        return None
    proc = __salt__["supervisorctl.process"](entry["pid"])
    reasons = []
    if virtualenv and proc["virtualenv"]:
        live = os.path.realpath(virtualenv)
        if proc["virtualenv"] != live:
            reasons.append(f"runs virtualenv {proc['virtualenv']}, the live one is {live}")
    if env_file:
        wanted = __salt__["envfile.read"](env_file)
        differ = sorted(k for k, v in wanted.items() if proc["environ"].get(k) != v)
        if differ:
            reasons.append("its environment differs from " + env_file + " in " + ", ".join(differ))
    return "; ".join(reasons) or None


def running(name, reload_signal=None, virtualenv=None, env_file=None, timeout=60, together=(), **_kwargs):
    """
    Program `name` runs with its current config, the live virtualenv and the
    env file's environment.

    name
        The program (its config is a file in supervisord's include dir).
    reload_signal
        Signal a ``watch`` sends instead of restarting (HUP for gunicorn).
    virtualenv
        The virtualenv the program must run (symlinks resolved).
    env_file
        The env file whose variables the process must have.
    timeout
        Seconds to wait for the program to come up.
    together
        The other programs this run's ``supervisord.running`` states bring
        (config files written before the first of them runs): those new too
        are added with `name` in one ``update`` and start at once.
    """
    ret = _ret(name)
    test = __opts__["test"]
    if test and not __salt__["supervisorctl.answers"]():
        # A fresh box: the supervisor role's service state starts supervisord
        # earlier in the real run, which then adds this program.
        ret.update(
            result=None,
            changes={"config": "added"},
            comment=f"{name} would be added and started once supervisord runs (it does not answer yet)",
        )
        return ret
    # Programs added in this run with another one's state (`together`).
    added = __context__.setdefault("supervisord.added", [])
    try:
        diff = __salt__["supervisorctl.reread"]()
        pending = "added" if name in diff["added"] else "changed" if name in diff["changed"] else None
        if pending is None and name in added and not test:
            pending = "added"
        elif pending:
            if test:
                ret.update(result=None, changes={"config": pending}, comment=f"{name} would be {pending}")
                return ret
            batch = [name]
            if pending == "added":
                batch += [p for p in together if p != name and p in diff["added"]]
            __salt__["supervisorctl.update"](*batch)
            added += batch[1:]
        if pending:
            ret["changes"]["config"] = pending
            up, entry = __salt__["supervisorctl.wait_up"](name, timeout)
            if not up:
                ret.update(result=False, comment=f"{name} did not start: {_describe(entry)}")
                return ret
            ret["comment"] = f"{name} {pending} and running (pid {entry.get('pid')})"
            return ret

        entry = __salt__["supervisorctl.status"](name).get(name)
        if entry is None:
            ret.update(result=False, comment=f"supervisord has no program {name}: is its config in place?")
            return ret
        if entry["state"] == "STARTING" and not test:
            # A start in progress may yet fail (supervisord loaded the config
            # before the release was live): judge the process it settles on.
            entry = __salt__["supervisorctl.wait_up"](name, timeout)[1] or {"state": "UNKNOWN"}
        if entry["state"] not in ("RUNNING", "STARTING"):
            if test:
                ret.update(
                    result=None,
                    changes={"state": {"old": entry["state"], "new": "RUNNING"}},
                    comment=f"{name} would be started",
                )
                return ret
            __salt__["supervisorctl.start"](name)
            up, new = __salt__["supervisorctl.wait_up"](name, timeout)
            if not up:
                ret.update(result=False, comment=f"{name} did not start: {_describe(new)}")
                return ret
            ret["changes"]["state"] = {"old": entry["state"], "new": "RUNNING"}
            ret["comment"] = f"{name} started (pid {new.get('pid')})"
            return ret

        why = _stale(entry, virtualenv, env_file)
        if why:
            if test:
                ret.update(
                    result=None, changes={"restarted": why}, comment=f"{name} would be restarted: {why}"
                )
                return ret
            __salt__["supervisorctl.restart"](name)
            up, new = __salt__["supervisorctl.wait_up"](name, timeout)
            if not up:
                ret.update(
                    result=False, comment=f"{name} did not come back after a restart: {_describe(new)}"
                )
                return ret
            ret.update(changes={"restarted": why}, comment=f"{name} restarted (pid {new.get('pid')}): {why}")
            return ret
    except CommandExecutionError as exc:
        ret.update(result=False, comment=str(exc))
        return ret
    ret["comment"] = f"{name} is running (pid {entry['pid']})"
    return ret


def _describe(entry):
    if not entry:
        return "unknown to supervisord"
    return f"{entry.get('state')} {entry.get('description', '')}".strip()


def mod_watch(name, sfun=None, reload_signal=None, timeout=60, **kwargs):
    """
    A watched state changed: send `reload_signal` (a graceful reload), or
    restart when there is none. A program that is not running is started.
    """
    ret = _ret(name)
    if sfun != "running":
        ret.update(result=False, comment=f"supervisord.{sfun} does not support watch")
        return ret
    try:
        entry = __salt__["supervisorctl.status"](name).get(name)
        if entry is None:
            ret.update(result=False, comment=f"supervisord has no program {name}")
            return ret
        up = entry["state"] in ("RUNNING", "STARTING")
        action = f"signalled {reload_signal}" if up and reload_signal else "restarted" if up else "started"
        if __opts__["test"]:
            ret.update(result=None, changes={"watch": action}, comment=f"{name} would be {action}")
            return ret
        if up and reload_signal:
            __salt__["supervisorctl.signal"](name, reload_signal)
            ret.update(changes={"watch": action}, comment=f"{name} {action} (pid {entry['pid']})")
            return ret
        __salt__["supervisorctl.restart" if up else "supervisorctl.start"](name)
        ok, new = __salt__["supervisorctl.wait_up"](name, timeout)
        if not ok:
            ret.update(result=False, comment=f"{name} did not come back: {_describe(new)}")
            return ret
        ret.update(changes={"watch": action}, comment=f"{name} {action} (pid {new.get('pid')})")
    except CommandExecutionError as exc:
        ret.update(result=False, comment=str(exc))
    return ret


def absent(name):
    """
    Program `name` is not in supervisord: stopped and removed once its config
    file is gone (remove the file first, with a requisite).
    """
    ret = _ret(name)
    if __opts__["test"] and not __salt__["supervisorctl.answers"]():
        ret["comment"] = f"{name} is not in supervisord (it does not answer yet: nothing to remove)"
        return ret
    try:
        diff = __salt__["supervisorctl.reread"]()
        known = name in __salt__["supervisorctl.status"]()
        if name in diff["removed"] or known:
            if __opts__["test"]:
                ret.update(
                    result=None, changes={"removed": name}, comment=f"{name} would be stopped and removed"
                )
                return ret
            if name not in diff["removed"]:
                ret.update(result=False, comment=f"{name} still has a config file: remove it first")
                return ret
            __salt__["supervisorctl.update"](name)
            ret.update(changes={"removed": name}, comment=f"{name} stopped and removed")
            return ret
    except CommandExecutionError as exc:
        ret.update(result=False, comment=str(exc))
        return ret
    ret["comment"] = f"{name} is not in supervisord"
    return ret
