"""
Backups that restore: the database with pgBackRest (WAL archived as it is
written, full and differential backups on timers) and the app's media files
with restic, both encrypted, in an S3-compatible store or a directory.

What the backup component's states lay down is worked out here once
(:func:`derive`, the component's ``derive`` hook); an operator runs the rest:

- :func:`status`: green or red, from the newest backup, WAL and media snapshot
  (non-zero exit and a syslog line when red);
- :func:`run`: a backup now, as the timers run it;
- :func:`restore_db` and :func:`restore_media`: one command each, the app's
  processes stopped and started around a database restore;
- :func:`history`: the backups and snapshots to choose from.

Why execution functions and not an orchestration: a restore is an action
with an argument (the point in time), run on the box that gets the data,
whose result (what was restored, how long it took) the operator reads; an
orchestration (``salt-run state.orch``) can call them on a fleet.
"""

import json
import logging
import os
import posixpath
import shlex
import syslog
import time
from urllib.parse import urlsplit

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "backup"

# pgBackRest's own configuration file (its commands read it without options).
PGBACKREST_CONF = "/etc/pgbackrest/pgbackrest.conf"
PGBACKREST_LOG = "/var/log/pgbackrest"
# The store's CA, restic's passphrase and environment: readable by root only
# (the CA by everyone: pgBackRest runs as postgres).
CONF_DIR = "/etc/webstack/backup"
RESTIC_CACHE = "/var/cache/restic"
UNIT = "webstack-backup-{}"
SYSLOG_IDENT = "webstack-backup"
CIPHER = "aes-256-cbc"
# WAL segments written and waiting for the archiver (archive_status/*.ready).
READY_DIR = "pg_wal/archive_status"


def __virtual__():
    return __virtualname__


# -- what the states lay down -------------------------------------------------


def _store(repo):
    """The S3 store's host and port (None: the endpoint's default, 443)."""
    parts = urlsplit(repo["s3"]["endpoint"])
    return parts.hostname, parts.port


def _pgbackrest_sections(conf, ws, stanza, prefix):
    repo = conf["repository"]
    db = conf["database"]
    pg = ws["postgresql"]
    glob = {"repo1-path": f"{prefix}/db"}
    if repo["path"]:
        glob.update({"repo1-type": "posix", "repo1-path": f"{repo['path'].rstrip('/')}{prefix}/db"})
    else:
        s3 = repo["s3"]
        host, port = _store(repo)
        glob.update(
            {
                "repo1-type": "s3",
                "repo1-s3-endpoint": host,
                "repo1-s3-bucket": s3["bucket"],
                "repo1-s3-region": s3["region"],
                "repo1-s3-key": s3["key"],
                "repo1-s3-key-secret": s3["secret"],
                "repo1-s3-uri-style": s3["uri_style"],
                "repo1-storage-verify-tls": "y" if s3["verify_tls"] else "n",
            }
        )
        if port:
            glob["repo1-storage-port"] = str(port)
        if s3["ca"]:
            glob["repo1-storage-ca-file"] = f"{CONF_DIR}/store-ca.crt"
    glob.update(
        {
            "repo1-cipher-type": CIPHER,
            "repo1-cipher-pass": conf["passphrase"],
            "repo1-retention-full": str(db["retention_full"]),
            "repo1-retention-diff": str(db["retention_diff"]),
            "compress-type": db["compress"],
            "process-max": str(db["process_max"]),
            # A backup starts at once (an immediate checkpoint), not at the next one.
            "start-fast": "y",
            "log-level-console": "warn",
            "log-level-file": "info",
            "log-path": PGBACKREST_LOG,
        }
    )
    return {"global": glob, stanza: {"pg1-path": pg["data_dir"], "pg1-port": str(pg["port"])}}


