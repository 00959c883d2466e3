from django.db import migrations
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce


def backfill_phase_changed_at(apps, schema_editor):
    """When each use case last changed phase: its last usecase.phase_changed audit event, or
    its creation when it never moved (not the migration's time, which would reset every
    use case's days in phase)."""
    UseCase = apps.get_model("usecases", "UseCase")
    AuditEvent = apps.get_model("usecases", "AuditEvent")
    last_move = (
        AuditEvent.objects.filter(use_case_id_ref=OuterRef("pk"), verb="usecase.phase_changed")
        .order_by("-id")
        .values("created_at")[:1]
    )
    UseCase.objects.update(phase_changed_at=Coalesce(Subquery(last_move), F("created_at")))


class Migration(migrations.Migration):
    dependencies = [
        ("usecases", "0013_use_case_portfolio_fields"),
    ]

    operations = [
        # Backwards there is nothing to restore: reversing 0013 drops the column.
        migrations.RunPython(backfill_phase_changed_at, migrations.RunPython.noop, elidable=True),
    ]
