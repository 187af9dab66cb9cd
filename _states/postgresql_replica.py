"""
Streaming replication states: the primary's slots, and a replica built from
the primary once.

.. code-block:: yaml

    postgresql-keeps-a-slot-for-each-replica:
      postgresql_replica.slots_present:
        - name: replication slots
        - slots: [webstack_10_0_0_7]
        - port: 5432

    postgresql-replica-is-built-from-the-primary:
      postgresql_replica.standby_built:
        - name: /var/lib/postgresql/15/main
        - service: postgresql@15-main
        - bin_dir: /usr/lib/postgresql/15/bin
        - primary: 10.0.0.5
        - conninfo: host=10.0.0.5 user=replicator passfile=... sslmode=verify-full ...
        - slot: webstack_10_0_0_7

Salt's postgres states have neither (``postgres_*`` manage roles, databases,
schemas and privileges).
"""

import os
import shutil
import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "postgresql_replica"

PSQL = ("psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", "postgres")
SLOTS_SQL = (
    "SELECT slot_name || ' ' || active FROM pg_replication_slots"
    " WHERE slot_type = 'physical' AND slot_name LIKE 'webstack\\_%' ORDER BY 1"
)
# Databases a new cluster holds: anything else is someone's data.
NEW_CLUSTER = ("postgres", "template0", "template1")
RECEIVER_SQL = "SELECT status FROM pg_stat_wal_receiver"


def __virtual__():
    return __virtualname__


def _psql(sql, port, runas="postgres"):
    res = __salt__["cmd.run_all"](
        [*PSQL, "-p", str(port), "-c", sql], runas=runas, python_shell=False, output_loglevel="debug"
    )
    if res["retcode"] != 0:
        raise CommandExecutionError(f"psql failed: {(res.get('stderr') or res.get('stdout') or '').strip()}")
    return [line for line in res["stdout"].splitlines() if line.strip()]


def slots_present(name, slots, port=5432):
    """
    Ensure the primary holds a physical replication slot for each of
    ``slots``, reserving WAL from now on, and no other ``webstack_`` slot
    that no replica uses any more (an active one is left alone).

    A slot keeps the WAL its replica has not received yet, up to
    ``max_slot_wal_keep_size``.
    """
    wanted = list(slots)
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        current = dict(line.split(" ", 1) for line in _psql(SLOTS_SQL, port))
    except CommandExecutionError as exc:
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"PostgreSQL cannot be asked yet ({exc}): slots for {wanted} would be made"
            ret["changes"] = {"created": wanted} if wanted else {}
            return ret
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    created = [slot for slot in wanted if slot not in current]
    dropped = [slot for slot, active in current.items() if slot not in wanted and active == "f"]
    changes = {k: v for k, v in (("created", created), ("dropped", dropped)) if v}
    if not changes:
        ret["comment"] = f"slots in place: {', '.join(wanted) or 'none'}"
        return ret
    ret["changes"] = changes
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = "slots would be " + "; ".join(f"{k} {', '.join(v)}" for k, v in changes.items())
        return ret
    for slot in created:
        _psql(f"SELECT pg_create_physical_replication_slot('{slot}', true)", port)
    for slot in dropped:
        _psql(f"SELECT pg_drop_replication_slot('{slot}')", port)
    ret["comment"] = "slots " + "; ".join(f"{k} {', '.join(v)}" for k, v in changes.items())
    return ret


def _receiving(port, timeout):
    """Wait until the WAL receiver streams; its last status when it doesn't in time."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        try:
            status = (_psql(RECEIVER_SQL, port) or [None])[0]
        except CommandExecutionError:
            status = None  # still starting
        if status == "streaming":
            return status
        time.sleep(0.5)
    return status


def standby_built(name, service, bin_dir, primary, conninfo, slot, port=5432, timeout=600):
    """
    Ensure the cluster in the data directory ``name`` is a hot standby of
    ``primary`` (reached with the libpq ``conninfo``): once, it replaces a new, empty cluster
    with ``pg_basebackup`` of the primary (through the primary's slot
    ``slot``, WAL streamed alongside) and ``standby.signal``, starts it and
    waits until it streams. Where ``standby.signal`` is already there,
    nothing is done (``primary_conninfo`` in the configuration says whom it
    follows).

    A cluster holding databases of its own is never replaced: the state
    fails, naming them.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    signal = os.path.join(name, "standby.signal")
    if os.path.exists(signal):
        ret["comment"] = f"{name} is a standby (standby.signal)"
        return ret
    try:
        databases = [
            d for d in _psql("SELECT datname FROM pg_database ORDER BY 1", port) if d not in NEW_CLUSTER
        ]
    except CommandExecutionError as exc:
        if __opts__["test"]:
            ret.update(result=None, changes={"built": {"from": primary, "slot": slot}})
            ret["comment"] = f"{name} would be built from {primary} once PostgreSQL runs"
            return ret
        ret.update(result=False, comment=f"{name}: the local cluster does not answer: {exc}")
        return ret
    if databases:
        ret["result"] = False
        ret["comment"] = (
            f"{name} holds databases of its own ({', '.join(databases)}): not replaced by a copy of"
            f" {primary}. Move that cluster away (pg_dropcluster) to make this box a replica."
        )
        return ret
    ret["changes"] = {"built": {"from": primary, "slot": slot}}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"{name} would be replaced by a base backup of {primary} (slot {slot})"
        return ret

    aside = f"{name}.new-cluster"
    __salt__["service.stop"](service)
    shutil.rmtree(aside, ignore_errors=True)
    os.rename(name, aside)
    os.mkdir(name, 0o700)
    shutil.chown(name, "postgres", "postgres")
    res = __salt__["cmd.run_all"](
        [
            f"{bin_dir}/pg_basebackup",
            "-D",
            name,
            "-d",
            conninfo,
            "-S",
            slot,
            "-X",
            "stream",
            "-c",
            "fast",
            "-w",
        ],
        runas="postgres",
        python_shell=False,
        timeout=timeout,
    )
    if res["retcode"] != 0:
        # Back to the new cluster, running, for the next apply to try again.
        shutil.rmtree(name, ignore_errors=True)
        os.rename(aside, name)
        __salt__["service.start"](service)
        reason = (res.get("stderr") or res.get("stdout") or "").strip()
        hint = ""
        if "does not exist" in reason and "slot" in reason:
            hint = f" Apply the primary first: it makes a slot for each replica it knows of ({slot})."
        ret.update(result=False, changes={}, comment=f"pg_basebackup from {primary} failed: {reason}.{hint}")
        return ret
    shutil.rmtree(aside, ignore_errors=True)
    with open(signal, "w", encoding="ascii"):
        pass
    shutil.chown(signal, "postgres", "postgres")
    __salt__["service.start"](service)
    status = _receiving(port, 60)
    if status != "streaming":
        ret["result"] = False
        ret["comment"] = f"{name} was built from {primary} but does not stream (receiver: {status or 'none'})"
        return ret
    ret["comment"] = f"{name} was built from {primary} and streams through slot {slot}"
    return ret
