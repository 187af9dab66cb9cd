"""
rabbitmq: the app's user publishes and consumes on its vhost over a real AMQP
connection (pika, in a throwaway venv in the box), guest is gone, and the
broker listens only where its clients are; the node's Erlang ports never
leave loopback.

One queue box converged twice (single box, then with the peer as a client).
Each test names the pillar it starts from (conftest's `converged_to`).
"""

import concurrent.futures
import json

import pytest
from box_helpers import helper
from conftest import converge, converged_to, load_pillar, with_settings

from tools.harness.dockerbox import TEST_PILLAR_ROOT

PASSWORD = "mq s3cret:/@pass"
VENV = "/tmp/amqp-client"


def pillar(peers=None, **mq):
    return with_settings(
        load_pillar("minimal"),
        roles=["queue"],
        peers={"web": list(peers or [])},
        rabbitmq={"password": PASSWORD, **mq},
        # The broker URL (what the app would get) exists for an app with Celery.
        app={"celery": "shop.celery"},
    )


SINGLE = pillar()


def amqp(box, url, text="hello"):
    """Publish `text` on the URL's vhost and read it back (pika, in VENV): "got <text>" or "refused <why>"."""
    return box.exec([f"{VENV}/bin/python", helper("amqp_roundtrip.py"), url, text]).stdout.strip()


def knock(src, host, port):
    """The start of an AMQP handshake from `src`: "amqp", "other" or "closed <why>"."""
    return src.exec(["python3", helper("amqp_handshake.py"), host, str(port)]).stdout.strip()


@pytest.fixture(scope="module")
def mq(boxes):
    """The queue box converged as a single box (the AMQP client installed meanwhile), and a peer."""
    box = boxes.start("mq-queue")
    peer = boxes.start("mq-peer")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        client = pool.submit(box.exec, f"python3 -m venv {VENV} && {VENV}/bin/pip install -q pika")
        dry = box.apply(SINGLE, "rabbitmq", test=True)
        assert dry.ok and dry.pending, "a dry run on a new box should predict, not fail:\n" + dry.explain()
        assert box.exec("command -v rabbitmqctl", check=False).rc != 0, "test=True installed RabbitMQ"
        first = converge(box, SINGLE, "rabbitmq")
        client.result()
    print("first apply:", first.summary(), first.slowest(4))
    settings = box.salt_call("--out=json", "webstack.settings", pillar_root=TEST_PILLAR_ROOT, check=True)
    return box, peer, json.loads(settings.stdout)["local"]["urls"]["broker"]


def test_the_app_user_publishes_and_consumes_on_its_vhost(mq):
    box, _, url = mq
    assert url.startswith("amqp://shop:") and url.endswith("@127.0.0.1:5672/shop")
    assert amqp(box, url, "hello from the app") == "got hello from the app"
    perms = box.exec(["rabbitmqctl", "-q", "list_permissions", "-p", "shop"]).stdout
    assert "shop\t.*\t.*\t.*" in perms
    # Its vhost only, and its password only.
    assert amqp(box, url.rsplit("/", 1)[0] + "/%2F") == "refused ProbableAccessDeniedError"
    assert (
        amqp(box, "amqp://shop:wrong-password@127.0.0.1:5672/shop") == "refused ProbableAuthenticationError"
    )


def test_guest_is_gone(mq):
    box, _, _ = mq
    users = box.exec(["rabbitmqctl", "-q", "list_users"]).stdout.split("\n")
    assert [line.split("\t")[0] for line in users if line and not line.startswith("user")] == ["shop"]
    assert amqp(box, "amqp://guest:guest@127.0.0.1:5672/%2F") == "refused ProbableAuthenticationError"


def test_a_single_box_keeps_every_port_on_loopback(mq):
    box, peer, _ = mq
    converged_to(box, SINGLE, "rabbitmq")
    assert knock(box, "127.0.0.1", 5672) == "amqp"
    for port in (5672, 4369, 25672):  # AMQP, epmd, Erlang distribution
        assert knock(peer, box.ip(), port) == "closed ConnectionRefusedError", port
    assert box.exec(["rabbitmqctl", "-q", "eval", "node()."]).stdout.strip() == "rabbit@localhost"


def test_with_a_client_amqp_listens_on_its_address_and_the_role_is_idempotent(mq, idempotent):
    box, peer, url = mq
    converged_to(box, SINGLE, "rabbitmq")
    final = pillar(peers=[peer.ip()], memory_high_watermark=0.25)
    ran = converge(box, final, "rabbitmq")
    assert "rabbitmq-server-is-running" in ran.changed
    assert knock(peer, box.ip(), 5672) == "amqp"
    for port in (4369, 25672):
        assert knock(peer, box.ip(), port) == "closed ConnectionRefusedError", port
    watermark = box.exec(["rabbitmqctl", "-q", "eval", "vm_memory_monitor:get_vm_memory_high_watermark()."])
    assert watermark.stdout.strip() == "0.25"
    # The restart kept the user, its vhost and the message-passing.
    assert amqp(box, url, "after the restart") == "got after the restart"
    again = idempotent(box, final, "rabbitmq")
    print("re-apply:", again.summary())
