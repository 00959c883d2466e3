"""Days stored before `stored_at` existed: a run that succeeded, or one holding figures (a
re-run queued, running or failed since), stored them by its last finish (or its start, when
a running claim cleared the finish)."""

from django.db import migrations
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce, Now


def fill(apps, schema_editor):
    DailyRun = apps.get_model("monitoring", "DailyRun")
    held = Q(status="succeeded")
    for name in ("DailyKPI", "DailyQuality", "DailyDrift"):
        figures = apps.get_model("monitoring", name).objects.filter(run=OuterRef("pk"))
        held |= Q(Exists(figures))
    DailyRun.objects.filter(held, stored_at__isnull=True).update(
        stored_at=Coalesce("finished_at", "started_at", Now())
    )


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0007_run_stored_at_and_ordering"),
    ]

    # Backwards: the column goes with 0007's reversal; nothing to undo here.
    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
