"""
PostgreSQL streaming replication: the part this box plays (the primary, or a
hot standby streaming from it through a slot of its own, over TLS), what its
postgresql.conf and pg_hba.conf say for it, and how far behind the replicas
are.

- :func:`derive`: the postgresql component's second derive hook
  (salt://postgresql/component.yaml): ``replication`` and the ``conf`` lines
  for this box's part, and the ``problems`` of the pillar and the peers
  together (a replica with no primary, ...).
- :func:`status`: the operator's view, also run by a timer (red: a non-zero
  exit and a syslog line).

A box is a replica when it holds the fleet role db_replica (the section's
``standby``). Both sides name a replica's slot after its address as the
primary knows it (:func:`slot_name`), so a slot needs no agreement beyond
the peer lists.
"""

import json
import re
import syslog

from salt.exceptions import CommandExecutionError

__virtualname__ = "postgresql_replica"

SLOT_PREFIX = "webstack_"
SYSLOG_IDENT = "webstack-replication"
KEY = "webstack:postgresql"
# Unaligned, tuples only, quiet, no psqlrc, stop at the first error.
PSQL = ("psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", "postgres")

PRIMARY_SQL = """
SELECT json_build_object(
  'in_recovery', false,
  'replicas', coalesce((SELECT json_agg(json_build_object(
      'name', r.application_name, 'address', host(r.client_addr), 'state', r.state,
      'sync', r.sync_state, 'ssl', coalesce(s.ssl, false),
      'lag_bytes', pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn),
      'lag_seconds', coalesce(extract(epoch FROM r.replay_lag), 0))
      ORDER BY r.application_name)
    FROM pg_stat_replication r LEFT JOIN pg_stat_ssl s ON s.pid = r.pid), '[]'),
  'slots', coalesce((SELECT json_agg(json_build_object(
      'name', slot_name, 'active', active, 'wal_status', wal_status,
      'retained_bytes', pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn))
      ORDER BY slot_name)
    FROM pg_replication_slots WHERE slot_name LIKE 'webstack\\_%'), '[]'))
"""
# Lag in seconds: since the last transaction replayed, but none while the
# replica has replayed all it received (an idle primary sends nothing).
STANDBY_SQL = """
SELECT json_build_object(
  'in_recovery', true,
  'receiver', (SELECT json_build_object('status', status, 'slot', slot_name, 'sender', sender_host)
    FROM pg_stat_wal_receiver),
  'lag_bytes', coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0),
  'lag_seconds', CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END)
"""


def __virtual__():
    return __virtualname__


def slot_name(address):
    """
    The replication slot (and ``application_name``) of the replica at
    `address`: ``webstack_`` and the address in letters, digits and ``_``.

    CLI Example: ``salt-call postgresql_replica.slot_name 10.0.0.7``
    """
    return SLOT_PREFIX + re.sub(r"[^0-9a-z]+", "_", str(address).lower()).strip("_")


def _own_addresses():
    return set(__salt__["network.ip_addrs"]() + __salt__["network.ip_addrs6"]())


def _mb(size):
    return f"{__salt__['datatier.size_bytes'](size) // 1024**2}MB"


def _conninfo(**values):
    """A libpq connection string, each value quoted."""
    return " ".join(
        f"{k}='" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'" for k, v in values.items()
    )


