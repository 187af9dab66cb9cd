"""
The whole single-box stack (the demo pillar: web, worker, db, queue, cache on
one box, highstate), seen from outside as a visitor and an operator would:
pages through nginx with their database round trip, Celery tasks through
RabbitMQ, unknown hosts refused, logs shipped over TLS, a worker killed with
tasks in flight losing none, and a reboot serving again within 30 s.

One box per Debian suite (conftest's `stacks`: Debian 12 and 13), each
with its logs going to a receiver box; every check runs on both. The
destructive tests (kill, restart) come last and leave the box as they found
it. What the data-tier tests check on a box of their own
(test_postgresql.py: listed peers only, SCRAM; test_rabbitmq.py: guest gone,
vhost-only user) is checked again here where it can differ: with every role
and the firewall on the same box.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import ssl
import time
import uuid

import pytest
from app_helpers import pid, status, wait_new_pid
from box_helpers import helper
from site_client import DOMAIN, fetch, pin

from tools.harness.dockerbox import SUITES, TEST_PILLAR_ROOT

NAME = "demo"
WORKER = f"{NAME}-celery"
TASKS = 20
SERVICES = ("nginx", "supervisor", "rabbitmq-server", "redis-server", "memcached", "rsyslog")


# -- HTTP from the test host to nginx on the box --------------------------------


def hits(page: str) -> int:
    return int(re.search(r'id="hits">(\d+)<', page).group(1))


def queue_task(box, n: int) -> str:
    status_, body = fetch(box, "/tasks/", data={"n": n})
    assert status_ == 202, body
    return json.loads(body)["token"]


def wait_results(box, tokens: dict, timeout: float = 60) -> dict:
    """{token: result} once every token's task wrote its row (read back through nginx and the app)."""
    done, deadline = {}, time.monotonic() + timeout
    while len(done) < len(tokens):
        for token in tokens.keys() - done.keys():
            status_, body = fetch(box, f"/tasks/{token}/")
            if status_ == 200:
                done[token] = json.loads(body)
        if len(done) < len(tokens):
            assert time.monotonic() < deadline, f"{len(tokens) - len(done)} of {len(tokens)} tasks never ran"
            time.sleep(0.5)
    return done


def wait_serving(box, timeout: float) -> float:
    """Seconds until /health/ answers 200 through nginx (polling; failures until then are expected)."""
    t0, last = time.monotonic(), None
    while time.monotonic() - t0 < timeout:
        try:
            status_, body = fetch(box, "/health/", timeout=2)
            if status_ == 200:
                return time.monotonic() - t0
            last = f"{status_} {body[:200]}"
        except (OSError, http.client.HTTPException) as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise AssertionError(f"not serving after {timeout} s: {last}")


# -- on the box -------------------------------------------------------------------


def sql(box, query: str, db: str = NAME) -> str:
    """SQL as the postgres superuser over the local socket."""
    return box.exec(["runuser", "-u", "postgres", "--", "psql", "-d", db, "-XAtc", query]).stdout.strip()


def queue_depth(box) -> tuple[int, int]:
    """(ready, unacknowledged) messages in Celery's queue on the app's vhost."""
    out = box.exec(
        ["rabbitmqctl", "-q", "list_queues", "-p", NAME, "name", "messages_ready", "messages_unacknowledged"]
    )
    for line in out.stdout.splitlines():
        words = line.split()
        if words and words[0] == "celery":
            return int(words[1]), int(words[2])
    raise AssertionError(f"no celery queue on vhost {NAME}:\n{out.stdout}")


def boot_services(box) -> set:
    """The running services that start at boot (not those started on demand, like timedated)."""
    out = box.exec(
        "systemctl list-units --type=service --state=running --no-legend --plain | cut -d' ' -f1"
        ' | while read -r unit; do echo "$unit $(systemctl is-enabled "$unit")"; done'
    ).stdout
    return {line.split()[0] for line in out.splitlines() if line.split()[1].startswith("enabled")}


def stack_services(box) -> set:
    """The stack's units; PostgreSQL's names the release's major (the derived settings say which)."""
    out = box.salt_call("--out=json", "webstack.settings", pillar_root=TEST_PILLAR_ROOT, check=True).stdout
    return {f"{unit}.service" for unit in SERVICES + (json.loads(out)["local"]["postgresql"]["service"],)}


@pytest.fixture(scope="module", params=SUITES)
def box(request, stacks):
    return pin(stacks(request.param))


# -- serving ----------------------------------------------------------------------


def test_a_page_through_nginx_counts_the_visit_in_the_database(box):
    status_, first = fetch(box)
    assert status_ == 200, first
    status_, second = fetch(box, host=f"www.{DOMAIN}")
    assert status_ == 200, second
    assert hits(second) == hits(first) + 1
    # Its stylesheet, from disk (collectstatic), through the same server.
    css = re.search(r'href="(/static/[^"]+\.css)"', second).group(1)
    status_, _ = fetch(box, css)
    assert status_ == 200
    status_, body = fetch(box, "/health/")
    assert status_ == 200 and json.loads(body)["status"] == "ok", body