def _restic_setup(conf, prefix):
    """restic's repository, environment and base command line."""
    repo = conf["repository"]
    base = ["restic", "--cache-dir", RESTIC_CACHE]
    env = {"RESTIC_PASSWORD_FILE": f"{CONF_DIR}/passphrase"}
    if repo["path"]:
        env["RESTIC_REPOSITORY"] = f"{repo['path'].rstrip('/')}{prefix}/media"
    else:
        s3 = repo["s3"]
        host, port = _store(repo)
        where = f"{host}:{port}" if port else host
        env["RESTIC_REPOSITORY"] = f"s3:https://{where}/{s3['bucket']}{prefix}/media"
        env.update(
            AWS_ACCESS_KEY_ID=s3["key"], AWS_SECRET_ACCESS_KEY=s3["secret"], AWS_DEFAULT_REGION=s3["region"]
        )
        if s3["ca"]:
            base += ["--cacert", f"{CONF_DIR}/store-ca.crt"]
        if not s3["verify_tls"]:
            base += ["--insecure-tls"]
        if s3["uri_style"] == "path":
            base += ["-o", "s3.bucket-lookup=path"]
    return env, base


def _ini(sections):
    """pgBackRest's configuration text."""
    blocks = []
    for section, options in sections.items():
        blocks.append(f"[{section}]\n" + "".join(f"{k}={v}\n" for k, v in options.items()))
    return "# Managed by Salt (webstack backup component): edits are overwritten.\n" + "\n".join(blocks)


