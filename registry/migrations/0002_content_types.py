"""The registry's content types (admin log entries, permissions) follow its models from
the usecases app, so nothing that points at them is orphaned (issue 8)."""

from django.db import migrations

MODELS = ("modelversion", "storedtable", "evaluationdataset", "predictionset", "evaluation")


def relabel(apps, old: str, new: str) -> None:
    content_types = apps.get_model("contenttypes", "ContentType").objects
    taken = set(content_types.filter(app_label=new).values_list("model", flat=True))
    # A fresh database has none of them yet; contenttypes creates them after migrating.
    content_types.filter(app_label=old, model__in=set(MODELS) - taken).update(app_label=new)


def forwards(apps, schema_editor):
    relabel(apps, "usecases", "registry")


def backwards(apps, schema_editor):
    relabel(apps, "registry", "usecases")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("registry", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