def derive(section, ws):
    """
    This box's part in replication, from a ``webstack:postgresql`` section
    whose ``standby``, ``primaries``, ``replicas`` and ``client_addresses``
    are filled in:
    ``replication`` (``role`` primary or standby; on a standby the
    ``primary`` it follows, its ``slot`` and ``conninfo``; on the primary
    the ``slots`` of its ``replicas``, and the ``app_clients``), ``ssl``
    (this box's certificate files for its peers), ``conf`` with the
    settings for that part, and ``problems``.

    CLI Example: ``salt-call postgresql_replica.derive "$(salt-call --out=json webstack.settings)"``
    """
    rep = dict(section["replication"])
    own = _own_addresses()
    primaries = [str(a) for a in section.get("primaries") or []]
    replicas = [str(a) for a in section.get("replicas") or []]
    others = [a for a in replicas if a not in own]
    standby = section["standby"]
    # The address the primary knows this replica by (its slot's name): the
    # listed one, else the lowest, as the mine gives it (webstack.peers).
    known_as = [a for a in replicas if a in own] or [
        __salt__["webstack.lowest_address"](own or ["127.0.0.1"])
    ]
    tls = ws["peer_tls"]
    clients = section.get("client_addresses") or []
    conf_dir = section["conf_dir"]
    files = {"cert_file": f"{conf_dir}/peer-tls.crt", "key_file": f"{conf_dir}/peer-tls.key"}
    app_clients = [c for c in clients if c not in replicas and c not in primaries]
    # Other boxes connect: the app's hosts, replicas, or this replica's
    # primary (its fence asking).
    serves_peers = bool(app_clients or others) or standby

    problems = []
    if standby and not primaries:
        problems.append(
            f"{KEY}:primaries: this box is a replica ({known_as[0]}) with no primary to follow"
            " (no box of fleet role db in the mine, no webstack:peers:db)"
        )
    if standby and own & set(primaries):
        problems.append(
            f"{KEY}:primaries: this box ({known_as[0]}) is listed as a replica and as its own primary"
        )
    if (standby or others) and not rep.get("password"):
        problems.append(f"{KEY}:replication:password: is required (the replicas stream with it)")
    # A promoted primary has lost its replica (it was that replica): it runs
    # alone, its commits waiting for none, and status says so until one is
    # added. Anywhere else synchronous with nothing to wait for is a mistake.
    if rep["synchronous"] and not others and not standby and not _former_primaries():
        problems.append(
            f"{KEY}:replication:synchronous: is on, but there is no replica (fleet role db_replica)"
        )
    if serves_peers and not tls["enabled"]:
        problems.append(
            "webstack:peer_tls:ca: is required where other boxes connect to PostgreSQL (over TLS)"
        )
    elif serves_peers and not (tls.get("certificate") and tls.get("key")):
        problems.append("webstack:peer_tls:certificate: is required where other boxes connect to PostgreSQL")

    conf = dict(section["conf"])
    if tls["enabled"] and tls.get("certificate") and tls.get("key"):
        conf.update(ssl="on", ssl_cert_file=files["cert_file"], ssl_key_file=files["key_file"])
    out = dict(
        rep,
        role="standby" if standby else "primary",
        # Replication runs here: a replica, or a primary with replicas.
        active=standby or bool(others),
        replicas=others,
        # Who may open a replication connection here: the replicas, and the
        # primaries, the one this box replaced too (its fence asks whether it
        # was replaced: fence.sh).
        peers=list(dict.fromkeys(others + [a for a in primaries + _former_primaries() if a not in own])),
        app_clients=app_clients,
        passfile=f"{conf_dir}/replication.pgpass",
        fence_peers=f"{conf_dir}/fence-peers",
        fence_dropin=f"/etc/systemd/system/{section['service']}.service.d/webstack-fence.conf",
        standby_signal=f"{section['data_dir']}/standby.signal",
        primary=None,
        slot=None,
        slots=[],
        conninfo=None,
    )
    # How this box connects to a peer for replication (without its host):
    # as the role, its password from the passfile, the peer's certificate
    # verified against the fleet's CA.
    out["peer_conninfo"] = _conninfo(
        port=section["port"],
        user=rep["user"],
        passfile=out["passfile"],
        sslmode="verify-full",
        sslrootcert=tls.get("ca_file"),
    )
    # The passfile's line: any host, port and database, as the role.
    secret = str(rep.get("password") or "").replace("\\", "\\\\").replace(":", "\\:")
    out["pgpass"] = f"*:*:*:{rep['user']}:{secret}\n"
    # The replicas an old primary asks on its way up (`fence`): one a line.
    out["fence_peers_text"] = "".join(f"{a}\n" for a in others)
    if standby:
        out.update(primary=primaries[0] if primaries else None, slot=slot_name(known_as[0]))
        out["conninfo"] = (
            _conninfo(host=out["primary"], application_name=out["slot"]) + " " + out["peer_conninfo"]
        )
        # Reads on the replica: its queries hold back the primary's vacuum
        # rather than being cancelled under them.
        conf.update(
            primary_conninfo=out["conninfo"], primary_slot_name=out["slot"], hot_standby_feedback="on"
        )
    else:
        out["slots"] = [slot_name(a) for a in others]
        conf["max_slot_wal_keep_size"] = _mb(rep["max_slot_wal_keep_size"])
        if rep["synchronous"] and out["slots"]:
            conf["synchronous_standby_names"] = f"ANY 1 ({', '.join(out['slots'])})"
    former = [a for a in _former_primaries() if a not in own]
    return {
        # The firewall lets in the primary this box replaced (its fence asks).
        "clients": list(dict.fromkeys([*(section.get("clients") or []), *former])),
        "conf": conf,
        "replication": out,
        "ssl": dict(files, enabled="ssl" in conf),
        "problems": problems,
    }