def _systemd_quote(value):
    """A value as systemd's EnvironmentFile reads it back unchanged."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def _units(conf, ws, stanza, restic_base, host):
    """The systemd services (oneshot) and their timers, by name."""
    units = {}
    db, media = conf["database"], conf["media"]
    if db["active"]:
        pg = ws["postgresql"]
        # A replica (pg_is_in_recovery) skips: the primary backs up.
        ask = f'psql -XAtq -p {pg["port"]} -d postgres -c "SELECT pg_is_in_recovery()"'
        primary = f"/bin/sh -c '[ \"$({ask})\" = f ]'"
        for kind in ("full", "diff"):
            units[UNIT.format(kind)] = {
                "description": f"{kind} backup of the {stanza} database (pgBackRest)",
                "user": "postgres",
                "condition": primary,
                "exec": [f"/usr/bin/pgbackrest --stanza={stanza} --type={kind} backup"],
                "environment_file": None,
                "calendar": db["schedule"][kind],
            }
    if media["active"]:
        restic = " ".join(shlex.quote(a) for a in ["/usr/bin/" + restic_base[0], *restic_base[1:]])
        keep = " ".join(f"--keep-{period} {n}" for period, n in media["keep"].items() if n)
        units[UNIT.format("media")] = {
            "description": f"snapshot of {stanza}'s media files (restic)",
            "user": "root",
            "condition": None,
            "exec": [
                f"{restic} backup --host {host} --tag media {shlex.quote(media['dir'])}",
                f"{restic} forget --host {host} --tag media {keep} --prune",
            ],
            "environment_file": f"{CONF_DIR}/restic.env",
            "calendar": media["schedule"],
        }
    units[UNIT.format("status")] = {
        "description": "backup status check (salt-call backup.status; its verdict goes to syslog)",
        "user": "root",
        "condition": None,
        "exec": ["salt-call --retcode-passthrough --out=quiet backup.status"],
        "environment_file": None,
        "calendar": conf["status"]["schedule"],
    }
    return units


def derive(section=None, ws=None):
    """
    What the backup states lay down on this box, from its ``webstack:backup``
    section and every other setting: whether the database (``database:active``,
    a box running PostgreSQL) and media (``media:active``, a box running the
    app; ``media:dir``, its MEDIA_ROOT) are backed up here, the stanza,
    pgBackRest's configuration (``pgbackrest``), PostgreSQL's archiving
    settings (``archive``), restic's repository and environment, the systemd
    units and their timers (``units``), and the status thresholds in seconds
    (``max_age_seconds``). The backup component's ``derive``
    (salt://backup/component.yaml).

    Without arguments: this box's (as ``salt-call webstack.settings`` shows
    under ``backup``).

    CLI Example: ``salt-call backup.derive``
    """
    if ws is None:
        ws = __salt__["webstack.settings"]()
    conf = dict(ws["backup"] if section is None else section)
    here = ws["components"]
    stanza = ws["project"]["name"]
    prefix = (conf["repository"]["prefix"] or f"/{stanza}").rstrip("/")
    database = dict(
        conf["database"],
        active=bool(conf["enabled"] and conf["database"]["enabled"] and "postgresql" in here),
    )
    media = dict(
        conf["media"],
        active=bool(conf["enabled"] and conf["media"]["enabled"] and "app" in here),
        dir=ws["exports"].get("MEDIA_ROOT"),
    )
    conf.update(database=database, media=media, active=database["active"] or media["active"])
    conf.update(stanza=stanza, conf_dir=CONF_DIR, host=__grains__.get("id") or __grains__.get("host"))
    conf["store_ca"] = (
        f"{CONF_DIR}/store-ca.crt"
        if not conf["repository"]["path"] and conf["repository"]["s3"]["ca"]
        else None
    )
    sections = _pgbackrest_sections(conf, ws, stanza, prefix) if database["active"] else {}
    conf["pgbackrest"] = {"path": PGBACKREST_CONF, "sections": sections, "contents": _ini(sections)}
    conf["archive"] = {}
    if database["active"]:
        conf["archive"] = {
            "archive_mode": True,
            "archive_command": f"pgbackrest --stanza={stanza} archive-push %p",
            "archive_timeout": database["archive_timeout"],
        }
    conf["archive_conf"] = (
        f"{ws['postgresql']['conf_dir']}/conf.d/60-backup.conf" if "postgresql" in here else None
    )
    restic_env, restic_base = _restic_setup(conf, prefix) if media["active"] else ({}, [])
    conf["restic"] = {
        "env": restic_env,
        "command": restic_base,
        "env_file": f"{CONF_DIR}/restic.env",
        "env_contents": "".join(f"{k}={_systemd_quote(v)}\n" for k, v in restic_env.items()),
    }
    conf["units"] = _units(conf, ws, stanza, restic_base, conf["host"]) if conf["active"] else {}
    conf["unit_names"] = [UNIT.format(kind) for kind in ("full", "diff", "media", "status")]
    conf["max_age_seconds"] = {
        k: __salt__["webstack.timespan"](v) for k, v in conf["status"]["max_age"].items()
    }
    return conf


# -- helpers ----------------------------------------------------------------


def _settings():
    conf = __salt__["webstack.settings"]()
    if "backup" not in conf["components"]:
        raise CommandExecutionError("backup: this box applies no backup component (a db or web box)")
    return conf


# The commands read and print secrets (passphrases, keys): never logged.
QUIET = {"python_shell": False, "output_loglevel": "quiet", "ignore_retcode": True}


def _run(cmd, runas=None, env=None, check=True, timeout=None):
    res = __salt__["cmd.run_all"](cmd, runas=runas, env=env, timeout=timeout, **QUIET)
    if check and res["retcode"] != 0:
        text = (res.get("stderr") or res.get("stdout") or "").strip()
        raise CommandExecutionError(f"{cmd[0]} {' '.join(cmd[1:3])}... failed ({res['retcode']}): {text}")
    return res


def _psql(ws, sql):
    res = _run(
        ["psql", "-XAtq", "-p", str(ws["postgresql"]["port"]), "-d", "postgres", "-c", sql], runas="postgres"
    )
    return res["stdout"].strip()


def pgbackrest_info(config=PGBACKREST_CONF, stanza=None):
    """
    ``pgbackrest info --output=json`` of the stanza as a dict (None when the
    command fails: ``error`` then says why), run as postgres with `config`.

    CLI Example: ``salt-call backup.pgbackrest_info``
    """
    stanza = stanza or __salt__["webstack.settings"]()["backup"]["stanza"]
    # A store that doesn't answer fails it in about 40 s, not pgBackRest's
    # 8 minutes of retries.
    res = _run(
        [
            "pgbackrest",
            f"--config={config}",
            f"--stanza={stanza}",
            "--io-timeout=10",
            "--output=json",
            "info",
        ],
        runas="postgres",
        check=False,
    )
    if res["retcode"] != 0:
        return {"ok": False, "error": (res.get("stderr") or res.get("stdout") or "").strip()}
    found = json.loads(res["stdout"] or "[]", strict=False)
    return {"ok": True, "stanza": found[0] if found else None}


def _restic(ws, *args, check=True, timeout=None):
    conf = ws["backup"]["restic"]
    return _run([*conf["command"], *args], env=conf["env"], check=check, timeout=timeout)


def _say(ok, text):
    """A line in syslog (forwarded to Papertrail with the rest)."""
    syslog.openlog(SYSLOG_IDENT, 0, syslog.LOG_DAEMON)
    syslog.syslog(syslog.LOG_INFO if ok else syslog.LOG_ERR, text)
    syslog.closelog()


def _age(seconds):
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit} ago"
    return f"{int(seconds)}s ago"


# -- what an operator runs ----------------------------------------------------


def _database_checks(ws, now):
    conf = ws["backup"]
    if _psql(ws, "SELECT pg_is_in_recovery()") == "t":
        return [{"check": "database", "ok": True, "detail": "a replica: the primary backs up"}]
    info = pgbackrest_info(stanza=conf["stanza"])
    checks = []
    backups = (info.get("stanza") or {}).get("backup") or []
    for name, kinds in (("full", ("full",)), ("backup", ("full", "diff", "incr"))):
        stops = [b["timestamp"]["stop"] for b in backups if b["type"] in kinds]
        age = now - max(stops) if stops else None
        checks.append(
            {
                "check": name,
                "ok": age is not None and age <= conf["max_age_seconds"][name],
                "age": age,
                "max_age": conf["max_age_seconds"][name],
                "detail": f"newest {'full ' if name == 'full' else ''}backup {_age(age)}"
                + ("" if info["ok"] else f" (repository: {info['error']})"),
            }
        )
    # WAL: the oldest segment waiting for the archiver (an idle database
    # writes none, and is not behind).
    ready_dir = posixpath.join(ws["postgresql"]["data_dir"], READY_DIR)
    waiting = [
        os.stat(posixpath.join(ready_dir, f)).st_mtime for f in os.listdir(ready_dir) if f.endswith(".ready")
    ]
    age = now - min(waiting) if waiting else 0
    last = _psql(
        ws, "SELECT coalesce(last_archived_wal || ' at ' || last_archived_time, 'none') FROM pg_stat_archiver"
    )
    checks.append(
        {
            "check": "wal",
            "ok": age <= conf["max_age_seconds"]["wal"],
            "age": age,
            "max_age": conf["max_age_seconds"]["wal"],
            "detail": f"{len(waiting)} WAL segment(s) waiting, oldest {_age(age) if waiting else '-'};"
            f" last archived {last}",
        }
    )
    return checks


def _media_checks(ws, now):
    conf = ws["backup"]
    res = _restic(
        ws, "snapshots", "--json", "--host", conf["host"], "--tag", "media", check=False, timeout=120
    )
    snaps = json.loads(res["stdout"] or "[]") if res["retcode"] == 0 else []
    times = [_epoch(s["time"]) for s in snaps]
    age = now - max(times) if times else None
    problem = "" if res["retcode"] == 0 else f" (repository: {(res.get('stderr') or '').strip()[-300:]})"
    return [
        {
            "check": "media",
            "ok": age is not None and age <= conf["max_age_seconds"]["media"],
            "age": age,
            "max_age": conf["max_age_seconds"]["media"],
            "detail": f"newest snapshot {_age(age)}{problem}",
        }
    ]


def _epoch(stamp):
    """Seconds since the epoch of restic's RFC 3339 time (nanoseconds, any zone)."""
    from datetime import datetime  # noqa: PLC0415 - only restic's times need it

    head, _, rest = stamp.partition(".")
    zone = rest.lstrip("0123456789") if rest else stamp[19:]
    fraction = rest[: len(rest) - len(zone)] if rest else ""
    zone = "+00:00" if zone in ("Z", "") else zone
    return datetime.fromisoformat(f"{head}{zone}").timestamp() + (float(f"0.{fraction}") if fraction else 0)


