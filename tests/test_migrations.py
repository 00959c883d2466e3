"""A database from before the apps were carved out (issue 8) migrates without losing a row:
the registry's tables and the prediction log keep their names and move apps in state only.
"""

import datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from predictions.models import Prediction
from registry.models import Evaluation, EvaluationDataset, ModelVersion, PredictionSet, StoredTable
from reviews.models import Review, ReviewCampaign, ReviewerProgress, ReviewItem, ReviewSlot
from usecases.models import KPI, AuditEvent, DataQualityRule, UseCase, UseCaseMember, ValueModel

BEFORE = [
    ("usecases", "0004_evaluation_claim"),
    ("reviews", "0003_prediction_key_indexes"),
    ("registry", None),
    ("predictions", None),
]
NOW = datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.UTC)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1]]).apps


def fill_every_table(old) -> dict[str, int]:
    """One row (two for predictions) in every table of the old schema, through its models."""
    user = old.get_model("auth", "User").objects.create(username="olga")
    model = lambda label: old.get_model(*label.split("."))  # noqa: E731
    use_case = model("usecases.UseCase").objects.create(
        slug="churn", title="Churn", owner=user, task_type="binary"
    )
    model("usecases.UseCaseMember").objects.create(use_case=use_case, user=user, role="owner")
    model("usecases.KPI").objects.create(
        use_case=use_case,
        name="AUC",
        metric="roc_auc",
        direction="higher",
        target=0.8,
        gate_threshold=0.7,
    )
    model("usecases.ValueModel").objects.create(use_case=use_case)
    model("usecases.DataQualityRule").objects.create(
        use_case=use_case, field="age", kind="not_null"
    )
    model("usecases.AuditEvent").objects.create(
        created_at=NOW,
        verb="usecase.created",
        target_type="usecase",
        previous_hash="0" * 64,
        hash="1" * 64,
    )
    tables = [
        model("usecases.StoredTable").objects.create(parquet=b"x", size_bytes=1, sha256="a")
        for _ in range(2)
    ]
    version = model("usecases.ModelVersion").objects.create(
        use_case=use_case, version="1.0", registered_by=user, stage="production"
    )
    dataset = model("usecases.EvaluationDataset").objects.create(
        use_case=use_case,
        name="holdout",
        file_format="csv",
        row_count=2,
        table=tables[0],
        uploaded_by=user,
    )
    model("usecases.PredictionSet").objects.create(
        use_case=use_case,
        model_version=version,
        dataset=dataset,
        row_count=2,
        table=tables[1],
        uploaded_by=user,
    )
    model("usecases.Evaluation").objects.create(
        use_case=use_case,
        model_version=version,
        dataset=dataset,
        requested_by=user,
        status="succeeded",
        results={"metrics": {"roc_auc": {"value": 0.81}}},
    )
    predictions = [
        model("reviews.Prediction").objects.create(
            use_case=use_case,
            model_version=version,
            request_id=f"r{i}",
            predicted_at=NOW,
            prediction=1,
            score=0.9,
            random_key=i / 2,
        )
        for i in range(2)
    ]
    campaign = model("reviews.ReviewCampaign").objects.create(
        use_case=use_case, name="October", model_version=version, sample_size=1, created_by=user
    )
    item = model("reviews.ReviewItem").objects.create(
        campaign=campaign, position=0, prediction=predictions[0]
    )
    slot = model("reviews.ReviewSlot").objects.create(campaign=campaign, item=item, position=0)
    model("reviews.ReviewerProgress").objects.create(campaign=campaign, reviewer=user)
    model("reviews.Review").objects.create(
        campaign=campaign, item=item, slot=slot, reviewer=user, verdict="correct"
    )
    return {"predictions": 2, "stored tables": 2}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_database_from_before_the_registry_and_predictions_apps_keeps_every_row():
    content_type = ContentType.objects.get_for_model(ModelVersion)
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()

    fill_every_table(migrate(BEFORE))
    migrate(latest)

    counts = {
        model.__name__: model.objects.count()
        for model in (
            UseCase,
            UseCaseMember,
            KPI,
            ValueModel,
            DataQualityRule,
            AuditEvent,
            StoredTable,
            ModelVersion,
            EvaluationDataset,
            PredictionSet,
            Evaluation,
            Prediction,
            ReviewCampaign,
            ReviewItem,
            ReviewSlot,
            ReviewerProgress,
            Review,
        )
    }
    assert counts == {name: 1 for name in counts} | {"StoredTable": 2, "Prediction": 2}
    review = Review.objects.select_related(
        "item__prediction__model_version__use_case", "campaign__model_version"
    ).get()
    assert review.item.prediction.model_version.use_case.slug == "churn"
    assert review.campaign.model_version.stage == ModelVersion.Stage.PRODUCTION
    evaluation = Evaluation.objects.select_related("dataset", "model_version").get()
    assert evaluation.results["metrics"]["roc_auc"]["value"] == 0.81
    assert PredictionSet.objects.get().table.size_bytes == 1
    # Content types (admin history, permissions) followed their models.
    assert ContentType.objects.get_for_model(ModelVersion).pk == content_type.pk
    assert ContentType.objects.get(app_label="predictions", model="prediction")