def test_http_redirects_to_https(box):
    conn = http.client.HTTPConnection(box.address, 80, timeout=10)
    try:
        conn.request("GET", "/health/?x=1", headers={"Host": DOMAIN})
        res = conn.getresponse()
        assert res.status == 301
        assert res.getheader("Location") == f"https://{DOMAIN}/health/?x=1"
    finally:
        conn.close()


@pytest.mark.parametrize(
    "port, sni",
    [(80, None), (443, DOMAIN), (443, "unknown.example")],
    ids=["http", "https-site-sni", "https-unknown-sni"],
)
def test_an_unknown_host_gets_the_connection_closed_without_an_answer(box, port, sni):
    with pytest.raises((http.client.RemoteDisconnected, ssl.SSLError)) as caught:
        fetch(box, "/", host="unknown.example", port=port, sni=sni)
    if sni == "unknown.example":
        # No certificate for a name the box doesn't serve: the handshake fails.
        assert "UNRECOGNIZED_NAME" in str(caught.value)
    else:
        assert isinstance(caught.value, http.client.RemoteDisconnected)


# -- the worker ---------------------------------------------------------------


def test_a_task_queued_by_the_app_runs_on_the_worker_through_rabbitmq(box):
    env = box.exec(["cat", f"/srv/{NAME}/env"]).stdout
    assert re.search(rf"^CELERY_BROKER_URL='?amqp://{NAME}:[^@]+@127\.0\.0\.1:5672/{NAME}'?$", env, re.M)
    token = queue_task(box, 12)
    result = wait_results(box, {token: 12}, timeout=30)[token]
    assert result == {"status": "done", "value": 144, "worker": box.hostname}
    # The listing reads the same rows back.
    status_, body = fetch(box, "/tasks/")
    assert status_ == 200 and token in body
    consumers = box.exec(["rabbitmqctl", "-q", "list_consumers", "-p", NAME]).stdout
    assert re.search(r"^celery\s", consumers, re.M), consumers


# -- logs -------------------------------------------------------------------------


def test_syslog_gunicorn_and_nginx_lines_arrive_at_the_receiver_over_tls(box):
    receiver, marker, host = box.receiver, f"probe-{uuid.uuid4().hex[:10]}", box.hostname
    box.exec(["logger", "--tag", "probe", marker])
    status_, _ = fetch(box, f"/{marker}/")
    assert status_ == 404
    receiver.wait_for(rf" {host} probe .*{marker}", timeout=30)
    # The app's stderr (Django's log) through supervisord to syslog.
    receiver.wait_for(rf" {host} supervisord .*{NAME}-gunicorn Not Found: /{marker}/", timeout=30)
    # nginx's access log, followed from its file.
    receiver.wait_for(rf" {host} nginx-access .*\"GET /{marker}/ HTTP/[\d.]+\" 404 ", timeout=30)
    # Gunicorn's own lines, from its start during the converge.
    receiver.wait_for(rf" {host} supervisord .*{NAME}-gunicorn .*Listening at: unix:/run/{NAME}/", timeout=5)
    handshakes = [e for e in receiver.events() if f" handshake {box.address} TLSv1." in e]
    assert handshakes, receiver.events()


# -- the data tier with everything else on the box ----------------------------


def test_postgresql_refuses_other_addresses_and_wrong_passwords(box, boxes):
    # A StartupMessage from 127.0.0.2: loopback, but not the address the server trusts.
    answer = box.exec(["python3", helper("pg_startup.py"), NAME]).stdout
    assert answer.startswith("E ") and 'no pg_hba.conf entry for host "127.0.0.2"' in answer, answer
    wrong = box.exec(
        ["psql", f"host=127.0.0.1 user={NAME} dbname={NAME}", "-XAtc", "SELECT 1"],
        check=False,
        user="nobody",
        env={"PGPASSWORD": "not-the-password", "PGCONNECT_TIMEOUT": "5"},
    )
    assert wrong.rc != 0 and "password authentication failed" in wrong.stderr, wrong.stderr
    # Another box on the network gets no connection at all (loopback only, and the firewall).
    probe = box.receiver.box.exec(
        ["python3", "-c", f"import socket; socket.create_connection(('{box.address}', 5432), 3)"], check=False
    )
    assert probe.rc != 0 and ("TimeoutError" in probe.stderr or "ConnectionRefused" in probe.stderr)


def test_rabbitmq_has_no_guest_and_the_app_user_only_its_vhost(box):
    users = box.exec(["rabbitmqctl", "-q", "list_users"]).stdout.splitlines()
    assert [line.split()[0] for line in users if line and not line.startswith("user")] == [NAME], users
    # An AMQP login with the app's own client library (the release's venv).
    login = [f"/srv/{NAME}/current/.venv/bin/python", helper("amqp_login.py")]
    guest = box.exec([*login, "guest", "guest", "/"]).stdout.strip()
    assert guest == "refused AccessRefused", guest
    password = box.pillar["webstack"]["rabbitmq"]["password"]
    assert box.exec([*login, NAME, password, NAME]).stdout.strip() == "connected"
    assert box.exec([*login, NAME, password, "/"]).stdout.strip() == "refused NotAllowed"


