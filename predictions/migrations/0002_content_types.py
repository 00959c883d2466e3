"""The prediction log's content type follows its model from the reviews app (issue 8)."""

from django.db import migrations


def relabel(apps, old: str, new: str) -> None:
    content_types = apps.get_model("contenttypes", "ContentType").objects
    if not content_types.filter(app_label=new, model="prediction").exists():
        content_types.filter(app_label=old, model="prediction").update(app_label=new)


def forwards(apps, schema_editor):
    relabel(apps, "reviews", "predictions")


def backwards(apps, schema_editor):
    relabel(apps, "predictions", "reviews")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("predictions", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
