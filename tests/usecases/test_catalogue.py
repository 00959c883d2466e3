"""The one catalogue (usecases/catalogue.py): every other list of metrics, task types or
feature types agrees with it."""

from registry import metrics, uploads
from tables import casts
from usecases.catalogue import FEATURE_TYPES, METRIC_TASK_TYPES, Metric, TaskType
from usecases.models import UseCase


def test_feature_types_are_the_ones_tables_can_cast():
    assert set(FEATURE_TYPES) == set(casts.FEATURE_TYPES)


def test_task_types_are_the_use_cases_and_the_readers():
    assert UseCase.TaskType is TaskType
    assert tuple(uploads.TASK_TYPES) == tuple(TaskType.values)


def test_every_metric_the_engine_computes_is_in_the_catalogue_for_its_task_type():
    for task_type, names in (
        (TaskType.REGRESSION, metrics.REGRESSION_METRICS),
        (TaskType.BINARY, metrics.BINARY_METRICS),
        (TaskType.MULTICLASS, metrics.MULTICLASS_METRICS),
    ):
        assert {name for name in names if task_type in METRIC_TASK_TYPES[Metric(name)]} == set(
            names
        )
    assert set(METRIC_TASK_TYPES) == set(Metric)