@pytest.mark.django_db(transaction=True)
def test_binary_confidences_become_distances_to_the_threshold_and_back():
    """predictions 0005: a binary prediction's confidence was max(s, 1 − s); it becomes
    |s − threshold|, per use case; a regression's stays None; reversing restores it."""
    before = [("predictions", "0004_rules_changed"), ("usecases", "0011_class_labels")]
    old = migrate(before)
    user = old.get_model("auth", "User").objects.create(username="olga")
    use_cases = old.get_model("usecases", "UseCase").objects
    versions = old.get_model("registry", "ModelVersion").objects
    predictions = old.get_model("predictions", "Prediction").objects
    for slug, task, threshold, score in [
        ("churn", "binary", 0.3, 0.428),
        ("sales", "regression", 0.5, None),
    ]:
        use_case = use_cases.create(
            slug=slug, title=slug, owner=user, task_type=task, decision_threshold=threshold
        )
        version = versions.create(use_case=use_case, version="1", registered_by=user)
        predictions.create(
            use_case=use_case,
            model_version=version,
            request_id="r1",
            predicted_at=NOW,
            prediction=1,
            score=score,
            confidence=None if score is None else max(score, 1 - score),
            random_key=0.5,
        )
    migrate([("predictions", "0005_confidence_from_threshold")])
    assert Prediction.objects.get(use_case__slug="churn").confidence == pytest.approx(0.128)
    assert Prediction.objects.get(use_case__slug="sales").confidence is None
    migrate(before)
    assert predictions.get(use_case__slug="churn").confidence == pytest.approx(0.572)
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_datasets_uploaded_before_get_their_segments_from_their_tables():
    """registry 0008: a dataset's distinct segments (for the KPI form) read from its stored
    table; blanks left out; a dataset without a segment column keeps an empty list."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    before = [("registry", "0007_prediction_disagreement")]
    old = migrate(before)
    user = old.get_model("auth", "User").objects.create(username="olga")
    use_case = old.get_model("usecases", "UseCase").objects.create(
        slug="churn", title="Churn", owner=user, task_type="binary"
    )
    for name, segments in [("with", ["EU", "", "US", "EU", None]), ("without", None)]:
        columns = {"id": pa.array(["a", "b", "c", "d", "e"]), "label": pa.array([0, 1, 0, 1, 0])}
        if segments is not None:
            columns["segment"] = pa.array(segments)
        sink = io.BytesIO()
        pq.write_table(pa.table(columns), sink)
        table = old.get_model("registry", "StoredTable").objects.create(
            parquet=sink.getvalue(), size_bytes=1, sha256="a"
        )
        old.get_model("registry", "EvaluationDataset").objects.create(
            use_case=use_case,
            name=name,
            file_format="parquet",
            row_count=5,
            columns=list(columns),
            has_segment=segments is not None,
            table=table,
            uploaded_by=user,
        )
    migrate([("registry", "0008_dataset_segments")])
    assert EvaluationDataset.objects.get(name="with").segments == ["EU", "US"]
    assert EvaluationDataset.objects.get(name="without").segments == []
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