def status(now=None):
    """
    Whether backups are current: the newest full backup, the newest backup of
    any kind, the WAL archive (no segment waiting longer than allowed) and the
    newest media snapshot of this box, each against ``webstack:backup:status:max_age``.
    Red (``ok`` False) sets a non-zero exit code; the verdict is logged to
    syslog (``webstack-backup``) either way. `now`: seconds since the epoch
    to judge at (default: the clock).

    CLI Example: ``salt-call backup.status``
    """
    ws = _settings()
    conf = ws["backup"]
    now = time.time() if now is None else float(now)
    if not conf["active"]:
        return {"ok": True, "checks": [], "summary": "backups are off on this box"}
    checks = []
    if conf["database"]["active"]:
        checks += _database_checks(ws, now)
    if conf["media"]["active"]:
        checks += _media_checks(ws, now)
    ok = all(c["ok"] for c in checks)
    summary = ("backups OK: " if ok else "backups FAILING: ") + "; ".join(
        f"{c['check']} {'ok' if c['ok'] else 'LATE'}: {c['detail']}" for c in checks
    )
    _say(ok, summary)
    if not ok:
        __context__["retcode"] = 1
    return {"ok": ok, "checks": checks, "summary": summary}


def run(kind="full"):
    """
    Run a backup now, as its timer would: ``full`` or ``diff`` (the
    database) or ``media``. Waits for it to end; fails with the end of its
    journal when it fails.

    CLI Example: ``salt-call backup.run full``
    """
    ws = _settings()
    unit = UNIT.format(kind)
    if unit not in ws["backup"]["units"] or kind == "status":
        raise CommandExecutionError(
            f"backup.run: no {kind!r} backup on this box (here: "
            + ", ".join(u.rsplit("-", 1)[1] for u in ws["backup"]["units"] if not u.endswith("status"))
            + ")"
        )
    t0 = time.monotonic()
    res = _run(["systemctl", "start", f"{unit}.service"], check=False)
    if res["retcode"] != 0:
        journal = _run(
            ["journalctl", "-u", f"{unit}.service", "-n", "20", "--no-pager", "-o", "cat"], check=False
        )
        raise CommandExecutionError(f"{unit} failed:\n{journal['stdout']}")
    return {"backup": kind, "seconds": round(time.monotonic() - t0, 1)}


