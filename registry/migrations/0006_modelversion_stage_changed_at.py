from django.db import migrations, models


class Migration(migrations.Migration):
    """When the promotions app last moved a version's stage; null for every existing row."""

    dependencies = [
        ("registry", "0005_evaluationdataset_is_reference"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="stage_changed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
