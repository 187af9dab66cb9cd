"""
`make demo`: converge the container webstack-demo with the demo pillar
(salt/pillar/demo.sls), the way `salt-call --local state.apply` runs on a real
server, printing each phase with its duration. Run again, it re-applies in
place. Exit status 1 when any state failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import time

import docker.errors

from tools.harness.dockerbox import BASE_IMAGE, MOUNT, REPO, Apply, Box, Exec, client

NAME = "webstack-demo"
COMPLETED = re.compile(r"Completed state \[(?P<name>.*?)\] at time .*duration_in_ms=(?P<ms>[\d.]+)")
SHOW_SLOWER_THAN_MS = 2000


@contextlib.contextmanager
def phase(label: str):
    print(f"==> {label}", flush=True)
    t0 = time.monotonic()
    yield
    print(f"    done in {time.monotonic() - t0:.1f} s", flush=True)


def container_for(image: str) -> Box:
    """
    The demo container: reused (started again if stopped) when it runs the
    asked-for image with this checkout mounted, else made anew.
    """
    try:
        existing = client().containers.get(NAME)
        mounted = {m["Destination"]: m["Source"] for m in existing.attrs.get("Mounts", [])}
        if (
            mounted.get(MOUNT) == str(REPO)
            and image in existing.image.tags
            and existing.status in ("running", "exited")
        ):
            box = Box(existing)
            if existing.status == "exited":
                print(f"    starting stopped container {NAME}")
                existing.start()
                box.wait_running()
            # A checkout removed and cloned again at the same path is not
            # the one the container's mount still holds.
            if box.exec(["test", "-e", f"{MOUNT}/Makefile"], check=False).rc == 0:
                print(f"    reusing container {NAME}")
                return box
        print(f"    replacing {NAME}: it does not mount this checkout (as it is now) from {image}")
        existing.remove(force=True)
    except docker.errors.NotFound:
        pass
    return Box.start(NAME, image=image, labels={"webstack": "demo"})


def apply_streaming(box: Box) -> Apply:
    """state.apply with the repo's pillar, printing slow states as they finish."""
    cmd = ["salt-call", "--local", "--retcode-passthrough", "--log-level=info", "--out=json", "state.apply"]
    exec_id = box.container.client.api.exec_create(box.container.id, cmd)["Id"]
    out, done, pending = [], 0, ""
    t0 = time.monotonic()
    for stdout, stderr in box.container.client.api.exec_start(exec_id, stream=True, demux=True):
        if stdout:
            out.append(stdout)
        if stderr:
            pending += stderr.decode(errors="replace")
            *lines, pending = pending.split("\n")
            for line in lines:
                m = COMPLETED.search(line)
                if m:
                    done += 1
                    if float(m["ms"]) >= SHOW_SLOWER_THAN_MS:
                        print(f"    [{done:3d}] {m['name']} ({float(m['ms']) / 1000:.1f} s)", flush=True)
    rc = box.container.client.api.exec_inspect(exec_id)["ExitCode"]
    res = Exec(rc, b"".join(out).decode(errors="replace"), "")
    return Apply.parse(res, time.monotonic() - t0)


def hints(ip: str, ws: dict) -> list[tuple[str, str]]:
    """What to try on the demo: (command, what it shows), each true of the converged box."""
    domain, tls = ws["project"]["domains"][0], ws["nginx"]["tls"]["enabled"]
    port, scheme = (443, "https") if tls else (80, "http")
    curl = f"curl{' -k' if tls else ''} --resolve {domain}:{port}:{ip}"
    site = f"{scheme}://{domain}"
    rows = [
        (f"{curl} {site}/", "the app: each visit counted in PostgreSQL"),
        (f"{curl} {site}{ws['app']['health_check']}", "200: the app and its database answer"),
        (f"{curl} -d n=7 {site}/tasks/", "queue a Celery task through RabbitMQ..."),
        (f"{curl} {site}/tasks/", "...and a moment later, what the worker wrote"),
    ]
    if tls:
        rows.append((f"curl -si -H 'Host: {domain}' http://{ip}/", "http: redirected to https"))
    rows.append((f"curl -si -H 'Host: unknown.example' http://{ip}/", "unknown host: closed, no answer"))
    if tls:
        unknown = f"curl -k --resolve unknown.example:443:{ip} https://unknown.example/"
        rows.append((unknown, "unknown name: handshake refused"))
    if ws["backup"]["active"]:
        rows.append((f"docker exec {NAME} salt-call backup.history", "the backups a restore can go back to"))
    return rows + [
        (f"docker exec -it {NAME} bash", "a shell on the box (supervisorctl status, ...)"),
        ("make demo", "re-apply in place: expect 0 changed"),
        ("make test", "the test suite"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image", default=BASE_IMAGE, help="a base image with systemd")
    args = parser.parse_args()

    t_all = time.monotonic()
    with phase(f"container {NAME} from {args.image}"):
        box = container_for(args.image)
    with phase("salt in the container"):
        box.install_salt()
    with phase("state.apply with the demo pillar (states slower than 2 s shown)"):
        result = apply_streaming(box)

    print(f"==> {result.summary()}")
    for sid, comment in result.failed:
        print(f"    FAILED {sid}: {comment}")
    if result.states:
        print("    slowest states:")
        for ms, sid in result.slowest(5):
            print(f"      {ms / 1000:6.1f} s  {sid}")
    print(f"==> total {time.monotonic() - t_all:.1f} s")
    if not result.ok:
        return 1

    ip = box.ip()
    # Pillar values come masked from pillar.get in Salt 3008: read the merged settings.
    ws = json.loads(box.exec(["salt-call", "--local", "--out=json", "webstack.settings"]).stdout)["local"]
    if ws["backup"]["active"]:
        # The first apply took a full backup and a media snapshot.
        status = box.exec(["salt-call", "--local", "--out=json", "backup.status"], check=False)
        print(f"==> {json.loads(status.stdout)['local']['summary']}")
    print(f"\nThe demo is running in container {NAME} ({ip}). Try:")
    for command, comment in hints(ip, ws):
        print(f"  # {comment}\n  {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
