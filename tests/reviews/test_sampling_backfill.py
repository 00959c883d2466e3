"""predictions 0007 and 0010 fill SegmentCount and PredictionPair from the rows logged before
their triggers existed (and do nothing on an empty log); their reversal drops the triggers."""

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from predictions.models import PredictionPair, SegmentCount
from tests.reviews.test_sampling_pairs import joined, stored
from tests.reviews.test_sampling_segment_counts import counted, grouped

BEFORE = [("predictions", "0006_segment_count")]
NOW = datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.UTC)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1]]).apps


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_the_backfills_count_and_pair_the_predictions_logged_before():
    migrate(latest())
    migrate(BEFORE)
    migrate(latest())  # an empty log: nothing to fill, no error
    assert not SegmentCount.objects.exists() and not PredictionPair.objects.exists()

    old = migrate(BEFORE)
    user = old.get_model("auth", "User").objects.create(username="olga")
    use_case = old.get_model("usecases", "UseCase").objects.create(
        slug="churn", title="Churn", owner=user, task_type="binary"
    )
    versions = [
        old.get_model("registry", "ModelVersion").objects.create(
            use_case=use_case, version=name, registered_by=user
        )
        for name in ("1.0", "2.0")
    ]
    predictions = old.get_model("predictions", "Prediction").objects
    for version, request_ids, score in [(versions[0], "abcd", 0.9), (versions[1], "cde", 0.4)]:
        for n, request_id in enumerate(request_ids):
            predictions.create(
                use_case=use_case,
                model_version=version,
                request_id=request_id,
                predicted_at=NOW + datetime.timedelta(hours=9 * n),
                prediction=int(score > 0.5),
                score=score,
                segment=("north", "south")[n % 2],
                random_key=n / 5,
            )
    assert not SegmentCount.objects.exists()  # no triggers yet
    migrate(latest())
    assert counted() == grouped() and sum(counted().values()) == 7
    assert stored() == joined() and len(stored()) == 4  # c and d, both ways round
