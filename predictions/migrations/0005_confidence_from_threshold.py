"""Binary predictions' confidence becomes the score's distance to the use case's decision
threshold (it was max(score, 1 − score), which "lowest confidence" sampling read as the
band around 0.5 whatever the threshold). One UPDATE per binary use case."""

from django.db import migrations
from django.db.models import F
from django.db.models.functions import Abs


def distances_to_the_threshold(apps, schema_editor):
    UseCase = apps.get_model("usecases", "UseCase")
    Prediction = apps.get_model("predictions", "Prediction")
    for use_case_id, threshold in UseCase.objects.filter(task_type="binary").values_list(
        "pk", "decision_threshold"
    ):
        Prediction.objects.filter(use_case_id=use_case_id, score__isnull=False).update(
            confidence=Abs(F("score") - threshold)
        )


def max_of_score_and_complement(apps, schema_editor):
    UseCase = apps.get_model("usecases", "UseCase")
    Prediction = apps.get_model("predictions", "Prediction")
    binary = UseCase.objects.filter(task_type="binary").values_list("pk", flat=True)
    rows = Prediction.objects.filter(use_case_id__in=list(binary), score__isnull=False)
    # max(s, 1 − s) = 0.5 + |s − 0.5|
    rows.update(confidence=Abs(F("score") - 0.5) + 0.5)


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0004_rules_changed"),
        ("usecases", "0011_class_labels"),
    ]

    operations = [migrations.RunPython(distances_to_the_threshold, max_of_score_and_complement)]
