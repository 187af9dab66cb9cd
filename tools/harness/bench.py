"""
`make bench`: how fast the stack converges, re-applies, serves and deploys,
each figure measured side by side in one run on the same image
(webstack-salt:bookworm), printed as a table and written to
bench/results.json and bench/results.md.

  converge   the full single-box stack (salt/pillar/demo.sls) on a fresh box,
             against the floor: in a sibling box started at the same time
             from the same image, `apt-get update`, one `apt-get install` of
             exactly the packages the converge added and `pip install` of the
             app's requirements file into a virtualenv
  re-apply   the same highstate again (zero changes), and with test=True;
             where the time goes (Salt's start, render, the slowest states)
  serving    wrk inside the box: the app through nginx (https, as served)
             against the same app straight from gunicorn (a second gunicorn
             of the live release, same command and workers, on a loopback TCP
             port: wrk speaks no unix sockets, and a forwarder would tax the
             direct path); static files from nginx
  deploy     a new git ref applied while a paced wrk load runs through nginx:
             failed requests, and when the new version is first served
  fleet      tools/harness/fleet.py's master and six minions converged through the
             master, against the one box; pgbench's tps and the replica's lag
             with commits waiting for the replica and local, and a promotion (postgresql.promote) timed to the
             first write through the app
  backup     one db box holding a pgbench database of ~1 GB: pgBackRest's full
             backup and restore (backup.run full, backup.restore_db) with the
             repository in a directory and in an S3 store (moto behind TLS, in
             a box of its own), against pg_dump -Fc and pg_restore (plain and
             -j 2) of the same database on the same box; then the RPO: a
             second db box archiving to the store under a steady insert load
             from a client box, killed (docker kill), restored on a fresh box,
             the acknowledged rows missing counted

Only some phases: --phases backup (or --only backup).

Every load is bounded in time (wrk -d, curl loops of a fixed count) and in
count, and targets only the box itself (127.0.0.1). Boxes and the fleet are
removed at the end (--keep leaves them).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

from tools.harness import peer_tls
from tools.harness.dockerbox import (
    MOUNT,
    REPO,
    SALT_IMAGE,
    TEST_PILLAR_ROOT,
    Apply,
    Box,
    client,
    with_settings,
)

sys.path.insert(0, str(REPO / "test" / "container"))
import app_helpers  # noqa: E402  (the app tests' git helpers: a repository of example/ in the box)

PREFIX = "webstack-bench"
OUT = REPO / "bench"
PHASES = ("converge", "reapply", "serving", "deploy", "fleet", "backup")
DEMO = REPO / "salt/pillar/demo.sls"
LUA = f"{MOUNT}/bench/wrk.lua"
APT = (
    "DEBIAN_FRONTEND=noninteractive apt-get -q -y "
    "-o DPkg::Options::=--force-confold -o DPkg::Options::=--force-confdef"
)
PIP_ENV = {"PIP_ROOT_USER_ACTION": "ignore", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
# wrk: threads and connections of every unpaced run, and its per-thread cap.
THREADS, CONNECTIONS, MAX_PER_THREAD = 2, 8, 200_000
DIRECT_PORT = 8001
GOALS = {
    "converge_ratio": 1.25,
    "reapply_s": 4.0,
    "serving_ratio": 0.9,
    "deploy_failed": 0,
    "restore_ratio": 0.5,
    "rpo_s": 60,
}


# -- small helpers -------------------------------------------------------------


class BenchError(RuntimeError):
    pass


class Clock:
    """Progress lines (phase and duration) and the duration of each phase."""

    def __init__(self):
        self.phases: dict[str, float] = {}
        self.t0 = time.monotonic()

    @contextlib.contextmanager
    def phase(self, label: str):
        load = os.getloadavg()[0]
        print(f"==> {label} (load {load:.1f})", flush=True)
        t0 = time.monotonic()
        try:
            yield
        finally:
            took = time.monotonic() - t0
            self.phases[label] = round(took, 1)
            print(f"    done in {took:.1f} s", flush=True)

    def say(self, line: str) -> None:
        print(f"    {line}", flush=True)


def timed(fn, *args, **kw):
    t0 = time.monotonic()
    out = fn(*args, **kw)
    return out, time.monotonic() - t0


def states_rows(result: Apply, n: int | None = 10) -> list[dict]:
    """The `n` slowest states of a run (None: all): id, role (sls), function, seconds, changed."""
    rows = [
        {
            "id": r.get("__id__"),
            "sls": r.get("__sls__"),
            # The key is state_|-id_|-name_|-function.
            "fun": "{}.{}".format(key.split("_|-")[0], key.split("_|-")[-1]),
            "s": round((r.get("duration") or 0) / 1000, 2),
            "changed": bool(r.get("changes")),
        }
        for key, r in result.states.items()
    ]
    return sorted(rows, key=lambda r: -r["s"])[:n]


def by_role(result: Apply) -> dict[str, float]:
    """Seconds of state durations per role (the first part of the sls name)."""
    out: dict[str, float] = {}
    for r in result.states.values():
        role = str(r.get("__sls__", "?")).split(".")[0]
        out[role] = out.get(role, 0) + (r.get("duration") or 0) / 1000
    return {k: round(v, 1) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def states_seconds(result: Apply) -> float:
    """The states' durations added up (parallel states overlap: more than their wall time)."""
    return round(sum((r.get("duration") or 0) for r in result.states.values()) / 1000, 1)


def states_span(result: Apply) -> float:
    """Seconds from the first state's start to the last one's end (Salt's start_time: HH:MM:SS.ffffff)."""
    spans = []
    for r in result.states.values():
        if r.get("start_time"):
            h, m, sec = r["start_time"].split(":")
            start = int(h) * 3600 + int(m) * 60 + float(sec)
            spans.append((start, start + (r.get("duration") or 0) / 1000))
    if not spans:
        return 0.0
    return round(max(end for _, end in spans) - min(start for start, _ in spans), 1)


def must(result: Apply, what: str) -> Apply:
    if not result.ok:
        raise BenchError(f"{what} failed:\n{result.explain()}")
    return result


def installed(box: Box) -> set[str]:
    """The packages installed on `box` (dpkg's view)."""
    out = box.exec("dpkg-query -W -f='${db:Status-Abbrev} ${binary:Package}\\n'").stdout
    return {line.split()[1] for line in out.splitlines() if line.startswith("ii ")}


# -- wrk --------------------------------------------------------------------------


