import socket

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .models import TaskResult


# acks_late + reject_on_worker_lost: a worker killed mid-task gives the task
# back. A database that is away for a moment (a restart, a failover) fails
# the task: it is tried again 1, 2, 4... s later instead of being dropped.
# Writing by token makes running it twice harmless.
@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=False,
    max_retries=10,
)
def square(token, n):
    TaskResult.objects.update_or_create(
        token=token, defaults={"value": n * n, "worker": socket.gethostname()}
    )
    return n * n
