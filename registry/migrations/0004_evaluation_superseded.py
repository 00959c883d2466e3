import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Evaluations are never overwritten: a re-run is a new row and the old one is marked
    superseded, so the one-per-pair constraint holds for the current evaluations only."""

    dependencies = [
        ("registry", "0003_text_fields_refuse_control_characters"),
    ]

    operations = [
        migrations.AddField(
            model_name="evaluation",
            name="superseded_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="evaluation",
            name="superseded_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="supersedes",
                to="registry.evaluation",
            ),
        ),
        migrations.RemoveConstraint(
            model_name="evaluation",
            name="usecases_one_evaluation_per_pair",
        ),
        migrations.AddConstraint(
            model_name="evaluation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("superseded_at__isnull", True)),
                fields=("model_version", "dataset"),
                name="usecases_one_current_evaluation_per_pair",
            ),
        ),
        migrations.AddConstraint(
            model_name="evaluation",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("superseded_at__isnull", True), ("superseded_by__isnull", True)),
                    models.Q(
                        ("status__in", ["succeeded", "failed"]),
                        ("superseded_at__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="usecases_evaluation_superseded_only_when_finished",
            ),
        ),
    ]