def wrk_cmd(url: str, seconds: float, connections: int = CONNECTIONS, host: str | None = None) -> str:
    args = ["wrk", "-t", str(THREADS), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s"]
    args += ["-s", LUA] + (["-H", f"Host: {host}"] if host else []) + [url]
    return shlex.join(args)


def wrk_parse(text: str) -> dict:
    m = re.search(r"^BENCH (\{.*\})$", text, re.M)
    if not m:
        raise BenchError(f"wrk said no BENCH line:\n{text[-2000:]}")
    out = json.loads(m.group(1))
    out["seconds"] = out["duration_us"] / 1e6
    out["rps"] = round(out["ok"] / out["seconds"], 1) if out["seconds"] else 0.0
    out["failed"] = (
        out["http_errors"]
        + out["redirects"]
        + out["connect_errors"]
        + out["read_errors"]
        + out["write_errors"]
        + out["timeouts"]
    )
    return out


# The box's CPU time so far in microseconds: its cgroup's (v1 cpuacct, else v2 cpu.stat).
BOX_CPU = (
    "v1=$(sed -n 's/^[0-9]*:[a-z,]*cpuacct[a-z,]*://p' /proc/self/cgroup | head -1); "
    'if [ -r "/sys/fs/cgroup/cpuacct$v1/cpuacct.usage" ]; then '
    'echo CPU $(( $(cat "/sys/fs/cgroup/cpuacct$v1/cpuacct.usage") / 1000 )); '
    "else v2=$(sed -n 's/^0:://p' /proc/self/cgroup); "
    "echo CPU $(awk '/^usage_usec/ {print $2}' \"/sys/fs/cgroup$v2/cpu.stat\"); fi"
)


def wrk(box: Box, url: str, seconds: float, host: str | None = None) -> dict:
    """
    One wrk run, with the CPU time the box spent serving it: the box's CPU
    time over the run less wrk's own (the shell's `times` of its children),
    per successful request.
    """
    script = f"{BOX_CPU}; {wrk_cmd(url, seconds, host=host)}; times; {BOX_CPU}"
    res = box.exec(["sh", "-c", script], env={"BENCH_MAX_REQUESTS": str(MAX_PER_THREAD)})
    out = wrk_parse(res.stdout)
    cpu = [int(v) for v in re.findall(r"^CPU (\d+)$", res.stdout, re.M)]
    # `times`: the shell's user and system time, then its children's (wrk).
    times = re.findall(r"^\d+m[\d.]+s \d+m[\d.]+s$", res.stdout, re.M)
    children = re.findall(r"(\d+)m([\d.]+)s", times[-1]) if times else []
    if len(cpu) == 2 and len(children) == 2 and out["ok"]:
        client = sum(int(m) * 60 + float(sec) for m, sec in children)
        out["server_cpu_ms"] = round(((cpu[1] - cpu[0]) / 1e6 - client) * 1000 / out["ok"], 3)
    return out


# -- the benchmark ----------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.clock = Clock()
        self.results: dict = {"goals": GOALS}
        self.stack: Box | None = None
        self.floor: Box | None = None
        self._ws: dict | None = None

    @property
    def ws(self) -> dict:
        """The stack box's merged webstack settings (webstack.settings)."""
        if self._ws is None:
            out = self.stack.salt_call("--out=json", "webstack.settings", check=True).stdout
            self._ws = json.loads(out)["local"]
        return self._ws

    @property
    def domain(self) -> str:
        return self.ws["project"]["domains"][0]

    # boxes

    def start_pair(self) -> None:
        """A stack box and a floor box, started together from the same image."""

        def start(role):
            return Box.start(f"{PREFIX}-{role}", image=SALT_IMAGE, labels={"webstack": "bench"})

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            self.stack, self.floor = pool.map(start, ("stack", "floor"))
        # Salt is in the image: this lays down the repo's minion config.
        self.stack.install_salt()

    def remove_boxes(self) -> None:
        for box in (self.stack, self.floor):
            if box:
                box.remove()
        self.stack = self.floor = None
        self._ws = None

    # phases

    def converge(self) -> None:
        """Stack and floor, pair after pair; the last stack box stays for the other phases."""
        runs = []
        for n in range(1, self.args.converge_runs + 1):
            if n > 1:
                self.remove_boxes()
            runs.append(self.converge_pair(f"{n}/{self.args.converge_runs}"))
        # The least disturbed run of each (this machine is shared): the fastest.
        best = min(runs, key=lambda r: r["stack_s"])
        floor = min(runs, key=lambda r: r["floor_s"])
        self.results["converge"] = dict(
            best,
            floor_s=floor["floor_s"],
            floor=floor["floor"],
            ratio=round(best["stack_s"] / floor["floor_s"], 2),
            runs=[{k: r[k] for k in ("stack_s", "floor_s", "ratio", "floor", "load")} for r in runs],
        )

    def converge_pair(self, label: str) -> dict:
        c = self.clock
        with c.phase(f"boxes {label}: stack and floor from {SALT_IMAGE}"):
            self.start_pair()
            image_pkgs = installed(self.floor)
            image_manual = set(self.floor.exec("apt-mark showmanual").stdout.split())
        load = os.getloadavg()[0]
        with c.phase(f"converge {label}: the full single-box stack (demo pillar)"):
            first = must(self.stack.apply(), "the converge")
            c.say(first.summary())
            for row in states_rows(first, 5):
                c.say(f"{row['s']:6.1f} s  {row['id']}")
        # What the converge installed: the floor installs exactly that.
        stack_pkgs = installed(self.stack)
        added = sorted(stack_pkgs - image_pkgs)
        asked = sorted(set(self.stack.exec("apt-mark showmanual").stdout.split()) - image_manual)
        app, root = self.ws["app"], self.ws["project"]["root"]
        reqs = self.stack.exec(["cat", f"{root}/current/{app['requirements']}"]).stdout
        # The stack's services (RabbitMQ, Celery, ...) frozen meanwhile: the floor runs alone.
        self.stack.container.pause()
        try:
            with c.phase(f"floor {label}: apt-get update, install of {len(added)} packages, pip"):
                floor = self.floor_run(added, app["python"], reqs)
                c.say(
                    f"apt-get update {floor['apt_update_s']:.1f} s, install {floor['apt_install_s']:.1f} s, "
                    f"venv + pip {floor['pip_s']:.1f} s"
                )
        finally:
            self.stack.container.unpause()
        floor_pkgs = installed(self.floor)
        self.floor.remove()
        self.floor = None
        return {
            "stack_s": round(first.wall, 1),
            "floor_s": floor["total_s"],
            "ratio": round(first.wall / floor["total_s"], 2),
            "floor": floor,
            "load": round(load, 1),
            "states": len(first.states),
            "states_added_up_s": states_seconds(first),
            "packages_asked": asked,
            "packages_added": len(added),
            "package_sets_equal": floor_pkgs == stack_pkgs,
            "package_set_difference": sorted(floor_pkgs ^ stack_pkgs),
            "by_role_s": by_role(first),
            "slowest": states_rows(first),
            "all_states": states_rows(first, None),
        }

    def floor_run(self, packages: list[str], python: str, requirements: str) -> dict:
        box, floor = self.floor, "/root/floor"
        box.put_file(f"{floor}/requirements.txt", requirements)
        _, update = timed(box.exec, f"{APT} update")
        _, install = timed(box.exec, f"{APT} install --no-install-recommends " + shlex.join(packages))
        _, pip = timed(
            box.exec,
            f"{python} -m venv {floor}/venv && "
            f"{floor}/venv/bin/pip install -q --requirement {floor}/requirements.txt",
            env=PIP_ENV,
        )
        return {
            "apt_update_s": round(update, 1),
            "apt_install_s": round(install, 1),
            "pip_s": round(pip, 1),
            "total_s": round(update + install + pip, 1),
        }

    def reapply(self) -> None:
        c, box = self.clock, self.stack
        runs = []
        with c.phase(f"re-apply: the same highstate {self.args.reapply_runs} times (zero changes)"):
            for _ in range(self.args.reapply_runs):
                run = box.apply()
                if not run.ok or run.changed:
                    raise BenchError("the re-apply changed things:\n" + run.explain())
                runs.append(run)
                c.say(f"{run.wall:.1f} s, {run.summary()}")
        with c.phase("test=True on the converged box"):
            dry = box.apply(test=True)
            if not dry.ok or dry.pending or dry.changed:
                raise BenchError("test=True predicts changes:\n" + dry.explain())
            c.say(f"{dry.wall:.1f} s")
        with c.phase("where a re-apply's time goes: salt-call start, render"):
            ping = min(timed(box.salt_call, "test.ping", check=True)[1] for _ in range(2))
            render = min(
                timed(box.salt_call, "--out=quiet", "state.show_lowstate", check=True)[1] for _ in range(2)
            )
            c.say(f"salt-call test.ping {ping:.1f} s, state.show_lowstate {render:.1f} s")
        median = sorted(runs, key=lambda r: r.wall)[len(runs) // 2]
        self.results["reapply"] = {
            "runs_s": [round(r.wall, 2) for r in runs],
            "median_s": round(median.wall, 2),
            "test_true_s": round(dry.wall, 2),
            "salt_call_start_s": round(ping, 2),
            "render_s": round(render - ping, 2),
            "states_s": states_span(median),
            "states_added_up_s": states_seconds(median),
            "states": len(median.states),
            "by_role_s": by_role(median),
            "slowest": states_rows(median),
            "all_states": states_rows(median, None),
        }

    # serving

    def start_direct_gunicorn(self) -> None:
        """A second gunicorn of the live release on 127.0.0.1:DIRECT_PORT as supervisor runs it."""
        box, p = self.stack, self.ws["project"]
        conf = f"{self.ws['supervisor']['conf_dir']}/{p['name']}-gunicorn.conf"
        conf = box.exec(["cat", conf]).stdout
        command = re.search(r"^command=(.*)$", conf, re.M).group(1)
        bind = re.search(r"--bind unix:\S+ --umask 000", command)
        if not bind:
            raise BenchError(f"unexpected gunicorn command: {command}")
        command = command.replace(bind.group(0), f"--bind 127.0.0.1:{DIRECT_PORT}")
        script = (
            f"mkdir -p /run/bench-direct && chown {p['user']} /run/bench-direct && cd {p['root']} && "
            f"HOME={p['root']} XDG_RUNTIME_DIR=/run/bench-direct setsid nohup runuser -u {p['user']} -- "
            f"{command} > /tmp/bench-direct.log 2>&1 & echo $! > /tmp/bench-direct.pid"
        )
        box.exec(["sh", "-c", script])
        probe = (
            f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: {self.domain}' "
            f"http://127.0.0.1:{DIRECT_PORT}/version/"
        )
        deadline = time.monotonic() + 60
        while box.exec(probe, check=False).stdout.strip() != "200":
            if time.monotonic() > deadline:
                log = box.exec("cat /tmp/bench-direct.log", check=False).stdout
                raise BenchError(f"the direct gunicorn did not answer:\n{log[-2000:]}")
            time.sleep(0.3)

    def stop_direct_gunicorn(self) -> None:
        # The session leader's process group: runuser and the gunicorn it started.
        self.stack.exec("kill -TERM -- -$(cat /tmp/bench-direct.pid)", check=False)

    def load_tools(self) -> None:
        """wrk and curl in the stack box, the site's name on loopback (the serving and deploy phases)."""
        self.stack.exec(f"{APT} install --no-install-recommends wrk curl")
        self.stack.exec(
            f"grep -q ' {self.domain}$' /etc/hosts || echo '127.0.0.1 {self.domain}' >> /etc/hosts"
        )

    def serving(self) -> None:
        c, box, domain = self.clock, self.stack, self.domain
        secs = self.args.wrk_seconds
        with c.phase("serving: wrk and curl in the box, a second gunicorn on loopback TCP"):
            self.load_tools()
            self.start_direct_gunicorn()
            page = box.exec(["curl", "-sk", f"https://{domain}/"]).stdout
            css = re.search(r'href="(/static/[^"]+\.css)"', page)
            if not css:
                raise BenchError("the app's page links no stylesheet")
        paths = {"nginx": f"https://{domain}", "gunicorn": f"http://127.0.0.1:{DIRECT_PORT}"}
        out: dict = {"wrk": {"threads": THREADS, "connections": CONNECTIONS, "seconds": secs}}
        try:
            for endpoint in ("/", "/version/"):
                with c.phase(f"serving {endpoint}: nginx vs gunicorn, {self.args.rounds} rounds of {secs} s"):
                    for base in paths.values():  # warm-up, not counted
                        wrk(box, base + endpoint, 2, host=domain)
                    rounds: dict[str, list] = {name: [] for name in paths}
                    for _ in range(self.args.rounds):
                        for name, base in paths.items():
                            r = wrk(box, base + endpoint, secs, host=domain)
                            if r["failed"]:
                                raise BenchError(f"{name} {endpoint}: {r['failed']} failed requests: {r}")
                            rounds[name].append(r)
                    row = {n: round(statistics.median(r["rps"] for r in rs), 1) for n, rs in rounds.items()}
                    # Each round's two runs are back to back: their ratio is the least disturbed
                    # by what else runs on the machine; the median over the rounds.
                    row["ratio"] = round(
                        statistics.median(
                            g["rps"] and n["rps"] / g["rps"]
                            for n, g in zip(rounds["nginx"], rounds["gunicorn"], strict=True)
                        ),
                        2,
                    )
                    row["p50_ms"] = {n: rs[-1]["latency_ms"]["p50"] for n, rs in rounds.items()}
                    row["cpu_ms_per_request"] = {
                        n: statistics.median(r["server_cpu_ms"] for r in rs)
                        for n, rs in rounds.items()
                        if all("server_cpu_ms" in r for r in rs)
                    }
                    row["rounds_rps"] = {n: [r["rps"] for r in rs] for n, rs in rounds.items()}
                    out[endpoint] = row
                    c.say(f"nginx {row['nginx']} req/s, gunicorn {row['gunicorn']} req/s: {row['ratio']}")
            with c.phase(f"serving: a static file from nginx ({secs} s)"):
                wrk(box, paths["nginx"] + css.group(1), 2)
                r = wrk(box, paths["nginx"] + css.group(1), secs)
                out["static"] = {"rps": r["rps"], "p50_ms": r["latency_ms"]["p50"], "path": css.group(1)}
                out["static"]["cpu_ms_per_request"] = r.get("server_cpu_ms")
                c.say(f"{r['rps']} req/s")
        finally:
            self.stop_direct_gunicorn()
        self.results["serving"] = out

    # deploy

    def deploy(self) -> None:
        c, box = self.clock, self.stack
        pillar = yaml.safe_load(DEMO.read_text())
        pillar["webstack"]["app"]["source"] = {"git": app_helpers.REPO, "ref": "main", "path": None}
        with c.phase("deploy: the app from a git repository in the box (ref main), no load"):
            self.load_tools()  # installed already when the serving phase ran
            app_helpers.make_repo(box)
            first = must(box.apply(pillar), "the switch to the git source")
            c.say(f"{first.wall:.1f} s")
            app_helpers.commit(box, "release-2", {"demo/version.py": 'VERSION = "2"\n'}, "release 2")
            pillar["webstack"]["app"]["source"]["ref"] = "release-2"
        result, out = self.under_load("deploy: ref release-2", "2", lambda: box.apply(pillar))
        release = must(result, "the deploy under load").by_id["app-release-is-live"]
        out.update(
            apply_s=round(result.wall, 1),
            release_state_s=round((release.get("duration") or 0) / 1000, 1),
            release_changes=release.get("changes"),
        )
        c.say(
            f"{out['failed']} failed of {out['requests'] + out['polls']}; apply {out['apply_s']} s, "
            f"version 2 served after {out['new_version_served_after_s']} s"
        )
        # Back to main: the same load, an operator's rollback instead of a deploy.
        call, back = self.under_load(
            "rollback: release.rollback to main",
            "1",
            lambda: box.salt_call("--out=json", "release.rollback", pillar_root=TEST_PILLAR_ROOT),
        )
        if not call.ok:
            raise BenchError(f"release.rollback failed:\n{call.stdout}\n{call.stderr}")
        out["rollback"] = back
        c.say(
            f"{back['failed']} failed of {back['requests'] + back['polls']}; the call returned after"
            f" {back['apply_returned_after_s']} s, version 1 served after"
            f" {back['new_version_served_after_s']} s"
        )
        self.results["deploy"] = out

    def under_load(self, label: str, version: str, action) -> tuple:
        """
        `action()` while wrk loads the site and curl polls /version/ through
        nginx: its return, and what the load saw (failed requests, when
        `version` was first served, seconds from the start).
        """
        c, box, domain = self.clock, self.stack, self.domain
        conns, pause, cap = 4, self.args.deploy_pause_ms, 600
        with c.phase(f"{label} under load (wrk: {conns} connections, {pause} ms pauses)"):
            load = (
                f"BENCH_PAUSE_MS={pause} BENCH_MAX_REQUESTS={MAX_PER_THREAD} setsid nohup "
                f"{wrk_cmd(f'https://{domain}/version/', cap, connections=conns)} "
                "> /tmp/bench-wrk.out 2>&1 & echo $! > /tmp/bench-wrk.pid"
            )
            # The version served through nginx, every 50 ms at most (curl, a fixed count).
            poll = (
                "rm -f /tmp/bench-poll.stop; i=0; "
                f"while [ $i -lt {cap * 20} ] && [ ! -e /tmp/bench-poll.stop ]; do i=$((i+1)); "
                f"t=$(date +%s.%N); v=$(curl -sk -m 5 -o - -w ' %{{http_code}}' https://{domain}/version/); "
                'echo "$t $v"; sleep 0.05; done > /tmp/bench-poll.out 2>&1'
            )
            box.exec(["sh", "-c", load])
            box.exec(["sh", "-c", f"setsid nohup sh -c {shlex.quote(poll)} >/dev/null 2>&1 &"])
            time.sleep(2)
            t_start = time.time()
            result = action()
            t_end = time.time()
            time.sleep(2)
            box.exec("touch /tmp/bench-poll.stop; kill -INT $(cat /tmp/bench-wrk.pid)")
            deadline = time.monotonic() + 30
            while "BENCH " not in (text := box.exec("cat /tmp/bench-wrk.out").stdout):
                if time.monotonic() > deadline:
                    raise BenchError(f"wrk did not report:\n{text[-2000:]}")
                time.sleep(0.3)
            load_out = wrk_parse(text)
            polls = self.parse_polls(box.exec("cat /tmp/bench-poll.out").stdout)
        first = next((t for t, code, v in polls if code == 200 and v == version), None)
        poll_failed = sum(1 for _, code, _ in polls if code != 200)
        return result, {
            "new_version_served_after_s": round(first - t_start, 1) if first else None,
            "apply_returned_after_s": round(t_end - t_start, 1),
            "requests": load_out["requests"],
            "failed": load_out["failed"] + poll_failed,
            "wrk": {k: load_out[k] for k in ("requests", "ok", "failed", "versions", "rps", "latency_ms")},
            "polls": len(polls),
            "poll_failed": poll_failed,
        }

    @staticmethod
    def parse_polls(text: str) -> list[tuple]:
        rows = []
        for line in text.splitlines():
            parts = line.split(" ", 1)
            if len(parts) != 2:
                continue
            body, _, code = parts[1].rpartition(" ")
            m = re.search(r'"version"\s*:\s*"([^"]*)"', body)
            rows.append((float(parts[0]), int(code) if code.isdigit() else 0, m.group(1) if m else None))
        return rows

    # fleet

    def fleet(self) -> None:
        from tools.harness.fleet import Fleet  # the fleet helper's API, imported when this phase runs

        c = self.clock
        if self.stack and not self.args.keep:
            # The single box's services would take CPU from the fleet.
            self.stack.remove()
            self.stack = None
        fleet = Fleet(prefix=f"{PREFIX}-fleet")
        fleet.down()
        try:
            with c.phase(f"fleet: master and {len(fleet.minions)} minions up, keys placed, mine filled"):
                _, up_s = timed(fleet.up)
            t0 = time.monotonic()
            with c.phase("fleet: first converge through the master (in waves)"):
                results = fleet.converge(log=lambda line: print("    " + line, flush=True), first=True)
            converge_s = time.monotonic() - t0
            failed = sorted(m for m, r in results.items() if not r.ok)
            if failed or len(results) < len(fleet.minions):
                raise BenchError(f"the fleet converge failed on {', '.join(failed) or 'missing minions'}")
            with c.phase("fleet: re-apply everywhere (one salt '*' state.apply)"):
                t0 = time.monotonic()
                again = fleet.apply()
                reapply_s = time.monotonic() - t0
            changed = {m: r.changed for m, r in again.items() if r.changed or not r.ok}
            one_box = self.results.get("converge", {}).get("stack_s")
            self.results["fleet"] = {
                "minions": len(fleet.minions),
                "up_s": round(up_s, 1),
                "converge_s": round(converge_s, 1),
                "per_minion_s": {m: round(r.wall, 1) for m, r in results.items()},
                "one_box_s": one_box,
                "ratio_to_one_box": round(converge_s / one_box, 2) if one_box else None,
                "reapply_s": round(reapply_s, 1),
                "reapply_changed": changed,
            }
            self.results["fleet"].update(self.replication(fleet))
        finally:
            if not self.args.keep:
                fleet.down()

    def replication(self, fleet) -> dict:
        """The replica's lag under pgbench writes on the primary; a promotion, timed to the first write."""
        c, db, replica = self.clock, fleet.box("db"), fleet.box("replica")
        seconds = self.args.replication_load_s
        lag_sql = (
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,"
            " coalesce(extract(epoch FROM replay_lag) * 1000, 0)::int FROM pg_stat_replication"
        )
        pgsql(db, None, "CREATE DATABASE replbench")
        db.exec(["runuser", "-u", "postgres", "--", "pgbench", "-q", "-i", "-s", "5", "replbench"])
        out = {}
        # The fleet's commits wait for the replica (synchronous); as postgres
        # they would commit locally (salt://postgresql/service.sls): both, side by side.
        for mode, commit in (("sync", "on"), ("local", "local")):
            with c.phase(f"fleet: replication lag, commits {commit}, under {seconds:g} s of pgbench"):
                out[mode] = self._lag_under_load(db, seconds, commit, lag_sql)
        pgsql(db, None, "DROP DATABASE replbench")
        with c.phase("fleet: promotion (postgresql.promote) with the primary stopped, to the first write"):
            db.exec("systemctl stop postgresql")
            t0 = time.monotonic()
            ran = fleet.master.exec(
                ["salt-run", "state.orchestrate", "postgresql.promote", 'pillar={"replica": "replica"}'],
                check=False,
            )
            orchestrate_s = time.monotonic() - t0
            if ran.rc != 0:
                raise BenchError(f"the promotion failed:\n{ran.stdout[-3000:]}")
            web = fleet.box("web1")
            domain = yaml.safe_load((REPO / "salt/pillar/fleet/common.sls").read_text())["webstack"][
                "project"
            ]
            write = f"curl -sf -X POST -H 'Host: {domain['domains'][0]}' 'http://127.0.0.1/db/?name=bench-promotion'"
            while web.exec(write, check=False).rc != 0:
                if time.monotonic() - t0 > 300:
                    raise BenchError("no write succeeded within 300 s of the promotion")
                time.sleep(0.2)
            out.update(promotion_s=round(orchestrate_s, 1), first_write_s=round(time.monotonic() - t0, 1))
        if pgsql(replica, None, "SELECT pg_is_in_recovery()") != "f":
            raise BenchError("the replica is still in recovery after the promotion")
        return out

    @staticmethod
    def _lag_under_load(db, seconds: float, commit: str, lag_sql: str) -> dict:
        """pgbench -c 4 with synchronous_commit `commit`: its tps, the replica's lag sampled meanwhile."""
        load = subprocess.Popen(  # noqa: S603 - our container, our command
            ["docker", "exec", "-e", f"PGOPTIONS=-c synchronous_commit={commit}", db.name]
            + ["runuser", "-p", "-u", "postgres", "--", "pgbench", "-n", "-c", "4", "-T", str(int(seconds))]
            + ["replbench"],
            stdout=subprocess.PIPE,
            text=True,
        )
        samples = []
        while load.poll() is None:
            row_ = pgsql(db, None, lag_sql)
            if row_:
                samples.append(tuple(int(x) for x in row_.split("|")))
            time.sleep(0.2)
        tps = re.search(r"tps = ([0-9.]+)", load.stdout.read())
        lag_bytes, lag_ms = [b for b, _ in samples], [ms for _, ms in samples]
        return {
            "tps": round(float(tps.group(1))) if tps else None,
            "lag_samples": len(samples),
            "lag_bytes_median": statistics.median(lag_bytes) if samples else None,
            "lag_bytes_max": max(lag_bytes, default=None),
            "lag_ms_median": statistics.median(lag_ms) if samples else None,
            "lag_ms_max": max(lag_ms, default=None),
        }

    # backup

    def backup(self) -> None:
        """pgBackRest (directory, S3) against pg_dump/pg_restore on one db box; then the RPO."""
        from object_store import start_object_store  # the tests' S3 store (moto behind TLS)

        c, args = self.clock, self.args
        if self.stack and not self.args.keep:
            self.stack.remove()  # the single box's services would take CPU from the measures
            self.stack = None
        boxes = BenchBoxes(f"{PREFIX}-bk")
        out: dict = {"scale": args.backup_scale}
        self.results["backup"] = out
        try:
            with c.phase("backup: the S3 store box, the db box, the RPO db box and its successor"):
                store = start_object_store(boxes, "store")
                db, rpo, fresh = (boxes.start(n) for n in ("db", "rpo-db", "rpo-fresh"))
                db_pillar = backup_pillar(store, None)
                rpo_pillar = backup_pillar(store, None, prefix="/rpo", clients=[db.ip(boxes.network)])
                # Its client connects over TLS: the fleet CA's certificate, as a master would give it.
                tls = peer_tls.issue(
                    tempfile.mkdtemp(prefix="bench-peer-ca-"), rpo.name, rpo.ip(boxes.network), rpo_pillar
                )
                rpo_pillar = with_settings(rpo_pillar, peer_tls=tls)
                # The fresh box first converged without backups (the packages, the cluster):
                # with them it would archive beside the RPO box.
                plain = with_settings(rpo_pillar, backup={"enabled": False})
                with concurrent.futures.ThreadPoolExecutor(3) as pool:
                    runs = list(
                        pool.map(
                            lambda bp: bp[0].apply(bp[1]),
                            [(db, db_pillar), (rpo, rpo_pillar), (fresh, plain)],
                        )
                    )
                for box, run in zip((db, rpo, fresh), runs, strict=True):
                    must(run, f"the converge of {box.name}")
                c.say(
                    ", ".join(f"{b.name} {r.wall:.0f} s" for b, r in zip((db, rpo, fresh), runs, strict=True))
                )
            # The RPO box idles (archive_timeout only switches a segment with writes) until its turn.
            ws = json.loads(
                db.salt_call(
                    "--out=json", "webstack.settings", pillar_root=TEST_PILLAR_ROOT, check=True
                ).stdout
            )["local"]
            pg = ws["postgresql"]
            with c.phase(f"backup: pgbench -i -s {args.backup_scale} into database bench"):
                pgsql(db, None, "CREATE DATABASE bench")
                _, took = timed(
                    db.exec,
                    [
                        "runuser",
                        "-u",
                        "postgres",
                        "--",
                        f"{pg['bin_dir']}/pgbench",
                        "-i",
                        "-q",
                        "-s",
                        str(args.backup_scale),
                        "bench",
                    ],
                )
                size = int(pgsql(db, "bench", "SELECT pg_database_size('bench')"))
                cluster = int(pgsql(db, None, "SELECT sum(pg_database_size(datname)) FROM pg_database"))
                out.update(pgbench_init_s=round(took, 1), database_bytes=size, cluster_bytes=cluster)
                c.say(f"{size / 1e9:.2f} GB (cluster {cluster / 1e9:.2f} GB) in {took:.1f} s")
            rows = 100_000 * args.backup_scale
            # S3 first: the box is converged with it (its first backup was of an empty cluster).
            out["s3"] = self.backup_round(db, ws, "S3 store", rows)
            with c.phase("backup: the db box converged again with the repository in a directory"):
                local = must(
                    db.apply(backup_pillar(store, "/var/backups/pgbackrest")), "the converge to a directory"
                )
                c.say(f"{local.wall:.1f} s (its first full backup into the new repository included)")
            out["local"] = self.backup_round(db, ws, "directory", rows)
            out["dump"] = self.dump_round(db, rows)
            with c.phase("backup: the fixed part of a restore: salt-call's start, a PostgreSQL restart"):
                ping = min(timed(db.salt_call, "test.ping", check=True)[1] for _ in range(2))
                restart = min(timed(db.exec, ["systemctl", "restart", pg["service"]])[1] for _ in range(2))
                out["fixed"] = {"salt_call_s": round(ping, 1), "postgresql_restart_s": round(restart, 1)}
                c.say(f"salt-call test.ping {ping:.1f} s, systemctl restart {pg['service']} {restart:.1f} s")
            ratios = {}
            for key, repo in (("local", out["local"]), ("s3", out["s3"])):
                ratios[f"{key}_restore_wiped_to_pg_restore"] = round(
                    repo["restore_wiped_s"] / out["dump"]["restore_plain_s"], 2
                )
                ratios[f"{key}_restore_wiped_to_pg_restore_j2"] = round(
                    repo["restore_wiped_s"] / out["dump"]["restore_j2_s"], 2
                )
                ratios[f"{key}_restore_in_place_to_pg_restore"] = round(
                    repo["restore_in_place_s"] / out["dump"]["restore_plain_s"], 2
                )
                ratios[f"{key}_pgbackrest_restore_wiped_to_pg_restore"] = round(
                    (repo["pgbackrest_restore_wiped_s"] or 0) / out["dump"]["restore_plain_s"], 2
                )
                ratios[f"{key}_backup_to_pg_dump"] = round(repo["backup_s"] / out["dump"]["dump_s"], 2)
            out["ratios"] = ratios
            c.say(json.dumps(ratios))
            out["rpo"] = self.rpo_round(rpo, fresh, db, rpo_pillar)
        finally:
            if not self.args.keep:
                boxes.close()

    def backup_round(self, db: Box, ws: dict, where: str, rows: int) -> dict:
        """
        backup.run full, then backup.restore_db in place (--delta: files compared, only the
        differing ones fetched) and into an emptied data directory (a new disk: every file
        fetched), each --backup-rounds times: the fastest counts (this machine is shared).
        """
        c, pg, res = self.clock, ws["postgresql"], {}
        stanza, rounds = ws["project"]["name"], self.args.backup_rounds
        salt = ("--out=json", "backup.run", "full")
        with c.phase(f"backup: salt-call backup.run full, repository: {where}"):
            _, took = timed(db.salt_call, *salt, pillar_root=TEST_PILLAR_ROOT, check=True)
            res["backup_s"] = round(took, 1)
            res["pgbackrest_backup_s"] = pgbackrest_took(db, stanza, "backup")
            info = db.exec(
                [
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    "pgbackrest",
                    f"--stanza={stanza}",
                    "--output=json",
                    "info",
                ]
            )
            newest = json.loads(info.stdout)[0]["backup"][-1]["info"]
            res["backup_bytes"], res["repo_bytes"] = newest["size"], newest["repository"]["size"]
            c.say(
                f"{took:.1f} s (pgBackRest {res['pgbackrest_backup_s']} s); {newest['size'] / 1e9:.2f} GB, "
                f"{newest['repository']['size'] / 1e6:.0f} MB in the repository"
            )
        runs: dict[str, list] = {"in_place": [], "wiped": []}
        for n in range(1, rounds + 1):
            for kind, label in (
                ("in_place", "in place (--delta)"),
                ("wiped", "into an emptied data directory"),
            ):
                with c.phase(
                    f"backup: salt-call backup.restore_db {label}, repository: {where} ({n}/{rounds})"
                ):
                    if kind == "wiped":
                        db.exec(["systemctl", "stop", pg["service"]])
                        db.exec(["find", pg["data_dir"], "-mindepth", "1", "-delete"])
                    _, took = timed(
                        db.salt_call,
                        "--out=json",
                        "backup.restore_db",
                        pillar_root=TEST_PILLAR_ROOT,
                        check=True,
                    )
                    own = pgbackrest_took(db, stanza, "restore")
                    check_rows(db, rows)
                    runs[kind].append({"s": round(took, 1), "pgbackrest_s": own})
                    c.say(f"{took:.1f} s (pgBackRest {own} s)")
        for kind, done in runs.items():
            best = min(done, key=lambda r: r["s"])
            res[f"restore_{kind}_s"] = best["s"]
            res[f"pgbackrest_restore_{kind}_s"] = best["pgbackrest_s"]
            res[f"restore_{kind}_runs"] = done
        return res

    def dump_round(self, db: Box, rows: int) -> dict:
        """pg_dump -Fc to a file; createdb + pg_restore plain and -j 2, alternated, the fastest of each."""
        c, res, dump, rounds = self.clock, {}, "/var/tmp/bench.dump", self.args.backup_rounds
        as_pg = ["runuser", "-u", "postgres", "--"]
        with c.phase("backup: pg_dump -Fc of database bench to a file"):
            _, took = timed(db.exec, [*as_pg, "pg_dump", "-Fc", "-f", dump, "bench"])
            res["dump_s"], res["dump_bytes"] = round(took, 1), int(db.exec(["stat", "-c", "%s", dump]).stdout)
            c.say(f"{took:.1f} s, {res['dump_bytes'] / 1e6:.0f} MB")
        kinds = [("restore_plain_s", []), ("restore_j2_s", ["-j", "2"])]
        runs: dict[str, list] = {key: [] for key, _ in kinds}
        for n in range(1, rounds + 1):
            for key, extra in kinds if n % 2 else kinds[::-1]:
                target = "bench_" + key.split("_")[1]
                how = " ".join(extra) or "(plain)"
                with c.phase(f"backup: createdb + pg_restore {how} into a new database ({n}/{rounds})"):
                    t0 = time.monotonic()
                    db.exec([*as_pg, "createdb", target])
                    db.exec([*as_pg, "pg_restore", *extra, "-d", target, dump])
                    runs[key].append(round(time.monotonic() - t0, 1))
                    check_rows(db, rows, target)
                    pgsql(db, None, f"DROP DATABASE {target}")
                    c.say(f"{runs[key][-1]:.1f} s")
        for key, done in runs.items():
            res[key], res[key.removesuffix("_s") + "_runs"] = min(done), done
        db.exec(["rm", "-f", dump])
        return res

    def rpo_round(self, rpo: Box, fresh: Box, client_box: Box, pillar: dict) -> dict:
        """Inserts acknowledged one by one from another box; the db box killed; restored on `fresh`."""
        c, seconds = self.clock, self.args.rpo_load_s
        sql = "CREATE TABLE acks (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())"
        pgsql(rpo, "shop", sql)
        pgsql(rpo, "shop", "ALTER TABLE acks OWNER TO shop")
        password = pillar["webstack"]["postgresql"]["password"]
        # One psql per insert (autocommit): exit 0 is the commit acknowledged; the id and the
        # server's time of it go to a file on the client box, which outlives the db box.
        insert = (
            f"PGPASSWORD={shlex.quote(password)} PGCONNECT_TIMEOUT=3 "
            f"psql -h {rpo.name} -U shop -d shop -XAtq "
            '-c "INSERT INTO acks (id) VALUES ($i) RETURNING extract(epoch FROM at)"'
        )
        loop = (
            "rm -f /var/tmp/rpo.stop /var/tmp/rpo-acks.log; i=0; "
            "while [ ! -e /var/tmp/rpo.stop ] && [ $i -lt 1000000 ]; do i=$((i+1)); "
            f'at=$({insert} 2>/dev/null) && echo "$i $at" >> /var/tmp/rpo-acks.log; done'
        )
        with c.phase(
            f"backup RPO: {seconds:g} s of acknowledged inserts from {client_box.name}, then docker kill"
        ):
            client_box.exec(["sh", "-c", f"setsid nohup sh -c {shlex.quote(loop)} >/dev/null 2>&1 &"])
            time.sleep(seconds)
            rpo.container.kill()
            killed_at = time.time()
            time.sleep(3)
            client_box.exec("touch /var/tmp/rpo.stop; sleep 4")
            acks = {}
            for line in client_box.exec("cat /var/tmp/rpo-acks.log").stdout.splitlines():
                parts = line.split()
                if len(parts) == 2:
                    acks[int(parts[0])] = float(parts[1])
            if not acks:
                raise BenchError("no insert was acknowledged")
            c.say(
                f"{len(acks)} inserts acknowledged, the last "
                f"{killed_at - max(acks.values()):.1f} s before the kill"
            )
        with c.phase("backup RPO: a fresh box converged with the same pillar, then backup.restore_db"):
            first = fresh.apply(pillar)
            failed = {
                sid: why
                for sid, why in first.failed
                if not str(why).startswith("One or more requisite failed")
            }
            names_restore = any("backup.restore_db" in str(why) for why in failed.values())
            c.say(
                f"converge {first.wall:.1f} s; failed as expected, naming backup.restore_db: {names_restore}"
            )
            _, took = timed(
                fresh.salt_call, "--out=json", "backup.restore_db", pillar_root=TEST_PILLAR_ROOT, check=True
            )
            restored = {
                int(i): float(at)
                for i, at in (
                    line.split("|")
                    for line in pgsql(
                        fresh, "shop", "SELECT id, extract(epoch FROM at) FROM acks"
                    ).splitlines()
                    if line
                )
            }
        missing = sorted(set(acks) - set(restored))
        last_ack, last_restored = max(acks.values()), max(restored.values(), default=None)
        res = {
            "load_s": seconds,
            "acknowledged": len(acks),
            "restored": len(restored),
            "missing_acknowledged": len(missing),
            "first_missing": missing[:1],
            "last_acknowledged_before_kill_s": round(killed_at - last_ack, 1),
            "lost_s": round(last_ack - last_restored, 1) if last_restored else None,
            "fresh_converge_s": round(first.wall, 1),
            "fresh_failed_states": sorted(failed),
            "fresh_failure_names_restore": names_restore,
            "restore_s": round(took, 1),
            "pgbackrest_restore_s": pgbackrest_took(fresh, pillar["webstack"]["project"]["name"], "restore"),
        }
        c.say(
            f"restore {took:.1f} s: {res['missing_acknowledged']} of {len(acks)} acknowledged inserts "
            "missing, "
            f"{res['lost_s']} s of committed writes lost"
        )
        return res

    # output

    def run(self) -> int:
        args = self.args
        self.results["meta"] = meta()
        failed = None
        try:
            for name in PHASES:
                if name not in args.phases:
                    continue
                if name not in ("converge", "fleet", "backup") and self.stack is None:
                    self.stack = Box.get(f"{PREFIX}-stack")  # --phases without converge: the kept box
                getattr(self, name)()
        except Exception as exc:  # noqa: BLE001 - reported; the results so far are written
            failed = f"{type(exc).__name__}: {exc}"
            print(f"==> FAILED: {failed}", flush=True)
        finally:
            if not args.keep:
                self.remove_boxes()
        self.results["meta"]["phases_s"] = self.clock.phases
        self.results["meta"]["total_s"] = round(time.monotonic() - self.clock.t0, 1)
        self.results["meta"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
        self.results["meta"]["failed"] = failed
        md = markdown(self.results)
        OUT.mkdir(exist_ok=True)
        (OUT / "results.json").write_text(json.dumps(self.results, indent=2) + "\n")
        (OUT / "results.md").write_text(md)
        print()
        print(md)
        print(f"written: {OUT / 'results.json'}, {OUT / 'results.md'}")
        return 1 if failed else 0


# -- the backup phase's helpers -------------------------------------------------


class BenchBoxes:
    """Boxes on a docker network of their own (what object_store.start_object_store expects)."""

    def __init__(self, prefix: str):
        self.prefix, self.network = prefix, f"{prefix}-net"
        dc = client()
        for old in dc.networks.list(names=[self.network]):
            for box in dc.containers.list(all=True, filters={"network": self.network}):
                box.remove(force=True)
            old.remove()
        dc.networks.create(self.network, labels={"webstack": "bench"})
        self.started: list[Box] = []

    def start(self, name: str) -> Box:
        box = Box.start(
            f"{self.prefix}-{name}", hostname=name, network=self.network, labels={"webstack": "bench"}
        )
        self.started.append(box)
        box.install_salt()
        return box

    def close(self) -> None:
        for box in self.started:
            box.remove()
        with contextlib.suppress(Exception):
            client().networks.get(self.network).remove()


def backup_pillar(store, path: str | None, prefix: str | None = None, clients: list | None = None) -> dict:
    """test/pillars/minimal.yaml, roles [db], backups on: to `path`, else to the S3 `store`."""
    base = yaml.safe_load((REPO / "test/pillars/minimal.yaml").read_text())
    repository = {"path": path, "prefix": prefix} if path else {"prefix": prefix, "s3": store.pillar()}
    backup = {"enabled": True, "repository": repository, "passphrase": "bench-backup-passphrase-4e1d"}
    pg = {"clients": clients} if clients else {}
    return with_settings(base, roles=["db"], backup=backup, postgresql=pg)


def pgsql(box: Box, database: str | None, sql: str) -> str:
    """One statement as postgres (psql -XAt), its output."""
    cmd = ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql]
    return box.exec(cmd + (["-d", database] if database else [])).stdout.strip()


def check_rows(box: Box, rows: int, database: str = "bench") -> None:
    have = int(pgsql(box, database, "SELECT count(*) FROM pgbench_accounts"))
    if have != rows:
        raise BenchError(f"{box.name}: {have} rows in {database}.pgbench_accounts, not {rows}")


def pgbackrest_took(box: Box, stanza: str, command: str) -> float | None:
    """Seconds of pgBackRest's last `command` (backup, restore), from its log's end line."""
    log = box.exec(
        ["sh", "-c", f"grep '{command} command end' /var/log/pgbackrest/{stanza}-{command}.log | tail -1"],
        check=False,
    ).stdout
    m = re.search(r"\((\d+)ms\)", log)
    return round(int(m.group(1)) / 1000, 1) if m else None


def meta() -> dict:
    def git(*a):
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True).stdout.strip()

    info = client().info()
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "--short", "HEAD"),
        # Local changes besides this run's results.
        "dirty": any(
            "bench/results." not in line
            for line in git("status", "--porcelain", "--untracked-files=all").splitlines()
        ),
        "image": SALT_IMAGE,
        "cpus": os.cpu_count(),
        "memory_gib": round(info.get("MemTotal", 0) / 2**30, 1),
        "load_start": [round(x, 2) for x in os.getloadavg()],
        "containers_running": info.get("ContainersRunning"),
    }


