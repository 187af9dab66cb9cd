"""
backup: the database and the media files go to a real S3-compatible store
(moto behind TLS, in its own box) and come back.

One app box (web + db: the example app behind nginx, PostgreSQL, backups to
the store) converged once, and a fresh db box for a disaster recovery. In
file order: the first apply's backups and status; a point-in-time restore
and a restore to the latest state on the fresh box; media files back
byte-identical; a store outage under writes; status red, then green; retention,
check and verify; a refused passphrase change; zero changes again and no
secret shown. Every row counted is a visit the app committed (its counter).
"""

import concurrent.futures
import json
import shlex
import time

import pytest
from conftest import assert_idempotent, first_converge, load_pillar, with_settings
from figures import report
from object_store import start_object_store

from tools.harness.dockerbox import TEST_PILLAR_ROOT

NAME, DOMAIN = "shop", "shop.webstack.test"
CURL = f"curl -sk --resolve {DOMAIN}:443:127.0.0.1"
SITE = f"https://{DOMAIN}"
ARCHIVE_TIMEOUT = 10
PASSPHRASE = "bk-test-passphrase-7f3a9c"


def pillar(store, **backup):
    base = with_settings(
        load_pillar("demo"),
        project={"name": NAME, "domains": [DOMAIN]},
        roles=["web", "db"],
        app={"wsgi": "demo.wsgi:application", "celery": None},
        supervisor={"celery": {"beat": False}},
        cache={"redis": {"enabled": False}},
        backup={
            "enabled": True,
            "repository": {"path": None, "s3": store.pillar()},
            "passphrase": PASSPHRASE,
            "database": {"archive_timeout": ARCHIVE_TIMEOUT},
        },
    )
    return with_settings(base, backup=backup) if backup else base


def salt_json(box, *args, check=True):
    """(exit code, return) of salt-call with the pillar the box was last given."""
    res = box.salt_call("--out=json", *args, pillar_root=TEST_PILLAR_ROOT)
    if check:
        assert res.rc == 0, res.stdout + res.stderr
    return res.rc, json.loads(res.stdout)["local"] if res.stdout.strip() else None


def hits(box):
    sql = "SELECT coalesce(max(hits), 0) FROM counter_counter WHERE name = 'visits'"
    return int(box.exec(["runuser", "-u", "postgres", "--", "psql", "-d", NAME, "-XAtc", sql]).stdout)


def visit(box, times):
    """`times` visits of the index page through nginx: each commits +1 on the counter."""
    codes = box.exec(
        f"for i in $(seq {times}); do {CURL} -o /dev/null -w '%{{http_code}}\\n' {SITE}/; done"
    ).stdout
    assert codes.split() == ["200"] * times, codes


def pgbackrest(box, *args, check=True):
    return box.exec(["runuser", "-u", "postgres", "--", "pgbackrest", f"--stanza={NAME}", *args], check=check)


def info(box):
    return json.loads(pgbackrest(box, "--output=json", "info").stdout)[0]


def wal_waiting(box):
    return int(
        box.exec("ls /var/lib/postgresql/15/main/pg_wal/archive_status | grep -c '\\.ready$' || true").stdout
    )


def current_wal(box):
    sql = "SELECT pg_walfile_name(pg_current_wal_lsn())"
    return box.exec(["runuser", "-u", "postgres", "--", "psql", "-XAtc", sql]).stdout.strip()


def archive_now(box):
    """Switch to a new WAL segment and wait until the finished one is archived."""
    segment = box.exec(
        ["runuser", "-u", "postgres", "--", "psql", "-XAtc", "SELECT pg_walfile_name(pg_switch_wal())"]
    ).stdout.strip()
    deadline = time.monotonic() + 60
    sql = "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"
    while box.exec(["runuser", "-u", "postgres", "--", "psql", "-XAtc", sql]).stdout.strip() < segment:
        assert time.monotonic() < deadline, f"{segment} not archived within 60 s"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def store(boxes):
    return start_object_store(boxes, "bk-store")


