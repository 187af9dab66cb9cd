"""
The fleet through a salt-master (tools/harness/fleet.py, what `make fleet` runs):
balancer, web1, web2, worker, db (db, queue and cache) and replica (a hot
standby of db) converged with the fleet pillar (salt/pillar/fleet), peers
found through the mine. Then, as a visitor and as the boxes themselves see
it: the balancer spreads requests over both web hosts and keeps answering
with one stopped, unknown Hosts get nothing, the data ports answer the app
hosts and not the balancer, PostgreSQL takes peers over TLS only, the replica
streams and serves the app's reads, a task queued on web1 runs on the
worker, and a second highstate changes nothing. Then the replica is promoted
under the app's writes, and the old primary stays fenced. The data tier (db
and its replica: streaming needs one PostgreSQL major) runs Debian 13, the
rest Debian 12: a fleet half-way through moving to the new release.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import ssl
import threading
import time
import uuid

import pytest
import yaml
from box_helpers import helper
from conftest import SESSION
from dry_run import footprint, problems, touched
from figures import report

from tools.harness.dockerbox import MOUNT, REPO, salt_image
from tools.harness.fleet import MASTER_DROPIN, Fleet, row

DOMAIN = yaml.safe_load((REPO / "salt/pillar/fleet/common.sls").read_text())["webstack"]["project"][
    "domains"
][0]


def reporter(config):
    """Print progress lines (per-minion results, timings) past pytest's capture."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    terminal = config.pluginmanager.get_plugin("terminalreporter")

    def log(line):
        with capture.global_and_fixture_disabled():
            terminal.write_line(f"[fleet] {line}")

    return log


@pytest.fixture(scope="module")
def fleet(request):
    log = reporter(request.config)
    f = Fleet(prefix=f"wsf-{SESSION}", images=dict.fromkeys(("db", "replica"), salt_image("trixie")))
    try:
        t0 = time.monotonic()
        f.up()
        log(f"master and {len(f.minions)} minions up, mine filled in {time.monotonic() - t0:.1f} s")
        # An operator's first step on a new fleet: `salt '*' state.apply
        # test=True` through the master, every minion still fresh.
        with concurrent.futures.ThreadPoolExecutor(len(f.minions)) as pool:
            before = dict(zip(f.minions, pool.map(lambda m: footprint(f.box(m)), f.minions), strict=True))
            f.dry = f.apply(test=True, on_return=lambda m, r: log(f"dry run: {row(m, r)}"))
            after = dict(zip(f.minions, pool.map(lambda m: footprint(f.box(m)), f.minions), strict=True))
        f.dry_touched = {m: touched(before[m], after[m]) for m in f.minions}
        results = f.converge(log=log, first=True)
        f.first = results
        log(f"converged in {time.monotonic() - t0:.1f} s")
        failed = {m: r.explain() for m, r in results.items() if not r.ok}
        assert not failed, "the fleet did not converge:\n" + "\n".join(failed.values())
        yield f
    finally:
        f.down()


