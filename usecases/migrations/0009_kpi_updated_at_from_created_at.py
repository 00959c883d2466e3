from django.db import migrations
from django.db.models import F


def copy_created_at(apps, schema_editor):
    """A KPI that existed before updated_at was last changed, as far as anyone knows, when
    it was created: not at migration time, which would make every evaluation look stale."""
    KPI = apps.get_model("usecases", "KPI")
    KPI.objects.update(updated_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("usecases", "0008_kpi_updated_at"),
    ]

    operations = [
        # Backwards there is nothing to restore: reversing 0008 drops the column.
        migrations.RunPython(copy_created_at, migrations.RunPython.noop, elidable=True),
    ]
