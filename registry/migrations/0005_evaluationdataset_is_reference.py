from django.db import migrations, models


class Migration(migrations.Migration):
    """The owner marks one evaluation dataset per use case as the reference for promotion."""

    dependencies = [
        ("registry", "0004_evaluation_superseded"),
    ]

    operations = [
        migrations.AddField(
            model_name="evaluationdataset",
            name="is_reference",
            field=models.BooleanField(default=False),
        ),
        migrations.AddConstraint(
            model_name="evaluationdataset",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_reference", True)),
                fields=("use_case",),
                name="usecases_one_reference_dataset_per_use_case",
            ),
        ),
    ]