@pytest.fixture(scope="module")
def site(boxes, store):
    """The app box converged with backups to the store; `.pillar`, `.first`."""
    box = boxes.start("bk-app")
    box.pillar = pillar(store)
    box.first = first_converge(box, box.pillar)
    return box


def test_a_dry_run_on_the_fresh_box_foresaw_the_first_apply_and_its_backups(site):
    assert not site.dry_problems, "\n".join(site.dry_problems)
    for state_id in (
        "backup-repository-holds-this-clusters-stanza",
        "backup-database-has-a-full-backup",
        "backup-media-repository-holds-a-snapshot",
    ):
        assert site.dry.by_id[state_id]["result"] is None, site.dry.by_id[state_id]


def test_the_first_apply_backs_up_to_the_store_encrypted_and_status_is_green(site, store, request):
    full = [b for b in info(site)["backup"] if b["type"] == "full"]
    assert len(full) == 1, "the first apply takes a full backup"
    rc, status = salt_json(site, "backup.status")
    assert rc == 0 and status["ok"], status
    assert {c["check"] for c in status["checks"]} == {"full", "backup", "wal", "media"}
    timers = site.exec("systemctl list-timers 'webstack-backup-*' --no-legend --all").stdout
    for kind in ("full", "diff", "media", "status"):
        assert f"webstack-backup-{kind}.timer" in timers
    # What reached the store: pgBackRest's files and restic's, none readable.
    db_keys, media_keys = store.objects(f"{NAME}/db/"), store.objects(f"{NAME}/media/")
    assert f"{NAME}/db/backup/{NAME}/backup.info" in db_keys and f"{NAME}/media/config" in media_keys
    backup_info = store.fetch(f"{NAME}/db/backup/{NAME}/backup.info")
    assert backup_info.startswith(b"Salted__") and b"[backrest]" not in backup_info
    wal = [k for k in db_keys if "/archive/" in k and k.endswith((".lz4", ".gz", ".zst"))]
    assert wal and store.fetch(wal[0]).startswith(b"Salted__")
    assert b"restic" not in store.fetch(f"{NAME}/media/config")
    report(
        request,
        f"first apply: 1 full backup, {len(db_keys)} database and {len(media_keys)} media objects, encrypted",
    )


def test_point_in_time_and_latest_restores_bring_back_exactly_the_committed_rows(boxes, site, request):
    visit(site, 20)  # batch A
    time.sleep(1.1)
    target = site.exec(["runuser", "-u", "postgres", "--", "psql", "-XAtc", "SELECT now()"]).stdout.strip()
    time.sleep(1.1)
    visit(site, 15)  # batch B
    counted = hits(site)
    archive_now(site)

    # A new box given the same pillar: its converge refuses to archive into
    # the stanza of another cluster and names the restore; after it, the
    # counter is the one the old box committed, and a converge is clean.
    fresh = boxes.start("bk-fresh")
    fresh_pillar = with_settings(site.pillar, roles=["db"])
    first = fresh.apply(fresh_pillar)
    failed = {sid: why for sid, why in first.failed if not why.startswith("One or more requisite failed")}
    assert list(failed) == ["backup-repository-holds-this-clusters-stanza"], first.explain()
    assert "backs up another cluster" in failed["backup-repository-holds-this-clusters-stanza"]
    assert "salt-call backup.restore_db" in failed["backup-repository-holds-this-clusters-stanza"]
    t0 = time.monotonic()
    salt_json(fresh, "backup.restore_db")
    latest_s = time.monotonic() - t0
    assert hits(fresh) == counted
    again = fresh.apply(fresh_pillar)
    assert again.ok, again.explain()
    # It must not archive beside the old box from here on.
    fresh.remove()
    boxes.started.remove(fresh)

    # The table dropped by mistake: back to the moment before batch B.
    site.exec(["runuser", "-u", "postgres", "--", "psql", "-d", NAME, "-XAtc", "DROP TABLE counter_counter"])
    t0 = time.monotonic()
    _, done = salt_json(site, "backup.restore_db", f"target_time={target}")
    pitr_s = time.monotonic() - t0
    assert hits(site) == counted - 15
    assert f"{NAME}-gunicorn" in done["programs_restarted"]
    assert site.exec(f"{CURL} -o /dev/null -w '%{{http_code}}' {SITE}/health/").stdout == "200"
    report(
        request,
        f"restore to latest on a fresh box: {counted} of {counted} visits, {latest_s:.1f} s;"
        f" to {target}: {counted - 15} (batch B and the drop undone), {pitr_s:.1f} s",
    )