# -- idempotence ----------------------------------------------------------------


def test_every_service_is_enabled_and_running(box):
    for unit in sorted(stack_services(box) | {"ssh.service", "ufw.service"}):
        service = box.host.service(unit)
        assert service.is_enabled and service.is_running, unit


def test_only_nginx_and_ssh_listen_beyond_loopback(box):
    public = {("tcp", port) for port in (22, 80, 443)}
    loopback_only = {5432, 5672, 6379, 11211, 25672, 4369}
    for spec in box.host.socket.get_listening_sockets():
        if spec.startswith("unix://"):
            continue
        proto, address = spec.split("://")
        host, _, port = address.rpartition(":")
        if ipaddress.ip_address(host.strip("[]")).is_loopback:  # 127.0.0.11: docker's DNS
            continue
        assert (proto, int(port)) in public, f"{spec} listens beyond loopback"
        assert int(port) not in loopback_only
    for port in (80, 443, 22):
        assert box.host.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_the_dry_run_on_the_fresh_box_failed_nothing_touched_nothing_and_foresaw_every_change(box):
    # The demo pillar, as a new user tries it first (conftest's stacks).
    assert not box.dry_problems, "\n".join(box.dry_problems) + "\n" + box.dry.explain()
    assert box.first.changed, "the box was not fresh: its first converge changed nothing"


def test_a_second_apply_of_the_stack_changes_nothing(box, idempotent):
    before = {p: pid(box, p) for p in (f"{NAME}-gunicorn", WORKER, f"{NAME}-celerybeat")}
    again = idempotent(box, box.pillar)
    print(f"\nstack re-apply: {again.summary()}")
    assert {p: pid(box, p) for p in before} == before


# -- destructive, last -----------------------------------------------------------


def test_a_killed_worker_loses_none_of_the_queued_tasks(box):
    # The tasks' table is locked while they are queued: each task the worker
    # takes blocks writing its row, so the kill catches tasks mid-run.
    holder = "BEGIN; LOCK TABLE counter_taskresult IN EXCLUSIVE MODE; SELECT pg_sleep(300)"
    box.exec(f"nohup runuser -u postgres -- psql -d {NAME} -XAtc '{holder}' >/dev/null 2>&1 &")
    release = f"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = '{holder}'"
    try:
        deadline = time.monotonic() + 10
        while (
            sql(
                box,
                "SELECT count(*) FROM pg_locks WHERE relation = 'counter_taskresult'::regclass "
                "AND mode = 'ExclusiveLock' AND granted",
            )
            != "1"
        ):
            assert time.monotonic() < deadline, "the lock was not taken"
            time.sleep(0.2)
        tokens = {queue_task(box, n): n for n in range(TASKS)}
        deadline = time.monotonic() + 30
        while (
            int(
                sql(
                    box,
                    f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{NAME}' "
                    "AND wait_event_type = 'Lock'",
                )
            )
            == 0
        ):
            assert time.monotonic() < deadline, "no task started"
            time.sleep(0.2)
        ready, unacked = queue_depth(box)
        assert unacked > 0 and ready + unacked == TASKS, (ready, unacked)
        old = pid(box, WORKER)
        box.exec(["kill", "-9", str(old)])
        seconds, _ = wait_new_pid(box, WORKER, old)
        print(f"\n{WORKER} back after kill -9 in {seconds:.1f} s, {unacked} tasks were running")
    finally:
        sql(box, release)
    results = wait_results(box, tokens, timeout=60)
    assert {token: r["value"] for token, r in results.items()} == {t: n * n for t, n in tokens.items()}
    assert queue_depth(box) == (0, 0)


def test_after_a_restart_everything_serves_again_within_30_seconds(box):
    services, wanted = boot_services(box), stack_services(box)
    assert wanted <= services, wanted - services
    t0 = time.monotonic()
    box.restart()
    pin(box)
    seconds = time.monotonic() - t0 + wait_serving(box, timeout=60)
    print(f"\nrestart to serving through nginx: {seconds:.1f} s")
    assert seconds < 30
    # Every service that ran before runs again, and the app's programs too.
    deadline = time.monotonic() + 30
    while services - boot_services(box) or {s for s, _ in status(box).values()} != {"RUNNING"}:
        assert time.monotonic() < deadline, (services - boot_services(box), status(box))
        time.sleep(0.5)
    assert box.exec("systemctl --failed --no-legend --plain").stdout.strip() == ""
    assert box.exec(["ufw", "status"]).stdout.startswith("Status: active")
    # The whole path again: a page, a task, a log line.
    status_, page = fetch(box)
    assert status_ == 200 and hits(page) > 0
    token = queue_task(box, 5)
    assert wait_results(box, {token: 5}, timeout=30)[token]["value"] == 25
    marker = f"probe-{uuid.uuid4().hex[:10]}"
    box.exec(["logger", "--tag", "probe", marker])
    box.receiver.wait_for(marker, timeout=30)
    # Nothing a reboot undid: the converged state still holds.
    again = box.apply(box.pillar)
    assert again.ok and not again.changed, again.explain()