def history():
    """
    The database backups (label, type, start and stop time, size) and the
    media snapshots (id, time) of this box, oldest first: what a restore can
    go back to.

    CLI Example: ``salt-call backup.history``
    """
    ws = _settings()
    conf = ws["backup"]
    out = {}
    if conf["database"]["active"]:
        info = pgbackrest_info(stanza=conf["stanza"])
        if not info["ok"]:
            raise CommandExecutionError(f"pgbackrest info failed: {info['error']}")
        stanza = info["stanza"] or {}
        out["database"] = [
            {
                "label": b["label"],
                "type": b["type"],
                "start": time.strftime("%Y-%m-%d %H:%M:%S%z", time.localtime(b["timestamp"]["start"])),
                "stop": time.strftime("%Y-%m-%d %H:%M:%S%z", time.localtime(b["timestamp"]["stop"])),
                "size": b["info"]["size"],
            }
            for b in stanza.get("backup") or []
        ]
        archive = (stanza.get("archive") or [{}])[-1]
        out["wal"] = {"min": archive.get("min"), "max": archive.get("max")}
    if conf["media"]["active"]:
        res = _restic(ws, "snapshots", "--json", "--host", conf["host"], "--tag", "media", timeout=120)
        out["media"] = [{"id": s["short_id"], "time": s["time"]} for s in json.loads(res["stdout"] or "[]")]
    return out


def _app_programs():
    """The supervisor programs running now (stopped around a restore), or []."""
    if not __salt__["cmd.has_exec"]("supervisorctl"):
        return []
    res = _run(["supervisorctl", "status"], check=False)
    return [line.split()[0] for line in res["stdout"].splitlines() if " RUNNING " in f" {line} "]


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise CommandExecutionError(f"backup: {what} after {timeout} s")
        time.sleep(0.5)


