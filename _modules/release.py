"""
Releases of an app under its project root, deployed so that a failure never
reaches the live site::

    {root}/current -> releases/<name>    the live release (switched atomically)
    {root}/releases/<UTC time>-<id>/     one directory per deploy
        .webstack-release.json           what it is: id, source, ref, virtualenv
        .venv -> {root}/venvs/<key>
    {root}/venvs/<key>/                  virtualenvs keyed by the hash of the
                                         Python and the requirements: a release
                                         with unchanged requirements runs no pip
    {root}/repo.git                      mirror of a git source
    {root}/.webstack-hold.json           a rollback's hold: which release
                                         stays live until the source moves

:func:`deploy` makes a new release (code, virtualenv, Django migrate and
collectstatic, a health check of the release on a socket of its own), then
points ``current`` at it and prunes old releases. Anything failing before
the switch removes the new release and raises, so ``current`` stays on the
release that was working (a failed release never counts toward the kept
ones). :func:`rollback` points ``current`` back at a kept release and
reloads the app's programs, building nothing, and holds it there (see
:func:`hold`). Every deploy and rollback writes a line to the audit trail
(``_modules/audit.py``).

CLI Example: ``salt-call release.list``
"""

import datetime
import fnmatch
import grp
import hashlib
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "release"
__func_alias__ = {"list_": "list"}

META = ".webstack-release.json"
HOLD = ".webstack-hold.json"
VENV_DONE = ".webstack-complete"
SHA = re.compile(r"^[0-9a-f]{7,40}$")
# Never copied from a local path source, nor part of its id.
IGNORE = (
    ".git",
    "__pycache__",
    "*.pyc",
    ".venv",
    "venv",
    "node_modules",
    "*.sqlite3",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
)
TAIL = 1500  # characters of a failed command's output shown in the state's comment
# gunicorn's workers for each kind of app (webstack:app:server): its own sync
# workers (no --worker-class) for WSGI, uvicorn's for ASGI.
WORKER_CLASSES = {"wsgi": None, "asgi": "uvicorn.workers.UvicornWorker"}


class DeployError(CommandExecutionError):
    """A deploy step failed; the message says which and why."""


def __virtual__():
    return __virtualname__


def serving(section, ws=None):  # noqa: ARG001 - a derive hook is given every setting: this needs none
    """
    What gunicorn serves for a ``webstack:app`` section: ``app_module``, its
    ``wsgi`` or ``asgi`` app as ``server`` says, ``worker_class`` (None:
    gunicorn's sync workers), and ``app_args``, gunicorn's arguments for them. The app component's ``derive``
    (salt://app/component.yaml); the live server and a new release's health
    check both run it.

    CLI Example: ``salt-call release.serving '{server: asgi, asgi: shop.asgi:application}'``
    """
    server = section.get("server") or "wsgi"
    app_module, worker_class = section[server], WORKER_CLASSES[server]
    return {
        "app_module": app_module,
        "worker_class": worker_class,
        "app_args": _app_args(app_module, worker_class),
    }


def _app_args(app_module, worker_class):
    """gunicorn's arguments naming what it serves, for the live server and the health check alike."""
    return [*(["--worker-class", worker_class] if worker_class else []), app_module]


# -- layout and bookkeeping ------------------------------------------------


def _paths(root):
    """Where things live under `root`."""
    return {
        "current": os.path.join(root, "current"),
        "releases": os.path.join(root, "releases"),
        "venvs": os.path.join(root, "venvs"),
        "mirror": os.path.join(root, "repo.git"),
        "hold": os.path.join(root, HOLD),
    }


def _project_root(root):
    """`root`, or the project root the pillar's settings give (an operator's call names none)."""
    return root or __salt__["webstack.settings"]()["project"]["root"]


def _releases(root):
    """Names of the complete releases under `root`, oldest first."""
    base = _paths(root)["releases"]
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if os.path.isfile(os.path.join(base, n, META)))