def test_media_files_come_back_byte_identical_and_nginx_serves_them(site, request):
    files = {f"bk-{n}.bin": n * 40000 + 7 for n in (1, 2, 3)}
    uploaded = {}
    for name, size in files.items():
        site.exec(f"head -c {size} /dev/urandom > /tmp/{name}")
        out = site.exec(f"{CURL} -F file=@/tmp/{name} {SITE}/uploads/").stdout
        answer = json.loads(out)
        assert answer["sha256"] == site.exec(["sha256sum", f"/tmp/{name}"]).stdout.split()[0]
        uploaded[answer["url"]] = answer["sha256"]
    salt_json(site, "backup.run", "media")
    media = "/srv/shop/shared/media"
    site.exec(f"rm -f {media}/uploads/bk-*.bin")
    for url in uploaded:
        assert site.exec(f"{CURL} -o /dev/null -w '%{{http_code}}' {SITE}{url}").stdout == "404"
    _, done = salt_json(site, "backup.restore_media")
    for url, digest in uploaded.items():
        path = media + url.removeprefix("/media")
        assert site.exec(["sha256sum", path]).stdout.split()[0] == digest
        served = site.exec(f"{CURL} {SITE}{url} | sha256sum").stdout.split()[0]
        assert served == digest, f"{url}: nginx serves other bytes"
    report(
        request, f"{len(uploaded)} uploads restored byte-identical in {done['seconds']} s, served by nginx"
    )


def test_a_store_outage_under_writes_loses_nothing_and_archiving_catches_up(site, store, request):
    site.exec("rm -f /tmp/visits.stop /tmp/visits.log")
    loop = f"while [ ! -e /tmp/visits.stop ]; do {CURL} -o /dev/null -w '%{{http_code}}\\n' {SITE}/; done"
    site.exec(f"nohup sh -c {shlex.quote(loop)} >> /tmp/visits.log 2>&1 &")
    pool = concurrent.futures.ThreadPoolExecutor(1)
    store.pause()
    try:
        # An apply meanwhile fails saying why; the site serves on; WAL
        # segments finished meanwhile wait (each archive_timeout at most).
        during = pool.submit(site.apply, site.pillar, "backup")
        paused, waiting, segments = time.monotonic(), 0, set()
        while time.monotonic() - paused < 60:
            waiting = max(waiting, wal_waiting(site))
            segments.add(current_wal(site))
            time.sleep(5)
        health = site.exec(f"{CURL} -o /dev/null -w '%{{http_code}}' {SITE}/health/").stdout
    finally:
        store.resume()
        back = time.monotonic()
        pool.shutdown()
    result = during.result()
    assert health == "200"
    failed = dict(result.failed)
    assert "backup-repository-holds-this-clusters-stanza" in failed, result.explain()
    assert "is the store reachable?" in failed["backup-repository-holds-this-clusters-stanza"]
    # After the restores above too: a promoted cluster keeps switching WAL.
    assert len(segments) >= 3 and waiting >= 2, f"WAL files during the outage: {sorted(segments)}"

    deadline = back + ARCHIVE_TIMEOUT + 60
    while wal_waiting(site):
        assert time.monotonic() < deadline, f"{wal_waiting(site)} WAL segments still waiting"
        time.sleep(1)
    caught_up = time.monotonic() - back
    site.exec("touch /tmp/visits.stop; sleep 1")
    codes = site.exec("cat /tmp/visits.log").stdout.split()
    rc, status = salt_json(site, "backup.status", check=False)
    assert rc == 0 and status["ok"], status
    counted = hits(site)
    salt_json(site, "backup.restore_db")
    assert hits(site) == counted, "a committed visit is missing after the restore"
    report(
        request,
        f"store paused 60 s under {len(codes)} visits ({codes.count('200')} answered 200): {waiting} WAL"
        f" segments waited, all archived {caught_up:.1f} s after it came back; restore to latest kept"
        f" {counted} of {counted}",
    )