def _archives_into(ws, stanza):
    """Whether this cluster runs as the primary archiving into `stanza` (not a new box's own cluster)."""
    if not __salt__["service.status"](ws["postgresql"]["service"]):
        return False
    row = _psql(
        ws,
        "SELECT system_identifier || ' ' || pg_is_in_recovery() || ' ' || current_setting('archive_mode')"
        " FROM pg_control_system()",
    )
    system_id, recovering, mode = row.split()
    return recovering == "false" and mode == "on" and system_id == str(stanza["db"][-1]["system-id"])


def _archive_current_wal(ws):
    """Before a restore to the latest state: the WAL written so far goes to the repository."""
    segment = _psql(ws, "SELECT pg_walfile_name(pg_switch_wal())")
    _wait(
        lambda: _psql(ws, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") >= segment,
        120,
        f"WAL segment {segment} is still not archived",
    )


def restore_db(target_time=None):
    """
    Restore the database from the repository, to its latest state or to
    `target_time` (a timestamp PostgreSQL reads, with its zone: ``"2026-12-03
    11:42:07+00"``), on this box: the app's supervisor programs stop, the
    cluster stops, pgBackRest restores it in place (``--delta``: only files
    that differ), the cluster replays the WAL up to the target and is
    promoted, the programs start again. On a new box, converge it first
    (its backup state then fails, naming this command), restore, converge
    again.

    CLI Example: ``salt-call backup.restore_db`` or
    ``salt-call backup.restore_db target_time="2026-12-03 11:42:07+00"``
    """
    ws = _settings()
    conf, pg = ws["backup"], ws["postgresql"]
    if not conf["database"]["active"]:
        raise CommandExecutionError("backup.restore_db: database backups are off on this box")
    info = pgbackrest_info(stanza=conf["stanza"])
    if not info["ok"] or not (info["stanza"] or {}).get("backup"):
        raise CommandExecutionError(
            f"backup.restore_db: no backup of {conf['stanza']} to restore:"
            f" {info.get('error') or 'none taken yet'}"
        )
    t0 = time.monotonic()
    if target_time is None and _archives_into(ws, info["stanza"]):
        _archive_current_wal(ws)
    programs = _app_programs()
    for program in programs:
        _run(["supervisorctl", "stop", program])
    try:
        __salt__["service.stop"](pg["service"])
        cmd = ["pgbackrest", f"--stanza={conf['stanza']}", "--delta"]
        if target_time:
            cmd += ["--type=time", f"--target={target_time}", "--target-action=promote"]
        _run([*cmd, "restore"], runas="postgres")
        if not __salt__["service.start"](pg["service"]):
            raise CommandExecutionError(f"backup.restore_db: {pg['service']} did not start after the restore")
        _wait(lambda: _psql(ws, "SELECT pg_is_in_recovery()") == "f", 600, "the cluster is still recovering")
        # Promoted, the checkpointer sleeps up to checkpoint_timeout before it
        # honours archive_timeout again (measured: no WAL switch for minutes
        # under writes): a checkpoint wakes it.
        _psql(ws, "CHECKPOINT")
    finally:
        for program in programs:
            _run(["supervisorctl", "start", program], check=False)
    return {
        "restored": conf["stanza"],
        "to": target_time or "latest",
        "programs_restarted": programs,
        "seconds": round(time.monotonic() - t0, 1),
    }


def restore_media(snapshot="latest"):
    """
    Put the app's media files back as snapshot `snapshot` (an id from
    :func:`history`, or ``latest``) of this box holds them: files in it
    are written back (owner, mode and times too); files made since are left.

    CLI Example: ``salt-call backup.restore_media`` or ``salt-call backup.restore_media 4f2a9c1e``
    """
    ws = _settings()
    conf = ws["backup"]
    if not conf["media"]["active"]:
        raise CommandExecutionError("backup.restore_media: media backups are off on this box")
    t0 = time.monotonic()
    args = ["restore", snapshot, "--target", "/", "--host", conf["host"], "--tag", "media"]
    _restic(ws, *args, "--path", conf["media"]["dir"], timeout=3600)
    return {
        "restored": conf["media"]["dir"],
        "snapshot": snapshot,
        "seconds": round(time.monotonic() - t0, 1),
    }
