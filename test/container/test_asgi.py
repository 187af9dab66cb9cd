"""
An ASGI app with WebSockets (webstack:app:server asgi: gunicorn with
uvicorn's workers) on the whole single-box stack (conftest's `stack_box`,
its app and programs re-converged here and put back at the end): pages
still served through nginx, a WebSocket echo (example/demo/asgi.py) through
nginx over TLS from a peer box (helpers/ws_client.py), nothing changed by a
second apply, and a deploy under an open WebSocket: the connection is closed
cleanly (1012, "service restart": a client reconnects) while no request
fails. Through the balancer: test_fleet.py (the fleet's app is ASGI).
"""

from __future__ import annotations

import json
import re
import time

import pytest
from app_helpers import pid
from box_helpers import helper
from conftest import converge, converged_to, with_settings
from figures import report
from site_client import DOMAIN, fetch, pin
from test_reliability import RequestLoop

NAME = "demo"
STATES = "app,supervisor"
ECHO = "/ws/echo/"
RELEASE_2 = "/root/asgi-release-2"  # a copy of the example app, version 2
HOLD_OUT = "/tmp/ws-hold.json"


@pytest.fixture(scope="module")
def box(stack_box):
    box = pin(stack_box)
    box.asgi = with_settings(box.pillar, app={"server": "asgi"})
    yield box
    # The other modules' stack: the demo pillar's release, on gunicorn's sync workers.
    converge(box, box.pillar, STATES)
    box.exec(["rm", "-rf", RELEASE_2])


def ws_client(box, *args):
    """helpers/ws_client.py on the peer box (the log receiver's), to the box's nginx on 443."""
    return ["python3", helper("ws_client.py"), box.address, "443", DOMAIN, ECHO, "--tls", *map(str, args)]


def echo(box, count: int) -> dict:
    return json.loads(box.receiver.box.exec(ws_client(box, "echo", count)).stdout)


def gunicorn_args(box) -> str:
    return box.exec(["ps", "-o", "args=", "-p", str(pid(box, f"{NAME}-gunicorn"))]).stdout


def test_pages_are_served_by_uvicorns_workers(box):
    converged_to(box, box.asgi, STATES)
    assert "--worker-class uvicorn.workers.UvicornWorker demo.asgi:application" in gunicorn_args(box)
    status, page = fetch(box)
    assert status == 200 and 'id="hits"' in page, page
    css = re.search(r'href="(/static/[^"]+\.css)"', page).group(1)
    assert fetch(box, css)[0] == 200
    status, body = fetch(box, "/tasks/", data={"n": 3})
    assert status == 202, body


def test_a_websocket_echoes_through_nginx_over_tls(box, request):
    converged_to(box, box.asgi, STATES)
    got = echo(box, 60)
    report(
        request,
        f"WebSocket through nginx (TLS): {got['echoed']} of {got['sent']} echoed in {got['seconds']} s",
    )
    assert got["echoed"] == got["sent"] == 60
    assert got["close"] == {"code": 1000, "reason": ""}


def test_a_second_apply_changes_nothing(box, idempotent):
    converged_to(box, box.asgi, STATES)
    gunicorn = pid(box, f"{NAME}-gunicorn")
    idempotent(box, box.asgi, STATES)
    assert pid(box, f"{NAME}-gunicorn") == gunicorn


def test_a_deploy_closes_an_open_websocket_cleanly_and_fails_no_request(box, request):
    converged_to(box, box.asgi, STATES)
    box.exec(f"rm -rf {RELEASE_2} && cp -a /opt/webstack/example {RELEASE_2}")
    box.put_file(f"{RELEASE_2}/demo/version.py", 'VERSION = "2"\n')
    peer, gunicorn = box.receiver.box, pid(box, f"{NAME}-gunicorn")
    hold = " ".join(ws_client(box, "hold", 300))
    peer.exec(f"rm -f {HOLD_OUT}; nohup {hold} > {HOLD_OUT} 2>&1 &")
    deadline = time.monotonic() + 20
    while '"open": true' not in peer.exec(["cat", HOLD_OUT], check=False).stdout:
        assert time.monotonic() < deadline, peer.exec(["cat", HOLD_OUT], check=False).stdout
        time.sleep(0.2)
    with RequestLoop(box) as loop:
        result = converge(box, with_settings(box.asgi, app={"source": {"path": RELEASE_2}}), STATES)
        time.sleep(2)
    closed = json.loads(peer.exec(["cat", HOLD_OUT]).stdout.splitlines()[-1])
    report(
        request,
        f"deploy under an open WebSocket: {result.wall:.1f} s; the WebSocket got close "
        f"{closed['close']} after {closed['after']} s open; {loop.summary()}",
    )
    # A close frame saying "service restart", from the old worker shutting down.
    assert closed["close"] == {"code": 1012, "reason": ""}, closed
    assert loop.failures() == [] and len(loop.results) > 20, loop.summary()
    # Reloaded in place (HUP), the new release serves both.
    assert pid(box, f"{NAME}-gunicorn") == gunicorn
    assert json.loads(fetch(box, "/version/")[1])["version"] == "2"
    assert echo(box, 3)["echoed"] == 3
