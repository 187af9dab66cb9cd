"""
What the app and supervisor container tests share: a git repository of the
example app inside the box, HTTP over gunicorn's unix socket from inside the
box (a request loop included), and supervisord's view of the programs.
"""

from __future__ import annotations

import json
import shlex
import time

from tools.harness.dockerbox import Box

SOCKET = "/run/shop/gunicorn.sock"
HOST = "shop.webstack.test"
REPO = "/srv/git/shop.git"
WORK = "/root/shop-work"
CLIENT_PATH = "/usr/local/bin/webstack-http"

# HTTP/1.1 over a unix socket, run inside the box:
#   webstack-http get PATH [--post k=v] [--socket S] -> prints {"status", "body"}
#   webstack-http loop PATH STOPFILE SECONDS         -> GETs until STOPFILE exists
CLIENT = r"""#!/usr/bin/python3
import argparse, http.client, json, os, socket, time


class Conn(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def request(sock, path, host, post=None):
    conn = Conn(sock)
    try:
        headers = {"Host": host}
        if post is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request("POST" if post is not None else "GET", path, body=post, headers=headers)
        res = conn.getresponse()
        return res.status, res.read().decode(errors="replace")
    finally:
        conn.close()


p = argparse.ArgumentParser()
p.add_argument("mode", choices=["get", "loop"])
p.add_argument("path")
p.add_argument("stopfile", nargs="?")
p.add_argument("seconds", nargs="?", type=float, default=120)
p.add_argument("--post")
p.add_argument("--socket", default="@SOCKET@")
p.add_argument("--host", default="@HOST@")
a = p.parse_args()
if a.mode == "get":
    try:
        status, body = request(a.socket, a.path, a.host, a.post)
    except OSError as exc:
        status, body = None, repr(exc)
    print(json.dumps({"status": status, "body": body}))
else:
    counts, errors, versions, t0 = {}, [], [], time.monotonic()
    while not os.path.exists(a.stopfile) and time.monotonic() - t0 < a.seconds:
        try:
            status, body = request(a.socket, a.path, a.host)
            counts[status] = counts.get(status, 0) + 1
            if status == 200 and a.path.startswith("/version"):
                v = json.loads(body)["version"]
                if not versions or versions[-1] != v:
                    versions.append(v)
        except Exception as exc:
            errors.append(repr(exc))
        time.sleep(0.02)
    print(json.dumps({"counts": counts, "errors": errors[:10], "failed": len(errors)
                      + sum(n for s, n in counts.items() if s != 200), "versions": versions,
                      "seconds": round(time.monotonic() - t0, 1)}))
""".replace("@SOCKET@", SOCKET).replace("@HOST@", HOST)


def install_client(box: Box) -> None:
    box.put_file(CLIENT_PATH, CLIENT, mode=0o755)


def http(box: Box, path: str, post: str | None = None, user: str = "root", sock: str = SOCKET) -> tuple:
    """(status, body) of a request to gunicorn's socket from inside the box, as `user`."""
    cmd = [CLIENT_PATH, "get", path, "--socket", sock] + (["--post", post] if post is not None else [])
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


def start_loop(box: Box, path: str = "/version/", seconds: int = 600) -> str:
    """A GET loop inside the box, in the background; stop_loop() ends it and reads its counts."""
    stop, out = "/tmp/loop.stop", "/tmp/loop.json"
    box.exec(f"rm -f {stop} {out}")
    box.exec(f"nohup {CLIENT_PATH} loop {path} {stop} {seconds} > {out} 2>&1 &")
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
    script = f"""
        set -e
        rm -rf {WORK} {REPO}
        cp -r /opt/webstack/example {WORK}
        cd {WORK}
        find . -name __pycache__ -prune -exec rm -rf {{}} +
        rm -f db.sqlite3
        git init -q -b main
        git add -A
        git -c user.name=test -c user.email=test@webstack.test commit -qm 'example app'
        mkdir -p $(dirname {REPO})
        git clone -q --bare {WORK} {REPO}
        git remote add origin {REPO}
        git fetch -q origin
        git rev-parse HEAD
    """
    return box.exec(["sh", "-c", script]).stdout.strip()


def commit(box: Box, branch: str, files: dict, message: str, base: str = "main") -> str:
    """Commit `files` ({path: content}) on `branch` (from `base`), push it; returns the commit."""
    lines = ["set -e", f"cd {WORK}", "git fetch -q origin", f"git checkout -q -B {branch} origin/{base}"]
    for path, content in files.items():
        lines.append(f"mkdir -p $(dirname {shlex.quote(path)})")
        lines.append(f"printf '%s' {shlex.quote(content)} > {shlex.quote(path)}")
    lines += [
        "git add -A",
        f"git -c user.name=test -c user.email=test@webstack.test commit -qm {shlex.quote(message)}",
        f"git push -q --force origin {branch}",
        "git rev-parse HEAD",
    ]
    return box.exec(["sh", "-c", "\n".join(lines)]).stdout.strip()


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