# -- the table ----------------------------------------------------------------------


def markdown(r: dict) -> str:
    m, g = r["meta"], r["goals"]
    lines = [
        "# make bench",
        "",
        f"{m['date']}, commit {m['commit']}{' (+ local changes)' if m.get('dirty') else ''}, "
        f"{m['cpus']} cores, {m['memory_gib']} GiB, image {m['image']}; load average "
        f"{m['load_start'][0]:.1f} at the start, {m.get('load_end', [0])[0]:.1f} at the end "
        f"({m['containers_running']} other containers running). Total {m.get('total_s', 0):.0f} s.",
        "",
        "| figure | measured | goal |",
        "|---|---:|---|",
    ]

    def row(name, value, goal=""):
        lines.append(f"| {name} | {value} | {goal} |")

    def mark(ok):
        return "met" if ok else "**missed**"

    cv = r.get("converge")
    if cv:
        fl = cv["floor"]
        n = len(cv.get("runs", [])) or 1
        best = f", best of {n}" if n > 1 else ""
        row(f"converge: full single-box stack ({cv['states']} states{best})", f"{cv['stack_s']:.1f} s")
        row(
            f"converge floor: apt-get update + install ({cv['packages_added']} packages) + pip{best}",
            f"{cv['floor_s']:.1f} s ({fl['apt_update_s']:.0f} + {fl['apt_install_s']:.0f} "
            f"+ {fl['pip_s']:.0f})",
        )
        row(
            "converge / floor",
            f"{cv['ratio']:.2f}",
            f"≤ {g['converge_ratio']}: {mark(cv['ratio'] <= g['converge_ratio'])}",
        )
    ra = r.get("reapply")
    if ra:
        row(
            f"re-apply, no change (median of {len(ra['runs_s'])})",
            f"{ra['median_s']:.2f} s",
            f"≤ {g['reapply_s']:g} s: {mark(ra['median_s'] <= g['reapply_s'])}",
        )
        row(
            "re-apply: salt-call start / render / states (first start to last end; durations added up)",
            f"{ra['salt_call_start_s']:.1f} / {ra['render_s']:.1f} / {ra['states_s']:.1f} s "
            f"({ra['states_added_up_s']:.1f} s)",
        )
        row("test=True on the converged box", f"{ra['test_true_s']:.1f} s")
    sv = r.get("serving")
    if sv:
        for ep in ("/", "/version/"):
            if ep in sv:
                e = sv[ep]
                cpu = e.get("cpu_ms_per_request", {})
                for name, label in (
                    ("nginx", "through nginx (https)"),
                    ("gunicorn", "straight from gunicorn"),
                ):
                    note = f" ({cpu[name]:.2f} ms CPU each)" if name in cpu else ""
                    row(f"app `{ep}` {label}", f"{e[name]:.0f} req/s{note}")
                row(
                    f"app `{ep}` nginx / gunicorn",
                    f"{e['ratio']:.2f}",
                    f"≥ {g['serving_ratio']}: {mark(e['ratio'] >= g['serving_ratio'])}",
                )
        if "static" in sv:
            st = sv["static"]
            note = f" ({st['cpu_ms_per_request']:.3f} ms CPU each)" if st.get("cpu_ms_per_request") else ""
            row("static file through nginx (https)", f"{st['rps']:.0f} req/s{note}")
    dp = r.get("deploy")
    if dp:
        row(
            "deploy under load: failed requests",
            f"{dp['failed']} of {dp['requests'] + dp['polls']}",
            f"{g['deploy_failed']}: {mark(dp['failed'] <= g['deploy_failed'])}",
        )
        row(
            "deploy: apply of the new ref / new version served after",
            f"{dp['apply_s']:.1f} s / {dp['new_version_served_after_s']} s",
        )
        rb = dp.get("rollback")
        if rb:
            row(
                "rollback under load: failed requests",
                f"{rb['failed']} of {rb['requests'] + rb['polls']}",
                f"{g['deploy_failed']}: {mark(rb['failed'] <= g['deploy_failed'])}",
            )
            row(
                "rollback: call returned / old version served after (deploy / rollback)",
                f"{rb['apply_returned_after_s']} s / {rb['new_version_served_after_s']} s"
                + (
                    f" ({dp['new_version_served_after_s'] / rb['new_version_served_after_s']:.1f}x faster)"
                    if dp["new_version_served_after_s"] and rb["new_version_served_after_s"]
                    else ""
                ),
            )
    fl = r.get("fleet")
    if fl:
        row(f"fleet: {fl['minions']} minions converged through the master", f"{fl['converge_s']:.1f} s")
        if fl.get("one_box_s"):
            row("fleet / one box", f"{fl['ratio_to_one_box']:.2f}")
        row("fleet: re-apply everywhere, no change", f"{fl['reapply_s']:.1f} s")
        for mode, label in (("sync", "commits wait for the replica"), ("local", "commits local")):
            lag = fl.get(mode) or {}
            if lag.get("lag_samples"):
                row(
                    f"pgbench -c 4, {label}: tps; replica lag median / max ({lag['lag_samples']} samples)",
                    f"{lag['tps']} tps; {lag['lag_bytes_median']:.0f} / {lag['lag_bytes_max']} bytes,"
                    f" {lag['lag_ms_median']:.0f} / {lag['lag_ms_max']} ms",
                )
        if fl.get("first_write_s") is not None:
            row(
                "promotion: the command / the first write through the app after it",
                f"{fl['promotion_s']:.1f} s / {fl['first_write_s']:.1f} s",
            )
    bk = r.get("backup")
    if bk and bk.get("dump"):
        gb = bk.get("database_bytes", 0) / 1e9
        dump = bk["dump"]
        for key, label in (("local", "repository in a directory"), ("s3", "repository in the S3 store")):
            repo = bk.get(key)
            if not repo:
                continue
            n = len(repo.get("restore_wiped_runs", []))
            best = f", best of {n}" if n > 1 else ""
            row(
                f"backup ({gb:.2f} GB, pgbench scale {bk['scale']}), {label}: "
                "`backup.run full` (pgBackRest's own)",
                f"{repo['backup_s']:.1f} s ({repo['pgbackrest_backup_s']} s)",
            )
            row(
                f"restore, {label}: `backup.restore_db` into an emptied data dir{best} (pgBackRest's own)",
                f"{repo['restore_wiped_s']:.1f} s ({repo['pgbackrest_restore_wiped_s']} s)",
            )
            row(
                f"restore, {label}: `backup.restore_db` in place, --delta{best} (pgBackRest's own)",
                f"{repo['restore_in_place_s']:.1f} s ({repo['pgbackrest_restore_in_place_s']} s)",
            )
        row(
            f"`pg_dump -Fc` of the same database ({dump['dump_bytes'] / 1e6:.0f} MB file)",
            f"{dump['dump_s']:.1f} s",
        )
        n = len(dump.get("restore_plain_runs", []))
        row(
            "`createdb` + `pg_restore` (plain) / with `-j 2`" + (f", best of {n}" if n > 1 else ""),
            f"{dump['restore_plain_s']:.1f} / {dump['restore_j2_s']:.1f} s",
        )
        ra = bk.get("ratios", {})
        if "local_restore_wiped_to_pg_restore" in ra:
            x = ra["local_restore_wiped_to_pg_restore"]
            row(
                "restore (directory, emptied data dir) / pg_restore plain (/ -j 2)",
                f"{x:.2f} ({ra['local_restore_wiped_to_pg_restore_j2']:.2f})",
                f"≤ {g['restore_ratio']}: {mark(x <= g['restore_ratio'])}",
            )
            row(
                "pgBackRest's own restore (directory, emptied data dir) / pg_restore plain",
                f"{ra.get('local_pgbackrest_restore_wiped_to_pg_restore', 0):.2f}",
            )
            row(
                "restore (directory, in place) / pg_restore plain",
                f"{ra['local_restore_in_place_to_pg_restore']:.2f}",
            )
            row(
                "restore (S3, emptied data dir) / pg_restore plain (/ -j 2)",
                f"{ra['s3_restore_wiped_to_pg_restore']:.2f} ({ra['s3_restore_wiped_to_pg_restore_j2']:.2f})",
            )
            row(
                "backup.run full / pg_dump -Fc: directory, S3",
                f"{ra['local_backup_to_pg_dump']:.2f}, {ra['s3_backup_to_pg_dump']:.2f}",
            )
    fx = (bk or {}).get("fixed")
    if fx:
        row(
            "in every restore: salt-call's start / a PostgreSQL restart",
            f"{fx['salt_call_s']:.1f} / {fx['postgresql_restart_s']:.1f} s",
        )
    rp = (bk or {}).get("rpo")
    if rp:
        row(
            f"RPO: acknowledged inserts missing after kill + restore (of {rp['acknowledged']})",
            f"{rp['missing_acknowledged']}",
        )
        lost = rp["lost_s"]
        row(
            "RPO: seconds of committed writes lost (last acknowledged - last restored)",
            f"{lost} s",
            f"≤ {g['rpo_s']} s: {mark(lost is not None and lost <= g['rpo_s'])}",
        )
        row(
            "RPO: `backup.restore_db` on the fresh box (pgBackRest's own)",
            f"{rp['restore_s']:.1f} s ({rp['pgbackrest_restore_s']} s)",
        )
    if cv:
        same = "yes" if cv["package_sets_equal"] else "no: " + ", ".join(cv["package_set_difference"])
        lines += [
            "",
            f"The floor installs the {cv['packages_added']} packages the converge added (the states "
            f"asked for {len(cv['packages_asked'])}: {', '.join(cv['packages_asked'])}) in one "
            "`apt-get install`; "
            f"both boxes then hold the same packages: {same}.",
        ]
    if m.get("failed"):
        lines += ["", f"**The run failed**: {m['failed']}"]

    for key, title in (("converge", "Converge"), ("reapply", "Re-apply")):
        part = r.get(key)
        if not part:
            continue
        lines += ["", f"## {title}: the 10 slowest states", "", "| s | state | function |", "|---:|---|---|"]
        lines += [f"| {s['s']:.2f} | {s['id']} | {s['fun']} |" for s in part["slowest"]]
        roles = ", ".join(f"{k} {v:.1f}" for k, v in part["by_role_s"].items())
        lines += ["", f"Seconds of state durations per role: {roles}."]
    if cv and len(cv.get("runs", [])) > 1:
        lines += ["", "## Converge: each pair (stack, floor) in order", ""]
        lines += [
            f"- {x['stack_s']:.1f} s / {x['floor_s']:.1f} s = {x['ratio']:.2f} (load {x['load']:.1f})"
            for x in cv["runs"]
        ]
    if fl:
        lines += ["", "## Fleet: each minion's converge", ""]
        lines += [f"- {k}: {v:.1f} s" for k, v in fl["per_minion_s"].items()]
    lines += ["", "## Phases", ""]
    lines += [f"- {k}: {v:.1f} s" for k, v in m.get("phases_s", {}).items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated, in this order: {','.join(PHASES)} (later ones reuse a --keep box)",
    )
    parser.add_argument("--only", help="one phase alone (same as --phases NAME)")
    parser.add_argument("--keep", action="store_true", help="leave the boxes and the fleet running")
    parser.add_argument("--converge-runs", type=int, default=2, help="stack and floor pairs; the best counts")
    parser.add_argument("--reapply-runs", type=int, default=5)
    parser.add_argument("--wrk-seconds", type=float, default=4, help="each serving run")
    parser.add_argument("--rounds", type=int, default=5, help="serving runs per path, alternated")
    parser.add_argument("--deploy-pause-ms", type=int, default=20, help="each deploy load connection's pause")
    parser.add_argument("--backup-scale", type=int, default=70, help="pgbench scale (70: about 1.05 GB)")
    parser.add_argument("--backup-rounds", type=int, default=2, help="restores of each kind; the best counts")
    parser.add_argument("--rpo-load-s", type=float, default=90, help="seconds of inserts before the kill")
    parser.add_argument(
        "--replication-load-s",
        type=float,
        default=20,
        help="seconds of pgbench writes on the fleet's primary",
    )
    args = parser.parse_args()
    args.phases = [p.strip() for p in (args.only or args.phases).split(",") if p.strip()]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    return Bench(args).run()


if __name__ == "__main__":
    sys.exit(main())
