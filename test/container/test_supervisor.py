"""
The supervisor role: the app's programs under supervisord, as the project
user, output to syslog; killed processes come back within seconds; config
changes restart just the program they concern; a second apply restarts
nothing. The app here runs on SQLite with no broker (env override): this
module is about the processes, test_app.py about the app with its data tier.
"""

import time

import pytest
from app_helpers import http, install_client, make_repo, pid, status, wait_http, wait_new_pid
from conftest import converge, converged_to, load_pillar, with_settings

STATES = "app,supervisor"


@pytest.fixture(scope="module")
def pillar():
    return with_settings(
        load_pillar("app"),
        roles=["web", "worker"],
        app={"env": {"DATABASE_URL": "sqlite:////srv/shop/shared/db.sqlite3"}},
        supervisor={"gunicorn": {"workers": None}},
    )


@pytest.fixture(scope="module")
def box(boxes, pillar):
    box = boxes.start("sv")
    install_client(box)
    prep = box.apply(pillar, "app.install")
    assert prep.ok, prep.explain()
    make_repo(box)
    result = converge(box, pillar, STATES)
    print(f"\nconverge {STATES}: {result.summary()}")
    return box


def user_of(box, process_id):
    return box.exec(["ps", "-o", "user=", "-p", str(process_id)]).stdout.strip()


def test_programs_run_as_the_project_user(box):
    assert status(box)["shop-gunicorn"][0] == "RUNNING"
    assert status(box)["shop-celery"][0] == "RUNNING"
    assert user_of(box, pid(box, "shop-gunicorn")) == "shop"
    assert user_of(box, pid(box, "shop-celery")) == "shop"
    assert "shop-celerybeat" not in status(box)  # beat is off unless asked


def test_gunicorn_workers_default_to_twice_the_cpus_plus_one(box):
    cpus = int(box.exec("nproc").stdout)
    workers = box.exec(["pgrep", "-P", str(pid(box, "shop-gunicorn"))]).stdout.split()
    assert len(workers) == 2 * cpus + 1


def test_only_nginx_and_the_app_reach_the_socket(box):
    assert box.exec(["stat", "-c", "%a %U:%G", "/run/shop"]).stdout.split() == ["750", "shop:www-data"]
    assert http(box, "/health/", user="www-data")[0] == 200
    status_, body = http(box, "/health/", user="nobody")
    assert status_ is None and "PermissionError" in body


def test_output_goes_to_syslog_not_to_files(box):
    http(box, "/no-such-page/")
    logged = box.exec(
        "journalctl --no-pager -o cat SYSLOG_IDENTIFIER=supervisord | grep -c '^shop-gunicorn '"
    )
    assert int(logged.stdout) > 0
    assert box.exec("ls /var/log/supervisor/ | grep -c shop-", check=False).stdout.strip() == "0"


@pytest.mark.parametrize("program", ["shop-gunicorn", "shop-celery"])
def test_a_killed_process_is_back_within_5_seconds(box, program):
    old = pid(box, program)
    box.exec(["kill", "-9", str(old)])
    seconds, new = wait_new_pid(box, program, old)
    if program == "shop-gunicorn":
        seconds += wait_http(box, "/health/", timeout=10)
    print(f"\n{program}: back after kill -9 in {seconds:.2f} s")
    assert seconds < 5


def test_second_apply_restarts_nothing(box, pillar, idempotent):
    converged_to(box, pillar, STATES)
    before = {p: pid(box, p) for p in ("shop-gunicorn", "shop-celery")}
    idempotent(box, pillar, STATES)
    assert {p: pid(box, p) for p in before} == before


def test_a_changed_program_config_restarts_only_that_program(box, pillar):
    converged_to(box, pillar, STATES)  # concurrency 1
    gunicorn, celery = pid(box, "shop-gunicorn"), pid(box, "shop-celery")
    result = converge(box, with_settings(pillar, supervisor={"celery": {"concurrency": 2}}), STATES)
    assert result.by_id["supervisor-runs-celery"]["changes"] == {"config": "changed"}
    assert pid(box, "shop-celery") != celery
    assert pid(box, "shop-gunicorn") == gunicorn
    workers = box.exec(["pgrep", "-P", str(pid(box, "shop-celery"))]).stdout.split()
    assert len(workers) == 2


def test_beat_runs_only_where_asked(box, pillar):
    beat = with_settings(pillar, supervisor={"celery": {"beat": True}})
    converge(box, beat, STATES)
    assert status(box)["shop-celerybeat"][0] == "RUNNING"
    converge(box, pillar, STATES)
    assert "shop-celerybeat" not in status(box)
    assert not box.exec(["test", "-e", "/etc/supervisor/conf.d/shop-celerybeat.conf"], check=False).ok


def test_a_web_only_box_runs_no_celery_worker(box, pillar):
    converge(box, with_settings(pillar, roles=["web"]), STATES)
    assert "shop-celery" not in status(box) and "shop-gunicorn" in status(box)
    converge(box, pillar, STATES)
    assert status(box)["shop-celery"][0] == "RUNNING"


def test_the_app_serves_again_after_a_reboot(box):
    t0 = time.monotonic()
    box.restart()
    wait_http(box, "/health/", timeout=60)
    print(f"\nreboot to serving: {time.monotonic() - t0:.1f} s")
    assert box.exec(["stat", "-c", "%a %U:%G", "/run/shop"]).stdout.split() == ["750", "shop:www-data"]
