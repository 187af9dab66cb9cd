"""
The app role, converged with the data tier (PostgreSQL, RabbitMQ) and
supervisor on one box, serving the example Django app from a git repository
inside the box: pages with a database round trip, a Celery task, releases
deployed without a failed request, broken releases kept off the live site,
a rollback in seconds that holds, and the audit trail of all of it.

The deploy tests each start from the releases they need (`deployed`, which
deploys only what the box does not have live already), so a test run alone
starts where it says, and in file order nothing is deployed twice.
"""

import json
import time

import pytest
from app_helpers import (
    NGINX,
    commit,
    has_branch,
    http,
    install_client,
    live_release,
    make_repo,
    pid,
    releases,
    start_loop,
    stop_loop,
)
from box_helpers import helper_text
from conftest import converge, converged_to, is_converged_to, load_pillar, with_settings

from tools.harness.dockerbox import REPO, TEST_PILLAR_ROOT

STATES = "postgresql,rabbitmq,app,supervisor,nginx"
ROOT = "/srv/shop"

# The branches of the box's app repository the tests deploy: base, files, message.
BRANCHES = {
    "release-2": ("main", {"demo/version.py": 'VERSION = "2"\n'}, "release 2"),
    "release-3": ("release-2", {"demo/version.py": 'VERSION = "3"\n'}, "release 3"),
    "broken-migration": (
        "release-2",
        {"counter/migrations/0002_broken.py": helper_text("shop/broken_migration.py")},
        "broken",
    ),
    "broken-health": (
        "release-2",
        {"demo/urls.py": helper_text("shop/failing_health_urls.py")},
        "health fails",
    ),
    "new-venv": (
        "release-2",
        {"requirements.txt": (REPO / "example" / "requirements.txt").read_text() + "# pinned again\n"},
        "requirements changed",
    ),
}


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
    box.first = converge(box, pillar, STATES)
    print(f"\nconverge {STATES}: {time.monotonic() - t0:.1f} s, {box.first.summary()}")
    return box


def at_ref(pillar, ref):
    return with_settings(pillar, app={"source": {"ref": ref}})


def branch(box, name):
    """Branch `name` of BRANCHES pushed to the box's repository (its base first), unless it is there."""
    if has_branch(box, name):
        return
    base, files, message = BRANCHES[name]
    if base != "main":
        branch(box, base)
    commit(box, name, files, message, base=base)


def deployed(box, pillar, *refs):
    """
    Start with `refs` deployed one after the other, the last one live: when
    the box was last converged to another ref, each is deployed in turn
    (its branch made if needed).
    """
    if is_converged_to(box, at_ref(pillar, refs[-1]), STATES):
        return
    for ref in refs:
        branch(box, ref)
        converge(box, at_ref(pillar, ref), STATES)


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
    converged_to(box, pillar, STATES)
    before = {p: pid(box, p) for p in ("shop-gunicorn", "shop-celery")}
    marker = box.exec(f"stat -c %Y {ROOT}/current/.venv/.webstack-complete").stdout
    again = idempotent(box, pillar, STATES)
    print(f"\nre-apply: {again.wall:.1f} s")
    assert {p: pid(box, p) for p in before} == before
    assert box.exec(f"stat -c %Y {ROOT}/current/.venv/.webstack-complete").stdout == marker
    assert "is live" in again.by_id["app-release-is-live"]["comment"]


def test_new_ref_deploys_with_zero_failed_requests(box, pillar):
    converged_to(box, pillar, STATES)  # main (version 1) live
    branch(box, "release-2")
    old = live_release(box)
    gunicorn, celery = pid(box, "shop-gunicorn"), pid(box, "shop-celery")
    loop = start_loop(box, "/version/")
    time.sleep(1)
    try:
        result = converge(box, at_ref(pillar, "release-2"), STATES)
    finally:
        time.sleep(2)
        counts = stop_loop(box, loop)
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
    deployed(box, pillar, "release-2")
    branch(box, "broken-migration")
    before, kept = live_release(box), releases(box)
    result = box.apply(at_ref(pillar, "broken-migration"), STATES)
    assert not result.ok
    ret = result.by_id["app-release-is-live"]
    assert ret["result"] is False
    assert "manage.py migrate failed" in ret["comment"] and "on purpose" in ret["comment"]
    assert "stays live" in ret["comment"]
    assert live_release(box) == before and releases(box) == kept
    assert json.loads(http(box, "/version/")[1])["version"] == "2"


def test_failing_health_check_keeps_the_live_release(box, pillar):
    deployed(box, pillar, "release-2")
    branch(box, "broken-health")
    before, kept = live_release(box), releases(box)
    result = box.apply(at_ref(pillar, "broken-health"), STATES)
    ret = result.by_id["app-release-is-live"]
    assert ret["result"] is False
    assert "health check of the new release failed" in ret["comment"] and "answered 500" in ret["comment"]
    assert live_release(box) == before and releases(box) == kept
    assert http(box, "/health/")[0] == 200


def test_changed_requirements_make_a_new_virtualenv_and_restart_gunicorn(box, pillar):
    deployed(box, pillar, "release-2")
    branch(box, "new-venv")  # release-2's requirements.txt, one comment added
    gunicorn = pid(box, "shop-gunicorn")
    result = converge(box, at_ref(pillar, "new-venv"), STATES)
    changes = result.by_id["app-release-is-live"]["changes"]
    assert changes["virtualenv"]["built"] is True
    restarted = result.by_id["supervisor-runs-gunicorn"]["changes"]
    assert "runs virtualenv" in restarted["restarted"]
    assert pid(box, "shop-gunicorn") != gunicorn
    assert http(box, "/health/")[0] == 200