# A promoted box remembers the primary it replaced (a grain of its own), so
# that box can still ask it, on its way up, whether it was replaced.
FORMER_PRIMARIES = "webstack_former_primaries"


def _former_primaries():
    return [str(a) for a in __grains__.get(FORMER_PRIMARIES) or []]


def _fleet_roles():
    """(the primary's fleet role, a replica's), as salt://postgresql/component.yaml names them."""
    decl = __salt__["webstack.declarations"]()["postgresql"]
    return decl["host_role"], decl["role_settings"]["standby"]


def _swap_roles(drop, add=None):
    """
    This box's ``roles`` grain without `drop` (and with `add`), then its
    mine entry: the master sees the box in its new part. A role the pillar
    gives (webstack:roles) is the pillar's to change.
    """
    grain = __grains__.get("roles") or []
    grain = [grain] if isinstance(grain, str) else list(grain)
    if drop not in grain:
        if add is None or add in grain:
            return grain  # done before
        raise CommandExecutionError(
            f"fleet role {drop} is not in this box's roles grain ({grain}): change webstack:roles there"
        )
    roles = list(dict.fromkeys(add if r == drop else r for r in grain if add or r != drop))
    __salt__["grains.setval"]("roles", roles, refresh_pillar=False)
    # The master caches a minion's grains when it compiles its pillar: now,
    # so that targeting (and webstack.peers) sees the new roles at once.
    __salt__["saltutil.refresh_pillar"](wait=True)
    __salt__["mine.update"]()
    return roles


def promote(timeout=60):
    """
    Make this replica the primary: PostgreSQL leaves recovery (``pg_promote``:
    a new timeline, writes accepted), and the box's ``roles`` grain holds
    db instead of db_replica, so the next highstate of the app hosts points
    ``DATABASE_URL`` here. It remembers the primary it replaced (the grain
    ``webstack_former_primaries``), whose fence asks it on its way up.
    Run it again after a cut-short run: it does what is left. (It asks
    PostgreSQL, not the settings: with the primary gone from the mine they
    would refuse a replica with no primary to follow.)

    In a fleet with a master, ``salt-run state.orchestrate
    postgresql.promote pillar='{"replica": "<minion id>"}'`` runs it with the
    rest (fence the old primary, re-apply the app hosts and replicas).

    CLI Example: ``salt-call postgresql_replica.promote`` (on the replica)
    """
    # The pillar's port, else postgresql/defaults.yaml's.
    port = ((__pillar__.get("webstack") or {}).get("postgresql") or {}).get("port") or 5432
    primary_role, standby_role = _fleet_roles()
    seen = _psql_json(
        "SELECT json_build_object('in_recovery', pg_is_in_recovery(),"
        " 'conninfo', current_setting('primary_conninfo'))",
        port,
    )
    followed = re.search(r"host='?([^' ]+)", seen["conninfo"] or "")
    replaced = followed.group(1) if followed else None
    if not seen["in_recovery"] and standby_role not in (__grains__.get("roles") or []):
        raise CommandExecutionError("this box is not a replica (fleet role db_replica): nothing to promote")
    if seen["in_recovery"]:
        promoted = _psql_json(f"SELECT to_json(pg_promote(true, {int(timeout)}))", port)
        if promoted is not True:
            raise CommandExecutionError(f"PostgreSQL did not leave recovery within {timeout} s")
    if replaced and replaced not in _former_primaries():
        __salt__["grains.setval"](FORMER_PRIMARIES, [*_former_primaries(), replaced], refresh_pillar=False)
    roles = _swap_roles(standby_role, primary_role)
    _say(True, f"promoted: this box is the primary now (it followed {replaced})")
    return {"promoted": bool(seen["in_recovery"]), "replaced": replaced, "roles": roles}


def fence():
    """
    Keep this (old) primary from serving as one again: PostgreSQL stopped,
    and the db fleet role left out of the box's ``roles`` grain, so the app
    hosts' next highstate finds the new primary only. Its own fence
    (fence.sh, before each start) then refuses to start PostgreSQL while a
    replica of it has been promoted. To make it a replica of the new primary,
    move its cluster away (README: Read replicas) and give it db_replica.

    CLI Example: ``salt-call postgresql_replica.fence`` (on the old primary)
    """
    ws = __salt__["webstack.settings"]()
    primary_role, _ = _fleet_roles()
    __salt__["service.stop"](ws["postgresql"]["service"])
    roles = _swap_roles(primary_role)
    _say(False, "fenced: PostgreSQL stopped here, fleet role db removed (a replica was promoted)")
    return {"fenced": True, "roles": roles}