def get(ip, path="/", host=DOMAIN, tls=True, timeout=10):
    """(status, body) of a request to `ip` with the Host header `host`."""
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        conn = http.client.HTTPSConnection(ip, 443, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(ip, 80, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def hits(box, marker):
    """Requests carrying `marker` in nginx's access log of `box`."""
    res = box.exec(["grep", "-c", marker, "/var/log/nginx/access.log"], check=False)
    return int(res.stdout.strip() or 0)


def probe(box, host, port):
    """From `box`: open, refused or timeout (dropped)."""
    return box.exec(["python3", helper("probe.py"), host, str(port), "3"]).stdout.strip()


def test_every_minion_converged(fleet):
    # The fixture asserts success; here: each ran a real highstate.
    ids = fleet.salt("*", "state.show_top")
    for minion, roles in fleet.minions.items():
        states = ids[minion]["base"]
        assert {"base", "users", "ssh", "firewall", "logging"} <= set(states), minion
        if "balancer" in roles:
            assert "balancer" in states
        if "web" in roles:
            assert {"app", "supervisor", "nginx"} <= set(states)


def test_a_dry_run_through_the_master_on_the_fresh_fleet_failed_nothing_touched_nothing_and_foresaw_all(
    fleet,
):
    # Every fleet role: the first converge ran in waves after it, the data
    # tier first; each minion's dry run still foresaw all its first run changed.
    found = [
        f"{m}: {line}"
        for m in fleet.minions
        for line in problems(fleet.dry[m], fleet.dry_touched[m], fleet.first[m])
    ]
    assert not found, "\n".join(found)
    assert all(fleet.first[m].changed for m in fleet.minions), "a minion was not fresh"


def test_the_master_lists_each_app_hosts_releases_and_their_audit_trails_name_the_job(fleet):
    listed = fleet.salt("*", "release.list")
    app_hosts = [m for m, roles in fleet.minions.items() if {"web", "worker"} & set(roles)]
    live = {m: [r for r in listed[m] if r["live"]] for m in app_hosts}
    assert all(len(r) == 1 for r in live.values()), listed
    # One commit live everywhere: `release.rollback to=<ref or commit>` names the same release on each.
    assert len({r[0]["id"] for r in live.values()}) == 1, live
    assert all(listed[m] == [] for m in fleet.minions if m not in app_hosts), listed
    for minion in app_hosts:
        trail = fleet.salt(minion, "audit.trail")[minion]
        deploys = [
            line for line in trail if f"deploy: /srv/demo: nothing -> {live[minion][0]['name']} " in line
        ]
        assert len(deploys) == 1 and "(job 2" in deploys[0], trail


def test_app_hosts_find_database_and_broker_through_the_mine(fleet):
    db = fleet.ip("db")
    for minion in ("web1", "web2", "worker"):
        urls = fleet.salt(minion, "webstack.settings")[minion]["urls"]
        assert f"@{db}:5432/" in urls["database"], urls
        assert f"@{db}:5672/" in urls["broker"], urls


def test_balancer_spreads_requests_over_both_web_hosts(fleet):
    marker = uuid.uuid4().hex
    for i in range(12):
        status, _ = get(fleet.ip("balancer"), f"/health/?probe={marker}-{i}")
        assert status == 200
    web1, web2 = hits(fleet.box("web1"), marker), hits(fleet.box("web2"), marker)
    assert web1 > 0 and web2 > 0 and web1 + web2 == 12, (web1, web2)


def test_balancer_serves_the_site_and_moves_http_to_https(fleet):
    status, body = get(fleet.ip("balancer"), "/")
    assert status == 200 and "webstack demo" in body
    status, _ = get(fleet.ip("balancer"), "/", tls=False)
    assert status == 301


@pytest.mark.parametrize("tls", [False, True])
def test_unknown_host_gets_the_connection_closed(fleet, tls):
    with pytest.raises(http.client.RemoteDisconnected):
        get(fleet.ip("balancer"), "/", host="unknown.example", tls=tls)


def test_websockets_echo_through_the_balancer_on_both_web_hosts(fleet, request):
    # The fleet's app is ASGI (salt/pillar/fleet/app.sls): haproxy (TLS) to
    # nginx to uvicorn's workers. The client runs on a peer: helpers/ws_client.py.
    marker, connections, messages = uuid.uuid4().hex, 4, 20
    client = ["python3", helper("ws_client.py"), fleet.ip("balancer"), "443", DOMAIN]
    for i in range(connections):
        path = f"/ws/echo/?probe={marker}-{i}"
        got = json.loads(fleet.box("worker").exec([*client, path, "--tls", "echo", str(messages)]).stdout)
        assert got["echoed"] == got["sent"] == messages, got
        assert got["close"] == {"code": 1000, "reason": ""}, got
    # nginx logs an upgraded request (101) once its tunnel closed.
    logged, deadline = f'{marker}-[0-9]* HTTP/1.1" 101 ', time.monotonic() + 10
    while sum(upgraded := [hits(fleet.box(web), logged) for web in ("web1", "web2")]) < connections:
        assert time.monotonic() < deadline, upgraded
        time.sleep(0.2)
    report(
        request,
        f"WebSockets through the balancer: {connections} x {messages} echoed, {upgraded} per web host",
    )
    assert all(upgraded) and sum(upgraded) == connections, upgraded


def test_web_hosts_take_http_from_the_balancer_only(fleet):
    assert probe(fleet.box("balancer"), "web1", 80) == "open"
    assert probe(fleet.box("worker"), "web1", 80) == "timeout"


@pytest.mark.parametrize("port", [5432, 5672], ids=["postgresql", "rabbitmq"])
def test_data_ports_answer_app_hosts_not_the_balancer(fleet, port):
    for minion in ("web1", "web2", "worker"):
        assert probe(fleet.box(minion), "db", port) == "open", minion
    assert probe(fleet.box("balancer"), "db", port) == "timeout"


def test_each_host_listens_beyond_loopback_only_on_the_ports_its_firewall_opens(fleet):
    # The firewall's plan (ufw.rules_for) against what really listens: a
    # service bound wider than its role says would be one ufw rule from open.
    seen = {}
    for minion in fleet.minions:
        rules = fleet.salt(minion, "ufw.rules_for")[minion]
        declared = set()
        for rule in rules:
            first, _, last = str(rule["port"]).partition(":")
            declared.update(range(int(first), int(last or first) + 1))
        sockets = [line.split()[3] for line in fleet.box(minion).exec(["ss", "-Hltn"]).stdout.splitlines()]
        wide = {int(s.rpartition(":")[2]) for s in sockets if not s.startswith(("127.", "[::1]"))}
        seen[minion] = (sorted(wide), sorted(declared))
    assert all(wide == declared for wide, declared in seen.values()), seen
    assert seen["db"][0] == [22, 5432, 5672, 6379, 11211] and seen["worker"][0] == [22], seen
    assert seen["replica"][0] == [22, 5432], seen


# -- the replica (fleet role db_replica) --------------------------------------------


def psql(box, sql, db="postgres", check=True):
    """One query as the postgres superuser on `box` (unaligned, tuples only)."""
    return box.exec(["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-d", db, "-c", sql], check=check)


def app_request(ip, method, path, cookie=None):
    """(status, headers, JSON body) of a request through the balancer's TLS."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection(ip, 443, timeout=10, context=ctx)
    try:
        conn.request(method, path, headers={"Host": DOMAIN, **({"Cookie": cookie} if cookie else {})})
        resp = conn.getresponse()
        return resp.status, resp.headers, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def test_the_replica_streams_from_the_primary_through_its_own_slot_over_tls(fleet):
    db, replica = fleet.box("db"), fleet.box("replica")
    slot = "webstack_" + fleet.ip("replica").replace(".", "_")
    replicas = psql(db, "SELECT application_name, state, sync_state FROM pg_stat_replication").stdout.split()
    # Synchronous (the fleet's pillar): a commit waits for ANY 1 replica.
    assert replicas == [f"{slot}|streaming|quorum"]
    assert psql(db, "SELECT slot_name, active FROM pg_replication_slots").stdout.split() == [f"{slot}|t"]
    ssl_used = "SELECT s.ssl, s.version FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)"
    assert psql(db, ssl_used).stdout.strip() in ("t|TLSv1.3", "t|TLSv1.2")
    assert (
        psql(replica, "SELECT slot_name, status FROM pg_stat_wal_receiver").stdout.strip()
        == f"{slot}|streaming"
    )
    # The operator's view, on each side.
    for minion in ("db", "replica"):
        status = fleet.salt(minion, "postgresql_replica.status")[minion]
        assert status["ok"] is True and status["problems"] == [], status
    assert fleet.salt("replica", "postgresql_replica.status")["replica"]["role"] == "standby"


def test_a_row_written_through_the_app_is_on_the_replica_within_a_second_and_it_refuses_writes(fleet):
    name = uuid.uuid4().hex[:20]
    status, _, body = app_request(fleet.ip("balancer"), "POST", f"/db/?name={name}")
    assert status == 200 and body["alias"] == "default" and body["hits"] == 1, body
    replica, t0 = fleet.box("replica"), time.monotonic()
    query = f"SELECT hits FROM counter_counter WHERE name = '{name}'"
    while psql(replica, query, db="demo").stdout.strip() != "1":
        assert time.monotonic() - t0 < 1, "the row was not on the replica within 1 s"
        time.sleep(0.02)
    write = psql(
        replica, f"UPDATE counter_counter SET hits = 2 WHERE name = '{name}'", db="demo", check=False
    )
    assert write.rc != 0 and "read-only transaction" in write.stderr, write


def test_the_apps_reads_go_to_the_replica_and_a_client_that_wrote_reads_from_the_primary(fleet):
    balancer, name = fleet.ip("balancer"), uuid.uuid4().hex[:20]
    status, _, read = app_request(balancer, "GET", f"/db/?name={name}")
    assert status == 200 and read["alias"].startswith("replica_"), read
    assert (read["in_recovery"], read["server"]) == (True, fleet.ip("replica")), read
    status, headers, wrote = app_request(balancer, "POST", f"/db/?name={name}")
    cookie = headers["Set-Cookie"].split(";")[0]
    assert status == 200 and cookie == "webstack_primary=1", headers
    # The writer's next read (the cookie): the primary, its own write there.
    _, _, own = app_request(balancer, "GET", f"/db/?name={name}", cookie=cookie)
    assert (own["alias"], own["in_recovery"], own["hits"]) == ("default", False, 1), own


def test_postgresql_takes_peers_over_tls_only_and_drops_other_boxes(fleet):
    for server in ("db", "replica"):
        # A plain-text StartupMessage from an app host finds no pg_hba line.
        answer = fleet.box("web1").exec(["python3", helper("pg_startup.py"), "demo", server]).stdout
        assert answer.startswith("E ") and "no encryption" in answer, (server, answer)
        assert probe(fleet.box("balancer"), server, 5432) == "timeout", server
    assert probe(fleet.box("worker"), "replica", 5432) == "open"


def test_task_queued_on_web1_runs_on_the_worker(fleet):
    web1 = fleet.box("web1")
    post = f"curl -sf -X POST -d n=12 -H 'Host: {DOMAIN}' http://127.0.0.1/tasks/"
    token = json.loads(web1.exec(post).stdout)["token"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        res = web1.exec(f"curl -s -H 'Host: {DOMAIN}' http://127.0.0.1/tasks/{token}/", check=False)
        answer = json.loads(res.stdout or "{}")
        if answer.get("status") == "done":
            assert answer == {"status": "done", "value": 144, "worker": "worker"}
            return
        time.sleep(1)
    pytest.fail(f"task {token} did not run within 60 s: {res.stdout}")


def test_second_highstate_changes_nothing_anywhere(fleet, request):
    log = reporter(request.config)
    again = fleet.apply(on_return=lambda m, r: log(f"again: {row(m, r)}"))
    changed = {m: r.explain() for m, r in again.items() if not r.ok or r.changed}
    assert not changed, "\n".join(changed.values())
    dry = fleet.apply(test=True)
    pending = {m: r.explain() for m, r in dry.items() if not r.ok or r.changed or r.pending}
    assert not pending, "test=True predicts changes:\n" + "\n".join(pending.values())


def test_promoting_the_replica_under_writes_and_the_old_primary_stays_fenced(fleet, request):
    """From here on the replica is the primary; db keeps the broker and the cache."""
    balancer, db, replica = fleet.ip("balancer"), fleet.box("db"), fleet.box("replica")
    unit = fleet.salt("db", "webstack.settings")["db"]["postgresql"]["service"]
    stop, acked, failed = threading.Event(), [], []

    def writes():
        n = 0
        while not stop.is_set():
            try:
                status, _, _ = app_request(balancer, "POST", f"/db/?name=promotion-{n}")
            except (OSError, ValueError, http.client.HTTPException) as exc:
                status = repr(exc)
            (acked if status == 200 else failed).append((time.monotonic(), n, status))
            n += 1
            time.sleep(0.1)

    loop = threading.Thread(target=writes, daemon=True)
    loop.start()
    time.sleep(3)
    assert acked and not failed, failed
    # The primary crashes; the documented command, on the master.
    t_stop = time.monotonic()
    db.exec(["systemctl", "kill", "--signal=SIGKILL", unit])
    orchestrate = ["salt-run", "state.orchestrate", "postgresql.promote", 'pillar={"replica": "replica"}']
    ran = fleet.master.exec(orchestrate, check=False)
    t_done = time.monotonic()
    deadline = t_done + 60
    while not any(t > t_done for t, _, _ in acked) and time.monotonic() < deadline:
        time.sleep(0.5)
    stop.set()
    loop.join(15)
    assert ran.rc == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    # Writes are back once one succeeds after the last that failed.
    last_failed = max((t for t, _, _ in failed if t > t_stop), default=t_stop)
    back = min((t for t, _, _ in acked if t > last_failed), default=None)
    assert back is not None, "no write succeeded after the promotion"
    report(
        request,
        f"promotion: the orchestration took {t_done - t_stop:.1f} s; writes failed for {back - t_stop:.1f} s"
        f" ({sum(1 for t, _, _ in failed if t > t_stop)} failed, {len(acked)} acknowledged)",
    )
    # The replica is the primary now, with every row acknowledged to the app
    # (synchronous replication), before the crash and after the promotion.
    assert psql(replica, "SELECT pg_is_in_recovery()").stdout.strip() == "f"
    kept = psql(replica, "SELECT name FROM counter_counter WHERE name LIKE 'promotion-%'", db="demo")
    lost = {f"promotion-{n}" for _, n, _ in acked} - set(kept.stdout.split())
    assert not lost, f"{len(lost)} acknowledged writes lost: {sorted(lost)[:10]}"
    report(request, f"synchronous replication: 0 of {len(acked)} acknowledged writes lost with the primary")
    assert fleet.salt("replica", "grains.get", "roles")["replica"] == ["db"]
    # Alone now, it says its commits wait for no replica.
    alone = fleet.salt("replica", "postgresql_replica.status")["replica"]
    assert alone["problems"] == [
        "synchronous replication is on, but there is no replica: commits wait for none"
    ]
    # The old primary, started again, refuses to come back as a second primary.
    start = db.exec(["systemctl", "start", unit], check=False)
    assert start.rc != 0, start
    assert db.exec("pg_isready -q", check=False).rc != 0
    journal = db.exec("journalctl --no-pager -n 50 -t webstack-replication").stdout
    assert "fenced: " in journal and "was promoted" in journal, journal


def test_site_answers_with_one_web_host_stopped(fleet):
    fleet.box("web1").container.stop(timeout=10)
    marker = uuid.uuid4().hex
    # haproxy retries a request on the other host at once; the health checks
    # take web1 out within a few seconds.
    for i in range(10):
        status, _ = get(fleet.ip("balancer"), f"/health/?probe={marker}-{i}", timeout=20)
        assert status == 200
    assert hits(fleet.box("web2"), marker) == 10


def test_a_bad_pillar_on_the_master_is_refused_by_its_minion_in_a_few_lines(fleet, request):
    """Last of the module: from here on the master serves a broken copy of the fleet's pillar."""
    master, bad = fleet.master, "/srv/fleet-pillar-broken"
    master.exec(f"rm -rf {bad} && cp -r {MOUNT}/salt/pillar/fleet {bad}")
    master.exec(["sed", "-i", "s/^    name: demo$/    name: Demo!/", f"{bad}/common.sls"])
    master.put_file("/etc/salt/master.d/fleet.conf", MASTER_DROPIN.replace(f"{MOUNT}/salt/pillar/fleet", bad))
    master.exec("systemctl restart salt-master")
    # The worker (web1 was stopped by the test before).
    deadline = time.monotonic() + 120
    while fleet.salt("worker", "test.ping", timeout=5, check=False).get("worker") is not True:
        assert time.monotonic() < deadline, "the worker did not come back to the restarted master"
        time.sleep(1)
    fleet.salt("worker", "saltutil.refresh_pillar")
    # As an operator runs it: the salt CLI's own output (the master's highstate
    # outputter, _output/highstate.py), for the highstate and for one state. The
    # minion refused before compiling anything: no state ran, so none changed.
    for args in (["state.apply"], ["state.apply", "supervisor"]):
        res = master.exec(["salt", "worker", *args], check=False)
        seen = (res.stdout + res.stderr).splitlines()
        text = "\n".join(seen)
        report(
            request,
            f"a bad pillar through the master ({' '.join(args)}): {len(seen)} lines, rc {res.rc}:\n{text}",
        )
        assert res.rc != 0 and len(seen) == 2, text
        assert seen[0].startswith("worker: webstack:project:name: 'Demo!' is not a user name ("), text
        assert seen[1] == "ERROR: Minions returned with non-zero exit code", text