def test_a_local_path_source_deploys_and_old_releases_are_pruned(box, pillar, idempotent):
    # Three good releases on the box (main, release-2, new-venv: two virtualenvs).
    deployed(box, pillar, "release-2", "new-venv")
    local = with_settings(pillar, app={"source": {"git": None, "path": "/opt/webstack/example"}})
    converge(box, local, STATES)
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


# -- operating the site: list, rollback, hold, audit ---------------------------


def call(box, *args):
    """An operator's `salt-call <function> ...` on the box (the pillar last applied): its return."""
    res = box.salt_call("--out=json", *args, pillar_root=TEST_PILLAR_ROOT)
    assert res.ok, res.stdout + res.stderr
    return json.loads(res.stdout)["local"]


def audit_trail(box):
    """The audit trail on the box, as journald keeps it, oldest first."""
    return box.exec(["journalctl", "-q", "-t", "webstack-audit", "-o", "cat"]).stdout.splitlines()


def version(box):
    return json.loads(http(box, "/version/", via=NGINX)[1])["version"]


@pytest.fixture(scope="module")
def keep5(pillar):
    return with_settings(pillar, app={"keep_releases": 5})


def test_a_rollback_is_live_in_seconds_with_zero_failed_requests_and_holds(box, keep5, idempotent):
    # A (main, version 1) then B (release-2, version 2).
    branch(box, "release-2")
    converge(box, at_ref(keep5, "main"), STATES)
    b = at_ref(keep5, "release-2")
    converge(box, b, STATES)
    listed = call(box, "release.list")
    a_name, b_name = listed[-2]["name"], listed[-1]["name"]
    assert [(r["ref"], r["live"]) for r in listed[-2:]] == [("main", False), ("release-2", True)], listed
    assert all(r["id"] and r["venv"] and r["deployed"] for r in listed)
    kept, venvs = releases(box), box.exec(f"stat -c '%n %Y' {ROOT}/venvs/*/.webstack-complete").stdout
    gunicorn, celery = pid(box, "shop-gunicorn"), pid(box, "shop-celery")

    loop = start_loop(box, "/version/", via=NGINX)
    time.sleep(1)
    try:
        t0 = time.monotonic()
        back = call(box, "release.rollback")
        while version(box) != "1":
            assert time.monotonic() - t0 < 5, "A is not live 5 s after the call"
            time.sleep(0.05)
        took = time.monotonic() - t0
    finally:
        time.sleep(1)
        counts = stop_loop(box, loop)
    print(f"\nrollback: A serving {took:.2f} s after the call ({back['seconds']} s in the call), {counts}")
    assert counts["failed"] == 0 and counts["versions"] == ["2", "1"], counts
    assert back["live"] == {"old": b_name, "new": a_name} and back["hold"]["release"] == a_name
    assert back["programs"] == {"shop-celery": "restarted", "shop-gunicorn": "signalled HUP"}, back
    # Nothing built: no release made, no virtualenv touched; gunicorn reloaded in place, Celery restarted.
    assert releases(box) == kept
    assert box.exec(f"stat -c '%n %Y' {ROOT}/venvs/*/.webstack-complete").stdout == venvs
    assert pid(box, "shop-gunicorn") == gunicorn and pid(box, "shop-celery") != celery
    assert [r["name"] for r in call(box, "release.list") if r["live"] and r["held"]] == [a_name]

    # The pillar still names B: the next apply leaves A live, and says why.
    again = idempotent(box, b, STATES)
    assert "held live by a rollback" in again.by_id["app-release-is-live"]["comment"]
    assert version(box) == "1" and live_release(box).endswith(a_name)

    # A new ref (C) moves on, and the hold is done.
    branch(box, "release-3")
    c = converge(box, at_ref(keep5, "release-3"), STATES)
    assert c.by_id["app-release-is-live"]["changes"]["hold"] == {"old": a_name, "new": None}
    assert version(box) == "3" and call(box, "release.hold") is None

    # The audit trail: deploy A, deploy B, rollback to A, deploy C, in that order, with job ids.
    c_name = live_release(box).split("/")[-1]
    trail = audit_trail(box)
    events = [(line.split(":")[0], line.split(" -> ")[1].split()[0]) for line in trail if " -> " in line]
    assert events[-4:] == [("deploy", a_name), ("deploy", b_name), ("rollback", a_name), ("deploy", c_name)]
    assert all("(job 2" in line for line in trail[-4:]), trail


def test_failed_deploys_never_push_a_good_release_out(box, keep5, idempotent):
    deployed(box, keep5, "release-2", "release-3")
    good = releases(box)
    previous = good[-2]
    # Five failing deploys, keep_releases 5: none of them counts, every good one stays.
    branch(box, "broken-migration")
    branch(box, "broken-health")
    for ref in ["broken-migration", "broken-health"] * 2 + ["broken-migration"]:
        result = box.apply(at_ref(keep5, ref), "app")
        assert result.by_id["app-release-is-live"]["result"] is False
    assert releases(box) == good
    back = call(box, "release.rollback", f"to={previous}")
    assert back["live"]["new"] == previous and version(box) == "2"
    assert (
        audit_trail(box)[-1].startswith(f"rollback: {ROOT}: ") and f"-> {previous} " in audit_trail(box)[-1]
    )
    # A rollback to a release the pillar names again clears the hold; release-2 holds nothing back.
    converge(box, at_ref(keep5, "release-2"), STATES)
    assert call(box, "release.hold") is None
    idempotent(box, at_ref(keep5, "release-2"), STATES)
