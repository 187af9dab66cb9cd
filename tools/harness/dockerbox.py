"""
Systemd containers converged by this Salt tree: what `make demo`, the tests,
the fleet and the benchmarks drive.

A Box is a container from a local Debian image (12 bookworm, the default, or
13 trixie) running systemd as PID 1, with this repository mounted read-only at
/opt/webstack (where the minion config in etc/salt/minion.d expects it) and
Salt installed in /opt/salt.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import shlex
import tarfile
import time
from pathlib import Path

import docker
import docker.errors
import yaml

REPO = Path(__file__).resolve().parent.parent.parent
# The Debian suites converged in the tests, oldest first; the first is the default.
SUITES = ("bookworm", "trixie")


def base_image(suite: str = SUITES[0]) -> str:
    """The debootstrapped image of `suite` (tools/harness/build-image.sh)."""
    return f"webstack-base:{suite}"


def salt_image(suite: str = SUITES[0]) -> str:
    """`base_image(suite)` with Salt installed (build_salt_image)."""
    return f"webstack-salt:{suite}"


BASE_IMAGE = base_image()
SALT_IMAGE = salt_image()
WHEELHOUSE = REPO / ".cache" / "wheelhouse"
MOUNT = "/opt/webstack"
TEST_PILLAR_ROOT = "/etc/webstack/pillar"

# systemd as PID 1 without --privileged (which fails on this kind of VM).
# SYS_TIME is dropped: the clock is the host's, and systemd booting with a
# local-time RTC setting would warp it by the time zone's offset.
SYSTEMD_RUN = dict(
    cap_add=["ALL"],
    cap_drop=["SYS_RESOURCE", "SYS_TIME"],
    security_opt=["seccomp=unconfined", "apparmor=unconfined"],
    cgroupns="host",
    tmpfs={"/run": "", "/run/lock": ""},
    stop_signal="SIGRTMIN+3",
    detach=True,
)


def client() -> docker.DockerClient:
    # "auto": the engine from Debian speaks an older API than the newest SDK.
    return docker.from_env(version="auto", timeout=600)


def salt_image_inputs(suite: str) -> str:
    """What a Salt image is made of: its base image, the wheels and the installer."""
    h = hashlib.sha256()
    h.update(client().images.get(base_image(suite)).id.encode())
    for path in sorted(WHEELHOUSE.glob("*.whl")):
        h.update(path.name.encode())
    for path in (REPO / "requirements-minion.txt", REPO / "tools" / "server" / "install-salt.sh"):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def build_salt_image(suite: str) -> str:
    """A base image with Salt installed (tests skip the Salt install per box); says what it did."""
    inputs, image = salt_image_inputs(suite), salt_image(suite)
    try:
        have = client().images.get(image).labels.get("webstack.inputs")
    except docker.errors.ImageNotFound:
        have = None
    if have == inputs:
        return f"{image} is up to date ({inputs})"
    box = Box.start(f"webstack-salt-build-{inputs}", image=base_image(suite))
    try:
        box.install_salt()
        box.container.commit(
            repository=image.split(":")[0],
            tag=image.split(":")[1],
            changes=[
                'CMD ["/lib/systemd/systemd"]',
                "ENV container=docker",
                f"LABEL webstack.inputs={inputs}",
            ],
        )
    finally:
        box.remove()
    return f"built {image} ({inputs})"


@dataclasses.dataclass
class Exec:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class CommandFailed(RuntimeError):
    pass


@dataclasses.dataclass
class Apply:
    """The result of one state.apply, parsed from salt-call's JSON output."""

    rc: int
    wall: float
    states: dict  # state key -> Salt's ret dict
    errors: list  # render/compile errors: no state ran
    stderr: str

    @classmethod
    def parse(cls, res: Exec, wall: float) -> Apply:
        try:
            out = json.loads(res.stdout)["local"]
        except (ValueError, KeyError, TypeError):
            return cls(res.rc, wall, {}, [res.stdout.strip() or res.stderr.strip()], res.stderr)
        if isinstance(out, dict):
            return cls(res.rc, wall, out, [], res.stderr)
        return cls(res.rc, wall, {}, [str(e) for e in out], res.stderr)

    @property
    def by_id(self) -> dict:
        return {ret.get("__id__", key.split("_|-")[1]): ret for key, ret in self.states.items()}

    @property
    def failed(self) -> list:
        return [(r.get("__id__"), r.get("comment")) for r in self.states.values() if r["result"] is False]

    @property
    def changed(self) -> list:
        return [r.get("__id__") for r in self.states.values() if r.get("changes")]

    @property
    def pending(self) -> list:
        """States that test=True says would change (result None)."""
        return [r.get("__id__") for r in self.states.values() if r["result"] is None]

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed and self.rc == 0

    def slowest(self, n: int = 10) -> list:
        rows = [(r.get("duration", 0) or 0, r.get("__id__")) for r in self.states.values()]
        return sorted(rows, reverse=True)[:n]

    def summary(self) -> str:
        if self.errors:
            return "no state ran:\n" + "\n".join(self.errors)
        n = len(self.states)
        return (
            f"{n} states: {n - len(self.failed) - len(self.changed)} ok, "
            f"{len(self.changed)} changed, {len(self.failed)} failed ({self.wall:.1f} s)"
        )

    def explain(self) -> str:
        """Failures and changes, for assertion messages."""
        lines = [self.summary()]
        for sid, comment in self.failed:
            lines.append(f"FAILED {sid}: {comment}")
        for r in self.states.values():
            if r.get("changes") and r["result"] is not False:
                lines.append(f"CHANGED {r.get('__id__')}: {json.dumps(r['changes'], default=str)[:400]}")
            elif r["result"] is None:
                lines.append(f"PENDING {r.get('__id__')}: {r.get('comment')}")
        return "\n".join(lines)