def info(release_dir):
    """
    The metadata of a release directory (id, source, ref, virtualenv key,
    when deployed), or None.

    CLI Example: ``salt-call release.info /srv/shop/releases/20260104T120000.000Z-4e1693860412``
    """
    try:
        with open(os.path.join(release_dir, META), encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def live(root):
    """
    The live release (what ``current`` points at): its metadata plus ``dir``
    and ``venv_ok`` (its virtualenv is complete), or None.

    CLI Example: ``salt-call release.live /srv/shop``
    """
    current = _paths(root)["current"]
    if not os.path.islink(current):
        return None
    target = os.path.realpath(current)
    meta = info(target)
    if meta is None:
        return None
    venv = os.path.join(_paths(root)["venvs"], meta.get("venv", ""))
    return dict(meta, dir=target, venv_ok=os.path.isfile(os.path.join(venv, VENV_DONE)))


def _to_prune(names, live_name, keep):
    """The release names to delete: all but the newest `keep`, never the live one."""
    keep_names = set(sorted(names)[-keep:]) if keep > 0 else set()
    keep_names.add(live_name)
    return [n for n in sorted(names) if n not in keep_names]


def _release_name(release_id, now=None):
    """A new release's directory name: sorts by time, says what it holds."""
    now = now or datetime.datetime.now(datetime.UTC)
    short = release_id[:12] if SHA.match(release_id) else release_id
    return f"{now:%Y%m%dT%H%M%S}.{now.microsecond // 1000:03d}Z-{short}"


def _ignored(name):
    return any(fnmatch.fnmatch(name, pattern) for pattern in IGNORE)


def _tree_id(path):
    """
    The id of a local source tree: a hash over its files' names, exec bits and
    contents (what IGNORE leaves out does not count).
    """
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not _ignored(d))
        for fname in sorted(f for f in filenames if not _ignored(f)):
            full = os.path.join(dirpath, fname)
            rel = os.path.relpath(full, path)
            if os.path.islink(full):
                h.update(f"L {rel} {os.readlink(full)}\0".encode())
                continue
            h.update(f"F {rel} {os.stat(full).st_mode & 0o111:o}\0".encode())
            with open(full, "rb") as fh:
                for chunk in iter(lambda fh=fh: fh.read(1 << 16), b""):
                    h.update(chunk)
    return "tree-" + h.hexdigest()[:16]


def _requirement_files(path, seen=None):
    """`path` and the files it includes with -r / -c, depth first."""
    seen = seen if seen is not None else []
    if path in seen or not os.path.isfile(path):
        return seen
    seen.append(path)
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            m = re.match(r"^\s*(-r|-c|--requirement|--constraint)[\s=]+(\S+)", line)
            if m:
                _requirement_files(os.path.join(os.path.dirname(path), m.group(2)), seen)
    return seen


def _venv_key(python_version, requirements):
    """
    The virtualenv key of a release: the interpreter (path and version) and
    the requirements file with the files it includes. Same key, same venv.
    """
    h = hashlib.sha256(python_version.encode() + b"\0")
    for path in _requirement_files(requirements):
        h.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as fh:
            h.update(fh.read() + b"\0")
    return h.hexdigest()[:16]


# -- commands --------------------------------------------------------------


def _tail(text):
    text = (text or "").strip()
    return text if len(text) <= TAIL else "..." + text[-TAIL:]


def _run(argv, what, cwd=None, env=None, user=None, group=None, timeout=900, stdin=None):
    """Run `argv` (as `user` when given); raise DeployError naming `what` on failure."""
    kwargs = {}
    if user:
        kwargs.update(user=user, group=group or user, extra_groups=[])
    try:
        res = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
            **kwargs,
        )
    except subprocess.TimeoutExpired as exc:
        raise DeployError(
            f"{what}: no answer after {timeout} s\n{_tail(exc.output and exc.output.decode())}"
        ) from None
    except OSError as exc:
        raise DeployError(f"{what}: {exc}") from exc
    out = res.stdout.decode(errors="replace")
    if res.returncode != 0:
        raise DeployError(f"{what} failed (exit {res.returncode}):\n{_tail(out)}")
    return out


def _git_env():
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def _ls_remote(url, ref):
    """The commit `ref` names on `url`, through `git ls-remote` (reads only), or None."""
    out = _run(["git", "ls-remote", url], f"git ls-remote {url}", env=_git_env(), timeout=120)
    refs = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        refs[name.strip()] = sha.strip()
    for name in (f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}", f"refs/heads/{ref}", ref):
        if name in refs:
            return refs[name]
    return None


