"""Models of the usecases app: the definition (use cases, members, KPIs, value model, rules,
audit) and the registry (model versions, evaluation datasets, predictions, evaluations)."""

from usecases.models.definition import (
    ADMIN_GROUP,
    KPI,
    LOWER_IS_BETTER,
    MANAGER_GROUP,
    METRIC_TASK_TYPES,
    AuditEvent,
    DataQualityRule,
    Metric,
    Role,
    UseCase,
    UseCaseMember,
    UseCaseQuerySet,
    ValueModel,
)
from usecases.models.registry import (
    Evaluation,
    EvaluationDataset,
    ModelVersion,
    PredictionSet,
    StoredTable,
)

__all__ = [
    "Evaluation",
    "EvaluationDataset",
    "ModelVersion",
    "PredictionSet",
    "StoredTable",
    "ADMIN_GROUP",
    "KPI",
    "LOWER_IS_BETTER",
    "MANAGER_GROUP",
    "METRIC_TASK_TYPES",
    "AuditEvent",
    "DataQualityRule",
    "Metric",
    "Role",
    "UseCase",
    "UseCaseMember",
    "UseCaseQuerySet",
    "ValueModel",
]