class Box:
    """A running systemd container."""

    def __init__(self, container):
        self.container = container
        self.name = container.name

    @classmethod
    def start(
        cls,
        name: str,
        image: str = SALT_IMAGE,
        network: str | None = None,
        labels: dict | None = None,
        volumes: dict | None = None,
        replace: bool = True,
        **run,
    ) -> Box:
        dc = client()
        if replace:
            try:
                dc.containers.get(name).remove(force=True)
            except docker.errors.NotFound:
                pass
        mounts = {
            "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
            str(REPO): {"bind": MOUNT, "mode": "ro"},
        }
        mounts.update(volumes or {})
        container = dc.containers.run(
            image,
            name=name,
            hostname=run.pop("hostname", name),
            network=network,
            labels={"webstack": "box", **(labels or {})},
            volumes=mounts,
            **SYSTEMD_RUN,
            **run,
        )
        box = cls(container)
        try:
            box.wait_running()
        except BaseException:
            box.remove()
            raise
        return box

    @property
    def host(self):
        """The testinfra host of this box (its docker backend)."""
        import testinfra  # the tests' dependency, not the demo's

        if getattr(self, "_host", None) is None:
            self._host = testinfra.get_host(f"docker://{self.name}")
        return self._host

    @classmethod
    def get(cls, name: str) -> Box:
        return cls(client().containers.get(name))

    # -- commands ---------------------------------------------------------

    def exec(self, cmd, check: bool = True, user: str = "root", env: dict | None = None) -> Exec:
        if isinstance(cmd, str):
            cmd = ["sh", "-c", cmd]
        rc, (out, err) = self.container.exec_run(cmd, user=user, environment=env, demux=True)
        res = Exec(rc, (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace"))
        if check and rc != 0:
            raise CommandFailed(f"{self.name}: {shlex.join(cmd)} -> {rc}\n{res.stdout}\n{res.stderr}")
        return res

    def put_file(self, path: str, content: str | bytes, mode: int = 0o644) -> None:
        data = content.encode() if isinstance(content, str) else content
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(Path(path).name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        self.exec(["mkdir", "-p", str(Path(path).parent)])
        self.container.put_archive(str(Path(path).parent), buf.getvalue())

    def wait_running(self, timeout: float = 90) -> str:
        """Wait until systemd has finished booting (running or degraded)."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.exec("systemctl is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.3)
        raise TimeoutError(f"{self.name}: systemd still {state!r} after {timeout} s")

    def restart(self) -> None:
        self.container.restart(timeout=30)
        self.wait_running()

    def remove(self) -> None:
        try:
            self.container.remove(force=True)
        except docker.errors.NotFound:
            pass

    def ip(self, network: str | None = None) -> str:
        self.container.reload()
        nets = self.container.attrs["NetworkSettings"]["Networks"]
        return nets[network]["IPAddress"] if network else next(iter(nets.values()))["IPAddress"]

    # -- Salt -------------------------------------------------------------

    def install_salt(self) -> None:
        """Salt from the host's wheelhouse (mounted with the repo), as a real server would run it."""
        env = {"WHEELHOUSE": f"{MOUNT}/.cache/wheelhouse"} if WHEELHOUSE.is_dir() else {}
        self.exec(["sh", f"{MOUNT}/tools/server/install-salt.sh"], env=env)

    def set_roles(self, roles: list[str]) -> None:
        """The `roles` grain, as a fleet minion would carry it."""
        self.put_file("/etc/salt/grains", yaml.safe_dump({"roles": list(roles)}))

    def write_pillar(self, pillar: dict, root: str = TEST_PILLAR_ROOT, renderer: str | None = None) -> str:
        """
        A pillar root holding exactly `pillar` (the `webstack` key and any
        others), its file read through `renderer` when given (a shebang's
        render pipe: "yaml|gpg").
        """
        self.exec(["rm", "-rf", root])
        self.put_file(f"{root}/top.sls", "base:\n  '*':\n    - site\n")
        shebang = f"#!{renderer}\n" if renderer else ""
        self.put_file(f"{root}/site.sls", shebang + yaml.safe_dump(pillar, sort_keys=False), mode=0o600)
        return root

    def salt_call(self, *args: str, pillar_root: str | None = None, check: bool = False) -> Exec:
        cmd = ["salt-call", "--local", "--retcode-passthrough", "--log-level=warning"]
        if pillar_root:
            cmd.append(f"--pillar-root={pillar_root}")
        return self.exec(cmd + list(args), check=check)

    def apply(
        self,
        pillar: dict | None = None,
        states: list[str] | str | None = None,
        test: bool = False,
        extra: tuple = (),
        renderer: str | None = None,
    ) -> Apply:
        """state.apply (highstate, or `states`), with `pillar` as the whole pillar when given."""
        root = self.write_pillar(pillar, renderer=renderer) if pillar is not None else None
        args = ["--out=json", "state.apply"]
        if states:
            args.append(states if isinstance(states, str) else ",".join(states))
        if test:
            args.append("test=True")
        args += list(extra)
        t0 = time.monotonic()
        res = self.salt_call(*args, pillar_root=root)
        return Apply.parse(res, time.monotonic() - t0)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["build-salt-image"] and set(sys.argv[2:]) <= set(SUITES):
        from concurrent.futures import ThreadPoolExecutor

        suites = sys.argv[2:] or SUITES
        # Side by side: each build waits mostly on its container.
        with ThreadPoolExecutor(len(suites)) as pool:
            print("; ".join(pool.map(build_salt_image, suites)))
    else:
        sys.exit(f"usage: python -m tools.harness.dockerbox build-salt-image [{' | '.join(SUITES)} ...]")


def with_settings(pillar: dict, **sections) -> dict:
    """A copy of `pillar` with `webstack` sections updated (deeply)."""
    out = copy.deepcopy(pillar)

    def merge(dst, src):
        for key, value in src.items():
            if isinstance(value, dict) and isinstance(dst.get(key), dict):
                merge(dst[key], value)
            else:
                dst[key] = value

    merge(out.setdefault("webstack", {}), sections)
    return out
