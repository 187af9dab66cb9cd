import hashlib
import uuid

from demo.version import VERSION
from django.core.files.storage import default_storage
from django.db import connections
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from kombu.exceptions import OperationalError

from .models import Counter, TaskResult
from .tasks import square


def index(request):
    """Counts the visit in the database and shows the count: a DB round trip."""
    counter = Counter.hit("visits")
    return render(request, "counter/index.html", {"hits": counter.hits, "version": VERSION})


def health(request):
    """200 when the app runs and its database answers (with our tables): the
    primary, what every write needs; a replica down fails only the reads sent
    to it, not the balancer's check of every web host."""
    try:
        Counter.objects.using("default").exists()
    except Exception as exc:  # noqa: BLE001 - any database failure is "unhealthy"
        return JsonResponse({"status": "error", "error": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok", "version": VERSION})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def db(request):
    """Where this request's reads go (demo.routers), for the tests of the read replicas.

    GET ?name=<str> (default "visits"): the hits of that counter, as read where
    the router sends the read. POST ?name=<str>: +1 on it first, on the primary
    (a client reads from the primary for REPLICA_PIN_SECONDS after). Both
    answer the alias read from, and that server's address and whether it is a
    hot standby (PostgreSQL's inet_server_addr() and pg_is_in_recovery()).
    """
    name = request.GET.get("name", "visits")
    if request.method == "POST":
        Counter.hit(name)
    alias = Counter.objects.all().db  # the router's choice, once: it picks a replica at random
    counter = Counter.objects.using(alias).filter(name=name).first()
    server, in_recovery = None, False  # SQLite: no server, no standby
    if connections[alias].vendor == "postgresql":
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT host(inet_server_addr()), pg_is_in_recovery()")
            server, in_recovery = cursor.fetchone()
    return JsonResponse(
        {
            "alias": alias,
            "server": server,
            "in_recovery": in_recovery,
            "hits": counter.hits if counter else 0,
        }
    )


def version(request):
    return JsonResponse({"version": VERSION})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def tasks(request):
    """POST n=<int>: queue square(n), answer its token. GET: the latest results."""
    if request.method == "POST":
        token = uuid.uuid4()
        n = int(request.POST.get("n", 7))
        try:
            square.delay(str(token), n)
        except OperationalError as exc:
            return JsonResponse({"status": "error", "error": f"broker: {exc}"}, status=503)
        return JsonResponse({"token": str(token)}, status=202)
    rows = TaskResult.objects.order_by("-created")[:20]
    results = [{"token": str(r.token), "value": r.value, "worker": r.worker} for r in rows]
    return JsonResponse({"results": results})


def task_result(request, token):
    row = TaskResult.objects.filter(token=token).first()
    if row is None:
        return JsonResponse({"status": "pending"}, status=404)
    return JsonResponse({"status": "done", "value": row.value, "worker": row.worker})


@csrf_exempt
@require_http_methods(["POST"])
def upload(request):
    """POST a multipart `file`: stored under MEDIA_ROOT/uploads/, answers its URL and SHA-256."""
    if "file" not in request.FILES:
        return JsonResponse({"status": "error", "error": "no file"}, status=400)
    sent = request.FILES["file"]
    digest = hashlib.sha256()
    for chunk in sent.chunks():
        digest.update(chunk)
    name = default_storage.save(f"uploads/{sent.name}", sent)
    return JsonResponse(
        {"name": name, "url": default_storage.url(name), "sha256": digest.hexdigest()}, status=201
    )
