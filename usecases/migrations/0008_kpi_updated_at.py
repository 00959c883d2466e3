import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    """KPI.updated_at; existing rows get their created_at in 0009 (a data migration)."""

    dependencies = [
        ("usecases", "0007_text_fields_refuse_control_characters"),
    ]

    operations = [
        migrations.AddField(
            model_name="kpi",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
    ]
