"""
What the kit survives, measured: faults on the whole single-box stack
(conftest's `stack_box`, the demo pillar, its logs shipped to a receiver
box) while a steady request loop runs against it through nginx, and a
highstate killed half-way on a fresh box. Each test states its figure in
the run's output (`[figure] ...`, see figures.py); the README's
"Guarantees" table quotes them.

- kill -9 of each program supervisord runs, and of supervisord itself:
  back within 5 s, no orphan left running, no task accepted meanwhile lost;
- a restart of nginx, PostgreSQL and RabbitMQ under the loop: requests fail
  only while the service restarts (the count is the figure), none after,
  and every task the app accepted runs;
- the log receiver down for a while: every line logged meanwhile arrives;
- a deploy of a missing git ref or from an unreachable repository fails
  naming why, while the live release serves on without a failed request;
- a first highstate killed in dpkg, then again in pip: the next run
  converges, and the one after changes nothing.

The stack box is shared with test_security.py and test_stack.py: each test
here leaves it as it found it (same programs running, nothing queued, the
demo pillar converged). The failing migration is test_app.py's, a killed
worker with tasks in flight test_stack.py's.
"""

from __future__ import annotations

import dataclasses
import http.client
import re
import threading
import time
import uuid

import pytest
from app_helpers import make_repo, pid, status
from box_helpers import helper
from conftest import load_pillar, with_settings
from figures import report
from site_client import CERTIFICATE, DOMAIN, fetch, pin

NAME = "demo"
PROGRAMS = [f"{NAME}-gunicorn", f"{NAME}-celery", f"{NAME}-celerybeat"]
# Seconds after a restart command returned in which a request may still fail.
GRACE = 1.0
BACK_WITHIN = 5.0
ALIVE = ("active", "activating", "deactivating")


# -- requests from the test host, through nginx ------------------------------------


@dataclasses.dataclass
class Result:
    n: int  # its number in the loop
    start: float
    end: float
    kind: str  # "page" (a database write) or "task" (a publish to the broker)
    status: int | None
    error: str | None
    token: str | None

    @property
    def ok(self) -> bool:
        return self.status == (200 if self.kind == "page" else 202)


