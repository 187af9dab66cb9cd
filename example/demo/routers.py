"""
Reads from the PostgreSQL hot standbys: settings.py makes an alias of each
URL of DATABASE_REPLICA_URLS (replica_0, replica_1...). A request's reads go to
one of them at random; writes, migrations, reads in a transaction, and
everything outside a request (a Celery task, a manage.py command) to the
primary, "default".

A standby replays the primary's writes a moment later, so a client would not
read back what it just wrote there: a request that writes (an unsafe method,
or any write routed during it) reads from the primary, and its response sets
the cookie PIN_COOKIE for REPLICA_PIN_SECONDS, during which the same client's
requests read from the primary too.

settings.py: DATABASE_ROUTERS = ["demo.routers.PrimaryReplicaRouter"], and
"demo.routers.pin_to_primary" first in MIDDLEWARE.
"""

import random
from contextlib import contextmanager
from contextvars import ContextVar

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db import connections
from django.utils.decorators import sync_and_async_middleware

PIN_COOKIE = "webstack_primary"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _replicas():
    return [alias for alias in settings.DATABASES if alias.startswith("replica_")]


class _Pin:
    """What the router knows of the request being served."""

    def __init__(self, request):
        self.wrote = request.method in UNSAFE_METHODS  # a write routed sets it too
        self.client_wrote = PIN_COOKIE in request.COOKIES  # less than REPLICA_PIN_SECONDS ago

    @property
    def primary(self):
        return self.wrote or self.client_wrote


# The _Pin of the request being served; None outside a request. A ContextVar,
# not a thread-local: under ASGI many requests are in flight on one thread
# (the event loop), each in a context of its own (its asyncio task).
_serving = ContextVar("webstack_pin", default=None)


class PrimaryReplicaRouter:
    def db_for_read(self, model, **hints):
        pin = _serving.get()
        # Inside a transaction (atomic()), a read belongs in it: what it reads
        # is what the transaction may write back.
        if pin is None or pin.primary or connections["default"].in_atomic_block:
            return "default"
        return random.choice(_replicas())

    def db_for_write(self, model, **hints):
        pin = _serving.get()
        if pin is not None:
            pin.wrote = True  # the rest of the request reads back what it wrote, from the primary
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # every alias holds the primary's rows

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"  # the standbys replay the primary's schema changes


@contextmanager
def _pinned(request):
    pin = _Pin(request)
    token = _serving.set(pin)
    try:
        yield pin
    finally:
        _serving.reset(token)  # the next request on this thread (a sync worker's) starts unpinned


def _pin_client(pin, response):
    if pin.wrote:
        response.set_cookie(
            PIN_COOKIE, "1", max_age=settings.REPLICA_PIN_SECONDS, httponly=True, samesite="Lax"
        )
    return response


@sync_and_async_middleware
def pin_to_primary(get_response):
    """Serves each request with its _Pin, and pins the client of one that wrote."""
    if not _replicas():
        raise MiddlewareNotUsed  # every read goes to the primary: no cookie either
    # Under ASGI (uvicorn's workers) Django calls it async: no thread switch per request.
    if iscoroutinefunction(get_response):

        async def middleware(request):
            with _pinned(request) as pin:
                return _pin_client(pin, await get_response(request))

    else:

        def middleware(request):
            with _pinned(request) as pin:
                return _pin_client(pin, get_response(request))

    return middleware