def test_status_turns_red_when_the_newest_backup_is_too_old_and_green_after_one(site, request):
    strict = with_settings(site.pillar, backup={"status": {"max_age": {"backup": "15s"}}})
    site.write_pillar(strict)
    try:
        newest = max(b["timestamp"]["stop"] for b in info(site)["backup"])
        time.sleep(max(0, newest + 16 - time.time()))
        rc, red = salt_json(site, "backup.status", check=False)
        assert rc == 1 and not red["ok"], red
        assert [c["check"] for c in red["checks"] if not c["ok"]] == ["backup"]
        logged = site.exec("journalctl -t webstack-backup -p err --no-pager -o cat -n 1").stdout
        assert "backups FAILING" in logged and "backup LATE" in logged
        salt_json(site, "backup.run", "diff")
        rc, green = salt_json(site, "backup.status", check=False)
        assert rc == 0 and green["ok"], green
    finally:
        site.write_pillar(site.pillar)
    report(request, f"red (exit 1, syslog: {logged.strip()[:80]}...), green after a diff backup")


def test_retention_keeps_two_full_backups_and_check_and_verify_pass(site, request):
    for _ in range(2):
        salt_json(site, "backup.run", "full")
    full = [b["label"] for b in info(site)["backup"] if b["type"] == "full"]
    assert len(full) == 2, full
    assert pgbackrest(site, "check").rc == 0
    verify = pgbackrest(site, "verify", check=False)
    assert verify.rc == 0, verify.stdout + verify.stderr
    report(request, f"3 full backups taken, retention_full 2 kept {full}; check and verify pass")


def test_another_passphrase_for_the_stanza_is_refused_and_changes_nothing(site):
    kept = ["/etc/pgbackrest/pgbackrest.conf", "/etc/webstack/backup/passphrase"]
    before = site.exec(["sha256sum", *kept]).stdout
    result = site.apply(
        with_settings(site.pillar, backup={"passphrase": "another-passphrase-12345"}), "backup"
    )
    failed = dict(result.failed)
    comment = failed.get("backup-repository-holds-this-clusters-stanza", "")
    assert comment.startswith("webstack:backup:passphrase: the repository holds backups"), result.explain()
    media = failed.get("backup-media-repository-holds-a-snapshot", "")
    assert media.startswith("webstack:backup:passphrase: the media repository was made with another"), media
    assert site.exec(["sha256sum", *kept]).stdout == before
    assert "another-passphrase-12345" not in json.dumps(result.states)


def test_a_second_apply_changes_nothing_and_no_secret_shows_or_is_readable(site, store):
    again = assert_idempotent(site, site.pillar)
    secrets = [PASSPHRASE, store.secret]
    seen = "\n".join(
        [
            json.dumps(site.first.states),
            json.dumps(again.states),
            site.exec("journalctl -o export --no-pager | tr -d '\\000'").stdout,
            site.exec("find /var/log -path /var/log/journal -prune -o -type f -print0 | xargs -0 cat").stdout,
            site.exec("ps -eo args").stdout,
        ]
    )
    for secret in secrets:
        assert secret not in seen
    pattern = " ".join(f"-e {shlex.quote(s)}" for s in secrets)
    holders = site.exec(
        f"find / -xdev -type f -print0 2>/dev/null | xargs -0 grep -lF {pattern}", check=False
    )
    for path in holders.stdout.split():
        mode = site.exec(["stat", "-c", "%a", path]).stdout.strip()
        assert int(mode, 8) & 0o007 == 0, f"{path} ({mode}) holds a backup secret others may read"
