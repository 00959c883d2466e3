"""The promotions' notifications move to the notification centre (notifications app, issue
13): each row is copied with its id (so a queued e-mail task still finds it), its request
becoming the key "promotion-request:<id>". Reversing copies them back."""

from django.core.management.color import no_style
from django.db import migrations

PREFIX = "promotion-request:"
KINDS = ("approval_needed", "request_decided")
FIELDS = ("id", "recipient_id", "use_case_id", "kind", "text", "url", "created_at", "read_at")
FIELDS += ("emailed_at", "email_failed_at", "email_error")


def _reset_sequence(schema_editor, model) -> None:
    """PostgreSQL: rows inserted with their ids leave the id sequence behind; move it on."""
    connection = schema_editor.connection
    for sql in connection.ops.sequence_reset_sql(no_style(), [model]):
        schema_editor.execute(sql)


def copy_forward(apps, schema_editor):
    old = apps.get_model("promotions", "Notification")
    new = apps.get_model("notifications", "Notification")
    rows = []
    for row in old.objects.order_by("pk").iterator(chunk_size=2000):
        values = {field: getattr(row, field) for field in FIELDS}
        key = f"{PREFIX}{row.request_id}" if row.request_id else ""
        rows.append(new(**values, key=key))
        if len(rows) == 2000:
            new.objects.bulk_create(rows)
            rows = []
    new.objects.bulk_create(rows)
    _reset_sequence(schema_editor, new)


def copy_back(apps, schema_editor):
    old = apps.get_model("promotions", "Notification")
    new = apps.get_model("notifications", "Notification")
    # The old field is auto_now_add, which would stamp every row with now: keep their times.
    old._meta.get_field("created_at").auto_now_add = False
    request_ids = set(
        apps.get_model("promotions", "PromotionRequest").objects.values_list("pk", flat=True)
    )
    moved = new.objects.filter(kind__in=KINDS).order_by("pk")
    rows = []
    for row in moved.iterator(chunk_size=2000):
        values = {field: getattr(row, field) for field in FIELDS}
        request_id = int(row.key[len(PREFIX) :]) if row.key.startswith(PREFIX) else None
        rows.append(old(**values, request_id=request_id if request_id in request_ids else None))
    old.objects.bulk_create(rows, batch_size=2000)
    moved.delete()
    _reset_sequence(schema_editor, old)


class Migration(migrations.Migration):
    dependencies = [
        ("promotions", "0003_gate_evidence_restrict"),
        ("notifications", "0001_initial"),
    ]

    operations = [migrations.RunPython(copy_forward, copy_back, elidable=False)]
