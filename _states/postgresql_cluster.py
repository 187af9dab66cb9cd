"""
A running PostgreSQL cluster that uses its configuration files, restarted only
when a setting needs it.

.. code-block:: yaml

    postgresql-cluster-applies-its-configuration:
      postgresql_cluster.config_applied:
        - name: postgresql@15-main
        - port: 5432
        - watch:
          - file: postgresql-settings-file

When a watched file changed, the cluster is reloaded; if a changed setting can
only take effect at server start (``pg_settings.context = 'postmaster'``, such
as ``shared_buffers`` or ``listen_addresses``), PostgreSQL then lists it as
``pending_restart`` and the cluster is restarted. Without a change, a cluster
still waiting for a restart (a run cut short) is restarted too. Errors in the
files (``pg_file_settings``, ``pg_hba_file_rules``) stop it before any reload.
"""

import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "postgresql_cluster"

# What pg_file_settings says of a valid value it cannot use before a restart
# (and of an invalid one: those are caught before the file lands).
NOT_APPLIED = "setting could not be applied"

ERRORS_SQL = (
    "SELECT format('%s line %s: %s', sourcefile, sourceline, error) FROM pg_file_settings"
    f" WHERE error IS NOT NULL AND error <> '{NOT_APPLIED}'"
    " UNION ALL"
    " SELECT format('pg_hba.conf line %s: %s', line_number, error) FROM pg_hba_file_rules"
    " WHERE error IS NOT NULL"
)
PENDING_SQL = "SELECT name FROM pg_settings WHERE pending_restart ORDER BY name"
LOAD_TIME_SQL = "SELECT pg_conf_load_time()"
# Unaligned, tuples only, quiet, no psqlrc, stop at the first error.
PSQL = ("psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", "postgres")


def __virtual__():
    if "service.reload" not in __salt__:
        return (False, "postgresql_cluster: needs a service module with reload")
    return __virtualname__


def _psql(sql, port, runas):
    """Rows of a one-column query, run as the superuser over the local socket."""
    res = __salt__["cmd.run_all"](
        [*PSQL, "-p", str(port), "-c", sql],
        runas=runas,
        python_shell=False,
        output_loglevel="debug",
    )
    if res["retcode"] != 0:
        raise CommandExecutionError(f"psql failed: {(res.get('stderr') or res.get('stdout') or '').strip()}")
    return [line for line in res["stdout"].splitlines() if line.strip()]


def _wait_reloaded(before, port, runas, timeout):
    """The postmaster reads its files asynchronously after SIGHUP: wait for it."""
    deadline = time.monotonic() + timeout
    while True:
        if _psql(LOAD_TIME_SQL, port, runas) != before:
            return
        if time.monotonic() > deadline:
            raise CommandExecutionError(f"the configuration was not reloaded within {timeout} s")
        time.sleep(0.2)


def _apply(name, port, runas, timeout, reload):
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        problems = _psql(ERRORS_SQL, port, runas)
        if problems:
            ret["result"] = False
            ret["comment"] = "Configuration has errors, not applied:\n" + "\n".join(problems)
            return ret
        pending = _psql(PENDING_SQL, port, runas)
        if not reload and not pending:
            ret["comment"] = f"{name} runs its current configuration"
            return ret

        if __opts__["test"]:
            ret["result"] = None
            if pending:
                ret["changes"] = {"restarted": pending}
                ret["comment"] = f"{name} would be restarted for {', '.join(pending)}"
            else:
                ret["changes"] = {"reloaded": True}
                ret["comment"] = f"{name} would be reloaded (and restarted if a changed setting needs it)"
            return ret

        if reload and not pending:
            before = _psql(LOAD_TIME_SQL, port, runas)
            if not __salt__["service.reload"](name):
                raise CommandExecutionError(f"reloading {name} failed")
            _wait_reloaded(before, port, runas, timeout)
            ret["changes"]["reloaded"] = True
            pending = _psql(PENDING_SQL, port, runas)
        if pending:
            if not __salt__["service.restart"](name):
                raise CommandExecutionError(f"restarting {name} failed")
            still = _psql(PENDING_SQL, port, runas)
            if still:
                raise CommandExecutionError(f"still waiting for a restart after one: {', '.join(still)}")
            ret["changes"]["restarted"] = pending
            ret["comment"] = f"{name} restarted for {', '.join(pending)}"
        else:
            ret["comment"] = f"{name} reloaded; no changed setting needs a restart"
    except CommandExecutionError as exc:
        if __opts__["test"]:
            # A dry run before the install or start: nothing to ask yet.
            ret["result"] = None
            ret["comment"] = f"{name} cannot be asked yet ({exc}): its configuration is applied once it runs"
        else:
            ret["result"] = False
            ret["comment"] = f"{name}: {exc}"
    return ret


def config_applied(name, port=5432, runas="postgres", timeout=30):
    """
    Ensure the running cluster ``name`` (its systemd unit, e.g.
    ``postgresql@15-main``) uses its configuration files: restart it when a
    setting waits for a restart. ``watch`` the files to reload it when they
    change (restarting only when a changed setting needs it).

    port
        The cluster's port (psql connects over the local socket, as ``runas``).
    timeout
        Seconds to wait for the server to pick up a reload.
    """
    return _apply(name, port, runas, timeout, reload=False)


def mod_watch(name, sfun=None, port=5432, runas="postgres", timeout=30, **kwargs):
    """A watched file changed: reload, and restart if a changed setting needs it."""
    if sfun != "config_applied":
        return {
            "name": name,
            "changes": {},
            "result": False,
            "comment": f"postgresql_cluster.{sfun} does not support watch",
        }
    return _apply(name, port, runas, timeout, reload=True)
