"""
The app role, converged with the data tier (PostgreSQL, RabbitMQ) and
supervisor on one box, serving the example Django app from a git repository
inside the box: pages with a database round trip, a Celery task, releases
deployed without a failed request, broken releases kept off the live site.
"""

import json
import time

import pytest
from app_helpers import (
    commit,
    http,
    install_client,
    live_release,
    make_repo,
    pid,
    releases,
    start_loop,
    stop_loop,
)
from conftest import load_pillar, with_settings

STATES = "postgresql,rabbitmq,app,supervisor"
ROOT = "/srv/shop"


@pytest.fixture(scope="module")
def pillar():
    return load_pillar("app")


@pytest.fixture(scope="module")
def box(boxes, pillar):
    box = boxes.start("app")
    install_client(box)
    # git for the test's repository: the role's own package state.
    prep = box.apply(pillar, "app.install")
    assert prep.ok, prep.explain()
    make_repo(box)
    t0 = time.monotonic()
    box.first = box.apply(pillar, STATES)
    assert box.first.ok, box.first.explain()
    print(f"\nconverge {STATES}: {time.monotonic() - t0:.1f} s, {box.first.summary()}")
    return box


def secrets_of(pillar):
    ws = pillar["webstack"]
    return [*ws["app"]["secrets"].values(), ws["postgresql"]["password"], ws["rabbitmq"]["password"]]


def test_page_counts_visits_in_the_database(box):
    status, first = http(box, "/")
    assert status == 200, first
    status, second = http(box, "/")
    hits = [int(page.split('id="hits">')[1].split("<")[0]) for page in (first, second)]
    assert hits[1] == hits[0] + 1
    # collectstatic put the hashed stylesheet the page links where nginx serves it.
    css = second.split('href="/static/')[1].split('"')[0]
    assert box.exec(["test", "-s", f"{ROOT}/shared/static/{css}"]).ok
    assert box.exec(["readlink", "-f", f"{ROOT}/current"]).stdout.startswith(f"{ROOT}/releases/")


def test_health_answers_200_with_the_database(box):
    status, body = http(box, "/health/")
    assert status == 200 and json.loads(body)["status"] == "ok", body
    assert "postgresql://" in box.exec(["grep", "^DATABASE_URL=", f"{ROOT}/env"]).stdout


