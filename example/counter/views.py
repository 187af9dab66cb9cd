import hashlib
import uuid

from demo.version import VERSION
from django.core.files.storage import default_storage
from django.db.models import F
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from kombu.exceptions import OperationalError

from .models import Counter, TaskResult
from .tasks import square


def index(request):
    """Counts the visit in the database and shows the count: a DB round trip."""
    counter, _ = Counter.objects.get_or_create(name="visits")
    Counter.objects.filter(pk=counter.pk).update(hits=F("hits") + 1)
    counter.refresh_from_db()
    return render(request, "counter/index.html", {"hits": counter.hits, "version": VERSION})


def health(request):
    """200 when the app runs and its database answers (with our tables)."""
    try:
        Counter.objects.exists()
    except Exception as exc:  # noqa: BLE001 - any database failure is "unhealthy"
        return JsonResponse({"status": "error", "error": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok", "version": VERSION})


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