def _psql_json(sql, port):
    res = __salt__["cmd.run_all"](
        [*PSQL, "-p", str(port), "-c", sql],
        runas="postgres",
        python_shell=False,
        output_loglevel="debug",
    )
    if res["retcode"] != 0:
        raise CommandExecutionError(f"psql failed: {(res.get('stderr') or res.get('stdout') or '').strip()}")
    return json.loads(res["stdout"])


def _say(ok, text):
    """A line in syslog (forwarded with the rest)."""
    syslog.openlog(SYSLOG_IDENT, 0, syslog.LOG_DAEMON)
    syslog.syslog(syslog.LOG_INFO if ok else syslog.LOG_ERR, text)
    syslog.closelog()


def _judge(seen, rep, max_bytes, max_seconds):
    """The problems in what the server says, for this box's part."""
    problems = []
    if rep["role"] == "standby":
        receiver = seen.get("receiver") or {}
        if not seen["in_recovery"]:
            problems.append("this replica is not in recovery: it was promoted (or lost its standby.signal)")
        elif receiver.get("status") != "streaming":
            problems.append(
                f"not streaming from {rep['primary']} (receiver: {receiver.get('status') or 'none'})"
            )
        lags = [("this replica", seen["lag_bytes"], seen["lag_seconds"])]
    else:
        streaming = {r["name"]: r for r in seen["replicas"]}
        slots = {s["name"]: s for s in seen["slots"]}
        lags = []
        if rep["synchronous"] and not rep["slots"]:
            problems.append("synchronous replication is on, but there is no replica: commits wait for none")
        for name in rep["slots"]:
            slot, replica = slots.get(name), streaming.get(name)
            if slot is None:
                problems.append(f"{name}: no replication slot")
            elif slot["wal_status"] == "lost":
                problems.append(f"{name}: its slot lost WAL it needs: rebuild that replica")
            if replica is None or replica["state"] != "streaming":
                problems.append(f"{name}: not streaming ({(replica or {}).get('state') or 'not connected'})")
            else:
                lags.append((name, replica["lag_bytes"], replica["lag_seconds"]))
    for name, lag_bytes, lag_seconds in lags:
        if float(lag_bytes or 0) > max_bytes:
            problems.append(f"{name}: {int(float(lag_bytes))} bytes behind (over {max_bytes})")
        if float(lag_seconds or 0) > max_seconds:
            problems.append(f"{name}: {float(lag_seconds):.1f} s behind (over {max_seconds})")
    return problems


def status():
    """
    Replication as this box sees it. On the primary: each replica (state,
    synchronous or not, SSL, lag in bytes and seconds) and its slot; on a
    replica: its WAL receiver and how far behind it replays. Red (``ok``
    False) when an expected replica is not streaming, a slot is missing or
    lost, or a lag is beyond ``webstack:postgresql:replication:max_lag_bytes``
    or ``max_lag``: a non-zero exit code; the verdict goes to syslog
    (``webstack-replication``) either way.

    CLI Example: ``salt-call postgresql_replica.status``
    """
    ws = __salt__["webstack.settings"]()
    rep = ws["postgresql"]["replication"]
    seen = _psql_json(STANDBY_SQL if rep["role"] == "standby" else PRIMARY_SQL, ws["postgresql"]["port"])
    max_bytes = __salt__["datatier.size_bytes"](rep["max_lag_bytes"])
    max_seconds = __salt__["webstack.timespan"](rep["max_lag"])
    problems = _judge(seen, rep, max_bytes, max_seconds)
    ok = not problems
    if rep["role"] == "standby":
        summary = f"replica of {rep['primary']}: " + (
            f"streaming, {int(float(seen['lag_bytes']))} bytes / {float(seen['lag_seconds']):.1f} s behind"
            if ok
            else "; ".join(problems)
        )
    else:
        summary = f"primary with {len(rep['slots'])} replica(s): " + (
            "all streaming" if ok else "; ".join(problems)
        )
    _say(ok, ("replication OK: " if ok else "replication FAILING: ") + summary)
    if not ok:
        __context__["retcode"] = 1
    return dict(seen, ok=ok, role=rep["role"], problems=problems, summary=summary)
