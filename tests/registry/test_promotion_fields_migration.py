"""Registry migrations 0004-0006 (superseded evaluations, the reference dataset, the stage
timestamp) keep every row as it was: evaluations stay current, no dataset becomes the
reference, no version gets a stage timestamp."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from registry.models import Evaluation, EvaluationDataset, ModelVersion

BEFORE = [("registry", "0003_text_fields_refuse_control_characters")]


def rows_in_the_old_schema(old) -> None:
    model = lambda label: old.get_model(*label.split("."))  # noqa: E731
    user = model("auth.User").objects.create(username="olga")
    use_case = model("usecases.UseCase").objects.create(
        slug="churn", title="Churn", owner=user, task_type="binary"
    )
    tables = [
        model("registry.StoredTable").objects.create(parquet=b"x", size_bytes=1, sha256="a")
        for _ in range(2)
    ]
    version = model("registry.ModelVersion").objects.create(
        use_case=use_case, version="1.0", registered_by=user, stage="production"
    )
    for table, name in zip(tables, ("holdout", "recent"), strict=True):
        dataset = model("registry.EvaluationDataset").objects.create(
            use_case=use_case,
            name=name,
            file_format="csv",
            row_count=2,
            table=table,
            uploaded_by=user,
        )
        model("registry.Evaluation").objects.create(
            use_case=use_case,
            model_version=version,
            dataset=dataset,
            requested_by=user,
            status="succeeded",
        )


@pytest.mark.django_db(transaction=True)
def test_existing_rows_stay_current_unmarked_and_without_a_stage_timestamp():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    rows_in_the_old_schema(executor.loader.project_state(BEFORE).apps)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    version = ModelVersion.objects.get()
    assert (version.stage, version.stage_changed_at) == ("production", None)
    assert list(EvaluationDataset.objects.values_list("is_reference", flat=True)) == [False] * 2
    assert Evaluation.objects.count() == Evaluation.objects.current().count() == 2
    assert not Evaluation.objects.filter(superseded_by__isnull=False).exists()