class RequestLoop(threading.Thread):
    """
    A visitor that never stops: requests one after another, each on a new
    TLS connection, alternately a page (`/?probe=<marker>-<i>`: the visit
    counted in the database, a line in nginx's access log) and a task
    (POST /tasks/: published to RabbitMQ for the worker).
    """

    def __init__(self, box, marker: str | None = None, pause: float = 0.03):
        super().__init__(daemon=True)
        self.box, self.marker, self.pause = box, marker or uuid.uuid4().hex[:8], pause
        self.results: list[Result] = []
        self.stopping = threading.Event()

    def run(self):
        i = 0
        while not self.stopping.is_set():
            kind = "task" if i % 2 else "page"
            t0, status, error, token = time.monotonic(), None, None, None
            try:
                if kind == "page":
                    status, _ = fetch(self.box, f"/?probe={self.marker}-{i}")
                else:
                    status, body = fetch(self.box, "/tasks/", data={"n": i})
                    if status == 202:
                        token = body.split('"token": "')[1].split('"')[0]
            except (OSError, http.client.HTTPException) as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.results.append(Result(i, t0, time.monotonic(), kind, status, error, token))
            i += 1
            time.sleep(self.pause)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.join(30)

    # -- what it saw ---------------------------------------------------------------

    def failures(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    def tokens(self) -> list[str]:
        return [r.token for r in self.results if r.token]

    def ok_after(self, moment: float, kind: str) -> int:
        return sum(1 for r in self.results if r.ok and r.kind == kind and r.start > moment)

    def wait_ok_after(self, moment: float, timeout: float = 30) -> float:
        """Seconds from `moment` until a page and a task both answered fine after it."""
        deadline = time.monotonic() + timeout
        while not (self.ok_after(moment, "page") and self.ok_after(moment, "task")):
            assert time.monotonic() < deadline, f"no good answer {timeout} s after: {self.summary()}"
            time.sleep(0.05)
        return (
            max(
                next(r.end for r in self.results if r.ok and r.kind == kind and r.start > moment)
                for kind in ("page", "task")
            )
            - moment
        )

    def summary(self) -> str:
        failed = self.failures()
        kinds = {k: sum(1 for r in failed if r.kind == k) for k in ("page", "task")}
        errors = sorted({r.error or str(r.status) for r in failed})[:4]
        return f"{len(failed)} of {len(self.results)} requests failed {kinds} {errors}"


# -- on the box -------------------------------------------------------------------------


def sql(box, query: str) -> str:
    return box.exec(["runuser", "-u", "postgres", "--", "psql", "-d", NAME, "-XAtc", query]).stdout.strip()


def tasks_run(box, tokens: list[str], timeout: float = 90) -> tuple[float, int]:
    """(seconds waited, tasks lost): until every token's task wrote its row, or `timeout`."""
    t0, listed = time.monotonic(), ",".join(f"'{t}'" for t in tokens) or "NULL"
    query = f"SELECT count(*) FROM counter_taskresult WHERE token IN ({listed})"
    while (done := int(sql(box, query))) < len(tokens) and time.monotonic() - t0 < timeout:
        time.sleep(0.5)
    return time.monotonic() - t0, len(tokens) - done


def tasks_figure(tokens: list[str], waited: float, lost: int) -> str:
    if lost:
        return f"{len(tokens)} tasks accepted, {lost} LOST"
    return f"{len(tokens)} tasks accepted, all ran ({waited:.1f} s after)"


def live_release(box) -> str:
    return box.exec(["readlink", f"/srv/{NAME}/current"]).stdout.strip()


def releases(box) -> list[str]:
    return box.exec(["ls", f"/srv/{NAME}/releases"]).stdout.split()


def supervisord_pid(box) -> int:
    return int(box.exec(["systemctl", "show", "-p", "MainPID", "--value", "supervisor"]).stdout)


def orphans(box) -> list[str]:
    """Processes of the project user that supervisord did not start (left over)."""
    rows = [line.split(None, 3) for line in box.exec("ps -e -o pid=,ppid=,user=,args=").stdout.splitlines()]
    parent = {int(p): int(pp) for p, pp, *_ in rows}
    root = supervisord_pid(box)

    def under_supervisord(p):
        while p > 1:
            if p == root:
                return True
            p = parent.get(p, 1)
        return False

    return [f"{p} {args[:80]}" for p, _, user, args in rows if user == NAME and not under_supervisord(int(p))]


def wait_no_orphans(box, timeout: float = 40) -> None:
    """Until no process of the project user is left outside supervisord's tree (the
    workers of a killed gunicorn notice their new parent within timeout / 2 s)."""
    deadline = time.monotonic() + timeout
    while left := orphans(box):
        assert time.monotonic() < deadline, f"still running {timeout} s after the kill: {left}"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def box(stack_box):
    return pin(stack_box)


@pytest.fixture(autouse=True)
def _everything_runs_before_and_after(request):
    """Each stack test starts with every program running, and leaves them so."""
    if "box" not in request.fixturenames:
        yield
        return
    box = request.getfixturevalue("box")
    assert {s for s, _ in status(box).values()} == {"RUNNING"}, status(box)
    yield
    deadline = time.monotonic() + 30
    while {s for s, _ in status(box).values()} != {"RUNNING"} or len(status(box)) != len(PROGRAMS):
        assert time.monotonic() < deadline, f"left the box with {status(box)}"
        time.sleep(0.5)


# -- kill -9 -------------------------------------------------------------------------


@pytest.mark.parametrize("victim", [*PROGRAMS, "supervisord"])
def test_a_program_killed_with_kill_9_is_back_within_5_seconds_losing_no_task(box, victim, request):
    before = {p: pid(box, p) for p in PROGRAMS}
    # supervisord's death takes its programs along: systemd starts a new one,
    # which starts every program anew.
    restarted = PROGRAMS if victim == "supervisord" else [victim]
    with RequestLoop(box) as loop:
        time.sleep(1.5)
        old = supervisord_pid(box) if victim == "supervisord" else before[victim]
        killed = time.monotonic()
        box.exec(["kill", "-9", str(old)])
        while True:
            now = status(box)
            if all(now.get(p, (None, None))[0] == "RUNNING" and now[p][1] != before[p] for p in restarted):
                running = time.monotonic() - killed
                break
            assert time.monotonic() - killed < 30, f"not back 30 s after kill -9 {victim}: {now}"
            time.sleep(0.05)
        # Serving again: the loop's first good page and task after the kill.
        back = max(running, loop.wait_ok_after(killed))
        time.sleep(1)
    wait_no_orphans(box)
    waited, lost = tasks_run(box, loop.tokens())
    report(
        request,
        f"kill -9 {victim}: running in {running:.1f} s, serving in {back:.1f} s; {loop.summary()}; "
        + tasks_figure(loop.tokens(), waited, lost),
    )
    assert back < BACK_WITHIN
    assert lost == 0, "accepted tasks never ran"
    if victim == "supervisord":
        assert supervisord_pid(box) != old
    untouched = [p for p in PROGRAMS if p not in restarted]
    assert {p: pid(box, p) for p in untouched} == {p: before[p] for p in untouched}, (
        "another program restarted"
    )


# -- restarts under load ----------------------------------------------------------------


@pytest.mark.parametrize("unit", ["nginx", "postgresql", "rabbitmq-server"])
def test_a_service_restarted_under_load_fails_requests_only_while_it_restarts(box, unit, request):
    with RequestLoop(box) as loop:
        time.sleep(2)
        t0 = time.monotonic()
        box.exec(["systemctl", "restart", unit])
        t1 = time.monotonic()
        recovered = loop.wait_ok_after(t1)
        time.sleep(2)
    late = [r for r in loop.failures() if r.start > t1 + GRACE]
    waited, lost = tasks_run(box, loop.tokens())
    report(
        request,
        f"restart {unit} under load ({t1 - t0:.1f} s): {loop.summary()}; "
        f"{tasks_figure(loop.tokens(), waited, lost)}",
    )
    assert not late, f"requests still failing {GRACE} s after the restart: {late[:3]}"
    assert lost == 0, "accepted tasks never ran"
    assert recovered < 10, loop.summary()
    assert {s for s, _ in status(box).values()} == {"RUNNING"}


# -- logs -------------------------------------------------------------------------------


def test_lines_logged_while_the_receiver_is_down_all_arrive(box, request):
    receiver, marker, outage, count = box.receiver, uuid.uuid4().hex[:10], 15, 200
    receiver.stop()
    down = time.monotonic()
    try:
        with RequestLoop(box, marker=marker, pause=0.1) as loop:
            box.exec(f"for i in $(seq {count}); do logger --tag probe {marker}-line-$i; done")
            time.sleep(max(0, outage - (time.monotonic() - down)))
    finally:
        receiver.start()
    back = time.monotonic()
    # syslog lines, and nginx's access log line of every page request answered.
    want = {("line", i) for i in range(1, count + 1)}
    want |= {("page", r.n) for r in loop.results if r.kind == "page" and r.status is not None}
    found = re.compile(rf"(?:{marker}-(line)-|probe={marker}-)(\d+)\b")

    def arrived():
        return {(m[0] or "page", int(m[1])) for m in found.findall("\n".join(receiver.lines()))}

    deadline = back + 90
    while want - (got := arrived()) and time.monotonic() < deadline:
        time.sleep(1)
    lost = want - got
    report(
        request,
        f"log receiver down {back - down:.0f} s: {len(want)} lines logged meanwhile "
        f"({count} syslog, {len(want) - count} nginx access), {len(lost)} lost; "
        f"all in {time.monotonic() - back:.1f} s after it came back",
    )
    assert not lost, f"{len(lost)} lines never arrived, e.g. {sorted(lost)[:5]}"


# -- deploys that cannot fetch ------------------------------------------------------------


@pytest.fixture(scope="module")
def git_repo(box):
    """A git repository of the example app in the box (app_helpers.make_repo)."""
    make_repo(box)
    return "/srv/git/shop.git"


CANNOT_FETCH = ["missing-ref", "unreachable-repo"]


def _sources(box, repo):
    unreachable = f"https://{box.receiver.host}/demo.git"  # a box of the network, nothing on 443
    return {
        "missing-ref": (
            {"git": repo, "ref": "release-that-was-never-pushed"},
            [f"git ref 'release-that-was-never-pushed' not found in {repo}"],
        ),
        "unreachable-repo": (
            {"git": unreachable, "ref": "main"},
            [f"{unreachable} failed", "Failed to connect"],
        ),
    }


def deploy_that_cannot_fetch(box, repo, case):
    """The app and its programs applied with the source of `case` (the box notes it was tried)."""
    source, _ = _sources(box, repo)[case]
    result = box.apply(with_settings(box.pillar, app={"source": {"path": None, **source}}), "app,supervisor")
    box.deploys_tried = getattr(box, "deploys_tried", set()) | {case}
    return result


@pytest.mark.parametrize("case", CANNOT_FETCH)
def test_a_deploy_that_cannot_fetch_fails_saying_why_and_the_live_release_serves_on(
    box, git_repo, case, request
):
    _, messages = _sources(box, git_repo)[case]
    live, kept = live_release(box), releases(box)
    with RequestLoop(box) as loop:
        result = deploy_that_cannot_fetch(box, git_repo, case)
        time.sleep(1)
    ret = result.by_id["app-release-is-live"]
    report(request, f"deploy of a {case}: failed in {result.wall:.1f} s; {loop.summary()}")
    assert ret["result"] is False and ret["changes"] == {}
    for message in messages:
        assert message in ret["comment"], ret["comment"]
    # The programs' states fail on their requisite; nothing else does or changes.
    programs = {f"supervisor-runs-{p.removeprefix(NAME + '-')}" for p in PROGRAMS}
    assert {sid for sid, _ in result.failed} <= {"app-release-is-live", *programs}, result.explain()
    assert not result.changed, result.explain()
    assert live_release(box) == live and releases(box) == kept
    assert loop.failures() == [], loop.summary()


def test_after_the_failed_deploys_the_demo_pillar_changes_nothing(box, git_repo):
    # It starts after a failed deploy of each kind: tried here if not yet.
    for case in sorted(set(CANNOT_FETCH) - getattr(box, "deploys_tried", set())):
        assert not deploy_that_cannot_fetch(box, git_repo, case).ok
    again = box.apply(box.pillar)
    assert again.ok and not again.changed, again.explain()


# -- a highstate killed half-way ------------------------------------------------------------


def start_run(box, unit: str, root: str) -> None:
    """A highstate in the background, as a transient unit (its processes: one cgroup)."""
    box.exec(
        [
            "systemd-run",
            f"--unit={unit}",
            "-p",
            f"StandardOutput=file:/root/{unit}.json",
            "salt-call",
            "--local",
            "--out=json",
            "--log-level=warning",
            f"--pillar-root={root}",
            "state.apply",
        ]
    )


def kill_run_when(box, unit: str, condition: str, settle: float, timeout: int = 900) -> str:
    """Wait (in the box) until `condition` (sh) holds, then kill -9 every process of the run."""
    script = ["sh", helper("kill_run_when.sh"), unit, condition, str(settle)]
    res = box.exec(["timeout", str(timeout), *script], check=False)
    assert res.rc == 0, f"{unit} ended before it could be interrupted ({res.rc}):\n{res.stdout}{res.stderr}"
    deadline = time.monotonic() + 30
    while box.exec(["systemctl", "is-active", unit], check=False).stdout.strip() in ALIVE:
        assert time.monotonic() < deadline, f"{unit} survived kill -9"
        time.sleep(0.2)
    return res.stdout


def dpkg_unfinished(box) -> str:
    """dpkg's pending journal, and packages neither installed, gone nor just config files."""
    query = "dpkg-query -W -f '${db:Status-Abbrev} ${Package}\\n' | grep -v '^.[icn]  '"
    return box.exec(f"ls -A /var/lib/dpkg/updates; {query}", check=False).stdout.strip()


def test_a_highstate_killed_in_dpkg_then_in_pip_converges_on_the_next_run(boxes, request, idempotent):
    box = boxes.start("interrupted")
    pillar = load_pillar("demo")
    root = box.write_pillar(pillar)
    t0 = time.monotonic()

    # 1. In the middle of PostgreSQL's packages being unpacked.
    start_run(box, "webstack-run-1", root)
    seen = kill_run_when(
        box,
        "webstack-run-1",
        "pgrep -f '[a]pt-get .*install.*postgresql' >/dev/null && pgrep -f '[d]pkg .*--unpack' >/dev/null",
        settle=0.3,
    )
    left = dpkg_unfinished(box)
    assert left, f"the kill left dpkg consistent: not the fault under test\n{seen}"
    first_kill = time.monotonic() - t0

    # 2. In the middle of building the release's virtualenv (pip install).
    start_run(box, "webstack-run-2", root)
    kill_run_when(box, "webstack-run-2", "pgrep -f '[p]ip install --requirement' >/dev/null", settle=2)
    assert dpkg_unfinished(box) == "", "the second run did not finish dpkg's work"
    assert box.exec("ls /srv/demo/venvs/*/.webstack-complete", check=False).rc != 0, "pip had finished"
    assert box.exec(["test", "-e", "/srv/demo/current"], check=False).rc != 0, "a release went live"
    second_kill = time.monotonic() - t0

    # 3. The next run converges; the one after changes nothing.
    third = box.apply(pillar)
    assert third.ok, third.explain()
    fourth = idempotent(box, pillar)
    page = box.exec(
        f"curl -s -o /dev/null -w '%{{http_code}}' --cacert {CERTIFICATE} "
        f"--resolve {DOMAIN}:443:127.0.0.1 https://{DOMAIN}/health/"
    ).stdout
    assert page == "200"
    report(
        request,
        f"highstate killed in dpkg at {first_kill:.0f} s ({len(left.splitlines())} dpkg entries left "
        f"unfinished), in pip at {second_kill:.0f} s; next run: {third.summary()}; "
        f"then {fourth.summary()}",
    )
    box.remove()