def _mirror(url, mirror):
    """Bring the local mirror of `url` up to date (cloned the first time)."""
    if os.path.isdir(mirror) and os.path.isfile(os.path.join(mirror, "HEAD")):
        _run(["git", "--git-dir", mirror, "remote", "set-url", "origin", url], "git remote set-url")
        _run(
            ["git", "--git-dir", mirror, "fetch", "--prune", "--force", "origin"],
            f"git fetch {url}",
            env=_git_env(),
            timeout=600,
        )
    else:
        shutil.rmtree(mirror, ignore_errors=True)
        _run(
            ["git", "clone", "--mirror", "--quiet", url, mirror],
            f"git clone {url}",
            env=_git_env(),
            timeout=600,
        )


def resolve(root, git=None, ref="main", path=None, fetch=True):
    """
    What the source names now: ``{"id", "source", "ref"}``. With `fetch`, a
    git source's mirror is updated first; without (test runs), the remote is
    only asked (``git ls-remote``), and ``id`` is None when that can't tell.

    CLI Example: ``salt-call release.resolve /srv/shop git=https://example.com/shop.git ref=main fetch=False``
    """
    if bool(git) == bool(path):
        raise DeployError("the app source needs exactly one of webstack:app:source:git and :path")
    if path:
        if not os.path.isdir(path):
            raise DeployError(f"source path {path} is not a directory")
        return {"id": _tree_id(path), "source": path, "ref": None}
    mirror = _paths(root)["mirror"]
    sha = None
    if fetch:
        _mirror(git, mirror)
        try:
            sha = _run(
                ["git", "--git-dir", mirror, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                f"git rev-parse {ref}",
            ).strip()
        except DeployError:
            raise DeployError(f"git ref {ref!r} not found in {git}") from None
    else:
        sha = _ls_remote(git, ref)
        if sha is None and SHA.match(ref) and os.path.isdir(mirror):
            try:
                sha = _run(
                    ["git", "--git-dir", mirror, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                    "git rev-parse",
                ).strip()
            except DeployError:
                sha = None
        elif sha is None and not SHA.match(ref):
            raise DeployError(f"git ref {ref!r} not found in {git}")
    return {"id": sha, "source": git, "ref": ref}


# -- the steps of a deploy ---------------------------------------------------


def _checkout(root, want, dest):
    os.makedirs(dest, mode=0o755)
    os.chmod(dest, 0o755)
    if want["ref"] is None:
        shutil.copytree(
            want["source"],
            dest,
            symlinks=True,
            ignore=lambda _d, names: [n for n in names if _ignored(n)],
            dirs_exist_ok=True,
        )
        return
    archive = subprocess.Popen(
        [
            "git",
            "-c",
            "tar.umask=0022",
            "--git-dir",
            _paths(root)["mirror"],
            "archive",
            "--format=tar",
            want["id"],
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _run(["tar", "-x", "--no-same-owner", "-C", dest], "unpacking the release", stdin=archive.stdout)
    finally:
        archive.stdout.close()
        err = archive.stderr.read().decode(errors="replace")
        if archive.wait() != 0:
            raise DeployError(f"git archive {want['id']} failed: {_tail(err)}")


def _virtualenv(root, python, release, requirements):
    """The release's virtualenv (reused when its key exists): (key, built?)."""
    reqs = os.path.join(release, requirements)
    if not os.path.isfile(reqs):
        raise DeployError(f"the release has no {requirements}")
    version = _run([python, "-c", "import sys; print(sys.version)"], f"{python} --version").strip()
    key = _venv_key(f"{python} {version}", reqs)
    venv = os.path.join(_paths(root)["venvs"], key)
    built = False
    if not os.path.isfile(os.path.join(venv, VENV_DONE)):
        shutil.rmtree(venv, ignore_errors=True)
        os.makedirs(_paths(root)["venvs"], mode=0o755, exist_ok=True)
        env = dict(
            os.environ, PIP_ROOT_USER_ACTION="ignore", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1"
        )
        try:
            _run([python, "-m", "venv", venv], f"{python} -m venv")
            _run(
                [os.path.join(venv, "bin", "pip"), "install", "--requirement", reqs],
                f"pip install -r {requirements}",
                env=env,
                timeout=1800,
            )
        except DeployError:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        with open(os.path.join(venv, VENV_DONE), "w", encoding="utf-8") as fh:
            fh.write(key + "\n")
        built = True
    os.symlink(venv, os.path.join(release, ".venv"))
    return key, built


def _app_env(root, venv, env_file):
    env = {
        "PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": root,
        "LANG": "C.UTF-8",
    }
    if env_file:
        env.update(__salt__["envfile.read"](env_file))
    return env


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def get(sock_path, path="/", host="localhost", timeout=10):
    """
    GET `path` from an HTTP server on a unix socket: ``(status, body)``.

    CLI Example: ``salt-call release.get /run/shop/gunicorn.sock /health/ host=shop.example.com``
    """
    conn = _UnixHTTPConnection(sock_path, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host, "User-Agent": "webstack-release-check"})
        res = conn.getresponse()
        return res.status, res.read(2000).decode(errors="replace")
    finally:
        conn.close()


def _health_check(release, venv, app_module, worker_class, env, user, group, socket_dir, path, host, timeout):
    """Serve the new release on a socket of its own, as the live server does, and GET its health path."""
    sock = os.path.join(socket_dir, "release-check.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    # gunicorn >= 25 opens a control socket under XDG_RUNTIME_DIR: keep it
    # away from the live server's.
    runtime = tempfile.mkdtemp(prefix="release-check-", dir=socket_dir)
    os.chown(runtime, *_ids(user, group))
    logfile = tempfile.TemporaryFile()
    argv = [
        os.path.join(venv, "bin", "gunicorn"),
        "--chdir",
        release,
        "--bind",
        f"unix:{sock}",
        "--workers",
        "1",
        "--timeout",
        str(timeout),
        *_app_args(app_module, worker_class),
    ]
    proc = subprocess.Popen(
        argv,
        cwd=release,
        env=dict(env, XDG_RUNTIME_DIR=runtime),
        stdin=subprocess.DEVNULL,
        stdout=logfile,
        stderr=subprocess.STDOUT,
        user=user,
        group=group,
        extra_groups=[],
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    problem = None
    try:
        while True:
            if proc.poll() is not None:
                problem = f"the release's gunicorn exited ({proc.returncode}) before answering"
                break
            if time.monotonic() > deadline:
                problem = f"no answer on {path} within {timeout} s"
                break
            if os.path.exists(sock):
                try:
                    status, body = get(sock, path, host, timeout=max(1, deadline - time.monotonic()))
                except OSError:
                    status = None
                if status == 200:
                    return
                if status is not None:
                    problem = f"GET {path} answered {status}: {_tail(body)[:300]}"
                    break
            time.sleep(0.2)
    finally:
        _stop(proc)
        shutil.rmtree(runtime, ignore_errors=True)
        if os.path.exists(sock):
            os.unlink(sock)
        logfile.seek(0)
        output = logfile.read().decode(errors="replace")
        logfile.close()
    raise DeployError(f"health check of the new release failed: {problem}\ngunicorn said:\n{_tail(output)}")


def _stop(proc):
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _ids(user, group):
    return pwd.getpwnam(user).pw_uid, grp.getgrnam(group or user).gr_gid


def _switch(root, name):
    """Point ``current`` at release `name` in one rename (never missing, never half-made)."""
    current = _paths(root)["current"]
    if os.path.exists(current) and not os.path.islink(current):
        raise DeployError(f"{current} is not a symlink: move it away first")
    tmp = os.path.join(root, f".current-{os.getpid()}")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.join("releases", name), tmp)
    os.replace(tmp, current)


def prune(root, keep, test=False):
    """
    Delete releases beyond the newest `keep` (never the live one) and the
    virtualenvs no remaining release uses. Returns what was (or, with `test`,
    would be) deleted: ``{"releases": [...], "venvs": [...]}``.

    CLI Example: ``salt-call release.prune /srv/shop 5``
    """
    p = _paths(root)
    names = _releases(root)
    current = live(root)
    gone = _to_prune(names, os.path.basename(current["dir"]) if current else None, int(keep))
    remaining = [n for n in names if n not in gone]
    used = {(info(os.path.join(p["releases"], n)) or {}).get("venv") for n in remaining}
    try:
        venvs = sorted(os.listdir(p["venvs"]))
    except FileNotFoundError:
        venvs = []
    unused = [v for v in venvs if v not in used]
    if not test:
        for name in gone:
            shutil.rmtree(os.path.join(p["releases"], name), ignore_errors=True)
        for key in unused:
            shutil.rmtree(os.path.join(p["venvs"], key), ignore_errors=True)
    return {"releases": gone, "venvs": unused}


def list_(root=None):
    """
    The kept releases, oldest first: each one's name, source, ref, commit
    (``id``), virtualenv, when it was deployed, whether it is ``live`` and
    whether a rollback ``held`` it there.

    CLI Example: ``salt-call release.list`` (through a master: ``salt -G 'roles:web' release.list``)
    """
    root = _project_root(root)
    current = live(root)
    held = (hold(root) or {}).get("release")
    out = []
    for name in _releases(root):
        meta = info(os.path.join(_paths(root)["releases"], name)) or {}
        out.append(
            {
                "name": name,
                "source": meta.get("source"),
                "ref": meta.get("ref"),
                "id": meta.get("id"),
                "venv": meta.get("venv"),
                "deployed": meta.get("deployed"),
                "live": bool(current) and os.path.basename(current["dir"]) == name,
                "held": held == name,
            }
        )
    return out


def hold(root=None):
    """
    The rollback that holds the live release, or None: which release, and
    what the source named when it was rolled back from (``from``: its ref and
    commit). While the source names that same commit, applies leave the held
    release live; when it names another one, the next apply deploys it.

    CLI Example: ``salt-call release.hold``
    """
    try:
        with open(_paths(_project_root(root))["hold"], encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def unhold(root=None, **kwargs):
    """
    Clear a rollback's hold: the next apply deploys what the source names
    again. Returns the hold cleared, or None when there was none.

    CLI Example: ``salt-call release.unhold``
    """
    root = _project_root(root)
    held = hold(root)
    if held is None:
        return None
    os.unlink(_paths(root)["hold"])
    __salt__["audit.record"](
        "unhold",
        f"{root}: {held['release']} no longer held; the next apply deploys what the source names",
        jid=kwargs.get("__pub_jid"),
    )
    return held


def _write_hold(root, data):
    path = _paths(root)["hold"]
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def _pick(root, names, live_name, to):
    """
    The release a rollback goes to: `to` (a release name, or the ref or
    commit of a kept one), else the one before the live one.
    """
    if to is None:
        older = names[: names.index(live_name)] if live_name in names else []
        if not older:
            raise CommandExecutionError(f"release.rollback: no release before {live_name} is kept in {root}")
        return older[-1]
    to = str(to)
    metas = {n: info(os.path.join(_paths(root)["releases"], n)) or {} for n in names}
    matches = [
        n
        for n in names
        if to in (n, metas[n].get("ref")) or (SHA.match(to) and str(metas[n].get("id", "")).startswith(to))
    ]
    if not matches:
        raise CommandExecutionError(
            f"release.rollback: no kept release is named {to!r} or has that ref or commit;"
            f" kept: {', '.join(names) or 'none'} (salt-call release.list)"
        )
    if matches[-1] == live_name:
        raise CommandExecutionError(f"release.rollback: {live_name} ({to}) is already live")
    return matches[-1]


def _migrations(release_dir):
    """The Django migration files a release ships (paths relative to it)."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(release_dir):
        dirnames[:] = [d for d in dirnames if not _ignored(d)]
        if os.path.basename(dirpath) == "migrations":
            rel = os.path.relpath(dirpath, release_dir)
            found.update(os.path.join(rel, f) for f in filenames if f.endswith(".py") and f != "__init__.py")
    return found


def _reload_programs(ws, same_venv, timeout=60):
    """
    The project's running supervisor programs, on the code ``current`` now
    points at: a graceful reload where the program has one (gunicorn: HUP,
    new workers before the old ones go) and the virtualenv is the same, else
    a restart (Celery: a warm shutdown, running tasks finish).
    """
    prefix = ws["project"]["name"] + "-"
    running = [
        name
        for name, entry in sorted(__salt__["supervisorctl.status"]().items())
        if name.startswith(prefix) and entry["state"] in ("RUNNING", "STARTING")
    ]
    signals = {
        name: (ws["supervisor"].get(name[len(prefix) :]) or {}).get("reload_signal") if same_venv else None
        for name in running
    }
    done = {}
    # Graceful reloads first: the site serves the release while Celery's warm shutdown waits for its tasks.
    for name in sorted(running, key=lambda n: signals[n] is None):
        if signals[name]:
            __salt__["supervisorctl.signal"](name, signals[name])
            done[name] = f"signalled {signals[name]}"
            continue
        __salt__["supervisorctl.restart"](name)
        ok, new = __salt__["supervisorctl.wait_up"](name, timeout)
        if not ok:
            raise CommandExecutionError(f"release.rollback: {name} did not come back: {new}")
        done[name] = "restarted"
    return done


def rollback(to=None, **kwargs):
    """
    Make an older kept release live again, building nothing: ``current``
    switches to it, gunicorn reloads gracefully (a restart when the release
    runs another virtualenv), Celery restarts warm. Without `to`, the release
    before the live one; `to` names a release (``release.list``), or the ref
    or commit of a kept one (the same on every box of a fleet).

    The rollback holds: applies leave it live while the source still names
    what was rolled back from; they deploy again once the source names
    something else, or after ``release.unhold``. Migrations are not reversed:
    the answer warns about migration files the live release has and the
    older one lacks.

    CLI Example: ``salt-call release.rollback`` or ``salt-call release.rollback to=v1.4.1``
    (a fleet: ``salt -G 'roles:web or roles:worker' release.rollback to=v1.4.1``)
    """
    t0 = time.monotonic()
    ws = __salt__["webstack.settings"]()
    root = ws["project"]["root"]
    p = _paths(root)
    current = live(root)
    if current is None:
        raise CommandExecutionError(f"release.rollback: no release is live in {root}")
    live_name = os.path.basename(current["dir"])
    target = _pick(root, _releases(root), live_name, to)
    target_dir = os.path.join(p["releases"], target)
    meta = info(target_dir)
    if not os.path.isfile(os.path.join(p["venvs"], meta["venv"], VENV_DONE)):
        raise CommandExecutionError(f"release.rollback: the virtualenv of {target} is incomplete or gone")
    warnings = [
        f"{live_name} has migrations {target} lacks, and they stay applied: {m}"
        for m in sorted(_migrations(current["dir"]) - _migrations(target_dir))
    ]
    # What the source named when this began: a second rollback keeps the first one's.
    source = (hold(root) or {}).get("from") or {"ref": current.get("ref"), "id": current["id"]}
    jid = kwargs.get("__pub_jid")
    _switch(root, target)
    held = None
    if meta["id"] == source["id"]:
        if os.path.exists(p["hold"]):
            os.unlink(p["hold"])
    else:
        held = {
            "release": target,
            "from": source,
            "job": jid,
            "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        _write_hold(root, held)
    __salt__["audit.record"](
        "rollback",
        f"{root}: {live_name} -> {target} (ref {meta['ref'] or meta['source']}, commit {meta['id']})"
        + (f"; held while the source names {source['id']}" if held else ""),
        jid=jid,
    )
    programs = _reload_programs(ws, meta["venv"] == current["venv"])
    return {
        "live": {"old": live_name, "new": target},
        "ref": meta["ref"],
        "id": meta["id"],
        "programs": programs,
        "hold": held,
        "warnings": warnings,
        "seconds": round(time.monotonic() - t0, 1),
    }


# Several app hosts of a fleet deploy at once: on PostgreSQL, migrations run
# under a session advisory lock, so one host migrates while the others wait
# and then find nothing left to do.
MIGRATE_ONE_AT_A_TIME = """
from django.core.management import call_command
from django.db import connection
if connection.vendor == "postgresql":
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtext('webstack-migrate'))")
call_command("migrate", interactive=False)
"""


def deploy(
    root,
    user,
    group,
    python,
    git=None,
    ref="main",
    path=None,
    requirements="requirements.txt",
    env_file=None,
    app_module=None,
    worker_class=None,
    migrate=False,
    collectstatic=False,
    manage="manage.py",
    health_check="/health/",
    health_host="localhost",
    health_timeout=60,
    socket_dir=None,
    keep=5,
    want=None,
):
    """
    Deploy what the source names as a new release and make it live: checkout,
    virtualenv (reused when the requirements are unchanged), migrate and
    collectstatic when asked, a health check of the new release, then the
    switch of ``current`` and the pruning of old releases.

    Returns what changed. Raises (after removing the new release) when a step
    before the switch fails: the live release is untouched. What the
    ``release.deployed`` state runs when the source names something new.

    CLI Example: ``salt-call release.deploy /srv/shop shop shop /usr/bin/python3
    git=https://git.example.com/shop.git ref=v1.4.2 env_file=/srv/shop/env
    app_module=shop.wsgi:application migrate=True collectstatic=True health_host=shop.example.com
    socket_dir=/run/shop``
    """
    p = _paths(root)
    want = want or resolve(root, git=git, ref=ref, path=path, fetch=True)
    before = live(root)
    name = _release_name(want["id"])
    release = os.path.join(p["releases"], name)
    os.makedirs(p["releases"], mode=0o755, exist_ok=True)
    hooks = []
    try:
        _checkout(root, want, release)
        key, built = _virtualenv(root, python, release, requirements)
        venv = os.path.join(p["venvs"], key)
        # Bytecode now: the app user can't write it into the release later.
        _run(
            [os.path.join(venv, "bin", "python"), "-m", "compileall", "-q", "-x", r"/\.venv/", release],
            "compiling the release",
            timeout=600,
        )
        env = _app_env(root, venv, env_file)
        manage_py = [os.path.join(venv, "bin", "python"), manage]
        if migrate:
            _run(
                manage_py + ["shell", "-c", MIGRATE_ONE_AT_A_TIME],
                "manage.py migrate",
                cwd=release,
                env=env,
                user=user,
                group=group,
            )
            hooks.append("migrate")
        if collectstatic:
            _run(
                manage_py + ["collectstatic", "--noinput"],
                "manage.py collectstatic",
                cwd=release,
                env=env,
                user=user,
                group=group,
            )
            hooks.append("collectstatic")
        if health_check and app_module:
            _health_check(
                release,
                venv,
                app_module,
                worker_class,
                env,
                user,
                group,
                socket_dir or root,
                health_check,
                health_host,
                int(health_timeout),
            )
        meta = {
            "id": want["id"],
            "source": want["source"],
            "ref": want["ref"],
            "venv": key,
            "name": name,
            "deployed": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        with open(os.path.join(release, META), "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=2)
            fh.write("\n")
    except BaseException as exc:
        shutil.rmtree(release, ignore_errors=True)
        if isinstance(exc, DeployError):
            done = f" (after {', '.join(hooks)})" if hooks else ""
            failed = f"release {want['id']} not deployed{done}, {_before_text(before)}"
            __salt__["audit.record"]("deploy failed", f"{root}: {failed}: {str(exc).splitlines()[0]}")
            raise DeployError(f"{failed}: {exc}") from None
        raise
    _switch(root, name)
    what = want["ref"] or want["source"]
    __salt__["audit.record"](
        "deploy",
        f"{root}: {_label(before) or 'nothing'} -> {name} (ref {what}, commit {want['id']})",
    )
    changes = {"release": {"old": _label(before), "new": f"{name} ({what})"}}
    held = hold(root)
    if held:
        # The source moved on from what a rollback held back: the hold is done.
        os.unlink(p["hold"])
        changes["hold"] = {"old": held["release"], "new": None}
    if not before or before.get("venv") != key:
        changes["virtualenv"] = {"old": before.get("venv") if before else None, "new": key}
        if built:
            changes["virtualenv"]["built"] = True
    if hooks:
        changes["hooks"] = hooks
    pruned = prune(root, keep)
    if pruned["releases"] or pruned["venvs"]:
        changes["pruned"] = pruned
    return changes


def _before_text(before):
    return f"{before['name']} stays live" if before else "no release is live"


def _label(meta):
    return meta["name"] if meta else None
