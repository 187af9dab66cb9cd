from django.db import models
from django.db.models import F


class Counter(models.Model):
    """A named counter: the index page counts its visits in one."""

    name = models.CharField(max_length=50, unique=True)
    hits = models.PositiveBigIntegerField(default=0)

    @classmethod
    def hit(cls, name):
        """+1 on the counter `name` (made first if new), in the database: concurrent hits all count."""
        counter, _ = cls.objects.get_or_create(name=name)
        cls.objects.filter(pk=counter.pk).update(hits=F("hits") + 1)
        counter.refresh_from_db()
        return counter


class TaskResult(models.Model):
    """What a `counter.tasks.square` run wrote, by the token its caller chose."""

    token = models.UUIDField(unique=True)
    value = models.BigIntegerField()
    worker = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
