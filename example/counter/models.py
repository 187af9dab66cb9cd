from django.db import models


class Counter(models.Model):
    """A named counter: the index page counts its visits in one."""

    name = models.CharField(max_length=50, unique=True)
    hits = models.PositiveBigIntegerField(default=0)


class TaskResult(models.Model):
    """What a `counter.tasks.square` run wrote, by the token its caller chose."""

    token = models.UUIDField(unique=True)
    value = models.BigIntegerField()
    worker = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