def test_a_task_queued_by_the_app_runs_on_the_worker(box):
    status, body = http(box, "/tasks/", post="n=9")
    assert status == 202, body
    token = json.loads(body)["token"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, body = http(box, f"/tasks/{token}/")
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200, body
    assert json.loads(body)["value"] == 81


def test_env_file_is_private_and_secrets_never_show(box, pillar):
    mode, owner = box.exec(["stat", "-c", "%a %U:%G", f"{ROOT}/env"]).stdout.split()
    assert (mode, owner) == ("640", "root:shop")
    env = box.exec(["cat", f"{ROOT}/env"]).stdout
    assert "PAYMENT_API_TOKEN=" in env
    dry = box.apply(pillar, STATES, test=True)
    for run in (box.first, dry):
        out = json.dumps(run.states) + run.stderr
        for secret in secrets_of(pillar):
            assert secret not in out
    # The environment reaches the app: the project user can read it, others can't.
    assert box.exec(["runuser", "-u", "nobody", "--", "cat", f"{ROOT}/env"], check=False).rc != 0


def test_second_apply_changes_nothing_runs_no_pip_restarts_nothing(box, pillar, idempotent):
    before = {p: pid(box, p) for p in ("shop-gunicorn", "shop-celery")}
    marker = box.exec(f"stat -c %Y {ROOT}/current/.venv/.webstack-complete").stdout
    again = idempotent(box, pillar, STATES)
    print(f"\nre-apply: {again.wall:.1f} s")
    assert {p: pid(box, p) for p in before} == before
    assert box.exec(f"stat -c %Y {ROOT}/current/.venv/.webstack-complete").stdout == marker
    assert "is live" in again.by_id["app-release-is-live"]["comment"]


def test_new_ref_deploys_with_zero_failed_requests(box, pillar):
    commit(box, "release-2", {"demo/version.py": 'VERSION = "2"\n'}, "release 2")
    old = live_release(box)
    gunicorn, celery = pid(box, "shop-gunicorn"), pid(box, "shop-celery")
    loop = start_loop(box, "/version/")
    time.sleep(1)
    result = box.apply(with_settings(pillar, app={"source": {"ref": "release-2"}}), STATES)
    time.sleep(2)
    counts = stop_loop(box, loop)
    assert result.ok, result.explain()
    print(f"\ndeploy under load: {result.wall:.1f} s, {counts}")
    assert counts["failed"] == 0, counts
    assert counts["versions"] == ["1", "2"], counts
    assert live_release(box) != old
    deployed = result.by_id["app-release-is-live"]["changes"]
    assert "virtualenv" not in deployed and deployed["hooks"] == ["migrate", "collectstatic"]
    # gunicorn reloaded in place (HUP), the Celery worker restarted.
    assert pid(box, "shop-gunicorn") == gunicorn
    assert pid(box, "shop-celery") != celery


def test_failing_migration_keeps_the_live_release(box, pillar):
    migration = (
        "from django.db import migrations\n\n\n"
        "def fail(apps, schema_editor):\n    raise RuntimeError('this migration fails on purpose')\n\n\n"
        "class Migration(migrations.Migration):\n"
        "    dependencies = [('counter', '0001_initial')]\n"
        "    operations = [migrations.RunPython(fail)]\n"
    )
    commit(
        box, "broken-migration", {"counter/migrations/0002_broken.py": migration}, "broken", base="release-2"
    )
    before, kept = live_release(box), releases(box)
    result = box.apply(with_settings(pillar, app={"source": {"ref": "broken-migration"}}), STATES)
    assert not result.ok
    ret = result.by_id["app-release-is-live"]
    assert ret["result"] is False
    assert "manage.py migrate failed" in ret["comment"] and "on purpose" in ret["comment"]
    assert "stays live" in ret["comment"]
    assert live_release(box) == before and releases(box) == kept
    assert json.loads(http(box, "/version/")[1])["version"] == "2"


def test_failing_health_check_keeps_the_live_release(box, pillar):
    urls = (
        "from django.http import HttpResponse\n"
        "from django.urls import path\n\n"
        "urlpatterns = [path('health/', lambda request: HttpResponse('broken', status=500))]\n"
    )
    commit(box, "broken-health", {"demo/urls.py": urls}, "health fails", base="release-2")
    before, kept = live_release(box), releases(box)
    result = box.apply(with_settings(pillar, app={"source": {"ref": "broken-health"}}), STATES)
    ret = result.by_id["app-release-is-live"]
    assert ret["result"] is False
    assert "health check of the new release failed" in ret["comment"] and "answered 500" in ret["comment"]
    assert live_release(box) == before and releases(box) == kept
    assert http(box, "/health/")[0] == 200


def test_changed_requirements_make_a_new_virtualenv_and_restart_gunicorn(box, pillar):
    reqs = box.exec(["cat", f"{ROOT}/current/requirements.txt"]).stdout + "# pinned again\n"
    commit(box, "new-venv", {"requirements.txt": reqs}, "requirements changed", base="release-2")
    gunicorn = pid(box, "shop-gunicorn")
    result = box.apply(with_settings(pillar, app={"source": {"ref": "new-venv"}}), STATES)
    assert result.ok, result.explain()
    changes = result.by_id["app-release-is-live"]["changes"]
    assert changes["virtualenv"]["built"] is True
    restarted = result.by_id["supervisor-runs-gunicorn"]["changes"]
    assert "runs virtualenv" in restarted["restarted"]
    assert pid(box, "shop-gunicorn") != gunicorn
    assert http(box, "/health/")[0] == 200


def test_a_local_path_source_deploys_and_old_releases_are_pruned(box, pillar, idempotent):
    local = with_settings(pillar, app={"source": {"git": None, "path": "/opt/webstack/example"}})
    result = box.apply(local, STATES)
    assert result.ok, result.explain()
    assert "tree-" in live_release(box)
    assert json.loads(http(box, "/version/")[1])["version"] == "1"
    # Four good deploys, keep_releases 3: the oldest went, with its virtualenv
    # only if no kept release uses it.
    kept = releases(box)
    assert len(kept) == 3, kept
    used = {
        json.loads(box.exec(["cat", f"{ROOT}/releases/{r}/.webstack-release.json"]).stdout)["venv"]
        for r in kept
    }
    assert set(box.exec(["ls", f"{ROOT}/venvs"]).stdout.split()) == used
    idempotent(box, local, STATES)
