"""
The example app's read replicas (example/demo/routers.py) without PostgreSQL:
Django configured here with three SQLite aliases named as settings.py names
the primary and two standbys (the router routes, nothing connects), and
requests through Django's test clients, WSGI and ASGI, to a view that answers
where its reads go.

routers.py is loaded from its file: importing it as demo.routers would import
the demo package, and with it Celery, which this venv does not have.
"""

import asyncio
import importlib.util
import sys
from pathlib import Path

import django
import pytest
from django.conf import settings
from django.db import router, transaction
from django.http import JsonResponse
from django.test import AsyncClient, Client
from django.urls import path

ROUTERS = Path(__file__).resolve().parents[2] / "example" / "demo" / "routers.py"
spec = importlib.util.spec_from_file_location("routers", ROUTERS)
routers = sys.modules["routers"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(routers)

REPLICAS = {"replica_0", "replica_1"}
SQLITE = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}

settings.configure(
    DATABASES={alias: SQLITE for alias in ["default", *REPLICAS]},
    DATABASE_ROUTERS=["routers.PrimaryReplicaRouter"],
    MIDDLEWARE=["routers.pin_to_primary"],
    REPLICA_PIN_SECONDS=5,
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["testserver"],
)
django.setup()


def where(request):
    """Where this request's reads go; ?write routes a write first, as a GET that counts a visit does."""
    if "write" in request.GET:
        router.db_for_write(None)
    return JsonResponse({"read": router.db_for_read(None)})


def where_in_a_transaction(request):
    with transaction.atomic():
        return where(request)


urlpatterns = [path("", where), path("atomic/", where_in_a_transaction)]


def read(response):
    assert response.status_code == 200
    return response.json()["read"]


def test_reads_go_to_the_replicas_at_random():
    client = Client()
    assert {read(client.get("/")) for _ in range(50)} == REPLICAS
    assert routers.PIN_COOKIE not in client.cookies  # a read pins nobody


def test_writes_and_migrations_go_to_the_primary():
    replica_router = routers.PrimaryReplicaRouter()
    assert replica_router.db_for_write(None) == "default"
    assert [replica_router.allow_migrate(alias, "counter") for alias in ("default", *REPLICAS)] == [
        True,
        False,
        False,
    ]
    assert replica_router.allow_relation(object(), object())


def test_outside_a_request_reads_go_to_the_primary():
    # A Celery task or a manage.py command: no cookie to say what it wrote.
    assert router.db_for_read(None) == "default"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_reads_from_the_primary_and_pins_its_client(method):
    client = Client()
    assert read(client.generic(method, "/")) == "default"
    cookie = client.cookies[routers.PIN_COOKIE]
    assert (cookie["max-age"], cookie["httponly"], cookie["samesite"]) == (5, True, "Lax")
    # The same client's next request reads from the primary, and does not
    # pin it again: the pin lasts REPLICA_PIN_SECONDS from the write.
    response = client.get("/")
    assert read(response) == "default" and routers.PIN_COOKIE not in response.cookies
    # Another client reads from a replica.
    assert read(Client().get("/")) in REPLICAS


def test_a_get_that_writes_reads_back_from_the_primary_and_pins_its_client():
    client = Client()
    assert read(client.get("/?write")) == "default"
    assert routers.PIN_COOKIE in client.cookies


def test_a_read_in_a_transaction_goes_to_the_primary():
    # It may be read, changed and written back: a replica's stale row would undo a write.
    assert read(Client().get("/atomic/")) == "default"


def test_the_pin_lasts_replica_pin_seconds(monkeypatch):
    monkeypatch.setattr(settings, "REPLICA_PIN_SECONDS", 30)
    client = Client()
    client.post("/")
    assert client.cookies[routers.PIN_COOKIE]["max-age"] == 30


def test_the_pin_ends_with_its_request():
    Client().post("/")
    assert routers._serving.get() is None
    assert read(Client().get("/")) in REPLICAS


def test_under_asgi_too():
    """The async middleware, and a sync view run in a thread of its own: its write still pins."""

    async def requests():
        client = AsyncClient()
        reads = [read(await client.get("/")) for _ in range(50)]
        assert set(reads) == REPLICAS and routers.PIN_COOKIE not in client.cookies
        assert read(await client.get("/?write")) == "default"
        assert routers.PIN_COOKIE in client.cookies
        assert read(await client.get("/")) == "default"
        assert read(await AsyncClient().get("/")) in REPLICAS

    asyncio.run(requests())


def test_without_replicas_every_read_goes_to_the_primary_and_nobody_is_pinned(monkeypatch):
    monkeypatch.setattr(settings, "DATABASES", {"default": SQLITE})
    client = Client()
    assert read(client.get("/")) == "default"
    assert read(client.post("/")) == "default"
    assert routers.PIN_COOKIE not in client.cookies
