# test_app.py commits this as counter/migrations/0002_broken.py: a migration
# that fails, so the release it is in must never go live.
from django.db import migrations


def fail(apps, schema_editor):
    raise RuntimeError("this migration fails on purpose")


class Migration(migrations.Migration):
    dependencies = [("counter", "0001_initial")]
    operations = [migrations.RunPython(fail)]
