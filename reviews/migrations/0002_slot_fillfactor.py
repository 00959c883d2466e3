"""Leave room on every page of the claim table so that claims and submissions are HOT
updates (no new index entries; see reviews/models.py). PostgreSQL only."""

from django.db import migrations


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE reviews_reviewslot SET (fillfactor = 50)")
        schema_editor.execute("ALTER TABLE reviews_reviewerprogress SET (fillfactor = 50)")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE reviews_reviewslot RESET (fillfactor)")
        schema_editor.execute("ALTER TABLE reviews_reviewerprogress RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("reviews", "0001_initial")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
