"""
What the app and supervisor container tests share: a git repository of the
example app inside the box, HTTP over gunicorn's unix socket from inside the
box (a request loop included), and supervisord's view of the programs.
"""

from __future__ import annotations

import json
import time

from box_helpers import copy_helper, helper

from tools.harness.dockerbox import MOUNT, Box

SOCKET = "/run/shop/gunicorn.sock"
HOST = "shop.webstack.test"
REPO = "/srv/git/shop.git"
WORK = "/root/shop-work"
CLIENT_PATH = "/usr/local/bin/webstack-http"  # helpers/webstack_http.py: HTTP over a unix socket


def install_client(box: Box) -> None:
    copy_helper(box, "webstack_http.py", CLIENT_PATH)  # run as root, www-data and nobody


NGINX = "--tcp 127.0.0.1:80"  # through nginx on the box, not gunicorn's socket


def http(
    box: Box, path: str, post: str | None = None, user: str = "root", sock: str = SOCKET, via: str = ""
) -> tuple:
    """(status, body) of a request to gunicorn's socket (or `via` NGINX) from inside the box, as `user`."""
    cmd = [CLIENT_PATH, "get", path, *(via.split() or ["--socket", sock]), "--host", HOST]
    cmd += ["--post", post] if post is not None else []
    res = box.exec(cmd, user=user)
    out = json.loads(res.stdout)
    return out["status"], out["body"]


def wait_http(box: Box, path: str, timeout: float = 30, want: int = 200) -> float:
    """Seconds until `path` answers `want` (raises after `timeout`)."""
    t0 = time.monotonic()
    while True:
        status, body = http(box, path)
        if status == want:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{path} still {status} after {timeout} s: {body[:300]}")
        time.sleep(0.1)


def start_loop(box: Box, path: str = "/version/", seconds: int = 600, via: str = "") -> str:
    """A GET loop in the box (gunicorn's socket, or `via` NGINX) in the background; stop_loop() ends it."""
    stop, out = "/tmp/loop.stop", "/tmp/loop.json"
    box.exec(f"rm -f {stop} {out}")
    loop = f"{CLIENT_PATH} loop {path} {stop} {seconds} {via or '--socket ' + SOCKET} --host {HOST}"
    box.exec(f"nohup {loop} > {out} 2>&1 &")
    return out


def stop_loop(box: Box, out: str = "/tmp/loop.json", timeout: float = 30) -> dict:
    box.exec("touch /tmp/loop.stop")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = box.exec(f"cat {out}", check=False).stdout.strip()
        if text:
            return json.loads(text)
        time.sleep(0.2)
    raise AssertionError("the request loop did not report")


def make_repo(box: Box) -> str:
    """A bare repository of example/ at REPO (branch main), and a work clone; returns main's commit."""
    return box.exec(["sh", helper("make_repo.sh"), f"{MOUNT}/example", WORK, REPO]).stdout.strip()


def has_branch(box: Box, branch: str) -> bool:
    """Whether `branch` was pushed to REPO."""
    return box.exec(
        ["git", "-C", REPO, "rev-parse", "-q", "--verify", f"refs/heads/{branch}"], check=False
    ).ok


def commit(box: Box, branch: str, files: dict, message: str, base: str = "main") -> str:
    """Commit `files` ({path: content}) on `branch` (from `base`), push it; returns the commit."""
    git = ["git", "-C", WORK]
    box.exec([*git, "fetch", "-q", "origin"])
    box.exec([*git, "checkout", "-q", "-B", branch, f"origin/{base}"])
    for path, content in files.items():
        box.put_file(f"{WORK}/{path}", content)
    box.exec([*git, "add", "-A"])
    box.exec([*git, "-c", "user.name=test", "-c", "user.email=test@webstack.test", "commit", "-qm", message])
    box.exec([*git, "push", "-q", "--force", "origin", branch])
    return box.exec([*git, "rev-parse", "HEAD"]).stdout.strip()


def read(box: Box, path: str) -> str:
    return box.exec(["cat", path]).stdout


def status(box: Box) -> dict:
    """supervisorctl status -> {program: (state, pid)}."""
    out = box.exec(["supervisorctl", "status"], check=False).stdout
    found = {}
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 2:
            pid = int(words[3].rstrip(",")) if words[1] == "RUNNING" and len(words) > 3 else None
            found[words[0]] = (words[1], pid)
    return found


def pid(box: Box, program: str) -> int | None:
    return status(box).get(program, (None, None))[1]


def wait_new_pid(box: Box, program: str, old: int, timeout: float = 15) -> tuple:
    """(seconds, new pid) until supervisord reports `program` RUNNING with a pid other than `old`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        state, new = status(box).get(program, (None, None))
        if state == "RUNNING" and new and new != old:
            return time.monotonic() - t0, new
        time.sleep(0.05)
    raise AssertionError(f"{program} not back after {timeout} s: {status(box)}")


def live_release(box: Box) -> str:
    return box.exec(["readlink", "/srv/shop/current"]).stdout.strip()


def releases(box: Box) -> list:
    return box.exec(["ls", "/srv/shop/releases"]).stdout.split()
