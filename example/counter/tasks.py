import socket

from celery import shared_task

from .models import TaskResult


# acks_late + reject_on_worker_lost: a worker killed mid-task gives the task
# back. Writing by token makes running it twice harmless.
@shared_task(acks_late=True, reject_on_worker_lost=True)
def square(token, n):
    TaskResult.objects.update_or_create(
        token=token, defaults={"value": n * n, "worker": socket.gethostname()}
    )
    return n * n
